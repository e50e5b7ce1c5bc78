"""Int8 on the CPU: `slowfast quantize` (NNCF on real video), the agreement guard, and `--backend auto` using int8
only for a model whose guard passed.

One quantisation for the module (a tiny model, 60 calibration windows of two real clips): the expensive part.
The model has a decisive classifier (class 0's row is a large positive constant over the non-negative pooled
features), the way a trained model is decisive on its confident windows: random weights leave the classes
within quantisation noise of each other, which says nothing about int8 (see the README's measurements of a
trained model). The broken int8 model is that same IR with its classifier's int8 weights negated.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.errors import cli_error
from slowfast_core.backends import create_backend
from slowfast_core.backends.guard import VERDICT, compare_logits, read_verdict
from slowfast_core.cli import main
from slowfast_core.weights.api import create_model
from slowfast_core.weights.native import save_model

CLIPS = ("demo.mp4", "test.mp4")  # the two 340x256 clips: 20 s of real video, quick to decode


def _nncf() -> bool:
    try:
        import importlib.metadata

        importlib.metadata.version("nncf")
    except Exception:  # noqa: BLE001
        return False
    return True


needs_nncf = pytest.mark.skipif(not _nncf(), reason="NNCF is not installed")


def _quantize(argv: list[str]) -> tuple[int, dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["quantize", *argv, "--json"])
    return code, json.loads(out.getvalue())


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory):
    """A private model cache for the module ($SLOWFAST_CACHE_DIR)."""
    mp = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("int8-cache")
    mp.setenv("SLOWFAST_CACHE_DIR", str(folder))
    yield folder
    mp.undo()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SlowFast with a decisive classifier, saved as a checkpoint `--weights` takes."""
    model = create_model("slowfast_tiny", seed=0)
    with torch.no_grad():
        proj = model.blocks[-1].proj  # the classifier: (num_classes, features)
        proj.weight[0] = proj.weight.abs().max() * 20
    path = tmp_path_factory.mktemp("int8-model") / "tiny.pyth"
    save_model(model, path)
    return path


@pytest.fixture(scope="module")
def quantized(cache: Path, checkpoint: Path, realvideo: Path) -> dict:
    """`slowfast quantize --json` once for the module."""
    if not _nncf():
        pytest.skip("NNCF is not installed")
    code, data = _quantize(["--weights", str(checkpoint), "--calibrate", *(str(realvideo / c) for c in CLIPS),
                            "--windows", "60"])
    data["exit"] = code
    return data


def _model(checkpoint: Path):
    from slowfast_core.weights.api import load_model

    return load_model(arch=None, weights=str(checkpoint))


# -- the guard's figures (pure) ---------------------------------------------------------------------------------------


def test_compare_logits_figures() -> None:
    ref = np.array([[3.0, 1.0, 0.0, -1.0, -2.0, -3.0], [0.0, 2.0, 1.0, 0.5, -1.0, -2.0]])
    same = compare_logits(ref, ref * 2 + 1)  # a monotone change: same ranking, r = 1
    assert (same.top1_agreement, same.top5_overlap, same.windows) == (1.0, 1.0, 2)
    assert same.logit_correlation == pytest.approx(1.0) and same.accepted
    swapped = ref.copy()
    swapped[1, [1, 2]] = swapped[1, [2, 1]]  # window 1's top two exchanged; its top-5 set unchanged
    other = compare_logits(ref, swapped)
    assert other.top1_agreement == 0.5 and other.top5_overlap == 1.0 and not other.accepted
    broken = compare_logits(ref, np.full_like(ref, np.nan))  # never a prediction: counts as disagreement
    assert (broken.top1_agreement, broken.top5_overlap, broken.logit_correlation) == (0.0, 0.0, 0.0)
    json.dumps(broken.to_dict(), allow_nan=False)  # no NaN in what is printed or recorded


# -- quantize: bad input is one line --------------------------------------------------------------------------------


