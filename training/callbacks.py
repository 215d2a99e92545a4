"""Keras callbacks that carry a run's state across an interruption.

Keras' own ones start from scratch in every ``fit``: BackupAndRestore writes only whole epochs (or, with
a step frequency, records a mid-epoch save as the epoch still to do), EarlyStopping forgets its best
score and patience, ModelCheckpoint(save_best_only) forgets the best it saved, so a resumed run
overwrote best.keras with a worse epoch.
"""

from __future__ import annotations

import json
import os

import keras
from keras.src.utils import file_utils


class StepBackup(keras.callbacks.BackupAndRestore):
    """BackupAndRestore every ``save_freq`` steps and at every epoch's end, recording the steps done.

    ``training_metadata.json`` holds ``{"epoch": E, "steps_done": S}``: E is the epoch in progress (the
    one Keras restarts at), S how many of its steps the saved weights have seen, so the input stream can
    continue after them instead of replaying them (see ``run_dir.backup_position``).
    """

    def __init__(self, backup_dir: str, save_freq: int | str = "epoch", write: bool = True):
        super().__init__(backup_dir, save_freq=save_freq, delete_checkpoint=write)
        self._steps_done = 0
        self._write = write  # False on non-chief workers: they restore the chief's backup, never write one

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch  # Keras leaves it at 0 in a resumed fit until the first epoch ends

    def on_train_batch_end(self, batch, logs=None):
        self._steps_done = batch + 1
        super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)  # saves when save_freq == "epoch"
        self._steps_done = 0
        if self.save_freq != "epoch":
            self._save_model()

    def _save_model(self):
        if not self._write:
            return
        if not file_utils.exists(self.backup_dir):
            file_utils.makedirs(self.backup_dir)
        self.model.save_weights(filepath=self._weights_path, overwrite=True)
        meta = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "steps_done": self._steps_done}
        tmp = self._training_metadata_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps(meta))
        os.replace(tmp, self._training_metadata_path)


class ResumedEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping that starts from a resumed run's best score and the epochs already waited."""

    def __init__(self, *, best: float | None = None, waited: int = 0, **kwargs):
        super().__init__(**kwargs)
        self._resume_best, self._resume_wait = best, waited

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.best, self.wait = self._resume_best, self._resume_wait
