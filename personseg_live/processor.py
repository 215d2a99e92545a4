"""The one Segmenter -> Matte -> Compositor chain, driven by the live pipeline, offline processing and bench.

    processor = FrameProcessor(segmenter, MatteSettings(), BackgroundSettings(mode="blur"))
    out = processor(frame_bgr)                        # Processed: alpha, composite, timings_ms
    for out in processor.batch(frames, guides=smalls):  # in order; one model call for the batch
        ...

A frame is BGR (h, w, 3), or I420 (h*3/2, w) for the offline fast path: then the composite is I420
too, and the model and the matte see ``guide``, a BGR copy of the frame (offline passes a half-size
one from 960 px up: the model and matte work at <= 320 px). The processor is stateful (the matte's
temporal smoothing): one per stream, ``reset()`` when the stream changes, one thread at a time, or two:
one calling ``segment`` (the model) and one ``finish`` (the matte and the compositor), as offline does.
A change to the chain (a new matte cue, edge refinement) belongs here, so every driver gets it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import cv2
import numpy as np

from .compose import Compositor, Matte
from .compose.effects import i420_to_bgr_half
from .compose.matte import work_size
from .model import closer_look
from .model.segmenter import downscale
from .settings import BackgroundSettings, MatteSettings


@dataclass
class Processed:
    """One frame through the chain. ``alpha`` is a new array for each frame: the caller may keep it."""

    alpha: np.ndarray  # float32 (h, w) in 0..1
    composite: np.ndarray  # BGR, BGRA (transparent) or I420, as the frame given
    timings_ms: dict[str, float] = field(default_factory=dict)  # "segment", "matte", "compose", "total"
    rested: bool = False  # no model answer for this frame: the matte carried the last one (``FrameProcessor.rest``)


def is_i420(frame: np.ndarray) -> bool:
    return frame.ndim == 2


def frame_size(frame: np.ndarray) -> tuple[int, int]:
    """(h, w) of a BGR or I420 frame."""
    return (frame.shape[0] * 2 // 3, frame.shape[1]) if is_i420(frame) else frame.shape[:2]


class FrameProcessor:
    def __init__(self, segmenter, matte: MatteSettings | None = None, background: BackgroundSettings | None = None,
                 *, room=None, keep_edges: bool = False, first_look_every: int = 1, rest: bool = False):
        """``segmenter``: a Segmenter (or anything with ``lowres``/``lowres_batch``); None until one is
        set. A bad ``background`` raises BackgroundError here, before any frame. ``room``: a
        ``room.RoomCue`` (the clean-plate cue, issue 13) or None; it may be set later (``self.room``).
        ``keep_edges``: the alpha itself is an output (``--mask-out``): the matte's colour step always runs.
        ``first_look_every``: a frame sequence fed frame by frame (live, and files at the live quality), the model's
        first look at the whole frame is taken on every n-th frame only while it found someone small to look at
        closer (and when they leave its box), and the closer look every frame (``closer_look.FIRST_LOOK_EVERY``);
        1: both every frame (``--quality high``, a batch, benches of the model).
        ``rest``: live, the model skips a frame right after one whose answer the matte had foretold
        (``Matte.surprise`` below ``REST_SURPRISE``): the matte carries the last answer along with the picture
        instead (never two frames running, never with a room cue, which reads the model's answer each frame). A
        rested frame counts toward the whole-frame look's turn: its cadence stays in frames. A turn that comes on a
        rested frame or on the frame after it is taken on the rested frame, for the frames to come: a frame with
        both looks sets the live p95 latency, and a resting frame has the time."""
        self.segmenter = segmenter
        self.compositor = Compositor(background)
        self.matte = Matte(matte)
        self.room = room
        self.keep_edges = keep_edges
        self.first_look_every = first_look_every
        self._first: _FirstLook | None = None  # live: the whole-frame look being reused (see _looks)
        self.rest = rest
        self.rested = False  # the last frame had no model answer (``rest``)
        self._last_shape: tuple[int, ...] | None = None
        self._last_thumb: np.ndarray | None = None  # the last frame's thumbnail (``_cut``)

    @property
    def colour_step(self) -> bool:
        """Whether the matte places the edge by colour (its step 3, when ``MatteSettings.refine``): where the
        background is replaced, or where the alpha is kept. Not over the blurred room or with no background:
        there the room behind the edge is the room itself, so a colour-placed edge shows no better — on issue
        12's composites judged over the blurred empty room, edge error 12.84 with it vs 12.76 without,
        boundary F 0.856 vs 0.872 — and it is ~2.6 ms of the 720p live frame (blur is the default background;
        issue 11's budget). Not for a clean plate's sake either: on bench --room's right-room clips the
        given plate scores IoU 0.9792 / boundary F 0.947 without it, 0.9787 / 0.943 with it."""
        return self.keep_edges or self.compositor.settings.mode not in ("blur", "none")

    def update_matte(self, settings: MatteSettings) -> None:
        self.matte.update(settings)

    def update_background(self, settings: BackgroundSettings) -> None:
        """Raises BackgroundError (and keeps the old background) for a bad one."""
        self.compositor.update(settings)

    def reset(self) -> None:
        """A new stream: the matte's temporal state from the old one means nothing."""
        self.matte.reset()
        self._first = None
        self.rested = False
        self._last_thumb = None
        if self.room is not None:
            self.room.reset()

    def close(self) -> None:
        self.compositor.close()

    def __call__(self, frame: np.ndarray, guide: np.ndarray | None = None) -> Processed:
        return next(self.batch([frame], guides=None if guide is None else [guide]))

    def batch(self, frames: Sequence[np.ndarray], *, guides: Sequence[np.ndarray] | None = None) -> Iterator[Processed]:
        """Each frame in order, one model call for them all (a batch gains on TensorFlow, not on LiteRT)."""
        guides = list(guides) if guides is not None else [self._guide(f) for f in frames]
        t0 = time.perf_counter()
        lows = self.segment(guides)
        segment_ms = (time.perf_counter() - t0) * 1e3 / len(guides)
        for frame, guide, low in zip(frames, guides, lows):
            yield self.finish(frame, guide, low, segment_ms=segment_ms)

    def segment(self, guides: Sequence[np.ndarray]) -> list[np.ndarray | None]:
        """The model's answer for each guide, in order (one model call for a batch): the chain's first half,
        ``finish`` its second. Each half keeps to its own part of the processor (the segmenter / the matte, the
        room cue and the compositor), so offline runs them on two threads. None: the model rests this frame
        (``rest``; one frame at a time, so never in a batch; it reads the matte's ``surprise``, so a resting
        processor runs both halves on one thread, as live does)."""
        if len(guides) > 1:
            return self.segmenter.lowres_batch(guides)
        cut = self._cut(guides[0])
        self.rested = not cut and self._may_rest(guides[0].shape)
        self._last_shape = guides[0].shape
        if self.rested:
            kept = self._first
            # The whole-frame look's turn comes by frames (someone may walk in meanwhile). Due now or on the next
            # frame, it is taken here, where the model has no other work, and serves from the next frame: on the
            # demo clip frames with both looks 19 % -> 5 %, for 0.71 -> 0.77 runs of the model a frame.
            if kept is not None and kept.plan is not None and kept.age >= self.first_look_every - 1:
                kept = self._first_look(guides[0], edge=False)
            if kept is not None:
                kept.age += 1
            return [None]
        if self.first_look_every > 1 and hasattr(self.segmenter, "first_look"):
            return [self._looks(guides[0], cut)]
        return [self.segmenter.lowres(guides[0])]

    def _cut(self, guide: np.ndarray) -> bool:
        """Whether ``guide`` starts a new shot (a cut in an edited video, the light switched on): its grey 16x9
        thumbnail differs from the last frame's by more than ``CUT`` levels on average. Neither the matte's
        carried answer nor the last whole-frame look says anything about such a frame. Only where the model's
        schedule depends on the frames before (``rest``, ``first_look_every``); 0.06 ms a frame."""
        if not self.rest and self.first_look_every <= 1:
            return False
        step = max(1, guide.shape[1] // 128)  # a strided view first: INTER_AREA at 80x took 0.9 ms at 720p
        thumb = cv2.resize(cv2.cvtColor(guide[::step, ::step], cv2.COLOR_BGR2GRAY), (16, 9), interpolation=cv2.INTER_AREA)
        last, self._last_thumb = self._last_thumb, thumb
        return last is not None and float(cv2.absdiff(thumb, last).mean()) > CUT

    def _may_rest(self, shape: tuple[int, ...]) -> bool:
        """Live, a video call: most frames the model only says again what the matte, carrying its last answer along
        with the picture, already knows — the person moved a little, the flow followed. A frame after one where
        the model's answer held no surprise can do without it; a surprise (a person moving fast, a new one, a
        cut) keeps it running on every frame. Not the read of the room cue: it decides with the model each frame."""
        surprise = self.matte.surprise
        return (self.rest and not self.rested and self.room is None and shape == self._last_shape
                and surprise is not None and surprise < REST_SURPRISE)

    def _looks(self, guide: np.ndarray, cut: bool = False) -> np.ndarray:
        """The model's answer for one live frame: the closer look fresh each frame, the first look reused for up to
        ``first_look_every`` frames while it has a box to look at closer (the box and the answer outside it a few
        frames old: the box's margin covers a person's motion in that time), and taken again on the next frame
        when the closer look finds the person at the box's edge (an arm swung out, a step sideways) or gone from
        it (a jump past the edge), and on the first frame of a new shot (``cut``)."""
        seg, kept = self.segmenter, self._first
        edge = kept is not None and kept.at_edge and not kept.edge_in_vain
        if (kept is None or kept.segmenter is not seg or kept.shape != guide.shape or kept.plan is None
                or kept.age >= self.first_look_every or edge or kept.left or cut):
            kept = self._first_look(guide, edge=edge)
        kept.age += 1
        if kept.plan is None:
            return kept.prob
        prob = seg.look_closer(guide, kept.prob, kept.plan)
        area, kept.at_edge = closer_look.in_box(prob, kept.plan)
        if not kept.area:
            kept.area = area
        kept.left = area < LEFT_THE_BOX * kept.area  # gone from the box (a jump, or out past the edge)
        return prob

    def _first_look(self, guide: np.ndarray, *, edge: bool) -> _FirstLook:
        """A new whole-frame look at ``guide``, kept for the next frames (``edge``: taken because the closer look
        found the person at its box's edge)."""
        seg, old = self.segmenter, self._first
        prob = seg.first_look(guide)
        kept = _FirstLook(seg, guide.shape, prob, seg.plan(guide, prob))
        # A first look that plans the same box again sees no more than the last one did (the closer look finds
        # more of a small person than it does, up to the box's edge): none more for the edge while it stays.
        kept.edge_in_vain = old is not None and (edge or old.edge_in_vain) and kept.plan == old.plan
        self._first = kept
        return kept

    def finish(self, frame: np.ndarray, guide: np.ndarray, low: np.ndarray | None, *, segment_ms: float = 0.0) -> Processed:
        """The chain after the model: ``low`` (the model's probability for ``guide``, or None where the model
        rested: the matte carries the last answer) -> alpha -> composite."""
        t1 = time.perf_counter()
        frame_hw, room_colour = frame_size(frame), None
        if self.room is not None and low is not None:
            # The plate adjusts the model's probability and gives the matte the room's colour at the edge;
            # both read the frame at the matte's work size, downscaled once for the two.
            guide = downscale(guide, work_size(frame_hw, low.shape[:2]))
            low = self.room(low, guide, frame_hw)
            room_colour = self.room.room_colour
        t_room = time.perf_counter()
        alpha = self.matte(low, guide, out_size=frame_hw, room=room_colour, colour=self.colour_step)
        t2 = time.perf_counter()
        composite = self.compose(frame, alpha)
        t3 = time.perf_counter()
        matte_ms, compose_ms = (t2 - t1) * 1e3, (t3 - t2) * 1e3
        timings = {"segment": segment_ms, "matte": matte_ms, "compose": compose_ms,
                   "total": segment_ms + matte_ms + compose_ms}
        if self.room is not None:
            timings["room"] = (t_room - t1) * 1e3  # a part of "matte"
        return Processed(alpha, composite, timings, rested=low is None)

    def compose(self, frame: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """The frame over the background with ``alpha`` (BGR, BGRA or I420, as the frame)."""
        return self.compositor.compose_i420(frame, alpha) if is_i420(frame) else self.compositor(frame, alpha)

    @staticmethod
    def _guide(frame: np.ndarray) -> np.ndarray:
        return i420_guide(frame) if is_i420(frame) else frame


#: Live (``rest``): the model rests on the next frame when its answer and the matte's carried one differed by more than
#: half on fewer than this share of the work pixels (29 of 320x180). Measured (runs/s22/rest_eval.py, the live chain
#: over the blurred room, 2026-12-03): the demo clip (a video call) and the seated man rest on 48-50 % of frames, the
#: juggler 5 %, DAVIS 0-29 % per clip; matte IoU against every frame's model: demo -0.04, juggler -0.08, DAVIS
#: -0.07 points, cups -0.3; the demo's matte flicker -6 %. At 0.001 / 0.002 (skip_eval.py) the juggler -0.3 / -0.5,
#: DAVIS -0.0 / -0.2; resting on every other frame regardless, DAVIS -4.5 and the juggler -2.2.
REST_SURPRISE = 0.0005
#: A new shot: the frame's grey 16x9 thumbnail differs from the last frame's by more than this, on average (8-bit
#: levels). Consecutive frames of our clips: at most 7.4 (cups: fast hands close up; DAVIS tennis 6.5, a video call
#: 1.4); the last frame of one clip against the first of another: 28.5 or more (runs/s23/cut_calib.py).
CUT = 15.0

#: Live: a person whose cells in the closer look's box fell below this share of the first closer look's has left it.
LEFT_THE_BOX = 0.5


@dataclass
class _FirstLook:
    """A whole-frame look kept for the next live frames: whose, for which frame size, the answer, the box it
    planned (None: nothing to look at closer), how many frames have used it, and what their closer looks found."""

    segmenter: object
    shape: tuple[int, ...]
    prob: np.ndarray
    plan: object
    age: int = 0
    area: int = 0  # the person's cells in the box at its first closer look (closer_look.in_box)
    at_edge: bool = False  # the last closer look found the person at the box's edge
    edge_in_vain: bool = False  # a first look taken for that planned the same box: none more for it
    left: bool = False  # the last closer look found less than LEFT_THE_BOX of ``area``


def i420_guide(frame: np.ndarray) -> np.ndarray:
    """The BGR copy of an I420 frame that the model and the matte see. They work at <= 320 px: a
    half-size copy serves them as well as the frame from 960 px up; below that it would starve them."""
    h, w = frame_size(frame)
    return i420_to_bgr_half(frame) if max(w, h) >= 960 else cv2.cvtColor(frame, cv2.COLOR_YUV2BGR_I420)


__all__ = ["FrameProcessor", "Processed", "frame_size", "i420_guide", "is_i420"]
