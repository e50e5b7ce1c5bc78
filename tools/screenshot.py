"""`make screenshot`: run the real window under Xvfb on a real clip and save PNGs at 1280x800 and 800x600.

    python tools/screenshot.py [--clip PATH] [--out DIR] [--weights NAME|PATH]

Without a display it re-runs itself under `xvfb-run` (apt package xvfb). The window uses the xcb platform
plugin, settings and sessions in a temporary folder (the user's are not touched), and the given clip
(default: ../shared/realvideo/demo.mp4). For each size it waits for predictions, then saves the window
(QWidget.grab) — plus one shot while recording with a label active, one of the Sessions window, and one of
Record -> Teach… after training on that recording (teach.png), and one of View -> Detection on the multi-actor
scripted scene (people.png: each actor's box, track colour and actions; the scene's own boxes stand in for a
person detector, which cannot be downloaded here; the tiny detection preset).

--people-only takes just people.png; --offscreen uses Qt's offscreen platform instead of X (no Xvfb needed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CLIP = REPO.parent / "shared" / "realvideo" / "demo.mp4"
SIZES = ((1280, 800), (800, 600))
ACTORS = 3
PEOPLE_SOURCE = f"synthetic:actions:0-3,actors={ACTORS}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="video file to show")
    p.add_argument("--out", type=Path, default=REPO / "build" / "screenshots", help="folder for the PNGs")
    p.add_argument("--weights", default="", help="registry name or checkpoint ('' = untrained weights)")
    p.add_argument("--input-size", type=int, default=160, help="model input short side (smaller is faster)")
    p.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for predictions")
    p.add_argument("--people-only", action="store_true", help="take only people.png (View -> Detection)")
    p.add_argument("--offscreen", action="store_true", help="Qt's offscreen platform instead of X11/Xvfb")
    return p.parse_args(argv)


def ensure_display(argv: list[str]) -> None:
    """Re-run under xvfb-run when there is no X display (and we are not already inside one)."""
    if os.environ.get("DISPLAY") or os.environ.get("SLOWFAST_SCREENSHOT_XVFB"):
        return
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        sys.exit("screenshot: no X display and no xvfb-run: install the apt package xvfb (and libxcb-cursor0)")
    env = dict(os.environ, SLOWFAST_SCREENSHOT_XVFB="1")
    cmd = [xvfb, "-a", "-s", "-screen 0 1920x1080x24", sys.executable, str(Path(__file__).resolve()), *argv]
    sys.exit(subprocess.call(cmd, env=env))


def people_shot(window, path: Path, wait_for, pump, timeout: float) -> None:  # noqa: ANN001 - Qt objects
    """View -> Detection on the multi-actor scripted scene: wait for a few windows with every actor boxed."""
    from app.engine_control import DetectionRequest

    window.resize(*SIZES[0])
    window.detection.use(DetectionRequest(arch="slowfast_tiny_detection", detector=f"scene:{ACTORS}"))
    window.sources.switch(PEOPLE_SOURCE)
    if not window.detection_action.isChecked():
        window.detection_action.trigger()

    def counted() -> bool:
        p = window.state.prediction
        return p is not None and len(p.people or ()) == ACTORS

    wait_for(counted, timeout, f"{ACTORS} people in view")
    first = window.state.prediction.id
    wait_for(lambda: counted() and window.state.prediction.id >= first + 3, timeout, "a few windows of people")
    pump(0.5)
    window.grab().save(str(path))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if not args.clip.is_file():
        sys.exit(f"screenshot: clip {args.clip} not found: pass --clip PATH")
    if args.offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    else:
        ensure_display(argv)
        os.environ["QT_QPA_PLATFORM"] = "xcb"
    sys.path.insert(0, str(REPO))

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from app.settings import AppSettings, SettingsStore
    from app.window import MainWindow

    app = QApplication([sys.argv[0]])
    app.setApplicationDisplayName("SlowFast Live")
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="slowfast-screenshot-"))

    def pump(seconds: float) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    def wait_for(cond, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise SystemExit(f"screenshot: timed out waiting for {what}")
            pump(0.1)

    settings = AppSettings(weights=args.weights, input_size=args.input_size, stride_s=0.5,
                           labels=["arm wrestling", "wave", "clap"])
    window = MainWindow(store=SettingsStore(path=work / "settings.ini"), settings=settings,
                        sessions_root=work / "sessions", start_source=f"file:{args.clip.resolve()}", cameras=[])
    import cv2

    cap = cv2.VideoCapture(str(args.clip))
    clip_frames = max(1, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
    cap.release()

    def clean_frame() -> bool:
        """demo.mp4 decodes with smeared blocks in its last third: shoot while the clip is in its first 70%."""
        f = window.state.frame
        return f is not None and 10 <= f.index % clip_frames <= int(clip_frames * 0.7)

    def grab(widget, path: Path) -> None:
        wait_for(clean_frame, 60.0, "a clean frame of the clip")
        widget.grab().save(str(path))
        saved.append(path)

    saved: list[Path] = []
    try:
        window.resize(*SIZES[0])
        window.show()
        wait_for(lambda: window.state.prediction is not None, args.timeout, "the first prediction")
        wait_for(lambda: len(window.state.history) >= 4, args.timeout, "a few predictions")
        for w, h in () if args.people_only else SIZES:
            window.resize(w, h)
            pump(1.5)
            grab(window, args.out / f"window-{w}x{h}.png")
        # recording with a label active, at the small size (the tightest layout)
        if not args.people_only and window.recording.start("screenshot", settings.labels):
            window.mark_label(0)
            pump(2.0)
            grab(window, args.out / f"recording-{SIZES[1][0]}x{SIZES[1][1]}.png")
            pump(3.0)  # long enough segments for Teach (at least 4 windows each)
            window.mark_label(1)
            pump(5.0)
            window.recording.end_label()
            pump(0.5)
            window.recording.stop()
            wait_for(lambda: window.recording.recorder is None, args.timeout, "the recording to finish")
            window.show_sessions()
            sessions = window.sessions_window
            sessions.resize(*SIZES[1])
            pump(2.0)
            path = args.out / f"sessions-{SIZES[1][0]}x{SIZES[1][1]}.png"
            sessions.grab().save(str(path))
            saved.append(path)
            sessions.close()
            # Record -> Teach…: train on that session (its recorded features), shoot curves and confusion matrix
            window.show_teach()
            teach = window.teach_dialog
            teach.resize(900, 760)
            opened = time.monotonic()
            wait_for(lambda: teach.job.ready, args.timeout, "the teaching child")  # a person reads the dialog
            ready_s = time.monotonic() - opened
            pressed = time.monotonic()
            teach.train()
            wait_for(lambda: teach.result is not None or teach.error is not None, args.timeout, "the teach")
            r = teach.result or {}
            print(f"teach: child ready {ready_s:.1f} s after the dialog opened; Train -> result "
                  f"{time.monotonic() - pressed:.1f} s ({r.get('reused', 0)} recorded features reused, "
                  f"{r.get('computed', 0)} computed from the video){' ERROR ' + teach.error if teach.error else ''}")
            pump(1.0)
            path = args.out / "teach.png"
            teach.grab().save(str(path))
            saved.append(path)
            teach.close()
        people_shot(window, args.out / "people.png", wait_for, pump, args.timeout)
        saved.append(args.out / "people.png")
    finally:
        window.close()
        app.processEvents()
        shutil.rmtree(work, ignore_errors=True)
    for path in saved:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
