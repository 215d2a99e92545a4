"""Segmenter: a BGR frame in, a person probability at the frame's size out.

    from personseg_live import Segmenter
    seg = Segmenter()                       # the shipped default, LiteRT on CPU / TensorFlow on GPU
    prob = seg(frame)                       # HxW float32 in 0..1
    probs = seg.batch([f1, f2])             # list of HxW float32
    low = seg.lowres(frame)                 # the model-resolution probability (for the matte's guided upsampling)

Fully convolutional models run at an input that keeps the frame's aspect with about the pixels their
``<name>.json`` names (the default: ~224^2, a 1280x720 frame -> 304x160), so portraits, landscapes and
squares all look like the training data. A person small in the frame gets a second, closer look
(``closer_look``): the model run again on their box alone — or, where ``<name>.json`` names its own closer-look
weights (``"closer_look": "<name>.closer"``, files beside it), those weights run on the box: the first look can
then be trained for people who fill the frame and the closer one for whole bodies (the default since 2026-12-05).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .. import assets
from ..settings import BACKENDS
from . import closer_look
from .pose_look import PoseLook
from .backends import Backend, LiteRTBackend, ModelError, TensorFlowBackend, gpu_available, require_tensorflow

#: Pixels the fast family sees per frame, whatever the aspect (192^2 = 256x144 at 16:9).
RUNTIME_AREA = 192 * 192


def input_size_for(h: int, w: int, area: int = RUNTIME_AREA, stride: int = 16, max_aspect: float = 3.0,
                   aspect_power: float = 1.0) -> tuple[int, int]:
    """(H, W) for the model: the frame's aspect (clamped), about ``area`` pixels, sides multiples of ``stride``.
    ``aspect_power`` < 1 pulls a portrait picture's aspect toward square (0: square, the picture stretched
    sideways); a landscape picture keeps its aspect."""
    aspect = min(max(w / h, 1 / max_aspect), max_aspect)
    if aspect < 1:
        aspect **= aspect_power
    ih = max(stride, int(round(np.sqrt(area / aspect) / stride)) * stride)
    iw = max(stride, int(round(np.sqrt(area * aspect) / stride)) * stride)
    return ih, iw


@dataclass(frozen=True)
class ModelInfo:
    """What the exporter records next to the weights (``<name>.json``)."""

    name: str
    arch: str = "unknown"
    input_area: int = RUNTIME_AREA
    stride: int = 16  # 0: fixed input size only (``input_size``)
    input_size: tuple[int, int] = (144, 256)
    normalization: str = "rgb_0_1"
    aspect_power: float = 1.0  # see input_size_for
    closer_look: str | None = None  # the stem of the closer look's own weights beside these; None: these

    @classmethod
    def read(cls, path: Path) -> "ModelInfo":
        meta = path.with_suffix(".json")
        if not meta.exists():
            return cls(name=path.stem)
        try:
            d = json.loads(meta.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"{meta}: unreadable model metadata ({exc})") from exc
        if d.get("normalization", "rgb_0_1") != "rgb_0_1":
            raise ModelError(f"{meta}: unsupported input normalisation {d['normalization']!r} (expected rgb_0_1)")
        return cls(
            name=path.stem,
            arch=d.get("arch", "unknown"),
            input_area=int(d.get("input_area", RUNTIME_AREA)),
            stride=int(d.get("stride", 16)),
            input_size=tuple(d.get("input_size", (144, 256))),
            aspect_power=float(d.get("aspect_power", 1.0)),
            closer_look=d.get("closer_look") or None,
        )


def closer_look_weights(path: Path, info: ModelInfo) -> Path | None:
    """The file the closer look runs for the model at ``path`` (beside it, in its format), or None: the model itself.
    ModelError when the metadata names one that is missing or takes its input differently."""
    if not info.closer_look:
        return None
    closer = path.with_name(info.closer_look + path.suffix)
    if not closer.exists():
        raise ModelError(f"{path}: its closer-look weights {closer.name} are missing (named in "
                         f"{path.with_suffix('.json').name}); reinstall or re-export the model")
    rule = ModelInfo.read(closer)
    if (rule.input_area, rule.stride, rule.aspect_power) != (info.input_area, info.stride, info.aspect_power):
        raise ModelError(f"{closer}: takes its input unlike {path.name} (area, stride, aspect power "
                         f"{rule.input_area}, {rule.stride}, {rule.aspect_power} against {info.input_area}, "
                         f"{info.stride}, {info.aspect_power}); export both with the same input rule")
    return closer


def resolve_model(model: str | Path, backend: str) -> Path:
    """A bundled model name or a file path -> the file the backend loads (.tflite for LiteRT, .keras for TF)."""
    suffix = ".keras" if backend == "tensorflow" else ".tflite"
    path = Path(model)
    if path.suffix in (".tflite", ".keras"):
        if not path.exists():
            raise ModelError(f"model file not found: {path}")
        if path.suffix != suffix:
            sibling = path.with_suffix(suffix)
            if sibling.exists():
                return sibling
            raise ModelError(f"{path}: the {backend} backend needs a {suffix} file and none lies beside it")
        return path
    candidate = assets.models_dir() / f"{model}{suffix}"
    if not candidate.exists() and (path.suffix or len(path.parts) > 1):  # a file, not a name
        raise ModelError(f"{path}: not a model file (give a .tflite or .keras file, or a bundled model's name)")
    if not candidate.exists():
        available = ", ".join(assets.model_names()) or "none"
        raise ModelError(f"no bundled model {str(model)!r} for the {backend} backend (available: {available})")
    return candidate


def check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8 BGR, got dtype {frame.dtype}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be HxWx3 BGR, got shape {frame.shape}")
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise ValueError(f"frame is too small: {frame.shape}")


#: ``--quality``: whether flip test-time augmentation runs. "high" is for
#: files, where real time does not matter: the mirrored picture averaged in, at the live input size (2x the model
#: time). More pixels as well (1.4x, high until 2026-12-03) gained on full-body video the model was trained on
#: (DAVIS, all five clips, 0.817 -> 0.827) but not on the unseen clip (rollerblade 0.674 -> 0.671), and lost on
#: photos (0.849 -> 0.843; dark on dark 0.772 -> 0.716, groups 0.523 -> 0.512): the network sees the person
#: larger than it was trained on, and the photos are no sharper for it (runs/s18, the model card). Since 2026-12-04 "high"
#: also gives a person standing whole in the picture a pose model's mask (``pose_look``; DAVIS rollerblade 0.674 -> 0.802).
QUALITY = {"live": False, "high": True}


class Segmenter:
    def __init__(self, model: str | Path = assets.DEFAULT_MODEL, backend: str = "auto", threads: int | None = None,
                 *, quality: str = "live", closer: bool | None = None):
        """``closer``: look again at a person small in the frame (``closer_look``); None: for models that take
        any input size (ours), not for fixed-input ones (MediaPipe's, run as MediaPipe runs them)."""
        if quality not in QUALITY:
            raise ValueError(f"quality must be one of {', '.join(QUALITY)}, got {quality!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if backend == "auto":
            backend = "tensorflow" if gpu_available() else "litert"
        if backend == "tensorflow":
            require_tensorflow()  # before the model lookup: a missing extra is the error to report
        path = resolve_model(model, backend)
        self.path = path
        self.info = ModelInfo.read(path)
        open_backend = (lambda p: LiteRTBackend(p, threads)) if backend == "litert" else TensorFlowBackend
        self._backend: Backend = open_backend(path)
        closer_path = closer_look_weights(path, self.info)
        if not self._backend.dynamic:
            self.info = ModelInfo(self.info.name, self.info.arch, stride=0, input_size=self._backend.native_shape)
        self.quality = quality
        self._flip = QUALITY[quality]
        self.closer = self.info.stride != 0 if closer is None else closer
        # The closer look's own weights are opened only where a closer look runs (not for --first-look-only).
        self._closer_backend: Backend = open_backend(closer_path) if closer_path and self.closer else self._backend
        # --quality high, our models: a whole body gets the pose model's person mask too (``pose_look``).
        pose = assets.pose_model() if quality == "high" and self.info.stride != 0 else None
        # On every core the machine lends, not ``threads``: offline gives our model one thread because its stages
        # overlap, but the pose model is most of a whole-body frame's time there (juggle.mp4, 720p: 16.1 s -> 12.0 s).
        self.pose = PoseLook(pose) if pose is not None else None

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def device(self) -> str:
        return self._backend.device

    def input_size(self, h: int, w: int) -> tuple[int, int]:
        if self.info.stride == 0:
            return tuple(self.info.input_size)
        return input_size_for(h, w, self.info.input_area, self.info.stride, aspect_power=self.info.aspect_power)

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        check_frame(frame)
        ih, iw = self.input_size(*frame.shape[:2])
        small = downscale(frame, (ih, iw))
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        return rgb.astype(np.float32) * np.float32(1 / 255)

    def _predict(self, batch: np.ndarray, backend: Backend | None = None) -> np.ndarray:
        backend = backend or self._backend
        if not self._flip:
            return backend.predict(batch)
        # Flip test-time augmentation: the mirrored picture's answer, mirrored back, averaged in.
        return 0.5 * (backend.predict(batch) + backend.predict(batch[:, :, ::-1].copy())[:, :, ::-1])

    def lowres(self, frame: np.ndarray) -> np.ndarray:
        """Person probability at the model's input resolution (float32, 0..1)."""
        return self._whole_body(frame, self.look_closer(frame, self.first_look(frame)))

    def _whole_body(self, frame: np.ndarray, prob: np.ndarray) -> np.ndarray:
        return self.pose.look(frame, prob) if self.pose is not None else prob

    def first_look(self, frame: np.ndarray) -> np.ndarray:
        """The model's answer for the whole frame, without the closer look (the model's grid)."""
        return self._predict(self._prepare(frame)[None])[0]

    def lowres_batch(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        if len(frames) == 0:
            return []
        prepared = [self._prepare(f) for f in frames]
        if len({p.shape for p in prepared}) == 1:
            first = list(self._predict(np.stack(prepared)))
        else:
            first = [self._predict(p[None])[0] for p in prepared]
        return [self._whole_body(f, self.look_closer(f, p)) for f, p in zip(frames, first)]

    def plan(self, frame: np.ndarray, prob: np.ndarray) -> closer_look.Plan | None:
        """Where to look again, for the first look ``prob`` at ``frame``; None: nowhere (or ``closer`` is off)."""
        return closer_look.plan(prob, frame.shape[:2]) if self.closer else None

    def look_closer(self, frame: np.ndarray, prob: np.ndarray, plan: closer_look.Plan | None = None) -> np.ndarray:
        """``prob`` (the first look at ``frame``) with a second look at a person small in the frame, where
        ``plan`` says (None: planned from ``prob``; the live pipeline passes the plan of a first look a frame
        or two old, see ``FrameProcessor``)."""
        plan = plan or self.plan(frame, prob)
        if plan is None:
            return prob
        closer = self._predict(self._prepare(frame[plan.crop])[None], self._closer_backend)[0]
        return closer_look.merge(prob, closer, plan)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return upsample(self.lowres(frame), frame.shape[:2])

    def batch(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [upsample(p, f.shape[:2]) for p, f in zip(self.lowres_batch(frames), frames)]

    def __repr__(self) -> str:
        return (f"Segmenter(model={self.info.name!r}, arch={self.info.arch!r}, backend={self.backend!r}, "
                f"device={self.device!r}, quality={self.quality!r}, closer={self.closer!r})")


def downscale(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to (H, W) like INTER_AREA (what training saw) at a tenth of its cost on 720p/1080p.

    A cheap bilinear step to twice the target first, then INTER_AREA's fast 2x path: 0.25 ms instead
    of 1.2 ms for 1280x720 -> 256x144, without the aliasing of a single bilinear step (which the
    matte would also read as motion). The model and the matte's guide both come through here.

    From 5x the target on (1080p and up), INTER_AREA halves the frame first (its exact, fast 2x path), so
    that the bilinear step spans at most 2.5 pixels: from further away it skipped pixels, and fine patterns
    turned to moire (3 px stripes at 1080p: a standard deviation of 83 levels where INTER_AREA gives 6; a
    striped coat drifting 0.4 px a frame made the 1080p matte flicker 25x as much, 1.2e-2 against 4.7e-4; the
    scene photos shrunk 13x, as a 12 MP photo is for the model, came out 3.4 levels off INTER_AREA's on
    average instead of 1.0; runs/s19). +0.2 ms at 1080p. Not at 720p (4.2x the model's input): its striped
    coat did not flicker more without it, and halving there moved bench --edges' boundary F by -0.5 points
    and its still flicker from 3.7e-6 to 7.5e-6.
    """
    h, w = size
    if frame.shape[:2] == (h, w):
        return frame
    while frame.shape[0] >= 5 * h and frame.shape[1] >= 5 * w:
        frame = cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if h > frame.shape[0] or w > frame.shape[1]:
        # Larger (the closer look at a small person's box): INTER_AREA enlarges by repeating pixels, a blocky
        # picture that is not even the mirror image of the mirrored crop's (up to 93 levels apart). Linear and
        # cubic scored alike on the validation (within +-1 point per set, either way).
        return cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)
    if frame.shape[0] > 2 * h and frame.shape[1] > 2 * w:
        frame = cv2.resize(frame, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)


def upsample(prob: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Model-resolution probability -> frame resolution, bilinear."""
    # Bilinear weights are convex, so a 0..1 sigmoid output stays in 0..1: no clip (0.17 ms at 720p).
    return cv2.resize(prob, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
