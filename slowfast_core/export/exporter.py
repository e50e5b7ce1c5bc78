"""`export_model`: write a model in one format, then prove the file right in its own runtime.

The exported file is run by its runtime (onnxruntime, TorchScript, OpenVINO) on a real window, two of them
stacked so the dynamic batch is exercised too, and its logits are compared with the eager model's. A largest
difference above `tolerance` (1e-3) fails the export with that difference, and the files are removed: nothing
unverified is left under the name asked for.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from slowfast_core.errors import ExportError
from slowfast_core.export.formats import (
    FORMATS,
    RUNNERS,
    SUFFIXES,
    WRITERS,
    PathwayInputs,
    export_metadata,
    input_names,
    metadata_path,
    remove_files,
    written_files,
)
from slowfast_core.export.window import as_arrays, real_window
from slowfast_core.model.net import SlowFast
from slowfast_core.spec import check_short_side

TOLERANCE = 1e-3


@dataclass(frozen=True)
class ExportResult:
    """What was written and how well it matched: the largest |logit difference| over the verified windows."""

    path: Path
    format: str
    files: tuple[Path, ...]
    runtime: str
    max_abs_diff: float
    batch: int
    metadata: dict

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "format": self.format, "files": [str(f) for f in self.files],
                "runtime": self.runtime, "max_abs_diff": float(self.max_abs_diff), "verified_batch": self.batch,
                "tolerance": TOLERANCE, "inputs": self.metadata["inputs"], "output": self.metadata["output"]}


def check_target(path: str | os.PathLike[str], fmt: str) -> Path:
    """`path` checked before any work: a known format, its extension, an existing writable folder."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    out = Path(path).expanduser()
    if out.suffix.lower() != SUFFIXES[fmt]:
        raise ExportError(f"--out {path}: the {fmt} format is written to a {SUFFIXES[fmt]} file "
                          f"(e.g. {out.with_suffix(SUFFIXES[fmt]).name})")
    if out.is_dir() or not out.parent.is_dir():
        raise ExportError(f"--out {path}: give a file name in an existing folder")
    if not os.access(out.parent, os.W_OK):
        raise ExportError(f"--out {path}: the folder {out.parent} is not writable")
    return out


def export_model(model: SlowFast, path: str | os.PathLike[str], fmt: str, *, size: int | None = None,
                 video: str | os.PathLike[str] | None = None, tolerance: float = TOLERANCE) -> ExportResult:
    """Write `model` as `fmt` to `path` (+ `<path>.json`), verified on a real window (see the module doc)."""
    out = check_target(path, fmt)
    prep = model.meta.preprocessing
    size = check_short_side(size if size is not None else prep.short_side, "--size")
    eager = copy.deepcopy(model).float().cpu().eval()
    wrapped = PathwayInputs(eager).eval()
    names = input_names(eager)
    window = real_window(eager.config.geometry, prep, size, video=video)  # [(2, 3, T_p, S, S)]
    meta = export_metadata(eager, prep, size)
    files = written_files(out, fmt)
    try:
        example = [t[:1] for t in window]  # traced at batch 1; the batch axis is declared dynamic
        WRITERS[fmt](wrapped, example, out, names, meta)
        metadata_path(out).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        with torch.no_grad():
            expected = wrapped(*window).numpy()  # (2, num_classes)
        got, runtime = RUNNERS[fmt](out, as_arrays(names, window))
        if got.shape != expected.shape:
            raise ExportError(f"the exported {fmt} model answered {tuple(got.shape)} for a batch of "
                              f"{len(expected)}, the eager model {tuple(expected.shape)}: export removed")
        diff = float(np.max(np.abs(got.astype(np.float64) - expected)))
        if not diff <= tolerance:
            raise ExportError(f"the exported {fmt} model run by {runtime} differs from the eager model by "
                              f"{diff:.3g} in the logits on a real window (more than {tolerance:g}): export removed")
    except ExportError:
        remove_files(files)
        raise
    except Exception as exc:  # the exporter or runtime refused the graph: one line, no half-written files
        remove_files(files)
        text = " ".join(str(exc).split())[:300]
        raise ExportError(f"the {fmt} export failed: {type(exc).__name__}: {text}") from exc
    except BaseException:  # Ctrl-C
        remove_files(files)
        raise
    return ExportResult(out, fmt, tuple(f for f in files if f.exists()), runtime, diff, len(expected), meta)
