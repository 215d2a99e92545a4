"""Sources and sinks with real files, real OpenCV/PyAV and pyvirtualcam's own backend registry."""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import pyvirtualcam

from personseg_live.settings import SourceSettings
from personseg_live.video import (
    VCAM_HELP,
    CameraInfo,
    FileSource,
    OutputError,
    PngSequenceSink,
    SourceError,
    VideoFileSink,
    VirtualCameraSink,
    VirtualCameraUnavailable,
    list_cameras,
    open_source,
    sources,
)

from videos import probe, synthetic_frame, write_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("src") / "clip.mp4", frames=12, fps=30)


def test_file_source_reads_all_frames_then_ends(clip):
    src = open_source(SourceSettings(spec=str(clip), loop=False), paced=False)
    assert src.size == (160, 96) and abs(src.fps - 30) < 0.1 and src.name == "clip.mp4"
    frames = []
    while (item := src.read()) is not None:
        frame, ts = item
        assert frame.shape == (96, 160, 3) and frame.dtype == np.uint8 and ts <= time.monotonic()
        frames.append(frame)
    src.close()
    assert len(frames) == 12


def test_file_source_loops_and_is_paced(clip):
    src = FileSource(clip, loop=True, paced=True)
    t0 = time.monotonic()
    for _ in range(18):  # past the end: loops
        assert src.read() is not None
    elapsed = time.monotonic() - t0
    src.close()
    assert elapsed >= 17 / 30 * 0.9  # played at its own 30 FPS, not as fast as it decodes


def test_a_file_played_live_decodes_on_one_thread_up_to_1080p(clip, monkeypatch):
    """FFmpeg's decoding threads cost the live budget CPU every frame, for frames a paced file needs no sooner
    than a camera gives them: one thread, the same frames. Larger frames than 1080p keep FFmpeg's threads."""
    paced, free = FileSource(clip, loop=False, paced=True), FileSource(clip, loop=False, paced=False)
    assert paced._cap.get(cv2.CAP_PROP_N_THREADS) == 1
    frames = []
    for _ in range(12):  # from the first frame (the size probe's read was rewound), the same frames
        (a, _), (b, _) = paced.read(), free.read()
        assert np.array_equal(a, b)
        frames.append(a)
    assert paced.read() is None and free.read() is None
    paced.close()
    monkeypatch.setattr(sources, "ONE_THREAD_UP_TO", 160 * 96 - 1)  # the clip now counts as large
    large = FileSource(clip, loop=False, paced=True)
    assert large._cap.get(cv2.CAP_PROP_N_THREADS) == free._cap.get(cv2.CAP_PROP_N_THREADS)
    if (os.cpu_count() or 1) > 1:
        assert large._cap.get(cv2.CAP_PROP_N_THREADS) > 1
    assert np.array_equal(large.read()[0], frames[0])
    large.close()
    free.close()


def test_a_photo_as_the_source_plays_like_a_camera_pointed_at_it(people_dir, tmp_path):
    """A still is delivered again and again at the source's rate, upright, a fresh copy each time; once when
    not looping; an unreadable picture is a clear error. (As a video file it ended, or failed to loop.)"""
    import cv2

    photo = people_dir / "images" / "ccp_0050.jpg"
    src = open_source(SourceSettings(spec=str(photo), fps=30), paced=True)
    t0 = time.monotonic()
    frames = [src.read()[0] for _ in range(10)]
    elapsed = time.monotonic() - t0
    assert src.size == (frames[0].shape[1], frames[0].shape[0]) and src.name == "ccp_0050.jpg"
    assert all(np.array_equal(f, cv2.imread(str(photo))) for f in frames) and frames[0] is not frames[1]
    assert elapsed >= 9 / 30 * 0.9  # paced like a 30 FPS camera, not a busy loop
    once = open_source(SourceSettings(spec=str(photo), loop=False), paced=False)
    assert once.read() is not None and once.read() is None
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    with pytest.raises(SourceError, match="cannot read .*broken.png as a picture"):
        open_source(SourceSettings(spec=str(broken)))


def test_open_source_errors(tmp_path):
    with pytest.raises(SourceError, match="neither a camera index nor an existing video file"):
        open_source(SourceSettings(spec=str(tmp_path / "missing.mp4")))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(SourceError, match="bad.mp4"):
        open_source(SourceSettings(spec=str(bad)))
    with pytest.raises(SourceError, match="camera 7"):
        open_source(SourceSettings(spec="7"))


