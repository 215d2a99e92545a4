"""The background chooser: one grid of tiles (blur, none, colour, transparent, every picture, and an
"add your own" tile), with the one setting the chosen mode has (blur strength, or the colour) below.

A grid rather than radio buttons plus a film strip: every choice is visible at once, as a picture of
what it gives, and adding a picture puts it among the others.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QColorDialog,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .. import assets
from ..compose.effects import BackgroundError, check_media, media_mode
from ..settings import BackgroundSettings
from .widgets import checkerboard, to_qimage

MEDIA_FILTER = (
    "Images and videos (" + " ".join(f"*{e}" for e in assets.IMAGE_EXTS + assets.VIDEO_EXTS) + ");;All files (*)"
)

#: The background modes as the user picks them, in hotkey order (1..5). "Picture" covers image and video.
BACKGROUND_CHOICES = (
    ("blur", "Blur"),
    ("picture", "Picture"),
    ("color", "Colour"),
    ("none", "None"),
    ("transparent", "Transparent"),
)
#: The mode tiles, in grid order (pictures follow them).
MODE_TILES = (("blur", "Blur"), ("none", "None"), ("color", "Colour"), ("transparent", "Transparent"))
THUMB = QSize(84, 48)
COLUMNS = 3


def choice_of(mode: str) -> str:
    return "picture" if mode in ("image", "video") else mode


# Blur strength on a perceptual scale. The setting is linear in the Gaussian sigma (1..100 ->
# 0.5..50 px at 720p), but how much a blur changes a picture grows like the logarithm of sigma:
# on the bundled (sharp) backgrounds the mean change reaches 40 % of its maximum by strength 10,
# 64 % by 25 and 83 % by 50. So the slider position p (0..100) maps to strength 100 ** (p / 100):
# 10 at the middle, the default 25 at 70, and equal slider steps look like equal changes.
def blur_position(strength: int) -> int:
    return round(100 * math.log(max(1, strength)) / math.log(100))


def blur_strength(position: int) -> int:
    return int(min(100, max(1, round(100 ** (position / 100)))))


def thumbnail(path: str | Path, size: QSize = THUMB, blur: float = 0.0) -> QIcon:
    """An icon from an image, or a video's first frame, optionally blurred; a grey tile when the file
    cannot be read."""
    frame = read_still(path, size)
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
    if blur > 0:
        crop = cv2.GaussianBlur(crop, (0, 0), blur)
    image, _buf = to_qimage(crop)
    return QIcon(QPixmap.fromImage(image))  # fromImage copies, so the buffer may go


def read_still(path: str | Path, size: QSize = THUMB) -> np.ndarray | None:
    """An image file, or a video's first frame, as BGR (None when it cannot be read)."""
    if media_mode(path) == "video":
        cap = cv2.VideoCapture(str(path))
        ok, frame = cap.read()
        cap.release()
        return frame if ok else None
    # JPEG decodes at a quarter of the size in a third of the time; a thumbnail needs no more.
    frame = cv2.imread(str(path), cv2.IMREAD_REDUCED_COLOR_4)
    if frame is None or min(frame.shape[:2]) < size.height():
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return frame


def bundled_name(path: Path) -> str:
    """A bundled background's file name for people: "twilio_BohoHome" -> "Boho Home" (the prefix
    names where it came from, which SOURCE.md records), "wa_office_2" -> "Office 2"."""
    parts = path.stem.split("_")
    if len(parts) > 1 and parts[0].islower():
        parts = parts[1:]
    words = " ".join(re.sub(r"(?<=[a-z])(?=[A-Z])", " ", p) for p in parts)
    return words[:1].upper() + words[1:]


def _filled(color: QColor | str, size: QSize = THUMB) -> QIcon:
    pix = QPixmap(size)
    pix.fill(QColor(color))
    return QIcon(pix)


def _tiled_checkerboard(size: QSize = THUMB) -> QIcon:
    pix = QPixmap(size)
    painter = QPainter(pix)
    painter.drawTiledPixmap(pix.rect(), checkerboard(8))
    painter.end()
    return QIcon(pix)


