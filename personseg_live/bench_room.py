"""``personseg-live bench --room SHARED``: the room cue measured on clips whose truth is known.

Each clip is what a fixed webcam records for ``SECONDS`` s at 30 fps: a person from the labelled sets
(SHARED/data) pasted into a scene photo (SHARED/backgrounds), swaying sideways, then walking out of the
picture (the last ~1.5 s are the empty room); fresh sensor noise each frame, an exposure and
white-balance drift, a soft shadow the person casts on the room, a slight shake, and H.264 or JPEG at
webcam quality. The given plate is ``PLATE_FRAMES`` frames of the empty scene by the same camera.
Kinds of clip: ``right`` (the plate is this room), ``wrong`` (the plate is another room), ``moves``
(the camera is knocked half-way: the plate goes stale).

For each clip the same model output runs through the matte four ways: model alone, with the given
plate, with a plate learned from the clip while it runs (auto: live), and with one learned from the whole
clip first (file: ``process --plate auto``). Reported: IoU (pixels summed over the clip,
so the empty frames count fairly), boundary F (frames with a person), flicker of the alpha, the cue's
cost per 720p frame (timed in a pass of its own as the app runs it: one cue a frame between the model
and the matte), and for auto the IoU gain per second against the given plate's — over the whole frame,
and over the room seen (``SEEN_FRAMES``): a learner can only know what the camera has shown it; and that
share over the pixels whose room the camera has shown for at least 1, 2, 3, 5 and 10 s in all
(``SEEN_FOR_S``: issue 13's bar, "80 % of the given plate's gain within 10 s of background being visible").
"""

from __future__ import annotations

import io
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .bench_edges import _pairs, _person, _place

FRAME_HW = (720, 1280)
FPS = 30
SECONDS = 12.0
#: The person walks out from here on (s).
LEAVE_AT = 10.5
SWAY_PX, SWAY_PERIOD_S = 120.0, 4.0
NOISE_SIGMA = 5.0
#: Exposure / white balance at the clip's end, per channel (BGR), from 1.0 at the start.
DRIFT = (1.16, 1.10, 1.06)
SHADOW_DEPTH, SHADOW_SHIFT = 0.35, (70, 25)
SHAKE_PX = 0.6
PLATE_FRAMES = 10
#: The camera's knock in the ``moves`` clip: shift (px) and zoom, at half the clip.
KNOCK = (36.0, 14.0, 1.04)
#: A pixel counts as room seen once the camera has shown the room there in this many frames (1 s, in all):
#: issue 13's bar for learning ("80 % of the given plate's gain within 10 s of background being visible")
#: is about those pixels. The rest - where the person stood all along until they leave - no learner can
#: know, while a given plate does; the whole-frame share counts them too.
SEEN_FRAMES = 30
#: The share of the given plate's gain is also reported over the pixels whose room the camera has shown for at
#: least this long (s, in all; not since it first showed it): a pixel beside a swaying person shows its room
#: for a moment at a time, and has been "visible" for 1 s long after the learner had its first look.
SEEN_FOR_S = (1, 2, 3, 5, 10)
#: (set, index in it, framing, kind)
CLIPS = (("nprportrait-seg", 0, "portrait", "right"), ("celebamask-hq-subset", 1, "portrait", "right"),
         ("ccp-person", 2, "full", "right"), ("nprportrait-seg", 3, "portrait", "right"),
         ("celebamask-hq-subset", 4, "portrait", "wrong"), ("nprportrait-seg", 5, "portrait", "moves"))
QUICK_CLIPS = (CLIPS[0], CLIPS[4], CLIPS[5])
#: model alone; the given plate; learned while the clip runs (live); learned from the whole clip first
#: (``process --plate auto``'s two passes)
MODES = ("model", "given", "auto", "file")


@dataclass
class Scene:
    """Everything that makes one clip, so its frames and truths can be made again frame by frame."""

    name: str
    kind: str
    room: np.ndarray  # float32 720p BGR
    plate_room: np.ndarray  # the room the given plate is taken of
    person: np.ndarray
    alpha: np.ndarray
    framing: str
    codec: str
    seed: int


