"""Action segments: the live smoothing over windows, merged into (label, start, end, confidence), against a
scripted actor whose actions and times are known; `slowfast predict --segments` and its subtitles end to end
with a real model that recognises the actor; the Sessions window's timeline is the same segments."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from slowfast_core.cli import main
from slowfast_core.model.builder import with_classes
from slowfast_core.video.file_windows import iter_windows
from slowfast_core.records import PredictionRecord
from slowfast_core.segments import (
    ActionSegment,
    SmoothingSettings,
    action_segments,
    format_time,
    segments_from_windows,
)
from slowfast_core.spec import ClipGeometry, Preprocessing
from slowfast_core.subtitles import srt_text, vtt_text
from slowfast_core.video.actions import class_name
from slowfast_core.video.scripted import ActionScriptSource

#: red disc rising, green triangle swaying, blue square falling: 2 s each (distinct shapes and colours; the
#: shapes task, whose scenes these tests were set on)
SCRIPT = [(0, 2.0), (5, 2.0), (3, 2.0)]
TASK = "shapes"
FPS = 30.0
TINY = ClipGeometry(slow_frames=4, tau=8, alpha=4)  # slowfast_tiny: 32-frame (1.07 s) windows


def scripted_frames(seconds: float, *, seed: int = 1, size: tuple[int, int] = (112, 84)):
    """(index, time, BGR frame) of the scripted actor performing SCRIPT, as a decoder yields them."""
    actor = ActionScriptSource(SCRIPT, width=size[0], height=size[1], fps=FPS, paced=False, seed=seed, task=TASK)
    for i in range(int(round(seconds * FPS))):
        yield i, i / FPS, cv2.cvtColor(actor.render(i), cv2.COLOR_RGB2BGR)


def write_scripted_clip(path: Path, seconds: float = 6.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (112, 84))
    for _, _, bgr in scripted_frames(seconds):
        writer.write(bgr)
    writer.release()
    return path


def truth() -> list[tuple[str, float, float]]:
    actor = ActionScriptSource(SCRIPT, width=64, height=48, fps=FPS, paced=False, task=TASK)
    return [(a.label, a.start, a.end) for a in actor.script_labels()]


def ideal_windows(stride: float) -> tuple[list[tuple[PredictionRecord, np.ndarray]], list[str]]:
    """The real windows of the scripted clip (the one cutter), each with the probabilities of a perfect model:
    the share of the window's span each scripted action fills."""
    names = [class_name(c, TASK) for c, _ in SCRIPT]
    spans = truth()
    out = []
    prep = Preprocessing(short_side=32)
    for w in iter_windows(scripted_frames(6.0, size=(64, 48)), geometry=TINY, prep=prep, stride=stride):
        s = w.span
        probs = np.array([max(0.0, min(s.end, end) - max(s.start, start)) for _, start, end in spans], np.float32)
        probs /= probs.sum()
        record = PredictionRecord(window=s.number, start=s.start, end=s.end, topk=())
        out.append((record, probs))
    return out, names


def test_segments_of_a_perfect_model_follow_the_script_without_smoothing() -> None:
    windows, names = ideal_windows(stride=0.25)
    segs = segments_from_windows(windows, names, SmoothingSettings(window=1, threshold=0.0, hysteresis=0.0))
    assert [s.label for s in segs] == [label for label, _, _ in truth()]
    # each window speaks for the middle of its span: a change lands within half a stride of the truth
    for seg, (_, start, end) in zip(segs[1:], truth()[1:]):
        assert abs(seg.start - start) <= 0.125 + 1e-6
    for a, b in zip(segs, segs[1:]):
        assert a.end == pytest.approx(b.start)  # no gap between consecutive confident actions
    assert all(0.5 < s.confidence <= 1.0 for s in segs)


def test_live_smoothing_delays_changes_as_the_live_view_does() -> None:
    windows, names = ideal_windows(stride=0.5)
    live = SmoothingSettings.live_defaults()
    assert (live.window, live.threshold, live.hysteresis) == (3, 0.2, 0.1)  # the engine's defaults
    segs = segments_from_windows(windows, names)  # the live defaults
    assert [s.label for s in segs] == [label for label, _, _ in truth()]
    for seg, (_, start, _) in zip(segs[1:], truth()[1:]):
        lag = seg.start - start
        # three windows averaged, plus the hysteresis margin: about one to two strides late, never early
        assert 0.25 <= lag <= 1.0, (seg, start)
    # a higher hysteresis holds the shown label longer
    sticky = segments_from_windows(windows, names, SmoothingSettings(window=3, threshold=0.2, hysteresis=0.7))
    assert sticky[1].start > segs[1].start


def test_threshold_leaves_holes_and_confidence_is_time_weighted() -> None:
    recs = [PredictionRecord(window=i, start=i * 0.5, end=i * 0.5 + 1.0, topk=(), label=label, confidence=conf)
            for i, (label, conf) in enumerate([("a", 0.9), ("a", 0.5), (None, 0.1), ("b", 0.8)])]
    segs = action_segments(recs)
    # mids 0.5, 1.0, 1.5, 2.0: each holds +-0.25 s; the unconfident third leaves a hole
    assert [(s.label, s.start, s.end) for s in segs] == [("a", 0.25, 1.25), ("b", 1.75, 2.25)]
    assert segs[0].confidence == pytest.approx(0.7)  # 0.9 and 0.5 over 0.5 s each
    lone = action_segments([PredictionRecord(window=0, start=0.0, end=2.13, topk=(), label="x", confidence=0.7)])
    assert [(s.start, s.end) for s in lone] == [(0.0, 2.13)]  # a clip of one window: its own span


