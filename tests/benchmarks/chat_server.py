"""A small stand-in for an OpenAI-compatible server on loopback: POST /v1/chat/completions.

It always asks for advice (and reflects with [NoInformation]); `fail_first` requests answer 500, prompts
containing `fail_when` always answer 500, prompts containing `slow_when` answer after `slow_s` seconds.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer:
    """A `ThreadingHTTPServer` on 127.0.0.1 (a free port) served from a thread; `with` starts and stops it."""

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        # A short poll interval: shutdown() waits one (the default 0.5 s would be most of each test).
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class ChatCompletionServer(LoopbackServer):
    """POST /v1/chat/completions on loopback: each request's JSON body goes to `reply(body, count)` (count: this
    request's number, from 1), which returns (HTTP status, JSON payload); other paths answer 404. Requests are counted
    under a lock; `completion(...)` builds an OpenAI chat.completion payload."""

    def __init__(self) -> None:
        self.requests = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests += 1
                    count = server.requests
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": "no such route"}})
                self._send(*server.reply(body, count))

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout); nothing to answer

        self._serve(Handler)

    def reply(self, body: dict, count: int) -> tuple[int, dict]:
        raise NotImplementedError

    @staticmethod
    def completion(body: dict, count: int, message: dict, finish_reason: str = "stop",
                   prompt_tokens: int = 10, completion_tokens: int = 2) -> dict:
        return {"id": f"chatcmpl-{count}", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": finish_reason, "message": message}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}


class ChatServer(ChatCompletionServer):
    def __init__(self, fail_first: int = 0, fail_when: str | None = None, slow_when: str | None = None,
                 slow_s: float = 0.0) -> None:
        self.fail_first, self.fail_when, self.slow_when, self.slow_s = fail_first, fail_when, slow_when, slow_s
        super().__init__()

    def reply(self, body: dict, count: int) -> tuple[int, dict]:
        prompt = body["messages"][-1]["content"]
        if count <= self.fail_first or (self.fail_when and self.fail_when in prompt):
            return 500, {"error": {"message": "stand-in server error", "type": "server_error"}}
        if self.slow_when and self.slow_when in prompt:
            time.sleep(self.slow_s)
        answer = "[NoInformation]" if "Reflect on this question" in prompt else "[SeekAdvice]"
        return 200, self.completion(body, count, {"role": "assistant", "content": answer},
                                    prompt_tokens=len(prompt.split()))
