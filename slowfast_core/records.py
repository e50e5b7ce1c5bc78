"""The one prediction record and the one top-k: what every writer of predictions writes, and every reader reads.

`slowfast predict --json/--jsonl`, the live JSONL writer (`slowfast run`), the session recorder's
predictions.jsonl and the session reader all use `PredictionRecord` and its `to_dict`/`from_dict`, so each
field has one name and one meaning everywhere:

- window: the window's number (offline) or id (live), counting from 0.
- start, end: the window's span in seconds, [first grid instant, last grid instant + 1/30): T*tau/30 long
  (`video.windows.window_span`). Seconds from the first frame (a file's media time, a session's time).
- first_frame, last_frame: indices of the earliest and latest frames the pathways took.
- topk: [{label, prob}], best first, raw (unsmoothed) softmax probabilities.
- padded: the window's frames did not span it, so edge frames were repeated to fill it: a clip shorter than a
  window (`slowfast predict` writes the field always), or live a window cut in the first seconds after a
  start or a model switch, before the buffer covered its span (the engine writes it only when true).
- label, confidence (live only): after smoothing and hysteresis; label null = no confident action.
- timings (live only, ms: waited, prepared, inferred, end_to_end) and backend (live only).
- people (detection only): per person {track, box (normalised x1, y1, x2, y2), score, actions [{label, prob}]
  above the threshold, and live its smoothed label and confidence}; an empty list: nobody in view.
Fields that do not apply are left out. Times round to 1 us, probabilities to 1e-6, timings to 1 us (ms/1000).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from slowfast_core.errors import InferenceError
from slowfast_core.spec import REFERENCE_FPS

#: (label, probability) pairs, most probable first.
TopK = tuple[tuple[str, float], ...]


def top_k(probs: np.ndarray, categories: Sequence[str], k: int) -> TopK:
    """The k most probable (label, probability) pairs of `probs` (C,), most probable first; ties keep class
    order. A class without a name is called "class i"."""
    probs = np.asarray(probs).reshape(-1)
    k = max(1, min(k, len(probs)))
    order = np.argsort(-probs, kind="stable")[:k]
    return tuple((str(categories[i]) if i < len(categories) else f"class {i}", float(probs[i])) for i in order)


def _finite(value: Any) -> float:
    """`value` as a finite float; ValueError otherwise (NaN and Infinity parse as JSON in Python)."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{value} is not finite")
    return number


def _topk_entry(entry: Any) -> tuple[str, float]:
    """One top-k entry: {"label", "prob"} (or the [label, prob] pair of sessions recorded before 0.x)."""
    if isinstance(entry, Mapping):
        return str(entry["label"]), _finite(entry["prob"])
    name, prob = entry
    return str(name), _finite(prob)


@dataclass(frozen=True)
class PersonRecord:
    """One person in a window (detection): track id, box normalised to the frame (x1, y1, x2, y2 in [0, 1],
    AVA's convention), the detector's score, every action above the threshold (multi-label, best first, raw
    sigmoid probabilities) and, live, the person's smoothed label and its confidence."""

    track: int
    box: tuple[float, float, float, float]
    score: float
    actions: TopK
    label: str | None = None
    confidence: float | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "track": int(self.track), "box": [round(float(v), 6) for v in self.box],
            "score": round(float(self.score), 6),
            "actions": [{"label": label, "prob": round(float(prob), 6)} for label, prob in self.actions],
        }
        if self.confidence is not None:
            out["label"] = self.label
            out["confidence"] = round(float(self.confidence), 6)
        return out

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> "PersonRecord":
        """KeyError/TypeError/ValueError when `obj` is not one person (a box of 4 finite numbers in order)."""
        box = tuple(_finite(v) for v in obj["box"])
        if len(box) != 4 or box[2] < box[0] or box[3] < box[1]:
            raise ValueError(f"person box {box} is not x1, y1, x2, y2")
        label = obj.get("label")
        if label is not None and not isinstance(label, str):
            raise TypeError("person label is not text")
        confidence = obj.get("confidence")
        return cls(track=int(obj["track"]), box=box,  # type: ignore[arg-type]
                   score=_finite(obj.get("score", 1.0)), actions=tuple(_topk_entry(e) for e in obj.get("actions", [])),
                   label=label, confidence=None if confidence is None else _finite(confidence))


