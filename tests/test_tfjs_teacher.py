"""TF.js graph-model teachers: quantized weight shards, fused-op splitting, RVM's recurrent signature.

The models are written here in TF.js's own layout (GraphDef as JSON with empty Const values + a uint8-quantized
weight shard), so the loader is checked against a reference computed by TensorFlow from the same weights.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.framework import tensor_pb2

from training.tfjs_teacher import TfjsTeacher, label_video, read_weights

REPO = Path(__file__).resolve().parent.parent


def _node(name, op, inputs=(), **attrs):
    node = tf.compat.v1.NodeDef(name=name, op=op, input=list(inputs))
    for key, value in attrs.items():
        node.attr[key].CopyFrom(value)
    return node


def _type(dtype=tf.float32):
    return tf.compat.v1.AttrValue(type=dtype.as_datatype_enum)


def _ints(*v):
    return tf.compat.v1.AttrValue(list=tf.compat.v1.AttrValue.ListValue(i=list(v)))


def _bytes(*v):
    return tf.compat.v1.AttrValue(list=tf.compat.v1.AttrValue.ListValue(s=[x.encode() for x in v]))


def _const(name, shape, dtype=tf.float32):
    """A Const as TF.js writes it: dtype and shape, the values live in the weight shard."""
    proto = tensor_pb2.TensorProto(dtype=dtype.as_datatype_enum, tensor_shape=tf.TensorShape(shape).as_proto())
    return _node(name, "Const", dtype=_type(dtype), value=tf.compat.v1.AttrValue(tensor=proto))


def _write_model(folder: Path, nodes, weights: dict[str, np.ndarray], inputs: dict, outputs: dict) -> Path:
    """model.json + one shard; float weights uint8-quantized the way the TF.js converter does."""
    graph = tf.compat.v1.GraphDef()
    graph.node.extend(nodes)
    manifest, shard, dequantized = [], b"", {}
    for name, value in weights.items():
        lo, hi = float(value.min()), float(value.max())
        scale = (hi - lo) / 255 or 1.0
        q = np.round((value - lo) / scale).astype(np.uint8)
        shard += q.tobytes()
        manifest.append({"name": name, "shape": list(value.shape), "dtype": "float32",
                         "quantization": {"dtype": "uint8", "min": lo, "scale": scale, "original_dtype": "float32"}})
        dequantized[name] = (q.astype(np.float32) * scale + lo).astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "group1-shard1of1.bin").write_bytes(shard)
    spec = {"format": "graph-model", "modelTopology": json_format.MessageToDict(graph),
            "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": manifest}],
            "signature": {"inputs": inputs, "outputs": outputs}}
    (folder / "model.json").write_text(json.dumps(spec))
    return dequantized


@pytest.fixture
def fused_model(tmp_path):
    """image -> _FusedConv2D(BiasAdd, Relu6) -> FusedDepthwiseConv2dNative(BiasAdd) -> 1x1 conv -> sigmoid."""
    rng = np.random.default_rng(0)
    weights = {"w": rng.normal(0, 0.5, (3, 3, 3, 4)).astype(np.float32), "b": rng.normal(0, 0.1, 4).astype(np.float32),
               "dw": rng.normal(0, 0.5, (3, 3, 4, 1)).astype(np.float32), "db": rng.normal(0, 0.1, 4).astype(np.float32),
               "pw": rng.normal(0, 0.5, (1, 1, 4, 1)).astype(np.float32)}
    same, ones = tf.compat.v1.AttrValue(s=b"SAME"), _ints(1, 1, 1, 1)
    nodes = [_node("image", "Placeholder", dtype=_type(), shape=tf.compat.v1.AttrValue(shape=tf.TensorShape([1, None, None, 3]).as_proto())),
             *[_const(k, v.shape) for k, v in weights.items()],
             _node("c1", "_FusedConv2D", ["image", "w", "b"], T=_type(), strides=ones, padding=same,
                   dilations=ones, fused_ops=_bytes("BiasAdd", "Relu6"), num_args=tf.compat.v1.AttrValue(i=1)),
             _node("c2", "FusedDepthwiseConv2dNative", ["c1", "dw", "db"], T=_type(), strides=ones, padding=same,
                   dilations=ones, fused_ops=_bytes("BiasAdd"), num_args=tf.compat.v1.AttrValue(i=1)),
             _node("c3", "Conv2D", ["c2", "pw"], T=_type(), strides=ones, padding=same),
             _node("prob", "Sigmoid", ["c3"], T=_type()),
             _node("Identity", "Identity", ["prob"], T=_type())]
    deq = _write_model(tmp_path / "fused", nodes, weights, {"image": {"name": "image:0"}},
                       {"prob": {"name": "Identity:0"}})
    return tmp_path / "fused" / "model.json", deq


def test_quantized_fused_graph_matches_tensorflow(fused_model):
    path, w = fused_model
    rng = np.random.default_rng(1)
    bgr = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    x = tf.constant(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[None].astype(np.float32) / 255)
    y = tf.nn.relu6(tf.nn.conv2d(x, w["w"], 1, "SAME") + w["b"])
    y = tf.nn.depthwise_conv2d(y, w["dw"], [1, 1, 1, 1], "SAME") + w["db"]
    expected = tf.sigmoid(tf.nn.conv2d(y, w["pw"], 1, "SAME")).numpy()[0, :, :, 0]
    prob = TfjsTeacher(path)(bgr)
    assert prob.shape == (24, 40) and prob.dtype == np.float32
    np.testing.assert_allclose(prob, expected, atol=1e-5)


def test_shard_size_mismatch_is_reported(fused_model):
    path, _ = fused_model
    shard = path.parent / "group1-shard1of1.bin"
    shard.write_bytes(shard.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="manifest"):
        read_weights(path, json.loads(path.read_text())["weightsManifest"])


def test_not_a_graph_model_is_a_clear_error(tmp_path):
    bad = tmp_path / "model.json"
    bad.write_text('{"format": "layers-model"}')
    with pytest.raises(ValueError, match="not a TF.js graph model"):
        TfjsTeacher(bad)


def _rvm_like(folder: Path) -> Path:
    """An RVM-shaped graph whose alpha is 0.05 + 0.1 x mean(r1i) and whose r1o = r1i + 1."""
    weights = {"step": np.array([0.1, 1.0], np.float32)}  # quantized without loss: two values
    nodes = [_node(n, "Placeholder", dtype=_type()) for n in ("src", "r1i", "r2i", "r3i", "r4i", "downsample_ratio")]
    nodes += [_const("step", [2]),
              _node("axes", "Const", dtype=_type(tf.int32), value=tf.compat.v1.AttrValue(tensor=tf.make_tensor_proto(np.array([1, 2, 3], np.int32)))),
              _node("k0", "Const", dtype=_type(tf.int32), value=tf.compat.v1.AttrValue(tensor=tf.make_tensor_proto(np.array([0], np.int32)))),
              _node("k1", "Const", dtype=_type(tf.int32), value=tf.compat.v1.AttrValue(tensor=tf.make_tensor_proto(np.array([1], np.int32)))),
              _node("base", "Const", dtype=_type(), value=tf.compat.v1.AttrValue(tensor=tf.make_tensor_proto(np.float32(0.05)))),
              _node("tenth", "Slice", ["step", "k0", "k1"], T=_type(), Index=_type(tf.int32)),
              _node("one", "Slice", ["step", "k1", "k1"], T=_type(), Index=_type(tf.int32)),
              _node("m", "Mean", ["r1i", "axes"], T=_type(), Tidx=_type(tf.int32), keep_dims=tf.compat.v1.AttrValue(b=True)),
              _node("scaled", "Mul", ["m", "tenth"], T=_type()),
              _node("zero_img", "Mul", ["src", "base"], T=_type()),
              _node("alpha0", "Sub", ["zero_img", "zero_img"], T=_type()),
              _node("alpha1", "AddV2", ["alpha0", "scaled"], T=_type()),
              _node("alpha2", "AddV2", ["alpha1", "base"], T=_type()),
              _node("pha", "Mean", ["alpha2", "k_last"], T=_type(), Tidx=_type(tf.int32), keep_dims=tf.compat.v1.AttrValue(b=True)),
              _node("k_last", "Const", dtype=_type(tf.int32), value=tf.compat.v1.AttrValue(tensor=tf.make_tensor_proto(np.array([3], np.int32)))),
              _node("r1o", "AddV2", ["r1i", "one"], T=_type())]
    nodes += [_node(f"r{i}o", "Identity", [f"r{i}i"], T=_type()) for i in (2, 3, 4)]
    inputs = {f"{n}:0": {"name": f"{n}:0"} for n in ("src", "r1i", "r2i", "r3i", "r4i", "downsample_ratio")}
    outputs = {n: {"name": f"{n}:0"} for n in ("pha", "r1o", "r2o", "r3o", "r4o")}
    _write_model(folder, nodes, weights, inputs, outputs)
    return folder / "model.json"


def test_recurrent_states_are_carried_across_passes(tmp_path):
    """Each extra pass on a still photo must see the previous pass's state."""
    model = _rvm_like(tmp_path / "rvm")
    bgr = np.full((10, 14, 3), 128, np.uint8)
    np.testing.assert_allclose(TfjsTeacher(model, passes=1)(bgr), 0.05, atol=1e-6)
    three = TfjsTeacher(model, passes=3)(bgr)
    assert three.shape == (10, 14)
    np.testing.assert_allclose(three, 0.25, atol=1e-6)


