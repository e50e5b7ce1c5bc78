"""Record -> Teach… in the real window: the dialog trains in its child process (live curves, confusion matrix),
saves under Model -> My models, and Use now swaps the running classifier; a bad input and a dying child are
messages in the dialog, and nothing is changed."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil
import stat
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QProcess  # noqa: E402

from app.settings import AppSettings, SettingsStore  # noqa: E402
from app.teach_dialog import TeachDialog  # noqa: E402
from app.window import MainWindow  # noqa: E402
from slowfast_core.train.teach import load_base  # noqa: E402
from slowfast_core.weights.my_models import ENV_MODELS, list_my_models  # noqa: E402

from helpers.sessions import record_session  # noqa: E402

WAIT = 180_000  # ms: the child imports torch on a small shared machine


def test_teach_in_the_window_saves_and_uses_the_model(qtbot, tmp_path: Path, teach_session, monkeypatch) -> None:
    session, base_spec = teach_session
    monkeypatch.delenv(ENV_MODELS, raising=False)  # My models: next to the window's sessions folder
    root = tmp_path / "sessions"
    shutil.copytree(session, root / session.name)
    model = load_base(base_spec)
    store = SettingsStore(path=tmp_path / "settings.ini")
    w = MainWindow(store=store, settings=AppSettings(weights="", input_size=80, stride_s=0.25),
                   sessions_root=root, start_source="synthetic:shapes:8-11@0", model=model, cameras=[],
                   engine_settings={"backend": "torch-cpu"})
    qtbot.addWidget(w)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.state.prediction is not None, timeout=WAIT)
        assert w.teach_action in w.menuBar().actions()[3].menu().actions()  # Record -> Teach…
        w.teach_action.trigger()
        d: TeachDialog = w.teach_dialog
        assert d.chosen() == [root / session.name] and d.counts.rowCount() == 2 and d.base == base_spec
        qtbot.waitUntil(lambda: d.job.ready, timeout=WAIT)  # the child started at open has imported torch
        d.train()
        assert d.job.children_started == 1  # Train gave its job to the warm child
        qtbot.waitUntil(lambda: d.result is not None or d.error is not None, timeout=WAIT)
        assert d.error is None, d.error
        assert d.acc_series[0].count() >= 10 and d.loss_series[0].count() >= 10  # the curves were drawn
        assert d.job.children_started == 2 and d.job.warm is not None  # the next Train is warm too
        assert d.confusion.rowCount() == 2 and d.confusion.columnCount() == 3  # + per-label accuracy
        assert d.result["reused"] >= 12 and d.result["computed"] == 0  # recorded features: nothing decoded

        saved = d.save_as("my moves")
        assert saved == tmp_path / "models" / "my_moves.pyth" and saved.is_file()
        w._fill_models()
        assert "my moves" in [a.text() for a in w.my_models_menu.actions()]

        frames_before = w.state.frames_shown
        backend = w.engine._worker.warm.backend  # type: ignore[union-attr]
        d.use_now()
        taught = set(d.result["categories"])
        qtbot.waitUntil(lambda: w.state.prediction is not None and w.state.prediction.topk[0][0] in taught,
                        timeout=WAIT)
        assert {name for name, _ in w.state.prediction.topk} == taught  # the overlay's labels are the taught ones
        assert w.engine._worker.warm.backend is backend  # type: ignore[union-attr]  # backbone not reloaded
        assert w.state.frames_shown > frames_before  # the video went on

        qtbot.waitUntil(lambda: d.job.ready, timeout=WAIT)
        warm = d.job.warm
        d.close()  # the waiting child ends by itself when its stdin closes
        assert warm.state() == QProcess.ProcessState.NotRunning and warm.exitCode() == 0
    finally:
        w.shutdown()
    assert [m.name for m in list_my_models(tmp_path / "models")] == ["my moves"]


def stand_in_child(tmp_path: Path, name: str, script: str) -> Path:
    """An executable run in place of Python: it ignores its arguments and does what `script` says."""
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_a_bad_input_and_a_dying_child_are_messages(qtbot, tmp_path: Path, teach_session, capsys) -> None:
    """The real child's error line for one label without background (run in-process here: a second child
    importing torch would double this test's time), shown by the dialog; then a child that dies."""
    from slowfast_core.train.teach_child import main as child_main

    _, base_spec = teach_session
    root = tmp_path / "sessions"
    record_session(root, "only waves", 90, marks=[("wave", 0.2, 2.8)])
    assert child_main([str(next(root.iterdir())), "--base", base_spec, "--out", str(tmp_path / "out"),
                       "--no-background"]) == 2
    error_line = capsys.readouterr().out.strip().splitlines()[-1]
    replay = stand_in_child(tmp_path, "bad-input-child", f"cat <<'EOF'\n{error_line}\nEOF\nexit 2\n")
    d = TeachDialog(root, base=base_spec, models_folder=tmp_path / "models", python=str(replay))
    qtbot.addWidget(d)
    d.background.setChecked(False)
    d.train()
    qtbot.waitUntil(lambda: d.error is not None or d.result is not None, timeout=WAIT)
    assert d.result is None and "only one label ('wave')" in d.error and d.status.text() == d.error
    assert d.train_button.isEnabled() and not d.save_button.isEnabled()

    crash = stand_in_child(tmp_path, "crashing-child", "echo 'Segmentation fault' >&2\nkill -SEGV $$\n")
    dying = TeachDialog(root, base=base_spec, models_folder=tmp_path / "models", python=str(crash))
    qtbot.addWidget(dying)
    dying.train()
    qtbot.waitUntil(lambda: dying.error is not None, timeout=WAIT)
    assert "the teaching process crashed" in dying.error and "nothing was changed" in dying.error
    assert not (tmp_path / "models").exists() and not (tmp_path / "out" / "taught.pyth").exists()


def test_a_teach_with_nothing_held_out_says_so_instead_of_a_matrix_of_zeros(qtbot, tmp_path: Path, teach_session,
                                                                            capsys) -> None:
    """One short segment per label leaves nothing to hold out: the real child's result (run in-process, as
    above) is replayed to the dialog, which shows a sentence, not an empty confusion matrix."""
    from slowfast_core.train.teach_child import main as child_main

    _, base_spec = teach_session
    root = tmp_path / "sessions"
    record_session(root, "one of each", 210, marks=[("wave", 0.1, 3.3), ("clap", 3.5, 6.8)])
    assert child_main([str(next(root.iterdir())), "--base", base_spec, "--out", str(tmp_path / "out"),
                       "--no-background"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert '"val_top1": null' in lines[-1]  # the child really had nothing to test on
    replay = stand_in_child(tmp_path, "untested-child", "cat <<'EOF'\n" + "\n".join(lines) + "\nEOF\n")
    d = TeachDialog(root, base=base_spec, models_folder=tmp_path / "models", python=str(replay))
    qtbot.addWidget(d)
    d.background.setChecked(False)
    d.train()
    qtbot.waitUntil(lambda: d.error is not None or d.result is not None, timeout=WAIT)
    assert d.error is None and d.result["val_top1"] is None
    assert d.confusion.isHidden() and not d.untested.isHidden() and "held out" in d.untested.text()
    assert "no held-out segment to test on" in d.status.text() and d.save_button.isEnabled()
    assert d.loss_axis.labelFormat() == "%.2f" and d.loss_axis.max() >= 0.05  # readable ticks, even near zero
