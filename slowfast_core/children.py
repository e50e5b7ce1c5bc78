"""How the program starts Python children of its own (`python -m slowfast_core.…`): with this very
slowfast_core first on their path, so a child runs the same code as its parent (a source checkout, a test run
with PYTHONPATH set, or an installed package alike)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_busy = 0
_busy_lock = threading.Lock()


def child_env() -> dict[str, str]:
    """This process's environment with the folder holding this slowfast_core first on PYTHONPATH."""
    root = str(Path(__file__).resolve().parents[1])  # the folder that holds slowfast_core/
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}


@contextmanager
def busy_child() -> Iterator[None]:
    """Mark a CPU-bound child of ours (an OpenVINO conversion, an int8 quantization) as running for the block.

    Live inference on torch-cpu leaves it a core meanwhile (`children_busy`): on 2 cores, two intra-op threads
    beside a busy child wait on the core they share at every parallel step, and one thread ran as fast or
    faster (8x8 R50 at 160² beside one busy process: 0.9-1.3 s on one thread against 1.1-1.9 s on two)."""
    global _busy
    with _busy_lock:
        _busy += 1
    try:
        yield
    finally:
        with _busy_lock:
            _busy -= 1


def children_busy() -> int:
    """How many CPU-bound children of ours run now (see `busy_child`)."""
    return _busy
