"""Training runs as researchers drive them: resume from the run folder, the recorded split in evaluate,
.keras models in evaluate, and data checked up front. Tiny images, 1-2 steps, in-process CLI calls."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

from training.__main__ import main
from training.data import DataSpec, is_validation

TINY = ["--arch", "tiny", "--size", "64x64", "--batch", "4", "--steps-per-epoch", "2", "--val-fraction", "0.25",
        "--backgrounds", "none"]


def train(people_dir: Path, run: Path, *extra: str) -> int:
    return main(["train", "--data", str(people_dir), "--out", str(run), *TINY, *extra])


def log_rows(run: Path) -> list[dict]:
    with open(run / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_resume_needs_only_the_run_folder_and_refuses_changed_settings(tmp_path, people_dir, capsys):
    run = tmp_path / "run"
    assert train(people_dir, run, "--epochs", "1") == 0
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2"]) == 0
    assert [r["epoch"] for r in log_rows(run)] == ["0", "1"]
    assert json.loads((run / "config.json").read_text())["epochs"] == 2
    assert "# resumed with epochs: 1 -> 2" in (run / "command.txt").read_text()
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume", "--epochs", "3", "--lr", "0.1", "--size", "96x96"]) == 2
    err = capsys.readouterr().err
    assert "--lr was 0.003, now 0.1" in err and "--size was [64, 64], now [96, 96]" in err
    assert json.loads((run / "config.json").read_text())["lr"] == 0.003  # nothing recorded for a refused resume


def test_resume_keeps_the_best_checkpoint_and_the_patience_left(tmp_path, people_dir, capsys):
    run = tmp_path / "run"
    assert train(people_dir, run, "--epochs", "1", "--patience", "1") == 0
    # Pretend the first epoch scored a validation IoU no later epoch reaches.
    rows = log_rows(run)
    rows[0]["val_iou"] = "0.99"
    with open(run / "log.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    best = (run / "best.keras").read_bytes()
    assert train(people_dir, run, "--epochs", "4", "--patience", "1", "--resume") == 0  # the same flags again
    assert (run / "best.keras").read_bytes() == best  # a worse epoch does not replace the best
    assert "best val_iou so far 0.9900" in capsys.readouterr().out
    # Patience 1: the first epoch without improvement after the resume stops the run.
    assert [r["epoch"] for r in log_rows(run)] == ["0", "1"]


def test_backups_record_the_position_inside_an_epoch(tmp_path):
    import keras

    from personseg_live.model import architectures
    from training.callbacks import StepBackup
    from training.run_dir import backup_position

    class Interrupt(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if self.model.optimizer.iterations.numpy() == 7:  # epoch 1 (4 steps each), its 4th step
                raise KeyboardInterrupt

    model = architectures.build("tiny")
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x, y = np.zeros((4, 32, 32, 3), np.float32), np.zeros((4, 32, 32, 1), np.float32)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=1, epochs=3, verbose=0,
                  callbacks=[StepBackup(str(tmp_path / "backup"), save_freq=2), Interrupt()])
    assert backup_position(tmp_path / "backup") == (1, 2)  # epoch 1 in progress, 2 of its steps saved
    assert backup_position(tmp_path / "none") is None


@pytest.fixture(scope="module")
def seed1_run(tmp_path_factory, people_dir) -> Path:
    run = tmp_path_factory.mktemp("seed1") / "run"
    assert main(["train", "--data", str(people_dir), "--out", str(run), *TINY, "--seed", "1", "--epochs", "1",
                 "--val-fraction", "0.4"]) == 0
    return run


def test_the_split_is_recorded_and_evaluate_run_scores_it(seed1_run, people_dir, tmp_path):
    split = json.loads((seed1_run / "split.json").read_text())
    ids = split["sets"][str(people_dir.resolve())]
    expected = sorted(sid for sid in ids["train"] + ids["val"] if is_validation(sid, 0.4, seed=1))
    assert ids["val"] == expected and split["seed"] == 1
    assert ids["val"] != sorted(sid for sid in ids["train"] + ids["val"] if is_validation(sid, 0.4, seed=0))
    report = tmp_path / "r.json"
    assert main(["evaluate", "--run", str(seed1_run), "--json", str(report)]) == 0
    row, = json.loads(report.read_text())
    assert row["model"] == "best" and row["dataset"] == "people" and row["n"] == len(ids["val"])


def test_stream_seed_keeps_the_split_and_changes_the_run(seed1_run, people_dir, tmp_path):
    """--stream-seed: another initialisation and sample stream on --seed's split (a recipe's noise measured on
    the same validation pairs)."""
    run = tmp_path / "stream"
    assert main(["train", "--data", str(people_dir), "--out", str(run), *TINY, "--seed", "1", "--epochs", "1",
                 "--val-fraction", "0.4", "--stream-seed", "5"]) == 0
    assert json.loads((run / "split.json").read_text()) == json.loads((seed1_run / "split.json").read_text())
    first, other = (keras.saving.load_model(r / "last.keras", compile=False).get_weights() for r in (seed1_run, run))
    assert any(not np.allclose(a, b) for a, b in zip(first, other))


def test_evaluate_runs_a_keras_checkpoint_on_tensorflow(seed1_run, people_dir, tmp_path):
    report = tmp_path / "r.json"
    for backend in ("auto", "litert"):  # no .tflite beside it: TensorFlow either way
        assert main(["evaluate", "--model", str(seed1_run / "best.keras"), "--data", str(people_dir),
                     "--split", "all", "--backend", backend, "--json", str(report)]) == 0
        row, = json.loads(report.read_text())
        assert row["n"] == 8 and 0.0 <= row["iou"] <= 1.0


def test_evaluate_brightness_blows_the_pictures_out(people_dir, tmp_path, capsys):
    """--brightness G scores the shipped model on the same pictures over- or underexposed and clipped (rows
    named SET xG): blown out to near white, far less of each person is found than at the camera's exposure."""
    rows = {}
    for gain in ("1", "4"):
        report = tmp_path / f"r{gain}.json"
        assert main(["evaluate", "--data", str(people_dir), "--split", "all", "--brightness", gain,
                     "--json", str(report)]) == 0
        row, = json.loads(report.read_text())
        rows[gain] = row
    assert rows["1"]["dataset"] == people_dir.name and rows["4"]["dataset"] == f"{people_dir.name} x4"
    assert rows["4"]["n"] == rows["1"]["n"] == 8
    assert rows["4"]["iou"] < rows["1"]["iou"] - 0.05
    assert main(["evaluate", "--data", str(people_dir), "--brightness", "0"]) == 2
    assert "--brightness 0.0: must be above 0" in capsys.readouterr().err


