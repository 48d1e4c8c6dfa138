"""The JSON review API (`POST /api/review`) and the review pool behind every review on the server.

Over the wire: a launched app (`launch_app`, the `krcoach serve` code path) driven with plain
HTTP (urllib), its answers compared with what the library says in-process for the same draft.
In-process: the pool's shares and round-robin order, and the bound on Gradio's sessions.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from browser import ROOT, launch_app
from krcoach import coach, formats
from krcoach.web import drafts, limits
from krcoach.models import MAX_KR_CHARS

RECORD_KEYS = ["id", "objective", "kr", "owner", "kind", "why", "issues", "rewrites", "engine",
               "model", "status", "error", "confidence", "team", "notes"]
DRAFT = """\
## Customers get value in their first week
- Ship the new onboarding checklist (owner: Lea)
- Cut median time-to-first-report from 3 days to 1 day by September 30

## Fewer surprises in production
- Maintain 99.9% API uptime every month
"""
BIG = "\n".join(f"- Raise weekly active teams in segment {i} from {i} to {i + 40} by Q4"
                for i in range(drafts.MAX_KRS))


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with launch_app(tmp_path_factory.mktemp("api")) as base:
        yield base


def post(url: str, body: Any, *, headers: dict[str, str] | None = None, path: str = "api/review",
         raw: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method="POST", headers={
        "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def library_doc(text: str, cycle: str | None = None) -> dict[str, Any]:
    okrs = formats.parse_outline(text, source="draft")
    if cycle:
        okrs.cycle = cycle
    return json.loads(formats.render(coach.review(okrs, "rules"), "json"))


# ------------------------------------------------------------------------------ the answer


def readme_curl() -> tuple[str, dict[str, Any], str]:
    """The README's curl example: its path, its JSON body and the output shown under it."""
    doc = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- example: api-curl .*?-->\n```bash\n(.*?)```\n+```json\n(.*?)```", doc, re.S)
    assert block, "README: the api-curl example is missing"
    command, shown = block.group(1), block.group(2)
    path = re.search(r"http://127\.0\.0\.1:7860/(\S+)", command).group(1)
    body = json.loads(re.search(r"-d '(.*?)'", command, re.S).group(1))
    return path, body, shown


def test_the_readme_curl_call_returns_the_stable_record(url: str) -> None:
    path, body, shown = readme_curl()
    status, headers, data = post(url, body, path=path)
    assert status == 200 and headers["content-type"].startswith("application/json")
    doc = json.loads(data)
    assert list(doc)[:6] == ["engine", "model", "summary", "findings", "records", "skipped"]
    for rec in doc["records"]:
        assert list(rec) == RECORD_KEYS  # exact key set and order, as `krcoach review -f json`
    # The same document the JSON writer makes in-process, field for field.
    assert doc == library_doc(body["text"])
    # What the README shows is what the server says: the same fields, records and verdicts (the
    # wording of the coaching may improve after the README was written).
    readme = json.loads(shown)
    assert list(readme) == list(doc) and readme["summary"] == doc["summary"]
    assert [(r["id"], r["kr"], r["owner"], r["kind"], [i["code"] for i in r["issues"]])
            for r in readme["records"]] == \
        [(r["id"], r["kr"], r["owner"], r["kind"], [i["code"] for i in r["issues"]])
         for r in doc["records"]]


def test_records_in_and_passed_through_columns_out(url: str) -> None:
    body = {"key_results": [
        {"id": "KR-7", "objective": "Grow self-serve", "kr": "Launch the pricing page",
         "owner": "Priya", "team": "Growth", "due": "2026-09-30", "jira": "GRO-12"},
        {"key_result": "Raise trial-to-paid conversion from 4% to 6%", "objective": "Grow self-serve"},
    ], "cycle": "2026-Q3"}
    status, _, data = post(url, body)
    assert status == 200
    records = json.loads(data)["records"]
    assert [r["id"] for r in records] == ["KR-7", "2"]
    assert records[0]["owner"] == "Priya" and records[0]["team"] == "Growth"
    assert records[0]["jira"] == "GRO-12" and list(records[0])[:len(RECORD_KEYS)] == RECORD_KEYS
    assert [r["kind"] for r in records] == ["output", "outcome"]
    # The same records `krcoach review` makes from the same JSON input.
    okrs = formats.read_bytes(json.dumps(body["key_results"]).encode(), "key_results", "json")
    okrs.cycle = "2026-Q3"
    assert records == coach.review(okrs, "rules").records()


