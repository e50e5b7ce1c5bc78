"""`slowfast predict` / `slowfast demo` and the offline window pipeline in slowfast_core.predict.

Models are real (slowfast_8x8_r50, random weights) at short side 112 on the torch-eager backend, so a window
costs well under a second; the default backend ('auto') is exercised by the demo test.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from slowfast_core import create_model
from slowfast_core.backends.base import create_backend
from slowfast_core.commands.demo import write_synthetic_clip
from slowfast_core.errors import ConfigError
from slowfast_core.predict import predict_file, predict_frames
from slowfast_core.video.file_windows import iter_windows, window_inputs
from slowfast_core.spec import ClipGeometry, Preprocessing
from slowfast_core.video.decode import VideoReader
from slowfast_core.video.preprocess import pathway_tensors, prepare_frame
from slowfast_core.video.sampling import sample_window
from slowfast_core.video.windows import WindowClock, default_stride, parse_stride, window_end_times

from helpers.cli import run_cli
from helpers.errors import cli_error

G88 = ClipGeometry(slow_frames=8, tau=8, alpha=4)  # window: 64 frames at 30 fps
SMALL = Preprocessing(short_side=32, crop="center")  # windowing tests need no model: tiny frames
FAST = ["--size", "112", "--backend", "torch-eager", "--device", "cpu"]


@pytest.fixture(scope="module")
def model():
    return create_model("slowfast_8x8_r50")


@pytest.fixture(scope="module")
def backend(model):
    return create_backend(model, backend="torch-eager", device="cpu")


@pytest.fixture(scope="module")
def clip30(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "shapes30.mp4"
    write_synthetic_clip(path, seconds=3.0, fps=30, width=160, height=120)  # 90 frames
    return path


@pytest.fixture(scope="module")
def clip25(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "shapes25.avi"
    write_synthetic_clip(path, seconds=4.0, fps=25, width=160, height=120)  # 100 frames
    return path


def _assert_one_line_error(code: int, err: str, *needles: str) -> None:
    cli_error(code, err, *needles)


# --- stride and window times -------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [("16f", 16 / 30), ("32f", 32 / 30), ("0.5s", 0.5), ("0.5", 0.5),
                                               ("2", 2.0), (" 1.5 s ", 1.5), ("1e-1", 0.1)])
def test_parse_stride(text: str, seconds: float) -> None:
    assert parse_stride(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "0", "0f", "-1", "1x", "nan", "inf", "f"])
def test_parse_stride_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="stride"):
        parse_stride(text)


def test_default_stride_is_half_a_window() -> None:
    assert default_stride(G88) == pytest.approx(32 / 30)


def test_window_end_times_30fps() -> None:
    ts = np.arange(90) / 30.0  # 3 s
    stride = 32 / 30
    # first window ends at frame 63; the next would end at 95 > 89, so a tail window ends at the last frame
    np.testing.assert_allclose(window_end_times(ts, G88, stride), [63 / 30, 89 / 30])
    np.testing.assert_allclose(window_end_times(ts, G88, stride, tail=False), [63 / 30])
    np.testing.assert_allclose(window_end_times(ts, G88, stride, final=False), [63 / 30])
    ts = np.arange(128) / 30.0  # 63, 95, 127: the stride lands on the last frame, no tail needed
    np.testing.assert_allclose(window_end_times(ts, G88, stride), [63 / 30, 95 / 30, 127 / 30])


def test_window_end_times_25fps_and_offset_start() -> None:
    ts = 10.0 + np.arange(100) / 25.0  # timestamps need not start at 0 (a live source's clock)
    ends = window_end_times(ts, G88, 0.5)
    np.testing.assert_allclose(ends[:3] - 10.0, [63 / 30, 63 / 30 + 0.5, 63 / 30 + 1.0])
    assert ends[-1] == pytest.approx(ts[-1])  # tail window at the last frame
    assert np.all(np.diff(ends) > 0)


def test_window_end_times_short_clip_gives_one_padded_window() -> None:
    ts = np.arange(20) / 30.0
    np.testing.assert_allclose(window_end_times(ts, G88, 1.0), [63 / 30])
    assert len(window_end_times(ts, G88, 1.0, final=False)) == 0  # live: not complete yet


def test_window_end_times_rejects_bad_input() -> None:
    with pytest.raises(ConfigError):
        window_end_times(np.array([]), G88, 1.0)
    with pytest.raises(ConfigError, match="stride"):
        window_end_times(np.arange(10) / 30, G88, 0.0)


def test_window_clock_is_incremental() -> None:
    """Feeding timestamps one by one gives the same ends as the whole-array function (what the engine does)."""
    ts = np.arange(200) / 24.0
    clock = WindowClock(geometry=G88, stride=0.4, start_time=ts[0])
    ends: list[float] = []
    for t in ts:
        ends += clock.due(t)
        assert clock.next_end > t  # nothing due is left behind
    ends += clock.finish(ts[-1])
    np.testing.assert_allclose(ends, window_end_times(ts, G88, 0.4))


# --- windows over decoded frames ---------------------------------------------------------------------


def _decoded(path: Path) -> list:
    with VideoReader(path) as video:
        return list(video.frames())


def test_windows_30fps_spans_and_frames(clip30: Path) -> None:
    windows = list(iter_windows(iter(_decoded(clip30)), geometry=G88, prep=SMALL))
    assert [w.span.number for w in windows] == [0, 1]
    first, tail = (w.span for w in windows)
    assert (first.start, first.end) == pytest.approx((0.0, 64 / 30))
    assert (first.first_frame, first.last_frame) == (0, 63)
    assert (tail.first_frame, tail.last_frame) == (26, 89)  # the tail window ends at the last frame
    assert tail.end - tail.start == pytest.approx(64 / 30) and not tail.padded
    slow, fast = windows[0].inputs
    assert slow.shape == (1, 3, 8, 32, 32) and fast.shape == (1, 3, 32, 32, 32)
    assert slow.dtype == torch.float32


def test_windows_25fps_span_window_seconds_and_use_frame_times(clip25: Path) -> None:
    windows = list(iter_windows(iter(_decoded(clip25)), geometry=G88, prep=SMALL, stride=0.5))
    spans = [w.span for w in windows]
    for s in spans:
        assert s.end - s.start == pytest.approx(64 / 30)  # a window spans 64 frames *at 30 fps*
    assert [s.start for s in spans[:3]] == pytest.approx([0.0, 0.5, 1.0])
    # last grid instant 63/30 = 2.1 s lies between frames 52 (2.08 s) and 53 (2.12 s): the tie goes earlier
    assert (spans[0].first_frame, spans[0].last_frame) == (0, 52)
    # window 1 ends at 2.6 s = frame 65 exactly; it starts at 0.5 s = frame 12.5 -> nearest 12 (tie, earlier)
    assert (spans[1].first_frame, spans[1].last_frame) == (12, 65)
    assert spans[-1].last_frame == 99


def test_window_tensors_equal_direct_sampling(clip25: Path) -> None:
    """The bounded store + gather gives exactly the tensors of sampling the whole decoded file."""
    frames = _decoded(clip25)
    prep = Preprocessing(short_side=48, crop="center")
    everything = np.stack([prepare_frame(f.bgr, prep.short_side) for f in frames])  # (N, H, W, 3)
    ts = np.array([f.timestamp for f in frames])
    windows = list(iter_windows(iter(frames), geometry=G88, prep=prep, stride=0.7))
    assert len(windows) >= 3
    for window in windows:
        expected = pathway_tensors(everything, sample_window(ts, window.span.end_time, G88), prep)
        for ours, ref in zip(window.inputs, expected):
            assert torch.equal(ours, ref)


def test_window_inputs_gathers_only_used_frames() -> None:
    frames = [np.full((40, 40, 3), i, np.uint8) for i in range(70)]  # frame i has value i everywhere
    ts = np.arange(70) / 30.0
    prep = Preprocessing(short_side=32, mean=(0.0,) * 3, std=(1.0,) * 3)
    inputs, cut = window_inputs(frames, ts, 63 / 30, G88, prep)
    assert len(cut.frames) == len(cut.positions) <= 32  # each frame the pathways take, copied once
    indices = [cut.positions[p] for p in cut.pathway_indices]  # per pathway, indices into `frames`
    np.testing.assert_array_equal(indices[1], np.linspace(0, 63, 32, dtype=np.float32).astype(int))
    for tensor, idx in zip(inputs, indices):
        values = tensor[0, 0, :, 0, 0] * 255.0  # (T_p,) the frame value at one pixel
        np.testing.assert_allclose(values.numpy(), idx, atol=1e-4)


def test_memory_is_bounded_on_a_long_file(tmp_path: Path) -> None:
    clip = tmp_path / "long.avi"
    n = write_synthetic_clip(clip, seconds=12.0, fps=30, width=64, height=48)  # 360 frames
    stats: dict[str, int] = {}
    stride = 16 / 30
    windows = list(iter_windows(iter(_decoded(clip)), geometry=G88, prep=SMALL, stride=stride, store_stats=stats))
    assert len(windows) == 1 + (n - 64) // 16 + 1  # regular windows + the tail
    # one window plus one stride of frames (plus the frame before the window's first instant)
    assert stats["peak_frames"] <= 64 + 16 + 1 < n


def test_short_clip_is_padded_with_its_last_frame(tmp_path: Path) -> None:
    clip = tmp_path / "short.mp4"
    n = write_synthetic_clip(clip, seconds=0.5, fps=30, width=64, height=48)  # 15 frames < 64
    prep = Preprocessing(short_side=48, crop="full", mean=(0.0,) * 3, std=(1.0,) * 3)
    (window,) = list(iter_windows(iter(_decoded(clip)), geometry=G88, prep=prep))
    assert window.span.padded and (window.span.first_frame, window.span.last_frame) == (0, n - 1)
    assert (window.span.start, window.span.end) == pytest.approx((0.0, 64 / 30))
    last = torch.from_numpy(prepare_frame(_decoded(clip)[-1].bgr, 48)).permute(2, 0, 1).float() / 255.0
    fast = window.inputs[1][0]  # (3, 32, H, W)
    grid_idx = np.linspace(0, 63, 32, dtype=np.float32).astype(int)  # fast frames' positions on the 64-grid
    for k in np.nonzero(grid_idx >= n - 1)[0]:  # grid instants at/after the last frame repeat it
        assert torch.allclose(fast[:, k], last, atol=1e-6)
    assert not torch.allclose(fast[:, 0], last, atol=1e-2)  # the first frame is a different image


# --- with the model ----------------------------------------------------------------------------------


def test_predict_frames_topk(clip30: Path, backend) -> None:
    prep = Preprocessing(short_side=112)
    preds = list(predict_frames(iter(_decoded(clip30)), backend=backend, topk=3, preprocessing=prep))
    assert len(preds) == 2
    categories = backend.model.meta.categories
    assert len(categories) == 400 and categories[0] == "abseiling"  # Kinetics-400 names
    for p in preds:
        assert len(p.topk) == 3 and p.probs.shape == (400,)
        assert p.probs.sum() == pytest.approx(1.0, abs=1e-4)
        probs = [prob for _, prob in p.topk]
        assert probs == sorted(probs, reverse=True)
        assert p.topk[0] == (categories[int(p.probs.argmax())], pytest.approx(float(p.probs.max())))
    with pytest.raises(ConfigError, match="topk"):
        next(predict_frames(iter(_decoded(clip30)), backend=backend, topk=0))


def test_predict_file_api(clip25: Path, model) -> None:
    preds = predict_file(clip25, model=model, backend="torch-eager", device="cpu", stride=2.5, topk=2,
                         short_side=112)
    assert [round(p.span.start, 6) for p in preds] == [0.0, 1.86]  # ends 2.1, then the tail at 3.96
    assert preds[-1].span.last_frame == 99 and not any(p.span.padded for p in preds)


# --- the CLI -----------------------------------------------------------------------------------------


def test_cli_text_output(clip30: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "predict", str(clip30), *FAST, "--topk", "3")
    assert code == 0, err
    assert "untrained — predictions are meaningless" in err
    lines = out.splitlines()
    assert lines[0].startswith("shapes30.mp4: 160x120, 30.00 fps, 90 frames")
    window_lines = [line for line in lines if " s  frames " in line]
    assert len(window_lines) == 2
    assert window_lines[0].split()[:4] == ["0.00-2.13", "s", "frames", "0-63"]
    assert window_lines[0].count("%") == 3
    assert lines[-1] == "2 windows from 90 frames"


def test_cli_jsonl_lines(clip25: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "predict", str(clip25), *FAST, "--jsonl", "--stride", "60f")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]  # every stdout line is JSON: no headers mixed in
    assert [r["window"] for r in rows] == [0, 1]
    # ends 2.1 s; 4.1 s is past the end, so the tail window ends at the last frame (99 / 25 = 3.96 s)
    assert [r["start"] for r in rows] == pytest.approx([0.0, 3.96 - 2.1])
    for r in rows:
        assert r["end"] - r["start"] == pytest.approx(64 / 30, abs=1e-5)
        assert set(r) == {"window", "start", "end", "first_frame", "last_frame", "padded", "topk"}
        assert len(r["topk"]) == 5 and all(set(t) == {"label", "prob"} for t in r["topk"])
        assert 0.0 <= r["topk"][-1]["prob"] <= r["topk"][0]["prob"] <= 1.0
    assert rows[-1]["last_frame"] == 99


def test_cli_csv(clip30: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "predict", str(clip30), *FAST, "--csv", "--topk", "2", "--stride", "2s")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["window", "start", "end", "first_frame", "last_frame", "padded",
                             "label_1", "prob_1", "label_2", "prob_2"]
    # ends at 2.1 s; 4.1 s is past the last frame (2.967 s), so the tail window ends there
    assert [float(r["start"]) for r in rows] == pytest.approx([0.0, 26 / 30], abs=1e-6)
    assert [int(r["last_frame"]) for r in rows] == [63, 89]
    assert all(float(r["prob_1"]) >= float(r["prob_2"]) for r in rows)
    assert rows[0]["padded"] == "False"


def test_cli_short_clip_says_padded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = tmp_path / "short.avi"
    write_synthetic_clip(clip, seconds=1.0, fps=30, width=160, height=120)
    code, out, err = run_cli(capsys, "predict", str(clip), *FAST)
    assert code == 0, err
    assert "padded: the clip is 1.00 s, shorter than one 2.13 s window" in out
    assert out.splitlines()[-1] == "1 window from 30 frames"


def test_cli_cut_file_gives_partial_result_with_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full = tmp_path / "full.avi"
    n = write_synthetic_clip(full, seconds=5.0, fps=30, width=160, height=120)
    data = full.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    code, out, err = run_cli(capsys, "predict", str(cut), *FAST, "--jsonl", "--stride", "100")
    assert code == 0 and "Traceback" not in err
    assert "cut short" in err and f"of the {n} frames" in err
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows and rows[-1]["last_frame"] < n // 2 + 10  # only the decoded first half


@pytest.mark.parametrize("kind", ["missing", "text", "zero_avi", "zero_mp4", "cut_mp4", "folder"])
def test_cli_bad_video_is_one_line_error(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import cv2

    path = tmp_path / f"{kind}.{'avi' if kind == 'zero_avi' else 'mp4'}"
    if kind == "text":
        path.write_text("not a video\n" * 100)
    elif kind in ("zero_avi", "zero_mp4"):
        cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 48)).release()
    elif kind == "cut_mp4":
        full = tmp_path / "full.mp4"
        write_synthetic_clip(full, seconds=1.0, fps=30, width=64, height=48)
        path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    elif kind == "folder":
        path.mkdir()
    code, out, err = run_cli(capsys, "predict", str(path), *FAST)
    _assert_one_line_error(code, err, str(path))
    assert out == ""


def test_cli_unreadable_weights(clip30: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.pyth"
    bad.write_bytes(b"this is not a checkpoint" * 10)
    code, _, err = run_cli(capsys, "predict", str(clip30), *FAST, "--weights", str(bad))
    _assert_one_line_error(code, err, str(bad))
    code, _, err = run_cli(capsys, "predict", str(clip30), *FAST, "--weights", str(bad), "--arch", "slowfast_8x8_r50")
    _assert_one_line_error(code, err, str(bad))
    missing = tmp_path / "nope" / "missing.pyth"
    code, _, err = run_cli(capsys, "predict", str(clip30), *FAST, "--weights", str(missing))
    _assert_one_line_error(code, err, "missing.pyth")
    code, _, err = run_cli(capsys, "predict", str(clip30), *FAST, "--weights", "NO_SUCH_WEIGHTS")
    _assert_one_line_error(code, err, "NO_SUCH_WEIGHTS")


def test_cli_loads_a_checkpoint_file(tmp_path: Path, model, capsys: pytest.CaptureFixture[str]) -> None:
    """A PyTorchVideo-style checkpoint file: architecture detected, no 'untrained' warning, its predictions."""
    clip = tmp_path / "short.mp4"
    write_synthetic_clip(clip, seconds=1.0, fps=30, width=160, height=120)  # one window
    ckpt = tmp_path / "mine.pyth"
    torch.save({"model_state": model.state_dict()}, ckpt)
    code, out, err = run_cli(capsys, "predict", str(clip), *FAST, "--jsonl", "--topk", "2", "--weights", str(ckpt))
    assert code == 0, err
    assert "untrained" not in err
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert row["padded"] is True and row["last_frame"] == 29  # 30 frames < a 64-frame window
    # the fixture model's answer (a fresh random model would give other labels and probabilities)
    (expected,) = predict_file(clip, model=model, backend="torch-eager", device="cpu", topk=2, short_side=112)
    assert [t["label"] for t in row["topk"]] == [label for label, _ in expected.topk]
    assert [t["prob"] for t in row["topk"]] == pytest.approx([p for _, p in expected.topk], abs=1e-4)


def test_cli_crop_full_feeds_the_whole_frame(clip30: Path, checkpoint_8x8: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """`--crop full`: the model sees the whole 160x120 frame at short side 112 (112x149), not the centre 112².
    The first window is computed here by hand from the decoded frames and compared with what the CLI says."""
    from slowfast_core.weights.checkpoint import load_checkpoint

    args = [str(clip30), *FAST, "--jsonl", "--topk", "5", "--stride", "100", "--weights", str(checkpoint_8x8)]
    code, out, err = run_cli(capsys, "predict", *args, "--crop", "full")
    assert code == 0, err
    full = json.loads(out.splitlines()[0])
    assert (full["first_frame"], full["last_frame"]) == (0, 63)  # 30 fps: frames 0..63 are the first window
    # by hand: the anchors' linspace over the 64 frames, RGB resized to 112x149, /255, -0.45, /0.225
    frames = _decoded(clip30)
    fast_idx = np.linspace(0, 63, 32).astype(int)
    slow_idx = fast_idx[np.linspace(0, 31, 8).astype(int)]
    rgb = np.stack([prepare_frame(f.bgr, 112) for f in frames[:64]]).astype(np.float32)  # (64, 112, 149, 3)
    assert rgb.shape[1:] == (112, 149, 3)
    x = (rgb / 255.0 - 0.45) / 0.225

    def pathway(idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x[idx].transpose(3, 0, 1, 2)))[None]  # (1, 3, T, 112, 149)

    model = load_checkpoint(checkpoint_8x8)
    with torch.inference_mode():
        probs = torch.softmax(model([pathway(slow_idx), pathway(fast_idx)]), -1)[0].numpy()  # (400,)
    top = np.argsort(-probs)[:5]
    assert [t["label"] for t in full["topk"]] == [model.meta.categories[i] for i in top]
    np.testing.assert_allclose([t["prob"] for t in full["topk"]], probs[top], atol=1e-4)
    # the centre crop sees less of the frame and answers otherwise: the option is not ignored
    code, out, err = run_cli(capsys, "predict", *args)
    assert code == 0, err
    center = json.loads(out.splitlines()[0])
    assert max(abs(a["prob"] - b["prob"]) for a, b in zip(center["topk"], full["topk"])) > 1e-3 or \
        [t["label"] for t in center["topk"]] != [t["label"] for t in full["topk"]]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--stride", "fast"], "stride"),
        (["--stride", "0"], "stride"),
        (["--size", "16"], "short side"),
        (["--topk", "0"], "topk"),
        (["--device", "tpu"], "device"),
        (["--backend", "nonesuch"], "backend"),
    ],
)
def test_cli_bad_options(args: list[str], needle: str, clip30: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "predict", str(clip30), "--size", "112", *args)
    _assert_one_line_error(code, err, needle)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present here")
def test_cli_cuda_without_gpu(clip30: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "predict", str(clip30), "--size", "112", "--device", "cuda")
    _assert_one_line_error(code, err, "CUDA")


@pytest.mark.parametrize(
    ("name", "fps", "first_window_last_frame"),
    [
        ("demo.mp4", 28.0, 59),  # 2.1 s * 28 = 58.8 -> frame 59
        ("test.avi", 25.0, 52),  # 2.1 s * 25 = 52.5 -> tie, the earlier frame
        ("demo_skeleton.mp4", 28.05, 59),  # 1920x1080
    ],
)
def test_cli_real_clips(name: str, fps: float, first_window_last_frame: int, realvideo: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    path = realvideo / name
    code, out, err = run_cli(capsys, "predict", str(path), *FAST, "--jsonl", "--stride", "100", "--topk", "3")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows[0]["first_frame"] == 0 and rows[0]["last_frame"] == first_window_last_frame
    with VideoReader(path) as video:
        count = video.info.frame_count
    assert len(rows) == 2 and rows[-1]["last_frame"] == count - 1  # the tail window reaches the end of the file
    assert all(r["end"] - r["start"] == pytest.approx(64 / 30, abs=1e-5) for r in rows)


def test_demo_command(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        code, out, err = run_cli(capsys, "demo", "--size", "112", "--seconds", "2.5", "--device", "cpu",
                               "--backend", "torch-eager")  # 'auto' may pick OpenVINO: a slow conversion
    assert code == 0, err
    assert "writing a 2.5 s synthetic clip" in out and "75 frames written" in out
    assert "0.00-2.13 s  frames 0-63" in out
    assert "--weights SLOWFAST_8x8_R50" in out
    assert "untrained" in err
