"""Keras training with checkpoints, resume, early stopping, CSV/TensorBoard logs and tf.distribute.

Run directory layout (``--out RUN_DIR``):
    config.json     the arguments of the run (what ``--resume`` checks against)
    last.keras      after every epoch;  best.keras  best validation IoU so far
    backup/         Keras BackupAndRestore state: an interrupted run continues mid-schedule with --resume
    log.csv, tb/    per-epoch metrics (CSV, TensorBoard)
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .augment import AugmentConfig, augment, center_view
from .data import DataSpec, Sample, load_backgrounds, load_splits

STRATEGIES = ("default", "mirrored", "multiworker")


@dataclass
class TrainConfig:
    data: list[str]
    out: str
    arch: str = "fast"
    epochs: int = 30
    batch: int = 16
    size: tuple[int, int] = (160, 160)
    lr: float = 3e-3
    steps_per_epoch: int | None = None
    val_fraction: float = 0.1
    patience: int = 8
    seed: int = 0
    backgrounds: str | None = None
    init: str | None = None
    strategy: str = "default"
    bce_weight: float = 1.0
    dice_weight: float = 1.0
    boundary_weight: float = 0.0  # extra BCE weight near the target's edge (BCEDiceLoss)
    small_person: float = 0.0  # share of wide-shot crops (AugmentConfig.small_person)


def make_strategy(name: str):
    """tf.distribute strategy by name. multiworker reads the cluster from the TF_CONFIG environment variable."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()  # all visible GPUs of this machine
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise SystemExit("--strategy multiworker needs TF_CONFIG (cluster and task) in the environment")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise SystemExit(f"unknown --strategy {name!r}; choose {', '.join(STRATEGIES)}")


class SampleStream:
    """Endless augmented batches, drawing sets in proportion to their weight (deterministic per seed)."""

    def __init__(self, samples: list[Sample], cfg: AugmentConfig, batch: int, backgrounds, seed: int):
        self.samples, self.cfg, self.batch, self.backgrounds = samples, cfg, batch, backgrounds
        w = np.array([s.weight for s in samples], np.float64)
        self.p = w / w.sum()
        self.seed = seed

    def __call__(self):
        rng = np.random.default_rng(self.seed)
        h, w = self.cfg.size
        while True:
            x = np.empty((self.batch, h, w, 3), np.float32)
            y = np.empty((self.batch, h, w, 1), np.float32)
            for i, idx in enumerate(rng.choice(len(self.samples), self.batch, p=self.p)):
                x[i], y[i] = augment(self.samples[idx], self.cfg, rng, self.backgrounds)
            yield x, y


def cosine_lr(base: float, epochs: int, warmup: int = 1):
    def schedule(epoch: int, _lr=None) -> float:
        if epoch < warmup:
            return base * (epoch + 1) / (warmup + 1)
        t = (epoch - warmup) / max(1, epochs - warmup)
        return float(base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))))

    return schedule


def _prepare_run_dir(run: Path, cfg: TrainConfig, resume: bool) -> None:
    config_file = run / "config.json"
    if resume:
        if not config_file.exists():
            raise SystemExit(f"--resume: {run} holds no run (no config.json)")
        old = json.loads(config_file.read_text())
        if old.get("arch") != cfg.arch:
            raise SystemExit(f"--resume: {run} trains arch {old.get('arch')!r}, not {cfg.arch!r}")
        return
    if (run / "backup").exists() or (run / "last.keras").exists():
        raise SystemExit(f"{run} already holds a run; pass --resume to continue it or choose another --out")
    run.mkdir(parents=True, exist_ok=True)
    config_file.write_text(json.dumps(asdict(cfg), indent=2))
    (run / "command.txt").write_text(" ".join(["python -m training", *sys.argv[1:]]) + "\n")


def _epochs_logged(log: Path) -> int:
    if not log.exists():
        return 0
    return max(0, len(log.read_text().strip().splitlines()) - 1)


