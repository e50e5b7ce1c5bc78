"""The int8 agreement guard's arithmetic (backends/guard.py) on logits made here: the threshold's edge, each
figure's value, non-finite outputs, and the verdict file. No OpenVINO: test_quantize runs the guard on a real
converted model; these pin the numbers it decides with."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from slowfast_core.backends.guard import (
    THRESHOLD,
    TOPK,
    VERDICT,
    GuardReport,
    compare_logits,
    read_verdict,
    run_guard,
    write_verdict,
)


def logits_with_disagreements(n: int, wrong: int, classes: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(reference, candidate) (n, classes): the candidate picks another top-1 in the first `wrong` windows only."""
    rng = np.random.default_rng(n * 100 + wrong)
    ref = rng.normal(size=(n, classes))
    cand = ref + 0.01 * rng.normal(size=(n, classes))
    for i in range(n):
        top = int(ref[i].argmax())
        cand[i, top] = ref[i, top]  # both keep the same winner by a clear margin...
        ref[i, top] += 3.0
        cand[i, top] += 3.0
    for i in range(wrong):
        other = (int(ref[i].argmax()) + 1) % classes
        cand[i, other] = cand[i].max() + 1.0  # ...except here
    return ref, cand


def test_the_threshold_is_99_percent_top1_agreement() -> None:
    assert THRESHOLD == 0.99
    ref, cand = logits_with_disagreements(100, 1)
    edge = compare_logits(ref, cand)
    assert edge.top1_agreement == pytest.approx(0.99) and edge.accepted
    ref, cand = logits_with_disagreements(50, 1)
    below = compare_logits(ref, cand)  # 98%: well above any looser threshold such as 90%
    assert below.top1_agreement == pytest.approx(0.98) and not below.accepted
    assert "REFUSED (below 99% top-1 agreement)" in below.summary()
    assert edge.summary().endswith(f"(worst window {edge.min_logit_correlation:.4f}): accepted")
    assert f"top-1 agreement 99.0%, top-5 overlap {100 * edge.top5_overlap:.1f}%" in edge.summary()
    assert f"on 50 held-out windows: top-1 agreement 98.0%, top-5 overlap {100 * below.top5_overlap:.1f}%" \
        in below.summary()
    assert f"logit correlation {below.logit_correlation:.4f} (worst window {below.min_logit_correlation:.4f})" \
        in below.summary()


def test_a_threshold_of_its_own_is_used_and_kept() -> None:
    ref, cand = logits_with_disagreements(10, 2)
    assert compare_logits(ref, cand, threshold=0.8).accepted
    assert not compare_logits(ref, cand, threshold=0.81).accepted
    assert compare_logits(ref, cand, threshold=0.8).threshold == 0.8


def test_identical_logits_give_perfect_figures() -> None:
    ref = np.random.default_rng(0).normal(size=(7, 12)).astype(np.float32)
    report = compare_logits(ref, ref.copy())
    assert report.windows == 7
    assert (report.top1_agreement, report.top5_overlap) == (1.0, 1.0)
    assert report.logit_correlation == pytest.approx(1.0) and report.min_logit_correlation == pytest.approx(1.0)
    assert report.max_abs_logit_diff == 0.0 and report.accepted


