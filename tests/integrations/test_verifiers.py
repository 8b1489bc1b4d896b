"""verifiers 0.3 (its classic `vf.MultiTurnEnv` stack): `vf.load_environment` on our module, a rollout and scoring of
2 sessions (2 rollouts each) by a scripted tool-calling model behind an OpenAI-compatible server on 127.0.0.1, the
rewards checked against the env stepped with the same actions, the same through verifiers' `vf-eval` CLI (the env in
its env-server worker), and verifiers' own tool listing (no route to the gold)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium
import pytest

vf = pytest.importorskip("verifiers",
                         reason="the integrations extra is not installed: pip install -e '.[integrations]'")
if not hasattr(vf, "MultiTurnEnv"):
    pytest.skip(f"verifiers {vf.__version__} has no classic MultiTurnEnv (0.4 keeps only verifiers.v1): "
                "pip install 'verifiers>=0.3.1,<0.4'", allow_module_level=True)

import agile_gym  # noqa: E402, F401
from agile_gym.integrations.tool_session import action_text  # noqa: E402
from tests.benchmarks.chat_server import ChatCompletionServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MODULE = "agile_gym.integrations.verifiers"
ENV_ID, ENV_KWARGS = "agile/MedMCQA-v2", {"shuffle": True, "max_questions": 3}
# Names that would reach the gold or the env itself, if a tool listing ever held them.
FORBIDDEN = {"step", "render", "close", "expert", "similar_questions", "unwrapped", "get_wrapper_attr",
             "set_wrapper_attr", "memory", "np_random", "reset"}


class ScriptedModel(ChatCompletionServer):
    """POST /v1/chat/completions: a tool-calling model with a fixed script per session. Turn 1 calls a tool that
    does not exist (`expert`: the first question is then answered wrongly), turn 2 seeks advice, turn 3 reflects,
    turn 4 answers option A; a reply after that is plain text. Every request body is kept in `bodies`."""

    SCRIPT = [("expert", {}), ("seek_advice", {}), ("reflect", {"knowledge": ""}),
              ("answer", {"answer": "A", "short_answer": "A"})]

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        super().__init__()

    def reply(self, body: dict, count: int) -> tuple[int, dict]:
        with self.lock:
            self.bodies.append(body)
        turn = sum(message["role"] == "assistant" for message in body["messages"])
        if turn >= len(self.SCRIPT):
            return 200, self.completion(body, count, {"role": "assistant", "content": "Done."})
        name, arguments = self.SCRIPT[turn]
        call = {"name": name, "arguments": json.dumps(arguments)}
        message = {"role": "assistant", "content": None,
                   "tool_calls": [{"id": f"call_{count}", "type": "function", "function": call}]}
        return 200, self.completion(body, count, message, "tool_calls")


def _replay(seed: int, calls: list[tuple[str, dict]]) -> dict:
    """The env's own metrics after the raw env (bracket-tag actions, no adapter) takes `calls` from `seed`."""
    env = gymnasium.make(ENV_ID, **ENV_KWARGS)
    _, info = env.reset(seed=seed)
    for name, arguments in calls:
        _, _, terminated, truncated, info = env.step(action_text(name, arguments))
    assert terminated or truncated
    return info["metrics"]


def _field(message, key: str):
    """A message field: verifiers' outputs hold assistant messages as dicts and tool messages as its objects."""
    return message.get(key) if isinstance(message, dict) else getattr(message, key)


