"""One report per model x dataset: IoU, boundary F, flicker on frame sequences, and ms per image.

Models run through the app's own ``Segmenter`` (resize rule, backend, upsampling included), so the
numbers are what users get. Any TFLite segmenter with a [1,H,W,3] -> [1,H,W,1] signature can be
compared the same way (e.g. MediaPipe's selfie models as a reference).
"""

from __future__ import annotations

import json
import sys
import time
import zlib
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from personseg_live.model.segmenter import Segmenter

from .checks import scan_set
from .data import DataSpec, group_key, is_validation, list_pairs, read_mask
from .metrics import boundary_f, flicker, iou


@dataclass
class Row:
    model: str
    dataset: str
    n: int
    iou: float | None  # None: no pairs to score (JSON null, not NaN)
    boundary_f: float | None
    flicker: float | None  # mean |p_t - p_(t-1)| x 100 over sequences; None for photo sets
    ms: float


def _pairs(spec: DataSpec, split: str, val_fraction: float, seed: int = 0, val_ids: set[str] | None = None):
    """The pairs to score: all, a run's recorded validation ids, or the split training's --seed makes."""
    report = scan_set(spec)
    if report.skipped:
        print(report.summary(), file=sys.stderr)
    for sid, img, mask in report.used:
        if split == "all":
            yield sid, img, mask
        elif val_ids is not None:
            if sid in val_ids:
                yield sid, img, mask
        elif is_validation(group_key(sid, spec.split), val_fraction, seed):
            yield sid, img, mask


def overlay(bgr: np.ndarray, prob: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Agreement in yellow, false positives red, misses green (BGR)."""
    out = (bgr.astype(np.float32) * 0.55).astype(np.uint8)
    p, t = prob >= 0.5, target >= 0.5
    out[p & t] = (0, 220, 220)
    out[p & ~t] = (0, 0, 230)
    out[~p & t] = (0, 200, 0)
    return cv2.addWeighted(bgr, 0.45, out, 0.55, 0)


def write_gallery(worst: list[tuple[float, np.ndarray]], path: Path, tile: int = 200) -> None:
    """The worst cases side by side, each tile labelled with its IoU."""
    tiles = []
    for score, img in worst:
        s = tile / max(img.shape[:2])
        t = cv2.resize(img, (int(img.shape[1] * s), int(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
        t = cv2.copyMakeBorder(t, 0, tile - t.shape[0], 0, tile - t.shape[1], cv2.BORDER_CONSTANT, value=(40, 40, 40))
        cv2.putText(t, f"IoU {score:.2f}", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(t)
    if tiles:
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.hstack(tiles))


#: ``--enlarge``: the camera noise (8-bit sigma) added at the enlarged size, where a camera adds it.
ENLARGE_NOISE = 5.0


def enlarged(bgr: np.ndarray, factor: float, key: str) -> np.ndarray:
    """``bgr`` as a camera-sized picture: ``factor`` x larger (Lanczos) with sensor noise fresh per pixel (the same
    for the same ``key`` on every run). Our labelled photos are <= 320 px; the hidden ones and the app's photos
    need not be, and a runtime that shrinks a large picture badly shows only here. One draw of the noise moves a
    10-photo kind by about a point: compare runs with the same factor (the same draw)."""
    h, w = bgr.shape[:2]
    big = cv2.resize(bgr, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_LANCZOS4)
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    noise = rng.normal(0.0, ENLARGE_NOISE, big.shape).astype(np.float32)
    return np.clip(big.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def evaluate_model(seg: Segmenter, name: str, spec: DataSpec, split: str = "val", val_fraction: float = 0.1,
                   gallery: Path | None = None, gallery_size: int = 5, seed: int = 0,
                   val_ids: set[str] | None = None, brightness: float = 1.0, enlarge: float = 1.0) -> Row:
    """``brightness``: the pictures' 8-bit values scaled by it and clipped before the model (the row's dataset
    is named ``SET xG``): over- and underexposure as a camera gives it, highlights lost. ``enlarge``: each
    picture given to the model ``enlarged`` that many times (row ``SET @Fx``), its answer shrunk back and scored
    at the picture's own size."""
    variant = ("" if brightness == 1.0 else f" x{brightness:g}") + ("" if enlarge == 1.0 else f" @{enlarge:g}x")
    ious, bfs, times = [], [], []
    worst: list[tuple[float, np.ndarray]] = []
    sequences: dict[str, list[tuple[str, np.ndarray]]] = defaultdict(list)
    pairs = list(_pairs(spec, split, val_fraction, seed, val_ids))
    for sid, img_path, mask_path in tqdm(pairs, desc=f"{name} on {spec.path.name}", unit="img", leave=False, disable=None):
        bgr = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        if bgr is None:  # passed the header checks, failed to decode
            print(f"{spec.path.name}: skipped {img_path.name} (cannot decode)", file=sys.stderr)
            continue
        target = read_mask(mask_path, bgr.shape[:2])
        if brightness != 1.0:
            bgr = cv2.convertScaleAbs(bgr, alpha=brightness)  # saturates at 255, as a sensor does
        shown = bgr if enlarge == 1.0 else enlarged(bgr, enlarge, sid)
        t0 = time.perf_counter()
        prob = seg(shown)
        times.append(time.perf_counter() - t0)
        if shown is not bgr:
            prob = cv2.resize(prob, bgr.shape[1::-1], interpolation=cv2.INTER_AREA)
        ious.append(iou(prob, target))
        bfs.append(boundary_f(prob, target))
        if gallery is not None:
            worst = sorted([*worst, (ious[-1], overlay(bgr, prob, target))], key=lambda w: w[0])[:gallery_size]
        if spec.split == "sequence":
            sequences[group_key(sid, "sequence")].append((sid, prob))
    if gallery is not None:
        write_gallery(worst, gallery / f"{name}_{spec.path.name}{variant.replace(' ', '_')}_worst.jpg")
    flick = None
    if sequences:
        flick = 100 * float(np.mean([flicker([p for _, p in sorted(frames)]) for frames in sequences.values()]))
    if not ious:
        print(f"warning: {name} on {spec.path.name}: no {split} pairs to score (IoU reported as none)", file=sys.stderr)
    return Row(name, spec.path.name + variant, len(ious), float(np.mean(ious)) if ious else None,
               float(np.mean(bfs)) if bfs else None, flick, float(np.median(times) * 1000) if times else 0.0)


