"""The desktop app: the real window driving a real pipeline on small real video files (offscreen Qt)."""

from __future__ import annotations

import argparse
import json
import os
import platform
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
from PySide6.QtGui import QColor, QGuiApplication, QTextDocument  # noqa: E402
from PySide6.QtWidgets import QLabel, QMessageBox  # noqa: E402

from personseg_live.gui.app import apply_args, close_on_signals, create_window  # noqa: E402
from personseg_live.gui.widgets import PreviewWidget, fit_rect, to_qimage  # noqa: E402
from personseg_live.gui.worker import PipelineBridge  # noqa: E402
from personseg_live.settings import MatteSettings, Settings, load_settings  # noqa: E402
from videos import holds_open  # noqa: E402

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


def test_to_qimage_shrinks_without_aliasing_at_any_ratio():
    """A picture shown at less than half its size (a 1080p camera in a 900 px preview, a 720p one in a small window)
    is area-filtered, not point-sampled: 1 px stripes come out an even grey, not as moire. Every channel layout."""
    for channels in (3, 4):
        frame = np.zeros((1080, 1920, channels), np.uint8)
        frame[:, ::2] = 255
        for size in ((900, 506), (600, 338), (330, 186)):
            _, buf = to_qimage(frame, size=size)
            assert buf.shape[:2] == size[::-1]
            assert abs(float(buf.mean()) - 127.5) < 2 and float(buf.std()) < 10, (channels, size, buf.std())
            assert float(cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR).std()) > 60  # what it would be


