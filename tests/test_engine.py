"""The engine end to end: real threads, a real (small) SlowFast, synthetic and file sources."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from slowfast_core.errors import ConfigError, SourceError
from slowfast_core.model import get_config
from slowfast_core.model.net import SlowFast
from slowfast_core.predict import window_end_times
from slowfast_core.stream.engine import Engine, EngineSettings
from slowfast_core.stream.types import EngineError, EngineStatus, FramePacket, Prediction
from slowfast_core.video.sources import FileSource, SyntheticSource

CLASSES = tuple(f"action {i}" for i in range(5))


class SmallModel(SlowFast):
    """A real SlowFast R50 with a short clip (Slow 4 frames, Fast 16: a 0.27 s window) and tiny inputs.

    sleep_s makes it deliberately slow (the stale-window edge); fail_after makes it raise on real windows.
    """

    def __init__(self, *, size: int = 32, sleep_s: float = 0.0, fail: bool = False, warm_sleep_s: float = 0.0) -> None:
        super().__init__(get_config("slowfast_8x8_r50", num_classes=len(CLASSES), slow_frames=4, tau=2))
        self.meta = replace(self.meta, categories=CLASSES,
                            preprocessing=replace(self.meta.preprocessing, short_side=size))
        torch.nn.init.normal_(self.blocks[6].proj.weight, std=1e-5)  # moderate logits: softmax never saturates
        self.sleep_s = sleep_s
        self.warm_sleep_s = warm_sleep_s
        self.fail = fail

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        warm = all(bool((t == 0).all()) for t in x)
        if not warm:
            if self.fail:
                raise RuntimeError("simulated failure inside the model")
            time.sleep(self.sleep_s)
        else:
            time.sleep(self.warm_sleep_s)  # a slow backend set-up (e.g. a first OpenVINO conversion)
        return super().forward(x)


class Listener:
    """Records every engine event; frames only counted (the GUI keeps just the newest)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.frames = 0
        self.last_frame: FramePacket | None = None
        self.predictions: list[Prediction] = []
        self.statuses: list[EngineStatus] = []
        self.errors: list[EngineError] = []

    def on_frame(self, frame: FramePacket) -> None:
        self.frames += 1
        self.last_frame = frame

    def on_prediction(self, prediction: Prediction) -> None:
        with self.cond:
            self.predictions.append(prediction)
            self.cond.notify_all()

    def on_status(self, status: EngineStatus) -> None:
        with self.cond:
            self.statuses.append(status)
            self.cond.notify_all()

    def on_error(self, error: EngineError) -> None:
        with self.cond:
            self.errors.append(error)
            self.cond.notify_all()

    def wait(self, predicate, timeout: float = 30.0) -> None:
        with self.cond:
            assert self.cond.wait_for(predicate, timeout), "timed out waiting for the engine"

    def wait_predictions(self, n: int, timeout: float = 30.0) -> None:
        self.wait(lambda: len(self.predictions) >= n, timeout)


def engine_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("slowfast-")]


def make_engine(**settings) -> tuple[Engine, Listener]:
    base = dict(stride_s=0.2, backend="torch-eager", device="cpu", smoothing=1, threshold=0.0,
                status_interval_s=0.2)
    base.update(settings)
    engine = Engine(EngineSettings(**base))
    listener = Listener()
    engine.subscribe(listener)
    return engine, listener


@pytest.fixture(autouse=True)
def no_threads_left():
    yield
    assert engine_threads() == []