@pytest.mark.parametrize("cameras", [[], [CameraInfo(97, "unplugged since it was listed")]], ids=["none", "gone"])
def test_default_source_falls_back_to_demo_clip(demo_clip, monkeypatch, cameras):
    # Whatever webcam this machine has: the listing is a stand-in, the clip and the failed open are real.
    monkeypatch.setattr(sources, "list_cameras", lambda max_index=8: cameras)
    src = open_source(SourceSettings(spec=None))
    try:
        assert src.name == demo_clip.name and src.size == (640, 360)
    finally:
        src.close()


def test_list_cameras_probes_existing_nodes_and_skips_our_virtual_camera(tmp_path, monkeypatch):
    """On a fake /dev and /sys: a webcam (video0), its metadata node (video1, does not open as a
    camera), our own v4l2loopback device (video10); nothing else exists. A stand-in for OpenCV's
    capture opens only the webcam, and records what was probed."""
    for node, name in (("video0", "HD Webcam"), ("video1", "HD Webcam"), ("video10", "personseg-live")):
        (tmp_path / "dev").mkdir(exist_ok=True)
        (tmp_path / "dev" / node).touch()
        (tmp_path / "sys/class/video4linux" / node).mkdir(parents=True)
        (tmp_path / "sys/class/video4linux" / node / "name").write_text(name + "\n")
    probed = []

    class Capture:
        def __init__(self, device, api):
            probed.append(Path(device).name)
            self._open = Path(device).name == "video0"

        def isOpened(self):
            return self._open

        def release(self):
            pass

    monkeypatch.setattr(sources.cv2, "VideoCapture", Capture)
    monkeypatch.setattr(sources.sys, "platform", "linux")
    assert list_cameras(max_index=12, root=tmp_path) == [CameraInfo(0, "HD Webcam")]
    assert probed == ["video0", "video1"]  # missing indices and our own device were never opened


def test_video_file_sink_odd_size_and_temp_name(tmp_path):
    out = tmp_path / "out.mp4"
    sink = VideoFileSink(out, width=81, height=47, fps=25)
    for i in range(10):
        sink.send(synthetic_frame(i, 81, 47))
    assert not out.exists()  # still under its temporary name
    sink.close()
    assert out.exists() and [p.name for p in tmp_path.iterdir()] == ["out.mp4"]
    info = probe(out)
    assert info["frames"] == 10 and info["size"] == (82, 48) and info["video_codec"] == "h264" and info["fps"] == 25
    assert sink.size_note.startswith("81x47 written as 82x48") and "even sizes" in sink.size_note  # said, with why


