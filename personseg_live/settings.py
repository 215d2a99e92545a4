"""Every user setting as one typed dataclass tree; load/save as JSON with validation.

    settings, warnings = load_settings()      # a bad file never raises: defaults + a warning per problem
    save_settings(settings)                   # atomic: a crash mid-write leaves the old file intact

Each field carries its allowed range or choices in ``metadata`` so the loader validates from the
same place the defaults are declared (one source of truth for the GUI's slider limits too).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from platformdirs import user_config_dir

from .atomic import first_free, write_atomically

APP_NAME = "personseg-live"
BACKGROUND_MODES = ("blur", "image", "video", "color", "none", "transparent")
BACKENDS = ("auto", "litert", "tensorflow")
VCAM_FALLBACKS = ("blur", "color")  # need no file: they always work
_COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")


def _range(lo: float, hi: float, doc: str = "") -> dict:
    return {"range": (lo, hi), "doc": doc}


@dataclass
class MatteSettings:
    """How the model's probability becomes the alpha matte."""

    threshold: float = field(default=0.5, metadata=_range(0.0, 1.0, "probability that counts as person"))
    softness: float = field(default=0.15, metadata=_range(0.0, 0.5, "width of the soft ramp around threshold"))
    smoothing: float = field(default=0.6, metadata=_range(0.0, 1.0, "temporal smoothing; 0 = none"))
    feather: int = field(default=2, metadata=_range(0, 20, "edge blur in pixels at frame resolution"))
    refine: bool = field(default=True, metadata={"doc": "place the edge by the frame's colours where the background is replaced (not needed over the blurred room)"})


@dataclass
class BackgroundSettings:
    """What replaces the background."""

    mode: str = field(default="blur", metadata={"choices": BACKGROUND_MODES})
    blur_strength: int = field(default=25, metadata=_range(1, 100, "blur radius-ish, in percent of a strong blur"))
    path: str | None = field(default=None, metadata={"doc": "image or video file for mode image/video"})
    color: str = field(default="#00B140", metadata={"pattern": _COLOR_RE, "doc": "#RRGGBB for mode color"})


@dataclass
class SourceSettings:
    """Where frames come from."""

    spec: str | None = field(default=None, metadata={"doc": 'camera index "0", a file path, or None = first camera else the demo clip'})
    width: int = field(default=1280, metadata=_range(16, 7680))
    height: int = field(default=720, metadata=_range(16, 4320))
    fps: int = field(default=30, metadata=_range(1, 240))
    mjpg: bool = True
    mirror: bool = False
    loop: bool = field(default=True, metadata={"doc": "restart files at their end"})


@dataclass
class RoomSettings:
    """Know the room (issue 13): the empty scene as a matte cue."""

    # Off by default: learned by itself the room recovered 64 % of a captured plate's gain in bench --room
    # (issue 13's bar: 80 % within 10 s; --plate auto's two passes reach 100 %) and it costs ~2.5 ms CPU
    # per 720p frame (0.07 of a core at 30 fps) of a live budget at 0.50-0.53 of a core (2026-12-02).
    # Learn room (L) captures one; a stored plate is used whatever this says.
    auto_learn: bool = field(default=False, metadata={"doc": "learn the empty room from what the model calls background"})


@dataclass
class VcamSettings:
    enabled: bool = False
    device: str | None = None
    # A virtual camera drops alpha (a transparent picture would show the raw room there): what it shows instead.
    transparent_fallback: str = field(default="blur", metadata={"choices": VCAM_FALLBACKS})


@dataclass
class Settings:
    source: SourceSettings = field(default_factory=SourceSettings)
    matte: MatteSettings = field(default_factory=MatteSettings)
    background: BackgroundSettings = field(default_factory=BackgroundSettings)
    vcam: VcamSettings = field(default_factory=VcamSettings)
    room: RoomSettings = field(default_factory=RoomSettings)
    model: str = "default"
    backend: str = field(default="auto", metadata={"choices": BACKENDS})
    # A view of this session only: reopening the app on the raw picture would look like a failure.
    show_original: bool = field(default=False, metadata={"transient": True})


def is_camera_spec(spec: str | None) -> bool:
    """A camera (an index, a device node, or None = the first camera) rather than a file or the demo clip."""
    return spec is None or str(spec).strip().isdigit() or str(spec).startswith("/dev/video")


