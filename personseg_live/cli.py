"""``personseg-live``: the app (default), ``process IN OUT``, ``bench``, ``cameras``, ``doctor``.

    personseg-live                                  # the window; headless when there is no display
    personseg-live --headless --vcam --source 0     # camera 0 -> virtual camera until Ctrl-C
    personseg-live process in.mp4 out.mp4 --background color:#00B140 --mask-out masks/
    personseg-live process 'clips/*.mov' outdir/    # many files: OUT is a folder
    personseg-live bench --json
    personseg-live cameras
    personseg-live doctor                           # what works here, and the fix for what does not
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from . import __version__
from .model.segmenter import QUALITY
from .settings import BACKENDS

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
CRF_RANGE = (0, 51)  # libx264, 8-bit


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="personseg-live",
        description="Cut the person out of a webcam picture: blur or replace the background, "
        "preview, virtual camera, offline video.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--source", help="camera index (0, 1, ...), demo (the bundled clip) or a video file; default: first camera, else the demo clip")
    parser.add_argument("--background", help="blur | none | transparent | color:#RRGGBB or color:NAME (white, green, ...) | an image or video file")
    parser.add_argument("--headless", action="store_true", help="no window, even when a display is available")
    parser.add_argument("--learn-room", action="store_true",
                        help="live: after a 3 s countdown (step out of the picture) learn the empty room and keep it for this "
                             "camera; a file source: learn the room from the whole file first")
    parser.add_argument("--vcam", action="store_true", help="send the result to the virtual camera")
    parser.add_argument("--model", help="bundled model name or a .tflite/.keras file")
    parser.add_argument("--backend", choices=BACKENDS, help="inference backend (default: auto)")
    parser.add_argument("--output", type=Path, help="headless without --vcam: the file to write (default ./personseg-live-<source>.mp4, "
                        "or -2, -3, ... after it when that exists)")
    parser.add_argument("-y", "--overwrite", action="store_true", help="headless: replace an existing --output")
    parser.add_argument("--settings", type=Path, help="settings file (default: the per-user one)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="say more (-v: what happens, -vv: debug); also after a command")
    sub = parser.add_subparsers(dest="command", metavar="{process,bench,cameras,doctor}")

    p = sub.add_parser("process", help="process video files (every frame, audio kept)")
    p.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument("input", help="a video or a picture (.jpg/.png/.webp, ...), a folder of them, or a glob pattern (quote it)")
    p.add_argument("output", help="output file (.mp4/.mov/.mkv/.webm for a video, a folder for its transparent PNG frames; "
                                  ".jpg/.png/.webp, ... for a picture), or a folder for many inputs")
    p.add_argument("--background", default="blur", help="blur | none | transparent | color:#RRGGBB or color:NAME (white, green, ...) | an image or video file (default: blur)")
    p.add_argument("--blur", type=int, help="blur strength 1..100 (default 25)")
    p.add_argument("--mask-out", type=Path, help="also write the alpha of every frame as 8-bit PNGs (00000.png, ...) into this folder")
    p.add_argument("--model", default="default", help="bundled model name or a .tflite/.keras file")
    p.add_argument("--backend", default="auto", choices=BACKENDS)
    p.add_argument("--quality", choices=list(QUALITY),
                   help="live (a video's default): the app's own looks; high (a picture's default, where time does not "
                        "count): the mirrored picture's answer averaged in, and a person standing whole in the picture "
                        "gets a pose model's person mask (a 720p video at ~60 FPS here, ~23 FPS where a whole body is; "
                        "see the model card)")
    p.add_argument("--threshold", type=float, help="person probability threshold 0..1 (default 0.5)")
    p.add_argument("--softness", type=float, help="width of the soft edge ramp 0..0.5 (default 0.15)")
    p.add_argument("--smoothing", type=float, help="temporal smoothing 0..1 (default 0.6; 0 = off)")
    p.add_argument("--feather", type=int, help="edge feather in pixels 0..20 (default 2)")
    p.add_argument("--no-refine", action="store_true", help="do not place the edge by the frame's colours (the matte's colour step; it runs where the background is replaced or --mask-out keeps the alpha)")
    p.add_argument("--preset", default="ultrafast", help="libx264 preset: ultrafast (default, fastest) ... veryfast (~3x smaller files, ~35%% more CPU) ... veryslow")
    p.add_argument("--crf", type=int, default=20, help=f"libx264 quality {CRF_RANGE[0]}..{CRF_RANGE[1]}, lower is better (default 20)")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace an existing output file or folder (and --mask-out folder)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--plate", metavar="PLATE|auto",
                   help="the empty scene by the same fixed camera (a photo, a short clip, or a saved .npz plate) "
                        "sharpens and steadies the matte; auto: learn it from the video itself (a first pass over "
                        "the whole file, so it helps from the first frame)")

    b = sub.add_parser("bench", help="measure model speed, offline FPS and live latency")
    b.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    b.add_argument("--json", action="store_true", help="print the results as JSON")
    b.add_argument("--quick", action="store_true", help="fewer frames (a rough figure in a few seconds)")
    b.add_argument(
        "--stability", type=Path, metavar="DIR|VIDEO",
        help="instead: flicker of the raw model, an unsmoothed matte and the matte on a video, or flicker and IoU on "
        "labelled clips (DIR/images/<clip>_<NNNNN>.jpg + DIR/masks/*.png)",
    )
    b.add_argument(
        "--edges", type=Path, metavar="SHARED",
        help="instead: edge error, boundary F and flicker of today's and the current matte on composites made from "
        "SHARED/data/<set>/ people and SHARED/backgrounds/ scenes",
    )
    b.add_argument(
        "--room", type=Path, metavar="SHARED",
        help="instead: IoU, boundary F and flicker of the model alone and with a room plate (given, learned) on "
        "fixed-camera clips made from SHARED/data/<set>/ people and SHARED/backgrounds/ rooms; the plate's cost",
    )
    b.add_argument("--model", default="default", help="bundled model name or a .tflite/.keras file (default: default)")
    b.add_argument(
        "--reference", type=Path, metavar="TFLITE",
        help="the model's cost is also counted in this model's on the same 720p frame (default in a checkout: "
        "MediaPipe's landscape selfie model from tests/data; the budget is 3x)",
    )

    sub.add_parser("cameras", help="list the cameras that open")
    sub.add_parser("doctor", help="check cameras, the virtual camera, display, GPU, model, settings and disk; exit 1 on a problem")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .log import log_file_path, setup_logging

    # The app (window or headless live) also keeps a log file a user can attach to a bug report; with
    # --settings it lives beside that file (a portable install, a test), like the window layout.
    log_file = args.settings.with_name("personseg-live.log") if args.settings else log_file_path()
    setup_logging(args.verbose, log_file=log_file if args.command is None else None)
    if args.command in ("process", None):
        say_gpu_advice(args.backend)
    try:
        if args.command == "process":
            return cmd_process(args)
        if args.command == "bench":
            if args.room is not None:
                from .bench_room import main as room_main

                return room_main(args.room, json_output=args.json, quick=args.quick, model=args.model)
            if args.edges is not None:
                from .bench_edges import main as edges_main

                return edges_main(args.edges, json_output=args.json, model=args.model)
            from .bench import main as bench_main

            return bench_main(json_output=args.json, quick=args.quick, stability=args.stability, model=args.model,
                              reference=args.reference)
        if args.command == "cameras":
            return cmd_cameras()
        if args.command == "doctor":
            from .doctor import main as doctor_main

            return doctor_main(settings_file=args.settings)
        return cmd_app(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


# process ---------------------------------------------------------------------------------------


def _fail(message: str, code: int = 1) -> int:
    print(f"personseg-live: error: {message}", file=sys.stderr)
    return code


def say_gpu_advice(backend: str | None, root: Path | str = "/") -> None:
    """Once per run: an NVIDIA GPU with no TensorFlow runs on the CPU; say which extra turns it on."""
    from .model.backends import gpu_advice

    advice = gpu_advice(backend or "auto", root)
    if advice:
        print(f"personseg-live: note: {advice}", file=sys.stderr)


def _process_options(args: argparse.Namespace):
    """The `process` flags as ProcessOptions, or ValueError with the one-line reason."""
    from .offline import ProcessOptions, parse_background
    from .settings import MatteSettings, Settings, validate

    if args.preset not in X264_PRESETS:
        raise ValueError(f"--preset {args.preset}: not a libx264 preset ({', '.join(X264_PRESETS)})")
    if not CRF_RANGE[0] <= args.crf <= CRF_RANGE[1]:
        raise ValueError(f"--crf {args.crf}: must be {CRF_RANGE[0]}..{CRF_RANGE[1]} (lower is better; 18..28 is usual)")
    background = parse_background(args.background, blur=args.blur)
    matte = MatteSettings()
    for name in ("threshold", "softness", "smoothing", "feather"):
        value = getattr(args, name)
        if value is not None:
            matte = replace(matte, **{name: value})
    if args.no_refine:
        matte = replace(matte, refine=False)
    problems = validate(Settings(matte=matte, background=background))
    if problems:  # "settings.matte.threshold: 7.0 is outside 0.0..1.0; using ..." -> "--threshold: 7.0 is outside 0.0..1.0"
        raise ValueError("; ".join("--" + p.split("settings.matte.", 1)[-1].split("; using", 1)[0] for p in problems))
    plate = None
    if args.plate is not None and args.plate != "auto":
        from .room import read_plate_file

        plate = read_plate_file(args.plate)  # RoomError (a ValueError): "plate file not found: ..."
    return ProcessOptions(
        background=background, matte=matte, model=args.model, backend=args.backend,
        mask_out=args.mask_out, preset=args.preset, crf=args.crf, overwrite=args.overwrite, quality=args.quality or "live",
        plate=plate, learn_room=args.plate is not None, replace_only_ours=True,
    )


def _default_quality(src: Path, options):
    """``options`` at the quality a file gets when ``--quality`` is not given: ``high`` for a picture (one frame:
    time does not count, and photos score +0.7 IoU points with it, portrait-shaped photos +1.4; the model card's
    ``--quality high`` section), ``live`` for a video (its speed)."""
    from .picture import is_picture

    return replace(options, quality="high") if is_picture(src) else options


def _process_jobs(args: argparse.Namespace, options) -> list[tuple[Path, Path, object]]:
    """(input, output, options) per file; OutputError/InputError with the reason when there are none."""
    from .offline import expand_inputs, is_pattern, output_for
    from .picture import PICTURE_EXTS
    from .video.sinks import VIDEO_CODECS, OutputError, is_png_sequence

    inputs = expand_inputs(args.input)
    out = Path(args.output).expanduser()
    transparent = options.background.mode == "transparent"
    many = len(inputs) > 1 or Path(args.input).is_dir() or is_pattern(args.input)
    if many:  # a pattern is many inputs even when it matches one: the same OUT, a folder, either way
        if out.exists() and not out.is_dir():
            raise OutputError(f"{out} is a file; with several inputs OUT must be a folder")
        if not out.exists() and out.suffix.lower() in (*VIDEO_CODECS, *PICTURE_EXTS):
            raise OutputError(f"{out}: with several inputs OUT is a folder, and this looks like a file name "
                              f"(give e.g. {out.with_suffix('')})")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create output folder {out}: {exc.strerror or exc}") from exc
        masks = options.mask_out
        return [(src, dst, options if masks is None else replace(options, mask_out=masks / dst.stem))
                for src, dst in zip(inputs, _outputs_in_folder(inputs, out, transparent))]
    if out.is_dir() and not (transparent and is_png_sequence(out)):
        out = output_for(inputs[0], out, transparent)  # an existing folder: the result goes inside
    return [(inputs[0], out, options)]


def _outputs_in_folder(inputs: list[Path], out: Path, transparent: bool) -> list[Path]:
    """Each input's result in the folder OUT; inputs whose results would share a name (talk.mov and talk.mp4 both to
    talk.mp4: the second replaced the first, or was refused as "already exists"; photo.jpg and photo.mp4 to one
    --mask-out folder, photo/) keep their own type in it (talk.mov.mp4, talk.mp4.mp4)."""
    from collections import Counter

    from .offline import output_for

    outputs = [output_for(src, out, transparent) for src in inputs]
    shared = Counter(dst.stem for dst in outputs)
    return [dst.with_name(f"{src.name}{dst.suffix}") if shared[dst.stem] > 1 else dst
            for src, dst in zip(inputs, outputs)]


def _quit_now(paths: list[Path]):
    """The second Ctrl-C: delete the temporary files of the output being written and exit at once.
    os._exit, not an exception: unwinding again while the reader thread is inside the demuxer is
    what crashed (a segfault in 5 runs of 7 with two SIGINTs 0.01-0.1 s apart)."""
    from .video.sinks import temporary_name

    def quit_now(signum: int) -> None:
        for path in paths:
            tmp = temporary_name(path)
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        print("personseg-live: interrupted; no output written", file=sys.stderr, flush=True)
        os._exit(128 + signum)

    return quit_now


def cmd_process(args: argparse.Namespace) -> int:
    from .model.backends import ModelError
    from .offline import InputError
    from .video.sinks import OutputError

    try:
        options = _process_options(args)
        jobs = _process_jobs(args, options)
    except (ValueError, InputError, OutputError) as exc:
        return _fail(str(exc))
    if args.quality is None:
        jobs = [(src, dst, _default_quality(src, job_options)) for src, dst, job_options in jobs]
    try:
        from .model.segmenter import Segmenter

        segmenters = {q: Segmenter(options.model, backend=options.backend, threads=1,  # see offline.process_video
                                   quality=q) for q in sorted({job_options.quality for _, _, job_options in jobs})}
    except (ModelError, ValueError) as exc:
        return _fail(str(exc))
    # SIGINT and SIGTERM (a service manager, `kill`) cancel the run: the partial output is removed and
    # the exit status is 130 / 143; a second signal quits at once (see _quit_now).
    writing: list[Path] = []
    stop = _StopOnSignals(on_second=_quit_now(writing))
    failures = 0
    if (args.preset, args.crf) != ("ultrafast", 20) and any(dst.suffix.lower() == ".webm" for _, dst, _ in jobs):
        print("personseg-live: note: --preset and --crf set H.264's encoder; WebM (VP9) is written at its own fixed "
              "settings", file=sys.stderr)
    with stop:
        for src, dst, job_options in jobs:
            if stop.requested.is_set():
                break
            writing[:] = [dst] + ([job_options.mask_out] if job_options.mask_out is not None else [])
            failures += _process_one(src, dst, job_options, segmenters[job_options.quality], args.quiet, stop.requested)
            writing.clear()
    if len(jobs) > 1 and not stop.requested.is_set() and (failures or not args.quiet):
        print(f"personseg-live: {len(jobs) - failures} of {len(jobs)} files written"
              + (f"; {_count(failures, 'failure')} above" if failures else ""), file=sys.stderr)
    if stop.requested.is_set():
        print("personseg-live: interrupted; no output written" + (f" for {dst}" if len(jobs) > 1 else ""), file=sys.stderr)
        if threading.current_thread() is threading.main_thread():
            # Nothing is left to stop: a late second signal would otherwise hit the interpreter's
            # shutdown (which restores the default action) and end the process by the signal.
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)
        return stop.exit_code
    return 1 if failures else 0


def _process_one(src: Path, dst: Path, options, segmenter, quiet: bool, cancel: threading.Event) -> int:
    """One file; 0 when done (or cancelled), 1 after printing why it failed."""
    from .compose import BackgroundError
    from .offline import InputError, process_video
    from .video.sinks import OutputError, remove_leftovers

    if src.resolve() == dst.resolve():
        return _fail(f"{src}: output would overwrite the input")
    for target in [dst] + ([options.mask_out] if options.mask_out is not None else []):
        for leftover in remove_leftovers(Path(target)):
            print(f"personseg-live: removed {leftover}, left by an interrupted earlier run", file=sys.stderr)
    try:
        report = process_video(src, dst, options, segmenter=segmenter, progress=not quiet, cancel=cancel)
    except (InputError, OutputError, BackgroundError) as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"{dst}: {exc.strerror or exc}")
    if not quiet and not report.cancelled:
        print(_closing_line(report), file=sys.stderr)
    return 0


def _closing_line(report) -> str:
    """What a finished file run says: the frames, the speed, and what became of the audio (``process`` and the
    headless app alike)."""
    from .picture import is_picture

    if is_picture(report.output):
        return f"{report.output}: written ({report.seconds * 1e3:.0f} ms)"
    said = any(note.startswith("audio:") for note in report.notes)
    details = ([] if report.audio or said else ["no audio"]) + report.notes
    return f"{report.output}: {_count(report.frames, 'frame')}, {report.fps:.1f} fps; " + "; ".join(details)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# cameras ---------------------------------------------------------------------------------------


def cmd_cameras() -> int:
    from .video.sources import list_cameras

    cameras = list_cameras()
    if not cameras:
        print("no cameras found")
    for cam in cameras:
        print(f"{cam.index}\t{cam.name}")
    return 0


# the app ---------------------------------------------------------------------------------------


def has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM", "").startswith("offscreen"):
        return True  # Qt renders without a screen (tests, screenshots)
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def cmd_app(args: argparse.Namespace) -> int:
    display = has_display()
    if not args.headless and display:
        try:
            from personseg_live.gui.app import run_gui
        except ImportError as exc:
            print(f"personseg-live: the window is unavailable ({exc}); running headless", file=sys.stderr)
        else:
            problem = window_problem()
            if problem is None:
                return run_gui(args)
            print(f"personseg-live: the window cannot open: {problem}; running headless", file=sys.stderr)
    return run_headless(args, why="headless" if args.headless or display else "no display")


def window_problem() -> str | None:
    """Why Qt cannot open a window here, with the fix, or None. Qt aborts the whole process when its platform
    plugin cannot start (a desktop without the xcb libraries a pip-installed PySide6 needs, a stale DISPLAY over
    ssh): asked in a child process first (~0.1 s), so that the app says why and carries on headless instead."""
    if os.environ.get("QT_QPA_PLATFORM", "").startswith("offscreen"):
        return None  # renders without a screen; nothing to load
    from .doctor import probe_qt, qt_fix

    ok, said = probe_qt(dict(os.environ))
    return None if ok else f"Qt cannot start ({said}) — fix: {qt_fix(said)}"


def _settings_from_args(args: argparse.Namespace):
    from .offline import parse_background
    from .settings import load_settings

    settings, warnings = load_settings(args.settings)
    for w in warnings:
        print(f"personseg-live: warning: {w}", file=sys.stderr)
    if args.source is not None:
        settings = replace(settings, source=replace(settings.source, spec=str(args.source)))
    if args.background is not None:
        bg = parse_background(args.background)
        settings = replace(settings, background=replace(bg, blur_strength=settings.background.blur_strength))
    if args.model is not None:
        settings = replace(settings, model=args.model)
    if args.backend is not None:
        settings = replace(settings, backend=args.backend)
    return settings


def run_headless(args: argparse.Namespace, why: str = "headless") -> int:
    """``why``: how the run's first line explains that there is no window ("no display", "headless")."""
    from .pipeline import is_camera_spec
    from .video.sinks import OutputError

    try:
        settings = _settings_from_args(args)
    except ValueError as exc:
        return _fail(str(exc))
    if args.vcam:
        return _run_live(settings, vcam=True, output=None, learn_room=args.learn_room)
    spec = settings.source.spec
    if spec is None or not is_camera_spec(spec):
        return _run_file(settings, args.output, learn_room=args.learn_room, overwrite=args.overwrite, why=why)
    try:
        output = headless_output(args.output, Path(f"personseg-live-camera{spec}.mp4"), overwrite=args.overwrite)
    except OutputError as exc:
        return _fail(str(exc))
    print(f"personseg-live: {why}; recording camera {spec} to {output} until Ctrl-C", file=sys.stderr)
    return _run_live(settings, vcam=False, output=output, learn_room=args.learn_room)


