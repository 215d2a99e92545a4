"""The main window: the preview in the middle, the control panels in a dock, stats in the status bar.

The window owns the settings the user edits and the pipeline that runs them. Every control change
becomes one ``pipeline.set_*`` call (the pipeline does the slow part in its own thread) and a
debounced save, so the settings file is written once a drag ends rather than once per pixel.
"""

from __future__ import annotations

import html
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QColor, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QGroupBox,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from superqt import QCollapsible

from ..assets import DEFAULT_MODEL
from ..compose import Compositor
from ..events import EventKind
from ..model.backends import gpu_advice
from ..settings import Settings, VcamSettings, is_camera_spec, remembered, save_settings
from .worker import PipelineBridge, run_in_background
from .background_panel import BACKGROUND_CHOICES, BackgroundPanel
from .drops import media_path
from .widgets import (
    MattePanel,
    ModelPanel,
    PreviewWidget,
    SourcePanel,
    guard_controls,
)

logger = logging.getLogger(__name__)

NO_CAMERA = "No camera found — showing the demo clip"
STOP_TIMEOUT_S = 2.0
STRAGGLERS_TEXT = (
    "personseg-live could not stop {names} within {seconds:g} s (a camera or driver that does not answer?). "
    "The program ends as soon as it does; if it does not, end it from your task manager."
)
SAVE_DELAY_MS = 600  # a slider drag settles well within this; closing saves at once anyway
# On-picture badges: what the preview shows when it is not simply the live result.
BADGE_ORIGINAL = ("ORIGINAL", QColor(190, 110, 0, 220))
BADGE_FROZEN = ("FROZEN", QColor(40, 100, 190, 220))
BADGE_VCAM = ("● VIRTUAL CAMERA LIVE", QColor(200, 30, 30, 220))
STATS_INTERVAL_S = 0.25  # refresh the fps/latency text 4x a second: readable, and no relayout per frame


def sentence(text: str) -> str:
    """A message as the window shows it: a first word in lower case capitalised. The errors are written for the
    console's "personseg-live: error: cannot open ...", where they continue a line; in a box or the status bar they
    start one. A first word that is a name (small.mp4, /media/clip.mov, v4l2loopback0) stays as it is."""
    word = text.split(maxsplit=1)[0] if text.strip() else ""
    return text[:1].upper() + text[1:] if word.isalpha() and word.islower() else text


