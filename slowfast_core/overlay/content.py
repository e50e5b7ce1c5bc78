"""What the overlay says for one prediction, independent of how it is laid out or painted."""

from __future__ import annotations

from dataclasses import dataclass

UNTRAINED_TEXT = "UNTRAINED — predictions are meaningless"
NO_ACTION_TEXT = "no confident action"
#: the footer of a prediction from a padded window (the first seconds after a start or a model switch)
PADDED_TEXT = "first seconds: partial window"


@dataclass(frozen=True)
class ShownPrediction:
    """What the overlay needs of one prediction, whatever produced it (the live engine, a file, a session).

    label/confidence: the smoothed answer (label None: no confident action); topk: raw, best first;
    start/end: the window's first and last frame, in seconds on the same clock as the `now` it is shown at;
    padded: the window was cut before a whole window of video had arrived (its oldest frame repeated).
    """

    topk: tuple[tuple[str, float], ...]
    label: str | None
    confidence: float
    start: float
    end: float
    padded: bool = False


@dataclass(frozen=True)
class OverlayContent:
    """What the overlay shows, independent of how it is painted."""

    headline: str  # the leading action, NO_ACTION_TEXT, or a waiting notice
    confidence: float | None  # of the headline action (None: no action / nothing yet)
    rows: tuple[tuple[str, float], ...]  # top-k (name, probability), best first
    footer: str  # the window's span and age
    stale: bool
    untrained: bool
    has_prediction: bool


def stale_after(stride_s: float, end_to_end_s: float = 0.0) -> float:
    """How old a prediction may get before the overlay dims it: a few strides plus the usual latency."""
    return max(3.0, 2.0 * end_to_end_s + 2.0 * stride_s)


def overlay_content(
    shown: ShownPrediction | None, *, now: float, topk: int, stale_seconds: float, untrained: bool,
    waiting: str = "waiting for the first window…",
) -> OverlayContent:
    """The overlay's texts and bars for `shown` seen at time `now` (same clock as its start/end)."""
    if shown is None:
        return OverlayContent(waiting, None, (), "", False, untrained, False)
    rows = tuple((name, float(prob)) for name, prob in shown.topk[: max(1, topk)])
    if shown.label is None:
        headline, confidence = NO_ACTION_TEXT, None
    else:
        headline, confidence = shown.label, float(shown.confidence)
    age = max(0.0, now - shown.end)
    stale = age > stale_seconds
    footer = f"window {shown.start:.1f}–{shown.end:.1f} s ({shown.end - shown.start:.1f} s) · {age:.1f} s ago"
    if shown.padded:
        footer = f"{PADDED_TEXT} · {age:.1f} s ago"
    if stale:
        footer += " · stale"
    return OverlayContent(headline, confidence, rows, footer, stale, untrained, True)


@dataclass(frozen=True)
class Marking:
    """The recording part of the overlay: the REC badge (top right) and the marked label (bottom centre).

    badge: e.g. "REC 01:02  my session" (None: no badge); label: the label marked now; prompt: shown in the
    label's place when none is marked (None: nothing there). An exported session has a label and no badge.
    """

    badge: str | None = None
    label: str | None = None
    prompt: str | None = None
