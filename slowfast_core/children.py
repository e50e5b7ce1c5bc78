"""How the program starts Python children of its own (`python -m slowfast_core.…`): with this very
slowfast_core first on their path, so a child runs the same code as its parent (a source checkout, a test run
with PYTHONPATH set, or an installed package alike)."""

from __future__ import annotations

import os
from pathlib import Path


def child_env() -> dict[str, str]:
    """This process's environment with the folder holding this slowfast_core first on PYTHONPATH."""
    root = str(Path(__file__).resolve().parents[1])  # the folder that holds slowfast_core/
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}
