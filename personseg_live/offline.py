"""File -> file: every frame through Segmenter -> Matte -> Compositor, audio and timing kept.

    options = ProcessOptions(background=parse_background("blur"))
    report = process_video(Path("in.mp4"), Path("out.mp4"), options)

Four threads overlap the work: a reader (PyAV demux + decode), the caller's thread (the model), a composer
(the matte, in frame order so that temporal smoothing sees the true sequence, and the new background under
each alpha) and a writer (encode, mux, mask PNGs). Bounded queues between them keep memory flat. Nothing is
dropped. Frames keep their input timestamps, so frame rate (constant or variable) and duration are the input's.

Output: .mp4/.mov/.mkv -> H.264 (yuv420p); .webm -> VP9; transparent background -> .webm with
alpha (VP9 yuva420p) or, for an OUT without a video suffix, a folder of RGBA PNGs (00000.png ...).
A picture in and a picture out (.jpg, .png, .webp, ...) is one still: ``picture.process_picture``.
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

from .errors import PersonsegError
from . import assets
from .compose.effects import media_mode, parse_color
from .model.closer_look import FIRST_LOOK_EVERY
from .ours import refuse_replacing
from .processor import FrameProcessor, i420_guide, is_i420
from .settings import BACKGROUND_MODES, BackgroundSettings, MatteSettings
from .video.colour import Colour
from .video.orientation import Orientation
from .video.sinks import VIDEO_CODECS, OutputError, PngSequenceSink, VideoFileSink, cannot_write, check_writable

QUEUE_DEPTH = 8
#: Phone photo formats OpenCV cannot decode: a clear error instead of "not a picture" further on.
UNREADABLE_PHOTOS = (".heic", ".heif")
#: Frames per model call on the TensorFlow backend (LiteRT runs one at a time).
BATCH_TENSORFLOW = 8


class InputError(PersonsegError, RuntimeError):
    """An input that is missing, unreadable, or has no video frames."""


@dataclass(frozen=True)
class InputFormat:
    """How the input's frames are to be read: turned upright, in their own colour range and matrix."""

    orientation: Orientation = field(default_factory=Orientation)
    colour: Colour = field(default_factory=Colour)

    def to_bgr(self, frame) -> np.ndarray:
        return self.orientation.apply(self.colour.to_bgr(frame))

    def to_i420(self, frame) -> np.ndarray:
        return self.orientation.apply_i420(self.colour.to_i420(frame))


@dataclass
class ProcessOptions:
    background: BackgroundSettings = field(default_factory=BackgroundSettings)
    matte: MatteSettings = field(default_factory=MatteSettings)
    model: str = "default"
    backend: str = "auto"
    quality: str = "live"  # "high": flip test-time augmentation (see Segmenter's QUALITY)
    mask_out: Path | None = None
    # libx264: ultrafast keeps 720p above 60 FPS on two cores (18 ms CPU per frame in all, against
    # 25 ms for veryfast) at ~3x the file size (about 3 Mbit/s at 720p, crf 20); --preset to trade back.
    preset: str = "ultrafast"
    crf: int = 20
    # Replace an existing output file or non-empty PNG/mask folder (the CLI asks for -y/--overwrite) ...
    overwrite: bool = True
    # ... an output file only when it is one of our results (the CLI's -y: see ours.py; a shell pattern can make
    # the user's own video the output).
    replace_only_ours: bool = False
    # Issue 13: the empty scene (a room.Plate) as a matte cue, and/or learning it from the video itself.
    plate: object | None = None
    learn_room: bool = False


