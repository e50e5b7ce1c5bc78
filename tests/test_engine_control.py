"""An input size is a preprocessing next to the model, never a change to it (issue 11 §6): choosing one copies
nothing and mutates nothing, and the engine runs that very network at that size."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from slowfast_core.weights.api import ModelRequest, input_preprocessing, ready_model  # noqa: E402
from slowfast_core.video.synthetic import SyntheticSource  # noqa: E402

from helpers.models import probe_model  # noqa: E402
from test_engine import make_engine, no_threads_left  # noqa: E402,F401 - fixture


def test_an_input_size_is_explicit_preprocessing_and_runs_the_same_network() -> None:
    model = probe_model(arch="slowfast_tiny", slow_frames=4, tau=2)  # its own input size: 32
    meta = model.meta
    ready = ready_model(model, ModelRequest(model.config.name), input_size=40)
    assert ready.model is model  # nothing copied
    assert model.meta is meta and meta.preprocessing.short_side == 32  # nothing changed
    assert ready.preprocessing == input_preprocessing(model, 40) and ready.input_size == ready.info.input_size == 40
    assert input_preprocessing(model, 0) is meta.preprocessing  # 0: the model's own

    engine, events = make_engine()
    engine.start(SyntheticSource(96, 64, 30), ready.model, preprocessing=ready.preprocessing)
    events.wait_predictions(2)
    running = engine.running_backend()
    assert running.model is model and running.preprocessing.short_side == 40
    assert engine._chain.buffer.frame_shape == (40, 60, 3)  # the buffer holds frames at the chosen size
    assert events.predictions[-1].feature_identity.size == 40  # recorded features say what they were cut at
    engine.switch_model(model, preprocessing=input_preprocessing(model, 48))  # same network, another size
    events.wait(lambda: engine._chain.buffer.frame_shape == (48, 72, 3), what="the buffer to follow the size")
    n = len(events.predictions)
    events.wait_predictions(n + 1)
    assert events.predictions[-1].feature_identity.size == 48
    assert model.meta is meta
    assert engine.stop() is True
