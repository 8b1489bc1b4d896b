"""verl 0.9.1 (`agile_gym.integrations.verl`): the tool YAML loaded by verl's own registry, 2 sessions played through
the tool-call code of verl's agent loop (`ToolAgentLoop._call_tool`, bound as verl's own CPU tests bind it), the
reward through verl's custom-reward loader; rewards equal the env's for the same actions; no route to the gold.

verl itself needs ray and tensordict to import (`verl/__init__.py` imports `verl.protocol`, which imports both), and
its agent loop hydra-core and codetiming too; these tests skip, saying which is missing, without them. The rows,
YAML and score test needs no verl."""

from __future__ import annotations

import asyncio
import gc
import inspect
import json

import gymnasium as gym
import pytest

import agile_gym.integrations.verl as adapter
from agile_gym.integrations.tool_session import TOOL_NAMES, ToolSession
from agile_gym.integrations.verl import compute_score, session_rows, write_dataset, write_tool_config

ENV_ID, ENV_KWARGS = "agile/ProductQA-v2", {"max_questions": 3}
GOLD_ROUTES = {"expert", "similar_questions", "unwrapped", "env", "memory", "session"}
# One session's calls: (tool, JSON arguments). verl refuses the unknown tool and the bad JSON before any tool runs.
CALLS = [("search_products", '{"sql": "SELECT product_id FROM kettles WHERE price < 40"}'), ("seek_advice", "{}"),
         ("reflect", '{"knowledge": "Check the lid handle material."}'), ("expert", "{}"),
         ("answer", '{"answer": "no idea'), ("answer", '{"answer": "Yes [SeekAdvice]", "short_answer": "yes"}'),
         ("answer", '{"answer": "B0KE000001", "short_answer": "B0KE000001"}'), ("answer", '{"answer": "no"}')]
REFUSED = {3, 4}


