"""Inference worker and its latest-only slot, with a real (small) SlowFast model on real threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from slowfast_core.backends.base import create_backend
from slowfast_core.model.net import SlowFast
from slowfast_core.stream.scheduler import LiveWindow, cut_live_window
from slowfast_core.stream.smoothing import Smoother
from slowfast_core.stream.worker import END_OF_STREAM, MAX_FAILURES, InferenceWorker, LatestSlot, WorkerOptions

from helpers.events import EventLog
from helpers.models import CLASSES, probe_model
from helpers.waiting import wait_until

SIZE = 32  # the smallest input the network takes: keeps each inference short


def make_window(model: SlowFast, window_id: int = 0, generation: int = 0) -> LiveWindow:
    from slowfast_core.stream.ringbuffer import RingBuffer

    rng = np.random.default_rng(window_id)
    buffer = RingBuffer(capacity=80, frame_shape=(SIZE, 48, 3))
    for i in range(70):
        buffer.write(rng.integers(0, 255, (SIZE, 48, 3), dtype=np.uint8), timestamp=i / 30, index=i)
    window = cut_live_window(buffer, 69 / 30, model.config.geometry, window_id=window_id, generation=generation)
    assert window is not None
    return window


def start_worker(model: SlowFast, **kwargs) -> tuple[InferenceWorker, LatestSlot, EventLog]:
    slot: LatestSlot = LatestSlot()
    events = EventLog()
    worker = InferenceWorker(
        slot, events, model, backend=create_backend(model, backend="torch-eager", device="cpu"),
        smoother=Smoother(model.meta.categories, window=2, threshold=0.0, hysteresis=0.0),
        options=WorkerOptions(topk=3), **kwargs,
    )
    worker.start()
    return worker, slot, events


def stop(worker: InferenceWorker) -> None:
    worker.stop()
    worker.join(5)
    assert not worker.is_alive()


def test_slot_is_latest_only() -> None:
    slot: LatestSlot = LatestSlot()
    assert slot.put("a") is True and slot.replaced == 0
    assert slot.put("b") is True and slot.replaced == 1  # "a" went stale: replaced, never queued
    assert slot.take(timeout=0) == "b"
    assert slot.take(timeout=0.01) is None
    assert not slot.consumer_waiting
    got: list[object] = []
    t = threading.Thread(target=lambda: got.append(slot.take(timeout=5)))
    t.start()
    wait_until(lambda: slot.consumer_waiting, what="the taker to wait")
    slot.put("c")
    t.join(2)
    assert got == ["c"]
    slot.put("d")
    assert slot.put("e", block=True, timeout=0.05) is False  # offline put waits for the taker: not delivered
    slot.close()
    assert slot.take(timeout=1) == "d"  # what was handed over is still delivered
    assert slot.take(timeout=1) is None  # then nothing: closed, no waiting
    assert slot.put("f") is False and slot.closed and slot.take(timeout=0) is None  # closed: not delivered


def test_worker_warms_up_then_publishes_predictions() -> None:
    model = probe_model(size=SIZE)
    worker, slot, events = start_worker(model)
    events.wait(lambda: events.ready, 120, "the model to be warm")
    assert model.probe.calls == [True]  # warm-up ran before any real window
    windows = [make_window(model, i) for i in range(2)]
    for w in windows:
        slot.put(w, block=True, timeout=10)
    events.wait(lambda: len(events.predictions) == 2)
    stop(worker)
    assert model.probe.calls == [True, False, False]
    for p, w in zip(events.predictions, windows):
        assert p.id == w.id and p.first_index == w.first_index and p.last_index == w.last_index
        assert p.probs.shape == (5,) and p.probs.dtype == np.float32
        assert p.probs.sum() == pytest.approx(1.0, abs=1e-5)
        assert len(p.topk) == 3 and [x[1] for x in p.topk] == sorted((x[1] for x in p.topk), reverse=True)
        assert p.topk[0][0] == CLASSES[int(np.argmax(p.probs))]
        t = p.timings
        assert t.inferred_ms > 0 and t.prepared_ms > 0 and t.waited_ms >= 0
        assert t.end_to_end_ms >= t.inferred_ms
        assert p.backend == "torch-eager on cpu"
    # the label is the smoothed one: mean of the last two probability vectors
    mean = (events.predictions[0].probs + events.predictions[1].probs) / 2
    assert events.predictions[1].label == CLASSES[int(np.argmax(mean))]
    assert worker.windows_done == 2


def test_worker_output_equals_the_model_on_the_same_inputs() -> None:
    from slowfast_core.video.preprocess import pathway_tensors

    model = probe_model(size=SIZE)
    worker, slot, events = start_worker(model)
    window = make_window(model, 3)
    slot.put(window, block=True, timeout=10)
    events.wait(lambda: len(events.predictions) == 1)
    stop(worker)
    with torch.inference_mode():
        logits = model(pathway_tensors(window.frames, window.pathway_indices, model.meta.preprocessing))
    np.testing.assert_allclose(events.predictions[0].probs, torch.softmax(logits, -1)[0].numpy(), atol=1e-5)


def test_exception_inside_the_worker_reaches_subscribers() -> None:
    model = probe_model(size=SIZE, fail=True)
    worker, slot, events = start_worker(model)
    for i in range(MAX_FAILURES):
        slot.put(make_window(model, i), block=True, timeout=10)
    events.wait(lambda: len(events.errors) == MAX_FAILURES)
    worker.join(5)
    assert not worker.is_alive()  # gave up after MAX_FAILURES windows in a row
    assert all(e.where == "inference" for e in events.errors)
    assert [e.fatal for e in events.errors] == [False] * (MAX_FAILURES - 1) + [True]
    assert "simulated failure" in events.errors[0].message
    assert isinstance(events.errors[0].exception, RuntimeError)
    assert not events.predictions


def test_windows_of_an_old_generation_are_not_run_and_end_is_signalled() -> None:
    model = probe_model(size=SIZE)
    worker, slot, events = start_worker(model)
    events.wait(lambda: events.ready, 120, "the model to be warm")
    worker.expect_generation(1)
    slot.put(make_window(model, 0, generation=0), block=True, timeout=10)
    slot.put(make_window(model, 1, generation=1), block=True, timeout=10)
    slot.put(END_OF_STREAM, block=True, timeout=10)
    assert events.ended.wait(120)
    stop(worker)
    assert [p.id for p in events.predictions] == [1]
    assert model.probe.calls == [True, False]  # the old generation's window never reached the model


def test_model_switch_happens_on_the_worker_thread() -> None:
    model = probe_model(size=SIZE)
    worker, slot, events = start_worker(model)
    events.wait(lambda: events.ready, 120, "the model to be warm")
    other = probe_model(size=SIZE)
    worker.request_model(other, backend="torch-eager", device="cpu")
    events.wait(lambda: len(events.ready) == 2, what="the new model to be ready")
    assert events.ready[-1].model is other
    assert other.probe.calls == [True]  # warmed before taking over
    slot.put(make_window(other, 5), block=True, timeout=10)
    events.wait(lambda: len(events.predictions) == 1)
    stop(worker)
    assert other.probe.calls == [True, False] and model.probe.calls == [True]
