"""Files dropped on the window: a video or a photo over the picture plays it (as "Open video file…" does);
over the Background panel it becomes the background (as "Add your own…" does).

    path = media_path(event.mimeData())   # the first local video or picture file dropped, or None
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData

from .. import assets

MEDIA_EXTS = assets.VIDEO_EXTS + assets.IMAGE_EXTS


def media_path(mime: QMimeData | None) -> Path | None:
    """The first dropped local file with a video or picture suffix; None for anything else (text, a web link,
    a folder, a document): the window then refuses the drop, and the cursor says so while dragging."""
    if mime is None or not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile():
            path = Path(url.toLocalFile())
            if path.suffix.lower() in MEDIA_EXTS and path.is_file():
                return path
    return None


__all__ = ["MEDIA_EXTS", "media_path"]
