"""The inference worker: one thread that owns the model's backend, and the latest-only slot that feeds it.

`LatestSlot` holds at most one window. The scheduler puts, the worker takes; a put while a window is still
waiting replaces it (the replaced one went stale: the caller counts it), so nothing ever queues. Offline,
the scheduler uses a blocking put instead and every window runs.

`InferenceWorker` warms the backend up before the first real window (lazy initialisation is not timed),
normalises each window it actually runs (`pathway_tensors`, once), runs it under the backend's
`torch.inference_mode()`, smooths the probabilities and hands a `Prediction` with its timings to its one
listener (`WorkerListener`: predictions, errors, model ready, end of stream; the engine).
The backend runs the model without its classifier (the pooled feature, 2304 values for R50) and the worker
applies the linear classifier itself (~0.1 ms): each prediction carries its feature for the session recorder
(Teach learns from them), and `request_head` swaps in a taught classifier between two windows.
Windows of an older generation (another source or buffer: `expect_generation`) are not run. A failing window
is reported; three failures in a row stop the worker (fatal). A model switch
builds and warms the new backend on this thread, so capture and display never wait for it. The worker's stop
flag is the backends' cancel event: `stop()` kills an OpenVINO conversion (a child process) and cancels an
OpenVINO request in flight at once; a backend that could not start is reported (non-fatal) with its reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from slowfast_core.backends.base import Cancelled, InferenceBackend
from slowfast_core.errors import SlowFastError
from slowfast_core.model.identity import FeatureIdentity
from slowfast_core.model.net import SlowFast
from slowfast_core.records import probabilities, top_k
from slowfast_core.spec import Preprocessing
from slowfast_core.stream.settings import EngineSettings
from slowfast_core.stream.smoothing import Smoother
from slowfast_core.stream.types import EngineError, Prediction, Timings
from slowfast_core.stream.warm import WarmModel, warm_inputs, warm_model, with_head

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: handed over by the scheduler after the last window of a stream that ended
END_OF_STREAM = object()

#: consecutive failing windows after which the worker gives up
MAX_FAILURES = 3


class LatestSlot(Generic[T]):
    """A one-item hand-over with a condition: put replaces, take waits. No queue, no busy wait.

    `replaced` counts items that were replaced before anyone took them (they went stale): the scheduler adds
    the change across its own put to its stale-window count.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._full = False
        self._waiting = 0
        self._closed = False
        self._wake = False
        self.replaced = 0

    def put(self, item: T, *, block: bool = False, timeout: float | None = None) -> bool:
        """Store `item`; True when it was delivered (stored for the taker), False when the slot is closed or a
        blocking put (`block=True`: wait until the slot is empty) timed out after `timeout` seconds.
        A non-blocking put replaces a waiting item (which went stale: `replaced` counts it)."""
        with self._cond:
            if block and not self._cond.wait_for(lambda: self._closed or not self._full, timeout):
                return False
            if self._closed:
                return False
            if self._full:
                self.replaced += 1
            self._item, self._full = item, True
            self._cond.notify_all()
            return True

    def take(self, timeout: float | None = None) -> Any:
        """Wait for an item and remove it; None on timeout, close or `wake()`."""
        with self._cond:
            self._waiting += 1
            try:
                self._cond.wait_for(lambda: self._full or self._closed or self._wake, timeout)
                self._wake = False
                if not self._full:
                    return None
                item, self._item, self._full = self._item, None, False
                self._cond.notify_all()
                return item
            finally:
                self._waiting -= 1

    def clear(self) -> Any:
        """Remove and return a waiting item (None if empty)."""
        with self._cond:
            item = self._item if self._full else None
            self._item, self._full = None, False
            self._cond.notify_all()
            return item

    def wake(self) -> None:
        """Make a blocked `take` return None once (the worker has something else to do)."""
        with self._cond:
            self._wake = True
            self._cond.notify_all()

    def close(self) -> None:
        """Wake everyone; later puts are ignored and takes return None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def consumer_waiting(self) -> bool:
        """True while a consumer is blocked in `take` with the slot empty: it would start on a put at once."""
        with self._cond:
            return self._waiting > 0 and not self._full

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed


class WorkerListener(Protocol):
    """What the worker reports, on its own thread (the engine implements it; tests record it)."""

    def on_prediction(self, prediction: Prediction) -> None:
        """A window's prediction (only for windows of the current generation)."""

    def on_error(self, error: EngineError) -> None:
        """A failing window, a backend that could not start, or (fatal) the worker gave up."""

    def on_model_ready(self, warm: WarmModel) -> None:
        """`warm` runs from the next window on: the first model once warm, a switched model, a taught head, a
        faster backend for the same model."""

    def on_stream_end(self) -> None:
        """The last window of a stream that ended was handled."""


