"""The named-weights registry, resolve_weights, and the `slowfast weights` CLI.

Downloads go to a real HTTP server on 127.0.0.1 (the `local_server` fixture): a registry entry's url is pointed
at it (the network edge); the hub cache is redirected into tmp_path and restored afterwards. Non-loopback hosts
do not resolve here (the conftest's loopback guard).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from slowfast_core.cli import main
from slowfast_core.errors import WeightsError
from slowfast_core.model.config import PRESETS, get_config
from slowfast_core.spec import ClipGeometry
from slowfast_core.weights import registry
from slowfast_core.weights.labels import kinetics400_labels
from slowfast_core.weights.registry import (
    REGISTRY,
    cache_dir,
    cached_path,
    get_weights,
    list_weights,
    resolve_weights,
    validate_registry,
)

from helpers.network import LocalServer, closed_port_url

NAME = "SLOWFAST_8x8_R50"


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """torch's hub cache moved into tmp_path (both set_dir and TORCH_HOME); returns the checkpoints folder."""
    hub_dir = tmp_path / "torch_home" / "hub"
    monkeypatch.setenv("TORCH_HOME", str(hub_dir.parent))
    old = getattr(torch.hub, "_hub_dir", None)
    torch.hub.set_dir(str(hub_dir))
    try:
        yield hub_dir / "checkpoints"
    finally:
        torch.hub._hub_dir = old  # set_dir has no "unset": put back exactly what was there


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pyth"
    torch.manual_seed(0)
    torch.save({"model_state": {"blocks.6.proj.weight": torch.randn(400, 16)}}, path)
    return path.read_bytes()


@pytest.fixture
def served_entry(local_server: LocalServer, checkpoint_bytes: bytes, monkeypatch: pytest.MonkeyPatch):
    """The SLOWFAST_8x8_R50 entry with its url on the local server (which serves the small checkpoint)."""
    entry = REGISTRY[NAME]
    local = dataclasses.replace(entry, url=local_server.serve("/zoo/" + entry.file_name, checkpoint_bytes))
    monkeypatch.setitem(REGISTRY, NAME, local)
    return local


# ---- the registry itself -------------------------------------------------------------------------------

def test_registry_is_consistent() -> None:
    assert validate_registry() == []
    names = [e.name for e in list_weights()]
    assert len(names) == len(set(n.upper() for n in names))
    assert {"SLOWFAST_8x8_R50", "SLOWFAST_8x8_R101", "SLOWFAST_16x8_R101_50_50",
            "PYSLOWFAST_SLOWFAST_4x16_R50", "PYSLOWFAST_SLOWFAST_8x8_R50", "MMACTION2_SLOWFAST_4x16_R50",
            "MMACTION2_SLOWFAST_8x8_R50", "MMACTION2_SLOWFAST_8x8_R101"} <= set(names)
    for entry in list_weights():
        assert entry.geometry == PRESETS[entry.arch].geometry
        assert list(entry.categories) == kinetics400_labels()
        if entry.source == "mmaction2":  # ImageNet's mean/std, as mmaction2's ActionDataPreprocessor
            assert entry.preprocessing.mean == (0.485, 0.456, 0.406) and entry.preprocessing.std == (0.229, 0.224, 0.225)
        else:
            assert entry.preprocessing.mean == (0.45,) * 3 and entry.preprocessing.std == (0.225,) * 3
        assert entry.preprocessing.short_side == 256 and entry.preprocessing.crop == "center"
        assert 70.0 < entry.top1 < 80.0 and entry.description and "\n" not in entry.description


def test_registry_facts_match_the_model_zoos() -> None:
    pv = get_weights("SLOWFAST_16x8_R101_50_50")
    assert pv.url == "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/SLOWFAST_16x8_R101_50_50.pyth"
    assert (pv.arch, pv.source, pv.format, pv.top1) == ("slowfast_16x8_r101_50_50", "pytorchvideo", "pyth", 78.70)
    assert pv.geometry == ClipGeometry(16, 8, 4)
    c2 = get_weights("PYSLOWFAST_SLOWFAST_4x16_R50")
    assert c2.url == "https://dl.fbaipublicfiles.com/pyslowfast/model_zoo/kinetics400/SLOWFAST_4x16_R50.pkl"
    assert (c2.arch, c2.format, c2.file_name) == ("slowfast_4x16_r50", "caffe2_pkl", "SLOWFAST_4x16_R50.pkl")
    assert c2.top1 == 75.6 and c2.source == "pyslowfast"
    assert get_weights(NAME).top1 == 76.94 and get_weights("SLOWFAST_8x8_R101").top1 == 77.90