def test_video_file_sink_abort_leaves_nothing(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        with VideoFileSink(out, width=32, height=32, fps=30) as sink:
            sink.send(np.zeros((32, 32, 3), np.uint8))
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_video_file_sink_rejects_bad_outputs(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        VideoFileSink(tmp_path / "no" / "such" / "out.mp4", width=32, height=32, fps=30)
    with pytest.raises(OutputError, match="unsupported output type"):
        VideoFileSink(tmp_path / "out.xyz", width=32, height=32, fps=30)
    with pytest.raises(OutputError, match="transparent output needs .webm"):
        VideoFileSink(tmp_path / "out.mp4", width=32, height=32, fps=30, transparent=True)


def test_webm_with_alpha(tmp_path):
    out = tmp_path / "out.webm"
    with VideoFileSink(out, width=32, height=32, fps=30, transparent=True) as sink:
        for i in range(5):
            bgra = np.zeros((32, 32, 4), np.uint8)
            bgra[..., 3] = 255 if i % 2 else 0
            sink.send(bgra)
    info = probe(out)
    assert info["frames"] == 5 and info["video_codec"] in ("vp9", "libvpx-vp9")


def test_png_sequence_sink(tmp_path):
    out = tmp_path / "frames"
    with PngSequenceSink(out) as sink:
        for _ in range(3):
            sink.send(np.zeros((8, 8, 4), np.uint8))
    assert sorted(p.name for p in out.iterdir()) == ["00000.png", "00001.png", "00002.png"]


# Virtual camera --------------------------------------------------------------------------------


class MemoryCamera:
    """An in-memory pyvirtualcam backend, registered through pyvirtualcam's own registry."""

    instances: list["MemoryCamera"] = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self._device = device or "memory0"
        self.frames: list[np.ndarray] = []
        self.closed = False
        MemoryCamera.instances.append(self)

    def send(self, frame):
        self.frames.append(frame.copy())

    def close(self):
        self.closed = True

    def device(self):
        return self._device

    def native_fourcc(self):
        return None


@pytest.fixture()
def memory_backend():
    pyvirtualcam.register_backend("memory", MemoryCamera)
    MemoryCamera.instances.clear()
    yield "memory"
    pyvirtualcam.camera.BACKENDS.pop("memory", None)


def test_virtual_camera_sink_sends_bgr(memory_backend):
    with VirtualCameraSink(width=64, height=48, fps=30, backend=memory_backend) as sink:
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[..., 0] = 255  # blue in BGR
        sink.send(frame)
        sink.send(np.zeros((96, 128, 4), np.uint8))  # BGRA and another size: converted
        assert sink.device == "memory0"
    cam = MemoryCamera.instances[0]
    assert cam.closed and len(cam.frames) == 2
    assert cam.frames[0].size == 64 * 48 * 3
    assert cam.frames[0].reshape(48, 64, 3)[0, 0].tolist() == [255, 0, 0]  # BGR kept as BGR


def test_virtual_camera_unavailable_message():
    with pytest.raises(VirtualCameraUnavailable) as info:
        VirtualCameraSink(width=64, height=48, fps=30, device="/dev/video99")
    message = str(info.value)
    assert message.startswith(VCAM_HELP)
    assert "exclusive_caps=1" in message and "OBS" in message and "Details:" in message


def test_png_sequence_sink_never_replaces_a_folder_with_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="other files"):
        PngSequenceSink(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_video_file_sink_repairs_repeated_timestamps(tmp_path):
    from fractions import Fraction

    out = tmp_path / "out.mp4"
    with VideoFileSink(out, width=32, height=32, fps=30, time_base=Fraction(1, 30)) as sink:
        for pts in (0, 1, 1, 2, 4):  # a repeated timestamp, then a gap (variable frame rate)
            sink.send(np.zeros((32, 32, 3), np.uint8), pts=pts, time_base=Fraction(1, 30))
    assert probe(out)["frames"] == 5


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid  # exited and reaped: no process has it (pids are not reused this fast)


def test_remove_leftovers_of_dead_runs_only(tmp_path):
    import os

    from personseg_live.video.sinks import remove_leftovers

    out = tmp_path / "out.mp4"
    dead = tmp_path / f".out.partial-{_dead_pid()}.mp4"
    dead.write_bytes(b"x" * 100)
    live = tmp_path / f".out.partial-{os.getppid()}.mp4"  # our parent is alive: another run writing
    live.write_bytes(b"x")
    old_masks = tmp_path / f".masks.partial-{_dead_pid()}"
    old_masks.mkdir()
    (old_masks / "00000.png").write_bytes(b"x")
    other = tmp_path / f".other.partial-{_dead_pid()}.mp4"
    other.write_bytes(b"x")
    assert remove_leftovers(out) == [dead]
    assert remove_leftovers(tmp_path / "masks") == [old_masks]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])


def test_png_sequence_sink_refuses_to_replace_without_overwrite(tmp_path):
    out = tmp_path / "masks"
    with PngSequenceSink(out, what="masks") as sink:
        sink.send(np.zeros((8, 8), np.uint8))
    with pytest.raises(OutputError, match="already holds masks; add -y/--overwrite"):
        PngSequenceSink(out, overwrite=False, what="masks")
    with PngSequenceSink(out, overwrite=True) as sink:  # replaced as a whole: no stale frames
        pass
    assert list(out.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["masks"]


def test_every_audio_track_is_kept(tmp_path):
    import av

    src = write_video(tmp_path / "two.mp4", frames=15, audio_tracks=2)
    out = tmp_path / "out.mkv"
    with av.open(str(src)) as container:
        tracks = list(container.streams.audio)
        with VideoFileSink(out, width=160, height=96, fps=30, audio=tracks) as sink:
            for packet in container.demux(tracks):
                sink.write_audio(packet)
            sink.send(synthetic_frame(0))
        assert sink.audio_kept == ["aac copied", "aac copied"]
    assert probe(out)["audio_tracks"] == [("aac", 1), ("aac", 2)]
