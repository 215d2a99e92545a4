"""training/reproduce_default.sh is the recipe of the shipped model: every command it runs must parse, and its
foreign-source step (12) must train the *same* recipe with only the named sources left out — otherwise its
figures say nothing about photos from a source the model never saw.

The script runs for real with a stand-in interpreter that records each ``$PY -m training ...`` call instead of
running it (hours of training); each recorded call is then parsed by the training module's own parser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training.__main__ import build_parser

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "training" / "reproduce_default.sh"

RECORDER = """import json, sys
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(sys.argv[2:]) + "\\n")
"""


def _recorded_calls(tmp_path: Path, foreign: bool, prepare=None) -> list[list[str]]:
    runs, shared = tmp_path / "runs", tmp_path / "shared"
    if prepare:
        prepare(runs)
    # What the script would otherwise fetch from npm (steps 1 and 2).
    for f in (runs / "teachers/package/selfie_segmentation.tflite", runs / "teachers/human-models/package/models/rvm.json"):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"")
    log, recorder = tmp_path / "calls.jsonl", tmp_path / "recorder.py"
    recorder.write_text(RECORDER)
    env = dict(os.environ, SHARED=str(shared), RUNS=str(runs), MODELS=str(tmp_path / "models"),
               PY=f"{sys.executable} {recorder} {log}", FOREIGN="1" if foreign else "0")
    subprocess.run(["bash", str(SCRIPT)], env=env, check=True, capture_output=True, text=True, timeout=60)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls and all(c[:2] == ["-m", "training"] for c in calls)
    return [c[2:] for c in calls]


def _train_calls(calls: list[list[str]]) -> dict[str, list[str]]:
    parser, _ = build_parser()
    return {Path(parser.parse_args(c).out).name: c for c in calls if c[0] == "train"}


def _data(call: list[str]) -> list[str]:
    return [call[i + 1] for i, a in enumerate(call) if a == "--data"]


def _without_data(call: list[str]) -> list[str]:
    drop = {i for i, a in enumerate(call) if a == "--data"}
    return [a for i, a in enumerate(call) if i not in drop and i - 1 not in drop and a != "--resume"]


@pytest.mark.parametrize("foreign", [False, True])
def test_every_command_of_the_recipe_parses(tmp_path, foreign):
    parser, _ = build_parser()
    calls = _recorded_calls(tmp_path, foreign)
    for call in calls:
        parser.parse_args(call)  # exits (SystemExit) on an unknown flag or a bad value
    trains = _train_calls(calls)
    assert sorted(trains) == ["default_first", "default_x"] + (["noccp", "noeveryday", "noportrait"] if foreign else [])


def test_the_first_look_is_the_same_recipe_trained_longer_and_the_closer_look_the_recipe(tmp_path):
    """The default is two sets of weights (export --closer-look): the first look's are step 5's recipe trained 20
    epochs instead of 8, on the same data, both mixed back toward the same initialisation."""
    parser, _ = build_parser()
    calls = _recorded_calls(tmp_path, foreign=False)
    trains = _train_calls(calls)
    first, recipe = parser.parse_args(trains["default_first"]), parser.parse_args(trains["default_x"])
    differ = {k for k in vars(recipe) if vars(first)[k] != vars(recipe)[k]}
    assert differ == {"epochs", "patience", "out"} and (first.epochs, recipe.epochs) == (20, 8)
    parsed = list(map(parser.parse_args, calls))
    [export] = [a for a in parsed if a.command == "export" and a.name == "default"]
    mixes = {Path(a.out).name: a for a in parsed if a.command == "interpolate"}
    assert export.checkpoint.name == "default_first_wise.keras" and export.closer_look.name == "default_x_wise.keras"
    assert mixes["default_first_wise.keras"].fine_tuned == Path(first.out) / "best.keras"
    assert mixes["default_x_wise.keras"].fine_tuned == Path(recipe.out) / "best.keras"
    assert mixes["default_first_wise.keras"].init == mixes["default_x_wise.keras"].init == Path(recipe.init)


def test_the_foreign_step_leaves_out_exactly_the_named_sources(tmp_path):
    calls = _recorded_calls(tmp_path, foreign=True)
    trains = _train_calls(calls)
    default, noportrait, noeveryday, noccp = (trains[k] for k in ("default_x", "noportrait", "noeveryday", "noccp"))
    # The same recipe: every flag but the data and the run folder alike.
    strip = lambda c: [a for a in _without_data(c) if not a.endswith(("default_x", "noportrait", "noeveryday", "noccp"))]
    assert strip(noportrait) == strip(default) == strip(noeveryday) == strip(noccp)

    def names(call):
        return [Path(spec.split(",")[0]).name for spec in _data(call)]

    assert names(default) == ["ccp-person", "celebamask-hq-subset", "davis2016-person", "nprportrait-seg",
                              "voc-person", "coco128-seg-person", "lspet_rvm", "negatives", "wallpeople"]
    # Without the portraits, the people on plain walls come from CCP alone (the pasteable portraits are CelebA's
    # and NPR's people too).
    assert names(noportrait) == ["ccp-person", "davis2016-person", "voc-person", "coco128-seg-person", "lspet_rvm",
                                 "negatives", "wallpeople_ccp"]
    assert names(noeveryday) == ["ccp-person", "celebamask-hq-subset", "davis2016-person", "nprportrait-seg",
                                 "lspet_rvm", "negatives", "wallpeople"]
    # Without CCP, the people on plain walls are CelebA's and NPR's alone.
    assert names(noccp) == ["celebamask-hq-subset", "davis2016-person", "nprportrait-seg", "voc-person",
                            "coco128-seg-person", "lspet_rvm", "negatives", "wallpeople_portraits"]
    # ... and the people-on-walls folders those runs train on hold only the sources that stay.
    parser, _ = build_parser()
    parsed = list(map(parser.parse_args, calls))
    walls = {Path(a.out).name: a.sets for a in parsed if a.command == "wall-people"}
    assert walls == {"wallpeople": None, "wallpeople_ccp": ["ccp-person"],
                     "wallpeople_portraits": ["celebamask-hq-subset", "nprportrait-seg"]}
    # Each source that stays keeps its weight and paste share.
    same = set(_data(default))
    assert set(_data(noportrait)[:-1]) <= same and set(_data(noeveryday)) <= same and set(_data(noccp)[:-1]) <= same
    # ... the people on walls are drawn alike whichever folder they come from ...
    assert {spec.split(",", 1)[1] for call in trains.values() for spec in _data(call) if "wallpeople" in spec} == {
        _data(default)[-1].split(",", 1)[1]}
    # ... and each run is mixed and exported as step 5's model is (step 6's share and init, step 7's input rule:
    # the default's closer-look weights, exported alone for the comparison as "recipe").
    def settings(command, run):
        """The run's WiSE mix (the file it writes) or its export (the file it reads), without the file names."""
        args = next(a for a in parsed if a.command == command
                    and Path(a.out if command == "interpolate" else a.checkpoint).stem == f"{run}_wise")
        return {k: v for k, v in vars(args).items() if k not in ("fine_tuned", "checkpoint", "out", "name")}

    for left in ("noportrait", "noeveryday", "noccp"):
        assert settings("interpolate", left) == settings("interpolate", "default_x")
        assert settings("export", left) == settings("export", "default_x")
    # WiSE goes back toward the weights the fine-tune started from, not some other file.
    started = Path(parser.parse_args(default).init)
    assert started.name == "general_init.keras" and settings("interpolate", "default_x")["init"] == started


