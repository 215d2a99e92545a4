"""One root for the app's own exceptions; the built-in bases callers already catch still hold."""

from __future__ import annotations

import pytest

from personseg_live.compose import BackgroundError
from personseg_live.errors import PersonsegError
from personseg_live.model.backends import ModelError
from personseg_live.offline import InputError
from personseg_live.video import OutputError, SourceError, VirtualCameraUnavailable


@pytest.mark.parametrize(
    "cls, builtin",
    [(BackgroundError, ValueError), (ModelError, RuntimeError), (InputError, RuntimeError),
     (OutputError, RuntimeError), (SourceError, RuntimeError), (VirtualCameraUnavailable, RuntimeError)],
)
def test_every_app_error_has_the_one_root(cls, builtin):
    assert issubclass(cls, PersonsegError) and issubclass(cls, builtin)


def test_real_failures_are_caught_by_the_root(tmp_path):
    """Not just the class tree: the errors real calls raise are PersonsegErrors."""
    from personseg_live.compose import Compositor
    from personseg_live.model.segmenter import Segmenter
    from personseg_live.settings import BackgroundSettings, SourceSettings
    from personseg_live.video import open_source

    for failing in (
        lambda: Compositor(BackgroundSettings(mode="image", path=str(tmp_path / "gone.jpg"))),
        lambda: Segmenter("no-such-model"),
        lambda: open_source(SourceSettings(spec=str(tmp_path / "gone.mp4"))),
    ):
        with pytest.raises(PersonsegError):
            failing()
