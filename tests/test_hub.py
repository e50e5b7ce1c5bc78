"""The engine's hub hands events on outside its lock: a listener stalled on a write (a slow disk) costs the
capture no frame; listeners that write files sit behind their own bounded queues, which say what they drop;
and still nothing reaches a listener after `stop()` returned. Real engine, real threads, a small real model."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from slowfast_core.stream.engine import Engine, EngineSettings
from slowfast_core.stream.hub import Hub
from slowfast_core.stream.queued import QueuedListener
from slowfast_core.stream.types import Prediction
from slowfast_core.video.synthetic import SyntheticSource

from helpers.events import EventLog
from helpers.models import probe_model

STALL_S = 2.0


class StalledDisk:
    """Writes each prediction to a file; the first write stalls for `STALL_S` seconds (a disk that hangs), and
    the frames other listeners received meanwhile are counted."""

    def __init__(self, path: Path, frames: EventLog) -> None:
        self.path = path
        self.frames = frames
        self.stalling = threading.Event()
        self.resumed = threading.Event()
        self.frames_during_stall = -1
        self.written: list[int] = []

    def on_prediction(self, prediction: Prediction) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{prediction.id}\n")
            if not self.stalling.is_set():
                before = self.frames.frames
                self.stalling.set()
                self.resumed.wait(STALL_S)  # the write hangs this long (nothing sets it: a timed stall)
                self.frames_during_stall = self.frames.frames - before
        self.written.append(prediction.id)


def _engine() -> tuple[Engine, EventLog]:
    engine = Engine(EngineSettings(stride_s=0.2, backend="torch-eager", device="cpu", smoothing=1, threshold=0.0,
                                   status_interval_s=0.2))
    events = EventLog()
    engine.subscribe(events)
    return engine, events


def _model():
    return probe_model(arch="fast_32x2_r50", size=32, slow_frames=4, tau=2)


def test_a_listener_stalled_on_a_write_costs_the_capture_no_frame(tmp_path: Path) -> None:
    """Before: the inference thread held the hub's lock while the stalled write ran, so the capture thread's
    next frame waited 2 s behind it (the source skipped ~60 frames, other listeners saw none)."""
    engine, events = _engine()
    disk = StalledDisk(tmp_path / "predictions.txt", events)
    engine.subscribe(disk)
    engine.start(SyntheticSource(96, 64, 30), _model())
    try:
        events.wait(lambda: disk.frames_during_stall >= 0, timeout=60, what="the stalled write to end")
    finally:
        assert engine.stop() is True
    # 2 s at 30 fps is 60 frames; a loaded 2-core machine may run the capture late, never 2 s late
    assert disk.frames_during_stall >= 20, disk.frames_during_stall
    assert disk.written and disk.written == sorted(disk.written)


def test_a_queued_listener_keeps_the_worker_going_and_says_what_it_dropped(tmp_path: Path) -> None:
    """Behind its own queue (as the recorder is), a stalled writer holds up neither frames nor predictions;
    a full queue drops predictions, counts them and says so once; `stop` hands on everything it accepted."""
    said: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    log = logging.getLogger("slowfast_core.stream.queued")  # its own handler: whatever another test did to propagation
    log.addHandler(handler)
    engine, events = _engine()
    disk = StalledDisk(tmp_path / "predictions.txt", events)
    queued = QueuedListener(disk, capacity=2)
    unsubscribe = engine.subscribe(queued)
    engine.start(SyntheticSource(96, 64, 30), _model())
    try:
        disk.stalling.wait(60)
        first = len(events.predictions)
        events.wait(lambda: len(events.predictions) >= first + 4 or disk.frames_during_stall >= 0,
                    what="predictions during the stall")
        assert len(events.predictions) >= first + 4  # the worker went on while the writer hung
        events.wait(lambda: disk.frames_during_stall >= 0, what="the stalled write to end")
    finally:
        assert engine.stop() is True
        unsubscribe()
        closed = queued.close()
        log.removeHandler(handler)
    assert closed is True
    dropped = queued.dropped.get("on_prediction", 0)
    assert dropped >= 1  # 2 queued, 4 or more came while it hung
    assert len(disk.written) + dropped == len(events.predictions)  # stop() waited for what was accepted
    assert said.count("StalledDisk fell 2 events behind (a slow disk?): dropping its prediction events until it "
                      "catches up; they are counted in its `dropped`") == 1
    assert not [t for t in threading.enumerate() if t.name.startswith("slowfast-listener")]


def test_close_waits_for_a_publish_in_flight_and_refuses_later_ones() -> None:
    hub = Hub()
    inside, release, heard = threading.Event(), threading.Event(), []

    class Slow:
        def on_status(self, event) -> None:
            inside.set()
            release.wait(30)
            heard.append(event)

    hub.add(Slow())
    assert hub.open_if(hub.epoch)
    publisher = threading.Thread(target=hub.publish, args=("on_status", "first"))
    publisher.start()
    inside.wait(30)
    closed = threading.Event()
    closer = threading.Thread(target=lambda: (hub.close(), closed.set()))
    closer.start()
    assert not closed.wait(0.3)  # the listener is still running: close waits for it
    assert hub.in_flight == 1
    release.set()
    closer.join(30)
    publisher.join(30)
    assert closed.is_set() and heard == ["first"] and hub.in_flight == 0
    assert hub.publish("on_status", "late") is False and heard == ["first"]


def test_a_listener_may_close_the_hub_from_inside_its_call() -> None:
    """No deadlock: close does not wait for the publish of its own thread (a listener that stops the engine)."""
    hub = Hub()

    class Stopper:
        def on_error(self, event) -> None:
            hub.close()

    hub.add(Stopper())
    hub.open_if(hub.epoch)
    done = threading.Event()
    thread = threading.Thread(target=lambda: (hub.publish("on_error", "fatal"), done.set()))
    thread.start()
    assert done.wait(10)
    thread.join(10)
    assert hub.publish("on_error", "again") is False


def test_queued_listener_refuses_a_capacity_under_one() -> None:
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        QueuedListener(EventLog(), capacity=0)
