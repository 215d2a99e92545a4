"""Augmentation that bridges the training photos to webcam use.

The shared sets are full-body street photos, tight celebrity portraits and everyday scenes; users sit in
front of a webcam indoors. Each sample therefore gets: a scale matching how the runtime resizes frames
(area ~ 192^2, aspect kept) with zoom in/out, head-and-shoulders crops cut from full-body photos, the
person pasted onto new room/scene photos, lighting and colour changes, grayscale, noise and blur.
All numpy/OpenCV on uint8/float32, a few ms per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from personseg_live.model.segmenter import RUNTIME_AREA, input_size_for  # the runtime's resize rule

from .data import Sample


@dataclass(frozen=True)
class AugmentConfig:
    size: tuple[int, int] = (160, 160)  # (H, W) of training crops
    zoom: tuple[float, float] = (0.6, 2.5)  # area multiplier relative to the runtime scale (log-uniform)
    webcam_crop: float = 0.3  # probability of a head-and-shoulders crop from a taller person
    small_person: float = 0.0  # probability of a wide shot: the person shrunk to 20-60 % of the crop height
    torso_crop: float = 0.0  # probability of a crop without the head: torso, arms and hands of a standing person
    # a portrait picture's crops stretched sideways as the runtime stretches it (``input_size_for``'s
    # aspect_power; 1 = not stretched)
    portrait_aspect_power: float = 1.0
    # probability of a strong exposure change with clipping: blown highlights (a white shirt before a bright wall or
    # sky, as a webcam or phone clips them) or a dim room (see _exposure)
    exposure: float = 0.0
    # share of pastes whose scene is out of focus (a shallow depth of field: a portrait lens, a webcam close up), so
    # that a smooth, blurred area beside the head is not learnt as person because every pasted room was sharp
    defocus: float = 0.0
    flip: float = 0.5
    color: float = 0.8
    grayscale: float = 0.08
    blur: float = 0.2
    noise: float = 0.3


def _person_bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(mask > 0.5)
    if len(ys) < 50:
        return None
    return int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())


def _crop_resize(img: np.ndarray, mask: np.ndarray, y0: float, x0: float, ch: float, cw: float,
                 out_hw: tuple[int, int], rng: np.random.Generator, backgrounds: list[np.ndarray]):
    """Crop the window (y0, x0, ch, cw) in source pixels, which may extend past the image, to out_hw.

    Outside the image the mask is background and the picture is a scene photo (or the edge colour
    stretched when there are none): mirrored borders would invent mirrored people, black ones would
    teach that people stop at black bars.
    """
    oh, ow = out_hw
    sx, sy = ow / cw, oh / ch
    m = np.array([[sx, 0, -x0 * sx], [0, sy, -y0 * sy]], np.float32)
    interp = cv2.INTER_AREA if sx < 1 else cv2.INTER_LINEAR
    out_img = cv2.warpAffine(img, m, (ow, oh), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    out_mask = cv2.warpAffine(mask, m, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    inside = y0 >= 0 and x0 >= 0 and y0 + ch <= img.shape[0] and x0 + cw <= img.shape[1]
    if not inside and backgrounds:
        valid = cv2.warpAffine(np.ones(mask.shape, np.float32), m, (ow, oh), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)[..., None]
        fill = _background_crop(backgrounds[rng.integers(len(backgrounds))], (oh, ow), rng)
        out_img = (out_img * valid + fill * (1 - valid)).astype(np.uint8)
    return out_img, out_mask


def _background_crop(background: np.ndarray, out_hw: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A random window of a scene photo, scaled to cover out_hw (float32)."""
    oh, ow = out_hw
    bh, bw = background.shape[:2]
    s = max(oh / bh, ow / bw) * rng.uniform(1.0, 2.0)
    bg = cv2.resize(background, (max(ow, int(bw * s + 1)), max(oh, int(bh * s + 1))), interpolation=cv2.INTER_LINEAR)
    y = rng.integers(0, bg.shape[0] - oh + 1)
    x = rng.integers(0, bg.shape[1] - ow + 1)
    return bg[y:y + oh, x:x + ow].astype(np.float32)


