"""Is this question's answer shown by the prompt? One judgement, made from what the agent sees.

The imitation teacher (`agile_gym.agents.ExpertAgent`) decides between answering, searching and asking with
it, and experiments split the policy's advice rate by it. It reads the rendered prompt and only the `info`
fields that the prompt shows (`agile_gym.contract.PROMPT_FIELDS`): the question text, the product's title and
metadata, the options, the retrieved history and knowledge texts (never their scores) and the available
actions. It never reads the question's id, type, gold answer, extra data or the data generator's tags, so a
policy that sees the same prompt can learn the same decision.

A question's answer is visible when one of these holds (checked in this order; `Visibility.reason` says which):

1. search: the question asks to find products (`is_search_request`) and the prompt offers `[SearchProduct]`
   with the category's table: the tool's result is the answer.
2. metadata: the product's metadata names the asked attribute: the words of one feature name (not the title)
   cover at least half of the question's content words (`same_word`: equal stems, or one begins the other).
3. history: a retrieved history entry (history is kept per product, so it is this product's) answers this
   question or a paraphrase of it: the same question text, or the entry's question and answer share a content
   word with the question (entries of search requests left out). Multiple choice: the entry's answer names
   exactly one option and its question holds at least half of the question's content words (option words
   left out).
4. knowledge: a retrieved knowledge entry states a rule this question needs: it names a feature of this
   product's metadata and shares another content word with the question. Multiple choice: it names exactly one
   option and holds at least half of the question's content words.

Content words are `agile_gym.memory.retrieval.tokenize`'s stems less the words that frame a question ("can",
"does", "which", ...) and, for products, the words of the category name and the product title, which every
question of the category shares. The rules are lexical, so they can be wrong; on the built-in data they agree
with the generator's ground truth (`env.unwrapped.expert().answer_visible`) on at least 95% of questions
(tests/agile_gym/test_visibility.py measures it).

>>> import gymnasium as gym
>>> import agile_gym
>>> from agile_gym.visibility import judge
>>> env = gym.make("agile/ProductQA-v2", category="kettles")
>>> observation, info = env.reset(seed=0)
>>> judge(observation, info)
Visibility(visible=True, reason='search: the prompt offers [SearchProduct] on the category table', search=True)
>>> observation, *_, info = env.step("[SearchProduct]\\n[SQL]: SELECT product_id FROM kettles WHERE 0")
>>> info["question"]["text"], judge(observation, info).reason
('Can I set the water temperature?', "metadata: the product's 'Temperature Control' is shown")
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agile_gym.actions import SEARCH_PRODUCT
from agile_gym.contract import (
    ANSWER,
    AVAILABLE_ACTIONS,
    HISTORY,
    KNOWLEDGE,
    MEMORY,
    OPTIONS,
    PRODUCT,
    PROMPT_FIELDS,
    QUESTION,
    SCOPE,
    TEXT,
)
from agile_gym.grading import normalize_answer
from agile_gym.memory.retrieval import tokenize

# Words that frame a question rather than name what it is about (stemmed like everything else).
_FRAME_WORDS = frozenset(tokenize(
    "can could would should do does did what which who whom whose when where why how i me my you your we our "
    "have has had get gets getting go goes any anything some something one ones there here so too very much many "
    "more most less least also just good well like want need use used using make makes made set following true false "
    "about after before over under up down out off all way its this these those it's"
))
# Requests to find products rather than questions about the product shown.
_SEARCH_REQUEST = re.compile(
    r"\b(what do you have|do you have|you'?ve got|you got|got anything|got any|anything (else|like)|show me|"
    r"give me|gimme|get me|fetch me|find me|hook me up|dig up|pull (that|it) up|recommend|suggest|looking for|"
    r"in the market for|in need of|i want an?|i need an?|i'm after|any (\w+ ){1,3}(that|with|under)|"
    r"product id|(best|top) (option|pick|choice)|the first (one|product)|which one|"
    r"cheapest|least expensive|most affordable|"
    r"what'?s the (largest|smallest|biggest|lightest|highest|lowest|fastest|best))\b",
    re.IGNORECASE,
)
_MIN_PREFIX = 3


@dataclass(frozen=True)
class Visibility:
    """The judgement: `visible` whether the prompt shows this question's answer, `reason` which rule said so
    (empty when none did), `search` whether the question asks to find products."""

    visible: bool
    reason: str
    search: bool


def same_word(a: str, b: str) -> bool:
    """Whether two stems name the same word: equal, or the shorter (>= 3 letters) begins the longer
    ("zip" and "zipper", "wind" and "windi")."""
    short, long = sorted((a, b), key=len)
    return short == long or (len(short) >= _MIN_PREFIX and long.startswith(short))


def is_search_request(question: str) -> bool:
    """Whether the question asks to find products ("Show me a ...", "What do you have?") rather than asks
    about the product shown."""
    return bool(_SEARCH_REQUEST.search(question))


def prompt_view(info: Mapping[str, Any]) -> dict[str, Any]:
    """`info` cut down to `agile_gym.contract.PROMPT_FIELDS`, the fields the prompt shows (a new dict; lists of
    entries keep their order). The judgement sees only this."""

    def keep(value: Any, paths: list[tuple[str, ...]]) -> Any:
        if any(not path for path in paths):
            return value
        if isinstance(value, list):
            return [keep(entry, paths) for entry in value]
        heads = dict.fromkeys(path[0] for path in paths)
        return {head: keep(value[head], [p[1:] for p in paths if p[0] == head]) for head in heads if head in value}

    return keep(info, list(PROMPT_FIELDS))


def answer_visible(observation: str, info: Mapping[str, Any]) -> bool:
    """Whether the prompt shows this question's answer; `judge(observation, info).visible`."""
    return judge(observation, info).visible


