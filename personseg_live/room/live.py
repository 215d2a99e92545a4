"""The room in the live app: the plate kept for the camera in use, and "Learn room" (countdown, capture).

    cue = cue_for_source(settings.source.spec, auto_learn=settings.room.auto_learn)  # None: files, learning off
    capture = PlateCapture()               # "Learn room": ask the user to step out, then take frames
    plate = capture.feed(frame)            # once per live frame; a Plate when done (else None)

No Qt here: the window and ``--headless --learn-room`` drive the same objects.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from .cue import RoomCue, RoomStatus
from .plate import Plate, capture_plate
from .store import camera_key, forget_plate, load_plate, save_plate

#: Seconds the user gets to step out of the picture.
COUNTDOWN_S = 3.0
#: Frames averaged into the plate (at 30 fps half a second: enough for the noise figure).
CAPTURE_FRAMES = 15

#: What the status bar says for each state of the cue.
BADGES = {
    RoomStatus.OFF: "Room: off",
    RoomStatus.LEARNING: "Room: learning",
    RoomStatus.ACTIVE: "Room: known",
    RoomStatus.MISMATCH: "Room: changed — model alone",
}


def room_key(spec: str | None) -> str:
    """The plate's key for a camera source (the frame size is checked when the plate is used)."""
    return camera_key(spec)


def cue_for_source(spec: str | None, *, auto_learn: bool, is_camera: bool, folder=None) -> RoomCue | None:
    """The cue for a live source: a camera's stored plate (if any) plus learning when enabled; a file
    gets learning only (a plate belongs to a fixed camera). None when there is nothing to do."""
    plate = load_plate(room_key(spec), folder) if is_camera else None
    if plate is None and not auto_learn:
        return None
    return RoomCue(plate, learn=auto_learn)


def forget_room(spec: str | None, folder=None) -> bool:
    return forget_plate(room_key(spec), folder)


def keep_plate(plate: Plate, spec: str | None, folder=None):
    return save_plate(plate, room_key(spec), folder)


def adopt_plate(plate: Plate, spec: str | None, *, is_camera: bool, auto_learn: bool, folder=None) -> tuple[RoomCue, str]:
    """A captured plate put to use: kept for a camera source, and the cue that uses it. Also says what
    became of keeping it: "kept", "not kept: <why>" (a full disk must not stop the live picture), or ""
    for a file source (a plate belongs to a fixed camera)."""
    kept = ""
    if is_camera:
        try:
            keep_plate(plate, spec, folder)
            kept = "kept"
        except OSError as exc:
            kept = f"not kept: {exc.strerror or exc}"
    return RoomCue(plate, learn=auto_learn), kept


def badge(cue: RoomCue | None) -> str:
    return BADGES[RoomStatus.OFF] if cue is None else BADGES[cue.status]


class PlateCapture:
    """A countdown of ``countdown_s`` (the user steps out), then ``frames`` frames averaged into a plate."""

    def __init__(self, countdown_s: float = COUNTDOWN_S, frames: int = CAPTURE_FRAMES,
                 clock: Callable[[], float] = time.monotonic):
        self.countdown_s, self.frames, self._clock = countdown_s, frames, clock
        self._start = clock()
        self._taken: list[np.ndarray] = []

    def seconds_left(self) -> float:
        return max(0.0, self.countdown_s - (self._clock() - self._start))

    @property
    def capturing(self) -> bool:
        return self.seconds_left() == 0.0

    def feed(self, frame: np.ndarray) -> Plate | None:
        if not self.capturing:
            return None
        if self._taken and frame.shape != self._taken[0].shape:
            self._taken.clear()  # the camera mode changed mid-capture: start over
        self._taken.append(frame.copy())
        if len(self._taken) < self.frames:
            return None
        return capture_plate(self._taken)


__all__ = ["BADGES", "COUNTDOWN_S", "PlateCapture", "adopt_plate", "badge", "cue_for_source", "forget_room", "keep_plate", "room_key"]