@dataclass(frozen=True)
class WorkerOptions:
    """How the worker builds and runs backends. backend/device: the request for the first model (`planner`, when
    given, decides the backend on the worker thread instead); features: see `warm_model`."""

    backend: str = "auto"
    device: str = "auto"
    topk: int = 5
    warmup_runs: int = 1
    features: bool = True


#: called on the worker thread once a requested model or head runs (the windows after it use it)
Applied = Callable[[], None]


def _tell(applied: Applied | None) -> None:
    """Call a request's `applied`; its failure (a window already gone) is logged, never the worker's."""
    if applied is None:
        return
    try:
        applied()
    except Exception:  # noqa: BLE001 - the model runs whatever the caller's callback does
        logger.warning("a model switch's applied() callback failed", exc_info=True)


@dataclass(frozen=True)
class _WarmRequest:
    """What the worker is asked to build and warm next (not a `weights.api.ModelRequest`: that one names
    weights to load; this one holds a loaded model)."""

    model: SlowFast
    preprocessing: Preprocessing
    backend: str
    device: str
    applied: Applied | None = None


def window_timings(window: Any, started: float, prepared: float, inferred: float, published: float) -> Timings:
    """A window's timings (ms) from the monotonic times its run started, its inputs were ready, inference ended and
    its prediction was published: waiting, cutting + preparing, inference, and end to end from its newest frame."""
    return Timings(
        waited_ms=(started - window.created) * 1000.0,
        prepared_ms=window.cut_ms + (prepared - started) * 1000.0,
        inferred_ms=(inferred - prepared) * 1000.0,
        end_to_end_ms=(published - window.last_arrival) * 1000.0,
    )


