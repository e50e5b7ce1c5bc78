"""A torchvision person detector with random weights that still finds "people": torchvision's
fasterrcnn_mobilenet_v3_large_320_fpn (the CPU detector; its COCO weights cannot be downloaded here).

Its own random initialisation gives every box the same near-uniform score (nothing passes a 0.7 threshold,
and ties make any comparison meaningless), so the weights are drawn again at a scale that keeps activations
alive, box regression is damped (boxes stay near their anchors), and the classifier is scaled so that its
logits spread, with the person class lifted: on a real frame a few boxes are confident "people", most are not.
"""

from __future__ import annotations

import numpy as np
import torch

ARCH = "fasterrcnn_mobilenet_v3_large_320_fpn"
PERSON = 1


def random_person_detector(calibration_frame: np.ndarray, *, min_score: float = 0.7, seed: int = 1) -> torch.nn.Module:
    """The model (eval mode, box_score_thresh=min_score) calibrated on `calibration_frame` ((H, W, 3) BGR uint8)."""
    from torchvision.models import detection

    model = getattr(detection, ARCH)(weights=None, weights_backbone=None, box_score_thresh=min_score).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / m.weight[0].numel()) ** 0.5)
                if m.bias is not None:
                    m.bias.zero_()
        model.rpn.head.bbox_pred.weight.mul_(0.01)
        model.roi_heads.box_predictor.bbox_pred.weight.mul_(0.01)
        seen: dict[str, torch.Tensor] = {}
        hook = model.roi_heads.box_head.register_forward_hook(lambda _m, _i, out: seen.setdefault("x", out))
        x = torch.from_numpy(np.ascontiguousarray(calibration_frame[..., ::-1])).permute(2, 0, 1).float() / 255.0
        model([x])
        hook.remove()
        cls = model.roi_heads.box_predictor.cls_score
        cls.weight.mul_(3.0 / float((seen["x"] @ cls.weight.T).std()))  # logits spread: scores distinct
        cls.bias[PERSON] = 8.0  # "people" are the most likely class of the confident boxes
    return model
