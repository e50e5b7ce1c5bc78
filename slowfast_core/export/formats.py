"""Writing a model as ONNX, TorchScript or OpenVINO IR, and running each file in its own runtime.

The exported graph takes one input per pathway, named after it ("slow", "fast"; a Slow-only or Fast-only
model has one), each (batch, 3, T_p, size, size) float32 RGB, normalised as the metadata says, and returns
"logits" (batch, num_classes). The batch is dynamic in every format.

Metadata (`export_metadata`: labels, mean, std, short side, crop, T, tau, alpha, inputs and their shapes) is
stored in the file where the format has a place for it: ONNX `metadata_props` (each key a string; lists as
JSON), the TorchScript archive's extra file `slowfast.json`, the IR's `rt_info` under "slowfast"; and always in
`<file>.json` beside it, for tools that do not read those places.

ONNX goes through PyTorch's TorchScript-based exporter (`torch.onnx.export(..., dynamo=False)`): the dynamo
exporter needs `onnxscript`, one more package, for a graph the classic exporter writes as well (convolutions,
pooling, concatenation). Writing `metadata_props` needs the `onnx` package. The ONNX file is verified with
onnxruntime when it is installed, else with OpenVINO's ONNX reader (always installed: our CPU backend).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from slowfast_core.errors import ExportError
from slowfast_core.model.net import SlowFast
from slowfast_core.spec import Preprocessing

FORMATS = ("onnx", "torchscript", "openvino")
#: the file each format writes, by extension
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt", "openvino": ".xml"}
OUTPUT_NAME = "logits"
OPSET = 17
METADATA_FILE = "slowfast.json"  # inside a TorchScript archive


class PathwayInputs(nn.Module):
    """`model` with one positional input per pathway (exporters name and shape inputs one by one)."""

    def __init__(self, model: SlowFast) -> None:
        super().__init__()
        self.model = model

    def forward(self, *pathways: torch.Tensor) -> torch.Tensor:
        # (B, 3, T_p, H, W) per pathway -> (B, num_classes) logits
        return self.model(list(pathways))


def input_names(model: SlowFast) -> list[str]:
    """"slow", "fast" (or just one of them), in the model's input order."""
    return [p.name for p in model.config.geometry.pathways()]


def input_shapes(model: SlowFast, size: int) -> list[list[int]]:
    """[1, 3, T_p, size, size] per pathway (the batch is dynamic)."""
    return [[1, 3, p.frames, size, size] for p in model.config.geometry.pathways()]


def export_metadata(model: SlowFast, prep: Preprocessing, size: int) -> dict[str, Any]:
    """Everything a runtime needs to feed the exported model and read its answer."""
    g = model.config.geometry
    return {
        "arch": model.config.name,
        "weights": model.meta.weights,
        "labels": list(model.meta.categories),
        "inputs": [{"name": n, "shape": ["batch", *s[1:]], "layout": "NCTHW"}
                   for n, s in zip(input_names(model), input_shapes(model, size))],
        "output": {"name": OUTPUT_NAME, "shape": ["batch", len(model.meta.categories)],
                   "meaning": "logits: softmax gives the class probabilities"},
        "preprocessing": {"color": "RGB", "scale": "1/255", "mean": list(prep.mean), "std": list(prep.std),
                          "short_side": prep.short_side, "crop": "center", "size": size},
        "clip": {"T": g.slow_frames, "tau": g.tau, "alpha": g.alpha, "fps": 30,
                 "window_frames": g.window_frames, "layout": g.layout},
    }


