"""`ProbeSlowFast`: the real network with probes, for tests of the threads around it.

Everything it computes is the real SlowFast's output. The probes only observe or hold a call:
- `probe.calls`: per forward, True when the inputs were the worker's warm-up zeros, False for a real window;
- `probe.hold()` / `probe.step()` / `probe.release()`: real windows wait inside forward until let through
  (`step`: one more window, `release`: all from now on): a busy model whose business the test ends, instead
  of a sleep that guesses how long is long enough; `probe.wait_entered(n)` waits until the n-th real window
  is inside forward, `probe.busy` says whether one is;
- `probe.hold_warmup()`: the warm-up waits the same way (a slow backend set-up, e.g. a first conversion);
- `fail=True`: real windows raise (a model that breaks at run time);
- `delay_s`: real windows take at least this long: a model known to be that slow is the situation under
  test (the stop/close bounds with an inference in flight; a worker slower than decoding).
"""

from __future__ import annotations

import copy
import threading
import time

import torch

from slowfast_core.model import get_config
from slowfast_core.model.net import SlowFast
from slowfast_core.spec import ModelMeta, Preprocessing

CLASSES = tuple(f"action {i}" for i in range(5))
#: how long a held call waits for its release before failing the test (generous: a loaded 2-core machine)
HOLD_TIMEOUT_S = 120.0


class Probe:
    """What the test sees of and controls in a `ProbeSlowFast`; shared by every copy of the model."""

    def __init__(self, *, fail: bool = False, delay_s: float = 0.0) -> None:
        self.fail = fail
        self.delay_s = delay_s
        self.cond = threading.Condition()
        self.calls: list[bool] = []  # True: warm-up zeros, False: a real window
        self.entered = 0  # real windows that reached forward
        self.left = 0  # real windows that left it (returned or raised)
        self._allowed: int | None = None  # real windows that may pass the gate; None: all
        self._warm_open = threading.Event()
        self._warm_open.set()

    def __deepcopy__(self, memo: dict) -> "Probe":
        return self  # a folded or resized copy of the model reports to the same probe

    # --- control (test thread) -----------------------------------------------------------------------------
    def hold(self) -> None:
        """From now on real windows wait inside forward until `step()` or `release()`."""
        with self.cond:
            self._allowed = 0

    def step(self, n: int = 1) -> None:
        """Let `n` more held windows through."""
        with self.cond:
            self._allowed = (self._allowed or 0) + n
            self.cond.notify_all()

    def release(self) -> None:
        """Let every window through from now on."""
        with self.cond:
            self._allowed = None
            self.cond.notify_all()

    def hold_warmup(self) -> None:
        """The warm-up waits inside forward until `release_warmup()`."""
        self._warm_open.clear()

    def release_warmup(self) -> None:
        self._warm_open.set()

    def wait_entered(self, n: int, timeout: float = 60.0) -> None:
        """Block until the n-th real window is inside forward."""
        with self.cond:
            ok = self.cond.wait_for(lambda: self.entered >= n, timeout)
        assert ok, f"timed out waiting for real window {n} to reach the model (got {self.entered})"

    @property
    def busy(self) -> bool:
        """True while a real window is inside forward."""
        with self.cond:
            return self.entered > self.left

    # --- model side (worker thread) -----------------------------------------------------------------------
    def leave(self, warm: bool) -> None:
        if not warm:
            with self.cond:
                self.left += 1
                self.cond.notify_all()

    def enter(self, warm: bool) -> None:
        with self.cond:
            self.calls.append(warm)
            if not warm:
                self.entered += 1
                self.cond.notify_all()
                passed = self.cond.wait_for(lambda: self._allowed is None or self._allowed > 0, HOLD_TIMEOUT_S)
                assert passed, "a held model call was never let through"
                if self._allowed is not None:
                    self._allowed -= 1
        if warm:
            assert self._warm_open.wait(HOLD_TIMEOUT_S), "a held warm-up was never released"
            return
        if self.fail:
            raise RuntimeError("simulated failure inside the model")
        if self.delay_s:
            time.sleep(self.delay_s)  # a model known to take this long: the stop/close bound under test


class ProbeSlowFast(SlowFast):
    """A real SlowFast whose forward reports to (and may be held by) `self.probe`; see the module doc."""

    probe: Probe

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:  # [(B, 3, T_p, H, W)] -> (B, num_classes)
        warm = all(bool((t == 0).all()) for t in x)
        try:
            self.probe.enter(warm)
            return super().forward(x)
        finally:
            self.probe.leave(warm)


def probe_model(*, arch: str = "slowfast_8x8_r50", size: int = 32, slow_frames: int | None = None,
                tau: int | None = None, classes: int = 5, fail: bool = False, delay_s: float = 0.0,
                seed: int | None = 0) -> ProbeSlowFast:
    """A new R50 SlowFast (or another preset `arch`) with probes: `classes` classes named "action i", input
    short side `size`.

    slow_frames/tau shorten the clip (e.g. 4 and 2: Slow 4 frames, Fast 16, a 0.27 s window). The head's
    weights are small, so logits are moderate and the softmax never saturates. `fast_32x2_r50` (the Fast
    pathway alone, 1/8 of the channels) is the cheapest to run: for tests where only the time a window takes
    matters, so that `delay_s`, not the machine's load, sets it.
    """
    if seed is not None:
        torch.manual_seed(seed)
    overrides: dict[str, object] = {"num_classes": classes}
    if slow_frames is not None:
        overrides["slow_frames"] = slow_frames
    if tau is not None:
        overrides["tau"] = tau
    names = CLASSES if classes == len(CLASSES) else tuple(f"action {i}" for i in range(classes))
    model = ProbeSlowFast(get_config(arch, **overrides), meta=ModelMeta(names, Preprocessing(short_side=size)))
    torch.nn.init.normal_(model.blocks[6].proj.weight, std=1e-5)
    model.probe = Probe(fail=fail, delay_s=delay_s)
    return model.eval()


def with_probe(model: SlowFast, *, fail: bool = False, delay_s: float = 0.0) -> ProbeSlowFast:
    """A copy of an existing model (its weights, meta and input size) with probes."""
    clone = copy.deepcopy(model)
    clone.__class__ = ProbeSlowFast
    clone.probe = Probe(fail=fail, delay_s=delay_s)
    return clone
