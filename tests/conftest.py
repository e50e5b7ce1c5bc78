"""Shared test set-up: headless Qt, small thread counts, and the path to the real clips beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_VIDEO_DIR = REPO_ROOT.parent / "shared" / "realvideo"


@pytest.fixture(scope="session")
def realvideo() -> Path:
    """The folder of real clips (../shared/realvideo); skips the test when it is not beside the checkout."""
    if not (REAL_VIDEO_DIR / "demo.mp4").exists():
        pytest.skip(f"real clips not found at {REAL_VIDEO_DIR} (they live in ../shared/realvideo beside the repo)")
    return REAL_VIDEO_DIR
