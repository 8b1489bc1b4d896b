"""The agile/ environments in verl's multi-turn agent loop (`tool_agent`): the actions as verl tools (subclasses of
`verl.tools.base_tool.BaseTool`), the env's rewards as the trajectory's reward. Written against verl 0.9.1::

    from agile_gym.integrations.verl import write_dataset, write_tool_config
    write_tool_config("agile_tools.yaml", "agile/ProductQA-v2", max_questions=4)
    write_dataset("train.parquet", "agile/ProductQA-v2", sessions=256, max_questions=4)

    python -m verl.trainer.main_ppo data.train_files=train.parquet data.val_files=train.parquet \\
        actor_rollout_ref.rollout.multi_turn.enable=True \\
        actor_rollout_ref.rollout.multi_turn.tool_config_path=agile_tools.yaml \\
        actor_rollout_ref.rollout.multi_turn.max_tool_response_length=4096 \\
        reward.custom_reward_function.path=pkg://agile_gym.integrations.verl \\
        reward.custom_reward_function.name=compute_score ...

- **Tools.** `AnswerTool`, `SearchProductsTool`, `SeekAdviceTool` and `ReflectTool` are the env's actions
  (`agile_gym.integrations.tool_session`); `write_tool_config` writes verl's tool YAML (`class_name`, `config`,
  `tool_schema`) for the tools the env offers, with the env's id and kwargs in each tool's `config`.
- **Sessions.** verl's agent loop calls `create`, `execute` and `release` once per tool call and passes the
  trajectory's `agent_data` to `execute`; all four tools act on one `ToolSession` per trajectory (held while the
  trajectory's `agent_data` lives), reset with the row's seed from `create_kwargs`. Called without `agent_data`,
  the tools follow `BaseTool`'s own lifecycle instead: one session per `instance_id`, from the first `execute`
  after `create` until every tool created under that id released it.
- **Dataset.** `write_dataset` / `session_rows` give verl's RL rows: the prompt (one user message holding the
  session's first observation, as the tools will replay it), `agent_name="tool_agent"`, an empty
  `reward_model.ground_truth` (the env grades) and `extra_info` with the seed, the session's question count and
  `tools_kwargs` (each tool's `create_kwargs`).
- **Reward.** `execute` returns the env's reward for the step; verl collects these as the trajectory's
  `tool_rewards`, and `compute_score` (verl's custom reward function) turns them into the session's score: summed
  env rewards / questions in the session, as `ToolSession.score`.

Install: `pip install verl==0.9.1` pins transformers<5.11 (pip then takes 5.10.4, with tokenizers and
huggingface_hub to match), so it does not go into this project's environment. Beside it, without verl's pins,
`pip install --no-deps verl==0.9.1 ray tensordict pyvers hydra-core antlr4-python3-runtime codetiming` is what
verl's tools and agent loop import (`import verl` itself needs ray and tensordict); that is what the tests ran.

verl truncates tool responses to `max_tool_response_length` characters (256 by default); the tool results here
(feedback plus what is new in the prompt) are usually under 2,000. A tool steps the env in the agent loop's event
loop (a step takes well under a millisecond; a product search runs in the env's bounded SQL worker). No route to
the gold: the tools' only action is their own env action; sessions live in this module's private stores; rows and
the YAML hold no gold field. Importing this module needs no verl: the tool classes are built (importing verl) when
first looked up, as verl's registry does by `class_name`.
"""

from __future__ import annotations

import copy
import weakref
from pathlib import Path
from typing import Any
from uuid import uuid4

from agile_gym.integrations.tool_session import (
    ADVICE_TOOL,
    ANSWER_TOOL,
    REFLECT_TOOL,
    SEARCH_TOOL,
    Observation,
    ToolSession,
    tool_schemas,
)

SESSION_PROMPT = "Help with the questions below. Act only by calling the tools; each result shows what follows."
AGENT_LOOP = "tool_agent"
TOOL_CLASSES = {ANSWER_TOOL: "AnswerTool", SEARCH_TOOL: "SearchProductsTool", ADVICE_TOOL: "SeekAdviceTool",
                REFLECT_TOOL: "ReflectTool"}

