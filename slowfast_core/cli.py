"""The `slowfast` command line. Each subcommand lives in `slowfast_core/commands/<name>.py`.

A subcommand module exposes `register(subparsers)` (adds its parser and sets `func`). User mistakes raise
`SlowFastError`; here they become one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from slowfast_core import __version__
from slowfast_core.errors import SlowFastError

#: Subcommand modules under slowfast_core.commands, in the order `--help` lists them.
COMMANDS: tuple[str, ...] = ("predict", "run", "weights", "flops", "bench", "sessions", "demo")


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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `slowfast` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(getattr(args, "verbose", False))
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except SlowFastError as exc:
        print(f"slowfast: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("slowfast: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