def test_video_labels_carry_the_state_from_frame_to_frame(tmp_path):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for _ in range(6):
        writer.write(np.full((24, 32, 3), 128, np.uint8))
    writer.release()
    n = label_video(TfjsTeacher(_rvm_like(tmp_path / "rvm"), passes=1), video, tmp_path / "out", every=2)
    assert n == 3
    masks = sorted((tmp_path / "out" / "masks").glob("*.png"))
    assert [m.stem for m in masks] == ["clip_00000", "clip_00002", "clip_00004"]
    assert (tmp_path / "out" / "SOURCE.md").exists()  # written last: reproduce_default.sh's "finished" mark
    # frame k sees state k: alpha 0.05 + 0.1 k
    assert [int(cv2.imread(str(m), cv2.IMREAD_GRAYSCALE).mean()) for m in masks] == [13, 64, 115]
    # The command line takes a clip for --images and labels it the same way.
    from training.__main__ import main

    assert main(["pseudo-label", "--teacher", str(tmp_path / "rvm" / "model.json"), "--images", str(video),
                 "--out", str(tmp_path / "cli"), "--every", "3"]) == 0
    assert sorted(p.stem for p in (tmp_path / "cli" / "masks").iterdir()) == ["clip_00000", "clip_00003"]



def test_pseudo_label_command_takes_a_tfjs_teacher(tmp_path, fused_model, people_dir):
    path, _ = fused_model
    out = tmp_path / "pl"
    subprocess.run([sys.executable, "-m", "training", "pseudo-label", "--teacher", str(path), "--images",
                    str(people_dir), "--out", str(out), "--limit", "2", "--no-flip"], cwd=REPO, check=True,
                   capture_output=True, timeout=300)
    masks = sorted((out / "masks").glob("*.png"))
    assert len(masks) == 2
    image = cv2.imread(str(out / "images" / f"{masks[0].stem}.jpg"))
    assert cv2.imread(str(masks[0]), cv2.IMREAD_GRAYSCALE).shape == image.shape[:2]


