"""What a training run starts from (`build_model`: the architecture from scratch, or the `--init` weights with a
head for the data's classes) and what it returns (`TrainResult`): shared by the full loop (`loop.py`) and
head-only training (`head.py`), so that neither imports the other."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from slowfast_core.model.net import SlowFast
from slowfast_core.train.recipe import TrainConfig
from slowfast_core.train.run_folder import TrainState

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What `train` returns: the run folder, the final state and the last metrics record."""

    out: Path
    state: TrainState
    metrics: dict
    categories: list[str]


ProgressFn = Callable[[str, int, int], None]  # (what, done, total)


def build_model(config: TrainConfig, categories: list[str]) -> SlowFast:
    """From scratch (the arch with a head for `categories`) or from `config.init` (a fresh head when the
    classes differ from the checkpoint's); built with the data's categories as its meta, naming no weights."""
    from slowfast_core.model.builder import with_classes
    from slowfast_core.weights.api import create_model

    if config.init is None:
        overrides = {k: v for k, v in (("beta_inv", config.beta_inv), ("fast_min_channels", config.fast_min_channels),
                                       ("fast_input", config.fast_input)) if v}
        model = create_model(config.arch, categories=categories, dropout=config.dropout, **overrides)
        base = None
    else:
        from slowfast_core.weights.api import load_model

        loaded = load_model(config.init, arch=config.arch or None)
        base = loaded.meta.weights
        same = list(loaded.meta.categories) == list(categories)
        if not same:
            logger.warning("new %d-class head on %s (its classes differ from the data's)", len(categories), base)
        model = with_classes(loaded, categories, keep_head=same)
        del loaded
        model.blocks[6].dropout.p = config.dropout
    model._base = base  # type: ignore[attr-defined]  # recorded in the checkpoint's metadata
    return model
