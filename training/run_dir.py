"""The run folder as the record of a training run: what it was started with, which pairs it validated
on, how far it got and the best score so far, so that ``--resume`` and ``evaluate --run`` need nothing
but the folder.

    config.json   the run's settings (TrainConfig), data paths absolute
    command.txt   every command line that started or resumed it, with the settings each resume changed
    split.json    the validation ids per dataset (what ``evaluate --run`` scores)
    log.csv       one row per finished epoch (read back for the best score and the patience left)
    backup/       weights + position (epoch, steps done in it) every N steps and every epoch
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

#: Settings a resumed run may change (recorded in command.txt): more epochs, more patience, more devices.
CHANGEABLE_ON_RESUME = ("epochs", "patience", "strategy", "backup_steps")
#: Set by the code, not by a command line: not compared on resume.
NOT_COMPARED = ("out",)


def absolute_data(text: str, base: Path | None = None) -> str:
    """``PATH[,opts]`` with PATH made absolute (relative to ``base`` or the working directory)."""
    path, sep, opts = text.partition(",")
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = (base or Path.cwd()) / p
    return str(p.resolve()) + sep + opts


def absolute_path(text: str | None) -> str | None:
    return None if text is None else str(Path(text).expanduser().resolve())


def normalised(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings in the form they are recorded and compared: absolute paths, size as a list."""
    out = dict(settings)
    if out.get("data") is not None:
        out["data"] = [absolute_data(d) for d in out["data"]]
    for key in ("init", "backgrounds"):
        if out.get(key) is not None:
            out[key] = absolute_path(out[key])
    if out.get("size") is not None:
        out["size"] = [int(v) for v in out["size"]]
    return out


def read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ValueError(f"{path.parent} holds no run (no config.json)")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable run configuration ({exc})") from exc


def config_settings(config: dict[str, Any], cls) -> dict[str, Any]:
    """The fields of dataclass ``cls`` that ``config`` records (older runs may lack newer ones)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in config.items() if k in names}


def resume_changes(recorded: dict[str, Any], given: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """{name: (recorded, given)} for the settings a resume changes; a clear error for ones it may not.

    ``given`` holds only what the command line named explicitly, so ``--out X --resume`` changes nothing.
    """
    rec, new = normalised(recorded), normalised(given)
    changed = {k: (rec.get(k), v) for k, v in new.items() if k not in NOT_COMPARED and rec.get(k) != v}
    refused = {k: c for k, c in changed.items() if k not in CHANGEABLE_ON_RESUME}
    if refused:
        parts = "; ".join(f"--{k.replace('_', '-')} was {_show(a)}, now {_show(b)}" for k, (a, b) in refused.items())
        raise ValueError(f"--resume continues a run with its own settings, and {parts}. Leave these out "
                         f"(`--out DIR --resume` is enough) or start a new --out; only "
                         f"{', '.join('--' + k for k in CHANGEABLE_ON_RESUME)} may change on resume")
    return changed


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def write_config(run: Path, cfg) -> None:
    _write_atomic(run / "config.json", json.dumps(normalised(asdict(cfg)), indent=2) + "\n")


def append_command(run: Path, command: str, changes: dict[str, tuple[Any, Any]] | None = None) -> None:
    lines = [command]
    if changes:
        lines.append("# resumed with " + ", ".join(f"{k}: {_show(a)} -> {_show(b)}" for k, (a, b) in changes.items()))
    with open(run / "command.txt", "a") as f:
        f.write("\n".join(lines) + "\n")


def write_split(run: Path, val_fraction: float, seed: int, sets: dict[str, dict[str, Any]]) -> None:
    """``sets``: {absolute dataset path: {"split": id|sequence, "train": [ids], "val": [ids]}}."""
    _write_atomic(run / "split.json",
                  json.dumps({"val_fraction": val_fraction, "seed": seed, "sets": sets}, indent=1) + "\n")


def read_split(run: Path) -> dict[str, Any]:
    path = run / "split.json"
    if not path.exists():
        raise ValueError(f"{run} has no split.json (runs trained before it was recorded): pass --data, "
                         f"--seed and --val-fraction as the run was trained instead of --run")
    return json.loads(path.read_text())


def best_so_far(log: Path, monitor: str, before_epoch: int) -> tuple[float | None, int]:
    """(best value of ``monitor`` (higher is better), epochs since it) over the logged epochs < before_epoch."""
    if not log.exists():
        return None, 0
    best, best_epoch, last = None, -1, -1
    with open(log, newline="") as f:
        for row in csv.DictReader(f):
            epoch = int(row["epoch"])
            if epoch >= before_epoch or not row.get(monitor):
                continue
            value = float(row[monitor])
            if math.isfinite(value) and (best is None or value > best):
                best, best_epoch = value, epoch
            last = max(last, epoch)
    return best, (last - best_epoch if best is not None else 0)


def epochs_logged(log: Path) -> int:
    if not log.exists():
        return 0
    with open(log, newline="") as f:
        return len({row["epoch"] for row in csv.DictReader(f)})


def backup_position(backup: Path) -> tuple[int, int] | None:
    """(epoch, steps done in it) of the newest backup, or None. Backups of older runs lack the steps: 0."""
    meta = backup / "training_metadata.json"
    if not meta.exists():
        return None
    d = json.loads(meta.read_text())
    return int(d["epoch"]), int(d.get("steps_done", 0))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
