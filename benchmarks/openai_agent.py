"""An agent behind any OpenAI-compatible chat completions endpoint (OpenAI, vLLM, SGLang, llama.cpp, TGI...).

Each observation is one user message (the env's prompt already holds the instructions and retrieved memory);
requests for different sessions run concurrently on one event loop. Every reply is bounded in time and fails
alone:

- each attempt has a deadline for the whole request (connect, send, headers and body together): the openai
  client's httpx timeouts are per read, so a server trickling one byte a second would never trip them;
- a failed attempt is retried, up to `retries` times: no connection, a broken or timed-out request, HTTP
  408/409/429/5xx, and a 200 whose body is not a chat completion (not JSON, HTML, a list, no choices, a choice
  without a message, content that is not text); other HTTP errors (400, 401, 404...) are not, retrying
  cannot mend them;
- between attempts it waits what the server asks (`Retry-After`) or 0.5 s doubling, never more than
  `max_wait_s`; so one reply takes at most `(retries + 1) * timeout_s + retries * max_wait_s` seconds;
- a reply that still fails is a `Reply` with `error` saying what came back, how many retries were made and how
  long it took: the runner ends that session and keeps every other. `act_batch` itself never raises for what
  an endpoint does.

The openai client only sends requests and sorts HTTP errors (its own retries are off, so the count above is the
real one); the body of a 200 is checked here, because the client would hand a wrong shape on as
`AttributeError`s.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from agile_gym.agents import Reply
from agile_gym.spaces import encodable_text

# Statuses worth another attempt (the openai client's own choice): request timeout, lock conflict, rate limit,
# and server errors.
RETRIED_STATUSES = frozenset({408, 409, 429})
EXCERPT_CHARS = 200


class BadReply(Exception):
    """A 200 answer that is not a usable chat completion; the message says what came back."""


@dataclass
class Attempt:
    """What one failed attempt got: `message` for the report, whether to retry, how long the server asked to
    wait (None: not said)."""

    message: str
    retry: bool
    retry_after_s: float | None = None


def excerpt(data: bytes | str) -> str:
    """The first EXCERPT_CHARS characters of a body, quoted, with its full length when cut."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    if len(text) <= EXCERPT_CHARS:
        return repr(text)
    return f"{text[:EXCERPT_CHARS]!r}... ({len(text)} characters)"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def read_completion(body: bytes) -> tuple[str, int, int]:
    """(text, prompt tokens, completion tokens) from a chat completion body. Raises BadReply naming what is
    wrong and quoting the body. Token counts that are missing or not integers count 0; content null is ''."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadReply(f"a 200 whose body is not JSON ({error}): {excerpt(body)}") from None
    if not isinstance(data, dict):
        raise BadReply(f"a 200 whose JSON is a {type(data).__name__}, not a chat completion object: "
                       f"{excerpt(body)}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        what = "an error" if "error" in data else "no choices" if choices in (None, []) else "choices not a list"
        raise BadReply(f"a 200 with {what}: {excerpt(body)}")
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    if not isinstance(message, dict):
        raise BadReply(f"a 200 whose first choice has no message object: {excerpt(body)}")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise BadReply(f"a 200 whose message content is {type(content).__name__}, not text: {excerpt(body)}")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    tokens = [usage.get(key) for key in ("prompt_tokens", "completion_tokens")]
    prompt_tokens, completion_tokens = (n if isinstance(n, int) and not isinstance(n, bool) else 0 for n in tokens)
    return content or "", prompt_tokens, completion_tokens


class OpenAIChatAgent:
    """A batch agent sending each observation as one user message (after `system_prompt`, if given) to
    `model` at `base_url` (None: the openai client's default), at most `concurrency` requests at once.

    The key is read from `$api_key_env`. Raises ValueError when the openai package is missing, when the key
    is unset and no `base_url` is given, or for a negative `retries` or a `timeout_s` / `max_wait_s` that is
    not positive. `timeout_s`: seconds one attempt may take, whole request; `retries`: further attempts after
    a failed one; `max_wait_s`: longest wait between attempts, whatever `Retry-After` asks. Call `close()`
    when done (optional: the loop thread is a daemon)."""

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 max_new_tokens: int = 256, temperature: float = 0.0, timeout_s: float = 60.0, retries: int = 3,
                 concurrency: int = 8, system_prompt: str | None = None, max_wait_s: float = 30.0) -> None:
        try:
            import openai
        except ImportError:
            raise ValueError("openai:<model> agents need the openai package: pip install -e '.[bench]'") from None
        api_key = os.environ.get(api_key_env)
        if not api_key and base_url is None:
            raise ValueError(f"openai:{model}: set ${api_key_env}, or pass --base-url for a local server")
        if retries < 0 or not timeout_s > 0 or not max_wait_s > 0:
            raise ValueError(f"openai:{model}: retries must be >= 0 and timeout_s, max_wait_s > 0, got "
                             f"retries={retries}, timeout_s={timeout_s}, max_wait_s={max_wait_s}")
        self.openai = openai
        self.model, self.base_url = model, base_url
        self.max_new_tokens, self.temperature, self.system_prompt = max_new_tokens, temperature, system_prompt
        self.timeout_s, self.retries, self.max_wait_s = timeout_s, retries, max_wait_s
        # One event loop in a daemon thread: asyncio can cancel a request at its deadline (closing the
        # connection), which a blocking client in a thread pool cannot.
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="openai-agent", daemon=True)
        self.thread.start()
        self.limit = asyncio.Semaphore(max(1, concurrency))
        # Local servers (vLLM, llama.cpp) accept any key; the client refuses to start without one. Its own
        # timeouts (per connect, per read) are only a backstop, twice the deadline, so that the deadline
        # decides and says so.
        self.client = openai.AsyncOpenAI(api_key=api_key or "EMPTY", base_url=base_url, timeout=2 * timeout_s,
                                         max_retries=0)

    def act_batch(self, observations: list[str], infos: list[dict[str, Any]] | None = None) -> list[Reply]:
        """One `Reply` per observation, in order, with the endpoint's prompt and completion token counts.
        `infos` is ignored. Never raises for a failing endpoint: that reply has empty text and `error` set.
        Returns within `(retries + 1) * timeout_s + retries * max_wait_s` seconds plus queueing behind
        `concurrency`."""
        future = asyncio.run_coroutine_threadsafe(self._ask_all(observations), self.loop)
        try:
            return future.result()
        except BaseException:  # Ctrl-C while waiting: stop the requests, then let it through
            future.cancel()
            raise

    async def _ask_all(self, observations: list[str]) -> list[Reply]:
        return list(await asyncio.gather(*(self._ask(observation) for observation in observations)))

    async def _ask(self, observation: str) -> Reply:
        messages = [{"role": "user", "content": encodable_text(observation)}]
        if self.system_prompt:
            messages.insert(0, {"role": "system", "content": encodable_text(self.system_prompt)})
        began, waited = time.monotonic(), 0.0
        async with self.limit:
            for attempt in range(self.retries + 1):
                try:
                    raw = await asyncio.wait_for(self.client.chat.completions.with_raw_response.create(
                        model=self.model, messages=messages, max_tokens=self.max_new_tokens,
                        temperature=self.temperature), self.timeout_s)
                    return Reply(*read_completion(raw.content))
                except Exception as error:  # noqa: BLE001 (every failure becomes this session's error)
                    failed = self._describe(error)
                if not failed.retry or attempt == self.retries:
                    break
                wait = min(self.max_wait_s, 0.5 * 2 ** attempt if failed.retry_after_s is None
                           else failed.retry_after_s)
                waited += wait
                await asyncio.sleep(wait)
        why = "" if failed.retry else " (not retried: retrying cannot mend it)"
        asked = f"; the server asked to wait {failed.retry_after_s:.1f} s, waits are capped at " \
                f"{self.max_wait_s:g} s" if failed.retry_after_s and failed.retry_after_s > self.max_wait_s else ""
        return Reply("", error=f"{failed.message}{why}; retries: {attempt}, {time.monotonic() - began:.1f} s "
                               f"(of which {waited:.1f} s waiting){asked}")

    def _describe(self, error: Exception) -> Attempt:
        """What a failed attempt got back, and whether another attempt may help."""
        openai = self.openai
        if isinstance(error, asyncio.TimeoutError):  # wait_for's deadline (TimeoutError from Python 3.11)
            return Attempt(f"no complete reply within the {self.timeout_s:g} s deadline of a request", True)
        if isinstance(error, BadReply):
            return Attempt(str(error), True)
        if isinstance(error, openai.APIStatusError):
            response = error.response
            status = response.status_code
            return Attempt(f"HTTP {status} {response.reason_phrase}: {excerpt(response.content)}",
                           status in RETRIED_STATUSES or status >= 500,
                           parse_retry_after(response.headers.get("retry-after")))
        if isinstance(error, openai.APIConnectionError):
            cause = error.__cause__ or error
            return Attempt(f"no reply from {self.base_url or 'the endpoint'}: {type(cause).__name__}: "
                           f"{cause}", True)
        return Attempt(f"{type(error).__name__}: {error}", False)

    def close(self) -> None:
        """Close the HTTP client and stop the event loop; the agent is unusable afterwards."""
        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self.client.close(), self.loop).result(timeout=5)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)

    def describe(self) -> dict[str, Any]:
        """The settings recorded in results.json (kind, model, base_url, sampling, timeout_s, retries,
        max_wait_s), never the key."""
        return {"kind": "openai", "model": self.model, "base_url": self.base_url, "temperature": self.temperature,
                "max_new_tokens": self.max_new_tokens, "timeout_s": self.timeout_s, "retries": self.retries,
                "max_wait_s": self.max_wait_s}