def _verl(module: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as error:  # verl not installed, or ray / tensordict / hydra missing beside it
        pytest.skip(f"verl's {module} is not importable here ({error}): verl 0.9.1 with ray, tensordict, "
                    f"hydra-core and codetiming beside it (README, verl section)")


def test_rows_and_yaml_hold_the_envs_tools_and_no_gold(tmp_path):
    from omegaconf import OmegaConf

    path = write_tool_config(tmp_path / "tools.yaml", ENV_ID, **ENV_KWARGS)
    config = OmegaConf.load(path)
    assert "&id" not in path.read_text()  # plain YAML a user can edit: no anchors
    assert [tool.tool_schema.function.name for tool in config.tools] == list(TOOL_NAMES)
    assert {tool.class_name.rsplit(".", 1)[-1] for tool in config.tools} == set(adapter.TOOL_CLASSES.values())
    assert dict(config.tools[0].config.env_kwargs) == {"shuffle": True, "max_questions": 3}
    rows = session_rows(ENV_ID, 2, seed=5, **ENV_KWARGS)
    env = gym.make(ENV_ID, shuffle=True, **ENV_KWARGS).unwrapped
    for row, seed in zip(rows, (5, 6)):
        first = ToolSession(ENV_ID, shuffle=True, **ENV_KWARGS).reset(seed=seed)
        assert row["prompt"][0]["content"].endswith(first) and row["agent_name"] == "tool_agent"
        assert row["extra_info"]["tools_kwargs"] == {name: {"create_kwargs": {"seed": seed}} for name in TOOL_NAMES}
        env.reset(seed=seed)
        gold = env.expert()
        fields = json.dumps({key: value for key, value in row.items() if key != "prompt"})  # the prompt: above
        assert row["reward_model"]["ground_truth"] == "" and gold.question.gold_short not in fields
        assert gold.answer_action not in json.dumps(row)
    assert compute_score(ENV_ID, "", "", {"questions": 4, "tool_rewards": [0.7, 0.0, 1.0]}) == pytest.approx(0.425)
    with pytest.raises(ValueError, match="extra_info\\['questions'\\]"):
        compute_score(ENV_ID, "", "", {"tool_rewards": [1.0]})
    with pytest.raises(ValueError, match="not an agile/ env id"):
        compute_score("openai/gsm8k", "", "", {"questions": 1})


def _loop(tools):
    """verl's ToolAgentLoop holding only what its tool turn reads, with its real `_call_tool`; the token merge is a
    stand-in (no tokenizer here), as in verl's tests/experimental/agent_loop/test_tool_call_id_on_cpu.py."""
    from types import SimpleNamespace

    ToolAgentLoop = _verl("verl.experimental.agent_loop.tool_agent_loop").ToolAgentLoop

    async def merge(previous, messages, token_ids, response_mask, logprobs=None, *, tools=None):
        return SimpleNamespace(token_ids=[*token_ids, 0]), [*response_mask, 0], None

    loop = SimpleNamespace(tools=tools, tool_schemas=[], max_parallel_calls=1, max_tool_response_length=100_000,
                           tool_response_truncate_side="middle", response_length=100_000, processor=None,
                           ct_merge_context_msg=merge, _assert_mm_supported=lambda has_multi_modal: None)
    loop._call_tool = ToolAgentLoop._call_tool.__get__(loop)
    return loop


async def _tool_turn(loop, data, name: str, arguments: str) -> str:
    """One tool turn of verl's agent loop after the model called `name`: its real assistant message and
    `_handle_processing_tools_state` (which calls the tool and appends its reward to `tool_rewards`)."""
    from verl.experimental.agent_loop.tool_agent_loop import AgentState, ToolAgentLoop
    from verl.experimental.agent_loop.tool_parser import FunctionCall

    data.tool_calls = [FunctionCall(name=name, arguments=arguments)]
    data.messages.append(ToolAgentLoop._build_assistant_message(loop, "", data))
    assert await ToolAgentLoop._handle_processing_tools_state(loop, data) == AgentState.GENERATING
    assert data.messages[-1]["role"] == "tool"
    return data.messages[-1]["content"]


def test_two_sessions_through_verls_registry_and_agent_loop(tmp_path):
    registry = _verl("verl.tools.tool_registry")
    agent_loop = _verl("verl.experimental.agent_loop.tool_agent_loop")
    from omegaconf import OmegaConf
    from verl.tools.base_tool import BaseTool
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.utils.dataset.rl_dataset import RLHFDataset

    tools = registry.load_all_tools(str(write_tool_config(tmp_path / "tools.yaml", ENV_ID, **ENV_KWARGS)), None)
    assert [tool.name for tool in tools] == list(TOOL_NAMES) and all(isinstance(tool, BaseTool) for tool in tools)
    for tool in tools:  # a tool's only public calls are BaseTool's; nothing reaches the env or the gold
        public = {name for name, _ in inspect.getmembers(type(tool)) if not name.startswith("_")}
        assert public == {"action", "create", "execute", "calc_reward", "release", "get_openai_tool_schema"}
        assert not GOLD_ROUTES & set(vars(tool))
    loop = _loop({tool.name: tool for tool in tools})
    dataset = RLHFDataset(str(write_dataset(tmp_path / "train.parquet", ENV_ID, 2, seed=11, **ENV_KWARGS)), None,
                          OmegaConf.create({"cache_dir": str(tmp_path / "cache"), "filter_overlong_prompts": False}))
    rows = [dataset[index] for index in range(len(dataset))]  # verl's own reading of the parquet rows
    assert len(rows) == 2 and rows[1]["raw_prompt"] == session_rows(ENV_ID, 2, seed=11, **ENV_KWARGS)[1]["prompt"]

    def trajectory(row, tools_kwargs):  # what ToolAgentLoop.run makes of a row; one request id for all, as verl's
        # full_determinism gives ("det-0"): sessions must follow the trajectory, not its request id
        return agent_loop.AgentData(messages=list(row["raw_prompt"]), image_data=None, video_data=None,
                                    audio_data=None, mm_processor_kwargs=None, metrics={}, request_id="0",
                                    tools_kwargs=tools_kwargs)

    trajectories = [trajectory(row, row["tools_kwargs"]) for row in rows]

    async def play(trajectories):  # the two sessions interleaved, one call at a time each: two rollouts of a batch
        texts = [[], []]
        for name, arguments in CALLS:
            for data, shown in zip(trajectories, texts):
                shown.append(await _tool_turn(loop, data, name, arguments))
        return texts

    texts = asyncio.run(play(trajectories))
    reward_fn = get_custom_reward_fn(OmegaConf.create({"reward": {"custom_reward_function": {
        "path": "pkg://agile_gym.integrations.verl", "name": "compute_score"}}}))
    for data, shown, row in zip(trajectories, texts, rows):  # the same actions straight on the env
        reference = ToolSession(ENV_ID, shuffle=True, **ENV_KWARGS)
        assert row["raw_prompt"][0]["content"].endswith(reference.reset(seed=row["extra_info"]["seed"]))
        expected = [reference.call(name, arguments) for index, (name, arguments) in enumerate(CALLS)
                    if index not in REFUSED]
        assert [text for index, text in enumerate(shown) if index not in REFUSED] == expected
        assert reference.done and expected[-1] == "The session is over: no more actions are taken."
        steps = [reward for index, reward in enumerate(data.tool_rewards) if index not in REFUSED]
        assert steps == reference.rewards + [0.0] * (len(steps) - reference.steps)  # calls after the end: 0
        assert reference.steps < len(steps) and any(steps)
        assert shown[3].startswith("Unknown function 'expert'") and data.tool_rewards[3] == 0.0
        assert reference.rewards[1] == pytest.approx(0.7)
        extra_info = {**row["extra_info"], "tool_rewards": data.tool_rewards, "turn_scores": []}
        score = reward_fn(data_source=row["data_source"], solution_str="", ground_truth="", extra_info=extra_info)
        assert score == pytest.approx(reference.score) and score == pytest.approx(reference.metrics["total_score"])
    assert texts[0] != texts[1]  # two seeds, two sessions
    assert not adapter._SEEDS and len(adapter._BY_TRAJECTORY) == 2  # every call released; sessions per trajectory
    # A row without tools_kwargs: verl's loop turns the tool's error into a tool message, reward 0, no crash.
    bad = trajectory(rows[0], {})
    assert "create_kwargs.seed is missing" in asyncio.run(_tool_turn(loop, bad, "answer", "{}"))
    assert bad.tool_rewards == [0.0]
    del trajectories, data, rows, dataset, bad
    gc.collect()
    assert len(adapter._BY_TRAJECTORY) == 0  # a trajectory's session goes with it


def test_base_tool_lifecycle_per_instance(tmp_path):
    registry = _verl("verl.tools.tool_registry")
    tools = {tool.name: tool for tool in
             registry.initialize_tools_from_config(str(write_tool_config(tmp_path / "t.yaml", "agile/MedMCQA-v2",
                                                                         max_questions=2)))}
    assert list(tools) == ["answer", "seek_advice", "reflect"]

    async def play():  # create -> execute ... -> calc_reward -> release, one instance id for all tools
        for tool in tools.values():
            assert (await tool.create("session-1", create_kwargs={"seed": 3}))[0] == "session-1"
        rewards = [(await tools["seek_advice"].execute("session-1", {}))[1],
                   (await tools["reflect"].execute("session-1", {"knowledge": ""}))[1],
                   (await tools["answer"].execute("session-1", {"answer": "[SeekAdvice]"}))[1]]
        score = await tools["answer"].calc_reward("session-1")
        for tool in tools.values():
            await tool.release("session-1")
        with pytest.raises(ValueError, match="create_kwargs.seed is missing"):
            await tools["answer"].create("session-2", create_kwargs={})
        with pytest.raises(ValueError, match="was not created"):
            await tools["answer"].execute("session-3", {"answer": "A"})
        return rewards, score

    rewards, score = asyncio.run(play())
    reference = ToolSession("agile/MedMCQA-v2", shuffle=True, max_questions=2)
    reference.reset(seed=3)
    for name, arguments in [("seek_advice", {}), ("reflect", {"knowledge": ""}),
                            ("answer", {"answer": "[SeekAdvice]"})]:
        reference.call(name, arguments)
    assert rewards == reference.rewards and rewards[0] == pytest.approx(0.6) and score == pytest.approx(0.3)
    assert not adapter._SEEDS and not adapter._BY_INSTANCE
