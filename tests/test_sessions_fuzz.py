"""Nothing on disk breaks the sessions: every field of session.json and every table file of one real recorded
session is damaged in turn (wrong type, missing, absurd value; torn last row, garbage row, end < start, empty,
a named pipe), next to an intact session. List, replay (load), export and repair must survive, say what they
skipped and why, never hide the intact session, and repair must fix what it promises while keeping the
original of every file it rewrites.

One real session is recorded once per module and copied for each case, so the whole fuzz run stays quick.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from slowfast_core.cli import main
from slowfast_core.sessions import SessionRecorder, export_dataset, list_sessions, load_session, repair_session
from slowfast_core.sessions.reader import read_session_files
from slowfast_core.stream.types import FramePacket, Prediction, Timings

FPS = 20.0
N = 40  # frames: 2 s
MISSING = object()
NAN = float("nan")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real finished session: 2 s of 96x64 video, 'wave' over [0.2, 0.9) s, 'clap' over [1.0, 1.6) s, and a
    prediction every 0.25 s."""
    root = tmp_path_factory.mktemp("template")
    rec = SessionRecorder.start(root, name="fuzz", labels=["wave", "clap"], source="synthetic", fps=FPS, width=96,
                                height=64, model="tiny", min_free_bytes=0, queue_seconds=30.0)  # fed at once
    t0 = 50.0
    for i in range(N):
        t = t0 + i / FPS
        rec.on_frame(FramePacket(index=i, timestamp=t, image=np.full((64, 96, 3), 5 * i, np.uint8), source_fps=FPS))
        if i % 5 == 4:
            rec.on_prediction(Prediction(id=i, start_time=t - 0.5, end_time=t, first_index=max(0, i - 10),
                                         last_index=i, topk=(("wave", 0.7), ("clap", 0.2)),
                                         probs=np.zeros(2, np.float32), label="wave", confidence=0.7,
                                         timings=Timings(1.0, 1.0, 1.0, 1.0), backend="torch-cpu"))
    rec.mark("wave", at=t0 + 0.2)
    rec.end_mark(at=t0 + 0.9)
    rec.mark("clap", at=t0 + 1.0)
    rec.end_mark(at=t0 + 1.6)
    info = rec.stop()
    assert info.state == "finished" and info.frames == N
    assert read_session_files(info.path).info.problems == ()
    return info.path


