"""A validation per kind of scene, built from ../shared, that mirrors where video-call segmentation fails.

Two families, both from validation-split pairs only (the same deterministic split training uses):

- ``real_*``: real photos grouped by what the mask and the picture say — the person fills >= 40 % of the
  frame, is small (< 15 %), the photo is portrait-shaped, several people, light clothes in front of a
  light surround, dark on dark — plus ``real_everyday`` (VOC + COCO scenes) and ``real_webcam`` (the
  head-and-shoulder sets). ``real_webcam_whole`` (with ``merged``): the same portraits with the hands, arms and
  bare shoulders their human masks leave out labelled too (below).
- ``comp_*``: the same validation people composited the way the hidden failures look: light clothes on a
  light plain wall or a bright sky, dark clothes on a dark wall in a dim exposure, and a person in front
  of a wall painted the colour of their own clothes (plain must not mean background). Walls are
  synthetic (gradients, sensor noise, JPEG), never the scene photos training pastes onto.

``python -m training validation-kinds --out runs/val_kinds`` writes one folder dataset per kind;
``python -m training evaluate --kinds runs/val_kinds`` scores every kind (all pairs of each).
The same people with walls from another seed (``wall_people``) make a *training* set for the
"people in plain clothes in front of plain walls" stage, built from the training split only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .data import DataSpec, group_key, is_validation, list_pairs, read_mask

#: Sets whose masks are complete enough to cut the person out and paste them elsewhere.
PASTEABLE = ("ccp-person", "celebamask-hq-subset", "nprportrait-seg")
EVERYDAY = ("voc-person", "coco128-seg-person")
WEBCAM = ("celebamask-hq-subset", "nprportrait-seg")
REAL_SETS = PASTEABLE + EVERYDAY
#: ``real_webcam_whole``: the webcam-like portraits scored against max(human mask, teacher) (``merge-labels``'
#: folders). CelebAMask-HQ's masks leave out hands, arms and the bare chest and shoulders (30 of the 106 pictures
#: lose more than 1 % of the picture that way, 16 more than 3 %): a model that finds a hand raised to the face
#: loses IoU for it there. Looked at, picture by picture, on 2026-12-04: the teacher's additions are those parts,
#: except on these three, where it took in background, and the human mask alone is the truth.
TEACHER_WRONG = {
    "celebamask-hq-subset/celebhq_85e26c7dea8245d0971c66b5385c0733": "a magazine's title above the head",
    "celebamask-hq-subset/celebhq_114e6229218245f6a9b1deae38dabb90": "a rim of the dark background round the head",
    "celebamask-hq-subset/celebhq_94eaf01cb66c42b4abf8d0a7259292bd": "the dark background beside the hair",
}


@dataclass
class Pair:
    source: str
    id: str
    bgr: np.ndarray
    mask: np.ndarray  # float32 0..1


def split_pairs(data: Path, sets: tuple[str, ...], validation: bool, val_fraction: float = 0.1, seed: int = 0):
    """The pairs of ``sets`` under ``data`` on one side of training's split (by id)."""
    for name in sets:
        root = data / name
        if not root.is_dir():
            continue
        for sid, img, m in list_pairs(root):
            if is_validation(group_key(sid, "id"), val_fraction, seed) == validation:
                bgr = cv2.imread(str(img), cv2.IMREAD_COLOR)
                if bgr is not None:
                    yield Pair(name, sid, bgr, read_mask(m, bgr.shape[:2]))


def _lightness(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32) * (100 / 255)


def clothes_region(mask: np.ndarray) -> np.ndarray:
    """The lower 60 % of the person's bounding box inside the mask: clothes rather than face and hair."""
    on = mask >= 0.5
    ys = np.flatnonzero(on.any(axis=1))
    region = np.zeros_like(on)
    if len(ys):
        top = ys[0] + int(0.4 * (ys[-1] - ys[0] + 1))
        region[top:] = on[top:]
    return region


def surround_region(mask: np.ndarray, width: int = 15) -> np.ndarray:
    on = (mask >= 0.5).astype(np.uint8)
    ring = cv2.dilate(on, np.ones((2 * width + 1, 2 * width + 1), np.uint8)) > 0
    return ring & (on == 0)