def test_preview_letterbox_bars_are_black_and_the_picture_fills_its_rect(qtbot):
    """A 16:9 picture in a tall preview: black bars above and below (the widget paints them itself: it is
    opaque), the picture's own colour inside its rect."""
    preview = PreviewWidget()
    qtbot.addWidget(preview)
    preview.resize(320, 400)
    preview.show()
    preview.show_frame(np.full((720, 1280, 3), (40, 160, 220), np.uint8))
    shot = preview.grab().toImage()
    rect = preview.image_rect()
    assert rect.height() == 180 and rect.top() == 110
    for y in (5, rect.top() - 3, rect.bottom() + 3, 395):
        assert shot.pixelColor(160, y) == QColor(0, 0, 0), y
    assert shot.pixelColor(160, rect.center().y()) == QColor(220, 160, 40)


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
    Python 3.11); the bridge must not emit per frame. Counted at the source: every signal the bridge
    declares is listened to (True's refcount only shows the leak on Python < 3.12, where True is
    not immortal, and only with the broken PySide6)."""
    from PySide6.QtCore import QCoreApplication, QMetaMethod

    bridge = PipelineBridge()
    got, emitted = [], []
    bridge.frame_listeners.append(got.append)
    meta = bridge.metaObject()
    for i in range(meta.methodOffset(), meta.methodCount()):
        method = meta.method(i)
        if method.methodType() == QMetaMethod.MethodType.Signal:
            getattr(bridge, bytes(method.name()).decode()).connect(lambda *_: emitted.append(1))
    before = sys.getrefcount(True)
    for i in range(500):
        bridge.on_frame(i)
        QCoreApplication.sendPostedEvents(bridge)  # the GUI keeping up: each frame delivered
    qtbot.waitUntil(lambda: got[-1:] == [499], timeout=2000)
    assert len(got) == 500  # frames were delivered one by one ...
    assert len(emitted) < 10  # ... without a signal per frame
    if sys.version_info < (3, 12):
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
    assert clip.name in window.source_label.text() + "\n" + window.source_label.toolTip()


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
    assert window.background_panel.blur_value.text() == "25"  # the strength, not the slider's position (70)
    window.background_panel.blur_slider.setValue(85)  # the slider is perceptual: 85 % is strength 50
    assert backgrounds.calls[-1][0].mode == "blur" and backgrounds.calls[-1][0].blur_strength == 50
    assert window.background_panel.blur_value.text() == "50"


def test_background_picture_from_a_file(open_window, clip, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    picture = tmp_path / "red.png"
    cv2.imwrite(str(picture), np.full((60, 80, 3), (0, 0, 255), np.uint8))
    window = open_window(source_args(clip))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(picture), ""))
    window.background_panel.add_tile.click()  # "Add your own…": the file dialog, then a tile of its own
    assert (window.settings.background.mode, window.settings.background.path) == ("image", str(picture))
    tile = window.background_panel.picture_tiles[str(picture)]
    assert tile.isVisibleTo(window) and tile.isChecked()
    red = np.array([0, 0, 255])
    wait_frame(window, qtbot, lambda r: np.abs(r.composite[2, 2].astype(int) - red).max() < 40)
    window.background_panel.mode_buttons["blur"].click()
    window.background_mode_actions["picture"].trigger()  # Background > Picture (key 2): back to the last picture
    assert window.settings.background.path == str(picture) and tile.isChecked()


def test_a_file_dropped_on_the_picture_plays_and_on_the_background_panel_becomes_the_background(
        open_window, clip, square_clip, qtbot, tmp_path, people_dir):
    from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    window = open_window(source_args(clip))

    def drop(paths, widget) -> bool:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
        at = widget.mapTo(window, QPoint(widget.width() // 2, widget.height() // 2))
        enter = QDragEnterEvent(at, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(window, enter)
        if not enter.isAccepted():
            return False
        event = QDropEvent(QPointF(at), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(window, event)
        return event.isAccepted()

    notes = tmp_path / "notes.txt"
    notes.write_text("not a video")
    assert not drop([notes], window.preview) and window.settings.source.spec == str(clip)  # refused
    assert drop([notes, square_clip], window.preview)  # the first video among the files
    assert window.settings.source.spec == str(square_clip)
    wait_frame(window, qtbot, lambda r: r.original.shape[:2] == (128, 128))
    photo = people_dir / "images" / "ccp_0050.jpg"
    assert drop([photo], window.background_panel)
    assert (window.settings.background.mode, window.settings.background.path) == ("image", str(photo))
    assert window.settings.source.spec == str(square_clip)  # the source stays
    assert drop([photo], window.preview)  # a photo on the picture: it plays, like a camera pointed at it
    wait_frame(window, qtbot, lambda r: r.original.shape[:2] == cv2.imread(str(photo)).shape[:2])
    broken = tmp_path / "holiday.jpg"
    broken.write_bytes(b"\xff\xd8 half a download")
    window.statusBar().clearMessage()
    assert not drop([broken], window.background_panel)  # refused: its box says why, the status bar not "Background: …"
    assert window.settings.background.path == str(photo)
    assert "holiday.jpg" not in window.statusBar().currentMessage()


def test_a_background_file_that_cannot_be_shown_gets_no_tile_and_changes_nothing(open_window, clip, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    broken = tmp_path / "holiday.jpg"
    broken.write_bytes(b"\xff\xd8 half a download")
    window = open_window(source_args(clip))
    before = window.settings.background
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(broken), ""))
    window.background_panel.add_tile.click()
    assert window.settings.background == before and str(broken) not in window.background_panel.picture_tiles
    assert window.background_panel.mode_buttons[before.mode].isChecked()
    boxes = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert any("holiday.jpg" in b.text() and "stays as it was" in b.text() for b in boxes)
    wait_frame(window, qtbot)  # the picture keeps moving


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


def test_a_source_that_fails_to_open_leaves_no_stale_picture(open_window, clip, qtbot, tmp_path):
    """Switching to a damaged file: the old clip's last frame, its frame rate and its name in the title
    would say it still plays; the window says what failed instead."""
    window = open_window(source_args(clip))
    qtbot.waitUntil(lambda: window.stats_label.text() != "— fps", timeout=FIRST_FRAME_MS)
    damaged = tmp_path / "holiday.mp4"
    damaged.write_bytes(b"\x00\x00\x00\x18ftypmp42 half a download")
    window.source_panel.choose_file(damaged)
    qtbot.waitUntil(lambda: window.preview.current_image() is None, timeout=FIRST_FRAME_MS)
    assert window.stats_label.text() == "— fps"
    assert "holiday.mp4" in window.windowTitle() and clip.name not in window.windowTitle()
    assert "holiday.mp4" in window.source_label.text()
    # said as a sentence there (the error is written lower-case to continue the console's "error: ")
    assert window.source_label.text().startswith("Cannot open") and window.error_box.text().startswith("Cannot open")


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


class NoDevice:
    """A pyvirtualcam backend that finds no device, as v4l2loopback does with the module not loaded."""

    def __init__(self, **kwargs):
        raise RuntimeError("No v4l2 loopback device found at /dev/video[0-99]")


def test_virtual_camera_without_a_device_explains_the_setup(open_window, clip, qtbot, monkeypatch):
    import pyvirtualcam

    from personseg_live.gui.vcam_help import VcamHelpDialog, commands_text, setup_steps

    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", {"v4l2loopback": NoDevice})  # whatever this machine has
    window = open_window(source_args(clip))
    window.vcam_action.trigger()
    qtbot.waitUntil(lambda: getattr(window, "vcam_error_box", None) is not None, timeout=FIRST_FRAME_MS)
    box = window.vcam_error_box
    assert isinstance(box, VcamHelpDialog) and box.isVisible()
    steps = setup_steps()  # this OS's, and only those: one command per line
    assert [label.text() for label in box.command_labels] == commands_text(steps).splitlines()
    text = " ".join(label.text() for label in box.findChildren(QLabel))
    others = {"Linux": ("winget", "brew"), "Windows": ("modprobe", "brew"), "Darwin": ("modprobe", "winget")}
    assert not any(word in text for word in others.get(platform.system(), ()))
    assert "No v4l2 loopback device found" in box.detail.text()
    # "Then switch the virtual camera on again (V)": V works in the dialog too, where the user reads that
    box.activateWindow()
    qtbot.waitUntil(box.isActiveWindow, timeout=2000)
    qtbot.keyClick(box, Qt.Key.Key_V)
    assert window.statusBar().currentMessage() == "Virtual camera starting…"
    qtbot.waitUntil(lambda: not window.vcam_action.isChecked(), timeout=FIRST_FRAME_MS)  # no device, again
    box.copy_button.click()
    assert QGuiApplication.clipboard().text() == commands_text(steps)
    assert box.check_button.isVisibleTo(box)
    box.check_button.click()  # the doctor report, beside the steps
    qtbot.waitUntil(lambda: getattr(window, "setup_box", None) is not None, timeout=FIRST_FRAME_MS)
    assert not window.vcam_action.isChecked()
    assert not window.settings.vcam.enabled
    # and the preview keeps running
    before = window.preview.frames_shown
    qtbot.waitUntil(lambda: window.preview.frames_shown > before + 3, timeout=FIRST_FRAME_MS)


def test_virtual_camera_help_for_each_os(qtbot):
    from personseg_live.gui.vcam_help import VcamHelpDialog
    from personseg_live.video.sinks import VCAM_MODPROBE

    for system, wanted, unwanted in (("Linux", VCAM_MODPROBE, "OBS"), ("Windows", "winget install OBSProject.OBSStudio", "modprobe"),
                                     ("Darwin", "brew install --cask obs", "modprobe")):
        box = VcamHelpDialog("backend: nothing there", system=system)
        qtbot.addWidget(box)
        commands = [label.text() for label in box.command_labels]
        assert wanted in commands, system
        assert not any(unwanted in label.text() for label in box.findChildren(QLabel)), system
        assert not box.check_button.isVisibleTo(box)  # no doctor to call: no button


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
    assert not saved.show_original  # before/after is for this session only
    # --source was only for that session: it is not written as the new default; mirror is kept
    assert saved.source.spec is None
    assert saved.source.mirror

    again = open_window(source_args(clip))
    assert again.settings.matte.threshold == pytest.approx(0.7)
    assert again.matte_panel.threshold.value() == pytest.approx(0.7)
    assert again.background_panel.mode_buttons["color"].isChecked()
    assert not again.before_after_action.isChecked()


def test_the_next_launch_starts_on_the_camera_and_the_result(open_window, clip, square_clip, settings_file, qtbot):
    """Before/after, freeze and a video file opened in the window are this session's; a camera is remembered."""
    from personseg_live.video.sources import CameraInfo

    window = open_window(source_args(clip))
    window.source_panel.set_cameras([CameraInfo(7, "Desk camera")])
    combo = window.source_panel.source_combo
    combo.setCurrentIndex(next(i for i in range(combo.count()) if combo.itemData(i) == ("camera", "7")))
    combo.activated.emit(combo.currentIndex())  # the user picks the camera...
    assert window.settings.source.spec == "7"
    window.source_panel.choose_file(square_clip)  # ...then plays a clip, and looks at the original
    window.before_after_action.trigger()
    window.freeze_action.trigger()
    window.close()
    saved, warnings = load_settings(settings_file)
    assert not warnings
    assert saved.source.spec == "7" and not saved.show_original

    again = open_window(argparse.Namespace(source=None, background=None, model=None), wait_first=False)
    assert again.settings.source.spec == "7"
    assert not again.before_after_action.isChecked() and not again.freeze_action.isChecked()


