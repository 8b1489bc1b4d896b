"""The paper's reward and its session metrics, in one place, with the one rule for a run's headline figures."""

from __future__ import annotations

from collections import defaultdict

from agile_gym.contract import (
    ACCURACY,
    ADVICE_RATE,
    INVALID_ACTION_RATE,
    PER_TYPE,
    QUESTIONS,
    TOTAL_SCORE,
    MetricsInfo,
    TypeMetricsInfo,
)


def check_advice_cost(advice_cost: float) -> float:
    """`advice_cost` as a float; ValueError unless it is in [0, 1] (NaN included)."""
    cost = float(advice_cost)
    if not 0.0 <= cost <= 1.0:
        raise ValueError(f"advice_cost must be in [0, 1], got {advice_cost}")
    return cost


def question_reward(correct: bool, advised: bool, advice_cost: float) -> float:
    """The paper's per-question reward: 1 for a correct answer, 0 for a wrong one, 1 - advice_cost when the
    expert was asked, whatever `correct` says (advice is always right)."""
    if advised:
        return 1.0 - advice_cost
    return 1.0 if correct else 0.0


def _zero_counts() -> dict[str, float]:
    # Tallies inside SessionMetrics; the rates of `info["metrics"]` are derived from them in `_summary`.
    return {"questions": 0, "correct": 0, "advised": 0, "invalid": 0, "reward": 0.0}


class SessionMetrics:
    """Running accuracy, advice rate and total score (mean reward), overall and per question type.

    Advised questions count as correct, as in the paper, so total_score = accuracy - cost * advice_rate.
    """

    def __init__(self) -> None:
        self._counts: dict[str, dict[str, float]] = defaultdict(_zero_counts)

    def record(self, question_type: str, correct: bool, advised: bool, invalid: bool, reward: float) -> None:
        """Count one settled question (not a reflection step) in the overall and its type's tallies."""
        for key in ("__all__", question_type):
            counts = self._counts[key]
            counts["questions"] += 1
            counts["correct"] += bool(correct or advised)
            counts["advised"] += bool(advised)
            counts["invalid"] += bool(invalid)
            counts["reward"] += reward

    @staticmethod
    def _summary(counts: dict[str, float]) -> TypeMetricsInfo:
        n = counts["questions"]
        return {
            QUESTIONS: int(n),
            ACCURACY: counts["correct"] / n if n else 0.0,
            ADVICE_RATE: counts["advised"] / n if n else 0.0,
            TOTAL_SCORE: counts["reward"] / n if n else 0.0,
            INVALID_ACTION_RATE: counts["invalid"] / n if n else 0.0,
        }

    def snapshot(self) -> MetricsInfo:
        """A fresh dict (safe to keep): `info["metrics"]`, the overall numbers and `per_type` sorted by type."""
        overall = self._summary(self._counts.get("__all__") or _zero_counts())
        per_type = {k: self._summary(v) for k, v in sorted(self._counts.items()) if k != "__all__"}
        return {**overall, PER_TYPE: per_type}


_RATES = (ACCURACY, ADVICE_RATE, TOTAL_SCORE, INVALID_ACTION_RATE)
MEAN_OF_CATEGORIES, QUESTION_WEIGHTED = "mean of categories", "question-weighted"


def _weighted(rows: list[dict]) -> dict:
    n = sum(row.get(QUESTIONS, 0) for row in rows)
    merged: dict = {QUESTIONS: n}
    for key in _RATES:
        merged[key] = sum(row.get(key, 0.0) * row.get(QUESTIONS, 0) for row in rows) / n if n else 0.0
    return merged


def _mean(rows: list[dict]) -> dict:
    mean: dict = {QUESTIONS: sum(row.get(QUESTIONS, 0) for row in rows)}
    for key in _RATES:
        mean[key] = sum(row.get(key, 0.0) for row in rows) / len(rows) if rows else 0.0
    return mean


def _combine(snapshots: list[dict], combine) -> dict:
    usable = [snapshot for snapshot in snapshots if snapshot and snapshot.get(QUESTIONS)]
    combined = combine(usable)
    types = sorted({name for snapshot in usable for name in snapshot.get(PER_TYPE, {})})
    combined[PER_TYPE] = {name: combine([s[PER_TYPE][name] for s in usable if name in s.get(PER_TYPE, {})])
                          for name in types}
    return combined


def merge_metrics(snapshots: list[dict]) -> dict:
    """Question-weighted metrics of several sessions (`SessionMetrics.snapshot()` dicts), overall and per type:
    as if they were one session. Sessions without questions are left out."""
    return _combine(snapshots, _weighted)


def mean_of_categories(snapshots: list[dict]) -> dict:
    """The unweighted mean of several sessions' rates, one session per category, as the paper's Table 4 averages
    its categories (a small category counts as much as a large one); `questions` is their sum. Per type, the
    mean over the sessions that have that type. Sessions without questions are left out."""
    return _combine(snapshots, _mean)


def headline_metrics(per_category: list[dict]) -> dict[str, dict]:
    """A run's headline over several categories: the mean of categories (the paper's figure) first, the
    question-weighted one beside it; every table and plot shows both, under these two labels."""
    return {MEAN_OF_CATEGORIES: mean_of_categories(per_category), QUESTION_WEIGHTED: merge_metrics(per_category)}
