"""The one place that finds bundled files: model weights, backgrounds, the demo clip.

In a wheel the top-level ``assets/`` folder is installed as the package ``personseg_live.assets``;
in a checkout it sits beside the package. Both resolve to the same layout.
"""

from __future__ import annotations

from pathlib import Path

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
#: .gif: an animated GIF is a short clip (a background that moves, a file to process); OpenCV and PyAV both play it.
VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".gif")
DEFAULT_MODEL = "default"


def assets_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "assets", here.parent / "assets"):
        if (candidate / "models").is_dir():
            return candidate
    raise FileNotFoundError(
        f"bundled assets not found next to {here} (looked for assets/models); reinstall personseg-live"
    )


def models_dir() -> Path:
    return assets_dir() / "models"


def model_names() -> list[str]:
    """Names of the bundled models (each has at least a .tflite or .keras file).

    ``<name>.<H>x<W>.tflite`` files are fixed-shape copies of ``<name>``, not models of their own.
    """
    names = {p.stem for p in models_dir().iterdir() if p.suffix in (".tflite", ".keras") and "." not in p.stem}
    return sorted(names, key=lambda n: (n != DEFAULT_MODEL, n))


def pose_model() -> Path | None:
    """The pose model whose person mask ``--quality high`` takes for a whole body (``model/pose_look.py``); None when
    this install lacks it."""
    path = assets_dir() / "pose" / "pose_landmark_heavy.tflite"
    return path if path.is_file() else None


def backgrounds() -> list[Path]:
    folder = assets_dir() / "backgrounds"
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS) if folder.is_dir() else []


def demo_clip() -> Path:
    folder = assets_dir() / "demo"
    clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTS) if folder.is_dir() else []
    if not clips:
        raise FileNotFoundError(f"no demo clip in {folder}; reinstall personseg-live")
    return clips[0]