def test_corrupt_settings_open_with_defaults_and_a_warning(open_window, clip, settings_file):
    settings_file.write_text("{ this is not json")
    window = open_window(source_args(clip))
    assert window.statusBar().currentMessage()  # the warning is shown
    assert "setting" in window.statusBar().currentMessage().lower()
    assert window.statusBar().currentMessage().count(str(settings_file)) == 1
    assert not window.source_label.isVisible()  # the message is not drawn over it
    assert window.settings.matte == MatteSettings()


def test_a_broken_settings_file_is_kept_before_the_window_saves_over_it(open_window, clip, settings_file):
    """Nothing lost: the user's file (a stray Latin-1 byte in it) is copied aside before close writes defaults;
    the window says where the copy is."""
    broken = b'{"matte": {"threshold": 0.7}, "background": {"path": "/home/me/caf\xe9.jpg"}}'
    settings_file.write_bytes(broken)
    window = open_window(source_args(clip))
    copy = settings_file.with_name("settings.broken.json")
    assert copy.name in window.statusBar().currentMessage()
    window.close()
    assert copy.read_bytes() == broken
    assert load_settings(settings_file) == (Settings(), [])  # the window's own save reads cleanly again


def test_a_remembered_background_picture_that_went_away_shows_as_the_blur_it_is(open_window, clip, settings_file, tmp_path):
    """The pipeline blurs when the picture is gone: the panel says so too (no blank tile pressed, no error
    box at start), and the missing path is not written back."""
    gone = tmp_path / "holiday.jpg"
    settings_file.write_text(json.dumps({"background": {"mode": "image", "path": str(gone)}}))
    window = open_window(source_args(clip))
    assert window.background_panel.mode_buttons["blur"].isChecked()
    assert str(gone) not in window.background_panel.picture_tiles
    assert "holiday.jpg" in window.statusBar().currentMessage()
    assert window.error_box is None
    window.close()
    saved, _ = load_settings(settings_file)
    assert (saved.background.mode, saved.background.path) == ("blur", None)