def _symbol_icon(draw, size: QSize = THUMB) -> QIcon:
    """A grey line drawing on a light tile: ``draw(painter, cx, cy, r)``."""
    pix = QPixmap(size)
    pix.fill(QColor(225, 225, 225))
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = painter.pen()
    pen.setColor(QColor(110, 110, 110))
    pen.setWidth(3)
    painter.setPen(pen)
    draw(painter, size.width() // 2, size.height() // 2, size.height() // 4)
    painter.end()
    return QIcon(pix)


def _plus_icon() -> QIcon:
    return _symbol_icon(lambda p, cx, cy, r: (p.drawLine(cx - r, cy, cx + r, cy), p.drawLine(cx, cy - r, cx, cy + r)))


def _none_icon() -> QIcon:
    """A circle struck through: no change to the picture."""
    return _symbol_icon(lambda p, cx, cy, r: (p.drawEllipse(cx - r, cy - r, 2 * r, 2 * r), p.drawLine(cx - r + 3, cy + r - 3, cx + r - 3, cy - r + 3)))


class BackgroundPanel(QWidget):
    """Blur (with strength), none, a colour, transparent, a picture (bundled, or any image/video file)."""

    changed = Signal(object)  # BackgroundSettings
    problem = Signal(str)  # a file chosen as the background cannot be shown (why, for the user)

    def __init__(self, settings: BackgroundSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        self._last_path = settings.path
        self.tiles = QButtonGroup(self)  # exclusive: one tile is the background in use
        self.mode_buttons: dict[str, QToolButton] = {}
        self.picture_tiles: dict[str, QToolButton] = {}
        self._grid = QGridLayout()
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(4)

        sample = next(iter(assets.backgrounds()), None)
        mode_icons = {
            "blur": thumbnail(sample, blur=3.0) if sample else _filled("#9aa"),
            "none": _none_icon(),
            "color": _filled(settings.color),
            "transparent": _tiled_checkerboard(),
        }
        for choice, label in MODE_TILES:
            number = next(i for i, (c, _l) in enumerate(BACKGROUND_CHOICES) if c == choice) + 1
            tip = {"none": "No background change: the camera picture as it is"}.get(choice, f"Background: {label.lower()}")
            tile = self._add_tile(mode_icons[choice], label, f"{tip} (key {number})")
            tile.clicked.connect(lambda _c=False, c=choice: self.set_choice(c))
            self.mode_buttons[choice] = tile
        self.add_tile = self._make_tile(_plus_icon(), "Add your own…", "Use any image or video as the background (Ctrl+B)")
        self.add_tile.setCheckable(False)
        self.add_tile.clicked.connect(self.open_file_dialog)
        for path in assets.backgrounds():
            self._add_picture_tile(str(path), bundled_name(path))
        if settings.path:
            self._add_picture_tile(settings.path)
        self._place_add_tile()

        # A plain slider and a label of its own: the slider is perceptual (position 70 is strength 25), and a
        # labelled slider would show the position, a number the user finds nowhere else.
        self.blur_slider = QSlider(Qt.Orientation.Horizontal)
        self.blur_slider.setRange(0, 100)
        self.blur_slider.setToolTip("Blur strength: from a hint of softness to unrecognisable")
        self.blur_value = QLabel()
        self.blur_value.setMinimumWidth(self.blur_value.fontMetrics().horizontalAdvance("100") + 4)
        self.blur_value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.color_button = QPushButton("Colour…")
        self.color_swatch = QLabel()
        self.color_swatch.setFixedSize(28, 20)

        self.blur_row = QWidget()
        row = QHBoxLayout(self.blur_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Strength"))
        row.addWidget(self.blur_slider, 1)
        row.addWidget(self.blur_value)
        self.color_row = QWidget()
        row = QHBoxLayout(self.color_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.color_button)
        row.addWidget(self.color_swatch)
        row.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._grid)
        layout.addWidget(self.blur_row)
        layout.addWidget(self.color_row)

        self._show(settings)
        self.blur_slider.valueChanged.connect(self._on_blur)
        self.color_button.clicked.connect(self.open_color_dialog)

    # The public API ------------------------------------------------------------------------------

    def settings(self) -> BackgroundSettings:
        return self._settings

    def set_settings(self, settings: BackgroundSettings) -> None:
        self._settings = settings
        if settings.path:
            self._add_picture_tile(settings.path)
        self._show(settings)

    def set_choice(self, choice: str) -> None:
        """Pick a mode the way the tiles and the 1-5 keys do ("blur", "picture", "color", ...)."""
        if choice == "picture":
            path = self._settings.path or self._last_path or next(iter(self.picture_tiles), None)
            if path is None:
                self.open_file_dialog()  # nothing to show yet: ask for a file
                return
            self._apply(mode=media_mode(path), path=path)
        else:
            self._apply(mode=choice)

    def choose_file(self, path: str | Path) -> bool:
        """Use an image or video file as the background (what the file dialog does); whether it was taken.
        A file that cannot be shown gets no tile and changes nothing: ``problem`` says why."""
        path = str(path)
        try:
            mode = check_media(path)
        except BackgroundError as exc:
            self._show(self._settings)
            self.problem.emit(str(exc))
            return False
        self._add_picture_tile(path)
        self._apply(mode=mode, path=path)
        return True

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
        tile = self.picture_tiles.get(s.path) if choice_of(s.mode) == "picture" else self.mode_buttons.get(s.mode)
        if tile is not None:
            tile.setChecked(True)
        else:  # nothing in the grid matches (a picture file that went away): no tile pressed
            self.tiles.setExclusive(False)
            for button in self.tiles.buttons():
                button.setChecked(False)
            self.tiles.setExclusive(True)
        self.blur_slider.blockSignals(True)
        self.blur_slider.setValue(blur_position(s.blur_strength))
        self.blur_slider.blockSignals(False)
        self.blur_value.setText(str(s.blur_strength))
        self.blur_row.setVisible(s.mode == "blur")
        self.color_row.setVisible(s.mode == "color")
        self.color_swatch.setStyleSheet(f"background: {s.color}; border: 1px solid palette(mid);")
        self.mode_buttons["color"].setIcon(_filled(s.color))

    def _on_blur(self, position: int) -> None:
        strength = blur_strength(int(position))
        if strength != self._settings.blur_strength:
            self._apply(blur_strength=strength)

    def _make_tile(self, icon: QIcon, label: str, tip: str) -> QToolButton:
        tile = QToolButton()
        tile.setIcon(icon)
        tile.setIconSize(THUMB)
        tile.setText(label)
        tile.setToolTip(tip)
        tile.setCheckable(True)
        tile.setAutoRaise(True)
        tile.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        tile.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        # The tile in use gets a frame in the highlight colour; autoRaise alone is too subtle.
        tile.setStyleSheet("QToolButton:checked { border: 2px solid palette(highlight); border-radius: 4px; }")
        return tile

    def _add_tile(self, icon: QIcon, label: str, tip: str) -> QToolButton:
        tile = self._make_tile(icon, label, tip)
        self.tiles.addButton(tile)
        n = len(self.tiles.buttons()) - 1
        self._grid.addWidget(tile, n // COLUMNS, n % COLUMNS)
        tile.show()  # at once, not on the layout's next pass: a picture added by the user is there now
        return tile

    def _add_picture_tile(self, path: str, name: str | None = None) -> None:
        if path in self.picture_tiles:
            return
        label = name or Path(path).stem
        metrics = self.fontMetrics()
        tile = self._add_tile(thumbnail(path), metrics.elidedText(label, Qt.TextElideMode.ElideMiddle, THUMB.width() + 16), path)
        tile.clicked.connect(lambda _c=False, p=path: self._apply(mode=media_mode(p), path=p))
        self.picture_tiles[path] = tile
        self._place_add_tile()

    def _place_add_tile(self) -> None:
        n = len(self.tiles.buttons())  # the add tile always comes last
        self._grid.removeWidget(self.add_tile)
        self._grid.addWidget(self.add_tile, n // COLUMNS, n % COLUMNS)
