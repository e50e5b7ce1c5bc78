"""`slowfast bench model`: per-clip latency of every backend, side by side, from one run.

Rows (all on the same random input, same weights):
- `pytorchvideo eager`: PyTorchVideo's `create_slowfast` with our state dict loaded strictly: the reference.
- `pytorchvideo openvino`: the reference model converted by OpenVINO (fp32): the issue's comparison point.
- `ours torch-eager` and every backend available for the device; on CUDA also torch-cuda without a graph.
- `ours openvino-int8` (CPU, with calibration video: `--calibrate`, else the recorded sessions' videos): the
  model quantised by NNCF on real windows (cached, as `slowfast quantize` does), with the agreement guard's
  figures against fp32 on held-out real windows (`top1_agreement`, `top5_overlap`, `logit_correlation`).
Timing is round-robin (one call of each row per round), so a load change on a shared machine hits every
row alike. Reported: median and p10-p90 of per-clip latency, ratio to the reference, G multiply-adds per
second and their share of the practical peak (a large fp32 matmul measured in the same run; fp16 on CUDA),
the largest logit difference to our eager model, and the time from program start to first prediction of
the default backend with a cold and a warm model cache (two fresh subprocesses).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from slowfast_core.backends.base import (
    BACKENDS,
    available_backends,
    inference_threads,
    resolve_device,
)
from slowfast_core.bench.first_prediction import time_to_first_prediction
from slowfast_core.errors import ConfigError
from slowfast_core.model.config import SlowFastConfig, arch_names, get_config
from slowfast_core.model.flops import count_macs
from slowfast_core.model.net import SlowFast
from slowfast_core.spec import check_short_side

Runner = Callable[[list[torch.Tensor]], torch.Tensor]


@dataclass
class Row:
    """One engine's measurements. Times in seconds; `ratio` is median / reference median."""

    engine: str
    description: str
    times: list[float] = field(default_factory=list)
    max_abs_diff: float | None = None
    median: float = 0.0
    p10: float = 0.0
    p90: float = 0.0
    best: float = 0.0
    ratio: float | None = None
    gmacs_per_s: float = 0.0
    peak_share: float = 0.0
    default: bool = False
    top1_agreement: float | None = None  # int8 row: the agreement guard's figures against fp32 (fractions)
    top5_overlap: float | None = None
    logit_correlation: float | None = None
    accepted: bool | None = None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `slowfast bench model`."""
    p.add_argument("--arch", default=None, choices=arch_names(), metavar="NAME",
                   help="architecture (default: the --weights' own, else slowfast_8x8_r50); one of: "
                   + ", ".join(arch_names()))
    p.add_argument("--size", type=int, default=224, help="input short side, square clip (default: %(default)s)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    p.add_argument("--runs", type=int, default=10, help="timed clips per engine (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=2, help="untimed clips per engine first (default: %(default)s)")
    p.add_argument("--no-reference", action="store_true", help="skip the PyTorchVideo rows")
    p.add_argument("--no-start", action="store_true", help="skip the program-start-to-first-prediction runs")
    p.add_argument("--weights", default=None, metavar="NAME|PATH",
                   help="registry name or checkpoint (default: random weights; the int8 figures need trained ones)")
    p.add_argument("--calibrate", nargs="+", default=None, metavar="VIDEO_OR_FOLDER",
                   help="video to quantise the int8 row on and check it against (default: the recorded sessions'; "
                   "without either there is no int8 row)")
    p.add_argument("--calibration-windows", type=int, default=None, metavar="N",
                   help="int8 calibration windows (default: slowfast quantize's)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


# -- reference --------------------------------------------------------------------------------------------------


def final_feature_size(size: int) -> int:
    """Spatial size after the five stride-2 steps (stem conv, stem pool, res3-res5): ceil(size / 2) five times."""
    for _ in range(5):
        size = (size + 1) // 2
    return size


def reference_model(config: SlowFastConfig, size: int, state_dict: dict[str, torch.Tensor]) -> torch.nn.Module | None:
    """PyTorchVideo's SlowFast with our weights, or None when pytorchvideo is missing or cannot build `config`."""
    if config.layout != "slowfast" or config.fusion != "tconv" or config.res4_temporal_blocks is not None:
        return None
    try:
        from pytorchvideo.models.slowfast import create_slowfast
    except ImportError:
        return None
    s = final_feature_size(size)
    if config.depth not in (18, 50, 101, 152):  # PyTorchVideo's ResNet depths (our tiny presets are 14)
        return None
    ref = create_slowfast(
        slowfast_channel_reduction_ratio=(config.beta_inv,),
        slowfast_conv_channel_fusion_ratio=config.fusion_ratio,
        slowfast_fusion_conv_kernel_size=(config.fusion_kernel, 1, 1),
        slowfast_fusion_conv_stride=(config.alpha, 1, 1),
        model_depth=config.depth,
        model_num_class=config.num_classes,
        dropout_rate=config.dropout,
        head_pool_kernel_sizes=((config.slow_frames, s, s), (config.slow_frames * config.alpha, s, s)),
    )
    ref.load_state_dict(state_dict, strict=True)
    return ref.eval()