def test_no_camera_falls_back_to_the_demo_clip(open_window, settings_file, qtbot, monkeypatch):
    from personseg_live.video import sources

    monkeypatch.setattr(sources, "list_cameras", lambda *args, **kwargs: [])
    window = open_window(argparse.Namespace(source=None, background=None, model=None))
    qtbot.waitUntil(lambda: "demo clip" in window.source_label.text(), timeout=FIRST_FRAME_MS)


def test_close_on_signals_closes_the_window(qtbot, open_window, clip):
    window = open_window(source_args(clip))
    with close_on_signals(window.close) as received:
        os.kill(os.getpid(), signal.SIGTERM)
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=2000)
    assert not window.pipeline.running and received == [signal.SIGTERM]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc to see the app start")
def test_sigterm_exits_cleanly(clip, tmp_path):
    """``personseg-live --source FILE`` as users start it; SIGTERM closes it within 2 s, through the window's own close,
    with exit status 143 (128 + SIGTERM) as a signal before the handlers gives, and as a headless run answers:
    it answered 0 or 143 by the signal's timing."""
    settings = tmp_path / "settings.json"
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "personseg_live.cli", "--source", str(clip), "--settings", str(settings)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # Up when its pipeline has the clip open: the signal handlers went in before the window.
        deadline = time.monotonic() + FIRST_FRAME_MS / 1000
        while not holds_open(proc.pid, clip) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.stdout.read().decode()
        assert holds_open(proc.pid, clip), "the app did not open the clip"
        sent = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        took = time.perf_counter() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    output = proc.stdout.read().decode()
    assert code == 128 + signal.SIGTERM, output
    assert took < 2.0, f"{took:.2f} s"
    assert settings.exists()  # it went through the window's own close (which saves), not a hard kill


def test_a_model_switch_keeps_the_old_model_running_until_the_new_one_is_ready(open_window, clip, qtbot, monkeypatch):
    """Loading a model takes seconds; the picture must keep moving (with the old model) meanwhile."""
    from personseg_live.model.segmenter import Segmenter

    window = open_window(source_args(clip))
    loading, release = threading.Event(), threading.Event()
    real_init = Segmenter.__init__

    def held_init(self, *args, **kwargs):  # a load that lasts until the test has looked
        loading.set()
        release.wait(60)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(Segmenter, "__init__", held_init)
    try:
        combo = window.model_panel.backend_combo
        combo.setCurrentIndex(combo.findData("litert"))
        combo.activated.emit(combo.currentIndex())
        qtbot.waitUntil(loading.is_set, timeout=FIRST_FRAME_MS)
        before = window.preview.frames_shown
        qtbot.waitUntil(lambda: window.preview.frames_shown > before + 10, timeout=FIRST_FRAME_MS)
        qtbot.waitUntil(lambda: "loading" in window.device_label.text())
    finally:
        release.set()
    qtbot.waitUntil(lambda: "loading" not in window.device_label.text(), timeout=FIRST_FRAME_MS)
    assert "litert" in window.device_label.text().lower()
    assert (window.settings.backend, window.model_panel.backend()) == ("litert", "litert")


def _wheel(widget, down: bool = True) -> bool:
    """Turn the mouse wheel over ``widget``; whether the widget took the event (an ignored one goes
    on to the parent, the panel's scroll area, when it comes from a real mouse)."""
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    pos = QPointF(widget.rect().center())
    event = QWheelEvent(
        pos, QPointF(widget.mapToGlobal(pos.toPoint())), QPoint(), QPoint(0, -120 if down else 120),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )
    QApplication.sendEvent(widget, event)  # Qt propagates only spontaneous wheel events: check acceptance
    return event.isAccepted()


