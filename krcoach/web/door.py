"""The door in front of every handler: what Gradio checks (or trips over) before a krcoach
handler runs gets one readable line, never a traceback in the server log.

Two layers, both installed by the app (`install` in `build_app`, `app_kwargs` at launch):

- `DoorMiddleware`, on the Gradio FastAPI app, reads the body of every call route
  (`/gradio_api/queue/join`, `/call/<name>`, `/call/v2/<name>`, `/run/<name>`, `/api/<name>`)
  before FastAPI does. A body that is not UTF-8, not JSON, not an object, has no `data` list,
  names an event or endpoint the app does not have, or carries a lone surrogate or a file
  reference in its own fields (`session_hash`, `event_data`) is answered `400`/`404`/`415` with
  `{"error": "<one line>", "detail": "<the same line>"}`, where FastAPI would send pydantic's list
  of details or "There was an error parsing the body", and Gradio would log a traceback (an
  unknown `fn_index`, endpoint or keyword). A result stream (`GET /gradio_api/queue/data`,
  `/call/<name>/<event_id>`) for a session or event with nothing waiting gets the message Gradio
  sends (`session_not_found`), in words, without the exception Gradio then raises inside it.
  Anything that still escapes a call route is answered 500 in one line and logged in one line
  (`UNFORESEEN`), never as a traceback.
- `install(demo)` wraps `Blocks.preprocess_data`, which runs for every event (named endpoint or
  page event, queued or not) before Gradio moves files or preprocesses values: the count of values
  (a named endpoint called with too few gets None for each missing one, so its own checks answer;
  too many, or a page event short of values, is refused), then each value against its component:
  a lone surrogate anywhere (text, list entry, object key), a FileData-shaped object where text, a
  number, a flag or a stored identity belongs (Gradio would move the file it names into its cache,
  or fetch a web address), a value of the wrong type for a textbox, number or dropdown. A file
  input takes only a FileData reference to a file inside Gradio's upload folder, i.e. one
  uploaded to this app. Each refusal is a `gr.Error` with one line naming the field, which the
  client gets as the event's error and the page shows in its message toast; anything Gradio's own
  preprocessing still raises is turned into one such line too.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import gradio as gr
from gradio.data_classes import FileData, ListFiles, PredictBody, SimplePredictBody
from pydantic import ValidationError

from krcoach.web import validate
from krcoach.web.validate import InputError, describe

log = logging.getLogger("krcoach.web.door")

#: Keys of Gradio's FileData; an object whose keys are all among these and that has a text
#: `path` is a file reference, with or without the `meta` tag Gradio itself looks for.
FILE_KEYS = frozenset({"path", "url", "size", "orig_name", "mime_type", "is_stream", "meta"})
#: Bodies this large are parsed in a worker thread, not on the server's event loop.
THREAD_PARSE_BYTES = 256 * 1024
#: The line logged (without a traceback) when a call route fails in a way the door did not foresee.
UNFORESEEN = "krcoach: a call failed unforeseen"

_CALL = re.compile(r"/gradio_api/(?:(?P<join>queue/join)|call/v2/(?P<v2>[^/]+)|"
                   r"(?P<route>call|run|api)/(?P<name>[^/]+))/?$")
_QUEUE_DATA = re.compile(r"/gradio_api/queue/data/?$")
_CALL_STREAM = re.compile(r"/gradio_api/call/[^/]+/(?P<event_id>[^/]+)/?$")
#: What a stream for a session or event with nothing waiting says (one line, as Gradio's own
#: `unexpected_error` message, which the page's client acts on by its `session_not_found`).
NOTHING_WAITING = ("Nothing is waiting here: the call's result was already read, or no call was "
                   "sent with this id; send the call again.")
_ONE_LINE = re.compile(r"\s+")


class Refused(Exception):
    """A request the door answers itself: an HTTP status and one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def refusal(message: str) -> gr.Error:
    """The error a handler's caller gets: one line, and no traceback in the server log."""
    return gr.Error(message, print_exception=False)


# ------------------------------------------------------------------------------ values


def is_file_ref(value: Any) -> bool:
    """An object shaped like Gradio's FileData: a text `path`, and either FileData's `meta` tag or
    no keys but FileData's."""
    if not isinstance(value, dict) or not isinstance(value.get("path"), str):
        return False
    meta = value.get("meta")
    tagged = isinstance(meta, dict) and meta.get("_type") == "gradio.FileData"
    return tagged or value.keys() <= FILE_KEYS


