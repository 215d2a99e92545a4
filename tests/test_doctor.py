"""``personseg-live doctor`` on fake /dev, /sys and /proc trees: each way the virtual camera and the
camera go wrong in users' hands, reproduced without the hardware."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from personseg_live import cli, doctor
from personseg_live.doctor import Check, Machine, check_disk, format_report, probe_qt, run_checks
from personseg_live.model.backends import GPU_EXTRA
from personseg_live.v4l2 import Mode, modes, summary
from personseg_live.video.sinks import VCAM_MODPROBE

WEBCAM_MODES = [Mode("MJPG", 1280, 720, 30.0), Mode("MJPG", 640, 480, 30.0), Mode("YUYV", 1280, 720, 10.0)]


def fake_machine(
    tmp_path: Path,
    *,
    cameras: dict[str, str] | None = None,
    loopback: dict[str, str] | None = None,
    module: bool = True,
    exclusive_caps: str | None = "Y,N,N,N,N,N,N,N",
    held: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> Machine:
    """A machine below ``tmp_path/root``: video nodes in dev/ and sys/, the module's parameters, and
    processes in proc/ whose fd links point at devices (``held``: node -> program name)."""
    root = tmp_path / "root"
    cameras = {"video0": "HD Webcam", "video1": "HD Webcam"} if cameras is None else cameras
    loopback = {"video10": "personseg-live"} if loopback is None else loopback
    (root / "dev").mkdir(parents=True)
    for node, name in {**cameras, **loopback}.items():
        (root / "dev" / node).touch()
        (root / "sys/class/video4linux" / node).mkdir(parents=True)
        (root / "sys/class/video4linux" / node / "name").write_text(name + "\n")
    for node, name in loopback.items():
        (root / "sys/devices/virtual/video4linux" / node).mkdir(parents=True)
        (root / "sys/devices/virtual/video4linux" / node / "name").write_text(name + "\n")
    if module:
        (root / "sys/module/v4l2loopback/parameters").mkdir(parents=True)
        if exclusive_caps is not None:
            (root / "sys/module/v4l2loopback/parameters/exclusive_caps").write_text(exclusive_caps + "\n")
    (root / "proc").mkdir()
    for pid, (node, program) in enumerate((held or {}).items(), start=4242):
        (root / "proc" / str(pid) / "fd").mkdir(parents=True)
        (root / "proc" / str(pid) / "comm").write_text(program + "\n")
        (root / "proc" / str(pid) / "fd" / "0").symlink_to("/dev/null")
        (root / "proc" / str(pid) / "fd" / "7").symlink_to(root / "dev" / node)
    return Machine(root=root, env=env if env is not None else {"DISPLAY": ":0"}, platform="linux")


def fake_modes(node: Path) -> list[Mode]:
    if node.name == "video0":
        return WEBCAM_MODES
    if node.name.startswith("video1") and len(node.name) == 7:  # video10..: loopback devices, fed by a writer
        return [Mode("YU12", 1280, 720, 30.0)]
    return []  # video1: the webcam's metadata node


def qt_ok(env):
    return True, "xcb"


def checks_of(machine: Machine, tmp_path: Path, **kw) -> list[Check]:
    kw.setdefault("settings_file", tmp_path / "config" / "settings.json")
    kw.setdefault("recordings", tmp_path)
    return run_checks(machine, modes=fake_modes, qt=kw.pop("qt", qt_ok), **kw)


def failed(checks: list[Check]) -> list[Check]:
    return [c for c in checks if not c.ok and c.name != "disk"]  # free space is the real disk's


def test_a_ready_machine_passes_every_check(tmp_path):
    checks = checks_of(fake_machine(tmp_path), tmp_path)
    assert failed(checks) == []
    names = [c.name for c in checks]
    assert names == ["camera", "virtual camera", "exclusive_caps", "display", "GPU", "model", "settings", "disk"]
    camera = checks[0].detail
    assert "video0" in camera and "HD Webcam" in camera and "MJPG 1280x720@30" in camera and "YUYV 1280x720@10" in camera
    assert "video1" not in camera  # the metadata node offers no picture
    assert "video10" in checks[1].detail and "personseg-live" in checks[1].detail  # ours: not listed as a camera


def test_module_not_loaded(tmp_path):
    checks = checks_of(fake_machine(tmp_path, loopback={}, module=False), tmp_path)
    [problem] = failed(checks)
    assert problem.name == "virtual camera" and "not loaded" in problem.detail
    assert VCAM_MODPROBE in problem.fix
    assert doctor.exit_code(checks) == 1


def test_module_loaded_without_devices(tmp_path):
    [problem] = failed(checks_of(fake_machine(tmp_path, loopback={}), tmp_path))
    assert "made no device" in problem.detail and "modprobe -r v4l2loopback" in problem.fix


def test_exclusive_caps_off(tmp_path):
    [problem] = failed(checks_of(fake_machine(tmp_path, exclusive_caps="N,N,N"), tmp_path))
    assert problem.name == "exclusive_caps" and "Chrome" in problem.detail
    assert "exclusive_caps=1" in problem.fix


def test_exclusive_caps_checked_per_device(tmp_path):
    machine = fake_machine(tmp_path, loopback={"video10": "personseg-live", "video11": "OBS Cam"}, exclusive_caps="Y,N")
    [problem] = failed(checks_of(machine, tmp_path))
    assert problem.name == "exclusive_caps"


def test_device_held_by_another_program(tmp_path):
    machine = fake_machine(tmp_path, held={"video10": "obs", "video0": "firefox"})
    problems = failed(checks_of(machine, tmp_path))
    assert [p.name for p in problems] == ["camera", "virtual camera"]
    assert "firefox (pid" in problems[0].detail and "close" in problems[0].fix
    assert "obs (pid" in problems[1].detail and str(machine.root / "dev/video10") in problems[1].detail


def test_no_camera(tmp_path):
    [problem] = failed(checks_of(fake_machine(tmp_path, cameras={"video1": "metadata only"}), tmp_path))
    assert problem.name == "camera" and "no camera" in problem.detail


@pytest.mark.skipif(os.geteuid() == 0, reason="root may open any device whatever its mode")
def test_device_without_permission(tmp_path):
    machine = fake_machine(tmp_path)
    (machine.root / "dev/video10").chmod(0o400)
    [problem] = failed(checks_of(machine, tmp_path))
    assert "no permission" in problem.detail and "usermod -aG video" in problem.fix


def test_no_display(tmp_path):
    [problem] = failed(checks_of(fake_machine(tmp_path, env={}), tmp_path))
    assert problem.name == "display" and "xvfb-run" in problem.fix


def test_qt_that_cannot_start(tmp_path):
    def broken(env):
        return False, 'Could not load the Qt platform plugin "xcb"'

    [problem] = failed(checks_of(fake_machine(tmp_path), tmp_path, qt=broken))
    assert 'plugin "xcb"' in problem.detail and "libxcb-cursor0" in problem.fix


def test_qt_failure_names_the_missing_library_and_the_fix_follows_the_cause():
    """Qt's own last words blamed libxcb-cursor0 or listed the plugins; with QT_DEBUG_PLUGINS it names the library."""
    from personseg_live.doctor import QT_DISPLAY_FIX, QT_LIBS_FIX, qt_failure, qt_fix

    missing = ('qt.core.library: "/x/PySide6/Qt/plugins/platforms/libqxcb.so" cannot load: Cannot load library '
               '/x/libqxcb.so: libxcb-icccm.so.4: cannot open shared object file: No such file or directory\n'
               "qt.qpa.plugin: From 6.5.0, xcb-cursor0 or libxcb-cursor0 is needed to load the Qt xcb platform plugin.\n"
               "Available platform plugins are: minimal, offscreen, xcb.\n")
    assert qt_failure(missing) == "the library libxcb-icccm.so.4 is missing" and qt_fix(qt_failure(missing)) == QT_LIBS_FIX
    stale = "qt.qpa.xcb: could not connect to display :77\nqt.qpa.plugin: Could not load the Qt platform plugin \"xcb\"\n"
    assert qt_failure(stale) == "could not connect to display :77" and qt_fix(qt_failure(stale)) == QT_DISPLAY_FIX
    assert "libxcb-icccm4" in QT_LIBS_FIX and "libxcb-cursor0" in QT_LIBS_FIX


