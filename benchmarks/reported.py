"""The AGILE paper's published results, printed beside ours and always marked as reported, never rerun.

Source: Feng et al., "AGILE: A Novel Reinforcement Learning Framework of LLM Agents", NeurIPS 2024
(arXiv 2405.14751 v2). ProductQA figures are the short-answer columns; None where the paper gives no number.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

CITATION = (
    'Feng et al., "AGILE: A Novel Reinforcement Learning Framework of LLM Agents", NeurIPS 2024, arXiv 2405.14751'
)


@dataclass(frozen=True)
class ReportedRow:
    """One method's published figures as the paper prints them: advice rate and accuracy (fractions of the
    questions), total score (accuracy minus cost times advice rate), None where the paper gives no number;
    `source` is the paper's table they come from."""

    method: str
    advice_rate: float | None
    accuracy: float | None
    total_score: float | None
    source: str


@dataclass(frozen=True)
class ReportedTable:
    """The paper's published rows for one env id, at its `advice_cost` and under its `protocol` (how the
    numbers were obtained, e.g. the mean of the test categories)."""

    env: str
    advice_cost: float
    protocol: str
    rows: tuple[ReportedRow, ...]

    def as_dict(self) -> dict:
        """A JSON-ready dict of the table with `CITATION` added, as results.json stores it under 'reported'."""
        return {"env": self.env, "advice_cost": self.advice_cost, "protocol": self.protocol, "citation": CITATION,
                "rows": [asdict(row) for row in self.rows]}


def _rows(source: str, *rows: tuple) -> tuple[ReportedRow, ...]:
    return tuple(ReportedRow(method, advice, accuracy, total, source) for method, advice, accuracy, total in rows)


PRODUCTQA = ReportedTable(
    env="agile/ProductQA-v2", advice_cost=0.3,
    protocol="the mean of the 6 test categories of the AGILE release, one session each, short answers",
    rows=_rows("Table 4",
               ("gpt3.5-prompt", None, 0.202, None),
               ("gpt4-prompt", None, 0.464, None),
               ("agile-vic13b-prompt", 0.174, 0.174, 0.122),
               ("agile-gpt3.5-prompt", 0.323, 0.508, 0.411),
               ("agile-gpt4-prompt", 0.208, 0.780, 0.718),
               ("agile-vic7b-ppo", 0.179, 0.818, 0.764),
               ("agile-vic13b-ppo", 0.233, 0.854, 0.784))
    + _rows("Table 5 (ablations of agile-vic13b)",
            ("agile-vic13b w/o reflection", 0.270, 0.852, 0.771),
            ("agile-vic13b w/o memory", 0.407, 0.876, 0.754),
            ("agile-vic13b w/o advice", 0.000, 0.747, 0.747),
            ("agile-vic13b non-adaptive advice", 0.233, 0.812, 0.742),
            ("agile-vic13b w/o tools", 0.492, 0.864, 0.717),
            ("agile-vic13b w/o RL (SFT only)", 0.256, 0.843, 0.766)),
)

MEDMCQA = ReportedTable(
    env="agile/MedMCQA-v2", advice_cost=0.4,
    protocol="the MedMCQA dev set as one session, memory preloaded with the training set",
    rows=_rows("Table 6",
               ("Meerkat-7b-prompt", None, 0.534, None),
               ("gpt3.5-prompt", None, 0.501, None),
               ("gpt4-prompt", None, 0.695, None),
               ("gpt4-Medprompt", None, 0.791, None),
               ("agile-gpt3.5-prompt", 0.194, 0.697, 0.619),
               ("agile-gpt4-prompt", 0.421, 0.884, 0.721),
               ("agile-mek7b w/o reflection", 0.368, 0.790, 0.643),
               ("agile-mek7b w/o memory", 0.506, 0.741, 0.539),
               ("agile-mek7b w/o advice", 0.000, 0.620, 0.620),
               ("agile-mek7b w/o RL", 0.322, 0.837, 0.708),
               ("agile-mek7b-ppo", 0.316, 0.852, 0.726)),
)

REPORTED = {re.sub(r"-v\d+$", "", table.env): table for table in (PRODUCTQA, MEDMCQA)}


def reported_for(env_id: str) -> ReportedTable | None:
    """The paper's table for `env_id` (any version of `agile/ProductQA` or `agile/MedMCQA`: the versions differ in
    the expert hook, not in the task the paper measured), or None for any other env."""
    return REPORTED.get(re.sub(r"-v\d+$", "", env_id))
