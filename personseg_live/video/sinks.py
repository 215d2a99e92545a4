"""Where finished frames go: a virtual camera (pyvirtualcam) or a video file (PyAV, audio kept).

    with VirtualCameraSink(width=1280, height=720, fps=30) as cam:   # VirtualCameraUnavailable if no device
        cam.send(frame_bgr)

    sink = VideoFileSink("out.mp4", width=w, height=h, fps=Fraction(30000, 1001), audio=in_audio_stream)
    sink.send(frame_bgr, pts=frame.pts, time_base=frame.time_base)
    sink.write_audio(packet)
    sink.close()                 # renames the temporary file to out.mp4; close(complete=False) deletes it

Files are written under a hidden temporary name in the target folder and renamed only when
complete, so an interrupted run never leaves a half file under the name the user asked for.
"""

from __future__ import annotations

import glob
import os
import shutil
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..errors import PersonsegError
from ..ours import mark_video
from .colour import PLAIN, SMPTE170M, Colour

VCAM_MODPROBE = 'sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label="personseg-live"'
VCAM_HELP = f"""\
No virtual camera device is available.

Linux: load the v4l2loopback kernel module (package v4l2loopback-dkms or v4l2loopback-utils):
    {VCAM_MODPROBE}
  exclusive_caps=1 makes the device report itself as a capture-only camera once we write to it;
  Chrome, Zoom and other WebRTC apps list only such devices, so without it the camera is invisible
  there. To load it at every boot, put the options in /etc/modprobe.d/v4l2loopback.conf.

Windows / macOS: install OBS Studio (https://obsproject.com) and click "Start Virtual Camera"
  once (this installs the device), then stop it again; personseg-live can use it from then on.
  On Windows, Unity Capture works too."""


class VirtualCameraUnavailable(PersonsegError, RuntimeError):
    """pyvirtualcam found no usable device; the message carries the setup instructions."""


class OutputError(PersonsegError, RuntimeError):
    """An output file or folder that cannot be written."""


class VirtualCameraSink:
    """Frames (BGR, or BGRA whose alpha is dropped) to a virtual camera that other apps can open."""

    def __init__(self, *, width: int, height: int, fps: float, device: str | None = None, backend: str | None = None):
        import pyvirtualcam

        self.width, self.height, self.fps = int(width), int(height), float(fps)
        try:
            self._cam = pyvirtualcam.Camera(
                width=self.width, height=self.height, fps=self.fps,
                fmt=pyvirtualcam.PixelFormat.BGR, device=device, backend=backend,
            )
        except Exception as exc:  # pyvirtualcam raises RuntimeError per backend tried, KeyError for a bad backend name
            detail = str(exc).strip() or type(exc).__name__
            raise VirtualCameraUnavailable(f"{VCAM_HELP}\n\nDetails: {detail}") from exc
        self.device = self._cam.device

    def send(self, frame_bgr: np.ndarray) -> None:
        frame = frame_bgr
        if frame.ndim == 3 and frame.shape[2] == 4:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
        if frame.shape[:2] != (self.height, self.width):
            frame = cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        self._cam.send(np.ascontiguousarray(frame))

    def close(self) -> None:
        cam, self._cam = getattr(self, "_cam", None), None
        if cam is not None:
            cam.close()

    def __enter__(self) -> "VirtualCameraSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def temporary_name(path: Path) -> Path:
    """A hidden name beside ``path`` with the same suffix (so the format is still recognised)."""
    return path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")


def remove_leftovers(path: Path) -> list[Path]:
    """Delete the temporary files (or folders) of earlier runs for ``path`` that were killed before
    they could clean up (``kill -9``, a crash, a power cut); return what was removed. A run still
    alive (another process writing the same output) keeps its own."""
    removed = []
    for leftover in path.parent.glob(f".{glob.escape(path.stem)}.*-*{glob.escape(path.suffix)}"):
        kind, _, pid = leftover.name[len(path.stem) + 2 :].removesuffix(path.suffix).partition("-")
        if kind not in ("partial", "old") or not pid.isdigit() or _alive(int(pid)):
            continue
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
        removed.append(leftover)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # ours from an earlier job of this run: never in use now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def cannot_write(path: Path, exc: BaseException) -> OutputError:
    """The error for a target the OS or FFmpeg refused, naming the file and the reason."""
    return OutputError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}")


def check_writable(path: Path) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"cannot write {path}: {folder} is a file, not a folder")
    if not folder.is_dir():
        raise OutputError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"output folder is not writable: {folder}")
    if path.is_dir() and path.suffix:
        raise OutputError(f"output {path} is an existing folder")


