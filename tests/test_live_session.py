"""The live session (slowfast_core.stream.session): wanted state made true on one control thread, with no Qt.

A real engine on the synthetic source with the tiny SlowFast; the session's listener records what it reports.
The window's side (wishes sent while a start is in flight) is in tests/test_app_controllers.py."""

from __future__ import annotations

import sys
import threading

from slowfast_core import create_model
from slowfast_core.stream.engine import Engine, EngineSettings
from slowfast_core.stream.session import LiveSession
from slowfast_core.weights.api import ModelRequest, ready_model

from helpers.events import EventLog
from helpers.waiting import wait_until
from test_engine import no_threads_left  # noqa: F401 - fixture

SMALL = "synthetic:80x60@15"


class Reports:
    """A session listener: what it reported, in order, on whichever thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple] = []

    def _add(self, *event: object) -> None:
        with self.lock:
            self.events.append(event)

    def on_started(self, name: str, spec: str) -> None:
        self._add("started", spec)

    def on_source_switched(self, name: str, spec: str) -> None:
        self._add("source", spec)

    def on_model_switched(self, ready: object) -> None:
        self._add("model", ready)

    def on_people_switched(self, request: object) -> None:
        self._add("people", request)

    def on_failed(self, kind: str, message: str) -> None:
        self._add("failed", kind, message)

    def kinds(self) -> list[str]:
        with self.lock:
            return [e[0] if e[0] != "failed" else f"failed:{e[1]}" for e in self.events]


def tiny():
    return ready_model(create_model("slowfast_tiny", input_size=64), ModelRequest("slowfast_tiny"))


def session_on(engine: Engine) -> tuple[LiveSession, Reports]:
    reports = Reports()
    return LiveSession(engine, listener=reports), reports


def test_a_failed_wish_is_reported_once_and_falls_back_to_what_runs(tmp_path):
    """One error ladder: a start on a missing file fails once (no retry loop) and waits for a new wish; a
    switch to a missing file leaves the running source on, and the wish falls back to it; a per-person wish
    this session cannot build is a "detect" failure and the whole frame goes on."""
    engine = Engine(EngineSettings(backend="torch-eager"))
    session, reports = session_on(engine)
    missing = f"file:{tmp_path / 'gone.mp4'}"
    try:
        model = tiny()
        session.want(missing, model)
        wait_until(lambda: reports.kinds() == ["failed:start"], what="the failed start")
        assert not engine.running and "gone.mp4" in reports.events[0][2]
        session.want_source(SMALL)  # the model wish stands: this starts
        wait_until(lambda: reports.kinds() == ["failed:start", "started"], what="the start")
        assert engine.running and session.spec == SMALL and session.starts == 1
        running = session.source
        session.want_source(missing)
        wait_until(lambda: reports.kinds()[-1] == "failed:source", what="the failed switch")
        assert session.source is running and session.wanted_source == SMALL and engine.running
        session.want_people("who is doing what")  # no builder given: refused
        wait_until(lambda: reports.kinds()[-1] == "failed:detect", what="the refused per-person path")
        assert session.starts == 1 and reports.kinds().count("failed:start") == 1
    finally:
        assert session.close(5.0)
        assert engine.stop()


def test_settings_from_two_threads_end_in_the_snapshot_the_worker_runs():
    """The Settings dialog and Auto quality's stride (or any two threads) change settings at once: every
    snapshot is whole, and the one the engine holds at the end is the one its worker and scheduler run."""
    engine = Engine(EngineSettings(backend="torch-eager", stride_s=0.2, topk=5))
    events = EventLog()
    engine.subscribe(events)
    session, reports = session_on(engine)
    try:
        session.want(SMALL, tiny())
        events.wait_predictions(1)
        go = threading.Barrier(2)

        def change(topks: tuple[int, ...]) -> None:
            go.wait()
            for _ in range(100):
                for k in topks:
                    session.update_settings(topk=k, stride_s=0.1 * k)

        threads = [threading.Thread(target=change, args=(ks,)) for ks in ((1, 2), (3, 4))]
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can: the calls interleave
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        finally:
            sys.setswitchinterval(interval)
        final = session.settings
        assert final.stride_s == 0.1 * final.topk  # whole snapshots: never one thread's top-k with the other's stride
        seen = len(events.predictions)
        events.wait_predictions(seen + 2)
        assert len(events.predictions[-1].topk) == final.topk
    finally:
        assert session.close(5.0)
        assert engine.stop()


def test_no_wish_runs_after_close():
    engine = Engine(EngineSettings(backend="torch-eager"))
    session, reports = session_on(engine)
    assert session.close(5.0) and not session.alive
    session.want(SMALL, tiny())
    assert session.join(1.0) and not engine.running and reports.kinds() == []
