"""``personseg-live bench``: the numbers that matter, measured on this machine.

- model: ms per 720p frame for each backend that loads (LiteRT always; TensorFlow when installed);
- offline: end-to-end FPS of ``process`` (decode, model, matte, blur, encode) on the demo clip
  scaled to 720p and 1080p (made once and cached);
- live: the pipeline fed by the 720p clip paced at 30 FPS; end-to-end latency (capture -> output)
  p50/p95, output FPS and frames dropped at the latest-frame slot.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from . import assets


def scaled_demo(height: int, cache_dir: Path | None = None) -> Path:
    """The demo clip scaled to ``height`` (16:9), H.264, cached in the user cache folder."""
    import av
    from platformdirs import user_cache_dir

    folder = cache_dir or Path(user_cache_dir("personseg-live")) / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    src = assets.demo_clip()
    dst = folder / f"{src.stem}-{height}p.mp4"
    if dst.exists() and dst.stat().st_mtime >= src.stat().st_mtime:
        return dst
    width = (height * 16 // 9) // 2 * 2
    tmp = dst.with_name(f".{dst.name}.partial-{os.getpid()}.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
        vs = inp.streams.video[0]
        vs.thread_type = "AUTO"
        stream = out.add_stream("libx264", rate=vs.average_rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        stream.codec_context.time_base = vs.time_base
        for frame in inp.decode(vs):
            scaled = frame.reformat(width=width, height=height, format="yuv420p", interpolation="BILINEAR")
            scaled.pts, scaled.time_base = frame.pts, frame.time_base
            out.mux(stream.encode(scaled))
        out.mux(stream.encode(None))
    os.replace(tmp, dst)
    return dst


def bench_model(backend: str, *, frames: int = 50) -> dict:
    from .model.segmenter import Segmenter

    try:
        seg = Segmenter(backend=backend)
    except Exception as exc:
        return {"backend": backend, "available": False, "reason": f"{type(exc).__name__}: {exc}"}
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    for _ in range(5):
        seg.lowres(frame)
    times = []
    for _ in range(frames):
        t = time.perf_counter()
        seg.lowres(frame)
        times.append((time.perf_counter() - t) * 1e3)
    h, w = seg.input_size(720, 1280)
    return {
        "backend": seg.backend, "device": seg.device, "available": True, "input": f"{w}x{h}",
        "ms_per_frame_p50": round(statistics.median(times), 2), "ms_per_frame_mean": round(statistics.fmean(times), 2),
    }


def bench_offline(height: int, *, max_frames: int | None = None, segmenter=None) -> dict:
    from .model.backends import cpu_threads
    from .offline import ProcessOptions, process_video

    src = scaled_demo(height)
    options = ProcessOptions()  # the defaults users get: default model, blur background
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mp4"
        stop_after = {"n": max_frames}

        def limit(index: int) -> None:
            if stop_after["n"] is not None and index + 1 >= stop_after["n"]:
                raise _Enough(index + 1)

        t = time.perf_counter()
        cpu = time.process_time()
        try:
            report = process_video(src, out, options, segmenter=segmenter, progress=False, on_frame=limit)
            frames, seconds = report.frames, report.seconds
        except _Enough as enough:
            frames, seconds = enough.frames, time.perf_counter() - t
        cpu_ms = (time.process_time() - cpu) * 1e3 / max(1, frames)
    # CPU time per frame (all threads) does not depend on what else the machine runs; with the cores
    # to ourselves, FPS approaches cores * 1000 / cpu_ms (less the threads' imperfect overlap).
    return {
        "height": height, "frames": frames, "seconds": round(seconds, 2), "fps": round(frames / seconds, 1),
        "cpu_ms_per_frame": round(cpu_ms, 1), "fps_bound_idle_cores": round(cpu_threads() * 1e3 / cpu_ms, 1),
    }


def machine_load() -> float | None:
    """The 1-minute load average: other work on the machine makes every figure here slower."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


class _Enough(Exception):
    def __init__(self, frames: int):
        self.frames = frames


