"""`slowfast bench features`: the interleaved cost of recording each window's feature, on a tiny model."""

from __future__ import annotations

import json

from helpers.cli import run_cli


def test_bench_features_reports_both_sides_and_the_disk(capsys) -> None:
    code, out, _ = run_cli(capsys, "bench", "features", "--arch", "slowfast_tiny", "--size", "64",
                           "--backend", "torch-cpu", "--pairs", "4", "--stride", "0.25", "--json")
    assert code == 0
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["backend"] == "torch-cpu" and figures["pairs"] == 4
    assert figures["whole_model_s"] > 0 and figures["with_feature_s"] > 0 and figures["ratio"] > 0
    dim = figures["feature_dim"]
    assert dim > 0 and figures["feature_bytes_per_min"] == (16 + 2 * dim) * 240  # 240 windows a minute