@dataclass
class ProcessReport:
    input: Path
    output: Path
    frames: int
    seconds: float
    audio: bool
    cancelled: bool = False  # stopped by ``cancel``: nothing written
    notes: list[str] = field(default_factory=list)  # what was kept and how: audio tracks, a padded size

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def parse_background(value: str, *, blur: int | None = None) -> BackgroundSettings:
    """``--background``: blur | none | transparent | color:#RRGGBB | color:NAME | #RRGGBB | an image or video file."""
    base = BackgroundSettings()
    if blur is not None:
        if not 1 <= blur <= 100:
            raise ValueError(f"--blur {blur}: must be 1..100")
        base.blur_strength = int(blur)
    value = value.strip()
    if value.lower() in ("blur", "none", "transparent"):  # (Blur, as the window's tile says it)
        base.mode = value.lower()
        return base
    if value.lower().startswith(("color:", "colour:")) or value.startswith("#"):
        color = value.split(":", 1)[1] if ":" in value else value
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
    base.mode = media_mode(path)
    base.path = str(path.resolve())
    return base


def is_pattern(spec: str) -> bool:
    """A glob pattern, not a file that has * ? or [ in its name ("talk [final].mp4", as downloads are named)."""
    return any(c in spec for c in "*?[") and not Path(spec).expanduser().exists()


def expand_inputs(spec: str) -> list[Path]:
    """A file, a folder (its videos and pictures) or a glob pattern -> the files, sorted."""
    from .picture import PICTURE_EXTS

    path = Path(spec).expanduser()
    if path.is_dir():
        kinds = assets.VIDEO_EXTS + PICTURE_EXTS
        # HEIC photos are listed so that each fails with its reason (save as JPEG): skipped, they were unsaid.
        listed = kinds + UNREADABLE_PHOTOS
        # Not hidden files, as a shell's * and glob skip them: macOS's "._photo.jpg" companions on a shared
        # drive (no picture inside: each was an error) and our own unfinished ".out.mp4.partial-..." files.
        files = sorted(p for p in path.iterdir()
                       if p.suffix.lower() in listed and not p.name.startswith(".") and p.is_file())
        if not files:
            raise InputError(f"no videos or pictures ({', '.join(kinds)}) in folder {path}")
        return files
    if is_pattern(spec):
        files = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).is_file())
        if not files:
            raise InputError(f"no files match {spec!r}")
        return files
    if not path.exists():
        raise InputError(f"input not found: {path}")
    return [path]


def output_for(input_path: Path, out_dir: Path, transparent: bool) -> Path:
    """Where an input's result goes in the folder OUT: a video as .mp4 (.webm with alpha), a picture as a picture."""
    from .picture import is_picture, picture_output_for

    if is_picture(input_path):
        return picture_output_for(input_path, out_dir, transparent)
    return out_dir / (input_path.stem + (".webm" if transparent else ".mp4"))


