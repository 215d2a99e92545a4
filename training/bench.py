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
    """``Segmenter(model)(frame)`` against a reference TFLite segmenter on the same 720p frame, with nobody in it and
    with the demo clip's person (``personseg-live bench``'s budget line, here on every core)."""
    from personseg_live.bench import against_reference

    row = against_reference(reference, model=model, runs=runs, threads=None)
    for k, v in row.items():
        print(f"{k:<20} {v}", flush=True)
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
