"""`slowfast bench detect` at small size: multi-actor data, the head trained with ground-truth boxes, the scripted
multi-actor scene through the detection path; every actor keeps its identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slowfast_core.bench.detect import DetectBenchSettings, bench_detect
from slowfast_core.weights.api import create_model
from slowfast_core.weights.native import save_model

from helpers.cli import run_cli
from helpers.errors import cli_error


def test_bench_detect_small(tmp_path: Path) -> None:
    # an untrained backbone (seeded) at 48 pixels: the test checks the path end to end and the identities; the
    # agreement a pretrained backbone reaches is measured by the bench itself (README, "Who is doing what")
    base = save_model(create_model("slowfast_tiny", num_classes=4, seed=0, input_size=48), tmp_path / "base.pyth")
    settings = DetectBenchSettings(videos=4, live_seconds=12.0, seconds_per_action=3.0, stage_width=48, height=48,
                                   epochs=100, cost_repeats=1)
    doc = bench_detect(settings, base=str(base), work=tmp_path)
    json.dumps(doc, allow_nan=False)  # one JSON document, no NaN
    assert doc["actors"] == 3 and doc["windows"] >= 15
    assert doc["person_windows"] >= 3 * 8  # most windows lie inside one scripted action
    assert doc["id_switches"] == 0 and doc["id_switches_per_min"] <= 1.0  # each actor kept one track id
    assert 0.0 <= doc["per_person_agreement"] <= 1.0 and 0.0 < doc["frame_map_gt"] <= 1.0
    assert doc["people_3_ms"] > 0 and doc["classify_ms"] > 0 and doc["cost_ratio_3_people"] > 0
    assert (tmp_path / "detect" / "detector.pyth").is_file()


@pytest.mark.parametrize(("classes", "said"), [("3", "at least two different"), ("0,0", "at least two different"),
                                               ("0,16", "each 0..15"), ("a,b", "comma-separated")])
def test_bench_detect_bad_classes_is_one_line(capsys: pytest.CaptureFixture[str], classes: str, said: str) -> None:
    code, _, err = run_cli(capsys, "bench", "detect", "--classes", classes)
    cli_error(code, err, "--classes", said)
