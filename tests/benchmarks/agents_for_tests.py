"""User agent classes loaded by import path in the benchmark tests."""

import os

from agile_gym.agents import AlwaysAdviceAgent


class FlakyAdviceAgent(AlwaysAdviceAgent):
    """Always asks for advice; raises inside the category named by $AGILE_TEST_FAIL_CATEGORY (a crash), or
    interrupts there when $AGILE_TEST_INTERRUPT is set (Ctrl-C)."""

    def __init__(self, env) -> None:
        self.env = env

    def act(self, observation, info):
        if info["question"] and info["question"]["scope"] == os.environ.get("AGILE_TEST_FAIL_CATEGORY"):
            if os.environ.get("AGILE_TEST_INTERRUPT"):
                raise KeyboardInterrupt
            raise RuntimeError("agent crashed on purpose")
        return super().act(observation, info)


class EchoBatchAgent:
    """A batch agent: answers 'yes' to every question, counting how many observations each call carried."""

    calls: list[int] = []

    def act_batch(self, observations, infos):
        EchoBatchAgent.calls.append(len(observations))
        return ["[NoInformation]" if info["phase"] == "reflect" else "[PredictAnswer]\n[Answer]: yes" for info in infos]


class BrokenBatchAgent:
    """A batch agent whose construction fails, as a model that cannot load."""

    def __init__(self) -> None:
        raise RuntimeError("weights are corrupt")

    def act_batch(self, observations, infos):
        return []
