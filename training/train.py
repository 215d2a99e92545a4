"""Keras training with checkpoints, resume, early stopping, CSV/TensorBoard logs and tf.distribute.

Run directory layout (``--out RUN_DIR``; see run_dir.py for the records):
    config.json, command.txt, split.json, data_report.json   what the run is and what it used
    last.keras      after every epoch;  best.keras  best validation IoU so far (kept across resumes)
    backup/         weights and position every --backup-steps steps and every epoch: --resume continues
                    after the last step saved, with the best score and the patience left
    log.csv, tb/    per-epoch metrics (CSV, TensorBoard)
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from . import run_dir
from .augment import AugmentConfig
from .checks import check_settings, keras_file_arch, scan_set
from .data import DataSpec, Splits, load_backgrounds, load_splits
from .distribute import STRATEGIES, build_for_multiworker, describe, is_chief, make_strategy

__all__ = ["STRATEGIES", "TrainConfig", "cosine_lr", "make_strategy", "train"]


@dataclass
class TrainConfig:
    data: list[str]
    out: str
    arch: str | None = None  # None: the --init model's architecture, else fast
    epochs: int = 30
    batch: int = 16
    size: tuple[int, int] = (160, 160)
    lr: float = 3e-3
    steps_per_epoch: int | None = None
    val_fraction: float = 0.1
    patience: int = 8
    seed: int = 0
    # the sample stream's and the initialisation's seed when it should differ from the split's (``seed``): the
    # noise of a recipe measured on one validation split
    stream_seed: int | None = None
    backgrounds: str | None = None
    init: str | None = None
    strategy: str = "default"
    bce_weight: float = 1.0
    dice_weight: float = 1.0
    boundary_weight: float = 0.0  # extra BCE weight near the target's edge (BCEDiceLoss)
    lovasz_weight: float = 0.0  # weight of the Lovász hinge, a surrogate of 1 - IoU (BCEDiceLoss)
    small_person: float = 0.0  # share of wide-shot crops (AugmentConfig.small_person)
    torso_crop: float = 0.0  # share of crops without the head (AugmentConfig.torso_crop)
    portrait_aspect_power: float = 1.0  # portrait crops stretched as the runtime does (AugmentConfig)
    exposure: float = 0.0  # share of pictures over- or underexposed, clipped (AugmentConfig.exposure)
    defocus: float = 0.0  # share of pastes onto an out-of-focus scene (AugmentConfig.defocus)
    backup_steps: int = 100  # steps between backups (an interrupted epoch loses at most these)

    @property
    def sample_seed(self) -> int:
        """Seeds the initialisation and the sample stream: ``stream_seed`` when given, else ``seed``."""
        return self.seed if self.stream_seed is None else self.stream_seed


def cosine_lr(base: float, epochs: int, warmup: int = 1):
    def schedule(epoch: int, _lr=None) -> float:
        if epoch < warmup:
            return base * (epoch + 1) / (warmup + 1)
        t = (epoch - warmup) / max(1, epochs - warmup)
        return float(base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))))

    return schedule


def resolve_arch(cfg: TrainConfig) -> TrainConfig:
    """The architecture to record: the --init model's (a mobile model stays mobile), else --arch, else fast."""
    init_arch = keras_file_arch(Path(cfg.init)) if cfg.init and Path(cfg.init).is_file() else None
    if init_arch and cfg.arch and init_arch != cfg.arch:
        raise ValueError(f"--arch {cfg.arch} but --init {cfg.init} is a {init_arch!r} model; leave --arch out")
    return replace(cfg, arch=init_arch or cfg.arch or "fast")


def _recorded(run: Path) -> dict:
    defaults = {k: v for k, v in asdict(TrainConfig(data=[], out="")).items() if k not in ("data", "out")}
    return {**defaults, **run_dir.config_settings(run_dir.read_config(run / "config.json"), TrainConfig)}


def _prepare_run_dir(run: Path, cfg: TrainConfig, resume: bool, chief: bool, command: str) -> None:
    if resume:
        if not (run / "config.json").exists():
            raise ValueError(f"--resume: {run} holds no run (no config.json)")
        changes = run_dir.resume_changes(_recorded(run), asdict(cfg))
        if chief:
            run_dir.write_config(run, cfg)
            run_dir.append_command(run, command, changes)
        return
    if (run / "backup").exists() or (run / "last.keras").exists():
        raise ValueError(f"{run} already holds a run; pass --resume to continue it or choose another --out")
    if chief:
        run.mkdir(parents=True, exist_ok=True)
        run_dir.write_config(run, cfg)
        (run / "command.txt").write_text(command + "\n")


