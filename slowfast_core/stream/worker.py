"""The inference worker: one thread that owns the model's backend, and the latest-only slot that feeds it.

`LatestSlot` holds at most one window. The scheduler puts, the worker takes; a put while a window is still
waiting replaces it (the replaced one went stale: the caller counts it), so nothing ever queues. Offline,
the scheduler uses a blocking put instead and every window runs.

`InferenceWorker` warms the backend up before the first real window (lazy initialisation is not timed),
normalises each window it actually runs (`pathway_tensors`, once), runs it under the backend's
`torch.inference_mode()`, smooths the probabilities and publishes a `Prediction` with its timings.
The backend runs the model without its classifier (the pooled feature, 2304 values for R50) and the worker
applies the linear classifier itself (~0.1 ms): each prediction carries its feature for the session recorder
(Teach learns from them), and `request_head` swaps in a taught classifier between two windows.
A failing window is reported to subscribers; three failures in a row stop the worker (fatal). A model switch
builds and warms the new backend on this thread, so capture and display never wait for it. The worker's stop
flag is the backends' cancel event: `stop()` kills an OpenVINO conversion (a child process) and cancels an
OpenVINO request in flight at once; a backend that could not start is reported (non-fatal) with its reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import torch
from torch import nn

from slowfast_core.backends.base import Cancelled, InferenceBackend, create_backend
from slowfast_core.errors import SlowFastError
from slowfast_core.model.identity import FeatureIdentity, classifier_of, feature_view
from slowfast_core.model.net import SlowFast
from slowfast_core.predict import probabilities
from slowfast_core.records import top_k
from slowfast_core.stream.smoothing import Smoother
from slowfast_core.stream.types import EngineError, Prediction, Timings

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: handed over by the scheduler after the last window of a stream that ended
END_OF_STREAM = object()

#: consecutive failing windows after which the worker gives up
MAX_FAILURES = 3


class LatestSlot(Generic[T]):
    """A one-item hand-over with a condition: put replaces, take waits. No queue, no busy wait."""

    TIMEOUT = object()  # returned by a blocking put that timed out
    CLOSED = object()  # returned by a put on a closed slot: nothing was stored

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._full = False
        self._waiting = 0
        self._closed = False
        self._wake = False

    def put(self, item: T, *, block: bool = False, timeout: float | None = None) -> Any:
        """Store `item`; returns the item it replaced (stale) or None, LatestSlot.CLOSED when closed (not
        stored). block=True waits until the slot is empty (LatestSlot.TIMEOUT if that took over `timeout`)."""
        with self._cond:
            if block and not self._cond.wait_for(lambda: self._closed or not self._full, timeout):
                return self.TIMEOUT
            if self._closed:
                return self.CLOSED
            replaced = self._item if self._full else None
            self._item, self._full = item, True
            self._cond.notify_all()
            return replaced

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


@dataclass(frozen=True)
class LoadedModel:
    """A model with its backend, warm.

    classifier None: the backend returns logits. Otherwise the backend runs the model without its classifier
    and returns the pooled feature (1, C); the worker applies `classifier` itself (microseconds), so each
    prediction carries its feature and a taught head can replace the classifier between two windows.
    """

    model: SlowFast
    backend: InferenceBackend
    classifier: torch.nn.Linear | None = None
    identity: FeatureIdentity | None = None

    def logits(self, inputs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run one window: (logits (1, num_classes), feature (1, C) or None)."""
        out = self.backend(inputs)
        if self.classifier is None:
            return out, None
        with torch.inference_mode():
            return self.classifier(out.float()), out  # (1, C) -> (1, num_classes)


def warm_inputs(model: SlowFast) -> list[torch.Tensor]:
    """Zero inputs of the model's clip geometry and crop size: [(1, 3, T_p, S, S)] per pathway."""
    size = model.meta.preprocessing.short_side
    return [torch.zeros(1, 3, clip.frames, size, size) for clip in model.config.geometry.pathways()]


def _classifier(model: SlowFast) -> nn.Linear | None:
    """`model`'s linear classifier, or None when it has none (already a feature model)."""
    try:
        return classifier_of(model)
    except ValueError:
        return None


def backend_model(model: SlowFast, *, features: bool = True) -> SlowFast:
    """What the backend runs for `model`: its feature view (classifier applied by the worker) when features are
    on and it has a linear classifier, else the model itself. The start-up policy asks the backend cache about
    this model, since it is the one converted."""
    return feature_view(model) if features and _classifier(model) is not None else model


