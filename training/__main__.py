"""``python -m training <command>``: prepare-coco, negatives, train, grow, interpolate, pseudo-label, import-tflite, export, evaluate, bench."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import tempfile
from pathlib import Path


#: TensorFlow's start-up lines that say nothing to a researcher (printed before its log level applies).
_STARTUP_NOISE = re.compile(r"absl::InitializeLog|oneDNN custom operations|cudart_stub|cpu_feature_guard|"
                            r"To enable the following instructions|Unable to register cu(DNN|FFT|BLAS) factory|"
                            r"computation placer already registered|TF-TRT Warning")


def _quiet_tensorflow() -> None:
    """Import TensorFlow with its start-up noise filtered out of stderr (anything else it prints stays).

    On a machine without an NVIDIA driver the log level also hides the "failed call to cuInit" error;
    with a driver, errors stay visible.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if Path("/proc/driver/nvidia").exists() else "3")
    if sys.modules.get("tensorflow") is not None:  # already imported (None: blocked, as on a lean install)
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except ImportError as exc:
            raise SystemExit(f"error: the training module needs TensorFlow ({exc}); "
                             "install it with: pip install 'personseg-live[train]'") from None
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if not _STARTUP_NOISE.search(line):
                    print(line, file=sys.stderr)


_quiet_tensorflow()  # before anything imports TensorFlow

from personseg_live import assets  # noqa: E402
from personseg_live.model.architectures import ARCHITECTURES  # noqa: E402
from personseg_live.model.segmenter import QUALITY  # noqa: E402
from personseg_live.settings import BACKENDS  # noqa: E402

from .distribute import STRATEGIES  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED_BACKGROUNDS = REPO.parent / "shared" / "backgrounds"


class _DefaultsHelp(argparse.HelpFormatter):
    """Every option's default in --help, except the empty ones (None, False, [])."""

    def _get_help_string(self, action):
        text = action.help or ""
        empty = action.default is None or action.default is False or action.default == []
        if "%(default)" in text or action.required or not action.option_strings or empty:
            return text
        if action.default is argparse.SUPPRESS:
            return text
        return f"{text} (default: %(default)s)".strip()


def _size(text: str) -> tuple[int, int]:
    h, _, w = text.partition("x")
    return int(h), int(w or h)


