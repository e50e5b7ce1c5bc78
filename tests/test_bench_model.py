"""`slowfast bench model`: one run, every engine side by side, equal logits, and its user-error paths."""

from __future__ import annotations

import json

import pytest
import torch

from slowfast_core.backends import available_backends
from slowfast_core.bench.first_prediction import time_to_first_prediction
from slowfast_core.bench.model import final_feature_size, reference_model
from slowfast_core.cli import main
from slowfast_core.weights.api import create_model
from slowfast_core.model.flops import count_macs


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def bench_cache(tmp_path_factory: pytest.TempPathFactory):
    """A model cache shared by the bench runs here: the second run reads the IR the first converted."""
    return tmp_path_factory.mktemp("bench-cache")


def test_bench_model_json_reports_every_engine(capsys, bench_cache, monkeypatch) -> None:
    monkeypatch.setenv("SLOWFAST_CACHE_DIR", str(bench_cache))
    code = main(["bench", "model", "--size", "64", "--runs", "2", "--warmup", "0", "--device", "cpu",
                 "--no-start", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    rows = {r["engine"]: r for r in report["rows"]}
    names = available_backends(torch.device("cpu"))
    assert report["default_backend"] == names[0]
    assert f"ours {names[0]} (default)" in rows
    assert all(f"ours {n}" in rows or f"ours {n} (default)" in rows for n in names)
    model = create_model("slowfast_8x8_r50")
    x = [torch.zeros(1, 3, c.frames, 64, 64) for c in model.config.geometry.pathways()]
    assert report["gmacs_per_clip"] == pytest.approx(count_macs(model, x) / 1e9)
    assert report["peak_gmacs_per_s"] > 0
    for r in report["rows"]:
        assert len(r["times"]) == 2 and r["p10"] <= r["median"] <= r["p90"] and r["best"] <= r["median"]
        assert r["gmacs_per_s"] == pytest.approx(report["gmacs_per_clip"] / r["median"])
        if "(info)" not in r["engine"]:  # the bf16 row is shown for its speed only
            assert r["max_abs_diff"] < 1e-4, r["engine"]
    if _has("pytorchvideo"):
        first = report["rows"][0]
        assert first["engine"] == "pytorchvideo eager" and first["ratio"] == pytest.approx(1.0)
        assert "pytorchvideo openvino" in rows


def test_bench_model_table_names_the_comparison(capsys, bench_cache, monkeypatch) -> None:
    monkeypatch.setenv("SLOWFAST_CACHE_DIR", str(bench_cache))
    assert main(["bench", "model", "--size", "64", "--runs", "1", "--warmup", "0",
                 "--device", "cpu", "--no-start", "--no-reference"]) == 0
    out = capsys.readouterr().out
    assert "slowfast_8x8_r50 at 64²" in out and "median s" in out and "% peak" in out
    assert "ours torch-eager" in out and "pytorchvideo" not in out.split("rows:")[0]


@pytest.mark.skipif(not _has("pytorchvideo"), reason="pytorchvideo is not installed")
@pytest.mark.parametrize("arch,size", [("slowfast_8x8_r50", 112), ("slowfast_4x16_r50", 128)])
def test_reference_model_has_our_weights_and_logits(arch, size) -> None:
    torch.manual_seed(0)
    ours = create_model(arch, num_classes=7)
    ref = reference_model(ours.config, size, ours.state_dict())
    assert ref is not None
    x = [torch.randn(1, 3, c.frames, size, size) for c in ours.config.geometry.pathways()]
    with torch.inference_mode():
        torch.testing.assert_close(ref(list(x)), ours(x), atol=1e-4, rtol=0)  # ref rewrites its input list


def test_reference_is_none_for_what_pytorchvideo_cannot_build() -> None:
    model = create_model("slow_4x16_r50", num_classes=5)
    assert reference_model(model.config, 112, model.state_dict()) is None


def test_final_feature_size_follows_the_five_stride_two_steps() -> None:
    assert [final_feature_size(s) for s in (224, 256, 112, 160, 192)] == [7, 8, 4, 5, 6]


def test_a_second_start_reads_the_converted_model_from_the_cache(tmp_path) -> None:
    """`time_to_first_prediction` starts a fresh Python each time: the first start converts and caches the
    model, the second reads that IR back instead of converting again (its files are not rewritten). How much
    faster that is, is what the bench reports; it is not asserted here."""
    cold = time_to_first_prediction("slowfast_tiny", 64, "cpu", tmp_path)
    assert cold["seconds"] > 0 and "on cpu" in str(cold["backend"])

    def converted() -> dict[str, tuple[int, int]]:
        return {str(p.relative_to(tmp_path)): (p.stat().st_mtime_ns, p.stat().st_size)
                for p in (tmp_path / "openvino").glob("slowfast_tiny-*/model.*") if p.suffix in (".xml", ".bin")}

    first = converted()
    assert sorted(n.rsplit(".", 1)[1] for n in first) == ["bin", "xml"]  # the child wrote the converted model
    warm = time_to_first_prediction("slowfast_tiny", 64, "cpu", tmp_path)
    assert warm["backend"] == cold["backend"]
    assert converted() == first  # read back, not converted and written again


@pytest.mark.parametrize("argv,message", [
    (["--runs", "0"], "--runs must be >= 1"),
    (["--size", "16"], "--size 16 is too small"),
    (["--device", "tpu"], "unknown device 'tpu'"),
])
def test_bad_options_are_one_line_errors(argv, message, capsys) -> None:
    assert main(["bench", "model", "--no-start", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu_is_a_one_line_error(capsys) -> None:
    assert main(["bench", "model", "--device", "cuda", "--no-start"]) == 2
    err = capsys.readouterr().err
    assert "no CUDA GPU" in err and err.count("\n") == 1