def _knock(room: np.ndarray) -> np.ndarray:
    h, w = FRAME_HW
    dx, dy, zoom = KNOCK
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, zoom)
    m[:, 2] += (dx, dy)
    return cv2.warpAffine(room, m, (w, h), borderMode=cv2.BORDER_REFLECT)


class ClipMaker:
    """Frames of a scene at time index t, and the true alpha; noise from a bank (fresh noise costs 25 ms)."""

    def __init__(self, scene: Scene):
        self.s = scene
        rng = np.random.default_rng(scene.seed)
        self.noise = [rng.standard_normal((*FRAME_HW, 3), dtype=np.float32) * NOISE_SIGMA for _ in range(11)]
        n = int(SECONDS * FPS)
        self.shake = rng.normal(0, SHAKE_PX, (n + PLATE_FRAMES, 2))
        self.knocked = _knock(scene.room) if scene.kind == "moves" else None

    def x(self, t: int) -> float | None:
        w = FRAME_HW[1]
        centre = (w - self.s.alpha.shape[1]) / 2
        sec = t / FPS
        x = centre + SWAY_PX * np.sin(2 * np.pi * sec / SWAY_PERIOD_S)
        if sec >= LEAVE_AT:
            x += (sec - LEAVE_AT) * FPS * 40.0
        return x if x < w else None

    def _shake(self, image: np.ndarray, t: int) -> np.ndarray:
        dx, dy = self.shake[t]
        return cv2.warpAffine(image, np.float32([[1, 0, dx], [0, 1, dy]]), FRAME_HW[::-1], borderMode=cv2.BORDER_REFLECT)

    def _drift(self, t: int) -> np.ndarray:
        r = t / (SECONDS * FPS)
        return np.float32([1 + (d - 1) * r for d in DRIFT])

    def truth(self, t: int) -> np.ndarray:
        x = self.x(t)
        if x is None:
            return np.zeros(FRAME_HW, np.float32)
        _, a = _place(self.s.person[..., :1], self.s.alpha, x, self.s.framing)
        return self._shake(a, t)

    def frame(self, t: int) -> np.ndarray:
        room = self.knocked if self.knocked is not None and t >= SECONDS * FPS / 2 else self.s.room
        x = self.x(t)
        if x is None:
            image = room
        else:
            colour, a = _place(self.s.person, self.s.alpha, x, self.s.framing)
            small = cv2.resize(a, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
            shadow = cv2.GaussianBlur(small, (0, 0), 8)
            shadow = cv2.warpAffine(shadow, np.float32([[1, 0, SHADOW_SHIFT[0] / 4], [0, 1, SHADOW_SHIFT[1] / 4]]), small.shape[::-1])
            shadow = cv2.resize(shadow, FRAME_HW[::-1], interpolation=cv2.INTER_LINEAR)[..., None]
            a3 = a[..., None]
            image = a3 * colour + (1 - a3) * room * (1 - SHADOW_DEPTH * shadow)
        image = self._shake(image, t) * self._drift(t) + self.noise[t % len(self.noise)]
        return np.clip(image, 0, 255).astype(np.uint8)

    def plate_frames(self) -> list[np.ndarray]:
        """The empty scene the plate is taken of, by the same camera, before the clip."""
        n = int(SECONDS * FPS)
        out = []
        for i in range(PLATE_FRAMES):
            image = self._shake(self.s.plate_room, n + i) + self.noise[(i * 3) % len(self.noise)]
            out.append(np.clip(image, 0, 255).astype(np.uint8))
        return out


def scenes(data: Path, backgrounds: Path, clips=CLIPS) -> list[Scene]:
    from .compose.effects import cover_fit

    rooms = sorted(backgrounds.glob("*.jpg"))
    if not rooms:
        raise FileNotFoundError(f"no *.jpg scenes in {backgrounds}")
    h, w = FRAME_HW
    out = []
    for i, (folder, index, framing, kind) in enumerate(clips):
        image, mask = _pairs(data, folder, index + 1)[index]
        person, alpha = _person(image, mask, framing)
        room = cover_fit(cv2.imread(str(rooms[(i * 7 + 3) % len(rooms)])), (w, h)).astype(np.float32)
        other = cover_fit(cv2.imread(str(rooms[(i * 7 + 11) % len(rooms)])), (w, h)).astype(np.float32)
        out.append(Scene(f"{folder}/{image.stem}", kind, room, other if kind == "wrong" else room, person, alpha,
                         framing, "h264" if i % 2 == 0 else "jpeg", seed=100 + i))
    return out


def _compressed(frames, codec: str):
    """The frames as the camera delivers them: JPEG (MJPG) each, or through libx264 and back."""
    if codec == "jpeg":  # frame by frame: a clip's JPEGs are not kept
        for f in frames:
            yield cv2.imdecode(_jpeg(f), cv2.IMREAD_COLOR)
        return
    yield from _decoded(_encoded(frames, codec), codec)


def _jpeg(frame: np.ndarray) -> np.ndarray:
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 70])[1]


