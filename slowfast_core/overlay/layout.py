"""Where each box, bar and text of the overlay goes: a display list of primitives in pixels.

The layout asks the painter's `TextMeasure` how wide a text is in its font, so each painter's text fits its
boxes; nothing about the look (sizes, margins, colours, what goes where) lives in a painter. `layout_for_frame`
lays the overlay out over a whole video frame as the window would show that frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from slowfast_core.overlay.colors import (
    BAR_TRACK,
    DANGER,
    MARKED_ALPHA,
    MUTED,
    PANEL,
    RGBA,
    STALE_OPACITY,
    TEXT,
    THRESHOLD_TICK,
    WARNING,
    class_rgba,
    faded,
)
from slowfast_core.overlay.content import UNTRAINED_TEXT, Marking, OverlayContent

Align = Literal["left", "right", "center"]


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
        items.append(Fill(Rect(x, head.cy - sw / 2, sw, sw), faded(class_rgba(content.headline), opacity),
                          ellipse=True))
        pct = f"{content.confidence * 100:.0f}%"
        pct_w = measure.width(pct, head_font) + 4
        name_rect = Rect(x + sw + 8, head.y, w - sw - 8 - pct_w, head.h)
        items.append(Text(name_rect, elide(content.headline, head_font, name_rect.w, measure), head_font,
                          faded(TEXT, opacity)))
        items.append(Text(head, pct, head_font, faded(TEXT, opacity), "right"))
    else:
        notice_font = Font(head_font.px, italic=True)
        items.append(Text(head, elide(content.headline, notice_font, w, measure), notice_font,
                          faded(MUTED, opacity)))
    y += head_h
    # top-k rows: name, bar, percentage; the threshold as a dashed tick on each bar
    pct_w = measure.width("100%", row_font) + 6
    name_w = w * 0.46
    bar_x = x + name_w + 6
    bar_w = max(20.0, w - name_w - 6 - pct_w)
    for name, prob in content.rows:
        color = TEXT if prob >= threshold else MUTED
        items.append(Text(Rect(x, y, name_w, row_h), elide(name, row_font, name_w, measure), row_font,
                          faded(color, opacity)))
        bar = Rect(bar_x, y + row_h / 2 - row_h * 0.22, bar_w, row_h * 0.44)
        items.append(Fill(bar, faded(BAR_TRACK, opacity), 3))
        filled = Rect(bar.x, bar.y, max(2.0, bar.w * min(1.0, max(0.0, prob))), bar.h)
        items.append(Fill(filled, faded(class_rgba(name), opacity), 3))
        tick_x = bar.x + bar.w * threshold
        items.append(Line(tick_x, bar.y - 2, tick_x, bar.bottom + 2, faded(THRESHOLD_TICK, opacity), 1, True))
        items.append(Text(Rect(x + w - pct_w, y, pct_w, row_h), f"{prob * 100:.0f}%", row_font,
                          faded(TEXT, opacity), "right"))
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
    color = faded(class_rgba(marking.label), MARKED_ALPHA / 255) if marking.label else PANEL
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
