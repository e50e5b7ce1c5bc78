"""Where training examples come from: recorded sessions, the exported CSV layout, or class folders.

Each source becomes a `DatasetSplit`: the category names and, per split, a list of `Example`s (a video file,
a label id, and optionally a time span inside the file). Nothing is decoded here; `clips.ClipDataset` decodes
in DataLoader workers. Every user mistake is one `DataError` line (exit 2); unreadable clips are found later,
skipped and counted by the training loop.

- Sessions (a session folder, a folder of them, or several): each labeled segment is an example; time
  outside every labeled segment becomes the background class `no action` (its share capped). Train/val are
  split by session, so two windows of one segment never land on both sides; with a single session, by
  segment (and the summary says so).
- Exported layout: `train.csv` / `val.csv` / `test.csv` with `path label_id` (+ `label_map.json`) or
  `path label_name` lines, paths relative to the folder (PySlowFast / PyTorchVideo convention); given as the
  folder or as its training CSV file (`DATA/train.csv`, or another name with val.csv/test.csv beside it).
- Class folders: `root/<class>/*.mp4|avi|mkv|webm|mov` (Kinetics / UCF style), split with `val_fraction`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from slowfast_core.errors import SlowFastError

logger = logging.getLogger(__name__)

BACKGROUND = "no action"
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov")
SPLIT_FILES = ("train.csv", "val.csv", "test.csv")
LABEL_MAP = "label_map.json"
#: Background examples at most this share of the training examples (the rest is dropped, evenly spread).
BACKGROUND_SHARE = 0.25
#: Background gaps shorter than this many seconds are not worth a clip.
MIN_GAP_SECONDS = 0.5


class DataError(SlowFastError):
    """A dataset cannot be used as given (empty, unparsable, inconsistent labels)."""


@dataclass(frozen=True)
class Example:
    """One training example: a video and a label, optionally a span [start, end) seconds inside it."""

    path: Path
    label: int
    start: float | None = None
    end: float | None = None
    group: str = ""  # what must not be split across train and val (a session), for reports


@dataclass
class DatasetSplit:
    """Categories plus the examples of each split; `notes` are one-line remarks for the run summary."""

    categories: list[str]
    train: list[Example]
    val: list[Example] = field(default_factory=list)
    test: list[Example] = field(default_factory=list)
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def counts(self, split: str = "train") -> list[int]:
        """Examples per category in `split`."""
        out = [0] * len(self.categories)
        for ex in getattr(self, split):
            out[ex.label] += 1
        return out

    def check(self) -> None:
        """DataError unless there is something to train on and every class has a training example."""
        if not self.train:
            raise DataError(f"dataset {self.source} has no training examples: record labeled sessions or point "
                            "at a folder with train.csv or class folders")
        empty = [c for c, n in zip(self.categories, self.counts("train")) if n == 0]
        if empty:
            raise DataError(f"class(es) {', '.join(repr(c) for c in empty[:5])} have no training example in "
                            f"{self.source}: add examples or remove the class")


# ------------------------------------------------------------------------------------------- exported CSV


def _read_label_map(folder: Path) -> dict[str, int] | None:
    file = folder / LABEL_MAP
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        mapping = {str(k): int(v) for k, v in data.items()}
    except (ValueError, TypeError, AttributeError) as exc:
        raise DataError(f"{file} is not a JSON object of label -> id ({exc}): fix or delete it") from None
    if sorted(mapping.values()) != list(range(len(mapping))):
        raise DataError(f"{file} must number its labels 0..{len(mapping) - 1} without gaps")
    return mapping


def _parse_csv(file: Path, folder: Path, names: dict[str, int] | None, by_name: dict[str, int]) -> list[Example]:
    """Lines `path label_id` or `path label_name` (space or comma separated; '#' comments and blanks skipped)."""
    out = []
    for number, raw in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.rsplit(",", 1) if "," in line and " " not in line.strip() else line.rsplit(None, 1)
        if len(parts) != 2:
            raise DataError(f"{file}:{number}: expected 'path label', got {line!r}")
        rel, label = parts[0].strip(), parts[1].strip()
        if label.lstrip("-").isdigit():
            label_id = int(label)
            limit = len(names) if names is not None else None
            if label_id < 0 or (limit is not None and label_id >= limit):
                raise DataError(f"{file}:{number}: label id {label_id} is not in {LABEL_MAP} (0..{(limit or 1) - 1})")
        else:
            if label not in by_name:
                by_name[label] = len(by_name)
            label_id = by_name[label]
        path = Path(rel) if Path(rel).is_absolute() else folder / rel
        out.append(Example(path=path, label=label_id, group=rel))
    return out


def load_csv_dataset(folder: Path, train_file: str = "train.csv") -> DatasetSplit:
    """The exported layout in `folder` (train.csv required; val.csv and test.csv optional). `train_file`: the
    training CSV when it is given by name (`slowfast train DATA/mine.csv`), with val.csv/test.csv beside it."""
    if not (folder / train_file).is_file():
        raise DataError(f"{folder} has no train.csv: export sessions with `slowfast sessions export` or use class folders")
    names = _read_label_map(folder)
    by_name: dict[str, int] = dict(names) if names is not None else {}
    splits: dict[str, list[Example]] = {}
    for split_file in SPLIT_FILES:
        file = folder / (train_file if split_file == "train.csv" else split_file)
        splits[split_file[:-4]] = _parse_csv(file, folder, names, by_name) if file.is_file() else []
    if names is None and not by_name:  # numeric ids without a label map: name them by number
        count = 1 + max((ex.label for exs in splits.values() for ex in exs), default=-1)
        by_name = {f"class {i}": i for i in range(count)}
    categories = [name for name, _ in sorted(by_name.items(), key=lambda kv: kv[1])]
    train_labels = {ex.label for ex in splits["train"]}
    for split in ("val", "test"):
        unknown = sorted({ex.label for ex in splits[split]} - train_labels)
        if unknown:
            raise DataError(f"{folder / (split + '.csv')} uses label(s) {', '.join(categories[i] for i in unknown[:5])} "
                            "that train.csv never uses: add training examples for them or drop those lines")
    return DatasetSplit(categories, splits["train"], splits["val"], splits["test"], source=str(folder))


# ------------------------------------------------------------------------------------------- class folders


def load_class_folders(root: Path, *, val_fraction: float, seed: int) -> DatasetSplit:
    """`root/<class>/*.video`, each class split into train/val by `val_fraction` (at least one train clip)."""
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"--val-fraction {val_fraction} must be in [0, 1)")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label, name in enumerate(classes):
        files = sorted(f for f in (root / name).iterdir() if f.suffix.lower() in VIDEO_SUFFIXES and f.is_file())
        order = rng.permutation(len(files))
        n_val = int(round(len(files) * val_fraction)) if len(files) > 1 else 0
        for rank, i in enumerate(order):
            ex = Example(path=files[i], label=label, group=f"{name}/{files[i].name}")
            (val if rank < n_val else train).append(ex)
    if not classes:
        raise DataError(f"{root} has no class folders (root/<class>/*.mp4): point at a dataset folder")
    return DatasetSplit(list(classes), train, val, source=str(root))


# ------------------------------------------------------------------------------------------------ sessions


def _session_folders(paths: Sequence[Path]) -> list[Path]:
    """Session folders among `paths` (a session folder itself, or a folder of session folders)."""
    from slowfast_core.sessions.layout import SESSION_JSON

    out = []
    for p in paths:
        if (p / SESSION_JSON).is_file():
            out.append(p)
        elif p.is_dir():
            out.extend(sorted(d for d in p.iterdir() if (d / SESSION_JSON).is_file()))
    return out


def _background_spans(labels: Sequence[tuple[float, float]], duration: float, length: float) -> list[tuple[float, float]]:
    """Spans of about `length` seconds that overlap no labeled segment, within [0, duration]."""
    spans, cursor = [], 0.0
    for start, end in sorted(labels) + [(duration, duration)]:
        gap_start, gap_end = cursor, start
        t = gap_start
        while gap_end - t >= MIN_GAP_SECONDS:
            spans.append((t, min(t + length, gap_end)))
            t += length
        cursor = max(cursor, end)
    return spans


def load_sessions(paths: Sequence[Path], *, background: bool = True, val_fraction: float = 0.2,
                  seed: int = 0, background_length: float = 2.0) -> DatasetSplit:
    """Labeled segments of recorded sessions as examples; time outside them as `no action` (when `background`)."""
    from slowfast_core.sessions.store import load_session

    folders = _session_folders(paths)
    if not folders:
        raise DataError(f"no session folders in {', '.join(map(str, paths))}: record a session first")
    sessions, skipped = [], []
    for folder in folders:
        try:
            session = load_session(folder)
        except SlowFastError as exc:
            skipped.append(f"{folder.name}: {exc}")
            continue
        if session.video_path is None:
            skipped.append(f"{folder.name}: no finished video (run `slowfast sessions repair`)")
            continue
        sessions.append(session)
    names: list[str] = []
    for s in sessions:
        for seg in s.labels:
            if seg.label not in names:
                names.append(seg.label)
    if not names:
        raise DataError("no labeled segment in the sessions: mark actions with the label keys while recording")
    categories = names + ([BACKGROUND] if background and BACKGROUND not in names else [])
    per_session: list[list[Example]] = []
    for s in sessions:
        exs = [Example(s.video_path, categories.index(seg.label), seg.start, seg.end, group=s.path.name)
               for seg in s.labels if seg.end > seg.start]
        if background:
            spans = _background_spans([(seg.start, seg.end) for seg in s.labels], s.info.duration, background_length)
            exs += [Example(s.video_path, categories.index(BACKGROUND), a, b, group=s.path.name) for a, b in spans]
        per_session.append(exs)
    split = _split_sessions(per_session, categories, val_fraction=val_fraction, seed=seed)
    split.source = ", ".join(str(p) for p in paths)
    split.notes += [f"skipped session {line}" for line in skipped]
    if background:
        _cap_background(split, categories.index(BACKGROUND) if BACKGROUND in categories else -1)
    return split


def _split_sessions(per_session: list[list[Example]], categories: list[str], *, val_fraction: float,
                    seed: int) -> DatasetSplit:
    """Whole sessions to val until `val_fraction` of the examples; one session: split its segments instead."""
    rng = np.random.default_rng(seed)
    if len(per_session) == 1:
        exs = per_session[0]
        order = rng.permutation(len(exs))
        n_val = int(round(len(exs) * val_fraction))
        val = [exs[i] for i in order[:n_val]]
        train = [exs[i] for i in order[n_val:]]
        return DatasetSplit(categories, train, val, notes=["one session: train/val split by segment, not by session"])
    total = sum(len(e) for e in per_session)
    train, val = [], []
    for i in rng.permutation(len(per_session)):
        (val if len(val) < val_fraction * total and len(per_session) > 1 and len(train) > 0 else train).extend(per_session[i])
    return DatasetSplit(categories, train, val, notes=[f"train/val split by session ({len(per_session)} sessions)"])


def _cap_background(split: DatasetSplit, background: int) -> None:
    """Keep at most BACKGROUND_SHARE of the training examples as background (evenly spread)."""
    if background < 0:
        return
    bg = [ex for ex in split.train if ex.label == background]
    fg = [ex for ex in split.train if ex.label != background]
    limit = max(1, int(BACKGROUND_SHARE / (1 - BACKGROUND_SHARE) * len(fg)))
    if len(bg) > limit:
        keep = set(np.linspace(0, len(bg) - 1, limit).round().astype(int).tolist())
        split.train = fg + [ex for i, ex in enumerate(bg) if i in keep]
        split.notes.append(f"background capped at {limit} of {len(bg)} examples ({BACKGROUND_SHARE:.0%} share)")


# ----------------------------------------------------------------------------------------------- any source


def _csv_file(path: Path) -> tuple[Path, str]:
    """(folder, training CSV name) for a dataset given as its CSV file; val.csv or test.csv is refused."""
    if path.name in ("val.csv", "test.csv"):
        raise DataError(f"{path} is the {path.stem} split: give the training CSV ({path.with_name('train.csv')}) "
                        "or the folder holding it")
    return path.parent, path.name


def load_dataset(paths: Sequence[str | Path], *, background: bool = True, val_fraction: float = 0.2,
                 seed: int = 0) -> DatasetSplit:
    """The dataset at `paths`, whichever of the three layouts it is in; DataError when none fits."""
    resolved = [Path(p).expanduser() for p in paths]
    for p in resolved:
        if not p.exists():
            raise DataError(f"dataset {p} does not exist: give a session folder, an exported folder or class folders")
    if len(resolved) == 1 and resolved[0].is_file() and resolved[0].suffix.lower() == ".csv":
        split = load_csv_dataset(*_csv_file(resolved[0]))  # the CSV itself, as PySlowFast users give it
    elif len(resolved) == 1 and (resolved[0] / "train.csv").is_file():
        split = load_csv_dataset(resolved[0])
    elif _session_folders(resolved):
        split = load_sessions(resolved, background=background, val_fraction=val_fraction, seed=seed)
    elif len(resolved) == 1 and resolved[0].is_dir():
        split = load_class_folders(resolved[0], val_fraction=val_fraction, seed=seed)
    else:
        raise DataError(f"{', '.join(map(str, resolved))} is no dataset: expected sessions, a folder with train.csv "
                        "or class folders")
    split.check()
    return split
