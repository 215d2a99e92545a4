"""The per-kind validation, the merged labels and the wall-people training pairs, on real files."""

from __future__ import annotations

import argparse
import json
import cv2
import numpy as np
import pytest

from training.pseudo_label import merge_labels
from training.evaluate import evaluate_command
from training.validation_kinds import Pair, clothes_colour, comp_kinds, real_kinds, write_validation_kinds

def _person(h=200, w=150, box=(60, 150, 60, 95), clothes=(235, 235, 235), bg=(240, 240, 240)) -> Pair:
    """A blocky standing person: a head and a body in ``clothes`` on ``bg`` (BGR)."""
    img = np.full((h, w, 3), bg, np.uint8)
    mask = np.zeros((h, w), np.float32)
    y0, y1, x0, x1 = box
    mask[y0:y1, x0:x1] = 1
    img[y0:y1, x0:x1] = clothes
    img[y0:y0 + 25, x0 + 10:x1 - 10] = (120, 150, 200)  # a face
    return Pair("ccp-person", "x", img, mask)


def test_real_kinds_follow_mask_and_lightness():
    light = _person()
    kinds = real_kinds(light)
    assert "real_light_on_light" in kinds and "real_portrait_shaped" in kinds and "real_small" in kinds
    dark = _person(clothes=(20, 20, 20), bg=(15, 15, 15))
    assert "real_dark_on_dark" in real_kinds(dark) and "real_light_on_light" not in real_kinds(dark)
    big = _person(h=100, w=200, box=(5, 100, 20, 180))
    assert "real_large" in real_kinds(big) and "real_portrait_shaped" not in real_kinds(big)
    group = _person(w=300)
    group.mask[60:150, 200:235] = 1
    assert "real_group" in real_kinds(group) and "real_group" not in real_kinds(light)


def test_composites_put_light_clothes_on_light_walls_and_keep_the_mask():
    rng = np.random.default_rng(0)
    pair = _person(bg=(30, 90, 20))  # light clothes on grass
    out = dict(comp_kinds(pair, rng))
    assert {"comp_light_wall", "comp_light_sky", "comp_same_colour_wall"} <= set(out)
    wall = out["comp_light_wall"][pair.mask < 0.5].mean()
    assert wall > 190  # the grass is gone, a light wall in its place
    same = out["comp_same_colour_wall"][pair.mask < 0.5].reshape(-1, 3).mean(axis=0)
    assert np.abs(same - clothes_colour(pair)).max() < 45  # the wall wears the clothes' colour
    dark = dict(comp_kinds(_person(clothes=(25, 25, 25), bg=(200, 200, 200)), rng))
    assert "comp_dark_dim" in dark and "comp_light_wall" not in dark


def _labelled_and_teacher(tmp_path, human: np.ndarray, teacher: np.ndarray):
    """A one-picture folder dataset with ``human`` as its mask, and the teacher's labels of it."""
    labelled, pseudo = tmp_path / "set", tmp_path / "pseudo"
    for d in (labelled / "images", labelled / "masks", pseudo / "masks"):
        d.mkdir(parents=True)
    cv2.imwrite(str(labelled / "images" / "a.jpg"), np.full((*human.shape, 3), 128, np.uint8))
    cv2.imwrite(str(labelled / "masks" / "a.png"), human)
    cv2.imwrite(str(pseudo / "masks" / "a.png"), teacher)
    return labelled, pseudo


def test_merge_labels_takes_the_larger_of_human_and_teacher(tmp_path):
    human = np.zeros((40, 60), np.uint8)
    human[:, :20] = 255  # the labelled person
    teacher = np.zeros((20, 30), np.uint8)  # a teacher label at another size
    teacher[:, 20:] = 200  # a person the human label missed
    labelled, pseudo = _labelled_and_teacher(tmp_path, human, teacher)
    assert merge_labels(labelled, pseudo, tmp_path / "out") == 1
    merged = cv2.imread(str(tmp_path / "out" / "masks" / "a.png"), cv2.IMREAD_GRAYSCALE)
    assert merged.shape == (40, 60)
    assert merged[:, :20].min() == 255 and merged[:, 45:].min() == 200 and merged[:, 22:36].max() == 0
    assert (tmp_path / "out" / "images" / "a.jpg").resolve() == (labelled / "images" / "a.jpg").resolve()
    assert (tmp_path / "out" / "SOURCE.md").exists()  # written last: reproduce_default.sh's "finished" mark


def test_merge_labels_apart_keeps_a_missed_passer_by_and_drops_the_pet_on_a_lap(tmp_path):
    human = np.zeros((60, 100), np.uint8)
    human[10:60, 10:30] = 255  # the labelled person
    teacher = human.copy()
    teacher[30:45, 30:45] = 230  # the dog on her lap: it touches her
    teacher[20:60, 70:85] = 220  # a passer-by the labels missed, apart
    labelled, pseudo = _labelled_and_teacher(tmp_path, human, teacher)
    assert merge_labels(labelled, pseudo, tmp_path / "apart", adds="apart") == 1
    apart = cv2.imread(str(tmp_path / "apart" / "masks" / "a.png"), cv2.IMREAD_GRAYSCALE)
    assert apart[10:60, 10:30].min() == 255  # the human label stays
    assert apart[30:45, 31:45].max() == 0  # no dog
    assert apart[20:60, 70:85].min() == 220  # the passer-by joins
    assert "--adds apart" in (tmp_path / "apart" / "SOURCE.md").read_text()
    merge_labels(labelled, pseudo, tmp_path / "all")  # the default: every teacher pixel, the dog too
    assert cv2.imread(str(tmp_path / "all" / "masks" / "a.png"), cv2.IMREAD_GRAYSCALE)[30:45, 31:45].min() == 230
    with pytest.raises(ValueError, match="adds"):
        merge_labels(labelled, pseudo, tmp_path / "x", adds="some")


