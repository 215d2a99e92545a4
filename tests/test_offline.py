"""Offline processing on real small files: every frame, audio and timing kept, masks, clean aborts."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from personseg_live.compose import BackgroundError
from personseg_live.offline import (
    InputError,
    ProcessOptions,
    expand_inputs,
    parse_background,
    process_video,
)
from personseg_live.settings import BackgroundSettings
from personseg_live.video import OutputError

from videos import probe, write_video


@pytest.fixture(scope="module")
def clip_with_audio(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("off") / "talk.mp4", frames=45, fps=30, audio=True)


@pytest.fixture(scope="module")
def clip_25(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("off25") / "silent.mp4", frames=30, fps=25, size=(96, 64))


def test_frames_audio_duration_and_masks_kept(tmp_path, clip_with_audio, segmenter):
    out = tmp_path / "out.mp4"
    masks = tmp_path / "masks"
    report = process_video(clip_with_audio, out, ProcessOptions(mask_out=masks), segmenter=segmenter, progress=False)
    src, dst = probe(clip_with_audio), probe(out)
    assert report.frames == src["frames"] == dst["frames"] == 45
    assert dst["fps"] == src["fps"] == 30
    assert dst["video_codec"] == "h264" and dst["audio_codec"] == "aac" and report.audio
    assert abs(dst["duration"] - src["duration"]) <= 1 / 30 + 1e-6
    assert abs(dst["audio_duration"] - src["audio_duration"]) <= 1 / 30 + 1e-6
    names = sorted(p.name for p in masks.iterdir())
    assert names == [f"{i:05d}.png" for i in range(45)]
    mask = cv2.imread(str(masks / "00010.png"), cv2.IMREAD_UNCHANGED)
    assert mask.dtype == np.uint8 and mask.ndim == 2 and mask.shape == (96, 160)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masks", "out.mp4"]  # no temporary files left


def test_masks_are_the_final_alpha(tmp_path, clip_25, segmenter):
    masks = tmp_path / "m"
    options = ProcessOptions(background=parse_background("transparent"), mask_out=masks)
    out = tmp_path / "frames"  # no video suffix + transparent: a folder of RGBA PNGs
    report = process_video(clip_25, out, options, segmenter=segmenter, progress=False)
    assert report.frames == 30
    rgba = cv2.imread(str(out / "00007.png"), cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(str(masks / "00007.png"), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (64, 96, 4)
    assert np.abs(rgba[..., 3].astype(int) - mask.astype(int)).max() <= 1


def test_transparent_webm(tmp_path, clip_25, segmenter):
    import av

    out = tmp_path / "out.webm"
    process_video(clip_25, out, ProcessOptions(background=BackgroundSettings(mode="transparent")), segmenter=segmenter, progress=False)
    info = probe(out)
    assert info["frames"] == 30 and info["video_codec"] in ("vp9", "libvpx-vp9")
    # The alpha plane is there: FFmpeg's native VP9 decoder ignores it, libvpx reads it.
    with av.open(str(out)) as container:
        decoder = av.CodecContext.create("libvpx-vp9", "r")
        frames = [f for packet in container.demux(video=0) for f in decoder.decode(packet)]
    assert frames[0].format.name == "yuva420p"
    alpha = frames[5].to_ndarray(format="rgba")[..., 3]
    assert alpha.min() < 64 and alpha.max() > 192


def test_pcm_audio_is_reencoded_to_aac(tmp_path, segmenter):
    import av
    from fractions import Fraction

    from videos import synthetic_frame

    src = tmp_path / "pcm.mov"
    with av.open(str(src), "w") as out:
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 160, 96, "yuv420p"
        audio = out.add_stream("pcm_s16le", rate=48000)
        audio.layout = "stereo"
        for i in range(30):
            vf = av.VideoFrame.from_ndarray(synthetic_frame(i), format="bgr24")
            vf.pts, vf.time_base = i, Fraction(1, 30)
            out.mux(video.encode(vf))
        out.mux(video.encode(None))
        for t in range(0, 48000, 1024):
            af = av.AudioFrame.from_ndarray(np.zeros((1, 2048), np.int16), format="s16", layout="stereo")
            af.sample_rate, af.pts, af.time_base = 48000, t, Fraction(1, 48000)
            out.mux(audio.encode(af))
        out.mux(audio.encode(None))
    dst = tmp_path / "out.mp4"
    process_video(src, dst, ProcessOptions(), segmenter=segmenter, progress=False)
    a, b = probe(src), probe(dst)
    assert b["audio_codec"] == "aac" and b["frames"] == 30
    assert abs(b["audio_duration"] - a["audio_duration"]) <= 1 / 30


def test_interrupt_leaves_no_output(tmp_path, clip_with_audio, segmenter):
    out = tmp_path / "out.mp4"

    def interrupt(index):
        if index == 10:
            raise KeyboardInterrupt  # what Ctrl-C raises in the main thread

    with pytest.raises(KeyboardInterrupt):
        process_video(clip_with_audio, out, ProcessOptions(), segmenter=segmenter, progress=False, on_frame=interrupt)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_survives_an_interrupt(tmp_path, clip_25, segmenter):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous result")

    def interrupt(index):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        process_video(clip_25, out, ProcessOptions(), segmenter=segmenter, progress=False, on_frame=interrupt)
    assert out.read_bytes() == b"previous result" and [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_bad_inputs(tmp_path, segmenter):
    with pytest.raises(InputError, match="not found"):
        process_video(tmp_path / "missing.mp4", tmp_path / "o.mp4", ProcessOptions(), segmenter=segmenter, progress=False)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"this is not a video" * 100)
    with pytest.raises(InputError, match="corrupt.mp4"):
        process_video(corrupt, tmp_path / "o.mp4", ProcessOptions(), segmenter=segmenter, progress=False)
    empty = write_video(tmp_path / "empty.mp4", frames=0)
    with pytest.raises(InputError, match="empty.mp4"):
        process_video(empty, tmp_path / "o.mp4", ProcessOptions(), segmenter=segmenter, progress=False)
    assert not (tmp_path / "o.mp4").exists()


def test_bad_outputs(tmp_path, clip_25, segmenter):
    with pytest.raises(OutputError, match="does not exist"):
        process_video(clip_25, tmp_path / "nope" / "o.mp4", ProcessOptions(), segmenter=segmenter, progress=False)
    with pytest.raises(OutputError, match="unsupported output type"):
        process_video(clip_25, tmp_path / "o.gif", ProcessOptions(), segmenter=segmenter, progress=False)
    with pytest.raises(BackgroundError, match="not found"):
        options = ProcessOptions(background=BackgroundSettings(mode="image", path=str(tmp_path / "x.jpg")))
        process_video(clip_25, tmp_path / "o.mp4", options, segmenter=segmenter, progress=False)


@pytest.mark.parametrize(
    "value, mode, extra",
    [
        ("blur", "blur", {}),
        ("none", "none", {}),
        ("transparent", "transparent", {}),
        ("color:#ff0000", "color", {"color": "#FF0000"}),
        ("#00B140", "color", {"color": "#00B140"}),
    ],
)
def test_parse_background(value, mode, extra):
    bg = parse_background(value, blur=40)
    assert bg.mode == mode and bg.blur_strength == 40
    for key, v in extra.items():
        assert getattr(bg, key) == v


def test_parse_background_errors(tmp_path):
    with pytest.raises(ValueError, match="sparkles"):
        parse_background("sparkles")
    with pytest.raises(ValueError, match="RRGGBB"):
        parse_background("color:green")
    with pytest.raises(ValueError, match="1..100"):
        parse_background("blur", blur=0)
    image = tmp_path / "bg.jpg"
    cv2.imwrite(str(image), np.zeros((10, 30, 3), np.uint8))
    bg = parse_background(str(image))
    assert bg.mode == "image" and bg.path == str(image.resolve())


def test_expand_inputs(tmp_path):
    for name in ("b.mp4", "a.mov", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in expand_inputs(str(tmp_path))] == ["a.mov", "b.mp4"]
    assert [p.name for p in expand_inputs(str(tmp_path / "*.mp4"))] == ["b.mp4"]
    with pytest.raises(InputError):
        expand_inputs(str(tmp_path / "*.mkv"))


@pytest.mark.parametrize("kind", ["image", "video"])
def test_image_and_video_backgrounds(tmp_path, clip_25, clip_with_audio, segmenter, people_dir, kind):
    background = sorted((people_dir / "images").glob("*.jpg"))[0] if kind == "image" else clip_with_audio
    out = tmp_path / "out.mp4"
    report = process_video(clip_25, out, ProcessOptions(background=parse_background(str(background))), segmenter=segmenter, progress=False)
    assert report.frames == 30 and probe(out)["frames"] == 30