def headless_output(given: Path | None, default: Path, *, overwrite: bool, source: Path | None = None) -> Path:
    """Where a headless run writes: the ``--output`` given (never the source itself; an existing file only with
    -y), else the default name, or the first free one after it (``personseg-live-demo-2.mp4``, ...): a second run
    must not replace the first one's result, nor a file the user made, without being asked."""
    from .atomic import first_free
    from .ours import refuse_replacing
    from .video.sinks import OutputError

    if given is None:
        return first_free(default)
    given = given.expanduser()
    if source is not None and given.exists() and given.resolve() == source.resolve():
        raise OutputError(f"{given}: output would overwrite the input")
    if given.exists() and not overwrite:
        raise OutputError(f"{given} already exists; add -y/--overwrite to replace it")
    refuse_replacing(given)
    return given


def _run_file(settings, output: Path | None, learn_room: bool = False, overwrite: bool = False,
              why: str = "headless") -> int:
    """No display and no virtual camera: process the file source (default: the demo clip) to a file.
    The room (``--learn-room``, or the learn-by-itself setting) is learned from the whole file first.
    Stopped by a signal: nothing written, the exit status 130 / 143 (as ``process``)."""
    from . import assets
    from .offline import InputError, ProcessOptions, process_video
    from .picture import is_picture
    from .video.sinks import OutputError
    from .video.sources import DEMO, list_cameras

    spec = settings.source.spec
    try:
        if spec is None and list_cameras(max_index=4):
            output = headless_output(output, Path("personseg-live-camera.mp4"), overwrite=overwrite)
            return _run_live(settings, vcam=False, output=output, learn_room=learn_room)
        if spec is None or spec.strip() == DEMO:  # (it was looked for as a file named "demo")
            src = assets.demo_clip()
            output = headless_output(output, Path("personseg-live-demo.mp4"), overwrite=overwrite)
        else:
            src = Path(spec).expanduser()
            # A photo as the source: a picture out (PNG: it keeps a transparent background too).
            default = Path(f"personseg-live-{src.stem}{'.png' if is_picture(src) else '.mp4'}")
            output = headless_output(output, default, overwrite=overwrite, source=src)
    except OutputError as exc:
        return _fail(str(exc))
    print(f"personseg-live: {why}; processing {src.name} to {output}", file=sys.stderr)
    # Learning by itself needs frames to learn from; asked for explicitly with a photo, it is process's error.
    learn = learn_room or (settings.room.auto_learn and not is_picture(src))
    if learn:
        print("personseg-live: learning the room from the whole file first", file=sys.stderr)
    options = ProcessOptions(background=settings.background, matte=settings.matte, model=settings.model,
                             backend=settings.backend, learn_room=learn)
    stop = _StopOnSignals()
    try:
        with stop:
            report = process_video(src, output, options, progress=True, cancel=stop.requested)
    except (InputError, OutputError, ValueError, RuntimeError) as exc:
        return _fail(str(exc))
    if report.cancelled:
        print("personseg-live: stopped; no output written", file=sys.stderr)
        return stop.exit_code
    print(_closing_line(report), file=sys.stderr)
    return 0


