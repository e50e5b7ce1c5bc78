"""The children of `slowfast bench soak`'s recording faults (slowfast_core.bench.faults), each a process of its
own because the fault ends it (a full disk in a private mount namespace, a SIGKILL):

    python -m slowfast_core.bench.recording_child record ROOT FPS WIDTH HEIGHT MODE LIMIT_S
    python -m slowfast_core.bench.recording_child repair SESSION

`record` records the synthetic camera into a new session under ROOT at its own pace and prints JSON lines:
first {"session"}, then in MODE "kill" one {"frame", "t"} per frame handed to the recorder (the parent kills it),
else (MODE "fill": a noisy scene that fills a small disk fast) it stops at the recorder's error or after
LIMIT_S seconds and prints {"offered", "error", "state", "frames", "stop_s"}. `repair` repairs SESSION as the
next start would and prints {"kept_frames", "repaired"}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def _say(row: dict[str, object]) -> None:
    print(json.dumps(row), flush=True)


def record(root: Path, *, fps: float, width: int, height: int, mode: str, limit_s: float) -> None:
    """Record the synthetic camera into a session under `root` (see the module doc for MODE and the lines)."""
    import numpy as np

    from slowfast_core.sessions import SessionRecorder
    from slowfast_core.stream.types import FramePacket
    from slowfast_core.video.synthetic import SyntheticSource

    rec = SessionRecorder.start(root, name=mode, labels=["a"], source="synthetic", fps=fps, width=width,
                                height=height, model="none", min_free_bytes=0)
    _say({"session": str(rec.path)})
    source = SyntheticSource(width, height, fps)
    source.open()
    noise = np.random.default_rng(0)
    offered, t0 = 0, time.monotonic()
    while rec.error is None:
        frame = source.read()
        if frame is None:
            break
        now = time.monotonic()
        image = frame.image  # (H, W, 3) uint8
        if mode == "fill":  # a busy scene (noise compresses badly): the small disk fills in seconds at any size
            image = image ^ noise.integers(0, 64, image.shape, dtype=np.uint8)
        rec.on_frame(FramePacket(index=offered, timestamp=now, image=image, source_fps=fps))
        offered += 1
        if mode == "kill":
            _say({"frame": offered - 1, "t": now - t0})
        elif now - t0 > limit_s:
            break
    failed_at = time.monotonic()
    info = rec.stop(timeout=10.0)
    _say({"offered": offered, "error": rec.error, "state": info.state, "frames": info.frames,
          "stop_s": round(time.monotonic() - failed_at, 3)})


def repair(session: Path) -> None:
    """Repair `session` and say how many frames its video keeps."""
    from slowfast_core.sessions import load_session, repair_session

    report = repair_session(session)
    _say({"kept_frames": len(load_session(session).frames), "repaired": report.repaired})


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line (module doc) and run `record` or `repair`."""
    p = argparse.ArgumentParser(prog="python -m slowfast_core.bench.recording_child")
    sub = p.add_subparsers(dest="what", required=True)
    r = sub.add_parser("record")
    r.add_argument("root", type=Path)
    r.add_argument("fps", type=float)
    r.add_argument("width", type=int)
    r.add_argument("height", type=int)
    r.add_argument("mode", choices=("fill", "kill"))
    r.add_argument("limit_s", type=float)
    sub.add_parser("repair").add_argument("session", type=Path)
    args = p.parse_args(argv)
    if args.what == "record":
        record(args.root, fps=args.fps, width=args.width, height=args.height, mode=args.mode, limit_s=args.limit_s)
    else:
        repair(args.session)
    return 0


if __name__ == "__main__":
    sys.exit(main())
