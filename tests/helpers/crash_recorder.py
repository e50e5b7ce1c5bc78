"""Child process for the crash tests: records a session from synthetic frames at a camera's real rate, then
waits to be killed (SIGKILL) with a segment open, reporting on stdout what it handed over.

    python crash_recorder.py ROOT --frames N [--fps 30] [--segment 1.0] [--size 160x120] [--mark-at 20]
                             [--predict-every 10]

Lines: `started PATH` once; per frame `frame INDEX TIMESTAMP` (its capture timestamp, engine clock); after
the N-th frame, once the writer has closed every full segment, `idle N WRITTEN` (frames in closed,
crash-safe segments). From then on the frames of the open segment, at most one segment's worth, are all
that a crash can lose. Frame i is uniformly `gray(i)`; label "wave" starts at frame `--mark-at`; every
`--predict-every` frames a prediction for the last half second is logged.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests folder: `helpers` is importable

from helpers.media import frame_packet, make_prediction  # noqa: E402
from slowfast_core.sessions import SessionRecorder  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--frames", type=int, required=True)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--segment", type=float, default=1.0)
    p.add_argument("--size", default="160x120")
    p.add_argument("--mark-at", type=int, default=20)
    p.add_argument("--predict-every", type=int, default=10)
    args = p.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    rec = SessionRecorder.start(args.root, name="crash test", labels=["wave", "clap"], source="synthetic",
                                fps=args.fps, width=width, height=height, model="tiny", min_free_bytes=0,
                                segment_seconds=args.segment)
    print("started", rec.path, flush=True)
    due = time.monotonic()
    for i in range(args.frames):
        now = time.monotonic()
        rec.on_frame(frame_packet(i, now, width=width, height=height, fps=args.fps))
        if i == args.mark_at:
            rec.mark("wave", at=now)
        if i % args.predict_every == args.predict_every - 1:
            rec.on_prediction(make_prediction(i, now - 0.5, now, (("wave", 0.8),), first_index=max(0, i - 15),
                                              last_index=i, num_classes=2))
        print(f"frame {i} {now:.6f}", flush=True)
        due += 1.0 / args.fps
        time.sleep(max(0.0, due - time.monotonic()))  # a camera's pace: frames arrive at their rate
    per_segment = max(1, round(args.fps * args.segment))
    full = per_segment * (args.frames // per_segment)
    while rec.frames_written < full:  # the writer catches up: every full segment is closed and on disk
        time.sleep(0.01)  # poll interval of a condition wait (in this child, no helpers)
    print(f"idle {args.frames} {rec.frames_written}", flush=True)
    threading.Event().wait()  # recording, a segment open, until the SIGKILL


if __name__ == "__main__":
    main()
