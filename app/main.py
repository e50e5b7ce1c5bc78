"""`slowfast-app`: the desktop window.

    slowfast-app [--source camera:0|file:PATH|synthetic] [--weights NAME|PATH] [--arch NAME]
                 [--sessions DIR] [--settings FILE.ini] [--device auto|cpu|cuda] [--input-size N]
                 [--detect|--no-detect] [--detector NAME|scene:N] [--detect-weights NAME|PATH] [--detect-arch NAME]

Everything given on the command line overrides the saved settings for this run only (the Detection choice
made in the window is saved; the --detect* flags are not).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slowfast-app", description="SlowFast Live: real-time action recognition")
    parser.add_argument("--source", help="camera:N, file:PATH, a video file path, or synthetic[:WxH@FPS]")
    parser.add_argument("--weights", help="registry name or checkpoint file ('' for untrained weights)")
    parser.add_argument("--arch", help="model preset, e.g. slowfast_8x8_r50")
    parser.add_argument("--sessions", type=Path, help="folder for recorded sessions")
    parser.add_argument("--settings", type=Path, help="settings INI file (default: the user's settings)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--input-size", type=int, help="model input short side in pixels (e.g. 112)")
    g = parser.add_argument_group("who is doing what (View -> Detection)")
    g.add_argument("--detect", action=argparse.BooleanOptionalAction, default=None,
                   help="start with detection on (or off): each person's box and actions (default: as last time)")
    g.add_argument("--detector", metavar="NAME|scene:N",
                   help="person detector: a torchvision one by name (default: the CPU/GPU one), or scene:N, the "
                        "synthetic multi-actor scene's own boxes (--source 'synthetic:actions:0-3,actors=N')")
    g.add_argument("--detect-weights", metavar="NAME|PATH",
                   help="detection checkpoint (default: the one chosen last time, else untrained weights)")
    g.add_argument("--detect-arch", metavar="NAME",
                   help="detection preset with random weights (default: slowfast_tiny_detection; "
                        "slowfast_r50_detection is AVA's)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more to stderr")
    return parser


def normalize_source(text: str) -> str:
    """A bare existing file path becomes 'file:PATH'; everything else is passed through."""
    if not text.startswith(("camera:", "file:", "synthetic")) and Path(text).expanduser().exists():
        return f"file:{Path(text).expanduser().resolve()}"
    return text


def missing_display() -> str | None:
    """A one-line explanation when no screen is reachable (Linux without X11/Wayland), else None.

    Qt would otherwise abort with a multi-line plugin error; a headless user wants the alternatives instead.
    """
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("no display found (DISPLAY and WAYLAND_DISPLAY are unset): start it from a desktop session, "
            "or `xvfb-run make run`, or use the headless `slowfast run --source synthetic`")


def main(argv: list[str] | None = None) -> int:
    """Open the window and run until it is closed; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.input_size:
        from slowfast_core.errors import ConfigError
        from slowfast_core.spec import check_short_side

        try:
            check_short_side(args.input_size, "--input-size")
        except ConfigError as exc:
            print(f"slowfast-app: error: {exc}", file=sys.stderr)
            return 2
    problem = missing_display()
    if problem:
        print(f"slowfast-app: error: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia*=false")  # no pipewire/pulse chatter on stderr
    from PySide6.QtWidgets import QApplication

    from app.settings import APPLICATION, ORGANIZATION, SettingsStore
    from app.window import MainWindow
    from app.workers import wait_lingering

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("SlowFast Live")
    icon_path = Path(__file__).resolve().parents[1] / "assets" / "slowfast.svg"  # slow (wide) + fast (thin) bars
    if icon_path.is_file():
        from PySide6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(icon_path)))
    store = SettingsStore(path=args.settings)
    settings = store.load()
    if args.arch:
        settings.arch = args.arch
    if args.weights is not None:
        settings.weights = args.weights
    if args.device:
        settings.device = args.device
    if args.input_size:
        settings.input_size = args.input_size
    from app.detection import startup_choice

    detection, detect = startup_choice(settings, detect=args.detect, weights=args.detect_weights,
                                       arch=args.detect_arch, detector=args.detector)  # saved, then the flags
    window = MainWindow(
        store=store, settings=settings, sessions_root=args.sessions,
        start_source=normalize_source(args.source) if args.source else None,
        detection=detection, detect=detect,
    )
    window.show()
    # Ctrl+C in the terminal closes the window cleanly (Python only sees signals while it runs some code)
    import signal

    from PySide6.QtCore import QTimer

    signal.signal(signal.SIGINT, lambda *_: window.close())
    heartbeat = QTimer()
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start(250)
    code = app.exec()
    wait_lingering()
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
