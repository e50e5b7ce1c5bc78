"""Training data: synthetic actions, every dataset layout and its bad inputs, clip sampling and augmentation."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from slowfast_core.cli import main as cli_main
from slowfast_core.weights.api import create_model
from slowfast_core.video.file_windows import window_inputs
from slowfast_core.spec import ClipGeometry
from slowfast_core.train.clips import ClipDataset, ClipSampling, augment, clip_end_times, read_frames_at
from slowfast_core.train.data import BACKGROUND, DataError, Example, load_dataset
from slowfast_core.train.synth import SynthSettings, generate
from slowfast_core.video.actions import APPEARANCES, CLASS_ORDER, MOTIONS, class_names
from slowfast_core.video.decode import read_frames
from slowfast_core.video.preprocess import prepare_frame
from slowfast_core.video.scripted import ActionScriptSource
from slowfast_core.video.source_text import parse_source

SMALL = SynthSettings(classes=4, clips_per_class=3, eval_fraction=0.34, seconds=1.4, seed=3)


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate(out, SMALL)
    return out


def decoded(path: Path) -> np.ndarray:
    return np.stack([f.bgr for f in read_frames(path)])


# --------------------------------------------------------------------------------------------- synthetic


def test_synth_writes_the_exported_layout(synth: Path) -> None:
    label_map = json.loads((synth / "label_map.json").read_text())
    assert list(label_map) == class_names(4) and list(label_map.values()) == [0, 1, 2, 3]
    lines = (synth / "train.csv").read_text().splitlines()
    assert len(lines) == 4 * 3 and len((synth / "val.csv").read_text().splitlines()) == 4
    rel, label = lines[0].split()
    frames = decoded(synth / rel)
    assert frames.shape == (42, 128, 170, 3) and label == "0"


def test_synth_is_deterministic_by_seed(tmp_path: Path, synth: Path) -> None:
    again = tmp_path / "again"
    generate(again, SMALL)
    rel = (synth / "train.csv").read_text().split()[0]
    np.testing.assert_array_equal(decoded(synth / rel), decoded(again / rel))
    other = tmp_path / "other"
    generate(other, SynthSettings(classes=1, clips_per_class=1, seconds=1.4, seed=4))
    assert np.abs(decoded(other / rel).astype(int) - decoded(synth / rel).astype(int)).mean() > 5


@pytest.mark.parametrize("n", [4, 8, 12, 16])
def test_synthetic_classes_need_appearance_and_motion(n: int) -> None:
    pairs = CLASS_ORDER[:n]
    for a in {a for a, _ in pairs}:
        assert sum(1 for x, _ in pairs if x == a) >= 2  # an appearance alone never names a class
    for m in {m for _, m in pairs}:
        assert sum(1 for _, y in pairs if y == m) >= 2  # nor a motion alone
    first, last = set(CLASS_ORDER[:8]), set(CLASS_ORDER[8:])
    assert {a for a, _ in first} == {a for a, _ in last} == set(range(len(APPEARANCES)))
    assert {m for _, m in first} == {m for _, m in last} == set(range(len(MOTIONS)))


def test_shaking_is_too_fast_for_the_slow_pathway_but_not_for_fast() -> None:
    """Shaking (7.5 Hz) moves the object between consecutive Fast frames; swaying barely does."""
    from slowfast_core.video.actions import make_scene, object_position

    rng = np.random.default_rng(0)
    shake, sway = make_scene(8, rng, task="shapes"), make_scene(9, rng, task="shapes")  # red disc shaking / swaying
    step = lambda s: abs(object_position(s, 2 / 30)[0] - object_position(s, 0)[0]) + abs(
        object_position(s, 4 / 30)[0] - object_position(s, 2 / 30)[0])
    assert step(shake) > 4 * step(sway)


def test_scripted_actor_performs_its_script() -> None:
    src = ActionScriptSource([(8, 1.0), (13, 0.5)], width=96, height=64, paced=False, frames=60, task="shapes")
    truth = src.script_labels(passes=2)
    assert [(a.label, a.start, a.end) for a in truth[:3]] == [
        ("red disc shaking", 0.0, 1.0), ("green triangle falling", 1.0, 1.5), ("red disc shaking", 1.5, 2.5)]
    assert src.label_at(0.2) == "red disc shaking" and src.label_at(1.2) == "green triangle falling"
    with src:
        frames = list(src.frames())
    assert len(frames) == 60 and frames[0].image.shape == (64, 96, 3)
    assert [src.frame_number(f.image) for f in frames[:5]] == [0, 1, 2, 3, 4]
    scripted = parse_source("synthetic:actions:8-15", realtime=False)
    assert sorted(c for c, _ in scripted.script) == list(range(8, 16))


# ---------------------------------------------------------------------------------------------- layouts


def test_csv_layout_with_label_map(synth: Path) -> None:
    data = load_dataset([synth])
    assert data.categories == class_names(4)
    assert data.counts("train") == [3, 3, 3, 3] and len(data.val) == 4 and len(data.test) == 4
    assert all(ex.path.is_file() for ex in data.train)


def test_csv_layout_with_label_names(tmp_path: Path, synth: Path) -> None:
    names = class_names(4)
    rows = [line.split() for line in (synth / "train.csv").read_text().splitlines()]
    (tmp_path / "train.csv").write_text("".join(f"{synth / p} {names[int(i)].replace(' ', '_')}\n" for p, i in rows))
    data = load_dataset([tmp_path])
    assert data.categories == [n.replace(" ", "_") for n in names] and data.counts() == [3, 3, 3, 3]


def test_class_folders_split_by_val_fraction(tmp_path: Path, synth: Path) -> None:
    for p, i in (line.split() for line in (synth / "train.csv").read_text().splitlines()):
        folder = tmp_path / f"class_{i}"
        folder.mkdir(exist_ok=True)
        shutil.copy(synth / p, folder / Path(p).name)
    data = load_dataset([tmp_path], val_fraction=0.34, seed=1)
    assert data.categories == ["class_0", "class_1", "class_2", "class_3"]
    assert data.counts("train") == [2, 2, 2, 2] and data.counts("val") == [1, 1, 1, 1]
    assert not {ex.path for ex in data.train} & {ex.path for ex in data.val}


@pytest.mark.parametrize("case, message", [
    ("empty", "has no class folders"),
    ("no_train_example", "have no training example"),
    ("unknown_val_label", "that train.csv never uses"),
    ("bad_line", "train.csv:2: expected 'path label'"),
    ("id_out_of_range", "train.csv:1: label id 7 is not in label_map.json"),
])
def test_bad_datasets_are_one_line_errors(tmp_path: Path, synth: Path, case: str, message: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Each bad dataset is a DataError naming the line or folder, and `slowfast train` says it in one line with
    exit code 2. One case runs the command in a real process (its exit code and stderr as a shell sees them);
    the others call the same entry point in-process (a fresh Python importing torch is ~3 s each)."""
    clip = (synth / "train.csv").read_text().split()[0]
    root = tmp_path / "data"
    root.mkdir()
    label_map = {"a": 0, "b": 1}
    if case == "no_train_example":
        (root / "train.csv").write_text(f"{synth / clip} 0\n")
    elif case == "unknown_val_label":
        (root / "train.csv").write_text(f"{synth / clip} 0\n{synth / clip} 0\n")
        (root / "val.csv").write_text(f"{synth / clip} 1\n")
        label_map = {"a": 0}
        (root / "label_map.json").write_text(json.dumps({"a": 0, "b": 1}))
    elif case == "bad_line":
        (root / "train.csv").write_text(f"{synth / clip} 0\njust-one-field\n")
    elif case == "id_out_of_range":
        (root / "train.csv").write_text(f"{synth / clip} 7\n")
    if case not in ("empty", "unknown_val_label"):
        (root / "label_map.json").write_text(json.dumps(label_map))
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        load_dataset([root])
    argv = ["train", str(root), "--out", str(tmp_path / "r")]
    if case == "bad_line":
        result = subprocess.run([sys.executable, "-m", "slowfast_core.cli", *argv], capture_output=True, text=True,
                                timeout=120)
        code, err = result.returncode, result.stderr
    else:
        code, err = cli_main(argv), capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0 and err.startswith("slowfast: error:") and message in err
    assert "Traceback" not in err
    assert not (tmp_path / "r").exists()  # no run folder, checkpoint or log for a dataset that cannot be read


