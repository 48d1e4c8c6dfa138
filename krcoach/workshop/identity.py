"""Who is asking: the identities a browser holds for the workshop pages, and the device and
address the workshop's per-device and per-address limits count against.

Identities live in the browser (`gr.BrowserState`, i.e. localStorage), never in server memory: a
reload or a server restart keeps everyone who they were. One stored identity is a dict:
`{"last": code, "tokens": {code: token}, "device": random id}` (participant or facilitator
token, the 20 most recent workshops). The functions here read and update it and never trust
its shape, since the browser can send anything.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from krcoach.workshop import domain as ws

if TYPE_CHECKING:
    import gradio as gr

#: BrowserState encrypts with a key that travels in the page config, so it hides nothing from
#: the browser's owner; a fixed key keeps stored identities readable after a server restart.
BROWSER_SECRET = "krcoach-workshop-identities-v1"


def last_code(ident: Any) -> str | None:
    """The workshop this browser was last in (or is running), if any."""
    return ident.get("last") if isinstance(ident, dict) else None


def token_for(ident: Any, code: str | None) -> str | None:
    """The token this browser holds for workshop `code`, if it holds a well-formed one."""
    if not isinstance(ident, dict) or not code:
        return None
    tokens = ident.get("tokens")
    token = tokens.get(code) if isinstance(tokens, dict) else None
    return token if isinstance(token, str) else None


def with_token(ident: Any, code: str, token: str | None) -> dict[str, Any]:
    """The identity to store after joining (or opening) `code` with `token`, or after leaving it
    (`token` None: forgotten, and no workshop is the last one); the device id is kept."""
    tokens = dict(ident.get("tokens") or {}) if isinstance(ident, dict) else {}
    tokens.pop(code, None)
    if token:
        tokens[code] = token
    tokens = dict(list(tokens.items())[-20:])  # insertion order: keep the 20 most recent
    out: dict[str, Any] = {"last": code if token else None, "tokens": tokens}
    device = device_of(ident)
    if device:
        out["device"] = device
    return out


def device_of(ident: Any) -> str | None:
    """The browser's device id, if it has one (cut to 100 characters: the browser sends it)."""
    device = ident.get("device") if isinstance(ident, dict) else None
    return device[:100] if isinstance(device, str) and device else None


def with_device(ident: Any) -> dict[str, Any]:
    """The browser's stored identity, with a device id made on first use: the page's join
    attempts count against it (not against the address the whole venue shares)."""
    out = dict(ident) if isinstance(ident, dict) else {}
    if not device_of(out):
        out["device"] = secrets.token_urlsafe(16)
    return out


def query_code(request: gr.Request | None) -> str | None:
    """The workshop code in the page's address (`?code=K7QF2M`), normalized; None if absent or
    not a code."""
    params = dict(request.query_params) if request is not None else {}
    try:
        return ws.normalize_code(params.get("code")) if params.get("code") else None
    except ws.WorkshopError:
        return None


def client_address(request: gr.Request | None) -> str | None:
    """The requester's address as the server sees it, for the coarse per-address workshop caps.

    It is the TCP peer, or the address a trusted proxy forwarded (uvicorn honours
    X-Forwarded-For from --forwarded-allow-ips, 127.0.0.1 by default); a header from anyone
    else is not trusted, so a client cannot pick a fresh address per request."""
    client = getattr(request, "client", None) if request is not None else None
    host = getattr(client, "host", None)
    return str(host) if host else None


def session_device(request: gr.Request | None) -> str | None:
    """An API client's device, for the per-device join limits: its Gradio session (one per
    gradio_client Client, or the `session_hash` a plain HTTP caller sends with each call)."""
    session = getattr(request, "session_hash", None) if request is not None else None
    return str(session)[:100] if session else None