def setup_root(template: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(root, intact copy, copy to damage) of the template session, side by side under one root."""
    root = tmp_path / "sessions"
    intact = root / template.name
    shutil.copytree(template, intact)
    damaged = root / (template.name.split("_", 1)[0] + "_case")
    shutil.copytree(template, damaged)
    return root, intact, damaged


def problem_text(path: Path) -> str:
    return " | ".join(str(p) for p in read_session_files(path).info.problems)


def survive(root: Path, intact: Path, damaged: Path, capsys: pytest.CaptureFixture[str], *,
            needle: str | None) -> None:
    """List, load, export and repair with `damaged` next to `intact`; `needle` is what the damage must be
    reported as (None: the damage is harmless and nothing may be reported)."""
    # list: both sessions, the intact one clean, the damaged one with its reason
    infos = {i.folder: i for i in list_sessions(root, check=True)}
    assert set(infos) == {intact.name, damaged.name}
    assert infos[intact.name].problems == ()
    found = " | ".join(str(p) for p in infos[damaged.name].problems)
    if needle is None:
        assert found == ""
    else:
        assert needle in found, found
    assert main(["sessions", "list", "--root", str(root), "--check"]) == 0
    out, err = capsys.readouterr()
    assert intact.name in out and damaged.name in out and "Traceback" not in err
    assert ("damaged" in out) == (needle is not None)
    if needle is not None:
        assert needle in out
    # replay: the session loads whatever its files hold
    session = load_session(damaged)
    assert session.info.damaged == (needle is not None)
    # export: the intact session gives its two clips; every labeled segment of the damaged one gives a clip
    # or a line saying why not; a skipped labels.csv row is said too, and nothing twice
    report = export_dataset([intact, damaged], root.parent / "export")
    assert sum(c.session == intact.name for c in report.clips) == 2
    mine = [c for c in report.clips if c.session == damaged.name]
    said = [line for line in report.skipped if line.startswith(damaged.name)]
    assert len(mine) == 2 or said, report.skipped
    assert len(set(report.skipped)) == len(report.skipped)
    assert all(s.startswith(damaged.name) for s in report.skipped)
    # repair: never raises; keeps the originals of what it rewrites; fixes what it said it would
    fixable = [p for p in session.info.problems if p.repair]
    before = {f.name: f.read_bytes() for f in damaged.iterdir() if f.is_file()}
    result = repair_session(damaged)
    assert result.repaired == bool(fixable) or not session.info.problems
    backups = damaged / "repair-backup"
    for name, content in before.items():
        now = damaged / name
        if not now.is_file() or now.read_bytes() != content:  # rewritten: the original is in the backup
            kept = [b.read_bytes() for b in backups.glob(name + "*")] if backups.is_dir() else []
            assert content in kept or content == b"", f"{name} was rewritten without a backup"
    left = read_session_files(damaged).info.problems
    assert all(p.repair is None for p in left), left
    assert list(result.left) == [str(p) for p in left]
    assert main(["sessions", "list", "--root", str(root)]) == 0
    assert intact.name in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------ session.json

JSON_CASES = [
    # (field, value, reported?) - value MISSING removes the field
    ("name", 5, True), ("name", "", True), ("name", MISSING, True),
    ("labels", "wave", True), ("labels", ["wave", "wave"], True), ("labels", [3], True), ("labels", MISSING, True),
    ("source", 5, True), ("source", MISSING, False),
    ("fps", "20", True), ("fps", 0, True), ("fps", -20, True), ("fps", NAN, True), ("fps", 1e300, True),
    ("fps", MISSING, True), ("fps", True, True), ("duration", False, True), ("clock_origin", math.inf, True),
    ("width", "96", True), ("width", 0, True), ("width", 10**9, True), ("width", 96.5, True), ("width", MISSING, True),
    ("height", -64, True), ("height", True, True),
    ("model", None, True), ("weights", 5, True), ("weights", MISSING, False), ("program_version", [], True),
    ("start_time", 5, True), ("start_time", "yesterday", True), ("start_time", MISSING, True),
    ("clock_origin", "50", True), ("state", "banana", True), ("state", 1, True), ("state", MISSING, False),
    ("segment_seconds", 0, True), ("frames", -3, True), ("frames", "40", True), ("frames", 10**12, True),
    ("frames", 41, True),
    ("duration", "5.0", True), ("duration", -1.0, True), ("duration", NAN, True), ("duration", math.inf, True),
    ("frames_dropped", -1, True), ("end_time", 5, True), ("error", {}, True), ("pid", "123", True), ("pid", -5, True),
    ("pid_started", "x", True), ("repair", [], True), ("format", "1", True), ("format", 99, True),
    ("unknown_key_from_a_newer_version", {"x": 1}, False),
]


@pytest.mark.parametrize("field,value,reported", JSON_CASES,
                         ids=[f"{f}={'missing' if v is MISSING else repr(v)[:12]}" for f, v, _ in JSON_CASES])
def test_a_damaged_session_json_field(template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      field: str, value: object, reported: bool) -> None:
    root, intact, damaged = setup_root(template, tmp_path)
    data = json.loads((damaged / "session.json").read_text())
    if value is MISSING:
        del data[field]
    else:
        data[field] = value
    original = json.dumps(data)  # NaN and Infinity as Python writes them
    (damaged / "session.json").write_text(original)
    survive(root, intact, damaged, capsys, needle=f'"{field}"' if reported else None)
    after = json.loads((damaged / "session.json").read_text())
    if field == "unknown_key_from_a_newer_version":
        assert after[field] == {"x": 1}  # kept through every rewrite
    if reported and field != "format":
        # repaired from the other files: the session is whole again and exports both clips
        assert read_session_files(damaged).info.problems == ()
        assert after["frames"] == N and after["fps"] == FPS and after["width"] == 96
        assert (damaged / "repair-backup" / "session.json").read_text() == original
        assert len(export_dataset([damaged], tmp_path / "again").clips) == 2


@pytest.mark.parametrize("text", ["{not json", "[]", "null", "", "\x00\xff garbage"])
def test_an_unreadable_session_json(template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   text: str) -> None:
    root, intact, damaged = setup_root(template, tmp_path)
    (damaged / "session.json").write_text(text, encoding="latin-1")
    survive(root, intact, damaged, capsys, needle="session.json")
    info = load_session(damaged).info
    assert info.problems == () and info.width == 96 and info.labels == ["wave", "clap"]
    assert info.name == "case" and info.start_time.startswith(template.name[:4])


def test_rename_refuses_a_session_json_it_would_destroy(template: Path, tmp_path: Path) -> None:
    from slowfast_core.sessions import SessionError, rename_session

    _, _, damaged = setup_root(template, tmp_path)
    (damaged / "session.json").write_text("{broken")
    with pytest.raises(SessionError, match="repair the session first"):
        rename_session(damaged, "new name")
    assert (damaged / "session.json").read_text() == "{broken"


# ---------------------------------------------------------------------------------------------- table files

def torn(text: str) -> str:
    return text + text.splitlines()[-1][:5]  # half a row more, no line end


TABLE_CASES = [
    # (file, how to damage its text, reported as)
    ("labels.csv", torn, "cut off"),
    ("labels.csv", lambda t: t + "this is not,a label\n", "line 4"),
    ("labels.csv", lambda t: t + "wave,1.5,0.5\n", "ends before it starts"),
    ("labels.csv", lambda t: t + "wave,nan,1.0\n", "finite"),
    ("labels.csv", lambda t: t + '"unterminated,1,2\n', "line 4"),
    ("labels.csv", lambda t: "", None),
    ("frames.csv", torn, "cut off"),
    ("frames.csv", lambda t: t.replace("\n10,", "\ngarbage,", 1), "line 12"),
    ("frames.csv", lambda t: t + "40,1,40,0.5\n", "goes back"),
    ("frames.csv", lambda t: "", "lists 0 frames but the video holds 40"),
    ("frames.csv", lambda t: "\n".join(t.splitlines()[:31]) + "\n", "lists 30 frames"),
    ("predictions.jsonl", torn, "cut off"),
    ("predictions.jsonl", lambda t: t + "{garbage\n", "not JSON"),
    ("predictions.jsonl", lambda t: t + '{"id": 99, "start": 1.0, "end": 0.5}\n', "ends before it starts"),
    ("predictions.jsonl", lambda t: t + '{"id": 99, "start": 0.5, "end": 1.0, "confidence": NaN}\n', "not finite"),
    ("predictions.jsonl", lambda t: t + '[1, 2]\n', "not a prediction"),
    ("predictions.jsonl", lambda t: "", None),
]


@pytest.mark.parametrize("name,damage,needle", TABLE_CASES, ids=[f"{n}-{k}" for k, (n, _, _) in enumerate(TABLE_CASES)])
def test_a_damaged_table_file(template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
                              damage, needle: str | None) -> None:
    root, intact, damaged = setup_root(template, tmp_path)
    file = damaged / name
    file.write_text(damage(file.read_text()))
    survive(root, intact, damaged, capsys, needle=needle)
    if needle is not None:
        assert read_session_files(damaged).info.problems == ()
    if name != "predictions.jsonl":
        s = load_session(damaged)
        assert len(s.frames) == N and s.frames.frame.tolist() == list(range(N))


def test_a_labels_row_that_vanished_is_named_by_every_reader(template: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's case: a torn last row and an end < start row used to vanish without a word."""
    root, intact, damaged = setup_root(template, tmp_path)
    with open(damaged / "labels.csv", "a") as f:
        f.write("clap,1.8,1.7\nwave,1.7,1.9")
    problems = load_session(damaged).info.problems
    assert len(problems) == 1 and "2 rows skipped" in problems[0].what
    assert "ends before it starts (clap 1.80-1.70 s)" in problems[0].what and "cut off" in problems[0].what
    report = export_dataset([damaged], tmp_path / "out")
    assert len(report.clips) == 2 and len(report.skipped) == 1 and "2 rows skipped" in report.skipped[0]


@pytest.mark.timeout(60)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
@pytest.mark.parametrize("name", ["session.json", "labels.csv", "frames.csv", "predictions.jsonl"])
def test_a_named_pipe_instead_of_a_file_is_never_opened(template: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str], name: str) -> None:
    """Opening a FIFO for reading blocks until a writer comes: the reader refuses it by its type instead."""
    root, intact, damaged = setup_root(template, tmp_path)
    (damaged / name).unlink()
    os.mkfifo(damaged / name)
    infos = list_sessions(root, check=True)
    assert len(infos) == 2
    assert any("named pipe" in str(p) for i in infos for p in i.problems)
    assert main(["sessions", "list", "--root", str(root), "--check"]) == 0
    assert "named pipe" in capsys.readouterr().out
    load_session(damaged)
    export_dataset([intact, damaged], tmp_path / "out")
    repair_session(damaged)
    assert len(list_sessions(root)) == 2


