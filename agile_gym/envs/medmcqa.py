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
# Markdown emphasis and code marks around a choice: **B**, *B*, `B`, __B__.
_MARKUP = re.compile(r"\*+|`+|__")
# "I think", "The correct answer is", "Answer:", "Final answer -", "Option", "Options", "Ans:" before the choice.
_PREFIX = re.compile(
    r"(?:i\s+(?:think|believe|choose|pick|select)\s+(?:that\s+)?)?"
    r"(?:(?:(?:the|my|final|correct|right|best|most\s+likely)\s+)*(?:answer|ans|option|choice)s?"
    r"(?:\s+(?:is|are|would\s+be))?\s*[:=\-\u2013\u2014]?\s*(?:(?:option|choice)\s*)?)?",
    re.IGNORECASE,
)
# The whole answer is one letter: B, (B), B., [B]:. It is that letter even where an option's text is a letter.
_LONE_LETTER = re.compile(r"[(\[]?([A-Za-z])[)\]]?[.:]?")
# A letter standing alone: B, (B), B), [B]; never the first letter of a word (`BC`, `B12`, `As`).
_LETTER = re.compile(r"(?P<open>[(\[])?(?P<letter>[A-Za-z])(?P<close>[)\]])?(?!\w)")
# What may follow a letter that is a choice: punctuation or a line break, then anything (an explanation).
_SEPARATOR = re.compile(r"[ \t]*(?:[.:,;\-\u2013\u2014]|\n|$)")
# Words that make a bare letter a choice ("B because ...", "A is correct") where "A patient ..." is no choice.
_CONNECTIVE = re.compile(r"\s+(?:because|since|as|is|was|seems|which|due)\b", re.IGNORECASE)
# A further letter named as a choice right after the first: "B, C", "B or C", "(B) and (C)", "B/C".
_ANOTHER = re.compile(
    r"[\s,;/&+.:\-]*(?:(?:or|and|nor)\s+)?(?:(?:option|choice)\s*)?[(\[]?(?P<letter>[A-Za-z])[)\]]?"
    r"(?=[.)]?\s*$|\s*[,;/&+]|\s+(?:or|and|nor)\b)",
    re.IGNORECASE,
)


def named_options(text: str, options: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """The letters of the options `text` names, in the order named: one for a clear choice, () for none.

    A choice is an option's letter standing alone at the start (after an optional "The answer is",
    "Answer:", "Option", markdown marks): `B`, `b`, `(B)`, `B)`, `[B]`, `**B**`, `B.`, `B:`, `B - text`,
    `B, text`, `B\\n<explanation>`, `B because ...`, `Option B`, `The correct answer is (B) text`; or exactly
    one option's full text, case- and whitespace-insensitive (`Vitamin C`, `The answer is Vitamin C.`,
    `Vitamin C (B)`). Several letters are returned when the answer lists more (`B or C`, `B, C`, `B/C`,
    `Options B and C`) or contradicts itself (`B) <option A's text>`). A letter glued to more letters or
    digits (`BC`, `B12`) or followed by an ordinary word (`A patient with ...`) names no option.
    """
    letters = [letter for letter, _ in options]
    by_text: dict[str, list[str]] = {}
    for letter, option in options:
        by_text.setdefault(normalize_answer(option), []).append(letter)

    def text_options(candidate: str) -> list[str]:
        candidate = normalize_answer(candidate)
        return by_text.get(candidate) or by_text.get(candidate.rstrip(".!"), [])

    def whole(candidate: str) -> tuple[str, ...] | None:
        if (lone := _LONE_LETTER.fullmatch(candidate)) and lone.group(1).upper() in letters:
            return (lone.group(1).upper(),)
        found = text_options(candidate)  # also a one-letter text that is no option's letter ("X" of VII..XII)
        return tuple(found) if found else None

    answer = _MARKUP.sub("", text).strip()
    for candidate in (answer, text.strip()):
        if (found := whole(candidate)) is not None:
            return found
    if prefix := _PREFIX.match(answer):
        answer = answer[prefix.end():]
    if (found := whole(answer)) is not None:
        return found
    if found := _text_then_letter(answer, letters, text_options):
        return found
    match = _LETTER.match(answer)
    if match is None or match.group("letter").upper() not in letters:
        return ()
    first, rest = match.group("letter").upper(), answer[match.end():]
    separator = _SEPARATOR.match(rest)
    if separator:
        rest = rest[separator.end():]
    elif not (match.group("close") or _CONNECTIVE.match(rest) or _ANOTHER.match(rest)
              or text_options(rest) == [first]):
        return ()
    # "B) <an option's text>" names that option too (B itself when it is B's text; options may read "a,c,d,b").
    rest_options = text_options(rest)
    named, position = [first] if first in rest_options else [first, *rest_options], 0
    while not rest_options and (another := _ANOTHER.match(rest, position)):
        if another.group("letter").upper() not in letters:
            break
        named.append(another.group("letter").upper())
        position = another.end()
    return tuple(dict.fromkeys(named))


def _text_then_letter(answer: str, letters: list[str], text_options) -> tuple[str, ...]:
    """`Vitamin C (B)`: an option's text, then a letter in brackets (both named; one when they agree)."""
    answer = answer.rstrip(".! \t\n")
    if len(answer) < 4 or answer[-3] not in "([" or answer[-1] not in ")]" or answer[-2].upper() not in letters:
        return ()
    letter, found = answer[-2].upper(), text_options(answer[:-3])
    return () if not found else (letter,) if letter in found else (letter, *found)


def choose_option(text: str, options: Sequence[tuple[str, str]]) -> str | None:
    """The letter of the single option `text` names (`named_options`), or None when it names none or several."""
    named = named_options(text, options)
    return named[0] if len(named) == 1 else None


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
      choice names exactly one option: its letter standing alone at the start, with or without brackets,
      punctuation, markdown, a lead-in and an explanation after it (`B`, `(B)`, `**B**`, `B.`, `B - text`,
      `B, text`, `B\\n<explanation>`, `Option B`, `The answer is B`), or its full text, case-insensitive
      (`named_options` lists the forms). An answer that names no option or several (`B or C`, `B) <option A's
      text>`) is wrong and flagged `invalid_action` (reward 0); the feedback says which.
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
    - v2: answers in every form that names one option are graded (`B\\n<explanation>`, `B - text`, `B, text`,
      `Option B`, `**B**`, `The answer is B`, ... were invalid); the invalid-answer feedback says whether no
      option or several were named.
      Lone surrogates in an action (text UTF-8 cannot carry) become U+FFFD, so they come back replaced in
      observations and memory.
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
        self.memory.preload(
            history=[(_SCOPE, self._query(question), question.gold_long) for question in self._memory_init],
            knowledge=[(_SCOPE, question.knowledge) for question in self._memory_init if question.knowledge],
        )

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
        named = named_options(action.graded_text, question.options)
        if len(named) != 1:
            letters = ", ".join(letter for letter, _ in question.options)
            what = f"several options ({', '.join(named)})" if named else "no option"
            return Outcome("PredictAnswer", invalid_action=True,
                           feedback=f"Your answer names {what}; name exactly one of {letters}. Counted as wrong.")
        letter = named[0]
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
