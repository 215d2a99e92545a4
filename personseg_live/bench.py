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

import cv2
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


def bench_model(backend: str, *, frames: int = 50, model: str = "default") -> dict:
    from .model.segmenter import Segmenter

    try:
        seg = Segmenter(model=model, backend=backend)
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
    # The noise frame above has nobody in it: one look. The demo clip's first frame, a person at a desk in
    # half the frame, gets the closer look as well (``closer_look``): what a frame with a person costs.
    person = _demo_frame_720p()
    looked = seg.plan(person, seg.first_look(person)) is not None
    closer = []
    for _ in range(frames):
        t = time.perf_counter()
        seg.lowres(person)
        closer.append((time.perf_counter() - t) * 1e3)
    return {
        "backend": seg.backend, "device": seg.device, "available": True, "input": f"{w}x{h}",
        "ms_per_frame_p50": round(statistics.median(times), 2), "ms_per_frame_mean": round(statistics.fmean(times), 2),
        "closer_look": looked, "ms_with_person_p50": round(statistics.median(closer), 2),
    }


#: Issue 11's budget: the model may cost up to this many times MediaPipe landscape on the same 720p frame.
MODEL_BUDGET = 3.0
#: MediaPipe's landscape selfie model (Apache-2.0), kept in a checkout for the tests; an installed wheel has
#: none, and ``bench --reference PATH`` names one.
CHECKOUT_REFERENCE = Path(__file__).resolve().parent.parent / "tests" / "data" / "teachers" / "selfie_segmentation_landscape.tflite"


def against_reference(reference: Path, *, model: str = "default", runs: int = 50, threads: int | None = 1) -> dict:
    """``Segmenter(model)(frame)`` against a reference TFLite segmenter given the same 720p frame as it runs
    (its fixed input: the frame stretched, as MediaPipe does), resize and upsample included, on a frame with
    nobody in it and on the demo clip's person (the closer look: two runs of our model); calls alternate so
    both see the same machine load. ms are medians; ``ratio_with_person`` is what issue 11's budget limits."""
    from .model.segmenter import Segmenter

    ours = Segmenter(model, backend="litert", threads=threads)
    ref = Segmenter(reference, backend="litert", threads=threads)
    frames = {"empty": np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8),
              "person": _demo_frame_720p()}
    calls = {f"{who}_{kind}_ms": (seg, frame) for kind, frame in frames.items() for who, seg in (("model", ours), ("reference", ref))}
    for seg, frame in calls.values():
        for _ in range(3):
            seg(frame)
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, (seg, frame) in calls.items():
            t0 = time.perf_counter()
            seg(frame)
            times[name].append((time.perf_counter() - t0) * 1e3)
    row: dict = {name: round(statistics.median(v), 2) for name, v in times.items()}
    row["ratio_with_person"] = round(row["model_person_ms"] / row["reference_person_ms"], 2)
    row.update(reference=Path(reference).name, budget=MODEL_BUDGET, threads=threads)
    return row


def _demo_frame_720p() -> np.ndarray:
    capture = cv2.VideoCapture(str(assets.demo_clip()))
    ok, frame = capture.read()
    capture.release()
    if not ok:
        raise RuntimeError(f"cannot read {assets.demo_clip()}")
    return cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_LINEAR)


def bench_offline(height: int, *, max_frames: int | None = None, segmenter=None) -> dict:
    from .model.backends import cpu_threads
    from .offline import ProcessOptions, process_video

    src = scaled_demo(height)
    options = ProcessOptions()  # the defaults users get: blur background (the model: ``segmenter``, else default)
    with tempfile.TemporaryDirectory() as tmp:
        cpu = time.process_time()
        report = process_video(src, Path(tmp) / "out.mp4", options, segmenter=segmenter, progress=False, max_frames=max_frames)
        frames, seconds = report.frames, report.seconds
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


