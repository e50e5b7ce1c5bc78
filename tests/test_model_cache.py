"""The converted-model cache is bounded (issue 13 §2): least-recently-used eviction under a size limit, a setting,
`slowfast cache info|clear`, and untrained starts that reuse one entry (fixed seed)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import torch

from slowfast_core.backends import cache
from slowfast_core.cli import main
from slowfast_core.errors import ConfigError
from slowfast_core.model.builder import UNTRAINED_SEED
from slowfast_core.weights.api import create_model

MIB = 2**20


def make_entry(folder: Path, name: str, mib: float, *, age_s: float) -> Path:
    """A cache entry as the backend writes it (model.xml/.bin and a compiled blob), last used `age_s` ago."""
    entry = folder / name
    (entry / "blobs").mkdir(parents=True)
    (entry / "model.xml").write_text("<net/>")
    (entry / "model.bin").write_bytes(b"\0" * int(mib * MIB / 2))
    (entry / "blobs" / "1234.blob").write_bytes(b"\1" * int(mib * MIB / 2))
    when = time.time() - age_s
    os.utime(entry, (when, when))
    return entry


@pytest.fixture()
def cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SLOWFAST_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SLOWFAST_CACHE_MAX_MB", raising=False)
    return tmp_path


def test_the_least_recently_used_go_first_and_the_one_in_use_stays(cache_root: Path) -> None:
    folder = cache.kind_dir("openvino")
    oldest = make_entry(folder, "a-1", 3, age_s=300)
    in_use = make_entry(folder, "b-2", 3, age_s=200)  # old, but its user keeps it
    middle = make_entry(folder, "c-3", 3, age_s=100)
    newest = make_entry(folder, "d-4", 3, age_s=10)  # (a touch stamps the kernel's coarse clock: keep a margin)
    assert [e.path for e in cache.entries(folder)] == [oldest, in_use, middle, newest]
    assert sum(e.size for e in cache.entries(folder)) == pytest.approx(12 * MIB, abs=1024)

    removed = cache.enforce_limit(folder, keep=in_use, limit=int(7 * MIB))
    assert [e.path for e in removed] == [oldest, middle]
    assert sorted(p.name for p in folder.iterdir()) == ["b-2", "d-4"]

    cache.touch(in_use)  # used again: now the most recent
    assert [e.path for e in cache.entries(folder)][-1] == in_use
    cache.enforce_limit(folder, keep=None, limit=int(4 * MIB))
    assert [p.name for p in folder.iterdir()] == ["b-2"]
    cache.enforce_limit(folder, keep=in_use, limit=0)  # 0 keeps only the model in use
    assert [p.name for p in folder.iterdir()] == ["b-2"]


def test_conversions_in_progress_are_kept_and_stale_ones_removed(cache_root: Path) -> None:
    folder = cache.kind_dir("openvino")
    running = folder / ".tmp-running"
    stale = folder / ".tmp-killed"
    for tmp in (running, stale):
        tmp.mkdir(parents=True)
        (tmp / "model.pt").write_bytes(b"\0" * MIB)
    old = time.time() - 2 * cache.STALE_TMP_S
    os.utime(stale, (old, old))
    assert cache.entries(folder) == []  # never counted as entries, never evicted as such
    cache.enforce_limit(folder, limit=0)
    assert running.exists() and not stale.exists()


def test_the_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLOWFAST_CACHE_MAX_MB", raising=False)
    assert cache.max_bytes() == cache.DEFAULT_MAX_MB * MIB == 2048 * MIB
    monkeypatch.setenv("SLOWFAST_CACHE_MAX_MB", "300")
    assert cache.max_bytes() == 300 * MIB
    monkeypatch.setenv("SLOWFAST_CACHE_MAX_MB", "0")
    assert cache.max_bytes() == 0
    for bad in ("lots", "-5", "nan", "inf"):
        monkeypatch.setenv("SLOWFAST_CACHE_MAX_MB", bad)
        with pytest.raises(ConfigError, match="SLOWFAST_CACHE_MAX_MB") as err:
            cache.max_bytes()
        assert "\n" not in str(err.value)


def test_cache_info_and_clear(cache_root: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    folder = cache.kind_dir("openvino")
    make_entry(folder, "slowfast_8x8_r50-aaa", 2, age_s=60)
    make_entry(folder, "fast_32x2_r50-bbb", 1, age_s=0)
    monkeypatch.setenv("SLOWFAST_CACHE_MAX_MB", "512")

    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert str(cache_root) in out and "limit: 512 MiB" in out and "used: 3.0 MiB in 2 model(s)" in out
    lines = [line for line in out.splitlines() if line.startswith("  openvino/")]
    assert [line.split()[0] for line in lines] == ["openvino/slowfast_8x8_r50-aaa", "openvino/fast_32x2_r50-bbb"]

    assert main(["cache", "info", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["dir"] == str(cache_root) and data["limit_bytes"] == 512 * MIB
    assert [e["name"] for e in data["entries"]] == ["slowfast_8x8_r50-aaa", "fast_32x2_r50-bbb"]
    assert data["total_bytes"] == sum(e["bytes"] for e in data["entries"]) == pytest.approx(3 * MIB, abs=1024)

    assert main(["cache", "clear"]) == 0
    assert "removed 2 cached model(s), 3.0 MiB" in capsys.readouterr().out
    assert list(folder.iterdir()) == []
    assert main(["cache", "info"]) == 0
    assert "used: 0.0 MiB in 0 model(s)" in capsys.readouterr().out


def test_a_bad_limit_is_one_line(cache_root: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SLOWFAST_CACHE_MAX_MB", "a lot")
    assert main(["cache", "info"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("slowfast: error: SLOWFAST_CACHE_MAX_MB='a lot' is not a number") and err.count("\n") == 1


def test_untrained_weights_come_from_a_fixed_seed() -> None:
    from slowfast_core.backends.openvino_backend import model_key
    from slowfast_core.weights.api import load_model

    rng = torch.random.get_rng_state()
    a = create_model("fast_32x2_r50", num_classes=10, seed=UNTRAINED_SEED)
    assert torch.equal(torch.random.get_rng_state(), rng)  # the caller's random stream is left alone
    b = create_model("fast_32x2_r50", num_classes=10, seed=UNTRAINED_SEED)
    c = create_model("fast_32x2_r50", num_classes=10, seed=UNTRAINED_SEED + 1)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    # what `slowfast run/predict` build without --weights: one cache key per architecture, start after start
    first, second = load_model(arch="fast_32x2_r50", weights=None), load_model(arch="fast_32x2_r50", weights=None)
    assert not first.meta.trained
    assert model_key(first, repr(first.config), "v") == model_key(second, repr(second.config), "v")


def test_untrained_starts_reuse_one_entry_and_the_limit_evicts(cache_root: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from slowfast_core.backends.base import create_backend
    from slowfast_core.weights.api import load_model

    folder = cache.kind_dir("openvino")
    first = create_backend(load_model(arch="fast_32x2_r50", weights=None), backend="openvino", device="cpu")
    assert not first.ir_from_cache and [p for p in folder.iterdir()] == [first.entry]
    again = create_backend(load_model(arch="fast_32x2_r50", weights=None), backend="openvino", device="cpu")
    assert again.ir_from_cache and again.entry == first.entry  # a second untrained start converts nothing
    assert len(list(folder.iterdir())) == 1

    monkeypatch.setenv("SLOWFAST_CACHE_MAX_MB", "1")  # smaller than any model: only the one in use stays
    other = create_model("fast_32x2_r50", seed=UNTRAINED_SEED + 1)
    backend = create_backend(other, backend="openvino", device="cpu")
    assert not backend.ir_from_cache and [p for p in folder.iterdir()] == [backend.entry] != [first.entry]
    x = [torch.randn(1, 3, c.frames, 112, 112) for c in other.config.geometry.pathways()]
    with torch.inference_mode():
        torch.testing.assert_close(backend(x), other(x), atol=1e-4, rtol=0)
