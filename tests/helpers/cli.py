"""`run_cli`: the `slowfast` command run in the test's own process, the way a shell would run it.

In-process is the same code path as `python -m slowfast_core.cli` (argument parsing, error lines, exit codes)
without starting a fresh Python that imports torch again; tests that need a real process (signals, a crash, a
child's environment) start one themselves.
"""

from __future__ import annotations

import pytest

from slowfast_core import cli


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `slowfast ARGV…`; return its exit code and what it wrote to stdout and stderr."""
    capsys.readouterr()  # what the test printed before is not the command's
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err
