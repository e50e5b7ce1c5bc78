"""Teach: a new classifier for the actions a person recorded, in seconds, on the live model's backbone.

A labeled session holds the video, the segments the person marked and (since features are recorded as they
are computed) each live window's pooled feature with its span and the backbone's identity. Teaching:

1. `plan_teach` turns sessions into examples: every window (recorded, or cut every STRIDE_S from the video
   when the features came from another model or were not recorded) takes the label covering most of it,
   `no action` when it touches no labeled segment (background, on by default), nothing when it is ambiguous.
   Every user mistake is one `TeachError` line: no labeled segment, one label and no background, segments
   of two labels over the same time, too few examples (with how many more are needed).
2. `run_teach` computes the missing features with `FeatureCache` (decoded from the session videos, cached on
   disk), holds out whole segments (or the end of a lone one) for validation, fits the linear head with
   `head.fit_linear` (the training engine's head mode: full-batch AdamW on features), reports the curves, the
   confusion matrix and per-label accuracy on the held-out windows, then fits once more on every example
   (with a few examples each one counts) and saves backbone + that head in our native format.
   `train="last"` instead fine-tunes res5 + head through the training loop on the same sessions.
3. The window runs `train.teach_child` as a child process (`python -m slowfast_core.train.teach_child ...
   SESSION...`): it prints one JSON object per line (plan, progress, metrics, result or error), so the window
   draws curves live, Cancel kills the child, and a crash is a message, never the window's.

This module holds the types and step 1 (planning); step 2 is `train.teach_run`, step 3 `train.teach_child`.

Nothing here writes into the sessions, and the model is saved to a new file: a failed teach changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slowfast_core.errors import SlowFastError
from slowfast_core.model.identity import FeatureIdentity
from slowfast_core.model.net import SlowFast
from slowfast_core.train.data import BACKGROUND


#: seconds between windows cut from a session video when its features must be computed
STRIDE_S = 0.5
#: examples (windows) each label needs at least
MIN_EXAMPLES = 4
#: share of each label's segments held out for validation
VAL_SHARE = 0.2
#: a window takes a label covering at least this share of it
MIN_COVER = 0.5
MODEL_FILE = "taught.pyth"
RESULT_FILE = "teach.json"

Event = dict[str, Any]
EventFn = Callable[[Event], None]


class TeachError(SlowFastError):
    """The chosen sessions cannot teach a classifier as they are; the message says what to record or fix."""


@dataclass
class SessionWindows:
    """One session's windows: spans (N,) in session seconds, label ids (N,) (-1: unused), group of each window
    (a labeled segment or a background gap, never split across train and val), features (N, C) or None."""

    folder: Path
    name: str
    video: Path | None
    starts: np.ndarray
    ends: np.ndarray
    labels: np.ndarray
    groups: list[str]
    features: np.ndarray | None  # recorded by the live model; None: computed from the video


@dataclass
class TeachPlan:
    """What a teach will train on; `summary()` is what the window and the CLI show before training."""

    categories: list[str]
    sessions: list[SessionWindows]
    background: bool
    base: str
    identity: FeatureIdentity
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Examples (windows) per category."""
        out = dict.fromkeys(self.categories, 0)
        for s in self.sessions:
            for label in s.labels[s.labels >= 0]:
                out[self.categories[int(label)]] += 1
        return out

    @property
    def recorded(self) -> int:
        """Windows whose features were recorded by the live model (no decoding)."""
        return sum(int((s.labels >= 0).sum()) for s in self.sessions if s.features is not None)

    @property
    def to_compute(self) -> int:
        """Windows whose features must be computed from the session videos."""
        return sum(int((s.labels >= 0).sum()) for s in self.sessions if s.features is None)

    def summary(self) -> Event:
        return {"categories": self.categories, "counts": self.counts(), "background": self.background,
                "base": self.base, "sessions": [str(s.folder) for s in self.sessions], "recorded": self.recorded,
                "to_compute": self.to_compute, "notes": self.notes, "model": self.identity.describe()}


