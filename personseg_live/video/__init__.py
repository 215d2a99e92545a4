"""Frame sources (camera, file, demo clip) and sinks (virtual camera, video file, PNG sequence)."""

from .sinks import VCAM_HELP, OutputError, PngSequenceSink, VideoFileSink, VirtualCameraSink, VirtualCameraUnavailable
from .sources import CameraInfo, FileSource, Source, SourceError, list_cameras, open_source

__all__ = [
    "VCAM_HELP", "CameraInfo", "FileSource", "OutputError", "PngSequenceSink", "Source", "SourceError",
    "VideoFileSink", "VirtualCameraSink", "VirtualCameraUnavailable", "list_cameras", "open_source",
]
