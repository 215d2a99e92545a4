"""Plates kept per camera in the per-user data folder, so a room learned once is there next time.

    save_plate(plate, camera_key("0", (720, 1280)))
    plate = load_plate(camera_key("0", (720, 1280)))   # None when there is none; a corrupt file: None + a warning

Files are written to a temporary name and renamed (a crash never leaves half a plate).
"""

from __future__ import annotations

import logging
import re
import zipfile
from pathlib import Path

import numpy as np
from platformdirs import user_data_dir

from ..atomic import write_atomically
from ..settings import APP_NAME
from .plate import Plate, RoomError

log = logging.getLogger(__name__)


def rooms_dir() -> Path:
    return Path(user_data_dir(APP_NAME)) / "rooms"


def camera_key(spec: str | None, frame_hw: tuple[int, int] | None = None) -> str:
    """A file-name-safe key for one camera (at one size, when given): a plate belongs to the camera that took it."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", str(spec if spec is not None else "default")).strip("_") or "camera"
    return name if frame_hw is None else f"{name}-{frame_hw[1]}x{frame_hw[0]}"


def plate_path(key: str, folder: Path | None = None) -> Path:
    return (folder or rooms_dir()) / f"{key}.npz"


def save_plate(plate: Plate, key: str, folder: Path | None = None) -> Path:
    extra = ({} if plate.known is None else {"known": plate.known}) | ({"learned": np.array(True)} if plate.learned else {})
    return write_atomically(plate_path(key, folder), lambda f: np.savez(
        f, mean=plate.mean, noise=plate.noise, frame_hw=np.array(plate.frame_hw, np.int64), **extra), binary=True)


def load_plate(key: str, folder: Path | None = None) -> Plate | None:
    """The camera's plate, or None (none yet; or a broken file, which is logged and ignored)."""
    path = plate_path(key, folder)
    if not path.exists():
        return None
    try:
        return read_npz(path)
    except RoomError as exc:
        log.warning("%s; ignoring it (learn the room again)", exc)
        return None


def forget_plate(key: str, folder: Path | None = None) -> bool:
    """Remove the camera's plate; True when there was one."""
    path = plate_path(key, folder)
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


def read_npz(path: Path) -> Plate:
    try:
        with np.load(path, allow_pickle=False) as data:
            mean, noise, hw = data["mean"], data["noise"], data["frame_hw"]
            known = data["known"] if "known" in data.files else None
            learned = bool(data["learned"]) if "learned" in data.files else False
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise RoomError(f"cannot read the plate {path}: {exc}") from exc
    ok = (mean.ndim == 3 and mean.shape[2] == 3 and noise.shape == mean.shape[:2] and hw.shape == (2,)
          and np.isfinite(mean).all() and np.isfinite(noise).all()
          and (known is None or (known.shape == noise.shape and known.dtype == bool)))
    if not ok:
        raise RoomError(f"cannot read the plate {path}: not a plate saved by personseg-live")
    return Plate(mean.astype(np.float32), noise.astype(np.float32), (int(hw[0]), int(hw[1])), known, learned)


__all__ = ["camera_key", "forget_plate", "load_plate", "plate_path", "read_npz", "rooms_dir", "save_plate"]
