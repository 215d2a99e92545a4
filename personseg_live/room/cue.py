"""RoomCue: the model's probability and the difference from the clean plate decide together.

    cue = RoomCue(plate)            # a given plate (Learn room, --plate); RoomCue() learns one by itself
    prob = cue(low, guide, frame_hw)  # the model's low-res probability -> the fused one, at the matte's work size
    cue.status                      # RoomStatus: OFF, LEARNING, ACTIVE, MISMATCH (the status-bar badge)

Per frame, at the matte's work size (320x180 for 720p; ~2.0-2.4 ms of CPU on a 2-core VM, more when the
other core is busy: see ``bench --room``):
1. Exposure / white-balance drift: a gain per channel, fitted on pixels the model calls surely background.
2. Difference from the plate, split into brightness (along the plate's colour) and chroma (across it);
   darkening by up to ``SHADOW`` of the plate's brightness is free (a soft shadow the person casts),
   beyond that brightness counts ``DARK_WEIGHT`` as much as chroma, ``BRIGHT_WEIGHT`` when brighter; normalised by the camera's noise per pixel, a floor for compression
   and a term for the plate's own gradient (a slight shake moves edges).
3. Evidence in logit space: far from the plate is strong evidence for the person (``FG_PUSH``); close
   to it is weaker evidence for the room (``BG_PUSH``): a person in a shirt the colour of the wall looks
   like the plate, so a model that is sure keeps its say there; where the model is sure of the room, a
   learned plate (not a captured one) adds nothing (``LEARNED_FLOOR``). At the person's outermost pixels, next to
   the room, the result is limited to the share of the pixel the person covers (``EDGE_COVER``).
4. Mismatch: if many surely-background pixels no longer match the plate (camera moved, lights switched),
   or the plate's corners tracked into the frame have moved (a slow pan, ``MISALIGN_PX``),
   the cue steps aside at once (the same frame) and reports MISMATCH; a learned plate is then dropped and
   learned again; a plate region that stays different while the model calls it room (a moved chair) is
   re-learned after ``STALE_FRAMES``.
5. Learning (``learn=True``): pixels the model has called background (below ``LEARN_BELOW``, away from the
   person) for ``STABLE_FRAMES`` are sampled; the mean of a pixel's first ``KNOWN_SAMPLES`` samples is its
   plate. Known pixels (a given plate's too) then follow slow light changes, each sample's pull clipped to
   a few noise figures, so the shadow of a person who sits still does not become the room; a pixel learned
   beside the person, lit brighter in its own colour than its plate (it learned their shadow), catches up
   within ``LIT_FRAMES``. The model gates every sample, so the person is never absorbed.
Frame counts assume ~30 fps.
"""

from __future__ import annotations

import enum

import cv2
import numpy as np

from ..model.segmenter import downscale
from .plate import DEFAULT_NOISE, Plate, fit_to, plate_size

