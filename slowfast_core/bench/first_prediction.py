"""`slowfast bench model`'s start-up figure: the child, a fresh Python that builds the model, creates the
default backend and makes one prediction, then prints one JSON line (`done`: wall time, `backend`).

    python -m slowfast_core.bench.first_prediction ARCH SIZE DEVICE

Its parent (`time_to_first_prediction`, here too) times it from launch to `done`, with the model cache it
chose in the environment: a cold cache converts, a warm one reads the converted model back.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    """Build, create the default backend, predict once on zeros; print {"done", "backend"}."""
    arch, size, device = (sys.argv[1:] if argv is None else list(argv))[:3]
    import torch

    from slowfast_core.backends import create_backend
    from slowfast_core.weights.api import create_model

    torch.manual_seed(0)
    model = create_model(arch)
    backend = create_backend(model, device=device)
    side = int(size)
    x = [torch.zeros(1, 3, c.frames, side, side) for c in model.config.geometry.pathways()]  # (1, 3, T_p, S, S)
    backend(x)
    print(json.dumps({"done": time.time(), "backend": backend.description}), flush=True)
    return 0


def time_to_first_prediction(arch: str, size: int, device: str, cache: Path) -> dict[str, object]:
    """Wall time from launching a fresh Python (`python -m slowfast_core.bench.first_prediction`) to its first
    prediction with the default backend, using the model cache `cache`."""
    import subprocess  # the parent's imports stay out of the child's start-up

    from slowfast_core.backends.base import CACHE_ENV
    from slowfast_core.children import child_env
    from slowfast_core.errors import ConfigError

    env = {**child_env(), CACHE_ENV: str(cache)}
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "slowfast_core.bench.first_prediction", arch, str(size), device],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise ConfigError(f"the start-up measurement failed: {proc.stderr.strip().splitlines()[-1:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"seconds": float(result["done"]) - start, "backend": result["backend"]}


if __name__ == "__main__":
    sys.exit(main())
