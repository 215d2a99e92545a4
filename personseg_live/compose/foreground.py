"""Foreground colour at the soft edge: the person's colour without the old room showing through.

A pixel of alpha 0.4 at the hairline is 40 % hair and 60 % old wall. Blending the *frame* there
over a new background keeps that 60 % of wall: a bright rim of the old room around the person.
This estimates the foreground colour F at soft pixels with blur-fusion (Forte & Pitie 2021,
"Approximate fast foreground colour estimation", one level):

    F = F_b + alpha * (I - alpha * F_b - (1 - alpha) * B_b)

where F_b and B_b are the alpha- and (1 - alpha)-weighted local means of the frame: the nearby
person and room colours. Those means are smooth, so they are taken on a small copy (long side
about WORK_LONG_SIDE) of the soft pixels' bounding box; only the soft pixels themselves (a thin
line after the matte's sharpening, ~1-2 % of a 720p frame) are touched at full size.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..model.segmenter import downscale

#: Long side of the copy the local means are taken on.
WORK_LONG_SIDE = 320
#: Box radius (small-copy px) of the local means: about a hair's reach from the solid person.
RADIUS = 3
SAMPLE_ROW = 1024


def alpha_levels(alpha: np.ndarray) -> np.ndarray:
    """``alpha`` (float32 HxW, 0..1) rounded to 8-bit levels: 0 is the room, 255 the person, a level between
    them a soft pixel, blended. One conversion gives both masks the compositor needs. Until 2026-12-03 they
    were float comparisons (soft: 1/256 <= alpha <= 255/256), 0.46 ms more CPU per 720p plane, and offline
    composes 3 planes a frame (runs/s21/ab_sparse.py; now +0.4 % soft pixels, each within a level of before)."""
    return cv2.convertScaleAbs(alpha, alpha=255.0)


def soft_pixels(alpha: np.ndarray, levels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows, cols) of the soft pixels of ``alpha`` (float32 HxW), or None when there are none. ``levels``:
    ``alpha_levels(alpha)`` when the caller has it."""
    levels = alpha_levels(alpha) if levels is None else levels
    points = cv2.findNonZero(cv2.inRange(levels, 1, 254))
    if points is None:
        return None
    points = points.reshape(-1, 2)  # (x, y) rows
    return points[:, 1], points[:, 0]


