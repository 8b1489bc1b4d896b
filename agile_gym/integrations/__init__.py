"""The agile/ environments inside other RL stacks: TRL, verifiers and OpenEnv.

Each adapter is its own module and imports its library only when imported itself, so `import agile_gym` (and
`import agile_gym.integrations`) loads none of them:

- `agile_gym.integrations.tool_session`: `ToolSession`, one session driven by function-tool calls (answer, search,
  seek advice, reflect) with observations for a conversation (tool instructions instead of bracket tags; only what
  is new since the last call). Every adapter below runs on it; it needs only gymnasium.
- `agile_gym.integrations.trl`: `environment_factory(...)` for `GRPOTrainer(environment_factory=...)` and
  `single_turn(...)`, a question dataset plus a reward function.
- `agile_gym.integrations.verifiers`: `load_environment(...)`, a verifiers environment whose episodes are sessions.
- `agile_gym.integrations.openenv`: `serve(...)` / `python -m agile_gym.integrations.openenv` (an OpenEnv server,
  one session per client episode) and `OpenEnvTools`, its client side, ready for TRL's `environment_factory`.

No route to the gold: the adapters expose only the action tools and the reward. The expert hook
(`env.unwrapped.expert()`) and `similar_questions()` stay reachable from Python code that holds the env, never from
a tool, a tool listing or a remote call.
"""