def build_parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The command line and its ``train`` subcommand (which checks its own combinations after parsing)."""
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("prepare-coco", help="COCO instances_*.json + images -> person-mask folder dataset")
    c.add_argument("--annotations", required=True, type=Path, help="COCO instances_*.json")
    c.add_argument("--images", required=True, type=Path, help="folder of the COCO images")
    c.add_argument("--out", required=True, type=Path, help="output folder (images/ + masks/)")
    c.add_argument("--min-area", type=float, default=0.01, help="skip images where people cover less (fraction)")

    ng = sub.add_parser("negatives", help="a folder dataset of scenes without people (photos + plain walls)")
    ng.add_argument("--backgrounds", type=Path, default=SHARED_BACKGROUNDS, help="scene photos without people")
    ng.add_argument("--out", required=True, type=Path)
    ng.add_argument("--synthetic", type=int, default=60, help="how many plain walls to draw")

    t = sub.add_parser("train", help="train an architecture on folder datasets",
                       epilog="Resume: `--out DIR --resume` continues an interrupted or finished run with its "
                              "recorded settings (only --epochs, --patience, --strategy, --backup-steps may change). "
                              "Distributed: --strategy mirrored uses every GPU of this machine; "
                              "--strategy multiworker reads TF_CONFIG ({'cluster': {'worker': [...]}, "
                              "'task': {'type': 'worker', 'index': i}}) and is started once per worker; worker 0 "
                              "writes the run folder. --batch is per replica; scale --lr with the global batch.")
    t.add_argument("--data", action="append", default=None,
                   help="PATH[,weight=W][,split=id|sequence][,paste=P]; repeat for several sets")
    t.add_argument("--arch", default=None, choices=sorted(ARCHITECTURES),
                   help="architecture (None: the --init model's, else fast)")
    t.add_argument("--epochs", type=int, default=30, help="epochs in all (a resumed run counts the done ones)")
    t.add_argument("--out", required=True, help="run directory (checkpoints, logs)")
    t.add_argument("--config", type=Path, default=None,
                   help="start from the settings of this config.json (e.g. another run's); flags override")
    t.add_argument("--backup-steps", type=int, default=100,
                   help="back up weights and position every N steps (and every epoch); 0: every epoch only")
    t.add_argument("--batch", type=int, default=16, help="per-replica batch size (global = batch x replicas)")
    t.add_argument("--size", type=_size, default=(160, 160), help="training crop HxW, e.g. 160x160")
    t.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (cosine schedule)")
    t.add_argument("--steps-per-epoch", type=int, default=None, help="None: training pairs / global batch")
    t.add_argument("--val-fraction", type=float, default=0.1, help="share of ids (or sequences) held out")
    t.add_argument("--patience", type=int, default=8, help="early stopping patience (epochs)")
    t.add_argument("--seed", type=int, default=0, help="initialisation, sample stream and validation split")
    t.add_argument("--stream-seed", type=int, default=None,
                   help="initialisation and sample stream only, the split staying --seed's: a recipe's run-to-run "
                        "noise on the same validation pairs")
    t.add_argument("--backgrounds", default=str(SHARED_BACKGROUNDS) if SHARED_BACKGROUNDS.is_dir() else None,
                   help="scene photos to paste people onto ('none': no swaps; the default is ../shared/backgrounds "
                        "beside this checkout when it exists)")
    t.add_argument("--init", default=None, help="start from this .keras checkpoint (fine-tuning)")
    t.add_argument("--strategy", default="default", choices=STRATEGIES,
                   help="tf.distribute: default (one device), mirrored (all local GPUs), multiworker (TF_CONFIG)")
    t.add_argument("--small-person", type=float, default=0.0,
                   help="share of wide-shot crops: a pasteable person shrunk to 20-60 %% of the crop height on a scene")
    t.add_argument("--torso-crop", type=float, default=0.0,
                   help="share of crops without the head: torso, arms and hands of a standing person (a desk camera "
                        "when the user stands up, hands at a table)")
    t.add_argument("--portrait-aspect-power", type=float, default=1.0,
                   help="stretch portrait pictures' crops sideways as the runtime does for a model exported with "
                        "the same export --portrait-aspect-power (1: no stretch)")
    t.add_argument("--exposure", type=float, default=0.0,
                   help="share of pictures made over- or underexposed as a camera clips them (blown highlights: a "
                        "white shirt before a bright wall)")
    t.add_argument("--defocus", type=float, default=0.0,
                   help="share of pastes onto an out-of-focus scene (a portrait lens, a webcam close up): a smooth "
                        "blurred area beside the head is background too")
    t.add_argument("--boundary-weight", type=float, default=0.0,
                   help="boundary-aware BCE: pixels near the mask's edge weigh 1 + this (0 = plain BCE)")
    t.add_argument("--dice-weight", type=float, default=1.0, help="weight of the Dice loss (BCE weighs 1)")
    t.add_argument("--lovasz-weight", type=float, default=0.0,
                   help="weight of the Lovász hinge, a surrogate of 1 - IoU itself (0 = off)")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")

    pl = sub.add_parser("pseudo-label", help="soft masks for unlabelled photos from a teacher model")
    pl.add_argument("--teacher", required=True, help="bundled model name, .keras, any [1,H,W,3]->[1,H,W,1] .tflite, or a TF.js graph model.json (e.g. rvm.json)")
    pl.add_argument("--images", required=True, type=Path, help="a folder of photos, or a video clip (RVM's video mode)")
    pl.add_argument("--out", required=True, type=Path)
    pl.add_argument("--scales", default="1.0", help="comma-separated TTA scales, e.g. 0.75,1.0,1.25")
    pl.add_argument("--no-flip", action="store_true", help="disable horizontal-flip TTA")
    pl.add_argument("--limit", type=int, default=None, help="label at most N images")
    pl.add_argument("--boxes", type=Path, default=None,
                    help="a pose teacher (BlazePose's model.json) crops round the person these labels of the same pictures "
                         "show (DIR/masks/<id>.png, e.g. RVM's); without: the whole picture")
    pl.add_argument("--every", type=int, default=3,
                    help="--images VIDEO with RVM: its video mode labels every frame, this writes every N-th")

    it = sub.add_parser("import-tflite", help="initialise an architecture from a TFLite graph of the same topology")
    it.add_argument("--tflite", required=True, type=Path,
                    help="e.g. selfie_segmentation_landscape.tflite from `npm pack @mediapipe/selfie_segmentation`")
    it.add_argument("--arch", default="mobile", choices=sorted(ARCHITECTURES))
    it.add_argument("--out", required=True, type=Path, help="the .keras file to write (use with train --init)")
    it.add_argument("--check-image", type=Path, default=None, help="compare Keras and TFLite on this image")

    wi = sub.add_parser("interpolate", help="WiSE-FT: alpha x fine-tuned + (1 - alpha) x init, weight by weight")
    wi.add_argument("fine_tuned", type=Path, help="the fine-tuned .keras")
    wi.add_argument("init", type=Path, help="the .keras it was fine-tuned from (same architecture)")
    wi.add_argument("--alpha", type=float, default=0.7, help="weight of the fine-tuned model (1 = it unchanged)")
    wi.add_argument("--out", required=True, type=Path)

    gr = sub.add_parser("grow", help="a mobile model's weights in the larger mobile_plus network, output unchanged")
    gr.add_argument("source", type=Path, help="a .keras mobile model (e.g. from import-tflite)")
    gr.add_argument("--out", required=True, type=Path, help="the .keras file to write (use with train --init)")

    e = sub.add_parser("export", help=".keras checkpoint -> .keras + float16 .tflite + metadata")
    e.add_argument("checkpoint", type=Path)
    e.add_argument("--name", required=True, help="model name, e.g. default or seed")
    e.add_argument("--out", type=Path, default=REPO / "assets" / "models")
    e.add_argument("--float32", action="store_true", help="keep float32 weights in the .tflite")
    e.add_argument("--force", action="store_true", help="replace a model of that name (e.g. the shipped default)")
    e.add_argument("--input-side", type=int, default=192,
                   help="the runtime feeds about SIDE x SIDE pixels per frame, aspect kept (recorded in the metadata)")
    e.add_argument("--portrait-aspect-power", type=float, default=1.0,
                   help="a portrait picture's aspect A is fed as A^POWER (1: kept; 0.5: halfway to square, "
                        "the picture stretched sideways; landscape frames always keep theirs)")
    e.add_argument("--closer-look", type=Path, default=None, metavar="CHECKPOINT",
                   help="a second .keras of the same architecture for the runtime's closer look at a person small in "
                        "the frame (exported beside it as NAME.closer.*); default: the model looks closer itself")

    v = sub.add_parser("evaluate", help="IoU, boundary F and flicker of models on folder datasets")
    v.add_argument("--model", action="append", default=None, help="bundled name or path (repeat); default: default")
    v.add_argument("--data", action="append", default=[], help="PATH[,split=sequence]; repeat")
    v.add_argument("--kinds", type=Path, default=None,
                   help="also score every kind folder under this one (all pairs; see validation-kinds)")
    v.add_argument("--split", choices=["val", "all"], default="val", help="evaluate the validation split or all pairs")
    v.add_argument("--val-fraction", type=float, default=0.1)
    v.add_argument("--seed", type=int, default=0, help="the training --seed: it decides the validation split")
    v.add_argument("--run", type=Path, default=None,
                   help="a training run folder: its best.keras (unless --model) on its recorded validation split "
                        "(its datasets unless --data)")
    v.add_argument("--backend", default="auto", choices=BACKENDS,
                   help="auto: .keras on TensorFlow, bundled names and .tflite on LiteRT")
    v.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    v.add_argument("--brightness", type=float, default=1.0,
                   help="every picture's values times this, clipped at white, before the model: 1.5 or 2 shows how a "
                        "model holds an overexposed camera (a light shirt before a light wall blown out together), "
                        "0.5 a dim room; rows are named SET xG")
    v.add_argument("--enlarge", type=float, default=1.0,
                   help="every picture enlarged this many times with a camera's sensor noise before the model, the "
                        "answer scored at the picture's own size: our labelled photos are <= 320 px, a camera's are "
                        "not (4-12 is a phone or webcam photo); rows are named SET @Fx")
    v.add_argument("--first-look-only", action="store_true",
                   help="without the runtime's closer look at a person small in the frame (Segmenter(closer=False))")
    v.add_argument("--quality", choices=list(QUALITY), default="live",
                   help="the runtime setting to score: live (what the app runs, Segmenter()) or high (what `process "
                        "--quality high` runs: flip test-time augmentation); rows of a setting other than live are "
                        "named MODEL@SETTING")
    v.add_argument("--gallery", type=Path, default=None,
                   help="write the worst cases per dataset here (yellow: right, red: false person, green: missed)")

    vk = sub.add_parser("validation-kinds", help="a validation folder per kind of scene (light on light, dark, groups, ...)")
    vk.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data", help="the labelled sets")
    vk.add_argument("--out", required=True, type=Path)
    vk.add_argument("--val-fraction", type=float, default=0.1, help="the split training uses (its validation side only)")
    vk.add_argument("--merged", type=Path, help="merge-labels' folders (<set>/masks/): also real_webcam_whole, the "
                                                "portraits with the hands and arms their human masks leave out")
    ml = sub.add_parser("merge-labels", help="max(human mask, teacher mask) per pixel: labels that miss people, completed")
    ml.add_argument("--labelled", required=True, type=Path, help="a folder dataset (images/ + masks/)")
    ml.add_argument("--pseudo", required=True, type=Path, help="the teacher's labels of the same images (pseudo-label --out)")
    ml.add_argument("--out", required=True, type=Path)
    ml.add_argument("--adds", choices=("all", "apart"), default="all",
                    help="all: every teacher pixel the human mask lacks (portraits: hands, arms); apart: only the teacher's "
                         "regions apart from the labelled people (scenes: a missed passer-by, not the pet on a lap)")
    wp = sub.add_parser("wall-people", help="training pairs: people (training split) on plain walls of their clothes' colour")
    wp.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data", help="the labelled sets")
    wp.add_argument("--out", required=True, type=Path)
    wp.add_argument("--per-person", type=int, default=1)
    wp.add_argument("--set", dest="sets", action="append", default=None, metavar="NAME",
                    help="only this set's people (repeat; default: every pasteable set, "
                         "ccp-person, celebamask-hq-subset and nprportrait-seg)")

    bi = sub.add_parser("bench-input", help="augmented training images per second of the input pipeline")
    bi.add_argument("--data", action="append", required=True, help="PATH[,weight=W,...]; repeat")
    bi.add_argument("--backgrounds", default=str(SHARED_BACKGROUNDS) if SHARED_BACKGROUNDS.is_dir() else None)
    bi.add_argument("--size", type=_size, default=(192, 192), help="crop HxW")
    bi.add_argument("--batch", type=int, default=16)
    bi.add_argument("--batches", type=int, default=30, help="batches timed (after 2 of warm-up)")
    bi.add_argument("--parallel", type=int, action="append", default=None,
                    help="augmenting threads (repeat; 0: autotune); default: 1 and autotune")

    b = sub.add_parser("bench", help="ms per frame for architectures x backends x input sizes")
    b.add_argument("--arch", action="append", default=None, help="architectures (default: all)")
    b.add_argument("--size", action="append", type=_size, default=None, help="HxW (default 144x256, 224x224, 288x512)")
    b.add_argument("--backend", action="append", choices=["litert", "tensorflow"], default=None)
    b.add_argument("--runs", type=int, default=50)
    b.add_argument("--reference", type=Path, default=None,
                   help="instead: Segmenter(--model)(720p frame) vs this TFLite segmenter on the same frame")
    b.add_argument("--model", default="default", help="with --reference: the model to compare")
    b.add_argument("--json", type=Path, default=None)

    for parser in sub.choices.values():
        parser.formatter_class = _DefaultsHelp
    return p, t


def main(argv: list[str] | None = None) -> int:
    p, t = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)
    try:
        if args.command == "train":
            return _train(args, t, argv)
        return _run(args)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:  # bad data, paths, models: one clear line
        if os.environ.get("PERSONSEG_TRACEBACK"):  # for bug reports: the whole story
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args) -> int:
    if args.command == "prepare-coco":
        from .data import prepare_coco

        n = prepare_coco(args.annotations, args.images, args.out, args.min_area)
        print(f"wrote {n} person image/mask pairs to {args.out}")
    elif args.command == "negatives":
        from .data import write_negatives

        print(f"wrote {write_negatives(args.backgrounds, args.out, args.synthetic)} empty scenes to {args.out}")
    elif args.command == "interpolate":
        from .interpolate import interpolate

        print(f"wrote {interpolate(args.fine_tuned, args.init, args.alpha, args.out)}")
    elif args.command == "grow":
        from .grow import grow

        diff = grow(args.source, args.out)
        print(f"wrote {args.out} (largest output difference from {args.source}: {diff:.2e})")
    elif args.command == "pseudo-label" and args.images.suffix.lower() in assets.VIDEO_EXTS:  # RVM's video mode
        from .tfjs_teacher import TfjsTeacher, label_video

        n = label_video(TfjsTeacher(args.teacher), args.images, args.out, every=args.every)
        print(f"wrote {n} soft masks (every {args.every}th frame) to {args.out / 'masks'}")
    elif args.command == "pseudo-label":
        from .pseudo_label import pseudo_label

        scales = tuple(float(s) for s in args.scales.split(","))
        n = pseudo_label(args.teacher, args.images, args.out, scales, not args.no_flip, args.limit, boxes=args.boxes)
        print(f"wrote {n} soft masks to {args.out / 'masks'}")
    elif args.command == "import-tflite":
        from .import_tflite import import_tflite

        diff = import_tflite(args.tflite, args.arch, args.out, args.check_image)
        print(f"wrote {args.out}; max |Keras - TFLite| = {diff:.2e}")
        if diff > 1e-3:
            print("the graphs disagree: the topology does not match this architecture", file=sys.stderr)
            return 1
    elif args.command == "export":
        from .export import export

        for path in export(args.checkpoint, args.name, args.out, float16=not args.float32, force=args.force,
                           input_area=args.input_side ** 2, aspect_power=args.portrait_aspect_power,
                           closer_look=args.closer_look):
            print(f"wrote {path}")
    elif args.command == "evaluate":
        from .evaluate import evaluate_command

        evaluate_command(args)
    elif args.command == "validation-kinds":
        from .validation_kinds import write_validation_kinds

        for kind, n in sorted(write_validation_kinds(args.data, args.out, val_fraction=args.val_fraction, merged=args.merged).items()):
            print(f"{kind:<24} {n:>5} pairs")
    elif args.command == "merge-labels":
        from .pseudo_label import merge_labels

        print(f"wrote {merge_labels(args.labelled, args.pseudo, args.out, adds=args.adds)} merged masks to {args.out}")
    elif args.command == "wall-people":
        from .validation_kinds import PASTEABLE, write_wall_people

        sets = tuple(args.sets) if args.sets else PASTEABLE
        print(f"wrote {write_wall_people(args.data, args.out, args.per_person, sets=sets)} pairs to {args.out}")
    elif args.command == "bench-input":
        from .bench_input import bench_input_command

        bench_input_command(args)
    elif args.command == "bench":
        from .bench import bench_command

        bench_command(args)
    return 0


def _train(args, parser: argparse.ArgumentParser, argv: list[str]) -> int:
    from .train import train
    from .train_args import train_config

    cfg = train_config(args, parser, argv[1:], SHARED_BACKGROUNDS)
    try:
        best = train(cfg, resume=args.resume, command="python -m training " + shlex.join(argv))
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with: python -m training train --out {shlex.quote(str(cfg.out))} --resume",
              file=sys.stderr)
        return 130
    print(f"best checkpoint: {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