def train(cfg: TrainConfig, resume: bool = False, verbose: int | None = None) -> Path:
    """Train and return the path of the best checkpoint."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    from personseg_live.model import architectures

    from .losses import BCEDiceLoss
    from .metrics import BoundaryF, MeanIoU

    run = Path(cfg.out)
    _prepare_run_dir(run, cfg, resume)
    keras.utils.set_random_seed(cfg.seed)
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        keras.mixed_precision.set_global_policy("mixed_float16")

    specs = [DataSpec.parse(d) for d in cfg.data]
    splits = load_splits(specs, cfg.val_fraction, cfg.seed)
    if not splits.train:
        raise SystemExit("no training pairs after the validation split; add data or lower --val-fraction")
    backgrounds = load_backgrounds(Path(cfg.backgrounds)) if cfg.backgrounds else []
    aug = AugmentConfig(size=tuple(cfg.size), small_person=cfg.small_person)
    print(f"train pairs {len(splits.train)}, validation pairs {len(splits.val)}, backgrounds {len(backgrounds)}", flush=True)

    strategy = make_strategy(cfg.strategy)
    global_batch = cfg.batch * strategy.num_replicas_in_sync
    h, w = cfg.size
    stream = SampleStream(splits.train, aug, global_batch, backgrounds, cfg.seed)
    spec = (tf.TensorSpec((global_batch, h, w, 3), tf.float32), tf.TensorSpec((global_batch, h, w, 1), tf.float32))
    train_ds = tf.data.Dataset.from_generator(stream, output_signature=spec).prefetch(2)
    steps = cfg.steps_per_epoch or max(1, len(splits.train) // global_batch)

    val_ds = None
    if splits.val:
        vx, vy = zip(*(center_view(s, (h, w)) for s in splits.val))
        val_ds = tf.data.Dataset.from_tensor_slices((np.stack(vx), np.stack(vy))).batch(global_batch)

    # BackupAndRestore resumes an interrupted fit; after a finished fit its backup is gone, so
    # --resume with more --epochs continues from last.keras at the next epoch instead.
    initial_epoch = 0
    continue_from_last = resume and not (run / "backup").exists() and (run / "last.keras").exists()
    with strategy.scope():
        if continue_from_last:
            model = keras.models.load_model(run / "last.keras")
            initial_epoch = _epochs_logged(run / "log.csv")
            print(f"continuing {run} from epoch {initial_epoch + 1}", flush=True)
        elif cfg.init:
            model = keras.models.load_model(cfg.init, compile=False)
        else:
            model = architectures.build(cfg.arch, None if cfg.arch != "seed" else (h, w))
        if not continue_from_last:
            model.compile(
                optimizer=keras.optimizers.Adam(cfg.lr),
                loss=BCEDiceLoss(cfg.bce_weight, cfg.dice_weight, cfg.boundary_weight),
                metrics=[MeanIoU(), BoundaryF()],
            )

    monitor = "val_iou" if val_ds is not None else "iou"
    callbacks = [
        keras.callbacks.BackupAndRestore(str(run / "backup")),
        keras.callbacks.LearningRateScheduler(cosine_lr(cfg.lr, cfg.epochs)),
        keras.callbacks.ModelCheckpoint(str(run / "last.keras")),
        keras.callbacks.ModelCheckpoint(str(run / "best.keras"), monitor=monitor, mode="max", save_best_only=True),
        keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=cfg.patience),
        keras.callbacks.CSVLogger(str(run / "log.csv"), append=True),
        keras.callbacks.TensorBoard(str(run / "tb"), write_graph=False, profile_batch=0),
    ]
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    model.fit(train_ds, epochs=cfg.epochs, initial_epoch=initial_epoch, steps_per_epoch=steps,
              validation_data=val_ds, callbacks=callbacks, verbose=verbose)
    best = run / "best.keras"
    if not best.exists():
        shutil.copy(run / "last.keras", best)
    return best
