"""Inference backends: LiteRT with XNNPACK on the CPU, TensorFlow (tf.function) on a GPU.

Both take a float32 NHWC batch of RGB in 0..1 and return float32 NHW person probability at the
model's input resolution. TensorFlow is imported only by the TensorFlow backend, so the CPU path
starts in a fraction of a second.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import PersonsegError


class ModelError(PersonsegError, RuntimeError):
    """A model file that is missing, unreadable or not a person segmenter."""


class Backend(Protocol):
    """Documented for typing only; see LiteRTBackend and TensorFlowBackend."""

    name: str
    device: str

    def predict(self, batch: np.ndarray) -> np.ndarray: ...


def cpu_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


#: XNNPACK threads for a Segmenter that was not told how many. Past 4 the model gets no faster and burns more
#: CPU on hand-overs: on 16 cores (2026-12-04, a 720p frame, the default model) 4 threads took 10.1 ms a frame
#: for 24 ms of CPU, 16 threads 9.9 ms for 49 ms: 2.5 more cores busy for nothing beside a call app.
MAX_MODEL_THREADS = 4


def model_threads(cores: int | None = None) -> int:
    """The XNNPACK threads a Segmenter uses by default on ``cores`` (None: this process's)."""
    return max(1, min(cores or cpu_threads(), MAX_MODEL_THREADS))


#: The one piece of advice for "TensorFlow is missing" (the GPU path and ``--backend tensorflow``).
GPU_EXTRA = 'pip install "personseg-live[gpu]"'


def tensorflow_installed() -> bool:
    """Whether TensorFlow can be imported, without importing it (that costs seconds)."""
    return importlib.util.find_spec("tensorflow") is not None


def nvidia_gpu_present(root: Path | str = "/") -> bool:
    """An NVIDIA driver is loaded (Linux: its /proc entry or device node under ``root``)."""
    root = Path(root)
    return os.name == "nt" or any((root / p).exists() for p in ("proc/driver/nvidia/version", "dev/nvidia0"))


def gpu_available(root: Path | str = "/") -> bool:
    """True when TensorFlow sees a GPU. Imports TensorFlow, so only asked when backend='auto' needs it."""
    # Importing TensorFlow costs seconds; skip it where no NVIDIA driver exists or TF is not installed.
    if not nvidia_gpu_present(root) or not tensorflow_installed():
        return False
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def gpu_advice(backend: str = "auto", root: Path | str = "/") -> str | None:
    """What to say when an NVIDIA GPU sits idle because TensorFlow is missing (None: nothing to say).

    Only for ``auto``: a user who picked the CPU backend has already chosen.
    """
    if backend != "auto" or tensorflow_installed() or not nvidia_gpu_present(root):
        return None
    return f"an NVIDIA GPU is present but TensorFlow is not installed, so the model runs on the CPU; {GPU_EXTRA} uses the GPU"


def require_tensorflow() -> None:
    """A one-line ModelError instead of an ImportError traceback when the TensorFlow backend is asked for."""
    if not tensorflow_installed():
        raise ModelError(f"the tensorflow backend needs TensorFlow, which is not installed: {GPU_EXTRA}")


class LiteRTBackend:
    """A .tflite model on the CPU through LiteRT's interpreter (XNNPACK delegate, all cores).

    Fully convolutional models accept any input size: one interpreter is kept per input shape, so a
    live stream (one shape) pays allocation once, and alternating shapes do not thrash.
    """

    name = "litert"
    device = "CPU"

    #: Input shapes kept allocated: the first look's, and the closer look's (a person's box: 4 shapes over
    #: the demo clip and the juggler each, 300 frames). With 4 the live pipeline rebuilt an interpreter for
    #: most frames: 1.5 of a core (2026-12-02).
    MAX_SHAPES = 12

    def __init__(self, path: Path, threads: int | None = None, max_shapes: int = MAX_SHAPES):
        from ai_edge_litert.interpreter import Interpreter

        self._path = Path(path)
        self._threads = threads or model_threads()
        self._max_shapes = max_shapes
        # Least recently used first: a lookup moves its shape to the end, eviction takes the front.
        self._interpreters: OrderedDict[tuple[int, ...], object] = OrderedDict()
        self._Interpreter = Interpreter
        probe = open_tflite(self._path, self._threads)
        inputs, outputs = probe.get_input_details(), probe.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0]["shape"]) != 4 or inputs[0]["shape"][3] != 3:
            raise ModelError(f"{self._path}: expected one [1,H,W,3] input and one output, got {inputs} -> {outputs}")
        self.native_shape = tuple(int(v) for v in inputs[0]["shape"][1:3])
        self.dynamic = bool((inputs[0]["shape_signature"][1:3] < 0).any())
        self._interpreters[(1, *self.native_shape, 3)] = probe
        with native_stderr_silenced():  # the delegate is made (and announced) here
            probe.allocate_tensors()
        self._static = static_variants(self._path)

    def _interpreter(self, shape: tuple[int, ...]):
        it = self._interpreters.get(shape)
        if it is not None:
            self._interpreters.move_to_end(shape)
        else:
            if len(self._interpreters) >= self._max_shapes:
                self._interpreters.popitem(last=False)
            static = self._static.get(shape[1:3])
            it = self._Interpreter(model_path=str(static or self._path), num_threads=self._threads)
            if static is None:
                it.resize_tensor_input(it.get_input_details()[0]["index"], list(shape), strict=False)
            with native_stderr_silenced():
                it.allocate_tensors()
            self._interpreters[shape] = it
        return it

    def predict(self, batch: np.ndarray) -> np.ndarray:
        out = []
        for frame in batch:  # XNNPACK gains nothing from batching on 2 cores; one shape, one interpreter
            it = self._interpreter((1, *frame.shape))
            it.set_tensor(it.get_input_details()[0]["index"], frame[None])
            it.invoke()
            y = it.get_tensor(it.get_output_details()[0]["index"])
            out.append(y.reshape(y.shape[1], y.shape[2]))
        return np.stack(out)