def problem(value: Any, field: str) -> str | None:
    """The first thing in `value` (text, list entries, object keys and values, at any depth)
    that no handler takes: a lone surrogate, or a file reference. None when there is none."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            lone = validate.surrogate(item)
            if lone:
                return validate.surrogate_message(item, lone, field)
        elif isinstance(item, dict):
            if is_file_ref(item):
                return (f"{field} takes no files; got a file reference (files are read only "
                        "when uploaded to this app).")
            for key, entry in reversed(list(item.items())):
                stack.append(entry)
                stack.append(key)
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
    return None


def upload_folder() -> str:
    """Gradio's folder for uploaded files (and its cache), as a real path."""
    from gradio.utils import get_upload_folder

    return os.path.realpath(get_upload_folder())


def is_uploaded(path: Any) -> bool:
    """True when `path` is a file inside Gradio's upload folder, i.e. one uploaded to this app
    (Gradio's `/upload` writes there, and moves a file it accepts for an event into it)."""
    if not isinstance(path, str) or not path or "\x00" in path or validate.surrogate(path):
        return False
    try:
        real, root = os.path.realpath(path), upload_folder()
        return (os.path.commonpath([real, root]) == root and real != root
                and os.path.isfile(real))
    except (OSError, ValueError):
        return False


def _check_upload(value: Any, field: str, multiple: bool) -> None:
    if value is None:
        return
    items = value if multiple and isinstance(value, list) else [value]
    for item in items:
        meta = item.get("meta") if isinstance(item, dict) else None
        if not (is_file_ref(item) and isinstance(meta, dict)
                and meta.get("_type") == "gradio.FileData"):
            raise InputError(f"{field} takes a file uploaded to this app (POST it to "
                             "/gradio_api/upload, then send the reference that returns); "
                             f"got {describe(item)}.")
        for text in item.values():
            lone = validate.surrogate(text) if isinstance(text, str) else None
            if lone:
                raise InputError(validate.surrogate_message(text, lone, field))
        if not is_uploaded(item["path"]):
            raise InputError(f"{field}: that file was not uploaded to this app; only files "
                             "uploaded here are read.")


def _number(value: Any, block: gr.Number, field: str) -> None:
    if value is None:
        return
    low, high = block.minimum, block.maximum
    span = (f" from {low:g} to {high:g}" if low is not None and high is not None else
            f" of at least {low:g}" if low is not None else
            f" of at most {high:g}" if high is not None else "")
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
          and not (isinstance(value, float) and not math.isfinite(value))  # ints of any size
          and (low is None or value >= low) and (high is None or value <= high))
    if not ok:
        raise InputError(f"{field} must be a number{span}; got {describe(value)}.")


def _dropdown(value: Any, block: gr.Dropdown, field: str) -> None:
    if value is None or block.allow_custom_value:
        return
    picked = value if block.multiselect and isinstance(value, list) else [value]
    allowed = [choice for _, choice in block.choices]
    for item in picked:
        if isinstance(item, (dict, list)) or item not in allowed:
            raise InputError(f"{field}: {describe(item)} is not one of its choices.")


def check_value(block: Any, value: Any, field: str) -> None:
    """Refuse (InputError) a value that `block`'s handler must never see."""
    model = getattr(block, "data_model", None)
    if isinstance(model, type) and issubclass(model, (FileData, ListFiles)):
        _check_upload(value, field, multiple=issubclass(model, ListFiles))
        return
    found = problem(value, field)
    if found:
        raise InputError(found)
    if isinstance(block, gr.Textbox) and value is not None and not isinstance(value, str):
        raise InputError(f"{field} must be text; got {describe(value)}.")
    if isinstance(block, gr.Number):
        _number(value, block, field)
    elif isinstance(block, gr.Dropdown):
        _dropdown(value, block, field)
    elif isinstance(block, gr.Checkbox) and value is not None and not isinstance(value, bool):
        raise InputError(f"{field} must be true or false; got {describe(value)}.")


def fields(block_fn: Any) -> list[str]:
    """How each of an event's values is named in a refusal: a named endpoint's parameter names
    (`outline`), a page component's label, or its place."""
    known = getattr(block_fn, "_krcoach_fields", None)
    if known is not None:
        return known
    inputs = list(block_fn.inputs)
    names: list[str] = []
    if inputs and block_fn.fn is not None and all(type(b).__name__ == "Api" for b in inputs):
        from gradio.utils import get_function_params

        try:
            params = [p[0] for p in get_function_params(block_fn.fn)]
        except (TypeError, ValueError):
            params = []
        if len(params) == len(inputs):
            names = [f"`{p}`" for p in params]
    if not names:
        for n, block in enumerate(inputs, 1):
            label = getattr(block, "label", None)
            if isinstance(label, str) and label.strip():
                names.append(label.strip())
            elif isinstance(block, gr.BrowserState):
                names.append("The identity this browser keeps")
            else:
                names.append(f"Value {n} of this event")
    block_fn._krcoach_fields = names
    return names


