"""Shared test set-up: headless Qt, and the fixtures of tests/helpers/fixtures.py (real clips, the
loopback-only network guard, a local HTTP server, a fixed-weights checkpoint). Shared fakes, collectors and
writers live in tests/helpers/."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from helpers.fixtures import (  # noqa: E402,F401 - fixtures are found by their names here
    REAL_VIDEO_DIR,
    REPO_ROOT,
    checkpoint_8x8,
    local_server,
    loopback_only,
    realvideo,
)
