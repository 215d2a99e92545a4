"""The room cue on real clips with labels (issue 13): the model alone, learning while running, and the plate
learned from the whole clip first (``--plate auto``), through FrameProcessor as the app runs it (blurred room).

    .venv/bin/python tools/room_real_clips.py ../shared/video/juggle.mp4=runs/val_kinds/video_fullbody_juggle ...

Each argument is VIDEO=FOLDER, FOLDER holding masks/<video stem>_<frame index, 5 digits>.png for some frames
(``python -m training pseudo-label --images VIDEO --every 3`` writes them so; the masks may be smaller than the
frames). Prints IoU (alpha >= 0.5, at the masks' size) and boundary F per clip and mode.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def frames(path: Path):
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SystemExit(f"cannot open {path}")
    while True:
        ok, frame = cap.read()
        if not ok:
            return
        yield frame


def measure(video: Path, labels: Path, segmenter) -> dict[str, tuple[float, float]]:
    import cv2
    import numpy as np

    from personseg_live.processor import FrameProcessor
    from personseg_live.quality import boundary_f
    from personseg_live.room import RoomCue, learn_plate
    from personseg_live.room.learn import sample_step

    clip = list(frames(video))
    plate = learn_plate(((segmenter.lowres(f), f) for f in clip[::sample_step(len(clip))]), clip[0].shape[:2])
    cues = {"model alone": lambda: None, "learned while running": lambda: RoomCue(None, learn=True),
            "--plate auto": lambda: RoomCue(plate, learn=True)}
    out = {}
    for mode, cue in cues.items():
        processor, ious, fs = FrameProcessor(segmenter, room=cue()), [], []
        for i, frame in enumerate(clip):
            alpha = processor(frame).alpha
            mask = labels / "masks" / f"{video.stem}_{i:05d}.png"
            if not mask.exists():
                continue
            truth = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE) >= 128
            a = cv2.resize(alpha, truth.shape[::-1], interpolation=cv2.INTER_AREA)
            ious.append(float(((a >= 0.5) & truth).sum() / max(((a >= 0.5) | truth).sum(), 1)))
            fs.append(boundary_f(a, truth.astype(np.float32)))
        if not ious:
            raise SystemExit(f"no masks/{video.stem}_NNNNN.png in {labels} for the frames of {video}")
        out[mode] = (float(np.mean(ious)), float(np.mean(fs)))
    return out


def main(argv: list[str]) -> int:
    from personseg_live.model.segmenter import Segmenter

    if not argv or any("=" not in a for a in argv):
        print(__doc__, file=sys.stderr)
        return 2
    segmenter = Segmenter()
    for arg in argv:
        video, labels = (Path(p) for p in arg.split("=", 1))
        r = measure(video, labels, segmenter)
        base = r["model alone"][0]
        print(f"{video.name}: " + "; ".join(f"{mode} {iou:.4f} / {f:.3f}" + ("" if mode == "model alone" else f" ({100 * (iou - base):+.2f})")
                                            for mode, (iou, f) in r.items()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
