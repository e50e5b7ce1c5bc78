"""`slowfast bench app`: the real window, offscreen, on the demo source with default settings, for S seconds.

What a person sees, measured in the window itself (no engine shortcut): how often the overlay updates, how far
behind the video it is (end to end: the window's newest frame captured -> its prediction published), how many
frames reach the view, the longest the event loop was blocked (a frozen-looking window), the time from launch
to the first overlay with each step on the way, and what Auto chose (backend, input size).

By default the user's caches are used (the converted model, Auto's choice): a second start, the usual case.
`--fresh` uses empty ones in a temporary folder: the first start on a machine (conversion, Auto's search).

The figures are computed from recorded events by `app_figures`, a pure function (tested without a window).
It lives in app/ (it runs the window); `slowfast bench app` imports it by name, only when that bench runs, so
slowfast_core never imports app/ or Qt, and nothing at run time imports bench code.
"""

from __future__ import annotations

import argparse
from array import array
from collections.abc import Sequence
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: the event loop is sampled by a timer this often; a gap is the longest time between two of its ticks
TICK_MS = 5


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `slowfast bench app`."""
    p.add_argument("--duration", type=float, default=30.0, help="seconds to run the window (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    p.add_argument("--fresh", action="store_true",
                   help="empty model and Auto caches (a first start on this machine) instead of the user's")
    p.add_argument("--source", default=None, metavar="SPEC", help="source spec (default: the demo source)")
    p.add_argument("--arch", default=None, help="model preset (default: the window's default, a new user's)")
    p.add_argument("--weights", default=None, help="weights name or file; '' for untrained (default: the "
                                                   "window's default)")


@dataclass
class AppEvents:
    """What the bench records while the window runs. Times are seconds on `time.monotonic()`.

    launch: when the process started; steps: name -> time (first occurrence); predictions: (time shown,
    window id, end-to-end ms) of each new prediction the window took; frames: times frames reached the view;
    ticks: event-loop timer ticks; settled: when the backend and the input size stopped changing; rss: (time,
    resident MiB) sampled once a second (a long run is the window's soak: memory and latency must not creep)."""

    launch: float
    steps: dict[str, float] = field(default_factory=dict)
    predictions: list[tuple[float, int, float]] = field(default_factory=list)
    frames: Sequence[float] = field(default_factory=lambda: array("d"))  # packed: a 30-minute soak's ~400k ticks
    ticks: Sequence[float] = field(default_factory=lambda: array("d"))  # as objects would be ~10 MB of "growth"
    rss: list[tuple[float, float]] = field(default_factory=list)
    settled: float | None = None
    end: float | None = None

    def step(self, name: str, at: float | None = None) -> None:
        self.steps.setdefault(name, time.monotonic() if at is None else at)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


#: a soak's memory is compared from this far into the steady span (caches, compiled shapes and the first
#: windows are allocated by then) to its end
WARMED_UP_S = 60.0


def soak_figures(ev: AppEvents, since: float, end: float) -> dict[str, Any]:
    """What a long run creeps by: resident memory from `WARMED_UP_S` into the steady span (or its middle, when
    shorter) to the end, and the end-to-end p95 of the steady span's last half against its first half (a pile-up
    of stale windows would show as latency growing)."""
    warm_at = min(since + WARMED_UP_S, since + (end - since) / 2)
    rss = [(t, mb) for t, mb in ev.rss if t >= warm_at]
    half = since + (end - since) / 2
    early = [p[2] for p in ev.predictions if since <= p[0] < half]
    late = [p[2] for p in ev.predictions if half <= p[0] <= end]
    first, last = (rss[0][1], rss[-1][1]) if rss else (None, None)
    return {
        "rss_mb_warm": round(first, 1) if first is not None else None,
        "rss_mb_end": round(last, 1) if last is not None else None,
        "rss_growth_pct": round(100.0 * (last - first) / first, 2) if first else None,
        "end_to_end_p95_ms_first_half": round(_percentile(early, 95), 1) if early else None,
        "end_to_end_p95_ms_second_half": round(_percentile(late, 95), 1) if late else None,
    }


def _from_first_overlay(ev: AppEvents, first: float | None, end: float) -> dict[str, Any]:
    """Updates/s and end-to-end p95 from the first overlay to the end (None before any overlay)."""
    if first is None:
        return {"updates_per_s_from_first_overlay": None, "end_to_end_p95_ms_from_first_overlay": None}
    preds = [p for p in ev.predictions if first <= p[0] <= end]
    return {"updates_per_s_from_first_overlay": round(len(preds) / max(end - first, 1e-9), 2),
            "end_to_end_p95_ms_from_first_overlay": round(_percentile([p[2] for p in preds], 95), 1) if preds else None}


def resident_mb() -> float | None:
    """This process's resident memory in MiB (Linux /proc; None elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def app_figures(ev: AppEvents) -> dict[str, Any]:
    """The bench's figures from recorded events: rates and latencies over the steady span (from the later of
    the first overlay and `settled`, to `end`), time to first overlay from launch, each start-up step, and what
    a long run creeps by (`soak_figures`)."""
    end = ev.end if ev.end is not None else max([ev.launch, *ev.ticks, *ev.frames])
    first = ev.steps.get("first overlay")
    since = max(x for x in (first, ev.settled, ev.launch) if x is not None)
    span = max(end - since, 1e-9)
    preds = [p for p in ev.predictions if since <= p[0] <= end]
    e2e = [p[2] for p in preds]
    frames = [t for t in ev.frames if since <= t <= end]
    ticks = [t for t in ev.ticks if since <= t <= end]
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    return {
        "updates_per_s": round(len(preds) / span, 2) if first is not None else 0.0,
        "end_to_end_p50_ms": round(statistics.median(e2e), 1) if e2e else None,
        "end_to_end_p95_ms": round(_percentile(e2e, 95), 1) if e2e else None,
        "frames_shown_per_s": round(len(frames) / span, 2),
        "max_event_loop_gap_ms": round(max(gaps) * 1000.0, 1) if gaps else None,
        "first_overlay_s": round(first - ev.launch, 2) if first is not None else None,
        "steady_s": round(span, 1),
        "steps_s": {name: round(t - ev.launch, 2) for name, t in sorted(ev.steps.items(), key=lambda kv: kv[1])},
        # what a new user sees from the first overlay on, Auto's search and the move to the fastest backend
        # included (the steady figures above start after them): a first start is judged by these
        "settled_s": round(ev.settled - ev.launch, 2) if ev.settled is not None else None,
        **_from_first_overlay(ev, first, end),
        **soak_figures(ev, since, end),
    }


def cpu_report() -> dict[str, Any]:
    """The CPU the figures were taken on: model, cores, the vector extensions it has, and what the runtimes were
    capped to (`ONEDNN_MAX_CPU_ISA` caps oneDNN in torch and in OpenVINO's CPU plugin; `ATEN_CPU_CAPABILITY`
    torch's own kernels), so an AVX2-only machine can be emulated on a newer one and the report says so."""
    import torch

    flags: list[str] = []
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                have = set(line.split(":", 1)[1].split())
                flags = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f in have]
    except OSError:
        pass
    return {"model": model, "cores": os.cpu_count(), "flags": flags,
            "torch_capability": torch.backends.cpu.get_cpu_capability(),
            "ONEDNN_MAX_CPU_ISA": os.environ.get("ONEDNN_MAX_CPU_ISA"),
            "ATEN_CPU_CAPABILITY": os.environ.get("ATEN_CPU_CAPABILITY")}