#: Model probability below which a pixel is surely background (gain fit, mismatch, learning).
SURE_BG = 0.1
#: Share of the plate's brightness a soft shadow may take away and still count as the room.
SHADOW = 0.3
#: Brightness weight against chroma for darker (beyond SHADOW) / brighter pixels than the plate. 0.8 (was 0.5):
#: dark hair or clothes before a lighter wall differ from it mostly in brightness (bench --room, right room,
#: given plate, the app's default chain: error 0.530x -> 0.511x the model alone's; 1.0: 0.501x with SHAKE_PX
#: 0.125). The price is deeper shadows than SHADOW allows: a person's cast shadow 45 % deep stays room on
#: 23 % of its area instead of 43 % (35 % deep: 99.6 % instead of 100 %; runs/s9/shadow_depth.py).
DARK_WEIGHT, BRIGHT_WEIGHT = 0.8, 0.6
#: Noise floor (8-bit levels): compression and what the plate's noise figure missed.
NOISE_FLOOR = 3.0
#: A slight shake moves the plate's edges by about this many work pixels (0.5 px at 720p): a margin on top of
#: the shake the plate's own noise figure saw. 0.5 pushed a person before a busy wall into the room
#: (bench --room, given plate: error 0.567x -> 0.553x at 0.25; 0.549x at 0.125, 0.547x at 0, with the colour
#: step; without it, the app's default chain, 0.530x at 0.25, 0.521x at 0.125; with DARK_WEIGHT 0.8 0.505x).
SHAKE_PX = 0.125
#: z (difference / noise): up to Z_SAME the plate itself (full BG_PUSH), fading to no evidence at
#: Z_ROOM; from there the push for the person grows to full FG_PUSH at Z_PERSON. The gap keeps dark
#: hair over a dark wall (little chroma, "darker" like a shadow) from being pushed into the room.
Z_SAME, Z_ROOM, Z_PERSON = 1.5, 3.0, 7.0
#: Logit added for "surely not the plate" / subtracted for "looks like the plate".
FG_PUSH, BG_PUSH = 9.0, 2.0
#: The model's logit is clipped to this before the evidence is added (a 0.9997 model is no surer than that).
LOGIT_CLIP = 6.0
#: Share of surely-background pixels further than MISMATCH_Z from the plate above which the plate is
#: wrong (MISMATCH_OFF: below which it is right again). Generated clips (bench --room): 0-0.1 % with the
#: right plate, 62 % with another room's, 33 % after the camera was knocked by 36 px.
MISMATCH_Z = 2.0
MISMATCH_ON, MISMATCH_OFF = 0.2, 0.1
#: A gain this far from 1 is no exposure drift: the plate does not show this picture.
GAIN_LIMITS = (0.5, 2.0)
#: Frames of mismatch after which a plate (learned or given, when learning) is dropped and learned again.
RELEARN_FRAMES = 30
#: The learner takes pixels below this model probability, away from any above it (LEARN_ERODE: the
#: erosion kernel, work px). Wider than SURE_BG: the band next to the person is where a plate helps most.
LEARN_BELOW, LEARN_ERODE = 0.3, 3
#: Frames a pixel must have been learnable in a row before a sample is taken: a hand or hair the model
#: misses for a moment is no sample (bench --room: 4 or 8 learned faster, but more of the person's edge).
STABLE_FRAMES = 15
#: Samples a learned pixel needs before the cue uses it.
KNOWN_SAMPLES = 8
#: Blend weight of a new sample for a known pixel (slow light changes: ~3 s at 30 fps) ...
FOLLOW = 0.01
#: ... and the most one sample may pull it, in noise figures (a shadow or a missed hand moves it little).
FOLLOW_CLIP = 2.5
#: A darker sample pulls this share of that (a shadow standing beside the person must not become the room);
#: a brighter one pulls with at least this weight.
FOLLOW_DOWN, FOLLOW_UP = 0.4, 0.2
#: A known pixel the model calls room, brighter than the plate along the plate's own colour (a shadow lifted,
#: not another thing), for LIT_FRAMES in a row, and sampled within BESIDE work px of the person: its plate was
#: learned in the person's shadow, which is all a pixel beside a swaying person may ever show while they are
#: near. It catches up at once (each sample pulls at least LIT_PULL, the whole difference) instead of creeping
#: up a few noise figures a sample after STABLE_FRAMES, before the room, lit, passes for a person. bench --room,
#: right room, live learning's share of the given plate's gain: 58 % without; LIT_FRAMES 4 / 8 / 15 (no BESIDE):
#: 66 / 64 / 61 % (2026-12-02). Not for room learned away from the person (nor a captured plate): there a light
#: shirt in the wall's colour that the model missed for half a second became room (a lasting hole where the
#: model was unsure after).
LIT_FRAMES, LIT_PULL = 8, 0.5
#: Only pixels whose samples were taken this close (work px; 100 px at 720p) to the person can have learned
#: their shadow.
BESIDE = 25
#: Frames a known pixel may stay different while the model calls it room before it is learned again.
STALE_FRAMES = 60
#: The person's outermost work pixels, next to pixels that are the plate, are the person only in part: at
#: 720p a work pixel is 4 x 4 frame pixels, and one the person covers by a quarter differs from the plate by
#: a quarter of the person's own difference - beyond Z_PERSON against a contrasted person, so the evidence
#: called it all person and the edge sat ~2 frame px out all round. There the fused probability is at most
#: EDGE_COVER x the pixel's share of the largest difference next to it (its 3x3 neighbourhood: the person's
#: own colour against the plate), so a pixel covered by less than 1 / EDGE_COVER goes to the room. 1.5, not
#: 1: the share errs low where the person's colours vary (bench --room, right room, given plate, error vs the
#: model alone: without 0.502x; 1.0 / 1.5 / 2.0: 0.466x / 0.462x / 0.474x; boundary F 0.9496 -> 0.9498; the
#: wrong-room and knocked-camera clips +0.15 points each; 2026-12-02). Swept again for the model with its
#: closer look at a small person (the model alone 0.961 -> 0.976 on the right clips): 1.0 / 1.15 / 1.25 /
#: 1.35 / 1.5 -> 0.507x / 0.495x / 0.495x / 0.499x / 0.506x, the wrong-room and knocked clips +0.02 and
#: +0.01 points at 1.25 against 1.5 (2026-12-02, later). 0: off.
EDGE_COVER = 1.25
#: The camera moved against the plate when the plate's corners (up to MARKS, well inside what it knows), where
#: the model calls the frame surely room, tracked into the frame and back (Lucas-Kanade), have moved by more
#: than MISALIGN_PX work px (3 px at 720p; their median, over at least MIN_MARKS); checked every ALIGN_EVERY-th
#: frame. A slow pan moves only the room's edges off the plate - fewer pixels than MISMATCH_ON, and a learned
#: plate's noise figure grows with the pan - while the cue pushed those edges into the person: a seated man
#: outdoors, the camera panning 25 work px over 12 s (../shared/video/thoughtful-outdoors.mp4, RVM's labels):
#: model alone IoU 0.9695 / boundary F 0.987; --plate auto 0.9378 / 0.821 and live learning 0.9323 / 0.757
#: without this check, 0.9695 / 0.987 for both with it (2026-12-02). A fixed camera (juggle.mp4,
#: bench --room's clips) measures under 0.3.
MISALIGN_PX, MARKS, MIN_MARKS, ALIGN_EVERY = 0.75, 60, 12, 8
TRACK_WINDOW = 15
_K_TRACK = np.ones((TRACK_WINDOW, TRACK_WINDOW), np.uint8)
#: The sample count a captured plate's pixels start with (they are known from the start).
GIVEN_COUNT = 1e6
#: Below this model probability a pixel of a learned plate (the cue's own, or ``--plate auto``'s; not a captured
#: one) stays room whatever the plate says: a plate learned from the model is no surer than the model where the
#: model is sure. Real clips against RVM's labels (tools/room_real_clips.py, 2026-12-02): the juggler's ball
#: cost learning 1.38 IoU points and --plate auto 0.48 without; -0.35 / +0.44 with (-0.36 / +0.37 with the
#: matte's _unit_slope of that evening). bench --room's --plate
#: auto 0.458x -> 0.47x the model alone's error (learned-while-running unchanged, captured plates untouched).
LEARNED_FLOOR = 0.1
#: Surely-background pixels needed (at work size) to fit the gain and judge a mismatch.
MIN_FIT_PIXELS = 200
#: The gain is fitted on every FIT_STEP-th pixel in each direction.
FIT_STEP = 3
#: The learner runs every LEARN_EVERY-th frame (15 updates a second are plenty).
LEARN_EVERY = 2
#: ... and the plate's derived figures (colour direction, expected difference) are renewed every DERIVE_EVERY-th.
DERIVE_EVERY = 8


