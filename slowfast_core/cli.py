"""The `slowfast` command line. Each subcommand lives in `slowfast_core/commands/<name>.py`.

A subcommand module exposes `register(subparsers)` (adds its parser and sets `func`). User mistakes raise
`SlowFastError`; here they become one line on stderr and exit status 2, never a traceback.

SIGINT and SIGTERM end any command at any moment (imports included: this module imports nothing heavy, and
`main` takes the signals first thing) with `slowfast: interrupted` and status 130 / 143 (128 + the signal),
never a traceback. A command may take them over for a graceful stop (`slowfast run` flushes and exits with the
same statuses).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any, NoReturn

from slowfast_core.version import __version__
from slowfast_core.errors import SlowFastError, exit_status

#: Subcommand modules under slowfast_core.commands, in the order `--help` lists them.
COMMANDS: tuple[str, ...] = (
    "predict", "run", "train", "teach", "evaluate", "synth", "weights", "flops", "bench", "sessions", "demo", "cache",
    "quantize", "export", "experiment",
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(prog="slowfast", description="Real-time action recognition with SlowFast.")
    parser.add_argument("--version", action="version", version=f"slowfast {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="also show informational notices")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"slowfast_core.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"slowfast_core.commands.{name}":
                raise
            continue  # subcommand not built yet
        module.register(sub)
    return parser


def configure_logging(verbose: bool = False) -> None:
    """Show the engine's notices on stderr as `slowfast: warning: ...` lines (INFO too with --verbose).

    They stop at our own handler (no propagation): OpenVINO's converter puts a handler on the root logger while
    it runs whose format prints the message unformatted ("[ WARNING ]  ... after %.1f s: %s"), so any line
    that reached the root from another thread during a conversion came out twice, once raw."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LowerLevelFormatter("slowfast: %(levelname)s: %(message)s"))
    logger = logging.getLogger("slowfast_core")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO if verbose else logging.WARNING)


class _LowerLevelFormatter(logging.Formatter):
    """`slowfast: warning: ...` rather than `WARNING`, like argparse's own `error:` lines."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord(record.__dict__)
        record.levelname = record.levelname.lower()
        return super().format(record)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived (`signum` says which); the command unwinds and `main` exits 128 + signum."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def take_signals() -> dict[int, Any]:
    """SIGINT and SIGTERM raise `Interrupted` in the main thread from now on; returns the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}


#: the statuses a command returns when a signal ended it (and only then)
SIGNAL_STATUSES = (128 + signal.SIGINT, 128 + signal.SIGTERM)


def exit_now(status: int) -> NoReturn:
    """End the process at once with `status`: streams and log handlers flushed, the interpreter's teardown
    skipped. With torch and OpenVINO loaded that teardown takes 2-5 s on a busy 2-core machine (measured),
    past the 2 s a signal allows; it also does not wait for an engine thread still inside a torch forward
    pass (stopped, its result dropped). Every file the command wrote is closed by then."""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C while leaving changes nothing
            signal.signal(sig, signal.SIG_IGN)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def signal_behind(exc: BaseException) -> int | None:
    """The signal number of the `Interrupted` that `exc` was raised from (its __cause__ chain), else None.

    A signal's `Interrupted` is raised wherever the main thread is, and Python wraps some of those places' errors:
    one raised inside a class body's `__set_name__` (e.g. while a dataclass module is imported) comes out of
    Python 3.11 as a RuntimeError caused by it. The run still ended because of the signal."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, Interrupted):
            return cause.signum
        cause = cause.__cause__
    return None


def _interrupted(signum: int) -> int:
    """Say that a signal ended the command; its exit status (128 + signum)."""
    try:
        print("slowfast: interrupted", file=sys.stderr)
    except KeyboardInterrupt:  # a second Ctrl-C while saying so
        pass
    return exit_status(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `slowfast` console script; returns the exit status.

    Called as the program (argv None), a run that a signal ended leaves through `exit_now`; called with
    arguments (tests, other Python code) it always returns.
    """
    program = argv is None
    status = _main(argv, restore_signals=not program)
    if program and status in SIGNAL_STATUSES:
        exit_now(status)
    return status


def _main(argv: Sequence[str] | None, *, restore_signals: bool) -> int:
    previous = take_signals()
    if not restore_signals:  # the program keeps them to its end: a late signal still exits quietly
        previous = {}
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        configure_logging(getattr(args, "verbose", False))
        if not getattr(args, "func", None):
            parser.print_help()
            return 1
        return int(args.func(args) or 0)
    except SlowFastError as exc:
        print(f"slowfast: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        return _interrupted(getattr(exc, "signum", signal.SIGINT))
    except BrokenPipeError:
        return 0
    except Exception as exc:
        signum = signal_behind(exc)
        if signum is None:
            raise
        return _interrupted(signum)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
