"""`slowfast export`: each format run in its own runtime gives the eager logits (within 1e-3) on a real window,
with a dynamic batch, named pathway inputs and the labels and preprocessing in the file's metadata; a
mismatch fails the export and leaves no file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from slowfast_core import create_model
from slowfast_core.cli import main
from slowfast_core.errors import ExportError
from slowfast_core.export.exporter import export_model
from slowfast_core.export.window import real_window
from slowfast_core.weights.native import save_model

SIZE = 64


@pytest.fixture(scope="module")
def tiny() -> torch.nn.Module:
    """slowfast_tiny with its classifier scaled up, so logits are O(1-10) and 1e-3 means something."""
    model = create_model("slowfast_tiny", seed=3)
    with torch.no_grad():
        model.blocks[-1].proj.weight.mul_(200.0)
    return model.eval()


def eager_logits(model, inputs):
    with torch.no_grad():
        return model([t.clone() for t in inputs]).numpy()


def three_windows(model):
    """A batch of 3 (the export was traced at 1 and verified at 2): the batch axis really is dynamic."""
    return real_window(model.config.geometry, model.meta.preprocessing, SIZE, batch=3)


def test_onnx_parity_metadata_and_dynamic_batch(tiny, tmp_path):
    import onnx
    import onnxruntime as ort

    result = export_model(tiny, tmp_path / "m.onnx", "onnx", size=SIZE)
    assert result.max_abs_diff <= 1e-3 and result.runtime.startswith("onnxruntime") and result.batch == 2
    proto = onnx.load(str(tmp_path / "m.onnx"))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["labels"]) == list(tiny.meta.categories)
    prep = json.loads(meta["preprocessing"])
    assert prep["mean"] == [0.45] * 3 and prep["std"] == [0.225] * 3 and prep["short_side"] == 80
    assert json.loads(meta["clip"])["T"] == 4 and json.loads(meta["clip"])["tau"] == 8
    assert json.loads(meta["clip"])["alpha"] == 4
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("slow", ["batch", 3, 4, SIZE, SIZE]),
                                                                 ("fast", ["batch", 3, 16, SIZE, SIZE])]
    assert session.get_outputs()[0].name == "logits"
    inputs = three_windows(tiny)
    (got,) = session.run(["logits"], {"slow": inputs[0].numpy(), "fast": inputs[1].numpy()})
    expected = eager_logits(tiny, inputs)
    assert got.shape == (3, 400) and np.abs(expected).max() > 1.0
    np.testing.assert_allclose(got, expected, atol=1e-3, rtol=0)
    assert json.loads((tmp_path / "m.onnx.json").read_text())["labels"] == list(tiny.meta.categories)


def test_torchscript_parity_and_metadata(tiny, tmp_path):
    result = export_model(tiny, tmp_path / "m.pt", "torchscript", size=SIZE)
    assert result.max_abs_diff <= 1e-3
    extra = {"slowfast.json": ""}
    module = torch.jit.load(str(tmp_path / "m.pt"), _extra_files=extra)
    assert json.loads(extra["slowfast.json"])["inputs"][1]["name"] == "fast"
    inputs = three_windows(tiny)
    with torch.no_grad():
        got = module(*inputs).numpy()
    np.testing.assert_allclose(got, eager_logits(tiny, inputs), atol=1e-3, rtol=0)


def test_openvino_parity_and_metadata(tiny, tmp_path):
    from slowfast_core.backends.openvino_import import import_openvino

    ov = import_openvino()
    result = export_model(tiny, tmp_path / "m.xml", "openvino", size=SIZE)
    assert result.max_abs_diff <= 1e-3 and (tmp_path / "m.bin").is_file()
    model = ov.Core().read_model(str(tmp_path / "m.xml"))
    assert [p.get_any_name() for p in model.inputs] == ["slow", "fast"]
    assert model.inputs[0].get_partial_shape().is_dynamic  # the batch
    assert json.loads(model.get_rt_info(["slowfast", "labels"]).astype(str)) == list(tiny.meta.categories)
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    inputs = three_windows(tiny)
    got = compiled({"slow": inputs[0].numpy(), "fast": inputs[1].numpy()})[compiled.outputs[0]]
    np.testing.assert_allclose(got, eager_logits(tiny, inputs), atol=1e-3, rtol=0)


def test_a_mismatch_fails_the_export_with_the_difference_and_leaves_no_file(tiny, tmp_path):
    # a limit no float32 runtime meets exactly (ONNX Runtime reorders the sums): the check, not the runtime, fails
    with pytest.raises(ExportError, match=r"differs from the eager model by [0-9.e-]+ in the logits"):
        export_model(tiny, tmp_path / "m.onnx", "onnx", size=SIZE, tolerance=0.0)
    assert list(tmp_path.iterdir()) == []


def test_export_command_on_a_checkpoint_and_its_errors(tiny, tmp_path, capsys):
    weights = save_model(create_model("slow_tiny", seed=1), tmp_path / "slow.pyth")
    out = tmp_path / "slow.onnx"
    assert main(["export", "--weights", str(weights), "--format", "onnx", "--out", str(out), "--size", "48",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["max_abs_diff"] <= 1e-3 and [i["name"] for i in doc["inputs"]] == ["slow"]  # Slow-only: one input
    assert doc["inputs"][0]["shape"] == ["batch", 3, 4, 48, 48]
    assert main(["export", "--format", "onnx", "--out", str(tmp_path / "m.pt")]) == 2
    assert "the onnx format is written to a .onnx file" in capsys.readouterr().err
    assert main(["export", "--format", "torchscript", "--out", str(tmp_path / "nowhere" / "m.pt")]) == 2
    assert "existing folder" in capsys.readouterr().err


def test_onnx_is_verified_by_openvino_where_onnxruntime_is_missing(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # onnxruntime is a test-only dependency
    result = export_model(create_model("fast_tiny", seed=0), tmp_path / "f.onnx", "onnx", size=48)
    assert result.runtime.startswith("OpenVINO (ONNX reader") and result.max_abs_diff <= 1e-3


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_a_diff_fast_input_exports_with_its_differences(tiny, fmt, tmp_path):
    """fast_input "diff" (frame differences in the Fast stem) survives tracing: the runtime matches the eager diff
    model, and so does not give the logits of the same weights on frames."""
    diff = create_model("slowfast_tiny", seed=3, fast_input="diff")
    diff.load_state_dict(tiny.state_dict())
    diff.eval()
    suffix = {"onnx": "m.onnx", "openvino": "m.xml"}[fmt]
    result = export_model(diff, tmp_path / suffix, fmt, size=SIZE)
    assert result.max_abs_diff <= 1e-3
    inputs = three_windows(diff)
    assert np.abs(eager_logits(diff, inputs) - eager_logits(tiny, inputs)).max() > 0.1
