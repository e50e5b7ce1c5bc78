"""`EventLog`: one thread-safe collector for what the engine, the capture thread and the inference worker
report, with waits on its own condition (never a sleep)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from slowfast_core.stream.types import EngineError, EngineStatus, FramePacket, Prediction


class EventLog:
    """Records every event it is given, on any thread, and wakes `wait` on each.

    An `EngineListener` (on_frame/on_prediction/on_status/on_error), and it has the capture thread's
    `on_state` and the rest of the worker's `WorkerListener` (`on_model_ready`, `on_stream_end`) too. Frames are counted and the newest kept;
    `keep_frames=True` keeps them all (tests that check the order of a short run).
    """

    def __init__(self, *, keep_frames: bool = False) -> None:
        self.cond = threading.Condition()
        self.keep_frames = keep_frames
        self.frames = 0
        self.frame_list: list[FramePacket] = []
        self.last_frame: FramePacket | None = None
        self.predictions: list[Prediction] = []
        self.statuses: list[EngineStatus] = []
        self.states: list[tuple[str, str]] = []
        self.errors: list[EngineError] = []
        self.ready: list[object] = []
        self.ended = threading.Event()

    def _add(self, update: Callable[[], None]) -> None:
        with self.cond:
            update()
            self.cond.notify_all()

    # --- engine listener ----------------------------------------------------------------------------------
    def on_frame(self, frame: FramePacket) -> None:
        def update() -> None:
            self.frames += 1
            self.last_frame = frame
            if self.keep_frames:
                self.frame_list.append(frame)

        self._add(update)

    def on_prediction(self, prediction: Prediction) -> None:
        self._add(lambda: self.predictions.append(prediction))

    def on_status(self, status: EngineStatus) -> None:
        self._add(lambda: self.statuses.append(status))

    def on_error(self, error: EngineError) -> None:
        self._add(lambda: self.errors.append(error))

    # --- capture thread and worker callbacks --------------------------------------------------------------
    def on_state(self, state: str, message: str) -> None:
        self._add(lambda: self.states.append((state, message)))

    def on_model_ready(self, warm: object) -> None:
        self._add(lambda: self.ready.append(warm))

    def on_stream_end(self) -> None:
        self._add(self.ended.set)

    # --- waiting ------------------------------------------------------------------------------------------
    def wait(self, predicate: Callable[[], object], timeout: float = 60.0, what: str = "the engine") -> None:
        """Block until `predicate()` holds (checked under the lock at every event); fail after `timeout` s."""
        with self.cond:
            assert self.cond.wait_for(predicate, timeout), f"timed out after {timeout:.0f} s waiting for {what}"

    def wait_frames(self, n: int, timeout: float = 60.0) -> None:
        self.wait(lambda: self.frames >= n, timeout, f"{n} frames (got {self.frames})")

    def wait_predictions(self, n: int, timeout: float = 60.0) -> None:
        self.wait(lambda: len(self.predictions) >= n, timeout, f"{n} predictions (got {len(self.predictions)})")