def test_streams_predictions_frames_status_and_metrics() -> None:
    engine, events = make_engine()
    engine.start(SyntheticSource(96, 64, 30), SmallModel())
    events.wait_predictions(3)
    assert engine.stop() is True
    assert events.frames > 10 and events.last_frame.image.shape == (64, 96, 3)  # full source resolution
    assert engine.latest_frame() is events.last_frame
    ids = [p.id for p in events.predictions]
    assert ids == sorted(ids)
    for p in events.predictions:
        assert p.probs.shape == (5,) and p.label in CLASSES  # threshold 0: always a label
        assert p.end_time - p.start_time == pytest.approx(7 / 30, abs=1.5 / 30)  # window span, capture jitter
        assert p.last_index > p.first_index
    states = [s.state for s in events.statuses]
    assert "running" in states and states[-1] == "stopped"
    m = engine.metrics()
    for key in ("capture_fps", "frames_dropped", "frames_late", "predictions_per_s", "windows_dropped_stale",
                "inference_ms_p50", "inference_ms_p95", "end_to_end_ms_p50", "end_to_end_ms_p95",
                "overhead_ms_p50", "overhead_ms_p95", "rss_start_mb", "rss_end_mb"):
        assert key in m and m[key] is not None, key
    assert m["predictions"] == len(events.predictions) and m["frames_read"] >= events.frames
    assert m["capture_fps"] > 0 and m["overhead_ms_p50"] >= 0
    assert m["end_to_end_ms_p50"] >= m["inference_ms_p50"]
    assert m["source"] == "synthetic 96x64@30" and m["model"] == "slowfast_8x8_r50"


def test_frames_flow_while_the_backend_is_still_being_built() -> None:
    engine, events = make_engine()
    engine.start(SyntheticSource(96, 64, 30), SmallModel(warm_sleep_s=2.0))  # returns before the warm-up ends
    events.wait(lambda: events.frames >= 10, timeout=10.0)
    warming = engine.status()
    assert warming.backend == "" and warming.model == "slowfast_8x8_r50"  # known model, no backend yet
    assert events.predictions == []
    events.wait_predictions(1)
    assert engine.status().backend == "torch-eager"
    assert engine.stop() is True


def test_stale_windows_are_dropped_under_a_slow_model() -> None:
    engine, events = make_engine(stride_s=0.1)
    engine.start(SyntheticSource(96, 64, 30), SmallModel(sleep_s=0.4))
    events.wait_predictions(3)
    assert engine.stop() is True
    status = engine.status()
    assert status.windows_dropped >= 2 * (len(events.predictions) - 1)  # ~4 strides pass per inference
    ends = [p.end_time for p in events.predictions]
    assert all(b - a >= 0.35 for a, b in zip(ends, ends[1:]))  # newest frames each time, never a backlog
    for p in events.predictions[1:]:
        # the window was cut when the worker freed up, so it never waited for a previous inference
        assert p.timings.waited_ms < 0.5 * p.timings.inferred_ms


def test_stop_under_load_returns_quickly_with_no_thread_left() -> None:
    before = set(threading.enumerate())
    engine, events = make_engine(stride_s=0.05)
    engine.start(SyntheticSource(320, 240, 60), SmallModel(size=64, sleep_s=0.3))
    events.wait_predictions(2)
    t0 = time.monotonic()
    assert engine.stop(timeout=2.0) is True
    assert time.monotonic() - t0 < 2.0
    assert set(threading.enumerate()) <= before
    assert engine.stop() is True  # twice is fine


def test_a_source_that_stalls_and_drops_out_comes_back() -> None:
    engine, events = make_engine(stall_timeout_s=0.3, reopen_backoff_s=(0.05, 0.2))
    source = SyntheticSource(96, 64, 30)
    engine.start(source, SmallModel())
    events.wait_predictions(2)
    source.stall(1.0)
    events.wait(lambda: any("stopped delivering" in e.message for e in events.errors))
    events.wait(lambda: events.statuses[-1].state == "stalled", 5)
    n = len(events.predictions)
    events.wait_predictions(n + 2)  # frames came back, predictions go on
    source.drop_out(0.5)
    events.wait(lambda: any("drop-out" in e.message for e in events.errors))
    events.wait(lambda: any("reopened" in s.message for s in events.statuses), 10)
    n = len(events.predictions)
    events.wait_predictions(n + 2)
    assert engine.stop() is True
    assert not any(e.fatal for e in events.errors)
    states = [s.state for s in events.statuses]
    assert "stalled" in states and "reopening" in states


