"""Architectures, the Segmenter API and the shipped default model, on real TensorFlow and LiteRT."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from personseg_live import Segmenter, assets
from personseg_live.model import architectures
from personseg_live.model.backends import ModelError
from personseg_live.model.segmenter import downscale, input_size_for
from training.data import list_pairs, read_mask
from training.metrics import iou


def test_seed_is_the_published_network():
    model = architectures.build("seed")
    assert model.count_params() == 1_108_737
    assert model.input_shape == (None, 224, 224, 3)
    assert model.output_shape == (None, 224, 224, 1)


@pytest.mark.parametrize("name", ["fast", "fast_wide", "tiny"])
@pytest.mark.parametrize("size", [(144, 256), (240, 160), (64, 64)])
def test_fast_family_is_fully_convolutional(name, size):
    model = architectures.build(name)
    x = np.random.default_rng(0).random((1, *size, 3), dtype=np.float32)
    y = np.asarray(model(x, training=False))
    assert y.shape == (1, *size, 1)
    assert y.min() >= 0.0 and y.max() <= 1.0


def test_unknown_architecture_names_the_choices():
    with pytest.raises(ValueError, match="fast"):
        architectures.build("resnet9000")


@pytest.mark.parametrize("h,w,expected", [(720, 1280, (144, 256)), (1080, 1920, (144, 256)), (500, 500, (192, 192)),
                                          (320, 213, (240, 160))])
def test_input_size_keeps_aspect_and_stride(h, w, expected):
    assert input_size_for(h, w) == expected


def test_portrait_pictures_are_pulled_toward_square_landscape_frames_are_not(segmenter):
    area = 224 * 224
    assert input_size_for(1200, 800, area, aspect_power=0.5) == (240, 208)  # 2:3 fed as ~0.82, not 0.67
    assert input_size_for(1200, 800, area, aspect_power=0.0) == (224, 224)
    assert input_size_for(720, 1280, area, aspect_power=0.5) == input_size_for(720, 1280, area) == (160, 304)
    # the shipped default records its rule, and the Segmenter follows it
    assert segmenter.info.aspect_power == 0.5
    assert segmenter.input_size(1200, 800) == (240, 208) and segmenter.input_size(720, 1280) == (160, 304)


@pytest.mark.parametrize("shape", [(720, 1280, 3), (101, 77, 3), (1080, 1920, 3), (48, 400, 3)])
def test_segmenter_returns_probability_at_frame_size(segmenter, shape):
    frame = np.random.default_rng(1).integers(0, 255, shape, dtype=np.uint8)
    prob = segmenter(frame)
    assert prob.shape == shape[:2]
    assert prob.dtype == np.float32
    assert 0.0 <= prob.min() and prob.max() <= 1.0


def test_batch_equals_single_calls(segmenter, people_dir):
    frames = [cv2.imread(str(img)) for _, img, _ in list_pairs(people_dir)[:3]]
    for single, batched in zip([segmenter(f) for f in frames], segmenter.batch(frames)):
        np.testing.assert_allclose(single, batched, atol=1e-5)
    assert segmenter.batch([]) == []


def test_shipped_model_finds_the_person(segmenter, people_dir):
    scores = []
    for _, img, mask in list_pairs(people_dir):
        frame = cv2.imread(str(img))
        scores.append(iou(segmenter(frame), read_mask(mask, frame.shape[:2])))
    assert np.mean(scores) > 0.7, scores


def test_empty_scene_stays_mostly_background(segmenter):
    # A flat wall with a gradient: nothing person-like anywhere.
    wall = np.tile(np.linspace(60, 200, 320, dtype=np.uint8)[None, :, None], (180, 1, 3))
    assert (segmenter(wall) > 0.5).mean() < 0.2


@pytest.mark.parametrize("bad,message", [
    (np.zeros((10, 10, 3), np.float32), "uint8"),
    (np.zeros((10, 10), np.uint8), "HxWx3"),
    (np.zeros((10, 10, 4), np.uint8), "HxWx3"),
    (np.zeros((1, 10, 3), np.uint8), "too small"),
])
def test_bad_frames_get_clear_errors(segmenter, bad, message):
    with pytest.raises(ValueError, match=message):
        segmenter(bad)


def test_non_array_frame(segmenter):
    with pytest.raises(TypeError, match="numpy array"):
        segmenter([[1, 2, 3]])


def test_missing_and_corrupt_models(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        Segmenter(tmp_path / "nope.tflite")
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"this is not a flatbuffer" * 10)
    with pytest.raises(ModelError, match="not a valid TFLite model"):
        Segmenter(bad, backend="litert")
    bad_keras = tmp_path / "broken.keras"
    bad_keras.write_bytes(b"PK not a zip")
    with pytest.raises(ModelError, match="not a loadable Keras model"):
        Segmenter(bad_keras, backend="tensorflow")
    with pytest.raises(ModelError, match="available: .*default"):
        Segmenter("no-such-model")
    # a file that is no model (the .json beside one) was "no bundled model '/path/default.json'"
    with pytest.raises(ModelError, match="default.json: not a model file \\(give a .tflite or .keras file"):
        Segmenter(Path(assets.models_dir()) / "default.json")
    assert Segmenter("default.160x304", backend="litert").info.name  # a bundled name with a dot is still a name
    with pytest.raises(ValueError, match="backend must be one of"):
        Segmenter(backend="cuda")


def test_tensorflow_backend_agrees_with_litert(segmenter, people_dir):
    tf_seg = Segmenter(backend="tensorflow")
    assert tf_seg.backend == "tensorflow" and segmenter.backend == "litert"
    frame = cv2.imread(str(list_pairs(people_dir)[0][1]))
    # The .tflite stores float16 weights; the .keras float32: close, not bit-identical (the 2026-12 default,
    # fine-tuned from MediaPipe's general model, differs by up to 0.04 at a few edge pixels).
    diff = np.abs(tf_seg(frame) - segmenter(frame))
    assert diff.max() < 0.05 and diff.mean() < 0.002


def test_fixed_shape_copy_matches_the_dynamic_model(tmp_path):
    import shutil

    from personseg_live import assets
    from personseg_live.model.backends import LiteRTBackend, static_variants

    shipped = assets.models_dir() / "default.tflite"
    h, w = Segmenter(shipped, backend="litert").input_size(720, 1280)  # the 720p frame's model input
    assert (h, w) in static_variants(shipped)
    lone = tmp_path / "default.tflite"  # the dynamic graph without its fixed-shape sibling
    shutil.copy(shipped, lone)
    assert static_variants(lone) == {}
    x = np.random.default_rng(4).random((1, h, w, 3), dtype=np.float32)
    np.testing.assert_allclose(LiteRTBackend(shipped).predict(x), LiteRTBackend(lone).predict(x), atol=1e-4)
    assert assets.model_names() == sorted(assets.model_names(), key=lambda n: (n != "default", n))
    assert not any("." in n for n in assets.model_names())


@pytest.fixture
def built_interpreters(monkeypatch) -> list:
    """The model paths of every LiteRT interpreter built from here on (the real class, counted)."""
    import ai_edge_litert.interpreter as litert

    created = []

    class Counting(litert.Interpreter):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            created.append(kwargs.get("model_path"))

    monkeypatch.setattr(litert, "Interpreter", Counting)
    return created


def test_interpreter_cache_keeps_the_shape_in_use(built_interpreters):
    """The per-shape interpreter cache evicts the least recently used shape, not the oldest: a live
    stream's shape, used between every other one, stays allocated."""
    from personseg_live import assets
    from personseg_live.model.backends import LiteRTBackend

    created = built_interpreters
    backend = LiteRTBackend(assets.models_dir() / "default.tflite", threads=1, max_shapes=2)
    live = np.zeros((1, *backend.native_shape, 3), np.float32)  # the probe's shape: already cached
    created.clear()
    for other in ((96, 160), (64, 128)):
        backend.predict(live)
        backend.predict(np.zeros((1, *other, 3), np.float32))  # a new shape evicts one entry
    backend.predict(live)
    assert len(created) == 2, created  # only the two other shapes were ever built; the live one stayed


