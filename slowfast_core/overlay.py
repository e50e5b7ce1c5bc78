"""The prediction overlay: what it says, where each box, bar and text goes, and its colours. One look, two painters.

The live window (app/video_view.py, QPainter) and annotated video files (`draw_overlay`, OpenCV on a numpy
frame) draw the same overlay: top-k rows with bars and the threshold tick, the leading action (or "no
confident action"), the window's span and age, dimming when stale, the UNTRAINED tag, and while recording
the REC badge and the label being marked. Both go through the same three steps here:

1. `overlay_content(...)`: the texts and numbers for one prediction (or a waiting notice);
2. `layout_overlay(...)`: a display list of primitives (`Fill` boxes and dots, `Text`, `Line`) with pixel
   positions, RGBA colours (staleness premultiplied into alpha) and already-elided texts;
3. a painter that only maps primitives to its drawing calls: `QtPainter` in app/, `CvPainter` here.

The layout asks the painter's `TextMeasure` how wide a text is in its font, so each painter's text fits its
boxes; nothing about the look (sizes, margins, colours, what goes where) lives in a painter. OpenCV 5 draws
text with a TrueType font; OpenCV 4's Hershey fonts are ASCII-only, so there "—", "–", "·" and "…" become
"-", "-", "|" and "...".
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import cv2
import numpy as np

RGBA = tuple[int, int, int, int]
Align = Literal["left", "right", "center"]

UNTRAINED_TEXT = "UNTRAINED — predictions are meaningless"
NO_ACTION_TEXT = "no confident action"

# --------------------------------------------------------------------------------------------------- colours


def _hex(code: str, alpha: int = 255) -> RGBA:
    return int(code[1:3], 16), int(code[3:5], 16), int(code[5:7], 16), alpha


#: Distinct, saturated colours dark enough for white text on top (Tableau-like, the light ones darkened).
CLASS_COLORS = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#e6550d", "#138e9b", "#8f9012", "#c9559f",
    "#8c564b", "#3182bd", "#31a354", "#756bb1", "#636363", "#b03a2e", "#b5651d", "#a05195",
)
BACKGROUND = _hex("#15171a")
PANEL: RGBA = (12, 14, 18, 205)
TEXT = _hex("#f2f2f2")
MUTED = _hex("#a7adb5")
WARNING = _hex("#f0a020")
DANGER = _hex("#e0403a")
NO_ACTION = _hex("#5a6068")
BAR_TRACK: RGBA = (255, 255, 255, 38)
THRESHOLD_TICK: RGBA = (255, 255, 255, 150)
MARKED_ALPHA = 225  # the marked label's box: its class colour, slightly see-through
STALE_OPACITY = 0.45  # headline and rows of a prediction older than `stale_after`


def class_rgba(name: str | None) -> RGBA:
    """The same colour for the same class name in every view, file and run; grey for "no action"."""
    if not name:
        return NO_ACTION
    return _hex(CLASS_COLORS[zlib.crc32(name.encode("utf-8")) % len(CLASS_COLORS)])


def _faded(color: RGBA, opacity: float) -> RGBA:
    return color[0], color[1], color[2], int(round(color[3] * opacity))


# --------------------------------------------------------------------------------------------------- content


@dataclass(frozen=True)
class ShownPrediction:
    """What the overlay needs of one prediction, whatever produced it (the live engine, a file, a session).

    label/confidence: the smoothed answer (label None: no confident action); topk: raw, best first;
    start/end: the window's first and last frame, in seconds on the same clock as the `now` it is shown at.
    """

    topk: tuple[tuple[str, float], ...]
    label: str | None
    confidence: float
    start: float
    end: float


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


# ---------------------------------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Rect:
    """An axis-aligned box in pixels (floats: the Qt painter keeps sub-pixel positions)."""

    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    def intersects(self, other: "Rect") -> bool:
        return self.x < other.right and other.x < self.right and self.y < other.bottom and other.y < self.bottom


@dataclass(frozen=True)
class Font:
    """A font by pixel size (sizes follow the video, not the screen's DPI) and style."""

    px: int
    bold: bool = False
    italic: bool = False


@dataclass(frozen=True)
class Fill:
    """A filled box with rounded corners of `radius`, or (ellipse) the ellipse inside `rect`; no outline."""

    rect: Rect
    color: RGBA
    radius: float = 0.0
    ellipse: bool = False


@dataclass(frozen=True)
class Text:
    """One line of text (already elided to fit) in `rect`, vertically centred, aligned left/right/center."""

    rect: Rect
    text: str
    font: Font
    color: RGBA
    align: Align = "left"


@dataclass(frozen=True)
class Line:
    """A straight line, `width` pixels wide, solid or dashed."""

    x1: float
    y1: float
    x2: float
    y2: float
    color: RGBA
    width: float = 1.0
    dashed: bool = False


Item = Fill | Text | Line


@dataclass(frozen=True)
class OverlayLayout:
    """The display list, drawn in order, and where the main panel went (tests, and the REC badge's check)."""

    items: tuple[Item, ...]
    panel: Rect
    extra: dict[str, Rect] = field(default_factory=dict, compare=False)  # "badge", "label" when drawn


class TextMeasure(Protocol):
    """How a painter's fonts measure text: width of a line and height of a line, in pixels."""

    def width(self, text: str, font: Font) -> float: ...

    def height(self, font: Font) -> float: ...


def base_px(height: float) -> int:
    """The overlay's base font size for a video shown `height` pixels tall: 1/34 of it, 11 to 16 px."""
    return int(max(11.0, min(16.0, height / 34.0)))


def elide(text: str, font: Font, width: float, measure: TextMeasure) -> str:
    """`text` cut at the end with "…" so that it fits `width` pixels in `font` (as `measure` measures)."""
    if measure.width(text, font) <= width:
        return text
    lo, hi = 0, len(text)  # the longest prefix that fits with the ellipsis
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure.width(text[:mid].rstrip() + "…", font) <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + "…" if lo > 0 else ""


def layout_overlay(
    content: OverlayContent, *, area: Rect, bounds: Rect, base: int, threshold: float, measure: TextMeasure,
    marking: Marking | None = None,
) -> OverlayLayout:
    """The overlay's display list for `content` over a video shown in `area` inside `bounds` (the canvas).

    The panel sits in the video's top-left corner; on a video too narrow for it, it moves to the canvas's
    corner (the letterbox). `base` is the row font's pixel size (`base_px`), `threshold` the tick on the bars.
    """
    items: list[Item] = []
    margin = 10.0
    panel_w = max(230.0, min(380.0, area.w * 0.42))
    if area.w < panel_w + 2 * margin:
        area = bounds
        panel_w = min(panel_w, area.w - 2 * margin)
    head_font = Font(int(base * 1.45), bold=True)
    row_font = Font(base)
    small_font = Font(max(10, base - 2))
    warn_font = Font(max(10, base - 1), bold=True)
    if content.untrained:  # the warning is never cut: widen the panel, else shrink the text until it fits
        panel_w = min(max(panel_w, measure.width(UNTRAINED_TEXT, warn_font) + 32), area.w - 2 * margin)
        while measure.width(UNTRAINED_TEXT, warn_font) + 32 > panel_w and warn_font.px > 8:
            warn_font = Font(warn_font.px - 1, bold=True)
    row_h = base * 1.75
    head_h = measure.height(head_font) + 8
    warn_h = measure.height(warn_font) + 8 if content.untrained else 0
    foot_h = measure.height(small_font) + 6 if content.footer else 0
    panel_h = 10 + warn_h + head_h + len(content.rows) * row_h + foot_h + 6
    panel = Rect(area.x + margin, area.y + margin, panel_w, panel_h)
    items.append(Fill(panel, PANEL, 8))
    x, y, w = panel.x + 10, panel.y + 8, panel.w - 20
    if content.untrained:
        warn = Rect(x - 4, y - 2, w + 8, warn_h - 2)
        items.append(Fill(warn, DANGER, 4))
        items.append(Text(warn, elide(UNTRAINED_TEXT, warn_font, warn.w - 4, measure), warn_font, TEXT, "center"))
        y += warn_h
    opacity = STALE_OPACITY if content.stale else 1.0
    # headline: the leading action (coloured dot, name, percentage) or the no-action / waiting notice
    head = Rect(x, y, w, head_h - 6)
    if content.confidence is not None:
        sw = head.h * 0.5
        items.append(Fill(Rect(x, head.cy - sw / 2, sw, sw), _faded(class_rgba(content.headline), opacity),
                          ellipse=True))
        pct = f"{content.confidence * 100:.0f}%"
        pct_w = measure.width(pct, head_font) + 4
        name_rect = Rect(x + sw + 8, head.y, w - sw - 8 - pct_w, head.h)
        items.append(Text(name_rect, elide(content.headline, head_font, name_rect.w, measure), head_font,
                          _faded(TEXT, opacity)))
        items.append(Text(head, pct, head_font, _faded(TEXT, opacity), "right"))
    else:
        notice_font = Font(head_font.px, italic=True)
        items.append(Text(head, elide(content.headline, notice_font, w, measure), notice_font,
                          _faded(MUTED, opacity)))
    y += head_h
    # top-k rows: name, bar, percentage; the threshold as a dashed tick on each bar
    pct_w = measure.width("100%", row_font) + 6
    name_w = w * 0.46
    bar_x = x + name_w + 6
    bar_w = max(20.0, w - name_w - 6 - pct_w)
    for name, prob in content.rows:
        color = TEXT if prob >= threshold else MUTED
        items.append(Text(Rect(x, y, name_w, row_h), elide(name, row_font, name_w, measure), row_font,
                          _faded(color, opacity)))
        bar = Rect(bar_x, y + row_h / 2 - row_h * 0.22, bar_w, row_h * 0.44)
        items.append(Fill(bar, _faded(BAR_TRACK, opacity), 3))
        filled = Rect(bar.x, bar.y, max(2.0, bar.w * min(1.0, max(0.0, prob))), bar.h)
        items.append(Fill(filled, _faded(class_rgba(name), opacity), 3))
        tick_x = bar.x + bar.w * threshold
        items.append(Line(tick_x, bar.y - 2, tick_x, bar.bottom + 2, _faded(THRESHOLD_TICK, opacity), 1, True))
        items.append(Text(Rect(x + w - pct_w, y, pct_w, row_h), f"{prob * 100:.0f}%", row_font,
                          _faded(TEXT, opacity), "right"))
        y += row_h
    if content.footer:
        items.append(Text(Rect(x, y + 2, w, foot_h), elide(content.footer, small_font, w, measure), small_font,
                          WARNING if content.stale else MUTED))
    extra: dict[str, Rect] = {}
    if marking is not None:
        _layout_marking(items, extra, marking, area=area, bounds=bounds, panel=panel, base=base, measure=measure)
    return OverlayLayout(tuple(items), panel, extra)


def _layout_marking(
    items: list[Item], extra: dict[str, Rect], marking: Marking, *, area: Rect, bounds: Rect, panel: Rect, base: int,
    measure: TextMeasure,
) -> None:
    """The REC badge (top right, out of the panel's way) and the marked label (big, bottom centre)."""
    if marking.badge is not None:
        font = Font(base, bold=True)
        tw = min(measure.width(marking.badge, font), area.w * 0.4)
        box = Rect(area.right - tw - 44, area.y + 10, tw + 34, measure.height(font) + 12)
        if box.intersects(panel):  # narrow video: use the letterbox, else go below the panel
            box = Rect(bounds.right - 10 - box.w, box.y, box.w, box.h)
            if box.intersects(panel):
                box = Rect(box.x, panel.bottom + 8, box.w, box.h)
        d = measure.height(font) * 0.6
        items.append(Fill(box, PANEL, 6))
        items.append(Fill(Rect(box.x + 9, box.cy - d / 2, d, d), DANGER, ellipse=True))
        text_rect = Rect(box.x + 14 + d, box.y, box.w - 20 - d, box.h)
        items.append(Text(text_rect, elide(marking.badge, font, box.w - 20 - d, measure), font, TEXT))
        extra["badge"] = box
    text = marking.label or marking.prompt
    if text is None:
        return
    big = Font(int(base * 1.6), bold=True)
    font = big if marking.label else Font(base)
    dot = measure.height(big) * 0.45 if marking.label else 0.0
    gap = dot + 10 if marking.label else 0.0
    lw = min(measure.width(text, font) + gap + 32, area.w - 20)
    box = Rect(area.cx - lw / 2, area.bottom - measure.height(big) - 28, lw, measure.height(big) + 14)
    color = _faded(class_rgba(marking.label), MARKED_ALPHA / 255) if marking.label else PANEL
    items.append(Fill(box, color, 8))
    shown = elide(text, font, box.w - 12 - gap, measure)
    if marking.label:  # a white dot, then the label, centred together
        tw = measure.width(shown, font)
        left = box.cx - (tw + gap) / 2
        items.append(Fill(Rect(left, box.cy - dot / 2, dot, dot), TEXT, ellipse=True))
        items.append(Text(Rect(left + gap, box.y, tw + 2, box.h), shown, font, TEXT))
    else:
        items.append(Text(box, shown, font, MUTED, "center"))
    extra["label"] = box


# ------------------------------------------------------------------------------------------ OpenCV painter

_ASCII = str.maketrans({"—": "-", "–": "-", "·": "|", "…": "...", "●": "*", "×": "x"})
#: OpenCV 5's putText draws Unicode with a built-in TrueType font; 4.x has only the ASCII Hershey fonts.
CV_UNICODE = int(cv2.__version__.split(".")[0]) >= 5
_CAP_PER_PX = 0.71  # Qt's sans: cap height / pixel size


def _cap_height() -> float:
    """Cap height in pixels of OpenCV's font at scale 1, measured from a drawn "H" (differs by version)."""
    canvas = np.zeros((120, 120), np.uint8)
    cv2.putText(canvas, "H", (10, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 255, 1, cv2.LINE_AA)
    rows = np.nonzero(canvas.max(axis=1) > 127)[0]
    return float(rows.max() - rows.min() + 1) if len(rows) else 21.0


_CV_CAP = _cap_height()


def ascii_text(text: str) -> str:
    """`text` in the characters OpenCV's font can draw (see the module doc); with OpenCV 4, others become '?'."""
    if CV_UNICODE:
        return text
    return text.translate(_ASCII).encode("ascii", "replace").decode("ascii")


class CvTextMeasure:
    """Text metrics of the OpenCV painter's Hershey fonts (Simplex; Duplex for bold)."""

    @staticmethod
    def style(font: Font) -> tuple[int, float, int]:
        """(face, scale, thickness) that draw `font` with a cap height close to Qt's at the same pixel size."""
        face = cv2.FONT_HERSHEY_DUPLEX if font.bold else cv2.FONT_HERSHEY_SIMPLEX
        if font.italic:
            face |= cv2.FONT_ITALIC
        scale = font.px * _CAP_PER_PX / _CV_CAP
        thickness = max(1, int(round(font.px / (12.0 if font.bold else 18.0))))
        return face, scale, thickness

    def width(self, text: str, font: Font) -> float:
        face, scale, thickness = self.style(font)
        return float(cv2.getTextSize(ascii_text(text), face, scale, thickness)[0][0])

    def height(self, font: Font) -> float:
        return float(math.ceil(font.px * 1.2))


class CvPainter:
    """Draws a display list onto a (H, W, 3) uint8 image in place, antialiased, alpha-blended item by item.

    `channels` is "bgr" (OpenCV frames) or "rgb"; colours are RGBA either way.
    """

    def __init__(self, image: np.ndarray, *, channels: Literal["bgr", "rgb"] = "bgr") -> None:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"need an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
        self.image = image
        self.bgr = channels == "bgr"

    def paint(self, items: Sequence[Item]) -> None:
        for item in items:
            if isinstance(item, Fill):
                self._fill(item)
            elif isinstance(item, Text):
                self._text(item)
            else:
                self._line(item)

    # Each primitive is drawn as a coverage mask (0..255, antialiased) over its bounding box, then blended.
    def _blend(self, x0: int, y0: int, mask: np.ndarray, color: RGBA) -> None:
        h, w = self.image.shape[:2]
        x1, y1 = min(w, x0 + mask.shape[1]), min(h, y0 + mask.shape[0])
        cx0, cy0 = max(0, x0), max(0, y0)
        if x1 <= cx0 or y1 <= cy0 or color[3] == 0:
            return
        m = mask[cy0 - y0:y1 - y0, cx0 - x0:x1 - x0].astype(np.float32) * (color[3] / (255.0 * 255.0))
        rgb = color[2::-1] if self.bgr else color[:3]
        roi = self.image[cy0:y1, cx0:x1].astype(np.float32)  # (h, w, 3)
        roi += (np.asarray(rgb, np.float32) - roi) * m[..., None]
        self.image[cy0:y1, cx0:x1] = np.clip(roi + 0.5, 0, 255).astype(np.uint8)

    def _fill(self, item: Fill) -> None:
        r = item.rect
        x0, y0 = int(math.floor(r.x)), int(math.floor(r.y))
        w, h = int(round(r.right)) - x0, int(round(r.bottom)) - y0
        if w <= 0 or h <= 0:
            return
        mask = np.zeros((h + 2, w + 2), np.uint8)
        if item.ellipse:
            cv2.ellipse(mask, ((r.x - x0 + 0.5 * r.w, r.y - y0 + 0.5 * r.h), (r.w, r.h), 0), 255, -1, cv2.LINE_AA)
        else:
            rad = int(round(min(item.radius, w / 2, h / 2)))
            cv2.rectangle(mask, (rad, 0), (w - 1 - rad, h - 1), 255, -1)
            cv2.rectangle(mask, (0, rad), (w - 1, h - 1 - rad), 255, -1)
            if rad > 0:
                for cx, cy in ((rad, rad), (w - 1 - rad, rad), (rad, h - 1 - rad), (w - 1 - rad, h - 1 - rad)):
                    cv2.circle(mask, (cx, cy), rad, 255, -1, cv2.LINE_AA)
        self._blend(x0, y0, mask, item.color)

    def _text(self, item: Text) -> None:
        text = ascii_text(item.text)
        if not text:
            return
        face, scale, thickness = CvTextMeasure.style(item.font)
        (tw, _), _ = cv2.getTextSize(text, face, scale, thickness)
        r = item.rect
        if item.align == "right":
            tx = r.right - tw
        elif item.align == "center":
            tx = r.cx - tw / 2
        else:
            tx = r.x
        cap = _CV_CAP * scale
        pad = thickness + 2
        x0, y0 = int(math.floor(tx)) - pad, int(math.floor(r.cy - cap / 2)) - pad
        mask = np.zeros((int(cap * 1.6) + 2 * pad, tw + 2 * pad), np.uint8)  # room for descenders
        cv2.putText(mask, text, (pad, pad + int(round(cap))), face, scale, 255, thickness, cv2.LINE_AA)
        # clip to the text's box horizontally, as Qt's drawText(rect) does
        lo, hi = int(math.floor(r.x)) - x0, int(math.ceil(r.right)) - x0
        mask[:, : max(0, lo)] = 0
        mask[:, max(0, hi):] = 0
        self._blend(x0, y0, mask, item.color)

    def _line(self, item: Line) -> None:
        x0, y0 = int(math.floor(min(item.x1, item.x2))) - 2, int(math.floor(min(item.y1, item.y2))) - 2
        w = int(math.ceil(abs(item.x2 - item.x1))) + 5
        h = int(math.ceil(abs(item.y2 - item.y1))) + 5
        mask = np.zeros((h, w), np.uint8)
        p1 = np.array([item.x1 - x0, item.y1 - y0])
        p2 = np.array([item.x2 - x0, item.y2 - y0])
        length = float(np.hypot(*(p2 - p1)))
        dash = 4.0 * max(1.0, item.width) if item.dashed else length  # Qt's DashLine: 4 on, 2 off (x width)
        gap = 2.0 * max(1.0, item.width) if item.dashed else 0.0
        t = 0.0
        thickness = max(1, int(round(item.width)))
        while t < length:
            a = p1 + (p2 - p1) * (t / length)
            b = p1 + (p2 - p1) * (min(length, t + dash) / length)
            cv2.line(mask, tuple(int(round(v)) for v in a), tuple(int(round(v)) for v in b), 255, thickness,
                     cv2.LINE_AA)
            t += dash + gap
        self._blend(x0, y0, mask, item.color)


#: Files are laid out as the window shows a video at most this tall, then scaled up: a 1080p export looks
#: like the window at 544 px (16 px text, the 16 px cap of `base_px`), only sharper.
VIEW_HEIGHT = 544.0


class _ScaledMeasure:
    """A measure for a layout made at 1/k of the drawing size: measures the k-times font, divides by k."""

    def __init__(self, measure: TextMeasure, k: float) -> None:
        self.measure, self.k = measure, k

    def width(self, text: str, font: Font) -> float:
        return self.measure.width(text, _scale_font(font, self.k)) / self.k

    def height(self, font: Font) -> float:
        return self.measure.height(_scale_font(font, self.k)) / self.k


def _scale_font(font: Font, k: float) -> Font:
    return Font(max(1, int(round(font.px * k))), font.bold, font.italic)


def _scale_rect(r: Rect, k: float) -> Rect:
    return Rect(r.x * k, r.y * k, r.w * k, r.h * k)


def scale_layout(layout: OverlayLayout, k: float) -> OverlayLayout:
    """`layout` with every position, size, radius, line width and font size multiplied by `k`."""
    items: list[Item] = []
    for item in layout.items:
        if isinstance(item, Fill):
            items.append(Fill(_scale_rect(item.rect, k), item.color, item.radius * k, item.ellipse))
        elif isinstance(item, Text):
            items.append(Text(_scale_rect(item.rect, k), item.text, _scale_font(item.font, k), item.color, item.align))
        else:
            items.append(Line(item.x1 * k, item.y1 * k, item.x2 * k, item.y2 * k, item.color, item.width * k,
                              item.dashed))
    return OverlayLayout(tuple(items), _scale_rect(layout.panel, k),
                         {name: _scale_rect(r, k) for name, r in layout.extra.items()})


def layout_for_frame(
    content: OverlayContent, *, width: int, height: int, threshold: float, measure: TextMeasure,
    marking: Marking | None = None,
) -> OverlayLayout:
    """The overlay over a whole `width` x `height` frame, as the window would show that frame (see VIEW_HEIGHT)."""
    k = max(1.0, height / VIEW_HEIGHT)
    view = Rect(0.0, 0.0, width / k, height / k)
    layout = layout_overlay(content, area=view, bounds=view, base=base_px(view.h), threshold=threshold,
                            measure=_ScaledMeasure(measure, k) if k != 1.0 else measure, marking=marking)
    return scale_layout(layout, k) if k != 1.0 else layout


def draw_overlay(
    image: np.ndarray, content: OverlayContent, *, threshold: float, marking: Marking | None = None,
    channels: Literal["bgr", "rgb"] = "bgr",
) -> OverlayLayout:
    """Draw the overlay over the whole of `image` ((H, W, 3) uint8, in place) with the OpenCV painter.
    Returns the layout that was drawn."""
    h, w = image.shape[:2]
    layout = layout_for_frame(content, width=w, height=h, threshold=threshold, measure=CvTextMeasure(),
                              marking=marking)
    CvPainter(image, channels=channels).paint(layout.items)
    return layout
