"""``--quality high``'s look at a whole body: a pose model's person mask, where one person stands whole in the picture.

Our network draws a full-body person's limbs poorly at its size (DAVIS rollerblade 0.64 IoU); a pose model sees the
body as a body. MediaPipe's BlazePose GHUM *heavy* (``pose_landmark_heavy.tflite`` of ``@mediapipe/pose``, Apache-2.0)
segments the person on a square 256² crop round them, as BlazePose's own pipeline crops round its detector's box. It
sees one whole body, so it is asked only where the model's answer is one person standing inside the picture (not cut
by its top or bottom edge: a portrait, a webcam picture, a group apart keep the model's answer), and its answer is taken
only where it says a pose is there and keeps most of the person the model saw. Files only (``Segmenter(quality="high")``):
~50 ms more CPU a frame where a whole body is (on every core: 720p whole-body video at ~23 FPS).

Measured (through ``Segmenter(quality="high")``; the card's ``--quality high`` section): DAVIS rollerblade (unseen) 0.674
-> 0.802 (0.766 with the same package's *full* model, shipped 2026-12-04), all five DAVIS clips 0.817 -> 0.857,
portrait-shaped photos +1.1, CCP +1.1, groups +0.6; portraits unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

#: The crop's side over the person box's longer side (BlazePose's pipeline enlarges its detector's box so).
CROP_MARGIN = 1.25
#: One person: the largest region of the model's answer holds at least this share of it.
ONE_PERSON = 0.85
#: Whole in the picture: the person's box keeps this share of the picture's height clear of its bottom edge (feet
#: inside) and ``TOP_CLEAR`` of its top.
BOTTOM_CLEAR, TOP_CLEAR = 0.02, 0.01
#: The pose model's own confidence that a body is there, above which its mask is taken.
POSE_FLAG = 0.5
#: Its mask is taken only where it keeps at least this share of what the model called person: much less, and it
#: picked one of several people the model saw as one region (a group close together).
MIN_KEPT = 0.35


@dataclass(frozen=True)
class Box:
    """(x0, y0, x1, y1), inclusive, in the model's grid."""

    x0: int
    y0: int
    x1: int
    y1: int


def square_crop(image: np.ndarray, cx: float, cy: float, side: float, out_side: int) -> tuple[np.ndarray, np.ndarray]:
    """The square of ``side`` px centred on (``cx``, ``cy``) in ``image``, scaled to ``out_side``² (outside the picture:
    black), and the 2x3 affine from ``image`` to it. How BlazePose's models are fed one person (``PoseLook``, and the
    pose teacher of ``training.tfjs_teacher``)."""
    k = out_side / side
    to_crop = np.float32([[k, 0, out_side / 2 - k * cx], [0, k, out_side / 2 - k * cy]])
    crop = cv2.warpAffine(image, to_crop, (out_side, out_side), flags=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    return crop, to_crop


def whole_person(prob: np.ndarray) -> Box | None:
    """The box of the one person standing whole in the picture that ``prob`` (the model's answer on its grid) shows, or
    None: nobody, several people, or a person cut by the picture's top or bottom edge."""
    on = (prob >= 0.5).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(on)
    if n < 2:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    main = 1 + int(np.argmax(areas))
    if areas.max() < ONE_PERSON * areas.sum():
        return None
    x, y, w, h = (int(v) for v in stats[main, :4])
    gh = prob.shape[0]
    if y + h > gh * (1 - BOTTOM_CLEAR) or y < gh * TOP_CLEAR:
        return None
    return Box(x, y, x + w - 1, y + h - 1)


class PoseLook:
    """``look(frame, prob) -> prob``: the model's answer with the pose model's mask where it applies."""

    def __init__(self, path: Path, threads: int | None = None):
        from .backends import model_threads, native_stderr_silenced, open_tflite

        self.interpreter = open_tflite(path, threads or model_threads())
        with native_stderr_silenced():
            self.interpreter.allocate_tensors()
        inp = self.interpreter.get_input_details()[0]
        self._input = inp["index"]
        self.side = int(inp["shape"][1])
        outputs = {d["name"]: d["index"] for d in self.interpreter.get_output_details()}
        # pose_landmark_*.tflite: Identity_1 the pose flag [1, 1], Identity_2 the mask's logits [1, side, side, 1].
        self._flag, self._mask = outputs["Identity_1"], outputs["Identity_2"]
        self.used = 0  # frames whose answer took the pose model's mask (for reports and tests)

    def look(self, frame: np.ndarray, prob: np.ndarray) -> np.ndarray:
        box = whole_person(prob)
        if box is None:
            return prob
        gh, gw = prob.shape
        fh, fw = frame.shape[:2]
        sx, sy = fw / gw, fh / gh  # grid px -> frame px
        cx, cy = (box.x0 + box.x1 + 1) / 2 * sx, (box.y0 + box.y1 + 1) / 2 * sy
        side = max((box.x1 - box.x0 + 1) * sx, (box.y1 - box.y0 + 1) * sy) * CROP_MARGIN
        crop, to_crop = square_crop(frame, cx, cy, side, self.side)
        x = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32)[None] * np.float32(1 / 255)
        self.interpreter.set_tensor(self._input, x)
        self.interpreter.invoke()
        if float(self.interpreter.get_tensor(self._flag).reshape(-1)[0]) <= POSE_FLAG:
            return prob
        logits = self.interpreter.get_tensor(self._mask)[0, ..., 0]
        mask = 1 / (1 + np.exp(-np.clip(logits, -30, 30)))
        # The crop in the model's grid: grid -> frame (x sx, y sy) -> crop.
        grid_to_crop = to_crop @ np.float32([[sx, 0, (sx - 1) / 2], [0, sy, (sy - 1) / 2], [0, 0, 1]])
        flags = cv2.INTER_AREA | cv2.WARP_INVERSE_MAP
        mask_grid = cv2.warpAffine(mask.astype(np.float32), grid_to_crop, (gw, gh), flags=flags)
        inside = cv2.warpAffine(np.ones_like(mask, np.float32), grid_to_crop, (gw, gh), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP) > 0
        if (mask_grid[inside] >= 0.5).sum() < MIN_KEPT * (prob[inside] >= 0.5).sum():
            return prob
        out = prob.copy()
        out[inside] = mask_grid[inside]
        self.used += 1
        return out


__all__ = ["CROP_MARGIN", "PoseLook", "square_crop", "whole_person"]