class InferenceWorker(threading.Thread):
    """Takes windows from `slot`, runs them, reports to one `listener` (see module doc).

    The first model is built on this thread before its first window (`planner(model)` -> backend request, e.g.
    the start-up policy), so the caller (GUI thread, engine start) never waits for a slow conversion such as
    OpenVINO's. `backend`: an already built backend for `model` (tests, benchmarks) instead.
    """

    def __init__(self, slot: LatestSlot, listener: WorkerListener, model: SlowFast, *, smoother: Smoother,
                 preprocessing: Preprocessing | None = None, options: WorkerOptions = WorkerOptions(),
                 backend: InferenceBackend | None = None,
                 planner: Callable[[SlowFast], str] | None = None, people: Any = None) -> None:
        super().__init__(name="slowfast-inference", daemon=False)
        self.people = people  # a detect.people.PeopleStep: each window goes the per-person way (`_run_people`)
        self.slot = slot
        self.smoother = smoother
        self.options = options
        self.topk = options.topk  # this thread's; `apply_settings` hands new values over
        self._new_settings: EngineSettings | None = None
        self._listener = listener
        self._planner = planner
        prep = preprocessing or model.meta.preprocessing
        self._first = _WarmRequest(model, prep, options.backend, options.device)
        self._warm: WarmModel | None = WarmModel(model, backend, prep) if backend is not None else None
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._generation = 0
        self._pending: _WarmRequest | None = None
        self._adopt: WarmModel | None = None  # a faster backend for the running model, built elsewhere
        self._pending_head: tuple[SlowFast, Applied | None, FeatureIdentity | None] | None = None
        self.windows_done = 0

    @property
    def warm(self) -> WarmModel | None:
        """The model and its warm backend; None until the worker has built the backend it was asked for."""
        with self._lock:
            return self._warm

    def expect_generation(self, generation: int) -> None:
        """Run only windows of `generation` from now on (a new chain: source or buffer changed); older windows
        still in flight are discarded, never published."""
        with self._lock:
            self._generation = generation

    def stop(self) -> None:
        """End soon: a backend set-up (OpenVINO's conversion) or an OpenVINO inference in flight is abandoned at
        once; a torch inference in flight cannot be interrupted and ends first. Nothing is published after."""
        self._stop_event.set()
        self.slot.wake()

    def request_model(self, model: SlowFast, *, preprocessing: Preprocessing | None = None, backend: str = "auto",
                      device: str = "auto", applied: Applied | None = None) -> None:
        """Switch to `model` as soon as the current window is done; the old one runs until the new one is warm.
        `applied()` is called (on this worker's thread) once it runs; a switch that fails is an `on_error`, and
        one replaced by a later request before it ran is never applied."""
        with self._lock:
            self._pending = _WarmRequest(model, preprocessing or model.meta.preprocessing, backend, device, applied)
        self.slot.wake()

    def adopt(self, warm: WarmModel) -> None:
        """Run `warm` (a warm, faster backend for the model running now, built on another thread) from the
        next window on. Ignored if the model changed meanwhile. The swap happens between two windows: no
        window waits for it and no prediction is skipped."""
        with self._lock:
            self._adopt = warm
        self.slot.wake()

    def apply_settings(self, settings: EngineSettings) -> None:
        """Use `settings`' top-k, smoothing, threshold and hysteresis from the next window on. Safe from any
        thread: the snapshot is handed over under the lock and applied by this worker's own thread."""
        with self._lock:
            self._new_settings = settings
        self.slot.wake()

    def _take_settings(self) -> None:
        """Apply settings handed over by `apply_settings` (this thread only: it owns top-k and the smoother)."""
        with self._lock:
            settings, self._new_settings = self._new_settings, None
        if settings is not None:
            self.topk = settings.topk
            self.smoother.configure(window=settings.smoothing, threshold=settings.threshold,
                                    hysteresis=settings.hysteresis)

    def request_head(self, model: SlowFast, *, applied: Applied | None = None,
                     identity: FeatureIdentity | None = None) -> None:
        """Use `model`'s classifier and labels from the next window on, keeping the running backbone and backend
        (no reload, no gap). When `model`'s backbone differs from the running one, it is loaded as a new model,
        at the input size running now. `applied`: as for `request_model`. identity: the backbone the head was
        fitted on, when known (a taught head file): compared with the running one, nothing hashed."""
        with self._lock:
            self._pending_head = (model, applied, identity)
        self.slot.wake()

    # --- thread -----------------------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            warm = self._warm_up()
            if self._stop_event.is_set():
                return
            self._listener.on_model_ready(warm)
            self._loop()
        except Cancelled:  # stop() abandoned the set-up or an inference: nothing to report
            pass
        except BaseException as exc:  # reported, never silent
            logger.debug("inference worker failed", exc_info=True)
            message = str(exc) if isinstance(exc, SlowFastError) else f"inference failed: {type(exc).__name__}: {exc}"
            self._listener.on_error(EngineError("inference", message, fatal=True, exception=exc))

    def _report(self, message: str) -> None:
        """A backend that could not start (and the one used instead), as a non-fatal event with the reason."""
        self._listener.on_error(EngineError("inference", message))

    def _load(self, request: _WarmRequest) -> WarmModel:
        o = self.options
        return warm_model(request.model, preprocessing=request.preprocessing, backend=request.backend,
                          device=request.device, warmup_runs=o.warmup_runs, cancel=self._stop_event,
                          report=self._report, features=o.features)

    def _warm_up(self) -> WarmModel:
        warm = self.warm
        if warm is None:
            request = self._first
            if self._planner is not None:  # the start-up policy, here so the capture fills the window meanwhile
                request = _WarmRequest(request.model, request.preprocessing, self._planner(request.model),
                                        request.device)
            warm = self._load(request)
            with self._lock:
                self._warm = warm
        elif self.options.warmup_runs > 0:
            warm.backend.warmup(warm_inputs(warm.model, warm.preprocessing), runs=self.options.warmup_runs)
        return warm

    def _require_warm(self) -> WarmModel:
        warm = self.warm
        if warm is None:  # pragma: no cover - _warm_up always sets it before the loop
            raise RuntimeError("inference worker has no model loaded")
        return warm

    def _adopt_if_offered(self) -> None:
        """Swap in a backend offered by `adopt` when it serves the model that runs now."""
        with self._lock:
            offered, self._adopt = self._adopt, None
            current = self._warm
            if offered is None or current is None or offered.model is not current.model or self._pending:
                return
            self._warm = offered
        self._listener.on_model_ready(offered)

    def _swap_head_if_asked(self) -> None:
        with self._lock:
            pending, self._pending_head = self._pending_head, None
        if pending is None:
            return
        model, applied, identity = pending
        current = self._require_warm()
        swapped = with_head(current, model, stop=self._stop_event, identity=identity)
        if self._stop_event.is_set():
            return
        if swapped is None:  # another backbone: a full switch (the old model runs until the new one is warm),
            # at the input size the window runs now (the taught model's own may differ)
            prep = replace(model.meta.preprocessing, short_side=current.preprocessing.short_side)
            with self._lock:
                self._pending = _WarmRequest(model, prep, self.options.backend, self.options.device, applied)
            return
        with self._lock:
            self._warm = swapped
        self.smoother.reset(model.meta.categories)
        self._listener.on_model_ready(swapped)
        _tell(applied)

    def _switch_if_asked(self) -> None:
        self._take_settings()
        self._adopt_if_offered()
        self._swap_head_if_asked()
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            warm = self._load(pending)
        except Cancelled:  # stopping: the loop ends next
            return
        except BaseException as exc:  # the old model keeps running
            message = str(exc) if isinstance(exc, SlowFastError) else f"{type(exc).__name__}: {exc}"
            self._listener.on_error(EngineError("inference", f"could not switch model: {message}", exception=exc))
            return
        with self._lock:
            self._warm = warm
        self.smoother.reset(pending.model.meta.categories)
        self._listener.on_model_ready(warm)
        _tell(pending.applied)

    def _current(self, generation: int) -> bool:
        with self._lock:
            return generation == self._generation

    def _loop(self) -> None:
        failures = 0
        while not self._stop_event.is_set():
            self._switch_if_asked()
            item = self.slot.take(timeout=0.5)
            if item is None:
                continue
            if item is END_OF_STREAM:
                self._listener.on_stream_end()
                continue
            if not self._current(item.generation):  # from an older source or buffer: not run
                continue
            try:
                prediction = self._run(item)
                failures = 0
            except Cancelled:  # stop() abandoned the inference in flight
                return
            except Exception as exc:
                failures += 1
                message = str(exc) if isinstance(exc, SlowFastError) else f"{type(exc).__name__}: {exc}"
                fatal = failures >= MAX_FAILURES
                text = f"inference failed on window {item.id}: {message}"
                if fatal:
                    text += f" ({failures} windows in a row; the worker stopped)"
                self._listener.on_error(EngineError("inference", text, fatal=fatal, exception=exc))
                if fatal:
                    return
                continue
            if self._current(item.generation) and not self._stop_event.is_set():
                self.windows_done += 1
                self._listener.on_prediction(prediction)

    def _run(self, window: Any) -> Prediction:
        """Normalise, infer, smooth one window; returns the prediction with its timings."""
        self._take_settings()  # a change made while this window was waiting applies to it
        people = self.people  # read once: `set_people` may switch paths between two windows
        if people is not None:
            return self._run_people(window, people)
        warm = self._require_warm()
        started = time.monotonic()
        inputs = warm.backend.prepare(window.frames, window.pathway_indices, warm.preprocessing)  # [(1,3,T_p,S,S)]
        prepared = time.monotonic()
        logits, feature = warm.logits(inputs)  # (1, num_classes), (1, C) or None
        inferred = time.monotonic()
        probs = probabilities(logits).numpy().astype(np.float32)  # (num_classes,); InferenceError for NaN/Inf
        categories = warm.model.meta.categories
        smoothed = self.smoother.update(probs)
        published = time.monotonic()
        timings = window_timings(window, started, prepared, inferred, published)
        return Prediction(
            id=window.id, start_time=window.start_time, end_time=window.end_time,
            first_index=window.first_index, last_index=window.last_index,
            topk=top_k(probs, categories, self.topk), probs=probs,
            label=smoothed.label, confidence=smoothed.confidence, timings=timings,
            backend=warm.backend.description,
            feature=None if feature is None else feature.reshape(-1).numpy().astype(np.float32, copy=False),
            feature_identity=warm.identity, padded=window.padded,
        )

    def set_people(self, people: Any) -> None:
        """Switch paths from the next window on: a PeopleStep (per person) or None (the whole frame)."""
        self.people = people

    def _run_people(self, window: Any, step: Any) -> Prediction:
        """Detecting: person boxes on the window's key frame, the RoI head per box, the tracker (one PeopleStep);
        the whole-frame classifier is not run. The frames are the capture's (short side = the input size), taken
        whole: AVA's boxes cover the full frame."""
        from dataclasses import replace as _replace

        import cv2

        from slowfast_core.video.windows import key_frame_index
        from slowfast_core.video.preprocess import pathway_tensors

        started = time.monotonic()
        prep = _replace(step.model.meta.preprocessing, short_side=min(window.frames.shape[1:3]), crop="full")
        inputs = pathway_tensors(window.frames, window.pathway_indices, prep)  # [(1, 3, T_p, H, W)]
        key = cv2.cvtColor(window.frames[key_frame_index(window.pathway_indices)], cv2.COLOR_RGB2BGR)
        prepared = time.monotonic()
        result = step.run(inputs, key, window=window.id)
        published = time.monotonic()
        timings = window_timings(window, started, prepared, published, published)
        best = max(result.people, key=lambda p: p.confidence or 0.0, default=None)
        return Prediction(
            id=window.id, start_time=window.start_time, end_time=window.end_time,
            first_index=window.first_index, last_index=window.last_index, topk=(),
            probs=np.zeros(0, np.float32), label=None if best is None else best.label,
            confidence=0.0 if best is None or best.confidence is None else best.confidence, timings=timings,
            backend=f"{step.detector.name} + RoI head (torch)", people=result.people, detector_ms=result.detector_ms,
            padded=window.padded,
        )
