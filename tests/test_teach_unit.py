"""Teach's planning (train/teach.py) on small recorded sessions of gray frames and an untrained tiny base: which
window gets which label, the `no action` background, groups that keep a segment on one side of the split, and
every refusal's words. Worked out by hand for slowfast_tiny's 32-frame (1.067 s) window, one every 0.5 s."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from slowfast_core.model.identity import FeatureIdentity
from slowfast_core.weights.api import create_model
from slowfast_core.train.data import BACKGROUND
from slowfast_core.train.teach import MIN_EXAMPLES, TeachError, plan_teach

from helpers.sessions import record_session

W = 32 / 30  # slowfast_tiny's window


@pytest.fixture(scope="module")
def base():
    return create_model("slowfast_tiny")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s (360 frames): wave over [0, 3) s, clap over [6, 9) s, nothing else."""
    root = tmp_path_factory.mktemp("sessions")
    record_session(root, "two", 360, marks=[("wave", 0.0, 3.0), ("clap", 6.0, 9.0)])
    record_session(root, "short", 120, marks=[("wave", 0.0, 1.6), ("clap", 2.0, 3.9)])
    return root


def folder(root: Path, name: str) -> Path:
    return next(root.glob(f"*_{name}"))


def test_each_window_takes_the_label_covering_half_of_it(root: Path, base) -> None:
    plan = plan_teach([folder(root, "two")], base, base_spec="tiny")
    assert plan.categories == ["wave", "clap", BACKGROUND] and plan.background and plan.base == "tiny"
    (s,) = plan.sessions
    np.testing.assert_allclose(s.starts, np.arange(22) * 0.5, atol=1e-6)  # windows ending by the last frame
    np.testing.assert_allclose(s.ends - s.starts, W, atol=1e-6)
    by_start = dict(zip(np.round(s.starts, 3), s.labels.tolist()))
    wave, clap, bg = 0, 1, 2
    assert [by_start[t] for t in (0.0, 0.5, 1.0, 1.5, 2.0)] == [wave] * 5  # >= half of the window is wave
    assert by_start[2.5] == -1  # half a second of wave: under half of 1.067 s, and not background either
    assert [by_start[t] for t in (3.5, 4.0, 4.5)] == [bg] * 3  # untouched by any label
    assert by_start[5.0] == -1  # 0.067 s of clap: touched, so not background
    assert [by_start[t] for t in (5.5, 6.0, 6.5, 7.0, 7.5, 8.0)] == [clap] * 6
    assert by_start[8.5] == -1 and [by_start[t] for t in (9.5, 10.0, 10.5)] == [bg] * 3
    assert plan.counts() == {"wave": 5, "clap": 6, BACKGROUND: 8}
    assert (plan.recorded, plan.to_compute) == (0, 19)  # gray sessions recorded no features
    assert s.features is None and s.video is not None and s.name == "two"


def test_groups_keep_a_segment_or_a_gap_together(root: Path, base) -> None:
    (s,) = plan_teach([folder(root, "two")], base, base_spec="tiny").sessions
    group = dict(zip(np.round(s.starts, 3), s.groups))
    assert len({group[t] for t in (0.0, 1.0, 2.0, 2.5)}) == 1 and group[0.0].endswith(":seg0")
    assert len({group[t] for t in (5.5, 7.0, 8.0)}) == 1 and group[7.0].endswith(":seg1")
    assert len({group[t] for t in (3.5, 4.0, 4.5)}) == 1 and group[4.0].endswith(":gap1")
    assert len({group[t] for t in (9.5, 10.0, 10.5)}) == 1 and group[10.0].endswith(":gap2")
    assert all(g.startswith(folder(root, "two").name + ":") for g in s.groups)


def test_without_background(root: Path, base) -> None:
    plan = plan_teach([folder(root, "two")], base, base_spec="tiny", background=False)
    assert plan.categories == ["wave", "clap"] and not plan.background
    assert plan.counts() == {"wave": 5, "clap": 6} and plan.notes == []


def test_summary_says_what_will_be_taught(root: Path, base) -> None:
    summary = plan_teach([folder(root, "two")], base, base_spec="tiny").summary()
    assert summary["counts"] == {"wave": 5, "clap": 6, BACKGROUND: 8} and summary["to_compute"] == 19
    assert summary["sessions"] == [str(folder(root, "two"))] and summary["recorded"] == 0
    assert summary["categories"] == ["wave", "clap", BACKGROUND] and summary["background"] is True
    assert summary["base"] == "tiny" and summary["model"] and summary["notes"] == []