# ------------------------------------------------------------------------------------------------------ video


def test_a_finished_session_whose_video_was_deleted(template: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 13 point 6: it was listed as "finished 2.0 s", export counted it and said each skip twice, and the
    window promised a repair that never happened."""
    root, intact, damaged = setup_root(template, tmp_path)
    (damaged / "video.mp4").unlink()
    (info,) = [i for i in list_sessions(root) if i.folder == damaged.name]
    assert info.damaged and "video.mp4: is missing" in str(info.problems[0])
    assert info.problems[0].repair is None  # and nobody claims otherwise
    assert main(["sessions", "list", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "finished, damaged" in out and "cannot be restored" in out and "run `slowfast sessions repair`" not in out
    assert main(["sessions", "export", "--root", str(root), "--out", str(tmp_path / "ds"), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "exported 2 clips of 2 labels from 1 session " in out
    assert err.count(damaged.name) == 1 and err.count("skipped") == 1
    assert main(["sessions", "repair", "--root", str(root), damaged.name]) == 1
    assert "cannot be repaired" in capsys.readouterr().out
    s = load_session(damaged)
    assert s.video_path is None and len(s.labels) == 2 and len(s.predictions) == 8  # nothing else was lost


def test_a_cut_video_is_damaged_and_the_rest_is_kept(template: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    root, intact, damaged = setup_root(template, tmp_path)
    video = damaged / "video.mp4"
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    survive(root, intact, damaged, capsys, needle="video.mp4")
    assert load_session(damaged).video_path is None and len(load_session(damaged).labels) == 2