def real_kinds(pair: Pair) -> list[str]:
    """Every kind this real photo belongs to."""
    h, w = pair.mask.shape
    on = pair.mask >= 0.5
    area = float(on.mean())
    kinds = []
    if pair.source in EVERYDAY:
        kinds.append("real_everyday")
    if pair.source in WEBCAM:
        kinds.append("real_webcam")
    if area >= 0.40:
        kinds.append("real_large")
    if 0 < area < 0.15:
        kinds.append("real_small")
    if h > w * 1.05:
        kinds.append("real_portrait_shaped")
    n, _, stats, _ = cv2.connectedComponentsWithStats(on.astype(np.uint8))
    if sum(stats[i, cv2.CC_STAT_AREA] >= 0.005 * h * w for i in range(1, n)) >= 2:
        kinds.append("real_group")
    light = _lightness(pair.bgr)
    clothes, ring = clothes_region(pair.mask), surround_region(pair.mask)
    if clothes.sum() > 50 and ring.sum() > 50:
        lc, lr = float(light[clothes].mean()), float(light[ring].mean())
        if lc >= 60 and lr >= 60:
            kinds.append("real_light_on_light")
        if lc <= 35 and lr <= 35:
            kinds.append("real_dark_on_dark")
    return kinds


def plain_wall(shape: tuple[int, int], colour_bgr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A painted wall lit from one side: the colour, a soft light gradient, blurred noise."""
    h, w = shape
    t = np.linspace(-1, 1, w, dtype=np.float32)[None, :] * rng.uniform(-0.15, 0.15)
    t = t + np.linspace(-1, 1, h, dtype=np.float32)[:, None] * rng.uniform(-0.1, 0.1)
    wall = colour_bgr.astype(np.float32)[None, None, :] * (1 + t[..., None])
    noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), rng.uniform(3, 15))
    wall += noise[..., None] * rng.uniform(1, 6) / max(float(noise.std()), 1e-3)
    return wall


def sky(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Bright sky over a pale sea/haze horizon: near-white to light blue."""
    h, w = shape
    top = np.array([rng.uniform(200, 245), rng.uniform(170, 215), rng.uniform(120, 175)], np.float32)  # BGR
    low = np.array([rng.uniform(225, 255), rng.uniform(220, 250), rng.uniform(205, 245)], np.float32)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img = top * (1 - t) + low * t
    return np.broadcast_to(img, (h, w, 3)).astype(np.float32).copy()


def composite(pair: Pair, background: np.ndarray, rng: np.random.Generator, exposure: float = 1.0) -> np.ndarray:
    """The person over ``background`` with a 1-px soft edge, then exposure, sensor noise and JPEG."""
    a = cv2.GaussianBlur(pair.mask, (3, 3), 0)[..., None]
    img = pair.bgr.astype(np.float32) * a + background * (1 - a)
    img = 255.0 * (np.clip(img, 0, 255) / 255.0) ** (1 / exposure) if exposure != 1.0 else img
    img = img + rng.normal(0, rng.uniform(1, 4), img.shape).astype(np.float32)
    ok, enc = cv2.imencode(".jpg", np.clip(img, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 92))])
    return cv2.imdecode(enc, cv2.IMREAD_COLOR)


def clothes_colour(pair: Pair) -> np.ndarray | None:
    region = clothes_region(pair.mask)
    if region.sum() < 50:
        return None
    return np.median(pair.bgr[region].astype(np.float32), axis=0)


