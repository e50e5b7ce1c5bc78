"""SlowFast Live engine: model, weights, video, real-time stream, sessions. Never imports Qt."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from slowfast_core.version import __version__

if TYPE_CHECKING:
    from slowfast_core.model.net import SlowFast


def create_model(
    name: str, *, num_classes: int | None = None, weights: str | None = None, seed: int | None = None,
    **overrides: object,
) -> "SlowFast":
    """Build architecture `name` (see `slowfast_core.model.config.PRESETS`), optionally loading `weights`.

    seed: untrained weights drawn from this seed (`slowfast_core.model.builder.UNTRAINED_SEED` for starts
    without weights); None: from the global RNG.
    """
    from slowfast_core.weights.api import create_model as _create

    return _create(name, num_classes=num_classes, weights=weights, seed=seed, **overrides)


def load_checkpoint(
    path: str | Path, *, arch: str | None = None, num_classes: int | None = None, map_location: str = "cpu"
) -> "SlowFast":
    """Load a PyTorchVideo/PySlowFast checkpoint into an eval-mode model; `arch` is detected when omitted.

    A `num_classes` other than the checkpoint's keeps the backbone and starts a fresh head (with a warning).
    """
    from slowfast_core.weights.checkpoint import load_checkpoint as _load

    return _load(path, arch=arch, num_classes=num_classes, map_location=map_location)


__all__ = ["__version__", "create_model", "load_checkpoint"]