def test_a_labelling_folder_that_looks_finished_is_still_completed(tmp_path):
    """A folder of RVM's labels of only part of LSPET (its 186 validation pictures, made for an evaluation) carried
    a SOURCE.md, so the script skipped step 3 and every recipe run trained without LSPET's 1,814 training pictures.
    The script now always hands the whole picture folder to pseudo-label, which labels only what is missing."""
    def partial_labels(runs: Path) -> None:
        for name in ("lspet_rvm", "voc-person_rvm"):
            (runs / "pseudo" / name / "masks").mkdir(parents=True)
            (runs / "pseudo" / name / "SOURCE.md").write_text("labels of /tmp/lspet_val/images\n")
        (runs / "merged" / "voc-person").mkdir(parents=True)
        (runs / "merged" / "voc-person" / "SOURCE.md").write_text("merged before the labels were complete\n")

    calls = _recorded_calls(tmp_path, foreign=False, prepare=partial_labels)
    parser, _ = build_parser()
    labelled = {Path(a.out).name: Path(a.images).parts[-2:] for a in map(parser.parse_args, calls)
                if a.command == "pseudo-label" and "teachers" in a.teacher}
    assert labelled["lspet_rvm"] == ("unlabeled", "lspet")
    assert labelled["voc-person_rvm"] == ("voc-person", "images")
    # ... and the merged labels are made again from the completed ones.
    merged = [a for a in map(parser.parse_args, calls) if a.command == "merge-labels"]
    assert [Path(a.out).name for a in merged] == ["voc-person", "coco128-seg-person", "ccp-person", "nprportrait-seg",
                                                   "celebamask-hq-subset"]