def process_video(
    src: Path,
    dst: Path,
    options: ProcessOptions,
    *,
    segmenter=None,
    progress: bool = True,
    on_frame: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
    max_frames: int | None = None,
) -> ProcessReport:
    """Process one file. ``on_frame(index)`` is called after each frame. ``max_frames``: stop after that
    many frames, with a complete output of them. ``cancel`` set (from any thread, a signal handler):
    stop soon, write nothing, and return a report with ``cancelled`` true."""
    src, dst = Path(src), Path(dst)
    from .picture import is_picture, process_picture

    if src.suffix.lower() in UNREADABLE_PHOTOS:
        raise InputError(f"{src}: {src.suffix.lstrip('.').upper()} photos cannot be read here (OpenCV has no decoder "
                         "for them); save it as JPEG or PNG first")
    if is_picture(src) and not is_picture(dst) and dst.suffix and dst.suffix.lower() not in VIDEO_CODECS:
        from .picture import PICTURE_EXTS

        raise OutputError(f"{dst}: unsupported output type {dst.suffix} for a picture (use {', '.join(PICTURE_EXTS)})")
    if is_picture(dst):
        # A picture out is one still in: a video's frames go to a video file or a folder of PNG frames.
        if not is_picture(src):
            raise OutputError(f"{dst}: a picture output takes a picture input; for a video use "
                              f"{', '.join(VIDEO_CODECS)} (or, with --background transparent, a folder for PNG frames)")
        return process_picture(src, dst, options, segmenter=segmenter)
    _check_output(dst, options)
    # A bad background fails here, before decoding; with --mask-out the alpha is an output: every matte step.
    processor = FrameProcessor(None, options.matte, options.background, keep_edges=options.mask_out is not None)
    container = _open_input(src)
    run = None
    try:
        _attach_model(processor, options, segmenter)
        run = _Run.start(container, src, dst, options, processor)
        total = _expected_frames(container, run.vstream, run.rate, max_frames)
        if options.learn_room and options.plate is None:  # --plate auto: a first pass learns the room
            from .room import RoomCue

            plate = _learn_room(src, run.fmt, processor.segmenter, run.frame_hw, total or 0, progress=progress,
                                cancel=cancel, max_frames=max_frames)
            if cancel is not None and cancel.is_set():
                run.abort()
                return ProcessReport(src, dst, 0, 0.0, False, cancelled=True)
            processor.room = RoomCue(plate, learn=True)
        t0 = time.perf_counter()
        count = _drive(processor, run.stream, src.name, total, progress=progress, on_frame=on_frame, cancel=cancel,
                       max_frames=max_frames)
        if cancel is not None and cancel.is_set():
            run.abort()
            return ProcessReport(src, dst, count, time.perf_counter() - t0, False, cancelled=True)
        run.finish()
        if count == 0:
            raise InputError(f"{src}: no video frames could be decoded")
        run.outputs.close()
        audio = bool(run.astreams) and isinstance(run.outputs.video, VideoFileSink)
        notes = run.outputs.notes + run.room.note
        if run.astreams and not audio:
            notes = [f"audio: not kept ({len(run.astreams)} track{'s' if len(run.astreams) > 1 else ''}; PNG frames "
                     "carry no sound)", *notes]
        return ProcessReport(src, dst, count, time.perf_counter() - t0, audio, notes=notes)
    except BaseException:
        if run is not None:
            run.abort()
        raise
    finally:
        processor.close()
        if run is None or not run.reader.is_alive():  # closing it under a demuxing reader segfaulted
            container.close()


def _check_output(dst: Path, options: ProcessOptions) -> None:
    """A video output the user can have: a known type (a folder of PNGs only with alpha), a writable place, and
    an existing file replaced only when asked."""
    if dst.suffix.lower() not in VIDEO_CODECS and options.background.mode != "transparent":
        raise OutputError(f"{dst}: unsupported output type {dst.suffix or '(none)'} (use {', '.join(VIDEO_CODECS)})")
    check_writable(dst)
    if not options.overwrite and dst.exists() and not (dst.is_dir() and not any(dst.iterdir())):
        raise OutputError(f"{dst} already exists; add -y/--overwrite to replace it")
    if options.replace_only_ours:
        refuse_replacing(dst)


def _attach_model(processor: FrameProcessor, options: ProcessOptions, segmenter) -> None:
    """The model (the caller's, else one made from the options), the room plate, and the looks' schedule."""
    if options.plate is not None:
        from .room import RoomCue

        processor.room = RoomCue(options.plate, learn=options.learn_room)
    if segmenter is None:
        from .model.segmenter import Segmenter

        # One inference thread: the reader and writer threads already keep the second core busy,
        # and XNNPACK's thread pool would only add hand-over cost (22 vs 23 ms CPU per 720p frame).
        segmenter = Segmenter(options.model, backend=options.backend, threads=1, quality=options.quality)
    processor.segmenter = segmenter
    # The live looks at the live quality: the whole-frame look reused for a few frames while the closer look runs
    # on each (closer_look.FIRST_LOOK_EVERY: on our clips the matte's IoU as high or higher, ~40 % fewer model runs,
    # offline 720p +19 % FPS); --quality high keeps both looks on every frame, where time does not count.
    processor.first_look_every = FIRST_LOOK_EVERY if getattr(segmenter, "quality", "live") == "live" else 1


