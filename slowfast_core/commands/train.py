"""`slowfast train`: the paper's training recipe on sessions, the exported layout or class folders.

    slowfast synth DATA && slowfast train DATA --arch slowfast_tiny --from-scratch --minutes 10 --out RUN
    slowfast train SESSIONS --init RUN/checkpoint_best.pyth --train head --out TAUGHT
    slowfast train DATA --nproc 2 …          # torchrun on this machine (Gloo on CPU, NCCL on GPUs)
    torchrun --nnodes 2 --node-rank R --rdzv-endpoint HOST:29500 --nproc-per-node 8 -m slowfast_core.train …
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from slowfast_core.errors import ConfigError
from slowfast_core.model.config import FAST_INPUTS, STEM_WIDTH, arch_names


def _size_pair(text: str) -> tuple[int, int]:
    try:
        lo, hi = (int(v) for v in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two sizes like '128 160', got {text!r}") from None
    return lo, hi


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `train` subcommand."""
    p = sub.add_parser("train", help="train or fine-tune a model (paper recipe; torchrun for many GPUs)")
    p.add_argument("data", nargs="+", help="session folder(s), a folder of sessions, an exported folder "
                   "(train.csv/val.csv + label_map.json) or its train.csv file, or class folders "
                   "(root/<class>/*.mp4)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, metrics.jsonl, curves.png, run.json)")
    p.add_argument("--arch", default=None, choices=arch_names(), metavar="NAME",
                   help="architecture (default: slowfast_tiny from scratch, the checkpoint's with --init)")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--from-scratch", action="store_true", help="random initialisation (the paper's setting)")
    start.add_argument("--init", metavar="WEIGHTS", help="start from a registry name or checkpoint file")
    p.add_argument("--train", choices=("all", "last", "head"), default="all",
                   help="with --init: all (fine-tune everything), last (res5 + head), head (cached features, seconds)")
    p.add_argument("--epochs", type=int, default=0, help="epochs (default: the arch's)")
    p.add_argument("--minutes", type=float, default=None, help="stop at the first epoch boundary past M minutes")
    p.add_argument("--budget-clock", choices=("wall", "cpu"), default="wall",
                   help="what --minutes counts: wall-clock, or this process's CPU time (fair on a shared machine)")
    p.add_argument("--batch-size", type=int, default=0, help="clips per process and step (default: the arch's)")
    p.add_argument("--lr", type=float, default=0.0, help="base learning rate for the global batch")
    p.add_argument("--head-lr-mult", type=float, default=1.0, metavar="M",
                   help="the classifier's learning rate as M times --lr (Table 5a's recipe: 0.1)")
    p.add_argument("--beta-inv", type=int, default=None, metavar="N",
                   help="from scratch: the Fast pathway with 1/N of the Slow pathway's channels (the paper's beta; "
                        "Table 5b: 4, 8, 16; default: the arch's)")
    p.add_argument("--fast-min-channels", type=int, default=None, metavar="N",
                   help="from scratch: every Fast width at least N channels (the tiny presets' Fast stem is 1 "
                        "channel at beta <= 1/8, and a single ReLU channel can die; default 1: the arch's widths)")
    p.add_argument("--fast-input", choices=FAST_INPUTS, default=None,
                   help="from scratch: what the Fast stem sees: rgb (the frames) or diff (each frame minus the one "
                        "before it, the paper's Table 5c; a still background vanishes; default: the arch's, rgb)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--warmup-epochs", type=float, default=-1.0)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--frozen-bn", action="store_true", help="BN statistics fixed (small batches)")
    p.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm across processes")
    p.add_argument("--precise-bn", type=int, default=-1, metavar="N",
                   help="recompute BN statistics over N training batches before each validation and checkpoint "
                        "(default: a quarter epoch, 4..10 batches, when batches are at most 32 clips; 0: off)")
    p.add_argument("--scale", type=_size_pair, default=None, metavar="'LO HI'",
                   help="train short-side range (default: input size x [1, 1.25])")
    p.add_argument("--crop", type=int, default=None, help="train crop (default: 7/8 of the input size)")
    p.add_argument("--no-flip", dest="flip", action="store_false", help="no horizontal flips")
    p.add_argument("--no-background", dest="background", action="store_false",
                   help="sessions: no 'no action' class from unlabeled time")
    p.add_argument("--val-fraction", type=float, default=0.2, help="held out when the data has no val split")
    p.add_argument("--views", type=int, default=4, help="--train head: cached clips per training example")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=-1, help="data-loading processes per training process")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="CUDA: full fp32 instead of bf16/fp16")
    p.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    p.add_argument("--nproc", type=int, default=1, help="processes on this machine (launches torchrun)")
    p.add_argument("--json", action="store_true", help="print the final metrics as one JSON object")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard events (RUN/runs-<dataset>: tensorboard --logdir RUN)")
    p.add_argument("--task", choices=("classify", "detect"), default="classify",
                   help="detect: train the per-person action head on an AVA-layout folder (slowfast synth --actors N) "
                        "with ground-truth boxes; --init names the classifier whose backbone it uses")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace):
    from slowfast_core.train.recipe import TrainConfig

    if args.init is None and args.train != "all":
        raise ConfigError(f"--train {args.train} needs --init WEIGHTS")
    arch = args.arch or ("slowfast_tiny" if args.init is None else "")
    if args.beta_inv is not None and args.init is not None:
        raise ConfigError(f"--beta-inv {args.beta_inv} builds the Fast pathway from scratch: drop --init (a "
                          "checkpoint's widths are its own)")
    if args.beta_inv is not None and args.beta_inv < 1:
        raise ConfigError(f"--beta-inv {args.beta_inv} must be at least 1 (e.g. 8: the Fast pathway has 1/8 of the "
                          "Slow pathway's channels)")
    if args.fast_min_channels is not None and args.init is not None:
        raise ConfigError(f"--fast-min-channels {args.fast_min_channels} builds the Fast pathway from scratch: drop "
                          "--init (a checkpoint's widths are its own)")
    if args.fast_min_channels is not None and not 1 <= args.fast_min_channels <= STEM_WIDTH:
        raise ConfigError(f"--fast-min-channels {args.fast_min_channels} must be in 1..{STEM_WIDTH} (e.g. 4: no Fast "
                          "layer narrower than 4 channels)")
    if args.fast_input is not None and args.init is not None:
        raise ConfigError(f"--fast-input {args.fast_input} builds the Fast pathway from scratch: drop --init (a "
                          "checkpoint's Fast input is its own)")
    return TrainConfig(
        data=args.data, out=args.out, arch=arch, init=args.init, train=args.train, epochs=args.epochs,
        minutes=args.minutes, batch_size=args.batch_size, lr=args.lr, head_lr_mult=args.head_lr_mult,
        beta_inv=args.beta_inv or 0, fast_min_channels=args.fast_min_channels or 0, fast_input=args.fast_input or "",
        weight_decay=args.weight_decay,
        warmup_epochs=args.warmup_epochs, dropout=args.dropout, frozen_bn=args.frozen_bn, sync_bn=args.sync_bn,
        scale=args.scale, crop=args.crop, flip=args.flip, background=args.background,
        val_fraction=args.val_fraction, seed=args.seed, workers=args.workers, device=args.device, amp=args.amp,
        resume=args.resume, views=args.views, tensorboard=args.tensorboard, precise_bn=args.precise_bn,
        budget_clock=args.budget_clock,
    )


