"""``personseg-live doctor``: can this machine do everything the app offers? One line per check.

    checks = run_checks()               # list[Check]; the GUI's Help menu shows the same list
    print(format_report(checks))
    exit_code = 0 if all(c.ok for c in checks) else 1

Every check reads the machine below one ``root`` (``/`` in use; a fake tree with dev/, sys/ and
proc/ in tests), so the virtual-camera trouble users hit can be reproduced without the hardware.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import v4l2

LOOPBACK_MODULE = "v4l2loopback"
VIDEO_GROUP_FIX = "sudo usermod -aG video $USER, then log out and in again"
#: What Qt's xcb (X11) plugin needs on Debian / Ubuntu (the README's list; a pip-installed PySide6 brings none of it).
QT_XCB_PACKAGES = ("libegl1 libgl1 libfontconfig1 libdbus-1-3 libglib2.0-0 libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1 "
                   "libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render0 "
                   "libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxcb-xkb1")
QT_LIBS_FIX = f"sudo apt-get install {QT_XCB_PACKAGES} (Debian/Ubuntu names)"
QT_DISPLAY_FIX = "check DISPLAY: run it in the desktop session (or ssh -X), or under xvfb-run -a personseg-live"
MIN_FREE_BYTES = 2 << 30  # below this a long recording can fill the disk mid-way


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, what was found, and the fix when ``ok`` is False."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Machine:
    """Where the checks look: the file-system root and the process environment."""

    root: Path = Path("/")
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    platform: str = sys.platform

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    @property
    def linux(self) -> bool:
        return self.platform.startswith("linux")


# Video devices -------------------------------------------------------------------------------------


def _node_name(folder: Path) -> str:
    try:
        return (folder / "name").read_text().strip()
    except OSError:
        return ""


def loopback_devices(m: Machine) -> dict[str, str]:
    """``{"video10": "personseg-live", ...}``: the devices v4l2loopback created (sysfs lists them as virtual)."""
    folder = m.path("sys/devices/virtual/video4linux")
    nodes = sorted(folder.glob("video*"), key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else 1 << 30)
    return {p.name: _node_name(p) for p in nodes}


def holders(m: Machine) -> dict[str, list[str]]:
    """Device path -> ``["obs (pid 4242)", ...]``: the other processes holding it open (from /proc/*/fd)."""
    dev = str(m.path("dev"))
    held: dict[str, list[str]] = {}
    for proc in m.path("proc").glob("[0-9]*"):
        if proc.name == str(os.getpid()):
            continue
        try:
            targets = {os.readlink(fd) for fd in (proc / "fd").iterdir()}
        except OSError:  # gone meanwhile, or another user's process
            continue
        for target in targets:
            if target.startswith(dev + "/video"):
                try:
                    comm = (proc / "comm").read_text().strip()
                except OSError:
                    comm = "?"
                held.setdefault(target, []).append(f"{comm} (pid {proc.name})")
    return held


def check_cameras(m: Machine, modes: Callable[[Path], list[v4l2.Mode]], held: dict[str, list[str]]) -> list[Check]:
    if not m.linux:
        from .video.sources import list_cameras

        found = list_cameras()
        if not found:
            return [Check("camera", False, "no camera opens", "plug a webcam in, and allow camera access in the system settings")]
        return [Check("camera", True, str(cam)) for cam in found]
    virtual = set(loopback_devices(m))
    checks = []
    for sysdir in sorted(m.path("sys/class/video4linux").glob("video*")):
        if sysdir.name in virtual:
            continue
        node = m.path("dev", sysdir.name)
        label = f"camera {node} ({_node_name(sysdir) or 'unnamed'})"
        if not os.access(node, os.R_OK | os.W_OK):
            checks.append(Check("camera", False, f"{label}: no permission to open it", VIDEO_GROUP_FIX))
            continue
        offered = modes(node)
        if not offered:
            continue  # a UVC camera's metadata node: no picture formats
        busy = held.get(str(node))
        if busy:
            checks.append(Check("camera", False, f"{label} is in use by {', '.join(busy)}", "close that program, or pick another camera"))
        else:
            checks.append(Check("camera", True, f"{label}: {v4l2.summary(offered)}"))
    return checks or [Check("camera", False, "no camera found (no /dev/video* capture device)",
                            "plug a webcam in; the demo clip plays until then")]


# The virtual camera ------------------------------------------------------------------------------------


def _exclusive_caps(m: Machine) -> list[str] | None:
    try:
        text = m.path("sys/module", LOOPBACK_MODULE, "parameters/exclusive_caps").read_text().strip()
    except OSError:
        return None  # an old v4l2loopback that does not report it
    return [v.strip() for v in text.split(",")]


def check_virtual_camera(m: Machine, held: dict[str, list[str]]) -> list[Check]:
    from .video.sinks import VCAM_MODPROBE

    if not m.linux:
        return [Check("virtual camera", True, "not checked here: Windows and macOS use OBS Studio's virtual camera")]
    if not m.path("sys/module", LOOPBACK_MODULE).is_dir():
        return [Check("virtual camera", False, f"the {LOOPBACK_MODULE} kernel module is not loaded",
                      f"install v4l2loopback-dkms, then {VCAM_MODPROBE}")]
    devices = loopback_devices(m)
    if not devices:
        return [Check("virtual camera", False, f"{LOOPBACK_MODULE} is loaded but made no device",
                      f"sudo modprobe -r {LOOPBACK_MODULE} && {VCAM_MODPROBE}")]
    checks = [Check("virtual camera", True, "devices " + ", ".join(
        f"{m.path('dev', node)} ({name or 'unnamed'})" for node, name in devices.items()))]
    caps = _exclusive_caps(m)
    if caps is None:
        checks.append(Check("exclusive_caps", True, "not reported by this v4l2loopback version"))
    elif not all(v.upper() in ("Y", "1") for v in caps[:len(devices)]):
        checks.append(Check("exclusive_caps", False, "exclusive_caps is off: Chrome, Zoom and Meet will not list the device",
                            f"sudo modprobe -r {LOOPBACK_MODULE} && {VCAM_MODPROBE}"))
    else:
        checks.append(Check("exclusive_caps", True, "on (browsers and video-call apps list the device)"))
    for node in devices:
        path = m.path("dev", node)
        if not os.access(path, os.W_OK):
            checks.append(Check("virtual camera", False, f"{path}: no permission to write to it", VIDEO_GROUP_FIX))
        elif held.get(str(path)):
            checks.append(Check("virtual camera", False, f"{path} is held open by {', '.join(held[str(path)])}",
                                "close that program (or stop its virtual camera) before sending to this device"))
    return checks


# Display, GPU, files -----------------------------------------------------------------------------------

QT_PROBE = "from PySide6.QtGui import QGuiApplication; app = QGuiApplication([]); print(app.platformName())"


def probe_qt(env: dict[str, str]) -> tuple[bool, str]:
    """Start a Qt application in a child process (a missing platform plugin aborts the process): (True, the
    platform's name) or (False, what stopped it, in a few words)."""
    try:
        # QT_DEBUG_PLUGINS: Qt names the missing library only then (it blames libxcb-cursor0 otherwise).
        done = subprocess.run([sys.executable, "-c", QT_PROBE], env={**env, "QT_DEBUG_PLUGINS": "1"},
                              capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return False, "Qt did not start within 30 s"
    if done.returncode == 0:
        return True, done.stdout.strip().splitlines()[-1]
    return False, qt_failure(done.stderr) or f"exit status {done.returncode}"


def qt_failure(stderr: str) -> str:
    """The line of Qt's start-up output that says why it stopped."""
    missing = re.search(r"(lib[\w.+-]+\.so[.\d]*): cannot open shared object file", stderr)
    if missing:
        return f"the library {missing.group(1)} is missing"
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for key in ("could not connect to display", "Could not load the Qt platform plugin", "no Qt platform plugin"):
        said = next((line for line in lines if key in line), None)
        if said:
            return said.removeprefix("qt.qpa.xcb: ").removeprefix("qt.qpa.plugin: ")
    return lines[-1] if lines else ""


def qt_fix(said: str) -> str:
    """What to do about a Qt that cannot start, by what stopped it."""
    return QT_DISPLAY_FIX if "connect to display" in said else QT_LIBS_FIX


def check_display(m: Machine, qt: Callable[[dict[str, str]], tuple[bool, str]]) -> Check:
    platform = m.env.get("QT_QPA_PLATFORM", "")
    display = m.env.get("WAYLAND_DISPLAY") or m.env.get("DISPLAY")
    if m.linux and not display and not platform.startswith("offscreen"):
        return Check("display", False, "no display (DISPLAY and WAYLAND_DISPLAY are unset): the window cannot open; "
                     "headless --vcam and process still work", "run it in a desktop session, or under xvfb-run -a personseg-live")
    ok, said = qt(m.env)
    where = f"display {display}" if display else f"QT_QPA_PLATFORM={platform}"
    if not ok:
        return Check("display", False, f"{where}: Qt cannot start ({said})", qt_fix(said))
    return Check("display", True, f"{where}, Qt platform {said}")


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_gpu(m: Machine) -> Check:
    from .model import backends

    tf = _version("tensorflow") if backends.tensorflow_installed() else None
    if not backends.nvidia_gpu_present(m.root):
        extra = f"; TensorFlow {tf} installed" if tf else ""
        return Check("GPU", True, f"no NVIDIA GPU: the model runs on the CPU with LiteRT{extra}")
    if tf is None:
        return Check("GPU", False, "NVIDIA GPU found but TensorFlow is not installed: the model runs on the CPU",
                     backends.GPU_EXTRA)
    if not backends.gpu_available(m.root):
        return Check("GPU", False, f"NVIDIA GPU found but TensorFlow {tf} does not see it (CUDA libraries missing?)",
                     backends.GPU_EXTRA)
    return Check("GPU", True, f"NVIDIA GPU with TensorFlow {tf}: the GPU backend is available")


def check_models(model: str) -> list[Check]:
    """The bundled default and the model the settings name load on the CPU backend."""
    from .assets import DEFAULT_MODEL
    from .model.backends import LiteRTBackend, ModelError
    from .model.segmenter import ModelInfo, closer_look_weights, resolve_model

    checks = []
    for name in dict.fromkeys((DEFAULT_MODEL, model)):
        try:
            path = resolve_model(name, "litert")
            LiteRTBackend(path, threads=1)
            closer = closer_look_weights(path, ModelInfo.read(path))
            if closer is not None:
                LiteRTBackend(closer, threads=1)
        except (ModelError, OSError) as exc:
            fix = "reinstall personseg-live" if name == DEFAULT_MODEL else "pick another model in the Model panel"
            checks.append(Check("model", False, f"{name}: {exc}", fix))
        else:
            checks.append(Check("model", True, f"{name}: {path}"))
    return checks


def check_settings(path: Path) -> tuple[Check, str]:
    """The settings file reads cleanly and its folder is writable; also the model it names."""
    from .settings import load_settings

    settings, warnings = load_settings(path)
    if warnings:
        return Check("settings", False, "; ".join(warnings), f"correct or delete {path} (the app uses defaults meanwhile)"), settings.model
    folder = next((p for p in (path.parent, *path.parent.parents) if p.exists()), path.parent)
    if not os.access(folder, os.W_OK):
        return Check("settings", False, f"{folder} is not writable: changes will not be remembered",
                     f"make {path.parent} writable"), settings.model
    said = "read" if path.exists() else "not written yet (defaults)"
    return Check("settings", True, f"{path}: {said}"), settings.model


def check_disk(folder: Path, min_free: int = MIN_FREE_BYTES) -> Check:
    try:
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        return Check("disk", False, f"{folder}: {exc.strerror or exc}", "record into an existing folder (--output)")
    detail = f"{free / (1 << 30):.1f} GB free in {folder} for recordings"
    if free < min_free:
        return Check("disk", False, detail, "free some space, or record elsewhere (--output)")
    return Check("disk", True, detail)


# The report ----------------------------------------------------------------------------------------------


def run_checks(
    machine: Machine | None = None,
    *,
    settings_file: Path | None = None,
    recordings: Path | None = None,
    modes: Callable[[Path], list[v4l2.Mode]] = v4l2.modes,
    qt: Callable[[dict[str, str]], tuple[bool, str]] = probe_qt,
) -> list[Check]:
    """Every check, in the order the report prints them. ``qt`` starts Qt (the GUI passes its own answer)."""
    from .settings import settings_path

    m = machine or Machine()
    held = holders(m) if m.linux else {}
    settings, model = check_settings(Path(settings_file) if settings_file else settings_path())
    return [
        *check_cameras(m, modes, held),
        *check_virtual_camera(m, held),
        check_display(m, qt),
        check_gpu(m),
        *check_models(model),
        settings,
        check_disk(Path(recordings) if recordings else Path.cwd()),
    ]


def format_report(checks: list[Check]) -> str:
    lines = []
    for c in checks:
        line = f"{'ok  ' if c.ok else 'FAIL'}  {c.name}: {c.detail}"
        lines.append(line + (f" — fix: {c.fix}" if not c.ok and c.fix else ""))
    failed = sum(not c.ok for c in checks)
    lines.append("everything the app offers works here" if not failed else f"{failed} problem{'s' * (failed > 1)} found")
    return "\n".join(lines)


def exit_code(checks: list[Check]) -> int:
    """0 when the app can do everything here, 1 otherwise."""
    return 0 if all(c.ok for c in checks) else 1


def main(settings_file: Path | None = None) -> int:
    checks = run_checks(settings_file=settings_file)
    print(format_report(checks))
    return exit_code(checks)