def _process_start() -> float:
    """When this process started, on the monotonic clock (psutil; else now: the imports before are missed)."""
    try:
        import psutil

        return time.monotonic() - (time.time() - psutil.Process().create_time())
    except Exception:  # noqa: BLE001 - no psutil: count from here
        return time.monotonic()


def run(args: argparse.Namespace) -> int:
    """Entry point of `slowfast bench app`."""
    from slowfast_core.errors import ConfigError

    if not args.duration > 0:
        raise ConfigError(f"--duration must be positive seconds, got {args.duration}")
    ev = AppEvents(launch=_process_start())
    ev.step("bench started")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory(prefix="slowfast-bench-app-") as tmp:
        if args.fresh:
            os.environ["SLOWFAST_CACHE_DIR"] = str(Path(tmp) / "cache")
            os.environ["SLOWFAST_DATA_DIR"] = str(Path(tmp) / "data")
        report = _run_window(args, ev, Path(tmp))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return 0


def _run_window(args: argparse.Namespace, ev: AppEvents, tmp: Path) -> dict[str, Any]:
    from PySide6.QtCore import QTimer, Qt
    from PySide6.QtWidgets import QApplication

    ev.step("Qt imported")
    from app.settings import AppSettings, SettingsStore
    from app.sources import DEMO_SOURCE
    from app.window import MainWindow

    ev.step("window code imported")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings = AppSettings()  # the defaults a new user gets, unless the model is named
    if args.arch is not None:
        settings.arch = args.arch
    if args.weights is not None:
        settings.weights = args.weights
    window = MainWindow(store=SettingsStore(path=tmp / "settings.ini"), settings=settings,
                        sessions_root=tmp / "sessions", start_source=args.source or DEMO_SOURCE, cameras=[],
                        repair_on_start=False)
    ev.step("window built")
    state = window.state
    last_id: list[int | None] = [None]
    paints_at_first: list[int | None] = [None]

    def on_frame() -> None:
        if state.frame is not None:
            ev.step("first frame shown")
            ev.frames.append(time.monotonic())

    def on_prediction() -> None:
        p = state.prediction
        if p is None or p.id == last_id[0]:
            return
        last_id[0] = p.id
        ev.step("first prediction")
        if paints_at_first[0] is None:
            paints_at_first[0] = window.video.paints
        ev.predictions.append((time.monotonic(), p.id, p.timings.end_to_end_ms if p.timings else 0.0))

    def on_status() -> None:
        s = state.status
        if s is not None and s.backend:
            ev.step("model warm")

    def tick() -> None:
        now = time.monotonic()
        ev.ticks.append(now)
        if not ev.rss or now - ev.rss[-1][0] >= 1.0:
            mb = resident_mb()
            if mb is not None:
                ev.rss.append((now, mb))
        if paints_at_first[0] is not None and window.video.paints > paints_at_first[0]:
            ev.step("first overlay", now)
        settled = window.engine.running_backend().settled
        quality_done = window.quality.search is None
        if ev.settled is None and settled and quality_done and "first overlay" in ev.steps:
            ev.settled = now
        overlay_seen = "first overlay" in ev.steps
        if (overlay_seen and now - ev.launch >= args.duration) or now - ev.steps["window built"] > args.duration + 120:
            ev.end = now
            app.quit()

    state.frameChanged.connect(on_frame)
    state.predictionChanged.connect(on_prediction)
    state.statusChanged.connect(on_status)
    window.engineStarted.connect(lambda: ev.step("engine started"))
    state.modelChanged.connect(lambda: ev.step("model loaded"))
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(tick)
    timer.start(TICK_MS)
    window.resize(1100, 760)
    window.show()
    app.exec()
    timer.stop()
    running = window.engine.running_backend()
    backend, prep = running.backend, running.preprocessing
    status = window.engine.status()
    choice = window.quality.choice
    window.shutdown()
    window.deleteLater()
    figures = app_figures(ev)
    return {
        **figures,
        "backend": backend,
        "input_size": prep.short_side if prep is not None else None,  # the size that ran (Auto's), not the weights'
        "cpu": cpu_report(),
        "auto_choice": choice.summary() if choice is not None else None,
        "auto_measured_ms": {str(k): round(v, 1) for k, v in choice.measured.items()} if choice is not None else {},
        "model": status.model,
        "windows_dropped": status.windows_dropped,
        "duration_s": args.duration,
        "fresh_caches": bool(args.fresh),
    }