def test_no_validation_pairs_is_a_warning_and_null(people_dir, tmp_path, capsys):
    report = tmp_path / "r.json"
    assert main(["evaluate", "--data", str(people_dir), "--val-fraction", "0", "--json", str(report)]) == 0
    assert "null" in report.read_text() and "NaN" not in report.read_text()
    row, = json.loads(report.read_text())
    assert row["n"] == 0 and row["iou"] is None and row["boundary_f"] is None
    assert "no val pairs" in capsys.readouterr().err


def flawed_set(root: Path, people_dir: Path) -> Path:
    """Two good pairs and one of each problem."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    ids = sorted(p.stem for p in (people_dir / "images").glob("*.jpg"))
    for sid in ids[:6]:
        shutil.copy(people_dir / "images" / f"{sid}.jpg", root / "images")
        shutil.copy(people_dir / "masks" / f"{sid}.png", root / "masks")
    (root / "masks" / f"{ids[0]}.png").unlink()  # an image without a mask
    mask = cv2.imread(str(people_dir / "masks" / f"{ids[1]}.png"), cv2.IMREAD_GRAYSCALE)
    h, w = mask.shape
    cv2.imwrite(str(root / "masks" / f"{ids[1]}.png"), cv2.resize(mask, (w // 2, h // 2)))  # same aspect: resized
    cv2.imwrite(str(root / "masks" / f"{ids[2]}.png"), cv2.resize(mask, (w, h // 2)))  # other aspect: skipped
    data = (root / "images" / f"{ids[3]}.jpg").read_bytes()
    (root / "images" / f"{ids[3]}.jpg").write_bytes(data[: len(data) // 2])  # truncated JPEG
    (root / "images" / "garbage.jpg").write_bytes(b"not an image at all")  # unreadable
    shutil.copy(people_dir / "masks" / f"{ids[4]}.png", root / "masks" / "garbage.png")
    return root


def test_every_data_problem_is_named(tmp_path, people_dir):
    from training.checks import scan_set

    ids = sorted(p.stem for p in (people_dir / "images").glob("*.jpg"))
    report = scan_set(DataSpec(flawed_set(tmp_path / "flawed", people_dir)))
    assert sorted(sid for sid, _, _ in report.used) == [ids[1], ids[4], ids[5]]
    reasons = dict(report.skipped)
    assert reasons[f"{ids[0]}.jpg"] == "no mask"
    assert reasons[f"{ids[2]}.jpg"].startswith("mask ")
    assert reasons[f"{ids[3]}.jpg"] == "truncated image"
    assert reasons["garbage.jpg"] == "unreadable image"
    assert [name for name, _ in report.resized] == [f"{ids[1]}.png"]
    summary = report.summary()
    assert summary.startswith("flawed: 3 used, 4 skipped, 1 resized") and "truncated image" in summary


def test_train_reports_the_data_and_evaluate_skips_what_it_cannot_read(tmp_path, people_dir, capsys):
    flawed = flawed_set(tmp_path / "flawed", people_dir)
    run = tmp_path / "run"
    assert main(["train", "--data", str(flawed), "--out", str(run), *TINY, "--epochs", "1",
                 "--val-fraction", "0"]) == 0
    assert "flawed: 3 used, 4 skipped, 1 resized" in capsys.readouterr().out
    recorded = json.loads((run / "data_report.json").read_text())[str(flawed.resolve())]
    assert recorded["used"] == 3 and len(recorded["skipped"]) == 4
    report = tmp_path / "r.json"
    assert main(["evaluate", "--data", str(flawed), "--split", "all", "--json", str(report)]) == 0
    assert json.loads(report.read_text())[0]["n"] == 3


def test_bad_settings_are_all_named_before_any_data_is_read(tmp_path, people_dir, capsys):
    code = main(["train", "--data", str(people_dir), "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r"),
                 "--arch", "fast", "--size", "100x96", "--init", str(tmp_path / "missing.keras"),
                 "--backgrounds", str(tmp_path / "no-scenes"), "--exposure", "35"])
    err = capsys.readouterr()
    assert code == 2
    for problem in ("nowhere: no such folder", "missing.keras: no such file", "no-scenes: no such folder",
                    "--size 100x96: both sides must be multiples of 16", "--exposure 35.0: a share of the pictures"):
        assert problem in err.err, problem
    assert "people:" not in err.out and not (tmp_path / "r").exists()


def test_the_init_model_decides_the_recorded_architecture():
    from training.train import TrainConfig, resolve_arch

    shipped = str(Path(__file__).resolve().parent.parent / "assets" / "models" / "default.keras")
    assert resolve_arch(TrainConfig(data=[], out="x", init=shipped)).arch == "mobile"
    assert resolve_arch(TrainConfig(data=[], out="x")).arch == "fast"
    with pytest.raises(ValueError, match="is a 'mobile' model"):
        resolve_arch(TrainConfig(data=[], out="x", init=shipped, arch="fast"))


def test_config_reruns_a_recorded_configuration(seed1_run, tmp_path):
    rerun = tmp_path / "rerun"
    assert main(["train", "--config", str(seed1_run / "config.json"), "--out", str(rerun)]) == 0
    first, again = (json.loads((r / "config.json").read_text()) for r in (seed1_run, rerun))
    assert again.pop("out") != first.pop("out") and again == first
    assert json.loads((rerun / "split.json").read_text()) == json.loads((seed1_run / "split.json").read_text())


def test_export_replaces_a_model_only_with_force(seed1_run, tmp_path, capsys):
    (tmp_path / "default.keras").write_bytes(b"the shipped model")
    args = ["export", str(seed1_run / "best.keras"), "--name", "default", "--out", str(tmp_path), "--float32"]
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "default.keras").read_bytes() == b"the shipped model"
    assert main([*args, "--force"]) == 0
    assert json.loads((tmp_path / "default.json").read_text())["arch"] == "tiny"


def test_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "(default: 30)" in out and "(default: 0.003)" in out


def test_personseg_train_entry_point_and_a_missing_tensorflow():
    import importlib
    import subprocess
    import sys
    import tomllib

    root = Path(__file__).resolve().parent.parent
    meta = tomllib.loads((root / "pyproject.toml").read_text())
    module, _, func = meta["project"]["scripts"]["personseg-train"].partition(":")
    assert module.split(".")[0] in meta["tool"]["setuptools"]["packages"]  # shipped, not only in a checkout
    assert callable(getattr(importlib.import_module(module), func))
    lean = "import runpy, sys; sys.modules['tensorflow'] = None; runpy.run_module('training', run_name='__main__')"
    result = subprocess.run([sys.executable, "-c", lean, "train", "--help"], cwd=root, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0 and "pip install 'personseg-live[train]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_says_how_to_resume_in_one_line(tmp_path, people_dir, monkeypatch, capsys):
    import training.train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training.train, "train", interrupted)
    assert train(people_dir, tmp_path / "run", "--epochs", "1") == 130
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [f"interrupted; continue with: python -m training train --out {tmp_path / 'run'} --resume"]


def test_the_sample_stream_continues_where_a_resume_starts_at_any_parallelism(people_dir):
    from training.augment import AugmentConfig
    from training.data import load_splits
    from training.input_pipeline import SampleDrawer, train_dataset

    samples = load_splits([DataSpec(people_dir)], val_fraction=0.0).train
    drawer = SampleDrawer(samples, AugmentConfig(size=(32, 32)), [], seed=3)
    serial = [x.numpy() for x, _ in train_dataset(drawer, 2, parallel=1).take(3)]
    parallel = [x.numpy() for x, _ in train_dataset(drawer, 2, parallel=4).take(3)]
    resumed = [x.numpy() for x, _ in train_dataset(drawer, 2, first_sample=4).take(1)]
    assert all(np.array_equal(a, b) for a, b in zip(serial, parallel))
    np.testing.assert_array_equal(resumed[0], serial[2])  # batch 3 of the run, not batch 1 again
    assert not np.array_equal(serial[0], serial[2])


def test_evaluate_enlarge_gives_the_model_camera_sized_pictures(people_dir, tmp_path, capsys, monkeypatch):
    """--enlarge F hands the model each picture F x larger with sensor noise (rows named SET @Fx) and scores its
    answer at the picture's own size: the shipped runtime finds the same people in the large pictures."""
    import training.evaluate as evaluate
    from personseg_live.model.segmenter import Segmenter

    seen = []

    class Recording(Segmenter):
        def __call__(self, frame):
            seen.append(frame.shape[:2])
            return super().__call__(frame)

    monkeypatch.setattr(evaluate, "Segmenter", Recording)
    rows = {}
    for factor in ("1", "6"):
        report = tmp_path / f"r{factor}.json"
        assert main(["evaluate", "--data", str(people_dir), "--split", "all", "--enlarge", factor,
                     "--json", str(report)]) == 0
        rows[factor], = json.loads(report.read_text())
    assert rows["6"]["dataset"] == f"{people_dir.name} @6x" and rows["6"]["n"] == 8
    (h, w), big = seen[0], seen[8]  # the first picture at its size, then enlarged
    assert big == (round(6 * h), round(6 * w))
    assert abs(rows["6"]["iou"] - rows["1"]["iou"]) < 0.03
    assert main(["evaluate", "--data", str(people_dir), "--enlarge", "0.5"]) == 2
    assert "--enlarge 0.5: must be 1 or more" in capsys.readouterr().err
