"""Training and validation input as tf.data pipelines.

Training samples are augmented in parallel (``map`` with ``num_parallel_calls``; OpenCV and numpy
release the GIL for the heavy work) and prefetched, so the accelerator does not wait on one Python
generator. Sample ``k`` of the run (``k = step * global_batch + i`` over all epochs) is drawn and
augmented from its own seed ``(seed, k)``: the stream is the same at any parallelism, a resumed run
continues at the sample after the last one its weights saw (no replayed epoch), and under several
workers each one draws its own share of every global batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .augment import AugmentConfig, augment, center_view
from .data import Sample

#: Enough samples for any run (the range is lazy).
_ENDLESS = 2**62


@dataclass
class SampleDrawer:
    """Sample number k -> one augmented (image, mask) pair, drawing sets in proportion to their weight."""

    samples: list[Sample]
    cfg: AugmentConfig
    backgrounds: list[np.ndarray]
    seed: int

    def __post_init__(self):
        w = np.array([s.weight for s in self.samples], np.float64)
        self.p = w / w.sum()

    def __call__(self, k) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng((self.seed, int(k)))
        sample = self.samples[rng.choice(len(self.samples), p=self.p)]
        return augment(sample, self.cfg, rng, self.backgrounds)


def train_dataset(drawer: SampleDrawer, batch: int, first_sample: int = 0, parallel: int | None = None,
                  pipeline: int = 0, pipelines: int = 1):
    """Endless batches of ``batch`` pairs from sample ``first_sample`` on.

    With several input pipelines (one per worker) pipeline p takes samples p, p + P, p + 2P, ...
    ``parallel``: augmenting threads (None: tf.data's autotuning).
    """
    import tensorflow as tf

    h, w = drawer.cfg.size

    def draw(k):
        x, y = tf.numpy_function(drawer, [k], (tf.float32, tf.float32), stateful=False)
        return tf.ensure_shape(x, (h, w, 3)), tf.ensure_shape(y, (h, w, 1))

    ds = tf.data.Dataset.range(first_sample // pipelines, _ENDLESS).map(lambda j: j * pipelines + pipeline)
    ds = ds.map(draw, num_parallel_calls=parallel or tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def validation_dataset(samples: list[Sample], size: tuple[int, int], batch: int, replicas: int = 1):
    """The validation views as (x, y, weight) batches, or None without validation pairs.

    Under several replicas the set is padded to whole global batches with weight-0 copies: Keras
    otherwise hands some replica an empty last batch and validation fails on its shape.
    """
    import tensorflow as tf

    if not samples:
        return None
    x, y = (np.stack(a) for a in zip(*(center_view(s, size) for s in samples)))
    weight = np.ones(len(x), np.float32)
    pad = (-len(x)) % batch if replicas > 1 else 0
    if pad:
        take = np.arange(pad) % len(x)
        x, y = np.concatenate([x, x[take]]), np.concatenate([y, y[take]])
        weight = np.concatenate([weight, np.zeros(pad, np.float32)])
        return tf.data.Dataset.from_tensor_slices((x, y, weight)).batch(batch)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)
