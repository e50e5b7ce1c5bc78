"""Inference backends behind one small interface: `create_backend(model, backend=..., device=...)`."""

from slowfast_core.backends.base import (
    BACKENDS,
    InferenceBackend,
    available_backends,
    create_backend,
    resolve_device,
)

__all__ = ["BACKENDS", "InferenceBackend", "available_backends", "create_backend", "resolve_device"]
