"""The statistics of `benchmarks.fidelity`: per-question records -> a stage's metrics, intervals over seeds,
one-sided paired t-tests over seeds, a within-seed paired bootstrap over questions, and the ask-vs-answer AUC.

A *record* is one scored question of one evaluation session, a dict with `order` (which question order),
`category`, `id`, `index` (0-based position in its session), `length` (questions in that session),
`advised`, `correct`, `invalid` (0/1), `reward` and `visible` (True / False / None = unknown: the generator's
ground truth that the prompt shows the answer, read before the policy acted). A *session* is one
(order, category) pair: the paper's protocol plays each held-out category as one session.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

Record = dict
Metric = Callable[[list[Record]], "float | None"]
QUARTERS = 4


def _sessions(records: list[Record]) -> dict[tuple, list[Record]]:
    sessions: dict[tuple, list[Record]] = {}
    for record in records:
        sessions.setdefault((record["order"], record["category"]), []).append(record)
    return sessions


def _session_mean(records: list[Record], value: Callable[[Record], float]) -> float | None:
    """Mean over sessions of each session's mean `value` (the paper's mean of categories, here also of orders)."""
    means = [sum(value(r) for r in rows) / len(rows) for rows in _sessions(records).values()]
    return sum(means) / len(means) if means else None


def _ask_rate_given(visible: bool) -> Metric:
    """P(ask | answer visible is `visible`), pooled over the questions whose visibility is known (a session may
    hold few or none of one kind, so a mean over sessions would weigh a handful of questions like fifty)."""

    def metric(records: list[Record]) -> float | None:
        chosen = [r["advised"] for r in records if r.get("visible") is visible]
        return sum(chosen) / len(chosen) if chosen else None

    return metric


def quarter(record: Record) -> int:
    """0..3: which quarter of its session's questions the record's question falls in."""
    return min(QUARTERS - 1, record["index"] * QUARTERS // record["length"])


def _advice_in_quarter(which: int) -> Metric:
    """Advice rate of the questions in quarter `which`, per session, averaged over the sessions that have any."""

    def metric(records: list[Record]) -> float | None:
        rates = []
        for rows in _sessions(records).values():
            chosen = [r["advised"] for r in rows if quarter(r) == which]
            if chosen:
                rates.append(sum(chosen) / len(chosen))
        return sum(rates) / len(rates) if rates else None

    return metric


METRICS: dict[str, Metric] = {
    "total_score": lambda records: _session_mean(records, lambda r: r["reward"]),
    "accuracy": lambda records: _session_mean(records, lambda r: float(r["correct"] or r["advised"])),
    "advice_rate": lambda records: _session_mean(records, lambda r: r["advised"]),
    "p_ask_visible": _ask_rate_given(True),
    "p_ask_hidden": _ask_rate_given(False),
    **{f"advice_q{q + 1}": _advice_in_quarter(q) for q in range(QUARTERS)},
    "invalid_action_rate": lambda records: _session_mean(records, lambda r: r["invalid"]),
}


def summarize(records: list[Record]) -> dict:
    """Every metric of METRICS for one (seed, stage), plus `questions` and `visible_known` (how many questions
    had a known visibility)."""
    summary = {name: metric(records) for name, metric in METRICS.items()}
    summary["questions"] = len(records)
    summary["visible_known"] = sum(r.get("visible") is not None for r in records)
    return summary


def mean_interval(values: Sequence[float | None], confidence: float = 0.95) -> dict:
    """Mean over seeds with a two-sided `confidence` interval from Student's t (n - 1 degrees of freedom).
    None values are dropped; `low`/`high` are None with fewer than 2 values, `mean` None with none."""
    from scipy import stats

    kept = np.array([v for v in values if v is not None], dtype=float)
    n = len(kept)
    if n == 0:
        return {"mean": None, "low": None, "high": None, "n": 0}
    mean = float(kept.mean())
    if n < 2:
        return {"mean": mean, "low": None, "high": None, "n": 1}
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * kept.std(ddof=1) / math.sqrt(n))
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n}


def paired_test(x: Sequence[float | None], y: Sequence[float | None]) -> dict:
    """One-sided paired t-test of the claim x > y over seeds (scipy.stats.ttest_rel, alternative="greater").

    Seeds where either value is None are dropped. Returns `p_value` (None with fewer than 2 pairs, or when
    every difference is equal and zero, where t is undefined), `seeds_agreeing` (pairs with x > y strictly),
    `seeds` (pairs used), `effect` (mean of x - y) and `per_seed_effect`."""
    from scipy import stats

    pairs = [(a, b) for a, b in zip(x, y) if a is not None and b is not None]
    differences = [a - b for a, b in pairs]
    result = {"p_value": None, "seeds_agreeing": sum(d > 0 for d in differences), "seeds": len(pairs),
              "effect": sum(differences) / len(differences) if differences else None,
              "per_seed_effect": differences}
    if len(pairs) >= 2:
        p_value = float(stats.ttest_rel([a for a, _ in pairs], [b for _, b in pairs], alternative="greater").pvalue)
        result["p_value"] = None if math.isnan(p_value) else p_value
    return result


def paired_bootstrap(x_records: list[Record], x_metric: Metric, y_records: list[Record], y_metric: Metric,
                     resamples: int, rng: np.random.Generator) -> float | None:
    """One-sided bootstrap p-value of x_metric(x_records) > y_metric(y_records) within one seed: the share of
    resamples whose difference is <= 0. Questions are resampled with replacement within each session, and the
    same questions (by order, category, id) are drawn for both sides, so the two stages stay paired. None when a
    side's metric is undefined on the data (e.g. no question of known visibility)."""
    if x_metric(x_records) is None or y_metric(y_records) is None:
        return None
    key = lambda r: (r["order"], r["category"], r["id"])  # noqa: E731
    x_by_key, y_by_key = {key(r): r for r in x_records}, {key(r): r for r in y_records}
    shared = [k for k in x_by_key if k in y_by_key]
    strata: dict[tuple, list] = {}
    for k in shared:
        strata.setdefault(k[:2], []).append(k)
    at_most_zero = counted = 0
    for _ in range(resamples):
        drawn = [keys[i] for keys in strata.values() for i in rng.integers(0, len(keys), len(keys))]
        a, b = x_metric([x_by_key[k] for k in drawn]), y_metric([y_by_key[k] for k in drawn])
        if a is None or b is None:
            continue
        counted += 1
        at_most_zero += a - b <= 0
    return at_most_zero / counted if counted else None


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve of `scores` separating True labels from False ones (Mann-Whitney: the chance
    that a random positive outscores a random negative, ties counted half). None without both kinds."""
    positives = [s for s, label in zip(scores, labels) if label]
    negatives = [s for s, label in zip(scores, labels) if not label]
    if not positives or not negatives:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def stage_name(cost: float, ablation: str = "full") -> str:
    """'ppo_c0.3', or 'ppo_c0.3_no_memory' for an ablation: the stage keys of fidelity.json."""
    return f"ppo_c{cost:g}" + ("" if ablation == "full" else f"_no_{ablation}")