def _eager_runner(module: torch.nn.Module, device: torch.device) -> Runner:
    module = module.eval().to(device)

    def run(inputs: list[torch.Tensor]) -> torch.Tensor:
        with torch.inference_mode():
            return module([t.to(device) for t in inputs]).float().cpu()

    return run


class _PathwayArgs(torch.nn.Module):
    """Takes one tensor per pathway as separate arguments and calls `module` with a list.

    Tracing turns a list argument into a tuple, which PyTorchVideo's MultiPathWayWithFuse rejects.
    """

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, *pathways: torch.Tensor) -> torch.Tensor:
        # (B, 3, T_p, H, W) per pathway -> (B, num_classes)
        return self.module(list(pathways))


def _openvino_runner(module: torch.nn.Module, inputs: list[torch.Tensor], precision: str) -> Runner:
    """`module` converted by OpenVINO (no folding, no cache: as a user of the reference would) and compiled."""
    from slowfast_core.backends.openvino_backend import compile_for_cpu, run_compiled
    from slowfast_core.backends.openvino_import import import_openvino

    ov = import_openvino()

    with torch.no_grad():
        ov_model = ov.convert_model(_PathwayArgs(module), example_input=tuple(inputs))
    compiled = compile_for_cpu(ov.Core(), ov_model, tuple(tuple(t.shape) for t in inputs),
                               num_threads=inference_threads(), precision=precision)
    req = compiled.create_infer_request()
    return lambda x: run_compiled(req, x)


def _cpu_supports_bf16() -> bool:
    try:
        from slowfast_core.backends.openvino_import import import_openvino

        return "BF16" in import_openvino().Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - informational row only
        return False


# -- peak -------------------------------------------------------------------------------------------------------


