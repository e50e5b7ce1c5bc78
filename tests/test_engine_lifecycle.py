"""The engine's lifecycle edges (issue 11 §6): a stop that cannot wait forever, nothing published after it,
and a source switch that fails half-way leaving the old source running.

Real engine threads and a real (small) SlowFast. The only fakes are sources standing in for devices this
machine lacks: a camera that takes long to open, and one whose driver reports no frame rate.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from slowfast_core.errors import ConfigError
from slowfast_core.video.sources import SourceInfo
from slowfast_core.video.synthetic import SyntheticSource

from helpers.models import probe_model
from test_engine import engine_threads, make_engine, no_threads_left  # noqa: F401 - fixture


def small_model():
    """The tiny preset (1/8 width) with a 0.27 s window at 32²: the cheapest real SlowFast."""
    return probe_model(arch="slowfast_tiny", slow_frames=4, tau=2)


class SlowOpeningCamera(SyntheticSource):
    """A camera whose open() takes until the test lets it finish (a USB camera takes about a second)."""

    def __init__(self) -> None:
        super().__init__(96, 64, 30)
        self.opening = threading.Event()
        self.let_open = threading.Event()
        self.closed = False

    def _open(self) -> SourceInfo:
        self.opening.set()
        assert self.let_open.wait(60), "the test never let the camera open"
        return super()._open()

    def close(self) -> None:
        self.closed = True
        super().close()


class NoRateCamera(SyntheticSource):
    """A camera whose driver reports 0 fps: it opens, but no ring buffer can be sized for it."""

    def __init__(self) -> None:
        super().__init__(128, 96, 30)
        self.closed = False

    def _open(self) -> SourceInfo:
        return dataclasses.replace(super()._open(), fps=0.0)

    def close(self) -> None:
        self.closed = True
        super().close()


def test_nothing_is_published_after_stop_even_when_the_worker_join_times_out() -> None:
    engine, events = make_engine()
    model = small_model()
    engine.start(SyntheticSource(96, 64, 30), model)
    events.wait_predictions(1)
    model.probe.hold()  # the next window stays inside the model: longer than stop waits
    model.probe.wait_entered(model.probe.entered + 1)
    worker = engine._worker
    assert engine.stop(timeout=0.3) is False  # the worker is still inside forward
    published, counted = len(events.predictions), engine.metrics()["predictions"]
    model.probe.release()  # the window finishes now, after stop returned
    worker.join(60)
    assert not worker.is_alive()
    assert len(events.predictions) == published  # not to the listeners (window, recorder, JSONL)
    assert engine.metrics()["predictions"] == counted  # nor to the metrics written by --metrics


@pytest.mark.parametrize("how", ["start", "switch"])
def test_stop_is_bounded_while_a_camera_opens(how: str) -> None:
    engine, events = make_engine()
    if how == "switch":
        engine.start(SyntheticSource(96, 64, 30), small_model())
        events.wait_predictions(1)
    camera = SlowOpeningCamera()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            if how == "start":
                engine.start(camera, small_model())
            else:
                engine.switch_source(camera)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertions
            errors.append(exc)

    caller = threading.Thread(target=call, name="test-controller")
    caller.start()
    opened_late = threading.Timer(10.0, camera.let_open.set)  # an unbounded stop would wait for this
    try:
        assert camera.opening.wait(30)
        opened_late.start()
        t0 = time.monotonic()
        engine.stop(timeout=2.0)
        assert time.monotonic() - t0 < 4.0  # bounded although the camera is still opening
        published = len(events.predictions)
    finally:
        opened_late.cancel()
        camera.let_open.set()
        caller.join(30)
    assert not caller.is_alive()
    assert not engine.running and engine_threads() == []  # the stop won: nothing started after it
    assert camera.closed  # the engine did not keep the camera it never ran
    assert len(events.predictions) == published
    if how == "switch":
        assert len(errors) == 1 and isinstance(errors[0], ConfigError)


def test_a_switch_whose_chain_cannot_be_built_leaves_the_old_source_running() -> None:
    engine, events = make_engine()
    engine.start(SyntheticSource(96, 64, 30), small_model())
    events.wait_predictions(1)
    camera = NoRateCamera()
    with pytest.raises(ConfigError, match="ring buffer"):
        engine.switch_source(camera)
    assert camera.closed  # opened by the switch, closed when the switch failed
    n = len(events.predictions)
    events.wait_predictions(n + 2, timeout=30)  # the old source's windows still run (none discarded)
    assert events.last_frame is not None and events.last_frame.image.shape == (64, 96, 3)
    assert engine.stop() is True


def test_a_closed_engine_refuses_a_later_start_and_leaves_its_source_unopened() -> None:
    """close() is a stop for good: a start that arrives afterwards (a request sent before a window closed) is
    refused with a clear error, opens nothing and starts no thread. A plain stop() still allows a new start."""
    engine, events = make_engine()
    model = small_model()
    engine.start(SyntheticSource(96, 64, 30), model)
    events.wait_predictions(1)
    assert engine.stop()
    engine.start(SyntheticSource(96, 64, 30), model)  # stopped, not closed: starts again
    assert engine.running and engine.close() and not engine.running
    late = SlowOpeningCamera()
    late.let_open.set()
    with pytest.raises(ConfigError, match="closed"):
        engine.start(late, model)
    assert not late.opening.is_set() and not engine.running


def test_settings_changed_while_a_start_opens_its_camera_reach_the_worker():
    """A start reads the settings, then opens its source (a camera: a second): a snapshot made meanwhile (the
    Settings dialog, Auto quality's stride) is the one the new worker runs. The start used to build its worker
    from the older snapshot and the newer one never reached it (top-k 5 for ever)."""
    engine, events = make_engine(topk=5)
    camera = SlowOpeningCamera()
    starter = threading.Thread(target=lambda: engine.start(camera, small_model()), name="test-controller")
    starter.start()
    try:
        assert camera.opening.wait(30)
        settings = engine.update_settings(topk=2, stride_s=0.3)  # while the start is inside the camera
        camera.let_open.set()
        starter.join(30)
        events.wait_predictions(2)
        assert engine.settings is settings
        assert all(len(p.topk) == 2 for p in events.predictions)
    finally:
        camera.let_open.set()
        starter.join(30)
        assert engine.stop()
