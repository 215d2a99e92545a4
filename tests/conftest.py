"""Shared fixtures: small real files, the bundled demo clip, Qt offscreen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TESTS = Path(__file__).resolve().parent
SLOW_TIMEOUT_S = 600  # pyproject's default (180 s) is for a hang; a slow test may legitimately take minutes
PEOPLE = TESTS / "data" / "people"


@pytest.fixture(scope="session")
def people_dir() -> Path:
    """Eight real person photos with masks (images/ + masks/), Apache-2.0."""
    return PEOPLE


@pytest.fixture(scope="session")
def segmenter():
    """The shipped default model, loaded once for the whole run."""
    from personseg_live import Segmenter

    return Segmenter()


@pytest.fixture(scope="session")
def demo_clip() -> Path:
    from personseg_live import assets

    return assets.demo_clip()


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_S))
