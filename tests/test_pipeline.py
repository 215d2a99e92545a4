"""The live pipeline with real sources, the shipped model and real threads."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
import pyvirtualcam

from personseg_live.events import EventKind, ModelRef
from personseg_live.pipeline import FrameResult, LatestFrame, Pipeline, PipelineEvent
from personseg_live.settings import BackgroundSettings, MatteSettings, Settings, SourceSettings, VcamSettings
from personseg_live.video import SourceError

from videos import synthetic_frame, write_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("pipe") / "clip.mp4", frames=30, fps=30)


class Recorder:
    def __init__(self):
        self.frames: list[FrameResult] = []
        self.events: list[PipelineEvent] = []
        self.cond = threading.Condition()

    def on_frame(self, result):
        with self.cond:
            self.frames.append(result)
            self.cond.notify_all()

    def on_event(self, event):
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def kinds(self):
        return [e.kind for e in self.events]

    def wait(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out; events: {self.events}, frames: {len(self.frames)}")
                self.cond.wait(left)


def make(settings, rec, segmenter, **kw):
    return Pipeline(settings, on_frame=rec.on_frame, on_event=rec.on_event, segmenter=segmenter, **kw)


def test_latest_frame_wins():
    slot = LatestFrame()
    assert slot.get(timeout=0.01) is None
    for i in range(3):
        slot.put(i)
    assert slot.get(timeout=0) == 2
    assert slot.dropped == 2
    assert slot.get(timeout=0.01) is None  # taken: nothing stale is handed out again

    got = []
    t = threading.Thread(target=lambda: got.append(slot.get(timeout=2)))
    t.start()
    time.sleep(0.05)
    slot.put("new")
    t.join(2)
    assert got == ["new"]


def test_start_frames_and_stop_quickly(clip, segmenter):
    rec = Recorder()
    settings = Settings(source=SourceSettings(spec=str(clip)), background=BackgroundSettings(mode="color"))
    p = make(settings, rec, segmenter)
    p.start()
    rec.wait(lambda: len(rec.frames) >= 5)
    assert p.running
    t0 = time.monotonic()
    p.stop()
    assert time.monotonic() - t0 < 2.0 and not p.running
    p.stop()  # idempotent
    assert rec.kinds()[0] == "source_opened" and rec.kinds().count("stopped") == 1
    r = rec.frames[-1]
    assert r.original.shape == (96, 160, 3) and r.composite.shape == (96, 160, 3) and r.alpha.shape == (96, 160)
    assert set(r.timings_ms) == {"segment", "matte", "compose", "total"}
    assert r.latency_ms > 0 and r.fps > 0
    assert [f.index for f in rec.frames] == list(range(len(rec.frames)))
    assert p.segmenter_info == f"{segmenter.info.name} · {segmenter.backend} · {segmenter.device}"


def test_opencv_runs_on_one_thread_while_live_and_is_given_back_after(clip, segmenter):
    # Issue 11's CPU budget: OpenCV's thread pool costs ~0.045 of a core in hand-overs on the live path.
    seen = []
    rec = Recorder()

    def on_frame(result):
        seen.append(cv2.getNumThreads())  # from the inference thread, while frames flow
        rec.on_frame(result)

    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        p = Pipeline(Settings(source=SourceSettings(spec=str(clip))), on_frame=on_frame, on_event=rec.on_event,
                     segmenter=segmenter)
        p.start()
        rec.wait(lambda: len(rec.frames) >= 3)
        p.stop()
        assert seen and set(seen) == {1}
        assert cv2.getNumThreads() == 2  # what it was before start(), not 1
    finally:
        cv2.setNumThreads(before)


def test_stop_from_a_pipeline_thread(clip, segmenter):
    rec = Recorder()
    holder = {}

    def on_frame(result):
        rec.on_frame(result)
        if result.index == 2:
            holder["p"].stop()  # from the inference thread itself: must not deadlock

    p = Pipeline(Settings(source=SourceSettings(spec=str(clip))), on_frame=on_frame, on_event=rec.on_event, segmenter=segmenter)
    holder["p"] = p
    p.start()
    rec.wait(lambda: "stopped" in rec.kinds())
    p.stop()
    assert not p.running


def test_missing_file_is_an_event_not_a_crash(tmp_path, segmenter, clip):
    rec = Recorder()
    p = make(Settings(source=SourceSettings(spec=str(tmp_path / "missing.mp4"))), rec, segmenter)
    p.start()
    rec.wait(lambda: EventKind.SOURCE_FAILED in rec.kinds())
    assert "missing.mp4" in rec.events[0].message
    p.set_source(SourceSettings(spec=str(clip)))  # a good choice afterwards works
    rec.wait(lambda: len(rec.frames) >= 2)
    t0 = time.monotonic()
    p.stop()
    assert time.monotonic() - t0 < 2.0 and not p.running


def test_file_end_without_loop(clip, segmenter):
    rec = Recorder()
    p = make(Settings(source=SourceSettings(spec=str(clip), loop=False)), rec, segmenter)
    p.start()
    rec.wait(lambda: "source_ended" in rec.kinds())
    p.stop()
    assert 1 <= len(rec.frames) <= 30


class FlakyCamera:
    """A source that delivers a few frames and then fails like an unplugged camera."""

    opened = 0

    def __init__(self, frames_before_failure: int):
        FlakyCamera.opened += 1
        self.left = frames_before_failure
        self.fps, self.size, self.name = 30.0, (160, 96), f"flaky camera #{FlakyCamera.opened}"

    def read(self):
        if self.left == 0:
            raise SourceError(f"{self.name} stopped delivering frames")
        self.left -= 1
        time.sleep(1 / 60)
        return synthetic_frame(self.left), time.monotonic()

    def close(self):
        pass


def test_camera_lost_is_retried(segmenter):
    FlakyCamera.opened = 0
    attempts = []

    def factory(settings):
        attempts.append(time.monotonic())
        if len(attempts) == 2:
            raise SourceError("camera 0 is busy")  # the first reopen fails too: back-off continues
        return FlakyCamera(4)

    rec = Recorder()
    p = make(Settings(source=SourceSettings(spec="0")), rec, segmenter, source_factory=factory, retry_delays=(0.05, 0.1))
    p.start()
    rec.wait(lambda: rec.kinds().count("source_opened") >= 2 and len(rec.frames) >= 2)
    p.stop()
    kinds = rec.kinds()
    assert kinds.index("source_lost") < kinds.index("source_retry")
    assert any("busy" in e.message for e in rec.events if e.kind == "source_retry")
    assert attempts[2] - attempts[1] >= 0.09  # backed off longer the second time


def test_settings_changes_while_running(clip, segmenter):
    rec = Recorder()
    p = make(Settings(source=SourceSettings(spec=str(clip))), rec, segmenter)
    p.start()
    rec.wait(lambda: len(rec.frames) >= 2)
    p.set_background(BackgroundSettings(mode="transparent"))
    rec.wait(lambda: rec.frames[-1].composite.shape[2:] == (4,))
    p.set_matte(MatteSettings(threshold=0.99, softness=0.0, feather=0, refine=False))
    p.set_background(BackgroundSettings(mode="image", path="/nonexistent.jpg"))
    rec.wait(lambda: "error" in rec.kinds())
    p.set_model("no-such-model")
    rec.wait(lambda: EventKind.MODEL_FAILED in rec.kinds())
    n = len(rec.frames)
    rec.wait(lambda: len(rec.frames) >= n + 3)  # still running with the old model and background
    n = len(rec.frames)
    p.set_source(SourceSettings(spec=str(clip), mirror=True))
    # Three mirrored frames: the capture loop has gone round since, so a reopen would have shown.
    rec.wait(lambda: sum(mirrored(f.original) for f in rec.frames[n:]) >= 3)
    p.stop()
    assert rec.kinds().count("source_opened") == 1  # mirroring did not reopen the file


def mirrored(frame) -> bool:
    """The synthetic clip's blue channel rises left to right; mirrored, it falls."""
    return frame[:, :8, 0].mean() > frame[:, -8:, 0].mean() + 100