def bench_live(*, seconds: float = 10.0, height: int = 720, segmenter=None) -> dict:
    from .pipeline import Pipeline
    from .settings import Settings, SourceSettings

    src = scaled_demo(height)
    latencies: list[float] = []
    totals: list[float] = []
    events: list[str] = []
    lock = threading.Lock()

    def on_frame(result) -> None:
        with lock:
            latencies.append(result.latency_ms)
            totals.append(result.timings_ms["total"])

    settings = Settings(source=SourceSettings(spec=str(src), fps=30, loop=True))
    pipeline = Pipeline(settings, on_frame=on_frame, on_event=lambda e: events.append(e.kind), segmenter=segmenter)
    pipeline.start()
    time.sleep(1.0)  # warm-up: interpreter allocation, first decode
    with lock:
        latencies.clear()
        totals.clear()
    dropped0 = pipeline.dropped_frames
    cpu = time.process_time()
    time.sleep(seconds)
    cpu_share = (time.process_time() - cpu) / seconds
    with lock:
        lat, tot = list(latencies), list(totals)
    dropped = pipeline.dropped_frames - dropped0
    pipeline.stop()
    if not lat:
        return {"error": f"no frames came out (events: {events})"}
    lat_sorted = sorted(lat)
    return {
        "height": height, "source_fps": 30, "seconds": seconds, "frames_out": len(lat),
        "fps_out": round(len(lat) / seconds, 1), "dropped": dropped,
        "latency_ms_p50": round(float(np.percentile(lat_sorted, 50)), 1),
        "latency_ms_p95": round(float(np.percentile(lat_sorted, 95)), 1),
        "latency_ms_max": round(lat_sorted[-1], 1),
        "processing_ms_p50": round(float(np.percentile(tot, 50)), 1),
        "cpu_cores_used": round(cpu_share, 2),
    }


def bench_stability(folder: Path, *, segmenter=None, settings=None) -> dict:
    """Flicker and IoU of the raw model against the default matte on labelled clips.

    ``folder`` holds images/<seq>_<NNNNN>.jpg and masks/<seq>_<NNNNN>.png (consecutive frames; the
    DAVIS person set has this layout). Flicker: mean |a_t - a_(t-1)| per clip; IoU: alpha >= 0.5
    (the mask PNGs' 128) against the mask. Raw: the model's probability upsampled, no matte.
    """
    import cv2

    from .compose import Matte
    from .model.segmenter import Segmenter
    from .quality import flicker, iou
    from .settings import MatteSettings

    segmenter = segmenter or Segmenter()
    images = sorted((Path(folder) / "images").glob("*.jpg"))
    if not images:
        raise FileNotFoundError(f"no images/*.jpg in {folder}")
    clips: dict[str, list[Path]] = {}
    for path in images:
        clips.setdefault(path.stem.rsplit("_", 1)[0], []).append(path)

    rows = []
    for name, paths in clips.items():
        matte = Matte(settings or MatteSettings())
        raw, ours, gts = [], [], []
        for path in paths:
            frame = cv2.imread(str(path))
            gts.append(cv2.imread(str(path.parent.parent / "masks" / f"{path.stem}.png"), cv2.IMREAD_GRAYSCALE) > 127)
            low = segmenter.lowres(frame)
            raw.append(cv2.resize(low, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR))
            ours.append(np.rint(matte(low, frame) * 255) / 255)  # as --mask-out stores it
        rows.append({
            "clip": name, "frames": len(paths),
            "flicker_raw": flicker(raw), "flicker_matte": flicker(ours),
            "flicker_truth": flicker([g.astype(np.float32) for g in gts]),
            "iou_raw": float(np.mean([iou(r, g) for r, g in zip(raw, gts)])),
            "iou_matte": float(np.mean([iou(a, g) for a, g in zip(ours, gts)])),
        })
    mean = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0] if k not in ("clip", "frames")}
    mean["flicker_ratio"] = round(mean["flicker_matte"] / mean["flicker_raw"], 3) if mean["flicker_raw"] else None
    mean["iou_change_points"] = round(100 * (mean["iou_matte"] - mean["iou_raw"]), 2)
    return {"folder": str(folder), "clips": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows], "mean": mean}