def _random_window(sample: Sample, cfg: AugmentConfig, rng: np.random.Generator):
    h, w = sample.mask.shape
    oh, ow = cfg.size
    bbox = _person_bbox(sample.mask)
    # (cfg.torso_crop > 0 first: without torso crops the random stream, and so a seed's samples, stay as before)
    if cfg.torso_crop > 0 and bbox is not None and rng.random() < cfg.torso_crop and (bbox[1] - bbox[0]) > 1.3 * (bbox[3] - bbox[2]):
        # No head in the picture: someone standing up in front of a desk camera, hands busy at a table.
        # The window starts below the head (12-30 % down the body) and shows 25-55 % of its height.
        top, bottom, left, right = bbox
        ph = bottom - top
        y0 = top + ph * rng.uniform(0.12, 0.3)
        ch = ph * rng.uniform(0.25, 0.55)
        cw = ch * (ow / oh) * rng.uniform(1.0, 1.8)
        cx = (left + right) / 2 + (right - left) * rng.uniform(-0.25, 0.25)
        return y0, cx - cw / 2, ch, cw
    if bbox is not None and rng.random() < cfg.webcam_crop and (bbox[1] - bbox[0]) > 1.3 * (bbox[3] - bbox[2]):
        # Head-and-shoulders framing cut from a standing person: the top 30-60 % of the body.
        top, bottom, left, right = bbox
        ph = bottom - top
        ch = ph * rng.uniform(0.3, 0.6)
        cw = ch * (ow / oh) * rng.uniform(0.9, 1.8)
        y0 = top - ch * rng.uniform(0.03, 0.25)
        cx = (left + right) / 2 + (right - left) * rng.uniform(-0.2, 0.2)
        return y0, cx - cw / 2, ch, cw
    # Runtime scale: the whole image shown at ~RUNTIME_AREA pixels, then zoomed in or out.
    zoom = np.exp(rng.uniform(np.log(cfg.zoom[0]), np.log(cfg.zoom[1])))
    scale = np.sqrt(RUNTIME_AREA * zoom / (h * w))  # output px per source px
    aspect = np.exp(rng.uniform(-0.15, 0.15))
    if w < h:  # the runtime feeds aspect a as a ** power: the crop a ** ((1 - power) / 2) narrower, as much taller
        aspect /= (w / h) ** ((1.0 - cfg.portrait_aspect_power) / 2)
    ch, cw = oh / scale * aspect, ow / scale / aspect
    # Keep some person in view: centre the window near the person most of the time.
    if bbox is not None and rng.random() < 0.8:
        cy = rng.uniform(bbox[0], bbox[1])
        cx = rng.uniform(bbox[2], bbox[3])
    else:
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    y0 = np.clip(cy - ch / 2, min(0, h - ch), max(0, h - ch))
    x0 = np.clip(cx - cw / 2, min(0, w - cw), max(0, w - cw))
    return y0, x0, ch, cw


def _wide_shot_window(sample: Sample, cfg: AugmentConfig, rng: np.random.Generator):
    """A window several times the person's height, so a full body stands small in the frame as in
    video of people walking, dancing or doing sport; None when the sample shows no person."""
    bbox = _person_bbox(sample.mask)
    if bbox is None:
        return None
    top, bottom, left, right = bbox
    oh, ow = cfg.size
    ch = (bottom - top) / rng.uniform(0.2, 0.6)
    cw = ch * (ow / oh) * np.exp(rng.uniform(-0.15, 0.15))
    # The person anywhere in the frame, whole or cut by an edge now and then.
    cy = (top + bottom) / 2 + rng.uniform(-0.3, 0.3) * ch
    cx = (left + right) / 2 + rng.uniform(-0.4, 0.4) * cw
    return cy - ch / 2, cx - cw / 2, ch, cw


#: Gaussian sigma of a defocused scene, as a share of the crop's short side (224 px: 2-9 px).
DEFOCUS_SIGMA = (0.01, 0.04)


def _paste(img: np.ndarray, mask: np.ndarray, background: np.ndarray, rng: np.random.Generator,
           defocus: float = 0.0) -> np.ndarray:
    """Composite the person over a random crop of a scene photo, with a slightly soft edge; ``defocus``: the
    chance that the scene is out of focus."""
    bg = _background_crop(background, mask.shape, rng)
    # (drawn only when defocus > 0: without it the random stream, and so a seed's samples, stay as before)
    if defocus > 0 and rng.random() < defocus:
        bg = cv2.GaussianBlur(bg, (0, 0), float(rng.uniform(*DEFOCUS_SIGMA)) * min(mask.shape))
    # Match brightness roughly so the paste is not an easy "different lighting" cue.
    bg *= np.clip(img.mean() / max(bg.mean(), 1.0), 0.6, 1.6) ** rng.uniform(0, 1)
    a = cv2.GaussianBlur(mask, (3, 3), 0)[..., None]
    return np.clip(img.astype(np.float32) * a + bg * (1 - a), 0, 255).astype(np.uint8)


