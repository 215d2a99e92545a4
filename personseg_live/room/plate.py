"""The clean plate: what the empty room looks like to this camera, pixel by pixel, at the matte's work size.

    plate = capture_plate(frames)          # several frames of the empty scene: mean + per-pixel noise
    plate = read_plate_file(path)          # a photo, a short clip of the empty scene, or a saved .npz

A plate is small (long side ``matte.WORK_LONG_SIDE`` px, ~0.7 MB as float32): the cue compares it with
each frame at that size, so the cost per frame does not grow with the camera's resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from ..compose.matte import work_size
from ..errors import PersonsegError
from ..model.segmenter import downscale

#: Noise std (8-bit levels, at the plate's size) assumed where a single photo gave no measure of it.
DEFAULT_NOISE = 2.0
#: Frames read from a plate clip (a second of video: enough for a steady mean and noise figure).
MAX_CLIP_FRAMES = 30
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class RoomError(PersonsegError, ValueError):
    """A plate that cannot be used (missing, unreadable, wrong shape)."""


@dataclass
class Plate:
    """The empty scene at work size. ``frame_hw``: the camera frame size it was taken at."""

    mean: np.ndarray  # float32 (h, w, 3) BGR, 0..255
    noise: np.ndarray  # float32 (h, w): per-pixel std of the camera's noise, 8-bit levels
    frame_hw: tuple[int, int]
    # bool (h, w): the pixels the plate knows (a learned plate has not seen what the person always
    # covered); None: all of them (a captured plate)
    known: np.ndarray | None = None
    # Learned from the model's answers (the cue's own, ``--plate auto``), not captured of the empty room: it is
    # no surer than the model where the model is sure (see cue.LEARNED_FLOOR).
    learned: bool = False

    @property
    def size(self) -> tuple[int, int]:
        return self.mean.shape[:2]

    def fits(self, frame_hw: tuple[int, int]) -> bool:
        """Same aspect as frames of ``frame_hw`` (a plate from a 4:3 mode means nothing for 16:9)."""
        ph, pw = self.frame_hw
        return abs(ph / pw - frame_hw[0] / frame_hw[1]) < 0.01


def plate_size(frame_hw: tuple[int, int]) -> tuple[int, int]:
    """(h, w) a plate for frames of ``frame_hw`` is kept at: the matte's work size."""
    return work_size(frame_hw, (1, 1))


def camera_noise(measured: np.ndarray) -> np.ndarray:
    """A plate's measured noise figure, never below a camera's least (DEFAULT_NOISE): H.264 sends a still room
    as skipped blocks, the same picture frame after frame, and a figure of 0 made the cue call every shade
    beyond SHADOW a person. bench --room, 2026-12-02: captured plates had 10 % of pixels below 0.8, and the
    floor took the given plate's error from 0.505x to 0.502x the model alone's; ``--plate auto`` on the
    wrong-room clip (learned plates' figure was 0 there) 0.958 -> 0.971, a captured plate 0.973."""
    return np.maximum(measured, np.float32(DEFAULT_NOISE))


def capture_plate(frames: Iterable[np.ndarray]) -> Plate:
    """Mean and per-pixel noise of BGR frames of the empty scene (one frame: a default noise figure)."""
    smalls, frame_hw = [], None
    for frame in frames:
        frame_hw = frame_hw or frame.shape[:2]
        if frame.shape[:2] != frame_hw:
            raise RoomError(f"plate frames differ in size: {frame.shape[1]}x{frame.shape[0]} after {frame_hw[1]}x{frame_hw[0]}")
        smalls.append(downscale(frame, plate_size(frame_hw)).astype(np.float32))
    if not smalls:
        raise RoomError("no frames to learn the room from")
    stack = np.stack(smalls)
    mean = stack.mean(axis=0)
    if len(smalls) > 1:
        noise = camera_noise(stack.std(axis=0, ddof=1).mean(axis=2))
    else:
        noise = np.full(mean.shape[:2], DEFAULT_NOISE, np.float32)
    return Plate(mean.astype(np.float32), noise.astype(np.float32), tuple(frame_hw))


def read_plate_file(path: str | Path) -> Plate:
    """A photo, a short clip of the empty scene, or a plate saved by ``store.save_plate`` (.npz).
    Raises RoomError with a one-line reason when it cannot."""
    path = Path(path)
    if not path.is_file():
        raise RoomError(f"plate file not found: {path}")
    if path.suffix.lower() == ".npz":
        from .store import read_npz

        return read_npz(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise RoomError(f"cannot read the plate image {path}: not a picture OpenCV can decode")
        return capture_plate([image])
    return capture_plate(_clip_frames(path))


def _clip_frames(path: Path) -> list[np.ndarray]:
    import av

    frames = []
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                frames.append(frame.to_ndarray(format="bgr24"))
                if len(frames) >= MAX_CLIP_FRAMES:
                    break
    except (av.error.FFmpegError, IndexError, ValueError) as exc:
        raise RoomError(f"cannot read the plate {path}: not a picture or video ({exc})") from exc
    if not frames:
        raise RoomError(f"cannot read the plate {path}: no video frames in it")
    return frames


def fit_to(plate: Plate, size: tuple[int, int]) -> Plate:
    """The plate resized to work size ``size`` (h, w) (a camera mode of the same aspect, another size)."""
    if plate.size == tuple(size):
        return plate
    h, w = size
    mean = cv2.resize(plate.mean, (w, h), interpolation=cv2.INTER_AREA)
    noise = cv2.resize(plate.noise, (w, h), interpolation=cv2.INTER_AREA)
    known = None
    if plate.known is not None:
        known = cv2.resize(plate.known.view(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).view(bool)
    return Plate(mean, noise, plate.frame_hw, known)


__all__ = ["DEFAULT_NOISE", "Plate", "RoomError", "capture_plate", "fit_to", "plate_size", "read_plate_file"]
