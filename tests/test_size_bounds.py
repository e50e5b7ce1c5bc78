"""Every size option follows one rule, defined once (spec.MIN_SHORT_SIDE..MAX_SHORT_SIDE), and says it in one
line: `--size 100000` used to end in a traceback (allocating tens of GB), and `--size 8` said "use 112 or more"
while 40 was accepted."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from slowfast_core.cli import main
from slowfast_core.errors import ConfigError, SourceError
from slowfast_core.spec import MAX_SHORT_SIDE, MIN_SHORT_SIDE, Preprocessing, check_short_side


def one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("slowfast: error: ") and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 48))
    for i in range(20):
        writer.write(np.full((48, 64, 3), 10 * i, np.uint8))
    writer.release()
    return path


@pytest.mark.parametrize("size,how", [(8, "too small"), (MIN_SHORT_SIDE - 1, "too small"), (0, "too small"),
                                      (-5, "too small"), (100000, "too large"), (MAX_SHORT_SIDE + 1, "too large")])
@pytest.mark.parametrize("command", [
    ["predict", "{clip}"], ["run", "--source", "synthetic"], ["bench", "model", "--no-start"],
    ["bench", "pipeline", "--duration", "1"], ["flops"], ["demo"],
])
def test_every_size_option_refuses_out_of_range_with_the_rule(command: list[str], size: int, how: str, clip: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line([a.format(clip=clip) for a in command] + ["--size", str(size)], capsys)
    assert f"--size {size} is {how}" in err
    low, high = map(int, re.search(r"must be (\d+) to (\d+) pixels", err).groups())
    assert (low, high) == (MIN_SHORT_SIDE, MAX_SHORT_SIDE)  # the message states the rule that is enforced


def test_the_bounds_in_the_message_are_the_ones_accepted() -> None:
    for size in (MIN_SHORT_SIDE, 40, 112, 256, MAX_SHORT_SIDE):
        assert Preprocessing(short_side=size).short_side == check_short_side(size) == size
    for size in (MIN_SHORT_SIDE - 1, MAX_SHORT_SIDE + 1):
        with pytest.raises(ConfigError, match=f"must be {MIN_SHORT_SIDE} to {MAX_SHORT_SIDE} pixels"):
            Preprocessing(short_side=size)


def test_the_smallest_size_the_message_allows_really_predicts(clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(clip), "--arch", "fast_32x2_r50", "--size", str(MIN_SHORT_SIDE), "--json",
                 "--device", "cpu", "--backend", "torch-eager"]) == 0
    assert capsys.readouterr().out.count('"topk"') >= 1


def test_synthetic_and_app_sizes_are_bounded_too(capsys: pytest.CaptureFixture[str]) -> None:
    from slowfast_core.video.source_text import parse_source

    with pytest.raises(SourceError, match="too large: use at most 7680x4320"):
        parse_source("synthetic:100000x100000")
    assert "too large" in one_line(["run", "--source", "synthetic:100000x100000"], capsys)
    pytest.importorskip("PySide6")
    from app.main import main as app_main

    assert app_main(["--input-size", "100000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--input-size 100000 is too large" in err
