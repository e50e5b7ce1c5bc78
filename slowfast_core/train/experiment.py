"""The paper's Table 5a (Slow-only, Fast-only, SlowFast) and 5b (the Fast pathway's width beta), from scratch,
with seeds, at an equal time budget and at an equal epoch budget: `slowfast experiment table5a|table5b|table5`
(table5: both tables' five models).

Fair time on a shared machine: every run trains on ONE thread (`torch.set_num_threads(1)`) with the data
decoded in the same process (no DataLoader workers), and its budget counts this process's CPU seconds
(`TrainConfig.budget_clock = "cpu"`), not wall-clock: another program on the machine slows a run's wall
time but leaves its CPU time (nearly: shared caches and memory bandwidth remain) unchanged. Runs are also
interleaved (seed by seed, each model and both budgets in turn), so a drift of the machine's load touches every
model alike. The time budget includes precise BN and validation, as `slowfast train --minutes` does.

```
OUT/time_<M>cpumin/<model>/seed<k>/   the run folder of one training (metrics.jsonl, checkpoints, result.json)
OUT/epochs_<E>/<model>/seed<k>/
```
A run whose result.json exists is not trained again, and a run is claimed (a `claim` file holding the process
id, created exclusively) before it is trained, so several processes started on the same OUT share the work:
each takes the next unclaimed run, then waits for the runs others hold (a claim whose process has died is
taken over). table5a and table5b share the SlowFast beta = 1/4 runs, an interrupted experiment continues where
it stopped, and `collect=True` summarises the finished runs without training any.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from slowfast_core.errors import ConfigError
from slowfast_core.sessions.layout import atomic_write_text

logger = logging.getLogger(__name__)

RESULT = "result.json"
CLAIM = "claim"
WAIT_S = 10.0  # how often a process that has run out of runs looks at the runs others hold


@dataclass(frozen=True)
class ModelSpec:
    """One row of a table: a label, the preset, and its beta (0: the preset's)."""

    label: str
    arch: str
    beta_inv: int = 0

    @property
    def key(self) -> str:
        return self.arch + (f"_b{self.beta_inv}" if self.beta_inv else "")


#: The tiny presets: slowfast_tiny has beta = 1/4 (a key shared by both tables).
TABLES: dict[str, tuple[ModelSpec, ...]] = {
    "table5a": (ModelSpec("Slow-only", "slow_tiny"), ModelSpec("Fast-only", "fast_tiny"),
                ModelSpec("SlowFast", "slowfast_tiny")),
    "table5b": (ModelSpec("SlowFast beta=1/8", "slowfast_tiny", 8), ModelSpec("SlowFast beta=1/16", "slowfast_tiny", 16),
                ModelSpec("SlowFast beta=1/4", "slowfast_tiny")),
}
TABLES["table5"] = (*TABLES["table5a"], *TABLES["table5b"][:2])


@dataclass(frozen=True)
class ExperimentSettings:
    """What to run: the table, the data, the seeds and the two budgets."""

    table: str
    data: str
    out: str
    seeds: tuple[int, ...] = (0, 1, 2)
    cpu_minutes: float = 2.5  # equal time: CPU minutes per run on one thread (0: skip this budget)
    epochs: int = 15  # equal epochs (0: skip this budget)
    batch_size: int = 0  # 0: the preset's
    lr: float = 0.0  # peak learning rate; 0: the preset's
    head_lr_mult: float = 1.0  # the classifier's rate as a multiple of lr (TrainConfig.head_lr_mult)
    collect: bool = False  # summarise the runs already finished; train nothing


def _budgets(settings: ExperimentSettings) -> list[str]:
    return [b for b, on in (("time", settings.cpu_minutes > 0), ("epochs", settings.epochs > 0)) if on]


def check(settings: ExperimentSettings) -> None:
    """ConfigError for an unknown table, no budget, or no seeds."""
    if settings.table not in TABLES:
        raise ConfigError(f"unknown experiment {settings.table!r}: use one of {', '.join(TABLES)}")
    if not _budgets(settings):
        raise ConfigError("both budgets are off: give --cpu-minutes or --epochs a positive value")
    if not settings.seeds:
        raise ConfigError("--seeds must name at least one seed")
    if settings.cpu_minutes < 0 or settings.epochs < 0 or settings.lr < 0:
        raise ConfigError("--cpu-minutes, --epochs and --lr must not be negative")
    if not settings.head_lr_mult > 0:
        raise ConfigError(f"--head-lr-mult {settings.head_lr_mult} must be positive (1: the same rate as the rest)")


def gmacs(spec: ModelSpec) -> float:
    """Multiply-adds (G) of one clip at the preset's input size."""
    from slowfast_core.model.config import get_config
    from slowfast_core.model.flops import cost_report
    from slowfast_core.model.net import SlowFast

    config = get_config(spec.arch, **({"beta_inv": spec.beta_inv} if spec.beta_inv else {}))
    with torch.device("meta"):
        model = SlowFast(config)
    return cost_report(model, config.input_size).gmacs


def budget_folder(settings: ExperimentSettings, budget: str) -> str:
    """The folder name of one budget's runs: it names the budget's size (and a learning rate or classifier
    multiplier other than the preset's), so runs of other sizes or rates never mix."""
    name = f"time_{settings.cpu_minutes:g}cpumin" if budget == "time" else f"epochs_{settings.epochs}"
    name += f"_lr{settings.lr:g}" if settings.lr else ""
    return name + (f"_head{settings.head_lr_mult:g}" if settings.head_lr_mult != 1.0 else "")


def run_one(settings: ExperimentSettings, spec: ModelSpec, budget: str, seed: int) -> dict | None:
    """Train one model from scratch under one budget (or read the result a previous run left); its result
    (None when collecting and the run has not finished)."""
    from slowfast_core.train.loop import train
    from slowfast_core.train.recipe import TIME_BOUND_EPOCHS, TrainConfig

    out = Path(settings.out) / budget_folder(settings, budget) / spec.key / f"seed{seed}"
    done = out / RESULT
    if done.is_file():
        return json.loads(done.read_text())
    if settings.collect or not claim(out):
        return None
    config = TrainConfig(
        data=[settings.data], out=str(out), arch=spec.arch, beta_inv=spec.beta_inv, seed=seed, workers=0,
        device="cpu", budget_clock="cpu", batch_size=settings.batch_size, lr=settings.lr,
        head_lr_mult=settings.head_lr_mult,
        epochs=settings.epochs if budget == "epochs" else TIME_BOUND_EPOCHS,
        minutes=settings.cpu_minutes if budget == "time" else None,
    )
    wall, cpu = time.monotonic(), time.process_time()
    result = train(config)
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    record = {
        "model": spec.label, "arch": spec.arch, "beta_inv": spec.beta_inv, "budget": budget, "seed": seed,
        "epochs": result.state.epoch, "val_top1": history[-1]["val_top1"],
        "best_val_top1": max(h["val_top1"] for h in history), "val_loss": history[-1]["val_loss"],
        "cpu_seconds": round(time.process_time() - cpu, 1), "wall_seconds": round(time.monotonic() - wall, 1),
    }
    atomic_write_text(done, json.dumps(record) + "\n")
    (out / CLAIM).unlink(missing_ok=True)
    return record


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim(out: Path) -> bool:
    """True when this process may train the run in `out`: it created the claim, or took over a dead one's."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / CLAIM
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            holder = int(path.read_text().strip() or "0")
        except (OSError, ValueError):
            holder = 0
        if holder and holder != os.getpid() and _alive(holder):
            return False
        path.write_text(str(os.getpid()))  # the holder died: take the run over
        return True
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    return True


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def twin_accuracies(categories: list[str], confusion: list[list[int]]) -> dict[str, float] | None:
    """On the pathways task: how often the still/ticking twins (`tick`, the Fast pathway's pair) and the
    plain/striped twins (`finish`, the Slow pathway's) were told apart, whatever else was confused: the
    fraction of clips whose predicted class has the true class's tick (finish). None for another task."""
    from slowfast_core.video.actions import pathway_parts

    parts = [pathway_parts(c) for c in categories]
    total = sum(map(sum, confusion))
    if any(p is None for p in parts) or not total:
        return None
    same = {name: sum(n for t, row in enumerate(confusion) for q, n in enumerate(row) if parts[t][k] == parts[q][k])
            for name, k in (("finish", 1), ("tick", 2))}
    return {name: count / total for name, count in same.items()}


def run_twins(settings: ExperimentSettings, spec: ModelSpec, budget: str, seed: int) -> dict[str, float] | None:
    """`twin_accuracies` of one run's best epoch (its confusion.csv), or None (no file, another task)."""
    from slowfast_core.train.report import read_confusion_csv

    path = Path(settings.out) / budget_folder(settings, budget) / spec.key / f"seed{seed}" / "confusion.csv"
    return twin_accuracies(*read_confusion_csv(path)) if path.is_file() else None


def separation(rows: list[dict], budget: str, lead: str = "SlowFast") -> list[dict]:
    """How far the `lead` model's mean val top-1 is ahead of each other row's under `budget`: the difference
    and the difference in pooled standard deviations (sqrt of the mean of the two variances; None for one seed
    or no spread). The issue's bar is 2 sd at equal time."""
    cells = {r["model"]: r[budget] for r in rows if budget in r}
    if lead not in cells:
        return []
    out = []
    for model, cell in cells.items():
        if model == lead:
            continue
        diff = cells[lead]["mean"] - cell["mean"]
        pooled = ((cells[lead]["sd"] ** 2 + cell["sd"] ** 2) / 2) ** 0.5
        out.append({"vs": model, "difference": diff, "pooled_sd": pooled,
                    "in_sd": diff / pooled if pooled > 0 else None})
    return out


def summarise(settings: ExperimentSettings, records: list[dict]) -> dict:
    """One JSON document: per model its GFLOPs and, per budget, the seeds' final val top-1 with mean and sd, and
    the twins' accuracies at each run's best epoch (`twin_accuracies`); SlowFast's lead over the others."""
    rows = []
    for spec in TABLES[settings.table]:
        row: dict = {"model": spec.label, "arch": spec.arch, "beta_inv": spec.beta_inv or None,
                     "gflops": round(gmacs(spec), 4)}
        for budget in _budgets(settings):
            mine = [r for r in records if r["arch"] == spec.arch and r["beta_inv"] == spec.beta_inv
                    and r["budget"] == budget]
            if not mine:
                continue
            top1 = [r["val_top1"] for r in mine]
            mean, sd = mean_sd(top1)
            twins = [run_twins(settings, spec, budget, r["seed"]) for r in mine]
            row[budget] = {"val_top1": top1, "mean": mean, "sd": sd, "seeds": [r["seed"] for r in mine],
                           "epochs": [r["epochs"] for r in mine], "cpu_seconds": [r["cpu_seconds"] for r in mine],
                           "best_val_top1": [r["best_val_top1"] for r in mine],
                           "tick_best_epoch": [t and t["tick"] for t in twins],
                           "finish_best_epoch": [t and t["finish"] for t in twins]}
        rows.append(row)
    return {
        "table": settings.table, "settings": asdict(settings), "rows": rows,
        "slowfast_lead": {b: separation(rows, b) for b in _budgets(settings)},
        "machine": {"cpu_flags": cpu_flags(), "threads": 1, "torch": torch.__version__,
                    "python": platform.python_version()},
        "fair_time": "each run on one thread, data decoded in-process, budget in process CPU seconds; "
                     "runs interleaved seed by seed",
    }


def cpu_flags() -> list[str]:
    """The vector extensions that matter for torch on this CPU (from /proc/cpuinfo; [] elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = set(text.split())
    return sorted(f for f in ("avx2", "avx512f", "amx_tile", "avx512_vnni") if f in flags)


def run_experiment(settings: ExperimentSettings, *, say: Callable[[str], None] = lambda s: None) -> dict:
    """Every (seed, model, budget) run, interleaved seed by seed; the summary (see `summarise`)."""
    check(settings)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the fair clock: one thread, CPU seconds
    try:
        records = _run_all(settings, say)
        return summarise(settings, records)
    finally:
        torch.set_num_threads(threads)


def _run_all(settings: ExperimentSettings, say: Callable[[str], None]) -> list[dict]:
    """The finished runs' records, training the missing ones this process can claim (unless collecting), seed
    by seed, each model and budget in turn; then the runs other processes hold, as they finish."""
    records = []
    todo = [(spec, budget, seed) for seed in settings.seeds for spec in TABLES[settings.table]
            for budget in _budgets(settings)]
    while todo:
        held = []
        for spec, budget, seed in todo:
            record = run_one(settings, spec, budget, seed)
            if record is None:
                if not settings.collect:
                    held.append((spec, budget, seed))  # another process is training it
                continue
            records.append(record)
            say(f"{spec.label} seed {seed} {budget}: val top-1 {record['val_top1']:.3f} after "
                f"{record['epochs']} epochs, {record['cpu_seconds']:.0f} CPU s")
        if held:
            time.sleep(WAIT_S)  # another process's files: nothing to wait on but their appearance
        todo = held
    return records


def format_table(summary: dict) -> str:
    """The summary as a text table: model, GFLOPs, mean ± sd val top-1 per budget."""
    budgets = [b for b in ("time", "epochs") if any(b in r for r in summary["rows"])]
    s = summary["settings"]
    heads = {"time": f"{s['cpu_minutes']:g} CPU min", "epochs": f"{s['epochs']} epochs"}
    lines = [f"{'model':<20} {'GFLOPs':>8}  " + "  ".join(f"{heads[b]:>18}" for b in budgets)]
    for row in summary["rows"]:
        cells = []
        for b in budgets:
            cell = row.get(b)
            cells.append(f"{cell['mean'] * 100:6.1f} ± {cell['sd'] * 100:4.1f} (n={len(cell['val_top1'])})"
                         if cell else f"{'-':>18}")
        lines.append(f"{row['model']:<20} {row['gflops']:8.4f}  " + "  ".join(f"{c:>18}" for c in cells))
    for b in budgets:
        for lead in summary.get("slowfast_lead", {}).get(b, []):
            sds = "" if lead["in_sd"] is None else f" = {lead['in_sd']:.1f} sd"
            lines.append(f"{heads[b]}: SlowFast - {lead['vs']}: {lead['difference'] * 100:+.1f} points{sds}")
    return "\n".join(lines)