def _expected_frames(container, vstream, rate, max_frames: int | None) -> int | None:
    """The progress bar's total: the file's count, else an estimate (mkv/webm often have no count)."""
    total = vstream.frames or estimate_frames(container, vstream, rate)
    if max_frames is not None:
        total = min(total or max_frames, max_frames)
    return total


def _drive(processor: FrameProcessor, stream: "_Stream", name: str, total: int | None, *, progress: bool,
           on_frame: Callable[[int], None] | None, cancel: threading.Event | None, max_frames: int | None) -> int:
    """The caller's thread under a progress bar: every frame through the model. Returns the frames processed."""
    from tqdm import tqdm

    # LiteRT on a CPU gains nothing from batches; TensorFlow (on a GPU) does.
    batch_size = BATCH_TENSORFLOW if processor.segmenter.backend == "tensorflow" else 1
    with tqdm(total=total, unit="frame", desc=name, disable=not progress, dynamic_ncols=True) as bar:

        def frame_done(index: int) -> None:
            bar.update(1)
            if on_frame is not None:
                on_frame(index)

        count = _process_stream(processor, stream, batch_size=batch_size, on_frame=frame_done, cancel=cancel,
                                max_frames=max_frames)
        cut_short = cancel is not None and cancel.is_set()  # the bar stays where it stopped, not at a false 100 %
        if bar.total != count and not cut_short:  # an estimated total: end the bar at the true count
            bar.total = count
            bar.refresh()
    return count


@dataclass
class _Run:
    """One file's reader, composer and writer threads, the queues between them and the caller's thread, and
    the outputs they write; ``finish`` when every frame went through, ``abort`` on anything else."""

    vstream: object
    astreams: list
    fmt: InputFormat
    rate: object
    frame_hw: tuple[int, int]
    outputs: _Outputs
    stream: _Stream
    read_stop: threading.Event  # the reader's own: set alone when max_frames is reached
    reader: threading.Thread
    composer: threading.Thread
    writer: threading.Thread
    room: _RoomTally

    @classmethod
    def start(cls, container, src: Path, dst: Path, options: ProcessOptions, processor: FrameProcessor) -> "_Run":
        vstream = container.streams.video[0]
        astreams = list(container.streams.audio)  # every track: a second language, commentary
        vstream.thread_type = "AUTO"
        if not vstream.codec_context.width or not vstream.codec_context.height:
            if src.suffix.lower() == ".webp":  # FFmpeg before 9 demuxes an animated WebP but cannot decode its frames
                import av

                raise InputError(f"{src}: an animated WebP cannot be processed as a video with PyAV {av.__version__} "
                                 "(its FFmpeg cannot decode the frames; PyAV 19, on Python 3.12 or later, can); save it as "
                                 "a GIF or an MP4 first, or give a picture output (.webp, .png) for its first frame")
            raise InputError(f"{src}: the video stream has no picture size (corrupt?)")
        fmt = input_format(src)
        width, height = fmt.orientation.size(vstream.codec_context.width, vstream.codec_context.height)
        processor.compositor.bgr_to_i420 = fmt.colour.bgr_to_i420  # image/colour backgrounds in the input's matrix
        rate = vstream.average_rate or vstream.guessed_rate or 30
        transparent = options.background.mode == "transparent"
        png_output = dst.suffix.lower() not in VIDEO_CODECS
        # The I420 fast path: decode, composite and encode without ever converting the full frame to BGR.
        i420 = not transparent and not png_output and width % 2 == 0 and height % 2 == 0
        if png_output:
            video = PngSequenceSink(dst, overwrite=options.overwrite)
        else:
            video = VideoFileSink(
                dst, width=width, height=height, fps=rate, time_base=vstream.time_base,
                transparent=transparent, audio=astreams, preset=options.preset, crf=options.crf, colour=fmt.colour,
            )
        try:
            outputs = _Outputs(video, _mask_sink(options, dst))
        except BaseException:
            video.close(complete=False)
            raise
        stop = threading.Event()
        errors: list[BaseException] = []
        stream = _Stream(queue.Queue(QUEUE_DEPTH), queue.Queue(QUEUE_DEPTH), stop, errors)
        encoded: queue.Queue = queue.Queue(QUEUE_DEPTH)
        read_stop = threading.Event()
        guide = (lambda frame: fmt.colour.from_bt601(i420_guide(frame))) if i420 else None
        reader = threading.Thread(
            target=_read, args=(container, vstream, astreams, stream.decoded, read_stop, errors, i420, fmt, guide),
            name="offline-read",
        )
        # The matte and compositing on their own thread: the caller's thread was the bottleneck (see _compose).
        room = _RoomTally()
        composer = threading.Thread(
            target=_compose, args=(processor, stream.segmented, encoded, stop, errors, options.mask_out is not None, room),
            name="offline-compose",
        )
        writer = threading.Thread(target=_write, args=(outputs, encoded, stop, errors), name="offline-write")
        run = cls(vstream, astreams, fmt, rate, (height, width), outputs, stream, read_stop, reader, composer, writer,
                  room)
        for thread in (reader, composer, writer):
            thread.start()
        return run

    def finish(self) -> None:
        """Every frame was handed on (or max_frames reached): let the threads drain and end; their first error."""
        self.read_stop.set()  # the reader may stop
        _put(self.stream.segmented, None, self.stream.stop, self.stream.errors)  # the composer passes the end on
        for thread in (self.composer, self.writer, self.reader):
            thread.join()
        if self.stream.errors:
            raise self.stream.errors[0]

    def abort(self) -> None:
        """Stop the threads and delete the partial outputs."""
        self.stream.stop.set()
        self.read_stop.set()
        for thread in (self.reader, self.composer, self.writer):
            if thread.ident is not None:
                thread.join(5)
        self.outputs.close(complete=False)


