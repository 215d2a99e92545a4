"""Screenshot of the real window, and the live-preview health figures users feel.

    xvfb-run -a .venv/bin/python tools/screenshot.py                   # demo clip -> docs/screenshot.png
    xvfb-run -a .venv/bin/python tools/screenshot.py --source clip.mp4 --seconds 10 --out /tmp/shot.png
    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/screenshot.py --extras /tmp/shots   # + panel, badges, vcam help

Runs the real window and pipeline on whatever Qt platform is set (Xvfb's X server, or
QT_QPA_PLATFORM=offscreen), with a throw-away settings file so a user's own settings are neither
read nor changed. Prints the time from start to the first composited frame on screen, the longest
event-loop stall (a 10 ms QTimer records the biggest gap between its ticks: anything over ~100 ms
is a visible hitch), the frames drawn and the frames the GUI skipped.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

STARTED = time.perf_counter()

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", help="video file or camera index (default: the bundled demo clip)")
    parser.add_argument("--background", default=None, help="as for personseg-live --background (default: blur)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--seconds", type=float, default=4.0, help="run this long after the first frame")
    parser.add_argument("--size", default="1280x760", help="window size WxH")
    parser.add_argument(
        "--extras", type=Path, metavar="DIR",
        help="also save DIR/panel.png (Advanced open), DIR/badges.png (before/after, frozen, virtual camera live "
        "on an in-memory camera) and DIR/vcam_help.png",
    )
    parser.add_argument(
        "--baseline", action="store_true",
        help="first time an idle event loop as long: the stall a busy machine causes on its own",
    )
    args = parser.parse_args(argv)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from personseg_live import assets
    from personseg_live.gui.app import create_window

    app = QApplication.instance() or QApplication(sys.argv[:1])
    origin = STARTED
    if args.baseline:
        print(f"idle event loop, no window: max stall {idle_stall_ms(args.seconds):.0f} ms")
        origin += args.seconds  # time the start-up from here, not through the baseline
    source = args.source or str(assets.demo_clip())
    with tempfile.TemporaryDirectory() as tmp:
        cli = argparse.Namespace(source=source, background=args.background, model=None)
        window = create_window(cli, settings_path=Path(tmp) / "settings.json")
        w, h = (int(v) for v in args.size.split("x"))
        window.resize(w, h)
        window.show()

        # GUI-thread cost per frame: taking the frame (scale + convert) and painting it.
        take_ms = time_calls(window.bridge.frame_listeners, 0)
        paint_ms = time_method(type(window.preview), "paintEvent")

        stall = StallMeter()
        first: list[float] = []
        closing: list[float] = []

        def on_first_frame() -> None:
            first.append(time.perf_counter() - origin)
            stall.reset()  # count stalls while frames flow, not the start-up
            QTimer.singleShot(int(args.seconds * 1000), finish)

        def finish() -> None:
            stall.stop()  # the grab and the PNG encoding below are not live preview work
            args.out.parent.mkdir(parents=True, exist_ok=True)
            window.grab().save(str(args.out))
            if args.extras:
                save_extras(window, args.extras, done=close)
            else:
                close()

        def close() -> None:
            closing.append(time.perf_counter())
            window.close()

        def give_up() -> None:
            if not first:
                print("no frame within 30 s", file=sys.stderr)
                window.close()

        window.first_frame.connect(on_first_frame)
        QTimer.singleShot(30_000, give_up)
        code = app.exec()
        if not first:
            return 1
        print(f"first composited frame on screen: {first[0]:.2f} s after start")
        print(f"max event-loop stall while running: {stall.max_gap_ms:.0f} ms (timer at 10 ms)")
        print(f"frames drawn: {window.preview.frames_shown}, skipped by the GUI: {window.bridge.dropped}")
        print(f"GUI thread per frame: take {summary(take_ms)}; paint {summary(paint_ms)}")
        print(f"window: {window.width()}x{window.height()}, saved {args.out}")
        print(f"exit code {code}, closing took {time.perf_counter() - closing[0]:.2f} s")
        return code


def save_extras(window, folder: Path, done) -> None:
    """The states the docs show beside the default window, one after another (the pipeline needs
    a moment between them to draw the next frames), then ``done()``."""
    from PySide6.QtCore import QTimer

    from personseg_live.gui.vcam_help import VcamHelpDialog

    folder.mkdir(parents=True, exist_ok=True)
    use_memory_camera()

    def badges() -> None:
        window.advanced.collapse(animate=False)
        window.before_after_action.trigger()
        window.freeze_action.trigger()
        window.vcam_action.trigger()
        QTimer.singleShot(1500, lambda: (window.grab().save(str(folder / "badges.png")), panel()))

    def panel() -> None:
        for action in (window.before_after_action, window.freeze_action, window.vcam_action):
            action.trigger()
        window.advanced.expand(animate=False)
        QTimer.singleShot(300, lambda: (window.dock.widget().widget().grab().save(str(folder / "panel.png")), vcam_help()))

    def vcam_help() -> None:
        window.advanced.collapse(animate=False)
        dialog = VcamHelpDialog("'v4l2loopback' backend: No v4l2 loopback device found at /dev/video[0-99]",
                                check_setup=window.show_setup_check, parent=window)
        dialog.show()
        QTimer.singleShot(300, lambda: (dialog.grab().save(str(folder / "vcam_help.png")), dialog.close(), done()))

    badges()


def use_memory_camera() -> None:
    """A pyvirtualcam backend that drops its frames: the virtual camera runs on a machine without one."""
    import pyvirtualcam

    class MemoryCamera:
        def __init__(self, **kwargs):
            pass

        def send(self, frame) -> None:
            pass

        def close(self) -> None:
            pass

        def device(self) -> str:
            return "memory"

        def native_fourcc(self):
            return None

    pyvirtualcam.camera.BACKENDS.clear()
    pyvirtualcam.register_backend("memory", MemoryCamera)


def time_calls(listeners: list, index: int) -> list[float]:
    """Wrap ``listeners[index]`` so each call's duration (ms) lands in the returned list."""
    times: list[float] = []
    inner = listeners[index]

    def timed(arg) -> None:
        t = time.perf_counter()
        inner(arg)
        times.append((time.perf_counter() - t) * 1000)

    listeners[index] = timed
    return times


