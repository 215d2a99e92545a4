"""The one Segmenter -> Matte -> Compositor chain (FrameProcessor) and the runs that drive it."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from personseg_live.model.closer_look import FIRST_LOOK_EVERY
from personseg_live.model.segmenter import upsample
from personseg_live.offline import ProcessOptions, process_video
from personseg_live.processor import FrameProcessor, frame_size
from personseg_live.settings import BackgroundSettings, MatteSettings

from videos import probe, write_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("proc") / "clip.mp4", frames=12, fps=30)


def photos(people_dir, n=4):
    return [cv2.imread(str(p)) for p in sorted((people_dir / "images").glob("*.jpg"))[:1]] * n


def test_a_batch_is_the_same_as_frame_by_frame(people_dir, segmenter):
    frames = [cv2.resize(f, (160, 240)) for f in photos(people_dir)]
    one = FrameProcessor(segmenter, MatteSettings(), BackgroundSettings(mode="blur"))
    batched = FrameProcessor(segmenter, MatteSettings(), BackgroundSettings(mode="blur"))
    singles = [(out.alpha.copy(), out.composite) for out in (one(f) for f in frames)]
    together = [(out.alpha.copy(), out.composite) for out in batched.batch(frames)]
    assert len(together) == len(frames)
    for (a1, c1), (a2, c2) in zip(singles, together):  # the matte's temporal state advanced the same way
        np.testing.assert_allclose(a1, a2, atol=1e-5)
        assert np.abs(c1.astype(int) - c2).max() <= 1
    assert set(one(frames[0]).timings_ms) == {"segment", "matte", "compose", "total"}


def test_an_i420_frame_comes_back_i420_like_its_bgr_twin(people_dir, segmenter):
    bgr = cv2.resize(photos(people_dir, 1)[0], (160, 240))
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    assert frame_size(i420) == (240, 160)
    a = FrameProcessor(segmenter, MatteSettings(), BackgroundSettings(mode="color", color="#2060C0"))(bgr)
    b = FrameProcessor(segmenter, MatteSettings(), BackgroundSettings(mode="color", color="#2060C0"))(i420)
    assert b.composite.shape == i420.shape and b.alpha.shape == (240, 160)
    back = cv2.cvtColor(b.composite, cv2.COLOR_YUV2BGR_I420)
    assert np.abs(back.astype(int) - a.composite).mean() < 4  # 4:2:0 chroma at the edge is the difference


def test_every_driver_runs_the_one_chain(monkeypatch, tmp_path, clip, people_dir, segmenter):
    """Live, offline and bench all go through FrameProcessor.finish: a change there reaches them all."""
    from personseg_live.bench import bench_stability
    from personseg_live.pipeline import Pipeline
    from personseg_live.settings import Settings, SourceSettings

    calls: list[str] = []
    real = FrameProcessor.finish

    def spy(self, frame, guide, low, **kw):
        calls.append(threading.current_thread().name)
        return real(self, frame, guide, low, **kw)

    monkeypatch.setattr(FrameProcessor, "finish", spy)
    process_video(clip, tmp_path / "out.mp4", ProcessOptions(), segmenter=segmenter, progress=False)
    assert len(calls) == 12
    bench_stability(clip, segmenter=segmenter, max_frames=3)
    assert len(calls) == 12 + 2 * 3  # the unsmoothed and the set matte, per frame
    got = threading.Event()
    p = Pipeline(Settings(source=SourceSettings(spec=str(clip))), on_frame=lambda r: got.set(),
                 on_event=lambda e: None, segmenter=segmenter)
    p.start()
    try:
        assert got.wait(10)
    finally:
        p.stop()
    assert "personseg-inference" in calls


def test_max_frames_writes_a_complete_shorter_output(tmp_path, clip, segmenter):
    out = tmp_path / "out.mp4"
    report = process_video(clip, out, ProcessOptions(), segmenter=segmenter, progress=False, max_frames=5)
    assert report.frames == 5 and not report.cancelled
    assert probe(out)["frames"] == 5


def test_cancel_stops_and_writes_nothing(tmp_path, clip, segmenter):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous result")
    cancel = threading.Event()
    seen = []

    def on_frame(index):
        seen.append(index)
        if index == 3:
            cancel.set()  # as a signal handler or another thread would

    report = process_video(clip, out, ProcessOptions(), segmenter=segmenter, progress=False, on_frame=on_frame, cancel=cancel)
    assert report.cancelled and report.frames == 4 and seen == [0, 1, 2, 3]
    assert out.read_bytes() == b"previous result" and [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


@pytest.mark.parametrize("mode, kept, colour", [
    ("blur", False, False), ("none", False, False), ("color", False, True), ("image", False, True),
    ("blur", True, True),  # --mask-out: the alpha is an output
])
def test_the_edge_is_placed_by_colour_only_where_it_shows(people_dir, segmenter, mode, kept, colour):
    # Over the blurred room the colour step gains nothing a viewer sees and costs ~2.6 ms of the live frame.
    from personseg_live import assets

    frame = photos(people_dir, 1)[0]
    path = str(assets.backgrounds()[0]) if mode == "image" else None
    chain = FrameProcessor(segmenter, MatteSettings(), BackgroundSettings(mode=mode, path=path), keep_edges=kept)
    assert chain.colour_step is colour
    with_colour = FrameProcessor(segmenter, MatteSettings(), BackgroundSettings(mode="color"))(frame).alpha
    without = FrameProcessor(segmenter, MatteSettings(refine=False), BackgroundSettings(mode="color"))(frame).alpha
    assert not np.array_equal(with_colour, without)  # the step changes this picture's edge
    assert np.array_equal(chain(frame).alpha, with_colour if colour else without)


def test_a_clean_plate_does_not_bring_the_colour_step_back_over_the_blurred_room(segmenter):
    # bench --room, right room, given plate: IoU 0.9792 / boundary F 0.947 without it, 0.9787 / 0.943 with it.
    from personseg_live.room import RoomCue, capture_plate

    room = np.full((96, 160, 3), 120, np.uint8)
    plate = capture_plate([room] * 4)
    assert not FrameProcessor(segmenter, MatteSettings(), BackgroundSettings(mode="blur"), room=RoomCue(plate)).colour_step
    assert FrameProcessor(segmenter, MatteSettings(), BackgroundSettings(mode="color"), room=RoomCue(plate)).colour_step


class _CountingLooks:
    """The real Segmenter, its first and closer looks counted."""

    def __init__(self, segmenter):
        self.seg, self.first, self.closer = segmenter, 0, 0

    def first_look(self, frame):
        self.first += 1
        return self.seg.first_look(frame)

    def look_closer(self, frame, prob, plan=None):
        self.closer += plan is not None
        return self.seg.look_closer(frame, prob, plan)

    def __getattr__(self, name):
        return getattr(self.seg, name)


def _person_in_a_wide_scene(people_dir, xs, tall=180):
    """640x360 frames of a scene photo with a person ``tall`` px tall pasted at each of ``xs`` (their left edge),
    and the pasted rectangle's width."""
    from personseg_live import assets
    from personseg_live.compose.effects import cover_fit

    scene = cover_fit(cv2.imread(str(assets.backgrounds()[0])), (640, 360))
    person = cv2.resize(photos(people_dir, 1)[0], None, fx=0.5, fy=0.5)
    person = cv2.resize(person, (round(person.shape[1] * tall / person.shape[0]), tall))
    frames = []
    for x in xs:
        frame = scene.copy()
        frame[330 - tall:330, x:x + person.shape[1]] = person
        frames.append(frame)
    return frames, person.shape[1]