def _learn_room(src: Path, fmt: InputFormat, segmenter, frame_hw: tuple[int, int], frames: int, *, progress: bool,
                cancel: threading.Event | None, max_frames: int | None):
    """``--plate auto``: the first of two passes (``room.learn``): the room as learned from frames spread
    over the whole recording, so the second pass has it from its first frame. None if nothing was learned."""
    import av
    from tqdm import tqdm

    from .room import learn_plate
    from .room.learn import sample_step

    step = sample_step(frames)
    container = _open_input(src)
    try:
        vstream = container.streams.video[0]
        vstream.thread_type = "AUTO"
        with tqdm(total=frames or None, unit="frame", desc=f"{src.name}: learning the room", disable=not progress,
                  dynamic_ncols=True) as bar:

            def samples():
                for index, frame in enumerate(container.decode(vstream)):
                    if (max_frames is not None and index >= max_frames) or (cancel is not None and cancel.is_set()):
                        return
                    bar.update(1)
                    if index % step == 0:
                        bgr = fmt.to_bgr(frame)
                        yield segmenter.lowres(bgr), bgr

            try:
                return learn_plate(samples(), frame_hw)
            except av.error.FFmpegError as exc:
                raise InputError(f"{src}: decoding failed while learning the room ({exc})") from exc
    finally:
        container.close()


@dataclass
class _Stream:
    """The queues between the reader, the caller's thread and the composer."""

    decoded: queue.Queue
    segmented: queue.Queue
    stop: threading.Event
    errors: list

    def get(self):
        return _get(self.decoded, self.stop, self.errors)

    def put(self, item) -> None:
        _put(self.segmented, item, self.stop, self.errors)


