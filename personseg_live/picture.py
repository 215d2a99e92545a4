"""Picture -> picture: ``personseg-live process photo.jpg out.png`` cuts the person out of one still.

    report = process_picture(Path("photo.jpg"), Path("out.png"), ProcessOptions(background=...), segmenter=seg)

The picture is read as viewers show it (its EXIF orientation applied), goes through the same
FrameProcessor as a video frame (the model's closer look, the matte, the compositor), and is written
under a temporary name beside OUT and renamed when complete. A transparent background needs a format
with alpha (PNG, WebP, TIFF). ``--mask-out DIR`` gets the 8-bit alpha as DIR/00000.png, as for a video.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import cv2

from .assets import IMAGE_EXTS
from .ours import marked_picture, refuse_replacing

if TYPE_CHECKING:  # (imported where used: the live source asks is_picture without loading the offline chain)
    from .offline import ProcessOptions, ProcessReport

#: Suffixes read and written as one picture (OpenCV's codecs): the ones the background picker takes.
PICTURE_EXTS = IMAGE_EXTS
#: ... of which these keep an alpha channel.
ALPHA_EXTS = (".png", ".webp", ".tif", ".tiff")
JPEG_QUALITY = 95


def is_picture(path: Path) -> bool:
    return Path(path).suffix.lower() in PICTURE_EXTS


def picture_output_for(input_path: Path, out_dir: Path, transparent: bool) -> Path:
    """OUT/<name> for a picture in a folder run: the input's own format, PNG where it has no alpha to give."""
    suffix = input_path.suffix.lower()
    return out_dir / (input_path.stem + (".png" if transparent and suffix not in ALPHA_EXTS else suffix))


def process_picture(src: Path, dst: Path, options: ProcessOptions, *, segmenter=None) -> ProcessReport:
    """One picture. Raises InputError (missing, unreadable, ``--plate auto``) or OutputError (not writable,
    exists without overwrite, transparency in a format without alpha) before any work is done."""
    from .offline import InputError, ProcessReport, _mask_of, _mask_sink
    from .processor import FrameProcessor
    from .video.sinks import OutputError, check_writable

    src, dst = Path(src), Path(dst)
    transparent = options.background.mode == "transparent"
    if transparent and dst.suffix.lower() not in ALPHA_EXTS:
        raise OutputError(f"{dst}: {dst.suffix.lstrip('.').upper()} has no transparency; "
                          f"use {', '.join(ALPHA_EXTS)} for --background transparent")
    if options.learn_room and options.plate is None:
        raise InputError("--plate auto learns the room from a video; for a picture give a photo of the empty room")
    check_writable(dst)
    if dst.exists():
        if not options.overwrite:
            raise OutputError(f"{dst} already exists; add -y/--overwrite to replace it")
        if options.replace_only_ours:
            refuse_replacing(dst)
    if not src.exists():
        raise InputError(f"input not found: {src}")
    # IMREAD_COLOR applies the EXIF orientation: the person is upright as a viewer shows the photo.
    image = cv2.imread(str(src), cv2.IMREAD_COLOR) if src.is_file() else None
    if image is None:
        raise InputError(f"cannot read {src}: not a picture OpenCV can decode")
    if segmenter is None:
        from .model.segmenter import Segmenter

        segmenter = Segmenter(options.model, backend=options.backend, threads=1, quality=options.quality)
    processor = FrameProcessor(segmenter, options.matte, options.background, keep_edges=options.mask_out is not None)
    if options.plate is not None:
        from .room import RoomCue

        processor.room = RoomCue(options.plate, learn=False)
    masks = _mask_sink(options, dst)
    t0 = time.perf_counter()
    try:
        result = processor(image)
        _write_atomically(dst, result.composite)
        if masks is not None:
            masks.send(_mask_of(result.alpha))
            masks.close()
    except BaseException:
        if masks is not None:
            masks.close(complete=False)
        raise
    finally:
        processor.close()
    return ProcessReport(src, dst, 1, time.perf_counter() - t0, False)


def _write_atomically(dst: Path, image) -> None:
    from .video.sinks import OutputError, cannot_write, temporary_name

    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if dst.suffix.lower() in (".jpg", ".jpeg") else []
    try:
        encoded, data = cv2.imencode(dst.suffix.lower(), image, params)
    except cv2.error as exc:  # a format OpenCV was built without
        raise OutputError(f"{dst}: cannot write this picture format ({exc.err})") from exc
    if not encoded:
        raise OutputError(f"cannot write {dst}: OpenCV could not encode the picture")
    tmp = temporary_name(dst)
    try:
        # Encoded in memory so that our mark (a later -y may replace the file, ours.py) goes in before the one write.
        tmp.write_bytes(marked_picture(data.tobytes()))
        os.replace(tmp, dst)
    except OSError as exc:  # a full disk among them
        tmp.unlink(missing_ok=True)
        raise cannot_write(dst, exc) from exc


__all__ = ["ALPHA_EXTS", "PICTURE_EXTS", "is_picture", "picture_output_for", "process_picture"]
