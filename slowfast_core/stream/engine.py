"""The real-time engine: source -> capture -> ring buffer -> scheduler -> inference worker -> subscribers.

`Engine` starts and stops the whole chain in one call and switches source or model while running:

    engine = Engine(EngineSettings(stride_s=0.5, topk=5))
    unsubscribe = engine.subscribe(listener)      # an EngineListener: on_frame / on_prediction / on_status / on_error
    engine.start(source, model, preprocessing=p)  # opens the source; typed errors raise here (p: None = model's own)
    engine.switch_source(other)                   # the new chain is built first; on failure the old one goes on
    engine.switch_model(model2, preprocessing=p)  # built and warmed on the worker thread
    engine.swap_head(taught)                      # same backbone, new classifier and labels: no reload
    engine.update_settings(threshold=0.3)         # live
    engine.stop(timeout=2.0)                      # True when every thread joined; bounded in every case
    engine.close()                                # stop for good: a later start() is refused

Where the parts live: the chain (buffer, capture, scheduler; built and resized in one place) in
`stream.chain`, the worker and its latest-only slot in `stream.worker`, the listener hub in `stream.hub`,
the background backend move in `stream.upgrade`, status and metrics in `stream.status`. The engine is the
facade that owns them; it is the chain's and the worker's one listener (`_Events`).

Threads: capture, scheduler, inference worker and a monitor (status about once a second, stall watch, RSS).
Each has a stop flag and is joined with a timeout; an exception in any of them reaches subscribers'
`on_error` as an `EngineError`. Listeners are called on engine threads and must return quickly. Nothing is
published after `stop()` returns (the hub's gate), even by a thread whose join timed out; a stop that finds a
start or switch opening a source does not wait for it: that call ends the engine when it is done.

Backend: with backend "auto" a live engine starts on what is ready now and builds the fastest backend on a
background thread ("slowfast-backend-upgrade"), which the worker swaps in between two windows
(slowfast_core.backends.policy); `running_backend()` says what runs and whether that move is still to come.

Modes: live (default, and for every live source): latest-only windows, stale ones dropped. Offline
(`realtime=False` with an unpaced file): every window at the end times of `slowfast predict`, nothing lost.

About 440 lines: the facade's lifecycle (start, switch, stop with their failure paths) reads best in one place.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from slowfast_core.backends.base import check_backend, resolve_device
from slowfast_core.errors import ConfigError
from slowfast_core.model.identity import FeatureIdentity
from slowfast_core.model.net import SlowFast
from slowfast_core.spec import ClipGeometry, Preprocessing
from slowfast_core.stream.chain import Chain, ChainOptions, RetiredCounts
from slowfast_core.stream.hub import Hub
from slowfast_core.stream.queued import QueuedListener
from slowfast_core.stream.metrics import MetricsRecorder
from slowfast_core.stream.settings import EngineSettings
from slowfast_core.stream.smoothing import Smoother
from slowfast_core.stream.status import Monitor, engine_metrics, engine_status, source_state
from slowfast_core.stream.types import (EngineError, EngineListener, EngineStatus, FramePacket, Prediction,
                                        SourceState)
from slowfast_core.stream.upgrade import BackendUpgrade
from slowfast_core.stream.warm import WarmModel
from slowfast_core.stream.worker import InferenceWorker, LatestSlot, WorkerOptions
from slowfast_core.video.sources import FrameSource

logger = logging.getLogger(__name__)

class RunningBackend(NamedTuple):
    """`Engine.running_backend()`: what runs now (None, None, "", False before the first model is warm)."""

    model: SlowFast | None
    preprocessing: Preprocessing | None
    backend: str
    settled: bool
    identity: FeatureIdentity | None = None  # the warm backbone's (None: features off, or nothing warm)


class _Events:
    """The engine as its chains' and worker's one listener (`ChainEvents`, `WorkerListener`)."""

    def __init__(self, engine: "Engine") -> None:
        self._engine = engine

    def on_frame(self, frame: FramePacket) -> None:
        self._engine._on_frame(frame)

    def on_source_state(self, chain: Chain, state: SourceState, message: str) -> None:
        self._engine._on_source_state(chain, state, message)

    def on_error(self, error: EngineError) -> None:
        self._engine._emit_error(error)

    def on_prediction(self, prediction: Prediction) -> None:
        self._engine._on_prediction(prediction)

    def on_model_ready(self, warm: WarmModel) -> None:
        self._engine._on_model_ready(warm)

    def on_stream_end(self) -> None:
        self._engine._on_stream_end()


class Engine:
    """Runs the real-time chain; see the module doc for the API."""

    def __init__(self, settings: EngineSettings | None = None) -> None:
        self._settings = settings or EngineSettings()  # an immutable snapshot, swapped whole
        self._settings_lock = threading.Lock()  # one update_settings at a time: none is lost
        self._hub = Hub()
        self._queued: tuple[QueuedListener, ...] = ()  # listeners behind their own queues (subscribe(queued=))
        self._events = _Events(self)
        self._recorder = MetricsRecorder()
        self._control = threading.RLock()  # start/stop/switch: one at a time
        self._chain_lock = threading.Lock()  # short sections only: never joins a thread while held
        self._chain: Chain | None = None
        self._retired: list[RetiredCounts] = []
        self._worker: InferenceWorker | None = None
        self._slot: LatestSlot | None = None
        self._monitor: Monitor | None = None
        self._model: SlowFast | None = None  # the model the buffer is sized for, with its preprocessing
        self._prep: Preprocessing | None = None
        self._smoother: Smoother | None = None
        self._generation = 0
        self._running = False
        self._closed = False  # set by close(): no start from then on
        self._failed = False
        self._done = threading.Event()
        self._latest_frame: FramePacket | None = None
        self._message = ""
        self._upgrade = BackendUpgrade(
            device=lambda: self._settings.device, warmup_runs=lambda: self._settings.warmup_runs,
            features=lambda: self._settings.features, on_error=self._emit_error, on_message=self._say)

    # --- subscribers ------------------------------------------------------------------------------------------
    def subscribe(self, listener: EngineListener, *, queued: int = 0) -> Callable[[], None]:
        """Add a listener (any of on_frame, on_prediction, on_status, on_error); returns its unsubscribe.

        Listeners run on the engine's threads, so they must return quickly. `queued`: a listener that writes a
        file for each prediction gets a queue of that many predictions and a thread of its own
        (`QueuedListener`: a stalled disk delays only it; what a full queue drops is counted and logged); its
        unsubscribe then waits for what it accepted. `stop` waits for every `QueuedListener` subscribed (also
        one the caller made, and closes itself after unsubscribing), so nothing reaches one after it returns."""
        wrapped = QueuedListener(listener, capacity=queued) if queued else listener
        remove = self._hub.add(wrapped)
        if not isinstance(wrapped, QueuedListener):
            return remove
        with self._chain_lock:
            self._queued = (*self._queued, wrapped)

        def unsubscribe() -> None:
            remove()
            with self._chain_lock:
                self._queued = tuple(q for q in self._queued if q is not wrapped)
            if wrapped is not listener and not wrapped.close():
                logger.warning("%s still writing after 10 s: it finishes on its own", type(listener).__name__)

        return unsubscribe

    def _emit_error(self, error: EngineError) -> None:
        if error.fatal:
            self._failed = True
            self._message = error.message
            self._done.set()
        logger.debug("engine error in %s: %s", error.where, error.message)
        if self._hub.publish("on_error", error) and error.fatal:
            self._publish_status()

    def _say(self, message: str) -> None:
        self._message = message
        self._publish_status()

    # --- lifecycle --------------------------------------------------------------------------------------------
    @property
    def settings(self) -> EngineSettings:
        return self._settings

    @property
    def running(self) -> bool:
        return self._running

    def _chain_options(self, source: FrameSource) -> ChainOptions:
        s = self._settings
        return ChainOptions(stride_s=s.stride_s, stride_frames=s.stride_frames, buffer_margin_s=s.buffer_margin_s,
                            stall_timeout_s=s.stall_timeout_s, reopen_backoff_s=s.reopen_backoff_s,
                            offline=not s.realtime and not source.live, partial_windows=s.partial_windows)

    def _new_chain(self, source: FrameSource, geometry: ClipGeometry, short_side: int, slot: LatestSlot, *,
                   opened_here: bool) -> Chain:
        """The chain for `source` (not started); a failure closes the source when this call's caller opened it."""
        try:
            return Chain(source, geometry=geometry, short_side=short_side, slot=slot,
                         generation=self._generation + 1, options=self._chain_options(source), events=self._events)
        except BaseException:
            if opened_here:
                source.close()
            raise

    def start(self, source: FrameSource, model: SlowFast, *, preprocessing: Preprocessing | None = None,
              people: Any = None) -> None:
        """Open `source` (if not open), build the backend, start every thread. Typed errors raise here.

        preprocessing: what windows get (None: the model's own), e.g. another input short side. people: a
        `detect.people.PeopleStep`: every window goes the per-person way (who is doing what) instead."""
        epoch = self._hub.epoch  # a stop() from now on wins over this start
        if self._closed:  # read after the epoch: a close() from now on is caught by the epoch instead
            raise ConfigError("the engine was closed (its window closed): make a new Engine to start again")
        with self._control:
            if self._running:
                raise ConfigError("the engine is already running: stop it first, or switch source or model")
            s = self._settings
            if s.backend == "auto":  # always valid: only the device is checked here (importing every backend
                resolve_device(s.device)  # runtime, e.g. OpenVINO, happens on the worker thread, off the capture path)
            else:
                check_backend(s.backend, s.device)  # a bad request fails here; the worker builds the backend
            prep = preprocessing or model.meta.preprocessing
            opened_here = source.info is None
            if opened_here:
                source.open()
            slot: LatestSlot = LatestSlot()
            chain = self._new_chain(source, model.config.geometry, prep.short_side, slot, opened_here=opened_here)
            if not self._hub.open_if(epoch):  # stopped while opening the source
                if opened_here:
                    source.close()
                return
            self._generation += 1
            self._slot, self._model, self._prep = slot, model, prep
            self._failed = False
            self._message = "warming up the model"
            self._done.clear()
            self._retired = []
            self._recorder.reset()
            self._smoother = Smoother(model.meta.categories, window=s.smoothing, threshold=s.threshold,
                                      hysteresis=s.hysteresis)
            live = not chain.offline
            worker = InferenceWorker(
                slot, self._events, model, smoother=self._smoother, preprocessing=prep,
                options=WorkerOptions(backend=s.backend, device=s.device, topk=s.topk, warmup_runs=s.warmup_runs,
                                      features=s.features),
                planner=lambda m: self._upgrade.plan(m, backend=self._settings.backend, live=live), people=people,
            )  # the planner runs on the worker thread: capture starts at once
            worker.expect_generation(self._generation)
            with self._settings_lock:  # an update_settings made since `s` was read reaches this worker too
                self._worker = worker
                with self._chain_lock:
                    self._chain = chain
                if self._settings is not s:
                    self._hand_over(self._settings)
            self._monitor = Monitor(interval=s.status_interval_s, check=self._check_stall, tick=self._tick,
                                    on_error=self._emit_error)
            self._running = True
            worker.start()  # warms up while the first window fills the buffer
            chain.start()
            self._monitor.start()
            self._stop_if_stopped_since(epoch)
        self._publish_status()

    @staticmethod
    def _require(value: Any) -> Any:
        if value is None:
            raise ConfigError("the engine is not running: start it first")
        return value

    def switch_source(self, source: FrameSource) -> None:
        """Replace the source while running. The new one is opened and its chain built first: if either fails,
        the old source goes on untouched and the new one is closed."""
        epoch = self._hub.epoch
        self._require(self._running or None)
        opened_here = source.info is None
        if opened_here:
            source.open()  # before taking the control lock: a camera takes a second to open
        with self._control:
            try:
                self._require(self._running or None)
                self._require(self._hub.epoch == epoch or None)  # stopped meanwhile
                with self._chain_lock:
                    geometry, short_side = self._require(self._chain).geometry, self._require(self._chain).short_side
                slot = self._require(self._slot)
            except BaseException:
                if opened_here:
                    source.close()
                raise
            chain = self._new_chain(source, geometry, short_side, slot, opened_here=opened_here)
            worker = self._require(self._worker)
            with self._settings_lock, self._chain_lock:  # built: now switch (nothing below can fail half-way)
                old = self._chain
                self._generation += 1
                worker.expect_generation(self._generation)
                self._require(self._slot).clear()
                if old is not None and not old.fits(chain.geometry, chain.short_side):  # a model became ready
                    chain.resize(old.geometry, old.short_side, self._generation)  # while this one was built
                chain.generation = self._generation
                self._chain = chain
                s = self._settings  # a stride changed while the chain was built applies to it
                chain.scheduler.set_stride(stride_s=s.stride_s, stride_frames=s.stride_frames)
            if old is not None:
                alive = old.retire(timeout=2.0)
                self._retired.append(old.counts())
                if alive:
                    logger.warning("the old source's threads are still running: %s", [t.name for t in alive])
            self._require(self._smoother).reset()
            self._latest_frame = None
            self._failed = False
            self._done.clear()
            chain.start()
            self._stop_if_stopped_since(epoch)
        self._publish_status()

    def _stop_if_stopped_since(self, epoch: int) -> None:
        """A stop() that could not wait for this start or switch (it held `_control`) is carried out now."""
        if self._hub.epoch != epoch and self._running:
            alive = self._stop_threads(time.monotonic() + 2.0)
            if alive:
                logger.warning("engine threads still running after a deferred stop: %s", [t.name for t in alive])

    def switch_model(self, model: SlowFast, *, preprocessing: Preprocessing | None = None,
                     applied: Callable[[], None] | None = None) -> None:
        """Replace the model while running: built and warmed on the worker thread; the old one runs meanwhile.
        preprocessing: what windows get (None: the model's own). applied: called (on the worker thread) once the
        new model runs; never for a switch that failed (an `on_error`) or that a later one replaced."""
        with self._control:
            worker = self._require(self._worker if self._running else None)
            if self._chain is not None and self._chain.offline:
                raise ConfigError("an offline file run keeps its model: stop it and start again with the new one")
            backend = self._upgrade.plan(model, backend=self._settings.backend, live=True)
            worker.request_model(model, preprocessing=preprocessing, backend=backend, device=self._settings.device,
                                 applied=applied)
            self._message = f"loading {model.config.name}"
        self._publish_status()

    def set_people(self, people: Any) -> None:
        """Switch the running engine to the per-person path (a `detect.people.PeopleStep`: detector, RoI head,
        tracker) or back to the whole frame (None), from the next window on; the source and the model stay."""
        with self._control:
            worker = self._require(self._worker if self._running else None)
            replaced = worker.people
            worker.set_people(people)
            self._message = ("who is doing what: " + people.detector.name) if people is not None else \
                f"model {self._model.config.name if self._model is not None else ''}: the whole frame"
        self._publish_status()
        if replaced is not None and replaced is not people:
            replaced.detector.close()  # its background conversion (if any) is of no use now: stop it

    def swap_head(self, model: SlowFast, *, applied: Callable[[], None] | None = None,
                  identity: FeatureIdentity | None = None) -> None:
        """Use `model`'s classifier and labels (a taught head on the running backbone) from the next window on:
        no reload, no gap in the video. A model with another backbone is switched to as by `switch_model` (at
        the input size running now). applied: as for `switch_model`. identity: the backbone `model`'s classifier
        was fitted on, when known (a taught head file says): then nothing is hashed to compare."""
        with self._control:
            worker = self._require(self._worker if self._running else None)
            worker.request_head(model, applied=applied, identity=identity)
            self._message = f"using the classifier of {model.meta.weights or model.config.name}"
        self._publish_status()

    def _on_model_ready(self, warm: WarmModel) -> None:
        """On the worker thread, once a model is warm: resize the chain if the model needs other frames."""
        model = warm.model
        with self._chain_lock:
            self._model, self._prep = model, warm.preprocessing
            chain = self._chain
            geometry, short_side = model.config.geometry, warm.preprocessing.short_side
            if chain is not None and not chain.fits(geometry, short_side):
                self._generation += 1
                chain.resize(geometry, short_side, self._generation)
                self._require(self._worker).expect_generation(self._generation)
        self._message = f"model {model.config.name} ready ({warm.backend.description})"
        self._publish_status()
        worker = self._worker
        if self._running and worker is not None:  # stopping: nothing new starts
            self._upgrade.start(warm, worker)

    def running_backend(self) -> RunningBackend:
        """What the worker runs now: model, its preprocessing, backend name, and whether it is settled (no
        faster backend is planned or being built for that model: what Auto quality measures is the final path)."""
        worker = self._worker
        warm = worker.warm if worker is not None else None
        if warm is None:
            return RunningBackend(None, None, "", False)
        return RunningBackend(warm.model, warm.preprocessing, warm.backend.name, self._upgrade.settled(warm),
                              warm.identity)

    def update_settings(self, **changes: Any) -> EngineSettings:
        """Change settings; stride, top-k, threshold, smoothing and hysteresis apply from the next window, the
        rest at the next start (device and backend: at the next model switch). Returns the new settings.

        Settings are one immutable snapshot, validated whole and swapped whole (under a lock); the worker's
        part is handed to it and applied on its own thread (it owns top-k and the smoother), never written
        into it from here."""
        with self._settings_lock:  # swapped and handed over in one step: the last snapshot is the one running
            try:
                settings = dataclasses.replace(self._settings, **changes)
            except TypeError as exc:
                raise ConfigError(f"unknown engine setting: {exc}") from None
            self._settings = settings
            self._hand_over(settings)
        return settings

    def _hand_over(self, settings: EngineSettings) -> None:
        """Give `settings` to the running worker (applied on its thread) and stride to the scheduler. Called
        with `_settings_lock` held, so two snapshots are never handed over in the other order."""
        worker = self._worker
        if worker is not None:
            worker.apply_settings(settings)
        chain = self._chain
        if chain is not None:
            chain.scheduler.set_stride(stride_s=settings.stride_s, stride_frames=settings.stride_frames)

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop every thread and join them within `timeout` seconds; True when all have ended.

        Bounded even while a start or switch holds the engine (a camera opening): then nothing is published
        from now on, that call stops the engine when it is done, and False is returned. Nothing is published
        after stop returns, even by a thread whose join timed out."""
        deadline = time.monotonic() + timeout
        if not self._control.acquire(timeout=timeout):
            self._hub.close()  # the start or switch in progress sees the stop and ends the engine
            logger.warning("engine busy (opening a source?) after %.1f s: it stops when that is done", timeout)
            return False
        try:
            if not self._running:
                self._hub.close()
                return True
            alive = self._stop_threads(deadline)
        finally:
            self._control.release()
        self._hub.close()
        for listener in self._queued:  # what they accepted reaches them before stop returns (bounded)
            listener.drain(max(0.0, deadline - time.monotonic()))
        if alive:
            logger.warning("engine threads still running after %.1f s: %s", timeout, [t.name for t in alive])
        self._hub.emit("on_status", self.status())  # the last word, after the gate closed
        return not alive

    def close(self, timeout: float = 2.0) -> bool:
        """Stop for good: like stop(), and every later start() is refused (a ConfigError), so that a start
        requested before a window closed but arriving after it cannot bring engine threads back."""
        self._closed = True
        stopped = self.stop(timeout)
        return stopped

    def _stop_threads(self, deadline: float) -> list[threading.Thread]:
        """Stop and join every thread until `deadline`; returns those still alive. Holds `_control`."""
        worker, monitor, slot, chain = self._worker, self._monitor, self._slot, self._chain
        if worker is not None:
            worker.stop()
        if slot is not None:
            slot.close()
        if monitor is not None:
            monitor.stop_event.set()
        self._upgrade.cancel()
        alive: list[threading.Thread] = []
        if chain is not None:
            alive += chain.retire(timeout=max(0.0, deadline - time.monotonic()))
            self._retired.append(chain.counts())
        for thread in (worker, monitor, *self._upgrade.threads()):
            if thread is not None and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    alive.append(thread)
        if worker is not None and worker.people is not None:  # a later start builds its own step
            worker.people.detector.close(timeout=max(0.0, deadline - time.monotonic()))
        self._upgrade.forget_ended()
        self._running = False
        self._done.set()
        return alive

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the stream ended and its last window was published, a fatal error, or stop()."""
        return self._done.wait(timeout)

    @property
    def failed(self) -> bool:
        """True after a fatal error in any thread."""
        return self._failed

    # --- events from the threads (through `_Events`) ------------------------------------------------------------
    def _on_frame(self, packet: FramePacket) -> None:
        if self._hub.publish("on_frame", packet):
            self._latest_frame = packet

    def _on_prediction(self, prediction: Prediction) -> None:
        self._hub.publish("on_prediction", prediction, before=lambda: self._recorder.on_prediction(prediction))

    def _on_source_state(self, chain: Chain, state: SourceState, message: str) -> None:
        if self._chain is not chain:
            return  # a retired source's last words
        if message:
            self._message = message
        if state == "ended":
            chain.scheduler.source_ended()
            chain.buffer.close()  # wakes the scheduler; reads still work
        self._publish_status()

    def _on_stream_end(self) -> None:
        """The worker handled the last window of a stream that ended."""
        self._message = "end of stream"
        self._done.set()
        self._publish_status()

    def _check_stall(self) -> None:
        chain = self._chain
        if chain is not None and chain.capture.is_alive():
            chain.capture.check_stall()

    # --- status and metrics -----------------------------------------------------------------------------------
    def latest_frame(self) -> FramePacket | None:
        """The newest captured frame (full resolution), None before the first."""
        return self._latest_frame

    def status(self) -> EngineStatus:
        """A snapshot for status bars (counters summed over the sources used since start)."""
        chain = self._chain
        state = source_state(chain, running=self._running, failed=self._failed)
        return engine_status(chain=chain, worker=self._worker, retired=self._retired, state=state,
                             model=self._model, recorder=self._recorder, message=self._message)

    def _publish_status(self) -> None:
        self._hub.publish("on_status", self.status())

    def _tick(self) -> None:
        """The monitor's second: a memory sample and a status."""
        self._recorder.sample_memory()
        self._publish_status()

    def metrics(self) -> dict[str, Any]:
        """The issue's metrics (see `stream.status.engine_metrics`), for `--metrics` and benchmarks."""
        return engine_metrics(self.status(), self._chain, self._recorder)


__all__ = ["Engine", "EngineSettings", "RunningBackend"]
