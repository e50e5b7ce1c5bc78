"""`slowfast sessions list|export|repair`: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from slowfast_core.cli import main
from slowfast_core.sessions import SessionRecorder, default_root, list_sessions, load_session
from slowfast_core.sessions.info_reader import read_info
from slowfast_core.sessions.layout import write_info

from helpers.sessions import record_session
from helpers.waiting import wait_until


def record(root: Path, name: str, n: int = 60, *, stop: bool = True) -> SessionRecorder:
    """A session of `n` frames with one labeled segment (0.5-1.5 s) under `root`."""
    return record_session(root, name, n, labels=["wave", "clap"], marks=[("wave", 0.5, 1.5)], stop=stop)


def crashed_copy(root: Path) -> Path:
    """A session left as a crash leaves it: recorded while running, copied before stop, owner gone."""
    rec = record(root / "live", "crashed", n=75, stop=False)
    wait_until(lambda: rec.frames_written >= 60, what="two closed segments")
    copy = root / rec.path.name
    shutil.copytree(rec.path, copy)
    rec.stop()
    shutil.rmtree(root / "live")
    info = read_info(copy)
    info.pid = info.pid_started = None  # the recording process is gone
    write_info(info)
    return copy


def test_list_empty_root_and_default_root_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SLOWFAST_SESSIONS", str(tmp_path / "env-root"))
    assert default_root() == tmp_path / "env-root"
    assert main(["sessions", "list"]) == 0
    assert f"no sessions in {tmp_path / 'env-root'}" in capsys.readouterr().err


def test_list_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(tmp_path, "first")
    record(tmp_path, "second")
    assert main(["sessions", "list", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["FOLDER", "STARTED", "LENGTH"]
    assert len(out) == 3 and out[1].split()[0].endswith("_first") and "finished" in out[1]
    assert main(["sessions", "list", "--root", str(tmp_path), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["name"] for r in rows] == ["first", "second"]
    assert rows[0]["labeled_segments"] == 1 and rows[0]["labeled_seconds"] == pytest.approx(1.0)
    assert rows[0]["frames"] == 60 and rows[0]["resolution"] == "160x120" and rows[0]["state"] == "finished"


def test_export_all_and_named_sessions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(tmp_path, "first")
    record(tmp_path, "second")
    out = tmp_path / "ds"
    assert main(["sessions", "export", "--root", str(tmp_path), "--out", str(out)]) == 0
    assert "exported 2 clips of 2 labels from 2 sessions" in capsys.readouterr().out
    lines = (out / "train.csv").read_text().splitlines()
    assert len(lines) == 2 and all(line.endswith(" 0") for line in lines)
    cap = cv2.VideoCapture(str(out / lines[0].split(" ")[0]))
    assert cap.isOpened() and cap.get(cv2.CAP_PROP_FRAME_COUNT) == 30
    cap.release()
    # by session name, into a second folder
    assert main(["sessions", "export", "--root", str(tmp_path), "second", "--out", str(tmp_path / "ds2"),
                 "--csv-name", "val.csv"]) == 0
    assert len((tmp_path / "ds2" / "val.csv").read_text().splitlines()) == 1


def test_repair_finds_and_repairs_a_crashed_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(tmp_path, "fine")
    crashed = crashed_copy(tmp_path)
    assert main(["sessions", "list", "--root", str(tmp_path)]) == 0
    assert "sessions repair" in capsys.readouterr().out
    # export of everything skips the unfinished one and says so
    assert main(["sessions", "export", "--root", str(tmp_path), "--out", str(tmp_path / "ds")]) == 0
    assert f"skipping unfinished session {crashed.name}" in capsys.readouterr().err
    assert main(["sessions", "repair", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{crashed.name}: kept ") and len(out.splitlines()) == 1
    s = load_session(crashed)
    assert s.info.state == "repaired" and s.info.frames >= 60 and s.video_path is not None
    assert main(["sessions", "repair", "--root", str(tmp_path)]) == 0
    assert "no unfinished sessions" in capsys.readouterr().err
    assert {i.state for i in list_sessions(tmp_path)} == {"finished", "repaired"}


@pytest.mark.parametrize("argv_tail", [
    ["export", "--out", "{tmp}/ds"],  # no sessions at all
    ["export", "nosuch", "--out", "{tmp}/ds"],  # unknown session
    ["repair", "nosuch"],
])
def test_cli_errors_are_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        argv_tail: list[str]) -> None:
    argv = ["sessions", *[a.format(tmp=tmp_path) for a in argv_tail], "--root", str(tmp_path / "root")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("slowfast: error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_export_into_an_existing_export_is_exit_2_in_a_real_process(tmp_path: Path) -> None:
    record(tmp_path, "first")
    out = tmp_path / "ds"
    args = ["sessions", "export", "--root", str(tmp_path), "--out", str(out)]
    assert main(args) == 0
    again = subprocess.run([sys.executable, "-m", "slowfast_core.cli", *args], capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert again.stderr.strip().count("\n") == 0 and "already holds an export" in again.stderr


def test_sessions_without_action_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sessions"]) == 1
    assert "list" in capsys.readouterr().out