def admit(block_fn: Any, inputs: list[Any]) -> list[Any]:
    """The event's values as its handler may see them, or `gr.Error` with one line."""
    if block_fn.fn is None:
        raise refusal("This event runs in the browser only; there is nothing to call on the "
                      "server.")
    named = bool(block_fn.api_name) and block_fn.api_visibility != "private"
    want, got = len(block_fn.inputs), len(inputs)
    names = fields(block_fn)
    if got < want and named:
        inputs = [*inputs, *([None] * (want - got))]  # its own checks name what is missing
    elif got != want:
        plural = "s" if want != 1 else ""
        if named:
            raise refusal(f"/{block_fn.api_name} takes {want} value{plural}"
                          f"{' (' + ', '.join(names) + ')' if names else ''}; this call sent "
                          f"{got}.")
        raise refusal(f"This event takes {want} value{plural}; it got {got}. Reload the page "
                      "and try again.")
    for block, value, name in zip(block_fn.inputs, inputs, names):
        if getattr(block, "stateful", False):
            continue  # a gr.State: Gradio uses the session's own value, not the one sent
        try:
            check_value(block, value, name)
        except InputError as err:
            raise refusal(err.message) from None
    return inputs


def install(demo: gr.Blocks) -> None:
    """Check every event's values before Gradio preprocesses them (see the module's notes)."""
    original = demo.preprocess_data

    async def preprocess_data(block_fn: Any, inputs: list[Any], state: Any,
                              explicit_call: bool = False) -> Any:
        inputs = admit(block_fn, list(inputs) if isinstance(inputs, tuple) else inputs)
        try:
            return await original(block_fn, inputs, state, explicit_call)
        except gr.Error as err:
            if not err.print_exception:
                raise
            raise refusal(_line(err.message)) from None
        except Exception as err:  # Gradio's own preprocessing, on a value the door let by
            log.warning("%s: %s", UNFORESEEN, _where(err))
            raise refusal("This event's values could not be read "
                          f"({type(err).__name__}); reload the page and try again.") from None

    demo.preprocess_data = preprocess_data  # type: ignore[method-assign]


def _line(message: Any) -> str:
    text = _ONE_LINE.sub(" ", str(message)).strip() or "This event's values could not be read."
    return text if len(text) <= 300 else text[:297] + "…"


def _where(err: BaseException) -> str:
    """'TypeError: … (gradio/blocks.py:123 in preprocess_data)': the error and where it was
    raised, in one line."""
    frames = traceback.extract_tb(err.__traceback__)
    at = f" ({'/'.join(frames[-1].filename.split('/')[-2:])}:{frames[-1].lineno} in " \
         f"{frames[-1].name})" if frames else ""
    message = _line(repr(str(err))[1:-1])[:200]
    return f"{type(err).__name__}: {message}{at}"


# ------------------------------------------------------------------------------ bodies


def _first_error(err: ValidationError) -> tuple[str, str]:
    """pydantic's first complaint about a body, as (field, what it must be)."""
    first = err.errors()[0]
    loc = [str(part) for part in first.get("loc", ())]
    kind = first.get("type", "")
    expected = {"string_type": "text", "int_type": "a whole number",
                "int_parsing": "a whole number", "int_from_float": "a whole number",
                "bool_type": "true or false", "bool_parsing": "true or false",
                "list_type": "a list, one value per parameter",
                "dict_type": "an object", "model_type": "an object"}.get(kind)
    field = loc[0] if loc else "the body"
    if kind == "missing":
        return field, "missing"
    return field, f"{expected or str(first.get('msg', 'of another kind')).lower()}; got " \
                  f"{describe(first.get('input'))}"