def test_too_few_examples_says_how_much_more(root: Path, base) -> None:
    # 4 s: wave [0, 1.6) covers half of the windows starting at 0, 0.5, 1.0; clap [2, 3.9) those at 1.5, 2.0, 2.5
    with pytest.raises(TeachError) as exc:
        plan_teach([folder(root, "short")], base, base_spec="tiny")
    text = str(exc.value)
    assert text.startswith("too few examples: 'wave' has 3 examples, needs 1 more (about 0.5 s more of it); "
                           "'clap' has 3 examples, needs 1 more (about 0.5 s more of it) - record those actions")
    assert "each example is one 1.1 s window, one every 0.5 s" in text
    assert MIN_EXAMPLES == 4


def test_no_sessions_and_unreadable_ones(tmp_path: Path, base) -> None:
    with pytest.raises(TeachError, match="^no sessions chosen: record a session"):
        plan_teach([], base, base_spec="tiny")
    with pytest.raises(TeachError, match=f"^session {tmp_path / 'nowhere'} cannot be read .*: repair it "
                                         r"\(`slowfast sessions repair`\) or leave it out$"):
        plan_teach([tmp_path / "nowhere"], base, base_spec="tiny")


def test_sessions_with_labels_are_the_finished_labeled_ones(tmp_path: Path) -> None:
    from slowfast_core.train.teach import sessions_with_labels

    root = tmp_path / "sessions"
    record_session(root, "labeled", 30, marks=[("wave", 0.1, 0.5)])
    record_session(root, "unlabeled", 30)
    still = record_session(root, "recording", 30, marks=[("wave", 0.1, 0.5)], stop=False)  # not finished
    try:
        record_session(root, "broken", 30, marks=[("wave", 0.1, 0.5)])
        (next(root.glob("*_broken")) / "session.json").write_text("{not json")  # damaged
        assert [p.name for p in sessions_with_labels(root)] == [next(root.glob("*_labeled")).name]
    finally:
        still.stop()


def test_default_base_is_the_most_common_recording_model(tmp_path: Path) -> None:
    import json

    from slowfast_core.train.teach import default_base

    root = tmp_path / "sessions"
    folders = []
    for name, weights, model in (("a", "w.pyth", "tiny"), ("b", None, "tiny"), ("c", None, "tiny"),
                                 ("d", "w.pyth", "other"), ("e", None, "")):
        record_session(root, name, 10)
        folder = next(root.glob(f"*_{name}"))
        info = json.loads((folder / "session.json").read_text())
        info.update(weights=weights, model=model)
        (folder / "session.json").write_text(json.dumps(info))
        folders.append(folder)
    assert default_base(folders[:3]) == "tiny"  # weights name the model where recorded, else its arch
    assert default_base(folders) == "w.pyth"  # w.pyth twice, tiny twice: the first most common
    assert default_base([folders[4], tmp_path / "nowhere"]) is None  # nothing known, a folder that is none


def test_load_base_from_an_arch_or_a_file(tmp_path: Path) -> None:
    import torch

    from slowfast_core.model.builder import UNTRAINED_SEED
    from slowfast_core.train.teach import load_base
    from slowfast_core.weights.native import save_model

    untrained = load_base("slowfast_tiny")
    reference = create_model("slowfast_tiny", seed=UNTRAINED_SEED)
    assert all(torch.equal(a, b) for a, b in zip(untrained.state_dict().values(), reference.state_dict().values()))
    assert untrained.meta.preprocessing.short_side == 80 and load_base("slowfast_tiny", size=64).meta.preprocessing \
        .short_side == 64
    trained = create_model("slowfast_tiny", seed=5)
    save_model(trained, tmp_path / "t.pyth")
    loaded = load_base(str(tmp_path / "t.pyth"), size=96)
    assert loaded.meta.preprocessing.short_side == 96
    assert torch.equal(loaded.state_dict()["blocks.6.proj.weight"], trained.state_dict()["blocks.6.proj.weight"])


