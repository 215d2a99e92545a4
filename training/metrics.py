"""Metrics: IoU and boundary F-score as Keras metrics (training logs); the numpy versions for reports
live in ``personseg_live.quality`` (shared with the app's benchmark) and are re-exported here."""

from __future__ import annotations

import keras
from keras import ops

from personseg_live.quality import boundary_f, flicker, iou

__all__ = ["BoundaryF", "MeanIoU", "boundary_f", "flicker", "iou"]


def _per_image(sample_weight):
    """Per-image weights broadcast over [B, H, W, 1] (1 when none): validation padding weighs 0."""
    if sample_weight is None:
        return 1.0
    return ops.reshape(ops.cast(sample_weight, "float32"), (-1, 1, 1, 1))


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
        w = _per_image(sample_weight)
        self.inter.assign_add(ops.sum(p * t * w))
        self.union.assign_add(ops.sum(ops.maximum(p, t) * w))

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
        w = _per_image(sample_weight)
        p = self._edges(ops.cast(y_pred >= 0.5, "float32")) * w
        t = self._edges(ops.cast(y_true >= 0.5, "float32")) * w
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