def test_each_figure_has_its_value() -> None:
    # window 0: same winner, top-5 of 6 classes shares 4 of 5, logits anti-correlated except the winner
    ref = np.array([[10.0, 5.0, 4.0, 3.0, 2.0, 1.0],
                    [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    cand = np.array([[10.0, 1.0, 2.0, 3.0, 4.0, 5.0],  # top-5 {0,5,4,3,2} vs ref {0,1,2,3,4}: 4 shared
                     [1.0, 2.0, 3.0, 4.0, 5.0, 7.5]])  # same order, top-5 identical
    report = compare_logits(ref, cand)
    assert report.windows == 2 and report.top1_agreement == 1.0
    assert report.top5_overlap == pytest.approx((4 / 5 + 5 / 5) / 2)
    r0 = np.corrcoef(ref[0], cand[0])[0, 1]
    r1 = np.corrcoef(ref[1], cand[1])[0, 1]
    assert report.logit_correlation == pytest.approx((r0 + r1) / 2)
    assert report.min_logit_correlation == pytest.approx(min(r0, r1))
    assert report.max_abs_logit_diff == pytest.approx(4.0)  # |1 - 5| at class 1 of window 0


def test_overlap_counts_at_most_the_classes_there_are() -> None:
    ref = np.array([[3.0, 2.0, 1.0]])
    cand = np.array([[3.0, 1.0, 2.0]])  # 3 classes: top-k is all of them, so the overlap is whole
    assert TOPK == 5
    assert compare_logits(ref, cand).top5_overlap == 1.0


def test_ties_rank_in_class_order() -> None:
    ref = np.array([[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]])  # six tied: top-5 is classes 0..4
    cand = np.array([[1.0, 1.0, 1.0, 1.0, 0.5, 1.0, 0.0]])  # class 4 drops out of the top-5, class 5 enters
    report = compare_logits(ref, cand)
    assert report.top5_overlap == pytest.approx(4 / 5)
    assert report.top1_agreement == 1.0  # argmax of ties: the first class in both


def test_ties_rank_in_class_order_in_a_long_vector() -> None:
    # 400 classes, all tied but for a clear winner at 399: the top-5 of ties must be classes 0..3 (stable order),
    # which an unstable sort of this length does not keep
    ref = np.zeros((1, 400))
    ref[0, 399] = 1.0
    cand = ref.copy()
    cand[0, 2] = -1.0  # class 2 leaves the tie: the candidate's top-5 is 399, 0, 1, 3, 4
    assert compare_logits(ref, cand).top5_overlap == pytest.approx(4 / 5)


def test_constant_logits_correlate_one_when_equal_else_zero() -> None:
    same = compare_logits(np.full((1, 4), 2.0), np.full((1, 4), 2.0))
    assert same.logit_correlation == 1.0
    other = compare_logits(np.full((1, 4), 2.0), np.full((1, 4), 3.0))
    assert other.logit_correlation == 0.0 and other.max_abs_logit_diff == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_int8_window_is_a_disagreement(bad: float) -> None:
    ref, cand = logits_with_disagreements(4, 0)
    cand[2, 3] = bad
    report = compare_logits(ref, cand)
    assert report.windows == 4 and report.top1_agreement == pytest.approx(3 / 4)
    assert report.top5_overlap == pytest.approx(3 / 4)
    assert report.min_logit_correlation == 0.0
    assert report.logit_correlation == pytest.approx(np.mean([np.corrcoef(ref[i], cand[i])[0, 1]
                                                              for i in (0, 1, 3)] + [0.0]))
    assert report.max_abs_logit_diff == pytest.approx(np.abs(ref - cand)[[0, 1, 3]].max())
    assert not report.accepted


def test_all_windows_non_finite_have_no_difference() -> None:
    report = compare_logits(np.zeros((2, 3)), np.full((2, 3), np.nan))
    assert report.max_abs_logit_diff is None and report.top1_agreement == 0.0 and not report.accepted


def test_no_windows_is_never_accepted() -> None:
    report = compare_logits(np.zeros((0, 5)), np.zeros((0, 5)))
    assert report == GuardReport(0, 0.0, 0.0, 0.0, 0.0, None, THRESHOLD) and not report.accepted
    assert compare_logits(np.zeros((0, 5)), np.zeros((0, 5)), threshold=0.5).threshold == 0.5
    assert not GuardReport(0, 1.0, 1.0, 1.0, 1.0, 0.0).accepted  # even with perfect figures


@pytest.mark.parametrize("shapes", [((3, 4), (3, 5)), ((3, 4), (2, 4)), ((4,), (4,)), ((1, 2, 2), (1, 2, 2))])
def test_mismatched_shapes_are_refused(shapes) -> None:
    with pytest.raises(ValueError, match="logits must be two"):
        compare_logits(np.zeros(shapes[0]), np.zeros(shapes[1]))


def test_run_guard_feeds_both_models_every_window() -> None:
    torch.manual_seed(0)
    windows = [[torch.randn(1, 3, 2, 4, 4), torch.randn(1, 3, 8, 4, 4)] for _ in range(5)]
    weight = torch.randn(3, 5)

    def fp32(inputs: list[torch.Tensor]) -> torch.Tensor:
        return (weight.T @ inputs[0].mean(dim=(2, 3, 4)).reshape(3, 1)).reshape(1, 5)  # (1, C)

    seen: list[int] = []

    def int8(inputs: list[torch.Tensor]) -> torch.Tensor:
        seen.append(len(seen))
        out = fp32(inputs).clone()
        if len(seen) == 1:
            out[0, out.argmin()] = out.max() + 1  # the first window disagrees
        return out

    report = run_guard(fp32, int8, windows, threshold=0.8)
    assert seen == [0, 1, 2, 3, 4] and report.windows == 5
    assert report.top1_agreement == pytest.approx(4 / 5) and report.accepted and report.threshold == 0.8
    empty = run_guard(fp32, int8, [], threshold=0.5)
    assert empty == GuardReport(0, 0.0, 0.0, 0.0, 0.0, None, 0.5) and not empty.accepted


def test_the_verdict_round_trips_and_a_bad_one_reads_as_none(tmp_path: Path) -> None:
    ref, cand = logits_with_disagreements(20, 1)
    report = compare_logits(ref, cand)
    write_verdict(tmp_path, report, model="tiny", seconds=1.5)
    data = json.loads((tmp_path / VERDICT).read_text())
    assert data["accepted"] is False and data["model"] == "tiny" and data["seconds"] == 1.5
    assert data["top1_agreement"] == pytest.approx(0.95) and data["threshold"] == THRESHOLD
    assert read_verdict(tmp_path) == report
    assert not list(tmp_path.glob("*.tmp"))
    assert read_verdict(tmp_path / "nowhere") is None
    for text in ("{broken", "[]", json.dumps({"windows": 3}), json.dumps({**data, "windows": None}) + "x"):
        (tmp_path / VERDICT).write_text(text)
        assert read_verdict(tmp_path) is None, text
