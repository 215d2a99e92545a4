"""The training module on real files: data, augmentation, losses/metrics, train/resume, export, COCO, pseudo-labels."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from personseg_live.model import architectures
from personseg_live.model.backends import LiteRTBackend
from training.augment import AugmentConfig, augment, center_view
from training.data import DataSpec, group_key, is_validation, load_splits, prepare_coco
from training.losses import BCEDiceLoss, DiceLoss, lovasz_hinge
from training.metrics import BoundaryF, MeanIoU, boundary_f, flicker, iou

REPO = Path(__file__).resolve().parent.parent


def run_training(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "training", *args], cwd=REPO, capture_output=True, text=True,
                          check=check, timeout=600)


def test_data_spec_parsing():
    spec = DataSpec.parse("/d/davis,weight=0.4,split=sequence,paste=0")
    assert (spec.path, spec.weight, spec.split, spec.paste) == (Path("/d/davis"), 0.4, "sequence", 0.0)
    with pytest.raises(ValueError, match="bad --data option"):
        DataSpec.parse("/d/x,colour=red")
    with pytest.raises(ValueError, match="split must be"):
        DataSpec.parse("/d/x,split=random")


def test_split_is_deterministic_and_keeps_sequences_together():
    ids = [f"seq{s}_{f:05d}" for s in range(40) for f in range(5)]
    val = {i for i in ids if is_validation(group_key(i, "sequence"), 0.2)}
    assert val == {i for i in ids if is_validation(group_key(i, "sequence"), 0.2)}
    seqs_in_val = {group_key(i, "sequence") for i in val}
    for seq in seqs_in_val:  # a sequence is wholly in validation or wholly out
        assert all(f"{seq}_{f:05d}" in val for f in range(5))
    assert 0 < len(seqs_in_val) < 40


def test_load_splits_reads_real_pairs(people_dir):
    splits = load_splits([DataSpec(people_dir)], val_fraction=0.0)
    assert len(splits.train) == 8 and not splits.val
    s = splits.train[0]
    assert s.image.dtype == np.uint8 and s.image.shape[2] == 3
    assert s.mask.shape == s.image.shape[:2] and set(np.unique(s.mask)) <= {0.0, 1.0}


def test_missing_layout_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="images/ and masks/"):
        load_splits([DataSpec(tmp_path)])


def test_augment_shapes_and_ranges(people_dir):
    sample = load_splits([DataSpec(people_dir)], val_fraction=0.0).train[0]
    rng = np.random.default_rng(0)
    bg = [np.full((200, 300, 3), 90, np.uint8)]
    cfg = AugmentConfig(size=(96, 128))
    for _ in range(20):
        x, y = augment(sample, cfg, rng, bg)
        assert x.shape == (96, 128, 3) and y.shape == (96, 128, 1)
        assert x.dtype == y.dtype == np.float32
        assert 0 <= x.min() and x.max() <= 1 and 0 <= y.min() and y.max() <= 1
    img, mask = center_view(sample, (64, 64))
    assert img.shape == (64, 64, 3) and mask.shape == (64, 64, 1)


def test_webcam_crop_frames_head_and_shoulders(people_dir):
    sample = load_splits([DataSpec(people_dir)], val_fraction=0.0).train[0]
    cfg = AugmentConfig(size=(96, 96), webcam_crop=1.0, flip=0, color=0, grayscale=0, blur=0, noise=0)
    for seed in range(10):
        _, y = augment(sample, cfg, np.random.default_rng(seed), [])
        # Webcam framing: the body runs out of the bottom edge, the head keeps a margin at the top.
        assert y[-1].mean() > 0.15, seed
        assert y[:2].mean() < 0.1, seed


def test_torso_crop_cuts_the_head_off(people_dir):
    sample = load_splits([DataSpec(people_dir)], val_fraction=0.0).train[0]
    cfg = AugmentConfig(size=(96, 96), webcam_crop=0.0, torso_crop=1.0, flip=0, color=0, grayscale=0, blur=0, noise=0)
    for seed in range(10):
        _, y = augment(sample, cfg, np.random.default_rng(seed), [])
        # No head: the body runs out of the top edge as well as the bottom one.
        assert y[0].mean() > 0.15 and y[-1].mean() > 0.15, seed


def test_exposure_blows_out_what_a_camera_would(people_dir):
    """--exposure: a light shirt before a lighter wall, as an overexposed camera takes it, is one white with no
    detail left (and some pictures come out dimmer); without it the picture keeps both greys."""
    sample = load_splits([DataSpec(people_dir)], val_fraction=0.0).train[0]
    shirt, wall = 0.8, 0.9  # sRGB
    sample.image[:] = 255 * wall
    sample.image[sample.mask > 0.5] = 255 * shirt

    def pictures(exposure):
        cfg = AugmentConfig(size=(96, 96), webcam_crop=0.0, flip=0, color=0, grayscale=0, blur=0, noise=0,
                            exposure=exposure)
        for seed in range(20):
            x, y = augment(sample, cfg, np.random.default_rng(seed), [])
            person, room = x[y[..., 0] > 0.9], x[y[..., 0] < 0.1]
            if len(person) > 50 and len(room) > 50:
                yield float(np.median(person)), float(np.median(room))

    kept = list(pictures(0.0))
    assert len(kept) > 10 and all(abs(p - shirt) < 0.01 and abs(r - wall) < 0.01 for p, r in kept)
    exposed = list(pictures(1.0))
    assert any(p > 0.999 and r > 0.999 for p, r in exposed)  # blown out: the shirt is the wall's white
    assert any(p < shirt - 0.1 for p, r in exposed)  # and dimmer pictures too


def test_defocus_pastes_people_onto_an_out_of_focus_scene(people_dir):
    """--defocus: the pasted scene is blurred (a shallow depth of field), the person is not; without it the
    scene's texture stays sharp."""
    sample = load_splits([DataSpec(people_dir)], val_fraction=0.0).train[0]
    sample.paste = 1.0
    scene = np.indices((300, 400)).sum(axis=0) % 4 < 2  # 2 px stripes: all fine texture
    scene = np.repeat((scene * 200 + 30).astype(np.uint8)[..., None], 3, axis=2)

    def sharpness(defocus):
        cfg = AugmentConfig(size=(96, 96), webcam_crop=0.0, flip=0, color=0, grayscale=0, blur=0, noise=0,
                            defocus=defocus)
        room, person = [], []
        for seed in range(8):
            x, y = augment(sample, cfg, np.random.default_rng(seed), [scene])
            lap = np.abs(cv2.Laplacian(x.mean(axis=2), cv2.CV_32F))
            away = cv2.erode((y[..., 0] < 0.01).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            room.append(lap[away].mean())
            person.append(x[cv2.erode((y[..., 0] > 0.99).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0])
        return float(np.mean(room)), person

    sharp_room, sharp_person = sharpness(0.0)
    soft_room, soft_person = sharpness(1.0)
    assert soft_room < 0.2 * sharp_room
    for a, b in zip(sharp_person, soft_person):
        np.testing.assert_array_equal(a, b)


def test_portrait_crops_are_stretched_like_the_runtime_feeds_them(people_dir):
    """With --portrait-aspect-power 0.5 a portrait photo's crops show the person wider for their height,
    as the runtime's input rule stretches portrait pictures sideways (the same seeds, the same windows)."""
    sample = load_splits([DataSpec(people_dir)], val_fraction=0.0).train[0]
    assert sample.mask.shape[0] > sample.mask.shape[1]  # a portrait photo

    def spread(power):
        cfg = AugmentConfig(size=(96, 96), webcam_crop=0.0, flip=0, color=0, grayscale=0, blur=0, noise=0,
                            portrait_aspect_power=power)
        ratios = []
        for seed in range(12):
            _, y = augment(sample, cfg, np.random.default_rng(seed), [])
            ys, xs = np.nonzero(y[..., 0] > 0.5)
            if len(xs) > 20:
                ratios.append(xs.std() / ys.std())
        return float(np.mean(ratios))

    assert spread(0.5) > 1.05 * spread(1.0)  # crops cut the person, so less than the full (320/212) ** 0.5


def test_losses_rank_predictions():
    t = np.zeros((2, 16, 16, 1), np.float32)
    t[:, 4:12, 4:12] = 1
    good, bad = t * 0.9 + 0.05, 1 - t
    for loss in (BCEDiceLoss(), DiceLoss()):
        assert float(loss(t, good)) < float(loss(t, bad))
    # Soft targets are accepted and a matching soft prediction beats a hard one.
    soft = t * 0.7
    assert float(BCEDiceLoss()(soft, soft + 0.01)) < float(BCEDiceLoss()(soft, t))


def test_boundary_weight_makes_edge_errors_cost_more():
    t = np.zeros((1, 32, 32, 1), np.float32)
    t[:, 8:24, 8:24] = 1
    base = t * 0.9 + 0.05
    edge, inner = base.copy(), base.copy()
    edge[:, 8, 8:24] = 0.05  # the top row of the square missed: 16 pixels on the edge
    inner[:, 16, 8:24] = 0.05  # a row through the middle missed: 16 pixels far from it
    plain, aware = BCEDiceLoss(), BCEDiceLoss(boundary_weight=4.0)
    assert abs(float(plain(t, edge)) - float(plain(t, inner))) < 1e-4
    assert float(aware(t, edge)) > float(aware(t, inner)) + 0.01
    restored = BCEDiceLoss.from_config(aware.get_config())
    assert float(restored(t, edge)) == float(aware(t, edge))


def _lovasz_reference(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Berman et al.'s binary Lovász hinge per image, written out in NumPy from the paper's algorithm."""
    out = []
    for gt, prob in zip((y >= 0.5).reshape(len(y), -1).astype(np.float64), p.reshape(len(p), -1).astype(np.float64)):
        prob = np.clip(prob, 1e-6, 1 - 1e-6)
        errors = 1 - (np.log(prob) - np.log(1 - prob)) * (2 * gt - 1)
        order = np.argsort(-errors, kind="stable")
        g = gt[order]
        jaccard = 1 - (g.sum() - np.cumsum(g)) / (g.sum() + np.cumsum(1 - g))
        out.append(np.dot(np.maximum(errors[order], 0), np.diff(jaccard, prepend=0.0)))
    return np.array(out)


def test_lovasz_hinge_is_the_papers_and_charges_what_costs_iou():
    rng = np.random.default_rng(0)
    t = (rng.random((3, 12, 12, 1)) > 0.6).astype(np.float32)
    t[2] = 0  # an image without a person
    p = rng.random(t.shape).astype(np.float32)
    np.testing.assert_allclose(np.asarray(lovasz_hinge(t, p)), _lovasz_reference(t, p), rtol=1e-4)
    # Every pixel right with a margin (|logit| >= 1): nothing to pay.
    sure = np.where(t > 0.5, 0.9, 0.1).astype(np.float32)
    assert np.abs(np.asarray(lovasz_hinge(t, sure))).max() < 1e-6
    # The same 4 missed pixels cost a small person more than a large one: it is IoU they cost, not a pixel count.
    small, large = np.zeros((1, 32, 32, 1), np.float32), np.zeros((1, 32, 32, 1), np.float32)
    small[:, 10:16, 10:16], large[:, 4:28, 4:28] = 1, 1
    miss_small, miss_large = np.where(small > 0.5, 0.9, 0.1), np.where(large > 0.5, 0.9, 0.1)
    miss_small[:, 10, 10:14] = miss_large[:, 4, 4:8] = 0.1
    assert float(lovasz_hinge(small, miss_small)[0]) > 3 * float(lovasz_hinge(large, miss_large)[0])
    # In the combined loss it is off by default and its weight survives a saved configuration.
    with_lovasz = BCEDiceLoss.from_config(BCEDiceLoss(lovasz_weight=0.5).get_config())
    gap = float(with_lovasz(t, p)) - float(BCEDiceLoss()(t, p))
    assert gap == pytest.approx(0.5 * float(np.mean(_lovasz_reference(t, p))), rel=1e-4)


def test_metrics_known_values():
    t = np.zeros((32, 32), np.float32)
    t[8:24, 8:24] = 1
    p = np.zeros_like(t)
    p[8:24, 8:16] = 1
    assert iou(t, t) == 1.0 and iou(p, t) == pytest.approx(0.5)
    assert boundary_f(t, t) == 1.0 and boundary_f(np.zeros_like(t), t) == 0.0
    assert flicker([t, t, t]) == 0.0 and flicker([t, 1 - t]) == 1.0
    assert flicker([t, t[:2]]) == 0.0  # a cut between clips of different sizes is no change
    m = MeanIoU()
    m.update_state(t[None, ..., None], p[None, ..., None])
    assert float(m.result()) == pytest.approx(0.5)
    bf = BoundaryF()
    bf.update_state(t[None, ..., None], t[None, ..., None])
    assert float(bf.result()) == pytest.approx(1.0)


def test_a_few_real_training_steps_lower_the_loss(people_dir):
    keras.utils.set_random_seed(0)
    splits = load_splits([DataSpec(people_dir)], val_fraction=0.0)
    x, y = zip(*(center_view(s, (64, 64)) for s in splits.train))
    x, y = np.stack(x), np.stack(y)
    model = architectures.build("tiny")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=BCEDiceLoss())
    # Training-mode loss: BatchNorm's moving averages lag far behind after 20 steps.
    losses = model.fit(x, y, batch_size=8, epochs=20, verbose=0).history["loss"]
    assert losses[-1] < losses[0] * 0.8, losses


def test_train_cli_writes_checkpoints_and_resumes(tmp_path, people_dir):
    run = tmp_path / "run"
    common = ["train", "--data", str(people_dir), "--arch", "tiny", "--out", str(run), "--size", "64x64",
              "--batch", "4", "--steps-per-epoch", "2", "--val-fraction", "0.25"]
    run_training(*common, "--epochs", "1")
    assert (run / "best.keras").exists() and (run / "last.keras").exists()
    assert json.loads((run / "config.json").read_text())["arch"] == "tiny"
    assert len((run / "log.csv").read_text().strip().splitlines()) == 2  # header + one epoch
    again = run_training(*common, "--epochs", "1", check=False)
    assert again.returncode != 0 and "--resume" in again.stderr
    run_training(*common, "--epochs", "2", "--resume")
    lines = (run / "log.csv").read_text().strip().splitlines()
    assert len(lines) == 3 and lines[-1].startswith("1,")  # continued at epoch index 1, not from scratch


def test_export_round_trip_keras_and_litert_agree(tmp_path):
    from training.export import export

    keras.utils.set_random_seed(1)
    model = architectures.build("fast")
    ckpt = tmp_path / "m.keras"
    model.save(ckpt)
    paths = export(ckpt, "m", tmp_path, float16=False)
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["arch"] == "fast" and meta["normalization"] == "rgb_0_1" and meta["stride"] == 16
    assert {p.suffix for p in paths} == {".keras", ".tflite", ".json"}
    x = np.random.default_rng(2).random((1, 144, 256, 3), dtype=np.float32)
    want = np.asarray(model(x, training=False))[0, ..., 0]
    got = LiteRTBackend(tmp_path / "m.tflite").predict(x)[0]
    assert np.abs(got - want).max() < 1e-3
    # float16 weights (the shipped format) stay close too.
    export(ckpt, "m16", tmp_path)
    got16 = LiteRTBackend(tmp_path / "m16.tflite").predict(x)[0]
    assert np.abs(got16 - want).max() < 1e-2
    # A model fed more pixels records its input rule, and its fixed-shape 720p copy follows the rule.
    export(ckpt, "m256", tmp_path, input_area=256 * 256, aspect_power=0.5)
    meta = json.loads((tmp_path / "m256.json").read_text())
    assert meta["input_area"] == 65536 and meta["input_size"] == [192, 336] and meta["aspect_power"] == 0.5
    assert (tmp_path / "m256.192x336.tflite").exists() and not (tmp_path / "m256.144x256.tflite").exists()
    from personseg_live import Segmenter

    seg = Segmenter(tmp_path / "m256.tflite", backend="litert")
    assert seg.input_size(720, 1280) == (192, 336) and seg.input_size(1200, 800) == (288, 224)


def test_export_with_a_closer_look_twin_and_the_runtime_runs_it_on_the_box(tmp_path, monkeypatch):
    """``export --closer-look``: a second checkpoint beside the model as NAME.closer.*, named in NAME.json, which the
    Segmenter's closer look runs (LiteRT and TensorFlow alike) while the first look stays the model's own."""
    from personseg_live import Segmenter
    from personseg_live.model import closer_look
    from personseg_live.model.backends import ModelError, TensorFlowBackend
    from training.export import export

    init = LiteRTBackend.__init__
    for seed, name in ((1, "first"), (2, "twin")):
        keras.utils.set_random_seed(seed)
        architectures.build("fast").save(tmp_path / f"{name}.keras")
    out = tmp_path / "models"
    export(tmp_path / "first.keras", "m", out, input_area=224 * 224, aspect_power=0.5, closer_look=tmp_path / "twin.keras")
    meta = json.loads((out / "m.json").read_text())
    assert meta["closer_look"] == "m.closer" and meta["closer_look_checkpoint"] == "twin.keras"
    assert json.loads((out / "m.closer.json").read_text())["aspect_power"] == 0.5
    assert (out / "m.160x304.tflite").exists() and not list(out.glob("m.closer.*x*.tflite"))

    frame = np.random.default_rng(3).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    first = np.zeros((160, 304), np.float32)
    first[60:120, 120:170] = 1.0  # somebody small in the middle: looked at closer
    plan = closer_look.plan(first, (720, 1280))
    assert plan is not None
    for backend, suffix, load in (("litert", ".tflite", LiteRTBackend), ("tensorflow", ".keras", TensorFlowBackend)):
        seg = Segmenter(out / f"m{suffix}", backend=backend)
        crop = seg._prepare(frame[plan.crop])[None]
        want = closer_look.merge(first, load(out / f"m.closer{suffix}").predict(crop)[0], plan)
        own = closer_look.merge(first, load(out / f"m{suffix}").predict(crop)[0], plan)
        got = seg.look_closer(frame, first, plan)
        assert np.abs(got - want).max() < 1e-5 and np.abs(got - own).max() > 1e-3, backend
        # the first look is the model's own
        assert np.abs(seg.first_look(frame) - load(out / f"m{suffix}").predict(seg._prepare(frame)[None])[0]).max() < 1e-5

    # without a closer look (--first-look-only) the twin's interpreter is not opened at all
    opened = []
    monkeypatch.setattr(LiteRTBackend, "__init__",
                        lambda self, path, *a, **k: opened.append(path.name) or init(self, path, *a, **k))
    Segmenter(out / "m.tflite", backend="litert", closer=False)
    Segmenter(out / "m.tflite", backend="litert")
    assert opened == ["m.tflite", "m.tflite", "m.closer.tflite"]
    monkeypatch.undo()

    # the twin missing, or fed by another rule: a clear error, not the model quietly looking closer itself
    (out / "m.closer.json").write_text(json.dumps({**meta, "name": "m.closer", "aspect_power": 1.0}))
    with pytest.raises(ModelError, match="takes its input unlike m.tflite"):
        Segmenter(out / "m.tflite", backend="litert")
    (out / "m.closer.tflite").unlink()
    with pytest.raises(ModelError, match="closer-look weights m.closer.tflite are missing"):
        Segmenter(out / "m.tflite", backend="litert")
    # another architecture is refused before anything is written
    architectures.build("tiny").save(tmp_path / "tiny.keras")
    with pytest.raises(ValueError, match="not the architecture"):
        export(tmp_path / "first.keras", "other", out, closer_look=tmp_path / "tiny.keras")
    assert not (out / "other.json").exists()
    # exported again without a twin: the old twin's files go, and the model looks closer itself
    export(tmp_path / "first.keras", "m", out, force=True, input_area=224 * 224, aspect_power=0.5)
    assert "closer_look" not in json.loads((out / "m.json").read_text()) and not list(out.glob("m.closer.*"))
    seg = Segmenter(out / "m.tflite", backend="litert")
    own = closer_look.merge(first, LiteRTBackend(out / "m.tflite").predict(seg._prepare(frame[plan.crop])[None])[0], plan)
    assert np.abs(seg.look_closer(frame, first, plan) - own).max() < 1e-5


def test_prepare_coco_unions_people_and_skips_tiny(tmp_path):
    images = tmp_path / "img"
    images.mkdir()
    for name in ("a.jpg", "b.jpg"):
        cv2.imwrite(str(images / name), np.full((100, 120, 3), 128, np.uint8))
    coco = {
        "images": [{"id": 1, "file_name": "a.jpg", "height": 100, "width": 120},
                   {"id": 2, "file_name": "b.jpg", "height": 100, "width": 120}],
        "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 400, "bbox": [10, 10, 20, 20],
             "segmentation": [[10, 10, 30, 10, 30, 30, 10, 30]]},
            {"id": 2, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 400, "bbox": [60, 50, 20, 20],
             "segmentation": [[60, 50, 80, 50, 80, 70, 60, 70]]},
            {"id": 3, "image_id": 1, "category_id": 18, "iscrowd": 0, "area": 400, "bbox": [90, 80, 20, 10],
             "segmentation": [[90, 80, 110, 80, 110, 90, 90, 90]]},
            {"id": 4, "image_id": 2, "category_id": 1, "iscrowd": 0, "area": 4, "bbox": [0, 0, 2, 2],
             "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]]},
        ],
    }
    ann = tmp_path / "instances_tiny.json"
    ann.write_text(json.dumps(coco))
    out = tmp_path / "out"
    result = run_training("prepare-coco", "--annotations", str(ann), "--images", str(images), "--out", str(out))
    assert "wrote 1 person" in result.stdout
    mask = cv2.imread(str(out / "masks" / "coco_1.png"), cv2.IMREAD_GRAYSCALE)
    assert mask.shape == (100, 120)
    assert mask[20, 20] == 255 and mask[60, 70] == 255  # both people
    assert mask[85, 100] == 0 and mask[0, 119] == 0  # the dog and the background
    assert not (out / "masks" / "coco_2.png").exists()  # 4 px of person: skipped


def test_pseudo_label_writes_soft_masks(tmp_path, people_dir):
    out = tmp_path / "pl"
    run_training("pseudo-label", "--teacher", "default", "--images", str(people_dir), "--out", str(out),
                 "--limit", "2", "--scales", "0.8,1.0")
    masks = sorted((out / "masks").glob("*.png"))
    assert len(masks) == 2 and len(list((out / "images").glob("*.jpg"))) == 2
    m = cv2.imread(str(masks[0]), cv2.IMREAD_GRAYSCALE)
    assert m.shape == cv2.imread(str(people_dir / "images" / f"{masks[0].stem}.jpg")).shape[:2]
    assert len(np.unique(m)) > 2  # soft, not a binary threshold
    # The output is itself a folder dataset the trainer reads.
    assert len(load_splits([DataSpec(out)], val_fraction=0.0).train) == 2


def test_pseudo_label_interrupted_continues_where_it_stopped(tmp_path, people_dir, monkeypatch):
    """Hours of teacher time: an interrupted run (Ctrl-C, a reboot) left a folder with some masks, which the
    reproduce script's "masks/ exists" check then took for finished. Now SOURCE.md comes last, and a rerun labels
    only the images still missing."""
    from personseg_live import Segmenter
    from training import pseudo_label as pl

    seg, calls = Segmenter("default"), []

    def teacher(stop_at):
        def label(bgr):
            calls.append(1)
            if len(calls) == stop_at:
                raise KeyboardInterrupt  # as Ctrl-C arrives in the middle of an image
            return seg(bgr)
        return label

    out = tmp_path / "pl"
    monkeypatch.setattr(pl, "load_teacher", lambda _t: teacher(stop_at=3))
    with pytest.raises(KeyboardInterrupt):
        pl.pseudo_label("default", people_dir, out, flip=False, limit=5)
    assert len(list((out / "masks").glob("*.png"))) == 2 and not (out / "SOURCE.md").exists()
    assert not list((out / "masks").glob(".*"))  # no half-written mask under a real name or left behind
    calls.clear()
    monkeypatch.setattr(pl, "load_teacher", lambda _t: teacher(stop_at=0))
    assert pl.pseudo_label("default", people_dir, out, flip=False, limit=5) == 5
    assert len(calls) == 3 and (out / "SOURCE.md").exists()
    assert len(list((out / "masks").glob("*.png"))) == 5


def test_evaluate_reports_table_and_json(tmp_path, people_dir):
    report = tmp_path / "r.json"
    result = run_training("evaluate", "--data", str(people_dir), "--split", "all", "--json", str(report),
                          "--gallery", str(tmp_path / "g"))
    rows = json.loads(report.read_text())
    sheet = cv2.imread(str(tmp_path / "g" / "default_people_worst.jpg"))
    assert sheet.shape == (200, 5 * 200, 3)  # the five worst of eight, side by side
    assert rows[0]["model"] == "default" and rows[0]["n"] == 8 and 0.0 <= rows[0]["iou"] <= 1.0
    assert "IoU" in result.stdout and "people" in result.stdout


def test_bench_prints_ms(tmp_path):
    out = tmp_path / "b.json"
    run_training("bench", "--arch", "tiny", "--size", "64x64", "--backend", "litert", "--runs", "3", "--json", str(out))
    rows = json.loads(out.read_text())
    assert rows[0]["arch"] == "tiny" and rows[0]["ms"] > 0


@pytest.mark.parametrize("command", ["prepare-coco", "negatives", "train", "pseudo-label", "import-tflite", "export",
                                     "evaluate", "bench"])
def test_every_command_has_help(command):
    assert "usage:" in run_training(command, "--help").stdout


MEDIAPIPE_LANDSCAPE = Path(__file__).resolve().parent / "data" / "teachers" / "selfie_segmentation_landscape.tflite"


def test_import_tflite_reproduces_the_graph(tmp_path, people_dir):
    out = tmp_path / "init.keras"
    result = run_training("import-tflite", "--tflite", str(MEDIAPIPE_LANDSCAPE), "--arch", "mobile", "--out", str(out),
                          "--check-image", str(people_dir / "images" / "ccp_0001.jpg"))
    diff = float(result.stdout.strip().rsplit("=", 1)[1])
    assert diff < 1e-4 and out.exists()


def test_import_tflite_rejects_a_different_topology(tmp_path):
    result = run_training("import-tflite", "--tflite", str(MEDIAPIPE_LANDSCAPE), "--arch", "fast",
                          "--out", str(tmp_path / "x.keras"), check=False)
    assert result.returncode != 0 and "weighted" in result.stderr


def test_foreign_tflite_teacher_for_pseudo_labels(tmp_path, people_dir):
    out = tmp_path / "pl"
    run_training("pseudo-label", "--teacher", str(MEDIAPIPE_LANDSCAPE), "--images", str(people_dir),
                 "--out", str(out), "--limit", "1")
    mask = cv2.imread(str(next((out / "masks").glob("*.png"))), cv2.IMREAD_GRAYSCALE)
    target = cv2.imread(str(people_dir / "masks" / "ccp_0001.png"), cv2.IMREAD_GRAYSCALE)
    assert iou(mask / 255.0, target / 255.0) > 0.7


def test_bench_against_a_reference_segmenter(tmp_path):
    out = tmp_path / "ref.json"
    run_training("bench", "--reference", str(MEDIAPIPE_LANDSCAPE), "--runs", "3", "--json", str(out))
    row = json.loads(out.read_text())
    assert row["reference"] == MEDIAPIPE_LANDSCAPE.name and row["ratio_with_person"] > 0
    assert min(row[k] for k in ("model_empty_ms", "model_person_ms", "reference_empty_ms", "reference_person_ms")) > 0


def test_negatives_are_empty_scenes(tmp_path):
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    cv2.imwrite(str(scenes / "room.jpg"), np.full((480, 640, 3), 120, np.uint8))
    out = tmp_path / "neg"
    result = run_training("negatives", "--backgrounds", str(scenes), "--out", str(out), "--synthetic", "3")
    assert "wrote 4 empty scenes" in result.stdout
    splits = load_splits([DataSpec(out)], val_fraction=0.0)
    assert sorted(s.id for s in splits.train) == ["plain_000", "plain_001", "plain_002", "scene_room"]
    assert all(s.mask.max() == 0 for s in splits.train)
    assert all(max(s.image.shape[:2]) == 320 for s in splits.train)


def test_wide_shot_puts_a_small_whole_person_on_a_scene(people_dir):
    sample = load_splits([DataSpec(people_dir)], val_fraction=0.0).train[0]
    cfg = AugmentConfig(size=(96, 128), small_person=1.0, flip=0, color=0, grayscale=0, blur=0, noise=0)
    scene = [np.full((200, 300, 3), (10, 200, 30), np.uint8)]  # a green scene: where it shows, it was pasted
    for seed in range(8):
        x, y = augment(sample, cfg, np.random.default_rng(seed), scene)
        rows = np.nonzero(y[..., 0].max(axis=1) > 0.5)[0]
        assert 0 < len(rows) <= 0.62 * 96, seed  # the person spans at most ~60 % of the height
        background = y[..., 0] < 0.05
        # Background pixels are the scene (pasted, brightness matched), not the photo's own street.
        bg = x[background]
        green = (bg[:, 1] > 3 * bg[:, 0]) & (bg[:, 1] > 3 * bg[:, 2])
        assert green.mean() > 0.98, seed  # all but the soft rim next to the person
    # Sets that may not be pasted (masks that miss people) never get wide shots.
    sample.paste = 0.0
    _, y = augment(sample, cfg, np.random.default_rng(0), scene)
    assert len(np.nonzero(y[..., 0].max(axis=1) > 0.5)[0]) > 0.62 * 96 or y.max() < 0.5


def test_interpolate_mixes_weights_and_rejects_other_architectures(tmp_path):
    keras.utils.set_random_seed(1)
    a = architectures.build("tiny")
    keras.utils.set_random_seed(2)
    b = architectures.build("tiny")
    a.save(tmp_path / "a.keras")
    b.save(tmp_path / "b.keras")
    run_training("interpolate", str(tmp_path / "a.keras"), str(tmp_path / "b.keras"), "--alpha", "0.25",
                 "--out", str(tmp_path / "mix.keras"))
    mix = keras.saving.load_model(tmp_path / "mix.keras", compile=False)
    for m, x, y in zip(mix.get_weights(), a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(m, 0.25 * x + 0.75 * y, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
    architectures.build("fast").save(tmp_path / "other.keras")
    result = run_training("interpolate", str(tmp_path / "a.keras"), str(tmp_path / "other.keras"),
                          "--out", str(tmp_path / "bad.keras"), check=False)
    assert result.returncode != 0 and "not the same architecture" in result.stderr


def test_grow_keeps_the_function_and_adds_trainable_capacity(tmp_path):
    keras.utils.set_random_seed(3)
    small = architectures.build("mobile")
    small.save(tmp_path / "mobile.keras")
    run_training("grow", str(tmp_path / "mobile.keras"), "--out", str(tmp_path / "plus.keras"))
    plus = keras.saving.load_model(tmp_path / "plus.keras", compile=False)
    assert plus.name == "mobile_plus" and plus.count_params() > 1.5 * small.count_params()
    x = np.random.default_rng(0).random((1, 64, 96, 3), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(plus(x)), np.asarray(small(x)), atol=1e-6)
    # the added blocks learn: one gradient step moves their zero output projection
    grown = [layer for layer in plus.layers if layer.name.startswith("x") and layer.weights]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(plus(x) - 1.0))
    grads = tape.gradient(loss, [layer.kernel for layer in grown])
    assert sum(float(tf.reduce_sum(tf.abs(g))) for g in grads if g is not None) > 0
    result = run_training("grow", str(tmp_path / "plus.keras"), "--out", str(tmp_path / "again.keras"), check=False)
    assert result.returncode == 0  # a mobile_plus grows into itself unchanged
    architectures.build("tiny").save(tmp_path / "tiny.keras")
    result = run_training("grow", str(tmp_path / "tiny.keras"), "--out", str(tmp_path / "bad.keras"), check=False)
    assert result.returncode != 0 and "cannot grow" in result.stderr


def test_evaluate_first_look_only_scores_the_model_without_the_closer_look(tmp_path, people_dir):
    """Three people standing small in a wide 720p frame, as a folder dataset: the runtime's closer look finds
    more of them than the first look alone, and ``--first-look-only`` reports the first look's score."""
    from personseg_live import assets
    from personseg_live.compose.effects import cover_fit

    (tmp_path / "wide" / "images").mkdir(parents=True)
    (tmp_path / "wide" / "masks").mkdir()
    room = cover_fit(cv2.imread(str(assets.backgrounds()[0])), (1280, 720))
    for image in sorted((people_dir / "images").glob("*.jpg"))[4:7]:
        img, m = cv2.imread(str(image)), cv2.imread(str(people_dir / "masks" / f"{image.stem}.png"), cv2.IMREAD_GRAYSCALE)
        scale = 0.45 * 720 / img.shape[0]
        img, m = cv2.resize(img, None, fx=scale, fy=scale), cv2.resize(m, None, fx=scale, fy=scale)
        frame, mask = room.copy(), np.zeros((720, 1280), np.uint8)
        box = (slice(720 - m.shape[0] - 40, 720 - 40), slice(500, 500 + m.shape[1]))
        a = (m / np.float32(255))[..., None]
        frame[box] = (a * img + (1 - a) * frame[box]).astype(np.uint8)
        mask[box] = m
        cv2.imwrite(str(tmp_path / "wide" / "images" / f"{image.stem}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(tmp_path / "wide" / "masks" / f"{image.stem}.png"), mask)
    scores = {}
    for flag in ([], ["--first-look-only"]):
        report = tmp_path / f"r{len(flag)}.json"
        run_training("evaluate", "--data", str(tmp_path / "wide"), "--split", "all", "--json", str(report), *flag)
        scores[bool(flag)] = json.loads(report.read_text())[0]["iou"]
    assert scores[False] > scores[True] + 0.05, scores


def test_evaluate_scores_the_high_quality_setting_when_asked(tmp_path, people_dir):
    """``--quality high`` scores what ``process --quality high`` runs (flip test-time augmentation), in rows of its own."""
    rows = {}
    for quality in ("live", "high"):
        report = tmp_path / f"{quality}.json"
        run_training("evaluate", "--data", str(people_dir), "--split", "all", "--quality", quality, "--json", str(report))
        rows[quality] = json.loads(report.read_text())[0]
    assert rows["live"]["model"] == "default" and rows["high"]["model"] == "default@high"
    assert rows["high"]["iou"] > 0.8 and abs(rows["high"]["iou"] - rows["live"]["iou"]) > 1e-4, rows
