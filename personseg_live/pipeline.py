"""The live pipeline: a capture thread and an inference thread joined by a one-frame slot.

    pipeline = Pipeline(settings, on_frame=show, on_event=report)
    pipeline.start()
    pipeline.set_background(BackgroundSettings(mode="color"))   # from any thread, never blocks
    stragglers = pipeline.stop()                                # joins the threads; [] when all ended

The capture thread reads the source as fast as it delivers and overwrites the slot, so the inference
thread always takes the newest frame: when inference is slower than the camera, frames are dropped
at the slot instead of piling up (latency stays one frame, never a growing backlog). Setting
changes are handed over as "pending" values and applied by the thread that owns the object, so no
object is used by two threads at once. ``on_frame``/``on_event`` run in the inference/capture
threads; the GUI wraps them into Qt signals.

Frames reach the virtual camera only through ``video.privacy.PrivateFeed``: a processed frame under a
background the camera can carry, else a privacy frame (while the model loads, the source reconnects or
processing fails). A model (re)load runs in a loader thread; the model in use keeps running meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Callable

import cv2
import numpy as np

from .events import EventKind, ModelRef, PipelineEvent
from .model.backends import ModelError
from .model.closer_look import FIRST_LOOK_EVERY
from .model.segmenter import Segmenter
from .processor import FrameProcessor
from .settings import BackgroundSettings, MatteSettings, Settings, SourceSettings, VcamSettings, is_camera_spec
from .video.privacy import PrivateFeed
from .video.sinks import VirtualCameraSink, VirtualCameraUnavailable
from .video.sources import Source, SourceError, open_source

log = logging.getLogger(__name__)
#: Events logged as warnings (the rest at info level: visible with -v).
_TROUBLE = {EventKind.ERROR, EventKind.MODEL_FAILED, EventKind.VCAM_ERROR, EventKind.SOURCE_LOST, EventKind.SOURCE_FAILED}

#: Back-off between attempts to reopen a lost camera (seconds); the last value repeats.
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 5.0)
#: OpenCV's thread pool while a live pipeline runs. Its parallel resizes and blurs on the small work images
#: cost more in hand-overs than they save: in one process, 5 s windows alternated over 80 s of the 720p30
#: demo, 1 thread used 0.578 of a core against 0.622 with the default 2 (7 of 8 pairs lower), p95 latency
#: 19.0 vs 18.2 ms. The live budget is CPU (<= 0.5 of a core beside a call app), not latency.
LIVE_OPENCV_THREADS = 1


@dataclass
class FrameResult:
    original: np.ndarray
    composite: np.ndarray
    alpha: np.ndarray
    index: int
    capture_ts: float
    timings_ms: dict[str, float] = field(default_factory=dict)  # "segment", "matte", "compose", "total"
    fps: float = 0.0
    latency_ms: float = 0.0
    model_rested: bool = False  # the matte carried the model's last answer (``FrameProcessor.rest``)


class LatestFrame:
    """A queue of one: ``put`` replaces whatever is waiting (latest wins), ``get`` waits for a new item."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item = None
        self.dropped = 0

    def put(self, item) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def get(self, timeout: float | None = None):
        """The newest item, or None after ``timeout`` seconds without one."""
        with self._cond:
            if self._item is None:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    def clear(self) -> None:
        with self._cond:
            self._item = None


SourceFactory = Callable[[SourceSettings], Source]
#: (model name, backend) -> a ready Segmenter; runs in a loader thread.
SegmenterFactory = Callable[[str, str], Segmenter]