def open_tflite(path: Path, threads: int):
    """LiteRT's interpreter for the .tflite file ``path`` (not yet allocated); ModelError when it is not one."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        return Interpreter(model_path=str(path), num_threads=threads)
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"{path}: not a valid TFLite model ({exc})") from exc


@contextmanager
def native_stderr_silenced():
    """LiteRT's C++ runtime writes "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." straight to
    file descriptor 2 on every run, before any error of ours (no Python switch turns it off): point
    fd 2 at /dev/null while an interpreter is made. A failure still surfaces as the exception."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no fd 2 (a GUI app on Windows): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def static_variants(path: Path) -> dict[tuple[int, int], Path]:
    """Fixed-shape copies the exporter writes beside a dynamic model: ``<name>.<H>x<W>.tflite``.

    A dynamic graph computes its upsampling sizes at run time, which XNNPACK cannot take, so it runs
    in five delegate partitions; the fixed-shape copy is one partition (1.62 -> ~1.4 ms at 144x256).
    """
    out = {}
    for p in path.parent.glob(f"{path.stem}.*x*.tflite"):
        h, _, w = p.name[len(path.stem) + 1:-len(".tflite")].partition("x")
        if h.isdigit() and w.isdigit():
            out[(int(h), int(w))] = p
    return out


class TensorFlowBackend:
    """A .keras model through TensorFlow, compiled once per input shape with tf.function (GPU when present)."""

    name = "tensorflow"

    def __init__(self, path: Path):
        require_tensorflow()
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras
        import tensorflow as tf

        from . import architectures  # noqa: F401  registers the custom layers for loading

        try:
            self._model = keras.models.load_model(path, compile=False)
        except Exception as exc:  # keras raises many types for a bad archive
            raise ModelError(f"{path}: not a loadable Keras model ({type(exc).__name__}: {exc})") from exc
        self.device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
        shape = self._model.input_shape
        self.native_shape = tuple(shape[1:3])
        self.dynamic = shape[1] is None
        self._fn = tf.function(lambda x: self._model(x, training=False), reduce_retracing=True)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        y = self._fn(batch).numpy()
        return y[..., 0].astype(np.float32, copy=False)