#: Timestamps of a live recording: milliseconds (frames come when the camera delivers them).
LIVE_TIME_BASE = Fraction(1, 1000)


def _run_live(settings, *, vcam: bool, output: Path | None, learn_room: bool = False) -> int:
    """The live pipeline until SIGINT/SIGTERM (or the source ends): to the virtual camera or a file."""
    from .pipeline import Pipeline
    from .settings import VcamSettings
    from .video.sinks import VideoFileSink

    settings = replace(settings, vcam=VcamSettings(enabled=vcam, device=settings.vcam.device))
    done = threading.Event()
    state: dict = {"code": 0, "sink": None, "frames": 0, "t0": None, "lost": False}

    # Trouble (vcam_error, error, model_failed) is on the console already: the pipeline logs it as a warning (the
    # virtual camera's set-up help was printed twice).
    def on_event(event) -> None:
        if event.kind == "vcam_error":
            state["code"] = 2
            done.set()
        elif event.kind == "source_ended":
            print(f"personseg-live: {event.message}", file=sys.stderr)
            done.set()
        elif event.kind == "source_failed":  # said by the log's warning; nobody here can choose another source
            state["code"] = 1
            done.set()
        elif event.kind == "source_opened":
            state["lost"] = False
            print(f"personseg-live: reading {event.message}", file=sys.stderr)
        elif event.kind in ("source_lost", "source_retry"):
            # Once per loss, not once per retry: a run left waiting for a camera must not fill the log.
            if not state["lost"]:
                state["lost"] = True
                print(f"personseg-live: no camera: {event.message.split(' — ')[0]}; retrying quietly "
                      "until one appears (Ctrl-C to stop)", file=sys.stderr)
        elif event.kind == "vcam_notice":  # pipeline.EventKind values; an INFO the console does not show
            print(f"personseg-live: {event.message}", file=sys.stderr)

    room = _LiveRoom(settings, learn_room)

    def on_frame(result) -> None:
        state["frames"] += 1
        room.feed(result.original, pipeline)
        if output is None:
            return
        if state["sink"] is None:
            h, w = result.composite.shape[:2]
            state["sink"] = VideoFileSink(output, width=w, height=h, fps=settings.source.fps, preset="ultrafast",
                                          time_base=LIVE_TIME_BASE)
            state["t0"] = result.capture_ts
        # Stamped with the capture time, not numbered at the nominal rate: a camera delivering 15 fps
        # (or frames the pipeline dropped) would otherwise play back at 2x.
        pts = round((result.capture_ts - state["t0"]) / LIVE_TIME_BASE)
        frame = result.composite[..., :3] if result.composite.shape[2] == 4 else result.composite
        state["sink"].send(frame, pts=pts, time_base=LIVE_TIME_BASE)

    pipeline = Pipeline(settings, on_frame=on_frame, on_event=on_event)
    pipeline.set_room(room.cue)
    stop = _StopOnSignals(on_signal=done.set)
    with stop:
        pipeline.start()
        while not done.wait(0.2):
            pass
        pipeline.stop()
    if state["sink"] is not None:
        state["sink"].close()
        print(f"{output}: {_count(state['frames'], 'frame')}", file=sys.stderr)
    elif output is not None and state["code"] == 0:
        print(f"personseg-live: nothing recorded; {output} not written", file=sys.stderr)
        return 1
    return state["code"]


