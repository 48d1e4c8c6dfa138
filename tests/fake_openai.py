"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol, with a script.

It plays a small deterministic "model": it reads the objective and KRs from the data block of the
request it receives and answers a valid coaching for them (tool-call style when the request has
`tools`, JSON in the message content otherwise, fenced for md_json); a plan request (a data block
with "teams") gets the findings scripted for it (`plan_answer`, key `PLAN`). Tests script faults per
objective title (or for every request): delays, 429 with Retry-After, 5xx, hangs past the client's
timeout, dropped connections, broken JSON, invented numbers, the wrong KR count, unknown issue
codes, activity-shaped metrics, a 401 that echoes the Authorization header back. Every chat request
is recorded (body, headers, arrival time) with the in-flight maximum.

Tests ask for a running server by fixture name (`fake`, `fake_openai`, and `llm_env` for a clean
llm environment: tests/conftest.py); this module holds the server and the scripting helpers
(`ok`, `status`, `hang`, `act`, `patched`, `plan_answer`, `local_engine`, ...), and needs no pytest.

Run it standalone for the benchmark: `python tests/fake_openai.py --delay 0.2` prints the
base URL on its first line; GET /_stats returns the counters as JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

NUM_RE = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?%?")
ACTIVITY_VERBS = {"launch", "ship", "publish", "hold", "run", "write", "create", "build", "hire",
                  "migrate", "release", "complete", "deliver", "implement", "host", "send", "train",
                  "redesign", "hold", "organise", "organize", "attend", "post", "draft", "finish"}
FAKE_MODEL = "fake-coach-1"
#: The script key (and `Recorded.objective`) of a plan request: its data block holds "teams".
PLAN = "(plan)"


@dataclass
class Act:
    """One scripted behaviour for one request."""

    kind: str = "ok"  # ok | status | hang | drop | broken_json | length | invent | wrong_count
    #                 # | bad_code | activity_metric | renumber | echo_auth | patch (see `patched`)
    #                 # | plan (see `plan_answer`)
    delay: float = 0.0
    status: int = 200
    retry_after: str | None = None
    body: dict[str, Any] | None = None
    #: extra response headers (status acts), e.g. a proxy echoing the key
    headers: dict[str, str] | None = None


def ok(delay: float = 0.0) -> Act:
    return Act("ok", delay=delay)


def status(code: int, retry_after: str | None = None, body: dict[str, Any] | None = None,
           headers: dict[str, str] | None = None) -> Act:
    return Act("status", status=code, retry_after=retry_after, body=body, headers=headers)


def hang(seconds: float) -> Act:
    return Act("hang", delay=seconds)


def act(kind: str, delay: float = 0.0) -> Act:
    return Act(kind, delay=delay)


@dataclass
class Recorded:
    body: dict[str, Any]
    headers: dict[str, str]
    at: float
    objective: str | None
    data: dict[str, Any] | None
    act: str = "ok"


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[Recorded] = field(default_factory=list)
    in_flight: int = 0
    in_flight_max: int = 0
    scripts: dict[str | None, deque[Act]] = field(default_factory=dict)
    default: Act = field(default_factory=Act)
    stop: threading.Event = field(default_factory=threading.Event)
    models_requests: int = 0


def find_data(body: dict[str, Any]) -> dict[str, Any] | None:
    """The objective and KRs from the first message carrying the data block (as the replay
    server reads them)."""
    from krcoach.evaluation.replay import find_data as from_messages

    return from_messages(body.get("messages", []))


def coach(data: dict[str, Any]) -> dict[str, Any]:
    """A deterministic, valid answer for the data block: the fake model's 'reasoning'."""
    entries = []
    for kr in data["key_results"]:
        text: str = kr["text"]
        numbers = NUM_RE.findall(text)
        first = (re.findall(r"[A-Za-z]+", text) or [""])[0].lower()
        kind = "output" if first in ACTIVITY_VERBS else "outcome"
        issues = [{"code": "activity", "message": "Counts work done."}] if kind == "output" else []
        if len(numbers) < 2:
            issues.append({"code": "no_baseline", "message": ""})
        # a careful model: only the draft's own target and baseline fill those slots (a count of
        # planned work, a version or a window never does; krcoach re-asks when one does)
        slots = _slots(text)
        rewrite = {
            "metric": "weekly active customers",
            "baseline": numbers[0] if len(numbers) >= 2 and numbers[0] in slots["baseline"] else None,
            "target": numbers[-1] if numbers and numbers[-1] in slots["target"] else None,
            "deadline": None,
            "assumptions": [],
        }
        entries.append({"n": kr["n"], "kind": kind, "why": f"Shows whether '{text[:40]}' changed behaviour.",
                        "issues": issues, "rewrites": [rewrite]})
    return {"key_results": entries}