def test_quantize_bad_input_is_one_line(tmp_path: Path, checkpoint: Path, realvideo: Path, cache: Path,
                                        capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no video here")
    not_video = tmp_path / "clip.mp4"
    not_video.write_text("this is text, not a video")
    cases = [
        ([str(tmp_path / "missing.mp4")], "does not exist"),
        ([str(empty)], "no video found"),
        ([str(not_video)], str(not_video)),
        ([str(realvideo / "demo_skeleton.mp4")], "too few windows"),  # 2.6 s: 47 windows of a tiny model
    ]
    for calibrate, needle in cases:
        code = main(["quantize", "--weights", str(checkpoint), "--calibrate", *calibrate, "--windows", "60"])
        cli_error(code, capsys.readouterr().err, needle)
    code = main(["quantize", "--weights", str(checkpoint), "--calibrate", str(realvideo), "--windows", "5"])
    cli_error(code, capsys.readouterr().err, "--windows 5")
    assert not list((cache / "openvino-int8").glob("*/model.xml"))  # nothing was quantised


# -- quantize, the int8 backend and auto ------------------------------------------------------------------------------


@needs_nncf
def test_quantize_reports_the_guard_and_auto_takes_int8(quantized: dict, checkpoint: Path) -> None:
    for name in ("top1_agreement", "top5_overlap", "logit_correlation", "accepted", "cache_path",
                 "held_out_windows", "calibration_windows"):
        assert name in quantized, name
    assert 0.0 <= quantized["top1_agreement"] <= 1.0 and 0.0 <= quantized["top5_overlap"] <= 1.0
    assert quantized["calibration_windows"] == 60 and quantized["held_out_windows"] >= 20
    assert quantized["accepted"] is True and quantized["exit"] == 0, quantized
    entry = Path(quantized["cache_path"])
    assert (entry / "model.xml").is_file() and read_verdict(entry).accepted  # type: ignore[union-attr]
    model = _model(checkpoint)
    int8 = create_backend(model, backend="auto", device="cpu")
    assert int8.name == "openvino-int8"
    fp32 = create_backend(model, backend="openvino", device="cpu")
    x = [torch.randn(2, 3, c.frames, 80, 80) for c in model.config.geometry.pathways()]  # [(B, 3, T_p, 80, 80)]
    a, b = fp32(x), int8(x)
    assert a.shape == b.shape == (2, model.config.num_classes) and b.dtype == torch.float32
    figures = compare_logits(a.numpy(), b.numpy())
    assert figures.top1_agreement == 1.0 and figures.logit_correlation > 0.99
    assert not torch.equal(a, b)  # int8 really ran: not the fp32 model under another name


@needs_nncf
def test_bench_model_has_an_int8_row_with_the_guards_figures(quantized: dict, checkpoint: Path, realvideo: Path,
                                                             capsys) -> None:
    """Same model, video and size as `quantized`: the bench reads the cached int8 model and its verdict."""
    code = main(["bench", "model", "--weights", str(checkpoint), "--size", "80", "--runs", "1", "--warmup", "0",
                 "--no-start", "--json", "--calibrate", *(str(realvideo / c) for c in CLIPS),
                 "--calibration-windows", "60"])
    assert code == 0
    rows = {r["engine"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    int8 = rows["ours openvino-int8"]
    assert int8["top1_agreement"] == quantized["top1_agreement"]
    assert int8["top5_overlap"] == quantized["top5_overlap"]
    assert 0.0 < int8["median"] and int8["max_abs_diff"] > 0.0  # timed, and not the fp32 model
    assert all(r["top1_agreement"] is None for name, r in rows.items() if name != "ours openvino-int8")


@needs_nncf
def test_guard_refuses_a_broken_int8_model_and_auto_keeps_fp32(quantized: dict, checkpoint: Path,
                                                               realvideo: Path) -> None:
    """Negate the classifier's int8 weights in the cached IR, run the guard again: refused, and auto uses fp32."""
    import openvino as ov
    import openvino.opset13 as ops

    entry = Path(quantized["cache_path"])
    core = ov.Core()
    ir = core.read_model(str(entry / "model.xml"))
    matmul = next(op for op in ir.get_ops() if op.get_type_name() == "MatMul")
    node = matmul.input(1).get_source_output().get_node()
    while node.get_type_name() != "Constant":  # the int8 weights behind their Convert and scale Multiply
        node = node.input(0).get_source_output().get_node()
    weights = node.get_data()
    assert weights.dtype == np.int8
    node.output(0).replace(ops.constant(np.clip(-weights.astype(np.int16), -127, 127).astype(np.int8)).output(0))
    broken = entry.parent / "broken"
    ov.save_model(ir, str(broken / "model.xml"), compress_to_fp16=False)
    del ir, node, matmul
    for name in ("model.xml", "model.bin"):
        (broken / name).replace(entry / name)
    (entry / VERDICT).unlink()  # the IR changed: its verdict goes, as after a fresh quantisation
    code, data = _quantize(["--weights", str(checkpoint), "--calibrate", *(str(realvideo / c) for c in CLIPS),
                            "--windows", "60"])
    assert data["cache_path"] == str(entry) and data["from_cache"] is False  # same entry, guard run again
    assert code == 1 and data["accepted"] is False
    assert data["top1_agreement"] < 0.5, data
    assert read_verdict(entry).accepted is False  # type: ignore[union-attr]
    backend = create_backend(_model(checkpoint), backend="auto", device="cpu")
    assert backend.name == "openvino"