def test_a_result_as_json() -> None:
    from slowfast_core.train.teach import TeachResult

    result = TeachResult(Path("/m/taught.pyth"), ["wave", "clap"], [{"epoch": 1}], [[2, 0], [1, 1]],
                         {"wave": 1.0, "clap": 0.5}, 0.75, 0.9, 1.23456, 3, 4, "base.pyth", ["a note"])
    assert result.to_json() == {
        "model": "/m/taught.pyth", "categories": ["wave", "clap"], "confusion": [[2, 0], [1, 1]],
        "per_label": {"wave": 1.0, "clap": 0.5}, "val_top1": 0.75, "train_top1": 0.9, "seconds": 1.235,
        "computed": 3, "reused": 4, "base": "base.pyth", "notes": ["a note"]}


@pytest.mark.parametrize("rows,says", [
    ("wave,0.0,2.0\nclap,1.0,2.5\n", "marks 1.0-2.0 s as both 'wave' and 'clap'"),
    ("wave,0.0,1.0\nclap,1.0,2.0\njump,1.5,1.8\n", "marks 1.5-1.8 s as both 'clap' and 'jump'"),  # 2nd and 3rd
    ("wave,0.0,1.0\nwave,0.5,1.5\nclap,1.5,2.0\n", None),  # one label over itself, and touching ends: fine
])
def test_two_labels_at_one_moment_are_refused(tmp_path: Path, base, rows: str, says: str | None) -> None:
    from slowfast_core.sessions.layout import LABELS_CSV

    root = tmp_path / "sessions"
    record_session(root, "marks", 90, labels=("wave", "clap", "jump"))
    folder = next(root.glob("*_marks"))
    (folder / LABELS_CSV).write_text("label,start,end\n" + rows)
    if says is None:
        with pytest.raises(TeachError, match="^too few examples"):  # past the conflict check
            plan_teach([folder], base, base_spec="tiny")
        return
    with pytest.raises(TeachError, match=f"^session 'marks' {says}: fix its labels.csv \\(or the labels in the "
                                         "Sessions window\\) so each moment has one label$"):
        plan_teach([folder], base, base_spec="tiny")


def test_exactly_enough_background_keeps_the_no_action_class(tmp_path: Path, base) -> None:
    root = tmp_path / "sessions"
    record_session(root, "nine", 270, marks=[("wave", 0.0, 3.0), ("clap", 6.0, 9.0)])  # 9 s: one 3 s gap
    plan = plan_teach([folder(root, "nine")], base, base_spec="tiny")
    assert plan.counts() == {"wave": 5, "clap": 5, BACKGROUND: MIN_EXAMPLES} and plan.notes == []


def test_too_little_background_is_dropped_with_a_note(tmp_path: Path, base) -> None:
    root = tmp_path / "sessions"
    record_session(root, "full", 240, marks=[("wave", 0.0, 4.0), ("clap", 4.0, 8.0)])  # no time without an action
    plan = plan_teach([folder(root, "full")], base, base_spec="tiny")
    assert plan.categories == ["wave", "clap"] and not plan.background
    assert plan.notes == ["too little time outside the labeled segments for a `no action` class: taught without it"]
    assert all(label in (-1, 0, 1) for s in plan.sessions for label in s.labels.tolist())


def test_no_labels_and_one_label_say_what_to_do(tmp_path: Path, base) -> None:
    root = tmp_path / "sessions"
    record_session(root, "none", 60)
    record_session(root, "one", 90, marks=[("wave", 0.2, 2.8)])
    with pytest.raises(TeachError, match=r"^no labeled segment in the chosen sessions: while recording, press a label "
                                         r"key \(1-9\) when an action starts and again when it ends$"):
        plan_teach([folder(root, "none")], base, base_spec="tiny")
    with pytest.raises(TeachError, match=r"^only one label \('wave'\) and no `no action` background: a classifier "
                                         "needs two classes - mark a second action, or turn the background on and "
                                         "record some time without any action$"):
        plan_teach([folder(root, "one")], base, base_spec="tiny", background=False)


# --- recorded features: the windows a live session stored, used as they are when the base model recorded them ---

def with_features(path: Path, identity, spans: list[tuple[float, float]]) -> Path:
    """Store a feature row per (start, end) span in session folder `path`, as the live recorder does."""
    from slowfast_core.sessions.features import FeatureWriter

    writer = FeatureWriter(path)
    for k, (start, end) in enumerate(spans):
        writer.append(start, end, np.full(identity.dim, k, np.float32), identity)
    writer.close()
    return path


