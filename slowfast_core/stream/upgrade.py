"""The live backend move: start on what is ready now, build the fastest in the background, swap it in.

`BackendUpgrade` applies `slowfast_core.backends.policy.plan_start` for each model the engine runs: `plan`
says which backend to build before the first window and remembers the faster one; once the model runs,
`start` builds that one on a background thread ("slowfast-backend-upgrade") and hands it to the worker
(`InferenceWorker.adopt`), which swaps it in between two windows. One attempt per model; a failure is
reported and the running backend goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from slowfast_core.backends.base import Cancelled
from slowfast_core.backends.policy import plan_start
from slowfast_core.model.net import SlowFast
from slowfast_core.stream.types import EngineError
from slowfast_core.stream.warm import WarmModel, backend_model, warm_model
from slowfast_core.stream.worker import InferenceWorker


class Builds:
    """The background builds' threads and cancel events. A build's event also abandons an inference of the
    backend it built (OpenVINO polls it): once that backend is handed to the worker, only a stop may set it.
    A new model's plan cancels the builds still in progress, never a backend that runs (it did: a model switch
    right after the move to OpenVINO set the running backend's event, the window in flight raised Cancelled and
    the worker ended, the view frozen)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._builds: list[tuple[threading.Thread, threading.Event]] = []
        self._handed: set[int] = set()  # id() of events whose backend was handed to the worker

    def add(self, thread: threading.Thread, cancel: threading.Event) -> None:
        with self._lock:
            self._builds = [(t, c) for t, c in self._builds if t.is_alive() or id(c) in self._handed]
            self._builds.append((thread, cancel))

    def hand_over(self, cancel: threading.Event) -> bool:
        """Mark the build of `cancel` as handed over; False when it was cancelled first (then it is not used)."""
        with self._lock:
            if cancel.is_set():
                return False
            self._handed.add(id(cancel))
            return True

    def cancel_building(self) -> None:
        """Abandon the builds in progress (a new model): handed-over backends run on."""
        with self._lock:
            for _thread, cancel in self._builds:
                if id(cancel) not in self._handed:
                    cancel.set()

    def cancel_all(self) -> None:
        """Abandon every build and every inference of a built backend (stopping)."""
        with self._lock:
            for _thread, cancel in self._builds:
                cancel.set()

    def threads(self) -> list[threading.Thread]:
        with self._lock:
            return [t for t, _ in self._builds]

    def forget(self) -> None:
        """Drop every record (after a stop joined the threads)."""
        with self._lock:
            self._builds = [(t, c) for t, c in self._builds if t.is_alive()]
            self._handed = {id(c) for _t, c in self._builds} & self._handed


class BackendUpgrade:
    """The background move to the fastest backend (see module doc). Methods run on engine threads."""

    def __init__(self, *, device: Callable[[], str], warmup_runs: Callable[[], int], features: Callable[[], bool],
                 on_error: Callable[[EngineError], None], on_message: Callable[[str], None]) -> None:
        self._device, self._warmup_runs, self._features = device, warmup_runs, features
        self._on_error, self._on_message = on_error, on_message
        self._next: tuple[SlowFast, str] | None = None  # (model, faster backend) to move to once it runs
        self._final: tuple[SlowFast, str] | None = None  # the same, kept until it runs or could not be built
        self._builds = Builds()

    def plan(self, model: SlowFast, *, backend: str, live: bool) -> str:
        """The backend to build before `model`'s first window; remembers the faster one to move to later.
        Cancels a background build for a previous model."""
        plan = plan_start(backend_model(model, features=self._features()), backend=backend, device=self._device(),
                          live=live)
        self._next = None
        self._builds.cancel_building()
        self._next = (model, plan.target) if plan.target else None
        self._final = self._next
        return plan.start

    def start(self, warm: WarmModel, worker: InferenceWorker) -> None:
        """Once `warm` runs, build the faster backend planned for its model on a background thread."""
        upgrade = self._next
        if upgrade is None or upgrade[0] is not warm.model or warm.backend.name == upgrade[1]:
            return
        self._next = None  # one attempt per model
        cancel = threading.Event()
        thread = threading.Thread(target=self._build, args=(warm, upgrade[1], cancel, worker),
                                  name="slowfast-backend-upgrade", daemon=False)
        self._builds.add(thread, cancel)
        thread.start()

    def _build(self, current: WarmModel, target: str, cancel: threading.Event, worker: InferenceWorker) -> None:
        """Background thread: convert (cached) and warm `target` for the running model, then hand it to the
        worker. Failure: reported, the current backend goes on."""
        if cancel.is_set():
            return
        self._on_message(f"preparing {target} in the background (predictions go on with {current.backend.name})")
        try:
            faster = warm_model(current.model, preprocessing=current.preprocessing, backend=target,
                                device=self._device(), warmup_runs=self._warmup_runs(), cancel=cancel,
                                features=self._features())
        except Cancelled:
            return
        except Exception as exc:  # noqa: BLE001 - any failure: say why and stay on the backend that works
            self._final = None
            if not cancel.is_set():
                self._on_error(EngineError("inference", f"backend {target} could not start ({exc}); staying on "
                                                        f"{current.backend.name}", exception=exc))
            return
        if self._builds.hand_over(cancel):
            worker.adopt(faster)

    def settled(self, warm: WarmModel) -> bool:
        """True when no faster backend is planned or being built for the model `warm` runs."""
        final = self._final
        return final is None or final[0] is not warm.model or warm.backend.name == final[1]

    def cancel(self) -> None:
        """Stopping: abandon every background build, and any inference of a backend one built."""
        self._next = None
        self._builds.cancel_all()

    def threads(self) -> list[threading.Thread]:
        return self._builds.threads()

    def forget_ended(self) -> None:
        self._builds.forget()
