"""The bounded model cache's file handling (backends/cache.py) on folders made here: sizes, order of use, what
is removed and what stays, the limit's edge, failures reported. test_model_cache runs it with real models."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from slowfast_core.backends import cache
from slowfast_core.backends.cache import TMP_PREFIX, entries, enforce_limit, kind_dir, remove, remove_stale_tmp


def entry(folder: Path, name: str, size: int, age_s: float) -> Path:
    path = folder / name
    path.mkdir(parents=True)
    (path / "model.bin").write_bytes(b"x" * size)
    (path / "sub").mkdir()
    (path / "sub" / "model.xml").write_bytes(b"y" * 10)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_entries_oldest_first_with_their_sizes(tmp_path: Path) -> None:
    entry(tmp_path, "b", 100, age_s=10)
    entry(tmp_path, "a", 300, age_s=50)
    (tmp_path / f"{TMP_PREFIX}converting").mkdir()  # a conversion in progress: not an entry
    (tmp_path / "stray.txt").write_bytes(b"z" * 7)
    os.utime(tmp_path / "stray.txt", (time.time() - 100,) * 2)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    os.utime(tmp_path / "link", (time.time() - 1,) * 2, follow_symlinks=False)
    found = entries(tmp_path)
    assert [e.name for e in found] == ["stray.txt", "a", "b", "link"]
    assert [e.size for e in found[:3]] == [7, 310, 110]  # files, and whole trees
    assert found[3].size == (tmp_path / "link").lstat().st_size  # a link is its own size, not its target's
    assert entries(tmp_path / "nowhere") == []
    assert kind_dir(root=tmp_path) == tmp_path / "openvino" and kind_dir("x", tmp_path) == tmp_path / "x"


def test_remove_says_whether_it_could(tmp_path: Path, caplog, monkeypatch) -> None:
    a = entry(tmp_path, "a", 10, age_s=0)
    assert remove(a) is True and not a.exists()
    assert remove(tmp_path / "gone") is True  # removed meanwhile: fine
    (tmp_path / "f").write_text("x")
    (tmp_path / "l").symlink_to(tmp_path / "f")
    assert remove(tmp_path / "l") and (tmp_path / "f").exists()  # a link is removed, not what it points to
    stuck = entry(tmp_path, "stuck", 10, age_s=0)

    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cache.shutil, "rmtree", refuse)
    with caplog.at_level("WARNING", logger="slowfast_core.backends.cache"):
        assert remove(stuck) is False
    assert f"could not remove cached model {stuck}: [Errno 13] Permission denied" in caplog.text


def test_stale_conversions_are_removed_by_age(tmp_path: Path) -> None:
    old = entry(tmp_path, f"{TMP_PREFIX}old", 1, age_s=100)
    new = entry(tmp_path, f"{TMP_PREFIX}new", 1, age_s=10)
    kept = entry(tmp_path, "kept", 1, age_s=1000)  # an entry, however old, is not a conversion in progress
    remove_stale_tmp(tmp_path, older_than_s=50)
    assert not old.exists() and new.exists() and kept.exists()
    remove_stale_tmp(tmp_path / "nowhere")  # no folder: nothing to do


def test_the_limit_removes_least_recently_used_first_and_keeps_what_is_in_use(tmp_path: Path) -> None:
    a = entry(tmp_path, "a", 90, age_s=30)  # 100 bytes each with its xml
    b = entry(tmp_path, "b", 90, age_s=20)
    c = entry(tmp_path, "c", 90, age_s=10)
    assert enforce_limit(tmp_path, limit=300) == []  # exactly at the limit: nothing goes
    removed = enforce_limit(tmp_path, keep=a, limit=200)  # a is kept; b goes, and 200 fits
    assert [e.name for e in removed] == ["b"] and a.exists() and c.exists() and not b.exists()


def test_the_default_limit_comes_from_the_environment(tmp_path: Path, monkeypatch, caplog) -> None:
    entry(tmp_path, "a", 2**20, age_s=10)
    entry(tmp_path, "b", 10, age_s=5)
    monkeypatch.setenv(cache.MAX_MB_ENV, "1")
    with caplog.at_level("INFO", logger="slowfast_core.backends.cache"):
        assert [e.name for e in enforce_limit(tmp_path)] == ["a"]  # limit None: $SLOWFAST_CACHE_MAX_MB MiB
    assert "model cache over its 1 MiB limit: removed a (least recently used)" in caplog.text
    monkeypatch.setenv(cache.MAX_MB_ENV, "inf")
    with pytest.raises(cache.ConfigError, match="must be a size in MiB, 0 or more"):
        cache.max_bytes()


def test_a_plain_file_entry_is_removed_and_a_vanished_one_has_no_size(tmp_path: Path, caplog) -> None:
    (tmp_path / "model.blob").write_bytes(b"x" * 5)
    with caplog.at_level("WARNING", logger="slowfast_core.backends.cache"):
        assert remove(tmp_path / "model.blob") is True
    assert not (tmp_path / "model.blob").exists() and caplog.text == ""
    assert cache._size(tmp_path / "gone") == 0


def test_an_entry_removed_while_listed_is_left_out(tmp_path: Path, monkeypatch) -> None:
    for name, age in (("a", 30), ("b", 20), ("c", 10)):
        entry(tmp_path, name, 10, age_s=age)
    real_lstat = Path.lstat
    gone = next(tmp_path.iterdir()).name  # the first one listed: those after it are still looked at

    def lstat(self: Path):  # another process removes it between the listing and the look at it
        if self.name == gone:
            raise FileNotFoundError(2, "No such file or directory", str(self))
        return real_lstat(self)

    monkeypatch.setattr(Path, "lstat", lstat)
    assert [e.name for e in entries(tmp_path)] == [n for n in ("a", "b", "c") if n != gone]


def test_clear_empties_every_kind_under_the_root_it_is_given(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SLOWFAST_CACHE_DIR", str(tmp_path / "default"))
    elsewhere = entry(kind_dir(root=tmp_path / "default"), "other", 10, age_s=0)
    folder = kind_dir(root=tmp_path / "root")
    entry(folder, "a", 100, age_s=5)
    entry(folder, "b", 20, age_s=5)
    assert cache.clear(tmp_path / "root") == (2, 2 * 10 + 120)
    assert entries(folder) == [] and elsewhere.exists()
