"""`slowfast bench soak` runs and reports every figure; its fault injections measure what a full disk and a
SIGKILL while recording lose (figures are printed, not asserted beyond what the design promises)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from slowfast_core.cli import main
from slowfast_core.bench.faults import disk_full_fault, sigkill_fault


def test_soak_reports_memory_drops_overhead_files_and_threads(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "soak.json"
    assert main(["bench", "soak", "--duration", "1", "--arch", "fast_32x2_r50", "--size", "32", "--width", "160",
                 "--height", "120", "--backend", "torch-eager", "--device", "cpu", "--no-faults", "--record",
                 "--quiet", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for label in ("memory", "capture", "predictions", "inference", "resources", "stop", "recording"):
        assert f"  {label}" in text, label
    soak = json.loads(out.read_text())["soak"]
    assert soak["predictions"] >= 1 and soak["rss_warm_mb"] > 0 and soak["rss_growth_after_warmup_pct"] is not None
    assert soak["open_files_end"] <= soak["open_files_start"] + 2  # nothing left open but a library's own
    assert not [t for t in soak["threads_after_stop"] if t.startswith("slowfast-") or t.startswith("session-")]
    assert soak["recorded_frames"] > 0 and soak["recording_error"] is None


def _recorder_default(name: str) -> float:
    from slowfast_core.sessions import SessionRecorder

    return float(inspect.signature(SessionRecorder.start).parameters[name].default)


def test_disk_full_and_sigkill_lose_at_most_the_open_segment_and_the_queue(tmp_path: Path) -> None:
    """The recorder's promise (sessions/recorder.py): a full disk or a kill -9 loses the open segment (at most
    `segment_seconds`) plus what waited in the writer's queue (at most `queue_seconds`). A SIGKILL at a live pace
    finds at most half a second queued."""
    segment_s, queue_s = _recorder_default("segment_seconds"), _recorder_default("queue_seconds")
    assert (segment_s, queue_s) == (1.0, 2.0)
    (tmp_path / "full").mkdir()
    (tmp_path / "kill").mkdir()
    full = disk_full_fault(fps=30.0, width=160, height=120, work=tmp_path / "full")
    assert "error" not in full, full
    assert "disk" in full["message"] and full["kept_s"] > 0
    assert 0 <= full["lost_s"] <= segment_s + queue_s
    killed = sigkill_fault(fps=30.0, width=160, height=120, work=tmp_path / "kill", after_s=2.5)
    assert "error" not in killed, killed
    assert killed["kept_s"] > 0 and 0 <= killed["lost_s"] <= segment_s + 0.5
