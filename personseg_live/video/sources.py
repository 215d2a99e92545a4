"""Where frames come from: a camera (by index or device path), a video file, a photo, or the demo clip.

    source = open_source(SourceSettings(spec="0"))     # or a file path, or None
    item = source.read()                               # (frame BGR uint8, time.monotonic()) or None at end
    source.close()

A camera that stops delivering raises ``SourceError`` from ``read()`` (the pipeline reports it and
retries); a file returns ``None`` at its end (or loops). Files are paced at their own frame rate
so they behave like a camera in live mode.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from .. import assets
from ..errors import PersonsegError
from ..log import OPENCV_LOG_SILENT, set_opencv_log_level
from ..settings import SourceSettings


class SourceError(PersonsegError, RuntimeError):
    """A source that cannot be opened or stopped delivering frames."""


@dataclass(frozen=True)
class CameraInfo:
    index: int
    name: str

    def __str__(self) -> str:
        return f"{self.index}: {self.name}"


class Source(Protocol):
    """Documented for typing only; see CameraSource and FileSource."""

    fps: float
    size: tuple[int, int]  # (w, h)
    name: str

    def read(self) -> tuple[np.ndarray, float] | None: ...

    def close(self) -> None: ...


def _capture_api() -> int:
    # The platform's native API: CAP_ANY on Windows picks MSMF, which is slow to open and ignores MJPG.
    if sys.platform.startswith("linux"):
        return cv2.CAP_V4L2
    if sys.platform == "win32":
        return cv2.CAP_DSHOW
    if sys.platform == "darwin":
        return cv2.CAP_AVFOUNDATION
    return cv2.CAP_ANY


def _open_capture(device: int | str) -> cv2.VideoCapture:
    """OpenCV logs two WARN lines for every camera that fails to open; a run waiting for a camera
    retries for hours, so it stays quiet here and the caller raises one clear SourceError instead."""
    level = set_opencv_log_level(OPENCV_LOG_SILENT)
    try:
        return cv2.VideoCapture(device, _capture_api()) if isinstance(device, int) else cv2.VideoCapture(device)
    finally:
        set_opencv_log_level(level)


class CameraSource:
    def __init__(self, device: int | str, settings: SourceSettings):
        self.name = f"camera {device}"
        cap = _open_capture(device)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open {self.name} (missing, busy in another app, or no permission)")
        # FOURCC before the size: many UVC cameras only offer 720p/1080p at 30 FPS as MJPG; as raw
        # YUYV the USB bandwidth caps them at 5-10 FPS.
        if settings.mjpg:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, settings.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, settings.height)
        cap.set(cv2.CAP_PROP_FPS, settings.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # no driver-side backlog: the newest frame, not an old one
        # An unplugged camera should fail a read within 2 s (the default wait is 10 s), so the
        # pipeline reports it promptly and stop() is not held up by a read that never returns.
        cap.set(cv2.CAP_PROP_READ_TIMEOUT_MSEC, 2000)
        self._cap = cap
        ok, frame = cap.read()
        if not ok or frame is None:
            cap.release()
            raise SourceError(f"{self.name} opened but delivers no frames (try another resolution or turn MJPG off)")
        self._first: np.ndarray | None = frame
        self.size = (frame.shape[1], frame.shape[0])
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or settings.fps) or float(settings.fps)
        self.name = f"{self.name} ({self.size[0]}x{self.size[1]} @ {self.fps:.0f} fps)"

    def read(self) -> tuple[np.ndarray, float] | None:
        if self._first is not None:
            frame, self._first = self._first, None
            return frame, time.monotonic()
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise SourceError(f"{self.name} stopped delivering frames (unplugged or taken by another app?)")
        return frame, time.monotonic()

    def close(self) -> None:
        self._cap.release()


#: The source spec of the bundled demo clip (``--source demo``, the window's "Demo clip").
DEMO = "demo"
#: Frames up to this many pixels are decoded on one thread when a file plays live (``open_paced_video``).
ONE_THREAD_UP_TO = 1920 * 1080


def open_paced_video(path: str | Path) -> tuple[cv2.VideoCapture, np.ndarray | None]:
    """A capture of a video file that is read at its own frame rate (live), and its first frame (None: none
    could be read). FFmpeg decodes on one thread per core by default; a file played live needs a frame no
    sooner than a camera would give it, and one thread decodes a 1080p H.264 frame in ~6.5 ms (this 2-core VM
    in a slow hour), while the threads' hand-overs cost CPU every frame: at 720p 2.2-2.4 ms of CPU a frame on
    one thread against 2.6-3.0 ms on two (runs/s21/decode.py), of the live budget's 0.5 core. Larger frames
    keep FFmpeg's threads: one might be too slow for their rate."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    if not cap.isOpened():  # a format another OpenCV backend reads
        cap.release()
        cap = cv2.VideoCapture(str(path))
    ok, frame = cap.read() if cap.isOpened() else (False, None)
    if ok and frame is not None and frame.shape[0] * frame.shape[1] > ONE_THREAD_UP_TO:
        cap.release()
        cap = cv2.VideoCapture(str(path))
        ok, frame = cap.read() if cap.isOpened() else (False, None)
    if ok and frame is not None:
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return cap, frame if ok else None


