"""File -> file: every frame through Segmenter -> Matte -> Compositor, audio and timing kept.

    options = ProcessOptions(background=parse_background("blur"))
    report = process_video(Path("in.mp4"), Path("out.mp4"), options)

Three threads overlap the work: a reader (PyAV demux + decode), the caller's thread (model, matte,
compositor: in frame order, so temporal smoothing sees the true sequence) and a writer (encode,
mux, mask PNGs). Bounded queues between them keep memory flat. Nothing is dropped. Frames keep
their input timestamps, so frame rate (constant or variable) and duration are the input's.

Output: .mp4/.mov/.mkv -> H.264 (yuv420p); .webm -> VP9; transparent background -> .webm with
alpha (VP9 yuva420p) or, for an OUT without a video suffix, a folder of RGBA PNGs (00000.png ...).
The output is written under a temporary name beside OUT and renamed when complete.
"""

from __future__ import annotations

import glob
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from . import assets
from .compose import Compositor, Matte
from .compose.effects import i420_to_bgr_half, parse_color
from .settings import BACKGROUND_MODES, BackgroundSettings, MatteSettings
from .video.sinks import VIDEO_CODECS, OutputError, PngSequenceSink, VideoFileSink, check_writable

QUEUE_DEPTH = 8
#: Frames per model call on the TensorFlow backend (LiteRT runs one at a time).
BATCH_TENSORFLOW = 8


class InputError(RuntimeError):
    """An input that is missing, unreadable, or has no video frames."""


@dataclass
class ProcessOptions:
    background: BackgroundSettings = field(default_factory=BackgroundSettings)
    matte: MatteSettings = field(default_factory=MatteSettings)
    model: str = "default"
    backend: str = "auto"
    mask_out: Path | None = None
    # libx264: ultrafast keeps 720p above 60 FPS on two cores (18 ms CPU per frame in all, against
    # 25 ms for veryfast) at ~3x the file size (about 3 Mbit/s at 720p, crf 20); --preset to trade back.
    preset: str = "ultrafast"
    crf: int = 20


@dataclass
class ProcessReport:
    input: Path
    output: Path
    frames: int
    seconds: float
    audio: bool

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def parse_background(value: str, *, blur: int | None = None) -> BackgroundSettings:
    """``--background``: blur | none | transparent | color:#RRGGBB | #RRGGBB | an image or video file."""
    base = BackgroundSettings()
    if blur is not None:
        if not 1 <= blur <= 100:
            raise ValueError(f"--blur {blur}: must be 1..100")
        base.blur_strength = int(blur)
    value = value.strip()
    if value in ("blur", "none", "transparent"):
        base.mode = value
        return base
    if value.lower().startswith("color:") or value.startswith("#"):
        color = value.split(":", 1)[1] if ":" in value else value
        color = color if color.startswith("#") else f"#{color}"
        b, g, r = parse_color(color)  # raises with a clear message
        base.mode, base.color = "color", f"#{r:02X}{g:02X}{b:02X}"
        return base
    if value in BACKGROUND_MODES:  # "image"/"video"/"color" alone: they need a value
        raise ValueError(f"--background {value}: give a file path (image/video) or color:#RRGGBB instead")
    path = Path(value).expanduser()
    if not path.is_file():
        raise ValueError(
            f"--background {value!r}: not blur, none, transparent, color:#RRGGBB or an existing image/video file"
        )
    base.mode = "video" if path.suffix.lower() in assets.VIDEO_EXTS else "image"
    base.path = str(path.resolve())
    return base


def expand_inputs(spec: str) -> list[Path]:
    """A file, a folder (its videos) or a glob pattern -> the video files, sorted."""
    path = Path(spec).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in assets.VIDEO_EXTS and p.is_file())
        if not files:
            raise InputError(f"no video files ({', '.join(assets.VIDEO_EXTS)}) in folder {path}")
        return files
    if any(c in spec for c in "*?["):
        files = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
        if not files:
            raise InputError(f"no files match {spec!r}")
        return files
    if not path.exists():
        raise InputError(f"input not found: {path}")
    return [path]


def output_for(input_path: Path, out_dir: Path, transparent: bool) -> Path:
    return out_dir / (input_path.stem + (".webm" if transparent else ".mp4"))


