"""The real-time engine: source -> capture -> ring buffer -> scheduler -> inference worker -> subscribers.

`Engine` starts and stops the whole chain in one call and switches source or model while running:

    engine = Engine(EngineSettings(stride_s=0.5, topk=5))
    unsubscribe = engine.subscribe(listener)      # on_frame / on_prediction / on_status / on_error, any subset
    engine.start(source, model)                   # opens the source; typed errors raise here
    engine.switch_source(other)                   # the old source runs until the new one opened
    engine.switch_model(model2)                   # built and warmed on the worker thread
    engine.swap_head(taught)                      # same backbone, new classifier and labels: no reload
    engine.update_settings(threshold=0.3)         # live
    engine.stop(timeout=2.0)                      # True when every thread joined

Threads: capture, scheduler, inference worker and a monitor (status about once a second, stall watch, RSS).
Each has a stop flag and is joined with a timeout; an exception in any of them reaches subscribers'
`on_error` as an `EngineError`. Listeners are called on engine threads and must return quickly.

Backend: with backend "auto" a live engine starts on what is ready now and builds the fastest backend on a
background thread ("slowfast-backend-upgrade"), which the worker swaps in between two windows
(slowfast_core.backends.policy); `running_backend()` says what runs and whether that move is still to come.

Modes: live (default, and for every live source): latest-only windows, stale ones dropped. Offline
(`realtime=False` with an unpaced file): every window at the end times of `slowfast predict`, nothing lost.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slowfast_core.backends.base import Cancelled, check_backend, resolve_device
from slowfast_core.backends.policy import plan_start
from slowfast_core.errors import ConfigError
from slowfast_core.model.net import SlowFast
from slowfast_core.stream.metrics import MetricsRecorder
from slowfast_core.stream.scheduler import WindowScheduler
from slowfast_core.stream.smoothing import Smoother, check_smoothing
from slowfast_core.stream.types import EngineError, EngineStatus, FramePacket, Prediction, SourceState
from slowfast_core.stream.worker import InferenceWorker, LatestSlot, LoadedModel, backend_model, load_model
from slowfast_core.video.capture import CaptureThread, buffer_shape
from slowfast_core.video.ringbuffer import RingBuffer
from slowfast_core.video.sources import FrameSource, SourceInfo

logger = logging.getLogger(__name__)

#: settings that `update_settings` applies to a running engine at once
LIVE_SETTINGS = ("stride_s", "stride_frames", "topk", "threshold", "smoothing", "hysteresis")


@dataclass(frozen=True)
class EngineSettings:
    """How the engine runs. stride: seconds between windows (or frames, when stride_frames is set).

    smoothing: predictions averaged (1: none); threshold: below it the label is None ("no confident
    action"); hysteresis: margin against flicker (see stream.smoothing). realtime=False with an unpaced file
    runs every window like `slowfast predict`. stall_timeout_s: a source silent this long is reported
    (None: max(1 s, 8 frames)). reopen_backoff_s: first and longest wait between reopen attempts.
    """

    stride_s: float = 0.5
    topk: int = 5
    threshold: float = 0.2
    smoothing: int = 3
    hysteresis: float = 0.1
    device: str = "auto"
    backend: str = "auto"
    realtime: bool = True
    stride_frames: int | None = None
    warmup_runs: int = 1
    status_interval_s: float = 1.0
    buffer_margin_s: float = 1.0
    stall_timeout_s: float | None = None
    reopen_backoff_s: tuple[float, float] = (0.25, 4.0)
    features: bool = True  # each prediction carries its window's pooled feature (recorded for Teach)

    def __post_init__(self) -> None:
        if not self.stride_s > 0:
            raise ConfigError(f"stride must be positive, got {self.stride_s} s")
        if self.stride_frames is not None and self.stride_frames < 1:
            raise ConfigError(f"stride in frames must be at least 1, got {self.stride_frames}")
        if self.topk < 1:
            raise ConfigError(f"top-k must be at least 1, got {self.topk}")
        check_smoothing(window=self.smoothing, threshold=self.threshold, hysteresis=self.hysteresis)
        if self.warmup_runs < 0:
            raise ConfigError(f"warm-up runs must be >= 0, got {self.warmup_runs}")
        if not self.status_interval_s > 0 or self.buffer_margin_s < 0:
            raise ConfigError("status interval must be positive and buffer margin non-negative")
        low, high = self.reopen_backoff_s
        if not 0 < low <= high:
            raise ConfigError(f"reopen back-off must be 0 < first <= longest, got {self.reopen_backoff_s}")


class _Hub:
    """Subscribers and the dispatch of events to them; a failing listener is logged, never fatal."""

    def __init__(self) -> None:
        self._listeners: tuple[Any, ...] = ()
        self._lock = threading.Lock()
        self._complained: set[tuple[int, str]] = set()

    def add(self, listener: Any) -> Callable[[], None]:
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unsubscribe

    def emit(self, method: str, event: object) -> None:
        for listener in self._listeners:  # a tuple snapshot: subscribing meanwhile is safe
            fn = getattr(listener, method, None)
            if fn is None:
                continue
            try:
                fn(event)
            except Exception:
                key = (id(listener), method)
                if key not in self._complained:  # once per listener and event kind, not 30 times a second
                    self._complained.add(key)
                    logger.warning("listener %r failed in %s", listener, method, exc_info=True)


@dataclass
class _Chain:
    """The per-source part of the engine: its source, buffer, capture and scheduler threads."""

    source: FrameSource
    buffer: RingBuffer
    capture: CaptureThread
    scheduler: WindowScheduler
    generation: int
    geometry_key: tuple[object, int]
    offline: bool
    token: object
    info: SourceInfo
    retired: bool = False


class _Monitor(threading.Thread):
    """Publishes status about once a second, watches for stalled sources, samples memory."""

    def __init__(self, engine: "Engine", interval: float) -> None:
        super().__init__(name="slowfast-monitor", daemon=False)
        self.engine = engine
        self.interval = interval
        self.stop_event = threading.Event()

    def run(self) -> None:
        next_status = time.monotonic()
        while not self.stop_event.wait(min(0.25, self.interval)):
            try:
                self.engine._check_stall()
                now = time.monotonic()
                if now >= next_status:
                    self.engine._recorder.sample_memory()
                    self.engine._publish_status()
                    next_status = now + self.interval
            except Exception as exc:  # reported, and the monitor carries on
                logger.debug("monitor failed", exc_info=True)
                self.engine._emit_error(EngineError("monitor", f"status monitor failed: {exc}", exception=exc))


class Engine:
    """Runs the real-time chain; see the module doc for the API."""

    def __init__(self, settings: EngineSettings | None = None) -> None:
        self._settings = settings or EngineSettings()
        self._hub = _Hub()
        self._recorder = MetricsRecorder()
        self._control = threading.RLock()  # start/stop/switch: one at a time
        self._chain_lock = threading.Lock()  # short sections only: never joins a thread while held
        self._chain: _Chain | None = None
        self._retired: list[dict[str, int]] = []
        self._worker: InferenceWorker | None = None
        self._slot: LatestSlot | None = None
        self._monitor: _Monitor | None = None
        self._model: SlowFast | None = None
        self._smoother: Smoother | None = None
        self._generation = 0
        self._running = False
        self._failed = False
        self._done = threading.Event()
        self._latest_frame: FramePacket | None = None
        self._message = ""
        self._upgrade: tuple[SlowFast, str] | None = None  # (model, faster backend) to move to once it is warm
        self._final: tuple[SlowFast, str] | None = None  # the same, kept until it runs or could not be built
        self._upgrades: list[tuple[threading.Thread, threading.Event]] = []

    # --- subscribers ------------------------------------------------------------------------------------------
    def subscribe(self, listener: Any) -> Callable[[], None]:
        """Add a listener (any of on_frame, on_prediction, on_status, on_error); returns its unsubscribe."""
        return self._hub.add(listener)

    def _emit_error(self, error: EngineError) -> None:
        if error.fatal:
            self._failed = True
            self._message = error.message
            self._done.set()
        logger.debug("engine error in %s: %s", error.where, error.message)
        self._hub.emit("on_error", error)
        if error.fatal:
            self._publish_status()

    # --- lifecycle --------------------------------------------------------------------------------------------
    @property
    def settings(self) -> EngineSettings:
        return self._settings

    @property
    def running(self) -> bool:
        return self._running

    def start(self, source: FrameSource, model: SlowFast) -> None:
        """Open `source` (if not open), build the backend, start every thread. Typed errors raise here."""
        with self._control:
            if self._running:
                raise ConfigError("the engine is already running: stop it first, or switch source or model")
            s = self._settings
            if s.backend == "auto":  # always valid: only the device is checked here (importing every backend
                resolve_device(s.device)  # runtime, e.g. OpenVINO, happens on the worker thread, off the capture path)
            else:
                check_backend(s.backend, s.device)  # a bad request fails here; the worker builds the backend
            opened_here = source.info is None
            if opened_here:
                source.open()
            self._slot = LatestSlot()
            self._generation += 1
            try:
                with self._chain_lock:
                    chain = self._build_chain(source, model, self._generation)
            except BaseException:
                if opened_here:
                    source.close()
                raise
            self._model = model
            self._failed = False
            self._message = "warming up the model"
            self._done.clear()
            self._retired = []
            self._recorder.reset()
            self._smoother = Smoother(model.meta.categories, window=s.smoothing, threshold=s.threshold,
                                      hysteresis=s.hysteresis)
            worker = InferenceWorker(
                self._slot, None, model, backend_name=s.backend, device=s.device, smoother=self._smoother,
                topk=s.topk, warmup_runs=s.warmup_runs,
                on_prediction=self._on_prediction, on_error=self._emit_error, on_ready=self._on_model_ready,
                on_warm=self._on_warm, on_end=self._on_end, features=s.features,
            )
            worker.generation = self._generation
            live = not chain.offline
            worker.planner = lambda m: self._plan(m, live=live)  # on the worker thread: capture starts at once
            self._worker = worker
            with self._chain_lock:
                self._chain = chain
            self._monitor = _Monitor(self, s.status_interval_s)
            self._running = True
            worker.start()  # warms up while the first window fills the buffer
            chain.scheduler.start()
            chain.capture.start()
            self._monitor.start()
        self._publish_status()

    def _build_chain(self, source: FrameSource, model: SlowFast, generation: int) -> _Chain:
        """Buffer, capture and scheduler for `source` (opened), sized for `model`; threads not started."""
        s = self._settings
        info = source.info
        assert info is not None
        short_side = model.meta.preprocessing.short_side
        geometry = model.config.geometry
        offline = not s.realtime and not source.live
        token = object()
        buffer = RingBuffer(
            capacity=RingBuffer.capacity_for(fps=info.fps, window_seconds=geometry.window_seconds,
                                             margin_seconds=s.buffer_margin_s),
            frame_shape=buffer_shape(info.width, info.height, short_side),
        )
        capture = CaptureThread(
            source, buffer=buffer, short_side=short_side, clock="media" if offline else "monotonic",
            on_frame=self._on_frame, on_state=lambda state, msg: self._on_capture_state(token, state, msg),
            on_error=self._emit_error, stall_timeout=s.stall_timeout_s, backoff=s.reopen_backoff_s,
        )
        scheduler = WindowScheduler(
            buffer=buffer, geometry=geometry, slot=self._require(self._slot), fps=info.fps, stride_s=s.stride_s,
            stride_frames=s.stride_frames, mode="every" if offline else "latest",
            generation=generation, on_error=self._emit_error,
        )
        return _Chain(source, buffer, capture, scheduler, generation, (geometry, short_side), offline, token, info)

    @staticmethod
    def _require(value: Any) -> Any:
        if value is None:
            raise ConfigError("the engine is not running: start it first")
        return value

    def switch_source(self, source: FrameSource) -> None:
        """Replace the source while running. The new one is opened first: if that fails, the old one goes on."""
        with self._control:
            self._require(self._running or None)
            if source.info is None:
                source.open()
            with self._chain_lock:
                old = self._chain
                self._generation += 1
                generation = self._generation
                worker = self._require(self._worker)
                worker.generation = generation
                self._require(self._slot).clear()
                chain = self._build_chain(source, self._require(self._model), generation)
                self._chain = chain
            if old is not None:
                self._retire(old, timeout=2.0)
            self._require(self._smoother).reset()
            self._latest_frame = None
            self._failed = False
            self._done.clear()
            chain.scheduler.start()
            chain.capture.start()
        self._publish_status()

    def _retire(self, chain: _Chain, *, timeout: float) -> list[threading.Thread]:
        """Stop a chain's threads and join them; returns those still alive."""
        chain.capture.stop()
        chain.scheduler.stop()
        chain.buffer.close()
        deadline = time.monotonic() + timeout
        for thread in (chain.capture, chain.scheduler):
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        stats = chain.capture.stats()
        chain.retired = True
        self._retired.append({"frames_read": stats.frames_read, "frames_dropped": stats.frames_dropped,
                              "frames_late": stats.frames_late, "windows_cut": chain.scheduler.windows_cut,
                              "windows_stale": chain.scheduler.windows_stale})
        return [t for t in (chain.capture, chain.scheduler) if t.is_alive()]

    def switch_model(self, model: SlowFast) -> None:
        """Replace the model while running: built and warmed on the worker thread; the old one runs meanwhile."""
        with self._control:
            worker = self._require(self._worker if self._running else None)
            if self._chain is not None and self._chain.offline:
                raise ConfigError("an offline file run keeps its model: stop it and start again with the new one")
            worker.request_model(model, backend=self._plan(model, live=True), device=self._settings.device)
            self._message = f"loading {model.config.name}"
        self._publish_status()

    def swap_head(self, model: SlowFast) -> None:
        """Use `model`'s classifier and labels (a taught head on the running backbone) from the next window on:
        no reload, no gap in the video. A model with another backbone is switched to as by `switch_model`."""
        with self._control:
            worker = self._require(self._worker if self._running else None)
            worker.request_head(model)
            self._message = f"using the classifier of {model.meta.weights or model.config.name}"
        self._publish_status()

    def _on_model_ready(self, loaded: LoadedModel) -> None:
        """On the worker thread, once the new model is warm: resize the buffer if the model needs other frames."""
        model = loaded.model
        with self._chain_lock:
            self._model = model
            chain = self._chain
            key = (model.config.geometry, model.meta.preprocessing.short_side)
            if chain is not None and key != chain.geometry_key:
                info = chain.info
                self._generation += 1
                generation = self._generation
                buffer = RingBuffer(
                    capacity=RingBuffer.capacity_for(fps=info.fps, window_seconds=model.config.geometry.window_seconds,
                                                     margin_seconds=self._settings.buffer_margin_s),
                    frame_shape=buffer_shape(info.width, info.height, key[1]),
                )
                old_buffer = chain.buffer
                chain.capture.retarget(buffer, key[1])
                chain.scheduler.retarget(buffer, model.config.geometry, generation)
                self._require(self._worker).generation = generation
                chain.buffer, chain.geometry_key, chain.generation = buffer, key, generation
                old_buffer.close()
        self._message = f"model {model.config.name} ready ({loaded.backend.description})"
        self._publish_status()
        self._start_upgrade(loaded)

    # --- the backend policy: start on what is ready, move to the fastest in the background ----------------------
    def _plan(self, model: SlowFast, *, live: bool) -> str:
        """The backend to build before `model`'s first window; remembers the faster one to move to later
        (slowfast_core.backends.policy). Cancels a background build for a previous model."""
        s = self._settings
        plan = plan_start(backend_model(model, features=s.features), backend=s.backend, device=s.device, live=live)
        self._cancel_upgrades()
        self._upgrade = (model, plan.target) if plan.target else None
        self._final = self._upgrade
        return plan.start

    def _start_upgrade(self, loaded: LoadedModel) -> None:
        """Once `loaded` runs, build the faster backend planned for its model on a background thread."""
        upgrade = self._upgrade
        if upgrade is None or upgrade[0] is not loaded.model or loaded.backend.name == upgrade[1]:
            return
        if not self._running:  # stopping: nothing new starts
            return
        self._upgrade = None  # one attempt per model
        cancel = threading.Event()
        thread = threading.Thread(target=self._build_faster, args=(loaded, upgrade[1], cancel),
                                  name="slowfast-backend-upgrade", daemon=False)
        self._upgrades = [(t, c) for t, c in self._upgrades if t.is_alive()] + [(thread, cancel)]
        thread.start()

    def _build_faster(self, current: LoadedModel, target: str, cancel: threading.Event) -> None:
        """Background thread: convert (cached) and warm `target` for the running model, then hand it to the
        worker, which swaps it in between two windows. Failure: reported, the current backend goes on."""
        if cancel.is_set():
            return
        self._message = f"preparing {target} in the background (predictions go on with {current.backend.name})"
        self._publish_status()
        try:
            faster = load_model(current.model, backend=target, device=self._settings.device,
                                warmup_runs=self._settings.warmup_runs, cancel=cancel, features=self._settings.features)
        except Cancelled:
            return
        except Exception as exc:  # noqa: BLE001 - any failure: say why and stay on the backend that works
            self._final = None
            if not cancel.is_set():
                self._emit_error(EngineError("inference", f"backend {target} could not start ({exc}); staying on "
                                                          f"{current.backend.name}", exception=exc))
            return
        worker = self._worker
        if not cancel.is_set() and worker is not None:
            worker.adopt(faster)

    def running_backend(self) -> tuple[SlowFast | None, str, bool]:
        """(model, backend name, settled) the worker runs now; settled: no faster backend is planned or being
        built for that model (what Auto quality measures is then the final path)."""
        worker = self._worker
        loaded = worker.loaded if worker is not None else None
        if loaded is None:
            return None, "", False
        final = self._final
        settled = final is None or final[0] is not loaded.model or loaded.backend.name == final[1]
        return loaded.model, loaded.backend.name, settled

    def _cancel_upgrades(self) -> None:
        for _thread, cancel in self._upgrades:
            cancel.set()

    def update_settings(self, **changes: Any) -> EngineSettings:
        """Change settings; stride, top-k, threshold, smoothing and hysteresis apply at once, the rest at the
        next start (device and backend: at the next model switch). Returns the new settings."""
        try:
            settings = dataclasses.replace(self._settings, **changes)
        except TypeError as exc:
            raise ConfigError(f"unknown engine setting: {exc}") from None
        self._settings = settings
        if self._smoother is not None:
            self._smoother.configure(window=settings.smoothing, threshold=settings.threshold,
                                     hysteresis=settings.hysteresis)
        if self._worker is not None:
            self._worker.topk = settings.topk
        chain = self._chain
        if chain is not None and ({"stride_s", "stride_frames"} & set(changes)):
            chain.scheduler.set_stride(stride_s=settings.stride_s, stride_frames=settings.stride_frames)
        return settings

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop every thread and join them within `timeout` seconds; True when all have ended."""
        with self._control:
            if not self._running:
                return True
            deadline = time.monotonic() + timeout
            worker, monitor, slot, chain = self._worker, self._monitor, self._slot, self._chain
            if worker is not None:
                worker.stop()
            if slot is not None:
                slot.close()
            if monitor is not None:
                monitor.stop_event.set()
            self._cancel_upgrades()
            self._upgrade = None
            alive: list[threading.Thread] = []
            if chain is not None:
                alive += self._retire(chain, timeout=max(0.0, deadline - time.monotonic()))
            for thread in (worker, monitor, *(t for t, _ in self._upgrades)):
                if thread is not None and thread is not threading.current_thread():
                    thread.join(max(0.0, deadline - time.monotonic()))
                    if thread.is_alive():
                        alive.append(thread)
            self._upgrades = [(t, c) for t, c in self._upgrades if t.is_alive()]
            self._running = False
            self._done.set()
        if alive:
            logger.warning("engine threads still running after %.1f s: %s", timeout, [t.name for t in alive])
        self._publish_status()
        return not alive

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the stream ended and its last window was published, a fatal error, or stop()."""
        return self._done.wait(timeout)

    @property
    def failed(self) -> bool:
        """True after a fatal error in any thread."""
        return self._failed

    # --- events from the threads --------------------------------------------------------------------------------
    def _on_frame(self, packet: FramePacket) -> None:
        self._latest_frame = packet
        self._hub.emit("on_frame", packet)

    def _on_prediction(self, prediction: Prediction) -> None:
        self._recorder.on_prediction(prediction)
        self._hub.emit("on_prediction", prediction)

    def _on_capture_state(self, token: object, state: SourceState, message: str) -> None:
        chain = self._chain
        if chain is None or chain.token is not token:
            return  # a retired source's last words
        if message:
            self._message = message
        if state == "ended":
            chain.scheduler.source_ended()
            chain.buffer.close()  # wakes the scheduler; reads still work
        self._publish_status()

    def _on_warm(self, loaded: LoadedModel) -> None:
        """The first model is warm: windows run from now on."""
        self._message = f"model {loaded.model.config.name} ready ({loaded.backend.description})"
        self._publish_status()
        self._start_upgrade(loaded)

    def _on_end(self) -> None:
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

    def _state(self) -> SourceState:
        if self._failed:
            return "failed"
        chain = self._chain
        if chain is None:
            return "stopped"
        if not self._running:
            return "stopped"
        state = chain.capture.state
        if state == "running" and chain.capture.stats().frames_read == 0:
            return "opening"
        return state

    def status(self) -> EngineStatus:
        """A snapshot for status bars (counters summed over the sources used since start)."""
        chain, worker = self._chain, self._worker
        live = chain is not None and not chain.retired
        cap = chain.capture.stats() if live and chain is not None else None
        loaded = worker.loaded if worker is not None else None
        model = loaded.model if loaded is not None else self._model  # the model still warming up, if any

        def total(key: str, current: int) -> int:
            return sum(r[key] for r in self._retired) + current

        return EngineStatus(
            state=self._state(),
            source=chain.source.name if chain is not None else "",
            width=chain.info.width if chain is not None else 0,
            height=chain.info.height if chain is not None else 0,
            capture_fps=round(cap.fps, 2) if cap is not None else 0.0,
            frames_read=total("frames_read", cap.frames_read if cap else 0),
            frames_dropped=total("frames_dropped", cap.frames_dropped if cap else 0),
            frames_late=total("frames_late", cap.frames_late if cap else 0),
            windows_done=worker.windows_done if worker is not None else 0,
            windows_dropped=total("windows_stale", chain.scheduler.windows_stale if live and chain else 0),
            model=model.config.name if model is not None else "",
            device=loaded.backend.device.type if loaded is not None else "",
            backend=loaded.backend.name if loaded is not None else "",
            inference_ms_p50=self._recorder.inference_p50(),
            end_to_end_ms_p50=self._recorder.end_to_end_p50(),
            message=self._message,
        )

    def _publish_status(self) -> None:
        self._hub.emit("on_status", self.status())

    def metrics(self) -> dict[str, Any]:
        """The issue's metrics: capture fps, drops, late, predictions/s, stale windows, latency p50/p95, RSS."""
        status = self.status()
        chain = self._chain
        out: dict[str, Any] = {
            "source": status.source, "model": status.model, "backend": status.backend, "device": status.device,
            "state": status.state,
        }
        capture_fps = 0.0
        if chain is not None:
            cap = chain.capture.stats()
            if cap.first_arrival is not None and cap.last_arrival is not None and cap.last_arrival > cap.first_arrival:
                capture_fps = (cap.frames_read - 1) / (cap.last_arrival - cap.first_arrival)
            out["source_fps"] = chain.info.fps
            out["ring_buffer_frames"] = chain.buffer.capacity
            out["ring_buffer_mb"] = round(chain.buffer.nbytes / 2**20, 2)
        out.update({
            "capture_fps": round(capture_fps, 2),
            "frames_read": status.frames_read,
            "frames_dropped": status.frames_dropped,
            "frames_late": status.frames_late,
            "windows_done": status.windows_done,
            "windows_dropped_stale": status.windows_dropped,
        })
        out.update(self._recorder.summary())
        return out


__all__ = ["Engine", "EngineSettings"]
