"""The one-line error contract: a SlowFastError's message is one line; the CLI prints exactly one
`slowfast: error: ...` line on stderr, never a traceback, and exits 2."""

from __future__ import annotations

import pytest


def one_line(exc: pytest.ExceptionInfo[BaseException], *needles: object) -> str:
    """The exception's message, checked to be one non-empty line that contains every needle (e.g. a path)."""
    msg = str(exc.value)
    assert msg and "\n" not in msg and msg.strip() == msg, repr(msg)
    for needle in needles:
        assert str(needle) in msg, (needle, msg)
    return msg


def cli_error(code: int, err: str, *needles: object) -> str:
    """Check a failed command: exit 2, no traceback, one `slowfast: error:` line holding every needle."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("slowfast: error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert str(needle) in lines[0], (needle, lines[0])
    return lines[0]
