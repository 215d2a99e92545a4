"""Matte and Compositor on real frames: ranges, temporal behaviour, every background mode."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from personseg_live.compose import BackgroundError, Compositor, Matte
from personseg_live.compose.effects import cover_fit, parse_color
from personseg_live.quality import flicker
from personseg_live.settings import BackgroundSettings, MatteSettings

H, W = 96, 160
LOW = (48, 80)


def test_matte_shape_and_range(segmenter, people_dir):
    frame = cv2.imread(str(sorted((people_dir / "images").glob("*.jpg"))[0]))
    alpha = Matte(MatteSettings())(segmenter.lowres(frame), frame)
    assert alpha.shape == frame.shape[:2] and alpha.dtype == np.float32
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0


def test_matte_threshold_without_softness_is_binary():
    frame = np.full((H, W, 3), 128, np.uint8)
    low = np.linspace(0, 1, LOW[1], dtype=np.float32)[None].repeat(LOW[0], 0)
    alpha = Matte(MatteSettings(threshold=0.5, softness=0.0, smoothing=0, feather=0, refine=False))(low, frame)
    assert set(np.unique(alpha)) <= {0.0, 1.0}
    assert alpha[:, : W // 3].max() == 0.0 and alpha[:, -W // 3 :].min() == 1.0


def _square_frames(positions, size=24, noise=0.0, seed=0):
    """Frames with a bright square at each x position, and a 'model' probability that is the
    square plus flicker noise, as the matte would receive it."""
    rng = np.random.default_rng(seed)
    frames, lows = [], []
    for x in positions:
        frame = np.full((H, W, 3), 40, np.uint8)
        frame[30 : 30 + size, x : x + size] = 220
        prob = np.zeros((H, W), np.float32)
        prob[30 : 30 + size, x : x + size] = 1.0
        prob = cv2.GaussianBlur(prob, (0, 0), 2)
        prob = np.clip(prob + rng.normal(0, noise, prob.shape).astype(np.float32), 0, 1)
        frames.append(frame)
        lows.append(cv2.resize(prob, (LOW[1], LOW[0]), interpolation=cv2.INTER_AREA))
    return frames, lows


def test_smoothing_reduces_flicker_on_still_scene():
    frames, lows = _square_frames([60] * 30, noise=0.25)
    raw = Matte(MatteSettings(smoothing=0.0))
    smooth = Matte(MatteSettings())
    raw_alphas = [raw(l, f).copy() for l, f in zip(lows, frames)]
    smooth_alphas = [smooth(l, f).copy() for l, f in zip(lows, frames)]
    assert flicker(smooth_alphas[5:]) < 0.5 * flicker(raw_alphas[5:])


def test_small_alpha_changes_are_damped_and_a_person_who_leaves_leaves_nothing():
    """Camera noise through the edge refinement nudges the soft edge each frame (the probability is
    the same every frame here); the smoothed matte damps the nudges, the unsmoothed one shows them.
    Leaving clears the alpha to exactly 0."""
    rng = np.random.default_rng(3)
    frames, lows = _square_frames([60] * 12)
    frames = [np.clip(f + rng.normal(0, 6, f.shape), 0, 255).astype(np.uint8) for f in frames]
    empty = [np.clip(np.full((H, W, 3), 40.0) + rng.normal(0, 6, (H, W, 3)), 0, 255).astype(np.uint8) for _ in range(8)]
    raw, smooth = Matte(MatteSettings(smoothing=0.0)), Matte(MatteSettings())
    raw_alphas = [raw(l, f).copy() for l, f in zip(lows, frames)]
    smooth_alphas = [smooth(l, f).copy() for l, f in zip(lows, frames)]
    assert flicker(smooth_alphas[2:]) < 0.2 * flicker(raw_alphas[2:])  # without the hold step: 1.0x
    for f in empty:
        alpha = smooth(np.zeros(LOW, np.float32), f)
    assert alpha.max() == 0.0


def test_smoothing_follows_motion_without_ghosting():
    positions = list(range(10, 130, 8))  # 8 px per frame: fast
    frames, lows = _square_frames(positions)
    matte = Matte(MatteSettings(smoothing=0.9))
    for frame, low in zip(frames, lows):
        alpha = matte(low, frame)
    x = positions[-1]
    assert alpha[30 + 12, x + 12] > 0.9  # the square's current place is person
    assert alpha[30 + 12, x - 12] < 0.1  # where it was two frames ago: no ghost
    assert alpha[30 + 12, 20] < 0.05


def test_matte_reset_and_resolution_change():
    matte = Matte(MatteSettings())
    frames, lows = _square_frames([60] * 3)
    matte(lows[0], frames[0])
    big = cv2.resize(frames[0], (W * 2, H * 2))
    assert matte(lows[0], big).shape == (H * 2, W * 2)
    matte.update(MatteSettings(feather=0, refine=False))
    matte.reset()
    assert matte(lows[0], frames[0]).shape == (H, W)


# Compositor -----------------------------------------------------------------------------------


@pytest.fixture()
def frame_alpha():
    frame = np.zeros((H, W, 3), np.uint8)
    frame[:] = (10, 200, 30)
    alpha = np.zeros((H, W), np.float32)
    alpha[:, : W // 2] = 1.0
    return frame, alpha


def test_color_mode(frame_alpha):
    frame, alpha = frame_alpha
    out = Compositor(BackgroundSettings(mode="color", color="#FF0080"))(frame, alpha)
    assert out.dtype == np.uint8 and out.shape == frame.shape
    assert tuple(out[5, 5]) == (10, 200, 30)
    assert tuple(out[5, -5]) == (128, 0, 255)


def test_none_and_transparent(frame_alpha):
    frame, alpha = frame_alpha
    assert np.array_equal(Compositor(BackgroundSettings(mode="none"))(frame, alpha), frame)
    bgra = Compositor(BackgroundSettings(mode="transparent"))(frame, alpha)
    assert bgra.shape == (H, W, 4) and bgra.dtype == np.uint8
    assert np.array_equal(bgra[..., :3], frame)
    assert bgra[0, 0, 3] == 255 and bgra[0, -1, 3] == 0


def test_blur_keeps_person_and_blurs_background():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    alpha = np.zeros((H, W), np.float32)
    alpha[:, : W // 2] = 1.0
    out = Compositor(BackgroundSettings(mode="blur", blur_strength=60))(frame, alpha)
    assert np.array_equal(out[:, : W // 2 - 1], frame[:, : W // 2 - 1])
    assert out[:, W // 2 + 10 :].std() < 0.5 * frame[:, W // 2 + 10 :].std()


def test_image_cover_fit_odd_aspect(tmp_path, frame_alpha):
    frame, alpha = frame_alpha
    tall = np.zeros((300, 50, 3), np.uint8)
    tall[:150] = (255, 0, 0)
    tall[150:] = (0, 0, 255)
    path = tmp_path / "tall.png"
    cv2.imwrite(str(path), tall)
    fitted = cover_fit(tall, (W, H))
    assert fitted.shape == (H, W, 3)
    comp = Compositor(BackgroundSettings(mode="image", path=str(path)))
    out = comp(frame, alpha)
    assert out.shape == frame.shape
    # Cover-fit of a 1:6 image into 5:3 takes the middle band: both colours meet in the middle row.
    assert tuple(out[0, -1]) == (255, 0, 0) and tuple(out[-1, -1]) == (0, 0, 255)
    assert comp(frame, alpha) is not None and comp._background is comp._static((H, W))  # cached


def test_video_background_loops(tmp_path, frame_alpha):
    frame, alpha = frame_alpha
    path = tmp_path / "bg.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for v in (0, 120, 240):
        writer.write(np.full((48, 64, 3), v, np.uint8))
    writer.release()
    comp = Compositor(BackgroundSettings(mode="video", path=str(path)))
    values = [int(comp(frame, alpha)[5, -5, 0]) for _ in range(7)]
    assert values[0] == values[3] == values[6] != values[1]
    comp.close()


def test_bad_backgrounds(tmp_path):
    with pytest.raises(BackgroundError, match="unknown background mode"):
        Compositor(BackgroundSettings(mode="sparkle"))
    with pytest.raises(BackgroundError, match="not found"):
        Compositor(BackgroundSettings(mode="image", path=str(tmp_path / "missing.jpg")))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    comp = Compositor(BackgroundSettings(mode="image", path=str(bad)))
    with pytest.raises(BackgroundError, match="cannot read"):
        comp(np.zeros((H, W, 3), np.uint8), np.zeros((H, W), np.float32))
    assert parse_color("#00B140") == (0x40, 0xB1, 0x00)


@pytest.mark.parametrize("size", [(96, 160), (180, 320), (90, 164)])
@pytest.mark.parametrize("mode", ["blur", "color", "none"])
def test_i420_path_matches_bgr(size, mode):
    """The offline fast path (composite in I420) gives the picture the BGR path gives."""
    from personseg_live.compose.effects import i420_to_bgr_half

    h, w = size
    rng = np.random.default_rng(3)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 2)
    alpha = np.zeros((h, w), np.float32)
    cv2.circle(alpha, (w // 2, h // 2), h // 3, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 2)
    i420 = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)
    comp = Compositor(BackgroundSettings(mode=mode, color="#3366CC"))
    got = cv2.cvtColor(comp.compose_i420(i420, alpha), cv2.COLOR_YUV2BGR_I420)
    want = comp(frame, alpha)
    assert np.abs(got.astype(int) - want).mean() < 3.0
    half = i420_to_bgr_half(i420)
    assert half.shape == (h // 2, w // 2, 3)
    assert np.abs(half.astype(int) - cv2.resize(frame, (w // 2, h // 2), interpolation=cv2.INTER_AREA)).mean() < 4.0


def test_smoothing_also_steadies_a_moving_noisy_square():
    """Motion compensation: the matte of a moving object is smoothed towards the clean matte, where
    a plain EMA would lag behind it (and end up further from it than the noisy input)."""
    rng = np.random.default_rng(7)
    positions = list(range(20, 116, 3))
    frames, lows = _square_frames(positions)
    noisy = [np.clip(low + rng.normal(0, 0.2, low.shape).astype(np.float32), 0, 1) for low in lows]
    clean_matte, raw_matte, smooth_matte = Matte(MatteSettings(smoothing=0.0)), Matte(MatteSettings(smoothing=0.0)), Matte(MatteSettings())
    clean = [clean_matte(low, f).copy() for low, f in zip(lows, frames)]
    raw = [raw_matte(low, f).copy() for low, f in zip(noisy, frames)]
    smooth = [smooth_matte(low, f).copy() for low, f in zip(noisy, frames)]

    def error(alphas):
        return float(np.mean([np.abs(a - c).mean() for a, c in zip(alphas[5:], clean[5:])]))

    assert error(smooth) < 0.85 * error(raw)