def _pose_like(folder: Path, side: int = 16) -> Path:
    """A BlazePose-shaped graph: one [-1, side, side, 3] input; its person mask (``activation_segmentation``) is the
    crop's mean channel, and a landmark-like output beside it."""
    k3 = _node("k3", "Const", dtype=_type(tf.int32), value=tf.compat.v1.AttrValue(tensor=tf.make_tensor_proto(np.array([3], np.int32))))
    nodes = [_node("input_1", "Placeholder", dtype=_type(), shape=tf.compat.v1.AttrValue(shape=tf.TensorShape([None, side, side, 3]).as_proto())),
             _const("gain", [1]), k3,
             _node("mean", "Mean", ["input_1", "k3"], T=_type(), Tidx=_type(tf.int32), keep_dims=tf.compat.v1.AttrValue(b=True)),
             _node("Identity_1", "Mul", ["mean", "gain"], T=_type()),
             _node("Identity_3", "Sum", ["input_1", "k3"], T=_type(), Tidx=_type(tf.int32), keep_dims=tf.compat.v1.AttrValue(b=False))]
    dims = {"dim": [{"size": "-1"}, {"size": str(side)}, {"size": str(side)}, {"size": "3"}]}
    _write_model(folder, nodes, {"gain": np.array([1.0], np.float32)}, {"input_1": {"name": "input_1:0", "tensorShape": dims}},
                 {"output_poseflag": {"name": "Identity_3:0"}, "activation_segmentation": {"name": "Identity_1:0"}})
    return folder / "model.json"


