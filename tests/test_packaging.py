"""The lean install: the app runs on a CPU without TensorFlow, says how to get the GPU path, and its
wheel installs and runs from a clean virtual environment."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from personseg_live import cli
from personseg_live.model import backends
from personseg_live.model.backends import GPU_EXTRA, ModelError
from videos import probe, write_video

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter where importing TensorFlow or Keras fails, as on a lean install: any
# import of them on the CPU path raises, and the TensorFlow backend must explain itself in one line.
WITHOUT_TENSORFLOW = r"""
import sys
sys.modules["tensorflow"] = None
sys.modules["keras"] = None
import numpy as np
from personseg_live import Segmenter
from personseg_live import cli, doctor, offline, pipeline  # noqa: F401  everything the CPU path imports
from personseg_live.gui import app, main_window  # noqa: F401
seg = Segmenter()
assert seg.backend == "litert", seg
assert seg(np.zeros((72, 128, 3), np.uint8)).shape == (72, 128)
sys.exit(cli.main(sys.argv[1:]))
"""


def run_without_tensorflow(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_TENSORFLOW, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def no_tensorflow(monkeypatch):
    """This process as if TensorFlow were not installed (importlib finds no spec for a None entry)."""
    monkeypatch.setitem(sys.modules, "tensorflow", None)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("pack") / "clip.mp4", frames=10)


def fake_root(tmp_path: Path, nvidia: bool) -> Path:
    if nvidia:
        (tmp_path / "proc/driver/nvidia").mkdir(parents=True)
        (tmp_path / "proc/driver/nvidia/version").write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module 550.54\n")
    return tmp_path


def test_cpu_path_runs_without_tensorflow(tmp_path, clip):
    out = tmp_path / "out.mp4"
    done = run_without_tensorflow("process", str(clip), str(out), "--quiet", "--background", "none")
    assert done.returncode == 0, done.stderr
    assert probe(out)["frames"] == 10


def test_tensorflow_backend_without_tensorflow_is_one_clear_line(tmp_path, clip):
    done = run_without_tensorflow("process", str(clip), str(tmp_path / "o.mp4"), "--backend", "tensorflow", "--quiet")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert errors == [f"personseg-live: error: the tensorflow backend needs TensorFlow, which is not installed: {GPU_EXTRA}"]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "o.mp4").exists()


def test_segmenter_names_the_extra_before_the_model_lookup(no_tensorflow):
    from personseg_live import Segmenter

    with pytest.raises(ModelError, match=r'pip install "personseg-live\[gpu\]"'):
        Segmenter(model="no-such-model", backend="tensorflow")


def test_gpu_advice_only_where_a_gpu_waits_for_tensorflow(tmp_path, no_tensorflow):
    gpu = fake_root(tmp_path / "gpu", nvidia=True)
    plain = fake_root(tmp_path / "plain", nvidia=False)
    advice = backends.gpu_advice("auto", gpu)
    assert advice and GPU_EXTRA in advice and "CPU" in advice
    assert backends.gpu_advice("auto", plain) is None  # no NVIDIA driver: nothing to gain
    assert backends.gpu_advice("litert", gpu) is None  # the user chose the CPU


def test_gpu_advice_silent_when_tensorflow_is_installed(tmp_path):
    pytest.importorskip("tensorflow")
    assert backends.gpu_advice("auto", fake_root(tmp_path, nvidia=True)) is None


def test_command_line_says_it_once(tmp_path, capsys, monkeypatch, no_tensorflow, clip):
    gpu = fake_root(tmp_path, nvidia=True)
    real = backends.nvidia_gpu_present
    monkeypatch.setattr(backends, "nvidia_gpu_present", lambda root="/": real(gpu))
    code = cli.main(["process", str(clip), str(tmp_path / "o.mp4"), "--quiet", "--background", "none"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.count(GPU_EXTRA) == 1, err
    assert err.startswith("personseg-live: note: an NVIDIA GPU is present"), err


GUI_FROM_THE_WHEEL = r"""
import argparse, sys
from pathlib import Path
import personseg_live
assert "site-packages" in personseg_live.__file__, personseg_live.__file__  # the wheel, not the checkout
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from personseg_live.gui.app import create_window
app = QApplication([])
window = create_window(argparse.Namespace(source="demo", background=None, model=None), settings_path=Path(sys.argv[1]))
window.first_frame.connect(lambda: (print("first frame", flush=True), window.close(), app.quit()))
QTimer.singleShot(90_000, lambda: app.exit(3))
window.show()
sys.exit(app.exec())
"""


@pytest.mark.slow
def test_wheel_installs_and_runs_in_a_clean_venv(tmp_path, clip):
    """``python -m build``, then the wheel alone in a new virtual environment (pip's cache may serve
    the dependencies): --version, process, and the window offscreen, all from the installed files."""
    def sh(*cmd, **kw):
        done = subprocess.run([str(c) for c in cmd], cwd=tmp_path, capture_output=True, text=True, timeout=300, **kw)
        assert done.returncode == 0, f"{cmd}: {done.stdout[-2000:]}{done.stderr[-4000:]}"
        return done.stdout

    sh(sys.executable, "-m", "build", "--outdir", tmp_path / "dist", ROOT)
    [wheel] = (tmp_path / "dist").glob("personseg_live-*.whl")
    # pyproject lists the packages by name: a new subpackage left off the list is missing from the wheel.
    shipped = set(zipfile.ZipFile(wheel).namelist())
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "personseg_live").rglob("*.py") if "__pycache__" not in p.parts}
    assert sources <= shipped, f"not in the wheel (add the package to pyproject.toml): {sorted(sources - shipped)}"
    assert {f"personseg_live/assets/models/{f}" for f in ("default.tflite", "default.json", "default.closer.tflite",
                                                           "default.closer.json")} <= shipped
    sh(sys.executable, "-m", "venv", tmp_path / "venv")
    bin_ = tmp_path / "venv" / "bin"
    sh(bin_ / "pip", "install", "-q", wheel)
    assert sh(bin_ / "personseg-live", "--version").strip().startswith("personseg-live ")
    sh(bin_ / "python", "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('tensorflow') is not None)")
    sh(bin_ / "personseg-live", "process", clip, tmp_path / "out.mp4", "--quiet", "--background", "none")
    assert probe(tmp_path / "out.mp4")["frames"] == 10
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    out = sh(bin_ / "python", "-c", GUI_FROM_THE_WHEEL, tmp_path / "settings.json", env=dict(env, QT_QPA_PLATFORM="offscreen"))
    assert "first frame" in out
