"""Auto quality: the largest input size that feels live (`LiveTarget`: enough updates a second, none too far
behind the video), found once per machine and model, then remembered.

A live view is only live while it keeps up: on a 2-core laptop 8x8 R50 at 256² runs 2 s behind the person,
at 160² half a second. Auto measures sizes the weights support *in the running engine on its fastest backend*
(the real end-to-end latency: capture, cut, normalise, infer, publish; nothing else competes for the cores):
the size that runs first, then the largest whose latency, predicted from what was measured, may fit, and
keeps the largest that does. `decide` is that search as a pure function of
the measurements; `AutoQuality` feeds it the predictions; `QualityCache` keeps the choice per machine + model
in the user data folder, so later starts begin at the right size at once. No Qt: the window's controller
(app/quality.py) drives it.

The stride follows the measured latency (`live_stride`): a window is cut only when the worker can take it,
so none is cut only to go stale.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import statistics
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from slowfast_core.userdirs import data_dir

logger = logging.getLogger(__name__)

#: what a person feels as live (see `LiveTarget`): updates a second, and the most any may lag the video. The
#: goal is 1.5 updates/s; three samples of a size's rate read ~5-10% above what a whole run then gets (a size
#: measured at 1.6 ran 1.42-1.52 updates/s), so Auto asks for 1.6
TARGET_UPDATES_PER_S = 1.6
BUDGET_MS = 800.0
#: the input short sides Auto tries below the weights' own, largest first (Kinetics weights keep most of their
#: accuracy down to here; see the README's cost table)
LADDER = (256, 224, 192, 160)
#: predictions per size: the first after a change is skipped (first-run effects), the median of the rest counts
SKIP_FIRST = 1
SAMPLES = 3
#: a first counted sample this many times over the target's delay decides its size at once
CLEARLY_OVER = 2.0
CACHE_VERSION = 2  # 2: choices made for LiveTarget (updates/s and delay); 1 was one 700 ms budget


#: the input size of a first start while the fastest backend is converted (see `interim_size`)
INTERIM_SIZE = 128


def interim_size(native: int) -> int:
    """The size a model runs at on its first start on a machine, before Auto has measured anything: 128² (or
    the weights' own when smaller), below the sizes Auto chooses from, for the first ~20 s only. That first
    start is when the fastest backend is converted on the same cores: 8x8 R50 on torch-cpu beside the
    conversion, AVX2 on 2 cores, ran 2.4 s behind at 0.4 updates/s at its own 256², 1.1 s (p95) at 1.1
    updates/s at 160², 0.85 s at 1.2 updates/s at 128², and the conversion ended ~2 s sooner. Once the fastest
    backend runs, Auto's search starts from the smallest size it chooses from and predicts the others."""
    return min(native, INTERIM_SIZE)


def candidate_sizes(native: int) -> tuple[int, ...]:
    """Input sizes for weights made for short side `native`, largest first: `native`, then the ladder's
    smaller sizes (256 -> 256, 224, 192, 160). Weights made for a size under the ladder (the tiny presets' 80)
    are only run at their own size."""
    return (native, *(s for s in LADDER if s < native))


@dataclass(frozen=True)
class LiveTarget:
    """What Auto keeps: at least `updates_per_s` predictions a second (the median time between two, measured;
    without intervals the median end to end stands for it, which it undercounts: a window waits for its frame)
    and none more than `delay_ms` behind the video (end to end: the window's newest frame captured -> its
    prediction shown; the slowest sample of a size stands for a live run's p95). A person feels both: how often
    the label moves, and how late it is."""

    updates_per_s: float = TARGET_UPDATES_PER_S
    delay_ms: float = BUDGET_MS

    @property
    def period_ms(self) -> float:
        """The median end to end that allows `updates_per_s`."""
        return 1000.0 / self.updates_per_s

    def fits(self, median_ms: float, worst_ms: float, interval_ms: float | None = None) -> bool:
        every = median_ms if interval_ms is None else interval_ms
        return every <= self.period_ms and median_ms <= self.delay_ms and worst_ms <= self.delay_ms

    def __str__(self) -> str:
        return f"≥ {self.updates_per_s:g} updates/s, ≤ {self.delay_ms:.0f} ms behind"


@dataclass(frozen=True)
class Decision:
    """size: the input size to run now; done: the search is over (size is the choice); reason: for people."""

    size: int
    done: bool
    reason: str


#: a size is tried when its predicted latency is within this factor of the target's (the area rule below
#: overestimates larger sizes a little: part of the latency does not grow with the input)
TRY_SLACK = 1.2


def predicted_ms(size: int, measured: dict[int, float]) -> float:
    """`size`'s end to end predicted from the nearest measured size below it (else above), by input area: the
    network's cost grows with H x W."""
    below = [s for s in measured if s < size]
    ref = max(below) if below else min(measured)
    return measured[ref] * (size / ref) ** 2


def decide(sizes: tuple[int, ...], measured: dict[int, float], target: LiveTarget = LiveTarget(),
           worst: dict[int, float] | None = None, intervals: dict[int, float] | None = None) -> Decision:
    """The search as a pure function. sizes: largest first; measured: size -> median end-to-end ms measured so
    far; worst: size -> the slowest of its samples (default: the median); intervals: size -> the median time
    between two of its predictions (default: none known).

    Cost grows with the size, so a size that fails rules out every larger one and a size that fits every
    smaller one. Nothing measured: the largest first. Otherwise the next to try is the largest size still open
    whose latency, predicted from a measured one by area (`predicted_ms`), is within `TRY_SLACK` of the
    target: a size predicted far over it is never run (a slow machine never shows a view seconds behind while
    Auto searches). None predicted to fit: the largest that fits is the choice, or, when none does yet, the
    smallest is measured; when even that fails, the smallest it is."""
    if not sizes:
        raise ValueError("no input sizes to choose from")
    worst, intervals = worst or {}, intervals or {}
    fits = {s: target.fits(ms, worst.get(s, ms), intervals.get(s)) for s, ms in measured.items()}
    best = max((s for s, ok in fits.items() if ok), default=None)
    ceiling = min((s for s, ok in fits.items() if not ok), default=None)
    open_sizes = [s for s in sizes if s not in measured and (best is None or s > best)
                  and (ceiling is None or s < ceiling)]  # largest first
    if not measured:
        return Decision(open_sizes[0], False, f"measuring {open_sizes[0]}²")
    limit = TRY_SLACK * min(target.period_ms, target.delay_ms)
    paced = {s: intervals.get(s, ms) for s, ms in measured.items()}  # what limits the rate, where known
    promising = [s for s in open_sizes if predicted_ms(s, paced) <= limit]
    if promising:
        return Decision(promising[0], False, f"measuring {promising[0]}² (~{predicted_ms(promising[0], measured):.0f} "
                                              "ms predicted)")
    if best is not None:
        return Decision(best, True, f"{best}² keeps up: {measured[best]:.0f} ms ({target})")
    if open_sizes:
        return Decision(open_sizes[-1], False, f"measuring {open_sizes[-1]}², the smallest")
    smallest = min(measured)
    return Decision(smallest, True, f"even {smallest}² takes {measured[smallest]:.0f} ms ({target}: not met)")


def live_stride(stride_s: float, end_to_end_ms: float | None) -> float:
    """The stride to run: the one asked for, or the measured latency when that is longer (rounded up to 50 ms),
    so no window is cut that the worker could only drop."""
    if not end_to_end_ms:
        return stride_s
    latency = end_to_end_ms / 1000.0
    return max(stride_s, round(-(-latency // 0.05) * 0.05, 2))


class RecentLatency:
    """The median end-to-end latency of the last `size` windows of what runs now: a (backend, input size) pair.
    Another pair starts afresh, so the stride follows a new size's or backend's own latency from its first
    window (kept across a switch, the old path's latency set the stride and the time between predictions that
    Auto measured was the old stride's)."""

    def __init__(self, size: int = 5) -> None:
        self._runs: tuple[str, int] | None = None
        self._ms: deque[float] = deque(maxlen=size)

    def add(self, runs: tuple[str, int], end_to_end_ms: float) -> float:
        """Note one window of `runs`; the median of the recent ones of the same `runs`."""
        if runs != self._runs:
            self._runs = runs
            self._ms.clear()
        self._ms.append(end_to_end_ms)
        return statistics.median(self._ms)

    def clear(self) -> None:
        """Forget everything (another model)."""
        self._runs = None
        self._ms.clear()


@dataclass(frozen=True)
class QualityChoice:
    """What Auto chose for a machine + model, and what it costs."""

    size: int
    backend: str
    end_to_end_ms: float
    inference_ms: float
    measured: dict[int, float] = field(default_factory=dict)  # size -> end-to-end ms, every size tried
    interval_ms: float = 0.0  # median time between two predictions at `size` (0: not measured)

    @property
    def updates_per_s(self) -> float:
        """Predictions a second: measured (`interval_ms`), else the most this latency allows."""
        every = self.interval_ms or self.end_to_end_ms
        return 1000.0 / every if every > 0 else 0.0

    def summary(self) -> str:
        """e.g. 'auto 224² · 2.9 updates/s' (the backend and the latency are in the status bar beside it)."""
        return f"auto {self.size}² · {self.updates_per_s:.1f} updates/s"


def machine_id(device: str = "cpu") -> str:
    """What makes one machine's latency differ from another's: the CPU model, the cores used, the device."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from slowfast_core.backends.base import inference_threads

    return f"{cpu} | {inference_threads()} threads | {device}"


def model_id(arch: str, weights: str) -> str:
    """A model as Auto remembers it: its weights (a registry name, or a file by path, size and time: either
    implies the architecture), or the architecture when untrained (weights "")."""
    if not weights:
        return f"{arch} | untrained"
    path = Path(weights).expanduser()
    if path.is_file():
        st = path.stat()
        return f"{path.resolve()} | {st.st_size} | {int(st.st_mtime)}"
    return weights


class QualityCache:
    """Auto's choices, one JSON file: {machine: {model: choice}}. Unreadable or missing: empty, never an error."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or data_dir() / "quality.json"

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) and data.get("version") == CACHE_VERSION else {}

    def get(self, machine: str, model: str) -> QualityChoice | None:
        raw = self._read().get("choices", {}).get(machine, {}).get(model)
        try:
            return QualityChoice(size=int(raw["size"]), backend=str(raw["backend"]),
                                 end_to_end_ms=float(raw["end_to_end_ms"]), inference_ms=float(raw["inference_ms"]),
                                 measured={int(k): float(v) for k, v in raw.get("measured", {}).items()},
                                 interval_ms=float(raw.get("interval_ms", 0.0)))
        except (TypeError, KeyError, ValueError):
            return None

    def put(self, machine: str, model: str, choice: QualityChoice) -> None:
        """Remember `choice` (written to a temporary file and renamed; a failure is logged, not raised)."""
        data = self._read() or {"version": CACHE_VERSION, "choices": {}}
        entry = asdict(choice)
        entry["measured"] = {str(k): v for k, v in choice.measured.items()}
        entry["when"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        data.setdefault("choices", {}).setdefault(machine, {})[model] = entry
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            logger.warning("could not remember the Auto quality choice in %s: %s", self.path, exc)


class AutoQuality:
    """The search for one model: feed it the predictions of the running model, it says which size to run.

    sizes: `candidate_sizes(native)`. `observe(size, backend, end_to_end_ms, inference_ms)` for each prediction
    made at `size` on the final backend; returns a `Decision` when the search moves on (another size to run,
    or done), else None."""

    def __init__(self, sizes: tuple[int, ...], *, target: LiveTarget = LiveTarget(), start: int | None = None
                 ) -> None:
        """start: a size that runs already (the first start's interim size) is measured first: no switch, and
        its latency predicts the others'."""
        self.sizes = sizes
        self.target = target
        self.measured: dict[int, float] = {}
        self.worst: dict[int, float] = {}
        self.intervals: dict[int, float] = {}  # size -> median ms between two predictions
        self._intervals: dict[int, list[float | None]] = {}
        self.inference: dict[int, float] = {}
        self.backend = ""
        self._samples: dict[int, list[tuple[float, float]]] = {}
        self.decision = decide(sizes, {}, target) if start is None else self._first(start)

    def _first(self, start: int) -> Decision:
        """Measure the size that runs first (no switch), else the smallest candidate above it (a first start's
        interim size is below them): from there, the larger ones are predicted, never run far behind."""
        if start in self.sizes:
            return Decision(start, False, f"measuring {start}² (running)")
        above = [s for s in self.sizes if s > start]
        first = min(above) if above else self.sizes[0]
        return Decision(first, False, f"measuring {first}²")

    @property
    def done(self) -> bool:
        return self.decision.done

    def observe(self, size: int, backend: str, end_to_end_ms: float, inference_ms: float,
                interval_ms: float | None = None) -> Decision | None:
        """One prediction at `size`; interval_ms: the time since the one before it (None: not known)."""
        if self.done or size != self.decision.size:
            return None
        samples = self._samples.setdefault(size, [])
        samples.append((end_to_end_ms, inference_ms))
        gaps = self._intervals.setdefault(size, [])
        gaps.append(interval_ms)
        kept = samples[SKIP_FIRST:]
        clearly_over = bool(kept) and kept[0][0] > CLEARLY_OVER * self.target.delay_ms and size != self.sizes[-1]
        if len(kept) < SAMPLES and not clearly_over:  # far over budget: one sample says enough (a slow laptop
            return None  # would otherwise spend ~10 s per size it cannot run)
        self.measured[size] = statistics.median(e for e, _ in kept)
        self.worst[size] = max(e for e, _ in kept)
        self.inference[size] = statistics.median(i for _, i in kept)
        known = [g for g in gaps[SKIP_FIRST:] if g is not None]  # the first spans the size change: skipped too
        if known:
            self.intervals[size] = statistics.median(known)
        self.backend = backend
        self.decision = decide(self.sizes, self.measured, self.target, self.worst, self.intervals)
        return self.decision

    def choice(self) -> QualityChoice:
        """The result (call when `done`)."""
        size = self.decision.size
        return QualityChoice(size=size, backend=self.backend, end_to_end_ms=self.measured.get(size, 0.0),
                             inference_ms=self.inference.get(size, 0.0), measured=dict(self.measured),
                             interval_ms=self.intervals.get(size, 0.0))