def test_probe_qt_starts_a_real_qt(tmp_path):
    assert probe_qt(dict(os.environ, QT_QPA_PLATFORM="offscreen")) == (True, "offscreen")
    ok, said = probe_qt(dict(os.environ, QT_QPA_PLATFORM="no-such-platform"))
    assert not ok and said


def test_gpu_without_tensorflow(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # as on a lean install
    machine = fake_machine(tmp_path)
    (machine.root / "proc/driver/nvidia").mkdir(parents=True)
    (machine.root / "proc/driver/nvidia/version").write_text("NVRM version: 550.54\n")
    [problem] = failed(checks_of(machine, tmp_path))
    assert problem.name == "GPU" and problem.fix == GPU_EXTRA


def test_settings_file_and_the_model_it_names(tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text('{"model": "gone-model"}')
    [problem] = failed(checks_of(fake_machine(tmp_path), tmp_path, settings_file=settings))
    assert problem.name == "model" and "gone-model" in problem.detail and "Model panel" in problem.fix
    settings.write_text("{not json")
    [problem] = failed(checks_of(fake_machine(tmp_path / "again"), tmp_path, settings_file=settings))
    assert problem.name == "settings" and "not valid JSON" in problem.detail and str(settings) in problem.fix


def test_disk_space(tmp_path):
    assert check_disk(tmp_path, min_free=0).ok
    low = check_disk(tmp_path, min_free=1 << 60)
    assert not low.ok and "GB free" in low.detail and "--output" in low.fix
    assert not check_disk(tmp_path / "missing").ok


def test_report_is_one_line_per_check_with_the_fix_on_failures():
    checks = [Check("camera", True, "camera /dev/video0"), Check("display", False, "no display", "use xvfb-run")]
    lines = format_report(checks).splitlines()
    assert lines == [
        "ok    camera: camera /dev/video0",
        "FAIL  display: no display — fix: use xvfb-run",
        "1 problem found",
    ]


def test_command_exit_status_matches_the_report(tmp_path, capsys):
    code = cli.main(["--settings", str(tmp_path / "settings.json"), "doctor"])
    out = capsys.readouterr().out.splitlines()
    assert out and all(line.startswith(("ok    ", "FAIL  ")) for line in out[:-1])
    assert code == (1 if any(line.startswith("FAIL") for line in out) else 0)
    assert out[-1] == "everything the app offers works here" if code == 0 else out[-1].endswith("found")


def test_v4l2_modes_of_a_non_camera():
    assert modes("/dev/null") == [] and modes("/nonexistent/video0") == []
    assert summary(WEBCAM_MODES) == "MJPG 1280x720@30 640x480@30; YUYV 1280x720@10"


def test_a_model_whose_closer_look_twin_is_missing(tmp_path):
    """A model whose metadata names closer-look weights that are not beside it fails its check, with the file named."""
    import json
    import shutil

    from personseg_live import assets
    from personseg_live.doctor import check_models

    shutil.copy(assets.models_dir() / "default.tflite", tmp_path / "mine.tflite")
    meta = json.loads((assets.models_dir() / "default.json").read_text())
    (tmp_path / "mine.json").write_text(json.dumps({**meta, "name": "mine", "closer_look": "mine.closer"}))
    shipped, mine = check_models(str(tmp_path / "mine.tflite"))
    assert shipped.ok and not mine.ok
    assert "mine.closer.tflite are missing" in mine.detail and "Model panel" in mine.fix
    shutil.copy(assets.models_dir() / "default.tflite", tmp_path / "mine.closer.tflite")
    (tmp_path / "mine.closer.json").write_text(json.dumps({**meta, "name": "mine.closer"}))
    assert all(c.ok for c in check_models(str(tmp_path / "mine.tflite")))
