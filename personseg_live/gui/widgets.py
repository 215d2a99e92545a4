"""The main window's building blocks: the preview, and one control panel per settings section.

Each panel shows one settings dataclass and emits ``changed(<dataclass>)`` with a fresh value whenever
the user edits it; ``set_settings`` shows a value without emitting. The panels never talk to the
pipeline: the window decides what a change means.
"""

from __future__ import annotations

import re
import sys
from dataclasses import fields, replace
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractSlider,
    QAbstractSpinBox,
    QButtonGroup,
    QCheckBox,
    QColorDialog,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleSlider, QLabeledSlider

from .. import assets
from ..settings import BackgroundSettings, MatteSettings, SourceSettings

VIDEO_FILTER = "Videos (" + " ".join(f"*{e}" for e in assets.VIDEO_EXTS) + ");;All files (*)"
MEDIA_FILTER = (
    "Images and videos (" + " ".join(f"*{e}" for e in assets.IMAGE_EXTS + assets.VIDEO_EXTS) + ");;All files (*)"
)


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
        # Bilinear is 8x faster than INTER_AREA at 720p -> 910 px and looks the same down to half
        # size; below that it would alias, and the area filter is worth its cost.
        interpolation = cv2.INTER_AREA if out_w < w / 2 else cv2.INTER_LINEAR
        cv2.resize(frame, (out_w, out_h), dst=buffer, interpolation=interpolation)
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
        self._checker = _checkerboard()
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
        painter.fillRect(self.rect(), Qt.GlobalColor.black)
        if self._image is None:
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
            return
        target = self.image_rect()
        if self._image.hasAlphaChannel():
            painter.drawTiledPixmap(target, self._checker)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(QRectF(target), self._image)


def _checkerboard(cell: int = 12) -> QPixmap:
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
DEMO = "demo"  # the source spec open_source() reads as the bundled clip
CAMERA = "camera"
FILE = "file"
OPEN_FILE = "open"
AUTO = "auto"


