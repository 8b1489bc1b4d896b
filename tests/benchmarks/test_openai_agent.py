"""The OpenAI-compatible agent against a server that misbehaves: every reply ends in bounded time, a bad reply
fails only its own observation after the retries, and its error says what came back and how often it tried."""

import json
import time

import pytest

from benchmarks.run import main
from tests.benchmarks.misbehaving_server import BEHAVIOURS, MisbehavingServer, refused_port

pytest.importorskip("openai")

TIMEOUT_S, RETRIES, MAX_WAIT_S = 0.5, 1, 0.05
RETRIED, NOT_RETRIED = RETRIES + 1, 1  # attempts
# behaviour -> (attempts the server sees, what the error must say; None: the reply succeeds)
EXPECTED = {
    "ok": (1, None),
    "malformed-json": (RETRIED, "a 200 whose body is not JSON (Expecting property name enclosed in double quotes"),
    "html": (RETRIED, "a 200 whose body is not JSON (Expecting value: line 1 column 1 (char 0)): '<html><body>"
                      "<h1>502 Bad Gateway"),
    "empty-body": (RETRIED, "a 200 whose body is not JSON (Expecting value: line 1 column 1 (char 0)): ''"),
    "not-utf8": (RETRIED, "a 200 whose body is not JSON ('utf-8' codec can't decode byte 0xff"),
    "json-list": (RETRIED, "a 200 whose JSON is a list, not a chat completion object: '[{\"id\""),
    "json-string": (RETRIED, "a 200 whose JSON is a str, not a chat completion object: '\"[SeekAdvice]\"'"),
    "no-choices-key": (RETRIED, "a 200 with no choices: '{\"id\": \"x\""),
    "error-in-200": (RETRIED, "a 200 with an error: '{\"error\": {\"message\": \"stand-in failure\""),
    "empty-choices": (RETRIED, "a 200 with no choices: '{\"choices\": []}'"),
    "choice-not-object": (RETRIED, "a 200 whose first choice has no message object: '{\"choices\": [\"[Seek"),
    "choice-without-message": (RETRIED, "a 200 whose first choice has no message object: '{\"choices\": [{\"index"),
    "content-not-text": (RETRIED, "a 200 whose message content is int, not text"),
    "content-null": (1, None),
    "usage-garbage": (1, None),
    "status-500": (RETRIED, "HTTP 500 Internal Server Error: '{\"error\": {\"message\": \"stand-in failure\""),
    "status-503-html": (RETRIED, "HTTP 503 Service Unavailable: '<html><body><h1>502 Bad Gateway"),
    "status-404": (NOT_RETRIED, "HTTP 404 Not Found: '{\"error\": {\"message\": \"no such route\"}}' (not retried"),
    "status-401": (NOT_RETRIED, "HTTP 401 Unauthorized: '{\"error\": {\"message\": \"Incorrect API key"),
    "status-400": (NOT_RETRIED, "HTTP 400 Bad Request: '{\"error\": {\"message\": \"maximum context length"),
    "rate-limit-huge": (RETRIED, "the server asked to wait 3600.0 s, waits are capped at 0.05 s"),
    "rate-limit-date": (RETRIED, "HTTP 429 Too Many Requests: '{\"error\": {\"message\": \"slow down\"}}'"),
    "rate-limit-100": (RETRIED, "the server asked to wait 100.0 s, waits are capped at 0.05 s"),
    "rate-limit-short": (RETRIED, "the server asked to wait 0.2 s, waits are capped at 0.05 s"),
    "trickle": (RETRIED, "no complete reply within the 0.5 s deadline of a request"),
    "slow-headers": (RETRIED, "no complete reply within the 0.5 s deadline of a request"),
    "hang-up": (RETRIED, "RemoteProtocolError: Server disconnected without sending a response"),
    "short-body": (RETRIED, "RemoteProtocolError: peer closed connection without sending complete message body"),
    "redirect-loop": (RETRIED, "TooManyRedirects"),
}
# The longest act_batch may take: every attempt to its deadline, every wait to its cap, plus slack for a
# loaded machine.
BOUND_S = (RETRIES + 1) * TIMEOUT_S + RETRIES * MAX_WAIT_S + 1.5


