"""An agent behind any OpenAI-compatible chat completions endpoint (OpenAI, vLLM, SGLang, llama.cpp, TGI...).

Each observation is one user message (the env's prompt already holds the instructions and retrieved memory);
requests for different sessions run concurrently. Timeouts, connection errors, 408/409/429 and 5xx answers are
retried with exponential backoff by the `openai` client; a request that still fails becomes a `Reply` with
`error` set, so the runner ends that session and keeps every other.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agile_gym.agents import Reply


class OpenAIChatAgent:
    """A batch agent sending each observation as one user message (after `system_prompt`, if given) to
    `model` at `base_url` (None: the openai client's default), at most `concurrency` requests at once.

    The key is read from `$api_key_env`. Raises ValueError when the openai package is missing, or when the key
    is unset and no `base_url` is given. `timeout_s` is seconds per request; `retries` the client's retries."""

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 max_new_tokens: int = 256, temperature: float = 0.0, timeout_s: float = 60.0, retries: int = 3,
                 concurrency: int = 8, system_prompt: str | None = None) -> None:
        try:
            import openai
        except ImportError:
            raise ValueError("openai:<model> agents need the openai package: pip install -e '.[openai]'") from None
        api_key = os.environ.get(api_key_env)
        if not api_key and base_url is None:
            raise ValueError(f"openai:{model}: set ${api_key_env}, or pass --base-url for a local server")
        # Local servers (vLLM, llama.cpp) accept any key; the client refuses to start without one.
        self.client = openai.OpenAI(api_key=api_key or "EMPTY", base_url=base_url, timeout=timeout_s,
                                    max_retries=retries)
        self.errors = (openai.OpenAIError,)
        self.model, self.base_url = model, base_url
        self.max_new_tokens, self.temperature, self.system_prompt = max_new_tokens, temperature, system_prompt
        self.timeout_s, self.retries = timeout_s, retries
        self.pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="openai-agent")

    def act_batch(self, observations: list[str], infos: list[dict[str, Any]] | None = None) -> list[Reply]:
        """One `Reply` per observation, in order, with the endpoint's prompt and completion token counts.
        `infos` is ignored. Never raises for a failing endpoint: that reply has empty text and `error` set."""
        return list(self.pool.map(self._ask, observations))

    def _ask(self, observation: str) -> Reply:
        messages = [{"role": "user", "content": observation}]
        if self.system_prompt:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        try:
            response = self.client.chat.completions.create(
                model=self.model, messages=messages, max_tokens=self.max_new_tokens, temperature=self.temperature)
        except self.errors as error:
            return Reply("", error=f"{type(error).__name__} after {self.retries} retries: {error}")
        if not response.choices:
            return Reply("", error="the endpoint answered with no choices")
        usage = response.usage
        return Reply(response.choices[0].message.content or "",
                     usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0)

    def describe(self) -> dict[str, Any]:
        """The settings recorded in results.json (kind, model, base_url, sampling, timeout_s, retries), never
        the key."""
        return {"kind": "openai", "model": self.model, "base_url": self.base_url, "temperature": self.temperature,
                "max_new_tokens": self.max_new_tokens, "timeout_s": self.timeout_s, "retries": self.retries}