def _parse(raw: bytes) -> Any:
    """The body as JSON, or Refused with what is wrong with it."""
    if not raw.strip():
        raise Refused(400, 'The request has no body: send JSON such as {"data": [...]}, one '
                           "value per parameter.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise Refused(400, f"The request body is not UTF-8 text (byte 0x{raw[err.start]:02X} at "
                           f"position {err.start:,} starts no valid character): send JSON "
                           "encoded as UTF-8.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise Refused(400, f"The request body is not JSON ({err.msg} at line {err.lineno:,}, "
                           f"column {err.colno:,}).") from None
    except RecursionError:
        raise Refused(400, "The request body is nested too deeply to read.") from None
    except ValueError as err:  # e.g. an integer of more than 4,300 digits
        reason = ("a number too long to read" if "digits" in str(err)
                  else "a value that cannot be read")
        raise Refused(400, f"The request body holds {reason}.") from None


def _check_fields(body: dict[str, Any]) -> None:
    """The body's own fields besides `data`: no lone surrogate, no file reference, event data
    an object (the page sends one or nothing)."""
    for key in ("session_hash", "event_id", "oauth_token"):
        value = body.get(key)
        if isinstance(value, str):
            lone = validate.surrogate(value)
            if lone:
                raise Refused(400, validate.surrogate_message(value, lone, f'"{key}"'))
    event_data = body.get("event_data")
    if event_data is not None:
        if not isinstance(event_data, dict):
            raise Refused(400, f'"event_data" must be an object; got {describe(event_data)}.')
        found = problem(event_data, '"event_data"')
        if found:
            raise Refused(400, found)


class DoorMiddleware:
    """Reads each call route's body first and answers what no route could use in one line; the
    body then goes on, unchanged, to Gradio (see the module's notes)."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app
        self._params: dict[str, list[dict[str, Any]]] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope.get("path", ""), scope.get("method")
        call = _CALL.search(path) if method == "POST" else None
        if call is None:
            stream = _QUEUE_DATA.search(path) or _CALL_STREAM.search(path) \
                if method == "GET" else None
            if stream is not None:
                if self._nothing_waiting(scope, stream):
                    await _nothing_waiting(send, simple=stream.re is _CALL_STREAM)
                    return
                await self._guarded(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        raw = await _read(receive)
        if raw is None:  # the client went away
            return
        try:
            await self._check(scope, call, raw)
        except Refused as refused:
            await _answer(send, refused.status, refused.message)
            return
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        await self._guarded(scope, replay, send)

    async def _guarded(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Run the route; what escapes it is answered (or, once the answer has begun, ended) in
        one line, and logged in one line, never as a traceback."""
        started = False

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started
            if message.get("type") == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as err:
            log.error("%s: %s %s: %s", UNFORESEEN, scope.get("method"), scope.get("path"),
                      _where(err))
            if not started:
                await _answer(send, 500, "The server could not answer this call; the failure "
                                         "is in its log.")

    @staticmethod
    def _nothing_waiting(scope: dict[str, Any], stream: re.Match[str]) -> bool:
        """A result stream asked for a session (`/queue/data`) or event (`/call/<name>/<id>`)
        with nothing waiting: Gradio would raise inside the stream it has begun. The event's
        session is found as Gradio's own route finds it."""
        from urllib.parse import parse_qs

        queue = scope["app"].get_blocks()._queue
        if stream.re is _CALL_STREAM:
            event_id = stream.group("event_id")
            event = queue.event_ids_to_events.get(event_id)
            session = event.session_hash if event is not None else next(
                (s for s, ids in list(queue.pending_event_ids_session.items())
                 if event_id in ids), event_id)
        else:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            session = (query.get("session_hash") or [None])[0]
            if not session:
                return False  # FastAPI's own check answers (see _validation_error)
        return session not in queue.pending_messages_per_session

    async def _check(self, scope: dict[str, Any], call: re.Match[str], raw: bytes) -> None:
        ctype = next((v.decode("latin-1") for k, v in scope.get("headers", [])
                      if k == b"content-type"), "")
        main = ctype.split(";")[0].strip().lower()
        if main and main != "application/json" and not main.endswith("+json"):
            raise Refused(415, f"Send the body as JSON (Content-Type: application/json); got "
                               f"{main[:60]}.")
        if len(raw) > THREAD_PARSE_BYTES:
            body = await anyio.to_thread.run_sync(_parse, raw)
        else:
            body = _parse(raw)
        blocks = scope["app"].get_blocks()
        if call.group("v2"):
            self._check_v2(blocks, call.group("v2"), body)
            return
        if not isinstance(body, dict):
            raise Refused(400, 'The request body must be a JSON object such as {"data": [...]}; '
                               f"got {describe(body)}.")
        model = SimplePredictBody if call.group("route") == "call" else PredictBody
        try:
            model.model_validate(body)
        except ValidationError as err:
            field, must = _first_error(err)
            if field == "data" and must == "missing":
                raise Refused(400, 'The request body has no "data": send {"data": [...]}, one '
                                   "value per parameter.") from None
            if must == "missing":
                raise Refused(400, f'The request body has no "{field}".') from None
            raise Refused(400, f'"{field}" must be {must}.') from None
        _check_fields(body)
        fn_index = body.get("fn_index")
        if call.group("join"):
            if not body.get("session_hash"):
                raise Refused(400, 'The request has no "session_hash": the queue answers a '
                                   "session, so name one (any text).")
            if fn_index is None:
                raise Refused(400, 'The request has no "fn_index": name the event to run.')
        name = call.group("name")
        if fn_index is not None and call.group("route") != "call":
            if int(fn_index) not in blocks.fns:
                raise Refused(404, f"fn_index {int(fn_index):,} names no event of this app.")
        elif name is not None and not any(fn.api_name == name for fn in blocks.fns.values()):
            raise Refused(404, f"There is no endpoint /{name[:60]}; this app's endpoints are "
                               "listed at /gradio_api/info.")

    def _check_v2(self, blocks: Any, name: str, body: Any) -> None:
        if self._params is None:
            info = blocks.get_api_info()["named_endpoints"]
            self._params = {k.lstrip("/"): list(v["parameters"]) for k, v in info.items()}
        params = self._params.get(name)
        if params is None:
            raise Refused(404, f"There is no endpoint /{name[:60]}; this app's endpoints are "
                               "listed at /gradio_api/info.")
        if not isinstance(body, dict):
            raise Refused(400, "The request body must be a JSON object of named values, such as "
                               f'{{"{params[0]["parameter_name"] if params else "name"}": ...}}; '
                               f"got {describe(body)}.")
        known = [p.get("parameter_name") for p in params]
        listed = ", ".join(f"`{k}`" for k in known) or "no values"
        for key in body:
            if key not in known and key != "oauth_token":
                raise Refused(400, f"/{name} has no parameter `{str(key)[:40]}`; it takes "
                                   f"{listed}.")
        for p in params:
            if not p.get("parameter_has_default") and p.get("parameter_name") not in body:
                raise Refused(400, f"/{name} needs `{p.get('parameter_name')}`; it takes "
                                   f"{listed}.")
        _check_fields(body)


async def _read(receive: Any) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _nothing_waiting(send: Any, simple: bool) -> None:
    """The event stream Gradio itself sends for a session it does not know (`session_not_found`
    for the page's client; an `error` event on the `/call/<name>/<id>` stream), with a readable
    line, ended cleanly instead of by an exception."""
    if simple:
        body = f"event: error\ndata: {json.dumps(NOTHING_WAITING)}\n\n".encode()
    else:
        message = {"msg": "unexpected_error", "message": NOTHING_WAITING,
                   "session_not_found": True, "success": False}
        body = f"data: {json.dumps(message)}\n\n".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream; charset=utf-8"),
                            (b"cache-control", b"no-cache")]})
    await send({"type": "http.response.body", "body": body})