def judge(observation: str, info: Mapping[str, Any]) -> Visibility:
    """The judgement of the module docstring for the open question of an answer-phase `info`.

    Reads only `agile_gym.contract.PROMPT_FIELDS` of `info` (`prompt_view`); ValueError when no question is open.
    """
    info = prompt_view(info)
    question = info[QUESTION]
    if TEXT not in question:
        raise ValueError("no question is open (info['question'] is empty): judge an answer-phase info")
    text = question[TEXT]
    memory = info[MEMORY]
    history = [(entry[QUESTION], entry[ANSWER]) for entry in memory[HISTORY]]
    knowledge = [entry[TEXT] for entry in memory[KNOWLEDGE]]
    if OPTIONS in question:
        return _judge_choice(text, question[OPTIONS], history, knowledge)
    search = is_search_request(text)
    if search:
        if SEARCH_PRODUCT in info[AVAILABLE_ACTIONS]:
            return Visibility(True, f"search: the prompt offers {SEARCH_PRODUCT} on the category table", True)
        return Visibility(False, "", True)
    product = {str(k): str(v) for k, v in question.get(PRODUCT, {}).items()}
    context = set(tokenize(product.get("title", ""))) | set(tokenize(str(question.get(SCOPE, "")).replace("_", " ")))
    asked = _content(text, context)
    features = {name: _content(name.replace("_", " "), context) for name in product if name != "title"}
    for name, words in features.items():
        if asked and len(_covered(asked, words)) >= len(asked) / 2:
            return Visibility(True, f"metadata: the product's {name!r} is shown", False)
    for past_question, past_answer in history:
        if normalize_answer(past_question) == normalize_answer(text):
            return Visibility(True, f"history: the same question was answered: {past_question!r}", False)
        if is_search_request(past_question):
            continue
        if _overlap(_content(f"{past_question} {past_answer}", context), asked):
            return Visibility(True, f"history: {past_question!r} was answered", False)
    for entry in knowledge:
        words = _content(entry, context)
        named = [name for name, feature_words in features.items() if feature_words and feature_words <= _covered(
            feature_words, words)]
        if named and _overlap(words - set().union(*(features[n] for n in named)), asked):
            return Visibility(True, f"knowledge: a rule about {named[0]!r}: {entry[:80]!r}", False)
    return Visibility(False, "", False)


def _judge_choice(text: str, options: Mapping[str, str], history: list[tuple[str, str]],
                  knowledge: list[str]) -> Visibility:
    option_words = set().union(*(tokenize(option) for option in options.values()))
    asked = _content(text, option_words)
    if not asked:
        return Visibility(False, "", False)
    for past_question, past_answer in history:
        if _names_one_option(past_answer, options) and (
            normalize_answer(past_question) == normalize_answer(text)
            or _share(asked, _content(past_question, option_words)) >= 0.5
        ):
            return Visibility(True, f"history: {past_question[:80]!r} was answered", False)
    for entry in knowledge:
        if _names_one_option(entry, options) and _share(asked, _content(entry, option_words)) >= 0.5:
            return Visibility(True, f"knowledge: {entry[:80]!r}", False)
    return Visibility(False, "", False)


def _content(text: str, context: Iterable[str] = ()) -> set[str]:
    return set(tokenize(text)) - _FRAME_WORDS - set(context)


def _covered(words: set[str], other: set[str]) -> set[str]:
    return {w for w in words if any(same_word(w, o) for o in other)}


def _overlap(words: set[str], other: set[str]) -> bool:
    return any(same_word(w, o) for w in words for o in other)


def _share(asked: set[str], other: set[str]) -> float:
    return len(_covered(asked, other)) / len(asked)


def _names_one_option(text: str, options: Mapping[str, str]) -> bool:
    """Whether exactly one option's text occurs in `text` at word boundaries, longest option first: an option
    found only inside a longer option's occurrence ("2" inside "2.5") does not count."""
    normalized = normalize_answer(text)
    taken = bytearray(len(normalized))
    letters_of: dict[str, int] = {}
    for option in options.values():
        if option.strip():
            letters_of[normalize_answer(option)] = letters_of.get(normalize_answer(option), 0) + 1
    named = 0
    for option in sorted(letters_of, key=len, reverse=True):
        spans = [m.span() for m in re.finditer(rf"(?<!\w){re.escape(option)}(?!\w)", normalized)]
        free = [(a, b) for a, b in spans if not any(taken[a:b])]
        if free:
            named += letters_of[option]  # a text two options share names both: not one option
            for a, b in free:
                taken[a:b] = b"\x01" * (b - a)
    return named == 1


__all__ = ["Visibility", "answer_visible", "is_search_request", "judge", "prompt_view", "same_word"]