def test_vcam_without_device_reports_and_keeps_running(clip, segmenter):
    rec = Recorder()
    p = make(Settings(source=SourceSettings(spec=str(clip))), rec, segmenter)
    p.start()
    p.set_vcam(VcamSettings(enabled=True, device="/dev/video99"))
    rec.wait(lambda: "vcam_error" in rec.kinds())
    assert "exclusive_caps=1" in next(e.message for e in rec.events if e.kind == "vcam_error")
    n = len(rec.frames)
    rec.wait(lambda: len(rec.frames) >= n + 3)
    p.stop()


def test_vcam_receives_frames(clip, segmenter):
    sent = []

    class Memory:
        def __init__(self, *, width, height, fps, fourcc, device, **kw):
            self.shape = (height, width)

        def send(self, frame):
            sent.append(frame.size)

        def close(self):
            pass

        def device(self):
            return "memory"

        def native_fourcc(self):
            return None

    pyvirtualcam.register_backend("memory", Memory)
    try:
        rec = Recorder()
        p = make(Settings(source=SourceSettings(spec=str(clip)), vcam=VcamSettings(enabled=True)), rec, segmenter,
                 vcam_backend="memory")  # never a real v4l2loopback device that happens to be loaded
        p.start()
        rec.wait(lambda: len(sent) >= 3)
        p.stop()
    finally:
        pyvirtualcam.camera.BACKENDS.pop("memory", None)
    assert "vcam_error" not in rec.kinds() and set(sent) == {160 * 96 * 3}


