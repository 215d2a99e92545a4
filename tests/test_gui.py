"""The desktop app: the real window driving a real pipeline on small real video files (offscreen Qt)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QColor, QTextDocument  # noqa: E402

from personseg_live.gui.app import apply_args, close_on_signals, create_window  # noqa: E402
from personseg_live.gui.widgets import fit_rect, to_qimage  # noqa: E402
from personseg_live.gui.worker import PipelineBridge  # noqa: E402
from personseg_live.settings import MatteSettings, Settings, load_settings  # noqa: E402

FIRST_FRAME_MS = 20_000  # generous: the CI machine may be busy (a training job shares it here)


def write_clip(path: Path, size: tuple[int, int], frames: int, source: Path) -> Path:
    """A small mp4v clip cut from the demo clip (a real person on a real background)."""
    w, h = size
    cap = cv2.VideoCapture(str(source))
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (w, h))
    assert out.isOpened()
    for _ in range(frames):
        ok, frame = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = cap.read()
        out.write(cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA))
    out.release()
    cap.release()
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory, demo_clip) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "small.mp4", (160, 96), 60, demo_clip)


@pytest.fixture(scope="module")
def square_clip(tmp_path_factory, demo_clip) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "square.mp4", (128, 128), 30, demo_clip)


@pytest.fixture
def settings_file(tmp_path) -> Path:
    return tmp_path / "settings.json"


@pytest.fixture
def open_window(qtbot, segmenter, settings_file):
    """Opens windows the way ``personseg-live`` does (create_window) and closes them at the end."""
    windows = []

    def _open(args: argparse.Namespace | None = None, *, path: Path = settings_file, wait_first: bool = True):
        window = create_window(args, settings_path=path, segmenter=segmenter)
        windows.append(window)
        qtbot.addWidget(window)
        window.show()
        if wait_first:
            qtbot.waitUntil(lambda: window.preview.frames_shown > 0, timeout=FIRST_FRAME_MS)
        return window

    yield _open
    for window in windows:
        window.close()


def source_args(spec: Path | str, **more) -> argparse.Namespace:
    return argparse.Namespace(source=str(spec), background=more.get("background"), model=more.get("model"))


class Spy:
    """Records the calls to one pipeline method and passes them on."""

    def __init__(self, obj, name: str):
        self.calls: list[tuple] = []
        real = getattr(obj, name)

        def call(*args, **kwargs):
            self.calls.append(args)
            return real(*args, **kwargs)

        setattr(obj, name, call)


def wait_frame(window, qtbot, predicate=lambda result: True, timeout: int = FIRST_FRAME_MS):
    """The first FrameResult from now on that satisfies ``predicate``, and the frame the preview
    showed for it (noted at once: more frames may arrive before the wait returns)."""
    seen = []

    def take(result) -> None:  # connected after the window's own slot, so runs after it drew
        if not seen and predicate(result):
            seen.append((result, window.preview.last_frame))

    window.bridge.frame_listeners.append(take)
    try:
        qtbot.waitUntil(lambda: len(seen) > 0, timeout=timeout)
    finally:
        window.bridge.frame_listeners.remove(take)
    return seen[0]


# ------------------------------------------------------------------------------------------- helpers


def test_to_qimage_reads_bgr_in_place_and_reuses_its_buffer():
    frame = np.zeros((4, 6, 3), np.uint8)
    frame[1, 2] = (255, 0, 0)  # blue in BGR
    image, buf = to_qimage(frame)
    assert (image.width(), image.height()) == (6, 4)
    assert image.pixelColor(2, 1) == QColor(0, 0, 255)
    image2, buf2 = to_qimage(frame[::-1].copy(), buf)
    assert buf2 is buf  # same shape: no new allocation
    assert image2.pixelColor(2, 2) == QColor(0, 0, 255)


def test_to_qimage_scales_into_the_buffer():
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[:, 640:] = (0, 255, 0)
    image, buf = to_qimage(frame, size=(640, 360))
    assert (image.width(), image.height()) == (640, 360) and buf.shape == (360, 640, 3)
    assert image.pixelColor(10, 10) == QColor(0, 0, 0) and image.pixelColor(630, 10) == QColor(0, 255, 0)
    _, buf2 = to_qimage(frame, buf, size=(640, 360))
    assert buf2 is buf


def test_to_qimage_bgra_keeps_alpha():
    frame = np.zeros((2, 2, 4), np.uint8)
    frame[0, 0] = (0, 255, 0, 128)
    image, _ = to_qimage(frame)
    assert image.hasAlphaChannel()
    color = image.pixelColor(0, 0)
    assert (color.green(), color.alpha()) == (255, 128)


def test_fit_rect_keeps_aspect():
    from PySide6.QtCore import QRect, QSize

    r = fit_rect(QSize(1280, 720), QRect(0, 0, 800, 800))
    assert (r.width(), r.height()) == (800, 450) and r.top() == 175


def test_bridge_keeps_only_the_newest_frame_and_every_event(qtbot):
    bridge = PipelineBridge()
    frames, events, threads = [], [], set()
    bridge.frame_listeners.append(lambda r: (frames.append(r), threads.add(threading.get_ident())))
    bridge.event_listeners.append(events.append)

    def pipeline_thread() -> None:
        bridge.on_event("opened")
        for i in range(100):
            bridge.on_frame(i)
        bridge.on_event("ended")

    worker = threading.Thread(target=pipeline_thread)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(frames) > 0, timeout=2000)
    qtbot.wait(50)
    assert frames == [99]  # 99 frames replaced, one delivered: no backlog
    assert bridge.dropped == 99
    assert events == ["opened", "ended"]
    assert threads == {threading.get_ident()}  # delivered in the GUI thread


def test_frames_do_not_eat_the_refcount_of_true(qtbot):
    """PySide6 6.12.0's Signal.emit drops a reference to True per call (a crash after ~1000 on
    Python 3.11); the bridge must not emit per frame."""
    bridge = PipelineBridge()
    got = []
    bridge.frame_listeners.append(got.append)
    before = sys.getrefcount(True)
    for i in range(500):
        bridge.on_frame(i)
        qtbot.wait(0)
    qtbot.waitUntil(lambda: got[-1:] == [499], timeout=2000)
    assert sys.getrefcount(True) - before > -50


def test_apply_args_overrides_without_persisting(tmp_path):
    img = tmp_path / "beach.png"
    cv2.imwrite(str(img), np.zeros((8, 8, 3), np.uint8))
    s, sections, warnings = apply_args(Settings(), source_args("3", background=str(img), model="default"))
    assert s.source.spec == "3" and s.background.mode == "image" and s.background.path == str(img.resolve())
    assert set(sections) == {"source", "background", "model"} and not warnings
    s, _, _ = apply_args(Settings(), source_args("0", background="color:#ff0000"))
    assert (s.background.mode, s.background.color) == ("color", "#FF0000")
    s, sections, _ = apply_args(Settings(), argparse.Namespace(source=None, background=None, model=None, vcam=True))
    assert s.vcam.enabled and sections == ["vcam"]
    _, _, warnings = apply_args(Settings(), source_args("0", background="nonsense"))
    assert warnings and "nonsense" in warnings[0]


# -------------------------------------------------------------------------------------------- window


def test_window_shows_composited_frames(open_window, clip, qtbot):
    window = open_window(source_args(clip))
    result, _ = wait_frame(window, qtbot)
    assert result.original.shape == (96, 160, 3)
    assert result.composite.shape[:2] == (96, 160)
    assert not np.array_equal(result.composite, result.original)  # the background is blurred by default
    qtbot.waitUntil(lambda: "fps" in window.stats_label.text() and window.stats_label.text() != "— fps")
    assert window.device_label.text()  # which model and device run
    rect = window.preview.image_rect()
    assert abs(rect.width() / rect.height() - 160 / 96) < 0.02  # aspect kept
    assert str(clip.name) in window.source_label.toolTip() or window.source_label.text()


def test_controls_reach_the_pipeline(open_window, clip, qtbot):
    window = open_window(source_args(clip))
    backgrounds = Spy(window.pipeline, "set_background")
    mattes = Spy(window.pipeline, "set_matte")

    window.background_panel.mode_buttons["color"].click()
    assert backgrounds.calls[-1][0].mode == "color"
    green = np.array([0x40, 0xB1, 0x00])  # the default #00B140 in BGR
    # The real effect: background pixels turn green (a corner of the clip is background).
    wait_frame(window, qtbot, lambda r: np.abs(r.composite[2, 2, :3].astype(int) - green).max() < 40)
    window.background_panel.mode_buttons["none"].click()
    assert window.settings.background.mode == "none"
    window.background_panel.mode_buttons["transparent"].click()
    wait_frame(window, qtbot, lambda r: r.composite.shape[2] == 4)
    qtbot.waitUntil(lambda: window.preview.current_image().hasAlphaChannel())  # drawn over a checkerboard

    window.matte_panel.threshold.setValue(0.8)
    window.matte_panel.feather.setValue(7)
    assert mattes.calls[-1][0].threshold == pytest.approx(0.8)
    assert mattes.calls[-1][0].feather == 7
    assert window.settings.matte.threshold == pytest.approx(0.8)

    window.background_panel.mode_buttons["blur"].click()
    window.background_panel.blur_slider.setValue(60)
    assert backgrounds.calls[-1][0].mode == "blur" and backgrounds.calls[-1][0].blur_strength == 60


def test_background_picture_from_a_file(open_window, clip, qtbot, tmp_path):
    picture = tmp_path / "red.png"
    cv2.imwrite(str(picture), np.full((60, 80, 3), (0, 0, 255), np.uint8))
    window = open_window(source_args(clip))
    window.background_panel.choose_file(picture)
    assert (window.settings.background.mode, window.settings.background.path) == ("image", str(picture))
    assert window.background_panel.gallery.count() >= 1 and window.background_panel.gallery.isVisibleTo(window)
    red = np.array([0, 0, 255])
    wait_frame(window, qtbot, lambda r: np.abs(r.composite[2, 2].astype(int) - red).max() < 40)
    window.background_panel.mode_buttons["blur"].click()
    window.background_panel.mode_buttons["picture"].click()  # back to the last picture
    assert window.settings.background.path == str(picture)


def test_before_after_shows_the_original(open_window, clip, qtbot):
    window = open_window(source_args(clip))
    window.before_after_action.trigger()
    assert window.settings.show_original
    result, shown = wait_frame(window, qtbot)
    assert shown is result.original
    window.before_after_action.trigger()
    result, shown = wait_frame(window, qtbot)
    assert shown is result.composite


def test_switch_source_live(open_window, clip, square_clip, qtbot):
    window = open_window(source_args(clip))
    window.source_panel.choose_file(square_clip)
    wait_frame(window, qtbot, lambda r: r.original.shape[:2] == (128, 128))
    assert window.settings.source.spec == str(square_clip)
    assert window.source_panel.source_combo.currentText() == square_clip.name
    # and through the picker itself, as a user does: the bundled demo clip (640x360)
    combo = window.source_panel.source_combo
    combo.setCurrentIndex(combo.findText("Demo clip"))
    combo.activated.emit(combo.currentIndex())
    assert window.settings.source.spec == "demo"
    wait_frame(window, qtbot, lambda r: r.original.shape[:2] == (360, 640))
    assert not window.source_panel.resolution_combo.isEnabled()  # a file plays at its own size


def test_keyboard_shortcuts_are_listed_and_work(open_window, clip, qtbot):
    window = open_window(source_args(clip))
    keys = dict(window.shortcut_rows())
    for key in ("B", "V", "M", "Space", "F11", "1", "5", "Ctrl+Q", "F1"):
        assert key in keys, key
    dialog = window.show_shortcuts()
    assert dialog.isVisible()
    dialog.close()
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_3)
    assert window.settings.background.mode == "color"
    qtbot.keyClick(window, Qt.Key.Key_B)
    assert window.settings.show_original
    qtbot.keyClick(window, Qt.Key.Key_M)
    assert window.settings.source.mirror


def test_virtual_camera_without_a_device_explains_the_setup(open_window, clip, qtbot):
    from personseg_live.video.sinks import VCAM_HELP

    window = open_window(source_args(clip))
    window.vcam_action.trigger()
    qtbot.waitUntil(lambda: getattr(window, "vcam_error_box", None) is not None, timeout=FIRST_FRAME_MS)
    box = window.vcam_error_box
    assert box.isVisible()
    shown = QTextDocument()
    shown.setHtml(box.informativeText())
    assert VCAM_HELP.strip() in shown.toPlainText()  # the exact setup steps, as written
    assert not window.vcam_action.isChecked()
    assert not window.settings.vcam.enabled
    # and the preview keeps running
    before = window.preview.frames_shown
    qtbot.waitUntil(lambda: window.preview.frames_shown > before + 3, timeout=FIRST_FRAME_MS)


def test_close_stops_the_threads_within_two_seconds(open_window, clip, qtbot):
    baseline = {t.ident for t in threading.enumerate()}
    window = open_window(source_args(clip))
    started = time.perf_counter()
    window.close()
    took = time.perf_counter() - started
    assert took < 2.0
    assert not window.pipeline.running
    # the pipeline's Python threads are gone ("Dummy" threads are Qt's own pool, which Python merely sees)
    qtbot.waitUntil(lambda: not _new_threads(baseline), timeout=1000)


def _new_threads(baseline: set) -> list:
    return [
        t for t in threading.enumerate()
        if t.ident not in baseline and t.is_alive() and not isinstance(t, threading._DummyThread)
    ]


def test_settings_survive_a_restart(open_window, clip, qtbot, settings_file):
    window = open_window(source_args(clip))
    window.matte_panel.threshold.setValue(0.7)
    window.background_panel.choose_color("#123456")
    window.before_after_action.trigger()
    window.mirror_action.trigger()  # a change to the source section, but not to which source
    window.close()
    saved, warnings = load_settings(settings_file)
    assert not warnings
    assert saved.matte.threshold == pytest.approx(0.7)
    assert (saved.background.mode, saved.background.color) == ("color", "#123456")
    assert saved.show_original
    # --source was only for that session: it is not written as the new default; mirror is kept
    assert saved.source.spec is None
    assert saved.source.mirror

    again = open_window(source_args(clip))
    assert again.settings.matte.threshold == pytest.approx(0.7)
    assert again.matte_panel.threshold.value() == pytest.approx(0.7)
    assert again.background_panel.mode_buttons["color"].isChecked()
    assert again.before_after_action.isChecked()


def test_source_chosen_in_the_window_is_remembered(open_window, clip, square_clip, settings_file):
    window = open_window(source_args(clip))
    window.source_panel.choose_file(square_clip)
    window.close()
    saved, _ = load_settings(settings_file)
    assert saved.source.spec == str(square_clip)


def test_corrupt_settings_open_with_defaults_and_a_warning(open_window, clip, settings_file):
    settings_file.write_text("{ this is not json")
    window = open_window(source_args(clip))
    assert window.statusBar().currentMessage()  # the warning is shown
    assert "setting" in window.statusBar().currentMessage().lower()
    assert window.settings.matte == MatteSettings()


def test_no_camera_falls_back_to_the_demo_clip(open_window, settings_file, qtbot, monkeypatch):
    from personseg_live.video import sources

    monkeypatch.setattr(sources, "list_cameras", lambda *args, **kwargs: [])
    window = open_window(argparse.Namespace(source=None, background=None, model=None))
    qtbot.waitUntil(lambda: "demo clip" in window.source_label.text(), timeout=FIRST_FRAME_MS)


def test_close_on_signals_closes_the_window(qtbot, open_window, clip):
    window = open_window(source_args(clip))
    with close_on_signals(window.close):
        os.kill(os.getpid(), signal.SIGTERM)
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=2000)
    assert not window.pipeline.running


@pytest.mark.slow
def test_sigterm_exits_cleanly(clip, tmp_path):
    """``personseg-live --source FILE`` as users start it; SIGTERM closes it with exit code 0 within 2 s."""
    settings = tmp_path / "settings.json"
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "personseg_live.cli", "--source", str(clip), "--settings", str(settings)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(6)  # imports, model load, first frames
        assert proc.poll() is None, proc.stdout.read().decode()
        sent = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        took = time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    output = proc.stdout.read().decode()
    assert code == 0, output
    assert took < 2.0, f"{took:.2f} s"
    assert settings.exists()  # it went through the window's own close (which saves), not a hard kill


def test_model_switch_and_ui_stay_responsive(open_window, clip, qtbot):
    """Switching the model goes to the pipeline's thread; the event loop keeps ticking meanwhile."""
    from PySide6.QtCore import QTimer

    window = open_window(source_args(clip))
    gaps, last = [], [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer(interval=10)
    timer.timeout.connect(tick)
    timer.start()
    models = Spy(window.pipeline, "set_model")
    window.model_panel.backend_combo.setCurrentIndex(window.model_panel.backend_combo.findData("litert"))
    window.model_panel.changed.emit(window.model_panel.model(), "litert")
    assert models.calls[-1] == (window.model_panel.model(), "litert")
    before = window.preview.frames_shown
    qtbot.waitUntil(lambda: window.preview.frames_shown > before + 20, timeout=FIRST_FRAME_MS)
    qtbot.waitUntil(lambda: "litert" in window.device_label.text().lower(), timeout=FIRST_FRAME_MS)
    timer.stop()
    worst = max(gaps) * 1000
    print(f"max event-loop gap while switching model and playing: {worst:.0f} ms")
    # A real stall (a join or a model load in the GUI thread) is seconds; a busy CI box adds ~100 ms.
    assert worst < 1000


def test_window_layout_is_remembered(open_window, clip, settings_file, qtbot):
    window = open_window(source_args(clip))
    window.resize(760, 560)  # inside the offscreen platform's 800x600 screen, which restoring clamps to
    window.dock.hide()
    window.close()
    assert (settings_file.parent / "window.ini").exists()
    again = open_window(source_args(clip))
    assert (again.width(), again.height()) == (760, 560)
    assert not again.dock.isVisible()


def test_escape_leaves_full_screen(open_window, clip, qtbot):
    window = open_window(source_args(clip))
    window.fullscreen_action.trigger()
    assert not window.dock.isVisible() and not window.toolbar.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.fullscreen_action.isChecked()
    assert window.dock.isVisible() and window.toolbar.isVisible()


def test_a_model_that_no_longer_loads_falls_back_to_the_default(clip, qtbot, settings_file):
    # No shared segmenter here: the pipeline itself has to load (and fail to load) the model.
    window = create_window(source_args(clip, model="no-such-model"), settings_path=settings_file)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=FIRST_FRAME_MS)
    assert "no-such-model" in window.error_box.text()
    qtbot.waitUntil(lambda: window.preview.frames_shown > 0, timeout=FIRST_FRAME_MS)  # the default runs
    assert window.settings.model == "default" and window.model_panel.model() == "default"


def test_shutdown_without_a_close_stops_the_pipeline(open_window, clip):
    """run_gui calls shutdown() however the event loop ended (the X server may be gone)."""
    window = open_window(source_args(clip))
    window.shutdown()
    assert not window.pipeline.running
    window.shutdown()  # idempotent, and closing afterwards is harmless
    window.close()