def _live(segmenter, frames, every):
    """A live processor (``first_look_every``) over ``frames``: the count of whole-frame looks after each frame,
    the closer looks in all, and the last output."""
    looks = _CountingLooks(segmenter)
    proc = FrameProcessor(looks, MatteSettings(), BackgroundSettings(mode="blur"), first_look_every=every)
    firsts = []
    for f in frames:
        out = proc(f)
        firsts.append(looks.first)
    return firsts, looks.closer, out


def test_live_frames_look_at_the_whole_frame_every_nth_frame_while_someone_is_small(people_dir, segmenter):
    """Live (``first_look_every``): a person standing small in a wide frame gets the closer look on every frame
    and, once settled, the look at the whole frame on every n-th only (1.2-1.33 runs of the model a frame, not
    2); an empty room (nobody to look at closer: someone may walk in) gets the whole-frame look on every frame."""
    frames, _ = _person_in_a_wide_scene(people_dir, [250] * 16)
    for every in (3, 5):
        firsts, closer, out = _live(segmenter, frames, every)
        assert closer == len(frames)
        assert firsts[-1] - firsts[-1 - 2 * every] == 2, (every, firsts)
        assert out.alpha.shape == frames[0].shape[:2]
    firsts, closer, _ = _live(segmenter, [np.full((360, 640, 3), 128, np.uint8)] * 6, 3)
    assert (firsts, closer) == ([1, 2, 3, 4, 5, 6], 0)