def _launch_torchrun(args: argparse.Namespace) -> int:
    """Re-run this command under torchrun with --nproc processes on this machine."""
    argv = [a for a in sys.argv[1:] if not a.startswith("--nproc")]
    if "--nproc" in sys.argv:  # drop its value too
        i = sys.argv.index("--nproc")
        argv = sys.argv[1:i] + sys.argv[i + 2:]
    if argv and argv[0] == "train":
        argv = argv[1:]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={args.nproc}",
           "-m", "slowfast_core.train", *argv]
    try:
        return subprocess.call(cmd, env=os.environ.copy())
    except KeyboardInterrupt:
        return 130


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def run(args: argparse.Namespace) -> int:
    """Train; print one line per epoch (a progress bar on a terminal) and where the run was written."""
    from slowfast_core.progress import ProgressBar
    from slowfast_core.train import distributed
    from slowfast_core.train.loop import Interrupted, train

    if args.task == "detect":
        return _run_detect(args)
    if args.nproc < 1:
        raise ConfigError(f"--nproc {args.nproc} must be at least 1")
    if args.sync_bn and not (args.device != "cpu" and _cuda_available()):
        from slowfast_core.train.recipe import SYNC_BN_NEEDS_CUDA

        raise ConfigError(SYNC_BN_NEEDS_CUDA)  # before torchrun starts processes that would each fail
    if args.nproc > 1 and not distributed.launched_by_torchrun():
        return _launch_torchrun(args)
    config = _config(args)
    if config.tensorboard:
        from slowfast_core.train.tensorboard import check_available

        check_available()  # before the run starts
    main = int(os.environ.get("RANK", "0")) == 0
    bar: dict[str, ProgressBar] = {}

    def progress(what: str, done: int, total: int) -> None:
        if not main:
            return
        current = bar.get("bar")
        if current is None or current.desc != what:
            if current is not None:
                current.close()
            bar["bar"] = current = ProgressBar(total=total, desc=what, unit="steps", eta=True)
        current.update(done - current.n)
        if done >= total:
            current.close()

    import logging

    logging.getLogger("slowfast_core.train.loop").setLevel(logging.INFO)  # one line per epoch
    try:
        result = train(config, progress=progress)
    except Interrupted as exc:
        if main:
            print(f"slowfast: {exc}", file=sys.stderr)
        return exc.signal_exit
    finally:
        if "bar" in bar:
            bar["bar"].close()
    if not main:
        return 0
    if result.state.skipped:
        names = sorted(set(result.state.skipped))
        print(f"slowfast: warning: skipped {len(names)} unreadable clip(s): {', '.join(names[:5])}"
              + (" …" if len(names) > 5 else ""), file=sys.stderr)
    summary = {"out": str(result.out), "best_top1": result.state.best_top1, "epochs": result.state.epoch,
               "categories": result.categories, **{k: v for k, v in result.metrics.items() if k != "epoch"}}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"best top-1 {result.state.best_top1 * 100:.1f}% after {result.state.epoch} epoch(s); "
              f"checkpoint: {result.out / 'checkpoint_best.pyth'}")
    return 0


def _run_detect(args: argparse.Namespace) -> int:
    """`--task detect`: the RoI head on an AVA-layout folder, backbone from --init; frame-mAP on val."""
    from slowfast_core.train.detect import train_detection

    if args.init is None:
        raise ConfigError("--task detect needs --init CLASSIFIER: the backbone the per-person head is trained on "
                          "(e.g. RUN/checkpoint_best.pyth from slowfast train on synthetic actions)")
    if len(args.data) != 1:
        raise ConfigError("--task detect takes one AVA-layout folder (train.csv, val.csv, actions.txt, videos/)")
    result = train_detection(args.data[0], init=args.init, out=args.out, epochs=args.epochs or 300, seed=args.seed)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(f"frame-mAP@0.5 with ground-truth boxes {result.frame_map_gt:.3f} on {result.val_boxes} val boxes; "
              f"checkpoint: {result.checkpoint}")
    return 0