def _flat_metadata(meta: dict[str, Any]) -> dict[str, str]:
    """ONNX metadata_props hold strings: scalars as text, lists and objects as JSON."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items() if v is not None}


def write_onnx(wrapped: PathwayInputs, example: Sequence[torch.Tensor], path: Path, names: list[str],
               meta: dict[str, Any]) -> None:
    """ONNX with a dynamic batch, the metadata in metadata_props."""
    try:
        import onnx
    except ImportError as exc:
        raise ExportError("ONNX export needs the onnx package: pip install onnx") from exc
    axes = {n: {0: "batch"} for n in [*names, OUTPUT_NAME]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the classic exporter's deprecation notice, and tracer notes
        torch.onnx.export(wrapped, tuple(example), str(path), input_names=names, output_names=[OUTPUT_NAME],
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False, do_constant_folding=True)
    proto = onnx.load(str(path))
    for key, value in _flat_metadata(meta).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def write_torchscript(wrapped: PathwayInputs, example: Sequence[torch.Tensor], path: Path, names: list[str],
                      meta: dict[str, Any]) -> None:
    """A traced TorchScript archive (batch-agnostic: global pooling) with the metadata as an extra file."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(wrapped, tuple(example), check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={METADATA_FILE: json.dumps(meta)})


def write_openvino(wrapped: PathwayInputs, example: Sequence[torch.Tensor], path: Path, names: list[str],
                   meta: dict[str, Any]) -> None:
    """OpenVINO IR (fp32 weights) with named inputs, a dynamic batch and the metadata in rt_info."""
    from slowfast_core.backends.openvino_import import import_openvino

    ov = import_openvino()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ov.convert_model(wrapped, example_input=tuple(example))
    for port, name in zip(model.inputs, names):
        port.get_tensor().set_names({name})
    model.outputs[0].get_tensor().set_names({OUTPUT_NAME})
    model.reshape({port: ov.PartialShape([-1, *list(t.shape[1:])]) for port, t in zip(model.inputs, example)})
    for key, value in _flat_metadata(meta).items():
        model.set_rt_info(value, ["slowfast", key])
    ov.save_model(model, str(path), compress_to_fp16=False)


WRITERS: dict[str, Callable[..., None]] = {"onnx": write_onnx, "torchscript": write_torchscript,
                                           "openvino": write_openvino}


def run_onnx(path: Path, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, str]:
    """The ONNX file's logits from onnxruntime (or OpenVINO's ONNX reader when onnxruntime is absent)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return _run_ir(path, inputs), "OpenVINO (ONNX reader; onnxruntime is not installed)"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run([OUTPUT_NAME], inputs)
    return np.asarray(logits), f"onnxruntime {ort.__version__}"


def run_torchscript(path: Path, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, str]:
    """The archive loaded by torch.jit.load and run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # "torch.jit is deprecated": the format is what was asked
        module = torch.jit.load(str(path), map_location="cpu").eval()
    with torch.no_grad():
        logits = module(*[torch.from_numpy(a) for a in inputs.values()])
    return logits.numpy(), f"TorchScript (torch {torch.__version__})"


def _run_ir(path: Path, inputs: dict[str, np.ndarray]) -> np.ndarray:
    from slowfast_core.backends.openvino_import import import_openvino

    ov = import_openvino()
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    result = compiled(inputs)
    return np.asarray(result[compiled.outputs[0]])


def run_openvino(path: Path, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, str]:
    """The IR compiled for the CPU in fp32 and run."""
    from slowfast_core.backends.openvino_import import import_openvino

    return _run_ir(path, inputs), f"OpenVINO {import_openvino().__version__}"


RUNNERS: dict[str, Callable[[Path, dict[str, np.ndarray]], tuple[np.ndarray, str]]] = {
    "onnx": run_onnx, "torchscript": run_torchscript, "openvino": run_openvino}


def written_files(path: Path, fmt: str) -> list[Path]:
    """Every file an export to `path` writes (the IR's .bin, the metadata JSON beside it)."""
    files = [path, metadata_path(path)]
    if fmt == "openvino":
        files.append(path.with_suffix(".bin"))
    return files


def metadata_path(path: Path) -> Path:
    """`<file>.json`: the metadata beside the exported file."""
    return path.with_name(path.name + ".json")


def remove_files(paths: Sequence[Path]) -> None:
    """Delete what a failed export wrote (missing files are fine)."""
    for p in paths:
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