def test_slow_consumer_drops_frames_instead_of_queueing(clip, segmenter):
    rec = Recorder()

    def slow(result):
        rec.on_frame(result)
        time.sleep(0.1)  # a consumer 3x slower than the 30 FPS source

    p = Pipeline(Settings(source=SourceSettings(spec=str(clip))), on_frame=slow, on_event=rec.on_event, segmenter=segmenter)
    p.start()
    rec.wait(lambda: len(rec.frames) >= 8)
    p.stop()
    assert p.dropped_frames > 0
    # Each frame is at most ~one consumer period old: no backlog builds up.
    assert max(r.latency_ms for r in rec.frames[3:]) < 400  # a backlog would pass 500 ms by frame 8


# Privacy: the virtual camera never shows the unprocessed room unless the user chose None -------------


class RecordingCamera:
    """An in-memory pyvirtualcam backend: the real ``pyvirtualcam.Camera`` hands it every frame."""

    frames: list = []
    cond = threading.Condition()

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.shape = (height, width, 3)

    def send(self, frame):
        with RecordingCamera.cond:
            RecordingCamera.frames.append(frame.reshape(self.shape).copy())
            RecordingCamera.cond.notify_all()

    def close(self):
        pass

    def device(self):
        return "recording"

    def native_fourcc(self):
        return None

    @classmethod
    def wait(cls, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        with cls.cond:
            while not predicate(cls.frames):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out; the virtual camera got {len(cls.frames)} frames")
                cls.cond.wait(left)
            return list(cls.frames)


@pytest.fixture
def recording():
    RecordingCamera.frames = []
    pyvirtualcam.register_backend("recording", RecordingCamera)
    try:
        yield RecordingCamera
    finally:
        pyvirtualcam.camera.BACKENDS.pop("recording", None)


class PhotoSource:
    """A camera showing a real person photo (a textured room behind them); ``fail_after`` frames,
    then it fails like an unplugged camera."""

    def __init__(self, people_dir, fail_after: int | None = None):
        self.image = cv2.imread(str(people_dir / "images" / "ccp_0001.jpg"))
        self.fps, self.size, self.name = 30.0, self.image.shape[1::-1], "photo camera"
        self.left = fail_after

    def read(self):
        if self.left == 0:
            raise SourceError("photo camera stopped delivering frames")
        if self.left is not None:
            self.left -= 1
        time.sleep(1 / 60)
        return self.image.copy(), time.monotonic()

    def close(self):
        pass


def shows_the_room(sent, raw) -> bool:
    """The camera's frame is the raw picture, or so close to it that the room is recognisable."""
    return float(np.abs(sent.astype(np.int16) - raw.astype(np.int16)).mean()) < 4.0


def vcam_settings(background: str = "blur", **kw) -> Settings:
    return Settings(source=SourceSettings(spec="0"), background=BackgroundSettings(mode=background, **kw),
                    vcam=VcamSettings(enabled=True))


def test_privacy_feed_through_the_real_camera(recording, people_dir, segmenter):
    """Headless, through VirtualCameraSink and pyvirtualcam.Camera: transparent and a compositor that
    fell back to the raw frame are replaced; the user's None passes the room as asked."""
    from personseg_live.compose import Compositor, Matte
    from personseg_live.video.privacy import PrivateFeed
    from personseg_live.video.sinks import VirtualCameraSink

    raw = PhotoSource(people_dir).image
    alpha = Matte()(segmenter.lowres(raw), raw)
    notices = []
    sink = VirtualCameraSink(width=raw.shape[1], height=raw.shape[0], fps=30, backend="recording")
    feed = PrivateFeed(sink, notify=notices.append)
    transparent = BackgroundSettings(mode="transparent")
    feed.show(raw, alpha, Compositor(transparent)(raw, alpha), transparent)
    feed.show(raw, alpha, Compositor(transparent)(raw, alpha), transparent)
    feed.show(raw, alpha, raw, BackgroundSettings(mode="image", path="/gone.jpg"))  # a compositor's fallback
    feed.show(raw, alpha, raw, BackgroundSettings(mode="none"))
    feed.close()
    sent = recording.frames
    assert len(sent) == 4
    assert not any(shows_the_room(f, raw) for f in sent[:3])
    background = alpha < 0.05
    assert background.mean() > 0.2  # the photo has a room to hide
    assert np.abs(sent[0].astype(int) - raw)[background].mean() > 4  # blurred where the room is
    assert np.array_equal(sent[3], raw)  # background None: the user asked for the room
    assert len(notices) == 1 and "transparency" in notices[0] and "blur" in notices[0]  # said once


def run_photo_camera(settings, recording, people_dir, segmenter, *, vcam_frames: int = 3):
    """The pipeline on the photo camera until the virtual camera has ``vcam_frames`` frames and the
    listener at least one result (and an event when ``settings`` make one): (Recorder, frames sent)."""
    rec = Recorder()
    p = make(settings, rec, segmenter, source_factory=lambda s: PhotoSource(people_dir), vcam_backend="recording")
    p.start()
    try:
        sent = recording.wait(lambda frames: len(frames) >= vcam_frames)
        rec.wait(lambda: len(rec.frames) >= 1)
    finally:
        p.stop()
    return rec, sent


def test_the_transparent_fallback_is_the_users_choice(recording, people_dir, segmenter):
    """VcamSettings.transparent_fallback = "color": the camera shows the user's colour behind them."""
    settings = vcam_settings("transparent", color="#2060C0")
    settings.vcam.transparent_fallback = "color"
    rec, sent = run_photo_camera(settings, recording, people_dir, segmenter, vcam_frames=2)
    background = rec.frames[0].alpha < 0.02
    off = np.abs(sent[-1][background].astype(int) - (0xC0, 0x60, 0x20)).max(axis=1)
    assert (off <= 2).mean() > 0.98  # the colour behind the person (the matte moves a little between frames)
    assert "color" in next(e.message for e in rec.events if e.kind == "vcam_notice")


def test_vcam_in_transparent_mode_gets_a_background_not_the_room(recording, people_dir, segmenter):
    rec, sent = run_photo_camera(vcam_settings("transparent"), recording, people_dir, segmenter)
    raw = rec.frames[0].original
    assert rec.frames[0].composite.shape[2] == 4  # the preview still shows transparency
    assert not any(shows_the_room(f, raw) for f in sent)
    notices = [e.message for e in rec.events if e.kind == "vcam_notice"]
    assert len(notices) == 1 and "blur" in notices[0]  # said, once


def test_vcam_gets_privacy_frames_while_the_model_loads(recording, people_dir, segmenter):
    release = threading.Event()

    def slow_load(name, backend):
        release.wait(10)
        return segmenter

    rec = Recorder()
    p = Pipeline(vcam_settings(), on_frame=rec.on_frame, on_event=rec.on_event, segmenter=None,
                 segmenter_factory=slow_load, source_factory=lambda s: PhotoSource(people_dir), vcam_backend="recording")
    p.start()
    try:
        loading = recording.wait(lambda frames: len(frames) >= 3)
        assert rec.frames == [] and p.segmenter_info.startswith("loading")  # no model yet
        release.set()
        rec.wait(lambda: len(rec.frames) >= 2)
    finally:
        release.set()
        p.stop()
    raw = PhotoSource(people_dir).image
    assert not any(shows_the_room(f, raw) for f in loading)
    detail = lambda img: cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_32F).var()
    assert all(detail(f) < 0.05 * detail(raw) for f in loading)  # a heavy blur: nothing recognisable