def test_a_stream_with_closer_looks_builds_each_shape_once(built_interpreters):
    """A live stream feeds the first look's shape and, for a person small in the frame, the shapes of their
    box (four over 300 frames of the demo clip): each interpreter is built once, not every time the box
    changes shape (with room for four shapes in all, most frames built one: 1.5 of a core)."""
    from personseg_live import assets
    from personseg_live.model.backends import LiteRTBackend

    created = built_interpreters
    backend = LiteRTBackend(assets.models_dir() / "default.tflite", threads=1)
    shapes = [backend.native_shape, (208, 256), (192, 256), (256, 192), (272, 176), (160, 304)]
    created.clear()
    for _ in range(3):
        for shape in shapes:
            backend.predict(np.zeros((1, *shape, 3), np.float32))
    assert len(created) == len(set(shapes)) - 1, created  # the native shape was built by the probe


def test_quality_high_is_mirror_consistent_at_the_live_input_size():
    """High averages in the mirrored picture's answer at the live input size: more pixels showed photos' people
    larger than the network was trained on (photos -0.6 IoU points, see QUALITY)."""
    frame = cv2.imread(str(next((Path(__file__).parent / "data" / "people" / "images").iterdir())))
    frame = cv2.resize(frame, (320, 180))
    live, high = Segmenter(), Segmenter(quality="high")
    assert high.input_size(180, 320) == live.input_size(180, 320)
    high.pose = None  # the whole-body look (test_pose_look.py) is the pose model's answer, not mirror-symmetric
    # Flip TTA: the mirrored picture gets exactly the mirrored answer (a single pass does not).
    np.testing.assert_allclose(high(frame[:, ::-1].copy()), high(frame)[:, ::-1], atol=1e-5)
    assert np.abs(live(frame[:, ::-1].copy()) - live(frame)[:, ::-1]).max() > 1e-3
    with pytest.raises(ValueError, match="quality"):
        Segmenter(quality="ultra")


