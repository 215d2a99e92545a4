"""Checks that run before any data is decoded: the settings (all problems in one message) and every
image/mask pair of a folder set from the file headers (missing masks, truncated files, masks of another
size), so a researcher learns what will be used, skipped or resized, by file name, up front.
"""

from __future__ import annotations

import json
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .data import IMAGE_EXTS, DataSpec

#: Listed by name up to this many per reason; the full list goes to the run's data_report.json.
SHOW = 5


@dataclass
class SetReport:
    """What a folder set contributes: pairs used, skipped (file, reason) and resized (file, how)."""

    name: str
    used: list[tuple[str, Path, Path]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    resized: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, sid: str, reason: str) -> None:
        self.used = [u for u in self.used if u[0] != sid]
        self.skipped.append((sid, reason))

    def summary(self) -> str:
        """One line of counts, then the named problems (at most SHOW per reason)."""
        lines = [f"{self.name}: {len(self.used)} used, {len(self.skipped)} skipped, {len(self.resized)} resized"]
        by_reason: dict[str, list[str]] = {}
        for sid, reason in self.skipped:
            by_reason.setdefault(f"skipped ({reason})", []).append(sid)
        for sid, how in self.resized:
            by_reason.setdefault(f"mask resized ({how})", []).append(sid)
        for reason, ids in by_reason.items():
            more = f" and {len(ids) - SHOW} more" if len(ids) > SHOW else ""
            lines.append(f"  {reason}: {', '.join(ids[:SHOW])}{more}")
        return "\n".join(lines)

    def as_json(self) -> dict:
        return {"used": len(self.used), "skipped": [list(s) for s in self.skipped],
                "resized": [list(r) for r in self.resized]}


def image_size(path: Path) -> tuple[int, int] | None:
    """(H, W) from a JPEG or PNG header without decoding; None for other formats or a broken header."""
    with open(path, "rb") as f:
        head = f.read(32)
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            w, h = struct.unpack(">II", head[16:24])
            return h, w
        if head[:2] != b"\xff\xd8":
            return None
        f.seek(2)
        while True:
            marker = f.read(2)
            if len(marker) < 2 or marker[0] != 0xFF:
                return None
            kind = marker[1]
            if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7:
                continue
            length = struct.unpack(">H", f.read(2))[0]
            if 0xC0 <= kind <= 0xCF and kind not in (0xC4, 0xC8, 0xCC):  # start of frame
                h, w = struct.unpack(">xHH", f.read(5))
                return h, w
            f.seek(length - 2, 1)


def truncated(path: Path) -> bool:
    """True for an empty file, a JPEG without its end marker or a PNG without its IEND chunk.

    OpenCV decodes such files with a grey or black remainder and only a warning on stderr
    ("Premature end of JPEG file"): trained on, they teach wrong masks.
    """
    size = path.stat().st_size
    if size == 0:
        return True
    with open(path, "rb") as f:
        head = f.read(8)
        f.seek(max(0, size - 64))
        tail = f.read().rstrip(b"\x00\r\n ")
    if head[:2] == b"\xff\xd8":
        return not tail.endswith(b"\xff\xd9")
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in tail[-12:]
    return False


def _same_aspect(a: tuple[int, int], b: tuple[int, int], tolerance: float = 0.02) -> bool:
    return abs(a[0] / a[1] - b[0] / b[1]) <= tolerance * (a[0] / a[1])


def scan_set(spec: DataSpec) -> SetReport:
    """Every pair of one folder set, from headers: used, skipped or (mask of the same aspect) resized."""
    images, masks = spec.path / "images", spec.path / "masks"
    if not images.is_dir() or not masks.is_dir():
        raise FileNotFoundError(f"{spec.path}: expected folders images/ and masks/ (see README, Training your own)")
    report = SetReport(spec.path.name)
    stems = set()
    for img in sorted(images.iterdir()):
        if img.suffix.lower() not in IMAGE_EXTS:
            continue
        stems.add(img.stem)
        mask = masks / f"{img.stem}.png"
        problem = _pair_problem(img, mask, report)
        if problem:
            report.skipped.append((img.name, problem))
        else:
            report.used.append((img.stem, img, mask))
    for m in sorted(masks.glob("*.png")):
        if m.stem not in stems:
            report.skipped.append((m.name, "mask without image"))
    if not report.used:
        raise FileNotFoundError(f"{spec.path}: no usable image/mask pairs (images/<id>.jpg with masks/<id>.png)\n"
                                + report.summary())
    return report


def _pair_problem(img: Path, mask: Path, report: SetReport) -> str | None:
    if not mask.exists():
        return "no mask"
    for path, what in ((img, "image"), (mask, "mask")):
        if truncated(path):
            return f"truncated {what}"
    isize, msize = image_size(img), image_size(mask)
    if img.suffix.lower() in (".jpg", ".jpeg", ".png") and isize is None:
        return "unreadable image"
    if msize is None:
        return "unreadable mask"
    if isize is not None and isize != msize:
        if not _same_aspect(isize, msize):
            return f"mask {msize[1]}x{msize[0]} for image {isize[1]}x{isize[0]}"
        report.resized.append((mask.name, f"{msize[1]}x{msize[0]} -> {isize[1]}x{isize[0]}"))
    return None


def keras_file_arch(path: Path) -> str | None:
    """The model name (our architecture) recorded in a .keras file, read without TensorFlow."""
    try:
        with zipfile.ZipFile(path) as z:
            return json.loads(z.read("config.json"))["config"].get("name")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def check_settings(cfg) -> list[str]:
    """Every problem of a TrainConfig that shows without reading data (empty list: fine)."""
    from personseg_live.model.architectures import ARCHITECTURES

    problems = []
    if not cfg.data:
        problems.append("no --data given")
    for text in cfg.data:
        try:
            spec = DataSpec.parse(text)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if not spec.path.is_dir():
            problems.append(f"--data {spec.path}: no such folder")
    if cfg.init and not Path(cfg.init).is_file():
        problems.append(f"--init {cfg.init}: no such file")
    if cfg.backgrounds and not Path(cfg.backgrounds).is_dir():
        problems.append(f"--backgrounds {cfg.backgrounds}: no such folder (pass --backgrounds none to train without)")
    if cfg.arch not in ARCHITECTURES:
        problems.append(f"--arch {cfg.arch!r}: choose one of {', '.join(sorted(ARCHITECTURES))}")
    else:
        stride = ARCHITECTURES[cfg.arch].stride or 4  # fixed-size seed: two 2x poolings
        if (cfg.size[0] % stride or cfg.size[1] % stride):
            problems.append(f"--size {cfg.size[0]}x{cfg.size[1]}: both sides must be multiples of {stride} "
                            f"(the {cfg.arch} architecture's stride)")
    for flag, share, of in (("--small-person", cfg.small_person, "crops"), ("--torso-crop", cfg.torso_crop, "crops"),
                            ("--exposure", cfg.exposure, "pictures")):
        if not 0 <= share <= 1:
            problems.append(f"{flag} {share}: a share of the {of}, must be in [0, 1]")
    if not 0 <= cfg.val_fraction < 1:
        problems.append(f"--val-fraction {cfg.val_fraction}: must be in [0, 1)")
    if cfg.batch < 1 or cfg.epochs < 1:
        problems.append("--batch and --epochs must be at least 1")
    return problems