def test_subtitles_and_time_format() -> None:
    segs = [ActionSegment("swaying", 3.2, 7.9, 0.784), ActionSegment("rising", 3725.06, 3726.5, 0.5)]
    assert srt_text(segs).splitlines()[:3] == ["1", "00:00:03,200 --> 00:00:07,900", "swaying (78%)"]
    vtt = vtt_text(segs).splitlines()
    assert vtt[0] == "WEBVTT" and vtt[2] == "00:00:03.200 --> 00:00:07.900" and vtt[5] == "01:02:05.060 --> 01:02:06.500"
    assert format_time(3.2) == "0:03.2" and format_time(3725.06) == "1:02:05.1"


def _window_features(model, stride: float):
    """Pooled features and script labels of every window of the scripted clip (the real cutter)."""
    from slowfast_core.train.head import feature_model

    features = feature_model(model)
    spans = truth()
    xs, ys = [], []
    for w in iter_windows(scripted_frames(6.0), geometry=model.config.geometry,
                          prep=model.meta.preprocessing, stride=stride):
        mid = 0.5 * (w.span.start + w.span.end)
        with torch.no_grad():
            xs.append(features(w.inputs).numpy()[0])
        ys.append(next(i for i, (_, a, b) in enumerate(spans) if a <= mid < b))
    return np.stack(xs), np.array(ys)


@pytest.fixture(scope="module")
def scripted_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """slowfast_tiny whose classifier was fitted on its own features of the scripted actor's windows: a real
    model that names the three scripted actions."""
    from slowfast_core import create_model
    from slowfast_core.train.head import fit_linear
    from slowfast_core.weights.native import save_model

    base = create_model("slowfast_tiny", seed=0)
    x, y = _window_features(base, stride=0.25)
    linear, _ = fit_linear(x, y, len(SCRIPT), steps=200)
    model = with_classes(base, [class_name(c, TASK) for c, _ in SCRIPT], head=linear)
    return save_model(model, tmp_path_factory.mktemp("scripted") / "scripted.pyth")


def test_predict_segments_cli_matches_the_script(scripted_model, tmp_path, capsys) -> None:
    clip = write_scripted_clip(tmp_path / "actor.mp4")
    srt, vtt = tmp_path / "actor.srt", tmp_path / "actor.vtt"
    assert main(["predict", str(clip), "--weights", str(scripted_model), "--backend", "torch-eager",
                 "--segments", "--json", "--srt", str(srt), "--vtt", str(vtt)]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # one document
    assert doc["smoothing"] == {"window": 3, "threshold": 0.2, "hysteresis": 0.1}
    segs = doc["segments"]
    assert [s["label"] for s in segs] == [label for label, _, _ in truth()]
    for seg, (_, start, end) in zip(segs, truth()):
        assert set(seg) == {"label", "start", "end", "confidence"}
        assert start <= 0.5 * (seg["start"] + seg["end"]) < end  # found where it was performed
        assert 0.0 < seg["confidence"] <= 1.0
    for seg, (_, start, _) in zip(segs[1:], truth()[1:]):
        assert 0.0 <= seg["start"] - start <= 1.0  # a change shows after it happened, as live: <= 1 s late
    cues = re.findall(r"^(\d\d:\d\d:\d\d,\d\d\d) --> (\d\d:\d\d:\d\d,\d\d\d)$", srt.read_text(), re.M)
    assert len(cues) == len(segs)
    assert vtt.read_text().startswith("WEBVTT\n\n") and "subtitles: " in captured.err
    # text and CSV forms of the same segments
    assert main(["predict", str(clip), "--weights", str(scripted_model), "--backend", "torch-eager",
                 "--segments", "--csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "label,start,end,confidence" and len(rows) == len(segs) + 1
    assert rows[1].startswith(segs[0]["label"] + ",")


def test_predict_segment_options_are_checked_before_the_model(tmp_path, capsys) -> None:
    clip = tmp_path / "c.mp4"
    clip.write_bytes(b"x")
    assert main(["predict", str(clip), "--segments", "--srt", str(tmp_path / "out.txt")]) == 2
    assert "needs the extension .srt" in capsys.readouterr().err
    assert main(["predict", str(clip), "--segments", "--threshold", "1.5"]) == 2
    assert "threshold must be in [0, 1]" in capsys.readouterr().err


def test_sessions_timeline_shows_the_same_segments(tmp_path) -> None:
    pytest.importorskip("PySide6")
    from app.session_text import prediction_bands_from_records
    from helpers.sessions import record_session
    from slowfast_core.sessions import load_session

    predictions = [("wave" if i < 8 else "jump", i * 0.25, i * 0.25 + 1.0) for i in range(14)]
    rec = record_session(tmp_path / "sessions", "s", 90, predictions=predictions, fps=20.0, size=(96, 64))
    session = load_session(rec.path)
    bands = prediction_bands_from_records(session)
    segs = action_segments(session.predictions)
    assert [(b.label, b.start, b.end, b.strength) for b in bands] == \
        [(s.label, s.start, s.end, s.confidence) for s in segs]
    assert [b.label for b in bands] == ["wave", "jump"]
