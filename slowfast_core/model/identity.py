"""Which backbone computed a feature: architecture, backbone weights digest, input size.

A pooled feature (the classifier's input) depends on everything before the classifier and nothing after it,
so two models with the same backbone and different heads give the same features. `backbone_digest` is the one
implementation of that identity: the live worker stamps it on every recorded feature, head training keys its
feature cache with it, and Teach compares the two to decide whether recorded features can be reused.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import threading
from dataclasses import dataclass
from typing import Any

from torch import nn

from slowfast_core.model.config import SlowFastConfig
from slowfast_core.model.net import Head, SlowFast
from slowfast_core.spec import Preprocessing

#: state-dict prefix and config fields of the classifier head (excluded from the backbone digest)
HEAD_PREFIX = "blocks.6."
HEAD_FIELDS = ("num_classes", "dropout")
#: config fields added after digests were first recorded, with the value every older model has: left out of the
#: digest at that value, so the features recorded and the heads taught before them keep their identity
LATER_FIELD_DEFAULTS = {"fast_input": "rgb"}


def backbone_digest(model: SlowFast, size: int, *, stop: threading.Event | None = None,
                    preprocessing: Preprocessing | None = None) -> str:
    """A short digest of everything a feature depends on: architecture, backbone weights, input size.

    preprocessing: what the inputs got (None: the model's own). `stop` set: returns early with an incomplete
    digest (the caller is abandoning the work and discards it)."""
    h = hashlib.blake2b(digest_size=10)
    arch = digest_fields(model.config)
    h.update(f"{sorted(arch.items())!r}|{size}|{preprocessing or model.meta.preprocessing!r}".encode())
    for name, tensor in model.state_dict().items():
        if stop is not None and stop.is_set():
            break
        if not name.startswith(HEAD_PREFIX):
            h.update(name.encode())
            h.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def digest_fields(config: SlowFastConfig) -> dict[str, Any]:
    """The config fields a backbone's features depend on: all but the head's, and a later field at the value
    every model had before it (LATER_FIELD_DEFAULTS), so adding a field does not change older digests."""
    return {k: v for k, v in dataclasses.asdict(config).items()
            if k not in HEAD_FIELDS and LATER_FIELD_DEFAULTS.get(k, object()) != v}


@dataclass(frozen=True)
class FeatureIdentity:
    """The model a feature vector came from: arch name, backbone digest, input short side, feature width."""

    arch: str
    digest: str
    size: int
    dim: int

    @classmethod
    def of(cls, model: SlowFast, *, stop: threading.Event | None = None,
           preprocessing: Preprocessing | None = None) -> "FeatureIdentity":
        """The identity of `model`'s features with inputs preprocessed by `preprocessing` (None: the model's
        own); hashes the backbone weights: ~0.3 s for R50, once per model; `stop`: see `backbone_digest`."""
        prep = preprocessing or model.meta.preprocessing
        digest = backbone_digest(model, prep.short_side, stop=stop, preprocessing=prep)
        return cls(model.config.name, digest, prep.short_side, model.config.head_in_features)

    def to_json(self) -> dict[str, Any]:
        return {"arch": self.arch, "digest": self.digest, "size": self.size, "dim": self.dim}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FeatureIdentity":
        return cls(str(data["arch"]), str(data["digest"]), int(data["size"]), int(data["dim"]))

    def describe(self) -> str:
        return f"{self.arch} at {self.size} px (backbone {self.digest[:8]})"


def feature_view(model: SlowFast) -> SlowFast:
    """`model` without its classifier: same object type and backbone modules (shared, not copied); output (B, C).

    The live worker runs this through the backend and applies the classifier itself, so the pooled feature
    is at hand for recording and the classifier can be swapped without touching the backend.
    """
    view = copy.copy(model)  # same class (keeps test probes), shallow
    view._modules = dict(model._modules)  # type: ignore[assignment]  # own module table: replacing blocks is local
    head = Head(in_features=model.config.head_in_features, num_classes=1, dropout=0.0)
    head.proj = nn.Identity()  # type: ignore[assignment]
    head.dropout = nn.Identity()  # type: ignore[assignment]
    view.blocks = nn.ModuleList([*list(model.blocks)[:6], head])
    return view


def classifier_of(model: SlowFast) -> nn.Linear:
    """A detached copy of `model`'s linear classifier, (C) -> (num_classes), in eval mode, on the CPU."""
    proj = model.blocks[6].proj
    if not isinstance(proj, nn.Linear):
        raise ValueError(f"{model.config.name} has no linear classifier to apply")
    return copy.deepcopy(proj).cpu().eval().requires_grad_(False)