def test_validate_registry_catches_bad_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = REGISTRY[NAME]
    monkeypatch.setitem(REGISTRY, NAME, dataclasses.replace(entry, geometry=ClipGeometry(4, 16, 8)))
    monkeypatch.setitem(REGISTRY, "BROKEN", dataclasses.replace(entry, name="BROKEN", arch="resnet9000"))
    problems = validate_registry()
    assert any(NAME in p and "geometry" in p for p in problems)
    assert any("BROKEN" in p and "unknown arch" in p for p in problems)
    assert len(problems) == 2


def test_get_weights_by_name_any_case_and_by_file_name() -> None:
    entry = get_weights(NAME)
    assert get_weights("slowfast_8x8_r50") is entry
    assert get_weights(" SlowFast_8x8_R50 ") is entry
    assert get_weights("SLOWFAST_8x8_R50.pyth") is entry
    assert get_weights("SLOWFAST_8x8_R50.pkl").name == "PYSLOWFAST_SLOWFAST_8x8_R50"
    assert get_config(entry.arch).geometry == entry.geometry


def test_get_weights_unknown_lists_names() -> None:
    with pytest.raises(WeightsError) as exc:
        get_weights("SLOWFAST_9x9_R7")
    msg = str(exc.value)
    assert "\n" not in msg and "'SLOWFAST_9x9_R7'" in msg
    assert all(e.name in msg for e in list_weights())


def test_cache_dir_follows_torch_hub(hub: Path) -> None:
    assert cache_dir() == hub == Path(torch.hub.get_dir()) / "checkpoints"
    assert cached_path(get_weights(NAME)) == hub / "SLOWFAST_8x8_R50.pyth"


# ---- resolve_weights ------------------------------------------------------------------------------------

def test_resolve_existing_file_wins(tmp_path: Path, hub: Path) -> None:
    known = tmp_path / "SLOWFAST_8x8_R50.pyth"
    known.write_bytes(b"x")
    resolved = resolve_weights(str(known), download=False)
    assert resolved.path == known.resolve() and resolved.entry is get_weights(NAME)
    other = tmp_path / "my_finetune.pt"
    other.write_bytes(b"x")
    resolved = resolve_weights(str(other))
    assert resolved.path == other.resolve() and resolved.entry is None


