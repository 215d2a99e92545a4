"""Small real video files for the runtime tests, written with PyAV (H.264, optional AAC audio)."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def holds_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has ``path`` open (Linux: its /proc/PID/fd links): a started app has its source open."""
    try:
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


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


PEOPLE = Path(__file__).resolve().parent / "data" / "people" / "images"


def person_frame(i: int, w: int = 160, h: int = 96, seed: int = 0) -> np.ndarray:
    """A real person photo (tests/data/people) that drifts sideways, with sensor noise: for tests that need
    the model to find someone (a drawn blob is no person to a model fine-tuned on photos)."""
    photo = cv2.imread(str(sorted(PEOPLE.glob("*.jpg"))[0]))
    scale = h / photo.shape[0]
    person = cv2.resize(photo, (max(1, int(photo.shape[1] * scale)), h), interpolation=cv2.INTER_AREA)
    frame = cv2.resize(photo[:4, :4], (w, h))  # the photo's own corner colour as the room
    x = (w - person.shape[1]) // 2 + int(6 * np.sin(i / 5))
    left, right = max(0, x), min(w, x + person.shape[1])
    frame[:, left:right] = person[:, left - x:right - x]
    noise = np.random.default_rng(seed * 1000 + i).normal(0, 2.0, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def write_video(
    path: Path,
    *,
    frames: int = 30,
    size: tuple[int, int] = (160, 96),
    fps: int = 30,
    audio: bool = False,
    audio_tracks: int | None = None,
    audio_tags: list[tuple[str, str]] | None = None,
    rotation: int = 0,
    color_range: str | None = None,
    colorspace: str | None = None,
    image=None,
) -> Path:
    """An H.264 file of ``synthetic_frame`` pictures (or ``image(i)``), optionally with what phones and
    cameras add: a display rotation (the picture is stored turned so that it *displays* as ``image``),
    a full colour range ("pc") and a tagged matrix ("bt601"/"bt709"), and several AAC audio tracks
    (``audio_tags``: each track's language and title)."""
    w, h = size
    tracks = audio_tracks if audio_tracks is not None else int(audio)
    make = image or (lambda i: synthetic_frame(i, w, h))
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        stored = stored_picture(make(0), rotation)
        # 4:2:0 needs even sizes; cameras and editors fall back to 4:4:4 (or crop) for odd ones.
        pix_fmt = "yuv420p" if stored.shape[0] % 2 == 0 and stored.shape[1] % 2 == 0 else "yuv444p"
        video.width, video.height, video.pix_fmt = stored.shape[1], stored.shape[0], pix_fmt
        video.options = {"preset": "ultrafast", "crf": "12"}
        cs = {"bt601": 6, "bt709": 1}.get(colorspace or "", 2)
        cr = {"pc": 2, "tv": 1}.get(color_range or "", 0)
        video.codec_context.colorspace, video.codec_context.color_range = cs, cr
        if colorspace == "bt709":
            video.codec_context.color_primaries, video.codec_context.color_trc = 1, 1
        if rotation:
            video.set_display_rotation(rotation)
        astreams = []
        for k in range(tracks):
            a = out.add_stream("aac", rate=44100)
            a.layout = "mono" if k == 0 else "stereo"
            if audio_tags:
                a.metadata["language"], a.metadata["title"] = audio_tags[k]
            astreams.append(a)
        for i in range(frames):
            vf = av.VideoFrame.from_ndarray(stored_picture(make(i), rotation), format="bgr24")
            vf = vf.reformat(
                format=pix_fmt, dst_colorspace="itu709" if colorspace == "bt709" else "itu601",
                dst_color_range="JPEG" if color_range == "pc" else "MPEG",
                interpolation="BICUBIC",
            )
            vf.colorspace, vf.color_range = cs, cr
            vf.pts, vf.time_base = i, Fraction(1, fps)
            out.mux(video.encode(vf))
        out.mux(video.encode(None))
        for k, astream in enumerate(astreams):
            _write_tone(out, astream, frames / fps, 440 * (k + 1), channels=1 if k == 0 else 2)
    return path


def stored_picture(upright: np.ndarray, rotation: int) -> np.ndarray:
    """What a camera stores for a picture that displays as ``upright`` under a display matrix of
    ``rotation`` degrees counter-clockwise (PyAV's VideoFrame.rotation convention)."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(upright, -k))  # stored turned the other way


def _write_tone(out, astream, seconds: float, hz: float, *, channels: int) -> None:
    total = int(round(seconds * 44100))
    layout = "mono" if channels == 1 else "stereo"
    t = 0
    while t < total:
        n = min(1024, total - t)
        tone = (0.3 * np.sin(2 * np.pi * hz * (np.arange(t, t + n) / 44100))).astype(np.float32)
        af = av.AudioFrame.from_ndarray(np.repeat(tone[None], channels, axis=0), format="fltp", layout=layout)
        af.sample_rate, af.pts, af.time_base = 44100, t, Fraction(1, 44100)
        out.mux(astream.encode(af))
        t += n
    out.mux(astream.encode(None))


def decode_bgr(path: Path) -> list[np.ndarray]:
    """Every frame as BGR the way a player shows it: display rotation applied, the file's own
    colour range and matrix honoured (swscale told both explicitly)."""
    frames = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            cs = "itu709" if f.colorspace == 1 else "itu601"
            rng = "JPEG" if f.color_range == 2 else "MPEG"
            bgr = f.reformat(format="bgr24", src_colorspace=cs, src_color_range=rng,
                             interpolation="BICUBIC").to_ndarray()
            k = (round(f.rotation) // 90) % 4
            frames.append(np.ascontiguousarray(np.rot90(bgr, k)))
    return frames


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
            "audio_tracks": [(s.codec_context.name, s.codec_context.channels) for s in c.streams.audio],
            "color_range": v.codec_context.color_range,
            "colorspace": v.codec_context.colorspace,
            "audio_duration": float(a.duration * a.time_base) if a is not None and a.duration else None,
        }
    return info
