"""Log lines are formatted once and tagged for what they are: a warning logged while OpenVINO's converter has
its own handler on the root logger used to print a second, raw copy (`[ WARNING ]  ... after %.1f s: %s`), and
benchmark progress lines were tagged "warning:"."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from slowfast_core.cli import main


def test_a_warning_during_an_openvino_conversion_prints_once_formatted() -> None:
    script = textwrap.dedent("""
        import logging
        from slowfast_core.backends.openvino_import import without_telemetry
        without_telemetry()  # as the program does before importing OpenVINO
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
    """`slowfast bench pipeline` prints its progress (the engine's status, about every 5 s) as plain lines."""
    assert main(["bench", "pipeline", "--duration", "1", "--arch", "slowfast_tiny", "--size", "32", "--width", "160",
                 "--height", "120", "--backend", "torch-eager", "--device", "cpu"]) == 0
    err = capsys.readouterr().err.splitlines()
    progress = [line for line in err if "fps," in line]
    assert progress, err
    for line in progress:
        assert re.fullmatch(r"bench: \w+: \d+\.\d fps, \d+ read, \d+ dropped, \d+ windows, \d+ stale, "
                            r"inference p50 (\d+|-) ms", line), line
