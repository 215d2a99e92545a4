"""One log for the command line and the window.

    setup_logging(args.verbose)                          # -v: info, -vv: debug; warnings always
    setup_logging(0, log_file=log_file_path())           # the app also keeps a file a user can attach

Library modules only ever call ``logging.getLogger(__name__)``; handlers are set up here, by the entry
points, once. Messages go to whatever ``sys.stderr`` is when they are written (tests capture it).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

LOGGER = "personseg_live"
LOG_FILE_BYTES = 1_000_000  # per file; two old files are kept


class _Stderr(logging.StreamHandler):
    """A stream handler bound to the current ``sys.stderr``, not the one at set-up time."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; the property decides
        pass


class _Lower(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.level = record.levelname.lower()
        return super().format(record)


def quiet_video_libraries(verbosity: int) -> None:
    """Below -vv, OpenCV and its FFmpeg print only errors of their own making: a damaged video gave the user raw
    lines ("[mov,mp4,...] moov atom not found", "[ WARN:0@0.1] global cap.cpp:212 open VIDEOIO(FFMPEG): backend
    is generally available but can't be used to capture by name") before our own message, which says it in
    words. OpenCV reads FFmpeg's level when it first opens a video, not when it is imported, so this works until
    then; a level the user set is kept."""
    if verbosity >= 2:
        return
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    if "OPENCV_LOG_LEVEL" not in os.environ:
        set_opencv_log_level(OPENCV_LOG_ERROR)


#: OpenCV's own log levels (cv::utils::logging::LogLevel): the same numbers in OpenCV 4 and 5.
OPENCV_LOG_SILENT, OPENCV_LOG_ERROR = 0, 2


def set_opencv_log_level(level: int) -> int:
    """Sets OpenCV's own log level; returns the level before. OpenCV 5 has the calls in ``cv2.utils.logging``,
    OpenCV 4 (which pyproject admits) as ``cv2.setLogLevel`` / ``cv2.getLogLevel``: asking 4.10 for the first
    stopped the app at start with an AttributeError (seen on 2026-12-04 on a machine whose Python had 4.10)."""
    import cv2

    api = getattr(cv2.utils, "logging", cv2)
    before = api.getLogLevel()
    api.setLogLevel(level)
    return before


def log_file_path() -> Path:
    """The app's log in the per-user log folder (Help → Open log shows it)."""
    from platformdirs import user_log_dir

    return Path(user_log_dir("personseg-live")) / "personseg-live.log"


def active_log_file() -> Path | None:
    """The file our logger writes to now (what Help → Open log opens), or None when it logs to stderr only."""
    for handler in logging.getLogger(LOGGER).handlers:
        if getattr(handler, "personseg", False) and isinstance(handler, logging.FileHandler):
            return Path(handler.baseFilename)
    return None


def setup_logging(verbosity: int = 0, *, log_file: Path | None = None) -> logging.Logger:
    """Configure the ``personseg_live`` logger: stderr at WARNING (INFO with 1, DEBUG with 2+), and
    ``log_file`` (rotated) at INFO or lower. Idempotent: calling again replaces our handlers."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    quiet_video_libraries(verbosity)
    logger = logging.getLogger(LOGGER)
    for handler in [h for h in logger.handlers if getattr(h, "personseg", False)]:
        logger.removeHandler(handler)
        handler.close()
    console = _Stderr()
    console.setLevel(level)
    console.setFormatter(_Lower("personseg-live: %(level)s: %(message)s"))
    handlers: list[logging.Handler] = [console]
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            file = logging.handlers.RotatingFileHandler(log_file, maxBytes=LOG_FILE_BYTES, backupCount=2, encoding="utf-8")
        except OSError as exc:  # a read-only home must not stop the app
            console.handle(logging.makeLogRecord({"msg": f"cannot write the log file {log_file}: {exc}", "levelno": logging.WARNING,
                                                  "levelname": "WARNING"}))
        else:
            file.setLevel(min(level, logging.INFO))
            file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s"))
            handlers.append(file)
    for handler in handlers:
        handler.personseg = True
        logger.addHandler(handler)
    logger.setLevel(min(h.level for h in handlers))
    logger.propagate = False  # our handlers say it once, whatever the host application configured
    return logger


__all__ = ["log_file_path", "setup_logging"]
