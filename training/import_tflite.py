"""Initialise one of our Keras architectures from the weights of a TFLite graph with the same topology.

Used to start the ``mobile`` architecture from MediaPipe's Apache-2.0 selfie-segmentation (landscape)
model (``npm pack @mediapipe/selfie_segmentation``), then fine-tune it on our data. The weighted ops
of the graph (convolution, depthwise, transposed convolution) are read in graph order and copied onto
the builder's weighted layers, which are named in the order the forward pass creates them; every
shape is checked, and the result is compared with the TFLite interpreter on a real image.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

WEIGHTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "Convolution2DTransposeBias"}


def _op_name(model, op) -> str:
    from tensorflow.lite.python import schema_py_generated as schema

    code = model.operatorCodes[op.opcodeIndex]
    if code.customCode:
        return code.customCode.decode() if isinstance(code.customCode, bytes) else str(code.customCode)
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    names = {v: k for k, v in schema.BuiltinOperator.__dict__.items() if not k.startswith("_")}
    return names.get(builtin, str(builtin))


def read_weighted_ops(path: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(op name, weights, bias) in graph order, float32, TFLite layouts, DEQUANTIZE folded in."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    graph = model.subgraphs[0]
    produced_by_dequantize = {}
    for op in graph.operators:
        if _op_name(model, op) == "DEQUANTIZE":
            produced_by_dequantize[op.outputs[0]] = op.inputs[0]

    def constant(t: int) -> np.ndarray:
        t = produced_by_dequantize.get(t, t)
        tensor = graph.tensors[t]
        dtype = {0: np.float32, 1: np.float16}.get(tensor.type)
        if dtype is None:
            raise ValueError(f"{path}: tensor {t} has unsupported type {tensor.type} (quantised int8 graphs are not supported)")
        data = np.frombuffer(bytes(model.buffers[tensor.buffer].data), dtype=dtype)
        return data.reshape(tensor.shape).astype(np.float32)

    ops = []
    for op in graph.operators:
        name = _op_name(model, op)
        if name in WEIGHTED:
            # Builtin TRANSPOSE_CONV takes (output_shape, weights, input[, bias]); the others (input, weights, bias).
            bias_at = 3 if name == "TRANSPOSE_CONV" else 2
            weights = constant(op.inputs[1])
            has_bias = len(op.inputs) > bias_at and op.inputs[bias_at] >= 0
            bias = constant(op.inputs[bias_at]) if has_bias else np.zeros(weights.shape[0], np.float32)
            ops.append((name, weights, bias))
    return ops


def load_into(model, tflite: Path) -> None:
    """Copy the graph's weights onto ``model``'s numbered layers (``w00``, ``w01``, ...)."""
    import keras

    layers = sorted((l for l in model.layers if l.name.startswith("w") and l.name[1:].isdigit()), key=lambda l: l.name)
    ops = read_weighted_ops(tflite)
    if len(ops) != len(layers):
        raise ValueError(f"{tflite} has {len(ops)} weighted ops, {model.name} has {len(layers)} weighted layers")
    for (op, w, b), layer in zip(ops, layers):
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kernel = w.reshape(w.shape[1], w.shape[2], w.shape[3], 1)  # [1,h,w,c] -> (h,w,c,1)
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            kernel = w.transpose(1, 2, 0, 3)  # [out,h,w,in] -> (h,w,out,in)
        else:
            kernel = w.transpose(1, 2, 3, 0)  # [out,h,w,in] -> (h,w,in,out)
        want = [tuple(v.shape) for v in layer.weights]
        if want != [kernel.shape, b.shape]:
            raise ValueError(f"{layer.name} ({type(layer).__name__}) expects {want}, {op} gives {[kernel.shape, b.shape]}")
        layer.set_weights([kernel, b])


def import_tflite(tflite: Path, arch: str, out: Path, check_image: Path | None = None) -> float:
    """Build ``arch``, load the graph's weights, save ``out`` (.keras); returns max |Keras - TFLite| on a test input."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import cv2

    from personseg_live.model.architectures import build
    from personseg_live.model.backends import LiteRTBackend

    model = build(arch)
    load_into(model, tflite)
    reference = LiteRTBackend(tflite)
    h, w = reference.native_shape
    if check_image is not None:
        img = cv2.imread(str(check_image), cv2.IMREAD_COLOR)
        x = cv2.cvtColor(cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)[None] / 255.0
    else:
        x = np.random.default_rng(0).random((1, h, w, 3))
    x = x.astype(np.float32)
    diff = float(np.abs(np.asarray(model(x, training=False))[0, ..., 0] - reference.predict(x)[0]).max())
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    return diff