# -- the closer look at a small person ------------------------------------------------------------


def _small_in_a_wide_frame(image: Path, mask: Path, height: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """The person of ``image`` pasted at ``height`` of a 1280x720 frame over a bundled room photo, and the
    true mask: a standing person in a wide shot."""
    from personseg_live import assets
    from personseg_live.compose.effects import cover_fit

    frame = cover_fit(cv2.imread(str(assets.backgrounds()[0])), (1280, 720))
    img, m = cv2.imread(str(img_path := image)), cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
    assert img is not None and m is not None, img_path
    ys, xs = np.nonzero(m > 127)
    img, m = img[ys.min():ys.max() + 1, xs.min():xs.max() + 1], m[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    scale = height * 720 / m.shape[0]
    img, m = cv2.resize(img, None, fx=scale, fy=scale), cv2.resize(m, None, fx=scale, fy=scale)
    y0, x0 = 720 - m.shape[0] - 60, 500
    box = (slice(y0, y0 + m.shape[0]), slice(x0, x0 + m.shape[1]))
    a = (m / np.float32(255))[..., None]
    frame[box] = (a * img + (1 - a) * frame[box]).astype(np.uint8)
    truth = np.zeros((720, 1280), bool)
    truth[box] = m > 127
    return frame, truth


def test_a_small_person_in_a_wide_frame_gets_a_closer_look(segmenter, people_dir):
    """Eight people at 40 % of a 720p frame's height: the model's second look at their box finds far more of
    them than its look at the whole frame (~224^2 pixels of it), and nobody less."""
    first_only = Segmenter(closer=False)
    assert segmenter.closer and not first_only.closer
    gains = []
    for _, img, mask in list_pairs(people_dir):
        frame, truth = _small_in_a_wide_frame(img, mask)
        gains.append(iou(segmenter(frame), truth) - iou(first_only(frame), truth))
    assert np.mean(gains) > 0.1 and min(gains) > -0.02, gains


def test_the_shipped_default_looks_closer_with_its_own_weights(segmenter, people_dir):
    """The default is two sets of weights: the first look's, trained for people who fill the frame, and the closer
    look's, which every person small enough in the frame to be boxed gets (the model card's "Two sets of weights")."""
    from personseg_live.model import closer_look
    from personseg_live.model.backends import LiteRTBackend

    assert segmenter.info.closer_look == "default.closer"
    twin = LiteRTBackend(assets.models_dir() / "default.closer.tflite")
    _, img, mask = list_pairs(people_dir)[0]
    frame, truth = _small_in_a_wide_frame(img, mask)
    first = segmenter.first_look(frame)
    plan = segmenter.plan(frame, first)
    assert plan is not None and plan.weight == 1.0
    crop = segmenter._prepare(frame[plan.crop])[None]
    got = segmenter.look_closer(frame, first, plan)
    assert np.abs(got - closer_look.merge(first, twin.predict(crop)[0], plan)).max() < 1e-5
    assert np.abs(got - closer_look.merge(first, segmenter._backend.predict(crop)[0], plan)).max() > 1e-3


def test_a_person_who_fills_the_frame_is_looked_at_once():
    from personseg_live.model import closer_look

    prob = np.zeros((160, 304), np.float32)
    prob[10:160, 20:290] = 1.0  # 84 % of the frame
    assert closer_look.plan(prob, (720, 1280)) is None
    assert closer_look.plan(np.zeros_like(prob), (720, 1280)) is None  # nobody: nothing to look at
    prob[:] = 0.0
    prob[20:150, 30:240] = 1.0  # 56 %: looked at fully
    assert closer_look.plan(prob, (720, 1280)).weight == 1.0
    prob[:] = 0.0
    prob[10:150, 20:280] = 1.0  # 75 %: between LOOK_FULL and LOOK_UP_TO, mixed in part
    assert 0.0 < closer_look.plan(prob, (720, 1280)).weight < 1.0


def test_the_closer_look_lands_where_it_was_taken():
    """A closer look that sees exactly what the first one saw, only finer, changes nothing: its answer is
    placed on the first look's grid to the sub-pixel (rounding the box to whole cells moved a person's
    outline by up to half a cell)."""
    from personseg_live.model import closer_look

    yy, xx = np.mgrid[0:720, 0:1280].astype(np.float32)
    truth = np.clip((120.0 - np.hypot((yy - 430) / 2.2, xx - 611)) / 6.0 + 0.5, 0, 1)  # a soft upright blob
    first = cv2.resize(truth, (304, 160), interpolation=cv2.INTER_AREA)
    plan = closer_look.plan(first, (720, 1280))
    assert plan is not None and plan.weight == 1.0
    crop = truth[plan.crop]
    closer = cv2.resize(crop, (192, 256), interpolation=cv2.INTER_AREA)
    merged = closer_look.merge(first, closer, plan)
    assert merged.shape == first.shape
    assert np.abs(merged - first).max() < 0.1  # (a box one cell off: 0.40)


def test_a_fixed_input_model_is_looked_at_once_as_its_makers_run_it():
    from personseg_live import assets

    fixed = Segmenter(assets.models_dir() / "default.160x304.tflite")
    assert fixed.closer is False and Segmenter(assets.models_dir() / "default.160x304.tflite", closer=True).closer


@pytest.mark.parametrize("frame_hw, size", [((1080, 1920), (176, 304)), ((3000, 4000), (192, 256))])
def test_downscale_of_a_large_frame_shows_no_moire(frame_hw, size):
    """Fine stripes (a shirt's pattern, blinds) shrunk for the model come out the even grey INTER_AREA gives,
    not a moire: a bilinear step from more than twice the target skipped pixels (std 83 levels at 1080p)."""
    stripes = ((np.arange(frame_hw[1]) % 3) == 0).astype(np.uint8) * 255
    frame = np.ascontiguousarray(np.broadcast_to(stripes[None, :, None], (*frame_hw, 3)))
    area = cv2.resize(frame, size[::-1], interpolation=cv2.INTER_AREA).astype(np.float32)
    small = downscale(frame, size).astype(np.float32)
    assert small.shape == (*size, 3)
    assert small.std() < area.std() + 8
    assert np.abs(small.mean() - area.mean()) < 2


def test_a_segmenter_told_nothing_uses_at_most_four_threads_on_a_big_machine():
    # On 16 cores, 16 XNNPACK threads ran no faster than 4 for twice the CPU (backends.MAX_MODEL_THREADS).
    from personseg_live.model.backends import LiteRTBackend, model_threads

    assert [model_threads(n) for n in (1, 2, 4, 16, 64)] == [1, 2, 4, 4, 4]
    assert LiteRTBackend(assets.models_dir() / "default.tflite")._threads == model_threads()