def remembered(settings: Settings, camera: str | None = None) -> Settings:
    """What of ``settings`` the next launch should start with: transient states (before/after) at
    their defaults, and a video file (or the demo clip) as the source replaced by ``camera`` (the
    last camera used; None: the first one), so that a call never starts on a clip played once."""
    keep = {f.name: f.default for f in fields(Settings) if f.metadata.get("transient")}
    spec = settings.source.spec
    if not is_camera_spec(spec):
        spec = camera if is_camera_spec(camera) else None
    return replace(settings, source=replace(settings.source, spec=spec), **keep)


def settings_path() -> Path:
    return Path(user_config_dir(APP_NAME)) / "settings.json"


def load_settings(path: Path | None = None) -> tuple[Settings, list[str]]:
    """(settings, warnings). Missing file: defaults, no warning. Anything bad: defaults for that part."""
    path = Path(path) if path is not None else settings_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings(), []
    except OSError as exc:
        return Settings(), [f"{path}: cannot read settings ({exc.strerror or exc}); using defaults"]
    try:
        # Bytes, not text: a stray non-UTF-8 byte (an editor's Latin-1 save) is a bad file, not a crash.
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return Settings(), [f"{path}: not UTF-8 text (byte {exc.start}); using defaults"]
    except json.JSONDecodeError as exc:
        return Settings(), [f"{path}: not valid JSON ({exc}); using defaults"]
    warnings: list[str] = []
    # remembered(): a file written by an older version may still hold a clip or before/after.
    settings = remembered(_from_dict(Settings, data, "settings", warnings))
    return settings, [f"{path}: {w}" for w in warnings]


def keep_copy(path: Path) -> Path | None:
    """Copy a settings file that did not load cleanly to ``<stem>.broken.json`` (``-2``, ``-3``, ... when
    taken) before the app writes its defaults over it: what the user had is not lost. None when there is
    no file or it cannot be copied."""
    path = Path(path)
    if not path.is_file():
        return None
    copy = first_free(path.with_name(f"{path.stem}.broken{path.suffix}"))
    try:
        shutil.copy2(path, copy)
    except OSError:
        return None
    return copy


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write JSON to a temporary file beside the target, then rename over it (atomic on one filesystem).

    Callers pass ``remembered(settings, ...)`` when the transient states must not be written."""
    path = Path(path) if path is not None else settings_path()
    write_atomically(path, lambda f: json.dump(asdict(settings), f, indent=2))


def validate(settings: Settings) -> list[str]:
    """Problems in an in-memory Settings (e.g. built from the command line); empty when all is well."""
    warnings: list[str] = []
    _from_dict(Settings, asdict(settings), "settings", warnings)
    return warnings


# --------------------------------------------------------------------------------------------------


def _from_dict(cls: type, data: Any, where: str, warnings: list[str]):
    if not isinstance(data, dict):
        warnings.append(f"{where}: expected an object, got {type(data).__name__}; using defaults")
        return cls()
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            warnings.append(f"{where}.{key}: unknown setting, ignored")
    values = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        default = f.default_factory() if f.default is MISSING else f.default
        value = data[f.name]
        name = f"{where}.{f.name}"
        if is_dataclass(default):
            values[f.name] = _from_dict(type(default), value, name, warnings)
            continue
        problem = _check(f, default, value)
        if problem:
            warnings.append(f"{name}: {problem}; using the default {default!r}")
        else:
            values[f.name] = float(value) if isinstance(default, float) else value
    return cls(**values)


def _check(f, default: Any, value: Any) -> str | None:
    """Why ``value`` is not acceptable for field ``f`` (None when it is)."""
    optional = f.type in ("str | None",) or (default is None)
    if value is None:
        return None if optional else "must not be null"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            return f"expected true/false, got {value!r}"
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected an integer, got {value!r}"
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            return f"expected a number, got {value!r}"
    elif default is None or isinstance(default, str):
        if not isinstance(value, str):
            return f"expected a string, got {value!r}"
    meta = f.metadata
    if "range" in meta:
        lo, hi = meta["range"]
        if not lo <= value <= hi:
            return f"{value!r} is outside {lo}..{hi}"
    if "choices" in meta and value not in meta["choices"]:
        return f"{value!r} is not one of {', '.join(meta['choices'])}"
    if "pattern" in meta and not meta["pattern"].match(value):
        return f"{value!r} is not a #RRGGBB colour"
    return None