def test_streaming_sends_one_line_per_objective_then_the_rest(url: str) -> None:
    req = urllib.request.Request(url + "api/review", data=json.dumps({"text": DRAFT}).encode(),
                                 method="POST", headers={"Accept": "application/x-ndjson"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        assert resp.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in resp.read().decode().splitlines()]
    whole = library_doc(DRAFT)
    assert [line["objective"] for line in lines[:-1]] == [
        "Customers get value in their first week", "Fewer surprises in production"]
    assert [r for line in lines[:-1] for r in line["records"]] == whole["records"]
    last = lines[-1]
    assert last == {k: v for k, v in whole.items() if k != "records"}
    # ?stream=1 does the same without the header.
    status, headers, data = post(url, {"text": DRAFT}, path="api/review?stream=1")
    assert status == 200 and headers["content-type"].startswith("application/x-ndjson")
    assert len(data.decode().splitlines()) == 3


# ------------------------------------------------------------------------------ refusals

TOO_LONG_KR = "- " + "x" * (MAX_KR_CHARS + 1)
TOO_MANY = "\n".join(f"- Raise metric {i} from 1 to 2" for i in range(drafts.MAX_KRS + 1))


@pytest.mark.parametrize(("body", "raw", "headers", "status", "expected"), [
    (None, b"{not json", None, 400, "not valid JSON"),
    (None, b"", None, 400, "body is empty"),
    (None, b"\xff\xfe", None, 400, "not UTF-8"),
    ([1, 2], None, None, 400, "must be a JSON object"),
    ({"text": 5}, None, None, 400, "text must be text; got a number (5)"),
    ({"text": ["a"]}, None, None, 400, "text must be text; got a list"),
    ({"txt": "- a"}, None, None, 400, "Unknown field 'txt'"),
    ({}, None, None, 400, "needs text"),
    ({"text": "- a", "key_results": [{"kr": "b"}]}, None, None, 400, "not both"),
    ({"text": "- Launch\u0000 it"}, None, None, 400, "control character, NUL (U+0000)"),
    ({"key_results": "Launch it"}, None, None, 400, "key_results must be a list"),
    ({"key_results": ["Launch it"]}, None, None, 400, "record 1 must be an object"),
    ({"key_results": [{"kr": 5}]}, None, None, 400, "field 'kr' must be text"),
    ({"key_results": [{"kr": "a\u0007b"}]}, None, None, 400, "BEL (U+0007)"),
    ({"text": "- a", "engine": "gpt"}, None, None, 400, "Unknown engine 'gpt'"),
    ({"text": "- a", "engine": 3}, None, None, 400, "engine must be text"),
    ({"text": "- a", "engine": "llm"}, None, None, 400, "runs the rules engine, not llm"),
    ({"text": "- a", "cycle": "Q" * 101}, None, None, 400, "cycle is 101 characters"),
    ({"text": "- a"}, None, {"X-Client-Id": "bad id with spaces"}, 400, "X-Client-Id must be"),
    ({"text": TOO_LONG_KR}, None, None, 413,
     f"Line 1: this key result is {MAX_KR_CHARS + 1:,} characters; the limit is {MAX_KR_CHARS:,}"),
    ({"text": TOO_MANY}, None, None, 413, f"The draft has {drafts.MAX_KRS + 1} key results; at most"),
    ({"text": "x" * (drafts.MAX_TEXT_CHARS + 1)}, None, None, 413, "characters; at most"),
    ({"key_results": [{"kr": "a"}] * (drafts.MAX_KRS + 1)}, None, None, 413, "at most 200"),
    ({"key_results": [{"kr": "y" * (MAX_KR_CHARS + 1)}]}, None, None, 413, "the limit is 2,000"),
    ({"text": ""}, None, None, 422, "The draft is empty"),
    ({"text": "   \n  "}, None, None, 422, "The draft is empty"),
    ({"text": "# Just a title"}, None, None, 422, "No key results found"),
    ({"key_results": []}, None, None, 422, "nothing to review"),
    ({"key_results": [{"owner": "Ana"}]}, None, None, 422, "missing field 'kr'"),
])
def test_every_refusal_is_one_json_line_with_its_status(url: str, body: Any, raw: bytes | None,
                                                        headers: dict[str, str] | None, status: int,
                                                        expected: str) -> None:
    got, response_headers, data = post(url, body, raw=raw, headers=headers)
    assert got == status, data[:300]
    assert response_headers["content-type"].startswith("application/json")
    doc = json.loads(data)
    assert list(doc) == ["error"], doc  # never pydantic's list, never a "detail"
    assert expected in doc["error"], doc["error"]
    assert "\n" not in doc["error"] and "Traceback" not in doc["error"]


def test_a_body_over_the_limit_is_refused_before_it_is_read(url: str) -> None:
    import http.client
    from urllib.parse import urlsplit

    from krcoach.web import api

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    size = api.MAX_BODY_BYTES + 1
    conn.putrequest("POST", "/api/review")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    try:
        conn.send(b" " * size)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed without reading it all
    resp = conn.getresponse()
    assert resp.status == 413
    assert json.loads(resp.read()) == {"error": f"The request body is {size:,} bytes; at most "
                                                f"{api.MAX_BODY_BYTES:,} are read."}
    conn.close()


def test_other_methods_and_routes_answer_in_json(url: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url + "api/review", timeout=30)
    assert err.value.code == 405 and list(json.loads(err.value.read())) == ["error"]
    status, _, data = post(url, {"text": "- a"}, path="api/nothing")
    assert status == 404 and json.loads(data) == {"error": "No such API route: see /api/docs."}


# ------------------------------------------------------------------------------ documentation


def test_openapi_schema_and_docs_page(url: str) -> None:
    with urllib.request.urlopen(url + "api/openapi.json", timeout=30) as resp:
        schema = json.loads(resp.read())
    op = schema["paths"]["/review"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"]["$ref"] == \
        "#/components/schemas/ReviewRequest"
    assert set(schema["components"]["schemas"]["ReviewRequest"]["properties"]) == \
        {"text", "key_results", "engine", "cycle"}
    assert {"200", "400", "413", "422", "429"} <= set(op["responses"])
    record = schema["components"]["schemas"]["KRReview"]
    assert list(record["properties"]) == RECORD_KEYS  # the stable record, `extra` as extra fields
    with urllib.request.urlopen(url + "api/docs", timeout=30) as resp:
        page = resp.read().decode()
    assert resp.status == 200 and "POST /api/review" in page and "X-Client-Id" in page
    # Served whole by the app: no script, style or font from anywhere else.
    assert "<script" not in page and not re.search(r"(src|href)=\"https?://", page)


# ------------------------------------------------------------------------------ limits


def test_gradio_run_routes_do_not_skip_the_queue(url: str) -> None:
    """Gradio's direct routes would run an event outside the queue and the pool: refused."""
    for path in ("gradio_api/run/review", "gradio_api/api/review"):
        status, _, data = post(url, {"data": [DRAFT]}, path=path)
        assert 400 <= status < 500 and b"outcome" not in data and b"rewrites" not in data
    with urllib.request.urlopen(url + "config", timeout=30) as resp:
        config = json.loads(resp.read())
    queued = [dep["id"] for dep in config["dependencies"] if dep["queue"] is not False]
    assert len(queued) > 10
    for fn_id in queued:  # every queued event, named by its id
        status, _, _ = post(url, {"data": [], "fn_index": fn_id}, path="gradio_api/run/predict")
        assert 400 <= status < 500, fn_id
    # Gradio's deep-link route writes a file per call; krcoach has no deep links.
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url + "gradio_api/deep_link?session_hash=x", timeout=30)
    assert err.value.code == 404


def test_a_flooding_client_gets_429_and_another_client_is_served(url: str) -> None:
    flood_body = {"text": BIG}
    results: list[tuple[int, dict[str, str], bytes]] = []
    lock = threading.Lock()

    def flood() -> None:
        got = post(url, flood_body, headers={"X-Client-Id": "flooder"})
        with lock:
            results.append(got)

    with ThreadPoolExecutor(max_workers=24) as pool:
        for _ in range(24):
            pool.submit(flood)
        time.sleep(0.3)  # the flood is in: its share is full
        started = time.perf_counter()
        status, _, data = post(url, {"text": DRAFT}, headers={"X-Client-Id": "someone-else"})
        other_took = time.perf_counter() - started
    assert status == 200 and len(json.loads(data)["records"]) == 3
    refused = [r for r in results if r[0] == 429]
    served = [r for r in results if r[0] == 200]
    assert refused and served and len(refused) + len(served) == 24
    for _, headers, data in refused:
        assert int(headers["retry-after"]) >= 1
        message = json.loads(data)["error"]
        assert re.fullmatch(r"Busy: .*retry in \d+ s\.", message), message
    assert other_took < 5, other_took


# ------------------------------------------------------------------------------ the pool, in-process


def test_pool_share_queue_and_round_robin() -> None:
    pool = limits.ReviewPool(workers=2, per_client=1, per_client_queue=2, max_waiting=10)
    order: list[str] = []
    gate = threading.Event()
    errors: list[str] = []

    def job(client: str, tag: str) -> None:
        try:
            with pool.slot(client):
                order.append(tag)
                gate.wait(5)
        except limits.Busy as busy:
            errors.append(f"{tag}: {busy.message}")

    threads = [threading.Thread(target=job, args=("A", f"A{i}")) for i in range(4)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    # A runs one, queues two, and its fourth is refused at once with a retry time.
    assert order == ["A0"] and len(errors) == 1 and re.search(r"retry in \d+ s\.$", errors[0])
    b = threading.Thread(target=job, args=("B", "B0"))
    b.start()
    time.sleep(0.05)
    assert order == ["A0", "B0"]  # B does not wait behind A's queue
    gate.set()
    for t in [*threads, b]:
        t.join(5)
    assert order == ["A0", "B0", "A1", "A2"]
    assert pool.stats()["running"] == 0 and pool.stats()["waiting"] == 0


def test_pool_weights_large_drafts_and_serves_clients_in_turn() -> None:
    assert limits.draft_weight(15) == 1 and limits.draft_weight(200) == 2
    pool = limits.ReviewPool(workers=1, per_client=2, per_client_queue=5)

    async def scenario() -> list[str]:
        held = await pool.acquire("A")
        names = ["A1", "A2", "B", "C"]
        tasks = {asyncio.create_task(pool.acquire(n[0])): n for n in names}
        await asyncio.sleep(0.01)
        order = []
        while tasks:
            pool.release(held)
            await asyncio.sleep(0.01)
            done = [t for t in tasks if t.done()]
            assert len(done) == 1  # one slot: one at a time
            order.append(tasks.pop(done[0]))
            held = done[0].result()
        pool.release(held)
        return order

    # A's queued reviews take turns with B's and C's instead of all going first.
    assert asyncio.run(scenario()) == ["A1", "B", "C", "A2"]

    big = limits.ReviewPool(workers=4, per_client=2, per_client_queue=0)
    with big.slot("A", limits.draft_weight(200)):  # a 200-KR draft is A's whole share
        with pytest.raises(limits.Busy):
            with big.slot("A", 1):
                pass
        with big.slot("B", 1):  # others are not affected
            pass


def test_a_caller_that_leaves_gives_its_place_back() -> None:
    pool = limits.ReviewPool(workers=1, per_client=1, per_client_queue=1)

    async def scenario() -> dict[str, Any]:
        held = await pool.acquire("A")
        waiting = asyncio.create_task(pool.acquire("B"))
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        pool.release(held)
        return pool.stats()

    stats = asyncio.run(scenario())
    assert stats["running"] == 0 and stats["waiting"] == 0


def test_client_keys() -> None:
    assert limits.client_key(" team-7 ", "s", "1.2.3.4") == "id:team-7"
    assert limits.client_key(None, "abc", "1.2.3.4") == "session:abc"
    assert limits.client_key(None, None, "1.2.3.4") == "addr:1.2.3.4"
    with pytest.raises(limits.ClientIdError):
        limits.client_key("x" * 129)


def test_sessions_that_store_nothing_are_bounded_and_pages_keep_theirs() -> None:
    import gradio as gr

    with gr.Blocks() as demo:
        kept = gr.State(None)

        def echo(text: str) -> str:
            return text

        gr.api(echo, api_name="echo")
    holder = demo.app.state_holder
    assert limits.bound_sessions(holder, capacity=50, probation=5)
    page = holder["page-tab"]
    page[kept._id] = {"draft": "- a"}  # a page stored something: it stays
    api_ids = [b for b, block in demo.blocks.items() if type(block).__name__ == "Api"]
    for i in range(200):  # API calls, each with a session of its own
        session = holder[f"call-{i}"]
        for block in api_ids:
            session._update_value_in_config(block, "x" * 10_000)  # never kept
            assert not session.config_values
    assert "page-tab" in holder.session_data
    assert holder["page-tab"][kept._id] == {"draft": "- a"}
    assert len(holder.session_data) <= 5 + 1
    for i in range(60):  # people on pages: bounded by the capacity, oldest first
        holder[f"tab-{i}"][kept._id] = i
    assert len(holder.session_data) <= 50 and "tab-59" in holder.session_data


def test_llm_reviews_stream_each_objective_as_it_is_reviewed(tmp_path: Path) -> None:
    """On a server running the llm engine (a real OpenAI-protocol server), a streamed review
    sends the quick objective's line while the slow one is still with the model; `rules` is
    available there too, and the key never appears."""
    fake_openai = pytest.importorskip("fake_openai")
    secret = "sk-test-krcoach-SECRET-4242"
    text = ("## Quick objective\n- Launch the pricing page\n\n"
            "## Slow objective\n- Publish 12 blog posts\n")
    with fake_openai.FakeOpenAI() as fake:
        fake.script(fake_openai.ok(delay=2.0), objective="Slow objective")
        env = {"OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": secret,
               "KRCOACH_MODEL": fake_openai.FAKE_MODEL}
        with launch_app(tmp_path / "llm-api", engine="llm", env=env) as base:
            req = urllib.request.Request(base + "api/review", data=json.dumps({"text": text}).encode(),
                                         method="POST", headers={"Accept": "application/x-ndjson",
                                                                 "X-Client-Id": "streamer"})
            started = time.perf_counter()
            arrivals: list[tuple[float, dict[str, Any]]] = []
            with urllib.request.urlopen(req, timeout=120) as resp:
                for line in resp:
                    arrivals.append((time.perf_counter() - started, json.loads(line)))
            assert [a[1].get("objective") for a in arrivals[:2]] == ["Quick objective", "Slow objective"]
            assert arrivals[0][0] < arrivals[1][0] - 1.0  # the first line did not wait for the second
            assert arrivals[0][1]["records"][0]["engine"] == "llm"
            assert arrivals[0][1]["records"][0]["model"] == fake_openai.FAKE_MODEL
            last = arrivals[-1][1]
            assert last["engine"] == "llm" and last["summary"]["krs"] == 2
            # The offline engine on the same server, and the key nowhere in any answer.
            status, _, data = post(base, {"text": text, "engine": "rules"})
            assert status == 200 and json.loads(data)["records"][0]["engine"] == "rules"
            assert secret not in data.decode() and all(secret not in json.dumps(a[1])
                                                       for a in arrivals)


def test_worker_processes_review_exactly_as_the_library() -> None:
    """Large drafts go to the pool's worker processes, small ones may stay in this process:
    either way the answer is the library's, field for field."""
    from krcoach.engine import make_engine

    eng = make_engine("rules")
    pool = limits.ReviewPool(workers=2, processes=True)
    try:
        big = formats.parse_outline(BIG + "\n- Hold 5 customer interviews @lea", source="draft")
        small = formats.parse_outline(DRAFT, source="draft")
        for okrs in (big, small):
            expected = coach.review(okrs, eng)
            with pool.slot("test", limits.draft_weight(len(okrs.key_results()))):
                assert pool.review(okrs, eng, "records") == expected.records()
                assert pool.review(okrs, eng, "json") == formats.render(expected, "json")
                assert pool.review(okrs, eng) == expected
        assert pool.processes  # the workers started and answered
    finally:
        pool.close()
