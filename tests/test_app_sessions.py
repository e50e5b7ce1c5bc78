"""The Sessions window (list, replay with two timelines and agreement, rename, delete, export) and the
repair of a crashed recording when the main window starts."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from app.session_text import agreement_text, label_bands  # noqa: E402
from app.sessions_view import SessionsWindow  # noqa: E402
from slowfast_core.sessions import list_sessions, load_session  # noqa: E402

from helpers.sessions import crash_recording, record_session  # noqa: E402

FPS = 20.0
WAIT = 60_000


def record_demo_session(root: Path, *, name: str = "demo", seconds: float = 3.0) -> Path:
    """A real finished session: frames at FPS, 'wave' marked over [0.5, 1.5) s and 'clap' over [1.8, 2.6) s,
    and predictions every 0.25 s that say 'wave' during the first 1.8 s, then 'jump'."""
    n = int(seconds * FPS)
    predictions = [("wave" if i / FPS < 1.8 else "jump", i / FPS - 0.5, i / FPS) for i in range(4, n, 5)]
    rec = record_session(root, name, n, labels=["wave", "clap"], marks=[("wave", 0.5, 1.5), ("clap", 1.8, 2.6)],
                         predictions=predictions, fps=FPS, size=(96, 64))
    assert rec.info.state == "finished"
    return rec.path


@pytest.fixture
def sessions_window(qtbot, tmp_path):
    root = tmp_path / "sessions"
    path = record_demo_session(root)
    win = SessionsWindow(root)
    qtbot.addWidget(win)
    win.show()
    yield win, root, path
    win.shutdown()


def test_sessions_window_lists_and_replays_with_two_timelines(qtbot, sessions_window):
    win, root, path = sessions_window
    assert win.list.count() == 1 and "demo" in win.list.item(0).text()
    assert win.session is not None and win.session.path == path
    assert [(b.label, round(b.start, 2), round(b.end, 2)) for b in win.labels_timeline.bands] == \
        [("wave", 0.5, 1.5), ("clap", 1.8, 2.6)]
    pred_labels = [b.label for b in win.predictions_timeline.bands]
    assert pred_labels == ["wave", "jump"]
    # the agreement: 'wave' predicted over its whole segment, 'clap' never
    text = win.agreement.text()
    assert "wave 100%" in text and "clap 0%" in text and "Agreement: 56%" in text
    assert text == agreement_text(load_session(path))
    qtbot.waitUntil(lambda: win.canvas._image is not None, timeout=WAIT)  # first frame decoded off-thread
    win.toggle_play()
    qtbot.waitUntil(lambda: win.labels_timeline.cursor is not None and win.labels_timeline.cursor > 0.5,
                    timeout=WAIT)
    win.seek_time(0.0)
    qtbot.waitUntil(lambda: win.labels_timeline.cursor is not None and win.labels_timeline.cursor < 0.5,
                    timeout=WAIT)
    assert label_bands(win.session)[0].label == "wave"


def test_sessions_window_renames_and_deletes(qtbot, sessions_window, tmp_path):
    win, root, path = sessions_window
    new_path = win.rename(path, "renamed run")
    assert new_path is not None and new_path.is_dir() and not path.exists()
    assert [i.name for i in list_sessions(root)] == ["renamed run"]
    assert "renamed run" in win.list.item(0).text()
    with qtbot.waitSignal(win.sessionsChanged):
        win.delete([new_path])
    assert not new_path.exists() and win.list.count() == 0
    assert not win.delete_button.isEnabled()


def test_sessions_window_exports_a_dataset_with_progress(qtbot, sessions_window, tmp_path):
    win, root, path = sessions_window
    out = tmp_path / "dataset"
    dialog = win.export([path], out)
    messages = []
    win.message.connect(lambda level, text: messages.append((level, text)))
    qtbot.waitUntil(lambda: hasattr(win, "last_export"), timeout=WAIT)
    report = win.last_export
    assert dialog.bar.value() == 1000  # the progress bar reached the end
    rows = [line.split() for line in report.csv_path.read_text().splitlines()]
    assert len(rows) == 2 and [int(r[1]) for r in rows] == [0, 1]
    assert all((out / r[0]).is_file() for r in rows)
    assert json.loads(report.label_map_path.read_text()) == {"wave": 0, "clap": 1}
    assert messages and messages[-1][0] == "info" and "exported 2 clips" in messages[-1][1]
    # exporting into the same folder again is refused with a message, not a crash
    win.export([path], out)
    qtbot.waitUntil(lambda: any(level == "error" for level, _ in messages), timeout=WAIT)
    assert "already holds an export" in messages[-1][1]


def test_main_window_repairs_a_crashed_recording_at_start(qtbot, tmp_path):
    """A recording process killed with SIGKILL leaves an unfinished session; the next start repairs it and
    tells the user, and the repaired session loses at most the last segment (1 s)."""
    from app.settings import AppSettings, SettingsStore
    from app.window import MainWindow
    from slowfast_core import create_model

    root = tmp_path / "sessions"
    crash = crash_recording(root, frames=61, fps=FPS, size=(96, 64), mark_at=10)
    recorded = max(crash.times.values())
    (info,) = list_sessions(root)
    assert info.state == "recording"

    model = create_model("slowfast_tiny")
    w = MainWindow(store=SettingsStore(path=tmp_path / "s.ini"), settings=AppSettings(weights="", input_size=112),
                   sessions_root=root, start_source="synthetic:96x64@10", model=model, cameras=[],
                   engine_settings={"backend": "torch-cpu"})
    qtbot.addWidget(w)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.messages.has("repair"), timeout=WAIT)
        text = " ".join(t for _, t in w.messages.messages())
        assert "Repaired 1 unfinished session" in text and info.path.name in text
        session = load_session(info.path)
        assert session.info.state == "repaired" and session.video_path is not None
        assert session.info.duration >= recorded - 1.0  # at most the last (1 s) segment is lost
        assert [s.label for s in session.labels] == ["wave"]  # the open label was closed at the video's end
    finally:
        w.shutdown()


def test_sessions_window_lists_damaged_sessions_and_repairs_them(qtbot, tmp_path):
    """Issue 13: one wrongly typed field in one session.json made the window raise before it opened; a
    finished session whose video was deleted was shown as finished with a promise of repair."""
    root = tmp_path / "sessions"
    good = record_demo_session(root, name="good", seconds=1.0)
    typed = record_demo_session(root, name="typed", seconds=1.0)
    data = json.loads((typed / "session.json").read_text())
    data["duration"] = "5.0"
    (typed / "session.json").write_text(json.dumps(data))
    gone = record_demo_session(root, name="gone", seconds=1.0)
    (gone / "video.mp4").unlink()
    win = SessionsWindow(root)
    qtbot.addWidget(win)
    win.show()
    try:
        texts = {win.list.item(i).data(0x0100): win.list.item(i).text() for i in range(win.list.count())}
        assert set(texts) == {str(good), str(typed), str(gone)}
        assert "[damaged]" not in texts[str(good)]
        assert "[damaged]" in texts[str(typed)] and '"duration"' in texts[str(typed)]
        assert "[damaged]" in texts[str(gone)] and "video.mp4" in texts[str(gone)]
        win.load(gone)
        assert "cannot be restored" in win.canvas.message and "next start" not in win.canvas.message
        assert not win.repair_button.isEnabled() and not win.play_button.isEnabled()
        assert [s.label for s in win.session.labels] == ["wave", "clap"]  # what is left is still shown
        win.load(typed)
        assert win.repair_button.isEnabled() and '"duration"' in win.details.text()
        messages = []
        win.message.connect(lambda level, text: messages.append((level, text)))
        win.repair(typed)
        qtbot.waitUntil(lambda: hasattr(win, "last_repair"), timeout=WAIT)
        assert win.last_repair.repaired and not win.last_repair.left and messages[-1][0] == "info"
        texts = {win.list.item(i).data(0x0100): win.list.item(i).text() for i in range(win.list.count())}
        assert "[damaged]" not in texts[str(typed)] and "[repaired]" in texts[str(typed)]
        assert load_session(typed).info.duration == pytest.approx(0.95)
    finally:
        win.shutdown()
