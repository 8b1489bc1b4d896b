"""The fidelity experiment's statistics on hand-made numbers (each expected value computed by hand)."""

import numpy as np
import pytest

from benchmarks.fidelity_stats import METRICS, auc, mean_interval, paired_bootstrap, paired_test, quarter, summarize


def _record(order, index, length, advised, reward, visible, category="a", correct=0):
    return {"order": order, "category": category, "id": f"q{index}", "index": index, "length": length,
            "advised": advised, "correct": correct, "invalid": 0, "reward": reward, "visible": visible}


# Session A (order 0): 4 questions; session B (order 1): 2 questions, the same category.
RECORDS = [_record(0, 0, 4, 1, 0.7, False), _record(0, 1, 4, 1, 0.7, True), _record(0, 2, 4, 0, 1.0, True, correct=1),
           _record(0, 3, 4, 0, 0.0, None), _record(1, 0, 2, 1, 0.7, False), _record(1, 1, 2, 0, 1.0, False, correct=1)]


def test_metrics_average_sessions_and_pool_conditional_rates():
    summary = summarize(RECORDS)
    # Mean of the sessions' means (0.6 and 0.85), not the pooled 4.1 / 6 = 0.683.
    assert summary["total_score"] == pytest.approx(0.725)
    assert summary["advice_rate"] == pytest.approx((0.5 + 0.5) / 2)
    assert summary["accuracy"] == pytest.approx((3 / 4 + 1) / 2)
    # Pooled over the questions of known visibility: visible 1 of 2 asked, hidden 2 of 3; None is left out.
    assert summary["p_ask_visible"] == pytest.approx(0.5)
    assert summary["p_ask_hidden"] == pytest.approx(2 / 3)
    assert summary["visible_known"] == 5
    # Quarters: A has one question per quarter; B's two questions fall in quarters 1 and 3.
    assert [summary[f"advice_q{q}"] for q in (1, 2, 3, 4)] == pytest.approx([1.0, 1.0, 0.0, 0.0])


def test_quarter_of_a_question():
    assert [quarter({"index": i, "length": 10}) for i in range(10)] == [0, 0, 0, 1, 1, 2, 2, 2, 3, 3]


def test_conditional_rate_is_none_without_known_visibility():
    summary = summarize([{**r, "visible": None} for r in RECORDS])
    assert summary["p_ask_visible"] is None and summary["p_ask_hidden"] is None


def test_mean_interval_is_students_t():
    interval = mean_interval([1.0, 2.0, None, 3.0])
    # sd 1, n 3: half width t(0.975, 2) * 1 / sqrt(3) = 4.302653 / 1.732051 = 2.484138
    assert interval["mean"] == pytest.approx(2.0)
    assert interval["low"] == pytest.approx(2.0 - 2.484138, abs=1e-6)
    assert interval["high"] == pytest.approx(2.0 + 2.484138, abs=1e-6)
    assert interval["n"] == 3
    assert mean_interval([0.5])["low"] is None and mean_interval([None])["mean"] is None


def test_paired_t_test_one_sided():
    # Differences 0.1, 0.2, 0.1: t = 0.1333 / (0.0577 / sqrt 3) = 4.0 on 2 df; P(T > 4) = (1 - 4 / sqrt 18) / 2.
    result = paired_test([0.5, 0.6, 0.7, None], [0.4, 0.4, 0.6, 0.1])
    assert result["p_value"] == pytest.approx((1 - 4 / 18 ** 0.5) / 2, rel=1e-6)
    assert result["seeds"] == 3 and result["seeds_agreeing"] == 3
    assert result["effect"] == pytest.approx(0.4 / 3)
    # The claim's direction matters: the same numbers the other way round are far from significant.
    reverse = paired_test([0.4, 0.4, 0.6], [0.5, 0.6, 0.7])
    assert reverse["p_value"] == pytest.approx(1 - result["p_value"], rel=1e-6)
    assert reverse["seeds_agreeing"] == 0
    assert paired_test([0.5], [0.4])["p_value"] is None
    assert paired_test([0.5, 0.5], [0.5, 0.5])["p_value"] is None  # every difference zero: t undefined


def test_auc_counts_ties_half():
    assert auc([0.9, 0.8, 0.3, 0.8], [True, False, False, True]) == pytest.approx(3.5 / 4)
    assert auc([0.1, 0.2], [True, True]) is None


def test_paired_bootstrap_direction_and_pairing():
    rng = np.random.default_rng(0)
    better = [{**r, "reward": 1.0} for r in RECORDS]
    worse = [{**r, "reward": 0.0} for r in RECORDS]
    total = METRICS["total_score"]
    assert paired_bootstrap(better, total, worse, total, 200, rng) == 0.0
    assert paired_bootstrap(worse, total, better, total, 200, rng) == 1.0
    # Equal stages: every resampled difference is 0, never evidence for the claim.
    assert paired_bootstrap(RECORDS, total, RECORDS, total, 50, rng) == 1.0
    hidden = METRICS["p_ask_hidden"]
    unknown = [{**r, "visible": None} for r in RECORDS]
    assert paired_bootstrap(unknown, hidden, unknown, hidden, 50, rng) is None