def test_vcam_holds_the_last_frame_while_the_camera_reconnects(recording, people_dir, segmenter):
    opened = []

    def factory(settings):
        opened.append(1)
        if len(opened) > 1:
            raise SourceError("camera 0 is busy")  # stays away: the camera keeps reconnecting
        return PhotoSource(people_dir, fail_after=6)

    rec = Recorder()
    p = make(vcam_settings(), rec, segmenter, source_factory=factory, retry_delays=(0.05,), vcam_backend="recording")
    p.start()
    try:
        rec.wait(lambda: "source_lost" in rec.kinds() and len(rec.frames) >= 1)
        n = len(recording.frames)
        sent = recording.wait(lambda frames: len(frames) >= n + 3)
    finally:
        p.stop()
    raw = rec.frames[-1].original
    held = sent[n:]
    assert not any(shows_the_room(f, raw) for f in held)
    assert all(np.array_equal(f, rec.frames[-1].composite) for f in held)  # the last composite, held


def test_vcam_never_shows_the_room_when_the_background_fails(recording, people_dir, segmenter):
    settings = vcam_settings("image", path="/nonexistent/background.jpg")
    rec, sent = run_photo_camera(settings, recording, people_dir, segmenter)
    assert "background.jpg" in next(e.message for e in rec.events if e.kind is EventKind.ERROR)  # said, before any frame
    raw = rec.frames[0].original
    assert not any(shows_the_room(f, raw) for f in sent)
    assert not shows_the_room(rec.frames[0].composite, raw)  # the preview falls back to a blur too