class RoomColour:
    """The plate as the frame shows it now (exposure matched), for the matte's edge: read only for the
    frame it was made for (the planes are the cue's own, updated as it learns)."""

    def __init__(self, planes: list[np.ndarray], gain: np.ndarray, known: np.ndarray):
        self._planes, self._gain, self._known = planes, gain, known
        self.shape = known.shape

    def at(self, roi: tuple[slice, slice]) -> np.ndarray:
        """float32 (h, w, 3) BGR of the room in ``roi``, NaN where the plate does not know it. Only the
        edge's box is made: the rest of the frame costs nothing."""
        colour = cv2.merge([p[roi] * np.float32(g) for p, g in zip(self._planes, self._gain)])
        colour[~self._known[roi]] = np.nan
        return colour


class RoomStatus(enum.Enum):
    OFF = "off"  # no plate and not learning
    LEARNING = "learning"  # learning, not enough of the room known yet
    ACTIVE = "active"  # the plate takes part
    MISMATCH = "mismatch"  # the plate does not match the picture: the model alone decides


class RoomCue:
    """Stateful, one per stream and camera; call once per frame, in order, from one thread."""

    def __init__(self, plate: Plate | None = None, *, learn: bool = True):
        self.learn = learn
        self.given = plate
        self.status = RoomStatus.OFF
        self.gain = np.ones(3, np.float32)
        self.mismatch = 0.0
        self.misalign = 0.0  # how far (work px) the room had moved against the plate at the last check
        self._size: tuple[int, int] | None = None
        self._mismatch_run = 0
        #: The room's colour behind each pixel this frame (``RoomColour``), or None while the plate takes no
        #: part: the matte places the person's edge between it and the person's colours.
        self.room_colour: RoomColour | None = None

    # -- state ----------------------------------------------------------------------------------
    def set_plate(self, plate: Plate | None) -> None:
        """A new given plate (None: forget it); the learned one is dropped too."""
        self.given = plate
        self._size = None

    def reset(self) -> None:
        """A new stream: counters start again, the plate is kept."""
        self._mismatch_run = 0
        self.misalign = 0.0
        if self._size is not None:
            self._stable[:] = 0
            self._stale[:] = 0
            self._lit[:] = 0

    def plate(self) -> Plate | None:
        """The plate as the cue knows it now (given or learned), None when nothing is known."""
        if self._size is None or not (self._count >= KNOWN_SAMPLES).any():
            return self.given
        known = self._count >= KNOWN_SAMPLES
        return Plate(cv2.merge(self._m), np.sqrt(self._var), self._frame_hw, None if known.all() else known,
                     learned=bool((self._count[known] < GIVEN_COUNT).any()))

    def _start(self, frame_hw: tuple[int, int]) -> None:
        h, w = self._size = plate_size(frame_hw)
        self._frame_hw = frame_hw
        given = self.given if self.given is not None and self.given.fits(frame_hw) else None
        if given is not None:
            given = fit_to(given, (h, w))
            self._m, self._var = list(cv2.split(given.mean)), np.square(given.noise)
            # A plate learned from the model (--plate auto) counts as learned here (LEARNED_FLOOR), with the
            # samples after which a pixel follows the light as a captured plate's does.
            self._count = np.full((h, w), 4 * KNOWN_SAMPLES if given.learned else GIVEN_COUNT, np.float32)
            if given.known is not None:  # a learned plate: what it has not seen is still to learn
                self._count[~given.known] = 0
        else:
            self._m = [np.zeros((h, w), np.float32) for _ in range(3)]
            self._var = np.full((h, w), DEFAULT_NOISE**2, np.float32)
            self._count = np.zeros((h, w), np.float32)
        self._stable = np.zeros((h, w), np.uint16)
        self._stale = np.zeros((h, w), np.uint16)
        self._lit = np.zeros((h, w), np.uint16)
        self._beside = np.zeros((h, w), bool)  # a learned pixel sampled near the person (see LIT_FRAMES)
        self._frames = 0
        self._marks = None  # the plate's corners to track (see MISALIGN_PX)
        self._follow_weight = np.full((h, w), FOLLOW, np.float32)  # (see _follow)
        self._derive()

    def _derive(self) -> None:
        """What the comparison needs from the plate, kept until the plate changes: the unit vector of
        each pixel's colour (brightness direction) and 1 / the expected squared difference."""
        m0, m1, m2 = self._m
        norm = np.sqrt(m0 * m0 + m1 * m1 + m2 * m2 + 1.0)
        self._u = [m0 / norm, m1 / norm, m2 / norm]
        self._shadow = norm * np.float32(SHADOW)
        grey = cv2.cvtColor(cv2.merge(self._m), cv2.COLOR_BGR2GRAY)
        self._plate_grey = np.clip(grey, 0, 255).astype(np.uint8)
        # Corners well inside what the plate knows (the unknown is black in it: its border would be a corner).
        if self._marks is None or self._frames % (4 * DERIVE_EVERY) == 0:  # (0.3 ms: not each time)
            known = cv2.erode((self._count >= KNOWN_SAMPLES).view(np.uint8), _K_TRACK)
            self._marks = cv2.goodFeaturesToTrack(self._plate_grey, MARKS, 0.01, 8, mask=known) if known.any() else None
        gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
        shake = (gx * gx + gy * gy) * np.float32((SHAKE_PX / 8) ** 2)  # Sobel 3x3 is 8x the slope
        # Chroma has 2 degrees of freedom, weighted brightness ~0.2: 2.2 noise variances expected.
        self._inv_sigma2 = 1.0 / (2.2 * (self._var + np.float32(NOISE_FLOOR**2) + shake))
        # How far one sample may pull the plate as it follows (see _follow).
        self._follow_limit2 = np.float32(FOLLOW_CLIP**2) * (self._var + np.float32(NOISE_FLOOR**2))
        self._follow_limit = np.sqrt(self._follow_limit2)
        self._follow_low = self._follow_limit * np.float32(-FOLLOW_DOWN)

    # -- per frame ------------------------------------------------------------------------------
    def __call__(self, low: np.ndarray, guide: np.ndarray, frame_hw: tuple[int, int] | None = None) -> np.ndarray:
        """``low``: the model's probability; ``guide``: the BGR frame (or a smaller copy, then ``frame_hw``
        is the frame's size). Returns the fused probability at work size, or ``low`` untouched."""
        frame_hw = tuple(frame_hw or guide.shape[:2])
        if self.given is None and not self.learn:
            self.status = RoomStatus.OFF
            self.room_colour = None
            return low
        if self._size is None or self._frame_hw != frame_hw:
            self._start(frame_hw)
        h, w = self._size
        small = downscale(guide, (h, w))
        prob = low if low.shape == (h, w) else cv2.resize(low, (w, h), interpolation=cv2.INTER_LINEAR)
        sure_bg = cv2.erode((prob < SURE_BG).view(np.uint8), np.ones((5, 5), np.uint8))
        known = self._count >= KNOWN_SAMPLES
        self.gain = _fit_gain(small, self._m, sure_bg & known, self.gain)
        d, par, dist2, z = self._compare(small)
        if self._frames % ALIGN_EVERY == 0:
            self.misalign = self._misalignment(small, prob)
        usable = self._check_mismatch(z, (sure_bg & known).view(bool))
        self._frames += 1
        if self.learn and self._frames % LEARN_EVERY == 0:
            self._learn(d, par, dist2, z, learnable(prob), known)
        self.room_colour = None
        if not usable or not known.any():
            if self.status is not RoomStatus.MISMATCH:
                self.status = RoomStatus.LEARNING
            return low
        self.status = RoomStatus.ACTIVE
        self.room_colour = RoomColour(self._m, self.gain.copy(), known)
        fused = _fuse(prob, z, known)
        if LEARNED_FLOOR:
            # A learned plate is no better than the model it learned from: where the model is sure of the room,
            # the room it stays (a juggled ball, a passing pet is no person). Learned pixels are those whose
            # count is below a captured plate's.
            cv2.copyTo(prob, cv2.bitwise_and(cv2.compare(prob, LEARNED_FLOOR, cv2.CMP_LT),
                                              cv2.compare(self._count, GIVEN_COUNT, cv2.CMP_LT)), fused)
        return _cover(fused, z, dist2, known)

    def _compare(self, small: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
        """The frame (exposure undone) minus the plate, per channel; its part along the plate's colour
        (brighter > 0); its squared size; and z, the difference in noise units with brightness discounted
        against chroma. Planes, not (h, w, 3): numpy runs ~5x faster on them."""
        # OpenCV's calls, not numpy's operators, throughout: each numpy operator makes a new array and runs
        # at ~20 us on 320x180 floats; the same steps as OpenCV calls ran 0.9 -> 0.5 ms a frame (2026-12-02).
        # The uint8 frame is scaled and the plate subtracted in one call, no float copy of the frame first.
        d = [cv2.addWeighted(fc, float(1.0 / g), mc, -1.0, 0.0, dtype=cv2.CV_32F)
             for fc, g, mc in zip(cv2.split(small), self.gain, self._m)]
        u = self._u
        par = cv2.multiply(d[0], u[0])
        par += cv2.multiply(d[1], u[1])
        par += cv2.multiply(d[2], u[2])
        dist2 = cv2.magnitude(d[0], d[1])
        dist2 *= dist2
        dist2 += cv2.multiply(d[2], d[2])
        # Chroma (across the plate's colour, >= 0 but for rounding) plus the weighted brightness.
        # A shadow takes up to SHADOW of the brightness away and leaves the colour: that much is free.
        # Darker and brighter as two terms of which at most one is non-zero, not a choice on par < 0: the
        # room's noise flips that sign pixel by pixel, and numpy's where then costs 0.25 ms a frame.
        weighted = cv2.subtract(dist2, cv2.multiply(par, par))
        dark = cv2.min(cv2.add(par, self._shadow), 0.0)
        dark *= np.float32(DARK_WEIGHT)
        bright = cv2.max(par, 0.0)
        bright *= np.float32(BRIGHT_WEIGHT)
        weighted += cv2.multiply(dark, dark)
        weighted += cv2.multiply(bright, bright)
        # The 3x3 mean calms lone noise spikes; the min with the pixel's own value keeps it from
        # spreading a person's difference one pixel out into the room.
        # (cv2.blur sums running totals: a tiny negative can come out next to large values.)
        z2 = cv2.max(cv2.min(cv2.blur(weighted, (3, 3)), weighted), 0.0)
        z2 *= self._inv_sigma2
        z = cv2.sqrt(z2)
        return d, par, dist2, z

    def _misalignment(self, small: np.ndarray, prob: np.ndarray) -> float:
        """How far (work px) the room has moved against the plate: the median shift of the plate's corners that
        the model calls surely background, tracked into this frame (Lucas-Kanade)."""
        marks = self._marks
        if marks is None or len(marks) < MIN_MARKS:
            return 0.0
        xy = marks.reshape(-1, 2)
        sure = cv2.erode((prob < SURE_BG).view(np.uint8), _K_TRACK)  # the tracking window all room, not the person
        room = sure[xy[:, 1].astype(int), xy[:, 0].astype(int)] != 0  # (corners lie on the plate's pixels)
        if np.count_nonzero(room) < MIN_MARKS:
            return 0.0
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        start = marks[room]
        window = (TRACK_WINDOW,) * 2
        moved, found, _ = cv2.calcOpticalFlowPyrLK(self._plate_grey, grey, start, None, winSize=window, maxLevel=2)
        back, found_back, _ = cv2.calcOpticalFlowPyrLK(grey, self._plate_grey, moved, None, winSize=window, maxLevel=2)
        # Tracked there and back to where it started: a corner the frame does not show as the plate does (a
        # learned plate's rough patch, the person's shadow) wanders off either way.
        found = (found.ravel() == 1) & (found_back.ravel() == 1) & (np.hypot(*(back - start).reshape(-1, 2).T) < 0.5)
        if np.count_nonzero(found) < MIN_MARKS:
            return 0.0
        shift = (moved - start).reshape(-1, 2)[found]
        return float(np.hypot(*np.median(shift, axis=0)))

    def _check_mismatch(self, z: np.ndarray, judged: np.ndarray) -> bool:
        """Whether the plate may take part this frame; a wrong plate is noticed on the frame it shows."""
        n = int(np.count_nonzero(judged))
        self.mismatch = float(np.count_nonzero(z[judged] > MISMATCH_Z) / n) if n >= MIN_FIT_PIXELS else 0.0
        if ((self.gain <= GAIN_LIMITS[0]) | (self.gain >= GAIN_LIMITS[1])).any() or self.misalign > MISALIGN_PX:
            self.mismatch = 1.0
        limit = MISMATCH_OFF if self.status is RoomStatus.MISMATCH else MISMATCH_ON
        if self.mismatch <= limit:
            self._mismatch_run = 0
            if self.status is RoomStatus.MISMATCH:
                self.status = RoomStatus.LEARNING
            return True
        self.status = RoomStatus.MISMATCH
        self._mismatch_run += 1
        if self.learn and self._mismatch_run >= RELEARN_FRAMES:
            # The room changed for good: forget the plate (and the gain fitted to it) and learn the new one.
            self._count[:] = 0
            self.gain = np.ones(3, np.float32)
            self._mismatch_run = 0
        return False

    def _learn(self, d: list[np.ndarray], par: np.ndarray, dist2: np.ndarray, z: np.ndarray, room: np.ndarray,
               known: np.ndarray) -> None:
        """Every LEARN_EVERY-th frame: pixels the model has called room for STABLE_FRAMES are sampled; an
        unknown pixel's samples are collected, a known one's follow. ``known``: this frame's known pixels
        (the caller's, left as they are: the frame's fusion uses them)."""
        # Counters: OpenCV's saturating add, then zeroed where the run broke (np.where: 6x slower).
        self._stable = _count_run(self._stable, room)
        stable = self._stable >= STABLE_FRAMES
        differs = stable & known & (z > Z_PERSON)
        self._stale = _count_run(self._stale, differs)
        relearn = self._stale >= STALE_FRAMES
        if relearn.any():  # a moved chair: learn it as room again
            self._count[relearn] = 0
            known = known & ~relearn
        take = stable & ~differs
        collect = take & ~known
        if collect.any():
            near = cv2.dilate((~room).view(np.uint8), np.ones((2 * BESIDE + 1, 2 * BESIDE + 1), np.uint8)).view(bool)
            self._beside = np.where(collect, near | (self._beside & (self._count > 0)), self._beside)
        if self._beside.any():  # (never with a captured plate: nothing of it was learned beside the person)
            lit = room & known & self._beside & (par > self._follow_limit) & (dist2 - par * par <= self._follow_limit2)
            self._lit = _count_run(self._lit, lit)
        else:
            self._lit[:] = 0
        lit = self._lit >= LIT_FRAMES
        if not (take.any() or lit.any()):
            return
        self._collect(d, dist2, collect)
        self._follow(d, par, dist2, (take & known) | lit, lit)
        if self._frames % DERIVE_EVERY == 0:
            self._derive()

    def _collect(self, d: list[np.ndarray], dist2: np.ndarray, where: np.ndarray) -> None:
        """Pixels not yet known: the mean of their samples so far (the first sets it; the noise figure starts
        from the second, as the first's distance from the empty start says nothing about the camera)."""
        if not where.any():
            return
        # Products with the masks, not np.where: numpy's where runs 5-10x slower on a ragged mask.
        weight = np.reciprocal(self._count + np.float32(1.0))
        weight *= where
        var_weight = weight * (self._count > 0)
        for mc, dc in zip(self._m, d):
            mc += cv2.multiply(weight, dc)
        step = cv2.subtract(cv2.min(dist2 * np.float32(1 / 3), 400.0), self._var)
        step *= var_weight
        self._var += step
        self._count += where  # (boolean indexing: 3x slower)

    def _follow(self, d: list[np.ndarray], par: np.ndarray, dist2: np.ndarray, where: np.ndarray, lit: np.ndarray) -> None:
        """Known pixels follow slow light changes; each sample's pull is clipped to FOLLOW_CLIP noise
        figures, so a shadow passing or a hand the model missed moves the plate little."""
        if not where.any():
            return
        # Masks applied by products and cv2.copyTo, not np.where or numpy's where=: on a ragged mask (the
        # room's noise) those ran 0.25-0.6 ms each on 320x180.
        count = self._count
        weight = np.reciprocal(count + np.float32(1.0))
        cv2.copyTo(self._follow_weight, cv2.compare(count, KNOWN_SAMPLES * 4, cv2.CMP_GE), weight)
        weight *= where
        limit, limit2 = self._follow_limit, self._follow_limit2
        # A room clearly brighter than the plate where the model calls it room: the plate was learned in the
        # person's shadow (the first seconds may show a pixel only so); it catches up fast.
        pull = weight.copy()
        brighter = cv2.bitwise_and(cv2.compare(par, limit, cv2.CMP_GT), where.view(np.uint8))
        cv2.copyTo(cv2.max(weight, FOLLOW_UP), brighter, pull)
        up = limit
        if lit.any():
            cv2.copyTo(cv2.max(pull, LIT_PULL), lit.view(np.uint8), pull)
            up = limit.copy()  # a lifted shadow is followed all the way, not a few noise figures a sample
            up[lit] = 255.0
        for mc, dc in zip(self._m, d):
            mc += cv2.multiply(pull, cv2.min(cv2.max(dc, self._follow_low), up))
        # The noise figure from the samples within the clip only: one that follows the outliers grows, and
        # with it the clip, until a standing shadow is followed after all.
        per_channel = dist2 * np.float32(1 / 3)
        step = cv2.subtract(per_channel, self._var)
        step *= weight
        step *= per_channel <= limit2
        self._var += step
        self._count += where  # (boolean indexing: 3x slower)


def _count_run(count: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Frames in a row ``on`` has held (uint16, saturating), 0 where it did not hold this time."""
    count = cv2.add(count, LEARN_EVERY)
    count *= on
    return count


def learnable(prob: np.ndarray) -> np.ndarray:
    """Where a learner may take the picture as the room: the model's probability below LEARN_BELOW,
    LEARN_ERODE work px away from anything above it (bool)."""
    return cv2.erode((prob < LEARN_BELOW).view(np.uint8), np.ones((LEARN_ERODE, LEARN_ERODE), np.uint8)).view(bool)


_BELOW_25 = float(np.nextafter(np.float32(25.0), np.float32(0.0)))


def _fit_gain(small: np.ndarray, mean: list[np.ndarray], where: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Per-channel gain frame ~ gain * plate on the surely-background pixels (two passes: the second
    without the pixels the first did not explain: a missed person, a moved object). On every
    FIT_STEP-th pixel: a sample is plenty for three numbers."""
    step = (slice(None, None, FIT_STEP), slice(None, None, FIT_STEP))
    mask = np.ascontiguousarray(where[step]).view(np.uint8)
    if cv2.countNonZero(mask) < MIN_FIT_PIXELS // FIT_STEP**2:
        return previous
    f = np.ascontiguousarray(small[step]).astype(np.float32)
    m = cv2.merge([np.ascontiguousarray(mc[step]) for mc in mean])
    gain = np.float32(cv2.mean(f, mask)[:3]) / np.maximum(np.float32(cv2.mean(m, mask)[:3]), 1.0)
    # Every channel within 25 levels (inRange, not a numpy max over the channel axis: 0.01 vs 0.26 ms).
    ok = (cv2.inRange(cv2.absdiff(f, m * gain), (0.0, 0.0, 0.0), (_BELOW_25,) * 3) != 0).view(np.uint8) & mask
    if cv2.countNonZero(ok) >= MIN_FIT_PIXELS // (2 * FIT_STEP**2):
        gain = np.float32(cv2.mean(f, ok)[:3]) / np.maximum(np.float32(cv2.mean(m, ok)[:3]), 1.0)
    return np.clip(gain, *GAIN_LIMITS).astype(np.float32)


#: z is read in steps of 1 / Z_STEPS (a uint8 index: z up to 12.75, beyond Z_PERSON).
Z_STEPS = 20.0
_SIGMOID_CLIP = np.float32(1.0 / (1.0 + np.exp(LOGIT_CLIP)))


def _evidence_table() -> np.ndarray:
    """exp(-evidence) for each step of z: the room's push minus the person's (see Z_SAME, Z_ROOM, Z_PERSON)."""
    z = np.arange(256, dtype=np.float64) / Z_STEPS
    person = np.clip((z - Z_ROOM) * FG_PUSH / (Z_PERSON - Z_ROOM), 0.0, FG_PUSH)
    room = np.clip((Z_ROOM - z) * BG_PUSH / (Z_ROOM - Z_SAME), 0.0, BG_PUSH)
    return np.exp(room - person).astype(np.float32).reshape(1, 256)


_EVIDENCE = _evidence_table()
_NO_EVIDENCE = round(Z_ROOM * Z_STEPS)


def _fuse(prob: np.ndarray, z: np.ndarray, known: np.ndarray) -> np.ndarray:
    """sigmoid(clipped logit(prob) + evidence(z)), written as p / (p + (1 - p) exp(-evidence)) with the
    clip on p and exp(-evidence) read from a table: 0.08 ms instead of 0.28 for a log and an exp per pixel."""
    p = np.clip(prob, _SIGMOID_CLIP, 1 - _SIGMOID_CLIP)
    index = cv2.convertScaleAbs(z, alpha=Z_STEPS)
    if not known.all():  # no evidence where the plate does not know the room: the step of Z_ROOM
        cv2.copyTo(np.full_like(index, _NO_EVIDENCE), cv2.compare(known.view(np.uint8), 0, cv2.CMP_EQ), index)
    odds = cv2.LUT(index, _EVIDENCE)
    q = cv2.multiply(odds, 1 - p)
    q += p
    return np.divide(p, q, out=q)


def _cover(fused: np.ndarray, z: np.ndarray, dist2: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``fused`` (changed in place) limited at the person's outermost pixels to their share of the person's
    difference from the plate (see EDGE_COVER). Outermost: called person, beyond Z_ROOM, next to a known
    pixel that is the plate and called room - not next to a part of the person in the wall's colour, which
    the model keeps."""
    if not EDGE_COVER:
        return fused
    room = cv2.compare(fused, 0.5, cv2.CMP_LT)
    same = cv2.bitwise_and(cv2.compare(z, Z_SAME, cv2.CMP_LT), room)
    partial = not known.all()
    if partial:
        same &= known.view(np.uint8)
    ring = cv2.bitwise_and(cv2.dilate(same, _K3), cv2.compare(z, Z_ROOM, cv2.CMP_GE))
    ring = cv2.bitwise_and(ring, cv2.bitwise_not(room))
    if partial:
        ring &= known.view(np.uint8)
    points = cv2.findNonZero(ring)
    if points is None:
        return fused
    xs, ys = points.reshape(-1, 2).T
    d2, full = dist2[ys, xs], cv2.dilate(dist2, _K3)[ys, xs]
    cover = np.sqrt(d2 / np.maximum(full, 1.0)) * np.float32(EDGE_COVER)
    fused[ys, xs] = np.minimum(fused[ys, xs], cover)
    return fused


_K3 = np.ones((3, 3), np.uint8)


__all__ = ["RoomColour", "RoomCue", "RoomStatus", "learnable"]