def _encoded(frames, codec: str):
    """What the camera sends: a list of JPEGs (MJPG), or an H.264 stream (libx264) in memory."""
    if codec == "jpeg":
        return [_jpeg(f) for f in frames]
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = FRAME_HW[1], FRAME_HW[0], "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "26"}
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="bgr24")))
        out.mux(stream.encode(None))
    buf.seek(0)
    return buf


def _decoded(encoded, codec: str):
    """The frames ``_encoded`` made, decoded one by one as the app's capture thread does."""
    if codec == "jpeg":
        for data in encoded:
            yield cv2.imdecode(data, cv2.IMREAD_COLOR)
        return
    import av

    with av.open(encoded) as inp:
        for fr in inp.decode(video=0):
            yield fr.to_ndarray(format="bgr24")


class _Meter:
    def __init__(self, seconds: int):
        from .quality import FlickerMeter

        self.inter = np.zeros(seconds + 1)
        self.union = np.zeros(seconds + 1)
        self.inter_seen = np.zeros(seconds + 1)  # the same, over the room seen (SEEN_FRAMES) only
        self.union_seen = np.zeros(seconds + 1)
        self.by_seen = {s: np.zeros(2) for s in SEEN_FOR_S}  # intersection, union over the room seen >= s seconds
        self.fs: list[float] = []
        self.flicker = FlickerMeter()

    def add(self, alpha: np.ndarray, truth: np.ndarray, second: int, seen: np.ndarray,
            seen_for: dict[int, np.ndarray]) -> None:
        """``seen``: bool, the pixels whose room the camera has shown (SEEN_FRAMES); ``seen_for``: the same for
        each of SEEN_FOR_S (seconds in all)."""
        from .quality import boundary_f

        p, t = alpha >= 0.5, truth >= 0.5
        inter, union = p & t, p | t
        self.inter[second] += np.count_nonzero(inter)
        self.union[second] += np.count_nonzero(union)
        self.inter_seen[second] += np.count_nonzero(inter & seen)
        self.union_seen[second] += np.count_nonzero(union & seen)
        for s, where in seen_for.items():
            self.by_seen[s] += (np.count_nonzero(inter & where), np.count_nonzero(union & where))
        if t.any():
            self.fs.append(boundary_f(alpha, truth))
        self.flicker.add(cv2.resize(alpha, (320, 180), interpolation=cv2.INTER_AREA))