@dataclass
class TeachResult:
    """A taught model on disk and how it did on held-out windows."""

    model_path: Path
    categories: list[str]
    history: list[dict]
    confusion: list[list[int]]
    per_label: dict[str, float | None]
    val_top1: float | None
    train_top1: float
    seconds: float
    computed: int  # windows whose features were decoded and computed
    reused: int  # windows whose recorded features were used
    base: str
    notes: list[str]

    def to_json(self) -> Event:
        return {"model": str(self.model_path), "categories": self.categories, "confusion": self.confusion,
                "per_label": self.per_label, "val_top1": self.val_top1, "train_top1": self.train_top1,
                "seconds": round(self.seconds, 3), "computed": self.computed, "reused": self.reused,
                "base": self.base, "notes": self.notes}


# ------------------------------------------------------------------------------------------------- planning


def sessions_with_labels(root: Path | None = None) -> list[Path]:
    """Every finished session under `root` (default: the sessions folder) with at least one labeled segment."""
    from slowfast_core.sessions.store import list_sessions, load_session

    out = []
    for info in list_sessions(root):
        if info.unfinished or info.damaged:
            continue
        try:
            if load_session(info.path).labels:
                out.append(info.path)
        except SlowFastError:
            continue
    return out


def default_base(folders: Sequence[Path]) -> str | None:
    """The model the sessions were recorded with (weights, else arch), the most common one; None if unknown."""
    from slowfast_core.sessions.info_reader import read_info

    seen: dict[str, int] = {}
    for folder in folders:
        try:
            info = read_info(folder)
        except (SlowFastError, OSError, ValueError):
            continue
        spec = info.weights or info.model
        if spec:
            seen[spec] = seen.get(spec, 0) + 1
    return max(seen, key=lambda k: seen[k]) if seen else None


def load_base(spec: str | None, *, size: int = 0) -> SlowFast:
    """The base model: weights (registry name, file or My models name), else an architecture's random weights
    (the untrained seed's, as the live view runs them); `size` (0: the model's own) sets the input short side,
    as the live view may run it."""
    from slowfast_core.model.config import PRESETS
    from slowfast_core.weights.api import load_model

    if spec is None or spec in PRESETS:  # sessions recorded with random weights name only the arch
        return load_model(None, arch=spec, input_size=size)
    return load_model(spec, input_size=size)  # a file, a registry name or a My models name


def _overlap(a0: np.ndarray, a1: np.ndarray, b0: float, b1: float) -> np.ndarray:
    return np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0.0, None)


def _check_conflicts(name: str, segments: Sequence[Any]) -> None:
    ordered = sorted(segments, key=lambda s: s.start)
    for a, b in zip(ordered, ordered[1:]):
        if b.start < a.end - 1e-6 and a.label != b.label:
            raise TeachError(f"session {name!r} marks {b.start:.1f}-{min(a.end, b.end):.1f} s as both {a.label!r} "
                             f"and {b.label!r}: fix its labels.csv (or the labels in the Sessions window) so each "
                             "moment has one label")


def _windows(session: Any, identity: FeatureIdentity, window_s: float) -> tuple[np.ndarray, np.ndarray,
                                                                                np.ndarray | None, str | None]:
    """Spans and features of a session: the recorded ones when the live model was `identity`, else cut."""
    from slowfast_core.sessions.features import read_features

    recorded = read_features(session.path)
    if recorded is not None and recorded.identity == identity and len(recorded):
        return recorded.starts, recorded.ends, recorded.features, None
    note = None
    if recorded is not None and recorded.identity != identity:
        note = (f"session {session.name!r}: features recorded with {recorded.identity.describe()}, not the base "
                "model: computing them from its video")
    duration = float(session.info.duration)
    ends = np.arange(window_s, duration + 1e-6, STRIDE_S)
    return ends - window_s, ends, None, note


