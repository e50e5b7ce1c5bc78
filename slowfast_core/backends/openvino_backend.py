"""`openvino`: the fastest CPU backend measured here (about 2x torch on the same cores; `slowfast bench model`).

Why OpenVINO: its CPU plugin fuses conv + bias + ReLU + residual add into one oneDNN primitive, picks blocked
memory layouts once for the whole graph and keeps activations in them, and runs a static-shape plan with no
Python in the loop. Torch eager pays a layout reorder and a memory round-trip per op instead.

How:
- BatchNorm is folded into the convolutions first (slowfast_core.backends.fold), then the torch module is
  converted directly with `openvino.convert_model`. Conversion traces the model, which takes tens of seconds
  on two cores, so the converted IR is saved under the cache dir keyed by a hash of the architecture, the
  weights and the OpenVINO version; the next start reads it in a fraction of a second.
- OpenVINO's own compiled-blob cache (`CACHE_DIR`) is set beside it, so compilation is cached too.
- Precision is pinned to fp32: on CPUs with AMX/AVX512-BF16 OpenVINO defaults to bf16, which is ~2.5x
  faster but changes logits by ~1e-1, far from the 1e-4 every backend is held to.
- The IR has dynamic shapes; it is compiled for the shape of the first clip. A clip of another shape (a
  different short side or frame count) is compiled on first sight; the last `max_shapes` stay compiled.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slowfast_core.backends.base import InferenceBackend, cache_dir, inference_threads, register
from slowfast_core.backends.fold import fold_batchnorm
from slowfast_core.model.net import SlowFast

log = logging.getLogger(__name__)

#: bump when the conversion recipe changes, so stale cached IRs are not reused
RECIPE_VERSION = 1

Shapes = tuple[tuple[int, ...], ...]


def openvino_available() -> bool:
    """True when the `openvino` package can be imported here (it is optional: torch-cpu is the fallback)."""
    try:
        _import_openvino()
    except ImportError:
        return False
    return True


def _import_openvino() -> Any:
    import openvino

    return openvino


def model_key(model: torch.nn.Module, config_repr: str, ov_version: str) -> str:
    """A short hex digest of everything the converted IR depends on: recipe, architecture, weights, OpenVINO."""
    h = hashlib.blake2b(digest_size=12)
    h.update(f"{RECIPE_VERSION}|{config_repr}|{ov_version}".encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def compile_for_cpu(core: Any, ov_model: Any, shapes: Shapes, *, num_threads: int, precision: str = "f32") -> Any:
    """`ov_model` (a copy, reshaped to static `shapes`) compiled for the CPU: latency mode, given threads/precision."""
    model = ov_model.clone()
    model.reshape({model.inputs[i]: list(s) for i, s in enumerate(shapes)})
    return core.compile_model(model, "CPU", {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": precision,
        "INFERENCE_NUM_THREADS": num_threads,
    })


def run_compiled(req: Any, inputs: list[torch.Tensor]) -> torch.Tensor:
    """One synchronous inference: [(B, 3, T_p, H, W) float32 CPU] -> logits (B, num_classes) float32."""
    arrays = [np.ascontiguousarray(t.detach().cpu().float().numpy()) for t in inputs]
    result = req.infer(arrays)
    return torch.from_numpy(np.array(result[0], dtype=np.float32))


@register
class OpenVINOBackend(InferenceBackend):
    """The BN-folded model converted to OpenVINO and compiled for the CPU in fp32 (matches eager to ~1e-5)."""

    name = "openvino"

    def __init__(
        self,
        model: SlowFast,
        device: torch.device,
        *,
        num_threads: int | None = None,
        cache: Path | None = None,
        precision: str = "f32",
        max_shapes: int = 2,
    ) -> None:
        super().__init__(model, device)
        ov = _import_openvino()
        self._ov = ov
        self.num_threads = num_threads or inference_threads()
        self.precision = precision
        self.max_shapes = max(1, max_shapes)
        self.cache = (cache or cache_dir()) / "openvino"
        self.core = ov.Core()
        self._set_blob_cache()
        self.folded_model, _ = fold_batchnorm(model.eval())
        self.timings: dict[str, float] = {}
        self.ir_from_cache = False
        self.ov_model = self._load_or_convert()
        self._compiled: OrderedDict[Shapes, Any] = OrderedDict()  # shapes -> infer request

    @classmethod
    def supports(cls, device: torch.device) -> bool:
        return device.type == "cpu" and openvino_available()

    @property
    def description(self) -> str:
        return f"{self.name} {self._ov.__version__.split('-')[0]} on cpu ({self.precision}, {self.num_threads} threads)"

    # -- setup -------------------------------------------------------------------------------------------------

    def _set_blob_cache(self) -> None:
        """Point OpenVINO's compiled-blob cache into our cache dir (skipped, with a notice, if not writable)."""
        blobs = self.cache / "blobs"
        try:
            blobs.mkdir(parents=True, exist_ok=True)
            self.core.set_property({"CACHE_DIR": str(blobs)})
        except OSError as exc:
            log.warning("OpenVINO cache %s is not writable (%s): every start will convert and compile again", blobs, exc)

    def _example_inputs(self) -> list[torch.Tensor]:
        """Small zero clips of the model's geometry, only used to trace the graph (shapes stay dynamic)."""
        return [torch.zeros(1, 3, clip.frames, 112, 112) for clip in self.model.config.geometry.pathways()]

    def _load_or_convert(self) -> Any:
        """The IR from the cache when present, else convert the folded torch model and save it there."""
        t0 = time.perf_counter()
        key = model_key(self.folded_model, repr(self.model.config), self._ov.__version__)
        self.timings["hash_s"] = time.perf_counter() - t0
        xml = self.cache / f"{self.model.config.name}-{key}.xml"
        if xml.exists() and xml.with_suffix(".bin").exists():
            t0 = time.perf_counter()
            try:
                ov_model = self.core.read_model(str(xml))
                self.timings["read_ir_s"] = time.perf_counter() - t0
                self.ir_from_cache = True
                return ov_model
            except RuntimeError as exc:
                log.warning("cached OpenVINO model %s is unreadable (%s): converting again", xml, exc)
        t0 = time.perf_counter()
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.trace deprecation notes, not ours to fix
            ov_model = self._ov.convert_model(self.folded_model, example_input=(self._example_inputs(),))
        self.timings["convert_s"] = time.perf_counter() - t0
        self._save_ir(ov_model, xml)
        return ov_model

    def _save_ir(self, ov_model: Any, xml: Path) -> None:
        """Write the IR atomically (temp dir, then rename .bin before .xml), full fp32 weights."""
        try:
            xml.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=xml.parent, prefix=".tmp-") as tmp:
                tmp_xml = Path(tmp) / xml.name
                self._ov.save_model(ov_model, str(tmp_xml), compress_to_fp16=False)
                os.replace(tmp_xml.with_suffix(".bin"), xml.with_suffix(".bin"))
                os.replace(tmp_xml, xml)
        except OSError as exc:
            log.warning("could not cache the OpenVINO model in %s (%s): the next start converts again", xml.parent, exc)

    def _request(self, shapes: Shapes) -> Any:
        """An infer request compiled for exactly these input shapes (compiled on first use, LRU-bounded)."""
        req = self._compiled.get(shapes)
        if req is not None:
            self._compiled.move_to_end(shapes)
            return req
        t0 = time.perf_counter()
        compiled = compile_for_cpu(self.core, self.ov_model, shapes, num_threads=self.num_threads,
                                   precision=self.precision)
        self.timings["compile_s"] = time.perf_counter() - t0
        log.debug("OpenVINO compiled for %s in %.2f s", shapes, self.timings["compile_s"])
        req = compiled.create_infer_request()
        self._compiled[shapes] = req
        while len(self._compiled) > self.max_shapes:
            self._compiled.popitem(last=False)
        return req

    @property
    def compiled_shapes(self) -> list[Shapes]:
        """Input shapes currently compiled, oldest first."""
        return list(self._compiled)

    # -- inference ---------------------------------------------------------------------------------------------

    def __call__(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        req = self._request(tuple(tuple(t.shape) for t in inputs))  # [(B, 3, T_p, H, W)]
        return run_compiled(req, inputs)  # (B, num_classes)
