"""The paper's heuristic state advantage, added to the reward of each question's session.

AGILE optimizes every session (one question with its search, advice and reflection steps) as its own episode
with the proxy reward r_i + A_i, where A_i stands for the effect of session i on the sessions after it. For QA
the paper (session-level optimization, Appendix A) uses
A_i = beta * 1[similar questions come later] / (similar questions already in memory + 1).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from agile_gym.contract import ADVISED, QUESTION, RESULT, SEGMENT_END, SESSION_ADVANTAGE, TASK_REWARD


class SessionAdvantage(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Adds the heuristic state advantage A_i to the reward of the step that closes a question's session.

    The inner env must expose `similar_questions(threshold) -> (later, earlier)` on `env.unwrapped` (every
    `agile/` env does) and mark the step that closes a session with `info["segment_end"]`.

    A_i values the state change the session leaves behind. With `on="advice"` (default) it is paid only when
    the session sought advice, the one action that writes a verified answer (and a reflection) to memory; this
    is our reading of the paper, which states A_i for the session without naming the action. `on="always"`
    pays it to every session, as the formula reads literally (a constant per question, so it shifts values
    without changing which action is best).

    `similarity` is the threshold two questions must reach to count as similar; None takes the env's default
    for its measure (Jaccard of word sets with lexical retrieval, cosine of embeddings with dense retrieval:
    `env.unwrapped.similar_questions`).

    `info["session_advantage"]` holds A_i on the closing step (0.0 elsewhere); `info["task_reward"]` the
    reward before it, so metrics stay comparable with the unwrapped env.
    """

    def __init__(self, env: gym.Env, beta: float = 0.1, similarity: float | None = None, on: str = "advice") -> None:
        gym.utils.RecordConstructorArgs.__init__(self, beta=beta, similarity=similarity, on=on)
        super().__init__(env)
        if not callable(getattr(env.unwrapped, "similar_questions", None)):
            raise TypeError(
                f"SessionAdvantage needs an env with similar_questions(threshold) -> (later, earlier) on "
                f"env.unwrapped, such as the agile/ envs; {type(env.unwrapped).__name__} has none. Use "
                "--session-advantage value or none for other envs."
            )
        if on not in ("advice", "always"):
            raise ValueError(f"on must be 'advice' or 'always', got {on!r}")
        if similarity is not None and not 0.0 < similarity <= 1.0:
            raise ValueError(f"similarity must be in (0, 1], got {similarity}")
        self.beta, self.similarity, self.on = beta, similarity, on
        self._advantage = 0.0
        self._advised = False

    def reset(self, **kwargs) -> tuple[Any, dict]:
        """Reset the inner env and compute A_i for its first question."""
        observation, info = self.env.reset(**kwargs)
        self._open_session(info)
        return observation, info

    def step(self, action):
        """Step the inner env; on a step with `info["segment_end"]` add A_i to the reward (see the class)."""
        observation, reward, terminated, truncated, info = self.env.step(action)
        result = info.get(RESULT) or {}
        self._advised = self._advised or bool(result.get(ADVISED))
        info[TASK_REWARD] = reward
        info[SESSION_ADVANTAGE] = 0.0
        if info.get(SEGMENT_END):
            if self.on == "always" or self._advised:
                info[SESSION_ADVANTAGE] = self._advantage
                reward = reward + self._advantage
            self._open_session(info)
        return observation, reward, terminated, truncated, info

    def _open_session(self, info: dict) -> None:
        self._advised = False
        self._advantage = 0.0
        if info.get(QUESTION):
            later, earlier = self.env.unwrapped.similar_questions(self.similarity)
            self._advantage = self.beta * float(later > 0) / (earlier + 1)
