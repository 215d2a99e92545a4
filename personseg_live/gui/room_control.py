"""The window's room controls (issue 13): "Learn room" (toolbar, hotkey L) with a countdown, "Forget
room", "Learn the room by itself" (the setting), and the status-bar badge saying whether a plate is in use.

    room = RoomControl(window)      # after the window's pipeline exists
    room.on_frame(result)           # each frame the window receives (GUI thread)
    room.source_changed(spec)       # another camera: its own plate

The cue itself runs on the pipeline's inference thread; this only reads its status.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel, QMenu

from ..room import RoomCue, RoomStatus
from ..room.live import PlateCapture, adopt_plate, badge, cue_for_source, forget_room
from ..settings import is_camera_spec

log = logging.getLogger(__name__)
TICK_MS = 250


def _menu(parent, title: str) -> QMenu:
    return QMenu(title, parent)


class RoomControl(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.capture: PlateCapture | None = None
        self.cue: RoomCue | None = None
        self.learn_action = window._action(
            "Learn room", "L", self.learn,
            tip="Step out of the picture for a moment: the empty room is learned for sharper, steadier edges",
        )
        self.forget_action = window._action("Forget room", "Shift+L", self.forget, tip="Remove the learned room for this camera")
        self.auto_action = window._action(
            "Learn the room by itself", "", self._on_auto, checkable=True, checked=window.settings.room.auto_learn,
            tip="Fill in the room from what the model calls background, while you are in the picture",
        )
        bar = window.menuBar()
        help_menu = next((a for a in bar.actions() if a.text() == "&Help"), None)
        menu = bar.addMenu("&Room") if help_menu is None else bar.insertMenu(help_menu, _menu(bar, "&Room")).menu()
        menu.addActions([self.learn_action, self.forget_action, self.auto_action])
        window.toolbar.addSeparator()
        window.toolbar.addAction(self.learn_action)
        self.badge = QLabel()
        self.badge.setContentsMargins(8, 0, 4, 0)
        self.badge.setObjectName("room-badge")
        window.statusBar().addPermanentWidget(self.badge)
        self._timer = QTimer(self, interval=TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        self.source_changed(window.settings.source.spec)

    @property
    def spec(self) -> str | None:
        return self.window.settings.source.spec

    def _use(self, cue: RoomCue | None) -> None:
        self.cue = cue
        self.window.pipeline.set_room(cue)
        self._tick()

    def source_changed(self, spec: str | None) -> None:
        self.capture = None
        self._use(cue_for_source(spec, auto_learn=self.window.settings.room.auto_learn, is_camera=is_camera_spec(spec)))

    def learn(self) -> None:
        self.capture = PlateCapture()
        self._tick()

    def forget(self) -> None:
        kept = is_camera_spec(self.spec) and forget_room(self.spec)
        had = kept or (self.cue is not None and self.cue.given is not None)  # a file's plate is this session's
        self.capture = None
        self._use(cue_for_source(self.spec, auto_learn=self.window.settings.room.auto_learn, is_camera=False))
        self.window.statusBar().showMessage("Room forgotten" if had else "No learned room to forget", 3000)

    def set_auto_learn(self, on: bool) -> None:
        """The setting changed elsewhere (Reset to defaults): the menu's tick and the cue follow."""
        if self.auto_action.isChecked() != on:
            self.auto_action.setChecked(on)
            self._on_auto(on)

    def _on_auto(self, checked: bool) -> None:
        self.window.settings = replace(self.window.settings, room=replace(self.window.settings.room, auto_learn=checked))
        self.window._changed("room")
        if self.cue is not None:
            self.cue.learn = checked  # a plain flag the inference thread reads each frame
        elif checked:
            self._use(RoomCue(None, learn=True))

    def on_frame(self, result) -> None:
        if self.capture is None:
            return
        plate = self.capture.feed(result.original)
        if plate is None:
            return
        self.capture = None
        cue, kept = adopt_plate(plate, self.spec, is_camera=is_camera_spec(self.spec),
                                auto_learn=self.window.settings.room.auto_learn)
        self._use(cue)
        message = "Room learned" + (" and kept for this camera" if kept == "kept" else f" ({kept})" if kept
                                    else " for this video only (a room is kept for a camera, not a file)")
        self.window.statusBar().showMessage(message + " — you can step back in", 5000)

    def _tick(self) -> None:
        if self.capture is not None:
            left = self.capture.seconds_left()
            text = f"Step out of the picture: learning the room in {left:.0f}…" if left > 0 else "Learning the room…"
            self.window.statusBar().showMessage(text, 1000)
        text = badge(self.cue)
        if self.badge.text() != text:
            self.badge.setText(text)
            mismatch = self.cue is not None and self.cue.status is RoomStatus.MISMATCH
            self.badge.setToolTip(
                "The picture no longer matches the learned room (camera moved, lights changed): the model alone "
                "decides until the room is learned again" if mismatch else
                "Know the room: a picture of the empty scene sharpens and steadies the edges (L: learn it)"
            )