def test_the_wheel_scrolls_the_panel_unless_a_control_has_focus(open_window, clip, qtbot):
    window = open_window(source_args(clip))
    threshold, backend = window.matte_panel.threshold, window.model_panel.backend_combo
    window.preview.setFocus()
    for widget in (threshold.focusProxy() or threshold, threshold, backend):
        assert not _wheel(widget), widget  # passed on to the panel
    assert threshold.value() == pytest.approx(0.5) and backend.currentData() == "auto"
    assert window.settings.matte.threshold == pytest.approx(0.5) and window.settings.backend == "auto"
    threshold.setFocus()  # clicked or tabbed into: now the wheel is for the slider
    assert _wheel(window.focusWidget())
    assert window.settings.matte.threshold != pytest.approx(0.5)


def test_sliders_answer_arrow_and_page_keys(open_window, clip, qtbot):
    window = open_window(source_args(clip))
    threshold, feather = window.matte_panel.threshold, window.matte_panel.feather
    threshold.setFocus()
    target = window.focusWidget()
    for key, expected in ((Qt.Key.Key_Right, 0.51), (Qt.Key.Key_PageUp, 0.61), (Qt.Key.Key_Left, 0.60), (Qt.Key.Key_PageDown, 0.50)):
        qtbot.keyClick(target, key)
        assert window.settings.matte.threshold == pytest.approx(expected), key
    feather.setFocus()
    qtbot.keyClick(window.focusWidget(), Qt.Key.Key_Up)
    assert window.settings.matte.feather == 3


def test_mirror_leaves_the_status_current(open_window, clip, qtbot):
    window = open_window(source_args(clip))
    qtbot.waitUntil(lambda: clip.name in window.source_label.text())
    window.mirror_action.trigger()
    window.freeze_action.trigger()
    window.freeze_action.trigger()  # unfreezing rewrites the status and the title from the source's state
    before = window.preview.frames_shown
    qtbot.waitUntil(lambda: window.preview.frames_shown > before + 5, timeout=FIRST_FRAME_MS)
    assert window.settings.source.mirror
    assert clip.name in window.source_label.text() and clip.name in window.windowTitle()
    assert "Opening" not in window.source_label.text() + window.windowTitle()


def test_window_layout_is_remembered(open_window, clip, settings_file, qtbot):
    window = open_window(source_args(clip))
    window.resize(760, 560)  # inside the offscreen platform's 800x600 screen, which restoring clamps to
    window.dock.hide()
    window.advanced.expand()
    window.close()
    assert (settings_file.parent / "window.ini").exists()
    again = open_window(source_args(clip))
    assert (again.width(), again.height()) == (760, 560)
    assert not again.dock.isVisible()
    assert again.advanced.isExpanded() and again.matte_panel.threshold.isVisibleTo(again.advanced)


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
    assert "Using the default model instead" in window.error_box.text()  # what happens next, not only what failed
    qtbot.waitUntil(lambda: window.preview.frames_shown > 0, timeout=FIRST_FRAME_MS)  # the default runs
    assert window.settings.model == "default" and window.model_panel.model() == "default"
    qtbot.waitUntil(lambda: clip.name in window.source_label.text(), timeout=FIRST_FRAME_MS)  # not the model's error


def test_shutdown_without_a_close_stops_the_pipeline(open_window, clip):
    """run_gui calls shutdown() however the event loop ended (the X server may be gone)."""
    window = open_window(source_args(clip))
    window.shutdown()
    assert not window.pipeline.running
    window.shutdown()  # idempotent, and closing afterwards is harmless
    window.close()


