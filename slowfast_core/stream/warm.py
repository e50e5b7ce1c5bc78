"""A model made ready for the live worker: its backend built and warmed, its classifier apart, its preprocessing.

`warm_model` builds the backend for a model (the feature view when features are on: the worker applies the
linear classifier itself, so each prediction carries its pooled feature and a taught head can be swapped
in), warms it on zero inputs of the model's clip geometry, and stamps the feature identity. `with_head`
swaps the classifier of a warm model for another with the same backbone, without touching the backend.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from slowfast_core.backends.base import Cancelled, InferenceBackend, create_backend
from slowfast_core.model.identity import FeatureIdentity, classifier_of, feature_view
from slowfast_core.model.net import SlowFast
from slowfast_core.spec import Preprocessing


@dataclass(frozen=True)
class WarmModel:
    """A model with its backend, warm, and the preprocessing its windows get.

    classifier None: the backend returns logits. Otherwise the backend runs the model without its classifier
    and returns the pooled feature (1, C); the worker applies `classifier` itself (microseconds), so each
    prediction carries its feature and a taught head can replace the classifier between two windows.
    preprocessing: passed explicitly (the model's metadata is never changed; an input size chosen in the
    window is a preprocessing, not another model).
    """

    model: SlowFast
    backend: InferenceBackend
    preprocessing: Preprocessing
    classifier: torch.nn.Linear | None = None
    identity: FeatureIdentity | None = None

    def logits(self, inputs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run one window: (logits (1, num_classes), feature (1, C) or None)."""
        out = self.backend(inputs)
        if self.classifier is None:
            return out, None
        with torch.inference_mode():
            return self.classifier(out.float()), out  # (1, C) -> (1, num_classes)


def warm_inputs(model: SlowFast, preprocessing: Preprocessing) -> list[torch.Tensor]:
    """Zero inputs of the model's clip geometry and crop size: [(1, 3, T_p, S, S)] per pathway."""
    size = preprocessing.short_side
    return [torch.zeros(1, 3, clip.frames, size, size) for clip in model.config.geometry.pathways()]


def _classifier(model: SlowFast) -> nn.Linear | None:
    """`model`'s linear classifier, or None when it has none (already a feature model)."""
    try:
        return classifier_of(model)
    except ValueError:
        return None


def backend_model(model: SlowFast, *, features: bool = True) -> SlowFast:
    """What the backend runs for `model`: its feature view (classifier applied by the worker) when features are
    on and it has a linear classifier, else the model itself. The start-up policy asks the backend cache about
    this model, since it is the one converted."""
    return feature_view(model) if features and _classifier(model) is not None else model


def warm_model(model: SlowFast, *, preprocessing: Preprocessing | None = None, backend: str = "auto",
               device: str = "auto", warmup_runs: int = 1, cancel: threading.Event | None = None,
               report: Callable[[str], None] | None = None, features: bool = True) -> WarmModel:
    """Create the backend for `model` and warm it up (runs on the worker thread, off the capture path).

    preprocessing: what windows get (None: the model's own); cancel: set it to abandon the set-up (`Cancelled`
    is raised); report: where a fallback's reason goes. features False: the backend runs the whole model
    (logits only, no feature per window, no head swap).
    """
    prep = preprocessing or model.meta.preprocessing
    classifier = _classifier(model) if features else None
    runs = feature_view(model) if classifier is not None else model
    # the features' identity hashes the backbone (~0.17 s for R50) while the backend is made and compiled
    # (hashlib lets the GIL go): on 2 cores the first prediction comes that much sooner
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="slowfast-identity") as pool:
        hashing = pool.submit(FeatureIdentity.of, model, preprocessing=prep, stop=cancel) \
            if classifier is not None else None
        backend_ = create_backend(runs, backend=backend, device=device, cancel=cancel, report=report)
        if warmup_runs > 0:
            inputs = warm_inputs(model, prep)
            backend_.ready_for(inputs)
            if warmup_runs > 1:
                backend_.warmup(inputs, runs=warmup_runs - 1)
        identity = hashing.result() if hashing is not None else None
    if cancel is not None and cancel.is_set():  # stopping while hashing: the identity is incomplete
        raise Cancelled("stopped while loading the model")
    return WarmModel(model, backend_, prep, classifier, identity)


def with_head(warm: WarmModel, model: SlowFast, *, stop: threading.Event | None = None,
              identity: FeatureIdentity | None = None) -> WarmModel | None:
    """`warm` with the classifier and labels of `model`, when `model` has the same backbone (else None).
    identity: the backbone `model`'s classifier was fitted on, when known (a taught head): compared as it is,
    nothing hashed; None: `model`'s backbone is hashed to find out."""
    if warm.identity is None or warm.classifier is None:
        return None
    if model.config.head_in_features != warm.identity.dim:
        return None
    if identity is None:
        identity = FeatureIdentity.of(model, preprocessing=warm.preprocessing, stop=stop)
    if identity != warm.identity:
        return None
    return WarmModel(model, warm.backend, warm.preprocessing, classifier_of(model), warm.identity)