#: Linear-light gains of _exposure: brighter (0.3 to 1.4 stops over, the highlights clipped) or darker.
OVEREXPOSE, UNDEREXPOSE = (1.25, 2.6), (0.3, 0.7)


def _exposure(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The picture as the camera would have taken it with a different exposure: a gain in linear light, then
    clipped. The colour jitter below scales sRGB values and clips only at the very end, so a light shirt and a
    light wall keep the detail that tells them apart; a real overexposed picture has lost it."""
    lo, hi = OVEREXPOSE if rng.random() < 0.7 else UNDEREXPOSE
    gain = np.float32(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return np.clip(np.clip(x, 0, 1) ** 2.2 * gain, 0, 1) ** (1 / 2.2)


def _photometric(img: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    x = img.astype(np.float32) / 255.0
    # (cfg.exposure > 0 first: without it the random stream, and so a seed's samples, stay as before)
    if cfg.exposure > 0 and rng.random() < cfg.exposure:
        x = _exposure(x, rng)
    if rng.random() < cfg.color:
        gamma = np.exp(rng.uniform(-0.5, 0.5))  # dark rooms and overexposed windows
        x = x ** gamma
        x = x * rng.uniform(0.6, 1.3) + rng.uniform(-0.1, 0.1)
        gray = x.mean(axis=2, keepdims=True)
        x = gray + (x - gray) * rng.uniform(0.5, 1.4)  # saturation
        x = x * rng.uniform(0.85, 1.15, size=3).astype(np.float32)  # white balance
    if rng.random() < cfg.grayscale:
        x = np.repeat(x.mean(axis=2, keepdims=True), 3, axis=2)
    if rng.random() < cfg.blur:
        if rng.random() < 0.5:
            k = int(rng.integers(1, 3)) * 2 + 1
            x = cv2.GaussianBlur(x, (k, k), 0)
        else:  # motion blur along a random direction
            k = int(rng.integers(3, 8))
            kernel = np.zeros((k, k), np.float32)
            kernel[k // 2, :] = 1.0 / k
            rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
            kernel = cv2.warpAffine(kernel, rot, (k, k))
            x = cv2.filter2D(x, -1, kernel / max(kernel.sum(), 1e-6))
    if rng.random() < cfg.noise:
        x = x + rng.normal(0, rng.uniform(0.005, 0.04), x.shape).astype(np.float32)
    return np.clip(x, 0, 1).astype(np.float32)


def augment(sample: Sample, cfg: AugmentConfig, rng: np.random.Generator, backgrounds: list[np.ndarray]):
    """One training pair: (HxWx3 float32 RGB 0..1, HxWx1 float32 mask 0..1)."""
    # A wide shot needs a new scene around the shrunk photo (else its edges frame the person): only for
    # sets whose masks are complete enough to paste.
    wide = bool(backgrounds) and sample.paste > 0 and rng.random() < cfg.small_person
    window = _wide_shot_window(sample, cfg, rng) if wide else None
    wide = window is not None
    y0, x0, ch, cw = window if wide else _random_window(sample, cfg, rng)
    img, mask = _crop_resize(sample.image, sample.mask, y0, x0, ch, cw, cfg.size, rng, backgrounds)
    if rng.random() < cfg.flip:
        img, mask = img[:, ::-1], mask[:, ::-1]
    if wide or (backgrounds and rng.random() < sample.paste):
        img = _paste(img, mask, backgrounds[rng.integers(len(backgrounds))], rng, cfg.defocus)
    img = _photometric(img, cfg, rng)
    return img, np.ascontiguousarray(mask[..., None], dtype=np.float32)


def center_view(sample: Sample, size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validation view: the whole image at the runtime's resolution rule (no augmentation)."""
    h, w = sample.mask.shape
    oh, ow = size or input_size_for(h, w)
    img = cv2.resize(sample.image, (ow, oh), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    mask = cv2.resize(sample.mask, (ow, oh), interpolation=cv2.INTER_LINEAR)
    return img, mask[..., None]