def test_the_picture_says_what_it_shows(open_window, clip, square_clip, qtbot, monkeypatch):
    """Badges on the picture for before/after, freeze and the virtual camera; the menu ticks the mode."""
    from PySide6.QtWidgets import QFileDialog

    window = open_window(source_args(clip))
    assert window.preview.badges() == []
    window.before_after_action.trigger()
    window.freeze_action.trigger()  # in the same instant: no new frame comes between
    assert window.preview.badges() == ["ORIGINAL", "FROZEN"]
    assert window.preview.last_frame is window._held.original  # the badge does not lie about a frozen picture
    window.before_after_action.trigger()
    assert window.preview.last_frame is window._held.composite
    frozen = window.preview.last_frame.copy()
    window.mirror_action.trigger()  # M on a frozen picture flips it: what mirror does is seen at once
    assert np.array_equal(window.preview.last_frame, frozen[:, ::-1])
    window.mirror_action.trigger()
    assert np.array_equal(window.preview.last_frame, frozen)
    window.before_after_action.trigger()
    window.freeze_action.trigger()
    assert window.preview.badges() == ["ORIGINAL"]
    rect = window.preview.image_rect()
    badge = window.preview.grab().toImage().pixelColor(rect.left() + 13, rect.top() + 13)
    assert badge.red() > 150 and 70 < badge.green() < 140 and badge.blue() < 60  # the amber ORIGINAL badge, painted
    window.before_after_action.trigger()
    window.freeze_action.trigger()
    window.source_panel.choose_file(square_clip)  # another source: the old one's frozen picture would stand under its name
    assert not window.freeze_action.isChecked() and "FROZEN" not in window.preview.badges()
    qtbot.waitUntil(lambda: window.preview.last_frame is not None and window.preview.last_frame.shape[:2] == (128, 128),
                    timeout=FIRST_FRAME_MS)

    window.vcam_action.trigger()
    assert window.preview.badges() == ["● VIRTUAL CAMERA LIVE"]
    window.vcam_action.trigger()  # off again (or it failed for want of a device: off all the same)
    assert window.preview.badges() == []

    menu = window.background_mode_actions
    assert menu["blur"].isChecked() and not menu["color"].isChecked()
    qtbot.keyClick(window, Qt.Key.Key_3)
    assert menu["color"].isChecked() and not menu["blur"].isChecked()
    monkeypatch.setattr(window.background_panel, "picture_tiles", {})  # no picture to go back to ...
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: ("", ""))  # ... and the dialog cancelled
    menu["picture"].trigger()
    assert menu["color"].isChecked() and not menu["picture"].isChecked() and window.settings.background.mode == "color"


def test_a_frozen_picture_shows_the_background_chosen_while_frozen(open_window, clip, qtbot):
    """Users freeze one moment to try backgrounds on it: the frozen picture kept the old background until Space."""
    from personseg_live.compose.effects import parse_color

    window = open_window(source_args(clip))
    assert window.settings.background.mode == "blur"
    window.freeze_action.trigger()
    held = window._held
    qtbot.keyClick(window, Qt.Key.Key_3)  # a flat colour
    shown = window.preview.last_frame
    assert window.freeze_action.isChecked() and window._held.original is held.original  # the same moment
    room = held.alpha == 0
    assert room.mean() > 0.2
    colour = np.array(parse_color(window.settings.background.color))  # BGR
    assert np.abs(shown[room].astype(int) - colour).max() <= 2  # the room is the colour now, not the blur
    assert not np.array_equal(shown, held.composite)


# ----------------------------------------------------------------------------------- setup advice


def test_help_menu_shows_the_doctor_report(open_window, clip, qtbot):
    window = open_window(source_args(clip))
    # The action first, then its menu: a menu taken inside the generator was already deleted before PySide6 6.11.2.
    help_action = next(a for a in window.menuBar().actions() if a.text() == "&Help")
    help_menu = help_action.menu()
    next(a for a in help_menu.actions() if a.text() == "Check my setup…").trigger()
    qtbot.waitUntil(lambda: getattr(window, "setup_box", None) is not None, timeout=FIRST_FRAME_MS)
    shown = QTextDocument()
    shown.setHtml(window.setup_box.informativeText())
    lines = shown.toPlainText().splitlines()
    assert any(line.startswith("ok    display:") and "offscreen" in line for line in lines)  # this Qt, not a probe
    assert any(line.startswith("ok    model: default") for line in lines)
    assert all(line.startswith(("ok    ", "FAIL  ")) for line in lines[:-1])


def test_an_idle_gpu_is_mentioned_in_the_status_bar(open_window, clip, monkeypatch, qtbot):
    from personseg_live.model import backends

    monkeypatch.setitem(sys.modules, "tensorflow", None)  # a lean install ...
    monkeypatch.setattr(backends, "nvidia_gpu_present", lambda root="/": True)  # ... on an NVIDIA machine
    window = open_window(source_args(clip), wait_first=False)
    qtbot.waitUntil(lambda: f"{backends.GPU_EXTRA} uses the GPU" in window.statusBar().currentMessage(), timeout=2000)


def test_blur_strength_and_edge_scales():
    from personseg_live.gui.background_panel import blur_position, blur_strength
    from personseg_live.gui.widgets import edge_matte, edge_position

    assert [blur_strength(p) for p in (0, 50, 70, 85, 100)] == [1, 10, 25, 50, 100]
    assert all(blur_strength(blur_position(s)) == s for s in (1, 10, 25, 50, 100))
    assert edge_matte(50) == (MatteSettings().softness, MatteSettings().feather)  # the middle is the default
    assert edge_matte(0)[0] < edge_matte(50)[0] < edge_matte(100)[0] and edge_matte(0)[1] <= edge_matte(100)[1]
    assert edge_position(MatteSettings().softness) == 50


