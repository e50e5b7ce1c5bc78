"""A taught model as a small head file: it round-trips through the one loading API onto its base, refuses a base
that is not the backbone it was fitted on, and a damaged file is one clear error (real tiny models)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from slowfast_core.errors import CheckpointError
from slowfast_core.model.identity import FeatureIdentity, classifier_of
from slowfast_core.weights.api import load_model
from slowfast_core.weights.head_file import read_head, save_head, taught_head
from slowfast_core.weights.native import atomic_save, save_model

ARCH = "slowfast_tiny"


def _head(identity: FeatureIdentity, classes: int = 3):
    torch.manual_seed(3)
    linear = torch.nn.Linear(identity.dim, classes)
    return taught_head(linear, [f"move {i}" for i in range(classes)], identity, base=None, arch=ARCH), linear


def test_a_head_file_is_small_and_loads_onto_its_base(tmp_path: Path) -> None:
    base = load_model(None, arch=ARCH)  # the untrained fixed-seed weights: what the head was fitted on
    head, linear = _head(FeatureIdentity.of(base))
    path = save_head(head, tmp_path / "moves.pyth")
    assert path.stat().st_size < 64_000
    again = read_head(path)
    assert again is not None and again.categories == head.categories and again.identity == head.identity
    model = load_model(str(path))
    assert list(model.meta.categories) == ["move 0", "move 1", "move 2"]
    assert model.meta.weights == str(path) and model.meta.trained
    torch.testing.assert_close(classifier_of(model).weight, linear.weight)
    torch.testing.assert_close(classifier_of(model).bias, linear.bias)
    backbone = {k: v for k, v in base.state_dict().items() if not k.startswith("blocks.6.proj")}
    for key, value in backbone.items():
        torch.testing.assert_close(model.state_dict()[key], value)  # the base's backbone, as it was


def test_a_head_fitted_on_another_backbone_is_refused_in_one_line(tmp_path: Path) -> None:
    base = load_model(None, arch=ARCH)
    other = dataclasses.replace(FeatureIdentity.of(base), digest="0" * 64)  # as if the base file had changed
    path = save_head(_head(other)[0], tmp_path / "stale.pyth")
    with pytest.raises(CheckpointError, match="teach it again") as err:
        load_model(str(path))
    assert "\n" not in str(err.value)


def test_a_damaged_head_file_is_one_line_and_other_files_are_not_heads(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pyth"
    atomic_save({"slowfast_live_head": {"format": 1}, "head_state": {}}, broken)
    with pytest.raises(CheckpointError, match="damaged"):
        read_head(broken)
    whole = save_model(load_model(None, arch=ARCH), tmp_path / "whole.pyth")
    assert read_head(whole) is None  # a whole model is loaded as one
    junk = tmp_path / "junk.pyth"
    junk.write_bytes(b"not a torch file")
    assert read_head(junk) is None
