"""``python -m training bench-input``: augmented training images per second of the input pipeline.

Pin the cores with taskset to see how it scales, e.g. ``taskset -c 0 python -m training bench-input
--data DIR`` and ``taskset -c 0,1 ...``; ``--parallel 1`` is one augmenting thread (what a single Python
generator gives), the default adds tf.data's autotuned parallelism.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .augment import AugmentConfig
from .data import DataSpec, load_backgrounds, load_splits
from .input_pipeline import SampleDrawer, train_dataset


def images_per_second(drawer: SampleDrawer, batch: int, batches: int, parallel: int | None) -> float:
    it = iter(train_dataset(drawer, batch, parallel=parallel))
    for _ in range(2):  # warm-up: tracing, thread pools, the prefetch buffer filling
        next(it)
    t0 = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch / (time.perf_counter() - t0)


def bench_input_command(args) -> list[dict]:
    specs = [DataSpec.parse(d) for d in args.data]
    splits = load_splits(specs, val_fraction=0.0)
    backgrounds = load_backgrounds(Path(args.backgrounds)) if args.backgrounds else []
    drawer = SampleDrawer(splits.train, AugmentConfig(size=args.size), backgrounds, seed=0)
    cores = len(os.sched_getaffinity(0))
    rows = []
    for parallel in args.parallel or [1, 0]:
        rate = images_per_second(drawer, args.batch, args.batches, parallel or None)
        label = "autotune" if not parallel else str(parallel)
        rows.append({"cores": cores, "parallel": label, "images_per_s": round(rate, 1)})
        print(f"cores {cores}  parallel {label:>8}  {rate:7.1f} images/s  ({args.size[0]}x{args.size[1]}, "
              f"batch {args.batch})", flush=True)
    return rows
