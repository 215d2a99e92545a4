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


def describe(strategy, per_replica_batch: int, multiworker: bool = False) -> str:
    replicas = strategy.num_replicas_in_sync
    index, workers = worker() if multiworker else (0, 1)
    where = f", worker {index} of {workers}" if workers > 1 else ""
    return (f"strategy {type(strategy).__name__}: {replicas} replica(s){where}, global batch "
            f"{per_replica_batch * replicas} ({per_replica_batch} per replica)")


def build_for_multiworker(model, strategy, batch: int, size: tuple[int, int]) -> None:
    """Build the model's metrics, loss and optimizer state before ``fit`` and skip Keras' own build step.

    Keras 3's ``fit`` builds that state from the first batch, which it first reduces across replicas
    with ``strategy.reduce("MEAN", (x, y))``; MultiWorkerMirroredStrategy cannot reduce a tuple of
    PerReplica values ("Attempt to convert a value (PerReplica:{...}) with an unsupported type").
    The build needs only shapes, so a zero batch of the right shape builds the same state.
    """
    import numpy as np

    h, w = size
    batch_spec = (np.zeros((batch, h, w, 3), np.float32), np.zeros((batch, h, w, 1), np.float32))
    with strategy.scope():
        model._symbolic_build(data_batch=batch_spec)
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    _mean_scalars_across_workers()


def _mean_scalars_across_workers() -> None:
    """Keras 3 averages each step's logs across workers with ``strategy.reduce("MEAN", v, axis=0)``, which
    fails on the scalar loss and metrics ("Invalid reduction dimension 0 for input with 0 dimensions").
    Averaging over the replicas alone (axis None) is what it means; every worker gets the same numbers,
    so early stopping and checkpoints decide alike on all of them. Idempotent, multi-worker runs only."""
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica
    if getattr(original, "scalar_safe", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original(values, strategy, reduction)

    reduce_per_replica.scalar_safe = True
    trainer.reduce_per_replica = reduce_per_replica
