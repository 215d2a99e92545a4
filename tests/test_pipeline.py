"""The live pipeline with real sources, the shipped model and real threads."""

from __future__ import annotations

import threading
import time

import pytest
import pyvirtualcam

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
    rec.wait(lambda: "error" in rec.kinds())
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
    rec.wait(lambda: rec.kinds().count("error") >= 2)
    n = len(rec.frames)
    rec.wait(lambda: len(rec.frames) >= n + 3)  # still running with the old model and background
    p.set_source(SourceSettings(spec=str(clip), mirror=True))
    time.sleep(0.1)
    p.stop()
    assert rec.kinds().count("source_opened") == 1  # mirroring did not reopen the file


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
        p = make(Settings(source=SourceSettings(spec=str(clip)), vcam=VcamSettings(enabled=True)), rec, segmenter)
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