def bench_live(*, seconds: float = 10.0, height: int = 720, segmenter=None) -> dict:
    from .pipeline import Pipeline
    from .settings import Settings, SourceSettings

    src = scaled_demo(height)
    latencies: list[float] = []
    totals: list[float] = []
    rested: list[bool] = []
    events: list[str] = []
    lock = threading.Lock()

    def on_frame(result) -> None:
        with lock:
            latencies.append(result.latency_ms)
            totals.append(result.timings_ms["total"])
            rested.append(result.model_rested)

    settings = Settings(source=SourceSettings(spec=str(src), fps=30, loop=True))
    pipeline = Pipeline(settings, on_frame=on_frame, on_event=lambda e: events.append(e.kind), segmenter=segmenter)
    pipeline.start()
    time.sleep(1.0)  # warm-up: interpreter allocation, first decode
    with lock:
        latencies.clear()
        totals.clear()
        rested.clear()
    dropped0 = pipeline.dropped_frames
    cpu = time.process_time()
    time.sleep(seconds)
    cpu_share = (time.process_time() - cpu) / seconds
    with lock:
        lat, tot, rests = list(latencies), list(totals), sum(rested)
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
        "model_rested_share": round(rests / len(lat), 2),  # frames where the matte carried the model's last answer
    }


def _labelled_clips(folder: Path):
    """(clip name, iterator of (frame, truth mask)) for images/<clip>_<NNNNN>.jpg + masks/<same>.png."""
    import cv2

    images = sorted((folder / "images").glob("*.jpg"))
    if not images:
        raise FileNotFoundError(f"no images/*.jpg in {folder}")
    clips: dict[str, list[Path]] = {}
    for path in images:
        clips.setdefault(path.stem.rsplit("_", 1)[0], []).append(path)

    def frames(paths: list[Path]):
        for p in paths:
            mask = cv2.imread(str(folder / "masks" / f"{p.stem}.png"), cv2.IMREAD_GRAYSCALE)
            if mask is None:
                raise FileNotFoundError(f"no readable mask masks/{p.stem}.png in {folder}")
            yield cv2.imread(str(p)), mask > 127

    for name, paths in clips.items():
        yield name, frames(paths)