def plan_teach(folders: Sequence[Path], base: SlowFast, *, base_spec: str, background: bool = True) -> TeachPlan:
    """The examples `folders` give for a classifier on `base`'s backbone (see the module doc); TeachError if none."""
    from slowfast_core.sessions.store import load_session

    if not folders:
        raise TeachError("no sessions chosen: record a session and mark actions with the label keys (1-9)")
    identity = FeatureIdentity.of(base)
    window_s = base.config.geometry.window_seconds
    loaded, notes = [], []
    for folder in folders:
        try:
            session = load_session(folder)
        except SlowFastError as exc:
            raise TeachError(f"session {folder} cannot be read ({exc}): repair it (`slowfast sessions repair`) "
                             "or leave it out") from None
        _check_conflicts(session.name, session.labels)
        loaded.append(session)
    names: list[str] = []
    for s in loaded:
        for seg in s.labels:
            if seg.label not in names and seg.label != BACKGROUND:
                names.append(seg.label)
    if not names:
        raise TeachError("no labeled segment in the chosen sessions: while recording, press a label key (1-9) when "
                         "an action starts and again when it ends")
    categories = names + [BACKGROUND]
    windows: list[SessionWindows] = []
    for s in loaded:
        starts, ends, feats, note = _windows(s, identity, window_s)
        if note:
            notes.append(note)
        if feats is None and s.video_path is None:
            notes.append(f"session {s.name!r} has no finished video: left out (run `slowfast sessions repair`)")
            continue
        length = np.maximum(ends - starts, 1e-6)
        cover = np.zeros((len(categories), len(starts)))  # seconds of each window under each label
        per_segment = np.zeros((max(len(s.labels), 1), len(starts)))  # seconds under each segment
        for k, seg in enumerate(s.labels):
            c = categories.index(seg.label) if seg.label in categories else len(categories) - 1
            per_segment[k] = _overlap(starts, ends, seg.start, seg.end)
            cover[c] += per_segment[k]
        group_of = per_segment.argmax(axis=0)
        best = cover.argmax(axis=0)
        labels = np.where(cover.max(axis=0) >= MIN_COVER * length, best, -1)
        touched = cover.sum(axis=0) > 0
        gap = np.searchsorted(np.sort([seg.end for seg in s.labels]), starts)  # the gap a background window is in
        if background:
            labels = np.where(~touched, len(categories) - 1, labels)
        groups = [f"{s.path.name}:seg{group_of[i]}" if touched[i] else f"{s.path.name}:gap{gap[i]}"
                  for i in range(len(starts))]
        windows.append(SessionWindows(s.path, s.name, s.video_path, starts, ends, labels.astype(np.int64), groups,
                                      feats))
    plan = TeachPlan(categories, windows, background, base_spec, identity, notes)
    counts = plan.counts()
    if counts[BACKGROUND] < MIN_EXAMPLES:
        if background:
            notes.append("too little time outside the labeled segments for a `no action` class: taught without it")
        plan = _drop_background(plan)
        counts = plan.counts()
    if len(plan.categories) < 2:
        raise TeachError(f"only one label ({plan.categories[0]!r}) and no `no action` background: a classifier needs "
                         "two classes - mark a second action, or turn the background on and record some time "
                         "without any action")
    stride = _typical_stride(plan)
    short = [(name, n) for name, n in counts.items() if n < MIN_EXAMPLES and name != BACKGROUND]
    if short:
        parts = [f"{name!r} has {n} example{'s' * (n != 1)}, needs {MIN_EXAMPLES - n} more (about "
                 f"{(MIN_EXAMPLES - n) * stride:.1f} s more of it)" for name, n in short]
        raise TeachError(f"too few examples: {'; '.join(parts)} - record those actions a little longer (each "
                         f"example is one {window_s:.1f} s window, one every {stride:.1f} s)")
    return plan


def _drop_background(plan: TeachPlan) -> TeachPlan:
    bg = plan.categories.index(BACKGROUND)
    for s in plan.sessions:
        s.labels = np.where(s.labels == bg, -1, s.labels)
    plan.categories = [c for c in plan.categories if c != BACKGROUND]
    plan.background = False
    return plan


def _typical_stride(plan: TeachPlan) -> float:
    steps = [np.median(np.diff(s.ends)) for s in plan.sessions if len(s.ends) > 1]
    return float(np.median(steps)) if steps else STRIDE_S