def format_stability(r: dict) -> str:
    lines = [f"temporal stability on {r['folder']} (flicker = mean |alpha_t - alpha_t-1|; IoU at alpha >= 0.5):"]
    for c in r["clips"] + [{"clip": "MEAN", **r["mean"]}]:
        lines.append(
            f"  {c['clip']:<20} flicker raw {c['flicker_raw']:.4f} matte {c['flicker_matte']:.4f} truth {c['flicker_truth']:.4f}"
            f" | IoU raw {c['iou_raw']:.3f} matte {c['iou_matte']:.3f}"
        )
    m = r["mean"]
    ratio = f"{m['flicker_ratio']:.2f}x raw" if m["flicker_ratio"] is not None else "n/a (no consecutive frames)"
    lines.append(f"  matte flicker = {ratio}; IoU {m['iou_change_points']:+.2f} points")
    return "\n".join(lines)


def run(*, quick: bool = False) -> dict:
    from .model.backends import cpu_threads
    from .model.segmenter import Segmenter

    results: dict = {"cpu_threads": cpu_threads(), "load_before": machine_load(), "quick": quick, "model": [], "offline": [], "live": None}
    for backend in ("litert", "tensorflow"):
        results["model"].append(bench_model(backend, frames=15 if quick else 50))
    offline_segmenter = Segmenter(threads=1)  # as `personseg-live process` runs it
    for height in (720, 1080):
        results["offline"].append(bench_offline(height, max_frames=120 if quick else None, segmenter=offline_segmenter))
    results["live"] = bench_live(seconds=3.0 if quick else 10.0, segmenter=Segmenter())
    results["load_after"] = machine_load()
    return results


def format_text(r: dict) -> str:
    lines = [
        f"personseg-live bench ({r['cpu_threads']} CPU threads{', quick' if r['quick'] else ''}; "
        f"machine load {r['load_before']} -> {r['load_after']})",
        "", "model (720p frame):",
    ]
    for m in r["model"]:
        if m["available"]:
            lines.append(f"  {m['backend']:<11} {m['device']:<4} input {m['input']:<8} {m['ms_per_frame_p50']:6.2f} ms/frame (p50)")
        else:
            lines.append(f"  {m['backend']:<11} unavailable: {m['reason']}")
    lines += ["", "offline (demo clip, default model, blur, H.264):"]
    for o in r["offline"]:
        lines.append(
            f"  {o['height']}p  {o['fps']:6.1f} FPS  ({o['frames']} frames in {o['seconds']} s; "
            f"{o['cpu_ms_per_frame']} ms CPU per frame -> <= {o['fps_bound_idle_cores']} FPS on idle cores)"
        )
    live = r["live"]
    lines += ["", "live (720p file source paced at 30 FPS):"]
    if "error" in live:
        lines.append(f"  {live['error']}")
    else:
        lines.append(
            f"  latency p50 {live['latency_ms_p50']} ms, p95 {live['latency_ms_p95']} ms (max {live['latency_ms_max']}); "
            f"{live['fps_out']} FPS out, {live['dropped']} frames dropped at the slot; "
            f"processing {live['processing_ms_p50']} ms/frame; {live['cpu_cores_used']} cores busy"
        )
    return "\n".join(lines)


def main(*, json_output: bool = False, quick: bool = False, stability: Path | None = None) -> int:
    if stability is not None:
        try:
            results = bench_stability(stability)
        except FileNotFoundError as exc:
            print(f"personseg-live: error: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(results, indent=2) if json_output else format_stability(results))
        return 0
    if not json_output:
        print("measuring (about a minute; --quick for a rough figure)…", file=sys.stderr)
    results = run(quick=quick)
    print(json.dumps(results, indent=2) if json_output else format_text(results))
    return 0


__all__ = ["bench_live", "bench_model", "bench_offline", "main", "run", "scaled_demo"]
