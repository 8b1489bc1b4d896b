"""Collecting experience: env copies stepped side by side, their prompts batched through the policy.

The rollout records, per action, the context token ids the policy saw and the token ids it sampled. A
trajectory is cut into segments where the env sets `info["segment_end"]` (AGILE's sessions), where an episode
ends, and at the end of each rollout; the learner treats each segment as its own episode.
"""

from __future__ import annotations

import concurrent.futures as futures
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import torch

from agile_gym.contract import (
    ADVISED,
    CORRECT,
    INVALID_ACTION,
    QUESTION,
    RESULT,
    REWARD,
    SCORED,
    SEGMENT_END,
    TASK_REWARD,
)
from agile_train.engines import RolloutEngine
from agile_train.generation import Sampling, action_text


@dataclass
class Turn:
    """One action: the context ids the policy saw, the ids it sampled, and the env's reward for it."""

    prompt_ids: list[int]
    response_ids: list[int]
    reward: float = 0.0


@dataclass
class Segment:
    """Consecutive turns of one env copy optimized as one episode.

    `terminal`: nothing follows (value 0 after the last token). Otherwise the last token bootstraps from the
    value of `bootstrap_ids`, the context the policy would see next.
    """

    env_index: int
    turns: list[Turn] = field(default_factory=list)
    terminal: bool = False
    bootstrap_ids: list[int] | None = None


@dataclass
class EnvStats:
    """What the env reported during one rollout: rewards per step; per settled question (when the env puts
    `result` with `scored` in info) correctness, advice and invalid actions; finished episodes."""

    rewards: list[float] = field(default_factory=list)
    questions: int = 0
    correct: int = 0
    advised: int = 0
    invalid: int = 0
    question_reward: float = 0.0
    episodes: int = 0

    def record(self, reward: float, info: dict) -> None:
        """Count one env step: its `reward` and, when `info` settles a question, the question's outcome."""
        self.rewards.append(float(reward))
        result = info.get(RESULT)
        if isinstance(result, dict) and result.get(SCORED):
            self.questions += 1
            self.correct += bool(result.get(CORRECT))
            self.advised += bool(result.get(ADVISED))
            self.invalid += bool(result.get(INVALID_ACTION))
            # Under the SessionAdvantage wrapper the step reward is the proxy; the env's own is TASK_REWARD.
            self.question_reward += float(info.get(TASK_REWARD, result.get(REWARD, reward)))

    def summary(self) -> dict[str, float]:
        """The `env/` metrics of the rollout (see agile_train.metrics.GLOSSARY); question metrics only when
            a question was settled."""
        out = {"env/reward_mean": sum(self.rewards) / max(1, len(self.rewards)), "env/episodes": float(self.episodes)}
        if self.questions:
            out.update({
                "env/accuracy": self.correct / self.questions,
                "env/advice_rate": self.advised / self.questions,
                "env/total_score": self.question_reward / self.questions,
                "env/invalid_action_rate": self.invalid / self.questions,
                "env/questions": float(self.questions),
            })
        return out


def acts_in(info: dict) -> bool:
    """Whether the observation that came with `info` is a state the policy acts in. False only for an env that
    says no question is open (agile_gym.contract: `info[QUESTION]` empty once a session is over)."""
    return not (QUESTION in info and not info[QUESTION])


class PromptEncoder:
    """Observation text -> context token ids, with or without the tokenizer's chat template."""

    def __init__(self, tokenizer, chat_template: str, context: str, max_prompt_tokens: int) -> None:
        has_template = bool(getattr(tokenizer, "chat_template", None))
        if chat_template == "on" and not has_template:
            raise ValueError("--chat-template on, but the tokenizer has no chat template; use auto or off")
        self.use_template = chat_template == "on" or (chat_template == "auto" and has_template)
        if self.use_template and context == "concat":
            raise ValueError("--context concat with a chat template is not supported yet: its turn markers would "
                             "have to be spliced around sampled ids. Use --context last or --chat-template off.")
        self.tokenizer, self.context, self.max_prompt_tokens = tokenizer, context, max_prompt_tokens

    def encode(self, observation: str, history: list[int] | None) -> list[int]:
        """Ids for the next action: the observation alone ('last', or a fresh segment) or appended to `history`."""
        if self.use_template:
            ids = self.tokenizer.apply_chat_template([{"role": "user", "content": observation}],
                                                     add_generation_prompt=True, tokenize=True, return_dict=False)
            ids = list(ids["input_ids"] if isinstance(ids, dict) else ids)
        elif self.context == "concat" and history:
            ids = history + self.tokenizer("\n" + observation + "\n", add_special_tokens=False).input_ids
        else:
            ids = self.tokenizer(observation + "\n").input_ids
        return ids[-self.max_prompt_tokens:]


