"""The mark our results carry, so that ``-y`` replaces a result of ours and nothing else.

    mark_video(container)            # before the header is written (PyAV output container)
    data = marked_picture(data)      # an encoded PNG or JPEG, before it is written
    refuse_replacing(dst)            # OutputError when -y would replace a file that is not one of ours

Why: ``personseg-live process *.mp4 -y`` with two videos in the folder is, after the shell, ``process a.mp4 b.mp4
-y``: b.mp4, the user's own video, became the output and was replaced. Our videos say "written by personseg-live"
in their comment tag, our PNGs in a tEXt chunk, our JPEGs in a comment segment; a file without the mark is
refused, with what to do instead. Formats that carry no such mark here (WebP, TIFF, BMP) are replaced as asked.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

WRITTEN_BY = "written by personseg-live"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT = b"Comment\x00" + WRITTEN_BY.encode()
_JPEG_COMMENT = WRITTEN_BY.encode()
#: How far into a picture the mark is looked for (it sits right after the header).
_HEAD = 4096


def mark_video(container) -> None:
    container.metadata["comment"] = WRITTEN_BY


def marked_picture(data: bytes) -> bytes:
    """An encoded PNG with the mark in a tEXt chunk after IHDR, a JPEG with it in a COM segment after SOI / APP0;
    other formats as they are."""
    if data.startswith(_PNG_SIGNATURE):
        return _marked_png(data)
    return _marked_jpeg(data) if data[:2] == b"\xff\xd8" else data


def _marked_png(data: bytes) -> bytes:
    ihdr_end = 8 + 8 + struct.unpack(">I", data[8:12])[0] + 4  # signature, IHDR's length + type, data, CRC
    chunk = struct.pack(">I", len(_PNG_TEXT)) + b"tEXt" + _PNG_TEXT + struct.pack(">I", zlib.crc32(b"tEXt" + _PNG_TEXT))
    return data[:ihdr_end] + chunk + data[ihdr_end:]


def _marked_jpeg(data: bytes) -> bytes:
    at = 2
    if data[2:4] == b"\xff\xe0":  # JFIF's APP0 must follow SOI directly: the comment goes after it
        at = 4 + struct.unpack(">H", data[4:6])[0]
    segment = b"\xff\xfe" + struct.pack(">H", len(_JPEG_COMMENT) + 2) + _JPEG_COMMENT
    return data[:at] + segment + data[at:]


def is_ours(path: Path) -> bool | None:
    """Whether ``path`` carries our mark; None for a picture format that cannot carry it here."""
    from .assets import IMAGE_EXTS

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTS:
        try:
            with open(path, "rb") as f:
                head = f.read(_HEAD)
        except OSError:
            return False
        if head.startswith(_PNG_SIGNATURE):
            return b"tEXt" + _PNG_TEXT in head
        if head[:2] == b"\xff\xd8":
            return b"\xff\xfe" + struct.pack(">H", len(_JPEG_COMMENT) + 2) + _JPEG_COMMENT in head
        return None if suffix not in (".png", ".jpg", ".jpeg") else False
    import av

    try:
        with av.open(str(path)) as container:
            return any(k.lower() == "comment" and v == WRITTEN_BY for k, v in container.metadata.items())
    except (av.error.FFmpegError, OSError, UnicodeDecodeError):
        return False


def refuse_replacing(dst: Path) -> None:
    """OutputError unless ``dst`` (which exists; -y was given) may be replaced: one of our results, or a picture
    format that carries no mark. Folders are the caller's to judge."""
    from .video.sinks import OutputError

    dst = Path(dst)
    if dst.is_file() and is_ours(dst) is False:
        raise OutputError(
            f"{dst} exists and is not a personseg-live result: -y replaces only those (an unquoted pattern such as "
            f"*{dst.suffix} makes a second input the output; quote it, or give an output folder). Delete or rename "
            "it first to replace it")
