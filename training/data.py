"""Folder datasets of image/mask pairs, a deterministic validation split, and COCO person-mask extraction.

Folder layout (the one of ``../shared/data/*``): ``<dir>/images/<id>.jpg`` and ``<dir>/masks/<id>.png``,
8-bit masks where 255 = person. Soft masks (pseudo-labels, 0..255) are read as probabilities.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclass(frozen=True)
class DataSpec:
    """One ``--data`` argument: ``PATH[,weight=W][,split=sequence][,paste=P]``.

    ``weight`` scales how often the set is sampled relative to its size; ``split=sequence`` keeps whole
    video sequences (ids ``<seq>_<frame>``) on one side of the validation split; ``paste`` is the
    probability of pasting the person onto a new background (0 for sets whose masks miss people).
    """

    path: Path
    weight: float = 1.0
    split: str = "id"
    paste: float | None = None

    @classmethod
    def parse(cls, text: str) -> "DataSpec":
        path, *opts = text.split(",")
        kwargs: dict = {}
        for opt in opts:
            key, sep, value = opt.partition("=")
            if not sep or key not in ("weight", "split", "paste"):
                raise ValueError(f"bad --data option {opt!r} in {text!r}; use weight=W, split=id|sequence, paste=P")
            kwargs[key] = value if key == "split" else float(value)
        if kwargs.get("split", "id") not in ("id", "sequence"):
            raise ValueError(f"split must be 'id' or 'sequence', not {kwargs['split']!r}")
        return cls(Path(path), **kwargs)


@dataclass
class Sample:
    id: str
    source: str
    image: np.ndarray  # HxWx3 uint8 RGB
    mask: np.ndarray  # HxW float32 0..1
    weight: float = 1.0
    paste: float = 0.5


@dataclass
class Splits:
    train: list[Sample] = field(default_factory=list)
    val: list[Sample] = field(default_factory=list)
    reports: list = field(default_factory=list)  # checks.SetReport per set: used / skipped / resized, by name


def list_pairs(root: Path) -> list[tuple[str, Path, Path]]:
    """(id, image path, mask path) for every usable pair (checks.scan_set: header checks, problems skipped);
    a clear error when the layout is wrong or nothing is usable."""
    from .checks import scan_set

    return scan_set(DataSpec(root)).used


def group_key(sample_id: str, split: str) -> str:
    """The unit the validation split keeps together: the id itself, or its sequence for video sets."""
    if split == "sequence":
        return re.sub(r"_\d+$", "", sample_id)
    return sample_id


def is_validation(key: str, fraction: float, seed: int = 0) -> bool:
    """Deterministic by id: the same pair lands on the same side on every machine and every run."""
    digest = hashlib.sha1(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < fraction


def read_image_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise ValueError(f"cannot read mask {path}")
    if m.shape != shape:
        m = cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return m.astype(np.float32) / 255.0


def load_splits(specs: list[DataSpec], val_fraction: float = 0.1, seed: int = 0, default_paste: float = 0.5,
                reports: list | None = None) -> Splits:
    """Read every usable pair of every set into memory (the shared sets are ~100 MB decoded) and split them.

    ``reports`` (checks.scan_set per spec) lets a caller show the header checks before this decodes;
    pairs that still fail to decode are skipped and named in them, never trained on half-read.
    """
    from .checks import scan_set

    splits = Splits(reports=reports if reports is not None else [scan_set(spec) for spec in specs])
    for spec, report in zip(specs, splits.reports):
        for sid, img_path, mask_path in list(report.used):
            try:
                image = read_image_rgb(img_path)
                mask = read_mask(mask_path, image.shape[:2])
            except ValueError as exc:
                report.skip(sid, f"unreadable: {exc}")
                continue
            sample = Sample(sid, spec.path.name, image, mask, spec.weight,
                            default_paste if spec.paste is None else spec.paste)
            key = group_key(sid, spec.split)
            (splits.val if is_validation(key, val_fraction, seed) else splits.train).append(sample)
    return splits


def load_backgrounds(folder: Path | None, max_side: int = 480) -> list[np.ndarray]:
    """Scene photos (RGB) for background-swap augmentation, downscaled once."""
    if folder is None or not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in IMAGE_EXTS:
            img = read_image_rgb(p)
            s = max_side / max(img.shape[:2])
            if s < 1:
                img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            out.append(img)
    return out


def prepare_coco(annotations: Path, images: Path, out: Path, min_area: float = 0.01, max_side: int = 320) -> int:
    """COCO ``instances_*.json`` + images -> ``out/images/<id>.jpg`` + ``out/masks/<id>.png`` person masks.

    The mask is the union of every category-1 (person) annotation (crowd regions included), as
    ``pycocotools`` rasterises them; images where people cover less than ``min_area`` are skipped.
    Returns the number of pairs written.
    """
    from pycocotools.coco import COCO  # optional [train] dependency

    coco = COCO(str(annotations))
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    written = 0
    for img_id in sorted(coco.getImgIds(catIds=[1])):
        info = coco.loadImgs(img_id)[0]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id, catIds=[1], iscrowd=None))
        mask = np.zeros((info["height"], info["width"]), np.uint8)
        for ann in anns:
            mask = np.maximum(mask, coco.annToMask(ann))
        if mask.mean() < min_area:
            continue
        src = images / info["file_name"]
        bgr = cv2.imread(str(src), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"image {src} named in {annotations} cannot be read")
        s = min(1.0, max_side / max(bgr.shape[:2]))
        if s < 1:
            bgr = cv2.resize(bgr, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        m = cv2.resize(mask * 255, (bgr.shape[1], bgr.shape[0]), interpolation=cv2.INTER_LINEAR)
        m = np.where(m >= 128, 255, 0).astype(np.uint8)
        stem = f"coco_{img_id}"
        cv2.imwrite(str(out / "images" / f"{stem}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
        cv2.imwrite(str(out / "masks" / f"{stem}.png"), m)
        written += 1
    (out / "SOURCE.md").write_text(
        f"# {out.name}\n\nPerson masks (union of COCO category 1) from `{annotations.name}`, written by "
        f"`python -m training prepare-coco`; images resized to longer side <= {max_side}. "
        "COCO annotations are CC BY 4.0; images keep their Flickr licences.\n"
    )
    (out / "index.json").write_text(json.dumps({"pairs": written, "source": str(annotations)}))
    return written


def write_negatives(backgrounds: Path, out: Path, synthetic: int = 60, seed: int = 0) -> int:
    """An image/mask folder of scenes with nobody in them: the scene photos plus plain walls.

    Nearly every training crop holds a person, so without these the model learns "something is always
    there" and keeps half of an empty plain wall as person when the user steps away. Flat colours,
    gradients and soft noise stand in for plain walls and out-of-focus rooms.
    """
    rng = np.random.default_rng(seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    n = 0

    def save(stem: str, bgr: np.ndarray) -> None:
        cv2.imwrite(str(out / "images" / f"{stem}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
        cv2.imwrite(str(out / "masks" / f"{stem}.png"), np.zeros(bgr.shape[:2], np.uint8))

    for p in sorted(backgrounds.iterdir()) if backgrounds.is_dir() else []:
        if p.suffix.lower() in IMAGE_EXTS:
            bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if bgr is not None:
                s = 320 / max(bgr.shape[:2])
                save(f"scene_{p.stem}", cv2.resize(bgr, None, fx=s, fy=s, interpolation=cv2.INTER_AREA))
                n += 1
    for i in range(synthetic):
        h, w = (240, 320) if rng.random() < 0.7 else (320, 240)
        a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        t = np.linspace(0, 1, w if rng.random() < 0.5 else h, dtype=np.float32)
        ramp = t[None, :, None] if len(t) == w else t[:, None, None]
        img = a * (1 - ramp) + b * ramp * (rng.random() < 0.7)  # a gradient, or a flat colour
        img = np.broadcast_to(img, (h, w, 3)).astype(np.float32)
        noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), rng.uniform(2, 20))
        img = img + noise[..., None] * rng.uniform(0, 40) / max(float(noise.std()), 1e-3) * 0.3
        save(f"plain_{i:03d}", np.clip(img, 0, 255).astype(np.uint8))
        n += 1
    (out / "SOURCE.md").write_text(
        f"# {out.name}: scenes without people\n\nWritten by `python -m training negatives`: the scene photos of "
        f"`{backgrounds}` (their own licences) resized to 320 px, and {synthetic} synthetic plain walls "
        "(flat colours, gradients, blurred noise). Every mask is empty.\n"
    )
    return n