class RolloutWorker:
    """Owns the env copies and where each one stands, across iterations (AGILE sessions run on and on).

    `engine` (agile_train.engines) turns batches of context ids into sampled ids with `sampling`, drawing from
    `generator`. With `bootstrap_terminal_segments` a segment closed by `info["segment_end"]` bootstraps from
    the next session's value (the paper's state advantage V(S_i+1) - V(S_i)); otherwise it is terminal.
    `env_wait_s` < 0 steps every copy before generating again (deterministic); >= 0 generates for the copies
    that are ready after that many seconds, so a slow env step never stalls the batch.
    """

    def __init__(self, envs: list[gym.Env], encoder: PromptEncoder, engine: RolloutEngine, sampling: Sampling,
                 seed: int, *, generator: torch.Generator | None = None, bootstrap_terminal_segments: bool = False,
                 env_wait_s: float = -1.0, segment_on_info: bool = True) -> None:
        self.envs, self.encoder, self.engine, self.sampling, self.generator = envs, encoder, engine, sampling, generator
        self.bootstrap_terminal_segments = bootstrap_terminal_segments
        self.segment_on_info, self.env_wait_s = segment_on_info, env_wait_s
        self.observations: list[str] = []
        self.histories: list[list[int] | None] = []
        for index, env in enumerate(envs):
            observation, _ = env.reset(seed=seed + index)
            self.observations.append(observation)
            self.histories.append(None)
        self._pool = futures.ThreadPoolExecutor(max_workers=len(envs), thread_name_prefix="env")

    def collect(self, steps_per_env: int) -> tuple[list[Segment], EnvStats, int]:
        """`steps_per_env` actions from every env copy. Returns the segments (sorted by env copy), the env
        statistics and the number of generated tokens."""
        count = len(self.envs)
        open_segments = [Segment(index) for index in range(count)]
        done_segments: list[Segment] = []
        stats = EnvStats()
        remaining = [steps_per_env] * count
        prompts: dict[int, list[int]] = {}
        pending: dict[futures.Future, tuple[int, Turn]] = {}
        generated = 0

        def ready_copies() -> list[int]:
            busy = {index for index, _ in pending.values()}
            return [i for i in range(count) if remaining[i] and i not in busy]

        while any(remaining) or pending:
            ready = ready_copies()
            if pending and (self.env_wait_s < 0 or not ready):
                done, _ = futures.wait(pending, return_when=futures.ALL_COMPLETED if self.env_wait_s < 0
                                       else futures.FIRST_COMPLETED)
            elif pending:
                done, _ = futures.wait(pending, timeout=self.env_wait_s, return_when=futures.ALL_COMPLETED)
            else:
                done = set()
            for future in sorted(done, key=lambda f: pending[f][0]):
                index, turn = pending.pop(future)
                self._finish_step(index, turn, future.result(), open_segments, done_segments, stats)
            ready = ready_copies()
            if not ready:
                continue
            for i in ready:
                prompts[i] = self.encoder.encode(self.observations[i], self.histories[i])
            batch = [prompts[i] for i in ready]
            responses = self.engine.generate(batch, self.sampling, self.generator)
            for i, response in zip(ready, responses):
                generated += len(response)
                remaining[i] -= 1
                text = action_text(self.encoder.tokenizer, response, self.sampling)
                turn = Turn(prompts[i], response)
                pending[self._pool.submit(self.envs[i].step, text)] = (i, turn)
        for segment in open_segments:
            if segment.turns:
                i = segment.env_index
                segment.bootstrap_ids = self.encoder.encode(self.observations[i], self.histories[i])
                done_segments.append(segment)
        done_segments.sort(key=lambda segment: segment.env_index)
        return done_segments, stats, generated

    def _finish_step(self, index: int, turn: Turn, outcome: tuple, open_segments: list[Segment],
                     done_segments: list[Segment], stats: EnvStats) -> None:
        observation, reward, terminated, truncated, info = outcome
        turn.reward = float(reward)
        stats.record(reward, info)
        segment = open_segments[index]
        segment.turns.append(turn)
        self.histories[index] = turn.prompt_ids + turn.response_ids
        session_end = self.segment_on_info and bool(info.get(SEGMENT_END))
        if terminated or truncated or session_end:
            # Bootstrap from the next observation only where it is a state the policy acts in: after a time
            # limit (Gymnasium's truncation) or, with bootstrap_terminal_segments, the next session's start.
            # An env that cut the episode with no open question left (an agile/ session capped by max_questions)
            # has no such state: the segment is terminal in every mode.
            if not terminated and acts_in(info) and (truncated or self.bootstrap_terminal_segments):
                segment.bootstrap_ids = self.encoder.encode(observation, None)
            else:
                segment.terminal = True
            done_segments.append(segment)
            open_segments[index] = Segment(index)
            self.histories[index] = None
        if terminated or truncated:
            stats.episodes += 1
            observation, _ = self.envs[index].reset()
        self.observations[index] = observation

    def state(self) -> dict[str, Any]:
        """Everything needed to continue exactly here: the envs (pickled) and each copy's position."""
        return {"envs": self.envs, "observations": self.observations, "histories": self.histories}

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from `state()` of an earlier worker: its envs (the current ones are closed) and positions."""
        for env in self.envs:
            env.close()
        self.envs, self.observations, self.histories = state["envs"], state["observations"], state["histories"]

    def close(self) -> None:
        """Stop the env thread pool and close every env copy."""
        self._pool.shutdown(wait=True)
        for env in self.envs:
            env.close()
