"""A plate learned from a whole recording before it is processed (``process --plate auto``).

Live, the cue learns the room while it runs, so the first seconds of a call get no help. A file can be
read twice: the first pass collects frames from the whole recording with the model's probability (which
gates every pixel, as live), the second pass processes with the room they show, from the first frame on.
"""

from __future__ import annotations

from typing import Iterable

import cv2
import numpy as np

from .cue import RoomCue, RoomStatus, learnable
from .plate import DEFAULT_NOISE, Plate, camera_noise, plate_size
from ..model.segmenter import downscale

#: Frames the first pass shows the learner at most, spread evenly over the recording.
MAX_SAMPLES = 240
#: Frames in which a pixel must be room (by the model) before the plate speaks for it.
MIN_SAMPLES = 6
#: The room of the opening (its first samples), against which a change of room is looked for; a change
#: is this many successive samples that do not match it.
OPENING_SAMPLES = 2 * MIN_SAMPLES
CHANGE_SAMPLES = 3
#: The room is this quantile of a pixel's room samples, not their median: the shadow a person casts only
#: ever darkens the room, and it falls on the pixels beside the person for much of the time they are seen
#: (bench --room, right room: the learned plate's share of the given plate's gain 73 % with the median;
#: swept without the noise terms below: 0.65 87 %, 0.75 99 %, 0.9 95 %; as shipped 100 %, 2026-12-02). Less
#: than the maximum: a hand the model missed for a moment is still outvoted.
ROOM_QUANTILE = 0.75
#: The quantile of a normal distribution at ROOM_QUANTILE, in standard deviations: taken off again with the
#: pixel's noise figure, so that a plain noisy pixel's plate is its mean, not 0.67 sigma brighter.
QUANTILE_Z = 0.6745


def sample_step(frames: int) -> int:
    """Every n-th frame of a recording of ``frames`` (0: unknown) feeds the learner."""
    return max(1, frames // MAX_SAMPLES) if frames > 0 else 1


def learn_plate(samples: Iterable[tuple[np.ndarray, np.ndarray]], frame_hw: tuple[int, int]) -> Plate | None:
    """``samples``: (model probability, BGR frame or a smaller copy of it), in recording order, of frames
    of size ``frame_hw``. Returns the room as learned, or None when no pixel was room often enough.

    With the whole recording at hand the room is a per-pixel upper quartile (ROOM_QUANTILE) over every frame
    in which the model called the pixel room (gated as the live learner is), not a running mean that must first see a pixel
    stay room for half a second: a pixel the person uncovers only briefly, again and again, is learned
    too, and the person's shadow beside them or a missed hand is outvoted. The noise figure comes from the difference
    between successive samples, so a slow exposure drift over the recording does not count as noise.
    If the room changes during the recording (the camera knocked, the lights switched), a plate over both
    rooms would be neither: the plate is then the room of the opening, and the second pass's cue notices
    the change and learns the new room as it does live."""
    work = plate_size(frame_hw)
    smalls, probs, rooms = [], [], []
    for low, guide in samples:
        smalls.append(downscale(guide, work))
        probs.append(low if low.shape == work else cv2.resize(low, work[::-1], interpolation=cv2.INTER_LINEAR))
        rooms.append(learnable(probs[-1]))
    if not smalls:
        return None
    opening = _room_plate(smalls[:OPENING_SAMPLES], rooms[:OPENING_SAMPLES], frame_hw)
    if opening is not None:
        check, run = RoomCue(opening, learn=False), 0
        for i, (small, prob) in enumerate(zip(smalls, probs)):
            check(prob, small, frame_hw)
            run = run + 1 if check.status is RoomStatus.MISMATCH else 0
            if run == CHANGE_SAMPLES:  # not one odd frame (a flash, a glitch): the room changed
                return _room_plate(smalls[:i + 1 - run], rooms[:i + 1 - run], frame_hw)
    return _room_plate(smalls, rooms, frame_hw)


def _room_plate(smalls: list[np.ndarray], rooms: list[np.ndarray], frame_hw: tuple[int, int]) -> Plate | None:
    """The plate of ``smalls`` (work-size frames), each pixel from the samples ``rooms`` (bool) calls room."""
    if not smalls:
        return None
    room = np.stack(rooms)
    known = np.count_nonzero(room, axis=0) >= MIN_SAMPLES
    if not known.any():
        return None
    h, w = known.shape
    mean = np.zeros((h, w, 3), np.float32)
    noise = np.full((h, w), np.float32(DEFAULT_NOISE))
    frames = np.stack(smalls)
    for rows in _bands(h, len(smalls) * w):  # a band of rows at a time: 240 samples whole would take ~0.5 GB
        stack = frames[:, rows].astype(np.float32)
        stack[~room[:, rows]] = np.nan
        upper = _quantile(stack, ROOM_QUANTILE)
        if len(stack) > 1:  # a normal's std from the median of |x - y| over successive samples
            spread = _quantile(np.abs(stack[1:] - stack[:-1]), 0.5).mean(axis=2) * np.float32(1.4826 / np.sqrt(2.0))
            spread = np.where(np.isfinite(spread), spread, np.float32(0.0))
            upper -= np.float32(QUANTILE_Z) * spread[..., None]
            noise[rows] = camera_noise(spread)
        mean[rows] = upper
    mean[~known] = 0.0
    return Plate(mean, noise, tuple(frame_hw), None if known.all() else known, learned=True)


def _bands(h: int, pixels_per_row: int, budget: int = 4_000_000) -> list[slice]:
    """Row slices of about ``budget`` sample pixels each."""
    step = max(1, budget // max(1, pixels_per_row))
    return [slice(y, min(h, y + step)) for y in range(0, h, step)]


def _quantile(stack: np.ndarray, q: float) -> np.ndarray:
    """Per-pixel quantile ``q`` over the first axis of (n, h, w, c), NaN left out (NaN where all are; the
    median interpolates between the middle two): sorted along a contiguous last axis, ~15x faster than
    np.nanmedian here."""
    x = np.moveaxis(stack, 0, -1).copy()
    missing = np.isnan(x)
    count = x.shape[-1] - np.count_nonzero(missing, axis=-1)
    x[missing] = np.inf
    x.sort(axis=-1)
    pos = np.float32(q) * np.maximum(count - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
    frac = (pos - lo).astype(np.float32)
    a = np.take_along_axis(x, lo[..., None], -1)[..., 0]
    b = np.take_along_axis(x, hi[..., None], -1)[..., 0]
    with np.errstate(invalid="ignore"):  # inf - inf where a pixel has no sample: NaN, as it should be
        value = a + frac * (b - a)
    return np.where(count > 0, value, np.float32(np.nan)).astype(np.float32)


__all__ = ["MAX_SAMPLES", "learn_plate", "sample_step"]
