"""Export a checkpoint for the app: ``<name>.keras``, ``<name>.tflite`` (float16 weights) and ``<name>.json``.

The fast family is exported with a dynamic input ([1, H, W, 3], sides multiples of its stride) so the
runtime can keep each frame's aspect; fixed-size architectures (seed) at their training size.
The JSON records what the app needs to feed the model: architecture, input rule, normalisation.
``closer_look``: a second checkpoint (same architecture) exported beside it as ``<name>.closer.*``, which the
runtime's closer look at a person small in the frame runs instead of the model itself (the JSON names it).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from personseg_live.model.segmenter import RUNTIME_AREA, input_size_for


def _write_tflite(model, hw: tuple[int | None, int | None], out: Path, float16: bool) -> Path:
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as td:
        model.export(td, format="tf_saved_model", input_signature=[tf.TensorSpec([1, *hw, 3], tf.float32)], verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(td)
        if float16:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        tflite = converter.convert()
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(tflite)
    tmp.replace(out)
    return out


def export(checkpoint: Path, name: str, out_dir: Path, float16: bool = True,
           static_sizes: tuple[tuple[int, int], ...] | None = None, force: bool = False,
           input_area: int = RUNTIME_AREA, aspect_power: float = 1.0, closer_look: Path | None = None) -> list[Path]:
    """``force``: replace an existing model of that name (the shipped ``default`` among them).
    ``input_area``: the pixels the runtime feeds this model per frame (recorded in its metadata); the
    fixed-shape copy is made for a 16:9 frame at that area unless ``static_sizes`` says otherwise (``()``: none).
    ``aspect_power``: how far the runtime pulls a portrait picture toward square (``input_size_for``).
    ``closer_look``: the checkpoint the closer look runs (see the module's docstring); without it a closer-look
    twin left by an earlier export of this name is removed, so the metadata and the files agree."""
    if not 0.0 <= aspect_power <= 1.0:
        raise ValueError(f"--portrait-aspect-power must lie in 0..1, got {aspect_power}")
    video_size = input_size_for(720, 1280, input_area)
    static_sizes = (video_size,) if static_sizes is None else static_sizes
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from personseg_live.model.architectures import ARCHITECTURES

    for ckpt in (checkpoint, closer_look):
        if ckpt is not None and not ckpt.exists():
            raise ValueError(f"checkpoint not found: {ckpt}")
    # The checkpoint itself may be the .keras of that name (exporting in place adds the .tflite beside it).
    existing = [p.name for p in (out_dir / f"{name}.keras", out_dir / f"{name}.tflite")
                if p.exists() and p.resolve() != checkpoint.resolve()]
    if existing and not force:
        raise ValueError(f"{out_dir} already holds model {name!r} ({', '.join(existing)}); pass --force to "
                         "replace it, or export under another --name")
    # Mixed-precision checkpoints (GPU training) are rebuilt in float32 for the CPU runtime.
    keras.mixed_precision.set_global_policy("float32")
    model = keras.models.load_model(checkpoint, compile=False)
    arch = model.name if model.name in ARCHITECTURES else "unknown"
    stride = ARCHITECTURES[arch].stride if arch in ARCHITECTURES else 0
    h, w = model.input_shape[1:3]
    dynamic = h is None or w is None
    if not dynamic:
        stride = 0
    if closer_look is not None:
        if not dynamic:
            raise ValueError("a closer-look twin needs a model that takes any input size (the fast family)")
        if keras.models.load_model(closer_look, compile=False).name != model.name:
            raise ValueError(f"{closer_look}: not the architecture of {checkpoint} ({model.name})")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []

    keras_out = out_dir / f"{name}.keras"
    tmp = keras_out.with_name(keras_out.name + ".tmp.keras")
    model.save(tmp)
    tmp.replace(keras_out)
    written.append(keras_out)

    tfl_out = out_dir / f"{name}.tflite"
    for stale in out_dir.glob(f"{name}.*x*.tflite"):
        stale.unlink()
    written.append(_write_tflite(model, (None, None) if dynamic else (h, w), tfl_out, float16))
    if dynamic:
        # The webcam/video shape also as a fixed-shape copy: one XNNPACK partition instead of five.
        for sh, sw in static_sizes:
            written.append(_write_tflite(model, (sh, sw), out_dir / f"{name}.{sh}x{sw}.tflite", float16))

    meta = {
        "name": name,
        "arch": arch,
        "params": int(model.count_params()),
        "input_area": int(input_area),
        "stride": stride,
        "input_size": list(static_sizes[0] if static_sizes else video_size) if dynamic else [int(h), int(w)],
        "aspect_power": float(aspect_power),
        "normalization": "rgb_0_1",
        "output": "sigmoid person probability, 1 channel, input resolution",
        "weights": "float16" if float16 else "float32",
        "checkpoint": checkpoint.name,
    }
    twin = f"{name}.closer"
    if closer_look is not None:
        # No fixed-shape copy: the boxes the closer look sees take every shape.
        written += export(closer_look, twin, out_dir, float16, static_sizes=(), force=True, input_area=input_area,
                          aspect_power=aspect_power)
        meta["closer_look"] = twin
        meta["closer_look_checkpoint"] = closer_look.name
    else:
        for stale in (out_dir / f"{twin}{suffix}" for suffix in (".keras", ".tflite", ".json")):
            stale.unlink(missing_ok=True)
    meta_out = out_dir / f"{name}.json"
    meta_out.write_text(json.dumps(meta, indent=2) + "\n")
    written.append(meta_out)
    return written

