"""download_file against a real HTTP server on 127.0.0.1 (helpers.network.LocalServer), and the stderr
progress bar.

Every failure must leave nothing behind (no file at dest, no temporary file) and raise one WeightsError line.
The conftest's loopback guard refuses any other host, so these tests never reach the internet.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import socket
from pathlib import Path

import pytest
import torch

from slowfast_core.errors import WeightsError
from slowfast_core.progress import ProgressBar, format_bytes
from slowfast_core.weights import download
from slowfast_core.weights.download import download_file

from helpers.errors import one_line
from helpers.network import LocalServer, closed_port_url


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real, small PyTorchVideo-style checkpoint file's bytes."""
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pyth"
    torch.manual_seed(0)
    torch.save({"model_state": {"blocks.0.conv.weight": torch.randn(8, 3, 1, 3, 3)}}, path)
    return path.read_bytes()


def assert_nothing_left(folder: Path) -> None:
    assert list(folder.iterdir()) == [], f"left behind: {[p.name for p in folder.iterdir()]}"


def test_download_ok_with_checksum(local_server: LocalServer, checkpoint_bytes: bytes, tmp_path: Path) -> None:
    local_server.serve("/w/tiny.pyth", checkpoint_bytes, "ok")
    dest = tmp_path / "cache" / "tiny.pyth"
    sha = hashlib.sha256(checkpoint_bytes).hexdigest()
    out = download_file(local_server.url("/w/tiny.pyth"), dest, sha256=sha.upper(), progress=False)
    assert out == dest
    assert dest.read_bytes() == checkpoint_bytes
    assert [p.name for p in dest.parent.iterdir()] == ["tiny.pyth"]  # no temporary file left
    state = torch.load(dest, map_location="cpu", weights_only=True)["model_state"]
    assert state["blocks.0.conv.weight"].shape == (8, 3, 1, 3, 3)
    assert local_server.requests == ["/w/tiny.pyth"]


def test_download_without_checksum_replaces_existing(local_server: LocalServer, tmp_path: Path) -> None:
    local_server.serve("/a.bin", b"new contents", "ok")
    dest = tmp_path / "a.bin"
    dest.write_bytes(b"old")
    download_file(local_server.url("/a.bin"), dest, progress=False)
    assert dest.read_bytes() == b"new contents"


def test_checksum_mismatch_leaves_nothing(local_server: LocalServer, checkpoint_bytes: bytes,
                                          tmp_path: Path) -> None:
    local_server.serve("/tiny.pyth", checkpoint_bytes, "ok")
    folder = tmp_path / "cache"
    with pytest.raises(WeightsError) as exc:
        download_file(local_server.url("/tiny.pyth"), folder / "tiny.pyth", sha256="0" * 64, progress=False)
    msg = one_line(exc)
    assert "checksum mismatch" in msg and "tiny.pyth" in msg and hashlib.sha256(checkpoint_bytes).hexdigest() in msg
    assert_nothing_left(folder)


def test_truncated_transfer_leaves_nothing(local_server: LocalServer, checkpoint_bytes: bytes,
                                           tmp_path: Path) -> None:
    local_server.serve("/tiny.pyth", checkpoint_bytes, "truncate")
    with pytest.raises(WeightsError) as exc:
        download_file(local_server.url("/tiny.pyth"), tmp_path / "tiny.pyth", progress=False)
    msg = one_line(exc)
    assert "cut short" in msg and f"of {len(checkpoint_bytes) + 4096} bytes" in msg
    assert local_server.url("/tiny.pyth") in msg
    assert_nothing_left(tmp_path)


def test_http_404(local_server: LocalServer, tmp_path: Path) -> None:
    with pytest.raises(WeightsError) as exc:
        download_file(local_server.url("/missing.pyth"), tmp_path / "missing.pyth", progress=False)
    msg = one_line(exc)
    assert msg.startswith("HTTP 404") and local_server.url("/missing.pyth") in msg and "--weights" in msg
    assert_nothing_left(tmp_path)


def test_http_500(local_server: LocalServer, tmp_path: Path) -> None:
    local_server.serve("/x.pyth", b"", "error500")
    with pytest.raises(WeightsError) as exc:
        download_file(local_server.url("/x.pyth"), tmp_path / "x.pyth", progress=False)
    assert one_line(exc).startswith("HTTP 500")
    assert_nothing_left(tmp_path)


def test_no_network(tmp_path: Path) -> None:
    url = closed_port_url()
    dest = tmp_path / "hub" / "checkpoints" / "SLOWFAST_8x8_R50.pyth"
    with pytest.raises(WeightsError) as exc:
        download_file(url, dest, progress=False, timeout=5.0)
    msg = one_line(exc)
    assert msg.startswith("no network")
    assert f"download SLOWFAST_8x8_R50.pyth on a machine with internet and copy it to {dest}" in msg
    assert "--weights /path/to/file" in msg and url in msg
    assert_nothing_left(dest.parent)