def _person_picture(h=40, w=60, box=(36, 10, 45, 29)) -> np.ndarray:
    bgr = np.zeros((h, w, 3), np.uint8)
    x0, y0, x1, y1 = box
    bgr[y0:y1 + 1, x0:x1 + 1] = 255
    return bgr


def test_a_pose_teacher_sees_a_square_crop_round_the_person_and_answers_in_the_pictures_frame(tmp_path):
    teacher = TfjsTeacher(_pose_like(tmp_path / "pose"))
    assert teacher.pose and teacher.crop_side == 16
    bgr, box = _person_picture(), (36, 10, 45, 29)
    prob = teacher(bgr, box)
    assert prob.shape == (40, 60) and prob.dtype == np.float32
    assert prob[14:26, 39:43].min() > 0.95  # the person, through the crop and back
    assert prob[:, :25].max() == 0  # outside the crop (20 x 1.25 = 25 px square round the box): nothing
    assert prob[14:26, 28:33].max() < 0.3  # inside the crop, beside the person: the model's answer, dark there
    whole = teacher(bgr)  # no box: the whole picture, its longer side
    assert whole[14:26, 39:43].min() > 0.9 and whole[:, :30].max() < 0.05
    assert not TfjsTeacher(_rvm_like(tmp_path / "rvm")).pose


def test_pseudo_label_crops_a_pose_teacher_round_the_boxes_given(tmp_path, fused_model, capsys):
    images, boxes = tmp_path / "photos", tmp_path / "boxes" / "masks"
    images.mkdir()
    boxes.mkdir(parents=True)
    for name, box in (("a", (36, 10, 45, 29)), ("b", (5, 5, 14, 34))):
        cv2.imwrite(str(images / f"{name}.png"), _person_picture(box=box))
        label = np.zeros((20, 30), np.uint8)  # another teacher's label, at another size
        x0, y0, x1, y1 = box
        label[y0 // 2:(y1 + 1) // 2, x0 // 2:(x1 + 1) // 2] = 255
        cv2.imwrite(str(boxes / f"{name}.png"), label)
    out = tmp_path / "out"
    from training.__main__ import main

    assert main(["pseudo-label", "--teacher", str(_pose_like(tmp_path / "pose")), "--images", str(images),
                 "--boxes", str(tmp_path / "boxes"), "--out", str(out)]) == 0
    a, b = (cv2.imread(str(out / "masks" / f"{n}.png"), cv2.IMREAD_GRAYSCALE) for n in "ab")
    assert a[14:26, 39:43].min() > 240 and a[:, :25].max() == 0
    assert b[10:30, 7:12].min() > 240 and b[:, 25:].max() == 0  # b's crop is on the left
    assert "--boxes" in (out / "SOURCE.md").read_text()
    capsys.readouterr()
    assert main(["pseudo-label", "--teacher", str(fused_model[0]), "--images", str(images), "--boxes", str(tmp_path / "boxes"),
                 "--out", str(tmp_path / "not_pose")]) != 0
    assert "--boxes is for a pose teacher" in capsys.readouterr().err
    assert main(["pseudo-label", "--teacher", str(_pose_like(tmp_path / "pose")), "--images", str(images),
                 "--boxes", str(tmp_path / "boxes"), "--scales", "0.75,1.0", "--out", str(tmp_path / "scaled")]) != 0
    assert "--scales 1.0 only" in capsys.readouterr().err
