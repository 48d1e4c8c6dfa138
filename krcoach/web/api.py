"""The JSON review API: `POST /api/review` on the app's own server, with its OpenAPI page.

A small FastAPI app that `krcoach serve` mounts at `/api` (see `app.api_routes`). It takes a
draft as an outline (`{"text": ...}`) or as records (`{"key_results": [...]}`, the JSONL input
records), checks it at the door with the drafting page's own checks and limits
(`drafts.parse_draft`, `validate`), reviews it in the app's one `limits.ReviewPool` (no Gradio
queue), and answers with the document `krcoach review -f json` writes (`formats.render(review, "json")`, written once, in
`formats`). With `Accept: application/x-ndjson` (or `?stream=1`) it streams one JSON line per
objective as it is reviewed, then the rest of that document on a last line.

Every refusal is `{"error": "one line"}` with a status: 400 (not JSON, a wrong field or type,
control characters, an engine this server does not run), 413 (over the page's limits), 422 (well
formed but nothing to review), 429 with Retry-After (this client's share or the pool is full),
500 (an unexpected failure, logged on the server). Never a traceback, never pydantic's list.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from krcoach import coach, formats
from krcoach.version import __version__
from krcoach.web import drafts, limits, validate
from krcoach.engine import ENGINE_NAMES, Engine, make_engine
from krcoach.models import Finding, KRReview, OKRReview, OKRSet, SkippedLine

log = logging.getLogger("krcoach.web.api")

#: The most bytes a request body may have: the page's largest draft with every character
#: written as a JSON escape (\\uXXXX), plus room for the other fields.
MAX_BODY_BYTES = 6 * drafts.MAX_TEXT_CHARS + 64 * 1024
#: The longest `cycle` ("2026-Q1", "H1 2025", "FY26").
MAX_CYCLE_CHARS = 100
NDJSON = "application/x-ndjson"
#: A 429 goes out after at most this many seconds (see `create_api.refuse`); at most TARPIT_MAX
#: refusals wait at a time, the rest are sent at once.
TARPIT_S = 1.0
TARPIT_MAX = 256
FIELDS = ("text", "key_results", "engine", "cycle")
STATUS = {"invalid": 400, "too_large": 413, "empty": 422}


class ApiError(Exception):
    """A refusal: `message` is the one line sent as {"error": ...} with `status`."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    line = " ".join(str(message).split()) or "Error."
    return JSONResponse({"error": line}, status_code=status, headers=headers)


# ---------------------------------------------------------------------------- the documentation


class ReviewRequest(BaseModel):
    """A draft to review: `text` (an outline) or `key_results` (records), not both."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "## Customers get value in their first week\n"
                 "- Ship the new onboarding checklist (owner: Lea)\n"
                 "- Cut median time-to-first-report from 3 days to 1 day by September 30\n"},
        {"key_results": [{"id": "KR-1", "objective": "Grow self-serve",
                          "kr": "Launch the pricing page", "owner": "Priya", "due": "2026-09-30"}],
         "cycle": "2026-Q3"},
    ]})

    text: str | None = Field(None, description=(
        "The draft as the drafting page takes it: objectives as headings or `Objective:` lines, "
        f"key results as bullets. At most {drafts.MAX_KRS} key results of at most 2,000 "
        "characters each."))
    key_results: list[dict[str, Any]] | None = Field(None, description=(
        "Records as in `krcoach review` JSONL input: `kr` (or `key_result`), and optionally `id`, "
        "`objective`, `owner`, `team`, `due`/`deadline`, `status`, `baseline`, `target`, "
        f"`current`; other fields pass through to the record. At most {drafts.MAX_KRS}."))
    engine: Literal["auto", "rules", "llm"] | None = Field(None, description=(
        "The server's engine when absent or `auto`. `rules` is always available; `llm` only on "
        "a server started with it."))
    cycle: str | None = Field(None, description=(
        "The period the key results run in (`2026-Q1`): a key result inside a dated cycle has a "
        "deadline (as `krcoach review --cycle`)."))


class ReviewResponse(BaseModel):
    """What `krcoach review -f json` writes."""

    engine: str
    model: str | None = None
    summary: dict[str, int] = Field(description="krs, outcomes, outputs, need_work, fallbacks, errors")
    findings: list[Finding]
    records: list[KRReview] = Field(description="The stable per-KR records, in input order.")
    skipped: list[SkippedLine] = Field(description="Input lines read as neither objective nor KR.")


class ErrorResponse(BaseModel):
    error: str = Field(description="One line saying what is wrong.")


_ERRORS = {
    400: "Not JSON, a field of the wrong type, an unknown field, control characters, a bad "
         "X-Client-Id, or an engine this server was not started with.",
    413: f"Over the page's limits: more than {drafts.MAX_KRS} key results, a key result over 2,000 "
         "characters, or a body that is too large.",
    422: "Well formed but nothing to review (an empty draft, no key results, a record without a "
         "key result).",
    429: "This client's share of the review pool (or the whole pool) is full; Retry-After says "
         "when to try again.",
}


def _openapi(api: FastAPI) -> dict[str, Any]:
    from fastapi.openapi.utils import get_openapi

    doc = get_openapi(title=api.title, version=api.version, description=api.description,
                      routes=api.routes)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["ReviewRequest"] = ReviewRequest.model_json_schema(
        ref_template="#/components/schemas/{model}")
    record = schemas.get("KRReview")
    if record is not None:  # the stable record: `extra` is written as passed-through fields
        record.get("properties", {}).pop("extra", None)
        record["title"] = "Record"
        record["additionalProperties"] = {"type": "string",
                                          "description": "A passed-through input column."}
    return doc


def _docs_page(doc: dict[str, Any]) -> str:
    """The API's documentation as one self-contained page (no scripts, nothing from elsewhere)."""
    op = doc["paths"]["/review"]["post"]
    request = ReviewRequest.model_json_schema()
    fields = "".join(
        f"<tr><td><code>{html.escape(name)}</code></td><td>{html.escape(spec.get('description', ''))}"
        "</td></tr>" for name, spec in request["properties"].items())
    statuses = "".join(
        f"<tr><td>{code}</td><td>{html.escape(spec.get('description', ''))}</td></tr>"
        for code, spec in op["responses"].items())
    example = html.escape(json.dumps(request["examples"][0], indent=2))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>krcoach API</title><meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;