def test_the_loopback_guard_refuses_other_hosts() -> None:
    """The guard every test runs under: other names do not resolve and other addresses refuse at once
    (192.0.2.1 is TEST-NET-1, never routed; without the guard this would hang until its timeout)."""
    for host in ("192.0.2.1", "example.com"):
        with pytest.raises(socket.gaierror, match="only 127.0.0.1 in tests"):
            socket.create_connection((host, 80), timeout=30)
    with socket.socket() as s:
        with pytest.raises(socket.gaierror):
            s.connect(("192.0.2.1", 80))


def test_dns_failure_is_no_network(tmp_path: Path) -> None:
    # ".invalid" never resolves (RFC 6761); the loopback guard makes it fail without asking any DNS server.
    with pytest.raises(WeightsError) as exc:
        download_file("http://weights.invalid/x.pyth", tmp_path / "x.pyth", progress=False, timeout=5.0)
    assert one_line(exc).startswith("no network")
    assert_nothing_left(tmp_path)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full to produce a real ENOSPC")
def test_disk_full(
    local_server: LocalServer, checkpoint_bytes: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bytes go to /dev/full, where the kernel answers every write with ENOSPC, as a full disk does.
    def open_full(fd: int):  # type: ignore[no-untyped-def]
        os.close(fd)
        return open("/dev/full", "wb", buffering=0)

    monkeypatch.setattr(download, "_open_temp", open_full)
    local_server.serve("/tiny.pyth", checkpoint_bytes, "ok")
    with pytest.raises(WeightsError) as exc:
        download_file(local_server.url("/tiny.pyth"), tmp_path / "tiny.pyth", progress=False)
    msg = one_line(exc)
    assert msg.startswith("disk full") and "tiny.pyth" in msg and str(tmp_path) in msg
    assert_nothing_left(tmp_path)


def test_unwritable_cache_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    with pytest.raises(WeightsError) as exc:
        download_file(closed_port_url(), blocker / "sub" / "x.pyth", progress=False)
    assert "x.pyth" in one_line(exc)


def test_progress_bar_draws_when_forced() -> None:
    stream = io.StringIO()
    with ProgressBar(total=3_000_000, desc="w.pyth", unit="B", force=True, stream=stream, min_interval=0.0) as bar:
        bar.update(1_500_000)
        assert bar.n == 1_500_000
        bar.update(1_500_000)
    text = stream.getvalue()
    last = text.rstrip("\n").split("\r")[-1]
    assert last.startswith("w.pyth: 100%|") and "3.00M/3.00M" in last and "B/s]" in last  # tqdm's line
    assert "w.pyth:  50%|" in text and "1.50M/3.00M" in text and text.endswith("\n")


def test_progress_bar_frames_eta_and_unknown_total() -> None:
    stream = io.StringIO()
    with ProgressBar(total=-1, desc="video", unit="frames", force=True, stream=stream, min_interval=0.0) as bar:
        assert bar.total is None  # OpenCV reports -1 frames for some streams: unknown, not an error
        bar.update(120)
    assert stream.getvalue().rstrip("\n").split("\r")[-1].startswith("video: 120frames [")
    stream = io.StringIO()
    with ProgressBar(total=300, desc="clip.mp4", unit="frames", force=True, stream=stream, min_interval=0.0) as bar:
        bar.update(150)
        last = stream.getvalue().split("\r")[-1]
    assert last.startswith("clip.mp4:  50%|") and "| 150/300 [" in last and last.rstrip().endswith("frames/s]")
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d,", last)  # elapsed < time left


def test_progress_bar_survives_a_closed_stream() -> None:
    stream = io.StringIO()
    bar = ProgressBar(total=10, desc="x", force=True, stream=stream, min_interval=0.0)
    stream.close()
    bar.update(5)  # the work goes on
    bar.close()
    assert bar.n == 5


def test_progress_bar_silent_off_tty() -> None:
    stream = io.StringIO()  # not a TTY
    with ProgressBar(total=10, desc="x", stream=stream, min_interval=0.0) as bar:
        bar.update(10)
    with ProgressBar(total=10, desc="x", stream=stream, enabled=False, force=True) as bar:
        bar.update(10)
    assert stream.getvalue() == ""
    assert not bar.active


def test_format_bytes() -> None:
    assert format_bytes(999) == "999 B"
    assert format_bytes(1_234_567) == "1.2 MB"
    assert format_bytes(265_000_000) == "265.0 MB"
