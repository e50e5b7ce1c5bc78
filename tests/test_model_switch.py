"""A model switch is reported when the engine's worker runs the new model, not when it was asked for; a taught
head on another backbone is switched to at the input size the window runs (real engine, real small models)."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("PySide6")

from app.engine_control import EngineController  # noqa: E402
from slowfast_core.weights.api import ModelRequest, ready_model  # noqa: E402
from slowfast_core.video.synthetic import SyntheticSource  # noqa: E402

from helpers.models import probe_model  # noqa: E402
from test_engine import make_engine, no_threads_left  # noqa: E402,F401 - fixture

WAIT = 60_000  # ms


def _small(**kw):
    return probe_model(arch="fast_32x2_r50", slow_frames=4, tau=2, **kw)


def test_the_switch_is_reported_once_the_worker_runs_the_new_model(qtbot) -> None:
    """Before: `modelSwitched` came as soon as the request was handed to the engine, while the old model still
    ran (the new one's warm-up takes 0.5 s here), and a window then remembered a model that might never run."""
    engine, events = make_engine()
    first = _small()
    slow = _small(classes=3, delay_s=0.5, seed=1)  # each inference, the warm-up's too, takes 0.5 s
    control = EngineController(engine)
    running_at_report: list[bool] = []
    control.modelSwitched.connect(lambda ready: running_at_report.append(engine.running_backend().model is ready.model))
    try:
        with qtbot.waitSignal(control.started, timeout=WAIT):
            control.requestStart.emit("synthetic:96x64@30", ready_model(first, ModelRequest(first.config.name)))
        events.wait_predictions(1)
        target = ready_model(slow, ModelRequest(slow.config.name))
        with qtbot.waitSignal(control.modelSwitched, timeout=WAIT) as switched:
            control.requestModel.emit(target)
        assert switched.args[0] is target
        assert running_at_report == [True]
        assert engine.running_backend().model is slow
    finally:
        assert control.shutdown(5000)
        assert engine.stop() is True


def test_a_head_on_another_backbone_keeps_the_input_size_the_window_runs() -> None:
    """Before: the full switch a foreign head falls back to ran at the taught model's own size (32), dropping the
    window's (40)."""
    engine, events = make_engine()
    running = _small()
    ready = ready_model(running, ModelRequest(running.config.name), input_size=40)
    engine.start(SyntheticSource(96, 64, 30), ready.model, preprocessing=ready.preprocessing)
    try:
        events.wait_predictions(1)
        foreign = _small(classes=3, seed=7)  # other backbone weights: its head cannot go on the running one
        assert foreign.meta.preprocessing.short_side == 32
        applied = threading.Event()
        engine.swap_head(foreign, applied=applied.set)
        assert applied.wait(60)
        now = engine.running_backend()
        assert now.model is foreign and now.preprocessing.short_side == 40
        n = len(events.predictions)
        events.wait_predictions(n + 1)
        assert events.predictions[-1].feature_identity.size == 40
    finally:
        assert engine.stop() is True
