"""Reading checkpoint files (weights/checkpoint_file.py) on tiny state dicts of a few 2-element tensors: each
format told apart by content, wrappers and prefixes removed, keys converted, and every refusal's words. The
full-size checkpoints (real architectures, reference projects' files) are in test_checkpoint*.py."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from slowfast_core.errors import CheckpointError
from slowfast_core.weights.checkpoint_file import (
    _one_line,
    check_keys,
    existing_file,
    read_checkpoint,
    read_state_dict,
    sample_keys,
)
from slowfast_core.weights.native import META_KEY

PTV = "blocks.0.multipathway_blocks.0."  # our (PyTorchVideo's) stem


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def save(path: Path, obj: object, **kwargs: object) -> Path:
    torch.save(obj, path, **kwargs)
    return path


def test_missing_and_folder_paths_say_what_to_pass(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(CheckpointError, match=f"^checkpoint file {tmp_path / 'no.pyth'} not found: check the path, or "
                                              r"use a weights name \(slowfast weights list\)$"):
        existing_file(tmp_path / "no.pyth")
    with pytest.raises(CheckpointError, match=f"^checkpoint {tmp_path} is not a file: pass the .pyth/.pkl file "
                                              "itself$"):
        existing_file(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "w.pyth").write_bytes(b"x")
    assert existing_file("~/w.pyth") == tmp_path / "w.pyth"


def test_one_line_collapses_and_cuts() -> None:
    assert _one_line(ValueError("a\n  b\tc ")) == "a b c"
    assert _one_line(KeyError()) == "KeyError"
    assert _one_line(ValueError("x" * 160)) == "x" * 160
    assert _one_line(ValueError("y" * 161)) == "y" * 157 + "..."


def test_sample_keys_shows_two_and_counts_more() -> None:
    assert sample_keys(["a"]) == "a" and sample_keys(["a", "b"]) == "a, b"
    assert sample_keys(["a", "b", "c"]) == "a, b, ... (3 in all)"


def test_pytorchvideo_keys_load_as_they_are_from_any_wrapper(tmp_path: Path) -> None:
    state = {PTV + "conv.weight": t(1, 2), PTV + "norm.running_mean": t(0, 0), PTV + "norm.weight": t(1, 1)}
    for i, obj in enumerate([state, {"model_state": state, "epoch": 3}, {"state_dict": state},
                             {"model": state, "optimizer": {"lr": 0.1}},
                             {f"module.{k}": v for k, v in state.items()}]):
        got, layout = read_state_dict(save(tmp_path / f"{i}.pyth", obj))
        assert layout == "pytorchvideo"
        assert sorted(got) == sorted([*state, PTV + "norm.num_batches_tracked"]), i
        assert torch.equal(got[PTV + "conv.weight"], t(1, 2))
        nbt = got[PTV + "norm.num_batches_tracked"]  # added for BN layers saved without a step counter
        assert nbt.dtype == torch.long and nbt.item() == 0
    got, _ = read_state_dict(save(tmp_path / "half.pyth", {**state, f"module.{PTV}x.weight": t(3)}))
    assert f"module.{PTV}x.weight" in got  # `module.` is dropped only when every key has it
    kept = {**state, PTV + "norm.num_batches_tracked": torch.tensor(7)}
    assert read_state_dict(save(tmp_path / "nbt.pyth", kept))[0][PTV + "norm.num_batches_tracked"].item() == 7


def test_metadata_and_other_entries(tmp_path: Path) -> None:
    state = {PTV + "conv.weight": t(1, 2), 3: t(1), PTV + "note": "text", "epoch": 5}
    got, layout, meta = read_checkpoint(save(tmp_path / "m.pyth", {**state, META_KEY: {"arch": "tiny"}}))
    assert layout == "pytorchvideo" and list(got) == [PTV + "conv.weight"]  # only string-keyed tensors
    assert meta == {"arch": "tiny"} and isinstance(meta, dict)
    assert read_checkpoint(save(tmp_path / "n.pyth", {PTV + "conv.weight": t(1)}))[2] is None
    assert read_checkpoint(save(tmp_path / "o.pyth", {PTV + "conv.weight": t(1), META_KEY: "no"}))[2] is None


def test_resnet_pyslowfast_and_caffe2_keys_become_ours(tmp_path: Path) -> None:
    resnet = {"blocks.0.conv.weight": t(1), "blocks.4.res_blocks.0.x": t(2), "blocks.5.proj.weight": t(3),
              "blocks.5.pool.y": t(4)}
    got, layout = read_state_dict(save(tmp_path / "r.pyth", resnet))
    assert layout == "pytorchvideo-resnet"
    assert sorted(got) == sorted([PTV + "conv.weight", "blocks.4.multipathway_blocks.0.res_blocks.0.x",
                                  "blocks.6.proj.weight", "blocks.5.pool.y"])
    psf = {"s1.pathway0_stem.conv.weight": t(1), "s1.pathway0_stem.bn.running_mean": t(0), "s9.foo": t(2)}
    got, layout = read_state_dict(save(tmp_path / "p.pyth", {"model_state": psf}))
    assert layout == "pyslowfast"
    assert sorted(got) == sorted([PTV + "conv.weight", PTV + "norm.running_mean", PTV + "norm.num_batches_tracked",
                                  "s9.foo"])  # a key without a counterpart stays, for strict loading to report
    blobs = {"conv1_w": np.array([1.0, 2.0], np.float32), "res_conv1_bn_rm": np.zeros(2, np.float32),
             "conv1_w_momentum": np.ones(2, np.float32), "lr": 0.1, "names": np.array(["a"]), "other": np.ones(1),
             7: np.ones(1)}
    (tmp_path / "c.pkl").write_bytes(pickle.dumps({"blobs": blobs}, protocol=2))
    got, layout = read_state_dict(tmp_path / "c.pkl")
    assert layout == "caffe2"
    assert sorted(got) == sorted([PTV + "conv.weight", PTV + "norm.running_mean", PTV + "norm.num_batches_tracked",
                                  "other"])  # optimiser blobs, non-arrays, strings and non-string keys dropped
    weight = got[PTV + "conv.weight"]
    assert torch.equal(weight, t(1, 2))
    weight += 1  # its own, writable memory: the blob is untouched
    assert blobs["conv1_w"].tolist() == [1.0, 2.0]
    (tmp_path / "n.pkl").write_bytes(pickle.dumps({"blobs": {"nonsense": np.ones(1)}}, protocol=2))
    with pytest.raises(CheckpointError, match="has keys of an unknown layout \\(first: 'nonsense'\\)"):
        read_state_dict(tmp_path / "n.pkl")


def test_unknown_layout_names_the_first_key(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as err:
        read_state_dict(save(tmp_path / "u.pyth", {"fc.weight": t(1), "fc.bias": t(2)}))
    assert str(err.value).startswith(f"checkpoint {tmp_path / 'u.pyth'} has keys of an unknown layout (first: "
                                     "'fc.weight'): expected PyTorchVideo (blocks.N...)")


def test_non_finite_weights_are_refused_with_their_names(tmp_path: Path) -> None:
    one = {PTV + "conv.weight": t(1, float("inf")), PTV + "steps": torch.tensor([1, 2])}
    with pytest.raises(CheckpointError, match=f"^checkpoint {tmp_path / 'a.pyth'} holds NaN or infinite values in 1 "
                                              rf"tensor \({PTV}conv.weight\): it is damaged or from a diverged "
                                              "training run; use another checkpoint$"):
        read_state_dict(save(tmp_path / "a.pyth", one))
    three = {PTV + k: t(float("nan")) for k in ("a", "b", "c")} | {PTV + "ok": t(1)}
    with pytest.raises(CheckpointError, match=rf"in 3 tensors \({PTV}a, {PTV}b, \.\.\. \(3 in all\)\)"):
        read_state_dict(save(tmp_path / "b.pyth", three))


@pytest.mark.parametrize("content,says", [
    (b"", "is not a checkpoint (the file is empty)"),
    (b"hello, not a checkpoint", "is not a checkpoint ("),
    (b"PK\x03\x04 cut short", "is truncated or corrupt: download or copy the file again"),
    (pickle.dumps({"blobs": {"conv1_w": np.ones(300)}}, protocol=2)[:50], "is truncated or corrupt ("),
    (b"\x80\x02", "is truncated or corrupt ("),
    (pickle.dumps(os.getcwd, protocol=2), "is a pickle with Python objects other than arrays (refusing to unpickle"),
    (pickle.dumps([1, 2], protocol=2), "is not a checkpoint (it holds a list, not a state dict)"),
    (pickle.dumps({"blobs": {"conv1_w": "text"}}, protocol=2), "is not a checkpoint (it holds no tensors)"),
])
def test_what_is_not_a_checkpoint_says_so(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "f.pkl"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        read_state_dict(path)
    assert says in str(err.value) and "\n" not in str(err.value), str(err.value)
    assert str(err.value).startswith((f"checkpoint {path} ", f"{path} is not"))


def test_torch_files_old_and_new_and_ones_holding_objects(tmp_path: Path) -> None:
    state = {PTV + "conv.weight": t(1, 2)}
    legacy = save(tmp_path / "legacy.pyth", state, _use_new_zipfile_serialization=False)
    assert not legacy.read_bytes().startswith(b"PK") and read_state_dict(legacy)[1] == "pytorchvideo"
    whole = save(tmp_path / "whole.pyth", {"model": torch.nn.Linear(1, 1)})
    with pytest.raises(CheckpointError, match="holds Python objects besides tensors .*: re-save it with "
                                              r"torch.save\(model.state_dict\(\), path\)$"):
        read_state_dict(whole)
    data = save(tmp_path / "full.pyth", state).read_bytes()
    (tmp_path / "cut.pyth").write_bytes(data[: len(data) - 30])  # the zip's directory cut off
    with pytest.raises(CheckpointError, match="truncated or corrupt: download"):
        read_state_dict(tmp_path / "cut.pyth")
    with zipfile.ZipFile(tmp_path / "bad.pyth", "w") as z:  # a whole zip whose pickle is junk
        z.writestr("archive/data.pkl", b"\x80\x02junk")
        z.writestr("archive/version", b"3\n")
    with pytest.raises(CheckpointError, match="truncated or corrupt \\("):
        read_state_dict(tmp_path / "bad.pyth")


def test_check_keys_names_missing_unexpected_and_misshapen() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    model.config = type("Config", (), {"name": "toy"})()  # check_keys names the architecture
    good = {k: v.clone() for k, v in model.state_dict().items()}
    check_keys(model, good, Path("m.pyth"), skip=())
    check_keys(model, {k: v for k, v in good.items() if k != "1.bias"} | {"extra": t(1)}, Path("m.pyth"),
               skip=("1.bias", "extra"))
    bad = {k: v for k, v in good.items() if k not in ("0.bias", "1.bias", "1.weight")} | {"x": t(1)}
    bad["0.weight"] = torch.zeros(3, 3)
    with pytest.raises(CheckpointError) as err:
        check_keys(model, bad, Path("m.pyth"), skip=())
    assert str(err.value) == ("checkpoint m.pyth does not fit toy: missing keys 0.bias, 1.weight, ... (3 in all); "
                              "unexpected keys x; shape mismatch 0.weight (3, 3) vs (3, 2): use a complete checkpoint "
                              "saved from this architecture")