def comp_kinds(pair: Pair, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """(kind, composite) for the composite kinds this person fits."""
    colour = clothes_colour(pair)
    if colour is None:
        return []
    shape = pair.mask.shape
    lc = float(_lightness(colour.astype(np.uint8)[None, None])[0, 0])
    out = []
    if lc >= 55:
        wall = np.clip(np.array([rng.uniform(215, 250)] * 3, np.float32) + rng.uniform(-10, 10, 3), 0, 255)
        out.append(("comp_light_wall", composite(pair, plain_wall(shape, wall, rng), rng)))
        out.append(("comp_light_sky", composite(pair, sky(shape, rng), rng)))
    if lc <= 35:
        wall = np.array([rng.uniform(15, 60)] * 3, np.float32) + rng.uniform(-8, 8, 3)
        out.append(("comp_dark_dim", composite(pair, plain_wall(shape, wall, rng), rng, exposure=0.7)))
    # A wall painted the colour of the clothes (a touch lighter or darker): colour contrast is gone.
    tint = np.clip(colour * rng.uniform(0.85, 1.15), 0, 255)
    out.append(("comp_same_colour_wall", composite(pair, plain_wall(shape, tint, rng), rng)))
    return out


def _save(folder: Path, stem: str, bgr: np.ndarray, mask: np.ndarray) -> None:
    """One pair of a folder dataset: ``folder/images/<stem>.jpg`` and ``folder/masks/<stem>.png``."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "images" / f"{stem}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    cv2.imwrite(str(folder / "masks" / f"{stem}.png"), np.round(mask * 255).astype(np.uint8))


def write_validation_kinds(data: Path, out: Path, seed: int = 0, val_fraction: float = 0.1,
                           merged: Path | None = None) -> dict[str, int]:
    """One folder dataset per kind under ``out``; returns the pair count per kind. ``merged``: a folder of
    ``merge-labels`` outputs (``<set>/masks/<id>.png``) for ``real_webcam_whole``."""
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    for pair in split_pairs(data, REAL_SETS, validation=True, val_fraction=val_fraction):
        stem = f"{pair.source}_{pair.id}"
        kinds = real_kinds(pair)
        for kind in kinds:
            _save(out / kind, stem, pair.bgr, pair.mask)
            counts[kind] = counts.get(kind, 0) + 1
        if merged is not None and "real_webcam" in kinds:
            _save(out / "real_webcam_whole", stem, pair.bgr, mask_with_hands(pair, merged))
            counts["real_webcam_whole"] = counts.get("real_webcam_whole", 0) + 1
        if pair.source in PASTEABLE:
            for kind, img in comp_kinds(pair, rng):
                _save(out / kind, stem, img, pair.mask)
                counts[kind] = counts.get(kind, 0) + 1
    (out / "SOURCE.md").write_text(
        "# Validation per kind of scene\n\nWritten by `python -m training validation-kinds` from the validation "
        "split of ../shared/data (the sets' own licences apply). real_*: real photos grouped by mask and "
        "lightness; comp_*: the same people on synthetic walls and skies. Never train on these.\n")
    return counts


def mask_with_hands(pair: Pair, merged: Path) -> np.ndarray:
    """``pair``'s mask completed by its merged label (``TEACHER_WRONG``: not), float32 0..1."""
    if f"{pair.source}/{pair.id}" in TEACHER_WRONG:
        return pair.mask
    path = merged / pair.source / "masks" / f"{pair.id}.png"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no merged label for {pair.source}/{pair.id} (run merge-labels first)")
    return np.maximum(pair.mask, read_mask(path, pair.mask.shape))


def write_wall_people(data: Path, out: Path, per_person: int = 1, seed: int = 1,
                      sets: tuple[str, ...] = PASTEABLE) -> int:
    """A *training* set from the training split: people in front of plain walls of their own clothes'
    colour, light walls and skies — so the model cannot learn "plain, bright area = background". ``sets``: the
    pasteable sets whose people are used (a recipe that leaves a source out leaves its people out too)."""
    unknown = set(sets) - set(PASTEABLE)
    if unknown:
        raise ValueError(f"not pasteable sets: {sorted(unknown)} (choose from {', '.join(PASTEABLE)})")
    rng = np.random.default_rng(seed)
    n = 0
    for pair in split_pairs(data, tuple(s for s in PASTEABLE if s in sets), validation=False):
        for k in range(per_person):
            choices = comp_kinds(pair, rng)
            if not choices:
                continue
            kind, img = choices[int(rng.integers(len(choices)))]
            _save(out, f"{pair.source}_{pair.id}_{k}", img, pair.mask)
            n += 1
    if n == 0:
        raise ValueError(f"no people of {', '.join(sets)} in the training split under {data}")
    (out / "SOURCE.md").write_text(  # last: a folder without it is unfinished
        f"# {out.name}: people on plain walls\n\nThe training split of `{data}` composited in front of plain walls and "
        "skies (`python -m training wall-people`); the people's own sets' licences.\n")
    return n


def kind_specs(folder: Path) -> list[DataSpec]:
    """Every kind folder under ``folder`` (for ``evaluate --kinds``)."""
    kinds = sorted(p for p in folder.iterdir() if (p / "images").is_dir()) if folder.is_dir() else []
    if not kinds:
        raise FileNotFoundError(f"{folder}: no kind folders (build them with `python -m training validation-kinds`)")
    return [DataSpec(p) for p in kinds]
