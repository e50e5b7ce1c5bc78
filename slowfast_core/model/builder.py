"""`build_untrained`: a preset by name with random weights, its metadata (categories, preprocessing) given at
build (weights files are the weights package's: `slowfast_core.weights.api.create_model`); `with_classes` and
`with_preprocessing`:
a new model from an existing one's weights with other labels or another input size (a model's meta never
changes once built)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import nn

from slowfast_core.model.config import SlowFastConfig, get_config
from slowfast_core.model.identity import HEAD_PREFIX
from slowfast_core.model.net import SlowFast, untrained_meta
from slowfast_core.spec import ModelMeta, Preprocessing

#: seed of the untrained (random) weights a start without --weights uses: the same architecture always gets
#: the same weights, so its converted model (OpenVINO cache, keyed by the weights) is converted once, not per start
UNTRAINED_SEED = 0


def build_untrained(
    name: str, *, num_classes: int | None = None, seed: int | None = None,
    categories: Sequence[str] | None = None, input_size: int | None = None, **overrides: object,
) -> SlowFast:
    """The architecture `name` with random (untrained) weights, in eval mode, its metadata fixed from the start.

    num_classes: None means 400 (or `len(categories)`). categories: names of the classes (None: "class i"; the
    weights package's `create_model` names a 400-way head with Kinetics-400's). input_size: the input short side
    to run at (None: the architecture's). Overrides change config fields (e.g. fusion="tsample", beta_inv=4).
    seed: weights drawn from this seed (the global RNG is left as it was), e.g. `UNTRAINED_SEED`; None draws
    from the global RNG. Loading weights is the weights package's job (`slowfast_core.weights.api`): this
    package knows nothing of weights files.
    """
    if categories is not None:
        if num_classes is not None and num_classes != len(categories):
            raise ValueError(f"num_classes={num_classes} but {len(categories)} categories")
        num_classes = len(categories)
    config = get_config(name, num_classes=400 if num_classes is None else num_classes, **overrides)
    meta = untrained_meta(config)
    if categories is not None:
        meta = replace(meta, categories=tuple(categories))
    if input_size is not None:
        meta = replace(meta, preprocessing=replace(meta.preprocessing, short_side=int(input_size)))
    if seed is None:
        return SlowFast(config, meta=meta).eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SlowFast(config, meta=meta).eval()


def with_classes(model: SlowFast, categories: Sequence[str], *, head: nn.Linear | None = None,
                 keep_head: bool = False, weights: str | None = None) -> SlowFast:
    """A new eval-mode model (CPU) with `model`'s backbone weights and `categories` as its classes.

    The classifier: `head` (C -> len(categories)) when given, `model`'s own with `keep_head` (same class
    count), else a fresh one. The meta keeps `model`'s preprocessing and names `weights` as its origin (None:
    these are new ones, not saved yet): how a fine-tune or a taught classifier gets its labels, without
    changing the model it started from.
    """
    if keep_head and len(categories) != model.config.num_classes:
        raise ValueError(f"keep_head with {len(categories)} categories for a {model.config.num_classes}-class head")
    config = model.config.replace(num_classes=len(categories))
    state = {k: v for k, v in model.state_dict().items() if keep_head or not k.startswith(HEAD_PREFIX)}
    if head is not None:
        state[HEAD_PREFIX + "proj.weight"], state[HEAD_PREFIX + "proj.bias"] = head.weight, head.bias
    return _rebuilt(config, replace(model.meta, categories=tuple(categories), weights=weights), state,
                    strict=keep_head or head is not None)


def with_preprocessing(model: SlowFast, preprocessing: Preprocessing) -> SlowFast:
    """A new eval-mode model (CPU) with `model`'s weights (copied) and meta, run with `preprocessing` (another
    input size or crop). It copies the weights: where the model only needs running at another size, hand
    that preprocessing to whatever runs it instead."""
    return _rebuilt(model.config, replace(model.meta, preprocessing=preprocessing), model.state_dict(), strict=True)


def _rebuilt(config: SlowFastConfig, meta: ModelMeta, state: dict[str, torch.Tensor], *, strict: bool) -> SlowFast:
    model = SlowFast(config, meta=meta)
    model.load_state_dict(state, strict=strict)
    return model.eval()