def _record_session(root: Path, name: str, marks: list[tuple[str, float, float]], seconds: float) -> Path:
    from slowfast_core.sessions.recorder import SessionRecorder
    from slowfast_core.stream.types import FramePacket

    src = ActionScriptSource([(0, 1.0), (3, 1.0)], width=96, height=64, paced=False)
    rec = SessionRecorder.start(root, name=name, labels=sorted({m[0] for m in marks}), source="synthetic", fps=30.0,
                                width=96, height=64, model="tiny", min_free_bytes=0, queue_seconds=30.0)
    for i in range(int(seconds * 30)):
        rec.on_frame(FramePacket(index=i, timestamp=10.0 + i / 30, image=src.render(i), source_fps=30.0))
    for label, start, end in marks:
        rec.mark(label, at=10.0 + start)
        rec.end_mark(at=10.0 + end)
    return rec.stop().path


def test_sessions_give_segments_background_and_a_split_by_session(tmp_path: Path) -> None:
    root = tmp_path / "sessions"
    a = _record_session(root, "a", [("wave", 0.0, 1.0), ("clap", 2.0, 3.0)], 6.0)
    b = _record_session(root, "b", [("clap", 0.5, 1.5)], 3.0)
    data = load_dataset([root], val_fraction=0.3, seed=0)
    assert data.categories == ["wave", "clap", BACKGROUND] or data.categories == ["clap", "wave", BACKGROUND]
    groups_train = {ex.group for ex in data.train}
    groups_val = {ex.group for ex in data.val}
    assert groups_train and groups_val and not groups_train & groups_val  # whole sessions on each side
    spans = [(ex.start, ex.end) for ex in data.train + data.val if ex.label == data.categories.index(BACKGROUND)]
    labeled = {a.name: [(0.0, 1.0), (2.0, 3.0)], b.name: [(0.5, 1.5)]}
    for ex in data.train + data.val:
        if ex.label == data.categories.index(BACKGROUND):
            assert all(ex.end <= s + 1e-6 or ex.start >= e - 1e-6 for s, e in labeled[ex.group])
    assert spans
    one = load_dataset([a], background=False)
    assert BACKGROUND not in one.categories and any("split by segment" in n for n in one.notes)


