"""Matte: the model's low-resolution person probability -> a steady, clean alpha at frame size.

    matte = Matte(MatteSettings())
    alpha = matte(seg.lowres(frame), frame)     # float32 HxW in 0..1, call once per frame, in order

All the work happens at a small "work" resolution (long side <= 320 px); the only full-size
operations are the final bilinear upsample (a new array each frame) and a clip. Order of the steps:

1. Temporal smoothing of the probability with a *motion-weighted* EMA. A plain EMA steadies the
   edge but drags a ghost behind anything that moves. Here every pixel gets its own blend weight:
   small where neither the probability nor the picture changed (noise: smoothed away), 1 where
   the probability jumps, the picture itself moved, or the model is sure of a value on the other
   side of the threshold (real motion: followed at once; ``_sure_change``). On a frame without a model
   answer (live, the model resting: ``FrameProcessor``) the previous probability carried along is the frame's.
2. Threshold with a soft ramp (``softness`` wide), so the edge is not a hard 0/1 staircase; next to
   where it crosses 0.5 the ramp goes on past 0 and 1 (``BEYOND``), so that the edge falls between work
   pixels where the model's probability crosses the threshold, not on the work grid (and is scaled back
   to a unit step before step 5, ``_unit_slope``, so the edge is as soft as ``feather`` asks).
3. Edges, only in a band a few px around the model's edge (``_within``): alpha from colour
   (``_colour_matte``: each pixel placed between the local person and room colours); outside the
   band the model's 0 / 1 stay, so the room's texture (a window frame, grass) never enters the
   alpha the way the guided filter over the whole frame let it. Only where the background is replaced
   or the alpha is kept (``FrameProcessor.colour_step``; ``colour=False`` skips it).
4. Hold: where the picture is still, a change of the alpha passes in proportion to its size
   (``|change| / HOLD``, all of it from ``HOLD`` up). Frame noise nudges every soft edge pixel a
   little each frame; those nudges are damped to a fraction, while real changes go through.
5. Sharpen (``_sharpen``): the ramp is steepened so that after the upsample and a clip it is
   ``feather`` frame px wide: hard where the body meets a plain background, but not where the
   colours say mixed over an area (hair keeps its partial alpha). Then one upsample and the clip.

``Matte(classic=True)`` runs the steps as they were before issue 12 (guided filter over the whole
frame, outward feather, no sure-change term, no sharpening) for ``bench --edges``' comparison.
The compositor then estimates the person's colour at the soft pixels (``foreground.py``).

What is left of ``bench --edges``' error (19.56 levels, 0.747x the classic matte's) is where the model's outline
lies: 1.3 frame px from the true edge on average at 720p (median 0.7), where a model input pixel is ~4 frame px;
the true alpha binarised scores 6.70. Measured 2026-12-03 (runs/s15), none kept: a learned edge step at work size
(four small convolutions reading the frame and the probability, trained on pasted people, ~2 ms a frame) 18.67,
but webcam-like portraits 0.949 -> 0.948; trained on real photos too 19.19, and -0.7 to +0.4 IoU points per kind
of photo; at twice the work size 18.14-18.93 for 15-23 ms a frame. The model fed 1.4x / 2x the pixels 18.03 /
17.17, boundary F 0.915 -> 0.889 / 0.876 (the enlarged picture's blunders); its answer used only near the normal
look's edge 17.9, still-picture flicker 28x. Flip test-time augmentation 19.09; a second look half a model pixel
over 19.35; threshold 0.4 / 0.6 20.02 / 20.74; feather 1 / 4 19.68 / 19.41; no colour step 19.77; no smoothing
19.44. The whole matte at 2x / 4x the work size (640 / 1280 px long side; 4x is every frame pixel at 720p)
18.73 / 18.04, boundary F 0.917 / 0.918, still flicker 5.1e-6 / 7.2e-6; at 4x with the band and the colour reach
2x / 4x as many work px 18.42 / 19.02 (2026-12-03, runs/s16): the colours cannot move an outline that is several
px off. What is left is the outline's tail (its mean distance almost twice its median): stretches several px
off that no local step sees; the bar needs a model whose outline is right to a quarter of its pixel.
Not the grid (2026-12-03, runs/s17): the true mask averaged onto the model's grid and upsampled like its answer
scores 7.1 cut at 0.5 (6.6 the true alpha binarised), the model's own answer cut the same way 20.0; MediaPipe
general's weights through this runtime 20.5, the grown network trained 2.5x as long 20.4: every network of this
size we have draws the same outline, the fine-tune did not blur it. RVM (the offline teacher, GPL, ~35x the
parameters, run at 640x360) cut the same way scores 13.1: the outline is learnable, by a much larger network.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from ..model.segmenter import downscale
from ..settings import MatteSettings

#: Long side of the resolution the matte works at.
WORK_LONG_SIDE = 320
#: Probability change that gets blend weight 1; smaller changes get proportionally less.
PROB_MOTION = 1.0
#: Grey-level change (0..1, after motion compensation) that gets blend weight 1: what the flow did
#: not explain (occlusions, fast motion the flow missed) is followed at once, so nothing ghosts.
FRAME_MOTION = 0.25
#: The same two before issue 12 (``Matte(classic=True)``, bench --edges' "today").
CLASSIC_PROB_MOTION, CLASSIC_FRAME_MOTION = 2.0, 1.0
#: Warp the previous matte with optical flow before blending (see _smooth).
MOTION_COMPENSATION = True
#: Tuned with the default settings on DAVIS-2016 person clips (fast motion, moving camera) and the
#: demo clip (a person at a desk): flicker 0.68x / 0.45x of the raw model's probability, and IoU on
#: DAVIS +1.2 points over the raw model's (bundled model of 2026-11-24). Without motion compensation
#: (a plain motion-gated EMA) the best setting reached 0.70x at +0.7 points. With the steadier model of
#: 2026-11-25 (raw flicker -22 % on the demo clip) the same settings give 0.73x / 0.50x: less is left to
#: smooth. PROB_MOTION 4 / FRAME_MOTION 2 reach 0.65x / 0.53x but cost 4.7 IoU points on DAVIS.
#: Issue 12, default model of 2026-12-01: 2 / 1 cost single fast clips up to 3.4 points (breakdance -3.4,
#: tennis -2.3, though +1.2 over all five); 1 / 0.35 gain on every clip (+0.2 to +5.6, mean +2.0) at
#: flicker 0.76x (DAVIS) / 0.34x (demo). bench --stability.
#: With the closer look at small people (2026-12-02) the raw model follows a swung arm better, and 1 / 0.35
#: cost tennis 0.8 IoU points (breakdance 0.3); 1 / 0.25: every clip -0.3 or better (breakdance +0.05,
#: hike +1.2, lucia +0.1, rollerblade +4.7, tennis -0.3), flicker 0.80x (DAVIS) / 0.30x (demo) / 0.88x
#: (juggler) instead of 0.78x / 0.30x / 0.87x; bench --edges' still clips 2.8e-6 instead of 2.6e-6.

#: Step 5 (only when smoothing > 0): an alpha change of d passes as d * min(1, |d| / HOLD) ...
HOLD = 0.5
#: The same after issue 12's edge steps: the sharpening after the hold multiplies what passes.
EDGE_HOLD = 2.0
#: ... where the picture is still: the 5x5 mean grey level moved less than this (8-bit levels), here
#: and within the refinement's reach. Demo clip: flicker 0.46x -> 0.35x of the raw probability
#: (0.53x -> 0.40x of a smoothing=0 matte); DAVIS IoU -0.02 points. Proportional, not all-or-nothing:
#: keeping or passing each pixel whole left a speckled rim (neighbours held at different frames' values).
#: Fully off (0) and fully on (1) alpha always pass, so no faint ghost lingers where a person left.
#: 6, not 12 (2026-12-02 evening): a limb moving a work pixel a frame against a background 40 levels away
#: changes the 5x5 mean by ~8 levels, so at 12 it counted as still and its edge was held back: the juggler
#: (../shared/video/juggle.mp4 at 720p, RVM's labels, `process --mask-out` against the raw model) lost 1.43
#: IoU points to the matte, 0.76 at 6 (8: 0.94, 4: 0.66); DAVIS matte - raw +1.18 -> +1.24 points (every
#: clip -0.26 or better); demo-clip flicker 0.295x -> 0.341x of the raw model's (8: 0.318x, 4: 0.364x);
#: bench --edges 20.76 -> 20.24 levels, boundary F 0.9034 -> 0.9050, still-clip flicker 2.83e-6 either way.
#: Camera noise (sigma 5) moves a 5x5 mean by ~1.4 levels, so still stays still.
STILL_GREY = 6

#: Issue 12: the model's own certainty (|prob - 0.5| at least this) lets a change through (see _sure_change).
SURE = 0.3
#: Feather outwards only (see __call__); a plain blur costs 0.9 IoU points on DAVIS.
FEATHER_OUTWARD = True
#: Guided filter radius (work pixels) and regularisation (in 8-bit grey units squared).
GUIDE_RADIUS = 4
GUIDE_EPS = 0.02 * 255**2 * 0.02


def work_size(frame_hw: tuple[int, int], low_hw: tuple[int, int], long_side: int = WORK_LONG_SIDE) -> tuple[int, int]:
    """(H, W) to work at: the frame's aspect, long side ``long_side``, never above the frame, never below the model."""
    h, w = frame_hw
    scale = min(1.0, long_side / max(h, w))
    wh, ww = max(1, round(h * scale)), max(1, round(w * scale))
    if wh < low_hw[0] or ww < low_hw[1]:
        wh, ww = min(h, max(wh, low_hw[0])), min(w, max(ww, low_hw[1]))
    return wh, ww


