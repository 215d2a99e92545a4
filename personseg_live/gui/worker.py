"""Bridges the pipeline's worker threads to the GUI thread through Qt's event queue.

The pipeline calls ``on_frame``/``on_event`` from its own threads. Nothing here touches a widget:
frames are parked in a one-slot mailbox and the GUI thread is woken by a posted event, so when the
GUI falls behind, older frames are replaced rather than queued (latest frame wins, as in the
pipeline itself) and the event loop never builds a backlog of 2.7 MB frames.

Why posted events and not a queued ``Signal(object)``: PySide6 6.12.0's ``SignalInstance.emit()``
returns ``True`` without taking a reference to it, so every emit from Python lowers the refcount
of ``True``; on Python 3.11 (where ``True`` is not immortal) 30 fps x 2 emits crash the process
with "bool_dealloc" after about half a minute. pyproject.toml excludes 6.12; the posted event
(the same queued hand-over to the receiver's thread) also keeps the 30 fps path off ``emit``.
"""

from __future__ import annotations

import sys
import threading
from typing import Callable

from PySide6.QtCore import QCoreApplication, QEvent, QObject
from superqt.utils import create_worker

_WAKE = QEvent.Type(QEvent.registerEventType())


class PipelineBridge(QObject):
    """Pass ``bridge.on_frame``/``bridge.on_event`` to ``Pipeline``.

    ``frame_listeners``/``event_listeners`` (plain callables) are called in the thread that owns
    the bridge (the GUI thread), with the newest FrameResult and each PipelineEvent respectively.
    """

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending_frame = None
        self._pending_events: list = []
        self._wake_posted = False
        self.frame_listeners: list[Callable] = []
        self.event_listeners: list[Callable] = []
        self.dropped = 0  # frames replaced before the GUI took them; a health figure for tests and logs
        self.delivered = 0

    # Called from the pipeline's threads -----------------------------------------------------------

    def on_frame(self, result) -> None:
        with self._lock:
            if self._pending_frame is not None:
                self.dropped += 1
            self._pending_frame = result
            self._post_wake_locked()

    def on_event(self, event) -> None:
        with self._lock:
            self._pending_events.append(event)  # events are rare and each one matters: all are kept
            self._post_wake_locked()

    def _post_wake_locked(self) -> None:
        if not self._wake_posted:  # one wake-up in flight is enough; it takes whatever is newest
            self._wake_posted = True
            QCoreApplication.postEvent(self, QEvent(_WAKE))

    # GUI thread -----------------------------------------------------------------------------------

    def event(self, e: QEvent) -> bool:  # noqa: D401 (Qt override)
        if e.type() != _WAKE:
            return super().event(e)
        with self._lock:
            result, self._pending_frame = self._pending_frame, None
            events, self._pending_events = self._pending_events, []
            self._wake_posted = False
        for ev in events:  # events first: "source_opened" belongs before that source's first frame
            for listener in list(self.event_listeners):
                _call(listener, ev)
        if result is not None:
            self.delivered += 1
            for listener in list(self.frame_listeners):
                _call(listener, result)
        return True


def _call(listener: Callable, arg) -> None:
    # One failing listener must neither starve the others nor escape into Qt's event dispatch.
    try:
        listener(arg)
    except Exception:
        sys.excepthook(*sys.exc_info())


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