def test_a_person_who_leaves_the_closer_looks_box_gets_a_whole_frame_look_on_the_next_frame(people_dir, segmenter):
    """Live, the whole-frame look is reused for up to ``first_look_every`` frames, while the closer look sees the
    person inside its box. A person who steps out of the box must not wait for the count: the closer look finds
    them gone, the next frame gets a new whole-frame look, and the answer has them where they now stand."""
    frames, width = _person_in_a_wide_scene(people_dir, [250] * 8 + [370] * 4)  # 120 px to the right
    firsts, _, out = _live(segmenter, frames, 12)
    assert firsts[8] == firsts[7] and firsts[9] == firsts[8] + 1, firsts
    truth = upsample(segmenter.lowres(frames[-1]), (360, 640)) >= 0.5  # the model looking at that frame afresh
    found = out.alpha >= 0.5
    assert truth[150:330, 370:370 + width].mean() > 0.1  # the model finds the person there ...
    assert (found & truth).sum() / (found | truth).sum() > 0.8  # ... and so does the live processor


def _rests(segmenter, frames, **kw):
    """A live processor (as the pipeline makes it) over ``frames``: on which frames the model rested, on which
    the closer look and on which the whole-frame look ran (counted at the real Segmenter), and the alphas."""
    looks = _CountingLooks(segmenter)
    proc = FrameProcessor(looks, MatteSettings(), BackgroundSettings(mode="blur"), first_look_every=FIRST_LOOK_EVERY,
                          rest=True, **kw)
    rested, closer, first, alphas = [], [], [], []
    for f in frames:
        before = looks.first, looks.closer
        alphas.append(proc(f).alpha)
        rested.append(proc.rested)
        first.append(looks.first > before[0])
        closer.append(looks.closer > before[1])
    return rested, closer, first, alphas


def test_live_the_model_rests_on_a_frame_its_last_answer_foretold(people_dir, segmenter):
    """A person drifting slowly (a video call): after a frame whose answer the matte's carried one foretold, the model
    rests and the matte carries its answer along — about every other frame, never two running, and the alpha
    is the one the model on every frame gives, within the live looks' own spread (their boxes planned on
    other frames: IoU 0.94-0.99 here)."""
    frames, _ = _person_in_a_wide_scene(people_dir, range(250, 264), tall=300)  # 1 px a frame
    rested, closer, _, alphas = _rests(segmenter, frames)
    assert closer == [not r for r in rested]
    assert 4 <= sum(rested) <= len(frames) // 2, rested
    assert not any(a and b for a, b in zip(rested, rested[1:]))
    every = FrameProcessor(segmenter, MatteSettings(), BackgroundSettings(mode="blur"), first_look_every=FIRST_LOOK_EVERY)
    for f, alpha in zip(frames, alphas):
        truth, found = every(f).alpha >= 0.5, alpha >= 0.5
        assert (found & truth).sum() / (found | truth).sum() > 0.9


def test_a_surprise_or_a_room_cue_keeps_the_model_running_every_frame(people_dir, segmenter):
    """A person the flow cannot follow (a jump of 200 px each frame) surprises the model: no rest. Nor with a room
    cue, which decides with the model's answer each frame."""
    from personseg_live.room import RoomCue, capture_plate

    jumps, _ = _person_in_a_wide_scene(people_dir, [100, 300] * 4)
    assert not any(_rests(segmenter, jumps)[0])
    still, _ = _person_in_a_wide_scene(people_dir, [250] * 6)
    assert any(_rests(segmenter, still)[0])
    cue = RoomCue(capture_plate([cv2.GaussianBlur(still[0], (0, 0), 1)] * 4))
    assert not any(_rests(segmenter, still, room=cue)[0])


def test_live_the_whole_frame_look_due_on_a_resting_frame_is_taken_there(people_dir, segmenter):
    """Live, the whole-frame look whose turn comes on a frame where the model rests, or on the frame after it, is
    taken on the resting frame (its box and its answer outside the box serve from the next frame on), so that a
    person sitting still never has a frame with both looks: those frames set the live p95 latency (21.7 -> 18.7 ms
    at 720p). The looks still come every few frames."""
    frames, _ = _person_in_a_wide_scene(people_dir, [250] * 30, tall=300)
    rested, closer, first, _ = _rests(segmenter, frames)
    assert sum(rested) >= 10, rested
    assert sum(first[1:]) >= 4, first
    both = [i for i in range(1, len(frames)) if first[i] and closer[i]]
    assert both == [], (both, first, rested)