@pytest.mark.parametrize("name", ["broken.jpg", "broken.mp4"])
def test_a_background_file_that_does_not_decode_falls_back_to_a_blur_and_the_picture_keeps_moving(
        tmp_path, recording, people_dir, segmenter, name):
    """It exists, so it passed the first check, and failed on every frame: no picture at all, only "processing
    failed". Now it is refused before use: a blurred room, one error, frames flowing, the vcam never raw."""
    broken = tmp_path / name
    broken.write_bytes(b"\xff\xd8 not a picture, not a video")
    settings = vcam_settings("image" if name.endswith(".jpg") else "video", path=str(broken))
    rec, sent = run_photo_camera(settings, recording, people_dir, segmenter)
    errors = [e.message for e in rec.events if e.kind is EventKind.ERROR]
    assert len(errors) == 1 and name in errors[0] and "blurred background instead" in errors[0]
    raw = rec.frames[0].original  # (frames came: run_photo_camera waits for one)
    assert not any(shows_the_room(f, raw) for f in sent) and not shows_the_room(rec.frames[-1].composite, raw)


class FailingSegmenter:
    """The real model for a few frames, then an error on every frame (a driver fault, say)."""

    def __init__(self, segmenter, good_frames: int):
        self._seg, self.left = segmenter, good_frames
        self.info, self.backend, self.device = segmenter.info, segmenter.backend, segmenter.device

    def lowres(self, frame):
        if self.left == 0:
            raise RuntimeError("inference failed")
        self.left -= 1
        return self._seg.lowres(frame)


