"""The agreement guard: an int8 model is used only when it names the same actions as the fp32 model.

Both run on held-out windows of real video (never the calibration ones; see `calibration`), and three
figures are compared:
- top-1 agreement: the share of windows where both pick the same class (the one that decides what a user
  sees; int8 is refused below `THRESHOLD`, 99%);
- top-5 overlap: the mean share of the fp32 top-5 that is in the int8 top-5 (k = min(5, classes));
- logit correlation: Pearson's r between the two logit vectors of a window, averaged over windows (how well
  int8 keeps the whole ranking, not only the winner).
A non-finite int8 output counts as a disagreement with overlap and correlation 0 (it is never a prediction).

The verdict is written into the int8 model's cache entry (`guard.json`) so that `--backend auto` takes int8
only for a model whose guard passed (`accepted_entry`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

#: the least top-1 agreement with fp32 at which int8 is used
THRESHOLD = 0.99
#: the verdict's file in an int8 cache entry
VERDICT = "guard.json"
#: how many classes the overlap figure compares
TOPK = 5

Runner = Callable[[list[torch.Tensor]], torch.Tensor]


@dataclass(frozen=True)
class GuardReport:
    """The guard's figures on `windows` held-out windows and its verdict (`accepted`)."""

    windows: int
    top1_agreement: float  # fraction of windows, 0..1
    top5_overlap: float  # mean fraction of the fp32 top-k found in the int8 top-k, 0..1
    logit_correlation: float  # mean per-window Pearson r, -1..1
    min_logit_correlation: float  # the worst window's
    max_abs_logit_diff: float | None  # largest |int8 - fp32| logit over the finite windows (None: none finite)
    threshold: float = THRESHOLD

    @property
    def accepted(self) -> bool:
        """True when int8 agrees with fp32 often enough to stand in for it."""
        return self.windows > 0 and self.top1_agreement >= self.threshold

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "accepted": self.accepted}

    @classmethod
    def from_dict(cls, data: dict) -> "GuardReport":
        fields = {k: data[k] for k in ("windows", "top1_agreement", "top5_overlap", "logit_correlation",
                                       "min_logit_correlation", "max_abs_logit_diff", "threshold")}
        return cls(**fields)

    def summary(self) -> str:
        """One line for people: the figures and the verdict."""
        verdict = "accepted" if self.accepted else f"REFUSED (below {100 * self.threshold:.0f}% top-1 agreement)"
        return (f"int8 vs fp32 on {self.windows} held-out windows: top-1 agreement {100 * self.top1_agreement:.1f}%, "
                f"top-{TOPK} overlap {100 * self.top5_overlap:.1f}%, logit correlation {self.logit_correlation:.4f} "
                f"(worst window {self.min_logit_correlation:.4f}): {verdict}")


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r of two vectors; two constant vectors count as 1 when equal, else 0."""
    da, db = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((da * da).sum() * (db * db).sum()))
    if denom == 0.0:
        return 1.0 if np.allclose(a, b) else 0.0
    return float((da * db).sum() / denom)


def compare_logits(reference: np.ndarray, candidate: np.ndarray, *, threshold: float = THRESHOLD) -> GuardReport:
    """The guard's figures for fp32 `reference` and int8 `candidate` logits, both (N, C)."""
    if reference.shape != candidate.shape or reference.ndim != 2:
        raise ValueError(f"logits must be two (N, C) arrays of one shape, got {reference.shape} and {candidate.shape}")
    n, classes = reference.shape
    k = min(TOPK, classes)
    agree = overlap = 0.0
    correlations: list[float] = []
    worst_diff: float | None = None
    for ref, cand in zip(reference.astype(np.float64), candidate.astype(np.float64)):
        if not np.isfinite(cand).all():
            correlations.append(0.0)
            continue
        agree += float(ref.argmax() == cand.argmax())
        top_ref = set(np.argsort(-ref, kind="stable")[:k].tolist())
        top_cand = set(np.argsort(-cand, kind="stable")[:k].tolist())
        overlap += len(top_ref & top_cand) / k
        correlations.append(_pearson(ref, cand))
        diff = float(np.abs(ref - cand).max())
        worst_diff = diff if worst_diff is None else max(worst_diff, diff)
    if n == 0:
        return GuardReport(0, 0.0, 0.0, 0.0, 0.0, None, threshold)
    return GuardReport(n, agree / n, overlap / n, float(np.mean(correlations)), float(np.min(correlations)),
                       worst_diff, threshold)


def run_guard(fp32: Runner, int8: Runner, windows: Iterable[list[torch.Tensor]], *,
              threshold: float = THRESHOLD) -> GuardReport:
    """Run both models on every window ([(1, 3, T_p, H, W)] each) and compare their logits."""
    ref: list[np.ndarray] = []
    cand: list[np.ndarray] = []
    for inputs in windows:
        ref.append(fp32(inputs).reshape(-1).float().numpy())  # (C,)
        cand.append(int8(inputs).reshape(-1).float().numpy())  # (C,)
    if not ref:
        return compare_logits(np.zeros((0, 1)), np.zeros((0, 1)), threshold=threshold)
    return compare_logits(np.stack(ref), np.stack(cand), threshold=threshold)


def write_verdict(entry: Path, report: GuardReport, **extra: object) -> None:
    """Record the verdict in the int8 cache entry (written to a temporary file, then renamed)."""
    path = entry / VERDICT
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**report.to_dict(), **extra}, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def read_verdict(entry: Path) -> GuardReport | None:
    """The verdict recorded in `entry`, or None when there is none (or it cannot be read)."""
    try:
        return GuardReport.from_dict(json.loads((entry / VERDICT).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
