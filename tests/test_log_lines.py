"""Log lines are formatted once and tagged for what they are: a warning logged while OpenVINO's converter has
its own handler on the root logger used to print a second, raw copy (`[ WARNING ]  ... after %.1f s: %s`), and
benchmark progress lines were tagged "warning:"."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from slowfast_core.stream.types import EngineStatus


def test_a_warning_during_an_openvino_conversion_prints_once_formatted() -> None:
    pytest.importorskip("openvino.tools.ovc.logger")
    script = textwrap.dedent("""
        import logging
        from openvino.tools.ovc.logger import get_logger_state, init_logger, restore_logger_state
        from slowfast_core.cli import configure_logging

        configure_logging()
        state = get_logger_state()
        init_logger("ERROR", False, True)  # what openvino.convert_model does while it runs
        logging.getLogger("slowfast_core.stream.engine").warning(
            "engine threads still running after %.1f s: %s", 2.0, ["slowfast-inference"])
        restore_logger_state(state)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stderr == ("slowfast: warning: engine threads still running after 2.0 s: "
                           "['slowfast-inference']\n")


def test_bench_progress_lines_are_not_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    from slowfast_core.stream.bench import _Progress

    status = EngineStatus(state="running", source="synthetic", width=160, height=120, capture_fps=29.9,
                          frames_read=300, frames_dropped=0, frames_late=0, windows_done=18, windows_dropped=1,
                          model="m", device="cpu", backend="torch-eager", inference_ms_p50=12.0)
    _Progress(quiet=False).on_status(status)
    err = capsys.readouterr().err
    assert err == "bench: running: 29.9 fps, 300 read, 0 dropped, 18 windows, 1 stale, inference p50 12 ms\n"