def make_agent(base_url, **kwargs):
    from benchmarks.openai_agent import OpenAIChatAgent

    settings = {"timeout_s": TIMEOUT_S, "retries": RETRIES, "max_wait_s": MAX_WAIT_S, **kwargs}
    return OpenAIChatAgent("stand-in", base_url=base_url, **settings)


def ask(base_url, observations, **kwargs):
    agent = make_agent(base_url, **kwargs)
    began = time.monotonic()
    try:
        return agent.act_batch(observations), time.monotonic() - began
    finally:
        agent.close()


def test_every_misbehaviour_is_listed_once():
    assert set(EXPECTED) == set(BEHAVIOURS)


@pytest.mark.parametrize("behaviour", sorted(EXPECTED))
def test_a_misbehaving_reply_fails_alone_in_bounded_time_saying_what_came_back(behaviour):
    attempts, message = EXPECTED[behaviour]
    with MisbehavingServer(behaviour, when="question one", trickle_s=0.1) as server:
        (bad, good), elapsed = ask(server.base_url, ["question one", "question two"])
    assert good == ("[SeekAdvice]", 2, 2, None)  # the other observation is answered
    assert server.requests == attempts + 1 and server.misbehaved == attempts
    assert elapsed < BOUND_S
    if message is None:
        assert bad.error is None and bad.text == ("" if behaviour == "content-null" else "[SeekAdvice]")
        assert (bad.prompt_tokens, bad.completion_tokens) == ((0, 0) if behaviour != "ok" else (2, 2))
        return
    assert bad.text == "" and message in bad.error
    assert f"retries: {attempts - 1}," in bad.error


def test_a_refused_connection_is_retried_and_named():
    (reply,), elapsed = ask(f"http://127.0.0.1:{refused_port()}/v1", ["question one"])
    assert reply.text == "" and "no reply from http://127.0.0.1:" in reply.error
    assert "ConnectError" in reply.error and "retries: 1," in reply.error
    assert elapsed < BOUND_S


def test_the_request_timeout_is_a_deadline_for_the_whole_request():
    # One byte per second never trips a per-read timeout of 2 s; the ~300-byte body would take 5 minutes.
    with MisbehavingServer("trickle") as server:
        (reply,), elapsed = ask(server.base_url, ["question one"], timeout_s=2.0, retries=0)
    assert "no complete reply within the 2 s deadline" in reply.error and "retries: 0," in reply.error
    assert 2.0 <= elapsed < 3.5


def test_retry_after_is_honoured_up_to_the_cap_and_the_retry_succeeds():
    with MisbehavingServer("rate-limit-short", times=1) as server:
        (reply,), elapsed = ask(server.base_url, ["question one"], max_wait_s=5.0)
    assert reply == ("[SeekAdvice]", 2, 2, None) and server.requests == 2
    assert 0.2 <= elapsed < 1.5  # waited the 0.2 s asked, not the 0.5 s backoff


def test_text_utf8_cannot_carry_is_replaced_before_sending():
    with MisbehavingServer("ok") as server:
        (reply,), _ = ask(server.base_url, ["kettle \ud800 boil \ud83d\ude00"])
    assert reply.error is None and server.prompts == ["kettle \ufffd boil \U0001F600"]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="timeout_s=0"):
        make_agent("http://127.0.0.1:1/v1", timeout_s=0)


@pytest.mark.parametrize("times", [1, None])
def test_a_malformed_reply_in_one_session_keeps_every_other_session(tmp_path, monkeypatch, times):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with MisbehavingServer("malformed-json", when="category tents", times=times) as server:
        code = main(["--output-dir", str(tmp_path), "--quiet", "--agent", "openai:stand-in", "--base-url",
                     server.base_url, "--max-questions", "2", "--retries", "1", "--request-timeout-s", "2"])
    report = json.loads((tmp_path / "results.json").read_text())
    categories = {row["category"] for row in report["rows"]}
    if times == 1:  # the retry mends it
        assert code == 0 and not report["failures"] and {"kettles", "tents"} <= categories
        return
    assert code == 1 and "kettles" in categories and "tents" not in categories
    (failure,) = report["failures"]
    assert failure["spec"]["category"] == "tents"
    assert "a 200 whose body is not JSON" in failure["error"] and "retries: 1," in failure["error"]