def short_session(root: Path, name: str, marks: list[tuple[str, float, float]], n: int = 100) -> Path:
    """`n` frames at 10 fps, 80x64, with labeled segments `marks`: the folder."""
    record_session(root, name, n, marks=marks, fps=10.0, size=(80, 64))
    return folder(root, name)


def test_recorded_windows_are_labelled_as_they_are_and_scarce_background_dropped(tmp_path: Path, base) -> None:
    path = short_session(tmp_path, "rec", [("wave", 0.25, 1.0), ("wave", 1.5, 2.0), ("wave", 2.5, 3.25),
                                          ("clap", 5.5, 9.0)])
    spans = [(0.0, 0.625),  # 0.375 s of wave in a 0.625 s window: over half
             (0.25, 1.0),  # all wave
             (0.5, 1.625),  # 0.5 + 0.125 s of two wave segments: over half together, not one alone
             (2.0, 3.0),  # exactly half wave
             (3.5, 4.5), (4.0, 5.0), (4.5, 5.5),  # untouched: background, 3 windows (too few: dropped)
             *[(t, t + 1.0) for t in (5.5, 6.0, 6.5, 7.0, 7.5, 8.0)]]  # clap
    with_features(path, FeatureIdentity.of(base), spans)
    plan = plan_teach([path], base, base_spec="tiny")
    (s,) = plan.sessions
    np.testing.assert_allclose(np.stack([s.starts, s.ends], axis=1), spans)
    assert s.labels.tolist() == [0, 0, 0, 0, -1, -1, -1, 1, 1, 1, 1, 1, 1] and s.labels.dtype == np.int64
    assert s.features is not None and s.features.shape == (13, FeatureIdentity.of(base).dim)
    assert plan.categories == ["wave", "clap"] and plan.background is False
    assert plan.counts() == {"wave": MIN_EXAMPLES, "clap": 6}  # exactly MIN_EXAMPLES is enough
    assert (plan.recorded, plan.to_compute) == (10, 0)


def test_features_of_another_model_and_sessions_without_video(tmp_path: Path, base) -> None:
    import dataclasses

    identity = FeatureIdentity.of(base)
    other = dataclasses.replace(identity, digest="0123456789abcdef")
    gone = short_session(tmp_path, "gone", [("wave", 0.0, 3.0)])
    (gone / "video.mp4").unlink()  # no video, no features: left out
    theirs = with_features(short_session(tmp_path, "theirs", [("wave", 0.0, 3.0), ("clap", 6.0, 9.0)], n=120),
                           other, [(0.0, 1.0), (1.0, 2.0)])
    kept = with_features(short_session(tmp_path, "kept", [("clap", 0.0, 2.0)]), identity, [(0.0, 1.0), (1.0, 2.0)])
    (kept / "video.mp4").unlink()  # no video, but its features were recorded: kept
    plan = plan_teach([gone, theirs, kept], base, base_spec="tiny")
    assert plan.notes == [
        "session 'gone' has no finished video: left out (run `slowfast sessions repair`)",
        f"session 'theirs': features recorded with {other.describe()}, not the base model: computing them from its "
        "video"]
    assert [s.name for s in plan.sessions] == ["theirs", "kept"]
    cut, recorded = plan.sessions
    assert cut.features is None and len(cut.starts) == 22  # cut from the video, every 0.5 s
    assert recorded.features is not None and recorded.labels.tolist() == [1, 1]
    assert plan.counts() == {"wave": 5, "clap": 6 + 2, BACKGROUND: 8}