def time_method(cls: type, name: str) -> list[float]:
    """The same for a method of a class (Qt calls overrides through the class)."""
    times: list[float] = []
    inner = getattr(cls, name)

    def timed(self, *args) -> None:
        t = time.perf_counter()
        inner(self, *args)
        times.append((time.perf_counter() - t) * 1000)

    setattr(cls, name, timed)
    return times


def summary(ms: list[float]) -> str:
    if not ms:
        return "n/a"
    ordered = sorted(ms)
    return f"mean {sum(ms) / len(ms):.1f} ms, p95 {ordered[int(0.95 * (len(ms) - 1))]:.1f} ms, max {ordered[-1]:.1f} ms"


def idle_stall_ms(seconds: float) -> float:
    from PySide6.QtCore import QEventLoop, QTimer

    meter = StallMeter()
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    meter.stop()
    return meter.max_gap_ms


class StallMeter:
    """The longest gap between ticks of a 10 ms timer: how long the GUI thread was unavailable."""

    def __init__(self, interval_ms: int = 10):
        from PySide6.QtCore import Qt, QTimer

        self.max_gap_ms = 0.0
        self._last = time.perf_counter()
        self._timer = QTimer(interval=interval_ms)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def reset(self) -> None:
        self.max_gap_ms = 0.0
        self._last = time.perf_counter()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.max_gap_ms = max(self.max_gap_ms, (now - self._last) * 1000)
        self._last = now


if __name__ == "__main__":
    sys.exit(main())
