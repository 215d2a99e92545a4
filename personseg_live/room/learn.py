"""A plate learned from a whole recording before it is processed (``process --plate auto``).

Live, the cue learns the room while it runs, so the first seconds of a call get no help. A file can be
read twice: the first pass shows the learner frames from the whole recording (the model's probability
gates every pixel, as live), the second pass processes with what it learned, from the first frame on.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .cue import RoomCue
from .plate import Plate, plate_size
from ..model.segmenter import downscale

#: Frames the first pass shows the learner at most, spread evenly over the recording: enough for every
#: pixel the person leaves for a while to pass the learner's stability and sample counts (~31 calls).
MAX_SAMPLES = 240


def sample_step(frames: int) -> int:
    """Every n-th frame of a recording of ``frames`` (0: unknown) feeds the learner."""
    return max(1, frames // MAX_SAMPLES) if frames > 0 else 1


def learn_plate(samples: Iterable[tuple[np.ndarray, np.ndarray]], frame_hw: tuple[int, int]) -> Plate | None:
    """``samples``: (model probability, BGR frame or a smaller copy of it), in recording order, of frames
    of size ``frame_hw``. Returns the room as learned, or None when no pixel was background long enough."""
    cue = RoomCue(None, learn=True)
    work = plate_size(frame_hw)
    for low, guide in samples:
        cue(low, downscale(guide, work), frame_hw)
    return cue.plate()


__all__ = ["MAX_SAMPLES", "learn_plate", "sample_step"]
