"""The agile/ environments in TRL's GRPOTrainer: a multi-turn `environment_factory` and a single-turn dataset.

Multi-turn (the model acts through tool calls; TRL appends each tool result to the conversation)::

    from agile_gym.integrations.trl import environment_factory, session_dataset
    trainer = GRPOTrainer(model=..., args=GRPOConfig(...), train_dataset=session_dataset(256),
                          environment_factory=environment_factory("agile/ProductQA-v2", max_questions=4))

Single-turn (one prompt per question; the reward is the env's reward for the completion as the action)::

    from agile_gym.integrations.trl import single_turn
    dataset, reward = single_turn("agile/MedMCQA-v2")
    trainer = GRPOTrainer(model=..., args=GRPOConfig(...), train_dataset=dataset, reward_funcs=reward)

TRL turns every public method of the environment class into a tool, so the class this module builds has exactly
the action tools of the env (`answer`, `search_products` where the task has a tool, `seek_advice`, `reflect`) plus
`reset` and `get_reward`, which TRL reserves. The env lives in a private attribute: no tool, and nothing TRL lists,
reaches `expert()`, `similar_questions()` or a gold field. This module imports neither TRL nor torch.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from typing import Any

from agile_gym.integrations.tool_session import ADVICE_TOOL, ANSWER_TOOL, REFLECT_TOOL, SEARCH_TOOL, ToolSession

SESSION_PROMPT = "Help with the questions below. Act only by calling the tools; each result shows what follows."


def row_seed(row: dict[str, Any]) -> int:
    """A dataset row's session seed: its `seed` column, else a stable hash of its prompt."""
    seed = row.get("seed")
    if seed is None:
        seed = int(hashlib.sha256(repr(row.get("prompt")).encode()).hexdigest()[:8], 16)
    return int(seed)


class _SessionBase:
    """TRL's reserved methods; the env's tools are mixed in per env (`environment_factory`). The tool mixins below
    act through `self._call(tool, arguments)`, which `agile_gym.integrations.openenv` sends to a server instead."""

    _env_id: str = "agile/ProductQA-v2"
    _options: dict[str, Any] = {}

    def __init__(self) -> None:
        options = dict(self._options)
        self._session = ToolSession(self._env_id, observation=options.pop("observation", "delta"), **options)

    def reset(self, **row: Any) -> str:
        """Start the row's session: the row's `seed` (or, without one, a hash of its prompt), so every rollout of
        a GRPO group plays the same session. Returns the first observation, which TRL appends to the prompt."""
        return "\n\n" + self._session.reset(seed=row_seed(row))

    def get_reward(self) -> float:
        """The session's total score in [0, 1] (summed env rewards / questions; unanswered questions count 0)."""
        return self._session.score

    def _call(self, name: str, arguments: dict[str, Any]) -> str:
        return self._session.call(name, arguments)


class _AnswerTool:
    def answer(self, answer: str, short_answer: str = "") -> str:
        """Answer the open question. It is graded now and the next question follows.

        Args:
            answer: The full answer to the question.
            short_answer: Optional graded short form (option letter, product ids, yes or no); empty: the answer.

        Returns:
            The grading feedback and the next question.
        """
        return self._call(ANSWER_TOOL, {"answer": answer, "short_answer": short_answer})


class _SearchTool:
    def search_products(self, sql: str) -> str:
        """Run a read-only SQL SELECT over the category's product table.

        Args:
            sql: One SELECT statement, for example SELECT product_id FROM kettles WHERE price < 50

        Returns:
            The matching product ids and titles, or the error.
        """
        return self._call(SEARCH_TOOL, {"sql": sql})


class _AdviceTool:
    def seek_advice(self) -> str:
        """Ask the expert for the answer. It counts as correct but costs part of the question's reward.

        Returns:
            The expert's advice.
        """
        return self._call(ADVICE_TOOL, {})


class _ReflectTool:
    def reflect(self, knowledge: str = "") -> str:
        """After advice: store general knowledge learned from it in memory.

        Args:
            knowledge: A general lesson for other questions; empty stores nothing.

        Returns:
            Whether it was stored, and the next question.
        """
        return self._call(REFLECT_TOOL, {"knowledge": knowledge})


TOOL_MIXINS = {ANSWER_TOOL: _AnswerTool, SEARCH_TOOL: _SearchTool, ADVICE_TOOL: _AdviceTool, REFLECT_TOOL: _ReflectTool}


def environment_factory(env_id: str = "agile/ProductQA-v2", *, observation: str = "delta", **env_kwargs) -> type:
    """A class to pass as `GRPOTrainer(environment_factory=...)`: each instance is one `ToolSession` of `env_id`
    (`observation` and `env_kwargs` as there; `shuffle=True` unless given, so each row's seed picks its own
    question order). Its public methods are exactly the env's action tools plus `reset(**row)` and `get_reward()`.
    The env's kwargs are checked now (the env raises ValueError for a bad one)."""
    options = {"shuffle": True, **env_kwargs, "observation": observation}
    tools = ToolSession(env_id, **options).tools
    name = env_id.split("/")[-1].split("-")[0] + "Tools"
    return type(name, (_SessionBase, *(TOOL_MIXINS[tool] for tool in tools)),
                {"_env_id": env_id, "_options": options, "__module__": __name__})


def session_dataset(sessions: int, seed: int = 0, prompt: str = SESSION_PROMPT):
    """A `datasets.Dataset` of `sessions` rows for the multi-turn path: a conversational `prompt` (one user
    message; `reset` appends the session's first observation) and a distinct `seed` per row (`seed` + row)."""
    from datasets import Dataset

    return Dataset.from_list([{"prompt": [{"role": "user", "content": prompt}], "seed": seed + row}
                              for row in range(sessions)])


def single_turn(env_id: str = "agile/ProductQA-v2", *, seed: int = 0, conversational: bool = True,
                **env_kwargs) -> tuple[Any, Callable[..., list[float]]]:
    """One row per question of a session of `env_id` (reset with `seed`) and a reward function for it.

    Each row's prompt is the env's observation at that question (bracket-tag actions, as the env asks); the
    reward of a completion is the env's reward for it as the action, stepped on a copy of the env as it stood at
    that question. Earlier questions are answered with the expert hook's answer (and reflection), so memory holds
    what a correct agent would have stored; a row's own gold answer is never in its prompt. Returns
    `(datasets.Dataset with "prompt" and "question_index", reward_func)`; `conversational=False` gives plain-text
    prompts. Completions may be text or chat messages (the last message's content is the action).
    """
    import gymnasium
    from datasets import Dataset

    import agile_gym  # noqa: F401  (registers the ids)

    env = gymnasium.make(env_id, **env_kwargs).unwrapped
    observation, info = env.reset(seed=seed)
    snapshots, rows, done = [], [], False
    while not done:
        if info["phase"] == "answer":
            rows.append({"prompt": [{"role": "user", "content": observation}] if conversational else observation,
                         "question_index": len(snapshots)})
            snapshots.append(copy.deepcopy(env))
        expert = env.expert()
        action = expert.answer_action if info["phase"] == "answer" else expert.reflection_action
        observation, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated

    def agile_reward(completions: list, question_index: list[int], **_: Any) -> list[float]:
        """The env's reward for each completion as the action at its row's question."""
        rewards = []
        for completion, index in zip(completions, question_index):
            text = completion if isinstance(completion, str) else (completion[-1].get("content") or "")
            rewards.append(float(copy.deepcopy(snapshots[index]).step(text)[1]))
        return rewards

    return Dataset.from_list(rows), agile_reward
