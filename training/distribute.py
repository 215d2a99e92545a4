"""tf.distribute from the command line: one device, every local device, or many workers.

    --strategy default      one device (the first GPU, else the CPU)
    --strategy mirrored     every GPU of this machine (or, without GPUs, every logical CPU device)
    --strategy multiworker  MultiWorkerMirroredStrategy; started once per worker, each with TF_CONFIG:
        TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
      Worker 0 is the chief: only it writes the run folder (checkpoints, logs, backups); the others
      write nothing and read the chief's backup on --resume, so the run folder must be shared (or
      local, for workers on one machine).

``--batch`` is per replica: the global batch is batch x replicas. The learning rate is not scaled for
you (the recorded --lr is the one used); the usual linear rule is --lr x (global batch / 16) with a
warm-up epoch, which the cosine schedule has.
"""

from __future__ import annotations

import json
import os

STRATEGIES = ("default", "mirrored", "multiworker")


def make_strategy(name: str):
    """The strategy by name. Must run before TensorFlow creates any tensor (multiworker's requirement)."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multiworker needs TF_CONFIG (cluster and task) in the environment; "
                             "see python -m training train --help")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown --strategy {name!r}; choose {', '.join(STRATEGIES)}")


def worker() -> tuple[int, int]:
    """(this worker's index, number of workers) from TF_CONFIG; (0, 1) without it."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    cluster = config.get("cluster", {})
    n = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    task = config.get("task", {})
    if task.get("type") == "chief":
        return 0, max(n, 1)
    index = int(task.get("index", 0)) + len(cluster.get("chief", []))
    return index, max(n, 1)


def is_chief(strategy_name: str) -> bool:
    return strategy_name != "multiworker" or worker()[0] == 0


def describe(strategy, per_replica_batch: int) -> str:
    replicas = strategy.num_replicas_in_sync
    index, workers = worker() if type(strategy).__name__.startswith("MultiWorker") else (0, 1)
    where = f", worker {index} of {workers}" if workers > 1 else ""
    return (f"strategy {type(strategy).__name__}: {replicas} replica(s){where}, global batch "
            f"{per_replica_batch * replicas} ({per_replica_batch} per replica)")