def foreground_delta(image: np.ndarray, alpha: np.ndarray, where: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """F - I at the pixels ``where`` (float32, one row per pixel, one column per channel of ``image``)."""
    h, w = alpha.shape
    f = max(1, round(max(h, w) / WORK_LONG_SIDE))  # the small copy is 1/f of the frame
    rows, cols = where
    # Only the soft pixels' bounding box (plus the means' reach), on the 1/f grid: a person who
    # fills a corner of the frame costs a corner.
    pad = (RADIUS + 2) * f
    y0, x0 = max(0, (int(rows.min()) - pad) // f * f), max(0, (int(cols.min()) - pad) // f * f)
    sh, sw = max(1, (min(h, int(rows.max()) + pad + 1) - y0) // f), max(1, (min(w, int(cols.max()) + pad + 1) - x0) // f)
    crop = (slice(y0, y0 + sh * f), slice(x0, x0 + sw * f))
    small = downscale(image[crop], (sh, sw)).astype(np.float32)
    a = cv2.resize(alpha[crop], (sw, sh), interpolation=cv2.INTER_AREA)
    k = (2 * RADIUS + 1, 2 * RADIUS + 1)
    weighted = small * (a[..., None] if small.ndim == 3 else a)
    # Box sums are linear: the room's sums are the whole's minus the person's (one blur fewer),
    # and the divisions wait until the few soft pixels are picked.
    sums = cv2.merge([cv2.blur(weighted, k), cv2.blur(small, k), cv2.blur(a, k)])  # one remap for all
    picked = _sample(sums, (rows - y0 + 0.5) / f - 0.5, (cols - x0 + 0.5) / f - 0.5)
    c = (picked.shape[1] - 1) // 2
    f_sum, all_sum, a_sum = picked[:, :c], picked[:, c : 2 * c], picked[:, 2 * c :]
    n = len(rows)
    f_b = f_sum / (a_sum + np.float32(1e-4))
    b_b = (all_sum - f_sum) / (np.float32(1 + 1e-4) - a_sum)
    flat = _flat(rows, cols, w)
    i = _pixels(image, flat).astype(np.float32)
    al = alpha.reshape(-1)[flat][:, None]
    # F = F_b + alpha (I - alpha F_b - (1 - alpha) B_b), returned as F - I.
    return f_b + al * (i - al * f_b - (1 - al) * b_b) - i


def _sample(image: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Bilinear reads of ``image`` at the points (y, x): one row per point, one column per channel.
    cv2.remap takes maps under 32767 px a side, so the points are laid out in rows of SAMPLE_ROW."""
    n = len(y)
    pad = (-n) % SAMPLE_ROW
    mx = np.pad(x.astype(np.float32), (0, pad)).reshape(-1, SAMPLE_ROW)
    my = np.pad(y.astype(np.float32), (0, pad)).reshape(-1, SAMPLE_ROW)
    out = cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(mx.size, -1)[:n]


def correct_blend(image: np.ndarray, alpha: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out`` (the blend of ``image`` over a new background with ``alpha``) with the old room's share
    at soft pixels replaced by the foreground colour: out += alpha * (F - I). In place; returns ``out``."""
    return _add_delta(image, alpha, out, weighted=True)


def foreground_colour(image: np.ndarray, alpha: np.ndarray, levels: np.ndarray | None = None) -> np.ndarray:
    """A copy of ``image`` with the estimated foreground colour F at soft pixels (straight-alpha output).
    ``levels``: ``alpha_levels(alpha)`` when the caller has it."""
    return _add_delta(image, alpha, image.copy(), weighted=False, levels=levels)


def _add_delta(image: np.ndarray, alpha: np.ndarray, out: np.ndarray, *, weighted: bool,
               levels: np.ndarray | None = None) -> np.ndarray:
    where = soft_pixels(alpha, levels)
    if where is None:
        return out
    delta = foreground_delta(image, alpha, where)
    flat = _flat(*where, alpha.shape[1])
    if weighted:
        delta *= alpha.reshape(-1)[flat][:, None]
    target = out if out.flags.c_contiguous else np.ascontiguousarray(out)
    pixels = target.reshape(target.shape[0] * target.shape[1], -1)  # a view of ``target``
    pixels[flat] = np.clip(pixels[flat].astype(np.float32) + delta + np.float32(0.5), 0, 255).astype(np.uint8)
    if target is not out:
        out[...] = target
    return out


def _flat(rows: np.ndarray, cols: np.ndarray, width: int) -> np.ndarray:
    """Flat pixel indices: picking with one index array is ~3x faster than with (rows, cols)."""
    return rows.astype(np.intp) * width + cols


def _pixels(image: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """The pixels at ``flat``: one row per pixel, one column per channel."""
    return image.reshape(image.shape[0] * image.shape[1], -1)[flat]


#: Share of soft pixels above which one dense blend is cheaper, without / with the foreground estimate.
#: Measured on a 720p soft ring (CPU ms, sparse vs dense): without 1 % 1.9 vs 4.3, 4 % 3.1 vs 3.8, 6 % 4.4 vs
#: 3.6; with 1 % 3.5 vs 6.5, 10 % 13.9 vs 15.9, 20 % 26.6 vs 26.5. The matte leaves ~1 % of a frame soft.
SPARSE_LIMIT = {False: 0.05, True: 0.20}


def composite_sparse(image: np.ndarray, background: np.ndarray, alpha: np.ndarray, *,
                     foreground: bool = True) -> np.ndarray | None:
    """alpha * F + (1 - alpha) * B without a full-frame float blend: ``background`` where alpha is 0,
    ``image`` where it is 1, and the blend (with F, the foreground colour, when ``foreground``) only at
    the soft pixels — after the matte's sharpening about 1-2 % of a frame. Writes into ``background``
    (pass a buffer the caller owns) and returns it; None when too many pixels are soft to gain.

    A dense cv2.blendLinear costs 3.0 ms CPU per 720p BGR frame; this ~1 ms (issue 11's live budget)."""
    levels = alpha_levels(alpha)
    where = soft_pixels(alpha, levels)
    n = 0 if where is None else len(where[0])
    if n > SPARSE_LIMIT[foreground] * alpha.size:
        return None
    cv2.copyTo(image, cv2.compare(levels, 255, cv2.CMP_EQ), background)
    if where is None:
        return background
    flat = _flat(*where, alpha.shape[1])
    a = alpha.reshape(-1)[flat][:, None]
    fg = _pixels(image, flat).astype(np.float32)
    if foreground:
        fg += foreground_delta(image, alpha, where)
    pixels = background.reshape(alpha.size, -1)  # a view: background is C-contiguous (cv2 made or copied it)
    bg = pixels[flat].astype(np.float32)
    pixels[flat] = np.clip(bg + a * (fg - bg) + np.float32(0.5), 0, 255).astype(np.uint8)
    return background