def test_vcam_holds_the_last_frame_after_a_processing_error(recording, people_dir, segmenter):
    rec, failing = Recorder(), FailingSegmenter(segmenter, 3)
    p = make(vcam_settings(), rec, failing, source_factory=lambda s: PhotoSource(people_dir), vcam_backend="recording")
    p.start()
    try:
        rec.wait(lambda: "error" in rec.kinds())
        n = len(recording.frames)
        sent = recording.wait(lambda frames: len(frames) >= n + 3)
    finally:
        p.stop()
    # Three model answers, each followed by at most one frame where the model rested (a still photo: no surprise).
    assert failing.left == 0 and 3 <= len(rec.frames) <= 6
    held = sent[n:]
    assert all(np.array_equal(f, rec.frames[-1].composite) for f in held)
    assert not any(shows_the_room(f, rec.frames[-1].original) for f in held)


def test_live_the_model_rests_on_frames_it_would_only_repeat(people_dir, segmenter):
    """A camera on a person who sits still: the live pipeline lets the model rest on about every other frame (each
    result says so) and the vcam still gets a processed frame every time, never the room."""
    rec = Recorder()
    p = make(vcam_settings(), rec, segmenter, source_factory=lambda s: PhotoSource(people_dir))
    p.start()
    try:
        rec.wait(lambda: len(rec.frames) >= 12)
    finally:
        p.stop()
    rested = [r.model_rested for r in rec.frames]
    assert 3 <= sum(rested) <= len(rested) // 2 + 1, rested
    raw = PhotoSource(people_dir).image
    assert not any(shows_the_room(r.composite, raw) for r in rec.frames)


def test_mirroring_a_running_camera_starts_the_matte_afresh(people_dir, segmenter):
    """Mirror switched on while the model rests on a person sitting still at one side: the first mirrored frame has
    the model's own answer for it, not the last one carried along to where the person no longer is (IoU 0 here,
    the room shown where the person sat). The processor's cut test sees this scene turn round too; a symmetric one
    it might not, so the pipeline starts a new stream on the switch itself."""
    from personseg_live import assets
    from personseg_live.compose.effects import cover_fit
    from personseg_live.processor import FrameProcessor

    class SideSource(PhotoSource):
        def __init__(self):
            super().__init__(people_dir)
            person = cv2.resize(self.image, None, fx=300 / self.image.shape[0], fy=300 / self.image.shape[0])
            scene = cover_fit(cv2.imread(str(assets.backgrounds()[3])), (640, 360))
            scene[30:330, 20:20 + person.shape[1]] = person
            self.image, self.size = scene, (640, 360)

    rec = Recorder()
    p = make(Settings(source=SourceSettings(spec="0")), rec, segmenter, source_factory=lambda s: SideSource())
    p.start()
    try:
        rec.wait(lambda: sum(r.model_rested for r in rec.frames) >= 2)
        p.set_source(SourceSettings(spec="0", mirror=True))
        rec.wait(lambda: any(not np.array_equal(r.original, rec.frames[0].original) for r in rec.frames))
        rec.wait(lambda: len(rec.frames) >= 12)
    finally:
        p.stop()
    first = next(r for r in rec.frames if not np.array_equal(r.original, rec.frames[0].original))
    fresh = FrameProcessor(segmenter, MatteSettings(), BackgroundSettings(mode="blur"))(first.original).alpha >= 0.5
    found = first.alpha >= 0.5
    assert not first.model_rested
    assert fresh[:, 320:].mean() > 0.1 and (found & fresh).sum() / (found | fresh).sum() > 0.9