def test_a_cut_to_a_new_shot_gets_the_model_and_a_whole_frame_look_at_once(people_dir, segmenter):
    """A cut (an edited video played live or processed as a file): the first frame of the new shot neither carries
    the old shot's answer (the model resting) nor reuses the old whole-frame look's box: the person, now elsewhere
    in another room, is found on that very frame (on our clips' cuts: IoU 0.42 live / 0.70 in files on that frame
    without this, 0.81 with it)."""
    from personseg_live import assets
    from personseg_live.compose.effects import cover_fit

    still, width = _person_in_a_wide_scene(people_dir, [60] * 8, tall=300)
    person = still[0][30:330, 60:60 + width]
    shot = cover_fit(cv2.imread(str(assets.backgrounds()[3])), (640, 360))
    shot[30:330, 400:400 + width] = person
    for rest in (True, False):
        looks = _CountingLooks(segmenter)
        proc = FrameProcessor(looks, MatteSettings(), BackgroundSettings(mode="blur"), first_look_every=FIRST_LOOK_EVERY,
                              rest=rest)
        rested = [proc(f).rested for f in still]
        if rest:  # the model rests on the still shot's every other frame: the cut comes where it would rest
            assert any(rested) and not rested[-1], rested
        firsts = looks.first
        alpha = proc(shot).alpha
        assert not proc.rested and looks.first == firsts + 1, rest
        fresh = FrameProcessor(segmenter, MatteSettings(), BackgroundSettings(mode="blur"))(shot).alpha >= 0.5
        found = alpha >= 0.5
        assert fresh[30:330, 400:400 + width].mean() > 0.15  # the person (the pasted photo holds some room too)
        assert (found & fresh).sum() / (found | fresh).sum() > 0.8, rest


def test_someone_walking_in_is_found_within_the_whole_frame_looks_turn_while_the_model_rests(people_dir, segmenter):
    """Live, the whole-frame look comes every ``FIRST_LOOK_EVERY`` frames, rested frames counted: a newcomer beside a
    person who sits still (outside the closer look's box, so no surprise) shows within that many frames, whatever
    the frame they walk in on (counted by the model's runs instead, up to twice as long: 9 frames here)."""
    base, width = _person_in_a_wide_scene(people_dir, [60] * 20, tall=300)
    newcomer = _person_in_a_wide_scene(people_dir, [420], tall=300)[0][0][:, 420:420 + width]
    delays = []
    for arrive in range(6, 13):
        frames = [f.copy() for f in base[:arrive + FIRST_LOOK_EVERY + 1]]
        for f in frames[arrive:]:
            f[:, 420:420 + width] = newcomer
        alphas = _rests(segmenter, frames)[-1]
        shown = [(a[:, 420:420 + width] >= 0.5).mean() > 0.1 for a in alphas[arrive:]]
        delays.append(shown.index(True) if any(shown) else None)
    assert None not in delays and max(delays) <= FIRST_LOOK_EVERY, delays


def test_a_striped_shirt_at_1080p_does_not_make_the_matte_flicker(people_dir, segmenter):
    """A person in a shirt of 3 px stripes before a 1080p camera, drifting 0.37 px a frame with sensor noise:
    the alpha stays steady (the shrunk frame's moire made it flicker 3x as much here, 25x on the demo clip's coat)."""
    photo = cv2.imread(str(people_dir / "images" / "ccp_0050.jpg"))
    mask = cv2.imread(str(people_dir / "masks" / "ccp_0050.png"), cv2.IMREAD_GRAYSCALE)
    scale = 1000 / photo.shape[0]
    person = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    inside = cv2.resize(mask, person.shape[1::-1], interpolation=cv2.INTER_NEAREST) > 127
    rows = np.nonzero(inside.any(1))[0]
    shirt = inside.copy()
    shirt[: rows[0] + (rows[-1] - rows[0]) // 4] = False  # below the head
    stripes = (np.arange(person.shape[1]) % 3 == 0)[None, :] * 200 + 40
    person[shirt] = np.repeat(np.broadcast_to(stripes, shirt.shape)[shirt][:, None], 3, 1).astype(np.uint8)
    scene = np.full((1080, 1920, 3), 170, np.uint8)
    x0 = (1920 - person.shape[1]) // 2
    scene[40:40 + person.shape[0], x0:x0 + person.shape[1]] = person
    proc = FrameProcessor(segmenter, background=BackgroundSettings(mode="color"))
    rng = np.random.default_rng(0)
    alphas = []
    for t in range(24):
        shift = np.float32([[1, 0, 0.37 * t], [0, 1, 0]])
        frame = cv2.warpAffine(scene, shift, (1920, 1080), borderMode=cv2.BORDER_REPLICATE)
        alphas.append(proc(np.clip(frame + rng.normal(0, 3, frame.shape), 0, 255).astype(np.uint8)).alpha)
    truth = np.zeros((1080, 1920), np.uint8)
    truth[40:40 + person.shape[0], x0:x0 + person.shape[1]] = inside
    truth = cv2.warpAffine(truth, shift, (1920, 1080)) > 0
    found = alphas[-1] > 0.5
    assert (found & truth).sum() / (found | truth).sum() > 0.8  # the striped person is there to flicker
    flicker = np.mean([np.abs(alphas[t] - alphas[t - 1]).mean() for t in range(8, 24)])
    assert flicker < 2e-3, flicker
