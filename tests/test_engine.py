"""The engine end to end: real threads, a real (small) SlowFast, synthetic and file sources."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from slowfast_core.errors import ConfigError, SourceError
from slowfast_core.video.windows import window_end_times
from slowfast_core.stream.engine import Engine, EngineSettings
from slowfast_core.video.file_source import FileSource
from slowfast_core.video.synthetic import SyntheticSource

from helpers.events import EventLog
from helpers.media import write_clip
from helpers.models import CLASSES, ProbeSlowFast, probe_model
from helpers.waiting import wait_until


def small_model(**probes) -> ProbeSlowFast:
    """A real SlowFast R50 with a short clip (Slow 4 frames, Fast 16: a 0.27 s window), 32² inputs, probes."""
    return probe_model(size=probes.pop("size", 32), slow_frames=4, tau=2, **probes)


def engine_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("slowfast-")]


def make_engine(**settings) -> tuple[Engine, EventLog]:
    base = dict(stride_s=0.2, backend="torch-eager", device="cpu", smoothing=1, threshold=0.0,
                status_interval_s=0.2)
    base.update(settings)
    engine = Engine(EngineSettings(**base))
    events = EventLog()
    engine.subscribe(events)
    return engine, events


@pytest.fixture(autouse=True)
def no_threads_left():
    yield
    assert engine_threads() == []


def test_streams_predictions_frames_status_and_metrics() -> None:
    engine, events = make_engine()
    engine.start(SyntheticSource(96, 64, 30), small_model())
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
    model = small_model()
    model.probe.hold_warmup()  # a slow backend set-up (e.g. a first OpenVINO conversion) that has not finished
    try:
        engine.start(SyntheticSource(96, 64, 30), model)  # returns before the warm-up ends
        events.wait_frames(10)
        warming = engine.status()
        assert warming.backend == "" and warming.model == "slowfast_8x8_r50"  # known model, no backend yet
        assert events.predictions == [] and model.probe.entered == 0
    finally:
        model.probe.release_warmup()
    events.wait_predictions(1)
    assert engine.status().backend == "torch-eager"
    assert engine.stop() is True


def test_stale_windows_are_dropped_under_a_slow_model() -> None:
    """While the model is busy, the windows falling due are counted stale and dropped; when it frees up it
    gets a window of the newest frames, not one cut while it was busy."""
    engine, events = make_engine(stride_s=0.1)
    model = small_model()
    model.probe.hold()
    engine.start(SyntheticSource(96, 64, 30), model)
    newest_before_release: list[float] = []
    try:
        for k in (1, 2):
            model.probe.wait_entered(k)  # window k is inside the model, held there
            events.wait_frames(events.frames + 1)
            seen = events.last_frame.timestamp
            # 0.8 s of video (in frame time) arrives while it is busy: several strides of 0.1 s fall due
            events.wait(lambda: events.last_frame.timestamp >= seen + 0.8, what="0.8 s of frames")
            newest_before_release.append(events.last_frame.timestamp)
            model.probe.step()
            events.wait_predictions(k)
    finally:
        model.probe.release()
    assert engine.stop() is True
    first, second = events.predictions[:2]
    assert (first.id, second.id) == (0, 1)  # the stale windows were never cut, let alone queued
    assert second.end_time >= newest_before_release[0]  # cut from the frames that came while it was busy
    assert engine.status().windows_dropped >= 2  # at least one per busy period, counted
    assert engine.metrics()["windows_dropped_stale"] == engine.status().windows_dropped


def test_stop_under_load_returns_quickly_with_no_thread_left() -> None:
    before = set(threading.enumerate())
    engine, events = make_engine(stride_s=0.05)
    # every window takes 0.3 s (the Fast pathway alone at 32²: the delay, not the compute, sets it): the
    # stop lands inside one
    model = probe_model(arch="fast_32x2_r50", delay_s=0.3)
    engine.start(SyntheticSource(320, 240, 60), model)
    events.wait_predictions(2)
    wait_until(lambda: model.probe.busy, what="an inference in flight")
    t0 = time.monotonic()
    assert engine.stop(timeout=2.0) is True
    assert time.monotonic() - t0 < 2.0  # the stop bound
    assert set(threading.enumerate()) <= before
    assert engine.stop() is True  # twice is fine


def test_a_source_that_stalls_and_drops_out_comes_back() -> None:
    engine, events = make_engine(stall_timeout_s=0.3, reopen_backoff_s=(0.05, 0.2))
    source = SyntheticSource(96, 64, 30)
    engine.start(source, small_model())
    events.wait_predictions(2)
    source.stall(None)  # a frozen camera, until resume()
    events.wait(lambda: any("stopped delivering" in e.message for e in events.errors))
    events.wait(lambda: events.statuses[-1].state == "stalled")
    n = len(events.predictions)
    source.resume()
    events.wait_predictions(n + 2)  # frames came back, predictions go on
    source.drop_out(None)  # an unplugged camera, until resume()
    events.wait(lambda: any("drop-out" in e.message for e in events.errors))
    events.wait(lambda: sum(s.state == "reopening" for s in events.statuses) >= 2)  # it keeps trying
    source.resume()
    events.wait(lambda: any("reopened" in s.message for s in events.statuses))
    n = len(events.predictions)
    events.wait_predictions(n + 2)
    assert engine.stop() is True
    assert not any(e.fatal for e in events.errors)
    states = [s.state for s in events.statuses]
    assert "stalled" in states and "reopening" in states


def test_an_exception_in_the_worker_reaches_subscribers() -> None:
    engine, events = make_engine(stride_s=0.05)
    engine.start(SyntheticSource(96, 64, 30), small_model(fail=True))
    assert engine.wait(120)  # the fatal error ends the run
    assert engine.failed and engine.status().state == "failed"
    assert any(e.fatal and e.where == "inference" and "simulated failure" in e.message for e in events.errors)
    assert engine.stop() is True


def test_switch_source_and_model_while_running(tmp_path: Path) -> None:
    engine, events = make_engine()
    engine.start(SyntheticSource(96, 64, 30), small_model())
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
    other = small_model(size=40)
    engine.switch_model(other)
    events.wait(lambda: any("ready" in s.message and s.model for s in events.statuses[-5:]), 30)
    n = len(events.predictions)
    events.wait_predictions(n + 2)
    assert engine._worker.warm.model is other
    assert engine._chain.buffer.frame_shape == (40, 53, 3)  # the ring buffer follows the new input size
    assert engine.stop() is True
    assert engine.status().frames_read > 0


def test_offline_file_runs_every_window_then_ends(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.mp4", [8 * i for i in range(30)], fps=25, size=(96, 64))
    engine, events = make_engine(realtime=False, stride_s=0.3)
    model = small_model(delay_s=0.05)  # slower than decoding: the capture must wait for every window
    engine.start(FileSource(clip, paced=False), model)
    assert engine.wait(120)
    assert engine.stop() is True
    expected = window_end_times(np.arange(30) / 25, model.config.geometry, 0.3)
    assert [p.end_time for p in events.predictions] == pytest.approx(expected.tolist())
    assert engine.metrics()["frames_read"] == 30 and engine.metrics()["windows_dropped_stale"] == 0
    assert any(s.state == "ended" for s in events.statuses)


def test_settings_change_live_and_bad_ones_are_refused() -> None:
    engine, events = make_engine()
    engine.start(SyntheticSource(96, 64, 30), small_model())
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
        engine.start(SyntheticSource(96, 64, 30), small_model())
    assert engine.stop() is True


def test_start_errors_leave_nothing_running(tmp_path: Path) -> None:
    engine, _ = make_engine()
    with pytest.raises(SourceError):
        engine.start(FileSource(tmp_path / "missing.mp4"), small_model())
    assert not engine.running and engine_threads() == []
    with pytest.raises(ConfigError):
        Engine(EngineSettings(device="tpu")).start(SyntheticSource(96, 64, 30), small_model())
    for bad in (dict(stride_s=0), dict(topk=0), dict(smoothing=0), dict(reopen_backoff_s=(1.0, 0.5))):
        with pytest.raises(ConfigError):
            EngineSettings(**bad)
    with pytest.raises(ConfigError, match="not running"):
        engine.switch_source(SyntheticSource(96, 64, 30))


def test_settings_are_applied_by_the_worker_on_its_own_thread(monkeypatch) -> None:
    """`update_settings` hands the worker a snapshot; top-k and the smoother change on the inference thread,
    never written into the worker from the caller's thread (before: the caller configured the smoother and set
    the worker's top-k while the worker ran)."""
    from slowfast_core.stream.smoothing import Smoother

    threads: list[str] = []
    configure = Smoother.configure

    def recording(self, **kw) -> None:
        threads.append(threading.current_thread().name)
        configure(self, **kw)

    monkeypatch.setattr(Smoother, "configure", recording)
    engine, events = make_engine()
    engine.start(SyntheticSource(96, 64, 30), small_model())
    try:
        events.wait_predictions(1)
        settings = engine.update_settings(threshold=1.0, topk=2, smoothing=2)
        assert engine.settings is settings and settings.topk == 2  # the snapshot, swapped whole
        n = len(events.predictions)
        events.wait_predictions(n + 2)
        assert events.predictions[-1].label is None and len(events.predictions[-1].topk) == 2
    finally:
        assert engine.stop() is True
    assert threads and set(threads) == {"slowfast-inference"}


def test_stop_closes_the_per_person_detector_within_its_bound() -> None:
    # the step's torchvision detector converts to OpenVINO in the background: a stopped engine (a closed window)
    # must stop that child too, and within what is left of stop's own bound
    from slowfast_core.detect.people import PeopleStep
    from slowfast_core.detect.scene_boxes import SceneBoxesDetector
    from slowfast_core.weights.detection import create_detection_model

    class ClosingBoxes(SceneBoxesDetector):
        timeouts: list[float] = []

        def close(self, timeout: float = 5.0) -> None:
            self.timeouts.append(timeout)

    detector = ClosingBoxes([(4, 4, 40, 60)], width=96, height=64)
    engine, events = make_engine()
    engine.start(SyntheticSource(96, 64, 30), small_model(),
                 people=PeopleStep(create_detection_model("slowfast_tiny_detection", seed=0, input_size=48), detector))
    events.wait(lambda: any(p.people for p in events.predictions))
    assert detector.timeouts == []
    assert engine.stop(timeout=2.0) is True
    assert len(detector.timeouts) == 1 and 0.0 <= detector.timeouts[0] <= 2.0
