"""What is not a regular file is refused with one line, never opened: a named pipe that never delivers used
to hang `predict` and `run` with Ctrl-C ignored; a device or a folder is not a video or a checkpoint either."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from slowfast_core.cli import main

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    os.mkfifo(path)
    return path


def one_line_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("slowfast: error: ") and "Traceback" not in err, err
    return err


def test_predict_on_a_named_pipe_exits_at_once_in_a_real_process(fifo: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "slowfast_core.cli", "predict", str(fifo)], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "is a named pipe, not a video file" in done.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("argv,needle", [
    (["run", "--source", "file:{fifo}"], "is a named pipe, not a video file"),
    (["run", "--source", "file:{fifo}", "--realtime"], "is a named pipe, not a video file"),
    (["predict", "/dev/zero"], "/dev/zero is a character device, not a video file"),
    (["run", "--source", "camera:{fifo}"], "is a named pipe, not a camera device"),
    (["run", "--source", "camera:{tmp}/plain.txt"], "is a regular file, not a camera device"),
    (["predict", "{tmp}/real.mp4", "--weights", "{fifo}"], "is a named pipe, not a checkpoint file"),
])
def test_special_files_are_refused_with_one_line(fifo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 argv: list[str], needle: str) -> None:
    import cv2
    import numpy as np

    (tmp_path / "plain.txt").write_text("not a camera")
    writer = cv2.VideoWriter(str(tmp_path / "real.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    err = one_line_error([a.format(fifo=fifo, tmp=tmp_path) for a in argv], capsys)
    assert needle in err