def format_table(rows: list[Row]) -> str:
    head = f"{'model':<28} {'dataset':<24} {'n':>5} {'IoU':>7} {'BF':>7} {'flicker':>8} {'ms':>7}"
    lines = [head, "-" * len(head)]
    for r in rows:
        fl = "" if r.flicker is None else f"{r.flicker:.3f}"
        score, bf = ("-", "-") if r.iou is None else (f"{r.iou:.4f}", f"{r.boundary_f:.4f}")
        lines.append(f"{r.model:<28} {r.dataset:<24} {r.n:>5} {score:>7} {bf:>7} {fl:>8} {r.ms:>7.2f}")
    return "\n".join(lines)


def backend_for(model: str, backend: str) -> str:
    """A .keras checkpoint runs on TensorFlow unless LiteRT is asked for and a .tflite lies beside it;
    under ``auto`` everything else runs as the app runs it on a CPU (LiteRT)."""
    if str(model).endswith(".keras"):
        beside = Path(str(model)).with_suffix(".tflite").exists()
        return "litert" if backend == "litert" and beside else "tensorflow"
    return "litert" if backend == "auto" else backend


def run_inputs(run: Path, data: list[str]) -> tuple[list[DataSpec], dict[Path, set[str]]]:
    """A run folder's datasets (or the given subset of them) and its recorded validation ids per set."""
    from .run_dir import absolute_data, read_config, read_split

    recorded = read_split(run)
    sets = {Path(k): set(v["val"]) for k, v in recorded["sets"].items()}
    texts = data or read_config(run / "config.json")["data"]
    specs = [DataSpec.parse(absolute_data(t)) for t in texts]
    for spec in specs:
        if spec.path not in sets:
            raise ValueError(f"{spec.path} is not one of the datasets {run} trained on; "
                             "evaluate it without --run (or with --split all)")
    return specs, {spec.path: sets[spec.path] for spec in specs}


def evaluate_command(args) -> list[Row]:
    run = getattr(args, "run", None)
    val_ids: dict[Path, set[str]] = {}
    if run is not None:
        specs, val_ids = run_inputs(run, args.data)
        args.model = args.model or [str(run / "best.keras")]
    else:
        specs = [DataSpec.parse(d) for d in args.data]
    kinds = []
    if getattr(args, "kinds", None) is not None:
        from .validation_kinds import kind_specs

        kinds = kind_specs(args.kinds)
    if not specs and not kinds:
        raise ValueError("nothing to evaluate: give --data and/or --kinds")
    brightness = getattr(args, "brightness", 1.0)
    if not brightness > 0:
        raise ValueError(f"--brightness {brightness}: must be above 0")
    enlarge = getattr(args, "enlarge", 1.0)
    if not enlarge >= 1:
        raise ValueError(f"--enlarge {enlarge}: must be 1 or more")
    quality = getattr(args, "quality", "live")
    rows = []
    for model in args.model or ["default"]:
        seg = Segmenter(model, backend=backend_for(model, args.backend), quality=quality,
                        closer=False if getattr(args, "first_look_only", False) else None)
        name = Path(str(model)).stem if str(model).endswith((".tflite", ".keras")) else str(model)
        if quality != "live":
            name = f"{name}@{quality}"
        for spec in specs:
            rows.append(evaluate_model(seg, name, spec, args.split, args.val_fraction, args.gallery,
                                       seed=getattr(args, "seed", 0), val_ids=val_ids.get(spec.path),
                                       brightness=brightness, enlarge=enlarge))
        for spec in kinds:  # kind folders hold validation pairs only: score them all
            rows.append(evaluate_model(seg, name, spec, "all", args.val_fraction, args.gallery, brightness=brightness,
                                       enlarge=enlarge))
    print(format_table(rows))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return rows
