"""The action grammar of AGILE's executor, as a pure parser: any string in, one Action out.

Free text before the first action tag is the agent's own reasoning and is kept, not judged. The first
action tag in the text decides the action, as in the official executor. Argument tags (`[Answer]:`,
`[Short Answer]:`, `[SQL]:`) belong to the action before them. Every string parses; what cannot be an
action becomes `InvalidAction` with a reason the environment shows the agent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREDICT_ANSWER = "[PredictAnswer]"
SEARCH_PRODUCT = "[SearchProduct]"
SEEK_ADVICE = "[SeekAdvice]"
REFLECTION = "[Reflection]"
NO_INFORMATION = "[NoInformation]"
ACTION_TAGS = (PREDICT_ANSWER, SEARCH_PRODUCT, SEEK_ADVICE, REFLECTION, NO_INFORMATION)

ANSWER = "[Answer]:"
SHORT_ANSWER = "[Short Answer]:"
SQL = "[SQL]:"

_ACTION_TAG = re.compile("|".join(re.escape(tag) for tag in ACTION_TAGS))
_ARGUMENT_TAG = re.compile(r"\[(?:Answer|Short Answer|SQL)\]:")


@dataclass(frozen=True)
class PredictAnswer:
    """`[PredictAnswer]` with its `[Answer]:` (non-empty) and optional `[Short Answer]:` arguments."""

    answer: str
    short_answer: str | None = None
    reasoning: str = ""

    @property
    def graded_text(self) -> str:
        """What grading compares: the short answer when given, as in the official prompts."""
        return self.short_answer if self.short_answer is not None else self.answer


@dataclass(frozen=True)
class SearchProduct:
    """`[SearchProduct]` with its `[SQL]:` query (non-empty, not yet checked: the tool refuses what is unsafe)."""

    sql: str
    reasoning: str = ""


@dataclass(frozen=True)
class SeekAdvice:
    """`[SeekAdvice]`: ask the expert; anything after the tag is ignored."""

    reasoning: str = ""


@dataclass(frozen=True)
class Reflect:
    """`[Reflection]: <knowledge>`; `[NoInformation]` parses to knowledge=None."""

    knowledge: str | None
    reasoning: str = ""


@dataclass(frozen=True)
class InvalidAction:
    """Text that is no action: `reason` is shown to the agent; `tag` is the action tag found, if any."""

    reason: str
    tag: str | None = None


Action = PredictAnswer | SearchProduct | SeekAdvice | Reflect | InvalidAction


def action_name(action: Action) -> str:
    """Stable name for metrics and info: the tag without brackets, or 'invalid'."""
    if isinstance(action, InvalidAction):
        return "invalid"
    if isinstance(action, Reflect):
        return "Reflection" if action.knowledge is not None else "NoInformation"
    return type(action).__name__


def _argument(body: str, tag: str) -> str | None:
    """Text after `tag` up to the next argument or action tag, stripped; None when the tag is absent."""
    start = body.find(tag)
    if start < 0:
        return None
    rest = body[start + len(tag) :]
    following = [m.start() for m in (_ARGUMENT_TAG.search(rest), _ACTION_TAG.search(rest)) if m]
    return rest[: min(following)].strip() if following else rest.strip()


def parse_action(text: str) -> Action:
    """Parse one agent message. Never raises for any `str`."""
    match = _ACTION_TAG.search(text)
    if match is None:
        return InvalidAction("no action tag found")
    tag, reasoning, body = match.group(0), text[: match.start()].strip(), text[match.end() :]
    if tag == SEEK_ADVICE:
        return SeekAdvice(reasoning)
    if tag == NO_INFORMATION:
        return Reflect(None, reasoning)
    if tag == PREDICT_ANSWER:
        answer = _argument(body, ANSWER)
        if not answer:
            return InvalidAction(f"{PREDICT_ANSWER} needs '{ANSWER} <answer>' with a non-empty answer", tag)
        short = _argument(body, SHORT_ANSWER)
        return PredictAnswer(answer, short or None, reasoning)
    if tag == SEARCH_PRODUCT:
        sql = _argument(body, SQL)
        if not sql:
            return InvalidAction(f"{SEARCH_PRODUCT} needs '{SQL} SELECT ...' with a non-empty query", tag)
        return SearchProduct(sql, reasoning)
    knowledge = body.strip()
    knowledge = knowledge[1:].strip() if knowledge.startswith(":") else knowledge
    knowledge = knowledge[: m.start()].strip() if (m := _ACTION_TAG.search(knowledge)) else knowledge
    if not knowledge:
        return InvalidAction(f"{REFLECTION} needs ': <general knowledge>' (or use {NO_INFORMATION})", tag)
    return Reflect(knowledge, reasoning)
