"""torchvision's person detector on OpenVINO (the CPU): converted once in a child process, cached, checked
against torch on the frames it first sees, with torch as the fallback.

Measured here (2-core AVX-512 CPU, fasterrcnn_mobilenet_v3_large_320_fpn, 340x256 frames of a real video):
OpenVINO runs the detector about 2.5x faster than torch eager on the same threads (README, "Who is doing
what"). torchvision's model returns a list of dicts, which tracing cannot output; `DetectorGraph` returns the
same three tensors instead, and that converts (`openvino.convert_model` traces it; the image size stays dynamic
and the per-class NMS is scripted, so one IR serves every frame size and any number of people).

The IR is cached like the SlowFast backend's (`backends.cache`, kind `openvino-detect`), keyed by the weights,
the score threshold baked into the graph, the recipe and OpenVINO's version; a cached IR is read in about a
second, a conversion takes 5-30 s on two cores and runs in the background while torch detects.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from slowfast_core.backends import cache as model_cache
from slowfast_core.backends import openvino_convert as child
from slowfast_core.backends.base import BackendError, inference_threads, slowfast_cache_dir
from slowfast_core.backends.openvino_import import import_openvino

logger = logging.getLogger(__name__)

CACHE_KIND = "openvino-detect"
#: bump when the conversion recipe changes, so stale cached IRs are not reused
RECIPE_VERSION = 1
CHILD_MODULE = "slowfast_core.detect.openvino_convert_detector"
#: how far OpenVINO's boxes may be from torch's (pixels, each corner) and its scores from torch's
BOX_TOLERANCE_PX = 1.0
SCORE_TOLERANCE = 1e-3

Outputs = tuple[np.ndarray, np.ndarray, np.ndarray]  # boxes (N, 4) float32 pixels, scores (N,), labels (N,)


class DetectorGraph(nn.Module):
    """A torchvision detection model with tensor outputs (what tracing and OpenVINO need)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # image: (3, H, W) float in 0..1 -> boxes (N, 4) in its pixels, scores (N,), labels (N,)
        out = self.model([image])[0]
        return out["boxes"], out["scores"], out["labels"]


def openvino_openable() -> bool:
    """True when OpenVINO can be imported here (optional: torch detects without it)."""
    try:
        import_openvino()
    except ImportError:
        return False
    return True


def detector_cache_entry(model: nn.Module, name: str, score_thresh: float, ov_version: str,
                         root: Path | None = None) -> Path:
    """The cache folder of `model`'s IR (may not exist): one per weights, baked threshold and OpenVINO version."""
    from slowfast_core.backends.openvino_backend import model_key

    key = model_key(model, f"detector|{RECIPE_VERSION}|{name}|score>{score_thresh:.6f}", ov_version)
    return model_cache.kind_dir(CACHE_KIND, root or slowfast_cache_dir()) / f"{name}-{key}"


def convert_detector(model: nn.Module, name: str, score_thresh: float, *, example_size: tuple[int, int] = (240, 320),
                     cache_root: Path | None = None, cancel: threading.Event | None = None) -> Path:
    """The cached IR folder of `model` (model.xml + .bin), converted in a child process when not cached yet.
    Raises BackendError with the child's one-line reason when OpenVINO cannot convert it."""
    from slowfast_core.backends.openvino_backend import _ConversionFailed, convert_in_child

    ov = import_openvino()
    entry = detector_cache_entry(model, name, score_thresh, ov.__version__, cache_root)
    if (entry / child.IR_XML).is_file() and (entry / child.IR_XML).with_suffix(".bin").is_file():
        model_cache.touch(entry)
        return entry
    entry.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=model_cache.TMP_PREFIX, dir=entry.parent))
    t0 = time.perf_counter()
    try:
        torch.save(DetectorGraph(model).eval(), work / child.MODEL)
        (work / child.JOB).write_text(json.dumps({"example_size": list(example_size), "parent": os.getpid()}),
                                      encoding="utf-8")
        try:
            ir = convert_in_child(work, cancel=cancel, module=CHILD_MODULE)
        except _ConversionFailed as exc:
            raise BackendError(f"OpenVINO could not convert the person detector {name}: {exc}") from None
        try:
            os.rename(ir, entry)
        except OSError:
            if not (entry / child.IR_XML).is_file():  # nobody else cached it meanwhile: keep ours uncached
                raise BackendError(f"could not cache the OpenVINO person detector in {entry}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    logger.info("person detector %s converted for OpenVINO in %.1f s (cached in %s)", name,
                time.perf_counter() - t0, entry)
    model_cache.enforce_limit(entry.parent, keep=entry)
    return entry


class OpenVinoDetectorRunner:
    """The converted detector compiled for the CPU (fp32, latency, dynamic image size). Not thread-safe."""

    def __init__(self, entry: Path, *, num_threads: int | None = None) -> None:
        ov = import_openvino()
        core = ov.Core()
        blobs = entry / "blobs"
        try:
            blobs.mkdir(exist_ok=True)
            core.set_property({"CACHE_DIR": str(blobs)})
        except OSError:
            pass  # read-only cache: compiled again next time
        compiled = core.compile_model(str(entry / child.IR_XML), "CPU", {
            "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32",
            "INFERENCE_NUM_THREADS": num_threads or inference_threads()})
        self.request = compiled.create_infer_request()
        self.outputs = compiled.outputs
        self.description = f"openvino {ov.__version__.split('-')[0]}"

    def __call__(self, image: torch.Tensor) -> Outputs:
        """Detections for `image` ((3, H, W) float32 in 0..1)."""
        self.request.infer([image.numpy()])
        boxes, scores, labels = (np.array(self.request.get_tensor(o).data) for o in self.outputs)
        return boxes.astype(np.float32), scores.astype(np.float32), labels.astype(np.int64)


def disagreement(torch_out: Outputs, ov_out: Outputs, min_score: float) -> str | None:
    """Why OpenVINO's detections above `min_score` differ from torch's (count, class, a corner beyond
    BOX_TOLERANCE_PX, a score beyond SCORE_TOLERANCE), or None when they are the same."""
    (tb, ts, tl), (ob, os_, ol) = torch_out, ov_out
    tk, ok = ts >= min_score, os_ >= min_score
    tb, ts, tl, ob, os_, ol = tb[tk], ts[tk], tl[tk], ob[ok], os_[ok], ol[ok]
    if len(tb) != len(ob):
        return f"torch found {len(tb)} boxes above {min_score}, OpenVINO {len(ob)}"
    for i in range(len(tb)):  # each of torch's boxes has OpenVINO's twin: same class, corners and score
        same = (ol == tl[i]) & (np.abs(ob - tb[i]).max(axis=1) <= BOX_TOLERANCE_PX) \
            & (np.abs(os_ - ts[i]) <= SCORE_TOLERANCE)
        if not same.any():
            near = np.abs(ob - tb[i]).max(axis=1).min() if len(ob) else float("inf")
            return (f"torch's box {np.round(tb[i], 1).tolist()} (class {int(tl[i])}, score {ts[i]:.3f}) has no "
                    f"OpenVINO twin (nearest corner {near:.2f} px away)")
    return None