# Sessions by trajectory (verl's AgentData, weakly held: a session goes when its trajectory does) and by instance
# id (BaseTool's lifecycle); the seed each tool was created with, by instance id, until that tool releases it.
_BY_TRAJECTORY: weakref.WeakKeyDictionary[Any, ToolSession] = weakref.WeakKeyDictionary()
_BY_INSTANCE: dict[str, ToolSession] = {}
_SEEDS: dict[str, dict[str, int]] = {}


def _session_options(env_id: str, observation: Observation, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"env_id": env_id, "observation": observation, "env_kwargs": {"shuffle": True, **env_kwargs}}


def _new_session(options: dict[str, Any]) -> ToolSession:
    return ToolSession(options["env_id"], observation=options["observation"], **options["env_kwargs"])


def write_tool_config(path: str | Path, env_id: str = "agile/ProductQA-v2", *, observation: Observation = "delta",
                      **env_kwargs) -> Path:
    """Write verl's tool YAML (`actor_rollout_ref.rollout.multi_turn.tool_config_path`) for the tools `env_id`
    offers with `env_kwargs` (`shuffle=True` unless given, so each row's seed picks its own question order), and
    return its path. Each entry holds `class_name` (a class of this module), `config` (`type: native` plus the
    env's id, `observation` and kwargs; kwargs must be YAML values) and `tool_schema` (the OpenAI function schema,
    which a user may reword). Pass `write_dataset` the same arguments. The env raises ValueError for bad kwargs."""
    import yaml

    options = _session_options(env_id, observation, env_kwargs)
    probe = _new_session(options)
    tools = probe.tools
    probe.close()
    entries = [{"class_name": f"{__name__}.{TOOL_CLASSES[name]}",
                "config": {"type": "native", **copy.deepcopy(options)},  # a copy each: no YAML anchors
                "tool_schema": schema} for name, schema in zip(tools, tool_schemas(tools))]
    path = Path(path)
    path.write_text(yaml.safe_dump({"tools": entries}, sort_keys=False, width=120))
    return path


def session_rows(env_id: str = "agile/ProductQA-v2", sessions: int = 256, *, seed: int = 0,
                 prompt: str = SESSION_PROMPT, observation: Observation = "delta", **env_kwargs) -> list[dict]:
    """verl RL rows, one per session (seeds `seed`, `seed + 1`, ...): `data_source` (the env id), `agent_name`
    ("tool_agent"), `prompt` (one user message: `prompt` and the session's first observation), `ability`,
    `reward_model` (`ground_truth` empty: the env grades) and `extra_info` (`index`, `seed`, `questions` in the
    session, and `tools_kwargs` giving every tool `create_kwargs={"seed": ...}`). Arguments as `write_tool_config`."""
    session = _new_session(_session_options(env_id, observation, env_kwargs))
    rows = []
    for index in range(sessions):
        first = session.reset(seed=seed + index)
        rows.append({
            "data_source": env_id, "agent_name": AGENT_LOOP, "ability": "agent",
            "prompt": [{"role": "user", "content": f"{prompt}\n\n{first}"}],
            "reward_model": {"style": "env", "ground_truth": ""},
            "extra_info": {"index": index, "seed": seed + index, "questions": session.session_length,
                           "need_tools_kwargs": True,
                           "tools_kwargs": {name: {"create_kwargs": {"seed": seed + index}} for name in session.tools}},
        })
    session.close()
    return rows


def write_dataset(path: str | Path, env_id: str = "agile/ProductQA-v2", sessions: int = 256, **kwargs) -> Path:
    """Write `session_rows(env_id, sessions, **kwargs)` as a parquet file (verl's `data.train_files`); returns
    its path."""
    from datasets import Dataset

    path = Path(path)
    Dataset.from_list(session_rows(env_id, sessions, **kwargs)).to_parquet(str(path))
    return path


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None,
                  **kwargs) -> float:
    """verl's custom reward function (`reward.custom_reward_function`): the session's score, the env rewards
    the trajectory's tool calls returned (`extra_info["tool_rewards"]`, which verl's reward managers add) summed
    over `extra_info["questions"]` (from the row), in [0, 1]. Calls verl refused before reaching a tool (unknown
    name, arguments not JSON) count 0, as the env's invalid actions do. `solution_str` and `ground_truth` are not
    used. ValueError naming the field when `data_source` is not an agile/ id or `questions` is missing."""
    if not str(data_source).startswith("agile/"):
        raise ValueError(f"compute_score: data_source {data_source!r} is not an agile/ env id")
    extra_info = extra_info or {}
    questions = extra_info.get("questions")
    if not questions:
        raise ValueError("compute_score: extra_info['questions'] is missing; build the rows with session_rows()")
    rewards = extra_info.get("tool_rewards")
    return float(sum(float(reward) for reward in (rewards if rewards is not None else []))) / int(questions)


