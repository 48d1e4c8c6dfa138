"""Every named endpoint of a launched app, swept with hostile values: each call answers, the answer
is a result or one readable line, and the server's log holds no traceback.

The app runs as a subprocess (`browser.launch_app`, the `krcoach serve` code path) so its log can be
read afterwards. Endpoints come from the app's own `/gradio_api/info`, so a new endpoint is swept
without editing this file (a parameter name never seen before fails the test until it has a sane
value below). Each parameter of each endpoint gets each hostile value in turn, the other
parameters holding sane values of a real workshop, through `gradio_client` (inf and nan, which
its JSON encoder refuses to send, go as the `Infinity`/`NaN` tokens Python's JSON reader on the
server accepts, in a raw HTTP call); then raw HTTP posts `data: [123]` and `data: []` to
`/gradio_api/call/<name>`. KRCOACH_SWEEP_SHOW=1 (with -s) prints every distinct answer.

The door sweep (below) goes under any client library: lone surrogates, FileData-shaped values,
too few and too many values, and bodies no route can read, over every named endpoint and every
page event (by fn_index), on a fresh app; with -s it prints its counts (calls by kind, answers by
kind, tracebacks in the server log).
"""

from __future__ import annotations

import json
import math
import os
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import CancelledError, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from browser import call_result, launch_app
from krcoach.web.door import UNFORESEEN

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

