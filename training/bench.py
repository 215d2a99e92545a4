"""ms per frame for each architecture x backend x input size (median of many runs, random weights).

Latency depends on the graph, not the weights, so untrained builds measure what a trained model costs.
LiteRT runs the float16 .tflite the exporter writes (XNNPACK, all cores); TensorFlow runs tf.function.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from personseg_live.model.architectures import ARCHITECTURES, build
from personseg_live.model.backends import LiteRTBackend, TensorFlowBackend

DEFAULT_SIZES = [(144, 256), (224, 224), (288, 512)]


def _median_ms(fn, x: np.ndarray, runs: int) -> float:
    for _ in range(3):
        fn(x)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000)


def compare_with_reference(reference: Path, model: str, runs: int) -> dict:
    """``Segmenter(model)(frame)`` on a 1280x720 frame, resize and upsample included, against a reference
    TFLite segmenter given the same frame (its invoke alone, and with the same resize/upsample).

    Calls alternate so both see the same machine load.
    """
    import cv2

    from personseg_live import Segmenter
    from personseg_live.model.segmenter import downscale, upsample

    frame = np.random.default_rng(0).integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    ours = Segmenter(model, backend="litert")
    ref = LiteRTBackend(reference)
    h, w = ref.native_shape

    def ref_input():  # what the Segmenter does before the model: resize, RGB, 0..1
        return cv2.cvtColor(downscale(frame, (h, w)), cv2.COLOR_BGR2RGB).astype(np.float32)[None] / 255.0

    def ref_full():
        return upsample(ref.predict(ref_input())[0], frame.shape[:2])

    x = ref_input()

    calls = {"segmenter_720p": lambda: ours(frame), "reference_invoke": lambda: ref.predict(x),
             "reference_720p": ref_full}
    times: dict[str, list[float]] = {k: [] for k in calls}
    for fn in calls.values():
        for _ in range(5):
            fn()
    for _ in range(runs):
        for name, fn in calls.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    row = {k: round(float(np.median(v) * 1000), 3) for k, v in times.items()}
    for k, v in row.items():
        print(f"{k:<18} {v:8.2f} ms (median of {runs})", flush=True)
    return row


def bench_command(args) -> list[dict]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from .export import export

    if args.reference:
        row = compare_with_reference(args.reference, args.model, args.runs)
        if args.json:
            args.json.write_text(json.dumps(row, indent=2) + "\n")
        return [row]
    archs = args.arch or list(ARCHITECTURES)
    sizes = args.size or DEFAULT_SIZES
    backends = args.backend or ["litert", "tensorflow"]
    rows = []
    with tempfile.TemporaryDirectory() as td:
        for arch in archs:
            for size in sizes:
                fixed = ARCHITECTURES[arch].stride == 0
                model = build(arch, size if fixed else None)
                ckpt = Path(td) / f"{arch}_{size[0]}x{size[1]}.keras"
                model.save(ckpt)
                export(ckpt, ckpt.stem, Path(td))
                x = np.random.rand(1, *size, 3).astype(np.float32)
                for backend in backends:
                    impl = LiteRTBackend(Path(td) / f"{ckpt.stem}.tflite") if backend == "litert" else TensorFlowBackend(ckpt)
                    ms = _median_ms(impl.predict, x, args.runs)
                    row = {"arch": arch, "params": int(model.count_params()), "backend": backend,
                           "device": impl.device, "size": f"{size[0]}x{size[1]}", "ms": round(ms, 3)}
                    rows.append(row)
                    print(f"{arch:<10} {row['params']:>9,} {backend:<11} {impl.device:<4} {row['size']:>8} {ms:8.2f} ms", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return rows
