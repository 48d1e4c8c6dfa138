"""Recorded model answers, and a local OpenAI-compatible server that replays them.

Why: the llm engine's quality depends on two things, the model and krcoach's own handling of its
answers (validators, re-asks, fallbacks, rendering). A recording of a capable model's answers to
krcoach's exact prompt lets the second be measured and tested offline, as users with a good model
meet it: `krcoach eval --engine llm --replay FILE` and the tests start `ReplayServer` on
127.0.0.1 and point the real engine at it over HTTP.

A recording is JSONL, one line per objective:
  {"key": ..., "objective": ..., "cycle": ..., "krs": [...], "prompt": {"name", "version", "sha256"},
   "model": "who answered", "answers": [first answer, answer to a re-ask, ...]}
Each answer is the JSON object the model returned (`{"key_results": [...]}`), kept as returned.

Re-recording when the prompt changes (`python -m krcoach.evaluation.replay`):
- `export --dataset D --out DIR` writes the exact system message and one user message per
  objective (what the engine sends), for a person or a helper to answer by hand;
- `import --dir DIR --out FILE` turns their answers into a recording;
- `record --dataset D --base-url URL --model M --out FILE` asks a live endpoint instead;
- `serve FILE` serves a recording (`OPENAI_BASE_URL=<printed URL> krcoach review --engine llm ...`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable, Iterator

DATA_RE = re.compile(r"^BEGIN_OKR_DATA\n(.*?)\nEND_OKR_DATA$", re.S | re.M)
REPLAY_MODEL = "recorded-answers"
#: Objectives larger than this are left out of exports: a hand-answered request stays readable.
MAX_KRS = 12


def objective_key(objective: str | None, krs: Iterable[str], cycle: str | None = None) -> str:
    """The identity of one request's data: the objective, its KR texts in order, the cycle."""
    payload = json.dumps([objective, list(krs), cycle], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]


def plan_key(data: dict[str, Any]) -> str:
    """The identity of one plan request's data (teams, objectives, KRs with ids and owners)."""
    payload = json.dumps(data, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]


def load(path: str | Path) -> dict[str, dict[str, Any]]:
    """A recording by key. Lines whose answers list is empty are skipped."""
    out: dict[str, dict[str, Any]] = {}
    for line in Path(path).read_text("utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            if rec.get("answers"):
                out[rec["key"]] = rec
    return out


def find_data(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The objective, cycle and KRs from the first message that carries the data block."""
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        if isinstance(content, str):
            m = DATA_RE.search(content)
            if m:
                return json.loads(m.group(1))
    return None


def data_key(data: dict[str, Any]) -> str:
    if "teams" in data:  # the plan prompt (krcoach.evaluation.replay_plans records those answers)
        return plan_key(data)
    return objective_key(data.get("objective"), [k["text"] for k in data.get("key_results", [])],
                         data.get("cycle"))


# ------------------------------------------------------------------------------------ the server


def _completion(body: dict[str, Any], content: str) -> dict[str, Any]:
    """A chat completion in the shape the request asked for: a tool call, or JSON content
    (fenced when the request set no response_format, as md_json expects)."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if body.get("tools"):
        name = body["tools"][0]["function"]["name"]
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": name, "arguments": content}}]}
    elif not body.get("response_format"):
        message["content"] = f"```json\n{content}\n```"
    return {"id": "chatcmpl-replay", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", REPLAY_MODEL),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _json(self, code: int, payload: Any) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": self.server.model, "object": "model",
                                                          "owned_by": "krcoach-replay"}]})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._json(400, {"error": {"message": "body is not JSON"}})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        messages = body.get("messages") or []
        data = find_data(messages)
        rec = self.server.recording.get(data_key(data)) if data else None
        if rec is None:
            # 400: not retried and not an endpoint fault, so only this objective falls back
            self._json(400, {"error": {"message": "no recorded answer for this objective"}})
            return
        # instructor re-asks by appending the answer and the error: answer n-th re-ask with the
        # n-th recorded answer when there is one, else the last (the recording has no better one)
        attempt = sum(1 for m in messages if m.get("role") == "assistant")
        answers = rec["answers"]
        with self.server.lock:
            self.server.served.append((rec["key"], attempt))
        self._json(200, _completion(body, json.dumps(answers[min(attempt, len(answers) - 1)])))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, recording: dict[str, dict[str, Any]], model: str) -> None:
        self.recording = recording
        self.model = model
        self.lock = threading.Lock()
        self.served: list[tuple[str, int]] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class ReplayServer:
    """`with ReplayServer(path) as srv:` serves the recording at `srv.url` (…/v1) on 127.0.0.1."""

    def __init__(self, recording: str | Path | dict[str, dict[str, Any]], model: str = REPLAY_MODEL) -> None:
        self.recording = load(recording) if isinstance(recording, (str, Path)) else recording
        self._server = _Server(self.recording, model)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def served(self) -> list[tuple[str, int]]:
        """(objective key, attempt) for every answered request: attempt 0 is the first answer."""
        with self._server.lock:
            return list(self._server.served)


# --------------------------------------------------------------------------------- recording


def objectives_of(dataset: str | Path, limit: int | None = None, seed: int = 2026,
                  max_krs: int = MAX_KRS) -> list[Any]:
    """The dataset's objectives as the eval sends them (`evaluate._as_okrset`), without the group
    of KRs that have no objective and those over `max_krs` KRs; a seeded sample of `limit`."""
    from krcoach.evaluation.run import _as_okrset, load_dataset

    objectives = [o for o in _as_okrset(load_dataset(dataset)).objectives
                  if o.title and len(o.krs) <= max_krs]
    if limit is not None and limit < len(objectives):
        objectives = random.Random(seed).sample(objectives, limit)
    return objectives