def test_resolve_cached_name_does_not_download(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = get_weights(NAME)
    # The url points at a refused port: any download attempt would raise instead of returning.
    monkeypatch.setitem(REGISTRY, NAME, dataclasses.replace(entry, url=closed_port_url("/x.pyth")))
    hub.mkdir(parents=True)
    (hub / entry.file_name).write_bytes(b"cached")
    resolved = resolve_weights("slowfast_8x8_r50")
    assert resolved.path == hub / entry.file_name and resolved.entry.name == NAME


def test_resolve_downloads_missing_name(hub: Path, served_entry, local_server: LocalServer,
                                        checkpoint_bytes: bytes) -> None:
    resolved = resolve_weights(NAME, progress=False)
    assert resolved.path == hub / served_entry.file_name
    assert resolved.path.read_bytes() == checkpoint_bytes
    assert resolved.entry == served_entry
    assert local_server.requests == ["/zoo/SLOWFAST_8x8_R50.pyth"]
    resolve_weights(NAME)  # second time: from the cache
    assert len(local_server.requests) == 1


def test_resolve_missing_name_without_download(hub: Path) -> None:
    with pytest.raises(WeightsError) as exc:
        resolve_weights(NAME, download=False)
    msg = str(exc.value)
    assert "\n" not in msg and "not downloaded" in msg and f"slowfast weights download {NAME}" in msg
    assert not hub.exists() or not any(hub.iterdir())


def test_resolve_unknown_name_and_missing_path(tmp_path: Path, hub: Path) -> None:
    with pytest.raises(WeightsError) as exc:
        resolve_weights("NOT_A_MODEL")
    assert "unknown weights 'NOT_A_MODEL'" in str(exc.value) and "slowfast weights list" in str(exc.value)
    missing = tmp_path / "nowhere" / "SLOWFAST_8x8_R50.pyth"
    with pytest.raises(WeightsError) as exc:
        resolve_weights(str(missing))
    msg = str(exc.value)
    assert "\n" not in msg and f"weights file {missing} does not exist" in msg and "slowfast weights list" in msg
    with pytest.raises(WeightsError, match="is a folder"):
        resolve_weights(str(tmp_path))


def test_resolve_download_failure_is_one_line(hub: Path, local_server: LocalServer,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    entry = get_weights(NAME)
    monkeypatch.setitem(REGISTRY, NAME, dataclasses.replace(entry, url=local_server.url("/gone.pyth")))
    with pytest.raises(WeightsError) as exc:
        resolve_weights(NAME, progress=False)
    assert str(exc.value).startswith("HTTP 404") and "\n" not in str(exc.value)
    assert not (hub / entry.file_name).exists()


# ---- the CLI --------------------------------------------------------------------------------------------

def test_cli_list(hub: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hub.mkdir(parents=True)
    (hub / "SLOWFAST_8x8_R101.pyth").write_bytes(b"\0" * 2_500_000)
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "ARCH", "SOURCE", "TOP-1", "CACHED"]
    rows = {line.split()[0]: line for line in out[1:]}
    from slowfast_core.weights.detection_registry import detection_registry

    assert set(rows) == {e.name for e in list_weights()} | set(detection_registry())  # + per-person detection
    assert rows["SLOWFAST_8x8_R50_DETECTION"].split()[1:] == ["slowfast_r50_detection", "pytorchvideo", "-", "no"]
    assert rows["SLOWFAST_8x8_R101"].split()[1:] == ["slowfast_8x8_r101", "pytorchvideo", "77.9", "yes", "(2.5", "MB)"]
    assert rows[NAME].split()[1:] == ["slowfast_8x8_r50", "pytorchvideo", "76.94", "no"]


def test_cli_list_json(hub: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    from slowfast_core.weights.detection_registry import detection_registry

    assert [r["name"] for r in rows] == [e.name for e in list_weights()] + list(detection_registry())
    first = rows[0]
    assert first["cached"] is False and first["size_bytes"] is None
    assert first["path"] == str(hub / "SLOWFAST_8x8_R50.pyth") and first["top1"] == 76.94


def test_cli_download_and_path(hub: Path, served_entry, local_server: LocalServer, checkpoint_bytes: bytes,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "download", "slowfast_8x8_r50"]) == 0
    out, err = capsys.readouterr()
    target = hub / served_entry.file_name
    assert out.strip() == str(target) and err == ""  # stderr is not a TTY: no progress bar noise
    assert target.read_bytes() == checkpoint_bytes
    assert [p.name for p in hub.iterdir()] == [served_entry.file_name]

    assert main(["weights", "download", NAME]) == 0  # cached: says so, fetches nothing
    out, err = capsys.readouterr()
    assert out.strip() == str(target) and "already cached" in err and len(local_server.requests) == 1

    assert main(["weights", "download", NAME, "--force"]) == 0
    assert len(local_server.requests) == 2
    capsys.readouterr()

    assert main(["weights", "path", NAME]) == 0
    assert capsys.readouterr().out.strip() == str(target)


@pytest.mark.parametrize("argv", [["weights", "download", "NOPE"], ["weights", "path", "NOPE"]])
def test_cli_unknown_name_exit_2(hub: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("slowfast: error: unknown weights 'NOPE'")


def test_cli_download_failure_exit_2(hub: Path, local_server: LocalServer, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    entry = get_weights(NAME)
    monkeypatch.setitem(REGISTRY, NAME, dataclasses.replace(entry, url=local_server.url("/gone.pyth")))
    assert main(["weights", "download", NAME]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("slowfast: error: HTTP 404")
    assert not (hub / entry.file_name).exists()


def test_cli_download_no_network_exit_2(hub: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The real URL: its host does not resolve under the loopback guard, exactly as on an offline machine.
    assert main(["weights", "download", "PYSLOWFAST_SLOWFAST_4x16_R50"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("slowfast: error: no network")
    assert f"copy it to {hub / 'SLOWFAST_4x16_R50.pkl'}" in err


def test_no_entry_claims_an_unpublished_checksum() -> None:
    # Neither model zoo publishes sha256 sums; a made-up one would make every real download fail.
    assert registry.REGISTRY is REGISTRY and all(e.sha256 is None for e in list_weights())


def test_the_person_detectors_urls_are_torchvisions_own() -> None:
    """The registry writes torchvision's detector URLs down (reading them imports torchvision.models and with it
    torch._dynamo: ~2 s of the window's start-up, for its Model menu); they must stay torchvision's."""
    from slowfast_core.weights.detection_registry import TORCHVISION_URLS, detection_registry, torchvision_url

    people = [e for e in detection_registry().values() if e.kind == "person"]
    assert {e.arch for e in people} == set(TORCHVISION_URLS)
    for entry in people:
        assert entry.url == torchvision_url(entry.arch)
