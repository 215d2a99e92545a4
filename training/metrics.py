"""Metrics: IoU and boundary F-score, as Keras metrics (for training logs) and numpy functions (for reports).

Boundary F (Csurka et al.): precision/recall of predicted boundary pixels lying within ``tolerance``
pixels of the true boundary; it reacts to halos and cut-off hair that IoU barely sees.
"""

from __future__ import annotations

import cv2
import keras
import numpy as np
from keras import ops


def iou(pred: np.ndarray, target: np.ndarray, threshold: float = 0.5) -> float:
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


def flicker(probs: list[np.ndarray]) -> float:
    """Mean absolute frame-to-frame change of the probability (x100, in percent of full scale)."""
    if len(probs) < 2:
        return 0.0
    return float(np.mean([np.abs(a - b).mean() for a, b in zip(probs[:-1], probs[1:])]) * 100)


@keras.saving.register_keras_serializable(package="personseg_live")
class MeanIoU(keras.metrics.Metric):
    """Dataset IoU (intersection and union summed over all pixels) at a 0.5 threshold."""

    def __init__(self, threshold: float = 0.5, name: str = "iou", **kwargs):
        super().__init__(name=name, **kwargs)
        self.threshold = threshold
        self.inter = self.add_variable(shape=(), initializer="zeros", name="inter")
        self.union = self.add_variable(shape=(), initializer="zeros", name="union")

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = ops.cast(y_pred >= self.threshold, "float32")
        t = ops.cast(y_true >= 0.5, "float32")
        self.inter.assign_add(ops.sum(p * t))
        self.union.assign_add(ops.sum(ops.maximum(p, t)))

    def result(self):
        return self.inter / ops.maximum(self.union, 1.0)

    def reset_state(self):
        self.inter.assign(0.0)
        self.union.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


@keras.saving.register_keras_serializable(package="personseg_live")
class BoundaryF(keras.metrics.Metric):
    """Boundary F with a fixed pixel tolerance, boundaries found by max-pooling (runs inside the graph)."""

    def __init__(self, tolerance: int = 2, name: str = "boundary_f", **kwargs):
        super().__init__(name=name, **kwargs)
        self.tolerance = tolerance
        self.tp_p = self.add_variable(shape=(), initializer="zeros", name="tp_p")
        self.n_p = self.add_variable(shape=(), initializer="zeros", name="n_p")
        self.tp_t = self.add_variable(shape=(), initializer="zeros", name="tp_t")
        self.n_t = self.add_variable(shape=(), initializer="zeros", name="n_t")

    @staticmethod
    def _edges(m):
        dil = ops.max_pool(m, 3, strides=1, padding="same")
        ero = -ops.max_pool(-m, 3, strides=1, padding="same")
        return dil - ero

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = self._edges(ops.cast(y_pred >= 0.5, "float32"))
        t = self._edges(ops.cast(y_true >= 0.5, "float32"))
        k = 2 * self.tolerance + 1
        near_t = ops.max_pool(t, k, strides=1, padding="same")
        near_p = ops.max_pool(p, k, strides=1, padding="same")
        self.tp_p.assign_add(ops.sum(p * near_t))
        self.n_p.assign_add(ops.sum(p))
        self.tp_t.assign_add(ops.sum(t * near_p))
        self.n_t.assign_add(ops.sum(t))

    def result(self):
        precision = self.tp_p / ops.maximum(self.n_p, 1.0)
        recall = self.tp_t / ops.maximum(self.n_t, 1.0)
        return 2 * precision * recall / ops.maximum(precision + recall, 1e-7)

    def reset_state(self):
        for v in (self.tp_p, self.n_p, self.tp_t, self.n_t):
            v.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "tolerance": self.tolerance}
