"""Settings: defaults, round trip, and a bad file that degrades to defaults with warnings."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

from personseg_live.settings import (
    BackgroundSettings,
    MatteSettings,
    Settings,
    SourceSettings,
    keep_copy,
    load_settings,
    save_settings,
    is_camera_spec,
    remembered,
    settings_path,
    validate,
)


def test_defaults_documented_values():
    s = Settings()
    assert s.matte == MatteSettings(threshold=0.5, softness=0.15, smoothing=0.6, feather=2, refine=True)
    assert s.background.mode == "blur" and s.background.blur_strength == 25 and s.background.color == "#00B140"
    assert s.source.spec is None and (s.source.width, s.source.height, s.source.fps) == (1280, 720, 30)
    assert s.vcam.enabled is False and s.model == "default" and s.backend == "auto"
    assert validate(s) == []


def test_settings_path_is_in_user_config():
    p = settings_path()
    assert p.name == "settings.json" and "personseg-live" in str(p)


def test_round_trip(tmp_path):
    path = tmp_path / "sub" / "settings.json"
    s = Settings(
        source=SourceSettings(spec="2", width=640, height=480, fps=15, mjpg=False, mirror=True),
        matte=MatteSettings(threshold=0.4, softness=0.2, smoothing=0.3, feather=5, refine=False),
        background=BackgroundSettings(mode="image", blur_strength=60, path="/tmp/x.jpg", color="#112233"),
        model="other",
        backend="litert",
    )
    save_settings(s, path)
    loaded, warnings = load_settings(path)
    assert warnings == []
    assert loaded == s
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # no temp file left behind


def test_missing_file_gives_defaults_without_warning(tmp_path):
    s, warnings = load_settings(tmp_path / "nope.json")
    assert s == Settings() and warnings == []


def test_corrupt_json_gives_defaults_and_warning(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    s, warnings = load_settings(path)
    assert s == Settings()
    assert len(warnings) == 1 and "not valid JSON" in warnings[0]


def test_a_non_utf8_byte_gives_defaults_and_a_warning(tmp_path):
    """An editor's Latin-1 save ('caf\xe9' in a path) is a bad file, not a crash at start-up or in doctor."""
    path = tmp_path / "settings.json"
    path.write_bytes(b'{"background": {"mode": "image", "path": "/home/me/caf\xe9.jpg"}}')
    s, warnings = load_settings(path)
    assert s == Settings()
    assert len(warnings) == 1 and "not UTF-8" in warnings[0] and str(path) in warnings[0]


def test_keep_copy_never_replaces_an_earlier_copy(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{first")
    assert keep_copy(path) == tmp_path / "settings.broken.json"
    path.write_text("{second")
    assert keep_copy(path) == tmp_path / "settings.broken-2.json"
    assert (tmp_path / "settings.broken.json").read_text() == "{first"
    assert (tmp_path / "settings.broken-2.json").read_text() == "{second"
    assert keep_copy(tmp_path / "absent.json") is None


def test_bad_parts_fall_back_individually(tmp_path):
    path = tmp_path / "settings.json"
    data = asdict(replace(Settings(), model="keep-me"))
    data["matte"]["threshold"] = 7.0  # out of range
    data["matte"]["feather"] = "wide"  # wrong type
    data["matte"]["smoothing"] = 0.25  # fine
    data["background"]["mode"] = "sparkles"
    data["background"]["color"] = "green"
    data["source"] = [1, 2]  # wrong shape
    data["vcam"]["enabled"] = 1  # not a bool
    data["extra"] = True
    path.write_text(json.dumps(data))
    s, warnings = load_settings(path)
    assert s.model == "keep-me"
    assert s.matte.threshold == 0.5 and s.matte.feather == 2 and s.matte.smoothing == 0.25
    assert s.background.mode == "blur" and s.background.color == "#00B140"
    assert s.source == SourceSettings() and s.vcam.enabled is False
    text = "\n".join(warnings)
    for key in ("matte.threshold", "matte.feather", "background.mode", "background.color", "settings.source", "vcam.enabled", "extra"):
        assert key in text, key
    assert len(warnings) == 7


def test_ints_accepted_for_floats(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"matte": {"threshold": 1, "softness": 0}}))
    s, warnings = load_settings(path)
    assert warnings == [] and s.matte.threshold == 1.0 and isinstance(s.matte.threshold, float)


def test_non_object_top_level(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("[]")
    s, warnings = load_settings(path)
    assert s == Settings() and len(warnings) == 1


def test_transient_states_are_not_remembered():
    """Before/after and a played video file belong to one session; the camera is remembered."""
    session = Settings(source=SourceSettings(spec="/videos/juggle.mp4", mirror=True), show_original=True)
    kept = remembered(session, camera="2")
    assert kept.show_original is False
    assert kept.source.spec == "2" and kept.source.mirror  # the camera used before, and the user's mirror
    assert remembered(session).source.spec is None  # no camera before: the first camera next time
    assert remembered(replace(session, source=SourceSettings(spec="demo"))).source.spec is None
    assert remembered(replace(session, source=SourceSettings(spec="1"))).source.spec == "1"
    assert [is_camera_spec(s) for s in (None, "0", " 3", "/dev/video2", "demo", "a.mp4")] == [True] * 4 + [False] * 2


def test_an_old_file_with_transient_states_loads_without_them(tmp_path):
    path = tmp_path / "settings.json"
    data = asdict(Settings(source=SourceSettings(spec="/videos/juggle.mp4"), show_original=True))
    path.write_text(json.dumps(data))
    s, warnings = load_settings(path)
    assert warnings == []
    assert s.show_original is False and s.source.spec is None


def test_the_room_is_not_learned_by_itself_unless_asked():
    """Issue 13: learning the room by itself stays off until it reaches its bar (it costs ~2 ms a frame);
    a fresh install runs the model alone until the user captures the room."""
    from personseg_live.room.live import cue_for_source

    settings = Settings()
    assert settings.room.auto_learn is False
    assert cue_for_source("0", auto_learn=settings.room.auto_learn, is_camera=False) is None