def run_clip(scene: Scene, segmenter) -> dict:
    from .compose import Matte
    from .compose.matte import work_size
    from .model.segmenter import downscale
    from .room import RoomCue, capture_plate, learn_plate
    from .settings import MatteSettings

    maker = ClipMaker(scene)
    plate = capture_plate(list(_compressed(maker.plate_frames(), scene.codec)))
    n = int(SECONDS * FPS)
    lows = []  # the first pass: the model once per frame, and the plate learned from the whole clip

    def first_pass():
        for frame in _compressed((maker.frame(i) for i in range(n)), scene.codec):
            lows.append(segmenter.lowres(frame))
            yield lows[-1], frame

    learned = learn_plate(first_pass(), FRAME_HW)
    cues = {"model": None, "given": RoomCue(plate, learn=True), "auto": RoomCue(None, learn=True),
            "file": RoomCue(learned, learn=True)}
    mattes = {m: Matte(MatteSettings()) for m in MODES}
    meters = {m: _Meter(int(SECONDS)) for m in MODES}
    statuses = {m: {} for m in MODES if m != "model"}
    shown = np.zeros(FRAME_HW, np.uint16)  # frames in which each pixel showed the room so far
    for t, frame in enumerate(_compressed((maker.frame(i) for i in range(n)), scene.codec)):
        truth, low = maker.truth(t), lows[t]
        seen = shown >= SEEN_FRAMES
        seen_for = {s: seen if s * FPS == SEEN_FRAMES else shown >= s * FPS for s in SEEN_FOR_S}
        shown += truth < 0.5
        small = downscale(frame, work_size(FRAME_HW, low.shape))  # as FrameProcessor: once for cue and matte
        for mode in MODES:
            prob, room = low, None
            if cues[mode] is not None:
                prob = cues[mode](low, small, FRAME_HW)
                st = cues[mode].status.value
                statuses[mode][st] = statuses[mode].get(st, 0) + 1
                room = cues[mode].room_colour
            # As the app runs it over its default background, the blurred room: no colour step in the matte
            # (FrameProcessor.colour_step; with it the given plate scores 0.9787 instead of 0.9792, 2026-12-02).
            meters[mode].add(mattes[mode](prob, small, out_size=FRAME_HW, room=room, colour=False), truth, int(t / FPS), seen, seen_for)
    row: dict = {"clip": scene.name, "kind": scene.kind, "codec": scene.codec, "statuses": statuses}
    for mode, m in meters.items():
        row[f"iou_{mode}"] = float(m.inter.sum() / max(m.union.sum(), 1))
        row[f"boundary_f_{mode}"] = statistics.fmean(m.fs) if m.fs else None
        row[f"flicker_{mode}"] = m.flicker.value
        row[f"_inter_{mode}"], row[f"_union_{mode}"] = m.inter, m.union
        row[f"_inter_seen_{mode}"], row[f"_union_seen_{mode}"] = m.inter_seen, m.union_seen
        row[f"_by_seen_{mode}"] = m.by_seen
    if scene.kind == "right":
        row["_ms"] = [ms for mode in ("given", "auto") for ms in _app_cost(scene, segmenter, plate if mode == "given" else None)]
    return row


class _TimedCue:
    """A RoomCue whose every call is timed (wall and this thread's CPU, ms)."""

    def __init__(self, cue):
        self.cue, self.ms = cue, []

    def __call__(self, low, guide, frame_hw):
        t0, c0 = time.perf_counter(), time.thread_time()
        out = self.cue(low, guide, frame_hw)
        self.ms.append(((time.perf_counter() - t0) * 1e3, (time.thread_time() - c0) * 1e3))
        return out

    def __getattr__(self, name):
        return getattr(self.cue, name)


def _app_cost(scene: Scene, segmenter, plate) -> list[tuple[float, float]]:
    """The cue's cost per frame as the app pays it: one cue, between the model and the matte of each frame,
    over the blurred room (``FrameProcessor``), the clip encoded first (JPEG or H.264) and decoded on
    another thread, as the app's capture thread delivers a camera's frames. The clips' passes above run
    four mattes and three cues a frame and make each frame on the same thread, evicting each other's data
    from the caches: the cue measured 3.7 ms a frame there (CPU p50, 2026-12-02), and 3.35 ms with those
    frames made on the capture thread (~30 ms of numpy a frame beside it, far more than a decoder)."""
    import queue
    import threading

    from .model.closer_look import FIRST_LOOK_EVERY
    from .processor import FrameProcessor
    from .room import RoomCue

    cue = _TimedCue(RoomCue(plate, learn=True))
    processor = FrameProcessor(segmenter, room=cue, first_look_every=FIRST_LOOK_EVERY)
    frames: queue.Queue = queue.Queue(maxsize=4)
    maker = ClipMaker(scene)
    encoded = _encoded((maker.frame(i) for i in range(int(SECONDS * FPS))), scene.codec)

    def capture():
        for frame in _decoded(encoded, scene.codec):
            frames.put(frame)
        frames.put(None)

    camera = threading.Thread(target=capture, name="bench-room-camera", daemon=True)
    camera.start()
    while (frame := frames.get()) is not None:
        processor(frame)
    camera.join()
    return cue.ms


