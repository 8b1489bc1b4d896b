"""A text env with a known optimum, for trainer tests: the observation names a word, saying it pays 1."""

from __future__ import annotations

import gymnasium as gym

from agile_gym.spaces import FreeText

WORDS = ("red", "green", "blue")


class SayWordEnv(gym.Env[str, str]):
    """Each step shows 'Say: <word>'; the reward is 1 when the action's first word is that word, 0.25 when it is
    one of the other words, else 0.

    Saying one fixed word pays 0.5 on average; only a policy that reads the observation gets more.

    An episode has `length` steps; `segment_every` > 0 marks every n-th step with info['segment_end'].
    """

    def __init__(self, length: int = 1, segment_every: int = 0) -> None:
        self.length, self.segment_every = length, segment_every
        self.observation_space = FreeText(64)
        self.action_space = FreeText(256, examples=WORDS)
        self._target, self._steps = WORDS[0], 0

    def _observe(self) -> str:
        self._target = WORDS[int(self.np_random.integers(len(WORDS)))]
        return f"Say: {self._target}"

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._steps = 0
        return self._observe(), {}

    def step(self, action: str):
        first = action.split()[:1]
        reward = 1.0 if first == [self._target] else 0.25 if first and first[0] in WORDS else 0.0
        self._steps += 1
        info = {"segment_end": bool(self.segment_every and self._steps % self.segment_every == 0)}
        terminated = self._steps >= self.length
        return self._observe(), reward, terminated, False, info


class WaitingEnv(SayWordEnv):
    """Copy 0's first step blocks until every other copy has stepped `steps` times (or `timeout_s` passes), so a
    rollout that waits for all copies before generating can only finish by timing out."""

    def __init__(self, index: int, shared: dict, steps: int, copies: int, timeout_s: float = 10.0) -> None:
        super().__init__(length=100)
        self.index, self.shared, self.steps, self.copies, self.timeout_s = index, shared, steps, copies, timeout_s

    def step(self, action: str):
        if self.index == 0 and not self.shared.get("waited"):
            self.shared["waited"] = True
            self.shared["released"] = self.shared["event"].wait(self.timeout_s)
        result = super().step(action)
        if self.index:
            with self.shared["lock"]:
                self.shared["done"] = self.shared.get("done", 0) + 1
                if self.shared["done"] == self.steps * (self.copies - 1):
                    self.shared["event"].set()
        return result