def test_rollout_and_scoring_of_two_sessions_are_the_envs():
    from openai import AsyncOpenAI

    env = vf.load_environment(MODULE, agile_id=ENV_ID, num_sessions=2, seed=0, env_kwargs={"max_questions": 3})
    dataset = env.get_dataset()
    seeds = [info["seed"] for info in dataset["info"]]
    assert seeds == [0, 1] and set(dataset.column_names) == {"prompt", "info", "example_id"}
    with ScriptedModel() as model:
        client = vf.OpenAIChatCompletionsClient(AsyncOpenAI(base_url=model.base_url, api_key="local"))
        results = env.evaluate_sync(client, model="scripted", rollouts_per_example=2)
    outputs = results["outputs"]
    assert [output["example_id"] for output in outputs] == [0, 0, 1, 1]
    for output in outputs:
        completion = output["completion"]
        calls = [json.loads(call) if isinstance(call, str) else call for message in completion
                 if _field(message, "role") == "assistant" for call in _field(message, "tool_calls") or []]
        calls = [(call["name"], json.loads(call["arguments"])) for call in calls]
        assert calls == ScriptedModel.SCRIPT
        assert output["info"]["seed"] == seeds[output["example_id"]]
        expected = _replay(output["info"]["seed"], calls)
        assert output["reward"] == pytest.approx(expected["total_score"])
        assert output["metrics"]["accuracy"] == pytest.approx(expected["accuracy"])
        assert output["metrics"]["advice_rate"] == pytest.approx(1 / 3) == expected["advice_rate"]
        assert output["metrics"]["invalid_action_rate"] == pytest.approx(1 / 3) == expected["invalid_action_rate"]
        # Every tool call reached env.step, and its tool message is the env's feedback.
        assert output["metrics"]["env_steps"] == len(calls) == 4
        tool_messages = [_field(message, "content") for message in completion if _field(message, "role") == "tool"]
        assert tool_messages[0].startswith("Unknown tool 'expert'") and "Expert advice" in tool_messages[1]
        assert tool_messages[-1].endswith(f"total score {expected['total_score']:.3f}.")
        assert output["stop_condition"] == "has_final_env_response" and output["is_completed"]
    # A group's rollouts start on one session (one first prompt, one reward); the two sessions differ (option A is
    # right at seed 0's third question, wrong at seed 1's): (0 + 0.6 + 1) / 3 and (0 + 0.6 + 0) / 3.
    assert [output["reward"] for output in outputs] == pytest.approx([1.6 / 3, 1.6 / 3, 0.2, 0.2])
    first_prompts = {json.dumps(request["messages"]) for request in model.bodies if len(request["messages"]) == 1}
    assert len(first_prompts) == 2 and len(model.bodies) == 4 * 4
    assert all([tool["function"]["name"] for tool in request["tools"]] == ["answer", "seek_advice", "reflect"]
               for request in model.bodies)


@pytest.mark.parametrize("env_id, expected", [
    ("agile/ProductQA-v2", ["answer", "search_products", "seek_advice", "reflect"]),
    ("agile/MedMCQA-v2", ["answer", "seek_advice", "reflect"]),
])
def test_verifiers_lists_only_the_action_tools(env_id, expected):
    env = vf.load_environment(MODULE, agile_id=env_id, num_sessions=1, env_kwargs={"max_questions": 1})
    listed = [tool.name for tool in env.tool_defs]
    assert listed == expected and not FORBIDDEN & set(listed)
    # Rows hold a prompt and a seed only; the prompt is the env's own first observation, without the gold answer.
    row = env.get_dataset()[0]
    gym_env = gymnasium.make(env_id, shuffle=True, max_questions=1).unwrapped
    observation, _ = gym_env.reset(seed=row["info"]["seed"])
    question = observation.split("Question: ")[-1]
    assert f"Question: {question}" in row["prompt"][0]["content"]
    assert gym_env.expert().question.gold_long not in row["prompt"][0]["content"]


def test_vf_eval_runs_the_module_through_its_env_server(tmp_path):
    """verifiers' own CLI: `vf-eval <module> -a <args>`, the env loaded in its env-server worker process."""
    args = {"agile_id": ENV_ID, "num_sessions": 2, "env_kwargs": {"max_questions": 3}}
    environ = {**os.environ, "LOCAL_API_KEY": "local", "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    with ScriptedModel() as model:
        process = subprocess.run(
            [sys.executable, "-m", "verifiers.legacy.scripts.eval", MODULE, "-a", json.dumps(args), "-m", "scripted",
             "-b", model.base_url, "-k", "LOCAL_API_KEY", "-n", "2", "-r", "2", "--disable-tui", "--save-results",
             "-o", str(tmp_path)], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    [results] = tmp_path.glob("evals/*/*/results.jsonl")
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert sorted((row["info"]["seed"], round(row["reward"], 6)) for row in rows) == [
        (0, round(1.6 / 3, 6)), (0, round(1.6 / 3, 6)), (1, 0.2), (1, 0.2)]
    assert all(row["metrics"]["env_steps"] == 4 for row in rows) and len(model.bodies) == 16


def test_importing_the_adapter_loads_no_verifiers():
    code = f"import sys, {MODULE}; assert 'verifiers' not in sys.modules and 'datasets' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