def _print(report: dict[str, Any]) -> None:
    def ms(v: float | None) -> str:
        return "–" if v is None else f"{v:.0f} ms"

    print(f"slowfast bench app: the window, offscreen, demo source, default settings, {report['duration_s']:g} s"
          f"{' (fresh caches)' if report['fresh_caches'] else ''}")
    print(f"  model {report['model']}, backend {report['backend']}, input {report['input_size']}²"
          f" ({report['auto_choice'] or 'Auto not decided'})")
    cpu = report["cpu"]
    print(f"  cpu                  {cpu['model']}, {cpu['cores']} cores, {' '.join(cpu['flags'])}; kernels "
          f"{cpu['torch_capability']}" + (f", oneDNN capped to {cpu['ONEDNN_MAX_CPU_ISA']}"
                                          if cpu["ONEDNN_MAX_CPU_ISA"] else ""))
    print(f"  steady span          {report['steady_s']:.1f} s (after the first overlay and Auto's choice)")
    print(f"  updates/s            {report['updates_per_s']:.2f}")
    print(f"  end-to-end p50/p95   {ms(report['end_to_end_p50_ms'])} / {ms(report['end_to_end_p95_ms'])}")
    print(f"  frames shown/s       {report['frames_shown_per_s']:.1f}")
    print(f"  max event-loop gap   {ms(report['max_event_loop_gap_ms'])}")
    first = report["first_overlay_s"]
    print(f"  first overlay        {'–' if first is None else f'{first:.2f} s'} after launch")
    if first is not None:
        settled = report["settled_s"]
        print(f"  from it on           {report['updates_per_s_from_first_overlay']:.2f} updates/s, end-to-end p95 "
              f"{ms(report['end_to_end_p95_ms_from_first_overlay'])}; fastest backend and Auto settled "
              + ("–" if settled is None else f"{settled:.1f} s after launch"))
    if report["rss_growth_pct"] is not None:
        print(f"  memory               {report['rss_mb_warm']:.0f} MiB warm -> {report['rss_mb_end']:.0f} MiB at the end "
              f"({report['rss_growth_pct']:+.1f}%); end-to-end p95 {ms(report['end_to_end_p95_ms_first_half'])} "
              f"first half, {ms(report['end_to_end_p95_ms_second_half'])} second")
    print("  start-up steps (s after launch):")
    for name, t in report["steps_s"].items():
        print(f"    {t:7.2f}  {name}")