async def _answer(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": message, "detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------------------ FastAPI


async def _validation_error(request: Any, exc: Any) -> Any:
    """FastAPI's 422 with pydantic's list, on a route the middleware does not read: one line."""
    from fastapi.responses import JSONResponse

    errors = exc.errors() if hasattr(exc, "errors") else []
    first = errors[0] if errors else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    kind = first.get("type", "")
    if kind == "json_invalid":
        message = "The request body is not JSON."
    elif kind == "missing":
        message = f'The request has no "{loc[-1]}".' if loc else "The request has no body."
    else:
        where = f'"{loc[-1]}"' if loc else "The request body"
        message = f"{where} is not what this route takes; got {describe(first.get('input'))}."
    return JSONResponse({"error": message, "detail": message}, status_code=400)


async def _http_error(request: Any, exc: Any) -> Any:
    """FastAPI's own answer with its one line also as `error` (like the door's); its "There was an
    error parsing the body" gets the reason."""
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.responses import JSONResponse

    detail = getattr(exc, "detail", None)
    if detail == "There was an error parsing the body":
        cause = exc.__cause__
        reason = ("it is not UTF-8 text" if isinstance(cause, UnicodeDecodeError) else
                  "it is nested too deeply" if isinstance(cause, RecursionError) else
                  "it holds a number too long to read" if "digits" in str(cause) else
                  "it is not JSON")
        message = f"The request body could not be read: {reason}."
        return JSONResponse({"error": message, "detail": message}, status_code=400)
    if isinstance(detail, str) and detail.strip() and getattr(exc, "status_code", 500) >= 400:
        message = _line(detail)
        return JSONResponse({"error": message, "detail": detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))
    return await http_exception_handler(request, exc)


def app_kwargs() -> dict[str, Any]:
    """What `Blocks.launch(app_kwargs=...)` needs for the door on the FastAPI side."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware

    return {"middleware": [Middleware(DoorMiddleware)],
            "exception_handlers": {RequestValidationError: _validation_error,
                                   HTTPException: _http_error}}
