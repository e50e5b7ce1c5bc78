"""The interface the inference worker uses, the eager-torch backend every other one is checked against,
and the registry that `--backend auto` chooses from.

A backend owns a model placed on a device. `backend(inputs)` takes the model's CPU input tensors
(`[(B, 3, T_p, H, W)]`, float32, normalised) and returns float32 logits `(B, num_classes)` on the CPU.

Backends (fastest first, by measurement; see `slowfast bench model`):
- `openvino-int8` CPU: the model quantised to int8 by `slowfast quantize`; only for a model whose agreement
                guard passed (a *prepared* backend: 'auto' tries it first when it is ready, and lists it nowhere else).
- `openvino`    CPU: the BN-folded model converted by OpenVINO, fp32, IR and compiled blob cached on disk.
- `torch-cuda`  CUDA: BN folded, fp16, channels_last_3d, cuDNN autotuning, pinned staging buffers.
- `torch-cpu`   CPU: BN folded, inference mode, thread count from the cores (fallback without OpenVINO).
- `torch-eager` any device: the model as built; the reference for equal outputs.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from slowfast_core.errors import ConfigError, SlowFastError
from slowfast_core.model.net import SlowFast
from slowfast_core.spec import Preprocessing
from slowfast_core.video.preprocess import pathway_tensors

logger = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
CACHE_ENV = "SLOWFAST_CACHE_DIR"
THREADS_ENV = "SLOWFAST_THREADS"


class BackendError(SlowFastError):
    """A backend could not be set up (e.g. OpenVINO failed to convert the model twice); the message says why."""


class Cancelled(Exception):
    """Raised by a backend whose `cancel` event was set: its set-up or inference was abandoned, on purpose."""


def resolve_device(device: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU. Asking for CUDA without one raises a one-line ConfigError."""
    if device not in DEVICES and not device.startswith("cuda:"):
        raise ConfigError(f"unknown device {device!r}: use auto, cpu or cuda")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("CUDA was asked for but no CUDA GPU is available here: use --device cpu or auto")
    return torch.device(device)


def physical_cores() -> int:
    """Cores this process may run on, counting physical cores only (SMT siblings share the FMA units)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    try:
        import psutil

        physical = psutil.cpu_count(logical=False) or usable
    except ImportError:
        physical = usable
    return max(1, min(usable, physical))


def inference_threads() -> int:
    """Threads for CPU inference: $SLOWFAST_THREADS, else the physical cores, less one when there are >= 4.

    The live engine also runs a capture thread (decode + resize) and a scheduler; on a big machine one
    core is left to them so inference never waits on a starved capture. On 2-3 cores, giving one away
    would cost a third to a half of the throughput, so inference takes them all.
    """
    env = os.environ.get(THREADS_ENV)
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ConfigError(f"{THREADS_ENV}={env!r} is not a whole number: set it to a thread count, e.g. 4")
        if n < 1:
            raise ConfigError(f"{THREADS_ENV}={env!r} must be at least 1")
        return n
    cores = physical_cores()
    return cores - 1 if cores >= 4 else cores


def slowfast_cache_dir() -> Path:
    """Where compiled models are cached: $SLOWFAST_CACHE_DIR, else $XDG_CACHE_HOME (or ~/.cache)/slowfast-live."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "slowfast-live"