class SourcePanel(QWidget):
    """Camera picker (enumerated cameras, the demo clip, any video file), resolution, MJPG, mirror."""

    changed = Signal(object)  # SourceSettings

    def __init__(self, settings: SourceSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        self._cameras: list = []
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
        row = QHBoxLayout()
        row.addWidget(self.resolution_combo, 1)
        row.addWidget(self.mjpg_check)
        form.addRow("Camera", row)
        form.addRow("", self.mirror_check)

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
        for cam in self._cameras:
            combo.addItem(f"{cam.name} ({cam.index})" if cam.name else f"Camera {cam.index}", (CAMERA, str(cam.index)))
        combo.addItem("Demo clip", (DEMO, None))
        spec = self._settings.spec
        if spec is not None and not _is_camera(spec) and not _is_demo(spec):
            combo.addItem(Path(spec).name, (FILE, spec))
            combo.setItemData(combo.count() - 1, spec, Qt.ItemDataRole.ToolTipRole)
        elif spec is not None and _is_camera(spec) and not any(str(c.index) == spec for c in self._cameras):
            combo.addItem(f"Camera {spec}", (CAMERA, spec))  # remembered, though not (yet) enumerated
        combo.addItem("Open video file…", (OPEN_FILE, None))
        combo.blockSignals(False)

    def _select_current(self) -> None:
        spec = self._settings.spec
        if spec is None:
            key = (AUTO, None)
        elif _is_demo(spec):
            key = (DEMO, None)
        elif _is_camera(spec):
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
        # Resolution and MJPG are requests to a camera; a file plays at its own size.
        spec = self._settings.spec
        is_camera = spec is None or _is_camera(spec)
        self.resolution_combo.setEnabled(is_camera)
        self.mjpg_check.setEnabled(is_camera)

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


def _is_camera(spec: str) -> bool:
    return spec.isdigit() or spec.startswith("/dev/video")  # what open_source() opens as a camera


def _is_demo(spec: str) -> bool:
    if spec == DEMO:
        return True
    try:
        return Path(spec).resolve() == assets.demo_clip().resolve()
    except (OSError, FileNotFoundError):
        return False


# ------------------------------------------------------------------------------------------ background

#: The background modes as the user picks them, in hotkey order (1..5). "Picture" covers image and video.
BACKGROUND_CHOICES = (
    ("blur", "Blur"),
    ("picture", "Picture"),
    ("color", "Colour"),
    ("none", "None"),
    ("transparent", "Transparent"),
)
THUMB = QSize(96, 54)


def _choice_of(mode: str) -> str:
    return "picture" if mode in ("image", "video") else mode


def media_mode(path: str | Path) -> str:
    """"video" for a video file, else "image"."""
    return "video" if Path(path).suffix.lower() in assets.VIDEO_EXTS else "image"


def thumbnail(path: str | Path, size: QSize = THUMB) -> QIcon:
    """An icon from an image, or a video's first frame; a grey tile when the file cannot be read."""
    frame = None
    if media_mode(path) == "video":
        cap = cv2.VideoCapture(str(path))
        ok, frame = cap.read()
        cap.release()
        frame = frame if ok else None
    else:
        # JPEG decodes at a quarter of the size in a third of the time; a thumbnail needs no more.
        frame = cv2.imread(str(path), cv2.IMREAD_REDUCED_COLOR_4)
        if frame is None or min(frame.shape[:2]) < size.height():
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if frame is None:
        pix = QPixmap(size)
        pix.fill(QColor(90, 90, 90))
        return QIcon(pix)
    h, w = frame.shape[:2]
    scale = max(size.width() / w, size.height() / h)  # fill the tile, then crop the middle
    small = cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    y0 = (small.shape[0] - size.height()) // 2
    x0 = (small.shape[1] - size.width()) // 2
    crop = np.ascontiguousarray(small[y0 : y0 + size.height(), x0 : x0 + size.width()])
    image, _buf = to_qimage(crop)
    return QIcon(QPixmap.fromImage(image))  # fromImage copies, so the buffer may go


def bundled_name(path: Path) -> str:
    """A bundled background's file name for people: "twilio_BohoHome" -> "Boho Home" (the prefix
    names where it came from, which SOURCE.md records), "wa_office_2" -> "Office 2"."""
    parts = path.stem.split("_")
    if len(parts) > 1 and parts[0].islower():
        parts = parts[1:]
    words = " ".join(re.sub(r"(?<=[a-z])(?=[A-Z])", " ", p) for p in parts)
    return words[:1].upper() + words[1:]


class BackgroundPanel(QWidget):
    """Blur (with strength), a picture (bundled thumbnails or any image/video file), a colour, none, transparent."""

    changed = Signal(object)  # BackgroundSettings

    def __init__(self, settings: BackgroundSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        self._last_path = settings.path

        self.mode_group = QButtonGroup(self)
        modes = QGridLayout()
        modes.setContentsMargins(0, 0, 0, 0)
        self.mode_buttons: dict[str, QRadioButton] = {}
        for i, (choice, label) in enumerate(BACKGROUND_CHOICES):
            button = QRadioButton(f"{label}")
            button.setToolTip(f"Background: {label.lower()} (key {i + 1})")
            self.mode_group.addButton(button, i)
            self.mode_buttons[choice] = button
            modes.addWidget(button, i // 3, i % 3)

        self.blur_slider = QLabeledSlider(Qt.Orientation.Horizontal)
        self.blur_slider.setRange(*field_range(BackgroundSettings, "blur_strength"))
        self.blur_slider.setToolTip("Blur strength")

        self.gallery = QListWidget()
        self.gallery.setViewMode(QListView.ViewMode.IconMode)
        self.gallery.setIconSize(THUMB)
        # One horizontal film strip: the side panel stays short however many backgrounds there are.
        self.gallery.setFlow(QListView.Flow.LeftToRight)
        self.gallery.setWrapping(False)
        self.gallery.setMovement(QListView.Movement.Static)
        self.gallery.setUniformItemSizes(True)
        self.gallery.setSpacing(2)
        self.gallery.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.gallery.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.gallery.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.gallery.setFixedHeight(
            THUMB.height() + 28 + self.gallery.horizontalScrollBar().sizeHint().height() + 2 * self.gallery.frameWidth()
        )
        for path in assets.backgrounds():
            self._add_gallery_item(path, bundled_name(path))
        if settings.path and self._find_item(settings.path) is None:
            self._add_gallery_item(Path(settings.path))

        self.open_button = QPushButton("Image or video…")
        self.color_button = QPushButton("Colour…")
        self.color_swatch = QLabel()
        self.color_swatch.setFixedSize(28, 20)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(modes)
        blur_row = QHBoxLayout()
        blur_row.addWidget(QLabel("Strength"))
        blur_row.addWidget(self.blur_slider, 1)
        layout.addLayout(blur_row)
        layout.addWidget(self.gallery)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.color_button)
        buttons.addWidget(self.color_swatch)
        buttons.addStretch(1)
        layout.addLayout(buttons)

        self._show(settings)
        self._update_gallery_visible()
        self.mode_group.idClicked.connect(self._on_mode_clicked)
        self.blur_slider.valueChanged.connect(self._on_blur)
        self.gallery.itemClicked.connect(self._on_gallery_item)
        self.open_button.clicked.connect(self.open_file_dialog)
        self.color_button.clicked.connect(self.open_color_dialog)

    # The public API ------------------------------------------------------------------------------

    def settings(self) -> BackgroundSettings:
        return self._settings

    def set_settings(self, settings: BackgroundSettings) -> None:
        self._settings = settings
        if settings.path and self._find_item(settings.path) is None:
            self._add_gallery_item(Path(settings.path))
        self._show(settings)

    def set_choice(self, choice: str) -> None:
        """Pick a mode the way the radio buttons and the 1-5 keys do ("blur", "picture", "color", ...)."""
        if choice == "picture":
            path = self._settings.path or self._last_path or self._first_gallery_path()
            if path is None:
                self.open_file_dialog()  # nothing to show yet: ask for a file
                return
            self._apply(mode=media_mode(path), path=path)
        else:
            self._apply(mode=choice)

    def choose_file(self, path: str | Path) -> None:
        """Use an image or video file as the background (what the file dialog does)."""
        path = str(path)
        if self._find_item(path) is None:
            self._add_gallery_item(Path(path))
        self._apply(mode=media_mode(path), path=path)

    def choose_color(self, color: str | QColor) -> None:
        self._apply(mode="color", color=QColor(color).name().upper())

    def open_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Background image or video", "", MEDIA_FILTER)
        if path:
            self.choose_file(path)
        else:
            self._show(self._settings)

    def open_color_dialog(self) -> None:
        color = QColorDialog.getColor(QColor(self._settings.color), self, "Background colour")
        if color.isValid():
            self.choose_color(color)

    # Internals -----------------------------------------------------------------------------------

    def _apply(self, **changes) -> None:
        self._settings = replace(self._settings, **changes)
        if self._settings.path:
            self._last_path = self._settings.path
        self._show(self._settings)
        self.changed.emit(self._settings)

    def _show(self, s: BackgroundSettings) -> None:
        button = self.mode_buttons.get(_choice_of(s.mode))
        if button is not None:
            button.setChecked(True)
        self.blur_slider.blockSignals(True)
        self.blur_slider.setValue(s.blur_strength)
        self.blur_slider.blockSignals(False)
        self.blur_slider.setEnabled(s.mode == "blur")
        self.color_swatch.setStyleSheet(f"background: {s.color}; border: 1px solid palette(mid);")
        item = self._find_item(s.path) if s.mode in ("image", "video") and s.path else None
        self.gallery.blockSignals(True)
        if item is not None:
            self.gallery.setCurrentItem(item)
        else:
            self.gallery.clearSelection()
        self.gallery.blockSignals(False)

    def _on_mode_clicked(self, button_id: int) -> None:
        self.set_choice(BACKGROUND_CHOICES[button_id][0])

    def _on_blur(self, value: int) -> None:
        self._apply(blur_strength=int(value))

    def _on_gallery_item(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        self._apply(mode=media_mode(path), path=path)

    def _add_gallery_item(self, path: Path, name: str | None = None) -> None:
        item = QListWidgetItem(thumbnail(path), name or path.stem)
        item.setData(Qt.ItemDataRole.UserRole, str(path))
        item.setToolTip(str(path))
        item.setSizeHint(QSize(THUMB.width() + 8, THUMB.height() + 24))
        self.gallery.addItem(item)
        self._update_gallery_visible()

    def _update_gallery_visible(self) -> None:
        # An empty strip is just a white box; the "Image or video…" button says what to do instead.
        self.gallery.setVisible(self.gallery.count() > 0)

    def _find_item(self, path: str | None) -> QListWidgetItem | None:
        for i in range(self.gallery.count()):
            if self.gallery.item(i).data(Qt.ItemDataRole.UserRole) == str(path):
                return self.gallery.item(i)
        return None

    def _first_gallery_path(self) -> str | None:
        return self.gallery.item(0).data(Qt.ItemDataRole.UserRole) if self.gallery.count() else None


# ----------------------------------------------------------------------------------------------- matte


class MattePanel(QWidget):
    """Threshold, softness, temporal smoothing, feather and edge refinement, applied live."""

    changed = Signal(object)  # MatteSettings

    def __init__(self, settings: MatteSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        self.threshold = _double_slider(*field_range(MatteSettings, "threshold"), "Probability above which a pixel counts as person")
        self.softness = _double_slider(*field_range(MatteSettings, "softness"), "Width of the soft band around the threshold")
        self.smoothing = _double_slider(*field_range(MatteSettings, "smoothing"), "Temporal smoothing: steadier edges, a little more lag")
        self.feather = QLabeledSlider(Qt.Orientation.Horizontal)
        self.feather.setRange(*field_range(MatteSettings, "feather"))
        self.feather.setToolTip("Blur the matte edge by this many pixels")
        self.refine = QCheckBox("Refine edges with the image (hair)")

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

    def settings(self) -> MatteSettings:
        return self._settings

    def set_settings(self, settings: MatteSettings) -> None:
        self._settings = settings
        self._show(settings)

    def _widgets(self):
        return (self.threshold, self.softness, self.smoothing, self.feather, self.refine)

    def _show(self, s: MatteSettings) -> None:
        for w in self._widgets():
            w.blockSignals(True)
        self.threshold.setValue(s.threshold)
        self.softness.setValue(s.softness)
        self.smoothing.setValue(s.smoothing)
        self.feather.setValue(s.feather)
        self.refine.setChecked(s.refine)
        for w in self._widgets():
            w.blockSignals(False)

    def _emit(self) -> None:
        self._settings = replace(
            self._settings,
            threshold=round(float(self.threshold.value()), 3),
            softness=round(float(self.softness.value()), 3),
            smoothing=round(float(self.smoothing.value()), 3),
            feather=int(self.feather.value()),
            refine=self.refine.isChecked(),
        )
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
    """The bundled model to run, the backend, and which device the running one uses."""

    changed = Signal(str, str)  # model name, backend

    def __init__(self, model: str, backend: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.model_combo = QComboBox()
        for name in assets.model_names():
            self.model_combo.addItem(name, name)
        self.backend_combo = QComboBox()
        for key, label in BACKEND_LABELS:
            self.backend_combo.addItem(label, key)
        self.device_label = QLabel("—")
        self.device_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.device_label.setWordWrap(True)

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Model", self.model_combo)
        form.addRow("Backend", self.backend_combo)
        form.addRow("Running", self.device_label)

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

    def set_device_info(self, text: str) -> None:
        self.device_label.setText(text or "—")

    def _emit(self) -> None:
        self.changed.emit(self.model(), self.backend())
