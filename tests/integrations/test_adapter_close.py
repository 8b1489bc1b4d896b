"""Every adapter's own close releases the agile env it holds (ProductQA keeps an SQL worker process per category;
a trainer that makes an env per episode would otherwise leave one behind each time)."""

from __future__ import annotations

import pytest

from agile_gym.envs.productqa import ProductQAEnv

ID = "agile/ProductQA-v2"


def _skyrl_gym():
    skyrl_gym = pytest.importorskip("skyrl_gym", reason="the integrations extra is not installed")
    from agile_gym.integrations.skyrl_gym import register

    register()
    env = skyrl_gym.make(ID, env_config={"max_questions": 1})
    env.init([])
    return env


def _gem():
    gem = pytest.importorskip("gem", reason="the integrations extra is not installed")
    from agile_gym.integrations.gem import register

    register()
    env = gem.make(ID, max_questions=1)
    env.reset()
    return env


def _textarena():
    ta = pytest.importorskip("textarena", reason="the integrations extra is not installed")
    from agile_gym.integrations.textarena import register

    register()
    env = ta.make(ID, max_questions=1)
    env.reset(num_players=1, seed=0)
    return env


def _openenv():
    pytest.importorskip("openenv", reason="the integrations extra is not installed")
    from agile_gym.integrations.openenv import _classes

    env = _classes()["AgileEnvironment"](ID, "delta", max_questions=1)
    env.reset(seed=0)
    return env


@pytest.mark.parametrize("make", [_skyrl_gym, _gem, _textarena, _openenv], ids=lambda make: make.__name__[1:])
def test_closing_the_adapter_closes_its_env(make, monkeypatch):
    closed = []
    original = ProductQAEnv.close

    def recording_close(self):
        closed.append(self)
        original(self)

    monkeypatch.setattr(ProductQAEnv, "close", recording_close)
    env = make()
    assert closed == []
    env.close()
    assert len(closed) == 1
