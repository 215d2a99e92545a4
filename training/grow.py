"""Function-preserving growth: a ``mobile`` model's weights in the larger ``mobile_plus`` network.

Fine-tuning our small network on a few thousand pairs trades what its MediaPipe initialisation knew for
what our pairs show (hence WiSE-FT). More capacity that starts as a no-op lets training add to the network
instead of overwriting it: every layer the two architectures share keeps its weights, and the added
residual blocks start with a zero output projection, so the grown model's output equals the source's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def grow(source: Path, out: Path, arch: str = "mobile_plus", check_size: tuple[int, int] = (160, 304)) -> float:
    """Write ``out`` (a ``arch`` model carrying ``source``'s weights); return the largest output difference
    between the two on a random image, which is ~0 (float rounding) when the growth preserved the function."""
    import keras

    from personseg_live.model.architectures import build

    src = keras.saving.load_model(source, compile=False)
    dst = build(arch)
    shared = {layer.name: layer for layer in src.layers if layer.weights}
    moved = 0
    for layer in dst.layers:
        if layer.name in shared:
            want = [tuple(w.shape) for w in layer.weights]
            got = [tuple(w.shape) for w in shared[layer.name].weights]
            if want != got:
                raise SystemExit(f"{source} cannot grow into {arch}: layer {layer.name} has {got}, {arch} needs {want}")
            layer.set_weights(shared[layer.name].get_weights())
            moved += 1
    if moved != len(shared):
        raise SystemExit(f"{source} cannot grow into {arch}: it is a {src.name!r} model, {arch} shares only "
                         f"{moved} of its {len(shared)} weighted layers")
    x = np.random.default_rng(0).random((1, *check_size, 3), dtype=np.float32)
    diff = float(np.abs(np.asarray(src(x)) - np.asarray(dst(x))).max())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".partial.keras")
    dst.save(tmp)
    tmp.replace(out)
    return diff
