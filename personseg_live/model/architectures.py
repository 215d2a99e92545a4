"""Keras builders for the person-segmentation autoencoder family.

Every builder takes RGB in 0..1 and returns a person probability (sigmoid) at the input's size, so
the app, the exporter and the trainer treat all members alike. `training/` imports these builders,
so the network is defined once.

- ``seed``: the public *Semantic-Segmentation-using-AutoEncoders* network, exactly (1,108,737
  parameters). Accurate enough for its size, far too slow for a 2-core CPU; the right choice on a GPU.
- ``fast`` / ``fast_wide`` / ``tiny``: the same encoder-decoder-with-skips idea built from depthwise
  separable convolutions, stride-16 encoder with dilated blocks and a pooled global context, decoder
  back to 1/2 resolution, bilinear to the input size. Fully convolutional: they run at any input
  whose sides are multiples of 16 (see ``STRIDE``), which lets the runtime keep the frame's aspect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
import tensorflow as tf
from keras import layers

#: Input sides of the fast family must be multiples of this (four 2x downsamplings).
STRIDE = 16


@dataclass(frozen=True)
class ArchSpec:
    """What the runtime needs to know about an architecture besides its weights."""

    name: str
    builder: Callable[..., keras.Model]
    default_size: tuple[int, int]  # (height, width) used for training crops and export
    stride: int  # input sides must be multiples of this; 0 = fixed size only
    description: str


def build_seed(input_shape: tuple[int | None, int | None] = (224, 224)) -> keras.Model:
    """The seed autoencoder, layer for layer: Conv64x2-pool-Conv128x2-pool-Conv256, mirrored with Add skips."""
    inp = keras.Input((*input_shape, 3), name="image")
    c1 = layers.Conv2D(64, 3, padding="same", activation="relu")(inp)
    c1 = layers.Conv2D(64, 3, padding="same", activation="relu")(c1)
    p1 = layers.MaxPooling2D(2)(c1)
    c2 = layers.Conv2D(128, 3, padding="same", activation="relu")(p1)
    c2 = layers.Conv2D(128, 3, padding="same", activation="relu")(c2)
    p2 = layers.MaxPooling2D(2)(c2)
    c3 = layers.Conv2D(256, 3, padding="same", activation="relu")(p2)
    u1 = layers.UpSampling2D(2)(c3)
    d1 = layers.Conv2D(128, 3, padding="same", activation="relu")(u1)
    d1 = layers.Conv2D(128, 3, padding="same", activation="relu")(d1)
    d1 = layers.Add()([d1, c2])
    u2 = layers.UpSampling2D(2)(d1)
    d2 = layers.Conv2D(64, 3, padding="same", activation="relu")(u2)
    d2 = layers.Conv2D(64, 3, padding="same", activation="relu")(d2)
    d2 = layers.Add()([d2, c1])
    out = layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name="mask")(d2)
    return keras.Model(inp, out, name="seed")


@keras.saving.register_keras_serializable(package="personseg_live")
class Upsample2x(layers.Layer):
    """Bilinear 2x upsampling that works on inputs of unknown size.

    Keras 3's ``UpSampling2D(interpolation="bilinear")`` needs static sizes, which would pin the
    exported model to one input shape; this computes the size at run time (TFLite: Shape + ResizeBilinear).
    """

    def call(self, x):
        size = tf.shape(x)[1:3] * 2
        return tf.cast(tf.image.resize(x, size, method="bilinear"), x.dtype)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (b, None if h is None else 2 * h, None if w is None else 2 * w, c)


def _conv_bn(x, filters: int, kernel: int = 3, strides: int = 1, name: str | None = None):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def _sep_block(x, filters: int, strides: int = 1, dilation: int = 1):
    """Depthwise 3x3 + pointwise 1x1, each with BN; residual when shapes allow."""
    shortcut = x
    y = layers.DepthwiseConv2D(3, strides=strides, dilation_rate=dilation, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(y)
    y = layers.Conv2D(filters, 1, use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    if strides == 1 and shortcut.shape[-1] == filters:
        y = layers.Add()([y, shortcut])
    return layers.ReLU()(y)


def _global_context(x, filters: int):
    """Scene-level context (is there a person at all, where is the floor): pooled, projected, broadcast-added.

    Counters the blobby false positives on textured backgrounds that a purely local receptive field gives.
    """
    g = layers.GlobalAveragePooling2D(keepdims=True)(x)
    g = layers.Conv2D(filters, 1, activation="relu")(g)
    gate = layers.Conv2D(x.shape[-1], 1, activation="sigmoid")(g)
    return layers.Multiply()([x, gate])


def _up_merge(x, skip, filters: int):
    x = Upsample2x()(x)
    s = layers.Conv2D(filters, 1, use_bias=False)(skip)
    s = layers.BatchNormalization()(s)
    x = layers.Conv2D(filters, 1, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(layers.Add()([x, s]))
    return _sep_block(x, filters)


def build_fast(
    input_shape: tuple[int | None, int | None] = (None, None),
    widths: tuple[int, int, int, int, int] = (16, 24, 40, 96, 128),
    deep_blocks: int = 3,
    name: str = "fast",
) -> keras.Model:
    """Separable encoder-decoder with skips; widths are channels at strides 2, 4, 8, 16 and the context stage."""
    w2, w4, w8, w16, wctx = widths
    inp = keras.Input((*input_shape, 3), name="image")
    x = layers.Rescaling(2.0, offset=-1.0)(inp)  # 0..1 in, -1..1 inside: better conditioned first layer
    s2 = _conv_bn(x, w2, strides=2)  # 1/2
    s4 = _sep_block(s2, w4, strides=2)  # 1/4
    s4 = _sep_block(s4, w4)
    s8 = _sep_block(s4, w8, strides=2)  # 1/8
    s8 = _sep_block(s8, w8)
    x = _sep_block(s8, w16, strides=2)  # 1/16
    for i in range(deep_blocks):
        x = _sep_block(x, w16, dilation=2 ** (i + 1))  # dilations 2, 4, ...: large receptive field, no extra pooling
    x = _sep_block(x, wctx)
    x = _global_context(x, max(8, wctx // 4))
    x = _up_merge(x, s8, w8)  # 1/8
    x = _up_merge(x, s4, w4)  # 1/4
    x = _up_merge(x, s2, w2)  # 1/2
    x = layers.Conv2D(1, 1, name="logits")(x)
    x = Upsample2x()(x)
    out = layers.Activation("sigmoid", dtype="float32", name="mask")(x)
    return keras.Model(inp, out, name=name)


class _Numbered:
    """Names weighted layers in the order the forward pass creates them (``w00``, ``w01``, ...).

    That order is the graph's topological order, which is what ``training/import_tflite.py`` relies on
    to map the weights of an exported graph onto this builder, layer by layer, with shape checks.
    """

    def __init__(self):
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"w{self.count - 1:02d}"


def build_mobile(input_shape: tuple[int | None, int | None] = (None, None), name: str = "mobile",
                 extra: bool = False) -> keras.Model:
    """MobileNetV3-style encoder (inverted residuals, squeeze-excite, hard-swish) to 1/16, and a decoder
    that upsamples 2x three times, merging each encoder skip through a pooled attention gate, then a
    2x2 transposed convolution to full resolution.

    The topology of MediaPipe's Apache-2.0 selfie-segmentation (landscape) network, so its weights can
    initialise ours (``python -m training import-tflite``); no batch norm, the biases carry it.

    ``extra`` (the ``mobile_plus`` architecture) adds capacity where it is cheap and where context is
    decided: three dilated inverted-residual blocks at 1/16 and one at 1/8 of the decoder, each a residual
    branch whose output projection starts at zero. A ``mobile_plus`` built with a ``mobile`` model's
    weights (``python -m training grow``) therefore computes exactly what that model computes, and
    fine-tuning starts from what it knows. The extra layers are named ``x..`` so that the ``w..``
    numbering the TFLite importer relies on stays that of ``mobile``.
    """
    n = _Numbered()
    hswish = keras.activations.hard_swish

    def conv(x, filters, act=None, k=1, s=1):
        return layers.Conv2D(filters, k, strides=s, padding="same", activation=act, name=n())(x)

    def dw(x, k, s, act):
        return layers.DepthwiseConv2D(k, strides=s, padding="same", activation=act, name=n())(x)

    def squeeze_excite(x, mid):
        g = layers.GlobalAveragePooling2D(keepdims=True)(x)
        g = conv(g, mid, "relu")
        g = conv(g, x.shape[-1], "sigmoid")
        return layers.Multiply()([x, g])

    def inverted(x, expand, out, k, s, act, se: int | None):
        y = conv(x, expand, act)
        y = dw(y, k, s, act)
        if se:
            y = squeeze_excite(y, se)
        y = conv(y, out)
        return layers.Add()([y, x]) if s == 1 and x.shape[-1] == out else y

    def decode(x, skip, filters):
        x = Upsample2x()(x)
        x = conv(x, filters)
        g = layers.GlobalAveragePooling2D(keepdims=True)(layers.Add()([skip, x]))
        g = conv(g, filters, "relu")
        g = conv(g, filters, "sigmoid")
        x = layers.Add()([layers.Multiply()([skip, g]), x])
        x = conv(x, filters, "relu")
        return layers.Add()([x, dw(x, 3, 1, "relu")])

    extra_names = iter(f"x{i:02d}" for i in range(100))

    def grown(x, expand, k, dilation, se):
        """A residual branch that adds nothing until trained (zero output projection)."""
        y = layers.Conv2D(expand, 1, activation=hswish, name=next(extra_names))(x)
        y = layers.DepthwiseConv2D(k, padding="same", dilation_rate=dilation, activation=hswish,
                                   name=next(extra_names))(y)
        g = layers.GlobalAveragePooling2D(keepdims=True)(y)
        g = layers.Conv2D(se, 1, activation="relu", name=next(extra_names))(g)
        g = layers.Conv2D(expand, 1, activation="sigmoid", name=next(extra_names))(g)
        y = layers.Multiply()([y, g])
        y = layers.Conv2D(x.shape[-1], 1, kernel_initializer="zeros", bias_initializer="zeros",
                          name=next(extra_names))(y)
        return layers.Add()([x, y])

    inp = keras.Input((*input_shape, 3), name="image")
    s2 = conv(inp, 16, hswish, k=3, s=2)  # 1/2
    x = conv(s2, 16, "relu")
    x = dw(x, 3, 2, "relu")
    x = squeeze_excite(x, 8)
    s4 = conv(x, 16)  # 1/4
    x = inverted(s4, 72, 24, 3, 2, "relu", None)
    s8 = inverted(x, 88, 24, 3, 1, "relu", None)  # 1/8
    x = inverted(s8, 96, 32, 5, 2, hswish, 24)
    x = inverted(x, 128, 32, 5, 1, hswish, 32)
    x = inverted(x, 128, 32, 5, 1, hswish, 32)
    x = inverted(x, 96, 32, 5, 1, hswish, 24)
    x = inverted(x, 96, 32, 5, 1, hswish, 24)  # 1/16
    if extra:
        for dilation in (1, 2, 4):
            x = grown(x, 160, 5, dilation, 40)
    head = conv(x, 128, "relu")
    gate = conv(layers.GlobalAveragePooling2D(keepdims=True)(x), 128, "sigmoid")
    x = layers.Multiply()([head, gate])
    x = decode(x, s8, 24)
    if extra:
        x = grown(x, 96, 5, 1, 24)
    x = decode(x, s4, 16)
    x = decode(x, s2, 16)
    x = layers.Conv2DTranspose(1, 2, strides=2, padding="same", name=n())(x)
    out = layers.Activation("sigmoid", dtype="float32", name="mask")(x)
    return keras.Model(inp, out, name=name)


def build_tiny(input_shape=(None, None)) -> keras.Model:
    return build_fast(input_shape, widths=(8, 12, 16, 24, 32), deep_blocks=1, name="tiny")


def build_mobile_plus(input_shape=(None, None)) -> keras.Model:
    return build_mobile(input_shape, name="mobile_plus", extra=True)


def build_fast_wide(input_shape=(None, None)) -> keras.Model:
    return build_fast(input_shape, widths=(24, 32, 64, 128, 192), deep_blocks=4, name="fast_wide")


ARCHITECTURES: dict[str, ArchSpec] = {
    "seed": ArchSpec("seed", build_seed, (224, 224), 0, "the original autoencoder, 1.1M params, GPU-class"),
    "fast": ArchSpec("fast", build_fast, (144, 256), STRIDE, "separable encoder-decoder, real-time on 2 cores"),
    "fast_wide": ArchSpec("fast_wide", build_fast_wide, (144, 256), STRIDE, "wider fast variant, more accurate"),
    "tiny": ArchSpec("tiny", build_tiny, (144, 256), STRIDE, "smallest variant, for very slow CPUs"),
    "mobile": ArchSpec("mobile", build_mobile, (144, 256), STRIDE,
                       "MobileNetV3-style encoder-decoder with attention skips; takes MediaPipe selfie weights"),
    "mobile_plus": ArchSpec("mobile_plus", build_mobile_plus, (144, 256), STRIDE,
                            "mobile with four zero-initialised residual blocks (1/16, 1/8); grown from a mobile model"),
}


def build(name: str, input_shape: tuple[int | None, int | None] | None = None) -> keras.Model:
    """Build an architecture by name; ``input_shape`` (H, W) defaults to the spec's (seed) or dynamic (fast family)."""
    try:
        spec = ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}") from None
    if input_shape is None:
        input_shape = spec.default_size if spec.stride == 0 else (None, None)
    return spec.builder(input_shape)
