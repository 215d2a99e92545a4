"""Bridges the pipeline's worker threads to the GUI thread through Qt signals.

The pipeline calls ``on_frame``/``on_event`` from its own threads. Nothing here touches a widget:
frames are parked in a one-slot mailbox and the GUI thread is woken by a queued signal, so when the
GUI falls behind, older frames are replaced rather than queued (latest frame wins, as in the
pipeline itself) and the event loop never builds a backlog of 2.7 MB frames.
"""

from __future__ import annotations

import threading
from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal
from superqt.utils import create_worker


class PipelineBridge(QObject):
    """Pass ``bridge.on_frame``/``bridge.on_event`` to ``Pipeline``; connect to ``frame``/``event``.

    ``frame`` and ``event`` are always emitted in the thread that owns the bridge (the GUI thread).
    """

    frame = Signal(object)  # FrameResult, the newest one
    event = Signal(object)  # PipelineEvent
    _wake = Signal()
    _relay_event = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending = None
        self.dropped = 0  # frames replaced before the GUI took them; a health figure for tests and logs
        self.delivered = 0
        # Explicitly queued: the emitting thread is a plain Python thread, and the slots must run
        # in the GUI thread whatever Qt guesses about thread affinity.
        self._wake.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self._relay_event.connect(self.event, Qt.ConnectionType.QueuedConnection)

    # Called from the pipeline's threads -----------------------------------------------------------

    def on_frame(self, result) -> None:
        with self._lock:
            was_empty = self._pending is None
            if not was_empty:
                self.dropped += 1
            self._pending = result
        if was_empty:  # a wake-up is already queued otherwise; it will take this newer frame
            self._wake.emit()

    def on_event(self, event) -> None:
        self._relay_event.emit(event)

    # GUI thread -----------------------------------------------------------------------------------

    def _deliver(self) -> None:
        with self._lock:
            result, self._pending = self._pending, None
        if result is not None:
            self.delivered += 1
            self.frame.emit(result)


def run_in_background(fn: Callable, *, on_done: Callable, on_error: Callable | None = None) -> object:
    """Run ``fn()`` on Qt's thread pool; ``on_done(result)``/``on_error(exc)`` run in the GUI thread.

    For slow one-off calls (enumerating cameras probes devices) that must not freeze the window.
    Returns the superqt worker; keep it referenced until it finishes.
    """
    worker = create_worker(fn, _start_thread=False)
    worker.returned.connect(on_done)
    if on_error is not None:
        worker.errored.connect(on_error)
    worker.start()
    return worker
