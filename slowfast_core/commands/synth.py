"""`slowfast synth OUT`: render a synthetic-actions dataset in the exported layout.

`--task pathways` (default): shape x finish x tick, classes built so that some pairs need the Fast pathway
and some the Slow one (`video.actions`); `--task shapes`: the original appearance x motion classes."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `synth` subcommand."""
    p = sub.add_parser("synth", help="write synthetic actions (train/val/test) to train and test on")
    p.add_argument("out", help="output folder")
    p.add_argument("--classes", default="8", metavar="N|LIST",
                   help="N classes from --offset (1..16), or which of the 16, e.g. 0-7,12-15 (default: %(default)s)")
    p.add_argument("--offset", type=int, default=0, help="first class of the 16 with --classes N (transfer: 8)")
    p.add_argument("--clips-per-class", type=int, default=40, help="training clips per class (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=2.4, help="clip length (default: %(default)s)")
    p.add_argument("--eval-fraction", type=float, default=0.25,
                   help="val and test clips per class, as a fraction of --clips-per-class (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--actors", type=int, default=0, metavar="N",
                   help="N actors per video, labels per person in AVA's CSV layout (videos/, train.csv, val.csv, "
                        "actions.txt); --clips-per-class then counts training videos")
    p.add_argument("--task", choices=("pathways", "shapes"), default="pathways",
                   help="pathways: shape x finish x tick, twins only one pathway separates; "
                        "shapes: the original appearance x motion classes (default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate and say what was written."""
    from slowfast_core.progress import ProgressBar
    from slowfast_core.train.synth import SynthSettings, generate

    count, only = _classes(args)
    if args.actors:
        return _run_actors(args, count)

    settings = SynthSettings(classes=count, offset=args.offset, only=only, clips_per_class=args.clips_per_class,
                             seconds=args.seconds, seed=args.seed, task=args.task,
                             eval_fraction=args.eval_fraction)
    with ProgressBar(total=None, desc="rendering", unit="clips", eta=True) as bar:
        counts = generate(Path(args.out), settings, progress=lambda done, total: (
            setattr(bar, "total", total), bar.update(done - bar.n)))
    print(f"wrote {sum(counts.values())} clips to {args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def _classes(args: argparse.Namespace) -> tuple[int, tuple[int, ...]]:
    """`--classes`: (a count from --offset, ()) for a number; (how many, which) for a list."""
    from slowfast_core.errors import ConfigError
    from slowfast_core.video.actions import parse_class_list

    text = args.classes.strip()
    if text.isdigit():
        return int(text), ()
    only = parse_class_list(text, minimum=1)
    if args.offset:
        raise ConfigError(f"--offset {args.offset} with --classes {text}: a list names its classes, drop --offset")
    if args.actors:
        raise ConfigError(f"--classes {text} with --actors: give a number of classes (and --offset)")
    return len(only), only


def _run_actors(args: argparse.Namespace, count: int) -> int:
    """`--actors N`: multi-actor videos with AVA-layout per-person labels."""
    from slowfast_core.progress import ProgressBar
    from slowfast_core.train.synth_actors import ActorSynthSettings, generate_actors

    seconds = args.seconds if args.seconds != 2.4 else 3  # the single-actor default is too short for key frames
    if seconds != int(seconds):
        from slowfast_core.errors import ConfigError

        raise ConfigError(f"--seconds {seconds} must be whole with --actors (key frames fall on whole seconds)")
    settings = ActorSynthSettings(actors=args.actors, classes=count, offset=args.offset,
                                  videos=args.clips_per_class, seconds=int(seconds), seed=args.seed)
    with ProgressBar(total=None, desc="rendering", unit="videos", eta=True) as bar:
        counts = generate_actors(Path(args.out), settings, progress=lambda done, total: (
            setattr(bar, "total", total), bar.update(done - bar.n)))
    print(f"wrote {settings.actors}-actor videos to {args.out}: " + ", ".join(f"{k} {v} rows" for k, v in counts.items()))
    return 0