def test_too_few_examples_names_the_typical_stride(tmp_path: Path, base) -> None:
    identity = FeatureIdentity.of(base)
    one = with_features(short_session(tmp_path, "one", [("clap", 0.0, 1.0)]), identity, [(0.0, 1.0)])
    wide = with_features(short_session(tmp_path, "wide", [("wave", 0.0, 3.0)]), identity, [(0.0, 1.0), (2.0, 3.0)])
    claps = with_features(short_session(tmp_path, "claps", [("clap", 3.0, 8.0)]), identity,
                          [(3.0, 4.0), (4.0, 5.0), (5.0, 6.0), (6.0, 7.0)])
    with pytest.raises(TeachError) as err:  # strides: none in "one", 2 s in "wide", 1 s in "claps": median 1.5 s
        plan_teach([one, wide, claps], base, base_spec="tiny")
    assert str(err.value) == ("too few examples: 'wave' has 2 examples, needs 2 more (about 3.0 s more of it) - "
                              "record those actions a little longer (each example is one 1.1 s window, one every "
                              "1.5 s)")
    lone = with_features(short_session(tmp_path, "lone", [("wave", 0.0, 1.0)]), identity, [(0.0, 1.0)])
    with pytest.raises(TeachError) as err:  # no session has two windows: the live stride
        plan_teach([one, lone], base, base_spec="tiny")
    assert str(err.value) == ("too few examples: 'clap' has 1 example, needs 3 more (about 1.5 s more of it); "
                              "'wave' has 1 example, needs 3 more (about 1.5 s more of it) - record those actions a "
                              "little longer (each example is one 1.1 s window, one every 0.5 s)")


def test_a_window_that_ends_on_the_last_frame_is_kept(tmp_path: Path, base) -> None:
    from slowfast_core.sessions.store import load_session
    from slowfast_core.train.teach import _windows

    record_session(tmp_path, "edge", 48)  # the last frame at 47/30 s: the second window ends exactly there
    session = load_session(folder(tmp_path, "edge"))
    starts, ends, feats, note = _windows(session, FeatureIdentity.of(base), W)
    np.testing.assert_allclose(ends, [W, W + 0.5])
    assert feats is None and note is None


def test_sessions_with_labels_and_default_base_go_past_unusable_folders(tmp_path: Path) -> None:
    from slowfast_core.train.teach import default_base, sessions_with_labels

    root = tmp_path / "sessions"
    for name in ("a", "b", "c"):
        record_session(root, name, 10, marks=[("wave", 0.1, 0.2)])
    (folder(root, "b") / "session.json").write_text("{not json")
    assert [p.name for p in sessions_with_labels(root)] == [folder(root, "a").name, folder(root, "c").name]
    assert default_base([tmp_path / "nowhere", folder(root, "a")]) == "tiny"


def test_a_session_removed_while_listed_is_left_out(tmp_path: Path, monkeypatch) -> None:
    from slowfast_core.sessions import store
    from slowfast_core.train.teach import sessions_with_labels

    root = tmp_path / "sessions"
    for name in ("a", "b", "c"):
        record_session(root, name, 10, marks=[("wave", 0.1, 0.2)])
    real = store.load_session

    def load_after_removal(path):  # "b" is deleted by another program between the listing and its reading
        if Path(path).name.endswith("_b"):
            (Path(path) / "session.json").unlink(missing_ok=True)
        return real(path)

    monkeypatch.setattr(store, "load_session", load_after_removal)
    assert [p.name for p in sessions_with_labels(root)] == [folder(root, "a").name, folder(root, "c").name]


def test_a_padded_windows_feature_is_not_recorded_for_teach(tmp_path: Path) -> None:
    """The first windows after a start are padded (their oldest frame repeated back over time the session never
    saw): their predictions are recorded, marked, but Teach gets features of full windows only."""
    import json

    from slowfast_core.sessions.features import read_features
    from slowfast_core.sessions.prediction_log import PredictionLog
    from slowfast_core.stream.types import Prediction, Timings

    identity = FeatureIdentity("slowfast_tiny", "abc", 48, 4)
    log = PredictionLog(tmp_path)
    for window, padded in ((0, True), (1, False)):
        log.append(Prediction(id=window, start_time=window * 0.5, end_time=window * 0.5 + 2.1, first_index=0,
                              last_index=10 + window, topk=(("wave", 0.9),), probs=np.array([0.9, 0.1], np.float32),
                              label="wave", confidence=0.9, timings=Timings(1.0, 1.0, 1.0, 1.0),
                              feature=np.ones(4, np.float32) * (window + 1), feature_identity=identity, padded=padded),
                   origin=0.0)
    log.close()
    lines = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert [line.get("padded") for line in lines] == [True, None]  # both recorded, the first marked
    feats = read_features(tmp_path)
    assert feats is not None and len(feats) == 1 and feats.features[0, 0] == 2.0  # the full window's only
