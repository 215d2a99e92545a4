"""Know the room (issue 13): the clean-plate cue on synthetic frames with known answers, the plate kept
per camera, and ``process --plate`` on real files through the real model."""

from __future__ import annotations

import functools
import logging
import os
import re
import signal
import threading
from dataclasses import replace

import cv2
import numpy as np
import pytest

from personseg_live.room import RoomCue, RoomError, RoomStatus, camera_key, capture_plate, load_plate, read_plate_file, save_plate
from personseg_live.room import store
from personseg_live.room.plate import plate_size

HW = (360, 640)  # frames; the cue works at 320x180
NOISE = 4.0


def room_picture(seed: int) -> np.ndarray:
    """A textured room: smooth colour blobs (walls, furniture) and some edges."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(30, 220, (9, 16, 3), dtype=np.uint8)
    room = cv2.resize(coarse, HW[::-1], interpolation=cv2.INTER_CUBIC).astype(np.float32)
    for _ in range(6):
        x, y = int(rng.integers(0, HW[1] - 80)), int(rng.integers(0, HW[0] - 80))
        cv2.rectangle(room, (x, y), (x + 60, y + 40), tuple(float(v) for v in rng.integers(0, 255, 3)), -1)
    return room


def shoot(room: np.ndarray, rng, gain=(1.0, 1.0, 1.0)) -> np.ndarray:
    """What the camera delivers: the scene, an exposure/white-balance gain, fresh sensor noise."""
    return np.clip(room * np.float32(gain) + rng.normal(0, NOISE, room.shape), 0, 255).astype(np.uint8)


def plate_of(room: np.ndarray, seed: int = 1, frames: int = 8):
    rng = np.random.default_rng(seed)
    return capture_plate([shoot(room, rng) for _ in range(frames)])


def work(prob: np.ndarray) -> np.ndarray:
    h, w = plate_size(HW)
    return cv2.resize(prob, (w, h), interpolation=cv2.INTER_NEAREST)


PERSON = (slice(120, 360), slice(260, 420))  # a torso standing on the bottom edge
HALO = (slice(90, 360), slice(220, 460))  # where a sloppy model says "person" too


def with_person(room: np.ndarray, colour=(40, 60, 200)) -> np.ndarray:
    scene = room.copy()
    scene[PERSON] = colour
    return scene


def sloppy_model() -> np.ndarray:
    """A model that is sure of the room far away, unsure (0.7) in a halo around the person."""
    prob = np.full(HW, 0.02, np.float32)
    prob[HALO] = 0.7
    prob[PERSON] = 0.95
    return prob


def truth() -> np.ndarray:
    t = np.zeros(HW, np.float32)
    t[PERSON] = 1
    return t


def iou(prob: np.ndarray) -> float:
    from personseg_live.quality import iou as quality_iou

    return quality_iou(prob, work(truth()))


def run(cue: RoomCue, frames, prob: np.ndarray) -> np.ndarray:
    out = None
    for frame in frames:
        out = cue(prob, frame)
    return out


# -- the fusion -----------------------------------------------------------------------------------


def test_plate_cuts_the_halo_a_sloppy_model_leaves_under_noise():
    room, rng = room_picture(0), np.random.default_rng(5)
    cue = RoomCue(plate_of(room), learn=False)
    fused = run(cue, [shoot(with_person(room), rng) for _ in range(3)], sloppy_model())
    assert cue.status is RoomStatus.ACTIVE
    assert iou(work(sloppy_model())) < 0.8
    assert iou(fused) > 0.97
    # the room far from the person stays room despite fresh noise every frame
    assert (fused[work(truth()) == 0] < 0.5).mean() > 0.99


def test_the_plate_gives_the_matte_the_room_colour_behind_the_edge():
    """Over a finely striped room (a bookshelf) the room colour next to the edge cannot be guessed from
    the neighbours; the plate knows it, and the edge is placed between it and the person's colour.
    Through FrameProcessor, as the app runs it (a model whose edge is soft and 2 px off: a model whose soft
    edge were exactly in place would leave the matte, which places the edge where it crosses 0.5, no error)."""
    from personseg_live.processor import FrameProcessor
    from personseg_live.settings import BackgroundSettings, MatteSettings

    rng = np.random.default_rng(0)
    hw = (720, 1280)
    widths, cols = rng.integers(3, 10, 400), rng.integers(20, 235, (400, 3))
    stripes = np.concatenate([np.repeat(c[None], w, 0) for c, w in zip(cols, widths)])[: hw[1]]
    room = np.repeat(stripes[None], hw[0], 0).astype(np.float32)
    big = np.zeros((hw[0] * 4, hw[1] * 4), np.uint8)
    cv2.ellipse(big, (2560, 1900), (900, 1500), 0, 0, 360, 255, -1, cv2.LINE_AA)
    alpha = cv2.resize(big, hw[::-1], interpolation=cv2.INTER_AREA).astype(np.float32) / 255

    class SoftModel:
        low = cv2.GaussianBlur(cv2.resize(np.roll(alpha, 2, axis=1), (304, 160), interpolation=cv2.INTER_AREA), (0, 0), 1.2)

        def lowres(self, frame):
            return self.low

    def camera(scene):
        return np.clip(scene + rng.normal(0, 3, scene.shape), 0, 255).astype(np.uint8)

    frame = camera(alpha[..., None] * np.float32((90, 140, 200)) + (1 - alpha[..., None]) * room)
    inside = (alpha > 0.5).astype(np.uint8)
    band = (cv2.dilate(inside, np.ones((13, 13))) > cv2.erode(inside, np.ones((13, 13)))).astype(bool)
    errors = {}
    for name, cue in (("model", None), ("plate", RoomCue(capture_plate([camera(room) for _ in range(8)]), learn=False))):
        processor = FrameProcessor(SoftModel(), MatteSettings(smoothing=0), BackgroundSettings(mode="color"), room=cue)
        errors[name] = float(np.abs(processor(frame).alpha - alpha)[band].mean())
    # measured: model alone 0.113; with the plate 0.032 (0.089 when the matte guessed the room colour from the
    # stripes next to the edge, before the plate's colour reached it)
    assert errors["plate"] < 0.045
    assert errors["plate"] < errors["model"]


def test_exposure_and_white_balance_step_are_matched_not_taken_for_a_person():
    room, rng = room_picture(1), np.random.default_rng(6)
    cue = RoomCue(plate_of(room), learn=False)
    step = (1.25, 1.15, 1.3)  # auto exposure + white balance jump
    fused = run(cue, [shoot(with_person(room), rng, step) for _ in range(2)], sloppy_model())
    assert cue.status is RoomStatus.ACTIVE
    np.testing.assert_allclose(cue.gain, step, atol=0.03)
    assert iou(fused) > 0.97


def test_a_soft_shadow_the_person_casts_stays_room():
    room, rng = room_picture(2), np.random.default_rng(7)
    cue = RoomCue(plate_of(room), learn=False)
    shadow = np.zeros(HW, np.float32)
    shadow[60:360, 420:560] = 1
    shadow = cv2.GaussianBlur(shadow, (0, 0), 12)[..., None]
    scene = with_person(room) * (1 - 0.25 * shadow)  # darker, same colour
    prob = sloppy_model()
    prob[60:360, 420:560] = 0.6  # the model half believes the shadow is a person
    fused = run(cue, [shoot(scene, rng) for _ in range(2)], prob)
    in_shadow = work(shadow[..., 0]) > 0.5
    assert (fused[in_shadow] < 0.5).mean() > 0.95
    assert iou(fused) > 0.95


def test_a_person_in_the_walls_colour_but_darker_than_a_shadow_stays_the_person():
    # Dark hair or clothes before a lighter wall of the same hue: 40 % darker is beyond what a cast shadow
    # takes away (SHADOW 30 %), and the model calls it person. With the brightness weighed at 0.5 the plate
    # pushed 93 % of it into the room.
    room, rng = room_picture(4), np.random.default_rng(9)
    cue = RoomCue(plate_of(room), learn=False)
    scene = room.copy()
    scene[PERSON] *= np.float32(0.6)
    prob = np.full(HW, 0.02, np.float32)
    prob[PERSON] = 0.6
    fused = run(cue, [shoot(scene, rng) for _ in range(2)], prob)
    assert (fused[work(truth()) == 1] > 0.5).mean() > 0.75


def test_the_shadow_of_a_person_sitting_still_does_not_become_the_room():
    """The plate follows slow light changes where the model calls the picture room, and a soft shadow
    beside a person who sits still for 20 s is room to the model: followed sample by sample (the plate
    moved 38 levels into the shadow before), the room looks lit when the person leaves and the plate
    misjudges it. Darker samples pull the plate little; a room brighter than the plate pulls it back fast."""
    room, rng = room_picture(2), np.random.default_rng(9)
    cue = RoomCue(plate_of(room), learn=True)
    shadow = np.zeros(HW, np.float32)
    shadow[60:360, 440:560] = 1
    scene = with_person(room) * (1 - 0.3 * cv2.GaussianBlur(shadow, (0, 0), 6)[..., None])
    prob = np.full(HW, 0.02, np.float32)
    prob[PERSON] = 0.97
    for _ in range(600):  # 20 s at 30 fps
        cue(prob, shoot(scene, rng))
    in_shadow = work(shadow) > 0.5
    in_shadow = cv2.erode(in_shadow.view(np.uint8), np.ones((9, 9), np.uint8)).view(bool)
    sunk = (plate_of(room).mean - cue.plate().mean).mean(axis=2)[in_shadow]
    assert np.median(sunk) < 20
    empty = np.full(HW, 0.02, np.float32)
    for _ in range(30):  # the person has left: the room is lit again and the plate catches up within a second
        cue(empty, shoot(room, rng))
    back = np.abs(plate_of(room).mean - cue.plate().mean).max(axis=2)[in_shadow]
    assert np.median(back) < 6


def test_a_person_before_a_striped_wall_is_not_pushed_into_the_room_at_the_stripes_edges():
    """At the plate's own edges a slight shake changes the picture by more than the camera's noise, so the
    plate expects more difference there; expecting a 2 px shake (at 720p) for every frame halved the
    evidence on a busy wall and pushed a quarter of this person into the room (the shake the plate's capture
    saw is in its noise figure already)."""
    room = np.zeros((*HW, 3), np.float32)
    for x in range(0, HW[1], 16):
        room[:, x : x + 8], room[:, x + 8 : x + 16] = (70, 90, 110), (170, 180, 190)
    cue = RoomCue(plate_of(room), learn=False)
    scene = room.copy()
    scene[PERSON] = (150, 110, 90)
    prob = np.full(HW, 0.02, np.float32)
    prob[PERSON] = 0.8
    fused = cue(prob, shoot(scene, np.random.default_rng(3)))
    assert (fused[work(truth()) == 1] > 0.5).mean() > 0.99


def test_a_work_pixel_the_person_covers_only_in_part_goes_to_the_side_that_covers_most():
    """At 720p a work pixel is 4 x 4 frame pixels. One the person covers by a quarter differs from the plate
    by a quarter of the person's difference - far beyond the camera's noise - and the evidence called it
    all person: the edge sat half a work pixel (2 frame px) out, all round the person (bench --room, right
    room, given plate: 1-3 px outside the true edge held 7.5 % of the full-body clip's union)."""
    hw = (720, 1280)
    room = cv2.resize(room_picture(6), hw[::-1], interpolation=cv2.INTER_LINEAR)
    rng = np.random.default_rng(11)
    cue = RoomCue(capture_plate([shoot(room, rng) for _ in range(8)]), learn=False)
    # Work columns 200-300 and rows 60-179 are the person: the frame columns 803 (a quarter of work
    # column 200) and 1196-1198 (three quarters of work column 299) are the person too.
    scene = room.copy()
    scene[240:, 803:1199] = (40, 60, 200)
    prob = np.full((180, 320), 0.02, np.float32)
    prob[58:, 198:302] = 0.7  # a model that is unsure of a rim two work pixels wide around the person ...
    prob[60:, 200:300] = 0.95  # ... and sure of the person
    fused = cue(prob, shoot(scene, rng))
    assert cue.status is RoomStatus.ACTIVE
    assert fused[100:170, 200].max() < 0.5  # a quarter covered: room
    assert fused[100:170, 299].min() > 0.5  # three quarters: person
    assert fused[100:170, 201:299].min() > 0.5
    assert fused[100:170, 198:200].max() < 0.5 and fused[100:170, 300:302].max() < 0.5


def test_where_the_person_wears_the_wall_colour_the_sure_model_decides():
    room, rng = room_picture(3), np.random.default_rng(8)
    cue = RoomCue(plate_of(room), learn=False)
    scene = room.copy()  # the person is invisible against the plate: same colours
    prob = np.full(HW, 0.02, np.float32)
    prob[PERSON] = 0.97
    fused = run(cue, [shoot(scene, rng)], prob)
    assert (fused[work(truth()) == 1] > 0.5).mean() > 0.99


def test_wrong_plate_steps_aside_on_the_first_frame():
    rng = np.random.default_rng(9)
    cue = RoomCue(plate_of(room_picture(4)), learn=False)  # another room
    prob = sloppy_model()
    out = cue(prob, shoot(with_person(room_picture(5)), rng))
    assert cue.status is RoomStatus.MISMATCH
    assert out is prob  # the model alone, untouched
    assert cue.mismatch > 0.5


def test_a_camera_that_pans_a_few_pixels_steps_the_plate_aside_though_most_of_the_room_still_matches():
    """A slow pan: the room moves by 3 px (1.5 work px). Only its edges differ from the plate - too few pixels
    for the mismatch share - and the cue pushed those edges into the person. On a real clip (a seated man
    outdoors, the camera panning 25 work px over 12 s) the plate cost 3 IoU points against the model alone.
    The plate's corners tracked into the frame say the camera moved."""
    room, rng = room_picture(5), np.random.default_rng(21)
    cue = RoomCue(plate_of(room), learn=False)
    moved = np.roll(room, 3, axis=1)
    prob = np.full(HW, 0.02, np.float32)
    for _ in range(5):
        fused = cue(prob, shoot(moved, rng))
    assert cue.misalign > 1.0
    assert cue.status is RoomStatus.MISMATCH
    assert np.array_equal(fused, prob)
    steady = RoomCue(plate_of(room), learn=False)
    for _ in range(5):
        steady(prob, shoot(room, rng))
    assert steady.status is RoomStatus.ACTIVE and steady.misalign < 0.3


def test_a_plate_of_a_darker_room_is_dropped_and_the_room_learned_again():
    """Another room, much darker: the gain fit runs to its limit (no exposure drift does that); once the
    plate is dropped the gain must start from 1 again, or the relearned plate never matches."""
    rng = np.random.default_rng(12)
    room = room_picture(8)
    cue = RoomCue(plate_of(room * 0.3), learn=True)
    prob = sloppy_model()
    statuses = []
    for _ in range(120):
        cue(prob, shoot(with_person(room), rng))
        statuses.append(cue.status)
    assert statuses[0] is RoomStatus.MISMATCH and statuses[-1] is RoomStatus.ACTIVE
    np.testing.assert_allclose(cue.gain, 1.0, atol=0.1)  # a learned plate fixes the scale only loosely


def test_camera_moved_plate_is_relearned_and_used_again():
    room, rng = room_picture(6), np.random.default_rng(10)
    cue = RoomCue(plate_of(room), learn=True)
    moved = np.roll(room, 40, axis=1)
    prob = sloppy_model()
    statuses = [None]
    for _ in range(90):  # 3 s at 30 fps
        cue(prob, shoot(with_person(moved), rng))
        statuses.append(cue.status)
    assert statuses[1] is RoomStatus.MISMATCH
    assert statuses[-1] is RoomStatus.ACTIVE
    far = work(prob) < 0.1
    far = cv2.erode(far.view(np.uint8), np.ones((9, 9), np.uint8)).view(bool)
    err = np.abs(cue.plate().mean - plate_of(moved).mean).max(axis=2)
    assert np.median(err[far]) < 4  # the plate is the room as it is now
    assert iou(cue(prob, shoot(with_person(moved), rng))) >= iou(work(prob)) - 1e-6


def test_learning_fills_the_plate_from_the_room_and_never_absorbs_the_person():
    room, rng = room_picture(7), np.random.default_rng(11)
    cue = RoomCue(None, learn=True)
    prob = sloppy_model()
    for _ in range(45):
        fused = cue(prob, shoot(with_person(room), rng))
    assert cue.status is RoomStatus.ACTIVE
    learned = cue.plate()
    person, far = work(truth()) == 1, work(sloppy_model()) < 0.1
    # the person's pixels are never sampled: the plate there stays empty (zero)
    assert np.abs(learned.mean[person]).max() == 0
    err = np.abs(learned.mean - plate_of(room).mean).max(axis=2)
    assert np.median(err[cv2.erode(far.view(np.uint8), np.ones((9, 9), np.uint8)).view(bool)]) < 4
    # the halo next to the person was never surely room for the model: the cue cannot cut it by itself
    assert iou(fused) >= iou(work(prob)) - 1e-6


def test_a_thing_that_moves_through_a_learned_room_where_the_model_is_sure_stays_room():
    """A juggled ball, a passing pet: not the learned room, but the model is sure it is no person. A plate
    learned from the model is no surer than the model, so the model keeps its "room" there; with learning on,
    the juggler (../shared/video/juggle.mp4, RVM labels) lost 1.38 IoU points to his ball before, 0.45 after;
    with the plate ``--plate auto`` learns from the whole recording first -0.48 before, +0.44 after (2026-12-02). A
    captured plate (the empty room for certain) still keys everything that is not the room."""
    room, rng = room_picture(7), np.random.default_rng(11)
    prob = sloppy_model()
    ball = (slice(40, 90), slice(40, 90))  # far from the person, where the model says 0.02
    learned, given = RoomCue(None, learn=True), RoomCue(plate_of(room), learn=True)
    from_recording = RoomCue(replace(plate_of(room), learned=True), learn=True)  # as --plate auto's
    for _ in range(45):
        frame = shoot(with_person(room), rng)
        learned(prob, frame), given(prob, frame), from_recording(prob, frame)
    scene = with_person(room)
    scene[ball] = (250, 250, 250)
    frame = shoot(scene, rng)
    at_ball = work(np.pad(np.ones((50, 50), np.float32), ((40, HW[0] - 90), (40, HW[1] - 90)))) == 1
    assert learned.status is RoomStatus.ACTIVE and given.status is RoomStatus.ACTIVE
    assert learned(prob, frame)[at_ball].max() < 0.1
    assert from_recording(prob, frame)[at_ball].max() < 0.1
    assert given(prob, frame)[at_ball].min() > 0.5


def test_room_learned_only_in_the_persons_shadow_is_not_taken_for_a_person_once_lit():
    """Live learning beside a person: that part of the room is only ever seen in their shadow, so the plate
    learns it dark. When they leave, the lit room is brighter than the plate in the plate's own colour: a
    shadow lifted, not a person. Within half a second it is room again, also where the model is unsure
    (bench --room: the second in which the person walks out scored below the model alone)."""
    room, rng = room_picture(16), np.random.default_rng(5)
    beside = (slice(120, 360), slice(420, 470))
    room[beside] = (190, 200, 210)
    shadowed = room.copy()
    shadowed[beside] *= np.float32(0.62)
    prob = np.full(HW, 0.02, np.float32)
    prob[PERSON], prob[beside] = 0.95, 0.2  # the model unsure next to the person, but calling it room
    cue = RoomCue(None, learn=True)
    for _ in range(90):
        cue(prob, shoot(with_person(shadowed), rng))
    wb = (slice(62, 178), slice(214, 234))  # beside, at work size (half), away from the person
    assert cue.plate().known is not None and cue.plate().known[wb].all()
    alone = prob.copy()
    alone[PERSON] = 0.02
    fused = [cue(alone, shoot(room, rng))[wb] for _ in range(16)]
    assert (fused[-1] < 0.5).mean() > 0.97
    assert max((f >= 0.5).mean() for f in fused[-3:]) < 0.03


def test_a_light_shirt_over_a_wall_learned_empty_is_not_learned_as_room_when_the_model_misses_it():
    """The catch-up above is for room learned beside the person. A wall learned while the room was empty,
    then covered by a shirt brighter than it in its own colour (white on light grey) that the model misses
    for most of a second, stays the wall in the plate: where the model is unsure afterwards, no hole."""
    room = np.full((*HW, 3), 170, np.float32)
    rng = np.random.default_rng(1)
    scene = with_person(room, (235, 235, 235))
    empty = np.full(HW, 0.02, np.float32)
    prob = empty.copy()
    prob[PERSON] = 0.95
    patch, wp = (slice(200, 280), slice(300, 380)), (slice(100, 140), slice(150, 190))
    cue = RoomCue(None, learn=True)
    for _ in range(60):
        cue(empty, shoot(room, rng))
    for _ in range(30):
        cue(prob, shoot(scene, rng))
    missed, unsure = prob.copy(), prob.copy()
    missed[patch], unsure[patch] = 0.05, 0.6
    for _ in range(24):
        cue(missed, shoot(scene, rng))
    assert min(float((cue(unsure, shoot(scene, rng))[wp] >= 0.5).mean()) for _ in range(10)) > 0.97


def test_a_learned_plate_knows_the_cameras_noise_as_a_captured_one_does():
    """The noise figure decides how far from the plate a pixel must be to count as the person: a learned
    plate that overstates it helps less than the captured one (it took its first sample's distance from
    the empty start as noise: 2.3x the real figure after two seconds)."""
    room, rng = room_picture(3), np.random.default_rng(4)
    cue = RoomCue(None, learn=True)
    for _ in range(60):
        cue(np.full(HW, 0.02, np.float32), shoot(room, rng))
    learned, captured = cue.plate(), plate_of(room, frames=10)
    ratio = np.median(learned.noise) / np.median(captured.noise)
    assert 0.7 < ratio < 1.4


def test_no_plate_and_no_learning_is_the_model_alone():
    cue = RoomCue(None, learn=False)
    prob = sloppy_model()
    assert cue(prob, shoot(room_picture(0), np.random.default_rng(0))) is prob
    assert cue.status is RoomStatus.OFF


def test_a_learned_plate_speaks_only_where_it_has_seen_the_room(tmp_path):
    """A plate learned from a recording has not seen what the person always covered: there the model
    alone decides, also after the plate was saved and read back."""
    room = room_picture(4)
    frame = shoot(room, np.random.default_rng(2))
    plate = plate_of(room)
    known = np.ones(plate.noise.shape, bool)
    known[:, : known.shape[1] // 2] = False
    plate.mean[~known] = 0.0  # never seen: whatever the learner's buffer held
    plate.known = known
    save_plate(plate, "cam", tmp_path)
    back = load_plate("cam", tmp_path)
    np.testing.assert_array_equal(back.known, known)
    prob = np.full(plate.noise.shape, 0.2, np.float32)
    out = RoomCue(back, learn=False)(prob, frame)
    left, right = out[:, : known.shape[1] // 2 - 4], out[:, known.shape[1] // 2 + 4 :]
    np.testing.assert_allclose(left, 0.2, atol=1e-3)  # unknown: the model's own 0.2, not "differs: person"
    assert right.max() < 0.1  # known: the room, pushed down


# -- the plate kept per camera -----------------------------------------------------------------


def test_a_room_uncovered_only_briefly_again_and_again_is_learned_from_a_recording():
    """``--plate auto``'s first pass: the person uncovers a patch for 3 frames in every 10 (swaying); never
    the half second a live learner waits for, but 18 frames of the room over the recording. The plate
    knows the patch, and a hand the model missed for two frames is outvoted."""
    from personseg_live.room import learn_plate

    room, rng = room_picture(9), np.random.default_rng(2)
    patch, hand = (slice(100, 200), slice(100, 220)), (slice(250, 300), slice(450, 500))
    samples = []
    for i in range(60):
        scene, prob = room.copy(), np.full(HW, 0.02, np.float32)
        if i % 10 >= 3:
            scene[patch], prob[patch] = (30, 160, 60), 0.95
        if i in (20, 21):
            scene[hand] = (90, 120, 230)  # missed by the model: called room
        samples.append((prob, shoot(scene, rng)))
    plate = learn_plate(samples, HW)
    wp, wh = (slice(50, 100), slice(50, 110)), (slice(125, 150), slice(225, 250))  # at work size (half)
    assert plate.known is None or plate.known[wp].all()
    truth = plate_of(room).mean
    assert np.abs(plate.mean[wp] - truth[wp]).max(axis=2).mean() < 4
    assert np.abs(plate.mean[wh] - truth[wh]).max(axis=2).mean() < 4
    # the live learner, shown the same frames, never gets to know the patch
    cue = RoomCue(None, learn=True)
    for prob, frame in samples:
        cue(prob, frame)
    assert not cue.plate().known[wp].any()


def test_the_shadow_beside_a_person_who_sways_does_not_become_the_recordings_room():
    """The person's soft shadow falls beside them for most of the time that part of the room is seen (here 60
    % of the frames, 35 % deep); the model rightly calls it room. A per-pixel median would learn the shadow,
    and the lit room would then look like a person; the plate is the room as lit, and a plain noisy pixel's
    plate is not biased bright by taking an upper quantile."""
    from personseg_live.room import learn_plate

    room, rng = room_picture(14), np.random.default_rng(3)
    beside = (slice(60, 300), slice(380, 520))
    samples = []
    for i in range(60):
        scene = room.copy()
        if i % 5 < 3:
            scene[beside] *= np.float32(0.65)
        samples.append((np.full(HW, 0.02, np.float32), shoot(scene, rng)))
    plate = learn_plate(samples, HW)
    truth = plate_of(room, frames=32).mean
    wb, elsewhere = (slice(30, 150), slice(190, 260)), (slice(10, 150), slice(10, 150))  # at work size (half)
    assert np.abs(plate.mean[wb] - truth[wb]).max(axis=2).mean() < 4
    assert abs(float((plate.mean[elsewhere] - truth[elsewhere]).mean())) < 1.0


def test_a_stream_that_repeats_the_still_room_frame_after_frame_still_has_a_cameras_noise():
    """H.264 sends a still room as skipped blocks: successive frames are the same picture, and their
    differences say the camera has no noise at all. The plate keeps a camera's least noise figure, so the
    cue does not take every small shade (a shadow a little deeper than allowed, the codec's own steps) for a
    person."""
    from personseg_live.room import learn_plate
    from personseg_live.room.plate import DEFAULT_NOISE

    room, rng = room_picture(15), np.random.default_rng(4)
    still = shoot(room, rng)
    plate = learn_plate([(np.full(HW, 0.02, np.float32), still.copy()) for _ in range(30)], HW)
    assert plate.noise.min() >= DEFAULT_NOISE
    assert np.abs(plate.mean - plate_of(room).mean).max(axis=2).mean() < 4
    # the same for a plate captured with Learn room from such a stream
    assert capture_plate([still.copy() for _ in range(8)]).noise.min() >= DEFAULT_NOISE


def test_a_recording_whose_room_changes_learns_the_opening_room_not_a_blend():
    """The camera is knocked half-way: a median over both rooms would match neither (bench --room's
    'moves' clip lost 3.9 IoU points to it); the plate is the room of the opening, so the second pass
    starts right and its cue notices the knock as it does live."""
    from personseg_live.room import learn_plate

    first, second = room_picture(4), room_picture(5)
    rng = np.random.default_rng(8)
    prob = np.full(HW, 0.02, np.float32)
    samples = [(prob, shoot(first if i < 40 else second, rng)) for i in range(100)]
    plate = learn_plate(samples, HW)
    err = np.abs(plate.mean - plate_of(first).mean).max(axis=2)
    assert np.median(err) < 4 and plate.known is None


def test_one_odd_frame_in_a_recording_is_no_change_of_room():
    """A camera flash in one frame does not match the opening's room, but the room did not change: the
    plate still comes from the whole recording (here: the patch the person uncovers only later)."""
    from personseg_live.room import learn_plate

    room, rng = room_picture(6), np.random.default_rng(12)
    patch = (slice(100, 200), slice(100, 220))
    samples = []
    for i in range(80):
        scene, prob = room.copy(), np.full(HW, 0.02, np.float32)
        if i < 40:
            scene[patch], prob[patch] = (30, 160, 60), 0.95
        samples.append((prob, shoot(scene, rng, (1.8, 1.8, 1.8) if i == 30 else (1.0, 1.0, 1.0))))
    plate = learn_plate(samples, HW)
    assert plate.known is None or plate.known[50:100, 50:110].all()


def test_plate_saved_per_camera_and_read_back(tmp_path):
    a, b = plate_of(room_picture(0)), plate_of(room_picture(1))
    key_a, key_b = camera_key("0", (720, 1280)), camera_key("/dev/video2", (720, 1280))
    assert key_a != key_b and "/" not in key_b
    save_plate(a, key_a, tmp_path)
    save_plate(b, key_b, tmp_path)
    got = load_plate(key_a, tmp_path)
    np.testing.assert_array_equal(got.mean, a.mean)
    np.testing.assert_array_equal(got.noise, a.noise)
    assert got.frame_hw == a.frame_hw and not got.learned
    assert not np.array_equal(load_plate(key_b, tmp_path).mean, a.mean)
    save_plate(replace(b, learned=True), key_b, tmp_path)  # a learned plate stays a learned one
    assert load_plate(key_b, tmp_path).learned
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{key_a}.npz", f"{key_b}.npz"])  # no temp files left
    assert store.forget_plate(key_a, tmp_path) and load_plate(key_a, tmp_path) is None


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04broken"])
def test_a_corrupt_plate_file_is_ignored_with_a_warning(tmp_path, caplog, content):
    key = camera_key("0", (720, 1280))
    store.plate_path(key, tmp_path).write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="personseg_live.room.store"):
        assert load_plate(key, tmp_path) is None
    assert "learn the room again" in caplog.text


def test_a_plate_of_the_wrong_shape_is_refused(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, mean=np.zeros((4, 4), np.float32), noise=np.zeros((4, 4), np.float32), frame_hw=np.array([4, 4]))
    with pytest.raises(RoomError, match="not a plate saved by personseg-live"):
        read_plate_file(path)


# -- process --plate on real files ----------------------------------------------------------------


def _room_video(path, room, *, square: bool, frames: int = 24, speed: int = 4):
    from videos import write_video

    def image(i):
        frame = room.copy()
        if square:
            x = 40 + speed * i
            frame[150:260, x : x + 90] = (20, 200, 240)
        return np.clip(frame, 0, 255).astype(np.uint8)

    return write_video(path, frames=frames, size=(HW[1], HW[0]), image=image)


def _masks(folder):
    return [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted(folder.glob("*.png"))]


@pytest.fixture(scope="module")
def room_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("room")
    room = room_picture(12)
    cv2.imwrite(str(folder / "plate.png"), np.clip(room, 0, 255).astype(np.uint8))
    _room_video(folder / "in.mp4", room, square=True)
    return folder


def test_process_with_a_plate_keys_what_is_not_the_room(room_files, tmp_path):
    """A box carried through the room is no person for the model, but the plate says it is not the room
    either: with --plate the matte takes it in, without it does not."""
    from personseg_live.cli import main

    src = room_files / "in.mp4"
    assert main(["process", str(src), str(tmp_path / "plain.mp4"), "--quiet", "--mask-out", str(tmp_path / "m0")]) == 0
    assert main(["process", str(src), str(tmp_path / "plate.mp4"), "--quiet", "--mask-out", str(tmp_path / "m1"),
                 "--plate", str(room_files / "plate.png")]) == 0
    plain, plated = _masks(tmp_path / "m0"), _masks(tmp_path / "m1")
    assert len(plain) == len(plated) == 24 and (tmp_path / "plate.mp4").stat().st_size > 0
    x = 40 + 4 * 20
    box = (slice(170, 240), slice(x + 10, x + 80))
    assert plain[20][box].mean() < 64
    assert plated[20][box].mean() > 192
    far = (slice(10, 100), slice(450, 630))
    assert plated[20][far].mean() < 10


def test_process_says_when_the_plate_did_not_match_the_picture(room_files, tmp_path, capsys):
    """A plate of another room (here the picture upside down) steps aside, as it should; the closing line now says
    so (the run looked like one with the room's help)."""
    from personseg_live.cli import main

    src = room_files / "in.mp4"
    wrong = tmp_path / "other_room.png"
    cv2.imwrite(str(wrong), cv2.imread(str(room_files / "plate.png"))[::-1])
    assert main(["process", str(src), str(tmp_path / "right.mp4"), "--plate", str(room_files / "plate.png")]) == 0
    assert "room plate" not in capsys.readouterr().err
    assert main(["process", str(src), str(tmp_path / "wrong.mp4"), "--plate", str(wrong)]) == 0
    err = capsys.readouterr().err
    share = re.search(r"room plate: set aside on (\d+)% of frames \(it did not match the picture", err)
    assert share and int(share.group(1)) >= 90, err


KITCHEN_PERSON = "ccp_0900"  # tests/data/people: a woman standing, 2/3 of the frame's height here


@functools.cache
def _kitchen_and_person() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bundled kitchen at 640x360, and the person of tests/data/people (colour, alpha) 300 px tall: read once."""
    from personseg_live import assets
    from videos import PEOPLE

    kitchen = cv2.resize(cv2.imread(str(assets.assets_dir() / "backgrounds" / "twilio_Kitchen.jpg")), HW[::-1],
                         interpolation=cv2.INTER_AREA).astype(np.float32)
    photo = cv2.imread(str(PEOPLE / f"{KITCHEN_PERSON}.jpg"))
    mask = cv2.imread(str(PEOPLE.parent / "masks" / f"{KITCHEN_PERSON}.png"), cv2.IMREAD_GRAYSCALE)
    size = (round(photo.shape[1] * 300 / photo.shape[0]), 300)
    person = cv2.resize(photo, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    return kitchen, person, cv2.resize(mask, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def _kitchen_person(i: int):
    """Frame ``i`` of a person (a photo of tests/data/people with its mask) swaying +-100 px before the bundled
    kitchen photo, 640x360, and her true alpha."""
    kitchen, person, person_alpha = _kitchen_and_person()
    size = person_alpha.shape[::-1]
    x = (HW[1] - size[0]) // 2 + int(100 * np.sin(i / 8))
    alpha, colour = np.zeros(HW, np.float32), np.zeros((*HW, 3), np.float32)
    alpha[60:, x:x + size[0]], colour[60:, x:x + size[0]] = person_alpha, person
    a3 = alpha[..., None]
    noise = np.random.default_rng(i).normal(0, 2, kitchen.shape)
    return np.clip(a3 * colour + (1 - a3) * kitchen + noise, 0, 255).astype(np.uint8), alpha


@pytest.fixture(scope="module")
def kitchen_person_clip(tmp_path_factory):
    """3 s of a person swaying in a real scene photo (the bundled kitchen)."""
    from videos import write_video

    return write_video(tmp_path_factory.mktemp("kitchen") / "person.mp4", frames=90, size=HW[::-1],
                       image=lambda i: _kitchen_person(i)[0])


def test_process_plate_auto_learns_the_room_first_and_helps_from_the_first_frames(kitchen_person_clip, tmp_path):
    """Two passes: the room is learned from the whole recording, so it helps from the first frame on, where a
    plate learned while processing would know nothing yet (it needs ~30 frames of a pixel). Measured: the
    first 15 frames IoU 0.905 without, 0.933 with, every one of them better (2026-12-02)."""
    from personseg_live.cli import main

    src = kitchen_person_clip
    assert main(["process", str(src), str(tmp_path / "auto.mp4"), "--quiet", "--plate", "auto",
                 "--mask-out", str(tmp_path / "m")]) == 0
    assert main(["process", str(src), str(tmp_path / "plain.mp4"), "--quiet", "--mask-out", str(tmp_path / "p")]) == 0
    masks, plain = _masks(tmp_path / "m"), _masks(tmp_path / "p")
    assert len(masks) == 90 and (tmp_path / "auto.mp4").stat().st_size > 0

    def iou(mask, i):
        m, t = mask >= 128, _kitchen_person(i)[1] >= 0.5
        return np.count_nonzero(m & t) / np.count_nonzero(m | t)

    gain = np.array([iou(masks[i], i) - iou(plain[i], i) for i in range(15)])
    assert gain.mean() > 0.015 and gain.min() > -0.005, gain
    assert masks[3][10:50, 480:630].max() == 0  # the room stays room


@pytest.mark.parametrize("name, content, message", [
    ("missing.png", None, "plate file not found"),
    ("plate.png", b"this is not a picture", "cannot read the plate image"),
    ("plate.mp4", b"nor a video", "cannot read the plate"),
])
def test_a_missing_or_unreadable_plate_is_a_one_line_error(room_files, tmp_path, capsys, name, content, message):
    from personseg_live.cli import main

    plate = tmp_path / name
    if content is not None:
        plate.write_bytes(content)
    assert main(["process", str(room_files / "in.mp4"), str(tmp_path / "out.mp4"), "--quiet", "--plate", str(plate)]) != 0
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out.mp4").exists()


# -- live: --learn-room and the window -------------------------------------------------------------


@pytest.fixture(scope="module")
def empty_room_clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("empty")
    return _room_video(folder / "empty.mp4", room_picture(13), square=False, frames=30)


def test_plate_capture_counts_down_then_averages_frames():
    from personseg_live.room.live import PlateCapture

    now = [0.0]
    capture = PlateCapture(countdown_s=3.0, frames=4, clock=lambda: now[0])
    room, rng = room_picture(14), np.random.default_rng(0)
    assert capture.feed(shoot(room, rng)) is None and capture.seconds_left() == 3.0  # the user is still in the picture
    now[0] = 3.0
    plates = [capture.feed(shoot(room, rng)) for _ in range(4)]
    assert plates[:3] == [None] * 3 and plates[3] is not None
    assert np.median(plates[3].noise) > 0.5  # measured from the frames, not the one-photo default


def test_headless_learn_room_learns_and_uses_the_plate(empty_room_clip, tmp_path, capsys, monkeypatch):
    """``--headless --learn-room``: the countdown message, then the plate goes to the pipeline and is used."""
    from personseg_live.cli import _run_live
    from personseg_live.pipeline import Pipeline
    from personseg_live.settings import RoomSettings, Settings, SourceSettings

    settings = Settings(source=SourceSettings(spec=str(empty_room_clip), loop=True), room=RoomSettings(auto_learn=False))
    seen = []
    real_set_room = Pipeline.set_room

    def spy(self, cue):
        seen.append(cue)
        if cue is not None and cue.given is not None:  # learned: let it run a second, then stop like Ctrl-C
            threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        return real_set_room(self, cue)

    monkeypatch.setattr(Pipeline, "set_room", spy)
    assert _run_live(settings, vcam=False, output=tmp_path / "rec.mp4", learn_room=True) == 0
    err = capsys.readouterr().err
    assert "step out of the picture" in err and "room learned" in err
    assert seen[0] is None  # learning off and no plate for a file: the model alone at first
    assert seen[-1].given is not None and seen[-1].status is RoomStatus.ACTIVE  # then the plate, in use


def test_window_learn_room_action_badge_and_forget(qtbot, segmenter, empty_room_clip, tmp_path):
    pytest.importorskip("pytestqt")
    import argparse
    import json

    from personseg_live.gui.app import create_window

    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"room": {"auto_learn": False}}))
    window = create_window(argparse.Namespace(source=str(empty_room_clip), background=None, model=None),
                           settings_path=path, segmenter=segmenter)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.preview.frames_shown > 0, timeout=20_000)
    badge = window.findChild(type(window.room.badge), "room-badge")
    assert badge.text() == "Room: off"
    assert "L" in [key for key, _ in window.shortcut_rows()] and window.room.learn_action in window.toolbar.actions()
    window.room.learn_action.trigger()
    assert "Step out of the picture" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: badge.text() == "Room: known", timeout=30_000)
    assert window.room.cue.given is not None
    window.room.forget_action.trigger()
    assert badge.text() == "Room: off" and window.room.cue is None
    window.room.auto_action.trigger()  # the setting: learn by itself
    assert window.settings.room.auto_learn
    qtbot.waitUntil(lambda: badge.text() in ("Room: learning", "Room: known"), timeout=10_000)
    window.reset_button.click()  # learning by itself is off by default: the tick, the setting and the cue follow
    assert not window.room.auto_action.isChecked() and not window.settings.room.auto_learn
    assert window.room.cue.learn is False
    window.close()


# -- bench --room ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_bench_room_on_short_generated_clips(segmenter, people_dir, monkeypatch, capsys):
    """`bench --room` end to end on two test people in bundled room photos, 1.5 s clips: the given plate
    of the right room helps; a plate of the wrong room is noticed and costs (almost) nothing."""
    from personseg_live import assets
    from personseg_live import bench_room as b

    monkeypatch.setattr(b, "SECONDS", 1.5)
    monkeypatch.setattr(b, "LEAVE_AT", 1.0)
    rooms = assets.backgrounds()[0].parent
    r = b.bench_room(people_dir.parent, rooms, segmenter=segmenter,
                     clips=(("people", 0, "portrait", "right"), ("people", 1, "portrait", "wrong")))
    right, wrong = r["summary"]["right"], r["summary"]["wrong"]
    assert right["iou_given"] > right["iou_model"]
    assert wrong["iou_given"] >= wrong["iou_model"] - 0.005
    assert r["clips"][1]["statuses"]["given"].get("mismatch", 0) > 0
    assert 0 <= right["iou_file"] <= 1 and "file gain / given gain" in b.format_room(r)
    # The room seen: nothing in the first second (SEEN_FRAMES), then the pixels the person has uncovered.
    assert right["auto_vs_given_gain_by_second_seen"][0] is None
    assert right["auto_share_of_given_gain_seen"] is not None and "room seen >= 1 s" in b.format_room(r)
    # By how long the room has been seen: >= 1 s is the pooled share above; 1.5 s clips have no room seen for 2 s.
    by_seen = right["auto_share_by_room_seen_s"]
    assert by_seen["1"] == right["auto_share_of_given_gain_seen"] and by_seen["2"] is None and by_seen["10"] is None
    assert "by how long the room has been seen (in all): >= 1 s" in b.format_room(r)
    assert 0 < r["summary"]["cue_cpu_ms_p50"] and "cue cost per 720p frame" in b.format_room(r)
    assert b.main(people_dir / "no-such-folder") == 1
    assert "error: no *.jpg scenes" in capsys.readouterr().err


def test_headless_file_run_learns_the_room_when_asked(kitchen_person_clip, tmp_path, capsys):
    """``--headless --learn-room`` on a file source: the room is learned from the file first (as
    ``process --plate auto``): over the blurred room, the first frames around the person are closer to what they
    should be — she sharp as she is, the kitchen beside her blurred — than without (the quality itself:
    test_process_plate_auto_learns_the_room_first_...)."""
    import av

    from personseg_live.cli import main

    def frames(path):
        with av.open(str(path)) as c:
            return [f.to_ndarray(format="bgr24").astype(np.float32) for _, f in zip(range(15), c.decode(video=0))]

    base = ["--headless", "--source", str(kitchen_person_clip), "--background", "blur"]
    assert main([*base, "--output", str(tmp_path / "plain.mp4")]) == 0
    assert main([*base, "--learn-room", "--output", str(tmp_path / "room.mp4")]) == 0
    assert "learning the room" in capsys.readouterr().err
    plain, room, source = frames(tmp_path / "plain.mp4"), frames(tmp_path / "room.mp4"), frames(kitchen_person_clip)
    # Within 30 px of her, a pixel shown as the source (no channel off by 6 levels or more: the H.264 of both is
    # ~2.5) should be hers, a changed one the blurred kitchen's: the share of pixels on the right side, 15 frames.
    # (The 2026-12-01 model alone left part of her blurred here, and the room gave it back; the model of 2026-12-03
    # keeps her whole by itself, and the room's gain is the kitchen beside her that no longer stays sharp; the default
    # of 2026-12-05, whose first look finds her edge better by itself, leaves the room less to give: 0.802 -> 0.806.)
    def right_side(out, src, i):
        person = _kitchen_person(i)[1] >= 0.5
        near = cv2.dilate(person.astype(np.uint8), np.ones((61, 61), np.uint8)) > 0
        return np.count_nonzero(((np.abs(out - src).max(axis=2) < 6) == person) & near) / np.count_nonzero(near)

    right = {name: np.mean([right_side(out, src, i) for i, (out, src) in enumerate(zip(outs, source))])
             for name, outs in (("plain", plain), ("room", room))}
    assert right["room"] > right["plain"] + 0.002, right  # measured 0.806 vs 0.802 (0.806 vs 0.797 before 2026-12-05)


def test_headless_room_of_a_camera_that_cannot_be_kept_is_used_all_the_same(tmp_path, monkeypatch, capsys):
    """A camera's captured room that cannot be written (a file stands where the data folder should be)
    is used all the same, and the line says why it was not kept: the write error must not escape into
    the live frame callback (the window already said "not kept: ..." and went on)."""
    from personseg_live.cli import _LiveRoom
    from personseg_live.pipeline import Pipeline
    from personseg_live.room.live import PlateCapture
    from personseg_live.settings import RoomSettings, Settings, SourceSettings

    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    settings = Settings(source=SourceSettings(spec="0"), room=RoomSettings(auto_learn=False))
    room = _LiveRoom(settings, learn=True)
    room.capture = PlateCapture(countdown_s=0.0, frames=2)
    pipeline = Pipeline(settings, on_frame=lambda result: None, on_event=lambda event: None)
    frame = shoot(room_picture(3), np.random.default_rng(0))
    room.feed(frame, pipeline)
    room.feed(frame, pipeline)
    assert room.cue is not None and room.cue.given is not None and room.capture is None
    err = capsys.readouterr().err
    assert "room learned (not kept:" in err and "step back in" in err
