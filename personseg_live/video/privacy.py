"""What the virtual camera may show: never the unprocessed room, unless the user chose background None.

    feed = PrivateFeed(sink, notify=print)
    feed.show(frame, alpha, composite, background)   # a processed frame, under the user's background
    feed.hold(frame)                                 # nothing processed: model loading, error, source lost

Every frame bound for the virtual camera goes through ``PrivateFeed``; the pipeline never calls the
sink itself. Two rules live here and nowhere else:

- The virtual camera carries no alpha: a transparent composite (BGRA) reaches it as the raw room, and
  so does a composite that is the frame itself when the user did not choose None (a compositor that
  fell back after an error). Both are replaced by a fallback background (blur by default), and
  ``notify`` says so once each time the fallback starts.
- With no processed frame (the model still loading, a processing error, a camera reconnecting), the
  camera gets a privacy frame: the last frame it was sent, held; before any, a heavy blur of the
  current picture. Never the picture itself.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Protocol

import cv2
import numpy as np

from ..compose import Compositor
from ..settings import BackgroundSettings

#: The privacy blur works on a copy this many times smaller than the frame (a 720p frame becomes
#: 40x22 px): faces and the room are unrecognisable, the overall colours stay.
PRIVACY_DOWNSCALE = 32
FALLBACK_NOTICE = "the virtual camera cannot carry transparency; it shows a {mode} background instead"


class FrameSink(Protocol):
    def send(self, frame_bgr: np.ndarray) -> None: ...

    def close(self) -> None: ...


def privacy_blur(frame: np.ndarray) -> np.ndarray:
    """A blur heavy enough that nothing in the room can be recognised (BGR out, even for BGRA in)."""
    h, w = frame.shape[:2]
    small = cv2.resize(frame[..., :3], (max(1, w // PRIVACY_DOWNSCALE), max(1, h // PRIVACY_DOWNSCALE)),
                       interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.5)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def shows_raw_room(frame: np.ndarray, composite: np.ndarray, chosen: BackgroundSettings) -> bool:
    """Whether ``composite`` would put the unprocessed room on a camera that drops alpha."""
    if chosen.mode == "none":
        return False  # the user asked for the room as it is
    has_alpha = composite.ndim == 3 and composite.shape[2] == 4
    return has_alpha or composite is frame


class PrivateFeed:
    """The one way frames reach a virtual camera (owned by one thread)."""

    def __init__(self, sink: FrameSink, *, notify: Callable[[str], None] = lambda message: None,
                 fallback: str = "blur"):
        """``fallback``: the background mode shown instead of the raw room ("blur", "color"), with the
        user's own blur strength and colour."""
        self._sink = sink
        self._notify = notify
        self._fallback_mode = fallback
        self._fallback: Compositor | None = None
        self._last: np.ndarray | None = None  # the last processed frame sent
        self._falling_back = False
        self.held = 0  # privacy frames sent (a health figure for tests and the status line)

    def show(self, frame: np.ndarray, alpha: np.ndarray, composite: np.ndarray, chosen: BackgroundSettings) -> None:
        """Send a processed frame; ``chosen`` is the background the user picked."""
        unsafe = shows_raw_room(frame, composite, chosen)
        if unsafe:
            composite = self._fallback_compositor(chosen)(frame[..., :3], alpha)
        if unsafe and not self._falling_back:
            self._notify(FALLBACK_NOTICE.format(mode=self._fallback_compositor(chosen).settings.mode))
        self._falling_back = unsafe
        self._last = composite
        self._sink.send(composite)

    def hold(self, frame: np.ndarray | None = None) -> None:
        """Send a privacy frame: the last processed frame again, else a heavy blur of ``frame``
        (nothing when there is neither: a camera that has never had a frame keeps waiting)."""
        image = self._last if self._last is not None else privacy_blur(frame) if frame is not None else None
        if image is None:
            return
        self._sink.send(image)
        self.held += 1

    def close(self) -> None:
        try:
            self._sink.close()
        finally:
            if self._fallback is not None:
                self._fallback.close()

    def _fallback_compositor(self, chosen: BackgroundSettings) -> Compositor:
        wanted = replace(chosen, mode=self._fallback_mode, path=None)
        if self._fallback is None:
            self._fallback = Compositor(wanted)
        elif self._fallback.settings != wanted:
            self._fallback.update(wanted)
        return self._fallback


__all__ = ["FALLBACK_NOTICE", "PrivateFeed", "privacy_blur", "shows_raw_room"]
