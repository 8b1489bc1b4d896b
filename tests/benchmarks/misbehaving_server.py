"""An OpenAI-compatible stand-in on loopback that misbehaves on purpose: POST /v1/chat/completions.

Requests whose last message contains `when` (every request when None) get `behaviour` (one of BEHAVIOURS),
the first `times` of them only when `times` is given; every other request gets a well-formed completion that
asks for advice ([NoInformation] when asked to reflect). `requests` counts the requests that reached it,
`misbehaved` those that got the behaviour, `prompts` holds every last message. "trickle" sends a byte every
`trickle_s` seconds. Sleeps and trickles end when the server stops.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler

from tests.benchmarks.chat_server import LoopbackServer

# behaviour -> what it sends (tests/benchmarks/test_openai_agent.py says what the agent must make of each)
BEHAVIOURS = {
    "ok": "a well-formed completion",
    "malformed-json": "200, application/json, a truncated JSON object",
    "html": "200, text/html, an HTML error page",
    "empty-body": "200, application/json, no body at all",
    "not-utf8": "200, application/json, bytes that are not UTF-8",
    "json-list": "200, a JSON list",
    "json-string": "200, a JSON string",
    "no-choices-key": "200, a JSON object without choices",
    "error-in-200": "200, an OpenAI-style error object",
    "empty-choices": "200, choices: []",
    "choice-not-object": "200, choices: [\"text\"]",
    "choice-without-message": "200, a choice with no message",
    "content-not-text": "200, a message whose content is a number",
    "content-null": "200, a message whose content is null (an empty reply)",
    "usage-garbage": "200, a good completion with usage of the wrong types",
    "status-500": "500 with an error object",
    "status-503-html": "503 with an HTML page",
    "status-404": "404 (a wrong base URL)",
    "status-401": "401 (a wrong key)",
    "status-400": "400 (the prompt is too long)",
    "rate-limit-huge": "429 with Retry-After: 3600",
    "rate-limit-date": "429 with Retry-After as an HTTP date in 2099",
    "rate-limit-100": "429 with Retry-After: 100 (under the openai client's own 120 s cap)",
    "rate-limit-short": "429 with Retry-After: 0.2",
    "trickle": "200 headers, then the body one byte per `trickle_s` (1 s)",
    "slow-headers": "nothing for 60 s, then a completion",
    "hang-up": "closes the connection without a reply",
    "short-body": "Content-Length larger than the body, then closes",
    "redirect-loop": "302 to itself, forever",
}


def completion(prompt: str, model: str) -> dict:
    answer = "[NoInformation]" if "Reflect on this question" in prompt else "[SeekAdvice]"
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}],
            "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": 2,
                      "total_tokens": len(prompt.split()) + 2}}


def refused_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MisbehavingServer(LoopbackServer):
    def __init__(self, behaviour: str, when: str | None = None, times: int | None = None,
                 trickle_s: float = 1.0) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}: one of {', '.join(BEHAVIOURS)}")
        self.behaviour, self.when, self.times, self.trickle_s = behaviour, when, times, trickle_s
        self.requests = self.misbehaved = 0
        self.prompts: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # the redirect loop lands here
                self._raw(302, b"", "text/plain", {"Location": self.path})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = str(body["messages"][-1]["content"])
                with server.lock:
                    server.requests += 1
                    server.prompts.append(prompt)
                    chosen = server.when is None or server.when in prompt
                    if chosen and server.times is not None:
                        chosen = server.misbehaved < server.times
                    server.misbehaved += chosen
                try:
                    self._answer(server.behaviour if chosen else "ok", prompt, body.get("model", "?"))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up; nothing to answer

            def _answer(self, behaviour: str, prompt: str, model: str) -> None:
                good = json.dumps(completion(prompt, model)).encode()
                html = b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"
                error = {"error": {"message": "stand-in failure", "type": "server_error"}}
                simple = {
                    "ok": (200, good), "malformed-json": (200, good[: len(good) // 2]), "empty-body": (200, b""),
                    "not-utf8": (200, b'{"choices": "\xff\xfe"}'), "json-list": (200, [completion(prompt, model)]),
                    "json-string": (200, "[SeekAdvice]"), "no-choices-key": (200, {"id": "x", "object": "chat"}),
                    "error-in-200": (200, error), "empty-choices": (200, {"choices": []}),
                    "choice-not-object": (200, {"choices": ["[SeekAdvice]"]}),
                    "choice-without-message": (200, {"choices": [{"index": 0, "finish_reason": "stop"}]}),
                    "content-not-text": (200, {"choices": [{"message": {"role": "assistant", "content": 7}}]}),
                    "content-null": (200, {"choices": [{"message": {"role": "assistant", "content": None}}]}),
                    "usage-garbage": (200, {**completion(prompt, model), "usage": {"prompt_tokens": "many"}}),
                    "status-500": (500, error), "status-404": (404, {"error": {"message": "no such route"}}),
                    "status-401": (401, {"error": {"message": "Incorrect API key provided"}}),
                    "status-400": (400, {"error": {"message": "maximum context length is 8 tokens"}}),
                }
                if behaviour in simple:
                    status, payload = simple[behaviour]
                    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                    return self._raw(status, data)
                if behaviour == "html":
                    return self._raw(200, html, "text/html")
                if behaviour == "status-503-html":
                    return self._raw(503, html, "text/html")
                if behaviour.startswith("rate-limit"):
                    after = {"rate-limit-huge": "3600", "rate-limit-100": "100", "rate-limit-short": "0.2",
                             "rate-limit-date": "Thu, 01 Jan 2099 00:00:00 GMT"}[behaviour]
                    return self._raw(429, json.dumps({"error": {"message": "slow down"}}).encode(),
                                     headers={"Retry-After": after})
                if behaviour == "trickle":
                    self._head(200, len(good))
                    for byte in good:
                        if server.stop.wait(server.trickle_s):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    return None
                if behaviour == "slow-headers":
                    if not server.stop.wait(60.0):
                        self._raw(200, good)
                    return None
                if behaviour == "hang-up":
                    self.close_connection = True
                    return self.connection.shutdown(socket.SHUT_RDWR)
                if behaviour == "short-body":
                    self._head(200, len(good) + 100)
                    self.wfile.write(good)
                    self.close_connection = True
                    return self.connection.shutdown(socket.SHUT_RDWR)
                if behaviour == "redirect-loop":
                    return self._raw(302, b"", "text/plain", {"Location": self.path})
                raise AssertionError(behaviour)

            def _head(self, status: int, length: int, content_type: str = "application/json",
                      headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(length))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()

            def _raw(self, status: int, data: bytes, content_type: str = "application/json",
                     headers: dict | None = None) -> None:
                self._head(status, len(data), content_type, headers)
                self.wfile.write(data)

        self._serve(Handler)

    def __exit__(self, *exc) -> None:
        self.stop.set()  # ends trickling replies before the server waits for them
        super().__exit__(*exc)