def load_segmenter(name: str, backend: str) -> Segmenter:
    # One XNNPACK thread: the live budget is CPU (<= 0.5 of a core beside a call app), and a second
    # thread's hand-overs cost ~1.2 ms CPU per 720p frame to save ~1 ms of latency (p95 stays < 25 ms).
    return Segmenter(name, backend=backend, threads=1)


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        *,
        on_frame: Callable[[FrameResult], None],
        on_event: Callable[[PipelineEvent], None],
        segmenter: Segmenter | None = None,
        source_factory: SourceFactory | None = None,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        segmenter_factory: SegmenterFactory = load_segmenter,
        vcam_backend: str | None = None,
    ):
        self._settings = replace(settings)
        self._on_frame = on_frame
        self._on_event = on_event
        self._segmenter = segmenter
        self._source_factory = source_factory or open_source
        self._retry_delays = retry_delays
        self._segmenter_factory = segmenter_factory
        self._vcam_backend = vcam_backend  # a pyvirtualcam backend name; None: the platform's
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._source_changed = threading.Event()
        self._slot = LatestFrame()
        self._threads: list[threading.Thread] = []
        self._cv_threads_before: int | None = None  # OpenCV's thread count before start() (see LIVE_OPENCV_THREADS)
        self._stopped = False
        # Pending hand-overs, applied by the inference thread (None: nothing new).
        self._pending_matte: MatteSettings | None = None
        self._pending_background: BackgroundSettings | None = None
        self._pending_model: tuple[str, str] | None = None
        self._pending_vcam: VcamSettings | None = settings.vcam if settings.vcam.enabled else None
        self._pending_room: tuple | None = None  # (RoomCue or None,)
        self._model_error: str | None = None
        self._loader: threading.Thread | None = None
        self._loaded: tuple[tuple[str, str], Segmenter | None, str | None] | None = None  # from the loader
        self._source_ok = False
        self.frames_out = 0

    # Public API (any thread) ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    @property
    def dropped_frames(self) -> int:
        return self._slot.dropped

    @property
    def segmenter_info(self) -> str:
        seg = self._segmenter
        if self._pending_model is not None:
            return f"loading {self._pending_model[0]}…"
        if seg is None:
            if self._model_error:
                raise ModelError(self._model_error)
            return f"loading {self._settings.model}…"
        return f"{seg.info.name} · {seg.backend} · {seg.device}"

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("Pipeline.start() was already called; make a new Pipeline to run again")
        self._threads = [
            threading.Thread(target=self._guard(self._capture_loop), name="personseg-capture", daemon=False),
            threading.Thread(target=self._guard(self._inference_loop), name="personseg-inference", daemon=False),
        ]
        # OpenCV's own thread pool is process-wide: one thread while a live pipeline runs (restored by stop()).
        self._cv_threads_before = cv2.getNumThreads()
        cv2.setNumThreads(LIVE_OPENCV_THREADS)
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 2.0) -> list[str]:
        """Stop the threads and wait up to ``timeout`` seconds for them. Returns the names of those still
        running after it (empty: a clean stop); the STOPPED event carries them too. Idempotent; from any
        thread (a worker thread calling it, e.g. from ``on_event``, only signals: it cannot join itself).

        A model loader is not waited for: a load cannot be interrupted, it is a daemon thread (it never
        holds up the interpreter's exit) and its result is dropped."""
        with self._lock:
            first = not self._stopped
            self._stopped = True
        self._stop.set()
        self._source_changed.set()  # wakes a capture thread waiting for a new source
        deadline = time.monotonic() + timeout
        current = threading.current_thread()
        for t in self._threads:
            if t is not current and t.is_alive():
                t.join(max(0.0, deadline - time.monotonic()))
        stragglers = [t.name for t in self._threads if t is not current and t.is_alive()]
        if first and self._cv_threads_before is not None:
            cv2.setNumThreads(self._cv_threads_before)
        if stragglers:
            log.warning("threads still running %.1f s after stop(): %s", timeout, ", ".join(stragglers))
        if first:
            message = f"stopped; still running: {', '.join(stragglers)}" if stragglers else "stopped"
            self._emit(EventKind.STOPPED, message, stragglers=tuple(stragglers))
        return stragglers

    def set_source(self, source: SourceSettings) -> None:
        with self._lock:
            old, self._settings = self._settings.source, replace(self._settings, source=replace(source))
        # Mirror applies to the open source at once; anything else (or choosing again after the
        # source ended or failed) reopens it.
        if replace(old, mirror=source.mirror) != source or not self._source_ok:
            self._source_changed.set()

    def set_matte(self, matte: MatteSettings) -> None:
        with self._lock:
            self._settings = replace(self._settings, matte=replace(matte))
            self._pending_matte = replace(matte)

    def set_background(self, background: BackgroundSettings) -> None:
        with self._lock:
            self._settings = replace(self._settings, background=replace(background))
            self._pending_background = replace(background)

    def set_model(self, name: str, backend: str = "auto") -> None:
        with self._lock:
            self._settings = replace(self._settings, model=name, backend=backend)
            self._pending_model = (name, backend)

    def set_room(self, room) -> None:
        """A ``room.RoomCue`` for the processor (issue 13), or None for the model alone. The cue is then
        the inference thread's: read its ``status`` only."""
        with self._lock:
            self._pending_room = (room,)

    def set_vcam(self, vcam: VcamSettings) -> None:
        with self._lock:
            self._settings = replace(self._settings, vcam=replace(vcam))
            self._pending_vcam = replace(vcam)

    # Threads -------------------------------------------------------------------------------------

    def _emit(self, kind: EventKind, message: str, **payload) -> None:
        # The message alone: it is what the console shows a headless user ("source_failed: ..." was our internals).
        log.log(logging.WARNING if kind in _TROUBLE else logging.INFO, "%s", message)
        try:
            self._on_event(PipelineEvent(kind, message, **payload))
        except Exception:  # a broken listener must not kill the pipeline, but it must not go unseen
            log.exception("pipeline event listener failed on %s", kind)

    def _guard(self, loop: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                loop()
            except Exception as exc:  # last resort: report, never die silently
                self._emit(EventKind.ERROR, f"{threading.current_thread().name} failed: {type(exc).__name__}: {exc}")

        return run

    def _capture_loop(self) -> None:
        source: Source | None = None
        attempt = 0
        generation = 0
        mirrored: bool | None = None  # whether the frames of this generation are mirrored
        try:
            while not self._stop.is_set():
                if self._source_changed.is_set():
                    self._source_changed.clear()
                    if source is not None:
                        source.close()
                        source = None
                    attempt = 0
                    self._slot.clear()
                if source is None:
                    settings = self._settings.source
                    try:
                        source = self._source_factory(settings)
                    except (SourceError, OSError) as exc:
                        if is_camera_spec(settings.spec):
                            attempt = self._retry_wait(str(exc), attempt, lost=False)
                        else:  # a file does not come back by waiting: say so and wait for another choice
                            self._emit(EventKind.SOURCE_FAILED, str(exc))
                            self._source_changed.wait()
                        continue
                    generation += 1
                    attempt = 0
                    self._source_ok = True
                    self._emit(EventKind.SOURCE_OPENED, source.name)
                try:
                    item = source.read()
                except Exception as exc:  # SourceError, or a driver error surfacing from OpenCV
                    source.close()
                    source = None
                    self._source_ok = False
                    message = str(exc) if isinstance(exc, SourceError) else f"source failed: {type(exc).__name__}: {exc}"
                    attempt = self._retry_wait(message, attempt, lost=True)
                    continue
                if item is None:
                    name = source.name
                    source.close()
                    source = None
                    self._source_ok = False
                    self._emit(EventKind.SOURCE_ENDED, f"{name} ended")
                    self._source_changed.wait()  # until set_source() or stop()
                    continue
                frame, ts = item
                mirror = self._settings.source.mirror
                if mirror != mirrored:
                    # The picture turned round: to the matte's smoothing and the model's reused looks it is a new
                    # stream (their last frame's answer, carried along, would stand where the person no longer is).
                    if mirrored is not None:
                        generation += 1
                    mirrored = mirror
                if mirror:
                    frame = cv2.flip(frame, 1)
                self._slot.put((frame, ts, generation))
        finally:
            if source is not None:
                source.close()

    def _retry_wait(self, message: str, attempt: int, *, lost: bool) -> int:
        delay = self._retry_delays[min(attempt, len(self._retry_delays) - 1)]
        if lost or attempt == 0:
            self._emit(EventKind.SOURCE_LOST, message)
        self._emit(EventKind.SOURCE_RETRY, f"{message} — retrying in {delay:g} s", retry_in_s=delay)
        # Wait on the change event so stop() and set_source() cut the back-off short.
        self._source_changed.wait(delay)
        return attempt + 1

    def _inference_loop(self) -> None:
        s = self._settings
        processor = self._make_processor(s)
        vcam = _VcamOutput(self)
        meter = _FpsMeter()
        last_generation = None
        last_error: str | None = None
        try:
            if self._segmenter is None and self._pending_model is None:
                self._pending_model = (s.model, s.backend)
            while not self._stop.is_set():
                self._apply_model()
                self._apply_pending(processor, vcam)
                item = self._slot.get(timeout=0.1)
                if item is None:
                    vcam.hold()  # no picture (a source reconnecting or ended): keep the camera live
                    continue
                frame, capture_ts, generation = item
                vcam.open_for(frame.shape)
                if self._segmenter is None:
                    vcam.hold(frame)  # the model is still loading
                    continue
                processor.segmenter = self._segmenter
                if generation != last_generation:
                    processor.reset()
                    last_generation = generation
                try:
                    out = processor(frame)
                except Exception as exc:
                    vcam.hold(frame)
                    message = f"processing failed: {type(exc).__name__}: {exc}"
                    if message != last_error:  # once per distinct problem, not 30 times a second
                        self._emit(EventKind.ERROR, message)
                        last_error = message
                    continue
                last_error = None
                vcam.show(frame, out.alpha, out.composite, self._settings.background)
                self._deliver(FrameResult(
                    original=frame,
                    composite=out.composite,
                    alpha=out.alpha,  # the matte's new array for this frame: listeners may keep it
                    index=self.frames_out,
                    capture_ts=capture_ts,
                    timings_ms=out.timings_ms,
                    fps=meter.tick(),
                    latency_ms=(time.monotonic() - capture_ts) * 1e3,
                    model_rested=out.rested,
                ))
        finally:
            vcam.close()
            processor.close()

    def _deliver(self, result: FrameResult) -> None:
        self.frames_out = result.index + 1
        try:
            self._on_frame(result)
        except Exception as exc:
            self._emit(EventKind.ERROR, f"frame listener failed: {type(exc).__name__}: {exc}")

    def _make_processor(self, s: Settings) -> FrameProcessor:
        try:
            return FrameProcessor(self._segmenter, s.matte, s.background, first_look_every=FIRST_LOOK_EVERY, rest=True)
        except ValueError as exc:
            # A blur, not "none": the room must not show because a background file went missing.
            self._emit(EventKind.ERROR, f"{exc}; showing a blurred background instead")
            return FrameProcessor(self._segmenter, s.matte, replace(s.background, mode="blur", path=None),
                                  first_look_every=FIRST_LOOK_EVERY, rest=True)

    def _apply_pending(self, processor: FrameProcessor, vcam: "_VcamOutput") -> None:
        with self._lock:
            matte, self._pending_matte = self._pending_matte, None
            background, self._pending_background = self._pending_background, None
            vcam_s, self._pending_vcam = self._pending_vcam, None
            room, self._pending_room = self._pending_room, None
        if room is not None:
            processor.room = room[0]
        if matte is not None:
            processor.update_matte(matte)
        if background is not None:
            try:
                processor.update_background(background)
            except ValueError as exc:
                self._emit(EventKind.ERROR, str(exc))
        if vcam_s is not None:
            vcam.configure(vcam_s)

    def _apply_model(self) -> None:
        """Swap in a model the loader thread finished; start loading the newest request. The model
        in use keeps running meanwhile (a switch must not freeze the picture for seconds)."""
        with self._lock:
            done, self._loaded = self._loaded, None
            request = self._pending_model
            loading = self._loader is not None and self._loader.is_alive()
        if done is not None:
            wanted, segmenter, error = done
            model = ModelRef(*wanted)
            if segmenter is not None:
                self._segmenter, self._model_error = segmenter, None
                self._emit(EventKind.MODEL_LOADED, f"model {model.name} ({segmenter.backend}) in use", model=model)
            else:
                self._model_error = error
                self._emit(EventKind.MODEL_FAILED, error, model=model)
            with self._lock:
                if self._pending_model == wanted:
                    self._pending_model = request = None
        if request is not None and not loading and done is None:
            loader = threading.Thread(target=self._load_model, args=(request,), name="personseg-model-load", daemon=True)
            with self._lock:
                self._loader = loader
            loader.start()

    def _load_model(self, request: tuple[str, str]) -> None:
        name, backend = request
        try:
            result = (request, self._segmenter_factory(name, backend), None)
        except Exception as exc:  # ModelError, ValueError, an import error of a backend
            result = (request, None, f"cannot load model {name!r} ({backend}): {exc}")
        with self._lock:
            self._loaded = result


class _FpsMeter:
    """Frames per second over the last 30 frames out."""

    def __init__(self):
        self._intervals: deque[float] = deque(maxlen=30)
        self._last: float | None = None

    def tick(self) -> float:
        now = time.monotonic()
        if self._last is not None:
            self._intervals.append(now - self._last)
        self._last = now
        total = sum(self._intervals)
        return len(self._intervals) / total if total > 0 else 0.0


class _VcamOutput:
    """The inference thread's virtual camera: opened on demand, every frame through PrivateFeed."""

    def __init__(self, pipeline: Pipeline):
        self._pipeline = pipeline
        self._wanted = False
        self._feed: PrivateFeed | None = None

    def configure(self, vcam: VcamSettings) -> None:
        self.close()
        self._wanted = vcam.enabled

    def open_for(self, shape: tuple[int, ...]) -> None:
        if not self._wanted or self._feed is not None:
            return
        p = self._pipeline
        s = p._settings
        try:
            sink = VirtualCameraSink(width=shape[1], height=shape[0], fps=s.source.fps, device=s.vcam.device,
                                     backend=p._vcam_backend)
        except VirtualCameraUnavailable as exc:
            self._wanted = False
            p._emit(EventKind.VCAM_ERROR, str(exc))
            return
        self._feed = PrivateFeed(sink, notify=lambda message: p._emit(EventKind.VCAM_NOTICE, message),
                                 fallback=s.vcam.transparent_fallback)

    def show(self, frame, alpha, composite, chosen: BackgroundSettings) -> None:
        self._guard(lambda feed: feed.show(frame, alpha, composite, chosen))

    def hold(self, frame: np.ndarray | None = None) -> None:
        self._guard(lambda feed: feed.hold(frame))

    def close(self) -> None:
        feed, self._feed = self._feed, None
        if feed is not None:
            feed.close()

    def _guard(self, send: Callable[[PrivateFeed], None]) -> None:
        if self._feed is None:
            return
        try:
            send(self._feed)
        except Exception as exc:
            self._pipeline._emit(EventKind.VCAM_ERROR, f"the virtual camera stopped: {exc}")
            self.close()
            self._wanted = False