#: Video suffixes and their codec; transparent output needs .webm (VP9 with alpha) or a folder of PNGs.
VIDEO_CODECS = {".mp4": "libx264", ".m4v": "libx264", ".mov": "libx264", ".mkv": "libx264", ".webm": "libvpx-vp9"}
_COPY_AUDIO = {
    ".mp4": {"aac", "mp3", "ac3", "eac3", "alac"},
    ".m4v": {"aac", "mp3", "ac3", "eac3", "alac"},
    ".mov": {"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s24le"},
    ".mkv": None,  # anything
    ".webm": {"opus", "vorbis"},
}


class VideoFileSink:
    """An H.264 (.mp4/.mov/.mkv) or VP9 (.webm, with alpha when ``transparent``) file via PyAV.

    ``audio``: an input audio stream, or a list of them, to carry over (every track, in order); packets
    are copied when the container takes the codec, otherwise decoded and re-encoded (AAC, or Opus
    for WebM). ``audio_kept`` says which was done for each.
    ``colour``: the matrix BGR frames are encoded with and the tags the file gets (the input's, so
    the output plays with the input's colours); always limited range.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        width: int,
        height: int,
        fps: float | Fraction,
        time_base: Fraction | None = None,
        transparent: bool = False,
        audio=None,
        preset: str = "veryfast",
        crf: int = 20,
        threads: int = 0,
        colour: Colour = PLAIN,
    ):
        import av

        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in VIDEO_CODECS:
            raise OutputError(f"{self.path}: unsupported output type {suffix or '(none)'} (use {', '.join(VIDEO_CODECS)})")
        if transparent and suffix != ".webm":
            raise OutputError(f"{self.path}: transparent output needs .webm (VP9 with alpha) or a folder (PNG sequence)")
        check_writable(self.path)
        self.transparent = transparent
        self.width, self.height = int(width), int(height)
        # yuv420p halves chroma in both directions: odd sizes are padded by one replicated pixel.
        self._enc_w, self._enc_h = self.width + self.width % 2, self.height + self.height % 2
        self.rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
        self.time_base = time_base or (1 / self.rate)
        self._tmp = temporary_name(self.path)
        try:
            self._container = av.open(str(self._tmp), mode="w")
        except (OSError, av.error.FFmpegError) as exc:
            raise cannot_write(self.path, exc) from exc
        mark_video(self._container)  # so that a later -y may replace it (ours.py)
        try:
            codec = VIDEO_CODECS[suffix]
            stream = self._container.add_stream(codec, rate=self.rate)
            stream.width, stream.height = self._enc_w, self._enc_h
            stream.pix_fmt = "yuva420p" if transparent else "yuv420p"
            stream.codec_context.time_base = self.time_base
            stream.time_base = self.time_base
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = threads
            # Transparent frames are converted by the encoder's swscale pass: BT.601.
            self.colour = Colour(colorspace=SMPTE170M) if transparent else colour
            self.colour.tag(stream)
            if codec == "libx264":
                stream.options = {"preset": preset, "crf": str(crf)}
            else:
                stream.options = {"deadline": "realtime", "cpu-used": "8", "row-mt": "1", "crf": "32", "b": "0"}
            self._video = stream
            streams = [] if audio is None else list(audio) if isinstance(audio, (list, tuple)) else [audio]
            self._audio = {a.index: _AudioTrack(self._container, a, suffix) for a in streams}
            # Open the file and write the header now: an unwritable target fails here, with its name,
            # rather than at the first frame in the writer thread.
            self._container.start_encoding()
        except (OSError, av.error.FFmpegError) as exc:
            self._abort()
            raise cannot_write(self.path, exc) from exc
        except Exception:
            self._abort()
            raise
        self._next_pts = 0
        self._last_pts: int | None = None
        self.frames = 0

    @property
    def size_note(self) -> str | None:
        """Why the file is a pixel larger than the frames, when it is."""
        if (self._enc_w, self._enc_h) == (self.width, self.height):
            return None
        return (f"{self.width}x{self.height} written as {self._enc_w}x{self._enc_h}: 4:2:0 video (what players "
                "and browsers take) needs even sizes; the last column/row is repeated")

    @property
    def audio_kept(self) -> list[str]:
        """What became of each input audio track, e.g. ["aac copied", "pcm_s16le re-encoded to aac"]."""
        return [track.summary for track in self._audio.values()]

    def send(self, frame: np.ndarray, *, pts: int | None = None, time_base: Fraction | None = None) -> None:
        """One frame (BGR, or BGRA for transparent output). ``pts`` in ``time_base`` keeps the input's
        timing exactly; without it frames are numbered at the sink's rate."""
        import av

        if frame.shape[0] != self._enc_h or frame.shape[1] != self._enc_w:
            if frame.shape[:2] != (self.height, self.width):
                frame = cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
            frame = cv2.copyMakeBorder(frame, 0, self._enc_h - self.height, 0, self._enc_w - self.width, cv2.BORDER_REPLICATE)
        if self.transparent and frame.shape[2] == 3:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA)
        elif not self.transparent and frame.shape[2] == 4:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
        if self.transparent:
            vf = av.VideoFrame.from_ndarray(frame, format="bgra")
        else:
            # OpenCV's SIMD BGR->I420 for BT.601 (1 ms at 720p) instead of swscale's (~5 ms).
            vf = av.VideoFrame.from_ndarray(self.colour.bgr_to_i420(frame), format="yuv420p")
        self._encode(vf, pts, time_base)

    def _encode(self, vf, pts: int | None, time_base: Fraction | None) -> None:
        step = max(1, round(1 / (self.rate * self.time_base)))
        if pts is None:
            vf.pts, vf.time_base = self._next_pts, self.time_base
        else:
            vf.pts, vf.time_base = pts, time_base or self.time_base
            if vf.time_base != self.time_base:
                vf.pts, vf.time_base = round(pts * vf.time_base / self.time_base), self.time_base
            if self._last_pts is not None and vf.pts <= self._last_pts:
                # Broken files repeat timestamps; the encoder refuses non-increasing ones.
                vf.pts = self._last_pts + 1
        self._last_pts = vf.pts
        self._next_pts = vf.pts + step
        self.colour.tag_frame(vf)
        self._container.mux(self._video.encode(vf))
        self.frames += 1

    def send_i420(self, frame: np.ndarray, *, pts: int | None = None, time_base: Fraction | None = None) -> None:
        """A frame already in I420 layout ((h*3/2, w) uint8, the encoder's size): no conversion at all."""
        import av

        if self.transparent or frame.shape != (self._enc_h * 3 // 2, self._enc_w):
            raise ValueError(f"send_i420 needs a ({self._enc_h * 3 // 2}, {self._enc_w}) I420 frame and an opaque output")
        self._encode(av.VideoFrame.from_ndarray(frame, format="yuv420p"), pts, time_base)

    def write_audio(self, packet) -> None:
        """A demuxed packet of one of the ``audio`` streams given at construction."""
        track = self._audio.get(packet.stream.index)
        if track is not None:
            track.write(self._container, packet)

    def close(self, *, complete: bool = True) -> None:
        """Flush and rename to the final name (``complete``), or delete the partial file."""
        import av

        if self._container is None:
            return
        if not complete:
            self._abort()
            return
        try:
            self._container.mux(self._video.encode(None))
            for track in self._audio.values():
                track.flush(self._container)
            self._container.close()
        except (OSError, av.error.FFmpegError) as exc:  # disk full at the last write
            self._abort()
            raise cannot_write(self.path, exc) from exc
        except BaseException:
            self._abort()
            raise
        self._container = None
        os.replace(self._tmp, self.path)

    def _abort(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except Exception:
                pass  # the partial file goes anyway
        try:
            self._tmp.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> "VideoFileSink":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(complete=exc_type is None)


class _AudioTrack:
    """One input audio stream carried into the output: its packets copied when the container takes
    the codec, otherwise decoded and re-encoded (AAC, or Opus for WebM)."""

    def __init__(self, container, audio, suffix: str):
        import av

        allowed = _COPY_AUDIO[suffix]
        # The format's name, not its decoder's: MP3 decodes as "mp3float" and was re-encoded where it can be copied.
        self.source = audio.codec_context.codec.canonical_name
        self.resampler = None
        if allowed is None or self.source in allowed:
            self.out = container.add_stream_from_template(audio)
            self.summary = f"{self.source} copied"
            _keep_tags(audio, self.out)
            return
        codec = "libopus" if suffix == ".webm" else "aac"
        rate = audio.codec_context.sample_rate or 48000
        if codec == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
            rate = 48000
        self.out = container.add_stream(codec, rate=rate)
        layout = _named_layout(audio.codec_context.layout)
        self.out.layout = layout
        fmt = self.out.codec_context.codec.audio_formats[0].name if self.out.codec_context.codec.audio_formats else "fltp"
        self.resampler = av.AudioResampler(format=fmt, layout=layout, rate=rate)
        self.summary = f"{self.source} re-encoded to {codec.removeprefix('lib')}"
        _keep_tags(audio, self.out)

    def write(self, container, packet) -> None:
        if self.resampler is None:
            if packet.dts is None:  # the demuxer's end-of-stream flush packet
                return
            packet.stream = self.out
            container.mux(packet)
            return
        for frame in packet.decode():
            self._encode(container, frame)

    def _encode(self, container, frame) -> None:
        for resampled in self.resampler.resample(frame):
            resampled.pts = None  # let the encoder number samples continuously
            container.mux(self.out.encode(resampled))

    def flush(self, container) -> None:
        if self.resampler is not None:
            self._encode(container, None)  # drains the resampler
            container.mux(self.out.encode(None))


def _keep_tags(source, out) -> None:
    """What tells a file's tracks apart (a dubbed film's English and French, a commentary): language, title (MP4
    reads it back as "name") and which track plays by default. Every track came out "und" and untitled."""
    language = source.metadata.get("language")
    title = source.metadata.get("title") or source.metadata.get("name")
    if language:
        out.metadata["language"] = language
    if title:
        out.metadata["title"] = title
    out.disposition = source.disposition


#: FFmpeg's default layout per channel count: Matroska and AVI store PCM without one ("2 channels"), which the
#: AAC encoder refuses ("Invalid argument").
_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def _named_layout(layout) -> str:
    """The input's channel layout by a name an encoder takes; more than 8 channels are mixed down to stereo."""
    if layout is None:
        return "stereo"
    if "channels" not in layout.name:  # named: "stereo", "5.1(side)", ...
        return layout.name
    return _LAYOUTS.get(layout.nb_channels, "stereo")


def is_png_sequence(folder: Path) -> bool:
    """True for a folder holding nothing but numbered PNGs (00000.png ...), or nothing at all."""
    return all(p.is_file() and p.suffix == ".png" and p.stem.isdigit() for p in folder.iterdir())


class PngSequenceSink:
    """Frames as numbered PNGs (00000.png, ...) in a folder: lossless, with alpha (BGRA) when given.

    Written into a hidden temporary folder beside ``path`` and renamed when complete, so a failed
    run leaves nothing and a finished one never mixes with stale frames of an earlier, longer one.
    ``overwrite``: replace an existing folder of PNG frames (else that is an error, like an existing file)."""

    def __init__(self, path: str | Path, *, overwrite: bool = True, what: str = "PNG frames"):
        self.path = Path(path)
        check_writable(self.path)
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"{self.path} exists and is not a folder")
        if self.path.is_dir() and not is_png_sequence(self.path):
            # The finished sequence replaces the folder as a whole: never a folder with other files.
            raise OutputError(f"{self.path} is a folder with other files in it; give a new folder for the {what}")
        if self.path.is_dir() and not overwrite and any(self.path.iterdir()):
            raise OutputError(f"{self.path} already holds {what}; add -y/--overwrite to replace them")
        self._tmp = temporary_name(self.path)
        shutil.rmtree(self._tmp, ignore_errors=True)
        try:
            self._tmp.mkdir(parents=True)
        except OSError as exc:
            raise cannot_write(self.path, exc) from exc
        self.what = what
        self.frames = 0
        self._open = True

    def send(self, image: np.ndarray, **_: object) -> None:
        target = self._tmp / f"{self.frames:05d}.png"
        # Compression level 1: 3-4x faster than the default 3, files ~10% larger.
        if not cv2.imwrite(str(target), image, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
            # OpenCV says no more than False: disk full is the usual reason. Name the folder the user gave.
            raise OutputError(f"cannot write the {self.what} into {self.path} (disk full?)")
        self.frames += 1

    def write_audio(self, packet) -> None:  # a PNG sequence has no audio
        pass

    def close(self, *, complete: bool = True) -> None:
        if not self._open:
            return
        self._open = False
        if not complete:
            shutil.rmtree(self._tmp, ignore_errors=True)
            return
        if self.path.is_dir():
            # Replace an earlier result as a whole: stale frames from a longer clip must not remain.
            old = self.path.with_name(f".{self.path.stem}.old-{os.getpid()}{self.path.suffix}")
            os.replace(self.path, old)
            os.replace(self._tmp, self.path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self._tmp, self.path)

    def __enter__(self) -> "PngSequenceSink":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(complete=exc_type is None)


__all__ = [
    "OutputError", "PngSequenceSink", "VCAM_HELP", "VCAM_MODPROBE", "VideoFileSink", "VirtualCameraSink", "VirtualCameraUnavailable",
]
