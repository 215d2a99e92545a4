"""The oldest releases pyproject.toml admits run the app. A user whose environment already holds older packages keeps
them when pip installs us, so a floor is a promise: av>=12 and PySide6>=6.6 were not kept (files stopped at the first
frame on av < 17, the window crashed on SIGTERM below PySide6 6.8.2), nor OpenCV>=4.9 (the app stopped at start).

Every floor is installed, real, from the package index into a folder put before the suite's own newer packages; the
test is skipped (saying why) where the index cannot be reached.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from videos import holds_open, probe, write_video

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
#: requires-python's lower end: the Python every floor must install on.
OLDEST_PYTHON = tuple(int(p) for p in re.fullmatch(r">=\s*(\d+)\.(\d+)", PROJECT["requires-python"]).groups())


def floors() -> dict[str, str]:
    """name -> the version after ``>=`` in pyproject's dependencies (each must have one)."""
    found = {}
    for dep in PROJECT["dependencies"]:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9.]*)\s*(?:,.*)?", dep.strip())
        assert m, f"{dep}: give the oldest release the app runs on (>=X.Y.Z)"
        found[m.group(1)] = m.group(2)
    return found


@pytest.fixture(scope="module")
def oldest(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    pinned = floors()
    wanted = [f"{name}=={version}" for name, version in pinned.items()]
    wanted.append(f"shiboken6=={pinned['PySide6-Essentials']}")  # PySide6's binding library: always the same version
    target = tmp_path_factory.mktemp("oldest")
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--only-binary=:all:",
                          "--target", str(target), *wanted], capture_output=True, text=True, timeout=900)
    if pip.returncode != 0:
        said = f"cannot install {' '.join(wanted)}: {pip.stderr.strip()[-400:]}"
        if re.search(r"NewConnectionError|Temporary failure in name resolution|Network is unreachable|ConnectTimeout|"
                     r"ProxyError|SSLError", pip.stderr):
            pytest.skip(said)
        if sys.version_info[:2] > OLDEST_PYTHON:
            # A newer Python has wheels of newer releases only (NumPy 1.26 has none for 3.13): there a floor is moot.
            pytest.skip(f"the floors are releases for Python {'.'.join(map(str, OLDEST_PYTHON))}: {said}")
        pytest.fail(said)  # the floor names no release (">=4.9" where the releases are 4.9.0.80, ...)
    return target, pinned


def release(version: str) -> tuple[int, ...]:
    """'6.6' and '6.6.0' are one release; OpenCV's module says '4.10.0' for the wheel '4.10.0.84'."""
    parts = [int(p) for p in version.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def env_with(target: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(target), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "3",
            "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}


FILES_SCRIPT = r"""
import sys, av, cv2
import numpy
print("versions", cv2.__version__, av.__version__, numpy.__version__, flush=True)
from personseg_live.cli import main
from personseg_live.video.sources import _open_capture
clip, out = sys.argv[1:3]
code = main(["process", clip, out, "--background", "color:white", "--quiet"])
_open_capture(clip).release()  # the camera path's quiet opening
sys.exit(code)
"""


def test_a_file_with_sound_processes_on_the_oldest_releases(oldest, tmp_path):
    target, pinned = oldest
    clip = write_video(tmp_path / "talk.mp4", frames=8, audio=True)
    out = tmp_path / "talk-white.mp4"
    proc = subprocess.run([sys.executable, "-c", FILES_SCRIPT, str(clip), str(out)], capture_output=True, text=True,
                          env=env_with(target), timeout=300)
    assert proc.returncode == 0, proc.stdout[-1000:] + proc.stderr[-3000:]
    # The floors themselves ran, not the suite's newer packages (OpenCV says 4.10.0 for the wheel 4.10.0.84).
    cv_version, av_version, np_version = proc.stdout.split()[1:4]
    opencv = ".".join(pinned["opencv-contrib-python-headless"].split(".")[:3])
    assert release(opencv) == release(cv_version), proc.stdout
    assert release(av_version) == release(pinned["av"]) and release(np_version) == release(pinned["numpy"]), proc.stdout
    got = probe(out)
    assert got["frames"] == 8 and len(got["audio_tracks"]) == 1, got


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc to see the app start")
def test_the_window_closes_on_sigterm_on_the_oldest_releases(oldest, tmp_path):
    """Below PySide6 6.8.2 the window closed by SIGTERM (a logout) died of SIGSEGV while Python collected it."""
    target, pinned = oldest
    clip = write_video(tmp_path / "talk.mp4", frames=60)
    settings = tmp_path / "settings.json"
    proc = subprocess.Popen([sys.executable, "-c", "import PySide6, sys; print('qt', PySide6.__version__, 'qt', flush=True); "
                             "from personseg_live.cli import main; sys.exit(main())", "--source", str(clip),
                             "--settings", str(settings)],
                            env=env_with(target), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not holds_open(proc.pid, clip) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert holds_open(proc.pid, clip), "the app did not open the clip"
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = proc.stdout.read()
    qt = re.search(r"qt (\S+) qt", output)
    assert qt and release(qt.group(1)) == release(pinned["PySide6-Essentials"]), output[-2000:]  # the floor's Qt ran
    assert code == 128 + signal.SIGTERM, output[-2000:]
    assert settings.exists()
