"""The main window's building blocks: the preview, and one control panel per settings section.

Each panel shows one settings dataclass and emits ``changed(<dataclass>)`` with a fresh value whenever
the user edits it; ``set_settings`` shows a value without emitting. The panels never talk to the
pipeline: the window decides what a change means.
"""

from __future__ import annotations

import sys
from dataclasses import fields, replace
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QRegion
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSizePolicy,
    QWidget,
)
from superqt import QLabeledDoubleSlider, QLabeledSlider

from .. import assets
from ..settings import MatteSettings, SourceSettings, is_camera_spec
from ..video.sources import DEMO

# A photo plays too (video.sources.StillSource: the picture again and again, like a camera pointed at a print).
VIDEO_FILTER = ("Videos and photos (" + " ".join(f"*{e}" for e in assets.VIDEO_EXTS + assets.IMAGE_EXTS) + ");;"
                "Videos (" + " ".join(f"*{e}" for e in assets.VIDEO_EXTS) + ");;All files (*)")


# --------------------------------------------------------------------------------------------- preview


def to_qimage(
    frame: np.ndarray, buffer: np.ndarray | None = None, size: tuple[int, int] | None = None
) -> tuple[QImage, np.ndarray]:
    """The one BGR(A) -> QImage conversion: returns the image and the array it reads from.

    The frame is copied (or, given ``size`` = (w, h), resized with OpenCV) into ``buffer``, which is
    reused when its shape matches. Copying matters because the pipeline may recycle its output
    arrays while the GUI still paints the previous frame; resizing here matters because OpenCV
    scales a 720p frame in ~1 ms where Qt's smooth transform in paintEvent takes ~10 ms of the GUI
    thread. Qt reads the buffer in place, so BGR needs no channel swap (Format_BGR888). Keep the
    returned array alive as long as the image: QImage does not own that memory.
    """
    if frame.dtype != np.uint8 or frame.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 HxW, HxWx3 or HxWx4 frame, got {frame.dtype} {frame.shape}")
    h, w = frame.shape[:2]
    out_w, out_h = size if size is not None else (w, h)
    shape = (out_h, out_w, *frame.shape[2:])
    if buffer is None or buffer.shape != shape:
        buffer = np.empty(shape, np.uint8)
    if (out_w, out_h) == (w, h):
        np.copyto(buffer, frame)
    else:
        # Bilinear is 8x faster than INTER_AREA at 720p -> 910 px and looks the same down to half size; from
        # further away it skips pixels (aliasing), so the frame is first halved by INTER_AREA's exact 2x path
        # until it is less than twice the size. INTER_AREA's general path at the ratio itself cost the GUI
        # thread 5-7 ms a frame for 720p -> ~600 px and 12 ms for 1080p -> 900 px; halving then bilinear
        # 0.7 / 1.5 ms, the same picture within 0.2-0.5 levels on average.
        while frame.shape[1] >= 2 * out_w and frame.shape[0] >= 2 * out_h:
            frame = cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2), interpolation=cv2.INTER_AREA)
        cv2.resize(frame, (out_w, out_h), dst=buffer, interpolation=cv2.INTER_LINEAR)
    channels = 1 if buffer.ndim == 2 else buffer.shape[2]
    if channels == 3:
        fmt = QImage.Format.Format_BGR888
    elif channels == 4:
        # BGRA bytes read as one little-endian 32-bit word are exactly Qt's ARGB32.
        fmt = QImage.Format.Format_ARGB32 if sys.byteorder == "little" else QImage.Format.Format_RGBA8888
    elif channels == 1:
        fmt = QImage.Format.Format_Grayscale8
    else:
        raise ValueError(f"unsupported channel count {channels}")
    return QImage(buffer.data, out_w, out_h, buffer.strides[0], fmt), buffer