def test_simple_controls_first_technical_under_advanced(open_window, clip, qtbot):
    window = open_window(source_args(clip))
    panel = window.background_panel
    # every background at once, as tiles, the one in use pressed, and a tile to add one's own
    assert panel.mode_buttons["blur"].isChecked() and panel.add_tile.isVisibleTo(window)
    assert len(panel.picture_tiles) >= 1 and all(t.isVisibleTo(window) for t in panel.picture_tiles.values())
    for technical in (window.matte_panel.threshold, window.matte_panel.feather, window.model_panel.backend_combo,
                      window.source_panel.resolution_combo):
        assert not technical.isVisibleTo(window)
    assert window.matte_panel.edge.isVisibleTo(window) and window.reset_button.isVisibleTo(window)
    window.advanced.expand(animate=False)
    assert window.matte_panel.threshold.isVisibleTo(window)
    sliders = (window.matte_panel.threshold, window.matte_panel.softness, window.matte_panel.smoothing,
               window.matte_panel.feather)
    # the four sliders end in one column (Feather's narrower number box let its slider run past the others)
    qtbot.waitUntil(lambda: len({s._slider.mapTo(window, s._slider.rect().topRight()).x() for s in sliders}) == 1)

    window.matte_panel.edge.setValue(100)  # the one edge control moves softness and feather together
    assert (window.settings.matte.softness, window.settings.matte.feather) == (0.4, 10)
    assert window.matte_panel.softness.value() == pytest.approx(0.4)
    window.matte_panel.threshold.setValue(0.7)
    panel.mode_buttons["color"].click()
    panel.blur_slider.setValue(100)
    mattes, backgrounds = Spy(window.pipeline, "set_matte"), Spy(window.pipeline, "set_background")
    window.reset_button.click()
    assert window.settings.matte == MatteSettings() and window.settings.background == Settings().background
    assert mattes.calls[-1][0] == MatteSettings() and backgrounds.calls[-1][0] == Settings().background
    assert window.matte_panel.threshold.value() == pytest.approx(0.5) and window.matte_panel.edge.value() == 50
    assert panel.mode_buttons["blur"].isChecked() and window.background_mode_actions["blur"].isChecked()
    assert window.settings.source.spec == str(clip)  # the source is not a setting to reset


def test_small_things(open_window, clip, qtbot, monkeypatch):
    """Camera controls off with no camera; Esc in the shortcut table; the running model named once."""
    from personseg_live.video import sources

    monkeypatch.setattr(sources, "list_cameras", lambda *args, **kwargs: [])
    window = open_window(argparse.Namespace(source=None, background=None, model=None))
    qtbot.waitUntil(lambda: "demo clip" in window.source_label.text(), timeout=FIRST_FRAME_MS)
    assert not window.source_panel.resolution_combo.isEnabled() and not window.source_panel.mjpg_check.isEnabled()
    keys = dict(window.shortcut_rows())
    assert keys.get("Esc") == "Leave full screen"
    qtbot.waitUntil(lambda: "·" in window.device_label.text(), timeout=FIRST_FRAME_MS)
    shown = [w.text() for w in window.findChildren(QLabel) if w.text() == window.device_label.text()]
    assert len(shown) == 1


def test_transparent_never_sends_the_room_to_the_virtual_camera(open_window, qtbot, tmp_path, people_dir, monkeypatch):
    """The preview shows a checkerboard; the virtual camera, which has no alpha, gets a blurred room."""
    import pyvirtualcam
    from test_pipeline import RecordingCamera  # the in-memory pyvirtualcam backend the pipeline tests use

    photo = cv2.resize(cv2.imread(str(sorted((people_dir / "images").iterdir())[0])), (320, 240))
    still = tmp_path / "still.mp4"  # a person before a textured room, not moving: every frame is that photo
    out = cv2.VideoWriter(str(still), cv2.VideoWriter_fourcc(*"mp4v"), 30, (320, 240))
    for _ in range(30):
        out.write(photo)
    out.release()
    monkeypatch.setattr(RecordingCamera, "frames", [])
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", {"recording": RecordingCamera})

    window = open_window(source_args(still, background="transparent"))
    window.vcam_action.trigger()
    qtbot.waitUntil(lambda: len(RecordingCamera.frames) >= 5, timeout=FIRST_FRAME_MS)
    result, shown = wait_frame(window, qtbot)
    assert shown.shape[2] == 4  # the preview: transparent
    room = result.alpha < 0.05
    assert room.mean() > 0.2
    change = np.abs(RecordingCamera.frames[-1].astype(int) - result.original.astype(int)).mean(axis=2)
    assert change[room].mean() > 4 * max(1.0, change[result.alpha > 0.95].mean())  # the room changed, the person not
    qtbot.waitUntil(lambda: "transparency" in window.statusBar().currentMessage(), timeout=FIRST_FRAME_MS)
    assert window.preview.badges() == ["● VIRTUAL CAMERA LIVE · BLURRED"]
    window.background_panel.mode_buttons["color"].click()  # what the notice said no longer holds: it goes
    assert "transparency" not in window.statusBar().currentMessage()


