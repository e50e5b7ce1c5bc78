"""`openvino-int8`: the model quantised to int8 by NNCF, used only after the agreement guard passed on it.

How a model gets there (`quantize_model`, i.e. `slowfast quantize`):
1. the fp32 backend converts (or reads from its cache) the fp32 IR, as `openvino` always does;
2. a child process (`openvino_quantize`, like the fp32 conversion's child) decodes the calibration windows of
   real video (`calibration`: the user's sessions or the clips they name; the one window cutter) and runs
   NNCF's post-training quantisation of the fp32 IR on them;
3. the int8 IR is cached beside the fp32 ones, under `openvino-int8/<arch>-<model key>-<calibration key>/`
   (model key: architecture + weights + OpenVINO version, the same recipe as the fp32 cache; calibration
   key: the videos' paths, sizes and modification times, the stride, the window counts, the preprocessing,
   NNCF's version), and the same LRU limit applies;
4. the guard (`guard`) runs int8 and fp32 on the held-out windows and records its verdict in the entry.

This backend is *prepared* (`needs_preparation`): `--backend auto` tries it first only when an entry of this
very model (same key) holds an accepting verdict, and otherwise never mentions it. Asked for by name, it
says how to prepare it. It compiles and runs like the fp32 backend (same class, another IR): quantised
convolutions run in int8 (VNNI/AMX where the CPU has them), the rest in fp32.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from slowfast_core.backends import cache as model_cache
from slowfast_core.backends import openvino_convert as child
from slowfast_core.backends.base import BackendError, slowfast_cache_dir, register
from slowfast_core.backends.calibration import CalibrationPlan, iter_plan_windows
from slowfast_core.backends.guard import VERDICT, GuardReport, read_verdict, run_guard, write_verdict
from slowfast_core.backends.openvino_backend import (
    OpenVINOBackend,
    _ConversionFailed,
    convert_in_child,
    model_key,
)
from slowfast_core.backends.openvino_import import import_openvino
from slowfast_core.model.net import SlowFast
from slowfast_core.spec import Preprocessing

logger = logging.getLogger(__name__)

KIND = "openvino-int8"
#: bump when the quantisation recipe changes, so entries made the old way are not reused
INT8_RECIPE = 2
CPU = torch.device("cpu")


def nncf_version() -> str:
    """NNCF's version without importing it (a 3 s import); BackendError when it is not installed."""
    try:
        return importlib.metadata.version("nncf")
    except importlib.metadata.PackageNotFoundError:
        raise BackendError("int8 quantisation needs NNCF, which is not installed here: pip install 'nncf>=2.16'") \
            from None


def entry_prefix(model: SlowFast) -> str:
    """`<arch>-<model key>-`: the start of every int8 entry name of this model (key as the fp32 cache's,
    taken over the model as built: architecture, weights, OpenVINO version, recipe)."""
    key = model_key(model, f"int8-{INT8_RECIPE}|{model.config!r}", import_openvino().__version__)
    return f"{model.config.name}-{key}-"


def accepted_entry(model: SlowFast, root: Path | None = None) -> Path | None:
    """The most recently made int8 entry of `model` whose guard passed, or None. Cheap when there is no int8
    entry of this architecture at all (no hashing of the weights then)."""
    folder = model_cache.kind_dir(KIND, root or slowfast_cache_dir())
    try:
        candidates = [p for p in folder.glob(f"{model.config.name}-*") if (p / child.IR_XML).is_file()]
    except OSError:
        return None
    if not candidates:
        return None
    prefix = entry_prefix(model)
    ready = []
    for entry in candidates:
        verdict = read_verdict(entry) if entry.name.startswith(prefix) else None
        if verdict is not None and verdict.accepted:
            ready.append(entry)
    return max(ready, key=lambda p: (p / VERDICT).stat().st_mtime, default=None)


@register
class OpenVINOInt8Backend(OpenVINOBackend):
    """The int8 IR of a model whose agreement guard passed, compiled for the CPU (see the module's notes)."""

    name = "openvino-int8"
    cache_kind = KIND
    needs_preparation = True

    def __init__(self, model: SlowFast, device: torch.device, *, entry: Path | None = None, **kwargs: Any) -> None:
        self._given_entry = entry  # `quantize_model` runs the guard on a fresh entry before any verdict exists
        super().__init__(model, device, **kwargs)

    @classmethod
    def usable_for(cls, model: SlowFast) -> bool:
        return accepted_entry(model) is not None

    @property
    def description(self) -> str:
        return f"{self.name} {self._ov.__version__.split('-')[0]} on cpu ({self.num_threads} threads)"

    def _load_or_convert(self) -> Any:
        """The int8 IR of this model's accepted entry (or the entry given); never converts anything."""
        entry = self._given_entry or accepted_entry(self.model, self.cache.parent)
        if entry is None:
            raise BackendError(
                f"no int8 model of {self.model.config.name} with these weights has passed the agreement guard "
                "here: run `slowfast quantize --weights W --calibrate VIDEO_OR_FOLDER` first, or use --backend openvino")
        try:
            ov_model = self.core.read_model(str(entry / child.IR_XML))
        except RuntimeError as exc:
            raise BackendError(f"the cached int8 model {entry} is unreadable ({exc}): run `slowfast quantize` "
                               "again") from None
        self.ir_from_cache = True
        self._use_entry(entry)
        return ov_model