def base_weight(smoothing: float) -> float:
    """Blend weight of a new frame where nothing moved: 1 = no smoothing, small = strong smoothing.

    Steep so the default 0.6 already damps noise strongly (weight 0.026); the motion terms keep
    that from lagging, so strong damping of still parts costs nothing on moving ones.
    """
    return float(max(0.01, (1.0 - np.clip(smoothing, 0.0, 1.0)) ** 4))


class Matte:
    """Stateful (temporal smoothing): one instance per stream; ``reset()`` when the stream changes."""

    def __init__(self, settings: MatteSettings | None = None, *, classic: bool = False):
        self.settings = replace(settings) if settings is not None else MatteSettings()
        # classic=True: the edge and smoothing steps as they were before issue 12 (bench --edges
        # measures the new ones against them).
        self.classic = classic
        self._shape: tuple[int, int] | None = None
        self._prev_prob: np.ndarray | None = None
        self._prev_grey: np.ndarray | None = None
        self._prev_alpha: np.ndarray | None = None
        self._hair: np.ndarray | None = None  # where the colours say hair (see _steady_hair)
        self._flow = None  # cv2.DISOpticalFlow, made on first use
        self._grid: tuple[np.ndarray, np.ndarray] | None = None
        #: After each frame with a model answer: the share of work pixels where that answer and the last frame's
        #: probability carried onto it by the flow differ by more than half — how much the model told the matte
        #: that it could not have foretold. None where not measured (a first frame, no smoothing, no answer).
        self.surprise: float | None = None

    def update(self, settings: MatteSettings) -> None:
        # Keep the temporal state: a slider move must not make the matte jump.
        self.settings = replace(settings)

    def reset(self) -> None:
        self._shape = None
        self._hair = None
        self._prev_prob = None
        self._prev_grey = None
        self._prev_alpha = None
        self.surprise = None

    def __call__(self, lowres_prob: np.ndarray | None, frame: np.ndarray, *, out_size: tuple[int, int] | None = None,
                 room=None, colour: bool = True) -> np.ndarray:
        """Alpha at the frame's size, or at ``out_size`` (h, w) when the frame given is a smaller copy
        (offline passes a half-size frame: the guide needs no more than the work resolution). ``room``:
        the room's colour behind each pixel at work size (``room.RoomColour``, from the clean plate), or
        None: the edge's room colour is then estimated from the room nearby. ``colour=False`` skips the
        colour step (step 3) this frame, as ``refine=False`` does (the processor decides, see
        ``FrameProcessor.colour_step``). ``lowres_prob=None``: no model answer for this frame; the last
        frame's probability, carried along with the picture by the optical flow, stands in for it (live, the
        model rests on a frame after one whose answer the carried one foretold: ``surprise``). Needs a last
        frame of the same size (ValueError)."""
        s = self.settings
        h, w = out_size or frame.shape[:2]
        if lowres_prob is None:
            if self._shape is None or self._shape[:2] != (h, w) or self._prev_prob is None:
                raise ValueError("no model answer to carry: the matte has no last frame of this size")
            wh, ww = self._shape[2:]
            prob = None
        else:
            wh, ww = work_size((h, w), lowres_prob.shape[:2])
            if self._shape != (h, w, wh, ww):
                self.reset()
                self._shape = (h, w, wh, ww)
            prob = np.asarray(lowres_prob, np.float32)
            if prob.shape != (wh, ww):
                prob = cv2.resize(prob, (ww, wh), interpolation=cv2.INTER_LINEAR)
        small = downscale(frame, (wh, ww))
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        still = self._still(grey) if s.smoothing > 0 else None

        prob = self._smooth(prob, grey, s.smoothing, sure=None if self.classic else SURE)

        if room is not None and room.shape != (wh, ww):
            room = None
        # Beyond 0..1 for the edge steps (see BEYOND). Not for the classic steps, nor where the colour step
        # knows the room's colour from the plate: there its share of each edge pixel is the better answer, and a
        # probability the plate decided with the model is near 0 / 1 beside the edge, its ramp past 0..1 at the
        # clip, outweighing it (a striped room, test_room: edge error 0.032 -> 0.039 with it).
        beyond = 0.0 if self.classic or (room is not None and colour and s.refine) else BEYOND
        alpha = _soft_threshold(prob, s.threshold, s.softness, beyond)
        if self.classic:
            alpha = self._held(_classic_edges(alpha, grey, s, ww / w), still, HOLD)
        else:
            alpha = self._edge_steps(alpha, small, still, w / ww, room, colour)
        # A new array each frame, the caller's to keep: a reused buffer made every keeper (the live
        # pipeline's listeners, offline's composer a frame behind) pay a 0.35 ms copy of a 720p alpha; a
        # fresh one costs 0.03 ms more than the reuse (the allocator hands back the last frame's memory).
        out = alpha.copy() if (wh, ww) == (h, w) else cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
        if not self.classic:
            # The sharpened edge runs past 0..1 (see _sharpen); clipped here, after the upsample, it
            # is narrower than a work pixel.
            np.clip(out, 0.0, 1.0, out=out)
        return out

    def _edge_steps(self, alpha: np.ndarray, small: np.ndarray, still: np.ndarray | None, scale: float,
                    room=None, colour: bool = True) -> np.ndarray:
        """Steps 3-5 of issue 12 at work resolution: colour in the band, hold, sharpen (unclipped)."""
        s = self.settings
        alpha, hair, free = _edges(alpha, small, s, room) if colour else (alpha, None, None)
        hair = self._steady_hair(hair, still)
        alpha = self._held(alpha, still, EDGE_HOLD, free)
        return _sharpen(_unit_slope(alpha), s.feather, scale, hair)

    def _held(self, alpha: np.ndarray, still: np.ndarray | None, hold: float, free: np.ndarray | None = None) -> np.ndarray:
        if self.settings.smoothing > 0:
            return self._hold(alpha, still, hold, free)
        self._prev_alpha = None  # a later hold must not fall back to an alpha from long ago
        return alpha

    def _smooth(self, prob: np.ndarray | None, grey: np.ndarray, smoothing: float, sure: float | None = None) -> np.ndarray:
        prev, prev_grey = self._prev_prob, self._prev_grey
        self._prev_grey = grey
        self.surprise = None
        if prob is None:  # no model answer: the last frame's, carried along with the picture
            self._prev_prob, _ = self._warp(grey, prev_grey, prev)
            return self._prev_prob.copy()
        base = base_weight(smoothing)
        if prev is None or base >= 1.0:
            self._prev_prob = prob.copy()
            return prob
        if MOTION_COMPENSATION:
            # Carry the previous matte along with the picture (optical flow, 1 ms at 320x180), so a
            # moving person is smoothed too instead of only followed; where the flow is wrong the
            # warped picture disagrees with the frame and the residual term below lets go.
            prev, prev_grey = self._warp(grey, prev_grey, prev)
        delta = prob - prev
        change = np.abs(delta)
        self.surprise = np.count_nonzero(change > 0.5) / change.size
        prob_motion, frame_motion_full = ((CLASSIC_PROB_MOTION, CLASSIC_FRAME_MOTION) if self.classic
                                          else (PROB_MOTION, FRAME_MOTION))
        motion = change * np.float32(1 / prob_motion)
        frame_motion = cv2.absdiff(grey, prev_grey)
        # A 5x5 max spreads "this moved" over the edge's neighbourhood, so the edge that moved with
        # the picture is followed, not only the pixels whose grey level happened to change.
        frame_motion = cv2.dilate(frame_motion, np.ones((5, 5), np.uint8))
        np.maximum(motion, frame_motion.astype(np.float32) * np.float32(1 / (255 * frame_motion_full)), out=motion)
        if sure is not None:
            np.maximum(motion, _sure_change(prob, delta, sure), out=motion)
        weight = np.clip(motion, 0.0, 1.0, out=motion)
        weight *= 1.0 - base
        weight += base
        prev += weight * delta
        self._prev_prob = prev
        return prev.copy()

    def _still(self, grey: np.ndarray) -> np.ndarray | None:
        """Where the picture did not move since the last frame: the local mean grey level stayed
        within STILL_GREY (a 5x5 mean, so camera noise averages out and motion does not), also
        nearby, as far as the refinement and feather carry an edge's alpha."""
        if self._prev_grey is None:
            return None
        change = cv2.absdiff(cv2.blur(grey, (5, 5)), cv2.blur(self._prev_grey, (5, 5)))
        reach = 2 * GUIDE_RADIUS + 1
        moved = cv2.dilate((change >= STILL_GREY).view(np.uint8), np.ones((reach, reach), np.uint8))
        return moved == 0

    def _steady_hair(self, hair: np.ndarray | None, still: np.ndarray | None) -> np.ndarray | None:
        """The hair map changes only where the picture moved: a pixel whose colour flickers across
        "mixed" with the camera noise must not switch the sharpening on and off."""
        prev = self._hair
        if hair is not None and prev is not None and still is not None and prev.shape == hair.shape:
            hair = np.where(still, prev, hair)
        self._hair = hair
        return hair

    def _hold(self, alpha: np.ndarray, still: np.ndarray | None, hold: float = HOLD, free: np.ndarray | None = None) -> np.ndarray:
        """``free``: where a fully-off / fully-on alpha passes at once (default: everywhere). Not
        in the colour band: a colour estimate that touches 1 with the noise would pass, then be
        held, and ratchet."""
        prev = self._prev_alpha
        if prev is not None and still is not None:
            change = alpha - prev
            weight = np.abs(change) * np.float32(1 / hold)
            weight[~still] = 1.0
            full = (alpha <= 0.0) | (alpha >= 1.0)  # (a value carried beyond, see BEYOND, passes too)
            weight[full if free is None else full & free] = 1.0
            np.minimum(weight, 1.0, out=weight)
            alpha = prev + weight * change
        self._prev_alpha = alpha.copy()
        return alpha

    def _warp(self, grey: np.ndarray, prev_grey: np.ndarray, prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The previous probability and grey frame moved onto the current frame's pixels."""
        h, w = grey.shape
        if self._flow is None:
            self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        if self._grid is None or self._grid[0].shape != (h, w):
            gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            self._grid = (gx, gy)
        flow = self._flow.calc(grey, prev_grey, None)  # for each current pixel: where it was before
        map_x = flow[..., 0] + self._grid[0]
        map_y = flow[..., 1] + self._grid[1]
        warped = cv2.remap(prev, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        warped_grey = cv2.remap(prev_grey, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return warped, warped_grey


def _sure_change(prob: np.ndarray, delta: np.ndarray, sure: float) -> np.ndarray:
    """Blend weight that lets a change through at once where the model is sure of the new value
    (|prob - 0.5| >= sure) and the smoothed value is on the other side of the threshold: a body
    part that moved where the picture barely changed (uniform clothes, flow that missed it)."""
    confident = np.abs(prob - np.float32(0.5)) >= sure
    crossed = np.abs(delta) >= np.abs(prob - np.float32(0.5))
    return (confident & crossed).astype(np.float32)


def _classic_edges(alpha: np.ndarray, grey: np.ndarray, s: MatteSettings, scale: float) -> np.ndarray:
    """The edge steps before issue 12 (guided filter on grey, outward feather), kept for
    ``bench --edges``' comparison: ``Matte(classic=True)``."""
    if s.refine:
        alpha = cv2.ximgproc.guidedFilter(grey, alpha, GUIDE_RADIUS, GUIDE_EPS)
    if s.feather > 0:
        sigma = max(0.3, s.feather * scale)
        blurred = cv2.GaussianBlur(alpha, (0, 0), sigma)
        # Feather outwards only: a plain blur lowers thin parts (fingers, a racket, hair strands)
        # below the threshold and they vanish; the maximum keeps them and still softens the rim.
        alpha = np.maximum(alpha, blurred, out=blurred) if FEATHER_OUTWARD else blurred
    # Clip before the upsample: bilinear interpolation stays inside 0..1 (cheaper than at full size).
    return np.clip(alpha, 0.0, 1.0)


def _edges(alpha: np.ndarray, colour: np.ndarray, s: MatteSettings, room=None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Step 3: near the model's edge (the band), alpha from colour; outside the band the model's
    sure 0 / 1 stay as they are, so the room's texture (a window frame, grass) cannot enter the
    alpha away from the person (the classic guided filter over the frame let it). Also returns where the colours
    say "mixed over an area" (hair; see _hair) and where the model's own 0 / 1 stand (outside the
    band), or None for either."""
    if not s.refine:
        return alpha, None, None
    edge = _model_edge(alpha)
    if edge is None:
        return alpha, None, None
    band = _within(edge, BAND_RADIUS)
    refined, hair = _colour_matte(colour, alpha, band, room)
    # The colour's answer counts within CORE_RADIUS of the model's edge, and out to BAND_RADIUS where it
    # says hair (a wide mixed zone); a soft border, so that a pixel that enters or leaves with the noise
    # moves a little, not from the model's 0 / 1 to the colour's answer in one frame.
    core = _within(edge, CORE_RADIUS) | (band & (hair > 0))
    w = cv2.blur(core.astype(np.float32), (5, 5))
    return alpha + w * (refined - alpha), hair, w == 0


def _model_edge(alpha: np.ndarray) -> np.ndarray | None:
    """The model's edge (its soft ramp, or the step where it has none) as uint8, or None when the alpha has
    no edge."""
    edge = ((alpha > 0) & (alpha < 1)).view(np.uint8)
    hard = (alpha >= 0.5).view(np.uint8)
    edge |= cv2.morphologyEx(hard, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    return edge if edge.any() else None


def _within(edge: np.ndarray, radius: int) -> np.ndarray:
    """Pixels within ``radius`` work px of ``edge``."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(edge, k).view(bool)


def _unit_slope(alpha: np.ndarray) -> np.ndarray:
    """``alpha`` with each pair of neighbours across 0.5 that differs by more than 1 (the ramp carried past 0..1,
    see BEYOND) scaled about 0.5 to differ by 1, as a step from 0 to 1 does: the point where the pair crosses 0.5
    stays where it is, and the sharpening then makes the edge ``feather`` wide, not narrower."""
    above = alpha >= 0.5
    steep = np.zeros_like(alpha)
    for axis in (0, 1):
        d = np.abs(np.diff(alpha, axis=axis)) * np.diff(above, axis=axis)  # (a bool diff is "differs")
        for end in (slice(1, None), slice(None, -1)):  # both pixels of each pair
            side = steep[end] if axis == 0 else steep[:, end]
            np.maximum(side, d, out=side)
    if not (steep > 1.0).any():
        return alpha
    return (alpha - np.float32(0.5)) / np.maximum(steep, np.float32(1.0)) + np.float32(0.5)


#: Width (work px) of the ramp the colour matte leaves at a clean edge.
RAMP_WORK = 2.0
#: The most the ramp is narrowed.
MAX_SHARPEN = 6.0


def _sharpen(alpha: np.ndarray, feather: int, scale: float, hair: np.ndarray | None = None) -> np.ndarray:
    """Steepen the ramp around 0.5 so that, upsampled by ``scale`` and clipped, it is ``feather``
    frame px wide (at least 1). Unclipped: the bilinear upsample then places the 0.5 crossing
    between work pixels, and the clip after it makes the edge narrower than a work pixel. Not
    where ``hair`` (0..1) says the colours are mixed: that partial alpha is real."""
    k = float(np.clip(RAMP_WORK * scale / max(1, feather), 1.0, MAX_SHARPEN))
    gain = np.float32(k) if hair is None else np.float32(k) - np.float32(k - 1) * hair
    return (alpha - np.float32(0.5)) * gain + np.float32(0.5)


#: Colour matting (step 3): how far (work px) from the model's edge the colours are read (hair is
#: found out to here) ...
BAND_RADIUS = 2
#: ... and how far they may move a clean edge. With the default model of 2026-12-01, 1 instead of 2
#: scores better on every bench --edges measure (edge error 23.4 -> 23.2 levels, boundary F 0.842 ->
#: 0.857, still flicker 2.6e-6 -> 1.7e-6, with SPREAD 3): further out, the model's edge is more often
#: right than the local colours.
CORE_RADIUS = 1
#: ... and the reach (box radius, work px) of the local person / room colour estimates.
COLOUR_REACH = 7
#: Confidence of the colour estimate: |F - B|^2 / (|F - B|^2 + SPREAD * (var F + var B) + FLOOR).
#: 12, not 3 (2026-12-02 evening, with STILL_GREY 6): the colour trusted less where person and room colours
#: vary — bench --edges 20.24 -> 19.84 levels, boundary F 0.9050 -> 0.9106, still flicker 2.83e-6 -> 2.27e-6;
#: juggler matte - raw -0.76 -> -0.71 points; DAVIS +1.24 -> +1.25 (tennis -0.26 -> -0.03, rollerblade
#: 4.65 -> 4.35); demo flicker 0.341x either way (6: 20.03 / 0.9076, -0.72).
SPREAD = 12.0
COLOUR_FLOOR = 20.0**2
#: Variance (summed over the channels, 8-bit levels) of a plate's room colour: camera noise and compression.
ROOM_VAR = 3 * 6.0**2
#: Sums over the 3 colour channels (cv2.transform: a numpy sum over a last axis of 3 is ~10x slower).
_CHANNEL_SUM = np.ones((1, 3), np.float32)


def _colour_matte(colour: np.ndarray, alpha: np.ndarray, band: np.ndarray, room=None) -> tuple[np.ndarray, np.ndarray]:
    """Alpha from colour in the band: each pixel's colour I is placed between the local person
    colour F and room colour B (alpha = (I - B).(F - B) / |F - B|^2), trusted in proportion to how
    well F and B separate there. F and B are averages over the sure parts (outside the band).
    Computed only in the band's bounding box (plus the averages' reach): a small person costs little."""
    out, hair = alpha.copy(), np.zeros_like(alpha)
    ys, xs = np.nonzero(band.any(axis=1))[0], np.nonzero(band.any(axis=0))[0]
    r = COLOUR_REACH
    y0, y1 = max(0, ys[0] - r), min(alpha.shape[0], ys[-1] + r + 1)
    x0, x1 = max(0, xs[0] - r), min(alpha.shape[1], xs[-1] + r + 1)
    roi = (slice(y0, y1), slice(x0, x1))
    out[roi], hair[roi] = _colour_estimate(colour[roi].astype(np.float32), alpha[roi], band[roi],
                                           None if room is None else room.at(roi))
    return out, hair


#: The colour estimate is evaluated only this far (work px) from the band: the alpha reads it within
#: the band's soft border (2 px beyond it) and the hair map within 2 px more. Further out its answer
#: would be multiplied by zero, so computing it there was most of the step's cost (issue 11's budget).
ESTIMATE_MARGIN = 4


def _colour_estimate(img: np.ndarray, alpha: np.ndarray, band: np.ndarray, room: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    sq = cv2.transform(img * img, _CHANNEL_SUM)
    near = np.flatnonzero(_within(band.view(np.uint8), ESTIMATE_MARGIN))
    f_mean, f_var, f_w = _local_colour(img, sq, ((alpha >= 1) & ~band).astype(np.float32), near)
    b_mean, b_var, b_w = _local_colour(img, sq, ((alpha <= 0) & ~band).astype(np.float32), near)
    if room is not None:
        # The plate knows the room behind each pixel: no estimate from its neighbours needed.
        r = room.reshape(-1, 3)[near]
        known = ~np.isnan(r[:, 0])
        b_mean = np.where(known[:, None], r, b_mean)
        b_var = np.where(known, np.float32(ROOM_VAR), b_var)
        b_w = np.where(known, np.float32(1.0), b_w)
    d = f_mean - b_mean
    dd = _channel_sum(d * d)
    est = _channel_sum((img.reshape(-1, 3)[near] - b_mean) * d) / (dd + np.float32(1e-3))
    np.clip(est, 0.0, 1.0, out=est)
    conf = dd / (dd + np.float32(SPREAD) * (f_var + b_var) + np.float32(COLOUR_FLOOR))
    conf *= (f_w > 0.02) & (b_w > 0.02)
    a = alpha.reshape(-1)[near]  # (beyond 0..1 next to the model's crossing: see BEYOND)
    refined = alpha.copy()
    refined.reshape(-1)[near] = a + conf * (est - a)
    est_map, conf_map = np.zeros_like(alpha), np.zeros_like(alpha)
    est_map.reshape(-1)[near] = est
    conf_map.reshape(-1)[near] = conf
    return refined, _hair(est_map, conf_map)


#: A pixel is "hair" where more than this share of its 3x3 neighbours have a mixed colour.
HAIR_SHARE = 0.7


def _hair(est: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """0..1, 1 where the colour says mixed (0.1 < alpha < 0.9, trusted) over an area, not just on
    the one-pixel line a clean edge leaves at any resolution: strands finer than a pixel."""
    mixed = ((est > 0.1) & (est < 0.9) & (conf > 0.5)).astype(np.float32)
    area = cv2.blur(mixed, (3, 3)) > HAIR_SHARE
    return cv2.blur(area.astype(np.float32), (3, 3))


def _channel_sum(x: np.ndarray) -> np.ndarray:
    """(n, 3) -> (n,): the sum over the colour channels (cv2.transform: numpy's sum over an axis of 3 is ~10x slower)."""
    return cv2.transform(x[:, None, :], _CHANNEL_SUM).reshape(-1)


def _local_colour(img: np.ndarray, sq: np.ndarray, weight: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At the flat pixel indices ``at``: the weighted local mean colour (n, 3), summed per-channel
    variance (``sq``: the summed squares of ``img``), and the local share of weight; box averages of
    COLOUR_REACH. The box sums are taken over the whole picture (O(1) a pixel), the divisions only at ``at``."""
    k = (2 * COLOUR_REACH + 1, 2 * COLOUR_REACH + 1)
    # Three blurs, not one of the five channels merged: OpenCV's box filter is ~5x slower on 5 channels.
    w = cv2.blur(weight, k).reshape(-1)[at]
    inv = 1.0 / np.maximum(w, np.float32(1e-6))
    mean = cv2.blur(img * weight[..., None], k).reshape(-1, 3)[at] * inv[:, None]
    var = cv2.blur(sq * weight, k).reshape(-1)[at] * inv - _channel_sum(mean * mean)
    return mean, np.maximum(var, 0.0, out=var), w


#: How far (in probability) past its ends the soft threshold's ramp goes on into the edge steps, at the work
#: pixels on either side of its crossing. The ramp is narrower than a work pixel at a model's edge; clipped to
#: 0..1 it put every edge half-way between the last work pixel below the threshold and the first above it, up
#: to 2 frame px (at 720p) from where the model's probability crosses it. Carried on, the colour step blends
#: with the model's own sub-pixel answer and the upsample places the edge where the probability crosses.
#: 2026-12-02, against none (the clip to 0..1), at the default softness 0.15: the juggler
#: (../shared/video/juggle.mp4, RVM's labels, `process --mask-out` against the raw model) -0.71 -> -0.30 IoU
#: points (0.15: -0.39, 0.075: -0.50; 0.45 is no limit in practice, 0.75 the same); DAVIS matte - raw +1.25 ->
#: +1.26; demo flicker 0.341x either way; bench --edges 19.84 -> 19.66 levels, boundary F 0.9106 -> 0.9150,
#: still flicker 2.27e-6 -> 2.91e-6 (today's 5.51e-6); bench --room (over the blur, no colour step) right
#: room: model alone 0.9759 -> 0.9764, given plate 0.9881 -> 0.9894 (error 0.494x -> 0.449x the model's),
#: boundary F 0.9806 -> 0.9827. In probability, not in the ramp's units, so that the edge slider's crisp end
#: (softness 0.03) keeps its crossing too. With ``_unit_slope`` after it (the feather's width back): juggler
#: -0.31, bench --edges 19.56 levels (0.747x today's), boundary F 0.9148, still flicker 3.11e-6; the rest as above.
BEYOND = 0.45


def _soft_threshold(prob: np.ndarray, threshold: float, softness: float, beyond: float = 0.0) -> np.ndarray:
    """0 below threshold - softness/2, 1 above threshold + softness/2, a linear ramp between (carried on up to
    ``beyond`` of probability past those ends next to where it crosses 0.5)."""
    if softness <= 1e-6:
        return (prob >= threshold).astype(np.float32)
    lo = threshold - softness / 2
    ramp = (prob - np.float32(lo)) * np.float32(1 / softness)
    out = np.clip(ramp, 0.0, 1.0)
    if beyond:
        # Only the pixels on either side of the crossing: the rest of the ramp says nothing about where the edge
        # lies, and carried on there it would outweigh the colour step's partial alpha (hair).
        crossing = cv2.morphologyEx((ramp >= 0.5).view(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
        reach = beyond / softness
        cv2.copyTo(np.clip(ramp, -reach, 1.0 + reach, out=ramp), crossing, out)
    return out