# Typed events, model switching, the shutdown contract ----------------------------------------------


def test_a_model_switch_loads_in_the_background_and_says_how_it_went(clip, segmenter):
    release = threading.Event()
    loads = []

    def slow_load(name, backend):
        loads.append((name, backend))
        release.wait(10)
        if name == "broken":
            raise ValueError("no such model")
        return segmenter

    rec = Recorder()
    p = make(Settings(source=SourceSettings(spec=str(clip))), rec, segmenter, segmenter_factory=slow_load)
    p.start()
    try:
        rec.wait(lambda: len(rec.frames) >= 2)
        p.set_model("other", "litert")
        rec.wait(lambda: len(loads) == 1)
        n = len(rec.frames)
        rec.wait(lambda: len(rec.frames) >= n + 5)  # the model in use keeps running while the next loads
        assert p.segmenter_info == "loading other…"
        release.set()
        rec.wait(lambda: EventKind.MODEL_LOADED in rec.kinds())
        release.clear()
        p.set_model("broken")
        release.set()
        rec.wait(lambda: EventKind.MODEL_FAILED in rec.kinds())
        n = len(rec.frames)
        rec.wait(lambda: len(rec.frames) >= n + 2)  # a failed switch leaves the working model running
    finally:
        release.set()
        p.stop()
    loaded = next(e for e in rec.events if e.kind is EventKind.MODEL_LOADED)
    failed = next(e for e in rec.events if e.kind is EventKind.MODEL_FAILED)
    assert loaded.model == ModelRef("other", "litert") and failed.model == ModelRef("broken", "auto")
    assert "no such model" in failed.message
    assert EventKind.ERROR not in rec.kinds()  # a model failure is its own kind, not a generic error
    assert all(isinstance(e.kind, EventKind) for e in rec.events)


def test_source_retry_carries_its_delay(segmenter):
    def factory(settings):
        raise SourceError("camera 0 is busy")

    rec = Recorder()
    p = make(Settings(source=SourceSettings(spec="0")), rec, segmenter, source_factory=factory, retry_delays=(0.05, 0.1))
    p.start()
    rec.wait(lambda: rec.kinds().count(EventKind.SOURCE_RETRY) >= 2)
    p.stop()
    delays = [e.retry_in_s for e in rec.events if e.kind is EventKind.SOURCE_RETRY]
    assert delays[:2] == [0.05, 0.1]


class StuckCamera:
    """A camera whose driver stops answering: read() blocks until released."""

    def __init__(self, release: threading.Event):
        self.release = release
        self.fps, self.size, self.name = 30.0, (160, 96), "stuck camera"

    def read(self):
        self.release.wait(10)
        return synthetic_frame(0), time.monotonic()

    def close(self):
        pass


def test_stop_reports_a_thread_that_outlives_its_timeout(segmenter):
    release = threading.Event()
    rec = Recorder()
    p = make(Settings(source=SourceSettings(spec="0")), rec, segmenter, source_factory=lambda s: StuckCamera(release))
    p.start()
    rec.wait(lambda: "source_opened" in rec.kinds())
    try:
        stragglers = p.stop(timeout=0.2)
    finally:
        release.set()
    assert stragglers == ["personseg-capture"]
    stopped = next(e for e in rec.events if e.kind is EventKind.STOPPED)
    assert stopped.stragglers == ("personseg-capture",) and "personseg-capture" in stopped.message
    assert p.stop(timeout=5) == []  # once the driver answers, the thread ends and a second stop is clean
