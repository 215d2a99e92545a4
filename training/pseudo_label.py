"""Soft person masks for unlabelled photos from a teacher, with flip and scale test-time augmentation.

The teacher is any of our models (bundled name, ``.keras`` or ``.tflite``), any TFLite segmenter taking
[1,H,W,3] RGB 0..1 and giving [1,H,W,1] person probability (e.g. MediaPipe's Apache-2.0 selfie models,
``npm pack @mediapipe/selfie_segmentation``) — both load through the app's own Segmenter, which
resizes to a fixed-size teacher's input or keeps the aspect for our fully convolutional ones — or a TF.js
graph model's ``model.json`` (e.g. Robust Video Matting, see ``tfjs_teacher``), run at the photo's size.

Output: ``OUT/images/<id>.jpg`` (3-channel, so grayscale sets train like colour ones) and
``OUT/masks/<id>.png`` with the averaged probability x 255 — a folder dataset ``train`` reads as soft targets.
``OUT/SOURCE.md`` is written last: a folder without it is unfinished. Run again, the labelling continues where it
stopped (each mask is renamed into place only once written whole), so an interrupted teacher run of hours
loses one image, not all before it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from personseg_live.atomic import write_atomically
from personseg_live.model.segmenter import Segmenter

from .data import IMAGE_EXTS, list_pairs
from .tfjs_teacher import POSE_MASK

#: A teacher: BGR uint8 frame -> HxW float32 person probability (a Segmenter or a TfjsTeacher).
Teacher = Callable[[np.ndarray], np.ndarray]


def _at_scale(seg: Teacher, bgr: np.ndarray, scale: float) -> np.ndarray:
    """Teacher probability for ``bgr`` seen ``scale`` times its size: <1 shrinks it inside a reflected
    canvas (the teacher sees more context, people smaller), >1 zooms in and tiles the four quadrants."""
    h, w = bgr.shape[:2]
    if scale == 1.0:
        return seg(bgr)
    if scale < 1.0:
        sh, sw = max(2, int(h * scale)), max(2, int(w * scale))
        small = cv2.resize(bgr, (sw, sh), interpolation=cv2.INTER_AREA)
        top, left = (h - sh) // 2, (w - sw) // 2
        canvas = cv2.copyMakeBorder(small, top, h - sh - top, left, w - sw - left, cv2.BORDER_REFLECT_101)
        prob = seg(canvas)[top:top + sh, left:left + sw]
        return cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
    big = cv2.resize(bgr, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_LINEAR)
    bh, bw = big.shape[:2]
    out = np.zeros((bh, bw), np.float32)
    count = np.zeros((bh, bw), np.float32)
    th, tw = int(bh / scale * 1.0), int(bw / scale * 1.0)
    for y in (0, bh - th):
        for x in (0, bw - tw):
            out[y:y + th, x:x + tw] += seg(np.ascontiguousarray(big[y:y + th, x:x + tw]))
            count[y:y + th, x:x + tw] += 1
    return cv2.resize(out / np.maximum(count, 1), (w, h), interpolation=cv2.INTER_AREA)


def load_teacher(teacher: str) -> Teacher:
    """A callable ``bgr -> HxW probability`` for a bundled name, ``.keras``, ``.tflite`` or TF.js ``model.json``."""
    if str(teacher).endswith(".json"):
        from .tfjs_teacher import TfjsTeacher

        return TfjsTeacher(teacher)
    return Segmenter(teacher, backend="tensorflow" if str(teacher).endswith(".keras") else "litert")


def teacher_probability(seg: Teacher, bgr: np.ndarray, scales=(1.0,), flip: bool = True,
                        box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """``box``: a pose teacher's person box (``TfjsTeacher.pose``): it crops round it, so ``scales`` must be (1.0,)."""
    if box is not None:
        x0, y0, x1, y1 = box
        w = bgr.shape[1]
        probs = [seg(bgr, box)]
        if flip:
            probs.append(seg(np.ascontiguousarray(bgr[:, ::-1]), (w - 1 - x1, y0, w - 1 - x0, y1))[:, ::-1])
        return np.mean(probs, axis=0).astype(np.float32)
    probs = []
    for s in scales:
        probs.append(_at_scale(seg, bgr, s))
        if flip:
            probs.append(_at_scale(seg, np.ascontiguousarray(bgr[:, ::-1]), s)[:, ::-1])
    return np.mean(probs, axis=0).astype(np.float32)