def test_an_exception_in_the_worker_reaches_subscribers() -> None:
    engine, events = make_engine(stride_s=0.05)
    engine.start(SyntheticSource(96, 64, 30), SmallModel(fail=True))
    assert engine.wait(30)  # the fatal error ends the run
    assert engine.failed and engine.status().state == "failed"
    assert any(e.fatal and e.where == "inference" and "simulated failure" in e.message for e in events.errors)
    assert engine.stop() is True


def test_switch_source_and_model_while_running(tmp_path: Path) -> None:
    engine, events = make_engine()
    engine.start(SyntheticSource(96, 64, 30), SmallModel())
    events.wait_predictions(1)
    with pytest.raises(SourceError):
        engine.switch_source(FileSource(tmp_path / "missing.mp4"))  # fails to open: the old source goes on
    n = len(events.predictions)
    events.wait_predictions(n + 1)
    engine.switch_source(SyntheticSource(128, 96, 30))
    events.wait(lambda: events.last_frame is not None and events.last_frame.image.shape == (96, 128, 3))
    n = len(events.predictions)
    events.wait_predictions(n + 1)
    assert events.predictions[-1].first_index < 40  # the new source's frames, numbered from 0
    other = SmallModel(size=40)
    engine.switch_model(other)
    events.wait(lambda: any("ready" in s.message and s.model for s in events.statuses[-5:]), 30)
    n = len(events.predictions)
    events.wait_predictions(n + 2)
    assert engine._worker.loaded.model is other
    assert engine._chain.buffer.frame_shape == (40, 53, 3)  # the ring buffer follows the new input size
    assert engine.stop() is True
    assert engine.status().frames_read > 0


def test_offline_file_runs_every_window_then_ends(tmp_path: Path) -> None:
    clip = tmp_path / "c.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 25, (96, 64))
    for i in range(30):
        writer.write(np.full((64, 96, 3), i * 8, np.uint8))
    writer.release()
    engine, events = make_engine(realtime=False, stride_s=0.3)
    model = SmallModel(sleep_s=0.05)
    engine.start(FileSource(clip, paced=False), model)
    assert engine.wait(30)
    assert engine.stop() is True
    expected = window_end_times(np.arange(30) / 25, model.config.geometry, 0.3)
    assert [p.end_time for p in events.predictions] == pytest.approx(expected.tolist())
    assert engine.metrics()["frames_read"] == 30 and engine.metrics()["windows_dropped_stale"] == 0
    assert any(s.state == "ended" for s in events.statuses)


def test_settings_change_live_and_bad_ones_are_refused() -> None:
    engine, events = make_engine()
    engine.start(SyntheticSource(96, 64, 30), SmallModel())
    events.wait_predictions(1)
    engine.update_settings(threshold=1.0, topk=2)  # nothing is that confident
    n = len(events.predictions)
    events.wait_predictions(n + 2)
    assert events.predictions[-1].label is None and len(events.predictions[-1].topk) == 2
    with pytest.raises(ConfigError):
        engine.update_settings(threshold=2.0)
    with pytest.raises(ConfigError):
        engine.update_settings(colour="red")
    with pytest.raises(ConfigError, match="already running"):
        engine.start(SyntheticSource(96, 64, 30), SmallModel())
    assert engine.stop() is True


def test_start_errors_leave_nothing_running(tmp_path: Path) -> None:
    engine, _ = make_engine()
    with pytest.raises(SourceError):
        engine.start(FileSource(tmp_path / "missing.mp4"), SmallModel())
    assert not engine.running and engine_threads() == []
    with pytest.raises(ConfigError):
        Engine(EngineSettings(device="tpu")).start(SyntheticSource(96, 64, 30), SmallModel())
    for bad in (dict(stride_s=0), dict(topk=0), dict(smoothing=0), dict(reopen_backoff_s=(1.0, 0.5))):
        with pytest.raises(ConfigError):
            EngineSettings(**bad)
    with pytest.raises(ConfigError, match="not running"):
        engine.switch_source(SyntheticSource(96, 64, 30))
