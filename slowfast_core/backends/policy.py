"""Which backend a live view starts on and which one it moves to: one policy for the window and `slowfast run`.

With `--backend auto` on a CPU the fastest backend (OpenVINO) needs its converted model: the first time for a
given set of weights that is a conversion of seconds (tens on a loaded laptop), while torch-cpu is ready at
once. A live view should show predictions as soon as it can *and* end up on the fastest path, whatever the
weights (untrained ones too: their fixed seed makes one cache entry serve every start). So:

1. start on the fastest backend that is ready now (`ready_now`: the converted model is in the cache, or the
   backend needs no preparation);
2. when that is not the fastest, build the fastest in the background (converted once, cached) and move the
   live view to it between two windows (`Engine` does this: `InferenceWorker.adopt`), so frames and
   predictions never stop.

`base.backend_preference` is the one place that orders the candidates: a backend that must earn its place (the
int8 backend after its agreement guard passed on this model) says so through its class's `usable_for(model)`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from slowfast_core.backends.base import BACKENDS, backend_preference, check_backend
from slowfast_core.model.net import SlowFast

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartPlan:
    """start: the backend request to build before the first window ('auto' keeps create_backend's fallbacks);
    target: the faster backend to build in the background and move to (None: `start` is already the fastest)."""

    start: str
    target: str | None = None


def ready_now(name: str, model: SlowFast, device: torch.device) -> bool:
    """True when backend `name` can start for `model` without a slow preparation (a conversion).

    A backend class may define `ready(model, device) -> bool` (OpenVINO: its converted model is cached); the
    others are ready at once."""
    check = getattr(BACKENDS[name], "ready", None)
    if check is None:
        return True
    try:
        return bool(check(model, device))
    except Exception as exc:  # noqa: BLE001 - "not ready": the background build will say what is wrong
        logger.debug("backend %s readiness check failed: %s", name, exc)
        return False


def plan_start(model: SlowFast, *, backend: str = "auto", device: str = "auto", live: bool = True) -> StartPlan:
    """The live start-up policy (see the module doc). A named backend, or an offline run (every window, one
    model from start to end), is used as asked: no background move."""
    if backend != "auto" or not live:
        return StartPlan(backend)
    dev, names = check_backend("auto", device)
    names = backend_preference(model, dev, names)
    if not names or ready_now(names[0], model, dev):
        return StartPlan("auto")
    for name in names[1:]:
        if ready_now(name, model, dev):
            return StartPlan(name, names[0])
    return StartPlan("auto")  # nothing is ready: build the fastest before the first window, as before
