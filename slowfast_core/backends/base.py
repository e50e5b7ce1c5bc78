"""The interface the inference worker uses, and the plain eager-torch backend every other one is checked against.

A backend owns a model placed on a device. `backend(inputs)` takes the model's CPU input tensors
(`[(1, 3, T_p, H, W)]`, float32, normalised) and returns float32 logits `(B, num_classes)` on the CPU.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from slowfast_core.errors import ConfigError
from slowfast_core.model.net import SlowFast

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU. Asking for CUDA without one raises a one-line ConfigError."""
    if device not in DEVICES and not device.startswith("cuda:"):
        raise ConfigError(f"unknown device {device!r}: use auto, cpu or cuda")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("CUDA was asked for but no CUDA GPU is available here: use --device cpu or auto")
    return torch.device(device)


class InferenceBackend(ABC):
    """A model ready to run on one device. Subclasses set `name` and implement `__call__`."""

    name: str = "base"

    def __init__(self, model: SlowFast, device: torch.device) -> None:
        self.model = model
        self.device = device

    @property
    def description(self) -> str:
        """Shown to the user, e.g. 'torch-eager on cpu'."""
        return f"{self.name} on {self.device.type}"

    @abstractmethod
    def __call__(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """[(B, 3, T_p, H, W) float32 CPU] -> logits (B, num_classes) float32 CPU."""

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


#: name -> class; backends that need optional runtimes register themselves here when importable.
BACKENDS: dict[str, type[InferenceBackend]] = {"torch-eager": TorchEagerBackend}


def available_backends(device: torch.device) -> list[str]:
    """Names of the backends that can run on `device` here, fastest first."""
    return [name for name, cls in BACKENDS.items() if getattr(cls, "supports", lambda d: True)(device)]


def create_backend(model: SlowFast, *, backend: str = "auto", device: str = "auto") -> InferenceBackend:
    """A backend for `model`: 'auto' picks the fastest available for the device."""
    dev = resolve_device(device)
    names = available_backends(dev)
    if backend == "auto":
        backend = names[0]
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}: use auto or one of {', '.join(BACKENDS)}")
    if backend not in names:
        raise ConfigError(f"backend {backend!r} is not available on {dev.type} here: use one of {', '.join(names)}")
    return BACKENDS[backend](model, dev)