def load_model(model: SlowFast, *, backend: str = "auto", device: str = "auto", warmup_runs: int = 1,
               cancel: threading.Event | None = None, report: Callable[[str], None] | None = None,
               features: bool = True) -> LoadedModel:
    """Create the backend for `model` and warm it up (runs on the worker thread, off the capture path).

    cancel: set it to abandon the set-up (`Cancelled` is raised); report: where a fallback's reason goes.
    features False: the backend runs the whole model (logits only, no feature per window, no head swap).
    """
    classifier = _classifier(model) if features else None
    runs = feature_view(model) if classifier is not None else model
    loaded = create_backend(runs, backend=backend, device=device, cancel=cancel, report=report)
    if warmup_runs > 0:
        inputs = warm_inputs(model)
        loaded.ready_for(inputs)
        if warmup_runs > 1:
            loaded.warmup(inputs, runs=warmup_runs - 1)
    identity = FeatureIdentity.of(model, stop=cancel) if classifier is not None else None
    if cancel is not None and cancel.is_set():  # stopping while hashing: the identity is incomplete
        raise Cancelled("stopped while loading the model")
    return LoadedModel(model, loaded, classifier, identity)


def with_head(loaded: LoadedModel, model: SlowFast, *, stop: threading.Event | None = None) -> LoadedModel | None:
    """`loaded` with the classifier and labels of `model`, when `model` has the same backbone (else None)."""
    if loaded.identity is None or loaded.classifier is None:
        return None
    if model.config.head_in_features != loaded.identity.dim or FeatureIdentity.of(model, stop=stop) != loaded.identity:
        return None
    return LoadedModel(model, loaded.backend, classifier_of(model), loaded.identity)