def _process_stream(processor: FrameProcessor, stream: _Stream, *, batch_size: int,
                    on_frame: Callable[[int], None], cancel: threading.Event | None, max_frames: int | None) -> int:
    """The caller's thread: decoded frames through the model, to the composer in frame order (its matte's
    temporal smoothing sees the true sequence), audio packets passed along. Returns the frames processed."""
    count = 0
    pending: list[tuple] = []  # (frame, model input, pts, time base), in frame order

    def flush() -> None:
        nonlocal count
        lows = processor.segment([p[1] for p in pending])
        for (frame, guide, pts, tb), low in zip(pending, lows):
            stream.put(("frame", frame, guide, low, pts, tb, count))
            count += 1
            on_frame(count - 1)
        pending.clear()

    while max_frames is None or count + len(pending) < max_frames:
        if cancel is not None and cancel.is_set():
            return count
        item = stream.get()
        if item is None:
            break
        if item[0] == "audio":
            stream.put(item)
            continue
        _, frame, small, pts, tb = item
        pending.append((frame, small, pts, tb))
        if len(pending) >= batch_size:
            flush()
    if pending and not stream.stop.is_set() and not stream.errors:
        flush()
    return count


@dataclass
class _RoomTally:
    """How often a room plate could not take part: the file's closing line says so (a wrong plate did nothing,
    and nothing said it)."""

    frames: int = 0
    set_aside: int = 0

    def count(self, room) -> None:
        from .room import RoomStatus

        if room is not None and room.status is not RoomStatus.OFF:
            self.frames += 1
            self.set_aside += room.status is RoomStatus.MISMATCH

    @property
    def note(self) -> list[str]:
        if not self.set_aside:
            return []
        share = self.set_aside / self.frames
        return [f"room plate: set aside on {share:.0%} of frames (it did not match the picture: a moved camera, "
                "another room, other light)"]


def _compose(processor: FrameProcessor, inp: queue.Queue, out: queue.Queue, stop: threading.Event, errors: list,
             masks: bool, room: _RoomTally | None = None) -> None:
    """The composer's thread: each frame's model answer through the matte (``FrameProcessor.finish``: the matte,
    the room cue, the compositor) in the order given, the frame over the new background, to the writer; audio
    packets and the end (None) passed along. The model stays on the caller's thread (``FrameProcessor.segment``).
    Demo clip at 720p, 598 frames, this 2-core VM: 54.9 -> 63-68 FPS when the compositor (~5 ms) and the guide
    (~0.7 ms) left the caller's thread (15.2 -> 11-12 ms of CPU a frame there); 82-84 FPS once the matte's colour
    step stopped running over the blurred room (``FrameProcessor.colour_step``). With the closer look (a second
    model run a frame) the caller's thread was the bottleneck again (model + matte ~13.6 ms CPU a frame, the two
    cores 1.5 busy): the matte here too, 2026-12-03, 300 frames, 6 interleaved rounds: 57.9 -> 63.1 FPS (5 of 6
    rounds faster), the same CPU a frame (runs/s21/ab_off_matte.py)."""
    try:
        while True:
            item = _get(inp, stop, errors, check_errors=False)
            if item is None or item[0] == "audio":
                _put(out, item, stop, errors)
                if item is None:
                    return
                continue
            _, frame, guide, low, pts, tb, index = item
            done = processor.finish(frame, guide, low)
            if room is not None:
                room.count(processor.room)
            mask = _mask_of(done.alpha) if masks else None
            composite = done.composite
            _put(out, ("i420" if is_i420(frame) else "video", composite, pts, tb, mask, index), stop, errors)
    except BaseException as exc:
        errors.append(exc)
        stop.set()


def _mask_of(alpha: np.ndarray) -> np.ndarray:
    """The alpha as an 8-bit mask, computed in the alpha's own buffer (already used for the composite)."""
    mask = np.empty(alpha.shape, np.uint8)
    np.multiply(alpha, 255.0, out=alpha)
    np.rint(alpha, out=alpha)
    mask[...] = alpha
    return mask


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
    if src.stat().st_size == 0:
        raise InputError(f"cannot read {src}: the file is empty (0 bytes)")
    try:
        container = av.open(str(src))
    except av.error.InvalidDataError as exc:
        raise InputError(f"cannot read {src}: not a video FFmpeg can open (invalid data: damaged, cut short, or not "
                         "a video)") from exc
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {src}: not a video FFmpeg can open ({getattr(exc, 'strerror', None) or exc})") from exc
    if not container.streams.video:
        container.close()
        raise InputError(f"{src} has no video stream")
    return container