def _start_position(run: Path, resume: bool) -> tuple[int, int, bool]:
    """(epoch to start at, its steps already done, whether to load last.keras) for this invocation."""
    if not resume:
        return 0, 0, False
    backup = run_dir.backup_position(run / "backup")
    if backup is not None:  # interrupted: Keras restores the backup's weights itself
        return backup[0], backup[1], False
    if (run / "last.keras").exists():  # finished: continue from the last epoch with more --epochs
        return run_dir.epochs_logged(run / "log.csv"), 0, True
    return 0, 0, False


def _load_data(cfg: TrainConfig, run: Path, chief: bool) -> tuple[Splits, list]:
    specs = [DataSpec.parse(d) for d in cfg.data]
    reports = [scan_set(s) for s in specs]  # file headers only: problems show before the decoding
    print("\n".join(r.summary() for r in reports), flush=True)
    found = [len(r.skipped) for r in reports]
    splits = load_splits(specs, cfg.val_fraction, cfg.seed, reports=reports)
    for r, before in zip(reports, found):
        if len(r.skipped) > before:
            print(f"while decoding, {r.summary()}", flush=True)
    if not splits.train:
        raise ValueError("no training pairs after the validation split; add data or lower --val-fraction")
    backgrounds = load_backgrounds(Path(cfg.backgrounds)) if cfg.backgrounds else []
    if chief:
        _record_data(run, cfg, specs, splits)
    print(f"train pairs {len(splits.train)}, validation pairs {len(splits.val)}, backgrounds {len(backgrounds)}",
          flush=True)
    return splits, backgrounds


def _record_data(run: Path, cfg: TrainConfig, specs: list[DataSpec], splits: Splits) -> None:
    sets = {}
    for spec in specs:
        name = spec.path.name
        sets[str(spec.path.resolve())] = {
            "split": spec.split,
            "train": sorted(s.id for s in splits.train if s.source == name),
            "val": sorted(s.id for s in splits.val if s.source == name),
        }
    run_dir.write_split(run, cfg.val_fraction, cfg.seed, sets)
    report = {str(spec.path.resolve()): r.as_json() for spec, r in zip(specs, splits.reports)}
    (run / "data_report.json").write_text(json.dumps(report, indent=1) + "\n")


def _build_model(cfg: TrainConfig, run: Path, from_last: bool):
    import keras

    from personseg_live.model import architectures

    from .losses import BCEDiceLoss
    from .metrics import BoundaryF, MeanIoU

    if from_last:
        return keras.models.load_model(run / "last.keras")
    if cfg.init:
        model = keras.models.load_model(cfg.init, compile=False)
    else:
        model = architectures.build(cfg.arch, None if cfg.arch != "seed" else tuple(cfg.size))
    model.compile(optimizer=keras.optimizers.Adam(cfg.lr),
                  # Per-image losses averaged over the weights: validation padding (weight 0) does not count.
                  loss=BCEDiceLoss(cfg.bce_weight, cfg.dice_weight, cfg.boundary_weight, lovasz_weight=cfg.lovasz_weight,
                                   reduction="mean_with_sample_weight"),
                  metrics=[MeanIoU(), BoundaryF()])
    return model


def _callbacks(cfg: TrainConfig, run: Path, out: Path, monitor: str, start_epoch: int, chief: bool) -> list:
    """``out``: where this process writes (the run folder on the chief, a scratch folder on other workers)."""
    import keras

    from .callbacks import ResumedEarlyStopping, StepBackup

    best, waited = run_dir.best_so_far(run / "log.csv", monitor, start_epoch)
    if best is not None:
        print(f"best {monitor} so far {best:.4f}, {waited} epoch(s) without improvement", flush=True)
    callbacks = [
        StepBackup(str(run / "backup"), save_freq=cfg.backup_steps or "epoch", write=chief),
        keras.callbacks.LearningRateScheduler(cosine_lr(cfg.lr, cfg.epochs)),
        ResumedEarlyStopping(best=best, waited=waited, monitor=monitor, mode="max", patience=cfg.patience),
        keras.callbacks.ModelCheckpoint(str(out / "last.keras")),
        keras.callbacks.ModelCheckpoint(str(out / "best.keras"), monitor=monitor, mode="max", save_best_only=True,
                                        initial_value_threshold=best),
    ]
    if chief:
        callbacks += [keras.callbacks.CSVLogger(str(run / "log.csv"), append=True),
                      keras.callbacks.TensorBoard(str(run / "tb"), write_graph=False, profile_batch=0)]
    return callbacks


