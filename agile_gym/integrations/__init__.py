"""The agile/ environments inside other RL stacks: TRL, verifiers, OpenEnv, SkyRL-Gym, GEM and TextArena.

Each adapter is its own module and imports its library only when imported itself, so `import agile_gym` (and
`import agile_gym.integrations`) loads none of them:

- `agile_gym.integrations.tool_session`: `ToolCalls`, a Gymnasium wrapper whose action is a function-tool call
  (answer, search, seek advice, reflect) and whose observations suit a conversation (tool instructions instead of
  bracket tags; only what is new since the last call), and `ToolSession`, that wrapper plus the session's
  bookkeeping. Every adapter below runs on it; it needs only gymnasium.
- `agile_gym.integrations.trl`: `environment_factory(...)` for `GRPOTrainer(environment_factory=...)` and
  `single_turn(...)`, a question dataset plus a reward function (needs only `datasets`).
- `agile_gym.integrations.verifiers`: `load_environment(...)`, verifiers' entry point (`vf.load_environment(
  "agile_gym.integrations.verifiers", ...)`, `vf-eval agile_gym.integrations.verifiers`): a `vf.MultiTurnEnv` whose
  rollouts each step their own `ToolSession` by tool calls, rewarded by the session score, with the env's metrics.
  verifiers 0.3 (`>=0.3.1,<0.4`): 0.4 keeps only `verifiers.v1`, whose rollouts run a harness program that uv
  installs from the network.
- `agile_gym.integrations.openenv`: `serve(...)` / `python -m agile_gym.integrations.openenv` (an OpenEnv server,
  one session per client episode) and `OpenEnvTools`, its client side, ready for TRL's `environment_factory`.
- `agile_gym.integrations.skyrl_gym`, `.gem`, `.textarena`: `register()` (every agile/ id in that library's
  registry) and the env class its `make` builds (`AgileTextEnv`, `AgileGemEnv`, `AgileArenaEnv`).

No route to the gold: the adapters expose only the action tools and the reward. The expert hook
(`env.unwrapped.expert()`) and `similar_questions()` stay reachable from Python code that holds the env, never from
a tool, a tool listing or a remote call.
"""