def test_a_thread_that_will_not_stop_is_reported_on_close(open_window, qtbot, monkeypatch):
    """The shutdown contract: Pipeline.stop() names a thread that outlived its timeout; the window says so."""
    from PySide6.QtWidgets import QMessageBox

    import personseg_live.pipeline as pipeline_module

    release, opened = threading.Event(), threading.Event()

    class StuckCamera:  # a driver that stops answering: read() blocks
        fps, size, name = 30.0, (160, 96), "stuck camera"

        def read(self):
            opened.set()
            release.wait(30)
            return None

        def close(self):
            pass

    told = []
    monkeypatch.setattr(pipeline_module, "open_source", lambda settings: StuckCamera())
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: told.append(text))
    window = open_window(source_args("0"), wait_first=False)
    qtbot.waitUntil(opened.is_set, timeout=FIRST_FRAME_MS)
    try:
        window.close()
    finally:
        release.set()
    assert len(told) == 1 and "personseg-capture" in told[0]


def test_a_camera_that_goes_away_is_not_named_in_the_title_as_if_it_played(open_window, qtbot, monkeypatch):
    import personseg_live.pipeline as pipeline_module
    from personseg_live.video.sources import SourceError

    opened, unplug = [], threading.Event()

    class UnpluggedCamera:  # frames until the test unplugs it
        fps, size, name = 30.0, (160, 96), "Desk camera"

        def __init__(self):
            self.left = 2

        def read(self):
            if self.left == 0:
                unplug.wait(20)
                raise SourceError("camera 0 stopped delivering frames")
            self.left -= 1
            return np.zeros((96, 160, 3), np.uint8), time.monotonic()

        def close(self):
            pass

    def open_source(settings):
        if opened:
            raise SourceError("camera 0 is not connected")
        opened.append(1)
        return UnpluggedCamera()

    monkeypatch.setattr(pipeline_module, "open_source", open_source)
    window = open_window(argparse.Namespace(source="0", background=None, model=None))
    # Once the camera list is in (it redraws the source line): the title says where the picture comes from.
    qtbot.waitUntil(lambda: window._cameras is not None and "Desk camera" in window.windowTitle(), timeout=FIRST_FRAME_MS)
    unplug.set()
    qtbot.waitUntil(lambda: "not connected" in window.source_label.text() or "stopped" in window.source_label.text(),
                    timeout=FIRST_FRAME_MS)
    assert "Desk camera" not in window.windowTitle()


def test_a_room_learned_on_a_video_file_is_said_to_be_this_videos_and_can_be_forgotten(open_window, clip, qtbot):
    from personseg_live.room.live import PlateCapture

    window = open_window(source_args(clip))
    window.room.capture = PlateCapture(countdown_s=0, frames=2)
    qtbot.waitUntil(lambda: "Room learned" in window.statusBar().currentMessage(), timeout=FIRST_FRAME_MS)
    assert "this video only" in window.statusBar().currentMessage()  # not kept: a file is not a fixed camera
    window.room.forget()
    assert window.statusBar().currentMessage() == "Room forgotten"  # it had one: not "No learned room"
    assert window.room.cue is None or window.room.cue.given is None


def test_help_open_log_opens_the_file_the_app_writes(open_window, clip, qtbot, tmp_path):
    """Help > Open log hands the active log file to the desktop (Qt's URL handler for file://)."""
    from PySide6.QtCore import QObject, Slot
    from PySide6.QtGui import QDesktopServices

    from personseg_live.log import setup_logging

    class Opener(QObject):
        def __init__(self):
            super().__init__()
            self.urls = []

        @Slot("QUrl")
        def open(self, url):
            self.urls.append(url.toLocalFile())

    window = open_window(source_args(clip))
    opener = Opener()
    QDesktopServices.setUrlHandler("file", opener, "open")
    try:
        setup_logging(0)  # terminal only: nothing to open, the user is told so
        window.open_log()
        assert opener.urls == [] and "No log file" in window.findChildren(QMessageBox)[-1].text()
        log = tmp_path / "personseg-live.log"
        logger = setup_logging(0, log_file=log)
        logger.warning("something to report")
        window.open_log()
        assert opener.urls == [str(log)] and "something to report" in log.read_text()
    finally:
        QDesktopServices.unsetUrlHandler("file")
        setup_logging(0)