class MainWindow(QMainWindow):
    """``MainWindow(settings, settings_path=...)``; the pipeline starts at once and stops on close.

    ``session_overrides`` names settings sections ("source", "background", "model", "vcam") that came from
    the command line: they apply now but are not written to the settings file unless the user
    changes them in the window, so ``--source clip.mp4`` does not become the next run's default.
    ``saved`` is the settings as loaded from the file (what to write back for those sections).
    """

    first_frame = Signal()  # the first picture is on screen (start-up timing, screenshots)

    def __init__(
        self,
        settings: Settings,
        *,
        settings_path: Path | None = None,
        warnings: Sequence[str] = (),
        saved: Settings | None = None,
        session_overrides: Sequence[str] = (),
        segmenter=None,
        enumerate_cameras: bool = True,
    ):
        super().__init__()
        self.setWindowTitle("personseg-live")
        self.settings = settings
        self.settings_path = settings_path
        self._saved = saved if saved is not None else settings
        self._overrides = set(session_overrides)
        # The camera to start on next time, whatever file this session plays last.
        self._last_camera = remembered(self._saved).source.spec
        self._cameras: list | None = None  # None until enumerated
        self._source_message = ""
        self._frozen = False
        self._no_source = False  # a source failed to open and none has opened since
        self._vcam_notice = ""  # the virtual camera's notice in the status bar, until it stops holding
        self._held = None  # the FrameResult on screen, so before/after can redraw it (frozen or not)
        self._held_compositor: Compositor | None = None  # puts a frozen picture over a newly chosen background
        self._closed = False
        self._last_stats = 0.0
        self._message_boxes: list[QMessageBox] = []
        self._background_jobs: list = []
        self._got_frame = False
        self.error_box: QMessageBox | None = None
        self.vcam_error_box: QDialog | None = None  # a VcamHelpDialog while one is open
        # What to fall back to when a model fails to load: the one before the last switch, and at
        # start-up the bundled default (a saved choice that no longer loads must not leave the
        # pipeline with no model at all).
        self._fallback_model = (DEFAULT_MODEL, "auto")

        self._build_panels()
        self._build_actions()
        self._build_menus_and_toolbar()
        self._build_status_bar()
        self.resize(1280, 760)
        self._restore_layout()

        self._save_timer = QTimer(self, singleShot=True, interval=SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.save_now)

        self.bridge = PipelineBridge(self)
        self.bridge.frame_listeners.append(self._on_frame)
        self.bridge.event_listeners.append(self._on_event)
        # Imported here so that the widgets can be built and tested without the runtime.
        from ..pipeline import Pipeline

        self.pipeline = Pipeline(settings, on_frame=self.bridge.on_frame, on_event=self.bridge.on_event, segmenter=segmenter)
        from .room_control import RoomControl

        self.room = RoomControl(self)  # issue 13: Learn room (L), Forget room, the status-bar badge
        self.pipeline.start()

        # Said once, at start: settings that fell back to defaults, an NVIDIA GPU left idle for want of TensorFlow.
        notes = self._settings_notes(warnings)
        advice = gpu_advice(settings.backend)
        if advice:
            notes.append(advice[0].upper() + advice[1:])
        # Shown once the window is: a status-bar message set before show() is drawn over the source label.
        self._startup_note = " · ".join(notes)
        if enumerate_cameras:
            self._enumerate_cameras()
        self._update_badges()
        self.preview.setFocus()

    def _settings_notes(self, warnings: Sequence[str]) -> list[str]:
        """One note for the settings file's problems, its path said once, not once per problem."""
        from ..settings import settings_path

        where = str(self.settings_path or settings_path())
        in_file = [w.removeprefix(f"{where}: ") for w in warnings if w.startswith(f"{where}: ")]
        others = [w for w in warnings if not w.startswith(f"{where}: ")]
        notes = [f"Settings file {where}: {'; '.join(in_file)}"] if in_file else []
        return notes + [f"Settings: {w}" for w in others]

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        if self._startup_note:
            note, self._startup_note = self._startup_note, ""
            QTimer.singleShot(0, lambda: self.show_warning(note))

    # Building ----------------------------------------------------------------------------------------

    def _build_panels(self) -> None:
        s = self.settings
        self.preview = PreviewWidget()
        self.preview.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCentralWidget(self.preview)
        self.setAcceptDrops(True)  # a video or photo dropped on the picture plays; on the Background panel, the background

        self.source_panel = SourcePanel(s.source)
        self.background_panel = BackgroundPanel(s.background)
        self.matte_panel = MattePanel(s.matte)
        self.model_panel = ModelPanel(s.model, s.backend)
        self.source_panel.changed.connect(self._on_source_changed)
        self.background_panel.changed.connect(self._on_background_changed)
        self.background_panel.problem.connect(
            lambda message: self._message_box(QMessageBox.Icon.Warning, "personseg-live", f"{message}; the background stays as it was"))
        self.matte_panel.changed.connect(self._on_matte_changed)
        self.model_panel.changed.connect(self._on_model_changed)

        column = self._build_control_column()
        scroll = QScrollArea()
        scroll.setWidget(column)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(column.sizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 4)
        self.dock = QDockWidget("Controls", self)
        self.dock.setObjectName("controls")
        self.dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.dock.setWidget(scroll)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self._control_guard = guard_controls(column)

    def _build_control_column(self) -> QWidget:
        """The simple controls first (source, background, edge, reset); the technical ones under Advanced."""
        column = QWidget()
        layout = QVBoxLayout(column)
        for title, panel in (
            ("Source", self.source_panel),
            ("Background", self.background_panel),
            ("Person edge", self.matte_panel.edge_row),
        ):
            box = QGroupBox(title)
            QVBoxLayout(box).addWidget(panel)
            layout.addWidget(box)
        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setToolTip("Background, edge, model and camera settings back to how they came (the source stays)")
        self.reset_button.clicked.connect(self.reset_to_defaults)
        layout.addWidget(self.reset_button, 0, Qt.AlignmentFlag.AlignRight)

        self.advanced = QCollapsible("Advanced")
        self.advanced.setDuration(0)  # an animation would relayout the whole dock for 200 ms
        self.advanced.setCollapsedIcon("▸")
        self.advanced.setExpandedIcon("▾")
        for title, panel in (
            ("Camera", self.source_panel.camera_controls),
            ("Person edge in detail", self.matte_panel),
            ("Model", self.model_panel),
        ):
            box = QGroupBox(title)
            QVBoxLayout(box).addWidget(panel)
            self.advanced.addWidget(box)
        # Collapsed is only zero height to superqt: hide it too, so Tab does not walk into it.
        self.advanced.content().setVisible(False)
        self.advanced.toggled.connect(self.advanced.content().setVisible)
        layout.addWidget(self.advanced)
        layout.addStretch(1)
        return column

    def _action(self, text: str, shortcut: str | QKeySequence, slot, *, checkable=False, checked=False, tip="") -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        # Window-wide, so the keys work whichever panel has focus (Qt still lets text fields type them).
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(checkable)
        if checkable:
            action.setChecked(checked)
            action.toggled.connect(slot)
        else:
            action.triggered.connect(slot)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(f"{tip} ({QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)})")
        self.addAction(action)  # shortcuts keep working while the menu bar or toolbar is hidden (full screen)
        return action

    def _build_actions(self) -> None:
        s = self.settings
        self.before_after_action = self._action(
            "Before/after", "B", self._on_before_after, checkable=True, checked=s.show_original,
            tip="Show the original camera picture instead of the result",
        )
        self.freeze_action = self._action(
            "Freeze preview", "Space", self._on_freeze, checkable=True, tip="Hold the preview picture (the virtual camera keeps running)"
        )
        self.mirror_action = self._action(
            "Mirror", "M", self._on_mirror_action, checkable=True, checked=s.source.mirror, tip="Flip the picture left to right"
        )
        self.vcam_action = self._action(
            "Virtual camera", "V", self._on_vcam_toggled, checkable=True, checked=s.vcam.enabled,
            tip="Send the result to a virtual camera that Zoom, Meet or Teams can pick",
        )
        self.fullscreen_action = self._action(
            "Full screen", "F11", self._on_fullscreen, checkable=True, tip="Show only the preview, filling the screen"
        )
        self.open_video_action = self._action(
            "Open video file…", QKeySequence.StandardKey.Open, self.source_panel.open_file_dialog, tip="Play a video file instead of the camera"
        )
        self.open_background_action = self._action(
            "Background image or video…", "Ctrl+B", self.background_panel.open_file_dialog, tip="Use any image or video as the background"
        )
        self.quit_action = self._action("Quit", "Ctrl+Q", self.close, tip="Quit personseg-live")
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.controls_action = self.dock.toggleViewAction()
        self.controls_action.setShortcut(QKeySequence("Ctrl+D"))
        self.addAction(self.controls_action)

        self.background_mode_actions: dict[str, QAction] = {}
        modes = QActionGroup(self)  # exclusive: the menu ticks the mode in use
        for i, (choice, label) in enumerate(BACKGROUND_CHOICES):
            action = self._action(
                f"Background: {label}", str(i + 1), lambda _c=False, c=choice: self._choose_background(c),
                tip=f"Background: {label.lower()}",
            )
            action.setCheckable(True)
            modes.addAction(action)
            self.background_mode_actions[choice] = action
        self._show_background_mode()
        self.shortcuts_action = self._action("Keyboard shortcuts", "F1", self.show_shortcuts, tip="List the keyboard shortcuts")

    def _build_menus_and_toolbar(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([self.open_video_action, self.open_background_action])
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        view_menu = bar.addMenu("&View")
        view_menu.addActions([self.before_after_action, self.freeze_action, self.mirror_action])
        view_menu.addSeparator()
        view_menu.addActions([self.fullscreen_action, self.controls_action])
        bg_menu = bar.addMenu("&Background")
        bg_menu.addActions(list(self.background_mode_actions.values()))
        bg_menu.addSeparator()
        bg_menu.addAction(self.open_background_action)
        output_menu = bar.addMenu("&Output")
        output_menu.addAction(self.vcam_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction("Check my setup…", self.show_setup_check)
        help_menu.addAction("Open log", self.open_log)
        help_menu.addAction("About personseg-live", self._show_about)

        self.toolbar = self.addToolBar("Main")
        self.toolbar.setObjectName("main-toolbar")
        self.toolbar.setMovable(False)
        self.toolbar.addActions([self.before_after_action, self.mirror_action, self.freeze_action])
        self.toolbar.addSeparator()
        self.toolbar.addAction(self.vcam_action)
        self.toolbar.addSeparator()
        self.toolbar.addAction(self.fullscreen_action)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.source_label = QLabel("Opening the source…")
        self.stats_label = QLabel("— fps")
        self.stats_label.setMinimumWidth(self.stats_label.fontMetrics().horizontalAdvance("000.0 fps · 0000 ms latency"))
        self.device_label = QLabel("")
        bar.addWidget(self.source_label, 1)
        bar.addPermanentWidget(self.stats_label)
        bar.addPermanentWidget(self.device_label)

    # Pipeline output (GUI thread, via the bridge) ---------------------------------------------------------

    def _on_frame(self, result) -> None:
        # After a source failed to open, a frame can only be the old source's last one, still in flight.
        if self._closed or self._no_source:
            return
        if not self._got_frame:
            self._got_frame = True
            self.first_frame.emit()
        self.room.on_frame(result)
        if not self._frozen:
            self._held = result
            self._show_result(result)
        now = time.perf_counter()
        if now - self._last_stats >= STATS_INTERVAL_S:
            self._last_stats = now
            fps = f"{result.fps:.1f}" if result.fps > 0 else "—"  # one frame has no rate yet
            self.stats_label.setText(f"{fps} fps · {result.latency_ms:.0f} ms latency")
            self.stats_label.setToolTip(
                "\n".join(f"{stage}: {ms:.1f} ms" for stage, ms in result.timings_ms.items()) or "no stage timings"
            )
            self._show_device_info()

    def _on_event(self, event) -> None:
        if self._closed:
            return
        kind, message = event.kind, sentence(event.message)
        if kind is EventKind.VCAM_ERROR:
            self._vcam_failed(message)
        elif kind is EventKind.VCAM_NOTICE:  # e.g. transparent cannot reach the camera: it gets a blur instead
            self._vcam_notice = f"Virtual camera: {message}"
            self.show_warning(self._vcam_notice, 15000)
        elif kind in (EventKind.ERROR, EventKind.MODEL_FAILED, EventKind.SOURCE_FAILED):
            if kind is EventKind.MODEL_FAILED:
                fallback = self._model_failed()  # the source is fine: its status line keeps saying so
                if fallback:
                    message = f"{message}\n\nUsing the {fallback} model instead."
            else:
                self.source_label.setText(message)
            if kind is EventKind.SOURCE_FAILED:
                # No picture comes until another choice: the last one of the old source, a rate and a
                # title naming it would say it still plays.
                self._source_message = message
                self._no_source = True
                self._held = None  # before/after must not redraw it either
                self.preview.clear(message)
                self.stats_label.setText("— fps")
                self.setWindowTitle(f"personseg-live — {message}")
            else:
                self.preview.set_placeholder(message)  # shown only while there is no picture yet
            box = self.error_box
            if box is not None and box.isVisible():
                box.setText(message)  # one box, however often the pipeline repeats itself
            else:
                self.error_box = self._message_box(QMessageBox.Icon.Critical, "personseg-live", message)
        elif kind is EventKind.SOURCE_OPENED:
            self._no_source = False
            self._source_message = message
            self._update_source_label()
            self._show_device_info()
        elif kind in (EventKind.SOURCE_LOST, EventKind.SOURCE_RETRY, EventKind.SOURCE_ENDED):
            self._source_message = message
            self.source_label.setText(message)
            self.setWindowTitle(f"personseg-live — {message}")  # not the camera's name while it is gone
            self.preview.set_placeholder(message)
        elif kind is EventKind.MODEL_LOADED:
            self._show_device_info()  # at once, not at the next stats refresh: "loading…" is over
        # STOPPED needs nothing: it only follows our own stop().

    def _update_source_label(self) -> None:
        fallback = self.settings.source.spec is None and self._cameras == []
        text = NO_CAMERA if fallback else f"Source: {self._source_message}" if self._source_message else ""
        self.source_label.setText(text)
        self.source_label.setToolTip(self._source_message)
        if self._source_message:
            self.setWindowTitle(f"personseg-live — {self._source_message}")

    def _show_device_info(self) -> None:
        try:
            info = self.pipeline.segmenter_info
        except Exception as exc:  # a model still loading or failing to: say so, do not crash a paint
            info = f"model: {exc}"
        self.device_label.setText(info)

    # Control changes ---------------------------------------------------------------------------------

    def _changed(self, section: str | None = None) -> None:
        if section is not None:
            self._overrides.discard(section)  # the user chose it here: remember it
        self._save_timer.start()

    def _on_source_changed(self, source) -> None:
        old = self.settings.source
        picked_another = source.spec != old.spec
        if picked_another and self._frozen:
            # The held picture is the old source's: kept, it stood under the new source's name in the title.
            self.freeze_action.setChecked(False)
        self.settings = replace(self.settings, source=source)
        if picked_another and is_camera_spec(source.spec):
            self._last_camera = source.spec
        self.mirror_action.blockSignals(True)
        self.mirror_action.setChecked(source.mirror)
        self.mirror_action.blockSignals(False)
        # Mirror flips the open source in place: no "source_opened" follows to replace an "Opening…".
        if replace(old, mirror=source.mirror) != source:
            self._source_message = "Opening the source…"
            self.source_label.setText(self._source_message)
        self.pipeline.set_source(source)
        if source.mirror != old.mirror and self._frozen and self._held is not None:
            self._show_result(self._flip_held())  # M on a frozen picture: the user sees what mirror does
        if picked_another:
            self.room.source_changed(source.spec)  # each camera has its own room
        # Mirror or resolution changes do not make a --source file the next run's default.
        self._changed("source" if picked_another else None)

    def _on_background_changed(self, background) -> None:
        if background.mode != "transparent":
            self._drop_vcam_notice()  # what it said (a blur instead of transparency) no longer holds
        self.settings = replace(self.settings, background=background)
        self.pipeline.set_background(background)
        if self._frozen and self._held is not None:
            self._recompose_held(background)
        self._show_background_mode()
        self._update_badges()
        self._changed("background")

    def _drop_vcam_notice(self) -> None:
        if self._vcam_notice and self.statusBar().currentMessage() == self._vcam_notice:
            self.statusBar().clearMessage()
        self._vcam_notice = ""

    def _choose_background(self, choice: str) -> None:
        self.background_panel.set_choice(choice)
        self._show_background_mode()  # Qt ticked the menu entry; a cancelled file dialog must untick it

    def _show_background_mode(self) -> None:
        mode = self.settings.background.mode
        choice = "picture" if mode in ("image", "video") else mode
        action = self.background_mode_actions.get(choice)
        if action is not None:
            action.setChecked(True)
        else:  # a choice cancelled before it applied (no picture picked): tick what still runs
            for a in self.background_mode_actions.values():
                a.setChecked(False)

    def _update_badges(self) -> None:
        badges = []
        if self.settings.show_original:
            badges.append(BADGE_ORIGINAL)
        if self._frozen:
            badges.append(BADGE_FROZEN)
        if self.settings.vcam.enabled:
            transparent = self.settings.background.mode == "transparent"
            # The virtual camera carries no alpha: it shows a blur there (privacy.PrivateFeed), say so.
            badges.append((f"{BADGE_VCAM[0]} · BLURRED", BADGE_VCAM[1]) if transparent else BADGE_VCAM)
        self.preview.set_badges(badges)

    def _on_matte_changed(self, matte) -> None:
        self.settings = replace(self.settings, matte=matte)
        self.pipeline.set_matte(matte)
        self._changed()

    def _on_model_changed(self, model: str, backend: str) -> None:
        self._fallback_model = (self.settings.model, self.settings.backend)
        self.settings = replace(self.settings, model=model, backend=backend)
        self.device_label.setText(f"loading {model}…")
        self.pipeline.set_model(model, backend)
        self._changed("model")

    def reset_to_defaults(self) -> None:
        """Every setting the panel shows back to its default, through the same paths as a user's
        change; which source plays (and the virtual camera) stay as they are."""
        defaults = Settings()
        source = replace(defaults.source, spec=self.settings.source.spec)
        self.source_panel.set_settings(source)
        self.background_panel.set_settings(defaults.background)
        self.matte_panel.set_settings(defaults.matte)
        if source != self.settings.source:
            self._on_source_changed(source)
        self._on_background_changed(defaults.background)
        self._on_matte_changed(defaults.matte)
        if (self.settings.model, self.settings.backend) != (defaults.model, defaults.backend):
            self.model_panel.set_model(defaults.model, defaults.backend)
            self._on_model_changed(defaults.model, defaults.backend)
        self.room.set_auto_learn(defaults.room.auto_learn)
        self.statusBar().showMessage("Settings reset to the defaults", 3000)

    def _model_failed(self) -> str | None:
        """Switch to the fallback model; its name, or None when the fallback itself is what failed."""
        model, backend = self._fallback_model
        if (self.settings.model, self.settings.backend) == (model, backend):
            return None  # nothing better to offer than the error box
        self.settings = replace(self.settings, model=model, backend=backend)
        self.model_panel.set_model(model, backend)
        self._changed("model")
        try:
            self.pipeline.segmenter_info
        except Exception:  # no model runs at all (it failed at start-up): load the fallback
            self.pipeline.set_model(model, backend)
        return model

    def _show_result(self, result) -> None:
        self.preview.show_frame(result.original if self.settings.show_original else result.composite)

    def _recompose_held(self, background) -> None:
        """Freezing is how users try backgrounds on one moment: the frozen picture kept the old background
        until Space, whatever was chosen. The held frame and its alpha are composited again here."""
        try:
            if self._held_compositor is None:
                self._held_compositor = Compositor(background)
            else:
                self._held_compositor.update(background)
            composite = self._held_compositor(self._held.original, self._held.alpha)
        except Exception as exc:  # the pipeline says what is wrong with the background; the picture stays
            logger.warning("cannot show the frozen picture over the new background: %s", exc)
            return
        self._held = replace(self._held, composite=composite)
        self._show_result(self._held)

    def _drop_held_compositor(self) -> None:
        if self._held_compositor is not None:
            self._held_compositor.close()  # a video background's file
            self._held_compositor = None

    def _flip_held(self):
        h = self._held
        self._held = replace(h, **{name: np.ascontiguousarray(getattr(h, name)[:, ::-1])
                                   for name in ("original", "composite", "alpha")})
        return self._held

    def _on_before_after(self, checked: bool) -> None:
        self.settings = replace(self.settings, show_original=checked)
        if self._held is not None:
            # At once, the same moment from the other side: a frozen preview would otherwise keep the
            # old side under the new badge (and a live one would lag a frame).
            self._show_result(self._held)
        self._update_badges()
        self._changed()

    def _on_freeze(self, checked: bool) -> None:
        self._frozen = checked
        self._update_badges()
        if checked:
            self.source_label.setText("Preview frozen (Space to resume)")
        else:
            self._update_source_label()
            self._drop_held_compositor()  # live again: the pipeline composites

    def _on_mirror_action(self, checked: bool) -> None:
        self.source_panel.mirror_check.setChecked(checked)  # the panel emits changed -> _on_source_changed

    def _on_vcam_toggled(self, checked: bool) -> None:
        vcam = replace(self.settings.vcam, enabled=checked)
        self.settings = replace(self.settings, vcam=vcam)
        self.pipeline.set_vcam(vcam)
        self.statusBar().showMessage("Virtual camera starting…" if checked else "Virtual camera off", 3000)
        self._update_badges()
        self._changed()

    def _vcam_failed(self, message: str) -> None:
        self.vcam_action.blockSignals(True)
        self.vcam_action.setChecked(False)
        self.vcam_action.blockSignals(False)
        self.settings = replace(self.settings, vcam=VcamSettings(enabled=False, device=self.settings.vcam.device))
        self._update_badges()
        self._changed()
        self.statusBar().showMessage("Virtual camera unavailable", 5000)
        box = self.vcam_error_box
        if box is not None and box.isVisible():
            box.set_message(message)  # one dialog, however often it fails
            box.raise_()
            return
        from .vcam_help import VcamHelpDialog

        box = VcamHelpDialog(message, check_setup=self.show_setup_check, parent=self)
        box.addAction(self.vcam_action)  # its last line says "switch it on again (V)": V works there too
        box.finished.connect(lambda _result, b=box: self._forget_box(b))
        self._message_boxes.append(box)
        box.show()  # non-modal, like the message boxes: the preview keeps running behind it
        self.vcam_error_box = box

    def _on_fullscreen(self, checked: bool) -> None:
        # Full screen is for watching: hide the chrome, keep the shortcuts (they are window actions).
        for widget in (self.menuBar(), self.toolbar, self.statusBar()):
            widget.setVisible(not checked)
        if checked:
            self._dock_was_visible = self.dock.isVisible()
            self.dock.hide()
            self.showFullScreen()
        else:
            self.dock.setVisible(getattr(self, "_dock_was_visible", True))
            self.showNormal()

    # Cameras -------------------------------------------------------------------------------------------

    def _enumerate_cameras(self) -> None:
        from ..video.sources import list_cameras

        # Probing devices can take a second per camera on some systems: keep it off the GUI thread.
        job = run_in_background(list_cameras, on_done=self._on_cameras, on_error=lambda exc: self._on_cameras([]))
        self._background_jobs.append(job)

    def _on_cameras(self, cameras) -> None:
        if self._closed:
            return
        self._cameras = list(cameras)
        self.source_panel.set_cameras(self._cameras)
        self._update_source_label()

    # Messages --------------------------------------------------------------------------------------------

    def show_warning(self, text: str, timeout_ms: int = 20000) -> None:
        self.statusBar().showMessage(sentence(text), timeout_ms)

    def _message_box(self, icon, title: str, text: str, details: str = "") -> QMessageBox:
        # Non-modal: the pipeline keeps running and the preview keeps moving behind it.
        box = QMessageBox(icon, title, sentence(text), QMessageBox.StandardButton.Ok, self)
        if details:
            # Setup steps carry their own line breaks and indented commands: keep them as written,
            # in a box wide enough that the commands stay on one line.
            box.setInformativeText(f'<div style="white-space: pre-wrap">{html.escape(details)}</div>')
            box.setStyleSheet("QLabel#qt_msgbox_informativelabel { min-width: 700px; }")
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.finished.connect(lambda _result, b=box: self._forget_box(b))
        self._message_boxes.append(box)
        box.show()
        return box

    def _forget_box(self, box: QMessageBox) -> None:
        if box in self._message_boxes:
            self._message_boxes.remove(box)
        for name in ("error_box", "vcam_error_box"):
            if getattr(self, name, None) is box:
                setattr(self, name, None)
        box.deleteLater()

    def shortcut_rows(self) -> list[tuple[str, str]]:
        """(key, what it does) for every action with a shortcut; the help dialog shows exactly these."""
        rows = []
        for action in self.actions():
            key = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            if key:
                rows.append((key, action.text().replace("&", "")))
        rows.append(("Esc", "Leave full screen"))  # keyPressEvent's, not an action's: no shortcut to list
        return rows

    def show_shortcuts(self) -> QDialog:
        dialog = QDialog(self)
        dialog.setWindowTitle("Keyboard shortcuts")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        rows = self.shortcut_rows()
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(["Key", "Action"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        for r, (key, text) in enumerate(rows):
            table.setItem(r, 0, QTableWidgetItem(key))
            table.setItem(r, 1, QTableWidgetItem(text))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(dialog.close)
        layout = QVBoxLayout(dialog)
        layout.addWidget(table)
        layout.addWidget(buttons)
        table.resizeRowsToContents()
        height = table.verticalHeader().length() + table.horizontalHeader().height() + 2 * table.frameWidth()
        table.setMinimumHeight(min(height, 640))
        dialog.resize(420, 0)
        dialog.show()
        self.shortcuts_dialog = dialog
        return dialog

    def show_setup_check(self) -> None:
        """Help > Check my setup: the ``personseg-live doctor`` report, gathered off the GUI thread."""
        from PySide6.QtGui import QGuiApplication

        from ..doctor import run_checks

        platform = QGuiApplication.platformName()  # Qt is evidently running: no need to start another
        self.statusBar().showMessage("Checking the setup…", 5000)
        self._setup_worker = run_in_background(
            lambda: run_checks(settings_file=self.settings_path, qt=lambda env: (True, platform)),
            on_done=self._show_setup_report,
        )

    def _show_setup_report(self, checks) -> None:
        from ..doctor import exit_code, format_report

        icon = QMessageBox.Icon.Information if exit_code(checks) == 0 else QMessageBox.Icon.Warning
        self.setup_box = self._message_box(icon, "Check my setup", "What works here (personseg-live doctor):", format_report(checks))

    def open_log(self) -> None:
        """Help > Open log: the log file in the desktop's viewer, so a user can attach it to a bug report."""
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        from ..log import active_log_file

        path = active_log_file()
        if path is None or not path.exists():
            self._message_box(QMessageBox.Icon.Information, "Open log",
                              "No log file is written in this session (it logs to the terminal only).")
        elif not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            self._message_box(QMessageBox.Icon.Information, "Open log", f"The log is at:\n{path}")

    def _show_about(self) -> None:
        from .. import __version__

        self._message_box(
            QMessageBox.Icon.Information,
            "About personseg-live",
            f"personseg-live {__version__}\nCuts the person out of a live camera picture.\n\n{self.device_label.text()}",
        )

    # Settings and shutdown -----------------------------------------------------------------------------

    def settings_to_save(self) -> Settings:
        """The current settings, with what came only from the command line put back to what the file had,
        and without this session's transient states (before/after, a video file as the source)."""
        s, saved = self.settings, self._saved
        if "source" in self._overrides:  # --source names the source only; mirror etc. are the user's
            s = replace(s, source=replace(s.source, spec=saved.source.spec))
        if "background" in self._overrides:
            s = replace(s, background=saved.background)
        if "model" in self._overrides:
            s = replace(s, model=saved.model, backend=saved.backend)
        if "vcam" in self._overrides:
            s = replace(s, vcam=replace(s.vcam, enabled=saved.vcam.enabled))
        return remembered(s, camera=self._last_camera)

    def save_now(self) -> None:
        self._save_timer.stop()
        try:
            save_settings(self.settings_to_save(), self.settings_path)
        except OSError as exc:  # a read-only or full disk must not take the session down
            self.show_warning(f"Could not save the settings: {exc}")

    def _layout_store(self) -> QSettings:
        # Window size and dock placement are Qt's own blobs, not user settings: they live in an
        # INI file beside the settings file (so a test's or portable install's path covers both).
        from ..settings import settings_path

        path = Path(self.settings_path) if self.settings_path else settings_path()
        return QSettings(str(path.with_name("window.ini")), QSettings.Format.IniFormat)

    def _restore_layout(self) -> None:
        store = self._layout_store()
        geometry, state = store.value("geometry"), store.value("state")
        # State first: restoring the docks can resize the window, the geometry then sets it right.
        if isinstance(state, QByteArray):
            self.restoreState(state)
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if str(store.value("advanced", "false")).lower() == "true":
            self.advanced.expand(animate=False)

    def _save_layout(self) -> None:
        if self.isFullScreen():
            return  # keep the last windowed layout: a full-screen one would come back with no controls
        store = self._layout_store()
        store.setValue("geometry", self.saveGeometry())
        store.setValue("state", self.saveState())
        store.setValue("advanced", self.advanced.isExpanded())
        store.sync()

    # Files dropped on the window (see drops.py): the cursor says at once whether the file would be taken.
    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        event.acceptProposedAction() if media_path(event.mimeData()) else event.ignore()

    dragMoveEvent = dragEnterEvent  # the same answer wherever the file is dragged over the window

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        path = media_path(event.mimeData())
        if path is None:
            event.ignore()
            return
        target = self.childAt(event.position().toPoint())
        panel = self.background_panel
        if target is not None and (target is panel or panel.isAncestorOf(target)):
            if not panel.choose_file(path):  # its message box says why; the file snaps back
                event.ignore()
                return
            self.statusBar().showMessage(f"Background: {path.name}", 3000)
        else:
            self.source_panel.choose_file(path)
            self.statusBar().showMessage(f"Playing {path.name}", 3000)
        event.acceptProposedAction()

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if event.key() == Qt.Key.Key_Escape and self.isFullScreen():
            self.fullscreen_action.setChecked(False)  # Esc leaves full screen, as in every video player
            return
        super().keyPressEvent(event)

    def shutdown(self) -> list[str]:
        """Save and stop the pipeline's threads; idempotent. Called by closing the window, and by
        run_gui whenever the event loop ends without a close (the X server went away, say): the
        pipeline's threads are not daemons, so without this the interpreter would wait for them
        forever on its way out. Returns the threads that did not stop in time (the pipeline logs them)."""
        if self._closed:
            return []
        self._closed = True
        self._save_timer.stop()
        self._drop_held_compositor()
        try:
            self.save_now()
            self._save_layout()
        finally:
            stragglers = self.pipeline.stop(timeout=STOP_TIMEOUT_S)
        return stragglers

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt naming)
        if not self._closed:
            self.hide()  # feels instant; the threads finish stopping behind it
            stragglers = self.shutdown()
            for box in list(self._message_boxes):
                box.close()
            if stragglers:  # the process cannot end until they do: say why it may linger
                QMessageBox.warning(None, "personseg-live", STRAGGLERS_TEXT.format(
                    names=", ".join(stragglers), seconds=STOP_TIMEOUT_S))
        event.accept()