class FileSource:
    """A video file played at its own frame rate (``paced``) or as fast as it decodes."""

    def __init__(self, path: str | Path, *, loop: bool = True, paced: bool = True):
        path = Path(path)
        if not path.is_file():
            raise SourceError(f"video file not found: {path}")
        cap, frame = open_paced_video(path) if paced else (cv2.VideoCapture(str(path)), None)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open {path} as a video (unsupported or corrupt)")
        if frame is None:
            ok, frame = cap.read()
            if not ok or frame is None:
                cap.release()
                raise SourceError(f"{path} has no readable video frames")
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        self._cap = cap
        self._loop = loop
        self._paced = paced
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else 30.0
        self.size = (frame.shape[1], frame.shape[0])
        self.name = path.name
        self.path = path
        self._pace = _Pacer(self.fps)

    def read(self) -> tuple[np.ndarray, float] | None:
        ok, frame = self._cap.read()
        if not ok or frame is None:
            if not self._loop:
                return None
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._cap.read()
            if not ok or frame is None:
                raise SourceError(f"{self.name}: cannot restart the file at its end")
        if self._paced:
            self._pace.wait()
        return frame, time.monotonic()

    def close(self) -> None:
        self._cap.release()


class StillSource:
    """A photo as the source: the picture (upright as viewers show it: its EXIF orientation applied) delivered
    again and again at ``fps``, like a camera pointed at a print. As a video file, the one frame would end the
    stream after a single frame, and looping it failed to restart ("cannot restart the file at its end")."""

    def __init__(self, path: str | Path, *, loop: bool = True, paced: bool = True, fps: float = 30.0):
        path = Path(path)
        if not path.is_file():
            raise SourceError(f"picture not found: {path}")
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"cannot read {path} as a picture (unsupported or corrupt)")
        self._image = image
        self._loop, self._paced = loop, paced
        self._given = False
        self.fps = fps
        self.size = (image.shape[1], image.shape[0])
        self.name = path.name
        self.path = path
        self._pace = _Pacer(fps)

    def read(self) -> tuple[np.ndarray, float] | None:
        if self._given and not self._loop:
            return None
        self._given = True
        if self._paced:
            self._pace.wait()
        return self._image.copy(), time.monotonic()  # a copy: whoever keeps a frame may draw on it

    def close(self) -> None:
        pass


class _Pacer:
    """Waits so that frames come ``fps`` a second, as a camera delivers them."""

    def __init__(self, fps: float):
        self.fps = fps
        self._next_due: float | None = None

    def wait(self) -> None:
        now = time.monotonic()
        if self._next_due is None or now - self._next_due > 0.25:
            # First frame, or far behind (a stall): restart the clock instead of rushing to catch up.
            self._next_due = now
        elif self._next_due > now:
            time.sleep(self._next_due - now)
        self._next_due += 1.0 / self.fps


def open_source(settings: SourceSettings, *, paced: bool = True) -> Source:
    """The source ``settings.spec`` names; ``None``: the first camera, else the demo clip."""
    spec = settings.spec
    if spec is None or str(spec).strip() == "":
        cameras = list_cameras(max_index=4)
        for cam in cameras:
            try:
                return CameraSource(cam.index, settings)
            except SourceError:
                continue
        return FileSource(assets.demo_clip(), loop=settings.loop, paced=paced)
    spec = str(spec).strip()
    if spec.isdigit():
        return CameraSource(int(spec), settings)
    if spec.startswith("/dev/video"):
        return CameraSource(spec, settings)
    if spec == DEMO:
        return FileSource(assets.demo_clip(), loop=settings.loop, paced=paced)
    path = Path(spec).expanduser()
    if not path.exists():
        raise SourceError(f"source {spec!r} is neither a camera index nor an existing video file")
    from ..picture import is_picture

    if is_picture(path):
        return StillSource(path, loop=settings.loop, paced=paced, fps=settings.fps or 30.0)
    return FileSource(path, loop=settings.loop, paced=paced)


def list_cameras(max_index: int = 8, root: Path = Path("/")) -> list[CameraInfo]:
    """Cameras that open. On Linux only existing /dev/video* nodes are probed (opening missing
    indices costs time and log noise); our own virtual camera is left out. ``root``: where dev/
    and sys/ are (a fake tree in tests)."""
    if sys.platform.startswith("linux"):
        found = []
        for index in range(max_index):
            node = root / f"dev/video{index}"
            if not node.exists():
                continue
            name = _v4l2_name(index, root)
            if "personseg-live" in name.lower():
                continue
            cap = cv2.VideoCapture(str(node), cv2.CAP_V4L2)
            try:
                if cap.isOpened():
                    found.append(CameraInfo(index, name))
            finally:
                cap.release()
        return found
    found, misses = [], 0
    for index in range(max_index):
        cap = cv2.VideoCapture(index, _capture_api())
        try:
            if cap.isOpened():
                found.append(CameraInfo(index, f"Camera {index}"))
                misses = 0
            else:
                misses += 1
        finally:
            cap.release()
        if misses >= 2:
            break
    return found


def _v4l2_name(index: int, root: Path = Path("/")) -> str:
    try:
        return (root / f"sys/class/video4linux/video{index}/name").read_text().strip() or f"Camera {index}"
    except OSError:
        return f"Camera {index}"


__all__ = ["CameraInfo", "CameraSource", "FileSource", "Source", "SourceError", "StillSource", "list_cameras", "open_source"]
