"""The person detector on OpenVINO (issue 23 §1: "OpenVINO on CPU where it converts"): torchvision's
fasterrcnn_mobilenet_v3_large_320_fpn, converted by the real `openvino.convert_model` in the real child process,
cached, and compared with torch on frames of a real video (and frames of other sizes, since one IR serves all).

Its COCO weights cannot be downloaded here, so the weights are random, drawn so that a few boxes on each frame
are confident "people" (helpers/person_detector.py): the comparison has boxes to compare.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip("openvino")

from slowfast_core.detect.openvino_detector import disagreement  # noqa: E402
from slowfast_core.detect.torchvision_detector import TorchvisionPersonDetector  # noqa: E402

from helpers.person_detector import ARCH, random_person_detector  # noqa: E402

MIN_SCORE = 0.7


@pytest.fixture(scope="module")
def frames(realvideo) -> list[np.ndarray]:
    """Three frames of a real 340x256 clip, one of them at half size, and a frame of another real clip."""
    out = []
    for name, picks in (("test.mp4", (0, 20, 39)), ("demo.mp4", (10,))):
        cap = cv2.VideoCapture(str(realvideo / name))
        read = [cap.read()[1] for _ in range(max(picks) + 1)]
        cap.release()
        out += [read[i] for i in picks]
    out.append(cv2.resize(out[1], (out[1].shape[1] // 2, out[1].shape[0] // 2)))
    return out


def as_input(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frame[..., ::-1])).permute(2, 0, 1).float() / 255.0  # (3, H, W)


def test_the_person_detector_converts_to_openvino_and_its_boxes_match_torch(frames, tmp_path, monkeypatch):
    monkeypatch.setenv("SLOWFAST_CACHE_DIR", str(tmp_path / "cache"))
    model = random_person_detector(frames[0], min_score=MIN_SCORE)
    on_torch = TorchvisionPersonDetector.from_model(model, ARCH, backend="torch")
    on_openvino = TorchvisionPersonDetector.from_model(model, ARCH, backend="openvino")  # converts now, in a child
    assert on_torch._ov is None and on_openvino._ov is not None
    assert len(list((tmp_path / "cache" / "openvino-detect").glob(f"{ARCH}-*/model.xml"))) == 1
    people = 0
    for frame in frames:
        x = as_input(frame)
        assert disagreement(on_torch._torch(x), on_openvino._ov(x), MIN_SCORE) is None  # every class's boxes
        a, b = on_torch.detect(frame), on_openvino.detect(frame)
        assert len(a) == len(b)
        for p, q in zip(a, b):
            assert np.allclose(p.xyxy, q.xyxy, atol=1.0) and abs(p.score - q.score) < 1e-3
        people += len(a)
    assert people >= 3  # the comparison compared something
    assert on_openvino.backend == "openvino" and on_openvino.name == f"{ARCH} (openvino)"
    assert on_torch.name == ARCH

    # the next detector of these weights reads the cached IR at once (no conversion), checks it on the first frame
    # with people, then detects on OpenVINO alone
    cached = TorchvisionPersonDetector.from_model(model, ARCH, backend="auto")
    assert cached._converting is None and cached._ov is not None and cached.backend == "torch"
    cached.detect(frames[0])
    assert cached.backend == "openvino" and cached.openvino_problem is None

    # weights changed under a converted IR (a stale conversion): the check catches it, torch goes on, once
    stale = TorchvisionPersonDetector.from_model(model, ARCH, backend="auto")
    with torch.no_grad():
        model.roi_heads.box_predictor.bbox_pred.weight.mul_(50.0)  # torch's boxes move; the IR's do not
    expected = TorchvisionPersonDetector.from_model(model, ARCH, backend="torch").detect(frames[0])
    got = stale.detect(frames[0])
    assert stale.backend == "torch" and stale._ov is None and "differ from torch's" in stale.openvino_problem
    assert [p.xyxy for p in got] == [p.xyxy for p in expected]


def test_disagreement_names_the_first_difference():
    boxes = np.array([[10, 10, 50, 90], [60, 5, 90, 80], [0, 0, 5, 5]], np.float32)
    scores = np.array([0.95, 0.8, 0.3], np.float32)
    labels = np.array([1, 1, 3])
    same = (boxes + 0.4, scores + 5e-4, labels)
    assert disagreement((boxes, scores, labels), same, 0.7) is None
    assert disagreement((boxes, scores, labels), (boxes[[1, 0, 2]], scores[[1, 0, 2]], labels), 0.7) is None
    moved = boxes.copy()
    moved[1, 2] += 3.0
    assert "[60.0, 5.0, 90.0, 80.0]" in disagreement((boxes, scores, labels), (moved, scores, labels), 0.7)
    assert "torch found 2 boxes above 0.7, OpenVINO 1" == disagreement(
        (boxes, scores, labels), (boxes, np.array([0.95, 0.6, 0.3], np.float32), labels), 0.7)
    other = np.array([1, 2, 3])
    assert "class 1" in disagreement((boxes, scores, labels), (boxes, scores, other), 0.7)