def _video_clip(path: Path, max_frames: int):
    """One unlabelled clip: (file name, iterator of (frame, None)), at most ``max_frames`` frames."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open video {path}")

    def frames():
        try:
            for _ in range(max_frames):
                ok, frame = cap.read()
                if not ok:
                    return
                yield frame, None
        finally:
            cap.release()

    yield path.name, frames()


def bench_stability(source: Path, *, segmenter=None, settings=None, max_frames: int = 900) -> dict:
    """Flicker (and IoU where there are masks) of the raw model, an unsmoothed matte and the matte.

    ``source`` is a folder of labelled clips, images/<seq>_<NNNNN>.jpg and masks/<seq>_<NNNNN>.png
    (consecutive frames; the DAVIS person set has this layout), or a video file (flicker only, first
    ``max_frames`` frames). Flicker: mean |a_t - a_(t-1)| per clip. Raw: the model's probability
    upsampled, no matte. Unsmoothed: the matte with ``smoothing=0`` (``process --smoothing 0``).
    Mattes are rounded to 8 bits as ``--mask-out`` stores them; IoU at alpha >= 0.5.
    """
    from dataclasses import replace

    from .model.segmenter import Segmenter, upsample
    from .processor import FrameProcessor
    from .quality import FlickerMeter, iou
    from .settings import BackgroundSettings, MatteSettings

    source = Path(source)
    if source.is_dir():
        clips = _labelled_clips(source)
    elif source.is_file():
        clips = _video_clip(source, max_frames)
    else:
        raise FileNotFoundError(f"no such folder or video: {source}")
    segmenter = segmenter or Segmenter()
    settings = settings or MatteSettings()
    no_background = BackgroundSettings(mode="none")
    kinds = ("raw", "unsmoothed", "matte")

    rows = []
    for name, frames in clips:
        # The chain as the app runs it (background None: the matte is what is measured; every step of it,
        # as --mask-out writes it), once as set and once unsmoothed, on the same model output.
        chains = {"unsmoothed": FrameProcessor(segmenter, replace(settings, smoothing=0.0), no_background, keep_edges=True),
                  "matte": FrameProcessor(segmenter, settings, no_background, keep_edges=True)}
        meters = {k: FlickerMeter() for k in (*kinds, "truth")}
        ious: dict[str, list[float]] = {k: [] for k in kinds}
        count = 0
        for frame, truth in frames:
            if frame is None:
                raise FileNotFoundError(f"cannot read a frame of clip {name} in {source}")
            low = segmenter.lowres(frame)
            alphas = {"raw": upsample(low, frame.shape[:2])}
            for kind, chain in chains.items():
                alphas[kind] = np.rint(chain.finish(frame, frame, low).alpha * 255) * np.float32(1 / 255)
            for kind, alpha in alphas.items():
                meters[kind].add(alpha)
                if truth is not None:
                    ious[kind].append(iou(alpha, truth))
            if truth is not None:
                meters["truth"].add(truth)
            count += 1
        if count == 0:
            raise FileNotFoundError(f"no frames in {source}")
        row = {"clip": name, "frames": count, **{f"flicker_{k}": m.value for k, m in meters.items()}}
        if ious["raw"]:
            row.update({f"iou_{k}": float(np.mean(v)) for k, v in ious.items()})
        else:
            del row["flicker_truth"]
        rows.append(row)
    keys = [k for k in rows[0] if k not in ("clip", "frames")]
    mean = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in keys}
    for base in ("raw", "unsmoothed"):
        mean[f"flicker_ratio_{base}"] = round(mean["flicker_matte"] / mean[f"flicker_{base}"], 3) if mean[f"flicker_{base}"] else None
        if "iou_raw" in mean:
            mean[f"iou_change_points_{base}"] = round(100 * (mean["iou_matte"] - mean[f"iou_{base}"]), 2)
    return {"source": str(source), "model": segmenter.info.name,
            "clips": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows], "mean": mean}


def format_stability(r: dict) -> str:
    labelled = "iou_raw" in r["mean"]
    lines = [f"temporal stability of model {r['model']} on {r['source']} (flicker = mean |alpha_t - alpha_t-1|"
             f"{'; IoU at alpha >= 0.5' if labelled else ''}):",
             f"  {'clip':<28} {'flicker: raw':>12} {'unsmoothed':>10} {'matte':>7}" + (f" {'truth':>7} | IoU: raw unsmoothed matte" if labelled else "")]
    for c in r["clips"] + [{"clip": "MEAN", **r["mean"]}]:
        line = f"  {c['clip'][:28]:<28} {c['flicker_raw']:>12.4f} {c['flicker_unsmoothed']:>10.4f} {c['flicker_matte']:>7.4f}"
        if labelled:
            line += f" {c['flicker_truth']:>7.4f} |      {c['iou_raw']:.3f}      {c['iou_unsmoothed']:.3f} {c['iou_matte']:.3f}"
        lines.append(line)
    m = r["mean"]
    for base in ("raw", "unsmoothed"):
        ratio = m[f"flicker_ratio_{base}"]
        text = f"{ratio:.2f}x the {base}" if ratio is not None else f"n/a against the {base} (no consecutive frames)"
        if labelled:
            text += f"; IoU {m[f'iou_change_points_{base}']:+.2f} points"
        lines.append(f"  matte flicker = {text}")
    return "\n".join(lines)


def run(*, quick: bool = False, model: str = "default", reference: Path | None = None) -> dict:
    """``reference``: the TFLite model the budget is counted in (None: MediaPipe landscape from a checkout, if
    there; else the budget line says how to give one)."""
    from .model.backends import cpu_threads
    from .model.segmenter import Segmenter
    from .pipeline import load_segmenter

    results: dict = {"cpu_threads": cpu_threads(), "load_before": machine_load(), "quick": quick, "model_name": model,
                     "model": [], "offline": [], "live": None}
    for backend in ("litert", "tensorflow"):
        results["model"].append(bench_model(backend, frames=15 if quick else 50, model=model))
    reference = reference or (CHECKOUT_REFERENCE if CHECKOUT_REFERENCE.is_file() else None)
    results["budget"] = (against_reference(reference, model=model, runs=15 if quick else 50) if reference is not None
                         else {"reference": None})
    offline_segmenter = Segmenter(model=model, threads=1)  # as `personseg-live process` runs it
    for height in (720, 1080):
        results["offline"].append(bench_offline(height, max_frames=120 if quick else None, segmenter=offline_segmenter))
    # The live app's own segmenter (one XNNPACK thread), so the bench measures what users run.
    results["live"] = bench_live(seconds=3.0 if quick else 10.0, segmenter=load_segmenter(model, "auto"))
    results["load_after"] = machine_load()
    return results


def format_text(r: dict) -> str:
    lines = [
        f"personseg-live bench of model {r['model_name']} ({r['cpu_threads']} CPU threads{', quick' if r['quick'] else ''}; "
        f"machine load {r['load_before']} -> {r['load_after']})",
        "", "model (720p frame):",
    ]
    for m in r["model"]:
        if m["available"]:
            closer = " (looked at twice: the closer look)" if m["closer_look"] else ""
            lines.append(f"  {m['backend']:<11} {m['device']:<4} input {m['input']:<8} {m['ms_per_frame_p50']:6.2f} ms/frame (p50); "
                         f"the demo's person {m['ms_with_person_p50']:.2f} ms{closer}")
        else:
            lines.append(f"  {m['backend']:<11} unavailable: {m['reason']}")
    b = r.get("budget") or {"reference": None}
    if b["reference"] is None:
        lines.append("  budget: no reference model (bench --reference selfie_segmentation_landscape.tflite, "
                     "from npm @mediapipe/selfie_segmentation)")
    else:
        held = "held" if b["ratio_with_person"] <= b["budget"] else "NOT held"
        lines.append(f"  budget, against {b['reference']} on the same 720p frame ({b['threads']} thread each): the demo's person "
                     f"{b['model_person_ms']:.2f} vs {b['reference_person_ms']:.2f} ms = {b['ratio_with_person']:.2f}x "
                     f"(<= {b['budget']:.0f}x: {held}); nobody in the frame {b['model_empty_ms']:.2f} vs {b['reference_empty_ms']:.2f} ms")
    lines += ["", "offline (demo clip, blur background, H.264):"]
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
            f"processing {live['processing_ms_p50']} ms/frame; {live['cpu_cores_used']} cores busy; "
            f"the matte carried the model's last answer on {live['model_rested_share']:.0%} of frames"
        )
    return "\n".join(lines)


def main(*, json_output: bool = False, quick: bool = False, stability: Path | None = None, model: str = "default",
         reference: Path | None = None) -> int:
    from .model.backends import ModelError
    from .model.segmenter import Segmenter

    if stability is not None:
        try:
            results = bench_stability(stability, segmenter=Segmenter(model=model))
        except (FileNotFoundError, ModelError) as exc:
            print(f"personseg-live: error: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(results, indent=2) if json_output else format_stability(results))
        return 0
    if not json_output:
        print("measuring (about a minute; --quick for a rough figure)…", file=sys.stderr)
    try:
        results = run(quick=quick, model=model, reference=reference)
    except ModelError as exc:
        print(f"personseg-live: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(results, indent=2) if json_output else format_text(results))
    return 0


__all__ = ["MODEL_BUDGET", "against_reference", "bench_live", "bench_model", "bench_offline", "main", "run", "scaled_demo"]
