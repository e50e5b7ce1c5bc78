"""The pathways task's arithmetic, through the real window cutter: still/ticking twins look the same to the Slow
pathway and differ for the Fast one; plain/striped twins differ only in the object's fine appearance."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from slowfast_core.cli import main
from slowfast_core.model.config import get_config
from slowfast_core.video.actions import (
    PATHWAY_ORDER,
    class_name,
    class_names,
    make_scene,
    render_frame,
    tick_on,
)
from slowfast_core.video.sampling import pathway_indices

SIZE = (96, 64)


def _frames(scene, start: int, idx: np.ndarray) -> list[np.ndarray]:
    return [render_frame(scene, start + int(i)) for i in idx]


def _still_twin(ticking, start: int):
    """The still class of the same scene, placed where the ticking object is at the window's first frame."""
    shift = ticking.tick_dx if tick_on(ticking, start / 30.0) else 0.0
    return dataclasses.replace(ticking, class_index=ticking.class_index - 1, x0=ticking.x0 + shift)


def test_slow_sees_a_ticking_object_as_a_still_one_fast_does_not() -> None:
    slow_idx, fast_idx = pathway_indices(32, get_config("slowfast_tiny").geometry)  # (0, 10, 20, 31), (0, 2, .., 31)
    ticking = make_scene(1, np.random.default_rng(3), size=SIZE)  # red disc plain ticking
    assert PATHWAY_ORDER[1] == (0, 0, 1) and PATHWAY_ORDER[0] == (0, 0, 0)
    identical = 0
    for start in range(10):  # every phase of the 10-frame tick against the window
        still = _still_twin(ticking, start)
        same_slow = all(np.array_equal(a, b) for a, b in zip(_frames(ticking, start, slow_idx),
                                                               _frames(still, start, slow_idx)))
        identical += same_slow
        fast_diff = sum(not np.array_equal(a, b) for a, b in zip(_frames(ticking, start, fast_idx),
                                                                 _frames(still, start, fast_idx)))
        assert fast_diff >= 3  # Fast lands in the 2-frame tick once every 5 of its frames, whatever the phase
        if same_slow:  # and Slow's frames 0, 10, 20 share one tick phase, so only frame 31 could ever differ
            continue
        diffs = [not np.array_equal(a, b) for a, b in zip(_frames(ticking, start, slow_idx),
                                                           _frames(still, start, slow_idx))]
        assert diffs == [False, False, False, True]
    assert identical == 8  # 8 of the 10 phases: Slow's four frames are exactly the still twin's


def test_striped_and_plain_twins_differ_only_on_the_object() -> None:
    plain = make_scene(0, np.random.default_rng(4), size=SIZE)
    striped = dataclasses.replace(plain, class_index=2)  # red disc striped still: same scene
    a, b = render_frame(plain, 5).astype(int), render_frame(striped, 5).astype(int)
    changed = np.abs(a - b).sum(axis=2) > 0
    ys, xs = np.nonzero(changed)
    r = plain.size + 2
    assert changed.sum() > 0.25 * np.pi * plain.size**2  # a good part of the disc is darker
    assert (np.abs(xs - plain.x0) <= r + plain.amplitude + abs(plain.drift[0])).all() and (np.abs(ys - plain.y0) <= r + 1).all()
    assert (a - b)[changed].mean() > 0  # stripes are darker


def _dark_stripes_across(size: tuple[int, int]) -> int:
    """Dark stripes along the row through a striped red disc's centre, rendered at `size` (no noise, vertical
    stripes): the same seed draws the same scene, scaled."""
    plain = dataclasses.replace(make_scene(0, np.random.default_rng(7), size=size), noise=0.0, flicker=0.0,
                                stripe_angle=0.0)
    striped = dataclasses.replace(plain, class_index=2)  # red disc striped still
    row = int(round(plain.y0))
    dark = (render_frame(plain, 0)[row].astype(int) - render_frame(striped, 0)[row].astype(int)).sum(axis=1) > 30
    return int(np.count_nonzero(dark[1:] & ~dark[:-1]) + dark[0])