class _LiveRoom:
    """The room for a headless live run: the camera's stored plate, learning, and --learn-room's capture."""

    def __init__(self, settings, learn: bool):
        from .room.live import COUNTDOWN_S, PlateCapture, cue_for_source
        from .settings import is_camera_spec

        self.spec, self.camera = settings.source.spec, is_camera_spec(settings.source.spec)
        self.auto = settings.room.auto_learn
        self.cue = cue_for_source(self.spec, auto_learn=self.auto, is_camera=self.camera)
        self.capture = PlateCapture() if learn else None
        if learn:
            print(f"personseg-live: learning the room: step out of the picture; capturing in {COUNTDOWN_S:.0f} s",
                  file=sys.stderr)

    def feed(self, frame, pipeline) -> None:
        """Called with each live frame (the inference thread)."""
        if self.capture is None:
            return
        plate = self.capture.feed(frame)
        if plate is None:
            return
        from .room.live import adopt_plate

        self.capture = None
        self.cue, kept = adopt_plate(plate, self.spec, is_camera=self.camera, auto_learn=self.auto)
        pipeline.set_room(self.cue)
        where = f"; kept for camera {self.spec or 'default'}" if kept == "kept" else f" ({kept})" if kept else ""
        print(f"personseg-live: room learned{where}; you can step back in", file=sys.stderr)


class _StopOnSignals:
    """SIGINT/SIGTERM set ``requested`` (an Event a run takes as its ``cancel``) and call ``on_signal``,
    instead of killing the process mid-write."""

    def __init__(self, on_signal=None, on_second=None):
        self.requested = threading.Event()
        self.signum: int | None = None
        self._on_signal = on_signal
        self._on_second = on_second  # called with the signal number on a second signal (quit at once)
        self._previous: dict = {}

    @property
    def exit_code(self) -> int:
        """What shells expect of a process ended by the signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum if self.signum else 0

    def _handler(self, signum, frame) -> None:
        if self.requested.is_set() and self._on_second is not None:
            self._on_second(self.signum)
            return
        self.signum = signum
        self.requested.set()
        if self._on_signal is not None:
            self._on_signal()

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