@dataclass(frozen=True)
class PredictionRecord:
    """One window's prediction as written and read (see the module doc for each field's meaning)."""

    window: int
    start: float
    end: float
    topk: TopK
    first_frame: int = -1
    last_frame: int = -1
    padded: bool | None = None  # offline: True/False; live: True on a padded first window, else left out
    label: str | None = None  # live only (with confidence)
    confidence: float | None = None  # live only; None: not smoothed (offline)
    timings: Mapping[str, float] | None = None  # live only
    backend: str | None = None  # live only
    people: tuple[PersonRecord, ...] | None = None  # detection only: one entry per person (may be empty)

    @property
    def last_instant(self) -> float:
        """The window's last grid instant (`end` - 1/30 s): its newest frame arrived then, so the prediction is
        shown from then on (as the live view and `predict --annotate` show it)."""
        return self.end - 1.0 / REFERENCE_FPS

    @property
    def mid(self) -> float:
        """The middle of the window: the moment the prediction describes best."""
        return 0.5 * (self.start + self.end)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready, rounded; fields that do not apply are left out (label is kept, as null, when live)."""
        out: dict[str, object] = {
            "window": int(self.window), "start": round(float(self.start), 6), "end": round(float(self.end), 6),
            "first_frame": int(self.first_frame), "last_frame": int(self.last_frame),
        }
        if self.padded is not None:
            out["padded"] = bool(self.padded)
        out["topk"] = [{"label": label, "prob": round(float(prob), 6)} for label, prob in self.topk]
        if self.confidence is not None:
            out["label"] = self.label
            out["confidence"] = round(float(self.confidence), 6)
        if self.timings is not None:
            out["timings"] = {k: round(float(v), 3) for k, v in self.timings.items()}
        if self.backend is not None:
            out["backend"] = self.backend
        if self.people is not None:
            out["people"] = [p.to_dict() for p in self.people]
        return out

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> "PredictionRecord":
        """The record of one JSON object; KeyError/TypeError/ValueError when it is not one (a missing field,
        a wrong type, a non-finite number, an end before the start). Sessions recorded before the records
        were one type wrote "id", "first_index", "last_index" and [label, prob] pairs: those read too."""
        label = obj.get("label")
        timings = obj.get("timings")
        backend = obj.get("backend")
        padded = obj.get("padded")
        confidence = obj.get("confidence")
        people = obj.get("people")
        if label is not None and not isinstance(label, str):
            raise TypeError("label is not text")
        if people is not None and not isinstance(people, list):
            raise TypeError("people is not a list")
        if timings is not None and not isinstance(timings, dict):
            raise TypeError("timings is not an object")
        record = cls(
            window=int(obj["window"] if "window" in obj else obj["id"]),
            start=_finite(obj["start"]), end=_finite(obj["end"]),
            topk=tuple(_topk_entry(e) for e in obj.get("topk", [])),
            first_frame=int(obj.get("first_frame", obj.get("first_index", -1))),
            last_frame=int(obj.get("last_frame", obj.get("last_index", -1))),
            padded=None if padded is None else bool(padded), label=label,
            confidence=None if confidence is None else _finite(confidence),
            timings=None if timings is None else {str(k): _finite(v) for k, v in timings.items()},
            backend=None if backend is None else str(backend),
            people=None if people is None else tuple(PersonRecord.from_dict(p) for p in people),
        )
        if record.end < record.start:
            raise ValueError(f"the window ends before it starts ({record.start:.2f}-{record.end:.2f} s)")
        return record


def probabilities(logits: torch.Tensor, *, window: int | None = None) -> torch.Tensor:
    """Softmax probabilities (C,) of one window's logits (1, C). InferenceError when a logit is NaN or infinite:
    such an output is an error (broken weights or backend), never a prediction and never NaN in a JSON line."""
    flat = logits.detach().float().reshape(-1).cpu()  # (C,)
    if not bool(torch.isfinite(flat).all()):
        bad = int((~torch.isfinite(flat)).sum())
        where = "" if window is None else f" for window {window}"
        raise InferenceError(f"the model's output{where} is not a number ({bad} of {flat.numel()} values NaN or "
                             "infinite): no prediction was made; the weights or the backend are broken (try "
                             "--backend torch-eager, or other weights)")
    return torch.softmax(flat, dim=0)
