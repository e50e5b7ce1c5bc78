"""`create_model`: a preset by name, optionally with weights (a registry name or a checkpoint path)."""

from __future__ import annotations

from dataclasses import replace

import torch

from slowfast_core.model.config import get_config
from slowfast_core.model.net import SlowFast

#: seed of the untrained (random) weights a start without --weights uses: the same architecture always gets
#: the same weights, so its converted model (OpenVINO cache, keyed by the weights) is converted once, not per start
UNTRAINED_SEED = 0


def create_model(
    name: str, *, num_classes: int | None = None, weights: str | None = None, seed: int | None = None,
    **overrides: object,
) -> SlowFast:
    """Build the architecture `name` in eval mode.

    weights: None for random (untrained) weights, else a registry name (`slowfast weights list`) or a path to
    a PyTorchVideo / PySlowFast checkpoint. num_classes: None means the checkpoint's (400 without weights);
    a number other than the checkpoint's keeps the backbone and starts a fresh head.
    Overrides change config fields (e.g. fusion="tsample", beta_inv=4). seed: random weights drawn from this
    seed (the global RNG is left as it was), e.g. `UNTRAINED_SEED`; None draws from the global RNG.
    """
    if weights is not None:
        from slowfast_core.weights.checkpoint import load_weights  # lazy: weights imports model

        return load_weights(weights, arch=name, num_classes=num_classes, **overrides)
    config = get_config(name, num_classes=400 if num_classes is None else num_classes, **overrides)
    if seed is None:
        model = SlowFast(config).eval()
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = SlowFast(config).eval()
    if config.num_classes == 400:
        from slowfast_core.weights.labels import kinetics400_labels

        model.meta = replace(model.meta, categories=tuple(kinetics400_labels()))
    return model
