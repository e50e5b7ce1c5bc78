"""`slowfast experiment`: every model x seed x budget trained from scratch, summarised with GFLOPs; finished
runs are reused; the CPU-time budget counts this process's CPU seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from slowfast_core.cli import main


def test_table5a_runs_every_model_and_reuses_finished_runs(tiny_synth: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    threads = torch.get_num_threads()
    argv = ["experiment", "table5a", str(tiny_synth), "--out", str(tmp_path), "--seeds", "1",
            "--cpu-minutes", "0.001", "--epochs", "1", "--lr", "0.01", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert torch.get_num_threads() == threads  # one thread only while it ran
    rows = {r["model"]: r for r in out["rows"]}
    assert list(rows) == ["Slow-only", "Fast-only", "SlowFast"]
    assert rows["Slow-only"]["gflops"] < rows["Fast-only"]["gflops"] < rows["SlowFast"]["gflops"]
    for row in rows.values():
        for budget in ("time", "epochs"):
            cell = row[budget]
            assert len(cell["val_top1"]) == 1 and 0 <= cell["mean"] <= 1 and cell["sd"] == 0
            assert cell["epochs"] == [1]  # the CPU budget (0.06 s) ends at the first epoch boundary
    runs = sorted(tmp_path.glob("*/*/seed0/result.json"))
    assert len(runs) == 6 and {p.parts[-4] for p in runs} == {"time_0.001cpumin_lr0.01", "epochs_1_lr0.01"}
    assert {json.loads((p.parent / "run.json").read_text())["config"]["lr"] for p in runs} == {0.01}
    metrics = sorted(tmp_path.glob("*/*/seed0/metrics.jsonl"))
    stamps = [p.stat().st_mtime_ns for p in metrics]
    assert main(argv[:-1] + ["--collect", "--json"]) == 0  # summarised again from the files, nothing trained
    again = json.loads(capsys.readouterr().out)
    assert again["rows"] == out["rows"] and [p.stat().st_mtime_ns for p in metrics] == stamps
    record = json.loads(runs[0].read_text())
    assert record["cpu_seconds"] > 0 and record["budget"] in ("time", "epochs")


def test_experiment_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["experiment", "table5b", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "slowfast synth" in err[0]
    assert main(["experiment", "table5a", str(tmp_path), "--out", str(tmp_path / "o"), "--cpu-minutes", "0",
                 "--epochs", "0"]) == 2
    assert "both budgets are off" in capsys.readouterr().err
    assert main(["experiment", "table5a", str(tmp_path), "--out", str(tmp_path / "o"), "--lr", "-0.1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--lr must not be negative" in err[0]


def test_a_run_is_claimed_once_and_a_dead_holders_claim_taken_over(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from slowfast_core.train.experiment import CLAIM, claim

    run = tmp_path / "run"
    assert claim(run) and (run / CLAIM).read_text() == str(os.getpid())
    assert claim(run)  # this process holds it already
    (run / CLAIM).write_text("1")  # held by a live process (init)
    assert not claim(run)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (run / CLAIM).write_text(dead.stdout.strip())  # held by a process that has exited
    assert claim(run) and (run / CLAIM).read_text() == str(os.getpid())


def test_twins_are_read_off_a_pathways_confusion_and_the_lead_is_in_pooled_sd(tmp_path: Path) -> None:
    from slowfast_core.train.experiment import separation, twin_accuracies
    from slowfast_core.train.report import confusion_csv, read_confusion_csv
    from slowfast_core.video.actions import class_names

    names = class_names(4)  # red disc: plain still, plain ticking, striped still, striped ticking
    # Slow-only's picture: the finish always right, the tick a coin toss (each still/ticking twin split 6/4)
    confusion = [[6, 4, 0, 0], [4, 6, 0, 0], [0, 0, 6, 4], [0, 0, 4, 6]]
    path = tmp_path / "confusion.csv"
    path.write_text(confusion_csv(torch.tensor(confusion), names))
    assert read_confusion_csv(path) == (names, confusion)
    assert twin_accuracies(names, confusion) == {"finish": 1.0, "tick": 0.6}
    # Fast-only's: the tick right, plain and striped mixed; and one clip read as the wrong twin of both
    fast = [[5, 0, 5, 0], [0, 5, 0, 5], [5, 0, 5, 0], [0, 4, 1, 5]]
    assert twin_accuracies(names, fast) == {"finish": 21 / 40, "tick": 39 / 40}
    assert twin_accuracies(["red disc rising", "red disc falling"], [[1, 0], [0, 1]]) is None  # the shapes task
    rows = [{"model": "Slow-only", "time": {"mean": 0.50, "sd": 0.03}},
            {"model": "SlowFast", "time": {"mean": 0.70, "sd": 0.04}},
            {"model": "Fast-only", "time": {"mean": 0.70, "sd": 0.0}}]
    lead = {r["vs"]: r for r in separation(rows, "time")}
    assert lead["Slow-only"]["difference"] == pytest.approx(0.20)
    assert lead["Slow-only"]["pooled_sd"] == pytest.approx(((0.03 ** 2 + 0.04 ** 2) / 2) ** 0.5)
    assert lead["Slow-only"]["in_sd"] == pytest.approx(0.20 / lead["Slow-only"]["pooled_sd"])
    assert lead["Fast-only"]["difference"] == pytest.approx(0.0)
    assert separation(rows, "epochs") == []
