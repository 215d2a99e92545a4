"""Compositor: frame + alpha -> the frame with its background replaced.

    comp = Compositor(BackgroundSettings(mode="blur", blur_strength=25))
    out = comp(frame, alpha)          # uint8 BGR; BGRA when mode == "transparent"

Everything expensive is done once or at low resolution: images are cover-fitted once per frame
size, the blur runs at 1/2..1/8 of the resolution (~1 ms instead of 24 ms at 720p) and the blend is
``cv2.blendLinear`` (a fused uint8 kernel, ~10x a float numpy blend). At the soft edge pixels the
frame's colour is then replaced by the person's estimated colour (``foreground.py``), so the old
room does not shine through as a halo; ``Compositor(foreground=False)`` blends the frame as is.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .. import assets
from ..errors import PersonsegError
from ..settings import BACKGROUND_MODES, BackgroundSettings
from .foreground import alpha_levels, composite_sparse, correct_blend, foreground_colour

#: The blur runs at up to 1/BLUR_MAX_DOWNSCALE of the frame's size (see blur_factor).
BLUR_MAX_DOWNSCALE = 8


class BackgroundError(PersonsegError, ValueError):
    """A background image/video that cannot be read, or an unknown mode or colour."""


#: Colour names ``color:NAME`` takes (CSS's basic ones, and the broadcast chroma key green), as #RRGGBB.
COLOUR_NAMES = {
    "white": "#FFFFFF", "black": "#000000", "grey": "#808080", "gray": "#808080", "silver": "#C0C0C0",
    "red": "#FF0000", "maroon": "#800000", "orange": "#FFA500", "yellow": "#FFFF00", "olive": "#808000",
    "lime": "#00FF00", "green": "#008000", "chroma-green": "#00B140", "teal": "#008080", "cyan": "#00FFFF",
    "aqua": "#00FFFF", "blue": "#0000FF", "navy": "#000080", "purple": "#800080", "magenta": "#FF00FF",
    "fuchsia": "#FF00FF",
}


def parse_color(text: str) -> tuple[int, int, int]:
    """'#RRGGBB', '#RGB' (the '#' optional) or a name of ``COLOUR_NAMES`` -> a BGR tuple."""
    text = COLOUR_NAMES.get(text.strip().lower(), text)
    m = re.fullmatch(r"#?([0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})", text.strip())
    if not m:
        raise BackgroundError(f"colour {text!r} is not #RRGGBB, #RGB or a colour name ({', '.join(COLOUR_NAMES)})")
    h = m.group(1)
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return b, g, r


def cover_fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale ``image`` to cover (w, h) keeping its aspect, then centre-crop: no bars, no stretching."""
    w, h = size
    ih, iw = image.shape[:2]
    scale = max(w / iw, h / ih)
    nw, nh = max(w, round(iw * scale)), max(h, round(ih * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interp)
    x, y = (nw - w) // 2, (nh - h) // 2
    return np.ascontiguousarray(resized[y : y + h, x : x + w])


def blur_sigma(strength: int, frame_h: int) -> float:
    """Gaussian sigma at full resolution for a 1..100 strength; scales with the frame so the look
    does not change with the camera's resolution (25 -> sigma 12 at 720p)."""
    return max(0.5, float(strength) * 0.5 * frame_h / 720)


def blur_factor(strength: int, frame_h: int) -> int:
    """How much smaller than the frame to blur: as small as keeps the blur >= 1 px there
    (a strong blur at 1/8 size costs a sixteenth of the 1/2-size one and looks the same)."""
    factor = 1
    while factor < BLUR_MAX_DOWNSCALE and blur_sigma(strength, frame_h) / (factor * 2) >= 1.0:
        factor *= 2
    return factor


def _weighted_blur(small: np.ndarray, alpha: np.ndarray, sigma: float) -> np.ndarray:
    """Blur of the background only: the person is weighted out before blurring and the weights
    renormalised, so the person's colours do not bleed into the background as a halo."""
    sh, sw = small.shape[:2]
    weight = cv2.resize(alpha, (sw, sh), interpolation=cv2.INTER_LINEAR)  # alpha is smooth: no aliasing
    np.subtract(np.float32(1.0), weight, out=weight)
    weight += np.float32(1e-3)  # a frame that is all person still gets a (plain) blur
    num = cv2.GaussianBlur(small.astype(np.float32) * weight[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigma)
    num /= den[..., None]
    return cv2.convertScaleAbs(num)


class Compositor:
    """Holds the cached background for the current settings and frame size."""

    def __init__(self, settings: BackgroundSettings | None = None, *, foreground: bool = True):
        self.settings = replace(settings) if settings is not None else BackgroundSettings()
        # Estimate the person's colour at soft edge pixels (compose/foreground.py); False: blend the
        # frame as is (before issue 12; bench --edges compares the two).
        self.foreground = foreground
        self._cache_key: tuple | None = None
        self._background: np.ndarray | None = None  # image/colour background at frame size
        self._bg_alpha: tuple[np.ndarray, np.ndarray] | None = None  # a PNG's alpha and 1 - alpha, at frame size
        self._video: cv2.VideoCapture | None = None
        self._video_path: str | None = None
        self._video_run = 0  # frames read since the clip (re)started
        self._video_last: np.ndarray | None = None
        self._inv: np.ndarray | None = None  # 1 - alpha, reused
        self._i420_key: tuple | None = None
        self._i420_background: np.ndarray | None = None  # the static background in I420
        # BGR -> I420 for image/colour/video backgrounds on the I420 path: BT.601 unless the caller
        # gives the input's own matrix (offline sets video.colour.Colour.bgr_to_i420 for BT.709 files).
        self.bgr_to_i420: Callable[[np.ndarray], np.ndarray] = _bgr_to_i420_bt601
        self._picture: tuple[str, tuple[np.ndarray, np.ndarray | None]] | None = None  # (path, decoded) of an image background
        self._check(self.settings)

    @property
    def _new_colour(self) -> bool:
        """Whether soft edge pixels get the estimated foreground colour. Not over the blurred room: there the
        old room's share of an edge pixel is the new background's own colour, no halo — and the estimate
        is ~2 ms of the 720p live budget (blur is the default background)."""
        return self.foreground and self.settings.mode != "blur"

    def update(self, settings: BackgroundSettings) -> None:
        self._check(settings)
        self.settings = replace(settings)
        self._cache_key = None
        if settings.mode != "video" or settings.path != self._video_path:
            self._close_video()

    def close(self) -> None:
        self._close_video()

    def __call__(self, frame: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        mode = self.settings.mode
        if mode == "none":
            return frame
        if mode == "transparent":
            a8 = alpha_levels(alpha)  # the output's alpha, and which pixels are soft
            colour = foreground_colour(frame, alpha, a8) if self.foreground else frame
            return cv2.merge((*cv2.split(colour), a8))
        owned = True  # a buffer made for this frame, which the blend may write into
        if mode == "blur":
            background = self._blurred(frame, alpha)
        elif mode == "video":
            background, owned = self._video_frame(frame.shape[:2]), False
        else:  # image, color
            background, owned = self._static(frame.shape[:2]), False
            if self._bg_alpha is not None:  # a PNG's transparent parts show the blurred room
                background, owned = cv2.blendLinear(background, self._blurred(frame, alpha), *self._bg_alpha), True
        return self.blend(frame, background, alpha, owned=owned)

    def blend(self, frame: np.ndarray, background: np.ndarray, alpha: np.ndarray, *, owned: bool = False) -> np.ndarray:
        """``owned``: ``background`` is a fresh buffer this call may write into (the blurred room)."""
        target = background if owned and background.flags.c_contiguous else background.copy()
        sparse = composite_sparse(frame, target, alpha, foreground=self._new_colour)
        if sparse is not None:
            return sparse
        if self._inv is None or self._inv.shape != alpha.shape:
            self._inv = np.empty_like(alpha)
        np.subtract(np.float32(1.0), alpha, out=self._inv)
        out = cv2.blendLinear(frame, background, alpha, self._inv)
        return correct_blend(frame, alpha, out) if self._new_colour else out

    # I420 (offline fast path) -----------------------------------------------------------------

    def compose_i420(self, frame: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        """Like ``__call__`` for a frame in I420 layout (see ``i420_planes``), result in I420.

        Offline files are yuv420p on both ends: compositing in that space skips two full-size colour
        conversions and blends 1.5 instead of 3 bytes per pixel (about 5 ms less CPU per 720p frame).
        Not for "transparent" (needs BGRA)."""
        mode = self.settings.mode
        if mode == "transparent":
            raise ValueError("transparent output has no I420 form; use __call__ with a BGR frame")
        if mode == "none":
            return frame
        h, w = alpha.shape
        owned = True  # a buffer made for this frame: the blend writes into it
        if mode == "blur":
            background = self._blurred_i420(frame, alpha)
        elif mode == "video":
            background = self.bgr_to_i420(self._video_frame((h, w)))
        else:
            key = (self.settings.mode, self.settings.path, self.settings.color, (h, w))
            if key != self._i420_key:
                self._i420_background = self.bgr_to_i420(self._static((h, w)))
                self._i420_key = key
            background, owned = self._i420_background, False
            if self._bg_alpha is not None:  # a PNG's transparent parts show the blurred room
                background, owned = _blend_i420(background, self._blurred_i420(frame, alpha), *self._bg_alpha), True
        out = background if owned else background.copy()
        alpha_half = cv2.resize(alpha, (w // 2, h // 2), interpolation=cv2.INTER_LINEAR)
        for src, dst, a in zip(i420_planes(frame), i420_planes(out), (alpha, alpha_half, alpha_half)):
            # Only the soft pixels are blended (issue 11's budget: 5.3 -> ~2 ms CPU per 720p frame).
            if composite_sparse(src, dst, a, foreground=self._new_colour) is None:
                cv2.blendLinear(src, dst.copy(), a, np.subtract(np.float32(1.0), a), dst=dst)
                if self._new_colour:
                    correct_blend(src, a, dst)
        return out

    def _blurred_i420(self, frame: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        h, w = alpha.shape
        y, u, v = i420_planes(frame)
        small_size, sigma = self._blur_plan(h, w)
        small = cv2.merge([cv2.resize(p, small_size, interpolation=cv2.INTER_LINEAR) for p in (y, u, v)])
        bg_small = cv2.split(_weighted_blur(small, alpha, sigma))
        out = np.empty_like(frame)
        oy, ou, ov = i420_planes(out)
        cv2.resize(bg_small[0], (w, h), dst=oy, interpolation=cv2.INTER_LINEAR)
        cv2.resize(bg_small[1], (w // 2, h // 2), dst=ou, interpolation=cv2.INTER_LINEAR)
        cv2.resize(bg_small[2], (w // 2, h // 2), dst=ov, interpolation=cv2.INTER_LINEAR)
        return out

    # Backgrounds ------------------------------------------------------------------------------

    def _blurred(self, frame: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        small_size, sigma = self._blur_plan(h, w)
        # Plain bilinear: its aliasing is invisible under the blur, and it costs 0.15 ms, not 1.2 ms.
        small = cv2.resize(frame, small_size, interpolation=cv2.INTER_LINEAR)
        bg_small = _weighted_blur(small, alpha, sigma)
        return cv2.resize(bg_small, (w, h), interpolation=cv2.INTER_LINEAR)

    def _blur_plan(self, h: int, w: int) -> tuple[tuple[int, int], float]:
        """(W, H) of the small copy the blur runs on, and the Gaussian sigma at that size."""
        strength = self.settings.blur_strength
        factor = blur_factor(strength, h)
        return (max(1, w // factor), max(1, h // factor)), blur_sigma(strength, h) / factor

    def _static(self, shape: tuple[int, int]) -> np.ndarray:
        s = self.settings
        key = (s.mode, s.path, s.color, shape)
        if key != self._cache_key:
            h, w = shape
            self._bg_alpha = None
            if s.mode == "color":
                self._background = np.empty((h, w, 3), np.uint8)
                self._background[:] = parse_color(s.color)
            else:
                image, alpha = self._picture[1] if self._picture and self._picture[0] == s.path else load_image_alpha(s.path)
                self._background = cover_fit(image, (w, h))
                if alpha is not None:
                    a = cover_fit(alpha, (w, h))
                    self._bg_alpha = (a, np.subtract(np.float32(1.0), a))
            self._cache_key = key
        return self._background

    def _video_frame(self, shape: tuple[int, int]) -> np.ndarray:
        path = self.settings.path
        if self._video is None:
            self._video = open_video(path)
            self._video_path, self._video_run = path, 0
        ok, image = self._video.read()
        if not ok and self._video_run == 1:  # a one-frame clip is a still (seeking back to frame 0 fails on it)
            image = self._video_last
        elif not ok:  # end of the clip: loop
            self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._video.read()
            if not ok:
                raise BackgroundError(f"background video {path} has no readable frames")
            self._video_run = 0
        if ok:
            self._video_run += 1
            self._video_last = image
        h, w = shape
        return cover_fit(image, (w, h))

    def _close_video(self) -> None:
        if self._video is not None:
            self._video.release()
        self._video = None
        self._video_path = None

    def _check(self, s: BackgroundSettings) -> None:
        """Refuses a background that cannot be shown, before it is used: a file that exists but does not decode
        failed on the first frame instead, and the live picture stopped there (every frame "processing failed")."""
        if s.mode not in BACKGROUND_MODES:
            raise BackgroundError(f"unknown background mode {s.mode!r} (one of {', '.join(BACKGROUND_MODES)})")
        if s.mode == "color":
            parse_color(s.color)
        if s.mode in ("image", "video") and not s.path:
            raise BackgroundError(f"background mode {s.mode!r} needs a file path")
        if s.mode in ("image", "video") and not Path(s.path).is_file():
            raise BackgroundError(f"background file not found: {s.path}")
        if s.mode == "image" and (self._picture is None or self._picture[0] != s.path):
            self._picture = (s.path, load_image_alpha(s.path))  # decoded here once; _static uses it
        if s.mode == "video":
            check_video(s.path)


def _bgr_to_i420_bt601(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)


def i420_planes(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of Y (h, w), U and V (h/2, w/2) in an I420 buffer of shape (h*3/2, w) — the layout of
    PyAV's ``to_ndarray()`` for yuv420p and of OpenCV's ``COLOR_BGR2YUV_I420`` (even h and w)."""
    h, w = frame.shape[0] * 2 // 3, frame.shape[1]
    flat = frame.reshape(-1)  # offsets, not rows: a chroma plane need not fill whole rows of w
    c = (h // 2) * (w // 2)
    return flat[: h * w].reshape(h, w), flat[h * w : h * w + c].reshape(h // 2, w // 2), flat[h * w + c :].reshape(h // 2, w // 2)


def i420_to_bgr_half(frame: np.ndarray) -> np.ndarray:
    """A half-size BGR copy of an I420 frame, for the model and the matte's guide (neither needs
    more): 0.3 ms at 720p instead of 1.1 ms for the full-size conversion."""
    h, w = frame.shape[0] * 2 // 3, frame.shape[1]
    if h % 4 or w % 4:
        bgr = cv2.cvtColor(frame, cv2.COLOR_YUV2BGR_I420)
        return cv2.resize(bgr, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    y, u, v = i420_planes(frame)
    half = np.empty((h // 2 * 3 // 2, w // 2), np.uint8)
    hy, hu, hv = i420_planes(half)
    cv2.resize(y, (w // 2, h // 2), dst=hy, interpolation=cv2.INTER_AREA)
    cv2.resize(u, (w // 4, h // 4), dst=hu, interpolation=cv2.INTER_AREA)
    cv2.resize(v, (w // 4, h // 4), dst=hv, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(half, cv2.COLOR_YUV2BGR_I420)


def _blend_i420(a: np.ndarray, b: np.ndarray, wa: np.ndarray, wb: np.ndarray) -> np.ndarray:
    """Two I420 frames mixed with full-size weights (halved for the chroma planes)."""
    h, w = wa.shape
    out = np.empty_like(a)
    half = [cv2.resize(x, (w // 2, h // 2), interpolation=cv2.INTER_AREA) for x in (wa, wb)]
    for pa, pb, dst, weights in zip(i420_planes(a), i420_planes(b), i420_planes(out), ((wa, wb), half, half)):
        cv2.blendLinear(pa, pb, *weights, dst=dst)
    return out


def load_image_alpha(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """An image as BGR, and its alpha as float32 0..1 when it has transparent parts (a PNG cut-out)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is not None and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 4:
        if image[..., 3].min() < 255:
            return np.ascontiguousarray(image[..., :3]), image[..., 3].astype(np.float32) / np.float32(255)
        return np.ascontiguousarray(image[..., :3]), None
    return load_image(path), None


def load_image(path: str | Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise BackgroundError(f"cannot read background image {path} (not an image OpenCV can decode)")
    return image


def check_video(path: str | Path) -> None:
    """BackgroundError unless the file opens as a video and gives a frame."""
    capture = open_video(path)
    try:
        if not capture.read()[0]:
            raise BackgroundError(f"background video {path} has no readable frames")
    finally:
        capture.release()


def media_mode(path: str | Path) -> str:
    """"video" for a video file (an animated GIF too) or an animated WebP, else "image". A WebP can be either: one
    whose second frame OpenCV reads moves (it stood still on its first frame)."""
    suffix = Path(path).suffix.lower()
    if suffix in assets.VIDEO_EXTS:
        return "video"
    if suffix == ".webp":
        capture = cv2.VideoCapture(str(path))
        try:
            if capture.isOpened() and capture.read()[0] and capture.read()[0]:
                return "video"
        finally:
            capture.release()
    return "image"


def check_media(path: str | Path) -> str:
    """BackgroundError (its message for the user) unless ``path`` can be shown as a background picture or video;
    its ``media_mode`` (telling an animated WebP opens the file: callers take the answer, not ask again)."""
    if not Path(path).is_file():
        raise BackgroundError(f"background file not found: {path}")
    mode = media_mode(path)
    if mode == "video":
        check_video(path)
    else:
        load_image_alpha(path)
    return mode


def open_video(path: str | Path) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise BackgroundError(f"cannot open background video {path}: damaged, cut short, or not a video OpenCV can read")
    return cap