def process_video(
    src: Path,
    dst: Path,
    options: ProcessOptions,
    *,
    segmenter=None,
    progress: bool = True,
    on_frame: Callable[[int], None] | None = None,
) -> ProcessReport:
    """Process one file. ``on_frame(index)`` is called after each frame (tests use it to interrupt)."""
    from tqdm import tqdm

    src, dst = Path(src), Path(dst)
    transparent = options.background.mode == "transparent"
    png_output = dst.suffix.lower() not in VIDEO_CODECS
    if png_output and not transparent:
        raise OutputError(f"{dst}: unsupported output type {dst.suffix or '(none)'} (use {', '.join(VIDEO_CODECS)})")
    check_writable(dst)
    compositor = Compositor(options.background)  # a bad background fails before any decoding
    if segmenter is None:
        from .model.segmenter import Segmenter

        # One inference thread: the reader and writer threads already keep the second core busy,
        # and XNNPACK's thread pool would only add hand-over cost (22 vs 23 ms CPU per 720p frame).
        segmenter = Segmenter(options.model, backend=options.backend, threads=1)

    container = _open_input(src)
    sink = None
    reader = writer = None
    stop = threading.Event()
    try:
        vstream = container.streams.video[0]
        astream = container.streams.audio[0] if container.streams.audio else None
        vstream.thread_type = "AUTO"
        width, height = vstream.codec_context.width, vstream.codec_context.height
        if not width or not height:
            raise InputError(f"{src}: the video stream has no picture size (corrupt?)")
        rate = vstream.average_rate or vstream.guessed_rate or 30
        # The I420 fast path: decode, composite and encode without ever converting the full frame to BGR.
        i420 = not transparent and not png_output and width % 2 == 0 and height % 2 == 0
        if png_output:
            sink = PngSequenceSink(dst)
        else:
            sink = VideoFileSink(
                dst, width=width, height=height, fps=rate, time_base=vstream.time_base,
                transparent=transparent, audio=astream, preset=options.preset, crf=options.crf,
            )
        if options.mask_out is not None:
            try:
                options.mask_out.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(f"cannot create the mask folder {options.mask_out}: {exc.strerror or exc}") from exc

        decoded: queue.Queue = queue.Queue(QUEUE_DEPTH)
        encoded: queue.Queue = queue.Queue(QUEUE_DEPTH)
        errors: list[BaseException] = []
        reader = threading.Thread(
            target=_read, args=(container, vstream, astream, decoded, stop, errors, i420), name="offline-read"
        )
        writer = threading.Thread(
            target=_write, args=(sink, options.mask_out, encoded, stop, errors), name="offline-write"
        )
        reader.start()
        writer.start()

        matte = Matte(options.matte)
        # LiteRT on a CPU gains nothing from batches; TensorFlow (on a GPU) does.
        batch_size = BATCH_TENSORFLOW if segmenter.backend == "tensorflow" else 1
        total = vstream.frames or estimate_frames(container, vstream, rate)  # mkv/webm often have no count
        t0 = time.perf_counter()
        count = 0
        pending: list[tuple] = []  # (frame, model input, pts, time base), in frame order

        def finish(batch: list[tuple]) -> None:
            nonlocal count
            lows = segmenter.lowres_batch([small for _, small, _, _ in batch]) if len(batch) > 1 else [segmenter.lowres(batch[0][1])]
            for (frame, small, pts, tb), low in zip(batch, lows):
                if i420:
                    alpha = matte(low, small, out_size=(height, width))
                    out = compositor.compose_i420(frame, alpha)
                else:
                    alpha = matte(low, frame)
                    out = compositor(frame, alpha)
                mask = None
                if options.mask_out is not None:
                    mask = np.empty(alpha.shape, np.uint8)
                    np.multiply(alpha, 255.0, out=alpha)  # the matte's buffer: already used above
                    np.rint(alpha, out=alpha)
                    mask[...] = alpha
                _put(encoded, ("i420" if i420 else "video", out, pts, tb, mask, count), stop, errors)
                count += 1
                bar.update(1)
                if on_frame is not None:
                    on_frame(count - 1)

        with tqdm(total=total, unit="frame", desc=src.name, disable=not progress, dynamic_ncols=True) as bar:
            while True:
                item = _get(decoded, stop, errors)
                if item is None:
                    break
                if item[0] == "audio":
                    _put(encoded, item, stop, errors)
                    continue
                _, frame, pts, tb = item
                if i420:
                    # The model and the matte work at <= 320 px: a half-size copy serves them as well as
                    # the frame from 960 px up; below that it would starve them of detail.
                    small = i420_to_bgr_half(frame) if max(width, height) >= 960 else cv2.cvtColor(frame, cv2.COLOR_YUV2BGR_I420)
                else:
                    small = frame
                pending.append((frame, small, pts, tb))
                if len(pending) >= batch_size:
                    finish(pending)
                    pending = []
            if pending and not stop.is_set() and not errors:
                finish(pending)
            if bar.total != count:  # an estimated total: end the bar at the true count
                bar.total = count
                bar.refresh()
        _put(encoded, None, stop, errors)
        writer.join()
        reader.join()
        if errors:
            raise errors[0]
        if count == 0:
            raise InputError(f"{src}: no video frames could be decoded")
        sink.close()
        return ProcessReport(src, dst, count, time.perf_counter() - t0, astream is not None and not png_output)
    except BaseException:
        stop.set()
        for t in (reader, writer):
            if t is not None:
                t.join(5)
        if sink is not None:
            sink.close(complete=False)
        raise
    finally:
        compositor.close()
        container.close()