class InferenceBackend(ABC):
    """A model ready to run on one device. Subclasses set `name` and implement `__call__`."""

    name: str = "base"

    def __init__(self, model: SlowFast, device: torch.device) -> None:
        self.model = model
        self.device = device

    @classmethod
    def create(cls, model: SlowFast, device: torch.device, *, cancel: threading.Event | None = None
               ) -> "InferenceBackend":
        """Build the backend. Backends whose set-up or inference can be abandoned (OpenVINO: the conversion
        child process, an in-flight request) watch `cancel` and raise `Cancelled` once it is set; the others
        ignore it (a torch forward pass cannot be interrupted; it ends on its own)."""
        return cls(model, device)

    @classmethod
    def supports(cls, device: torch.device) -> bool:
        """True when this backend can run on `device` here (its runtime is importable, the device fits)."""
        return True

    #: True for a backend that works only for models prepared for it beforehand (int8: quantised and accepted by
    #: the agreement guard); `available_backends` leaves it out, 'auto' tries it first when `usable_for(model)`
    needs_preparation: bool = False

    @classmethod
    def usable_for(cls, model: SlowFast) -> bool:
        """True when this backend is ready for `model` (cheap; only prepared backends ever say False)."""
        return True

    @property
    def description(self) -> str:
        """Shown to the user, e.g. 'torch-eager on cpu'."""
        return f"{self.name} on {self.device.type}"

    @abstractmethod
    def __call__(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """[(B, 3, T_p, H, W) float32 CPU] -> logits (B, num_classes) float32 CPU."""

    def prepare(self, frames: np.ndarray, indices: list[np.ndarray], prep: Preprocessing) -> list[torch.Tensor]:
        """Model inputs for one window: crop, normalise, lay out. The live worker calls this, then `self(...)`.

        frames: (K, H, W, 3) uint8 RGB; indices: per pathway, into frames. The default does it on the CPU
        (`pathway_tensors`). The seam for a GPU backend to upload uint8 and normalise on its device (not done
        yet: on an H100 this CPU step is most of the pipeline's overhead, 18.7 ms p50 at 224²).
        """
        return pathway_tensors(frames, indices, prep)

    def ready_for(self, inputs: list[torch.Tensor]) -> None:
        """Do the lazy work for inputs of these shapes now, so the first real window runs at full speed (the
        live worker's warm-up, on the way to the first prediction). Default: one pass; a backend whose lazy
        work is a compilation (OpenVINO) compiles without running."""
        self.warmup(inputs, runs=1)

    def warmup(self, inputs: list[torch.Tensor], runs: int = 1) -> None:
        """Run a few passes so lazy initialisation (allocators, autotuning, compilation) is not timed later."""
        for _ in range(runs):
            self(inputs)


class TorchEagerBackend(InferenceBackend):
    """The model as built, in eval mode under `torch.inference_mode()`: the reference for every backend."""

    name = "torch-eager"

    def __init__(self, model: SlowFast, device: torch.device) -> None:
        super().__init__(model.eval().to(device), device)

    def __call__(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        with torch.inference_mode():
            x = [t.to(self.device, non_blocking=True) for t in inputs]  # [(B, 3, T_p, H, W)]
            return self.model(x).float().cpu()  # (B, num_classes)


#: Backend modules; each registers its class in BACKENDS when imported (by slowfast_core.backends).
BACKEND_MODULES: tuple[str, ...] = (
    "slowfast_core.backends.openvino_backend",
    "slowfast_core.backends.openvino_int8",
    "slowfast_core.backends.torch_cuda",
    "slowfast_core.backends.torch_cpu",
)
#: Preference for 'auto', fastest first (measured with `slowfast bench model`); unknown names go last.
PREFERENCE: tuple[str, ...] = ("openvino-int8", "openvino", "torch-cuda", "torch-cpu", "torch-eager")

#: name -> class. Every backend is registered; `supports()` says whether its runtime is usable here.
BACKENDS: dict[str, type[InferenceBackend]] = {"torch-eager": TorchEagerBackend}


def register(cls: type[InferenceBackend]) -> type[InferenceBackend]:
    """Class decorator: add a backend to BACKENDS under its `name`. A name taken already is refused
    (ValueError): a second class must not silently replace the one 'auto' measured and chose."""
    taken = BACKENDS.get(cls.name)
    if taken is not None:
        raise ValueError(f"backend name {cls.name!r} is already registered by {taken.__module__}.{taken.__qualname__}")
    BACKENDS[cls.name] = cls
    return cls


def _load_backends() -> None:
    """Import the backend modules so they register (idempotent; their optional runtimes load lazily)."""
    for module in BACKEND_MODULES:
        importlib.import_module(module)


def _rank(name: str) -> int:
    return PREFERENCE.index(name) if name in PREFERENCE else len(PREFERENCE)


def available_backends(device: torch.device) -> list[str]:
    """Names of the backends that can run any model on `device` here, fastest first (prepared ones left out)."""
    _load_backends()
    names = [name for name, cls in BACKENDS.items() if cls.supports(device) and not cls.needs_preparation]
    return sorted(names, key=_rank)


def prepared_backends(model: SlowFast, device: torch.device) -> list[str]:
    """Names of the prepared backends (e.g. openvino-int8) that are ready for `model` on `device`, fastest first."""
    _load_backends()
    names = [name for name, cls in BACKENDS.items()
             if cls.needs_preparation and cls.supports(device) and cls.usable_for(model)]
    return sorted(names, key=_rank)


def backend_preference(model: SlowFast, device: torch.device, names: list[str]) -> list[str]:
    """`names` (available here, fastest first) without those that may not run this model yet.

    A backend class may define `usable_for(model) -> bool` (e.g. int8 only once its agreement guard passed for
    these weights); the rest keep their order, which comes from `PREFERENCE` (measured)."""
    out = []
    for name in names:
        check = getattr(BACKENDS[name], "usable_for", None)
        try:
            ok = True if check is None else bool(check(model))
        except Exception as exc:  # noqa: BLE001 - a broken check must not stop the start: skip that backend
            logger.warning("backend %s: could not tell whether it may run %s (%s); skipping it", name,
                        model.config.name, exc)
            ok = False
        if ok:
            out.append(name)
    return out


def check_backend(backend: str, device: str) -> tuple[torch.device, list[str]]:
    """Validate a backend/device request without building anything (cheap: callers use it to fail early).

    Returns the resolved device and the backends available on it, fastest first; a request that cannot be
    met raises a one-line ConfigError.
    """
    dev = resolve_device(device)
    names = available_backends(dev)
    if backend == "auto":
        return dev, names
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}: use auto or one of {', '.join(sorted(BACKENDS, key=_rank))}")
    if BACKENDS[backend].needs_preparation and BACKENDS[backend].supports(dev):
        return dev, names  # whether it is ready for the model is known once the model is: `create` says
    if backend not in names:
        raise ConfigError(f"backend {backend!r} is not available on {dev.type} here: use auto or one of {', '.join(names)}")
    return dev, names


def create_backend(model: SlowFast, *, backend: str = "auto", device: str = "auto",
                   cancel: threading.Event | None = None,
                   report: Callable[[str], None] | None = None) -> InferenceBackend:
    """A backend for `model`: 'auto' picks the fastest available for the device.

    With 'auto', a prepared backend ready for this model comes first (int8, once its guard passed on it), and a
    backend that fails to set up (e.g. OpenVINO could not convert this model, even on its retry) is reported
    with its reason through `report` (default: a logged warning) and the next fastest is tried, ending at
    torch-eager which always works. A named backend that fails raises. `cancel`: set it to
    abandon a long set-up (the OpenVINO conversion); `Cancelled` is raised then, never a fallback.
    """
    dev, names = check_backend(backend, device)
    if backend != "auto":
        return BACKENDS[backend].create(model, dev, cancel=cancel)
    names = backend_preference(model, dev, names) or names
    say = report or (lambda message: logger.warning("%s", message))
    names = prepared_backends(model, dev) + names
    for name in names[:-1]:
        try:
            return BACKENDS[name].create(model, dev, cancel=cancel)
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - any runtime failure means: use the next backend, and say why
            say(f"backend {name} could not start ({exc}); trying {names[names.index(name) + 1]}")
    return BACKENDS[names[-1]].create(model, dev, cancel=cancel)