class PeakProbe:
    """A large matmul (fp32 n=2048 on CPU, fp16 n=8192 on CUDA) timed once per round, between the engines.

    Its best G multiply-adds/s over the run is the machine's practical peak: what the BLAS reaches on these
    cores with this thread count, measured under the same load as the rows.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.n = 8192 if device.type == "cuda" else 2048
        dtype = torch.float16 if device.type == "cuda" else torch.float32
        self.a = torch.randn(self.n, self.n, device=device, dtype=dtype)
        self.b = torch.randn(self.n, self.n, device=device, dtype=dtype)
        self.best = float("inf")
        self.method = f"best {'fp16' if device.type == 'cuda' else 'fp32'} {self.n}x{self.n} matmul in this run"

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def measure(self) -> None:
        """Time one matmul and keep the best."""
        self._sync()
        t0 = time.perf_counter()
        torch.mm(self.a, self.b)
        self._sync()
        self.best = min(self.best, time.perf_counter() - t0)

    @property
    def gmacs(self) -> float:
        """Best G multiply-adds per second so far."""
        return self.n ** 3 / self.best / 1e9


# -- int8 -------------------------------------------------------------------------------------------------------


def int8_row(model: SlowFast, device: torch.device, args: argparse.Namespace) -> tuple[Row, Runner] | None:
    """The `ours openvino-int8` row: quantised on the calibration video (cached) with the guard's figures, or
    None (said on stderr) when there is no calibration video or no OpenVINO/NNCF here."""
    from dataclasses import replace

    from slowfast_core.backends.calibration import DEFAULT_WINDOWS, find_videos, plan_calibration
    from slowfast_core.sessions.store import sessions_videos
    from slowfast_core.backends.openvino_backend import openvino_available

    if device.type != "cpu" or not openvino_available():
        return None
    videos = find_videos(args.calibrate) if args.calibrate else sessions_videos()
    if not videos:
        print("slowfast: no openvino-int8 row: pass --calibrate VIDEO_OR_FOLDER (or record a session)",
              file=sys.stderr)
        return None
    from slowfast_core.backends.openvino_int8 import OpenVINOInt8Backend, nncf_version, quantize_model

    nncf_version()  # one line when NNCF is missing
    prep = replace(model.meta.preprocessing, short_side=args.size)
    plan = plan_calibration(videos, model.config.geometry, windows=args.calibration_windows or DEFAULT_WINDOWS)
    result = quantize_model(model, plan, prep, say=lambda m: print(f"slowfast: {m}", file=sys.stderr))
    report = result.report
    backend = OpenVINOInt8Backend(model, device, entry=result.entry)
    row = Row("ours openvino-int8", f"{backend.description}; guard on {report.windows} held-out real windows: "
              f"{'accepted' if report.accepted else 'refused'}", top1_agreement=report.top1_agreement,
              top5_overlap=report.top5_overlap, logit_correlation=report.logit_correlation,
              accepted=report.accepted)
    return row, backend


# -- the run ----------------------------------------------------------------------------------------------------


def _summarise(row: Row, ref_median: float | None, gmacs: float, peak: float) -> None:
    ts = sorted(row.times)
    row.median = statistics.median(ts)
    q = statistics.quantiles(ts, n=10, method="inclusive") if len(ts) > 1 else [ts[0]] * 9
    row.p10, row.p90, row.best = q[0], q[-1], ts[0]
    row.ratio = row.median / ref_median if ref_median else None
    row.gmacs_per_s = gmacs / row.median
    row.peak_share = row.gmacs_per_s / peak


def build_rows(model: SlowFast, x: list[torch.Tensor], device: torch.device, *, reference: bool,
               size: int, int8: tuple[Row, Runner] | None = None) -> tuple[list[tuple[Row, Runner]], str]:
    """Every engine to time, as (row, runner); the reference first when present. Also the default's name."""
    rows: list[tuple[Row, Runner]] = []
    if reference:
        ref = reference_model(model.config, size, model.state_dict())
        if ref is not None:
            rows.append((Row("pytorchvideo eager", "PyTorchVideo create_slowfast, our weights"),
                         _eager_runner(ref, device)))
            if device.type == "cpu" and "openvino" in available_backends(device):
                rows.append((Row("pytorchvideo openvino", "the reference converted by OpenVINO, fp32"),
                             _openvino_runner(ref, x, "f32")))
    names = available_backends(device)
    default = next(iter(names))
    for name in ["torch-eager"] + [n for n in names if n != "torch-eager"]:
        backend = BACKENDS[name](model, device)
        label = "ours " + name + (" (default)" if name == default else "")
        rows.append((Row(label, backend.description, default=name == default), backend))
        if name == "torch-cuda":
            nograph = BACKENDS[name](model, device, cuda_graph=False)  # type: ignore[call-arg]
            rows.append((Row("ours torch-cuda, no graph", nograph.description), nograph))
    if int8 is not None:
        rows.append(int8)
    if device.type == "cpu" and "openvino" in names and _cpu_supports_bf16():
        bf16 = BACKENDS["openvino"](model, device, precision="bf16")  # type: ignore[call-arg]
        rows.append((Row("ours openvino bf16 (info)", "not a backend: logits differ ~1e-1"), bf16))
    return rows, default


