"""AVA's per-person layout: reading `video,timestamp,x1,y1,x2,y2,action_id[,person_id]` CSVs into key frames.

As ava_val_v2.2.csv: one row per (person, action) at a key frame, boxes normalised to [0, 1], action ids from 1
(the label map's numbering), no header. Rows of the same person (same box) at the same key frame are merged
into one box with a multi-hot label vector. Every malformed row is one DatasetError line naming `file:line`.

A dataset folder (`slowfast synth --actors N`) holds `train.csv`, `val.csv`, `actions.txt` (line i names
action id i) and `videos/<video>.<ext>`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from slowfast_core.errors import SlowFastError

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".mov", ".webm")


class AvaError(SlowFastError):
    """An AVA CSV or dataset folder is malformed: the message names file:line and what to fix."""


@dataclass
class KeyFrame:
    """One labelled key frame: its video and time, the people's boxes (normalised) and multi-hot labels."""

    video: str
    timestamp: float
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    labels: list[set[int]] = field(default_factory=list)  # per box: 0-based class indices
    person_ids: list[int] = field(default_factory=list)

    def targets(self, num_classes: int) -> np.ndarray:
        """(N, num_classes) float32 multi-hot labels, one row per box."""
        out = np.zeros((len(self.boxes), num_classes), np.float32)
        for i, classes in enumerate(self.labels):
            out[i, sorted(classes)] = 1.0
        return out


def _number(text: str, what: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise AvaError(f"{where}: {what} {text!r} is not a number: each row is video,timestamp,x1,y1,x2,y2,"
                       "action_id[,person_id]") from None
    if not math.isfinite(value):
        raise AvaError(f"{where}: {what} {text!r} is not a finite number")
    return value


def read_ava_csv(path: str | Path, *, num_classes: int) -> list[KeyFrame]:
    """Key frames of an AVA CSV, in first-seen order. AvaError (file:line) for a malformed row."""
    path = Path(path)
    if not path.is_file():
        raise AvaError(f"{path} does not exist: an AVA dataset folder needs train.csv and val.csv "
                       "(slowfast synth OUT --actors N writes one)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise AvaError(f"cannot read {path}: {exc}") from None
    frames: dict[tuple[str, float], KeyFrame] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        cols = [c.strip() for c in line.split(",")]
        if len(cols) not in (7, 8):
            raise AvaError(f"{where}: {len(cols)} columns, expected 8 (video,timestamp,x1,y1,x2,y2,action_id,"
                           "person_id) or 7 (without person_id)")
        video = cols[0]
        if not video:
            raise AvaError(f"{where}: the video name is empty")
        timestamp = _number(cols[1], "timestamp", where)
        box = tuple(_number(c, n, where) for c, n in zip(cols[2:6], ("x1", "y1", "x2", "y2")))
        if not all(0.0 <= v <= 1.0 for v in box):
            raise AvaError(f"{where}: box {cols[2:6]} is outside the frame: AVA boxes are normalised to 0..1")
        if box[2] <= box[0] or box[3] <= box[1]:
            raise AvaError(f"{where}: box {cols[2:6]} is empty: x2 must exceed x1 and y2 exceed y1")
        action = _number(cols[6], "action_id", where)
        if action != int(action) or not 1 <= action <= num_classes:
            raise AvaError(f"{where}: action_id {cols[6]} is not one of 1..{num_classes} (the label map's ids)")
        person = int(_number(cols[7], "person_id", where)) if len(cols) == 8 else -1
        kf = frames.setdefault((video, timestamp), KeyFrame(video, timestamp))
        key = person if person >= 0 else None
        for i, (b, p) in enumerate(zip(kf.boxes, kf.person_ids)):
            if (key is not None and p == key) or (key is None and b == box):
                kf.labels[i].add(int(action) - 1)
                break
        else:
            kf.boxes.append(box)  # type: ignore[arg-type]
            kf.labels.append({int(action) - 1})
            kf.person_ids.append(person)
    if not frames:
        raise AvaError(f"{path} has no rows: each row is video,timestamp,x1,y1,x2,y2,action_id,person_id")
    return list(frames.values())


@dataclass(frozen=True)
class AvaDataset:
    """An AVA-layout folder: categories, key frames per split, and where each video is."""

    root: Path
    categories: tuple[str, ...]
    splits: dict[str, list[KeyFrame]]

    def video_path(self, video: str) -> Path:
        """The file of `video` under videos/ (any common extension); AvaError naming it when missing."""
        for ext in VIDEO_EXTENSIONS:
            p = self.root / "videos" / f"{video}{ext}"
            if p.is_file():
                return p
        raise AvaError(f"video {video!r} of {self.root} is missing: expected videos/{video}.mp4")


def load_ava_dataset(root: str | Path) -> AvaDataset:
    """Read an AVA-layout folder (label map actions.txt, train.csv, val.csv if present)."""
    from slowfast_core.weights.labels import read_label_file

    root = Path(root)
    if not root.is_dir():
        raise AvaError(f"{root} is not a folder: pass an AVA-layout folder (slowfast synth OUT --actors N)")
    labels = root / "actions.txt"
    if not labels.is_file():
        raise AvaError(f"{root} has no actions.txt: the label map names action id i on line i")
    categories = tuple(read_label_file(labels))
    splits = {s: read_ava_csv(root / f"{s}.csv", num_classes=len(categories))
              for s in ("train", "val") if (root / f"{s}.csv").is_file()}
    if "train" not in splits and "val" not in splits:
        raise AvaError(f"{root} has neither train.csv nor val.csv: write AVA rows into them")
    return AvaDataset(root, categories, splits)
