"""The child of `slowfast bench model`'s start-up figure: a fresh Python that builds the model, creates the
default backend and makes one prediction, then prints one JSON line (`done`: wall time, `backend`).

    python -m slowfast_core.bench.first_prediction ARCH SIZE DEVICE

Its parent (`slowfast_core.bench.model.time_to_first_prediction`) times it from launch to `done`, with the
model cache it chose in the environment: a cold cache converts, a warm one reads the converted model back.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Build, create the default backend, predict once on zeros; print {"done", "backend"}."""
    arch, size, device = (sys.argv[1:] if argv is None else list(argv))[:3]
    import torch

    from slowfast_core.backends import create_backend
    from slowfast_core.model.builder import create_model

    torch.manual_seed(0)
    model = create_model(arch)
    backend = create_backend(model, device=device)
    side = int(size)
    x = [torch.zeros(1, 3, c.frames, side, side) for c in model.config.geometry.pathways()]  # (1, 3, T_p, S, S)
    backend(x)
    print(json.dumps({"done": time.time(), "backend": backend.description}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