def _request(objective: Any, cycle: str | None = None) -> tuple[str, list[dict[str, str]]]:
    from krcoach.llm.prompt import build_messages, load_prompt

    messages = build_messages(load_prompt(), objective, cycle)
    return objective_key(objective.title, [k.kr for k in objective.krs], cycle), messages


def _prompt_info() -> dict[str, str]:
    from krcoach.llm.prompt import load_prompt

    return load_prompt().info()


def export(objectives: list[Any], out: Path, batches: int = 1) -> None:
    """system.txt (the same for every request) and requests-K.jsonl: {"key", "user"} per line."""
    out.mkdir(parents=True, exist_ok=True)
    system = None
    files = [(out / f"requests-{k + 1}.jsonl").open("w", encoding="utf-8") for k in range(batches)]
    try:
        for i, objective in enumerate(objectives):
            key, messages = _request(objective)
            system = messages[0]["content"]
            row = {"key": key, "objective": objective.title, "krs": [k.kr for k in objective.krs],
                   "user": messages[1]["content"]}
            files[i % batches].write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        for f in files:
            f.close()
    (out / "system.txt").write_text(system or "", "utf-8")


def hand_answers(requests: list[Path], answers: list[Path]) -> Iterator[tuple[dict[str, Any], Any]]:
    """Each hand answer ({"key", "answer"} per line of `answers`) with the request line ({"key", ...}
    in `requests`) it answers; an answer whose key matches no request stops with its file and line."""
    by_key: dict[str, dict[str, Any]] = {}
    for f in requests:
        for line in f.read_text("utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                by_key[row["key"]] = row
    for f in answers:
        for n, line in enumerate(f.read_text("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            row = json.loads(line)
            req = by_key.get(row.get("key"))
            if req is None:
                raise SystemExit(f"{f}:{n}: key {row.get('key')!r} matches no request")
            answer = row["answer"]
            yield req, json.loads(answer) if isinstance(answer, str) else answer


def import_answers(folder: Path, out: Path, model: str) -> int:
    """Pair requests-K.jsonl with answers-K.jsonl ({"key", "answer"} per line) into a recording."""
    prompt = _prompt_info()
    written = 0
    with out.open("w", encoding="utf-8") as sink:
        for req, answer in hand_answers(sorted(folder.glob("requests-*.jsonl")), sorted(folder.glob("answers-*.jsonl"))):
            rec = {"key": req["key"], "objective": req["objective"], "cycle": None, "krs": req["krs"],
                   "prompt": prompt, "model": model, "answers": [answer]}
            sink.write(json.dumps(rec, ensure_ascii=False) + "\n")
            written += 1
    return written


def record(objectives: list[Any], out: Path, base_url: str, model: str, api_key: str | None) -> int:
    """Ask a live endpoint the engine's exact messages (JSON mode) and record its raw answers."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key=api_key or "krcoach-no-key")
    prompt = _prompt_info()
    written = 0
    with out.open("w", encoding="utf-8") as sink:
        for objective in objectives:
            key, messages = _request(objective)
            resp = client.chat.completions.create(model=model, messages=messages,  # type: ignore[arg-type]
                                                  response_format={"type": "json_object"})
            content = resp.choices[0].message.content or "{}"
            m = re.search(r"\{.*\}", content, re.S)
            answer = json.loads(m.group(0) if m else content)
            rec = {"key": key, "objective": objective.title, "cycle": None,
                   "krs": [k.kr for k in objective.krs], "prompt": prompt, "model": model,
                   "answers": [answer]}
            sink.write(json.dumps(rec, ensure_ascii=False) + "\n")
            written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m krcoach.evaluation.replay", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="write the engine's exact messages for hand answering")
    r = sub.add_parser("record", help="ask a live OpenAI-compatible endpoint and record its answers")
    for p in (e, r):
        p.add_argument("--dataset", action="append", required=True, help="labelled JSONL (repeatable)")
        p.add_argument("--limit", type=int, help="a seeded random sample of this many objectives per dataset")
        p.add_argument("--seed", type=int, default=2026)
    e.add_argument("--out", type=Path, required=True, help="folder for system.txt and requests-K.jsonl")
    e.add_argument("--batches", type=int, default=1)
    r.add_argument("--out", type=Path, required=True, help="the recording (JSONL)")
    r.add_argument("--base-url", required=True)
    r.add_argument("--model", required=True)
    r.add_argument("--api-key")
    i = sub.add_parser("import", help="turn hand answers (answers-K.jsonl) into a recording")
    i.add_argument("--dir", type=Path, required=True)
    i.add_argument("--out", type=Path, required=True)
    i.add_argument("--model", default="hand-answered")
    v = sub.add_parser("serve", help="serve a recording on 127.0.0.1 until interrupted (prints the base URL)")
    v.add_argument("recording", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "serve":
        with ReplayServer(args.recording) as server:
            print(server.url, flush=True)
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                pass
        return 0
    if args.cmd == "import":
        print(f"{import_answers(args.dir, args.out, args.model)} objectives recorded in {args.out}")
        return 0
    objectives = [o for d in args.dataset for o in objectives_of(d, args.limit, args.seed)]
    if args.cmd == "export":
        export(objectives, args.out, args.batches)
        print(f"{len(objectives)} requests in {args.out}")
    else:
        n = record(objectives, args.out, args.base_url, args.model, args.api_key)
        print(f"{n} objectives recorded in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