def test_stripes_scale_with_the_frame_so_the_actor_shows_what_synth_trained_on() -> None:
    # the scripted actor renders 320x240 and `slowfast synth` 170x128; the model sees both at 80 pixels high, so a
    # fixed 6-pixel period would reach it at 2 pixels (at Nyquist: blurred away) from the actor, 3.75 from synth
    small, large = _dark_stripes_across((170, 128)), _dark_stripes_across((320, 240))
    assert small >= 4  # a disc of 0.12-0.17 of the height holds several 6-pixel periods
    assert abs(large - small) <= 1


def test_task_names_and_the_original_task_kept() -> None:
    assert class_names(4) == ["red disc plain still", "red disc plain ticking", "red disc striped still",
                              "red disc striped ticking"]
    assert class_names(2, offset=8) == ["green triangle plain still", "green triangle plain ticking"]
    assert class_names(2, task="shapes") == ["red disc rising", "red disc falling"]


def test_synth_task_option_and_bad_task(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", str(tmp_path / "s"), "--task", "shapes", "--classes", "1", "--clips-per-class", "1",
                 "--seconds", "0.5"]) == 0
    assert "red disc rising" in (tmp_path / "s" / "label_map.json").read_text()
    from slowfast_core.train.synth import SynthSettings, generate

    with pytest.raises(Exception, match="unknown synthetic task 'dots'"):
        generate(tmp_path / "t", SynthSettings(classes=1, task="dots"))


def test_synth_a_list_of_classes_renders_the_same_clips_as_their_range(tmp_path) -> None:
    # `--classes 0,13-14`: pretrain on chosen classes (the teach bench's backbone skips the ones it will teach)
    import cv2

    common = ["--clips-per-class", "1", "--eval-fraction", "1", "--seconds", "0.5"]
    assert main(["synth", str(tmp_path / "list"), "--classes", "0,13-14", *common]) == 0
    assert main(["synth", str(tmp_path / "range"), "--classes", "2", "--offset", "13", *common]) == 0
    labels = json.loads((tmp_path / "list" / "label_map.json").read_text())
    assert labels == {name: i for i, name in enumerate([class_name(0), class_name(13), class_name(14)])}
    rows = (tmp_path / "list" / "train.csv").read_text().split()
    assert rows[1::2] == ["0", "1", "2"]
    listed, ranged = tmp_path / "list" / rows[2], tmp_path / "range" / rows[2]  # class 13's clip, label 1 of the list

    def first_frame(path):
        cap = cv2.VideoCapture(str(path))
        ok, frame = cap.read()
        cap.release()
        assert ok
        return frame

    assert np.array_equal(first_frame(listed), first_frame(ranged))


@pytest.mark.parametrize(("extra", "said"), [
    (["--classes", "0-7", "--offset", "8"], "a list names its classes, drop --offset"),
    (["--classes", "0,x"], "give class numbers and ranges"),
    (["--classes", "0,0"], "different classes"),
    (["--classes", "0,1", "--actors", "2"], "give a number of classes"),
    (["--classes", "17"], "out of range"),
])
def test_synth_bad_class_lists_are_one_line(tmp_path, capsys: pytest.CaptureFixture[str], extra, said) -> None:
    assert main(["synth", str(tmp_path / "s"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert said in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "s" / "train.csv").exists()


def test_the_scripted_actor_performs_either_task() -> None:
    from slowfast_core.video.source_text import parse_source

    actor = parse_source("synthetic:actions:0-3@1", realtime=False)
    assert actor.task == "pathways" and {a.label for a in actor.script_labels()} == set(class_names(4))
    shapes = parse_source("synthetic:shapes:8-11", realtime=False)
    assert shapes.task == "shapes" and {a.label for a in shapes.script_labels()} == set(
        class_names(4, offset=8, task="shapes"))