def _slots(text: str) -> dict[str, set[str]]:
    """The numbers krcoach reads as the draft's target (or change) and baseline."""
    from krcoach.rules.quantities import read  # the standalone server is run from the repo, beside krcoach

    qs = read(text).quantities
    return {"target": {q.text for q in qs if q.role in ("target", "delta")},
            "baseline": {q.text for q in qs if q.role in ("baseline", "target")}}


def patched(n: int = 1, rewrite: dict[str, Any] | None = None, **fields: Any) -> Act:
    """An otherwise valid answer where KR `n` gets `fields` (e.g. confidence="low") and its first
    rewrite gets the parts in `rewrite` (e.g. {"target": "16"}); a value of None removes the key."""
    return Act("patch", body={"n": n, "kr": fields, "rewrite": rewrite or {}})


def plan_answer(*findings: dict[str, Any]) -> Act:
    """The answer to a plan request: these findings (script it with `objective=PLAN`). An
    unscripted plan request is answered with no findings."""
    return Act("plan", body={"findings": list(findings)})


def apply_patch(answer: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    for entry in answer["key_results"]:
        if entry["n"] != body["n"]:
            continue
        for target, changes in ((entry, body["kr"]), (entry["rewrites"][0] if entry["rewrites"] else {},
                                                      body["rewrite"])):
            for k, v in changes.items():
                if v is None:
                    target.pop(k, None)
                else:
                    target[k] = v
    return answer


def spoil(answer: dict[str, Any], kind: str) -> dict[str, Any]:
    if kind == "invent":
        answer["key_results"][0]["rewrites"][0]["target"] = "98765"
    elif kind == "wrong_count":
        answer["key_results"] = answer["key_results"][:-1] or []
        if not answer["key_results"]:
            answer["key_results"] = [dict(n=1, kind="output", why="x", issues=[], rewrites=[])] * 2
    elif kind == "bad_code":
        answer["key_results"][0]["issues"] = [{"code": "not_a_code", "message": "?"}]
    elif kind == "activity_metric":
        answer["key_results"][0]["rewrites"][0]["metric"] = "number of blog posts published"
    elif kind == "renumber":
        answer["key_results"] = list(reversed(answer["key_results"]))
    return answer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: without TCP_NODELAY, Nagle plus the client's
    # delayed ACK adds ~40 ms to every answer (real servers such as uvicorn set it too)
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet tests
        pass

    def _send_json(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(payload).encode()
        self._send_raw(code, raw, headers)

    def _send_raw(self, code: int, raw: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:  # noqa: N802
        st = self.server.state
        if self.path.rstrip("/").endswith("/models"):
            with st.lock:
                st.models_requests += 1
            self._send_json(200, {"object": "list", "data": [{"id": FAKE_MODEL, "object": "model",
                                                                  "owned_by": "fake"}]})
        elif self.path == "/_stats":
            with st.lock:
                self._send_json(200, {"requests": len(st.requests), "in_flight_max": st.in_flight_max})
        else:
            self._send_json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:  # noqa: N802
        st = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        data = find_data(body)
        objective = data.get("objective") if data else None
        if data is not None and "teams" in data:
            objective = PLAN
        with st.lock:
            queue = st.scripts.get(objective) if objective in st.scripts else st.scripts.get(None)
            step = queue.popleft() if queue else st.default
            st.requests.append(Recorded(body=body, headers={k.lower(): v for k, v in self.headers.items()}, at=time.monotonic(),
                                        objective=objective, data=data, act=step.kind))
            st.in_flight += 1
            st.in_flight_max = max(st.in_flight_max, st.in_flight)
        try:
            self._answer(step, body, data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with st.lock:
                st.in_flight -= 1

    def _answer(self, step: Act, body: dict[str, Any], data: dict[str, Any] | None) -> None:
        st = self.server.state
        if step.kind == "hang":
            st.stop.wait(step.delay)
            self.close_connection = True
            return
        if step.delay:
            st.stop.wait(step.delay)
        if step.kind == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if step.kind == "status":
            headers = {"Retry-After": step.retry_after} if step.retry_after else {}
            headers.update(step.headers or {})
            payload = step.body or {"error": {"message": f"scripted {step.status}", "type": "server_error"}}
            self._send_json(step.status, payload, headers)
            return
        if step.kind == "echo_auth":
            auth = self.headers.get("Authorization", "")
            self._send_json(401, {"error": {"message": f"Incorrect API key provided: {auth} (key {auth[7:]})",
                                            "type": "invalid_request_error", "code": "invalid_api_key"}})
            return
        if data is None:
            self._send_json(400, {"error": {"message": "no BEGIN_OKR_DATA block in the request"}})
            return
        if "teams" in data:  # the plan prompt: scripted findings, else none
            answer = step.body if step.kind == "plan" and step.body is not None else {"findings": []}
        else:
            answer = spoil(coach(data), step.kind)
        if step.kind == "patch" and step.body:
            answer = apply_patch(answer, step.body)
        content = json.dumps(answer)
        if step.kind in ("broken_json", "length"):
            content = content[: len(content) // 2]
        self._send_json(200, completion(body, content, "length" if step.kind == "length" else "stop"))


def completion(body: dict[str, Any], content: str, finish: str = "stop") -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if body.get("tools"):
        name = body["tools"][0]["function"]["name"]
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": name, "arguments": content}}]}
    elif not body.get("response_format"):
        message["content"] = f"Here you are:\n```json\n{content}\n```"
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", FAKE_MODEL),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, state: _State) -> None:
        self.state = state
        super().__init__(("127.0.0.1", 0), _Handler)


class FakeOpenAI:
    """Start with `with FakeOpenAI() as fake:`; `fake.url` is the base URL (…/v1)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.state = _State(default=ok(delay))
        self._server = _Server(self.state)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def __enter__(self) -> FakeOpenAI:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.state.stop.set()
        self._server.shutdown()
        self._server.server_close()

    # scripting -------------------------------------------------------------------------------
    def script(self, *acts: Act, objective: str | None = None) -> None:
        """Queue behaviours for the next requests about `objective` (None: any objective)."""
        with self.state.lock:
            self.state.scripts.setdefault(objective, deque()).extend(acts)

    def always(self, behaviour: Act) -> None:
        """What every unscripted request gets."""
        with self.state.lock:
            self.state.default = behaviour

    # observations ----------------------------------------------------------------------------
    @property
    def requests(self) -> list[Recorded]:
        with self.state.lock:
            return list(self.state.requests)

    @property
    def count(self) -> int:
        with self.state.lock:
            return len(self.state.requests)

    @property
    def in_flight_max(self) -> int:
        with self.state.lock:
            return self.state.in_flight_max

    def count_for(self, objective: str | None) -> int:
        return sum(r.objective == objective for r in self.requests)


# what the llm tests and the fault matrix review against this server ------------------------

#: Three objectives of 2, 3 and 1 KRs, shaped like a real draft; tests script faults by title.
SAMPLE_OUTLINE = """\
# Alpha
- Launch the new onboarding flow
- Increase weekly active teams from 1,200 to 2,000 by end of Q3

# Beta
- Hold 5 customer interviews
- Cut monthly logo churn from 3% to 2% by December
- Publish the retention playbook

# Gamma
- Get into the press
"""


def local_engine(url: str, **overrides: Any) -> Any:
    """An LLMEngine pointed at this server, with waits between retries short enough for tests.

    `overrides` replace any default (api_key, timeout, retry, cache, mode...).
    """
    # the standalone server does not need them
    from krcoach.llm.engine import LLMEngine
    from krcoach.llm.transport import RetryPolicy

    args: dict[str, Any] = {"base_url": url, "api_key": "sk-test-local", "model": FAKE_MODEL,
                            "timeout": 5.0, "retry": RetryPolicy(backoff=0.01, max_backoff=0.05,
                                                                 retry_seconds=5.0)}
    args.update(overrides)
    return LLMEngine(**args)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    fake = FakeOpenAI(delay=args.delay)
    print(fake.url, flush=True)
    try:
        sys.stdin.read()  # serve until the parent closes our stdin
    finally:
        fake.close()


if __name__ == "__main__":
    main()