def _lookup(instance_id: str, agent_data: Any) -> ToolSession | None:
    return _BY_TRAJECTORY.get(agent_data) if agent_data is not None else _BY_INSTANCE.get(instance_id)


def _make_classes() -> dict[str, type]:
    from verl.tools.base_tool import BaseTool
    from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse

    class _AgileTool(BaseTool):
        """One action of an agile/ session as a verl tool (module docstring). `config`: `env_id`, `observation`,
        `env_kwargs` (as `write_tool_config` writes them)."""

        action = ""

        def __init__(self, config: dict, tool_schema: OpenAIFunctionToolSchema | None = None):
            config = dict(config or {})
            self._options = _session_options(config.get("env_id", "agile/ProductQA-v2"),
                                              config.get("observation", "delta"), dict(config.get("env_kwargs") or {}))
            super().__init__(config, tool_schema)

        def get_openai_tool_schema(self) -> OpenAIFunctionToolSchema:
            return OpenAIFunctionToolSchema.model_validate(tool_schemas((self.action,))[0])

        async def create(self, instance_id: str | None = None, **kwargs) -> tuple[str, ToolResponse]:
            """Register `instance_id` (a new id when None) with the row's seed, `create_kwargs["seed"]`.
            ValueError when the seed is missing (rows from `session_rows` carry it)."""
            seed = (kwargs.get("create_kwargs") or {}).get("seed")
            if seed is None:
                raise ValueError(f"tool {self.name}: tools_kwargs.{self.name}.create_kwargs.seed is missing in the "
                                 f"dataset row (build the rows with agile_gym.integrations.verl.session_rows)")
            instance_id = instance_id or uuid4().hex
            _SEEDS.setdefault(instance_id, {})[self.name] = int(seed)
            return instance_id, ToolResponse()

        async def execute(self, instance_id: str, parameters: dict[str, Any], **kwargs) -> tuple[ToolResponse,
                                                                                                  float, dict]:
            """Take this tool's action in the trajectory's session (`agent_data`, else `instance_id`'s), starting
            it on first use. Returns the tool result, the env's reward for the step (0 once the session has ended)
            and `{"score", "done"}`. ValueError for an `instance_id` this tool did not create."""
            seed = _SEEDS.get(instance_id, {}).get(self.name)
            if seed is None:
                raise ValueError(f"tool {self.name}: instance {instance_id!r} was not created (call create first)")
            agent_data = kwargs.get("agent_data")
            session = _lookup(instance_id, agent_data)
            if session is None:
                session = _new_session(self._options)
                session.reset(seed=seed)
                if agent_data is not None:
                    _BY_TRAJECTORY[agent_data] = session
                else:
                    _BY_INSTANCE[instance_id] = session
            steps = session.steps
            text = session.call(self.action, parameters)
            reward = session.rewards[-1] if session.steps > steps else 0.0
            return ToolResponse(text=text), reward, {"score": session.score, "done": session.done}

        async def calc_reward(self, instance_id: str, **kwargs) -> float:
            """The session's score so far (`ToolSession.score`); 0 before its first step."""
            session = _lookup(instance_id, kwargs.get("agent_data"))
            return session.score if session is not None else 0.0

        async def release(self, instance_id: str, **kwargs) -> None:
            """This tool is done with `instance_id`; the instance's session goes when no tool holds the id."""
            holders = _SEEDS.get(instance_id, {})
            holders.pop(self.name, None)
            if not holders:
                _SEEDS.pop(instance_id, None)
                _BY_INSTANCE.pop(instance_id, None)

    return {class_name: type(class_name, (_AgileTool,), {"action": action, "__module__": __name__,
                                                         "__doc__": f"The `{action}` action as a verl tool."})
            for action, class_name in TOOL_CLASSES.items()}


def __getattr__(name: str) -> type:
    if name in TOOL_CLASSES.values():
        globals().update(_make_classes())  # every tool class at once, so all share one base
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
