"""tf.distribute for real on a CPU: MirroredStrategy over two logical CPU devices, and two local worker
processes under MultiWorkerMirroredStrategy on loopback ports. Tiny images, one or two steps."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TINY = ["--arch", "tiny", "--size", "32x32", "--batch", "2", "--steps-per-epoch", "1", "--backgrounds", "none"]

# Logical devices must be configured before TensorFlow initialises: a fresh interpreter.
TWO_CPUS = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from training.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def _log(run: Path) -> list[dict]:
    with open(run / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.timeout(300)
def test_mirrored_over_two_logical_cpus_validates_an_uneven_last_batch(tmp_path, people_dir):
    run = tmp_path / "run"
    # 8 pairs, 1 in validation: its only batch leaves one of the two replicas without a sample.
    result = subprocess.run([sys.executable, "-c", TWO_CPUS, "train", "--data", str(people_dir), "--out", str(run),
                             *TINY, "--val-fraction", "0.25", "--epochs", "1", "--strategy", "mirrored"],
                            cwd=REPO, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 replica(s), global batch 4 (2 per replica)" in result.stdout
    row, = _log(run)
    assert 0.0 <= float(row["val_iou"]) <= 1.0 and (run / "best.keras").exists()


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.timeout(300)
def test_two_worker_processes_train_one_run(tmp_path, people_dir):
    run = tmp_path / "run"
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    workers = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "training", "train", "--data", str(people_dir), "--out", str(run), *TINY,
             "--val-fraction", "0.25", "--epochs", "2", "--strategy", "multiworker"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        outputs = [w.communicate(timeout=240) for w in workers]
    finally:
        for w in workers:  # never leave a worker behind waiting for its peer
            if w.poll() is None:
                w.kill()
                w.wait()
    for w, (out, err) in zip(workers, outputs):
        assert w.returncode == 0, err[-3000:]
    assert "2 replica(s), worker 0 of 2, global batch 4" in outputs[0][0]
    assert "worker 1 of 2" in outputs[1][0]
    rows = _log(run)  # the chief alone writes the run folder: one row per epoch, not two
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert (run / "best.keras").exists() and (run / "split.json").exists()
    assert not (run / "backup").exists()  # a finished run leaves no backup
