"""MedMCQA: AGILE's medical multiple-choice sessions on the shared executor."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agile_gym.actions import ANSWER, PREDICT_ANSWER, SEEK_ADVICE, SHORT_ANSWER, PredictAnswer
from agile_gym.data.builtin_medmcqa import builtin_medmcqa_records
from agile_gym.data.medmcqa import load_hf_dataset, load_questions, read_records
from agile_gym.data.types import Question
from agile_gym.executor import AgileEnv, Outcome, SessionItem
from agile_gym.grading import normalize_answer
from agile_gym.memory.store import Retrieved

_SCOPE = "medmcqa"
_LETTER_FORM = re.compile(r"^\(?([A-Ja-j])\s*(?:[).:]|\)\s*[.:]?)(.*)$", re.DOTALL)


def choose_option(text: str, options: Sequence[tuple[str, str]]) -> str | None:
    """The letter of the single option `text` names, or None.

    Accepted: `B`, `(B)`, `B.`, `B)`, `B: ...`, `B) <text>`, or an option's full text (case-insensitive).
    """
    letters = dict(options)
    answer = text.strip()
    if answer.upper() in letters:
        return answer.upper()
    by_text = [letter for letter, option in options if normalize_answer(option) == normalize_answer(answer)]
    if len(by_text) == 1:
        return by_text[0]
    match = _LETTER_FORM.match(answer)
    if match and match.group(1).upper() in letters:
        return match.group(1).upper()
    return None


def _option_lines(question: Question) -> str:
    return "\n".join(f"{letter}) {text}" for letter, text in question.options)


class MedMCQAEnv(AgileEnv):
    """AGILE's medical multiple-choice task (MedMCQA, MedQA) as a Gymnasium text environment (`agile/MedMCQA-v2`).

    `AgileEnv` documents what every agile/ env shares (actions, rewards, episode end, `info`, the common
    arguments); this adds what is MedMCQA's own.

    ## Description
    A session is a question set (one scope, "medmcqa"). Memory holds past question-answer pairs and reflected
    knowledge, optionally preloaded from `memory_init` (the paper preloads the training set: every QA pair
    plus one knowledge entry each); the 5 most relevant of each are retrieved into every prompt.

    ## Action Space
    - `[PredictAnswer]` then `[Answer]: <choice>` (or `[Short Answer]: <choice>`, graded when present). A
      choice is `B`, `(B)`, `B.`, `B) text` or an option's full text, case-insensitive (`choose_option`). An
      answer that names no single option is wrong and flagged `invalid_action`.
    - `[SeekAdvice]`: the correct option and the record's lesson (`reflection`, else `exp`).
    There are no tools: `[SearchProduct]` is an invalid action.

    ## Observation Space
    The prompt: role and expected format, retrieved QA pairs and knowledge, the question and its lettered
    options. `info["question"]["options"]` maps letter -> option text; `id` is the record's `id`, or its
    0-based position when records have none; `type` is the subject (public schema), the source (AGILE schema)
    or "mcq"; `asin` is None.

    ## Rewards
    As `AgileEnv`, with `advice_cost` 0.4 by default (the paper's MedMCQA value).

    ## Starting State
    Memory holds exactly the `memory_init` records, reloaded at every reset.

    ## Arguments
    | Argument | Type | Default | Description |
    |---|---|---|---|
    | `data_files` | path or list of paths | None | json / jsonl / parquet, public MedMCQA or AGILE schema |
    | `hf_dataset` | str or None | None | a `datasets` hub name, local dataset folder or `save_to_disk` folder |
    | `split` | str | "validation" | the split of `hf_dataset` |
    | `advice_cost` | float | 0.4 | see `AgileEnv` |
    | `memory_init` | path or list of paths | None | records preloaded into memory (below) |
    | `history_k`, `knowledge_k` | int | 5, 5 | entries retrieved per question |

    and every other `AgileEnv` argument. Each `memory_init` record enters memory as its QA pair, and its
    `reflection` or `exp` field, if any, as knowledge. With neither `data_files` nor `hf_dataset`, a built-in
    40-question set; giving both raises ValueError. Malformed records raise `agile_gym.data.types.DataError`
    naming them.

    ## Example
    On the built-in set:

    >>> import gymnasium as gym
    >>> import agile_gym
    >>> env = gym.make("agile/MedMCQA-v2")
    >>> observation, info = env.reset(seed=0)
    >>> print(observation.split("\\n", 2)[2])
    Question: Deficiency of which vitamin causes scurvy?
    A) Vitamin C
    B) Vitamin K
    C) Vitamin D
    D) Vitamin A
    >>> observation, reward, terminated, truncated, info = env.step("[PredictAnswer]\\n[Answer]: (A)")
    >>> reward, info["result"]["correct"], info["question"]["index"]
    (1.0, True, 1)
    >>> observation, reward, terminated, truncated, info = env.step("[PredictAnswer]\\n[Answer]: E")
    >>> reward, info["result"]["invalid_action"], info["metrics"]["accuracy"]
    (0.0, True, 0.5)

    ## Version History
    - v1: the expert hook reflects the record's lesson (`reflection`, else `exp`) or `[NoInformation]`, never
      "the answer is: <option>" (see `AgileEnv`); `answer_visible` is None (no ground truth for this data).
    - v0: initial release; deprecated (the id makes this class, so it behaves as v1).
    """

    def __init__(
        self,
        data_files: str | Path | Sequence[str | Path] | None = None,
        hf_dataset: str | None = None,
        split: str = "validation",
        advice_cost: float = 0.4,
        *,
        memory_init: str | Path | Sequence[str | Path] | None = None,
        history_k: int = 5,
        knowledge_k: int = 5,
        **executor_kwargs: Any,
    ) -> None:
        if data_files is not None and hf_dataset is not None:
            raise ValueError("give data_files or hf_dataset, not both")
        if data_files is not None:
            records, source = read_records(data_files), str(data_files)
        elif hf_dataset is not None:
            records, source = load_hf_dataset(hf_dataset, split), f"{hf_dataset}[{split}]"
        else:
            records = [(f"builtin#{i}", r) for i, r in enumerate(builtin_medmcqa_records())]
            source = "built-in MedMCQA set"
        self.questions = load_questions(records, source)
        self._memory_init = load_questions(read_records(memory_init), str(memory_init)) if memory_init else []
        items = [SessionItem(q, _SCOPE) for q in self.questions]
        super().__init__(
            items, advice_cost=advice_cost, history_k=history_k, knowledge_k=knowledge_k, **executor_kwargs
        )

    def _preload_memory(self) -> None:
        for question in self._memory_init:
            self.memory.add_history(_SCOPE, self._query(question), question.gold_long)
            if question.knowledge:
                self.memory.add_knowledge(_SCOPE, question.knowledge)

    @staticmethod
    def _query(question: Question) -> str:
        return f"{question.question}\n{_option_lines(question)}"

    def _history_key(self, item: SessionItem) -> str:
        return _SCOPE

    def _question_info(self, item: SessionItem) -> dict[str, Any]:
        return {"options": dict(item.question.options)}

    def _prompt(self, item: SessionItem, retrieved: Retrieved) -> str:
        lines = [
            "You are a medical expert answering a multiple-choice question.",
            f"Reply with {self.expected_format()}.",
        ]
        lines += self._memory_lines(retrieved, "Related questions answered before:")
        lines.append(f"Question: {item.question.question}\n{_option_lines(item.question)}")
        return "\n".join(lines)

    def _grade(self, item: SessionItem, action: PredictAnswer) -> Outcome:
        question = item.question
        letter = choose_option(action.graded_text, question.options)
        if letter is None:
            letters = ", ".join(letter for letter, _ in question.options)
            return Outcome("PredictAnswer", invalid_action=True,
                           feedback=f"Your answer names no single option ({letters}); counted as wrong.")
        text = dict(question.options)[letter]
        return Outcome("PredictAnswer", correct=letter == question.gold_short,
                       feedback=f"Your answer {letter}) {text} was submitted.", memory_answer=f"{letter}) {text}")

    def _gold_action(self, item: SessionItem) -> str:
        question = item.question
        text = dict(question.options)[question.gold_short]
        return f"{PREDICT_ANSWER}\n{ANSWER} {question.gold_short}) {text}\n{SHORT_ANSWER} {question.gold_short}"

    def _advice_text(self, item: SessionItem) -> str:
        question = item.question
        explanation = question.knowledge or ""
        text = dict(question.options)[question.gold_short]
        return f"The correct option is {question.gold_short}) {text}." + (f" {explanation}" if explanation else "")

    def _action_examples(self) -> dict[str, str]:
        return {PREDICT_ANSWER: f"{PREDICT_ANSWER}\n{ANSWER} (B)", SEEK_ADVICE: SEEK_ADVICE}
