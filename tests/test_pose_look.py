"""--quality high's look at a whole body: the gate (one person, whole in the picture) and the pose model's mask in
the model's grid, on real photos with their masks and the bundled pose model."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from personseg_live import assets
from personseg_live.model.pose_look import Box, whole_person
from personseg_live.model.segmenter import Segmenter

PEOPLE = Path(__file__).parent / "data" / "people"


def _grid(*rects, shape=(40, 30)) -> np.ndarray:
    prob = np.zeros(shape, np.float32)
    for y0, y1, x0, x1 in rects:
        prob[y0:y1, x0:x1] = 0.9
    return prob


def test_the_gate_takes_one_person_standing_whole_in_the_picture():
    assert whole_person(_grid((5, 35, 10, 18))) == Box(10, 5, 17, 34)
    assert whole_person(_grid((5, 35, 10, 18), (30, 31, 25, 26))) == Box(10, 5, 17, 34)  # a speck beside: still one
    assert whole_person(_grid((10, 40, 5, 25))) is None  # cut by the bottom edge: a portrait, a webcam picture
    assert whole_person(_grid((0, 30, 5, 25))) is None  # cut by the top edge
    assert whole_person(_grid((5, 35, 2, 10), (5, 35, 18, 26))) is None  # two people
    assert whole_person(np.zeros((40, 30), np.float32)) is None


def _iou(prob: np.ndarray, mask: np.ndarray) -> float:
    on = prob >= 0.5
    return float((on & mask).sum() / (on | mask).sum())


def _photo(stem: str) -> tuple[np.ndarray, np.ndarray]:
    return cv2.imread(str(PEOPLE / "images" / f"{stem}.jpg")), cv2.imread(str(PEOPLE / "masks" / f"{stem}.png"), 0) > 127


def _without_pose(seg: Segmenter, frame: np.ndarray, full: bool = False) -> np.ndarray:
    pose, seg.pose = seg.pose, None
    try:
        return seg(frame) if full else seg.lowres(frame)
    finally:
        seg.pose = pose


@pytest.fixture(scope="module")
def high() -> Segmenter:
    return Segmenter(quality="high")


def test_a_whole_body_gets_the_pose_models_mask_in_its_place(high):
    assert high.pose is not None and assets.pose_model() is not None
    frame, mask = _photo("ccp_0300")  # a person standing whole in a street photo
    used = high.pose.used
    with_pose = high(frame)
    assert high.pose.used == used + 1
    without = _without_pose(high, frame, full=True)
    assert np.abs(with_pose - without).max() > 0.5  # the answer changed where the pose model saw the body
    # ... and lies on the person: a crop placed or scaled wrong puts the body beside them (measured 0.951; 0.907 without)
    assert _iou(with_pose, mask) > 0.93


def test_a_portrait_and_the_live_setting_keep_the_models_answer(high):
    frame, _ = _photo("ccp_0001")
    portrait = np.ascontiguousarray(frame[: frame.shape[0] // 2])  # cut at the waist: no whole body
    used = high.pose.used
    answer = high(portrait)
    assert high.pose.used == used
    np.testing.assert_array_equal(answer, _without_pose(high, portrait, full=True))
    assert Segmenter().pose is None  # live: real time, the model alone


def test_without_the_pose_model_installed_high_quality_still_runs(monkeypatch):
    monkeypatch.setattr(assets, "pose_model", lambda: None)
    seg = Segmenter(quality="high")
    assert seg.pose is None
    frame, mask = _photo("ccp_0001")
    assert _iou(seg(frame), mask) > 0.8


def test_people_standing_close_together_keep_the_models_answer(high):
    """Three people side by side, touching: one region for the gate, but the pose model keeps one of them."""
    canvas = np.full((360, 600, 3), 128, np.uint8)
    x = 60
    for stem in ("ccp_0001", "ccp_0300", "ccp_1000"):
        frame, mask = _photo(stem)
        cols = np.flatnonzero(mask.any(axis=0))
        person, on = frame[:, cols[0]:cols[-1] + 1], mask[:, cols[0]:cols[-1] + 1]
        h, w = on.shape
        canvas[20:20 + h, x:x + w][on] = person[on]
        x += int(w * 0.8)  # overlapping the one before
    assert whole_person(_without_pose(high, canvas)) is not None  # one region: the gate lets it through
    used = high.pose.used
    answer = high(canvas)
    assert high.pose.used == used  # the pose model's one person would have cut the other two out
    np.testing.assert_array_equal(answer, _without_pose(high, canvas, full=True))