BIG = "- Ship feature 42 to everyone\n" * (5_000_000 // 30)  # 5 MB
HOSTILE: dict[str, Any] = {
    "inf": math.inf, "-inf": -math.inf, "nan": math.nan, "-1": -1, "1e308": 1e308, '""': "",
    "None": None, "123": 123, "True": True, "[]": [], "{}": {}, "5 MB": BIG,
    "NUL": "- Launch\x00 the portal\x01\x1b[2J\x07",
}
CALL_TIMEOUT_S = 90  # a call waits in its event's queue behind the others; a hang still shows
SWEEP_BUDGET_S = 60
NO_MESSAGE = "has raised an exception but has not enabled verbose error reporting"
OUTCOME = "Raise trial-to-paid conversion from 4% to 6% by end of Q3"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("sweep")
    with launch_app(folder) as url:
        yield url, folder / "app.log"


def readable(message: Any) -> bool:
    """One line of words a person can act on: no traceback, no empty or missing message, not
    an echo of what was sent."""
    return (isinstance(message, str) and bool(message.strip()) and "\n" not in message.strip()
            and len(message) <= 400 and "Traceback" not in message and 'File "' not in message
            and NO_MESSAGE not in message)


def sane_values(url: str) -> dict[str, Any]:
    """A real workshop (facilitator, two participants, one submission) and a real draft, so the
    hostile value in one position meets real values in the others and gets past the first check."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    made = client.predict("Sweep", ["Launch the campaign", "Hire 5 engineers"],
                          api_name="/workshop_create")
    ana = client.predict(made["code"], "Ana", api_name="/workshop_join")
    client.predict(made["code"], "Ben", api_name="/workshop_join")
    sub = client.predict(made["code"], ana["participant_token"], 1, OUTCOME, "",
                         api_name="/workshop_submit")
    return {
        "outline": "## Grow\n- Launch the pricing page\n- " + OUTCOME,
        "title": "Sweep", "krs": ["Launch the campaign"], "code": made["code"], "name": "Cy",
        "participant_token": ana["participant_token"],
        "facilitator_token": made["facilitator_token"], "kr_number": 1, "text": OUTCOME,
        "request_id": "", "submission_id": sub["submission_id"], "revealed": True, "open": True,
        "hidden": False, "seconds": 60, "favourite": True, "fmt": "json",
    }


def raw_call(http: httpx.Client, url: str, name: str, data: Any) -> tuple[str, Any]:
    """POST `{"data": data}` to /gradio_api/call/<name> and read the event stream: the event
    ('complete' or 'error') and its payload, or the HTTP status and body for a refused POST."""
    body = json.dumps({"data": data})  # allow_nan: inf and nan go out as Infinity and NaN
    r = http.post(f"{url}gradio_api/call/{name}", content=body,
                  headers={"Content-Type": "application/json"})
    if r.status_code != 200:
        return f"http {r.status_code}", r.text
    return call_result(http, url, name, r.json()["event_id"])


def test_every_named_endpoint_answers_hostile_values_in_words(app: tuple[str, Path]) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    url, log = app
    info = httpx.get(url + "gradio_api/info", timeout=30).json()["named_endpoints"]
    endpoints = {name.lstrip("/"): [p["parameter_name"] for p in spec["parameters"]]
                 for name, spec in info.items()}
    assert "review" in endpoints and "workshop_timer" in endpoints and len(endpoints) >= 16
    sane = sane_values(url)
    unknown = {(n, p) for n, ps in endpoints.items() for p in ps if p not in sane}
    assert not unknown, f"give these parameters a sane value in sane_values(): {sorted(unknown)}"

    # Join codes last: from 30 codes that open nothing an address is locked out of every
    # code-taking call for 10 minutes, which would hide the checks behind the lockout.
    cases = sorted(((name, i, label) for name, params in endpoints.items()
                    for i in range(len(params)) for label in HOSTILE),
                   key=lambda c: (endpoints[c[0]][c[1]] == "code", c[0], c[1]))
    clients = [Client(url, verbose=False) for _ in range(4)]
    http = httpx.Client(timeout=CALL_TIMEOUT_S)

    def run(case: tuple[str, int, str]) -> tuple[tuple[str, int, str], str, Any]:
        name, i, label = case
        args = [sane[p] for p in endpoints[name]]
        args[i] = HOSTILE[label]
        if any(isinstance(a, float) and not math.isfinite(a) for a in args):
            try:
                event, payload = raw_call(http, url, name, args)
            except httpx.TimeoutException:
                return case, "hang", None
            if event == "error":
                return case, "error", payload and payload.get("error")
            return case, "ok" if event == "complete" else event, payload
        client = clients[hash(case) % len(clients)]
        for attempt in range(2):
            try:
                result = client.submit(*args, api_name=f"/{name}").result(timeout=CALL_TIMEOUT_S)
            except AppError as err:
                return case, "error", str(err)
            except (TimeoutError, CancelledError):  # gradio_client cancels the job when the wait times out
                # Seen once in CI with four clients each pushing 5 MB bodies on two cores: a lost
                # event-stream message, not a stuck handler. A real hang hangs twice.
                client = Client(url, verbose=False)
                continue
            return case, "ok", result
        return case, "hang", None

    started = time.monotonic()
    with ThreadPoolExecutor(len(clients)) as pool:
        outcomes = list(pool.map(run, cases))
    took = time.monotonic() - started
    http.close()
    bad = [(case, kind, str(answer)[:200]) for case, kind, answer in outcomes
           if kind not in ("ok", "error") or (kind == "error" and not readable(answer))]
    assert not bad, f"{len(bad)} calls without a readable answer, e.g. {bad[:5]}"
    refused = sum(kind == "error" for _, kind, _ in outcomes)
    if os.environ.get("KRCOACH_SWEEP_SHOW"):  # every distinct answer, with its count
        for answer, n in Counter((c[0], k, str(a)[:110]) for c, k, a in outcomes).most_common():
            print(n, answer)

    # Raw HTTP: one number where text belongs, and no values at all.
    with httpx.Client(timeout=CALL_TIMEOUT_S) as http:
        for name in sorted(endpoints):
            for data in ([123], []):
                event, payload = raw_call(http, url, name, data)
                assert event in ("complete", "error"), (name, data, event, payload)
                if event == "error":
                    assert readable(payload and payload.get("error")), (name, data, payload)

    text = log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in text, text[text.index("Traceback"):][:3000]
    print(f"\nswept {len(endpoints)} endpoints x their parameters x {len(HOSTILE)} values = "
          f"{len(cases)} gradio_client calls ({refused} refused in words, "
          f"{len(cases) - refused} answered) in {took:.1f} s, plus {2 * len(endpoints)} raw HTTP "
          "calls; tracebacks in the server log: 0")
    assert took < SWEEP_BUDGET_S * 2, f"the sweep took {took:.0f} s"


# ------------------------------------------------------------------------------ the door sweep
#
# What reaches the app below any client library: a lone surrogate, a FileData-shaped object where
# text, a number or a flag belongs (Gradio would try to move the file it names into its cache, or
# fetch a web address), too few and too many values, and bodies that are not JSON or not the
# shape the routes take. Every named endpoint (/gradio_api/call/<name>, /run/<name>,
# /call/v2/<name>) and every page event (its fn_index, through /gradio_api/queue/join or, for the
# events the page runs off the queue, /gradio_api/run/predict) gets each of them. Each answer is a
# result, an error event with one readable line, or an HTTP 4xx whose JSON `error` is one
# readable line; the server's log holds no traceback; and no answer shows the canary file a
# FileData value names (only a real upload is read). Result streams asked for an event or session
# that is not there answer the same way.

FILE_META = {"_type": "gradio.FileData"}
CANARY_KR = "Raise canary conversion from 1% to 2% by Q3"
PAGE_BIG = "- Ship feature 42 to everyone\n" * (1_000_000 // 30)  # 1 MB: Gradio keeps page values
PYDANTIC_NOISE = ("Input should be", "'loc'", '"loc"', "model_attributes_type", "json_invalid",
                  "There was an error parsing the body", "validation error for")
DOOR_WORKERS = 8
DOOR_BUDGET_S = 240


def door_values(canary: str) -> dict[str, Any]:
    """Lone surrogates and FileData-shaped values, alone and inside lists and objects."""
    return {
        "surrogate": "\ud800",
        "surrogate in text": "- Launch the portal\n- Raise NPS from 30 to 40 \udfff by Q3",
        "surrogate in a list": ["Launch the campaign", "\udc00"],
        "surrogate as a key": {"\ud83d": "x"},
        "FileData": {"path": "/etc/passwd", "meta": FILE_META},
        "FileData, canary": {"path": canary, "orig_name": "draft.md", "meta": FILE_META},
        "FileData, no meta": {"path": canary, "orig_name": "draft.md"},
        "FileData, url": {"path": canary, "url": f"/gradio_api/file={canary}", "size": 60,
                          "orig_name": "draft.md", "mime_type": "text/markdown",
                          "is_stream": False, "meta": FILE_META},
        "FileData, relative": {"path": "../../../../../../../etc/passwd", "meta": FILE_META},
        "FileData, remote": {"path": "http://127.0.0.1:9/draft.md", "meta": FILE_META},
        "FileData in a list": [{"path": canary, "meta": FILE_META}],
        "FileData in an object": {"last": "x", "file": {"path": canary, "meta": FILE_META}},
        "a path": canary,
    }


#: A whole number no float holds (JSON allows it; Python reads up to 4,300 digits).
HUGE = {"400 digits": 10**400}
#: Event data a page event may carry (`gr.EventData`): the page sends an object or nothing.
EVENT_DATA: dict[str, Any] = {
    "text": "vote", "list": ["vote", 1], "number": 7,
    "surrogate": {"action": "vote", "id": "\ud800"},
    "FileData": {"action": "fav", "id": {"path": "/etc/passwd", "meta": FILE_META}},
    "5 MB id": {"action": "fav", "id": "9" * 100_000}, "nan id": {"kr": "1", "idx": math.nan},
    "400-digit id": {"action": "vote", "id": 10**400, "kr": "1", "idx": 10**400},
    "fav, 400-digit id": {"action": "fav", "id": -(10**400)},
}


#: Where a body names its session: replaced by a fresh one as it is sent (`Door.page_body`).
SESSION = "sweep-session"


def bodies(fn_index: int | None, data: list[Any]) -> dict[str, tuple[bytes, str]]:
    """Bodies no route can read as a call, each with its Content-Type."""
    session = SESSION
    def js(obj: Any) -> bytes:
        return json.dumps(obj).encode()

    def call(**extra: Any) -> dict[str, Any]:
        base: dict[str, Any] = {"data": data, "session_hash": session}
        if fn_index is not None:
            base["fn_index"] = fn_index
        return {**base, **extra}

    app_json = "application/json"
    out = {
        "not JSON": (b"not json", app_json),
        "cut-off JSON": (b'{"data": [', app_json),
        "empty": (b"", app_json),
        "not UTF-8": (b'{"data": ["\xff\xfe"]}', app_json),
        "UTF-8 surrogate bytes": (b'{"data": ["\xed\xa0\x80"]}', app_json),
        "nested 100,000 deep": (b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", app_json),
        "a 5,000-digit number": (b'{"data": [' + b"9" * 5000 + b"]}", app_json),
        "sent as text/plain": (js(call()), "text/plain"),
        "a list": (js([data]), app_json),
        "text": (b'"data"', app_json),
        "null": (b"null", app_json),
        "no data": (js({k: v for k, v in call().items() if k != "data"}), app_json),
        "data is text": (js(call(data="outline")), app_json),
        "data is an object": (js(call(data={"outline": "x"})), app_json),
        "data is null": (js(call(data=None)), app_json),
        "data is a number": (js(call(data=5)), app_json),
        "session_hash is a number": (js(call(session_hash=5)), app_json),
        "session_hash has a surrogate": (js(call(session_hash="s\ud800")), app_json),
        "event_data is a list": (js(call(event_data=[1])), app_json),
        "batched": (js(call(batched=True)), app_json),
        "trigger_id names nothing": (js(call(trigger_id=99_999)), app_json),
        "simple_format is text": (js(call(simple_format="yes please")), app_json),
    }
    if fn_index is not None:
        out.update({
            "fn_index is text": (js(call(fn_index="x")), app_json),
            "fn_index names nothing": (js(call(fn_index=99_999)), app_json),
            "fn_index is negative": (js(call(fn_index=-1)), app_json),
            "fn_index is a fraction": (js(call(fn_index=1.5)), app_json),
            "no session_hash": (js({"data": data, "fn_index": fn_index}), app_json),
        })
    return out


class Door:
    """One launched app, swept over raw HTTP; counts calls and answers by kind."""

    def __init__(self, url: str, log: Path) -> None:
        self.url, self.log = url, log
        self.http = httpx.Client(timeout=CALL_TIMEOUT_S)
        self.calls: Counter[str] = Counter()
        self.answers: Counter[str] = Counter()
        self.bad: list[tuple[str, str, str, str]] = []
        self.texts: list[str] = []
        self.shown: Counter[tuple[str, str, str]] = Counter()

    # -- sending ---------------------------------------------------------------------------

    def post(self, path: str, content: bytes, content_type: str = "application/json"
             ) -> httpx.Response:
        return self.http.post(self.url + path, content=content,
                              headers={"Content-Type": content_type})

    def named(self, name: str, content: bytes, content_type: str = "application/json",
              route: str = "call") -> tuple[str, Any]:
        """A named endpoint: /call/<name> (then its event stream), /run/<name>, /call/v2/<name>."""
        r = self.post(f"gradio_api/{route}/{name}", content, content_type)
        if r.status_code != 200:
            return f"http {r.status_code}", r.text
        if route == "run":
            return "complete", r.json()
        # v2 streams under the plain name too
        event, payload = call_result(self.http, self.url, name, r.json()["event_id"])
        if event == "error" and isinstance(payload, dict):
            return event, payload.get("error")
        return event, payload

    def page(self, fn_index: int, queued: bool, content: bytes, session: str,
             content_type: str = "application/json") -> tuple[str, Any]:
        """A page event as the page sends it: the queue (join, then the session's stream) or,
        for events off the queue, /run/predict."""
        if not queued:
            r = self.post("gradio_api/run/predict", content, content_type)
            if r.status_code == 200:
                return "complete", r.json().get("data")
            try:
                body = r.json()
            except ValueError:
                return f"http {r.status_code}", r.text
            if r.status_code == 500 and isinstance(body, dict) and "error" in body:
                return "error", body["error"]
            return f"http {r.status_code}", r.text
        r = self.post("gradio_api/queue/join", content, content_type)
        if r.status_code != 200:
            return f"http {r.status_code}", r.text
        event_id = r.json()["event_id"]
        with self.http.stream("GET", f"{self.url}gradio_api/queue/data",
                              params={"session_hash": session}) as s:
            for line in s.iter_lines():
                if not line.startswith("data:"):
                    continue
                msg = json.loads(line[5:])
                if msg.get("msg") == "unexpected_error":
                    return "unexpected error", msg.get("message")
                if msg.get("msg") == "process_completed" and msg.get("event_id") == event_id:
                    out = msg.get("output") or {}
                    if msg.get("success"):
                        return "complete", out.get("data")
                    return "error", out.get("error")
        return "no result", None

    def named_body(self, name: str, content: bytes, content_type: str, route: str
                   ) -> tuple[str, Any]:
        """`named` with a body of its own, which names a fresh session where it names one (two
        result streams read at once for one session are more than Gradio's queue can serve)."""
        session = secrets.token_hex(8).encode()
        return self.named(name, content.replace(SESSION.encode(), session), content_type, route)

    def page_body(self, fn_index: int, queued: bool, content: bytes, content_type: str
                  ) -> tuple[str, Any]:
        """`page` with a body of its own, which names a fresh session where it names one."""
        session = secrets.token_hex(8)
        return self.page(fn_index, queued, content.replace(SESSION.encode(), session.encode()),
                         session, content_type)

    def stream(self, path: str) -> tuple[str, Any]:
        """A result stream read on its own (an unknown session or event id): its error line."""
        with self.http.stream("GET", self.url + path) as s:
            if s.status_code != 200:
                s.read()
                return f"http {s.status_code}", s.text
            event = None
            for line in s.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    msg = json.loads(line[5:])
                    if event == "error":
                        return "error", msg
                    if isinstance(msg, dict) and msg.get("msg") == "unexpected_error":
                        return "error", msg.get("message")
        return "no result", None

    # -- judging ---------------------------------------------------------------------------

    def judge(self, kind: str, where: str, label: str, event: str, payload: Any) -> None:
        """Count one answer; keep it as bad unless it is a result or one readable line."""
        self.calls[kind] += 1
        text = payload if isinstance(payload, str) else json.dumps(payload, default=str)
        self.texts.append(text[:2_000_000])
        self.shown[(kind, event, text[:150] if event != "complete" else "(a result)")] += 1
        if event == "complete":
            self.answers["result"] += 1
            return
        if event == "error":
            ok = readable(payload) and not any(n in payload for n in PYDANTIC_NOISE)
            self.answers["refused in words (error event)" if ok else "BAD"] += 1
            if not ok:
                self.bad.append((kind, where, label, f"error: {str(payload)[:300]}"))
            return
        if event.startswith("http 4"):
            try:
                body = json.loads(payload)
            except ValueError:
                body = None
            message = body.get("error") if isinstance(body, dict) else None
            ok = readable(message) and not any(n in message for n in PYDANTIC_NOISE)
            self.answers[f"refused in words ({event})" if ok else "BAD"] += 1
            if not ok:
                self.bad.append((kind, where, label, f"{event}: {str(payload)[:300]}"))
            return
        self.answers["BAD"] += 1
        self.bad.append((kind, where, label, f"{event}: {str(payload)[:300]}"))

    def tracebacks(self) -> int:
        return self.log.read_text(encoding="utf-8", errors="replace").count("Traceback")

    def report(self, title: str, took: float) -> str:
        calls = ", ".join(f"{k} {n:,}" for k, n in sorted(self.calls.items()))
        answers = ", ".join(f"{k} {n:,}" for k, n in sorted(self.answers.items()))
        bad = ", ".join(f"{k} {n:,}" for k, n in sorted(Counter(
            f"{kind} -> {answer.split(':')[0]}" for kind, _, _, answer in self.bad).items()))
        return (f"\n{title}: {sum(self.calls.values()):,} calls in {took:.1f} s\n"
                f"  calls by kind: {calls}\n  answers by kind: {answers}\n"
                + (f"  answers without a readable line, by kind: {bad}\n" if bad else "")
                + f"  tracebacks in the server log: {self.tracebacks()}")


@pytest.fixture()
def door_app(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """A fresh app (its own database, so no earlier sweep's limits hide a check), its log, and a
    canary draft outside Gradio's upload folder, in the app's own temp folder."""
    canary = tmp_path / "canary-draft.md"
    canary.write_text(f"## Canary objective\n- {CANARY_KR}\n", encoding="utf-8")
    with launch_app(tmp_path / "app") as url:
        yield url, tmp_path / "app" / "app.log", canary


def page_sane(comp: dict[str, Any], sane: dict[str, Any], idents: dict[str, Any]) -> Any:
    """What the page itself would send for one input component."""
    kind, props = comp["type"], comp.get("props") or {}
    label = str(props.get("label") or "").lower()
    if kind == "browserstate":
        return idents.get(props.get("storage_key"), {})
    if kind in ("state", "uploadbutton"):
        return None
    if kind == "number":
        return 5
    if kind == "dropdown":
        return [] if props.get("multiselect") else props.get("value")
    if kind == "textbox":
        for key, value in (("draft", sane["outline"]), ("join code", sane["code"]),
                           ("name", "Cy"), ("rewrite", OUTCOME), ("title", "Sweep"),
                           ("krs", "Launch the campaign\nHire 5 engineers")):
            if key in label:
                return value
    return props.get("value")


def test_the_door_answers_surrogates_files_counts_and_bad_bodies_in_words(
        door_app: tuple[str, Path, Path]) -> None:
    from gradio_client import Client

    url, log, canary = door_app
    sweep = Door(url, log)
    values = door_values(str(canary))
    info = httpx.get(url + "gradio_api/info", timeout=30).json()["named_endpoints"]
    endpoints = {name.lstrip("/"): [p["parameter_name"] for p in spec["parameters"]]
                 for name, spec in info.items()}
    config = httpx.get(url + "config", timeout=30).json()
    comps = {c["id"]: c for c in config["components"]}
    deps = config["dependencies"]
    sane = sane_values(url)
    client = Client(url, verbose=False)
    dee = client.predict(sane["code"], "Dee", api_name="/workshop_join")
    idents = {"krcoach_workshop_participant": {"last": sane["code"], "device": "sweep-device",
                                               "tokens": {sane["code"]: dee["participant_token"]}},
              "krcoach_workshop_facilitator": {"last": sane["code"],
                                               "tokens": {sane["code"]: sane["facilitator_token"]}}}

    # One case: (kind, where, label, sender). Join codes go last (see the first test).
    cases: list[tuple[str, str, str, Any, bool]] = []

    def add(kind: str, where: str, label: str, send: Any, code: bool = False) -> None:
        cases.append((kind, where, label, send, code))

    # Named endpoints: each parameter gets each value; then counts and bodies.
    for name, params in endpoints.items():
        args = [sane[p] for p in params]
        for i, param in enumerate(params):
            for label, value in {**values, **HUGE}.items():
                data = args[:i] + [value] + args[i + 1:]
                kind = "value: " + ("hostile" if label in HUGE else "surrogate"
                                    if "surrogate" in label else "file reference")
                add(kind, f"/{name}", f"{param}={label}",
                    partial(sweep.named, name, json.dumps({"data": data}).encode()),
                    code=param == "code")
        for label, data in (("no values", []), ("one short", args[:-1]),
                            ("one extra", args + ["extra"]), ("two extra", args + [1, None])):
            if len(data) == len(args):  # an endpoint that takes no values
                continue
            kind = "count: too few" if len(data) < len(args) else "count: too many"
            add(kind, f"/{name}", label, partial(sweep.named, name, json.dumps(
                {"data": data}).encode()), code="code" in params[len(data):])
        for label, (content, ctype) in bodies(None, args).items():
            for route in ("call", "run"):
                add("body", f"/{route}/{name}", label,
                    partial(sweep.named_body, name, content, ctype, route))
        for label, content in (("not JSON", b"{"), ("a list", b"[1]"), ("unknown keyword",
                               b'{"nope": 1}'), ("no keywords", b"{}")):
            add("body", f"/call/v2/{name}", label, partial(sweep.named, name, content,
                                                           route="call/v2"))
    for route in ("call", "run", "call/v2"):
        add("body", f"/{route}/nope", "an endpoint that does not exist",
            partial(sweep.named, "nope", b'{"data": []}', route=route))
    # Result streams asked for what is not there.
    for name in [*endpoints, "nope"]:
        add("stream", f"/call/{name}/<id>", "an event id that names nothing",
            partial(sweep.stream, f"gradio_api/call/{name}/{secrets.token_hex(16)}"))
    for label, query in (("nothing waiting", f"?session_hash={secrets.token_hex(8)}"),
                         ("no session_hash", ""), ("surrogate bytes", "?session_hash=%ED%A0%80")):
        add("stream", "/queue/data", label, partial(sweep.stream, f"gradio_api/queue/data{query}"))

    # Page events, by fn_index: every input gets every hostile value and door value; then
    # counts, event data and bodies.
    page_values = {**{k: (PAGE_BIG if k == "5 MB" else v) for k, v in HOSTILE.items()}, **HUGE,
                   **values}
    for dep in deps:
        fn_index, queued = dep["id"], bool(dep.get("queue", True))
        where = f"fn {fn_index} ({dep.get('api_name')})"
        params = endpoints.get(str(dep.get("api_name")), []) \
            if dep.get("api_visibility") == "public" else []
        ins = [comps.get(i, {"type": "?"}) for i in dep["inputs"]]
        args = [sane[params[n]] if params else page_sane(c, sane, idents)
                for n, c in enumerate(ins)]
        is_code = [bool(params and params[n] == "code") or
                   str((c.get("props") or {}).get("label")).lower() == "join code"
                   for n, c in enumerate(ins)]

        def page_call(data: list[Any], event_data: Any = None, *, fn_index: int = fn_index,
                      queued: bool = queued) -> tuple[str, Any]:
            session = secrets.token_hex(8)
            body = {"data": data, "fn_index": fn_index, "session_hash": session,
                    "event_data": event_data, "trigger_id": None}
            return sweep.page(fn_index, queued, json.dumps(body).encode(), session)

        for i, comp in enumerate(ins):
            for label, value in page_values.items():
                data = args[:i] + [value] + args[i + 1:]
                kind = ("value: " + ("surrogate" if "surrogate" in label else "file reference")
                        if label in values else "value: hostile")
                add(kind, where, f"{comp.get('type')} {i}={label}", partial(page_call, data),
                    code=is_code[i])
        for label, data in (("no values", []), ("one short", args[:-1]),
                            ("one extra", args + ["extra"])):
            if len(data) == len(args):  # an event that takes no values
                continue
            kind = "count: too few" if len(data) < len(args) else "count: too many"
            add(kind, where, label, partial(page_call, data), code=any(is_code[len(data):]))
        for label, event_data in EVENT_DATA.items():
            add("event data", where, label, partial(page_call, args, event_data))
        for label, (content, ctype) in bodies(fn_index, args).items():
            add("body", where, label, partial(sweep.page_body, fn_index, queued, content, ctype))

    cases.sort(key=lambda c: c[4])

    def run(case: tuple[str, str, str, Any, bool]) -> tuple[str, str, str, str, Any]:
        kind, where, label, send, _ = case
        try:
            event, payload = send()
        except httpx.TimeoutException:
            event, payload = "hang", None
        except httpx.HTTPError as err:
            event, payload = "connection", repr(err)
        return kind, where, label, event, payload

    started = time.monotonic()
    with ThreadPoolExecutor(DOOR_WORKERS) as pool:
        for kind, where, label, event, payload in pool.map(run, cases):
            sweep.judge(kind, where, label, event, payload)
    took = time.monotonic() - started

    # A real upload is read: the door stops only paths the client names.
    with canary.open("rb") as fh:
        up = httpx.post(url + "gradio_api/upload", files={"files": ("draft.md", fh)}, timeout=30)
    uploaded = up.json()[0]
    upload_fn = next(d for d in deps if d["targets"] and d["targets"][0][1] == "upload")
    session = secrets.token_hex(8)
    event, payload = sweep.page(upload_fn["id"], True, json.dumps(
        {"data": [{"path": uploaded, "orig_name": "draft.md", "meta": FILE_META}],
         "fn_index": upload_fn["id"], "session_hash": session}).encode(), session)
    assert event == "complete" and CANARY_KR in str(payload), (event, str(payload)[:500])

    print(sweep.report("door sweep", took))
    if os.environ.get("KRCOACH_SWEEP_SHOW"):  # every distinct answer, with its count
        for answer, n in sweep.shown.most_common():
            print(n, *answer, sep=" | ")
    assert not sweep.bad, f"{len(sweep.bad)} answers without a readable line, e.g. {sweep.bad[:8]}"
    leaked = [t[:200] for t in sweep.texts if "anary conversion" in t]
    assert not leaked, f"a FileData value made a handler read a client's path: {leaked[:3]}"
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in text, text[text.index("Traceback"):][:3000]
    unforeseen = [ln for ln in text.splitlines() if UNFORESEEN in ln]
    assert not unforeseen, f"calls the door did not foresee: {unforeseen[:5]}"
    assert took < DOOR_BUDGET_S, f"the door sweep took {took:.0f} s"


# ------------------------------------------------------------------------------ in-process


def test_text_names_a_lone_surrogate_and_where_it_is() -> None:
    from krcoach.web import validate

    with pytest.raises(validate.InputError) as err:
        validate.text("- Launch the portal\n- Raise NPS \ud800 to 40", "Your rewrite", limit=100,
                      controls=False)
    assert err.value.message == ("Your rewrite has a character that is not valid text (a lone "
                                 "surrogate, U+D800, at line 2, column 13).")
    assert validate.opaque("K7Q\udfffM") == ""  # no code or token holds one: the uniform answer
    with pytest.raises(validate.InputError, match="krs: entry 2 has a character"):
        validate.texts(["ok", "\udc00"], "krs", limit=100, items=5, item_limit=50)


def test_the_door_refuses_file_references_and_reads_only_uploads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gradio as gr

    from krcoach.web import drafting
    from krcoach.web import door
    from krcoach.web.validate import InputError

    ref = {"path": "/etc/passwd", "meta": FILE_META}
    for value in (ref, {"path": "/etc/passwd"}, [ref], {"ident": {"nested": [ref]}}):
        with pytest.raises(InputError, match="^Join code takes no files; got a file reference"):
            door.check_value(gr.Textbox(label="Join code"), value, "Join code")
    for number in (math.inf, math.nan, 10**400, "5", True):
        with pytest.raises(InputError, match="^Timer \\(minutes\\) must be a number from 1 to 60"):
            door.check_value(gr.Number(minimum=1, maximum=60), number, "Timer (minutes)")
    upload = gr.UploadButton("Upload file", type="filepath")
    for value in ("/etc/passwd", {"path": "/etc/passwd"}, ref,
                  {"path": "http://127.0.0.1:9/x.md", "meta": FILE_META}):
        with pytest.raises(InputError, match="^Upload file"):
            door.check_value(upload, value, "Upload file")
    outside = tmp_path / "draft.md"
    outside.write_text("- Raise NPS from 30 to 40 by Q4\n", encoding="utf-8")
    assert not door.is_uploaded(str(outside)) and not door.is_uploaded("/etc/passwd")
    with pytest.raises(drafting.DraftError, match="not uploaded here"):
        drafting.upload_to_outline(str(outside))
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "uploads"))  # Gradio reads it per call
    inside = Path(door.upload_folder()) / "3f2a" / "draft.md"
    inside.parent.mkdir(parents=True)
    inside.write_text("- Raise NPS from 30 to 40 by Q4\n", encoding="utf-8")
    assert door.is_uploaded(str(inside)) and not door.is_uploaded(str(inside.parent))
    assert "Raise NPS from 30 to 40 by Q4" in drafting.upload_to_outline(str(inside))
    linked = inside.parent / "link.md"
    linked.symlink_to(outside)  # a link out of the folder is not an upload
    assert not door.is_uploaded(str(linked))
    assert not door.is_uploaded(str(inside.parent / ".." / ".." / "draft.md"))