class InferenceWorker(threading.Thread):
    """Takes windows from `slot`, runs them, publishes predictions (see module doc).

    backend None: the worker builds it itself (`backend_name` on `device`) before its first window, so the
    caller (GUI thread, engine start) never waits for a slow conversion such as OpenVINO's.
    """

    def __init__(self, slot: LatestSlot, backend: InferenceBackend | None, model: SlowFast, *, smoother: Smoother,
                 backend_name: str = "auto", device: str = "auto", topk: int = 5, warmup_runs: int = 1,
                 on_prediction: Callable[[Prediction], None] | None = None,
                 on_error: Callable[[EngineError], None] | None = None,
                 on_ready: Callable[[LoadedModel], None] | None = None,
                 on_warm: Callable[[LoadedModel], None] | None = None,
                 on_end: Callable[[], None] | None = None, features: bool = True) -> None:
        super().__init__(name="slowfast-inference", daemon=False)
        self.features = features
        self.slot = slot
        self.smoother = smoother
        self.topk = topk
        self.warmup_runs = warmup_runs
        self._model = model
        self._backend_request = (backend_name, device)
        self._loaded: LoadedModel | None = LoadedModel(model, backend) if backend is not None else None
        self._on_prediction = on_prediction or (lambda p: None)
        self._on_error = on_error or (lambda e: None)
        self._on_ready = on_ready or (lambda loaded: None)
        self._on_warm = on_warm or (lambda loaded: None)
        self._on_end = on_end or (lambda: None)
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._pending: tuple[SlowFast, str, str] | None = None
        self._adopt: LoadedModel | None = None  # a faster backend for the running model, built elsewhere
        #: model -> backend request, asked on this thread before the first build (Engine: backends.policy)
        self.planner: Callable[[SlowFast], str] | None = None
        self._pending_head: SlowFast | None = None
        self.generation = 0
        self.ready = threading.Event()
        self.busy = False
        self.windows_done = 0
        self.windows_discarded = 0  # from an older source or model

    @property
    def loaded(self) -> LoadedModel | None:
        """The model and its warm backend; None until the worker has built the backend it was asked for."""
        with self._lock:
            return self._loaded

    def stop(self) -> None:
        """End soon: a backend set-up (OpenVINO's conversion) or an OpenVINO inference in flight is abandoned at
        once; a torch inference in flight cannot be interrupted and ends first. Nothing is published after."""
        self._stop_event.set()
        self.slot.wake()

    def request_model(self, model: SlowFast, *, backend: str = "auto", device: str = "auto") -> None:
        """Switch to `model` as soon as the current window is done; the old one runs until the new one is warm."""
        with self._lock:
            self._pending = (model, backend, device)
        self.slot.wake()

    def adopt(self, loaded: LoadedModel) -> None:
        """Run `loaded` (a warm, faster backend for the model running now, built on another thread) from the
        next window on. Ignored if the model changed meanwhile. The swap happens between two windows: no
        window waits for it and no prediction is skipped."""
        with self._lock:
            self._adopt = loaded
        self.slot.wake()

    def request_head(self, model: SlowFast) -> None:
        """Use `model`'s classifier and labels from the next window on, keeping the running backbone and backend
        (no reload, no gap). When `model`'s backbone differs from the running one, it is loaded as a new model."""
        with self._lock:
            self._pending_head = model
        self.slot.wake()

    # --- thread -----------------------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._warm_up()
            self.ready.set()
            if self._stop_event.is_set():
                return
            self._on_warm(self._require_loaded())
            self._loop()
        except Cancelled:  # stop() abandoned the set-up or an inference: nothing to report
            pass
        except BaseException as exc:  # reported, never silent
            logger.debug("inference worker failed", exc_info=True)
            message = str(exc) if isinstance(exc, SlowFastError) else f"inference failed: {type(exc).__name__}: {exc}"
            self._on_error(EngineError("inference", message, fatal=True, exception=exc))
        finally:
            self.ready.set()

    def _report(self, message: str) -> None:
        """A backend that could not start (and the one used instead), as a non-fatal event with the reason."""
        self._on_error(EngineError("inference", message))

    def _warm_up(self) -> None:
        loaded = self.loaded
        if loaded is None:
            backend, device = self._backend_request
            if self.planner is not None:  # the start-up policy, here so the capture fills the window meanwhile
                backend = self.planner(self._model)
            loaded = load_model(self._model, backend=backend, device=device, warmup_runs=self.warmup_runs,
                                cancel=self._stop_event, report=self._report, features=self.features)
            with self._lock:
                self._loaded = loaded
        elif self.warmup_runs > 0:
            loaded.backend.warmup(warm_inputs(loaded.model), runs=self.warmup_runs)

    def _require_loaded(self) -> LoadedModel:
        loaded = self.loaded
        if loaded is None:  # pragma: no cover - _warm_up always sets it before the loop
            raise RuntimeError("inference worker has no model loaded")
        return loaded

    def _adopt_if_offered(self) -> None:
        """Swap in a backend offered by `adopt` when it serves the model that runs now."""
        with self._lock:
            offered, self._adopt = self._adopt, None
            current = self._loaded
            if offered is None or current is None or offered.model is not current.model or self._pending:
                return
            self._loaded = offered
        self._on_ready(offered)

    def _swap_head_if_asked(self) -> None:
        with self._lock:
            model, self._pending_head = self._pending_head, None
        if model is None:
            return
        current = self._require_loaded()
        swapped = with_head(current, model, stop=self._stop_event)
        if self._stop_event.is_set():
            return
        if swapped is None:  # another backbone: a full switch (the old model runs until the new one is warm)
            backend, device = self._backend_request
            with self._lock:
                self._pending = (model, backend, device)
            return
        with self._lock:
            self._loaded = swapped
        self.smoother.reset(model.meta.categories)
        self._on_ready(swapped)

    def _switch_if_asked(self) -> None:
        self._adopt_if_offered()
        self._swap_head_if_asked()
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is None:
            return
        model, backend, device = pending
        try:
            loaded = load_model(model, backend=backend, device=device, warmup_runs=self.warmup_runs,
                                cancel=self._stop_event, report=self._report, features=self.features)
        except Cancelled:  # stopping: the loop ends next
            return
        except BaseException as exc:  # the old model keeps running
            message = str(exc) if isinstance(exc, SlowFastError) else f"{type(exc).__name__}: {exc}"
            self._on_error(EngineError("inference", f"could not switch model: {message}", exception=exc))
            return
        with self._lock:
            self._loaded = loaded
        self.smoother.reset(model.meta.categories)
        self._on_ready(loaded)

    def _loop(self) -> None:
        failures = 0
        while not self._stop_event.is_set():
            self._switch_if_asked()
            item = self.slot.take(timeout=0.5)
            if item is None:
                continue
            if item is END_OF_STREAM:
                self._on_end()
                continue
            if item.generation != self.generation:
                self.windows_discarded += 1
                continue
            self.busy = True
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
                self._on_error(EngineError("inference", text, fatal=fatal, exception=exc))
                if fatal:
                    return
                continue
            finally:
                self.busy = False
            if prediction is not None and item.generation == self.generation:
                self.windows_done += 1
                self._on_prediction(prediction)

    def _run(self, window: Any) -> Prediction | None:
        """Normalise, infer, smooth one window; returns the prediction with its timings."""
        loaded = self._require_loaded()
        started = time.monotonic()
        prep = loaded.model.meta.preprocessing
        inputs = loaded.backend.prepare(window.frames, window.pathway_indices, prep)  # [(1, 3, T_p, S, S)]
        prepared = time.monotonic()
        logits, feature = loaded.logits(inputs)  # (1, num_classes), (1, C) or None
        inferred = time.monotonic()
        probs = probabilities(logits).numpy().astype(np.float32)  # (num_classes,); InferenceError for NaN/Inf
        categories = loaded.model.meta.categories
        smoothed = self.smoother.update(probs)
        published = time.monotonic()
        timings = Timings(
            waited_ms=(started - window.created) * 1000.0,
            prepared_ms=window.cut_ms + (prepared - started) * 1000.0,
            inferred_ms=(inferred - prepared) * 1000.0,
            end_to_end_ms=(published - window.last_arrival) * 1000.0,
        )
        return Prediction(
            id=window.id, start_time=window.start_time, end_time=window.end_time,
            first_index=window.first_index, last_index=window.last_index,
            topk=top_k(probs, categories, self.topk), probs=probs,
            label=smoothed.label, confidence=smoothed.confidence, timings=timings,
            backend=loaded.backend.description,
            feature=None if feature is None else feature.reshape(-1).numpy().astype(np.float32, copy=False),
            feature_identity=loaded.identity,
        )
