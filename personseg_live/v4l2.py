"""What a Linux camera offers, asked from the V4L2 driver itself (no frames are captured).

    modes("/dev/video0")  ->  [Mode("MJPG", 1280, 720, 30.0), Mode("YUYV", 1280, 720, 10.0), ...]

OpenCV cannot list formats; the ioctls below are the ones ``v4l2-ctl --list-formats-ext`` uses.
A node that offers no capture format (a UVC camera's metadata node) gives an empty list.
"""

from __future__ import annotations

import fcntl
import os
import struct
from dataclasses import dataclass
from pathlib import Path

_CAPTURE = 1  # V4L2_BUF_TYPE_VIDEO_CAPTURE
_DISCRETE = 1  # V4L2_FRMSIZE_TYPE_DISCRETE / V4L2_FRMIVAL_TYPE_DISCRETE
_FMTDESC = struct.Struct("=III32sII12x")  # struct v4l2_fmtdesc (64 bytes)
_FRMSIZE = struct.Struct("=IIIII16x8x")  # struct v4l2_frmsizeenum (44 bytes): discrete w, h
_FRMIVAL = struct.Struct("=IIIIIII16x8x")  # struct v4l2_frmivalenum (52 bytes): discrete num/den


def _iowr(nr: int, size: int) -> int:
    return (3 << 30) | (size << 16) | (ord("V") << 8) | nr


_ENUM_FMT = _iowr(2, _FMTDESC.size)
_ENUM_FRAMESIZES = _iowr(74, _FRMSIZE.size)
_ENUM_FRAMEINTERVALS = _iowr(75, _FRMIVAL.size)


@dataclass(frozen=True)
class Mode:
    fourcc: str
    width: int
    height: int
    fps: float  # the highest the driver offers at this size (0: not stated)

    def __str__(self) -> str:
        return f"{self.fourcc} {self.width}x{self.height}" + (f"@{self.fps:g}" if self.fps else "")


def _enum(fd: int, request: int, layout: struct.Struct, *inputs: int) -> list[tuple]:
    """Every answer of an ENUM ioctl, index 0, 1, ... until the driver says EINVAL.

    ``inputs`` are the u32 fields after ``index`` that the caller fills in (all three structs put
    them first); the driver fills in the rest.
    """
    out = []
    for index in range(256):  # drivers list far fewer; the bound guards against a looping one
        buf = bytearray(layout.size)
        struct.pack_into(f"={1 + len(inputs)}I", buf, 0, index, *inputs)
        try:
            fcntl.ioctl(fd, request, buf)
        except OSError:
            break
        out.append(layout.unpack(buf))
    return out


def _max_fps(fd: int, pixfmt: int, width: int, height: int) -> float:
    rates = [den / num for _, _, _, _, kind, num, den in _enum(fd, _ENUM_FRAMEINTERVALS, _FRMIVAL, pixfmt, width, height)
             if kind == _DISCRETE and num]
    return round(max(rates), 2) if rates else 0.0


def modes(device: str | Path) -> list[Mode]:
    """The capture modes of a V4L2 device, largest first per format; [] when it cannot be asked."""
    try:
        fd = os.open(str(device), os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return []
    try:
        found = []
        for _, _, _, _, pixfmt, _ in _enum(fd, _ENUM_FMT, _FMTDESC, _CAPTURE):
            fourcc = pixfmt.to_bytes(4, "little").decode("ascii", "replace").strip()
            sizes = [(w, h) for _, _, kind, w, h in _enum(fd, _ENUM_FRAMESIZES, _FRMSIZE, pixfmt) if kind == _DISCRETE]
            for w, h in sorted(set(sizes), key=lambda s: -s[0] * s[1]):
                found.append(Mode(fourcc, w, h, _max_fps(fd, pixfmt, w, h)))
        return found
    finally:
        os.close(fd)


def summary(found: list[Mode], limit: int = 4) -> str:
    """``MJPG 1920x1080@30 1280x720@30 ...; YUYV 640x480@30 ...``: per format, its largest sizes."""
    by_format: dict[str, list[Mode]] = {}
    for mode in found:
        by_format.setdefault(mode.fourcc, []).append(mode)
    parts = []
    for fourcc, ms in by_format.items():
        sizes = " ".join(str(m).split(" ", 1)[1] for m in ms[:limit]) + (" …" if len(ms) > limit else "")
        parts.append(f"{fourcc} {sizes}")
    return "; ".join(parts)
