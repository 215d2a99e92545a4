"""One report per model x dataset: IoU, boundary F, flicker on frame sequences, and ms per image.

Models run through the app's own ``Segmenter`` (resize rule, backend, upsampling included), so the
numbers are what users get. Any TFLite segmenter with a [1,H,W,3] -> [1,H,W,1] signature can be
compared the same way (e.g. MediaPipe's selfie models as a reference).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from personseg_live.model.segmenter import Segmenter

from .data import DataSpec, group_key, is_validation, list_pairs, read_mask
from .metrics import boundary_f, flicker, iou


@dataclass
class Row:
    model: str
    dataset: str
    n: int
    iou: float
    boundary_f: float
    flicker: float | None  # mean |p_t - p_(t-1)| x 100 over sequences; None for photo sets
    ms: float


def _pairs(spec: DataSpec, split: str, val_fraction: float):
    for sid, img, mask in list_pairs(spec.path):
        if split == "all" or is_validation(group_key(sid, spec.split), val_fraction):
            yield sid, img, mask


def evaluate_model(seg: Segmenter, name: str, spec: DataSpec, split: str = "val", val_fraction: float = 0.1) -> Row:
    ious, bfs, times = [], [], []
    sequences: dict[str, list[tuple[str, np.ndarray]]] = defaultdict(list)
    pairs = list(_pairs(spec, split, val_fraction))
    for sid, img_path, mask_path in tqdm(pairs, desc=f"{name} on {spec.path.name}", unit="img", leave=False, disable=None):
        bgr = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        target = read_mask(mask_path, bgr.shape[:2])
        t0 = time.perf_counter()
        prob = seg(bgr)
        times.append(time.perf_counter() - t0)
        ious.append(iou(prob, target))
        bfs.append(boundary_f(prob, target))
        if spec.split == "sequence":
            sequences[group_key(sid, "sequence")].append((sid, prob))
    flick = None
    if sequences:
        flick = float(np.mean([flicker([p for _, p in sorted(frames)]) for frames in sequences.values()]))
    return Row(name, spec.path.name, len(pairs), float(np.mean(ious)) if ious else float("nan"),
               float(np.mean(bfs)) if bfs else float("nan"), flick, float(np.median(times) * 1000) if times else 0.0)


def format_table(rows: list[Row]) -> str:
    head = f"{'model':<28} {'dataset':<24} {'n':>5} {'IoU':>7} {'BF':>7} {'flicker':>8} {'ms':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        fl = "" if r.flicker is None else f"{r.flicker:.3f}"
        lines.append(f"{r.model:<28} {r.dataset:<24} {r.n:>5} {r.iou:>7.4f} {r.boundary_f:>7.4f} {fl:>8} {r.ms:>7.2f}")
    return "\n".join(lines)


def evaluate_command(args) -> list[Row]:
    specs = [DataSpec.parse(d) for d in args.data]
    rows = []
    for model in args.model or ["default"]:
        seg = Segmenter(model, backend=args.backend)
        name = Path(str(model)).stem if str(model).endswith((".tflite", ".keras")) else str(model)
        for spec in specs:
            rows.append(evaluate_model(seg, name, spec, args.split, args.val_fraction))
    print(format_table(rows))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return rows
