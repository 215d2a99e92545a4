"""Losses as small composable objects (the segmentation_models style): BCE, Dice, their weighted sum.

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


@keras.saving.register_keras_serializable(package="personseg_live")
class BCEDiceLoss(keras.losses.Loss):
    """``bce_weight * BCE + dice_weight * Dice``: BCE for calibrated pixels, Dice for the overall shape.

    ``boundary_weight`` > 0 makes BCE boundary-aware: pixels within ``boundary_band // 2`` of the target's
    edge (where a max- and a min-filter of the target differ; soft targets give a soft band) weigh
    ``1 + boundary_weight``. Edges are a thin share of the pixels, yet they are what users see (hair,
    shoulders); plain BCE lets the interior dominate.
    """

    def __init__(self, bce_weight: float = 1.0, dice_weight: float = 1.0, boundary_weight: float = 0.0,
                 boundary_band: int = 5, name: str = "bce_dice", **kwargs):
        super().__init__(name=name, **kwargs)
        self.bce_weight, self.dice_weight = bce_weight, dice_weight
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
        return self.bce_weight * bce + self.dice_weight * self._dice(y_true, y_pred)

    def get_config(self):
        return {**super().get_config(), "bce_weight": self.bce_weight, "dice_weight": self.dice_weight,
                "boundary_weight": self.boundary_weight, "boundary_band": self.boundary_band}
