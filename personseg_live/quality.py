"""Mask quality numbers shared by the app's benchmark and the training reports: IoU, boundary F, flicker.

Boundary F (Csurka et al.): precision/recall of predicted boundary pixels lying within ``tolerance``
pixels of the true boundary; it reacts to halos and cut-off hair that IoU barely sees.
"""

from __future__ import annotations

import cv2
import numpy as np


def iou(pred: np.ndarray, target: np.ndarray, threshold: float = 0.5) -> float:
    """IoU of ``pred >= threshold`` against ``target >= 0.5``; two empty masks agree fully."""
    p, t = pred >= threshold, target >= 0.5
    union = np.logical_or(p, t).sum()
    return 1.0 if union == 0 else float(np.logical_and(p, t).sum() / union)


def _boundary(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.uint8)
    return (m - cv2.erode(m, np.ones((3, 3), np.uint8))).astype(bool)


def boundary_f(pred: np.ndarray, target: np.ndarray, threshold: float = 0.5, tolerance: int | None = None) -> float:
    """F-score of boundaries; tolerance defaults to 0.75 % of the image diagonal (at least 1 px)."""
    p, t = pred >= threshold, target >= 0.5
    if tolerance is None:
        tolerance = max(1, int(round(0.0075 * np.hypot(*p.shape))))
    bp, bt = _boundary(p), _boundary(t)
    if not bp.any() and not bt.any():
        return 1.0
    if not bp.any() or not bt.any():
        return 0.0
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1, 2 * tolerance + 1))
    near_t = cv2.dilate(bt.astype(np.uint8), k).astype(bool)
    near_p = cv2.dilate(bp.astype(np.uint8), k).astype(bool)
    precision = (bp & near_t).sum() / bp.sum()
    recall = (bt & near_p).sum() / bt.sum()
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


class FlickerMeter:
    """``flicker`` for a stream: ``add`` one frame at a time, read ``value``; keeps one frame."""

    def __init__(self) -> None:
        self._prev: np.ndarray | None = None
        self._total = 0.0
        self._pairs = 0

    def add(self, frame: np.ndarray) -> None:
        frame = np.asarray(frame, np.float32)
        if self._prev is not None and self._prev.shape == frame.shape:
            self._total += float(np.abs(frame - self._prev).mean())
            self._pairs += 1
        self._prev = frame.copy()

    @property
    def value(self) -> float:
        return self._total / self._pairs if self._pairs else 0.0


def flicker(frames: list[np.ndarray]) -> float:
    """Mean absolute frame-to-frame change of a probability / alpha sequence (0..1 scale).

    Consecutive frames of different sizes are a cut between clips and form no pair."""
    meter = FlickerMeter()
    for frame in frames:
        meter.add(frame)
    return meter.value
