"""`openvino`: the fastest CPU backend measured here (about 2x torch on the same cores; `slowfast bench model`).

Why OpenVINO: its CPU plugin fuses conv + bias + ReLU + residual add into one oneDNN primitive, picks blocked
memory layouts once for the whole graph and keeps activations in them, and runs a static-shape plan with no
Python in the loop. Torch eager pays a layout reorder and a memory round-trip per op instead.

How:
- BatchNorm is folded into the convolutions first (slowfast_core.backends.fold), then the folded module is
  converted by `openvino.convert_model` in a child process (`openvino_convert`: tracing is not thread-safe,
  and a child can be killed when the program stops or switches model). A failed conversion is tried once
  more, then raised as `BackendError` with the child's reason.
- Conversion takes seconds to tens of seconds on two cores, so the IR is cached (slowfast_core.backends.cache):
  one folder per model, keyed by a hash of the recipe, architecture, weights and OpenVINO version, with
  OpenVINO's compiled blobs for each input shape beside it. The next start reads it in a fraction of a
  second. The cache is bounded (least recently used entries go first; `slowfast cache info`).
- Precision is pinned to fp32: on CPUs with AMX/AVX512-BF16 OpenVINO defaults to bf16, which is ~2.5x
  faster but changes logits by ~1e-1, far from the 1e-4 every backend is held to.
- The IR has dynamic shapes; it is compiled for the shape of the first clip. A clip of another shape (a
  different short side or frame count) is compiled on first sight; the last `max_shapes` stay compiled.
- Inference runs asynchronously and is waited on in short steps: a `cancel` event (the inference worker's
  stop flag) abandons a request in flight within ~50 ms, and so does Ctrl-C in the main thread.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slowfast_core.backends import cache as model_cache
from slowfast_core.backends import openvino_convert as child
from slowfast_core.backends.base import (
    BackendError,
    Cancelled,
    InferenceBackend,
    slowfast_cache_dir,
    inference_threads,
    register,
)
from slowfast_core.backends.fold import fold_batchnorm
from slowfast_core.backends.openvino_import import import_openvino
from slowfast_core.children import busy_child, child_env
from slowfast_core.model.net import SlowFast

logger = logging.getLogger(__name__)

#: bump when the conversion recipe or the cache layout changes, so stale cached IRs are not reused
#: (3: the key hashes the model as given, not its BN-folded copy, so a cached IR is found without folding)
RECIPE_VERSION = 3
#: conversion attempts before the failure is raised (a retry, then the reason)
CONVERT_ATTEMPTS = 2
#: how often a wait (conversion child, inference request) looks at its cancel event, in seconds
POLL_S = 0.05

Shapes = tuple[tuple[int, ...], ...]


def openvino_available() -> bool:
    """True when the `openvino` package can be imported here (it is optional: torch-cpu is the fallback)."""
    try:
        import_openvino()
    except ImportError:
        return False
    return True


#: model -> (tensor versions, ov version, key): a model hashed once per start, not once per check
_KEYS: "weakref.WeakKeyDictionary[torch.nn.Module, tuple[tuple[int, ...], str, str]]" = weakref.WeakKeyDictionary()


def model_key(model: torch.nn.Module, config_repr: str, ov_version: str) -> str:
    """A short hex digest of everything the converted IR depends on: recipe, architecture, weights, OpenVINO."""
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{RECIPE_VERSION}|{config_repr}|{ov_version}".encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def cached_model_key(model: SlowFast, ov_version: str) -> str:
    """`model_key` of `model`, remembered while its tensors are unchanged (an in-place change bumps a tensor's
    version counter, so a fine-tuned head is hashed again). Hashing 8x8 R50's weights takes ~0.3 s."""
    versions = tuple(t._version for t in model.state_dict().values())
    known = _KEYS.get(model)
    if known is not None and known[0] == versions and known[1] == ov_version:
        return known[2]
    key = model_key(model, repr(model.config), ov_version)
    _KEYS[model] = (versions, ov_version, key)
    return key