def run(args: argparse.Namespace) -> int:
    """Measure and print the table (or JSON)."""
    if args.runs < 1 or args.warmup < 0:
        raise ConfigError(f"--runs must be >= 1 and --warmup >= 0, got {args.runs} and {args.warmup}")
    check_short_side(args.size, "--size")
    device = resolve_device(args.device)
    threads = inference_threads()
    torch.set_num_threads(threads)
    load_before = os.getloadavg()
    torch.manual_seed(0)
    if args.weights is None:
        model = SlowFast(get_config(args.arch or "slowfast_8x8_r50")).eval()
    else:
        from slowfast_core.weights.api import load_model

        model = load_model(arch=args.arch, weights=args.weights).eval()
    x = [torch.randn(1, 3, c.frames, args.size, args.size) for c in model.config.geometry.pathways()]
    gmacs = count_macs(model, x) / 1e9
    int8 = int8_row(model, device, args)
    rows, default = build_rows(model, x, device, reference=not args.no_reference, size=args.size, int8=int8)
    ours_eager = next(r for r, _ in rows if r.engine.startswith("ours torch-eager"))
    eager_out = next(fn for r, fn in rows if r is ours_eager)(x)  # (1, num_classes): what every row must match
    for row, fn in rows:
        row.max_abs_diff = float((fn(x) - eager_out).abs().max())
        for _ in range(args.warmup):
            fn(x)
    probe = PeakProbe(device)
    probe.measure()
    for _ in range(args.runs):  # round-robin: load changes hit every row alike
        for row, fn in rows:
            t0 = time.perf_counter()
            fn(x)
            row.times.append(time.perf_counter() - t0)
        probe.measure()
    peak = probe.gmacs
    ref_median = statistics.median(rows[0][0].times) if rows[0][0].engine.startswith("pytorchvideo") else None
    for row, _ in rows:
        _summarise(row, ref_median, gmacs, peak)
    start: dict[str, object] = {}
    if not args.no_start:
        with tempfile.TemporaryDirectory(prefix="slowfast-bench-cache-") as tmp:
            start["cold"] = time_to_first_prediction(model.config.name, args.size, args.device, Path(tmp))
            start["warm"] = time_to_first_prediction(model.config.name, args.size, args.device, Path(tmp))
    report = {
        "arch": model.config.name, "size": args.size, "device": str(device), "threads": threads,
        "gmacs_per_clip": gmacs, "peak_gmacs_per_s": peak,
        "peak_method": probe.method,
        "load_avg_before": load_before, "load_avg_after": os.getloadavg(), "default_backend": default,
        "rows": [asdict(r) for r, _ in rows], "first_prediction": start,
        "torch": torch.__version__,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report)
    return 0


def _fmt_ratio(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def print_report(report: dict) -> None:
    """The side-by-side table and a summary of the comparison the issue asks for."""
    print(f"{report['arch']} at {report['size']}², batch 1, {report['device']}, {report['threads']} threads, "
          f"{report['gmacs_per_clip']:.1f} G multiply-adds per clip; torch {report['torch']}")
    print(f"practical peak {report['peak_gmacs_per_s']:.0f} G multiply-adds/s ({report['peak_method']}); "
          f"load average {report['load_avg_before'][0]:.2f} before, {report['load_avg_after'][0]:.2f} after")
    header = f"{'engine':<32} {'median s':>9} {'p10-p90 s':>13} {'best s':>7} {'clips/s':>8} {'x ref':>6} " \
             f"{'GMAC/s':>7} {'% peak':>6} {'max|Δ| vs eager':>15}"
    print(header)
    print("-" * len(header))
    for r in report["rows"]:
        diff = "-" if r["max_abs_diff"] is None else f"{r['max_abs_diff']:.1e}"
        print(f"{r['engine']:<32} {r['median']:>9.3f} {r['p10']:>6.3f}-{r['p90']:<6.3f} {r['best']:>7.3f} "
              f"{1 / r['median']:>8.2f} {_fmt_ratio(r['ratio']):>6} {r['gmacs_per_s']:>7.1f} "
              f"{100 * r['peak_share']:>5.0f}% {diff:>15}")
    rows = {r["engine"]: r for r in report["rows"]}
    default = next(r for r in report["rows"] if r["default"])
    if "pytorchvideo openvino" in rows:
        ratio = default["median"] / rows["pytorchvideo openvino"]["median"]
        print(f"default backend {report['default_backend']}: {ratio:.2f}x OpenVINO-of-the-reference "
              f"({'meets' if ratio <= 1.0 else 'misses'} the <= 1.0x goal)")
    fp32 = next((r for r in report["rows"] if r["engine"].split(" (")[0] == "ours openvino"), None)
    if "ours openvino-int8" in rows and fp32 is not None:
        q, f = rows["ours openvino-int8"], fp32
        ratio = q["median"] / f["median"]
        print(f"openvino-int8: {ratio:.2f}x fp32 openvino ({'meets' if ratio <= 0.6 else 'misses'} the <= 0.6x goal); "
              f"vs fp32 on held-out real windows: top-1 agreement {100 * q['top1_agreement']:.1f}%, top-5 overlap "
              f"{100 * q['top5_overlap']:.1f}%, logit correlation {q['logit_correlation']:.4f} "
              f"({'accepted' if q['accepted'] else 'refused: auto keeps fp32'})")
    for name in ("cold", "warm"):
        s = report["first_prediction"].get(name)
        if s:
            print(f"start to first prediction, {name} cache: {s['seconds']:.2f} s ({s['backend']})")
    print("  rows: description")
    for r in report["rows"]:
        print(f"  {r['engine']}: {r['description']}")
