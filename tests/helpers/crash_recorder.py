"""Child process for the crash tests: records a session from synthetic frames at a camera's real rate until
it is killed (SIGKILL), reporting on stdout what it handed over.

    python crash_recorder.py ROOT [--fps 30] [--segment 1.0] [--size 160x120] [--mark-at 20]
                             [--predict-every 10]

Lines: `started PATH` once, then per frame `frame INDEX TIMESTAMP WRITTEN`: the frame's capture timestamp
(engine clock) and the recorder's count of frames in closed, crash-safe segments when it was handed over.
Frame i is uniformly `gray(i)`; label "wave" starts at frame `--mark-at`; every `--predict-every` frames a
prediction for the last half second is logged.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests folder: `helpers` is importable

from helpers.media import frame_packet, make_prediction  # noqa: E402
from slowfast_core.sessions import SessionRecorder  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("root")
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
    i, due = 0, time.monotonic()
    while True:
        now = time.monotonic()
        rec.on_frame(frame_packet(i, now, width=width, height=height, fps=args.fps))
        if i == args.mark_at:
            rec.mark("wave", at=now)
        if i % args.predict_every == args.predict_every - 1:
            rec.on_prediction(make_prediction(i, now - 0.5, now, (("wave", 0.8),), first_index=max(0, i - 15),
                                              last_index=i, num_classes=2))
        print(f"frame {i} {now:.6f} {rec.frames_written}", flush=True)
        i += 1
        due += 1.0 / args.fps
        time.sleep(max(0.0, due - time.monotonic()))  # a camera's pace: frames arrive at their rate


if __name__ == "__main__":
    main()