def person_box(label: Path, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the person (>= half) in the mask ``label``, at the picture's size ``shape`` (h, w); None when the
    mask is missing, unreadable or empty."""
    m = cv2.imread(str(label), cv2.IMREAD_GRAYSCALE)
    if m is None:
        return None
    if m.shape != shape:
        m = cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    points = cv2.findNonZero((m >= 128).astype(np.uint8))
    if points is None:
        return None
    x, y, bw, bh = cv2.boundingRect(points)
    return x, y, x + bw - 1, y + bh - 1


def pseudo_label(teacher: str, images: Path, out: Path, scales=(1.0,), flip: bool = True,
                 limit: int | None = None, boxes: Path | None = None) -> int:
    """``boxes``: for a pose teacher (``TfjsTeacher.pose``), a folder whose ``masks/<id>.png`` show where the person is
    in each picture (another teacher's labels of the same pictures); the teacher crops round that box, or takes the
    whole picture where there is none."""
    if boxes is not None and tuple(scales) != (1.0,):
        raise ValueError("a pose teacher crops round the person's box: --scales 1.0 only with --boxes")
    folder = images / "images" if (images / "images").is_dir() else images
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS)
    if limit:
        files = files[:limit]
    if not files:
        raise SystemExit(f"no images under {folder}")
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    (out / "SOURCE.md").unlink(missing_ok=True)  # unfinished until the last image is labelled
    done = {p.stem for p in (out / "masks").glob("*.png")}
    todo = [p for p in files if p.stem not in done]
    if len(todo) < len(files):
        print(f"continuing: {len(files) - len(todo)} of {len(files)} images already labelled in {out}", flush=True)
    seg = load_teacher(teacher) if todo else None
    pose = bool(getattr(seg, "pose", False))
    if boxes is not None and seg is not None and not pose:
        raise ValueError(f"--boxes is for a pose teacher (a TF.js model with an {POSE_MASK!r} output); {teacher} is not one")
    written = len(files) - len(todo)
    for path in tqdm(todo, desc=f"pseudo-label ({Path(str(teacher)).name})", unit="img"):
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)  # grayscale files come back as 3 equal channels
        if bgr is None:
            tqdm.write(f"skipped unreadable image {path}")
            continue
        box = person_box(boxes / "masks" / f"{path.stem}.png", bgr.shape[:2]) if boxes is not None else None
        prob = teacher_probability(seg, bgr, scales, flip, box=box)
        stem = path.stem
        cv2.imwrite(str(out / "images" / f"{stem}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
        png = cv2.imencode(".png", np.round(prob * 255).astype(np.uint8))[1].tobytes()
        write_atomically(out / "masks" / f"{stem}.png", lambda f, png=png: f.write(png), binary=True)
        written += 1
    (out / "SOURCE.md").write_text(
        f"# {out.name}: pseudo-labels\n\nSoft masks (probability x 255) for the photos in `{images}`, written by "
        f"`python -m training pseudo-label --teacher {teacher} --scales {','.join(map(str, scales))}"
        f"{'' if flip else ' --no-flip'}{'' if boxes is None else f' --boxes {boxes}'}`. The photos keep their own licence; "
        "see the teacher's licence too.\n"
    )
    return written


def merge_labels(labelled: Path, pseudo: Path, out: Path, adds: str = "all") -> int:
    """A folder dataset whose masks are max(human label, teacher label) per pixel.

    The labelled sets' masks miss people (VOC/COCO distant people, CCP's passers-by, CelebA's hands):
    a teacher that finds them turns those pixels from "background" into soft person. Images are linked,
    not copied; ids and so the validation split stay those of ``labelled``.

    ``adds``: which of the teacher's person the human label lacks joins it. "all": every pixel (portraits: the
    hands, arms and bare shoulders CelebA leaves out are the person). "apart": only the teacher's regions that
    stand apart from the labelled people (``teacher_apart``): in VOC the teacher's additions that touch a
    labelled person are mostly the dog on her lap or the horse under him (RVM cuts out the foreground, not the
    person; looked at on the validation split, 2026-12-04), while a passer-by the labels missed stands apart.
    """
    if adds not in MERGE_ADDS:
        raise ValueError(f"adds must be one of {', '.join(MERGE_ADDS)}, got {adds!r}")
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    n = 0
    for sid, img, mask_path in list_pairs(labelled):
        teacher = pseudo / "masks" / f"{sid}.png"
        human = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
        soft = cv2.imread(str(teacher), cv2.IMREAD_GRAYSCALE) if teacher.exists() else None
        if human is None:
            continue
        if soft is not None:
            soft = cv2.resize(soft, human.shape[::-1], interpolation=cv2.INTER_LINEAR)
            human = np.maximum(human, soft if adds == "all" else teacher_apart(human, soft))
        link = out / "images" / img.name
        if not link.exists():
            link.symlink_to(img.resolve())
        cv2.imwrite(str(out / "masks" / f"{sid}.png"), human)
        n += 1
    (out / "SOURCE.md").write_text(  # last: a folder without it is unfinished
        f"# {out.name}: merged labels\n\nmax(human mask of `{labelled}`, teacher mask of `{pseudo}`) per pixel"
        f"{'' if adds == 'all' else ', the teacher only where it stands apart from the labelled people'}, written "
        f"by `python -m training merge-labels --adds {adds}`. Licences: the labelled set's and the teacher's (see their SOURCE.md).\n")
    return n


#: ``merge_labels``' choices of what the teacher adds.
MERGE_ADDS = ("all", "apart")
#: Frame px (of the label) within which a teacher region counts as touching a labelled person.
APART_PX = 4


def teacher_apart(human: np.ndarray, teacher: np.ndarray) -> np.ndarray:
    """``teacher`` (uint8) kept only in its regions (>= half) that do not come within APART_PX of ``human``'s person:
    people the human labels missed, not what a labelled person holds or sits on."""
    near = cv2.dilate((human >= 128).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * APART_PX + 1,) * 2))
    n, labels = cv2.connectedComponents((teacher >= 128).astype(np.uint8))
    touching = np.unique(labels[(near > 0) & (labels > 0)])
    keep = (labels > 0) & ~np.isin(labels, touching)
    # The region's soft rim (teacher < half) goes with it: a few px round what is kept.
    keep = cv2.dilate(keep.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return np.where(keep, teacher, 0).astype(teacher.dtype)
