"""The window's Auto quality controller: runs slowfast_core.stream.quality's search on the live engine.

With the Input size setting on Auto (0), a model whose choice is cached for this machine starts at that size
at once (`size_for`); otherwise (a first start) it runs at Auto's smallest size meanwhile (`interim_size`, the
window's model loader applies it) and the controller, once the final backend runs (after the move to the fastest
one), measures the size that runs, then asks the window to run the sizes its latency predicts may feel live
(`LiveTarget`, `decide`; `switchSize`), and remembers the result. The status bar shows the choice and what
it costs; the stride follows the measured latency. Settings can pin a size instead (then this stays idle).
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QLabel

from app.state import LiveState
from slowfast_core.stream.session import LiveSession
from slowfast_core.weights.api import ReadyModel
from slowfast_core.stream.quality import (
    AutoQuality,
    LiveTarget,
    QualityCache,
    QualityChoice,
    candidate_sizes,
    RecentLatency,
    live_stride,
    machine_id,
    model_id,
)

logger = logging.getLogger(__name__)

#: predictions whose median latency the stride follows
RECENT = 5


def loadable_weights(weights: str) -> str:
    """`weights` when they can be loaded without a download (a file, a downloaded registry entry), else ""."""
    if not weights:
        return ""
    from pathlib import Path

    from slowfast_core.weights.registry import find_weights, is_cached

    if Path(weights).expanduser().is_file():
        return weights
    entry = find_weights(weights)
    return weights if entry is not None and is_cached(entry) else ""


class QualityController(QObject):
    """Auto quality for one window. `switchSize(size)`: run the current model at `size` (a resized copy);
    `chosen(choice)`: the search ended (also when the choice came from the cache)."""

    switchSize = Signal(int)
    chosen = Signal(object)

    def __init__(self, session: LiveSession, state: LiveState, *, cache: QualityCache | None = None,
                 device: str = "cpu", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session  # the stride is a wish to it, like every other change
        self.engine = session.engine
        self.state = state
        self.cache = cache or QualityCache()
        self.device = device
        self.enabled = False
        self.target = LiveTarget()  # what Auto keeps: updates a second and delay, as a person feels them
        self.stride_s = 0.5  # the stride asked for; the engine runs live_stride(this, latency)
        self.choice: QualityChoice | None = None
        self.search: AutoQuality | None = None
        self._model_key = ""
        self._model = None  # the SlowFast the window runs now
        self._last_id: int | None = None
        self._asked: int | None = None  # the size the search asked the window to run (once per size)
        self._last_at: float | None = None  # when the search's previous prediction arrived (monotonic)
        self._recent = RecentLatency(RECENT)  # the stride follows what runs now (backend, input size)
        self.label = QLabel()
        self.label.setVisible(False)
        state.predictionChanged.connect(self._on_prediction)

    def _machine(self) -> str:
        return machine_id(self.device)

    # --- the window tells -------------------------------------------------------------------------------------
    def configure(self, *, auto: bool, stride_s: float, device: str) -> None:
        """Settings changed: Auto on/off, the stride asked for, the device (part of the machine key)."""
        self.enabled, self.stride_s, self.device = auto, stride_s, device
        if not auto:
            self.search = None
            self.label.setVisible(False)

    def size_for(self, arch: str, weights: str) -> int:
        """The input size to load `arch` + `weights` at: the remembered Auto choice, else 0 (the weights' own).
        Registry weights that are not downloaded load as untrained, so they are looked up as such."""
        if not self.enabled:
            return 0
        choice = self.cache.get(self._machine(), model_id(arch, loadable_weights(weights)))
        return choice.size if choice is not None else 0

    def model_running(self, loaded: ReadyModel) -> None:
        """`loaded` is now the window's model: start, go on with, or skip the search for it."""
        self._model = loaded.model
        if not self.enabled:
            return
        key = model_id(loaded.info.arch, loaded.request.weights if loaded.info.trained else "")
        size = loaded.input_size
        if key == self._model_key and (self.search is not None or self.choice is not None):
            return  # a size the search asked for, or the chosen one: same model, go on
        self._model_key, self.search, self.choice, self._last_id, self._asked = key, None, None, None, None
        self._recent.clear()
        cached = self.cache.get(self._machine(), key)
        if cached is not None:
            self._finish(cached, remember=False)
            if cached.size != size:
                self.switchSize.emit(cached.size)
            return
        # from the weights' own size (or the larger one it was loaded at), largest first; a first start runs at
        # the smallest meanwhile (`interim_size`)
        self.search = AutoQuality(candidate_sizes(max(size, loaded.model.meta.preprocessing.short_side)),
                                  target=self.target, start=size)
        self._show(f"auto: measuring ({size}² meanwhile)…" if size != self.search.decision.size else
                   f"auto: measuring {size}²…", "Auto quality measures the input sizes these weights support, "
                   f"largest first, on the fastest backend, and keeps the largest that feels live ({self.target})")

    # --- engine events ----------------------------------------------------------------------------------------
    @Slot()
    def _on_prediction(self) -> None:
        search, p = self.search, self.state.prediction
        if not self.enabled or p is None or p.id == self._last_id or p.timings is None:
            return
        self._last_id = p.id
        running = self.engine.running_backend()
        model, prep, backend, settled = running.model, running.preprocessing, running.backend, running.settled
        self._follow_latency((backend, prep.short_side if prep is not None else 0), p.timings.end_to_end_ms)
        if search is None:
            return
        if not settled or model is None or prep is None or model is not self._model:
            return  # still on the start-up backend, or the previous model: not what Auto chooses for
        size = prep.short_side
        if size != search.decision.size:  # on the fastest backend at last: run the size the search measures next
            if self._asked != search.decision.size:
                self._asked = search.decision.size
                self.switchSize.emit(search.decision.size)
            return
        now = time.monotonic()
        interval = (now - self._last_at) * 1000.0 if self._last_at is not None else None
        self._last_at = now
        decision = search.observe(size, backend, p.timings.end_to_end_ms, p.timings.inferred_ms, interval)
        if decision is None:
            return
        if decision.done:
            self._finish(search.choice(), remember=True)
            self.search = None
            if decision.size != size:
                self.switchSize.emit(decision.size)
        else:
            self._show(f"auto: measuring {decision.size}²… ({search.measured[size]:.0f} ms at {size}²)", "")
            self._asked = decision.size
            self.switchSize.emit(decision.size)

    def _follow_latency(self, runs: tuple[str, int], end_to_end_ms: float) -> None:
        """The stride follows the recent latency of what `runs` (Auto only): no window is cut only to be dropped.
        A new stride is a settings snapshot handed to the session, like the Settings dialog's."""
        stride = live_stride(self.stride_s, self._recent.add(runs, end_to_end_ms))
        if abs(stride - self.session.settings.stride_s) >= 0.05:
            self.session.update_settings(stride_s=stride)

    def _finish(self, choice: QualityChoice, *, remember: bool) -> None:
        self.choice = choice
        if remember:
            self.cache.put(self._machine(), self._model_key, choice)
        tried = ", ".join(f"{s}²: {ms:.0f} ms" for s, ms in sorted(choice.measured.items(), reverse=True))
        self._show(choice.summary(), f"Auto quality chose input {choice.size}² on {choice.backend}: end to end "
                   f"{choice.end_to_end_ms:.0f} ms, inference {choice.inference_ms:.0f} ms ({tried}). "
                   "Settings → Input size pins another.")
        self.chosen.emit(choice)

    def _show(self, text: str, tip: str) -> None:
        self.label.setText(text)
        if tip:
            self.label.setToolTip(tip)
        self.label.setVisible(True)