def test_validation_kinds_and_evaluate_kinds_end_to_end(tmp_path, people_dir):
    data = tmp_path / "data"
    data.mkdir()
    (data / "ccp-person").symlink_to(people_dir)
    counts = write_validation_kinds(data, tmp_path / "kinds", val_fraction=1.0)
    kinds = sorted(p.name for p in (tmp_path / "kinds").iterdir() if p.is_dir())
    assert kinds and kinds == sorted(counts)
    assert all(k.startswith(("real_", "comp_")) for k in kinds)
    report = tmp_path / "r.json"
    args = argparse.Namespace(model=None, data=[], kinds=tmp_path / "kinds", split="val", val_fraction=0.1,
                              backend="litert", json=report, gallery=None, run=None)
    evaluate_command(args)
    rows = json.loads(report.read_text())
    assert sorted(r["dataset"] for r in rows) == kinds
    assert all(r["n"] == counts[r["dataset"]] and 0.0 <= r["iou"] <= 1.0 for r in rows)


def test_wall_people_writes_training_pairs_with_the_people_masks(tmp_path, people_dir):
    from training.validation_kinds import write_wall_people

    data = tmp_path / "data"
    data.mkdir()
    (data / "ccp-person").symlink_to(people_dir)
    n = write_wall_people(data, tmp_path / "out")
    images = sorted((tmp_path / "out" / "images").glob("*.jpg"))
    assert n == len(images) == 8  # all eight test pairs are on the training side of the split
    assert (tmp_path / "out" / "SOURCE.md").exists()  # written last: reproduce_default.sh's "finished" mark
    mask = cv2.imread(str(tmp_path / "out" / "masks" / f"{images[0].stem}.png"), cv2.IMREAD_GRAYSCALE)
    source = cv2.imread(str(people_dir / "masks" / f"{images[0].stem.split('_', 1)[1][:-2]}.png"), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(mask, source)


def test_wall_people_of_named_sets_only(tmp_path, people_dir):
    """A recipe that leaves a source out (reproduce_default.sh step 12) must leave its people off the walls too."""
    from training.validation_kinds import write_wall_people

    data = tmp_path / "data"
    data.mkdir()
    (data / "ccp-person").symlink_to(people_dir)
    with pytest.raises(ValueError, match="no people of celebamask-hq-subset, nprportrait-seg"):
        write_wall_people(data, tmp_path / "portraits", sets=("celebamask-hq-subset", "nprportrait-seg"))
    assert write_wall_people(data, tmp_path / "ccp", sets=("ccp-person",)) == 8
    with pytest.raises(ValueError, match="voc-person"):
        write_wall_people(data, tmp_path / "voc", sets=("voc-person",))


def test_webcam_whole_kind_adds_the_teacher_to_the_portraits_except_where_it_was_found_wrong(tmp_path, people_dir, monkeypatch):
    import training.validation_kinds as vk

    data, merged = tmp_path / "data", tmp_path / "merged"
    data.mkdir()
    (data / "celebamask-hq-subset").symlink_to(people_dir)  # portraits' set name: their pictures are webcam-like
    (merged / "celebamask-hq-subset" / "masks").mkdir(parents=True)
    ids = sorted(p.stem for p in (people_dir / "masks").glob("*.png"))
    for sid in ids:
        m = cv2.imread(str(people_dir / "masks" / f"{sid}.png"), cv2.IMREAD_GRAYSCALE)
        m[:12, :12] = 255  # a hand the human mask left out
        cv2.imwrite(str(merged / "celebamask-hq-subset" / "masks" / f"{sid}.png"), m)
    monkeypatch.setitem(vk.TEACHER_WRONG, f"celebamask-hq-subset/{ids[0]}", "looked at: background")
    counts = write_validation_kinds(data, tmp_path / "kinds", val_fraction=1.0, merged=merged)
    assert counts["real_webcam_whole"] == counts["real_webcam"] == len(ids)
    for sid in ids:
        stem = f"celebamask-hq-subset_{sid}"
        human = cv2.imread(str(tmp_path / "kinds" / "real_webcam" / "masks" / f"{stem}.png"), cv2.IMREAD_GRAYSCALE)
        whole = cv2.imread(str(tmp_path / "kinds" / "real_webcam_whole" / "masks" / f"{stem}.png"), cv2.IMREAD_GRAYSCALE)
        assert (whole >= human).all()
        if sid == ids[0]:
            assert np.array_equal(whole, human)  # the teacher was wrong there: the human mask alone
        else:
            assert whole[:12, :12].min() == 255 and np.array_equal(whole[12:, 12:], human[12:, 12:])
    assert "real_webcam_whole" not in write_validation_kinds(data, tmp_path / "plain", val_fraction=1.0)
    (merged / "celebamask-hq-subset" / "masks" / f"{ids[1]}.png").unlink()
    with pytest.raises(FileNotFoundError, match="merge-labels"):
        write_validation_kinds(data, tmp_path / "gap", val_fraction=1.0, merged=merged)
