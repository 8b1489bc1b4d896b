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
    """AGILE's medical multiple-choice task (MedMCQA, MedQA) as a Gymnasium text environment.

    ## Description
    An episode is a session over a question set in order (or shuffled from the reset seed). Memory holds
    past question-answer pairs and reflected knowledge, optionally preloaded from `memory_init` (the paper
    preloads the training set: every QA pair plus one knowledge entry each). The 5 most relevant QA pairs and
    5 knowledge entries are retrieved into each prompt.

    ## Action Space
    `FreeText`, any string; the first action tag decides:
    - `[PredictAnswer]` then `[Answer]: <choice>` (optionally `[Short Answer]: <choice>`, graded when present).
      A choice is `B`, `(B)`, `B.`, `B) text` or an option's full text, case-insensitive. An answer that names
      no single option is wrong and flagged `invalid_action`.
    - `[SeekAdvice]`: the expert gives the correct option and the explanation (`exp`, or `reflection`).
    - After advice (or after every question with `reflect_every_question=True`): `[Reflection]: <knowledge>`
      or `[NoInformation]`.
    There are no tools: `[SearchProduct]` is an invalid action here.

    ## Observation Space
    `FreeText`: the prompt (instructions, retrieved memory, question, lettered options), led by the result of
    the previous action. `info` has the same keys as ProductQA's; `info["question"]` adds `options`
    (letter -> text); its `id` is the record's `id`, or its 0-based position when records have none; its
    `type` is the subject (public schema), the source (AGILE schema) or "mcq".

    ## Rewards
    1 correct, 0 wrong or invalid, `1 - advice_cost` for advice (default c = 0.4, the paper's MedMCQA value);
    reflection steps 0. Total score = mean reward per question.

    ## Starting State
    Memory holds exactly the `memory_init` records (reloaded at every reset), first question of the session.

    ## Episode End
    Terminates after the last question (and its reflection); truncates after `max_questions` questions.

    ## Arguments
    - `data_files`: json / jsonl / parquet path or list, public MedMCQA or AGILE schema.
    - `hf_dataset` with `split` ("validation"): a `datasets` hub name, local dataset folder, or `save_to_disk`
      folder. With neither, a built-in 40-question set.
    - `memory_init`: file(s) in either schema preloaded into memory (QA pair + `reflection` or `exp` as knowledge).
    - `advice_cost` (0.4), `shuffle`, `max_questions`, `memory`, `reflection`, `advice`,
      `reflect_every_question`, `retriever`, `history_k` (5), `knowledge_k` (5), `render_mode` ("ansi").

    ## Version History
    - v0: initial release.
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
        super().__init__(items, advice_cost=advice_cost, history_k=history_k, knowledge_k=knowledge_k, **executor_kwargs)

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
        lines = ["You are a medical expert answering a multiple-choice question.", f"Reply with {self.expected_format()}."]
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
