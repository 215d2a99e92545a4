"""A closer look at a person who is small in the frame: the model run a second time on the person's box.

    plan = closer_look.plan(prob, frame.shape[:2])    # None: the person fills the frame (or is not there)
    prob = closer_look.merge(prob, model(frame[plan.crop]), plan)

The model sees about 224^2 pixels of the whole frame, so a person standing in a wide shot gets a few
thousand of them, and the network (trained on people who fill most of their crop) misses limbs and
outlines. Where the first look finds the person (everyone it finds: one box round all) in less than
``LOOK_UP_TO`` of the frame, the model looks again at that box alone, at the same input size, and its
answer replaces the first one inside the box; outside it the first look stands. Validation of
2026-12-02 (``Segmenter()``, the default model, mean IoU per picture, the first look -> with the closer
one): DAVIS full-body video rollerblade (never trained on) 0.542 -> 0.670, breakdance 0.656 -> 0.709,
tennis 0.673 -> 0.787, hike 0.843 -> 0.895, lucia 0.822 -> 0.872; small people 0.450 -> 0.500, everyday
scenes 0.549 -> 0.583, groups 0.506 -> 0.520, VOC 0.553 -> 0.581, COCO 0.443 -> 0.478; webcam-like
portraits, people filling >= 40 % and portrait-shaped photos within 0.1 point (most are not looked at
twice). It costs a second run of the model (~1.4-2 ms on a 720p frame) for the frames it looks at.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Share of the frame the person's box may fill for the full second look, and beyond which there is none
#: (between the two its answer is mixed in less and less, so a person stepping closer does not switch it
#: off from one frame to the next). At 0.6 the box is seen 1.3x larger; a full look up to 0.3 only lost
#: most of the gain on VOC / COCO and 3 points on rollerblade, up to 0.45 lost 1.7 on VOC; fading out
#: from 0.45 to 0.6 lost 0.5-0.8 on DAVIS against 0.6 to 0.8.
LOOK_FULL, LOOK_UP_TO = 0.6, 0.8
#: The box is grown by this share of its own size on each side, plus PAD of the frame, so that an arm
#: the first look missed is inside it (0.25 instead: photos +0.3 to +1.4, full-body video -0.5 to -1.2).
MARGIN, PAD = 0.15, 0.02
#: The box's sides are rounded to multiples of 1 / SNAP of the frame. bench --edges' still clips: flicker
#: 6.0e-6 unrounded (the matte without the closer look: 3.2e-6), 2.6e-6 at 1/20; rounding out to the next
#: 1/20 instead (a larger box) lost 1-2.5 points on groups, small people and dark on dark, 1/32 kept 5.2e-6.
SNAP = 20
# (The closer look sees as many pixels as the first: at 0.7 / 0.5 of them it lost 1-3 / 4-13 points on the
# full-body videos and small people.)
#: In a frame sequence (live, and files at the live quality), the first look runs on every FIRST_LOOK_EVERY-th frame
#: while there is a box to look at, and at once on the
#: next frame when the closer look finds the person at the box's edge or gone from it (``in_box``; the processor's
#: ``_looks``); the frames between reuse it (its box, and its answer outside the box) and pay for the closer look
#: only. Live 720p30 (bench, demo clip, 2026-12-02): 0.30-0.33 of a core before the closer look, 0.42-0.44 with
#: both looks every frame, 0.34-0.35 with the first look every 3rd frame. 2026-12-03 (runs/s21/looks_eval.py; the
#: raw model through the live looks; DAVIS mean IoU per frame, the four RVM-labelled clips at 720p, runs of the
#: model a frame on the demo clip, its raw flicker): every 3rd frame 0.780 / 0.798 / 1.33 / 3.96e-3; every 4th /
#: 6th without the edge 0.776 / 0.769; both every frame 0.787 / 2 runs; **every 5th or when the person reaches
#: the edge or leaves: 0.792 / 0.798 / 1.23 / 3.84e-3** (rollerblade 0.614 -> 0.678, breakdance -0.3, the rest
#: within 0.2; flicker of the seated and cups clips -5 / -3 %, a still frame the same). Planning the new box round
#: the last closer answer as well (it finds more of a small person than the first look) cost the demo clip 0.2
#: points and 18 % more flicker (the crop moved more). ``FrameProcessor(first_look_every=...)``.
#: Files (2026-12-04, runs/s23): the offline chain (model -> matte with the colour step, as --mask-out), both looks
#: every frame -> this schedule: matte IoU DAVIS 0.8000 -> 0.8041 (breakdance -0.95, hike -0.3, lucia 0, rollerblade
#: +3.8, tennis -0.5), the four RVM-labelled clips 0.7970 -> 0.7974 (each within 0.2), the matte's flicker lower or
#: the same on every clip; offline 720p 59.5 -> 70.5 FPS (29.7 -> 25.1 ms CPU a frame, 6 rounds, every one faster).
FIRST_LOOK_EVERY = 5
#: Frame pixels the box needs on its shorter side to be worth a look.
MIN_SIDE = 16


@dataclass(frozen=True)
class Plan:
    crop: tuple[slice, slice]  # the box in frame pixels
    cells: tuple[slice, slice]  # the same box on the first look's grid
    weight: float  # how much of the closer look goes in (1: all of it)
    frame_hw: tuple[int, int]


def plan(prob: np.ndarray, frame_hw: tuple[int, int]) -> Plan | None:
    """Where to look again for the first look ``prob`` (the model's grid) of a frame of ``frame_hw``, or
    None: nobody found, or the person fills enough of the frame already."""
    ys = np.flatnonzero((prob >= 0.5).any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero((prob >= 0.5).any(axis=0))
    gh, gw = prob.shape
    y0, y1, x0, x1 = ys[0] / gh, (ys[-1] + 1) / gh, xs[0] / gw, (xs[-1] + 1) / gw
    weight = float(np.clip((LOOK_UP_TO - (y1 - y0) * (x1 - x0)) / (LOOK_UP_TO - LOOK_FULL), 0.0, 1.0))
    if weight == 0.0:
        return None
    dy, dx = MARGIN * (y1 - y0) + PAD, MARGIN * (x1 - x0) + PAD
    y0, y1, x0, x1 = max(0.0, y0 - dy), min(1.0, y1 + dy), max(0.0, x0 - dx), min(1.0, x1 + dx)
    # To the nearest SNAP-th of the frame: the box of a person standing still moves by a cell with the
    # camera's noise, and a crop that moved with it made the closer look flicker.
    y0, x0, y1, x1 = (round(v * SNAP) / SNAP for v in (y0, x0, y1, x1))
    h, w = frame_hw
    crop = (slice(int(y0 * h), int(np.ceil(y1 * h))), slice(int(x0 * w), int(np.ceil(x1 * w))))
    # The grid cells whose centres lie in the crop (in frame pixels: the closer look sees exactly the crop).
    cells = tuple(slice(int(np.ceil(c.start * n / size - 0.5)), int(np.floor(c.stop * n / size - 0.5)) + 1)
                  for c, n, size in zip(crop, (gh, gw), (h, w)))
    if min(s.stop - s.start for s in crop) < MIN_SIDE or min(s.stop - s.start for s in cells) < 2:
        return None
    return Plan(crop, cells, weight, (h, w))


def merge(prob: np.ndarray, closer: np.ndarray, p: Plan) -> np.ndarray:
    """The first look with the closer one (the model's answer for ``frame[p.crop]``) in the box; the box's
    border fades over a twelfth of its size where it lies inside the frame, so no seam shows. A new array."""
    out = prob.copy()
    region = out[p.cells]
    rh, rw = region.shape
    # Each cell's centre, in frame pixels, read off the closer look's grid (sub-pixel: a cell of the first
    # look is 2-4 of the closer one's, and rounding the box to whole cells misplaced the person's outline by
    # up to half a cell, 0.5-0.8 IoU points on DAVIS). Linear interpolation by indexing, not cv2.warpAffine,
    # whose coordinates are fixed-point (1/32 px: flip test-time augmentation's mirror symmetry broke by
    # ~1e-3), nor matrix products (numpy's BLAS threads spun a core and a half in the live pipeline).
    (y0, y1, fy), (x0, x1, fx) = (_linear(cells, crop, n, size, m)
                                  for cells, crop, n, size, m in zip(p.cells, p.crop, prob.shape, p.frame_hw, closer.shape))
    fy = fy[:, None]
    across = closer[y0] * (1 - fy) + closer[y1] * fy
    closer = across[:, x0] * (1 - fx) + across[:, x1] * fx
    weight = np.full((rh, rw), np.float32(p.weight))
    rows, cols = p.cells
    for axis, (start, stop, size) in enumerate(((rows.start, rows.stop, prob.shape[0]), (cols.start, cols.stop, prob.shape[1]))):
        n = _fade(region.shape[axis])
        ramp = ((np.arange(n, dtype=np.float32) + 0.5) / n).reshape((-1, 1) if axis == 0 else (1, -1))
        lead = (slice(0, n), slice(None)) if axis == 0 else (slice(None), slice(0, n))
        tail = (slice(-n, None), slice(None)) if axis == 0 else (slice(None), slice(-n, None))
        if start > 0:
            weight[lead] *= ramp
        if stop < size:
            weight[tail] *= np.flip(ramp, axis=axis)
    region += weight * (closer - region)
    return out


def in_box(prob: np.ndarray, p: Plan) -> tuple[int, bool]:
    """The person in the box of plan ``p``, as ``prob`` (a look merged by ``merge``) has them: how many cells, and
    whether any lies within the box's fading border, or a cell beyond it, on a side inside the frame (someone
    reaching out of the box: an arm swung out, a step sideways)."""
    inside = prob[p.cells] >= 0.5
    rows, cols = p.cells
    ny, nx = _fade(inside.shape[0]) + 1, _fade(inside.shape[1]) + 1
    edge = ((rows.start > 0 and inside[:ny].any()) or (rows.stop < prob.shape[0] and inside[-ny:].any())
            or (cols.start > 0 and inside[:, :nx].any()) or (cols.stop < prob.shape[1] and inside[:, -nx:].any()))
    return int(np.count_nonzero(inside)), bool(edge)


def _fade(cells: int) -> int:
    """Over how many of a box's ``cells`` (along one side) the closer look fades in at the box's border."""
    return max(2, cells // 12)


def _linear(cells: slice, crop: slice, n: int, size: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of the first look's ``cells`` (of ``n`` across a frame side of ``size`` px): the two of the
    closer look's ``m`` values (across ``crop``) around the cell's centre and the second's weight; the closer
    look's edge values beyond its ends."""
    frame_per_cell, closer_per_frame = size / n, m / (crop.stop - crop.start)
    at = ((np.arange(cells.start, cells.stop) + 0.5) * frame_per_cell - crop.start) * closer_per_frame - 0.5
    at = np.clip(at, 0.0, m - 1)
    lo = np.floor(at).astype(np.intp)
    return lo, np.minimum(lo + 1, m - 1), (at - lo).astype(np.float32)