@dataclass
class QuantizeResult:
    """What `quantize_model` made: the entry (int8 IR + verdict), the guard's report, and how it went."""

    entry: Path
    report: GuardReport
    from_cache: bool  # the int8 IR and its verdict were already cached: nothing was recomputed
    timings: dict[str, float] = field(default_factory=dict)


def _quantize_in_child(fp32: OpenVINOBackend, plan: CalibrationPlan, prep: Preprocessing, folder: Path,
                       entry: Path, *, cancel: threading.Event | None) -> None:
    """Make the int8 IR in a child process and rename it into place as `entry`."""
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=model_cache.TMP_PREFIX, dir=folder))
    try:
        if fp32.entry is not None:
            fp32_xml = fp32.entry / child.IR_XML
        else:  # the fp32 cache is not writable: hand the child a copy
            fp32_xml = work / "fp32" / child.IR_XML
            fp32_xml.parent.mkdir()
            fp32._ov.save_model(fp32.ov_model, str(fp32_xml), compress_to_fp16=False)
        geometry = fp32.model.config.geometry
        job = {"parent": os.getpid(), "fp32_xml": str(fp32_xml), "plan": plan.to_json(),
               "geometry": geometry.__dict__, "preprocessing": prep.__dict__}
        (work / child.JOB).write_text(json.dumps(job), encoding="utf-8")
        try:
            ir = convert_in_child(work, cancel=cancel, module="slowfast_core.backends.openvino_quantize")
        except _ConversionFailed as exc:
            raise BackendError(f"NNCF could not quantise {fp32.model.config.name}: {exc}") from None
        try:
            os.rename(ir, entry)
        except OSError:
            if not (entry / child.IR_XML).exists():
                raise BackendError(f"could not write the int8 model into the cache {folder}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def quantize_model(model: SlowFast, plan: CalibrationPlan, prep: Preprocessing, *,
                   cancel: threading.Event | None = None, root: Path | None = None,
                   say: Callable[[str], None] | None = None) -> QuantizeResult:
    """Quantise `model` on the plan's calibration windows (cached), then run the agreement guard on its held-out
    windows and record the verdict. A cached entry with a verdict is returned as it is (`from_cache`)."""
    say = say or (lambda message: logger.info("%s", message))
    version = nncf_version()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    fp32 = OpenVINOBackend(model, CPU, cancel=cancel, cache=root)
    timings["fp32_s"] = time.perf_counter() - t0
    folder = model_cache.kind_dir(KIND, root or slowfast_cache_dir())
    geometry = model.config.geometry
    entry = folder / f"{entry_prefix(model)}{plan.identity(geometry, prep)}-nncf{version}"
    cached = read_verdict(entry) if (entry / child.IR_XML).is_file() else None
    if cached is not None:
        model_cache.touch(entry)
        return QuantizeResult(entry, cached, True, timings)
    if not (entry / child.IR_XML).is_file():
        say(f"quantising {model.config.name} to int8 on {plan.calibration} windows of "
            f"{len(plan.videos)} video(s) (once: the result is cached in {folder})")
        t0 = time.perf_counter()
        _quantize_in_child(fp32, plan, prep, folder, entry, cancel=cancel)
        timings["quantize_s"] = time.perf_counter() - t0
    say(f"agreement guard: int8 vs fp32 on {plan.held_out} held-out windows")
    t0 = time.perf_counter()
    int8 = OpenVINOInt8Backend(model, CPU, entry=entry, cache=root, cancel=cancel)
    report = run_guard(fp32, int8, iter_plan_windows(plan, geometry, prep, "held-out"))
    timings["guard_s"] = time.perf_counter() - t0
    write_verdict(entry, report, model=model.config.name, weights=model.meta.weights,
                  calibration_videos=[v.path for v in plan.videos], calibration_windows=plan.calibration)
    model_cache.enforce_limit(folder, keep=entry)
    return QuantizeResult(entry, report, False, timings)