def _inputs(cfg: TrainConfig, strategy, splits: Splits, backgrounds, first_sample: int):
    from .input_pipeline import SampleDrawer, train_dataset, validation_dataset

    replicas = strategy.num_replicas_in_sync
    global_batch = cfg.batch * replicas
    augment_cfg = AugmentConfig(size=tuple(cfg.size), small_person=cfg.small_person, torso_crop=cfg.torso_crop,
                                exposure=cfg.exposure, portrait_aspect_power=cfg.portrait_aspect_power,
                                defocus=cfg.defocus)
    drawer = SampleDrawer(splits.train, augment_cfg, backgrounds, cfg.sample_seed)
    if cfg.strategy == "multiworker":  # each worker augments only its own share of every global batch
        train_ds = strategy.distribute_datasets_from_function(lambda ctx: train_dataset(
            drawer, ctx.get_per_replica_batch_size(global_batch), first_sample,
            pipeline=ctx.input_pipeline_id, pipelines=ctx.num_input_pipelines))
    else:
        train_ds = train_dataset(drawer, global_batch, first_sample)
    val_ds = validation_dataset(splits.val, tuple(cfg.size), global_batch, replicas)
    return train_ds, val_ds


def train(cfg: TrainConfig, resume: bool = False, verbose: int | None = None, command: str | None = None) -> Path:
    """Train and return the path of the best checkpoint. Bad settings raise ValueError listing every problem."""
    cfg = resolve_arch(cfg)
    problems = check_settings(cfg)
    if problems:
        raise ValueError("cannot train:\n  " + "\n  ".join(problems))
    run, chief = Path(cfg.out), is_chief(cfg.strategy)
    _prepare_run_dir(run, cfg, resume, chief, command or " ".join(["python -m training", *sys.argv[1:]]))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    strategy = make_strategy(cfg.strategy)  # before any tensor exists (multiworker needs that)
    keras.utils.set_random_seed(cfg.sample_seed)
    if tf.config.list_physical_devices("GPU"):
        keras.mixed_precision.set_global_policy("mixed_float16")
    print(describe(strategy, cfg.batch, cfg.strategy == "multiworker"), flush=True)
    splits, backgrounds = _load_data(cfg, run, chief)
    start_epoch, steps_done, from_last = _start_position(run, resume)
    global_batch = cfg.batch * strategy.num_replicas_in_sync
    steps = cfg.steps_per_epoch or max(1, len(splits.train) // global_batch)
    train_ds, val_ds = _inputs(cfg, strategy, splits, backgrounds, (start_epoch * steps + steps_done) * global_batch)
    if start_epoch or steps_done:
        print(f"continuing {run} at epoch {start_epoch + 1}, after {steps_done} of its steps", flush=True)
    with strategy.scope():
        model = _build_model(cfg, run, from_last)
    if cfg.strategy == "multiworker":
        build_for_multiworker(model, strategy, cfg.batch, tuple(cfg.size))
    out = run if chief else Path(tempfile.mkdtemp(prefix="personseg-worker-"))
    monitor = "val_iou" if val_ds is not None else "iou"
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    try:
        model.fit(train_ds, epochs=cfg.epochs, initial_epoch=start_epoch if from_last else 0,
                  steps_per_epoch=steps, validation_data=val_ds, verbose=verbose, shuffle=False,
                  callbacks=_callbacks(cfg, run, out, monitor, start_epoch, chief))
    finally:
        if not chief:
            shutil.rmtree(out, ignore_errors=True)
    best = run / "best.keras"
    if chief and not best.exists():
        shutil.copy(run / "last.keras", best)
    return best
