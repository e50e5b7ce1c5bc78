"""The SlowFast detection network equals PyTorchVideo's `create_slowfast_with_roi_head` (same state dict in both),
shares the classifier's backbone code, and its checkpoints are told apart from classifiers in one line."""

from __future__ import annotations

import pytest
import torch

from slowfast_core.errors import CheckpointError
from slowfast_core.model.config import get_config
from slowfast_core.model.detection import SlowFastDetection, get_detection_config
from slowfast_core.weights.detection import create_detection_model
from slowfast_core.model.net import SlowFast
from slowfast_core.weights.detection import load_detection_checkpoint, save_detection_model
from slowfast_core.weights.labels import ava_labels


def _pytorchvideo_r50_detection() -> torch.nn.Module:
    from pytorchvideo.models.hub.slowfast import slowfast_r50_detection

    return slowfast_r50_detection(pretrained=False).eval()


def test_r50_detection_equals_pytorchvideo_for_a_clip_and_boxes() -> None:
    theirs = _pytorchvideo_r50_detection()
    ours = create_detection_model("slowfast_r50_detection", seed=3)
    state = {f"model.{k}" if k.startswith("blocks.") else k: v for k, v in ours.state_dict().items()}
    with torch.no_grad():  # give BN statistics and the head non-trivial values, then load ours into theirs
        for k, v in state.items():
            if k.endswith("running_var"):
                v.uniform_(0.5, 1.5)
            elif k.endswith("running_mean") or k.endswith(".bias"):
                v.normal_(0, 0.1)
    theirs.load_state_dict(state, strict=True)
    g = torch.Generator().manual_seed(0)
    slow = torch.randn(1, 3, 8, 64, 96, generator=g)
    fast = torch.randn(1, 3, 32, 64, 96, generator=g)
    boxes = torch.tensor([[0, 4.0, 6.0, 40.0, 60.0], [0, 50.0, 2.0, 95.0, 63.0], [0, 10.5, 20.25, 30.0, 33.0]])
    with torch.inference_mode():
        expected = theirs([slow, fast], boxes)  # sigmoid probabilities (N, 80)
        got = ours.probabilities([slow, fast], boxes)
        theirs.detection_head.activation = None
        expected_logits = theirs([slow, fast], boxes)
        got_logits = ours([slow, fast], boxes)
    assert got.shape == expected.shape == (3, 80)
    assert torch.allclose(got_logits, expected_logits, atol=1e-4), (got_logits - expected_logits).abs().max()
    assert torch.allclose(got, expected, atol=1e-4)
    assert got_logits.std() > 0.01  # the boxes see different features: not a constant output


def test_detection_backbone_is_the_classifier_backbone_but_res5() -> None:
    det = create_detection_model("slowfast_tiny_detection", seed=0)
    cls = SlowFast(get_config("slowfast_tiny"))
    det_keys = {k: v.shape for k, v in det.state_dict().items() if k.startswith("blocks.")}
    cls_keys = {k: v.shape for k, v in cls.state_dict().items() if k.split(".")[1] in "01234"}
    assert det_keys == cls_keys  # one backbone: classifier weights load into the detector's blocks 0-4
    res5 = det.blocks[4].multipathway_blocks[0].res_blocks[0].branch2.conv_b
    assert res5.stride == (1, 1, 1) and res5.dilation == (1, 2, 2)
    fmap = det.feature_map([torch.zeros(1, 3, 4, 80, 112), torch.zeros(1, 3, 16, 80, 112)])
    assert fmap.shape == (1, det.config.head_in_features, 5, 7)  # 1/16 of the input


def test_ava_labels_and_registry_entry() -> None:
    names = ava_labels()
    assert len(names) == 80 and names[0] == "bend/bow (at the waist)" and names[79] == "watch (a person)"
    assert create_detection_model("slowfast_r50_detection", seed=0).meta.categories == tuple(names)
    from slowfast_core.weights.detection_registry import get_detection_weights

    entry = get_detection_weights("slowfast_8x8_r50_detection")
    assert entry.url == "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/ava/SLOWFAST_8x8_R50_DETECTION.pyth"
    assert entry.arch == "slowfast_r50_detection" and entry.preprocessing.crop == "full"
    person = get_detection_weights("FASTERRCNN_MOBILENET_V3_LARGE_320_FPN")
    assert person.url.startswith("https://download.pytorch.org/models/fasterrcnn_mobilenet_v3_large_320_fpn")


def test_detection_checkpoint_round_trip_and_refusals(tmp_path) -> None:
    det = create_detection_model("slowfast_tiny_detection", seed=1, categories=("wave", "sit", "jump"))
    path = save_detection_model(det, tmp_path / "det.pyth")
    back = load_detection_checkpoint(path)
    assert back.meta.categories == ("wave", "sit", "jump") and back.config == det.config
    for k, v in det.state_dict().items():
        assert torch.equal(v, back.state_dict()[k])
    from slowfast_core.weights.api import create_model
    from slowfast_core.weights.native import save_model

    with pytest.raises(CheckpointError, match="per-person detection model.*--detect"):
        create_model("slowfast_tiny", weights=str(path))
    cls_path = save_model(create_model("slowfast_tiny", num_classes=3), tmp_path / "cls.pyth")
    with pytest.raises(CheckpointError, match="whole-frame classifier, not a per-person detection"):
        load_detection_checkpoint(cls_path)


def test_unknown_detection_arch_is_one_line() -> None:
    with pytest.raises(ValueError, match="unknown detection architecture 'slowfast_huge'"):
        get_detection_config("slowfast_huge")
    with pytest.raises(ValueError, match="3 categories for a 80-class"):
        SlowFastDetection(get_detection_config("slowfast_tiny_detection"),
                          meta=create_detection_model("slowfast_tiny_detection", categories=("a", "b", "c")).meta)