def test_sessions_without_labels_are_one_line_errors(tmp_path: Path) -> None:
    root = tmp_path / "sessions"
    _record_session(root, "nothing", [], 2.0)
    with pytest.raises(DataError, match="no labeled segment"):
        load_dataset([root])


# ------------------------------------------------------------------------------------- sampling, augment


def test_augmentation_shapes_and_ranges(synth: Path) -> None:
    model = create_model("slowfast_tiny", num_classes=4)
    sampling = ClipSampling.for_model(model.config.geometry, model.meta.preprocessing)
    assert (sampling.scale, sampling.crop) == ((80, 100), 70)
    frames = np.random.default_rng(0).integers(0, 256, size=(5, 128, 170, 3), dtype=np.uint8)
    same_again = set()
    for seed in range(12):
        out = augment(frames, np.random.default_rng(seed), sampling)
        assert out.shape == (5, 70, 70, 3) and out.dtype == np.uint8
        same_again.add(out.tobytes() == augment(frames, np.random.default_rng(seed), sampling).tobytes())
    assert same_again == {True}  # a pure function of the generator
    item, label, index = ClipDataset(load_dataset([synth]).train, sampling, mode="train", seed=1)[(2, 5)]
    assert [tuple(t.shape) for t in item] == [(3, 4, 70, 70), (3, 16, 70, 70)] and label == 1 and index == 5
    assert item[1].min() >= (0 - 0.45) / 0.225 - 1e-5 and item[1].max() <= (1 - 0.45) / 0.225 + 1e-5
    again, _, _ = ClipDataset(load_dataset([synth]).train, sampling, mode="train", seed=1)[(2, 5)]
    other, _, _ = ClipDataset(load_dataset([synth]).train, sampling, mode="train", seed=1)[(3, 5)]
    assert torch.equal(item[1], again[1]) and not torch.equal(item[1], other[1])


def test_augment_flips_about_half_of_the_clips_and_never_when_told_not_to() -> None:
    """With the scale fixed at the frames' short side and the crop the whole frame, a clip comes back either as
    it was or mirrored left-right (every frame alike): count which, over many draws."""
    model = create_model("slowfast_tiny", num_classes=4)
    frames = np.random.default_rng(0).integers(0, 256, size=(3, 64, 64, 3), dtype=np.uint8)
    mirrored = frames[:, :, ::-1]
    for flip in (True, False):
        sampling = ClipSampling(model.config.geometry, model.meta.preprocessing, (64, 64), 64, flip)
        flips = 0
        for seed in range(40):
            out = augment(frames, np.random.default_rng(seed), sampling)
            assert np.array_equal(out, frames) or np.array_equal(out, mirrored)
            flips += int(np.array_equal(out, mirrored))
        assert (10 <= flips <= 30) if flip else flips == 0, flips


def test_train_sampling_is_inference_sampling(synth: Path) -> None:
    """The centre clip of the training data equals the live/predict window at the same end time."""
    model = create_model("slowfast_tiny", num_classes=4)
    geometry, prep = model.config.geometry, model.meta.preprocessing
    example = load_dataset([synth]).val[0]
    ours, _, _ = ClipDataset([example], ClipSampling.for_model(geometry, prep), mode="center")[0]
    decoded_frames = list(read_frames(example.path))
    times = np.array([f.timestamp for f in decoded_frames])
    (end,) = clip_end_times(times, geometry, mode="center")
    prepared = [prepare_frame(f.bgr, prep.short_side) for f in decoded_frames]
    theirs, _ = window_inputs(prepared, times, end, geometry, prep)
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b.squeeze(0))


def test_train_clips_are_random_windows_inside_the_span(synth: Path) -> None:
    example = load_dataset([synth]).train[0]
    geometry = ClipGeometry(4, 8, 4)
    ends = set()
    for seed in range(6):
        frames, clips = read_frames_at(Example(example.path, 0, start=0.2, end=1.3), geometry, mode="train",
                                       rng=np.random.default_rng(seed))
        assert len(clips) == 1 and [len(i) for i in clips[0]] == [4, 16]
        ends.add(frames[clips[0][1][-1]].tobytes())  # the clip's last Fast frame
    assert len(ends) > 1  # temporal jitter
