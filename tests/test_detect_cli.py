"""Who is doing what, from the command line: synth --actors, predict --detect, train/evaluate --task detect,
and each bad input as one line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from slowfast_core.detect.people import PeopleStep
from slowfast_core.detect.scene_boxes import SceneBoxesDetector
from slowfast_core.errors import WeightsError
from slowfast_core.weights.api import create_model
from slowfast_core.weights.detection import create_detection_model
from slowfast_core.overlay.opencv import CvTextMeasure
from slowfast_core.overlay.people import NOBODY, layout_people
from slowfast_core.weights.detection import save_detection_model
from slowfast_core.weights.native import save_model

from helpers.cli import run_cli
from helpers.errors import cli_error


@pytest.fixture(scope="module")
def actors_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two actors per video, two classes, 2 training videos and 1 held out, 48-pixel stages, 2 s."""
    from slowfast_core.train.synth_actors import ActorSynthSettings, generate_actors

    out = tmp_path_factory.mktemp("actors")
    generate_actors(out, ActorSynthSettings(actors=2, videos=2, seconds=2, class_ids=(0, 6), stage_width=48,
                                            height=48))
    return out


def test_synth_actors_writes_ava_rows(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_cli(capsys, "synth", str(tmp_path), "--actors", "2", "--classes", "2",
                           "--clips-per-class", "1", "--seconds", "2")
    assert code == 0 and "2-actor videos" in out
    rows = list(csv.reader(io.StringIO((tmp_path / "train.csv").read_text())))
    assert len(rows) == 2  # one key frame (t=1) x two actors
    for video, t, *box, action, person in rows:
        x1, y1, x2, y2 = map(float, box)
        assert video == "train_0000" and t == "1" and 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1
        assert action in ("1", "2") and person in ("0", "1")
    assert float(rows[0][4]) <= 0.5 <= float(rows[1][2])  # actor 0 on the left half, actor 1 on the right
    from slowfast_core.video.actions import class_names  # the default (pathways) task's first two classes

    assert (tmp_path / "actions.txt").read_text().splitlines() == class_names(2) == [
        "red disc plain still", "red disc plain ticking"]
    assert (tmp_path / "videos" / "train_0000.mkv").stat().st_size > 0


def test_predict_detect_jsonl_gives_each_person_a_steady_track(capsys: pytest.CaptureFixture[str],
                                                                actors_data: Path, tmp_path: Path) -> None:
    weights = save_detection_model(create_detection_model("slowfast_tiny_detection", seed=0,
                                                          categories=("a", "b"), input_size=48),
                                   tmp_path / "det.pyth")
    video = actors_data / "videos" / "val_0000.mkv"
    code, out, _ = run_cli(capsys, "predict", str(video), "--detect", "--weights", str(weights),
                           "--detector", "scene:2", "--jsonl", "--threshold", "0", "--annotate",
                           str(tmp_path / "ann.mp4"))
    assert code == 0
    windows = [json.loads(line) for line in out.splitlines()]
    assert len(windows) >= 2
    for w in windows:
        assert [p["track"] for p in w["people"]] == [1, 2]  # the same two people, same ids, every window
        left, right = (p["box"] for p in w["people"])
        assert left[2] <= 0.5 <= right[0]
        assert all(len(p["actions"]) >= 1 and 0 <= p["actions"][0]["prob"] <= 1 for p in w["people"])
    assert (tmp_path / "ann.mp4").stat().st_size > 0
    code, out, _ = run_cli(capsys, "predict", str(video), "--detect", "--weights", str(weights),
                           "--detector", "scene:2", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 2 * len(windows) and {r["track"] for r in rows} == {"1", "2"}
    code, _, err = run_cli(capsys, "predict", str(video), str(video), "--detect", "--weights", str(weights),
                           "--detector", "scene:2")
    cli_error(code, err, "--detect runs on one video at a time")


def test_train_and_evaluate_detect(capsys: pytest.CaptureFixture[str], actors_data: Path, tmp_path: Path) -> None:
    base = save_model(create_model("slowfast_tiny", num_classes=2, seed=0, input_size=48), tmp_path / "base.pyth")
    code, out, _ = run_cli(capsys, "train", str(actors_data), "--task", "detect", "--init", str(base),
                           "--out", str(tmp_path / "run"), "--epochs", "50", "--json")
    assert code == 0
    result = json.loads(out)
    assert 0.0 <= result["frame_map_gt"] <= 1.0 and result["val_boxes"] == 2 and result["train_boxes"] == 4
    code, out, _ = run_cli(capsys, "evaluate", "--task", "detect", result["checkpoint"], str(actors_data), "--json")
    assert code == 0 and json.loads(out)["frame_map_gt"] == pytest.approx(result["frame_map_gt"])
    # the reverse kinds: a detection checkpoint where a classifier is expected, a classifier for --task detect
    code, _, err = run_cli(capsys, "evaluate", result["checkpoint"], str(actors_data))
    cli_error(code, err, "per-person detection model", "--detect")
    code, _, err = run_cli(capsys, "evaluate", "--task", "detect", str(base), str(actors_data))
    cli_error(code, err, "whole-frame classifier, not a per-person detection model")
    code, _, err = run_cli(capsys, "train", str(actors_data), "--task", "detect", "--out", str(tmp_path / "x"))
    cli_error(code, err, "--task detect needs --init")


def test_malformed_ava_csv_is_one_line_naming_file_and_line(capsys: pytest.CaptureFixture[str], actors_data: Path,
                                                            tmp_path: Path) -> None:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(actors_data, data)
    lines = (data / "train.csv").read_text().splitlines()
    lines[2] = lines[2].replace(",1,", ",one,", 1)
    (data / "train.csv").write_text("\n".join(lines) + "\n")
    base = save_model(create_model("slowfast_tiny", num_classes=2, seed=0), tmp_path / "base.pyth")
    code, _, err = run_cli(capsys, "train", str(data), "--task", "detect", "--init", str(base),
                           "--out", str(tmp_path / "run"))
    cli_error(code, err, f"{data / 'train.csv'}:3: timestamp 'one' is not a number")
    assert not (tmp_path / "run").exists()  # nothing written for a dataset that could not be read


def test_predict_detect_refuses_a_classifier_arch_and_an_absent_person_detector(
        capsys: pytest.CaptureFixture[str], actors_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    video = actors_data / "videos" / "val_0000.mkv"
    code, _, err = run_cli(capsys, "predict", str(video), "--detect", "--arch", "slowfast_tiny")
    cli_error(code, err, "--arch slowfast_tiny is a classifier")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty cache: nothing downloaded here
    from slowfast_core.detect.torchvision_detector import TorchvisionPersonDetector

    with pytest.raises(WeightsError, match=r"FASTERRCNN_MOBILENET_V3_LARGE_320_FPN are not downloaded yet: copy "
                                           r"fasterrcnn_mobilenet_v3_large_320_fpn-\w+\.pth"):
        TorchvisionPersonDetector(device="cpu", download=False)


def test_zero_people_is_said_not_guessed(tmp_path: Path) -> None:
    model = create_detection_model("slowfast_tiny_detection", seed=0, categories=("a", "b"))
    step = PeopleStep(model, SceneBoxesDetector([], width=1, height=1))
    inputs = [np.zeros((1, 3, 4, 80, 120), np.float32), np.zeros((1, 3, 16, 80, 120), np.float32)]
    import torch

    result = step.run([torch.from_numpy(x) for x in inputs], np.zeros((80, 120, 3), np.uint8))
    assert result.people == () and result.probs.shape == (0, 2)
    items = layout_people(result.people, width=320, height=240, measure=CvTextMeasure())
    assert [getattr(i, "text", None) for i in items if hasattr(i, "text")] == [NOBODY]


def test_run_detect_streams_people_through_the_engine(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    weights = save_detection_model(create_detection_model("slowfast_tiny_detection", seed=0, categories=("a", "b"),
                                                          input_size=48), tmp_path / "det.pyth")
    out = tmp_path / "people.jsonl"
    code, _, err = run_cli(capsys, "run", "--detect", "--source", "synthetic:actions:0-3,actors=2", "--weights",
                           str(weights), "--detector", "scene:2", "--duration", "4", "--jsonl", str(out))
    assert code == 0, err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) >= 2
    for line in lines:
        assert [p["track"] for p in line["people"]] == [1, 2] and line["topk"] == []
        assert all("label" in p and "confidence" in p for p in line["people"])  # live: each person smoothed


def test_torchvision_person_detector_loads_from_the_cache_and_keeps_people_inside_the_frame(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real torchvision model, built with random weights and put in the cache as the download would."""
    import torch
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn

    from slowfast_core.detect.torchvision_detector import TorchvisionPersonDetector
    from slowfast_core.weights.detection_registry import cached_detection_path, get_detection_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    path = cached_detection_path(get_detection_weights("FASTERRCNN_MOBILENET_V3_LARGE_320_FPN"))
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None).state_dict(), path)
    detector = TorchvisionPersonDetector(device="cpu", min_score=0.0, download=False, backend="torch")
    frame = np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8)
    boxes = detector.detect(frame)
    assert all(0 <= b.x1 < b.x2 <= 200 and 0 <= b.y1 < b.y2 <= 120 and 0 <= b.score <= 1 for b in boxes)
    assert detector.name == "fasterrcnn_mobilenet_v3_large_320_fpn"


def test_mirrored_batch_keeps_each_box_on_its_pixels() -> None:
    import torch

    from slowfast_core.train.detect import flipped

    w = 20
    x = torch.zeros(1, 3, 2, 8, w)
    x[..., 2:5] = 1.0  # columns 2..4 lit, the box covers them
    boxes = torch.tensor([[0.0, 2.0, 1.0, 5.0, 7.0]])
    (fx,), fb = flipped([x], boxes)
    assert fb.tolist() == [[0.0, 15.0, 1.0, 18.0, 7.0]]  # x1' = w - x2, x2' = w - x1; batch index and y kept
    x1, x2 = int(fb[0, 1]), int(fb[0, 3])
    assert bool((fx[..., x1:x2] == 1.0).all()) and float(fx.sum()) == float(x.sum())


def test_end_to_end_training_moves_the_backbone_and_leaves_eval_mode(actors_data: Path, tmp_path: Path) -> None:
    import math

    import torch

    from slowfast_core.train.ava import load_ava_dataset
    from slowfast_core.train.detect import detection_from_classifier, train_end_to_end

    base = save_model(create_model("slowfast_tiny", num_classes=2, seed=0, input_size=48), tmp_path / "base.pyth")
    data = load_ava_dataset(actors_data)
    model = detection_from_classifier(str(base), data.categories)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss = train_end_to_end(model, data, epochs=2, batch_size=2)
    after = model.state_dict()
    assert math.isfinite(loss) and loss > 0 and not model.training
    stem = next(k for k in before if k.startswith("blocks.0.") and k.endswith("weight"))
    assert not torch.equal(before[stem], after[stem])  # the backbone learnt, not only the head
    stats = next(k for k in before if k.startswith("blocks.1.") and k.endswith("running_mean"))
    assert not torch.equal(before[stats], after[stats])  # batch norm ran in training mode


def test_the_same_seed_trains_the_same_detection_model(actors_data: Path, tmp_path: Path) -> None:
    # the end-to-end step starts from the fresh head's initial weights: drawn from an unseeded generator, two runs
    # with one seed trained two different models (and the live agreement a test measures moved from run to run)
    import torch

    from slowfast_core.train.detect import train_detection
    from slowfast_core.weights.detection import load_detection_checkpoint

    base = save_model(create_model("slowfast_tiny", num_classes=2, seed=0, input_size=48), tmp_path / "base.pyth")
    runs = [train_detection(actors_data, init=str(base), out=tmp_path / f"run{i}", epochs=5, seed=3,
                            end_to_end_epochs=1) for i in range(2)]
    first, second = (load_detection_checkpoint(r.checkpoint).state_dict() for r in runs)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert runs[0].frame_map_gt == runs[1].frame_map_gt