def input_format(src: Path) -> InputFormat:
    """Orientation and colour from the first frame (side data and colour tags live on frames),
    read through a second, short-lived opening so the reader's demuxer starts at the beginning."""
    import av

    try:
        with av.open(str(src)) as container:
            for frame in container.decode(video=0):
                return InputFormat(Orientation.of_frame(frame), Colour.of_frame(frame))
    except (av.error.FFmpegError, OSError):
        pass  # the reader reports a broken file with its frame count
    return InputFormat()


def _read(
    container, vstream, astreams: list, out: queue.Queue, stop: threading.Event, errors: list, i420: bool,
    fmt: InputFormat = InputFormat(), guide: Callable[[np.ndarray], np.ndarray] | None = None,
) -> None:
    """The reader's thread: frames (with the model's and matte's ``guide`` copy, made here, off the caller's
    thread) and audio packets, in the file's order."""
    import av

    size = (vstream.codec_context.width, vstream.codec_context.height)
    streams = [vstream, *astreams]
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
                image = fmt.to_i420(frame) if i420 else fmt.to_bgr(frame)
                _put(out, ("video", image, image if guide is None else guide(image), pts, time_base), stop, errors)
                index += 1
    except av.error.FFmpegError as exc:
        errors.append(InputError(f"{container.name}: decoding failed after {index} frames ({exc})"))
    except BaseException as exc:
        errors.append(exc)
    finally:
        _put(out, None, stop, errors, force=True)


def _mask_sink(options: ProcessOptions, dst: Path) -> PngSequenceSink | None:
    """--mask-out: a folder written like the PNG output, in a temporary folder renamed when complete. Apart from
    the output ``dst``: the same folder for PNG frames and masks shared one temporary folder, and the second
    rename deleted what the first had put there (the earlier result and the new frames both lost)."""
    if options.mask_out is None:
        return None
    folder = Path(options.mask_out)
    mine, theirs = folder.resolve(), Path(dst).resolve()
    if mine == theirs or theirs in mine.parents or mine in theirs.parents:
        raise OutputError(f"--mask-out {folder}: give a folder apart from the output {dst} (not it, not in it, "
                          "not around it)")
    blocking = next((p for p in folder.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise OutputError(f"cannot create the mask folder {folder}: {blocking} is a file")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the mask folder {folder}: {exc.strerror or exc}") from exc
    return PngSequenceSink(folder, overwrite=options.overwrite, what="masks")


@dataclass
class _Outputs:
    """The video (or PNG) output and the optional mask folder: written, finished and abandoned together."""

    video: VideoFileSink | PngSequenceSink
    masks: PngSequenceSink | None = None

    def close(self, *, complete: bool = True) -> None:
        try:
            self.video.close(complete=complete)
        except BaseException:
            if self.masks is not None:
                self.masks.close(complete=False)
            raise
        if self.masks is not None:
            self.masks.close(complete=complete)

    @property
    def notes(self) -> list[str]:
        video = self.video
        if not isinstance(video, VideoFileSink):
            return []
        kept = video.audio_kept
        audio = [f"audio: {len(kept)} track{'s' if len(kept) > 1 else ''} ({', '.join(kept)})"] if kept else []
        return audio + ([video.size_note] if video.size_note else [])


def _write(outputs: _Outputs, inp: queue.Queue, stop: threading.Event, errors: list) -> None:
    import av

    sink = outputs.video
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
                outputs.masks.send(mask)
    except (OSError, av.error.FFmpegError) as exc:
        # Disk full and the like: name the output the user asked for, not the hidden temporary file.
        errors.append(cannot_write(sink.path, exc))
        stop.set()
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