color:#1f2937}}code,pre{{font:13px ui-monospace,monospace;background:#f3f4f6;border-radius:4px}}
pre{{padding:.8rem;overflow:auto}}td{{vertical-align:top;padding:.3rem .6rem;
border-top:1px solid #e5e7eb}}table{{border-collapse:collapse}}</style></head><body>
<h1>krcoach API <small>{html.escape(doc['info']['version'])}</small></h1>
<p>{html.escape(doc['info'].get('description', ''))}</p>
<h2><code>POST /api/review</code></h2><p>{html.escape(op.get('description', ''))}</p>
<h3>Body (JSON)</h3><table>{fields}</table>
<h3>Example</h3><pre>curl -s http://127.0.0.1:7860/api/review -H 'Content-Type: application/json' \\
  -d '{html.escape(json.dumps({"text": "- Launch the pricing page"}))}'</pre>
<pre>{example}</pre>
<h3>Answers</h3><table>{statuses}</table>
<p>Streaming: send <code>Accept: {NDJSON}</code> (or <code>?stream=1</code>) for one line per
objective as it is reviewed, then a line with the rest of the document.
Name your client with an <code>X-Client-Id</code> header: each client has its own share of the
review pool. The machine-readable schema is <a href="openapi.json">openapi.json</a>.</p>
</body></html>"""


# ------------------------------------------------------------------------------- the request


def _client(request: Request) -> str:
    try:
        return limits.client_key(request.headers.get(limits.CLIENT_ID_HEADER), None,
                                 request.client.host if request.client else None)
    except limits.ClientIdError as exc:
        raise ApiError(400, str(exc)) from None


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, f"The request body is {int(declared):,} bytes; at most "
                            f"{MAX_BODY_BYTES:,} are read.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, f"The request body is over {MAX_BODY_BYTES:,} bytes; at most "
                                f"{MAX_BODY_BYTES:,} are read.")
        chunks.append(chunk)
    return b"".join(chunks)


def _payload(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object with known fields of the right types."""
    if not raw.strip():
        raise ApiError(400, 'The request body is empty; send JSON such as {"text": "- Launch '
                            'the pricing page"}.')
    try:
        body = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ApiError(400, "The request body is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc.msg} (line {exc.lineno}, "
                            f"column {exc.colno}).") from None
    except RecursionError:
        raise ApiError(400, "The request body is nested too deeply to read.") from None
    except ValueError as exc:  # an integer past Python's digit limit
        raise ApiError(400, f"The request body is not valid JSON: {str(exc).splitlines()[0]}.") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"The request body must be a JSON object with text or key_results; "
                            f"got {validate.describe(body)}.")
    unknown = [k for k in body if k not in FIELDS]
    if unknown:
        raise ApiError(400, f"Unknown field {unknown[0][:40]!r}: the body takes text or "
                            "key_results, and optionally engine and cycle.")
    has_text, has_records = body.get("text") is not None, body.get("key_results") is not None
    if has_text and has_records:
        raise ApiError(400, "Send either text or key_results, not both.")
    if not has_text and not has_records:
        raise ApiError(400, "The body needs text (an outline) or key_results (a list of records).")
    if has_text and not isinstance(body["text"], str):
        raise ApiError(400, f"text must be text; got {validate.describe(body['text'])}.")
    if has_records:
        _check_records(body["key_results"])
    for field, limit in (("cycle", MAX_CYCLE_CHARS), ("engine", 20)):
        try:
            validate.text(body.get(field), field, limit=limit)
        except validate.InputError as exc:
            raise ApiError(400, exc.message) from None
    return body


def _check_records(records: Any) -> None:
    if not isinstance(records, list):
        raise ApiError(400, f"key_results must be a list of records; got {validate.describe(records)}.")
    if not records:
        raise ApiError(422, "key_results is empty: there is nothing to review.")
    if len(records) > drafts.MAX_KRS:
        raise ApiError(413, f"key_results has {len(records):,} records; at most {drafts.MAX_KRS} "
                            "can be reviewed at a time here. Split it, or use `krcoach review` for "
                            "batches.")
    for n, rec in enumerate(records, 1):
        if not isinstance(rec, dict):
            raise ApiError(400, f"key_results: record {n} must be an object with a kr field; got "
                                f"{validate.describe(rec)}.")
        for key, value in rec.items():
            for text in (key, *_strings(value)):
                found = validate.control_char(text)
                if found:
                    raise ApiError(400, validate.control_message(
                        text, found, f"key_results: record {n}, field {key[:40]!r},"))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _engine_for(name: Any, server: Engine, spare: dict[str, Engine]) -> Engine:
    chosen = (name or "auto").strip().lower()
    if chosen not in ENGINE_NAMES:
        raise ApiError(400, f"Unknown engine {chosen[:20]!r}: choose {', '.join(ENGINE_NAMES)}.")
    if chosen in ("auto", server.name):
        return server
    if chosen == "rules":
        if "rules" not in spare:
            spare["rules"] = make_engine("rules")
        return spare["rules"]
    raise ApiError(400, f"This server runs the {server.name} engine, not {chosen}: start it with "
                        "`krcoach serve --engine llm` (with OPENAI_API_KEY or OPENAI_BASE_URL set) "
                        "to review with a language model.")


def _weight(body: dict[str, Any]) -> int:
    """Units of the client's share: from the number of lines or records, before any parsing."""
    if body.get("key_results") is not None:
        return limits.draft_weight(len(body["key_results"]))
    return limits.draft_weight(body["text"].count("\n") + 1)


def _okrs(body: dict[str, Any]) -> OKRSet:
    """The draft as an OKRSet, through the page's own door (`drafts.parse_draft`) for text."""
    if body.get("text") is not None:
        try:
            okrs = drafts.parse_draft(body["text"])
        except drafts.DraftError as exc:
            raise ApiError(STATUS.get(exc.kind, 400), str(exc)) from None
    else:
        data = json.dumps(body["key_results"], ensure_ascii=False).encode("utf-8")
        try:
            okrs = formats.read_bytes(data, "key_results", input_format="json")
        except formats.InputError as exc:
            raise ApiError(_records_status(exc), str(exc)) from None
    if body.get("cycle"):
        okrs.cycle = body["cycle"]
    return okrs


def _records_status(exc: formats.InputError) -> int:
    """The reader names what is wrong with a record in words; these are the words for a size
    over a limit (413) and a field of the wrong type (400); the rest is not reviewable (422)."""
    if "the limit is" in exc.message:
        return 413
    if "must be text" in exc.message or "expected an object" in exc.message:
        return 400
    return 422


# ----------------------------------------------------------------------------------- the app


def create_api(engine: Engine, pool: limits.ReviewPool) -> FastAPI:
    """The API app for one server: its engine and its review pool (shared with the pages)."""
    api = FastAPI(
        title="krcoach API", version=__version__, docs_url=None, redoc_url=None,
        openapi_url="/openapi.json",
        description=("Review draft OKRs: every key result is classified as output or outcome, "
                     "with why, its issues and rewrites, as `krcoach review -f json` writes it."))
    spare: dict[str, Engine] = {}
    held = [0]  # refusals waiting to be sent

    async def refuse(busy: limits.Busy) -> ApiError:
        """The 429 for `busy`, sent after a short wait that costs the server only a socket, so
        a client that retries at once retries about once a second, not thousands of times."""
        if held[0] < TARPIT_MAX:
            held[0] += 1
            try:
                await asyncio.sleep(min(TARPIT_S, busy.retry_after))
            finally:
                held[0] -= 1
        return ApiError(429, busy.message, {"Retry-After": str(busy.retry_after)})

    @api.exception_handler(ApiError)
    async def _refused(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.headers)

    @api.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request refused."
        if exc.status_code == 404:
            message = "No such API route: see /api/docs."
        elif exc.status_code == 405:
            message = "Method not allowed here: see /api/docs."
        return error_response(exc.status_code, message, getattr(exc, "headers", None))

    @api.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error_response(400, f"{where or 'The request'}: {first.get('msg', 'invalid')}.")

    @api.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("krcoach api: unexpected %s", type(exc).__name__, exc_info=exc)
        return error_response(500, "The review failed unexpectedly; the server's log has the details.")

    @api.post(
        "/review", response_model=None, summary="Review a draft",
        description=("Send a draft as `text` (an outline) or `key_results` (records); get back the "
                     "review as `krcoach review -f json` writes it."),
        responses={200: {"model": ReviewResponse, "description": "The review.", "content": {
                        NDJSON: {"schema": {"type": "string"}, "example":
                                 '{"objective": "...", "records": [...], "findings": [...]}\n'
                                 '{"engine": "llm", "summary": {...}, "findings": [...], ...}\n'}}},
                   **{code: {"model": ErrorResponse, "description": text}
                      for code, text in _ERRORS.items()}},
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/ReviewRequest"}}}}})
    async def review(request: Request) -> Response:
        client = _client(request)
        try:
            pool.check(client)  # a client over its share is refused before its body is read
        except limits.Busy as busy:
            raise await refuse(busy) from None
        body = _payload(await _body(request))
        eng = _engine_for(body.get("engine"), engine, spare)
        stream = NDJSON in request.headers.get("accept", "") or \
            request.query_params.get("stream", "").lower() in ("1", "true", "yes")
        try:
            ticket = await pool.acquire(client, _weight(body))
        except limits.Busy as busy:
            raise await refuse(busy) from None
        # From here the slot is given back by the thread that ends the work, never by this
        # coroutine: a caller that leaves cannot free a slot whose review still runs.
        if not stream:
            return Response(await asyncio.wrap_future(pool.submit(_review_json, pool, ticket, body, eng)),
                            media_type="application/json")
        parsing = pool.submit(_okrs, body)
        try:
            okrs = await asyncio.wrap_future(parsing)
        except BaseException:
            parsing.add_done_callback(lambda _: pool.release(ticket))
            raise
        return _stream(pool, ticket, okrs, eng)

    @api.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(_docs_page(api.openapi()))

    api.openapi = lambda: api.openapi_schema or _cache(api)  # type: ignore[method-assign]
    return api


def _cache(api: FastAPI) -> dict[str, Any]:
    api.openapi_schema = _openapi(api)
    return api.openapi_schema


def _review_json(pool: limits.ReviewPool, ticket: Any, body: dict[str, Any], eng: Engine) -> str:
    try:
        return pool.review(_okrs(body), eng, "json")
    finally:
        pool.release(ticket)


def _stream(pool: limits.ReviewPool, ticket: Any, okrs: OKRSet, eng: Engine) -> Response:
    """One line per objective as it is reviewed, then the rest of the JSON document. The review
    runs on a pool thread that holds the client's slot until it ends (or the caller leaves)."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    stop = threading.Event()

    def put(item: str | None) -> None:
        try:
            loop.call_soon_threadsafe(lines.put_nowait, item)
        except RuntimeError:  # the server is stopping: nobody reads the lines
            stop.set()

    def produce() -> None:
        try:
            done = []
            for obj in coach.iter_review(okrs, eng):
                if stop.is_set():
                    return
                done.append(obj)
                put(json.dumps({"objective": obj.objective, "records": [kr.record() for kr in obj.krs],
                                "findings": [f.model_dump(mode="json") for f in obj.findings]},
                               ensure_ascii=False))
            review: OKRReview = drafts.assemble(okrs, done, eng)  # with the plan, when one
            rest = json.loads(formats.render(review, "json"))
            rest.pop("records", None)
            put(json.dumps(rest, ensure_ascii=False))
        except Exception as exc:  # noqa: BLE001 - the status line has gone: say it on a line
            log.error("krcoach api: unexpected %s while streaming", type(exc).__name__, exc_info=exc)
            put(json.dumps({"error": "The review failed unexpectedly; the server's log has the "
                                     "details."}))
        finally:
            pool.release(ticket)
            put(None)

    pool.submit(produce)

    async def body_lines() -> AsyncIterator[bytes]:
        try:
            while (line := await lines.get()) is not None:
                yield (line + "\n").encode("utf-8")
        finally:
            stop.set()

    return StreamingResponse(body_lines(), media_type=NDJSON)
