"""``personseg-live`` with no subcommand: load the settings, apply the command line, run the window.

    run_gui(args)                       # args: argparse.Namespace with source, background, model
    run_gui(args, settings_path=tmp)    # tests and portable installs: another settings file
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

from PySide6.QtCore import QSocketNotifier
from PySide6.QtWidgets import QApplication


def run_gui(args: argparse.Namespace | None = None, *, settings_path: str | Path | None = None, segmenter=None) -> int:
    """Open the main window and run until it closes (or SIGINT/SIGTERM arrives); the exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("personseg-live")
    app.setDesktopFileName("personseg-live")
    windows = []
    # Handlers go in first, so a SIGTERM during start-up also ends in a clean close (the wake-up
    # waits in the socket until the event loop runs, by which time the window exists).
    with close_on_signals(lambda: windows[0].close() if windows else app.quit()) as received:
        windows.append(create_window(args, settings_path=settings_path, segmenter=segmenter))
        try:
            windows[0].show()
            code = app.exec()
        finally:
            windows[0].shutdown()  # a no-op after a normal close; vital when the loop ended otherwise
    # Closed by a signal: 128 + its number, as a headless run and `process` answer, and as the signal's default
    # action answered when it came before these handlers (during the imports): one answer whatever the timing.
    return 128 + received[0] if received else code


def create_window(args: argparse.Namespace | None = None, *, settings_path: str | Path | None = None, segmenter=None):
    """The main window for ``args``, its pipeline started: settings loaded (a bad file gives defaults
    and a warning in the status bar), then the command line applied on top."""
    from ..settings import keep_copy, load_settings, settings_path as default_settings_path
    from .main_window import MainWindow

    args = args if args is not None else argparse.Namespace()
    settings_path = settings_path or getattr(args, "settings", None)
    settings_path = Path(settings_path) if settings_path else None
    loaded, warnings = load_settings(settings_path)
    if warnings:
        # The window saves its settings over this file: keep what the user had first.
        where = settings_path or default_settings_path()
        copy = keep_copy(where)
        if copy is not None:
            warnings.append(f"{where}: kept as it was in {copy.name}")  # beside it
    settings, overrides, arg_warnings = apply_args(loaded, args)
    settings, gone = shown_background(settings)
    return MainWindow(
        settings,
        settings_path=settings_path,
        warnings=[*warnings, *arg_warnings, *gone],
        saved=loaded,
        session_overrides=overrides,
        segmenter=segmenter,
    )


def shown_background(settings):
    """(settings, warnings): a background picture or video that went away since it was chosen becomes a blur,
    what the pipeline would show anyway, so that the panel shows that and the file is not saved again."""
    from ..compose.effects import BackgroundError, check_media

    bg = settings.background
    if bg.mode not in ("image", "video") or not bg.path:
        return settings, []
    try:
        check_media(bg.path)
    except BackgroundError as exc:
        return replace(settings, background=replace(bg, mode="blur", path=None)), [f"{exc}; using a blur instead"]
    return settings, []


def apply_args(settings, args: argparse.Namespace):
    """(settings with the command-line choices, the sections they touched, warnings for bad values).

    The same options as the headless path (``cli.py``), parsed by the same ``parse_background``.
    """
    from ..offline import parse_background

    overrides: list[str] = []
    warnings: list[str] = []
    source = getattr(args, "source", None)
    if source is not None:
        settings = replace(settings, source=replace(settings.source, spec=str(source)))
        overrides.append("source")
    background = getattr(args, "background", None)
    if background is not None:
        try:
            parsed = parse_background(background)
        except ValueError as exc:
            warnings.append(str(exc))
        else:
            # Only what the option names: the user's blur strength and colour stay as they were.
            keep = {"blur_strength": settings.background.blur_strength}
            if parsed.mode != "color":
                keep["color"] = settings.background.color
            settings = replace(settings, background=replace(parsed, **keep))
            overrides.append("background")
    model = getattr(args, "model", None)
    backend = getattr(args, "backend", None)
    if model is not None or backend is not None:
        settings = replace(settings, model=model or settings.model, backend=backend or settings.backend)
        overrides.append("model")
    if getattr(args, "vcam", False):
        settings = replace(settings, vcam=replace(settings.vcam, enabled=True))
        overrides.append("vcam")
    return settings, overrides, warnings


@contextmanager
def close_on_signals(on_signal: Callable[[], None], signals=(signal.SIGINT, signal.SIGTERM)) -> Iterator[list[int]]:
    """Call ``on_signal`` (e.g. ``window.close``: a clean shutdown) on SIGINT/SIGTERM while Qt's event loop runs.
    Yields the list of the signals that arrived (for the exit status).

    Python runs signal handlers only when the interpreter gets control, which it never does while
    Qt waits for events. ``signal.set_wakeup_fd`` makes the C-level handler write the signal number
    to a socket; a QSocketNotifier on the other end wakes the event loop at once (no polling timer).
    Outside the main thread (where signals cannot be handled) this does nothing.
    """
    arrived: list[int] = []
    try:
        reader, writer = socket.socketpair()
    except OSError:
        yield arrived
        return
    reader.setblocking(False)
    writer.setblocking(False)
    wanted = {int(s) for s in signals}
    try:
        previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main thread
        reader.close()
        writer.close()
        yield arrived
        return
    # The Python-level handler only has to exist (so the signal no longer kills or raises); the
    # notifier does the work.
    previous = {s: signal.signal(s, lambda *_: None) for s in signals}

    def on_wake() -> None:
        try:
            received = reader.recv(64)
        except (BlockingIOError, InterruptedError):
            return
        caught = [s for s in received if s in wanted]
        if caught:
            arrived.extend(caught)
            on_signal()

    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read)
    notifier.activated.connect(on_wake)
    try:
        yield arrived
    finally:
        notifier.setEnabled(False)
        for s, handler in previous.items():
            signal.signal(s, handler)
        signal.set_wakeup_fd(previous_fd)
        reader.close()
        writer.close()
