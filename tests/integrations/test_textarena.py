"""TextArena (`textarena`): a registered agile/ id made by `ta.make`, wrapped by its LLMObservationWrapper and
played for 2 episodes by a scripted agent through its reset / get_observation / step / close loop."""

from __future__ import annotations

import inspect
import random

import pytest

ta = pytest.importorskip("textarena", reason="the integrations extra is not installed")

from agile_gym.integrations.textarena import register  # noqa: E402

REPLIES = ['{"name": "seek_advice", "arguments": {}}', '{"name": "reflect", "arguments": {}}',
           '<tool_call>{"name": "answer", "arguments": {"answer": "no idea"}}</tool_call>']


def test_two_episodes_through_textarenas_loop_and_wrapper():
    register()
    global_rng = random.getstate()
    for episode in range(2):
        env = ta.wrappers.LLMObservationWrapper(ta.make("agile/MedMCQA-v2", max_questions=2))
        env.reset(num_players=1, seed=episode)
        replies, done, steps = iter(REPLIES), False, []
        while not done:
            player_id, observation = env.get_observation()
            assert player_id == 0 and "[GAME]" in observation
            done, step_info = env.step(next(replies))
            steps.append(step_info["reward"])
        rewards, game_info = env.close()
        assert steps == [pytest.approx(0.6), 0.0, 0.0] and rewards == {0: pytest.approx(0.3)}
        assert game_info[0]["step_rewards"] == steps
    assert random.getstate() == global_rng  # the session is seeded by the env, not through Python's global RNG
    with pytest.raises(ValueError, match="one player"):
        ta.make("agile/MedMCQA-v2").reset(num_players=2)
    public = {name for name, _ in inspect.getmembers(type(ta.make("agile/MedMCQA-v2"))) if not name.startswith("_")}
    assert not {"expert", "similar_questions", "memory"} & public
