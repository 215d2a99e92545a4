"""Small real video files for the runtime tests, written with PyAV (H.264, optional AAC audio)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def synthetic_frame(i: int, w: int = 160, h: int = 96) -> np.ndarray:
    """A textured background with a light 'head and shoulders' blob that drifts sideways."""
    yy, xx = np.mgrid[0:h, 0:w]
    frame = np.empty((h, w, 3), np.uint8)
    frame[..., 0] = (xx * 255 // w).astype(np.uint8)
    frame[..., 1] = (yy * 255 // h).astype(np.uint8)
    frame[..., 2] = 90
    cx = w // 2 + int(10 * np.sin(i / 5))
    cv2.ellipse(frame, (cx, h // 3), (w // 10, h // 6), 0, 0, 360, (170, 190, 230), -1)
    cv2.ellipse(frame, (cx, h), (w // 4, h // 3), 0, 0, 360, (60, 40, 200), -1)
    return frame


def write_video(
    path: Path, *, frames: int = 30, size: tuple[int, int] = (160, 96), fps: int = 30, audio: bool = False
) -> Path:
    w, h = size
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.options = {"preset": "ultrafast"}
        astream = None
        if audio:
            astream = out.add_stream("aac", rate=44100)
            astream.layout = "mono"
        for i in range(frames):
            vf = av.VideoFrame.from_ndarray(synthetic_frame(i, w, h), format="bgr24")
            vf.pts, vf.time_base = i, Fraction(1, fps)
            out.mux(video.encode(vf))
        out.mux(video.encode(None))
        if astream is not None:
            total = int(round(frames / fps * 44100))
            t = 0
            while t < total:
                n = min(1024, total - t)
                samples = (0.3 * np.sin(2 * np.pi * 440 * (np.arange(t, t + n) / 44100))).astype(np.float32)[None]
                af = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
                af.sample_rate, af.pts, af.time_base = 44100, t, Fraction(1, 44100)
                out.mux(astream.encode(af))
                t += n
            out.mux(astream.encode(None))
    return path


def probe(path: Path) -> dict:
    """Frame count (decoded), video duration and fps, audio presence and duration."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        count = sum(1 for _ in c.decode(v))
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0] if c.streams.audio else None
        info = {
            "frames": count,
            "fps": float(v.average_rate),
            "size": (v.codec_context.width, v.codec_context.height),
            "duration": float(c.duration / 1e6) if c.duration else None,
            "video_codec": v.codec_context.name,
            "audio_codec": a.codec_context.name if a else None,
            "audio_duration": float(a.duration * a.time_base) if a is not None and a.duration else None,
        }
    return info
