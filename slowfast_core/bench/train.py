"""`slowfast bench train`: clips/s of the data loader alone, of head-mode feature extraction, and of a full
training step (forward, backward, SGD) on random clips; peak RSS (and GPU memory on CUDA, with AMP).

The loader and feature figures read real video (a synthetic-actions dataset written to a temporary folder
unless `--data` names one); the step figure uses random tensors of the model's input shape so it measures
the model alone. What the loader needs to keep up = step clips/s / loader clips/s per worker.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import psutil
import torch
from torch import nn

from slowfast_core.model.config import arch_names


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", default="slowfast_tiny", choices=arch_names(), metavar="NAME")
    p.add_argument("--size", type=int, default=None, help="train crop size (default: 7/8 of the arch's input)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--no-amp", dest="amp", action="store_false")
    p.add_argument("--steps", type=int, default=10, help="timed training steps (after 3 warm-up steps)")
    p.add_argument("--data", default=None, help="dataset for the loader figures (default: generated)")
    p.add_argument("--workers", type=int, default=1, help="loader workers to time (default: %(default)s)")
    p.add_argument("--loader-clips", type=int, default=48, help="clips read to time the loader")
    p.add_argument("--frame-size", default="170x128", help="generated clips' WxH (Kinetics-like: 340x256)")
    p.add_argument("--json", action="store_true")


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def time_training_step(model: nn.Module, *, batch: int, size: int, device: torch.device, amp: bool,
                       steps: int) -> dict:
    """Clips/s of forward + backward + SGD step on random inputs (median-free: total over `steps`)."""
    geometry = model.config.geometry
    model.train().to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last_3d)
        torch.backends.cudnn.benchmark = True
    shapes = [(batch, 3, p.frames, size, size) for p in geometry.pathways()]
    x = [torch.randn(s, device=device) for s in shapes]
    if device.type == "cuda":
        x = [t.contiguous(memory_format=torch.channels_last_3d) for t in x]
    y = torch.randint(0, model.config.num_classes, (batch,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16
    use_amp = amp and device.type == "cuda"

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=use_amp):
            loss = nn.functional.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    out = {"step_clips_per_s": batch * steps / seconds, "step_ms": 1000 * seconds / steps,
           "amp": (str(dtype).replace("torch.", "") if use_amp else "off")}
    if device.type == "cuda":
        out["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def time_loader(data_dir: Path, model, *, workers: int, clips: int, crop: int) -> dict:
    """Clips/s of the training DataLoader alone (decode + augment + normalise) with `workers` processes."""
    from torch.utils.data import DataLoader

    from slowfast_core.train.clips import ClipDataset, ClipSampling, collate
    from slowfast_core.train.data import load_dataset

    data = load_dataset([data_dir])
    sampling = ClipSampling.for_model(model.config.geometry, model.meta.preprocessing, crop=crop,
                                      scale=(int(crop * 8 / 7), int(crop * 8 / 7 * 1.25)))
    clips = max(clips, 8)  # the first batch (4 clips) only starts the workers
    examples = (data.train * (1 + clips // max(1, len(data.train))))[:clips]
    loader = DataLoader(ClipDataset(examples, sampling, mode="train"), batch_size=4, num_workers=workers,
                        collate_fn=collate)
    it = iter(loader)
    next(it)  # worker start-up is not the loader's speed
    t0 = time.perf_counter()
    n = sum(len(labels) for _, labels, _ in it)
    seconds = time.perf_counter() - t0
    return {"loader_clips_per_s": n / seconds, "loader_workers": workers}


def time_features(data_dir: Path, model, *, clips: int) -> dict:
    """Clips/s of head-mode feature extraction (decode + fastest backend), cold cache."""
    from slowfast_core.train.data import load_dataset
    from slowfast_core.train.head import FeatureCache

    data = load_dataset([data_dir])
    with tempfile.TemporaryDirectory() as cache_root:
        cache = FeatureCache(model, root=Path(cache_root))
        cache.features(data.train[0], mode="center")  # backend build and warm-up are not per-clip speed
        examples = data.train[1 : clips + 1]
        t0 = time.perf_counter()
        for ex in examples:
            cache.features(ex, mode="center")
        seconds = time.perf_counter() - t0
    return {"feature_clips_per_s": len(examples) / seconds, "feature_backend": cache._runner().description}


def run(args: argparse.Namespace) -> int:
    from slowfast_core.weights.api import create_model
    from slowfast_core.train.synth import SynthSettings, generate

    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    model = create_model(args.arch, num_classes=16)
    size = args.size or int(round(model.config.input_size * 7 / 8))
    report: dict = {"arch": args.arch, "size": size, "batch": args.batch_size, "device": str(device),
                    "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(args.data) if args.data else Path(tmp) / "synth"
        if not args.data:
            w, h = (int(v) for v in args.frame_size.lower().split("x"))
            generate(data_dir, SynthSettings(classes=4, clips_per_class=12, seconds=2.4, seed=0, width=w, height=h))
        report.update(time_loader(data_dir, model, workers=args.workers, clips=args.loader_clips, crop=size))
        report.update(time_features(data_dir, model.eval(), clips=min(24, args.loader_clips)))
    report.update(time_training_step(model, batch=args.batch_size, size=size, device=device, amp=args.amp,
                                     steps=args.steps))
    report["peak_rss_mb"] = psutil.Process().memory_info().rss / 2**20
    report["loader_workers_needed"] = report["step_clips_per_s"] / max(1e-9, report["loader_clips_per_s"] / max(1, args.workers))
    if args.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k:>24}: {v:.2f}" if isinstance(v, float) else f"{k:>24}: {v}")
    return 0
