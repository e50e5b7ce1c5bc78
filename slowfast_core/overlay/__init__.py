"""The prediction overlay: what it says, where each box, bar and text goes, and its colours. One look, two painters.

The live window (app/video_view.py, QPainter) and annotated video files (`draw_overlay`, OpenCV on a numpy
frame) draw the same overlay: top-k rows with bars and the threshold tick, the leading action (or "no
confident action"), the window's span and age, dimming when stale, the UNTRAINED tag, and while recording
the REC badge and the label being marked. Both go through the same three steps, one module each (callers
import from the module; this package's `__init__` exports nothing):

1. content.py, `overlay_content(...)`: the texts and numbers for one prediction (or a waiting notice);
2. layout.py, `layout_overlay(...)`: a display list of primitives (`Fill` boxes and dots, `Text`, `Line`) with
   pixel positions, RGBA colours (colors.py; staleness premultiplied into alpha) and already-elided texts;
3. a painter that only maps primitives to its drawing calls: `QtPainter` in app/, `CvPainter` in opencv.py
   (with `draw_overlay`, the overlay over a numpy frame).

The layout asks the painter's `TextMeasure` how wide a text is in its font, so each painter's text fits its
boxes; nothing about the look (sizes, margins, colours, what goes where) lives in a painter. OpenCV 5 draws
text with a TrueType font; OpenCV 4's Hershey fonts are ASCII-only, so there "—", "–", "·" and "…" become
"-", "-", "|" and "...".
"""
