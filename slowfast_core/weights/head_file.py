"""A taught model as a small head file: the classifier, its categories and the backbone identity it was fitted on.

Teaching fits only a linear classifier on the pooled features of a backbone the program already runs, so that
is all it saves (kilobytes, not the backbone's hundreds of megabytes):
```
{"slowfast_live_head": {"format": 1, "categories": [...], "identity": {arch, digest, size, dim},
 "base": "SLOWFAST_8x8_R50" | "/path/base.pyth" | null, "arch": "slowfast_8x8_r50"},
 "head_state": {"weight": (K, C), "bias": (K,)}}
```
The running engine takes it without reading its backbone again (`Engine.swap_head` with the identity: the
worker compares it with the warm backbone's, no hash); anywhere else (`--weights NAME`, another backbone
running) the one loading API loads the base once and puts the head on it (`attach_head`), after checking that
the base still is the backbone the head was fitted on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from slowfast_core.errors import CheckpointError
from slowfast_core.model.builder import with_classes
from slowfast_core.model.identity import FeatureIdentity
from slowfast_core.model.net import SlowFast
from slowfast_core.weights.native import atomic_save

#: The top-level key that marks a head file.
HEAD_KEY = "slowfast_live_head"
FORMAT = 1


@dataclass(frozen=True)
class TaughtHead:
    """A classifier (K classes over C pooled features), its categories, and the backbone it fits.

    base: the weights spec the backbone came from (registry name, file, My models name; None: the arch's
    untrained weights); identity: that backbone at the input size the features were cut at."""

    categories: tuple[str, ...]
    identity: FeatureIdentity
    base: str | None
    arch: str
    weight: torch.Tensor = field(repr=False)  # (K, C)
    bias: torch.Tensor = field(repr=False)  # (K,)

    def linear(self) -> nn.Linear:
        """The classifier as an eval-mode `nn.Linear` (C -> K), a copy."""
        out, dim = self.weight.shape
        layer = nn.Linear(dim, out)
        with torch.no_grad():
            layer.weight.copy_(self.weight)
            layer.bias.copy_(self.bias)
        return layer.eval()


def taught_head(linear: nn.Linear, categories: Sequence[str], identity: FeatureIdentity, *, base: str | None,
                arch: str) -> TaughtHead:
    """The head `linear` (C -> len(categories)) fitted on features of the backbone `identity`."""
    if linear.out_features != len(categories) or linear.in_features != identity.dim:
        raise ValueError(f"a {linear.in_features}->{linear.out_features} classifier for {len(categories)} "
                         f"categories on {identity.dim} features")
    return TaughtHead(tuple(categories), identity, base, arch, linear.weight.detach().cpu().clone(),
                      linear.bias.detach().cpu().clone())


def save_head(head: TaughtHead, path: Path) -> Path:
    """Write `head` to `path` (atomically: a failure leaves any previous file as it was)."""
    meta = {"format": FORMAT, "categories": list(head.categories), "identity": head.identity.to_json(),
            "base": head.base, "arch": head.arch}
    atomic_save({HEAD_KEY: meta, "head_state": {"weight": head.weight, "bias": head.bias}}, Path(path))
    return Path(path)


def read_head(path: str | Path) -> TaughtHead | None:
    """The head in `path`, or None when `path` holds something else (a whole model). Cheap on a big file: its
    tensors are mapped, not read. CheckpointError for a head file that cannot be used."""
    try:
        data = torch.load(Path(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - not a torch zip (a Caffe2 pickle, a broken file): not a head file
        return None
    if not isinstance(data, dict) or HEAD_KEY not in data:
        return None
    try:
        meta, state = data[HEAD_KEY], data["head_state"]
        head = TaughtHead(tuple(str(c) for c in meta["categories"]), FeatureIdentity.from_json(meta["identity"]),
                          meta.get("base"), str(meta["arch"]), state["weight"].clone(), state["bias"].clone())
        if head.weight.shape != (len(head.categories), head.identity.dim) or head.bias.shape != (len(head.categories),):
            raise ValueError(f"classifier {tuple(head.weight.shape)} for {len(head.categories)} categories")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"taught model {path} is damaged ({exc}): teach it again") from None
    return head


def attach_head(base: SlowFast, head: TaughtHead, *, name: str, check: bool = True) -> SlowFast:
    """A new eval-mode model: `base`'s backbone (copied in memory, not read again) with `head`'s classifier and
    categories, named `name` (its weights). check: refuse a base that is not the backbone the head was fitted
    on (hashes the backbone once: a base file changed since teaching gives wrong answers, not an error)."""
    if base.config.head_in_features != head.identity.dim:
        raise CheckpointError(f"taught model {name} needs {head.identity.dim} features; {base.config.name} gives "
                              f"{base.config.head_in_features}: teach it again on this model")
    if check:
        found = FeatureIdentity.of(base, preprocessing=replace(base.meta.preprocessing,
                                                               short_side=head.identity.size))
        if found != head.identity:
            raise CheckpointError(f"taught model {name} was fitted on {head.identity.describe()}, but its base "
                                  f"{head.base or head.arch} now is {found.describe()}: teach it again")
    return with_classes(base, head.categories, head=head.linear(), weights=name)