def cache_entry(model: SlowFast, ov_version: str, cache: Path) -> Path:
    """The cache folder of `model`'s converted IR under `cache` (the openvino kind folder); may not exist."""
    return cache / f"{model.config.name}-{cached_model_key(model, ov_version)}"


def compile_for_cpu(core: Any, ov_model: Any, shapes: Shapes, *, num_threads: int, precision: str = "f32") -> Any:
    """`ov_model` (a copy, reshaped to static `shapes`) compiled for the CPU: latency mode, given threads/precision."""
    model = ov_model.clone()
    model.reshape({model.inputs[i]: list(s) for i, s in enumerate(shapes)})
    return core.compile_model(model, "CPU", {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": precision,
        "INFERENCE_NUM_THREADS": num_threads,
    })


def run_compiled(req: Any, inputs: list[torch.Tensor], *, cancel: threading.Event | None = None) -> torch.Tensor:
    """One inference: [(B, 3, T_p, H, W) float32 CPU] -> logits (B, num_classes) float32.

    Started asynchronously and waited on in `POLL_S` steps, so that `cancel` (or a signal in the main thread)
    abandons it at once: the request is cancelled and `Cancelled` (or the KeyboardInterrupt) raised.
    """
    arrays = [np.ascontiguousarray(t.detach().cpu().float().numpy()) for t in inputs]
    req.start_async(arrays)
    try:
        while not req.wait_for(int(POLL_S * 1000)):
            if cancel is not None and cancel.is_set():
                raise Cancelled("inference cancelled")
    except BaseException:
        req.cancel()
        try:
            req.wait()
        except RuntimeError:  # "Infer Request was canceled": what we asked for
            pass
        raise
    return torch.from_numpy(np.array(req.get_output_tensor(0).data, dtype=np.float32))


class _ConversionFailed(Exception):
    """One conversion attempt failed; the message is the child's one-line reason."""


def convert_in_child(work: Path, *, cancel: threading.Event | None = None,
                     module: str = "slowfast_core.backends.openvino_convert") -> Path:
    """Run one conversion of the job in `work` in a child process; returns the folder holding model.xml/.bin.

    `module`: the child's program (`openvino_convert`, or `openvino_quantize` for int8), run as `python -m`;
    it writes WORK/ir/model.xml or WORK/error.txt.

    Waits in `POLL_S` steps: when `cancel` is set (or the main thread gets a signal) the child is killed
    and `Cancelled` (or the KeyboardInterrupt) raised. A failed child raises `_ConversionFailed(reason)`.
    """
    for stale in (work / child.ERROR, work / child.IR_DIR):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    with open(work / child.LOG, "wb") as log_file, busy_child():
        proc = subprocess.Popen(
            [sys.executable, "-m", module, str(work)],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, env=child_env(),
            start_new_session=True,  # a terminal's Ctrl-C goes to us; we decide what happens to the child
        )
        logger.debug("converting %s in process %d", work, proc.pid)
        try:
            while True:
                try:
                    code = proc.wait(timeout=POLL_S)
                    break
                except subprocess.TimeoutExpired:
                    if cancel is not None and cancel.is_set():
                        raise Cancelled("OpenVINO conversion cancelled") from None
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    if code == 0 and (work / child.IR_DIR / child.IR_XML).exists():
        return work / child.IR_DIR
    try:
        why = (work / child.ERROR).read_text(encoding="utf-8").strip()
    except OSError:
        why = ""
    if not why:
        why = f"the conversion process was killed by signal {-code}" if code < 0 else f"exit status {code}"
        if code == -9:
            why += " (out of memory?)"
    raise _ConversionFailed(why)