def fit_rect(image: QSize, area: QRect) -> QRect:
    """The largest rectangle of ``image``'s aspect centred in ``area``."""
    if image.isEmpty() or area.isEmpty():
        return QRect()
    scaled = image.scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
    top_left = area.topLeft() + QPoint((area.width() - scaled.width()) // 2, (area.height() - scaled.height()) // 2)
    return QRect(top_left, scaled)


class PreviewWidget(QWidget):
    """Paints the newest frame scaled to fit, keeping its aspect (letterboxed on black).

    ``show_frame`` only stores the frame and schedules a repaint; Qt merges repaints, so a burst of
    frames costs one paint.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._image: QImage | None = None
        self._buffer: np.ndarray | None = None
        self._placeholder = "Starting…"
        self._checker = checkerboard()
        self._badges: list[tuple[str, QColor]] = []
        self.frames_shown = 0
        self.last_frame: np.ndarray | None = None
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def show_frame(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        dpr = self.devicePixelRatioF()
        target = fit_rect(QSize(w, h), self.rect()).size() * dpr  # in device pixels: sharp on HiDPI
        size = (target.width(), target.height()) if not target.isEmpty() else None
        self._image, self._buffer = to_qimage(frame, self._buffer, size)
        self._image.setDevicePixelRatio(dpr)
        self.last_frame = frame  # what is on screen, before scaling (for tests and inspection)
        self.frames_shown += 1
        self.update()

    def set_placeholder(self, text: str) -> None:
        """Text shown while there is no picture (e.g. while the source opens)."""
        self._placeholder = text
        if self._image is None:
            self.update()

    def set_badges(self, badges: list[tuple[str, QColor]]) -> None:
        """Small labels painted over the picture's top-left corner, e.g. ("ORIGINAL", grey): what the
        picture is, at the place people look (a pressed toolbar button is easy to miss)."""
        if badges != self._badges:
            self._badges = list(badges)
            self.update()

    def badges(self) -> list[str]:
        return [text for text, _color in self._badges]

    def clear(self, placeholder: str = "") -> None:
        self._image = None
        self._placeholder = placeholder
        self.update()

    def image_rect(self) -> QRect:
        """Where the picture is painted (empty when there is none)."""
        if self._image is None:
            return QRect()
        return fit_rect(self._image.deviceIndependentSize().toSize(), self.rect())

    def current_image(self) -> QImage | None:
        return self._image

    def sizeHint(self) -> QSize:
        return QSize(960, 540)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        painter = QPainter(self)
        if self._image is None:
            painter.fillRect(self.rect(), Qt.GlobalColor.black)
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
            return
        target = self.image_rect()
        # Black only in the letterbox bars: the picture covers the rest, and filling the whole widget first cost
        # the GUI thread as much again as drawing the picture, every frame.
        for bar in QRegion(self.rect()).subtracted(QRegion(target)):
            painter.fillRect(bar, Qt.GlobalColor.black)
        if self._image.hasAlphaChannel():
            painter.drawTiledPixmap(target, self._checker)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(QRectF(target), self._image)
        self._paint_badges(painter, target)

    def _paint_badges(self, painter: QPainter, picture: QRect) -> None:
        font = painter.font()
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        x, y = picture.left() + 10, picture.top() + 10
        for text, color in self._badges:
            box = QRect(x, y, metrics.horizontalAdvance(text) + 16, metrics.height() + 8)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(color)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.drawRoundedRect(box, 4, 4)
            painter.setPen(QColor("white"))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
            x = box.right() + 8


def checkerboard(cell: int = 12) -> QPixmap:
    """The usual grey checkerboard behind transparent pixels."""
    pix = QPixmap(2 * cell, 2 * cell)
    pix.fill(QColor(200, 200, 200))
    painter = QPainter(pix)
    painter.fillRect(0, 0, cell, cell, QColor(150, 150, 150))
    painter.fillRect(cell, cell, cell, cell, QColor(150, 150, 150))
    painter.end()
    return pix


# ---------------------------------------------------------------------------------------------- source

RESOLUTIONS = ((640, 480), (1280, 720), (1920, 1080))
CAMERA = "camera"
FILE = "file"
OPEN_FILE = "open"
AUTO = "auto"


class SourcePanel(QWidget):
    """Camera picker (enumerated cameras, the demo clip, any video file) and mirror; the camera's
    resolution and MJPG in ``camera_controls``, a separate widget for the window's Advanced section."""

    changed = Signal(object)  # SourceSettings

    def __init__(self, settings: SourceSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        self._cameras: list | None = None  # None until enumerated
        self.source_combo = QComboBox()
        self.source_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.source_combo.setMinimumContentsLength(16)
        self.resolution_combo = QComboBox()
        for w, h in RESOLUTIONS:
            self.resolution_combo.addItem(f"{w} × {h}", (w, h))
        self.mjpg_check = QCheckBox("MJPG")
        self.mjpg_check.setToolTip("Ask the camera for compressed MJPG frames: most USB cameras need it for 720p/1080p at 30 fps")
        self.mirror_check = QCheckBox("Mirror")

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Source", self.source_combo)
        form.addRow("", self.mirror_check)
        self.camera_controls = QWidget()
        row = QHBoxLayout(self.camera_controls)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.resolution_combo, 1)
        row.addWidget(self.mjpg_check)

        self._rebuild_sources()
        self._show(settings)
        self.source_combo.activated.connect(self._on_source_activated)
        self.resolution_combo.activated.connect(lambda _i: self._emit())
        self.mjpg_check.toggled.connect(lambda _c: self._emit())
        self.mirror_check.toggled.connect(lambda _c: self._emit())

    # The public API ------------------------------------------------------------------------------

    def settings(self) -> SourceSettings:
        return self._settings

    def set_settings(self, settings: SourceSettings) -> None:
        self._settings = settings
        self._rebuild_sources()
        self._show(settings)

    def set_cameras(self, cameras: list) -> None:
        """Fill the picker with ``list_cameras()``'s answer (CameraInfo with index and name)."""
        self._cameras = list(cameras)
        self._rebuild_sources()
        self._select_current()
        self._update_enabled()

    def choose_file(self, path: str | Path) -> None:
        """Switch to a video file, as "Open video file…" does after its dialog."""
        self._settings = replace(self._settings, spec=str(path))
        self._rebuild_sources()
        self._select_current()
        self._update_enabled()
        self.changed.emit(self._settings)

    def open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video file", "", VIDEO_FILTER)
        if path:
            self.choose_file(path)
        else:
            self._select_current()  # the dialog was cancelled: show the source that still plays

    # Internals -----------------------------------------------------------------------------------

    def _rebuild_sources(self) -> None:
        combo = self.source_combo
        combo.blockSignals(True)
        combo.clear()
        combo.addItem("First camera (or demo clip)", (AUTO, None))
        for cam in self._cameras or ():
            combo.addItem(f"{cam.name} ({cam.index})" if cam.name else f"Camera {cam.index}", (CAMERA, str(cam.index)))
        combo.addItem("Demo clip", (DEMO, None))
        spec = self._settings.spec
        if not is_camera_spec(spec) and not _is_demo(spec):
            combo.addItem(Path(spec).name, (FILE, spec))
            combo.setItemData(combo.count() - 1, spec, Qt.ItemDataRole.ToolTipRole)
        elif spec is not None and is_camera_spec(spec) and not any(str(c.index) == spec for c in self._cameras or ()):
            combo.addItem(f"Camera {spec}", (CAMERA, spec))  # remembered, though not (yet) enumerated
        combo.addItem("Open video file…", (OPEN_FILE, None))
        combo.blockSignals(False)

    def _select_current(self) -> None:
        spec = self._settings.spec
        if spec is None:
            key = (AUTO, None)
        elif _is_demo(spec):
            key = (DEMO, None)
        elif is_camera_spec(spec):
            key = (CAMERA, spec)
        else:
            key = (FILE, spec)
        for i in range(self.source_combo.count()):
            if self.source_combo.itemData(i) == key:
                self.source_combo.blockSignals(True)
                self.source_combo.setCurrentIndex(i)
                self.source_combo.blockSignals(False)
                return

    def _show(self, s: SourceSettings) -> None:
        self._select_current()
        idx = self.resolution_combo.findData((s.width, s.height))
        if idx < 0:  # a size from the command line or an older file: offer it too
            self.resolution_combo.addItem(f"{s.width} × {s.height}", (s.width, s.height))
            idx = self.resolution_combo.count() - 1
        for w in (self.resolution_combo, self.mjpg_check, self.mirror_check):
            w.blockSignals(True)
        self.resolution_combo.setCurrentIndex(idx)
        self.mjpg_check.setChecked(s.mjpg)
        self.mirror_check.setChecked(s.mirror)
        for w in (self.resolution_combo, self.mjpg_check, self.mirror_check):
            w.blockSignals(False)
        self._update_enabled()

    def _update_enabled(self) -> None:
        # Resolution and MJPG are requests to a camera; a file plays at its own size, and with no
        # camera found "the first camera" is the demo clip.
        spec = self._settings.spec
        no_camera = spec is None and self._cameras == []
        enabled = is_camera_spec(spec) and not no_camera
        self.resolution_combo.setEnabled(enabled)
        self.mjpg_check.setEnabled(enabled)
        tip = "" if enabled else "Only a camera takes a resolution and MJPG"
        self.camera_controls.setToolTip(tip)

    def _on_source_activated(self, index: int) -> None:
        kind, value = self.source_combo.itemData(index)
        if kind == OPEN_FILE:
            self.open_file_dialog()
            return
        spec = {AUTO: None, CAMERA: value, DEMO: DEMO, FILE: value}[kind]
        if spec == self._settings.spec:
            return
        self._settings = replace(self._settings, spec=spec)
        self._update_enabled()
        self.changed.emit(self._settings)

    def _emit(self) -> None:
        w, h = self.resolution_combo.currentData()
        self._settings = replace(
            self._settings, width=w, height=h, mjpg=self.mjpg_check.isChecked(), mirror=self.mirror_check.isChecked()
        )
        self.changed.emit(self._settings)


def _is_demo(spec: str) -> bool:
    if spec == DEMO:
        return True
    try:
        return Path(spec).resolve() == assets.demo_clip().resolve()
    except (OSError, FileNotFoundError):
        return False


# ----------------------------------------------------------------------------------------------- matte


# One "edge" control for everyone: slider position -> (softness, feather), linear between these
# points. The middle is the default look; crisp suits a plain wall, soft hides a rough outline.
EDGE_POINTS = ((0, 0.03, 0), (50, 0.15, 2), (100, 0.40, 10))


def edge_matte(position: int) -> tuple[float, int]:
    """(softness, feather) for an edge slider position 0 (crisp) .. 100 (soft)."""
    xs = [p[0] for p in EDGE_POINTS]
    softness = float(np.interp(position, xs, [p[1] for p in EDGE_POINTS]))
    feather = float(np.interp(position, xs, [p[2] for p in EDGE_POINTS]))
    return round(softness, 3), int(round(feather))


def edge_position(softness: float) -> int:
    """Where the edge slider stands for a softness (set by hand in Advanced, it may lie between)."""
    return int(round(np.interp(softness, [p[1] for p in EDGE_POINTS], [p[0] for p in EDGE_POINTS])))


class MattePanel(QWidget):
    """Threshold, softness, temporal smoothing, feather and edge refinement, applied live; and
    ``edge_row``, the one simple "edge" slider that sets softness and feather together (a separate
    widget: the window shows it up front and this panel under Advanced)."""

    changed = Signal(object)  # MatteSettings

    def __init__(self, settings: MatteSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        self.edge = QSlider(Qt.Orientation.Horizontal)
        self.edge.setRange(0, 100)
        self.edge.setPageStep(10)
        self.edge.setToolTip("How the person's outline blends into the background")
        self.edge_row = QWidget()
        row = QHBoxLayout(self.edge_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Crisp"))
        row.addWidget(self.edge, 1)
        row.addWidget(QLabel("Soft"))
        self.threshold = _double_slider(*field_range(MatteSettings, "threshold"), "Probability above which a pixel counts as person")
        self.softness = _double_slider(*field_range(MatteSettings, "softness"), "Width of the soft band around the threshold")
        self.smoothing = _double_slider(*field_range(MatteSettings, "smoothing"), "Temporal smoothing: steadier edges, a little more lag")
        self.feather = QLabeledSlider(Qt.Orientation.Horizontal)
        self.feather.setRange(*field_range(MatteSettings, "feather"))
        self.feather.setToolTip("Blur the matte edge by this many pixels")
        self.refine = QCheckBox("Refine edges with the image (hair)")
        self.refine.setToolTip("Places the edge by the picture's colours when the background is replaced. Over "
                               "the blurred room it is skipped: the room behind the edge is the same room.")

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Threshold", self.threshold)
        form.addRow("Softness", self.softness)
        form.addRow("Smoothing", self.smoothing)
        form.addRow("Feather", self.feather)
        form.addRow("", self.refine)

        self._show(settings)
        for slider in (self.threshold, self.softness, self.smoothing, self.feather):
            slider.valueChanged.connect(lambda _v: self._emit())
        self.refine.toggled.connect(lambda _c: self._emit())
        self.edge.valueChanged.connect(self._on_edge)

    def settings(self) -> MatteSettings:
        return self._settings

    def set_settings(self, settings: MatteSettings) -> None:
        self._settings = settings
        self._show(settings)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        """The four number boxes one width, so the sliders end in one column: Feather's whole number took a
        narrower box than the others' "0.50" and its slider ran past theirs. After the children's own show
        events (Qt shows children first), because superqt sizes each box anew on every show."""
        super().showEvent(event)
        labels = [slider._label for slider in (self.threshold, self.softness, self.smoothing, self.feather)]
        width = max(label.width() for label in labels)
        for label in labels:
            label.setFixedWidth(width)

    def _widgets(self):
        return (self.threshold, self.softness, self.smoothing, self.feather, self.refine, self.edge)

    def _show(self, s: MatteSettings) -> None:
        for w in self._widgets():
            w.blockSignals(True)
        self.threshold.setValue(s.threshold)
        self.softness.setValue(s.softness)
        self.smoothing.setValue(s.smoothing)
        self.feather.setValue(s.feather)
        self.refine.setChecked(s.refine)
        self.edge.setValue(edge_position(s.softness))
        for w in self._widgets():
            w.blockSignals(False)

    def _on_edge(self, position: int) -> None:
        softness, feather = edge_matte(position)
        self._settings = replace(self._settings, softness=softness, feather=feather)
        self._show(self._settings)
        self.changed.emit(self._settings)

    def _emit(self) -> None:
        self._settings = replace(
            self._settings,
            threshold=round(float(self.threshold.value()), 3),
            softness=round(float(self.softness.value()), 3),
            smoothing=round(float(self.smoothing.value()), 3),
            feather=int(self.feather.value()),
            refine=self.refine.isChecked(),
        )
        self.edge.blockSignals(True)
        self.edge.setValue(edge_position(self._settings.softness))
        self.edge.blockSignals(False)
        self.changed.emit(self._settings)


# ------------------------------------------------------------------------------ wheel and keyboard

# key -> (direction, a page rather than a single step)
_STEP_KEYS = {
    Qt.Key.Key_Right: (1, False), Qt.Key.Key_Up: (1, False), Qt.Key.Key_Left: (-1, False), Qt.Key.Key_Down: (-1, False),
    Qt.Key.Key_PageUp: (1, True), Qt.Key.Key_PageDown: (-1, True),
}


class ControlGuard(QObject):
    """Wheel and keys for the control panels, installed by ``guard_controls``.

    The mouse wheel changes a slider or combo box only once the user has clicked or tabbed into
    it: otherwise it scrolls the panel, so scrolling past Threshold mid-call does not move it.
    Sliders step with the arrow keys (one step) and PageUp/PageDown (a page), the same for whole and
    decimal sliders (superqt's decimal slider ignores the keys, its inner slider counts in ints).
    """

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt naming)
        if event.type() == QEvent.Type.Wheel and isinstance(obj, QWidget) and not obj.hasFocus():
            event.ignore()  # handled here, not accepted: Qt passes it on to the scroll area
            return True
        if event.type() == QEvent.Type.KeyPress and isinstance(obj.parent(), QLabeledSlider):
            step = _STEP_KEYS.get(event.key())
            if step is not None and event.modifiers() in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier):
                slider, (direction, page) = obj.parent(), step
                slider.setValue(slider.value() + direction * (slider.pageStep() if page else slider.singleStep()))
                return True
        return False


def guard_controls(root: QWidget) -> ControlGuard:
    """Install one ControlGuard on every slider, combo box and spin box under ``root``."""
    guard = ControlGuard(root)
    for labeled in root.findChildren(QLabeledSlider):  # the decimal slider is a subclass
        labeled.setFocusProxy(labeled._slider)  # superqt exposes no accessor for the inner slider
    for widget in root.findChildren(QWidget):
        # The labeled slider too: it is a QAbstractSlider that would swallow the wheel its inner one passes up.
        if isinstance(widget, (QAbstractSlider, QComboBox, QAbstractSpinBox)):
            widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # not WheelFocus: a wheel never focuses
            widget.installEventFilter(guard)
    return guard


def field_range(cls, name: str) -> tuple:
    """A setting's allowed range, declared once beside its default in settings.py."""
    return next(f.metadata["range"] for f in fields(cls) if f.name == name)


def _double_slider(low: float, high: float, tip: str) -> QLabeledDoubleSlider:
    slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
    slider.setRange(low, high)
    slider.setSingleStep(0.01)
    slider.setDecimals(2)
    slider.setToolTip(tip)
    return slider


# ----------------------------------------------------------------------------------------------- model

BACKEND_LABELS = (("auto", "Auto (GPU if present)"), ("litert", "CPU (LiteRT)"), ("tensorflow", "TensorFlow"))


class ModelPanel(QWidget):
    """The bundled model to run and the backend (the status bar says which device runs it)."""

    changed = Signal(str, str)  # model name, backend

    def __init__(self, model: str, backend: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.model_combo = QComboBox()
        for name in assets.model_names():
            self.model_combo.addItem(name, name)
        self.backend_combo = QComboBox()
        for key, label in BACKEND_LABELS:
            self.backend_combo.addItem(label, key)

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Model", self.model_combo)
        form.addRow("Backend", self.backend_combo)

        self.set_model(model, backend)
        self.model_combo.activated.connect(lambda _i: self._emit())
        self.backend_combo.activated.connect(lambda _i: self._emit())

    def model(self) -> str:
        return self.model_combo.currentData()

    def backend(self) -> str:
        return self.backend_combo.currentData()

    def set_model(self, model: str, backend: str) -> None:
        if self.model_combo.findData(model) < 0:  # a model file given on the command line
            self.model_combo.addItem(Path(model).stem, model)
        self.model_combo.setCurrentIndex(self.model_combo.findData(model))
        self.backend_combo.setCurrentIndex(max(0, self.backend_combo.findData(backend)))

    def _emit(self) -> None:
        self.changed.emit(self.model(), self.backend())
