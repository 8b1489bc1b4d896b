"""OpenEnv (openenv-core): an agile server on 127.0.0.1, started by its one command, driven by OpenEnv's client
for 2 episodes; no route to the gold through its endpoints, its MCP route or TRL's listing; TRL's GRPO through it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("openenv", reason="the integrations extra is not installed: pip install -e '.[integrations]'")
httpx = pytest.importorskip("httpx")

from agile_gym.integrations.openenv import AgileAction, AgileEnvClient, environment_factory  # noqa: E402
from tests.integrations.tiny_tools import ENV_ID, ENV_KWARGS  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "agile_gym.integrations.openenv", "--env", ENV_ID, "--port", str(port),
               "--env-kwargs", json.dumps({**ENV_KWARGS, "max_questions": 2})]
    builtin = {key: value for key, value in os.environ.items() if key != "AGILE_DATA_DIR"}  # the built-in data
    process = subprocess.Popen(command, cwd=ROOT, env=builtin, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
            assert process.poll() is None, process.stdout.read()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_two_episodes_through_the_openenv_client(server):
    with AgileEnvClient(base_url=server).sync() as env:
        scores = []
        for episode in range(2):
            result = env.reset(seed=episode)
            assert result.observation.tools == ["answer", "seek_advice", "reflect"] and not result.done
            assert "[PredictAnswer]" not in result.observation.text and "Question:" in result.observation.text
            result = env.step(AgileAction(tool="seek_advice"))
            assert result.reward == pytest.approx(0.6) and "Expert advice" in result.observation.text
            result = env.step(AgileAction(tool="reflect", arguments={"knowledge": ""}))
            assert result.reward == 0.0 and not result.done
            result = env.step(AgileAction(tool="answer", arguments={"answer": "no idea"}))
            assert result.done and result.reward == 0.0
            scores.append(result.observation.score)
            assert env.state().step_count == 3
        assert scores == [pytest.approx(0.3), pytest.approx(0.3)]  # (0.6 + 0) / 2 questions, each episode afresh


def test_no_route_to_the_gold_through_the_server(server):
    for method, params in [("tools/list", {}), ("tools/call", {"name": "expert", "arguments": {}})]:
        reply = httpx.post(f"{server}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        assert "error" in reply.json() and "result" not in reply.json()
    with AgileEnvClient(base_url=server).sync() as env:
        env.reset(seed=0)
        result = env.step(AgileAction(tool="expert"))  # an unknown tool is an invalid action: wrong, reward 0
        assert result.reward == 0.0 and "Unknown tool 'expert'" in result.observation.text
    schema = httpx.get(f"{server}/schema").json()
    assert set(schema["action"]["properties"]) == {"tool", "arguments", "metadata"}
    fields = set(schema["observation"]["properties"]) | set(schema["state"]["properties"])
    assert not {"gold", "expert", "answer_action", "question"} & fields, fields


def test_trl_lists_only_the_servers_tools_and_trains_through_it(server, tmp_path):
    pytest.importorskip("trl")
    from agile_gym.integrations.trl import session_dataset
    from tests.integrations.test_trl import FORBIDDEN, _trainer
    from tests.integrations.tiny_tools import tiny_tool_model

    factory = environment_factory(server)
    trainer = _trainer(tiny_tool_model(Path(os.environ["AGILE_CACHE_DIR"])), tmp_path, train_dataset=session_dataset(8),
                       environment_factory=factory)
    listed = sorted(tool.__name__ for tool in trainer._env_tools[None])
    assert listed == ["answer", "reflect", "seek_advice"] and not FORBIDDEN & set(listed)
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "reward_std" in entry]
    assert len(logged) == 2
    # A session's score moves only when the server stepped its env, so varied rewards mean tool calls reached it.
    assert max(entry["reward_std"] for entry in logged) > 0, logged
