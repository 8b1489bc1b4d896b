"""The agile/ environments inside other RL stacks: TRL, verifiers, OpenEnv, verl, SkyRL-Gym, GEM and TextArena.

Each adapter is its own module and imports its library only when imported itself, so `import agile_gym` (and
`import agile_gym.integrations`) loads none of them:

- `agile_gym.integrations.tool_session`: `ToolSession`, an env made with the options `action_format="tools"` (a
  function-tool call as the action: answer, search, seek advice, reflect) and `observation="delta"` (only what is
  new since the last call; `agile_gym.tool_calls`) plus the session's bookkeeping; every adapter below runs on it.
  `ToolCalls` is the same as a wrapper of an env built with the default options. Needs only gymnasium.
- `agile_gym.integrations.trl`: `environment_factory(...)` for `GRPOTrainer(environment_factory=...)` and
  `single_turn(...)`, a question dataset plus a reward function (needs only `datasets`).
- `agile_gym.integrations.verifiers`: `load_environment(...)`, verifiers' entry point (`vf.load_environment(
  "agile_gym.integrations.verifiers", ...)`, `vf-eval agile_gym.integrations.verifiers`): a `vf.MultiTurnEnv` whose
  rollouts each step their own `ToolSession` by tool calls, rewarded by the session score, with the env's metrics.
  verifiers 0.3 (`>=0.3.1,<0.4`): 0.4 keeps only `verifiers.v1`, whose rollouts run a harness program that uv
  installs from the network.
- `agile_gym.integrations.openenv`: `serve(...)` / `python -m agile_gym.integrations.openenv` (an OpenEnv server,
  one session per client connection), `AgileEnvClient` (its client) and `environment_factory(base_url)`, a class
  for TRL's `environment_factory`.
- `agile_gym.integrations.verl`: the actions as verl 0.9.1 tools (`BaseTool` subclasses, one session per
  trajectory), `write_tool_config` (verl's tool YAML), `write_dataset` (its parquet rows) and `compute_score` (its
  custom reward function). verl pins transformers<5.11: train in an environment of its own.
- `agile_gym.integrations.skyrl_gym`, `.gem`, `.textarena`: `register()` (every current agile/ id in that library's
  registry) and the env class its `make` builds (`AgileTextEnv`, `AgileGemEnv`, `AgileArenaEnv`).

No route to the gold: the adapters expose only the action tools and the reward. The expert hook
(`env.unwrapped.expert()`) and `similar_questions()` stay reachable from Python code that holds the env, never from
a tool, a tool listing or a remote call.
"""
