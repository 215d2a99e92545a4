"""Losses as small composable objects (the segmentation_models style): BCE, Dice, Lovász hinge, their weighted sum.

All accept soft targets (pseudo-labels in 0..1) and per-sample weights through Keras' sample_weight.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="personseg_live")
class DiceLoss(keras.losses.Loss):
    """1 - soft Dice per image; insensitive to how much of the frame the person fills."""

    def __init__(self, smooth: float = 1.0, name: str = "dice", **kwargs):
        super().__init__(name=name, **kwargs)
        self.smooth = smooth

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        axes = tuple(range(1, len(y_pred.shape)))
        inter = ops.sum(y_true * y_pred, axis=axes)
        total = ops.sum(y_true, axis=axes) + ops.sum(y_pred, axis=axes)
        return 1.0 - (2.0 * inter + self.smooth) / (total + self.smooth)

    def get_config(self):
        return {**super().get_config(), "smooth": self.smooth}


def lovasz_hinge(y_true, y_pred):
    """Per-image Lovász hinge (Berman, Rannen Triki & Blaschko, CVPR 2018) of sigmoid outputs ``y_pred``.

    The convex surrogate of 1 - IoU itself: pixels' hinge errors sorted, each weighted by how much it adds to
    the image's Jaccard loss. Dice rewards the same overlap but weighs a pixel by the image's size alone; this
    weighs the errors that cost IoU most. Targets are cut at 0.5 (the surrogate is for 0/1 labels); an image
    without a person costs its largest false-person error. Returns [B].
    """
    p = ops.clip(ops.cast(y_pred, "float32"), 1e-6, 1.0 - 1e-6)
    logits = ops.reshape(ops.log(p) - ops.log(1.0 - p), (ops.shape(p)[0], -1))
    gt = ops.reshape(ops.cast(ops.cast(y_true, "float32") >= 0.5, "float32"), (ops.shape(p)[0], -1))
    errors = 1.0 - logits * (2.0 * gt - 1.0)
    order = ops.argsort(-errors, axis=-1)
    errors_sorted = ops.take_along_axis(errors, order, axis=-1)
    gt_sorted = ops.take_along_axis(gt, order, axis=-1)
    gts = ops.sum(gt_sorted, axis=-1, keepdims=True)
    intersection = gts - ops.cumsum(gt_sorted, axis=-1)
    union = gts + ops.cumsum(1.0 - gt_sorted, axis=-1)
    jaccard = 1.0 - intersection / union
    grad = ops.concatenate([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], axis=-1)
    return ops.sum(ops.relu(errors_sorted) * ops.stop_gradient(grad), axis=-1)


@keras.saving.register_keras_serializable(package="personseg_live")
class BCEDiceLoss(keras.losses.Loss):
    """``bce_weight * BCE + dice_weight * Dice + lovasz_weight * Lovász hinge``: BCE for calibrated pixels,
    Dice for the overall shape, the Lovász hinge (``lovasz_hinge``; 0 = off) for IoU itself.

    ``boundary_weight`` > 0 makes BCE boundary-aware: pixels within ``boundary_band // 2`` of the target's
    edge (where a max- and a min-filter of the target differ; soft targets give a soft band) weigh
    ``1 + boundary_weight``. Edges are a thin share of the pixels, yet they are what users see (hair,
    shoulders); plain BCE lets the interior dominate.
    """

    def __init__(self, bce_weight: float = 1.0, dice_weight: float = 1.0, boundary_weight: float = 0.0,
                 boundary_band: int = 5, lovasz_weight: float = 0.0, name: str = "bce_dice", **kwargs):
        super().__init__(name=name, **kwargs)
        self.bce_weight, self.dice_weight, self.lovasz_weight = bce_weight, dice_weight, lovasz_weight
        self.boundary_weight, self.boundary_band = boundary_weight, boundary_band
        self._bce = keras.losses.BinaryCrossentropy(reduction=None)
        self._dice = DiceLoss(reduction=None)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        bce = self._bce(y_true, y_pred)  # [B, H, W]
        if self.boundary_weight:
            k = self.boundary_band
            band = ops.max_pool(y_true, k, strides=1, padding="same") + ops.max_pool(-y_true, k, strides=1, padding="same")
            bce = bce * (1.0 + self.boundary_weight * ops.squeeze(band, -1))
        bce = ops.mean(bce, axis=tuple(range(1, len(y_pred.shape) - 1)))
        loss = self.bce_weight * bce + self.dice_weight * self._dice(y_true, y_pred)
        if self.lovasz_weight:
            loss = loss + self.lovasz_weight * ops.cast(lovasz_hinge(y_true, y_pred), loss.dtype)
        return loss

    def get_config(self):
        return {**super().get_config(), "bce_weight": self.bce_weight, "dice_weight": self.dice_weight,
                "boundary_weight": self.boundary_weight, "boundary_band": self.boundary_band,
                "lovasz_weight": self.lovasz_weight}