def bench_room(data: Path, backgrounds: Path, *, segmenter=None, quick: bool = False, clips=None) -> dict:
    from .model.segmenter import Segmenter

    segmenter = segmenter or Segmenter()
    clips = clips or (QUICK_CLIPS if quick else CLIPS)
    rows = [run_clip(s, segmenter) for s in scenes(Path(data), Path(backgrounds), clips)]
    return {"model": segmenter.info.name, "frames": f"{FRAME_HW[1]}x{FRAME_HW[0]}", "seconds": SECONDS, "fps": FPS,
            "clips": [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows], "summary": summarise(rows)}


def summarise(rows: list[dict]) -> dict:
    out: dict = {}
    for kind in ("right", "wrong", "moves"):
        sel = [r for r in rows if r["kind"] == kind]
        if not sel:
            continue
        k = {}
        for mode in MODES:
            k[f"iou_{mode}"] = round(float(sum(r[f"_inter_{mode}"].sum() for r in sel) / sum(r[f"_union_{mode}"].sum() for r in sel)), 4)
            k[f"boundary_f_{mode}"] = round(statistics.fmean(r[f"boundary_f_{mode}"] for r in sel), 4)
            k[f"flicker_{mode}"] = round(statistics.fmean(r[f"flicker_{mode}"] for r in sel), 5)
        for mode in MODES[1:]:
            err = 1 - k["iou_model"]
            k[f"error_ratio_{mode}"] = round((1 - k[f"iou_{mode}"]) / err, 3) if err else None
        if kind == "right":
            for learned in ("auto", "file"):
                k[f"{learned}_vs_given_gain_by_second"] = _gain_curve(sel, learned)
                k[f"{learned}_vs_given_gain_by_second_seen"] = _gain_curve(sel, learned, seen=True)
                k[f"{learned}_share_of_given_gain"] = _gain_share(sel, learned)
                k[f"{learned}_share_of_given_gain_seen"] = _gain_share(sel, learned, seen=True)
                k[f"{learned}_share_by_room_seen_s"] = {str(s): _share_seen_for(sel, learned, s) for s in SEEN_FOR_S}
        out[kind] = k
    # CPU time of the thread as well as wall time: on a busy machine the wall clock counts the waits.
    for i, clock in enumerate(("wall", "cpu")):
        ms = sorted(x[i] for r in rows for x in r.get("_ms", ()))
        if not ms:
            continue
        out[f"cue_{clock}_ms_p50"], out[f"cue_{clock}_ms_p95"] = round(ms[len(ms) // 2], 2), round(ms[int(0.95 * (len(ms) - 1))], 2)
    return out


def _pooled(rows: list[dict], mode: str, seen: bool) -> tuple[np.ndarray, np.ndarray]:
    """Intersection and union per second, summed over ``rows``; over the room seen only when ``seen``."""
    part = "seen_" if seen else ""
    return sum(r[f"_inter_{part}{mode}"] for r in rows), sum(r[f"_union_{part}{mode}"] for r in rows)


def _gain_share(rows: list[dict], learned: str, *, seen: bool = False) -> float | None:
    """Over the whole clips: a learned plate's IoU gain over the model alone as a share of the given plate's."""
    def iou(mode):
        inter, union = _pooled(rows, mode, seen)
        return inter.sum() / max(union.sum(), 1)

    model, given, auto = iou("model"), iou("given"), iou(learned)
    return round(float((auto - model) / (given - model)), 3) if given - model > 1e-4 else None


def _share_seen_for(rows: list[dict], learned: str, seconds: int) -> float | None:
    """A learned plate's IoU gain over the model alone as a share of the given plate's, over the pixels whose room
    the camera has shown for at least ``seconds`` in all; None where the given plate gains nothing there."""
    def iou(mode):
        inter, union = sum(r[f"_by_seen_{mode}"][seconds] for r in rows)
        return inter / max(union, 1)

    model, given = iou("model"), iou("given")
    return round(float((iou(learned) - model) / (given - model)), 3) if given - model > 1e-4 else None


def _gain_curve(rows: list[dict], learned: str, *, seen: bool = False) -> list[float | None]:
    """Per second of clip: a learned plate's IoU gain over the model alone as a share of the given plate's."""
    def iou(mode):
        inter, union = _pooled(rows, mode, seen)
        return inter / np.maximum(union, 1)

    model, given, auto = iou("model"), iou("given"), iou(learned)
    curve = []
    for g, a, m in zip(given, auto, model):
        curve.append(round(float((a - m) / (g - m)), 2) if g - m > 1e-3 else None)
    return curve


def format_room(r: dict) -> str:
    s = r["summary"]
    lines = [f"room cue, model {r['model']}, {r['frames']}, {r['seconds']:.0f} s clips at {r['fps']} fps "
             f"(noise, exposure/white-balance drift, cast shadow, shake, H.264/JPEG; the person leaves at {LEAVE_AT} s)",
             f"  {'clips':<7} {'mode':<6} {'IoU':>7} {'1-IoU vs model':>15} {'boundary F':>11} {'flicker':>9}"]
    for kind in ("right", "wrong", "moves"):
        if kind not in s:
            continue
        k = s[kind]
        for mode in MODES:
            ratio = "" if mode == "model" else f"{k[f'error_ratio_{mode}']}x"
            lines.append(f"  {kind:<7} {mode:<6} {k[f'iou_{mode}']:>7.4f} {ratio:>15} {k[f'boundary_f_{mode}']:>11.4f} {k[f'flicker_{mode}']:>9.5f}")
    if "right" in s:
        def share(x):
            return "-" if x is None else f"{x:.0%}"

        for mode in ("auto", "file"):
            k = s["right"]
            for part, where in (("", "whole frame"), ("_seen", f"room seen >= {SEEN_FRAMES / FPS:.0f} s")):
                lines.append(f"  {mode} gain / given gain, {where}: {share(k[f'{mode}_share_of_given_gain{part}'])}; by second: "
                             + " ".join("-" if g is None else f"{g:.2f}" for g in k[f"{mode}_vs_given_gain_by_second{part}"]))
            lines.append(f"  {mode} gain / given gain, by how long the room has been seen (in all): "
                         + ", ".join(f">= {s} s {share(v)}" for s, v in k[f"{mode}_share_by_room_seen_s"].items()))
    if "cue_cpu_ms_p50" in s:
        lines.append(f"  cue cost per 720p frame, as the app runs it (given plate and learning, right clips): CPU p50 "
                     f"{s['cue_cpu_ms_p50']} ms, p95 {s['cue_cpu_ms_p95']} ms; wall p50 {s['cue_wall_ms_p50']} ms, "
                     f"p95 {s['cue_wall_ms_p95']} ms")
    return "\n".join(lines)


def main(shared: Path, *, json_output: bool = False, quick: bool = False, model: str = "default") -> int:
    """``bench --room SHARED``: SHARED holds data/<set>/ (people and masks) and backgrounds/ (rooms)."""
    import json
    import sys

    from .model.backends import ModelError
    from .model.segmenter import Segmenter

    try:
        results = bench_room(Path(shared) / "data", Path(shared) / "backgrounds", segmenter=Segmenter(model=model), quick=quick)
    except (FileNotFoundError, ModelError) as exc:
        print(f"personseg-live: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(results, indent=2) if json_output else format_room(results))
    return 0


__all__ = ["bench_room", "format_room", "main", "scenes"]
