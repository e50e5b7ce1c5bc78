"""Inference backends behind one small interface: `create_backend(model, backend=..., device=...)`."""

from slowfast_core.backends.base import InferenceBackend, available_backends, create_backend, resolve_device

__all__ = ["InferenceBackend", "available_backends", "create_backend", "resolve_device"]
