"""The overlay's one look in the window and in files, and the Sessions window's Export annotated video
(progress, result, cancel) with a real recorded session, offscreen."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtGui import QFont, QImage, QPainter  # noqa: E402
from PySide6.QtWidgets import QDialogButtonBox  # noqa: E402

from app.sessions_view import SessionsWindow  # noqa: E402
from app.video_view import QtPainter, QtTextMeasure  # noqa: E402
from slowfast_core.overlay.colors import PANEL, class_rgba  # noqa: E402
from slowfast_core.overlay.content import Marking, OverlayContent, ShownPrediction, overlay_content  # noqa: E402
from slowfast_core.overlay.layout import Fill, OverlayLayout, Rect, Text, base_px, layout_overlay  # noqa: E402
from slowfast_core.overlay.opencv import draw_overlay  # noqa: E402
from slowfast_core.video.encode import part_path  # noqa: E402

from test_annotate import FPS, H, W, read_all, record_session  # noqa: E402  (shared helpers)

WAIT = 60_000


def _qt_render(content: OverlayContent, marking: Marking | None) -> tuple[np.ndarray, OverlayLayout]:
    """The overlay as the window paints it, on a grey W x H image: (H, W, 3) RGB."""
    image = QImage(W, H, QImage.Format.Format_RGB888)
    image.fill(0x808080)
    measure = QtTextMeasure(QFont())
    frame = Rect(0, 0, W, H)
    layout = layout_overlay(content, area=frame, bounds=frame, base=base_px(H), threshold=0.2,
                                 measure=measure, marking=marking)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    QtPainter(painter, measure).paint(layout.items)
    painter.end()
    ptr = image.constBits()
    rgb = np.frombuffer(ptr, np.uint8, count=image.sizeInBytes()).reshape(H, image.bytesPerLine())[:, : W * 3]
    return rgb.reshape(H, W, 3).copy(), layout


def test_window_and_file_draw_one_layout(qtbot) -> None:
    """The same content gives the same display list (kinds, colours, texts, boxes within a few pixels: only the
    fonts' metrics differ) and nearly the same covered pixels with QPainter and with OpenCV."""
    shown = ShownPrediction((("wave", 0.62), ("clap", 0.25), ("jump", 0.08)), "wave", 0.62, 1.0, 3.1)
    content = overlay_content(shown, now=3.6, topk=3, stale_seconds=3.0, untrained=False)
    marking = Marking(label="clap")
    qt_rgb, qt_layout = _qt_render(content, marking)
    cv_rgb = np.full((H, W, 3), 0x80, np.uint8)
    cv_layout = draw_overlay(cv_rgb, content, threshold=0.2, marking=marking, channels="rgb")

    def kinds(layout: OverlayLayout) -> list[tuple[str, tuple[int, ...]]]:
        return [(type(i).__name__, i.color) for i in layout.items]

    assert kinds(qt_layout) == kinds(cv_layout)
    assert [i.text for i in qt_layout.items if isinstance(i, Text)] == \
        [i.text for i in cv_layout.items if isinstance(i, Text)]
    for a, b in zip(qt_layout.items, cv_layout.items):
        if isinstance(a, Fill) and not a.ellipse and a.color != PANEL:
            assert abs(a.rect.x - b.rect.x) < 4 and abs(a.rect.y - b.rect.y) < 8 and abs(a.rect.w - b.rect.w) < 12
    covered_qt = np.abs(qt_rgb.astype(int) - 0x80).max(axis=2) > 40
    covered_cv = np.abs(cv_rgb.astype(int) - 0x80).max(axis=2) > 40
    iou = (covered_qt & covered_cv).sum() / (covered_qt | covered_cv).sum()
    assert iou > 0.8, iou
    bar = next(i for i in cv_layout.items if isinstance(i, Fill) and i.color == class_rgba("wave"))
    y, x = int(bar.rect.cy), int(bar.rect.x + 5)
    assert np.abs(qt_rgb[y, x].astype(int) - cv_rgb[y, x].astype(int)).max() < 10  # the same bar colour


@pytest.fixture
def window(qtbot, tmp_path):
    root = tmp_path / "sessions"
    win = SessionsWindow(root)
    qtbot.addWidget(win)
    yield win, root
    win.shutdown()
    win.runner.shutdown()


def test_sessions_window_exports_an_annotated_video(qtbot, window, tmp_path) -> None:
    win, root = window
    path = record_session(root)
    win.refresh()
    win.show()
    assert win.session is not None and win.annotate_button.isEnabled()
    messages: list[tuple[str, str]] = []
    win.message.connect(lambda level, text: messages.append((level, text)))
    out = tmp_path / "annotated.mp4"
    dialog = win.export_annotated(path, out)
    qtbot.waitUntil(lambda: hasattr(win, "last_annotated"), timeout=WAIT)
    assert dialog.bar.value() == 1000 and not dialog.isVisible()
    frames, fps, size = read_all(out)
    source, _, _ = read_all(win.session.video_path)
    assert (len(frames), fps, size) == (len(source), FPS, (W, H))
    assert np.abs(frames[40].astype(int) - source[40].astype(int)).mean() > 3  # the overlay is on it
    assert messages[-1][0] == "info" and str(out) in messages[-1][1]


def test_sessions_window_annotated_export_can_be_cancelled(qtbot, window, tmp_path) -> None:
    win, root = window
    path = record_session(root, seconds=12.0)  # 240 frames: long enough to be stopped half-way
    win.refresh()
    messages: list[tuple[str, str]] = []
    win.message.connect(lambda level, text: messages.append((level, text)))
    out = tmp_path / "cancelled.mp4"
    dialog = win.export_annotated(path, out)
    cancel = dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel)
    progress: list[float] = []
    win.annotate_handle.progress.connect(lambda fraction, _text: (progress.append(fraction), cancel.click()))
    qtbot.waitUntil(lambda: ("info", "export cancelled") in messages, timeout=WAIT)
    assert progress and min(progress) < 0.5  # it was stopped early, from the dialog's Cancel button
    assert not hasattr(win, "last_annotated") and not dialog.isVisible()
    qtbot.waitUntil(lambda: not win.runner.running(), timeout=WAIT)
    assert not out.exists() and not part_path(out).exists()