def estimate_frames(container, vstream, rate) -> int | None:
    """Frames from duration x rate, for the progress bar's ETA (None when the file says neither)."""
    if vstream.duration and vstream.time_base:
        seconds = float(vstream.duration * vstream.time_base)
    elif container.duration:
        seconds = container.duration / 1e6
    else:
        return None
    return max(1, round(seconds * float(rate))) if seconds > 0 else None


def _open_input(src: Path):
    import av

    if not src.exists():
        raise InputError(f"input not found: {src}")
    if src.is_dir():
        raise InputError(f"input {src} is a folder (give OUT as a folder to process a folder of videos)")
    try:
        container = av.open(str(src))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {src}: not a video FFmpeg can open ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise InputError(f"{src} has no video stream")
    return container


def _read(container, vstream, astream, out: queue.Queue, stop: threading.Event, errors: list, i420: bool) -> None:
    import av

    size = (vstream.codec_context.width, vstream.codec_context.height)
    streams = [vstream] + ([astream] if astream is not None else [])
    index = 0
    try:
        for packet in container.demux(streams):
            if stop.is_set():
                return
            if packet.stream.type == "audio":
                _put(out, ("audio", packet), stop, errors)
                continue
            for frame in packet.decode():
                pts, time_base = frame.pts, frame.time_base
                if i420 and (frame.width, frame.height) != size:
                    # A mid-stream size change: keep the output's size (the encoder cannot change it).
                    frame = frame.reformat(width=size[0], height=size[1], format="yuv420p")
                image = to_i420(frame) if i420 else to_bgr(frame)
                _put(out, ("video", image, pts, time_base), stop, errors)
                index += 1
    except av.error.FFmpegError as exc:
        errors.append(InputError(f"{container.name}: decoding failed after {index} frames ({exc})"))
    except BaseException as exc:
        errors.append(exc)
    finally:
        _put(out, None, stop, errors, force=True)


def to_i420(frame) -> np.ndarray:
    """A decoded PyAV frame as an I420 buffer (h*3/2, w): a copy for yuv420p, else one swscale pass."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    return frame.to_ndarray()


def to_bgr(frame) -> np.ndarray:
    """A decoded PyAV frame as BGR. The common case (limited-range yuv420p, even size) goes through
    OpenCV's SIMD converter: 1 ms at 720p where swscale's bgr24 path costs ~3 ms; the same BT.601 maths."""
    import cv2

    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        return cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2BGR_I420)
    return frame.to_ndarray(format="bgr24")


def _write(sink, mask_dir: Path | None, inp: queue.Queue, stop: threading.Event, errors: list) -> None:
    import cv2

    try:
        while True:
            item = _get(inp, stop, errors, check_errors=False)
            if item is None:
                return
            if item[0] == "audio":
                sink.write_audio(item[1])
                continue
            kind, image, pts, tb, mask, index = item
            if kind == "i420":
                sink.send_i420(image, pts=pts, time_base=tb)
            else:
                sink.send(image, pts=pts, time_base=tb)
            if mask is not None:
                target = mask_dir / f"{index:05d}.png"
                if not cv2.imwrite(str(target), mask, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
                    raise OutputError(f"cannot write mask {target}")
    except BaseException as exc:
        errors.append(exc)
        stop.set()


def _put(q: queue.Queue, item, stop: threading.Event, errors: list, *, force: bool = False) -> None:
    """Put, but give up when the run is stopping (the other side may never take it)."""
    while True:
        if stop.is_set() and not force:
            return
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            if force and stop.is_set():
                return


def _get(q: queue.Queue, stop: threading.Event, errors: list, *, check_errors: bool = True):
    while True:
        if check_errors and errors:
            raise errors[0]
        if stop.is_set():
            return None
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
