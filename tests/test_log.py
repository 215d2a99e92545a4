"""Logging: one set-up for the command line and the app, -v/--verbose, a log file, listener errors seen."""

from __future__ import annotations

import logging
import threading

import pytest

from personseg_live.cli import build_parser
from personseg_live.log import setup_logging


@pytest.fixture(autouse=True)
def quiet_again():
    yield
    setup_logging(0)


@pytest.mark.parametrize("argv, shown", [([], False), (["-v"], True), (["process", "a.mp4", "b.mp4", "-v"], True)])
def test_verbose_shows_what_happens(capsys, argv, shown):
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    logging.getLogger("personseg_live.pipeline").info("source_opened: camera 0")
    logging.getLogger("personseg_live.pipeline").warning("model_failed: no such model")
    err = capsys.readouterr().err
    assert ("personseg-live: info: source_opened: camera 0" in err) == shown
    assert "personseg-live: warning: model_failed: no such model" in err  # warnings always


def test_the_app_log_file_keeps_the_events(tmp_path, capsys):
    log_file = tmp_path / "logs" / "personseg-live.log"
    setup_logging(0, log_file=log_file)
    logging.getLogger("personseg_live.pipeline").info("source_opened: camera 0")
    assert "source_opened: camera 0" in log_file.read_text()
    assert capsys.readouterr().err == ""  # info stays out of the terminal without -v


def test_a_failing_event_listener_is_logged_not_swallowed(clip_path, segmenter, caplog):
    from personseg_live.pipeline import Pipeline
    from personseg_live.settings import Settings, SourceSettings

    frames = threading.Event()

    def broken_listener(event):
        raise ZeroDivisionError("listener bug")

    p = Pipeline(Settings(source=SourceSettings(spec=str(clip_path))), on_frame=lambda r: frames.set(),
                 on_event=broken_listener, segmenter=segmenter)
    with caplog.at_level(logging.ERROR, logger="personseg_live"):
        logging.getLogger("personseg_live").propagate = True  # caplog listens at the root
        p.start()
        try:
            assert frames.wait(10)  # the pipeline survived its listener
        finally:
            p.stop()
    failures = [r for r in caplog.records if "listener failed" in r.getMessage()]
    assert failures and failures[0].exc_info[0] is ZeroDivisionError


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    from videos import write_video

    return write_video(tmp_path_factory.mktemp("log") / "clip.mp4", frames=10)
