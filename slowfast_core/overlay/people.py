"""The per-person overlay (detection): each person's box in its track colour, its actions above the box.

The same three steps as the whole-frame overlay: the content is the window's `PersonRecord`s (track, normalised
box, actions above the threshold, smoothed label); `layout_people` turns them into display-list primitives
(`Line` box edges, a `Fill` tag, `Text`) for a frame of a given size; a painter draws them (CvPainter for files,
the Qt painter in the window). With nobody in view, one calm line says so instead of a label.
"""

from __future__ import annotations

from collections.abc import Sequence

from slowfast_core.overlay.colors import MUTED, PANEL, TEXT, track_rgba
from slowfast_core.overlay.layout import Fill, Font, Item, Line, Rect, Text, TextMeasure, base_px, elide
from slowfast_core.records import PersonRecord

NOBODY = "no person in view"


def person_caption(person: PersonRecord) -> str:
    """`#3 sit 87% · talk 61%`: the track id, then the shown label (smoothed) or the actions above threshold."""
    parts = []
    if person.label is not None and person.confidence is not None:
        parts.append(f"{person.label} {person.confidence:.0%}")
    parts += [f"{label} {prob:.0%}" for label, prob in person.actions if label != person.label]
    return f"#{person.track} " + (" · ".join(parts) if parts else "no confident action")


def layout_people(people: Sequence[PersonRecord], *, width: int, height: int, measure: TextMeasure) -> tuple[Item, ...]:
    """Display list for `people` over a `width` x `height` frame (boxes are normalised, so any size works)."""
    px = base_px(height)
    font = Font(px, bold=True)
    line_h = measure.height(font) + 4
    items: list[Item] = []
    if not people:
        w = measure.width(NOBODY, Font(px)) + 12
        items.append(Fill(Rect(8, 8, w, line_h), PANEL, radius=4))
        items.append(Text(Rect(14, 8, w - 12, line_h), NOBODY, Font(px), MUTED))
        return tuple(items)
    for person in people:
        x1, y1, x2, y2 = (person.box[0] * width, person.box[1] * height, person.box[2] * width, person.box[3] * height)
        colour = track_rgba(person.track)
        thick = max(2.0, height / 160)
        edges = ((x1, y1, x2, y1), (x2, y1, x2, y2), (x2, y2, x1, y2), (x1, y2, x1, y1))
        # a dark edge under the track colour: the box stays visible on a background of its own colour
        items += [Line(*edge, color=PANEL, width=thick + 2) for edge in edges]
        items += [Line(*edge, color=colour, width=thick) for edge in edges]
        caption = person_caption(person)
        tag_w = min(max(x2 - x1, 40.0), width - x1)
        text = elide(caption, font, tag_w - 8, measure)
        tag_w = min(tag_w, measure.width(text, font) + 8)
        tag_y = y1 - line_h if y1 - line_h >= 0 else y1  # above the box, or inside it at the top edge
        items.append(Fill(Rect(x1, tag_y, tag_w, line_h), colour, radius=2))
        items.append(Text(Rect(x1 + 4, tag_y, tag_w - 8, line_h), text, font, TEXT))
    return tuple(items)


def draw_people(image, people: Sequence[PersonRecord], *, channels: str = "bgr") -> tuple[Item, ...]:  # noqa: ANN001
    """Draw `people` over `image` ((H, W, 3) uint8, in place) with the OpenCV painter; returns the items drawn."""
    from slowfast_core.overlay.opencv import CvPainter, CvTextMeasure

    h, w = image.shape[:2]
    items = layout_people(people, width=w, height=h, measure=CvTextMeasure())
    CvPainter(image, channels=channels).paint(items)  # type: ignore[arg-type]
    return items