@register
class OpenVINOBackend(InferenceBackend):
    """The BN-folded model converted to OpenVINO and compiled for the CPU in fp32 (matches eager to ~1e-5)."""

    name = "openvino"
    #: the cache's subfolder this backend's models live in (see slowfast_core.backends.cache)
    cache_kind = "openvino"

    def __init__(
        self,
        model: SlowFast,
        device: torch.device,
        *,
        num_threads: int | None = None,
        cache: Path | None = None,
        precision: str = "f32",
        max_shapes: int = 2,
        cancel: threading.Event | None = None,
    ) -> None:
        super().__init__(model, device)
        ov = import_openvino()
        self._ov = ov
        self.num_threads = num_threads or inference_threads()
        self.precision = precision
        self.max_shapes = max(1, max_shapes)
        self.cancel_event = cancel
        model_cache.max_bytes()  # a bad $SLOWFAST_CACHE_MAX_MB fails here, before any work
        self.cache = model_cache.kind_dir(self.cache_kind, cache or slowfast_cache_dir())
        self.core = ov.Core()
        self._folded: torch.nn.Module | None = None
        self.timings: dict[str, float] = {}
        self.ir_from_cache = False
        self.entry: Path | None = None  # the cache folder this model lives in (None: not cached)
        self.ov_model = self._load_or_convert()
        self._compiled: OrderedDict[Shapes, Any] = OrderedDict()  # shapes -> infer request

    @classmethod
    def create(cls, model: SlowFast, device: torch.device, *, cancel: threading.Event | None = None
               ) -> "OpenVINOBackend":
        return cls(model, device, cancel=cancel)

    @classmethod
    def supports(cls, device: torch.device) -> bool:
        return device.type == "cpu" and openvino_available()

    @classmethod
    def ready(cls, model: SlowFast, device: torch.device) -> bool:
        """True when `model`'s converted IR is in the cache (a start then reads it instead of converting)."""
        if not cls.supports(device):
            return False
        entry = cache_entry(model, import_openvino().__version__, model_cache.kind_dir("openvino", slowfast_cache_dir()))
        return (entry / child.IR_XML).exists() and (entry / child.IR_XML).with_suffix(".bin").exists()

    @property
    def folded_model(self) -> torch.nn.Module:
        """The BN-folded private copy that is converted; made only when a conversion is needed."""
        if self._folded is None:
            self._folded, _ = fold_batchnorm(self.model.eval())
        return self._folded

    @property
    def description(self) -> str:
        return f"{self.name} {self._ov.__version__.split('-')[0]} on cpu ({self.precision}, {self.num_threads} threads)"

    # -- setup -------------------------------------------------------------------------------------------------

    def _example_shapes(self) -> list[list[int]]:
        """Small zero clips of the model's geometry, only used to trace the graph (shapes stay dynamic)."""
        return [[1, 3, clip.frames, 112, 112] for clip in self.model.config.geometry.pathways()]

    def _load_or_convert(self) -> Any:
        """The IR from the cache when present, else converted (in a child process) and cached."""
        t0 = time.perf_counter()
        entry = cache_entry(self.model, self._ov.__version__, self.cache)
        self.timings["hash_s"] = time.perf_counter() - t0
        xml = entry / child.IR_XML
        if xml.exists() and xml.with_suffix(".bin").exists():
            t0 = time.perf_counter()
            try:
                ov_model = self.core.read_model(str(xml))
            except RuntimeError as exc:
                logger.warning("cached OpenVINO model %s is unreadable (%s): converting again", entry, exc)
                model_cache.remove(entry)
            else:
                self.timings["read_ir_s"] = time.perf_counter() - t0
                self.ir_from_cache = True
                self._use_entry(entry)
                return ov_model
        return self._convert(entry)

    def _work_dir(self) -> tuple[Path, bool]:
        """A private folder for one conversion: in the cache (renamed into place when done) when writable,
        else in the system's temp folder (then nothing is cached). Returns (folder, in_cache)."""
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=model_cache.TMP_PREFIX, dir=self.cache)), True
        except OSError as exc:
            logger.warning("OpenVINO cache %s is not writable (%s): could not cache the converted model, "
                        "every start will convert and compile again", self.cache, exc)
            return Path(tempfile.mkdtemp(prefix="slowfast-openvino-")), False

    def _convert(self, entry: Path) -> Any:
        """Convert the folded model in a child process (tried twice), cache it as `entry`, return the IR."""
        name = self.model.config.name
        logger.info("converting %s for OpenVINO (once per model: the result is cached in %s)", name, self.cache)
        t0 = time.perf_counter()
        work, in_cache = self._work_dir()
        try:
            torch.save(self.folded_model, work / child.MODEL)
            job = {"example_shapes": self._example_shapes(), "parent": os.getpid()}
            (work / child.JOB).write_text(json.dumps(job), encoding="utf-8")
            for attempt in range(1, CONVERT_ATTEMPTS + 1):
                try:
                    ir = convert_in_child(work, cancel=self.cancel_event)
                    break
                except _ConversionFailed as exc:
                    if attempt == CONVERT_ATTEMPTS:
                        raise BackendError(f"OpenVINO could not convert {name} ({attempt} attempts): {exc}") from None
                    logger.warning("OpenVINO conversion of %s failed (%s): trying once more", name, exc)
            self.timings["convert_s"] = time.perf_counter() - t0
            if in_cache:
                ir = self._move_into_cache(ir, entry)
            ov_model = self.core.read_model(str(ir / child.IR_XML))  # weights are read (or mapped) now
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if self.entry is not None:
            model_cache.enforce_limit(self.cache, keep=self.entry)
        return ov_model

    def _move_into_cache(self, ir: Path, entry: Path) -> Path:
        """Rename the fresh IR folder to `entry` (atomic); if another process or thread got there first, use
        theirs. Returns the folder to read."""
        try:
            os.rename(ir, entry)
        except OSError:
            if not (entry / child.IR_XML).exists():
                logger.warning("could not cache the OpenVINO model in %s: the next start converts again", entry)
                return ir
        self._use_entry(entry)
        return entry

    def _use_entry(self, entry: Path) -> None:
        """Mark `entry` used and point OpenVINO's compiled-blob cache into it (skipped if not writable)."""
        self.entry = entry
        model_cache.touch(entry)
        blobs = entry / "blobs"
        try:
            blobs.mkdir(exist_ok=True)
            self.core.set_property({"CACHE_DIR": str(blobs)})
        except OSError as exc:
            logger.warning("OpenVINO cache %s is not writable (%s): every start will compile again", blobs, exc)

    def _request(self, shapes: Shapes) -> Any:
        """An infer request compiled for exactly these input shapes (compiled on first use, LRU-bounded)."""
        req = self._compiled.get(shapes)
        if req is not None:
            self._compiled.move_to_end(shapes)
            return req
        logger.info("compiling %s for OpenVINO, input %s", self.model.config.name, [list(s) for s in shapes])
        t0 = time.perf_counter()
        compiled = compile_for_cpu(self.core, self.ov_model, shapes, num_threads=self.num_threads,
                                   precision=self.precision)
        self.timings["compile_s"] = time.perf_counter() - t0
        logger.debug("OpenVINO compiled for %s in %.2f s", shapes, self.timings["compile_s"])
        req = compiled.create_infer_request()
        self._compiled[shapes] = req
        while len(self._compiled) > self.max_shapes:
            self._compiled.popitem(last=False)
        if self.entry is not None:  # a new compiled blob may have grown the cache
            model_cache.enforce_limit(self.cache, keep=self.entry)
        return req

    def ready_for(self, inputs: list[torch.Tensor]) -> None:
        """Compile for these shapes (read from OpenVINO's blob cache when there); no zero pass: that would cost
        one full inference on the way to the first prediction and buy nothing once compiled."""
        self._request(tuple(tuple(t.shape) for t in inputs))

    @property
    def compiled_shapes(self) -> list[Shapes]:
        """Input shapes currently compiled, oldest first."""
        return list(self._compiled)

    # -- inference ---------------------------------------------------------------------------------------------

    def __call__(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        if self.cancel_event is not None and self.cancel_event.is_set():
            raise Cancelled("the backend was cancelled")
        req = self._request(tuple(tuple(t.shape) for t in inputs))  # [(B, 3, T_p, H, W)]
        return run_compiled(req, inputs, cancel=self.cancel_event)  # (B, num_classes)
