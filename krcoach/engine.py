"""The engine protocol and engine selection.

Every way into krcoach (CLI, app, workshop, eval) goes through `coach.review` with an object that
satisfies `Engine`; none of them knows which engine runs. `make_engine` resolves the user's choice
(`auto`, `rules`, `llm`) from arguments and the stable environment variables; with neither a
key nor a base URL set, `auto` looks for a local OpenAI-compatible server (Ollama, llama.cpp).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from krcoach.models import KRReview, Objective

ENGINE_NAMES = ("auto", "rules", "llm")


@dataclass(frozen=True)
class ReviewContext:
    """What an engine may need to know beyond the objective it reviews."""

    set_uses_owners: bool = False
    #: The period the KRs run in ("2026-Q1", "2024 Q3", "H1"): from `--cycle`, a heading or the
    #: objective. A KR inside a dated cycle has a deadline even when its own text names none.
    cycle: str | None = None


@runtime_checkable
class Engine(Protocol):
    #: "rules" or "llm": goes into every record's `engine` field.
    name: str
    #: Model identifier for llm engines, None for rules.
    model: str | None
    #: Whether `review_objective` is worth calling from several threads at once (network-bound).
    parallel: bool

    def review_objective(self, objective: Objective, context: ReviewContext) -> list[KRReview]:
        """Review every KR of one objective, returning one KRReview per KR in input order."""
        ...


class EngineConfigError(ValueError):
    """The requested engine cannot be built from the given settings (a usage error)."""


#: What a person is told where the rules engine offers no rewrite: it rewrites only from words the
#: draft gives, and the llm engine writes one (page and CLI say the same).
NO_REWRITE_HINT = ("the offline rules engine rewrites only from words the draft gives; the llm engine "
                   "writes a rewrite for these: set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server "
                   "such as Ollama (check it with `krcoach doctor`)")

#: Where `auto` looks for a local OpenAI-compatible server when neither OPENAI_API_KEY nor
#: OPENAI_BASE_URL is set: Ollama, then llama.cpp's server. KRCOACH_LOCAL_URLS (comma-separated)
#: replaces the list; an empty value turns the probe off.
LOCAL_URLS = ("http://127.0.0.1:11434/v1", "http://127.0.0.1:8080/v1")
#: A refused connection answers at once; these bound a port that accepts but is slow or silent.
PROBE_CONNECT_TIMEOUT = 0.1
PROBE_ANSWER_TIMEOUT = 0.3
#: The most of a /models answer the probe reads.
PROBE_MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class LocalServer:
    """A local OpenAI-compatible server that answered GET /models."""

    url: str
    models: tuple[str, ...]
    #: How long the probe of this address took.
    seconds: float


@dataclass(frozen=True)
class Endpoint:
    """The OpenAI-compatible endpoint the llm engine would talk to, and how it was chosen."""

    base_url: str | None  # None: OpenAI's own API
    model: str | None  # None: the engine asks the server (or uses OpenAI's default)
    #: "OPENAI_BASE_URL", "OPENAI_API_KEY" (OpenAI itself) or "auto" (a local server was found).
    source: str
    local: LocalServer | None = None


def local_urls() -> list[str]:
    """The addresses `auto` probes: KRCOACH_LOCAL_URLS when set (empty: none), else LOCAL_URLS."""
    value = os.environ.get("KRCOACH_LOCAL_URLS")
    if value is None:
        return list(LOCAL_URLS)
    return [u.strip().rstrip("/") for u in value.split(",") if u.strip()]


def probe(url: str, connect_timeout: float = PROBE_CONNECT_TIMEOUT,
          answer_timeout: float = PROBE_ANSWER_TIMEOUT) -> tuple[str, ...] | None:
    """The model ids a server at `url` lists at GET {url}/models, or None when nothing there
    speaks the OpenAI protocol (refused, silent, not JSON, no `data` list). Never raises.

    A bare TCP connect comes first, so the usual case (nothing listening) costs a refused
    connection and no HTTP machinery; no proxy settings apply, as the addresses are local."""
    import socket
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        if parts.scheme not in ("http", "https") or not host:
            return None
        socket.create_connection((host, port), timeout=connect_timeout).close()
    except (OSError, ValueError):
        return None
    import http.client
    import json

    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(host, port, timeout=answer_timeout)
    try:
        conn.request("GET", parts.path.rstrip("/") + "/models", headers={"Accept": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            return None
        body = json.loads(resp.read(PROBE_MAX_BYTES))
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            return None
        return tuple(str(m["id"]) for m in data if isinstance(m, dict) and isinstance(m.get("id"), str))
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def find_local_server(urls: list[str] | None = None) -> LocalServer | None:
    """The first address in `urls` (default: `local_urls()`) whose server lists a model.

    The addresses are probed at the same time, so the whole search costs at most one probe's
    timeout; with nothing listening it takes about a millisecond."""
    import threading
    import time

    urls = local_urls() if urls is None else urls
    if not urls:
        return None
    found: dict[int, LocalServer | None] = {}

    def one(i: int, url: str) -> None:
        started = time.perf_counter()
        models = probe(url)
        found[i] = LocalServer(url, models, time.perf_counter() - started) if models else None

    threads = [threading.Thread(target=one, args=(i, u), daemon=True) for i, u in enumerate(urls)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + PROBE_CONNECT_TIMEOUT + PROBE_ANSWER_TIMEOUT + 0.1
    for i, t in enumerate(threads):
        t.join(max(0.0, deadline - time.monotonic()))
        if found.get(i) is not None:
            # earlier addresses have all finished with nothing: this one wins
            return found[i]
    return None


def llm_endpoint(*, probe_local: bool = True) -> Endpoint | None:
    """The endpoint the llm engine would use from the environment: OPENAI_BASE_URL, else OpenAI
    itself when OPENAI_API_KEY is set, else (with `probe_local`) a local server that answers at
    one of `local_urls()`. None when there is none."""
    env = os.environ
    model = env.get("KRCOACH_MODEL") or None
    if env.get("OPENAI_BASE_URL"):
        return Endpoint(env["OPENAI_BASE_URL"], model, "OPENAI_BASE_URL")
    if env.get("OPENAI_API_KEY"):
        return Endpoint(None, model, "OPENAI_API_KEY")
    if probe_local:
        local = find_local_server()
        if local is not None:
            return Endpoint(local.url, model or local.models[0], "auto", local)
    return None


def _choose(name: str | None) -> tuple[str, Endpoint | None]:
    chosen = (name or os.environ.get("KRCOACH_ENGINE") or "auto").strip().lower()
    if chosen not in ENGINE_NAMES:
        raise EngineConfigError(f"unknown engine {chosen!r}: choose one of {', '.join(ENGINE_NAMES)}")
    if chosen == "rules":
        return "rules", None  # never probes
    endpoint = llm_endpoint()
    if chosen == "auto":
        return ("llm" if endpoint is not None else "rules"), endpoint
    return "llm", endpoint


def resolve_engine_name(name: str | None = None) -> str:
    """Turn `auto` (or nothing) into `rules` or `llm`: llm when a key or base URL is set or a
    local server answers at one of `local_urls()`, else rules."""
    return _choose(name)[0]


def announce_local(endpoint: Endpoint, requested: str = "auto") -> str:
    """The one line that says krcoach found a local model and uses it."""
    how = ("found by auto; set KRCOACH_ENGINE=rules to stay offline" if requested == "auto"
           else "found at a usual local address; set OPENAI_BASE_URL to choose another")
    return f"krcoach: using the local model {endpoint.model} at {endpoint.base_url} ({how})"


def llm_timeout() -> float | None:
    """KRCOACH_LLM_TIMEOUT in seconds, None when unset."""
    value = os.environ.get("KRCOACH_LLM_TIMEOUT")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise EngineConfigError(f"KRCOACH_LLM_TIMEOUT={value!r} is not a number of seconds") from None


#: The one name -> engine table. Each value names a builder as "module:function", so this module
#: (at the bottom of the import graph, below both engines) never imports one: the table is resolved
#: when an engine is built, and only the chosen engine's stack is loaded. A builder takes the
#: endpoint found by `llm_endpoint` (None for rules) and `use_cache`.
ENGINE_BUILDERS: dict[str, str] = {
    "rules": "krcoach.rules.engine:build",
    "llm": "krcoach.llm.engine:build",
}


def make_engine(name: str | None = None, *, use_cache: bool = True, quiet: bool = False) -> Engine:
    """Build the engine the user asked for, through `ENGINE_BUILDERS`. When `auto` (or `llm` with
    nothing configured) finds a local server, one line on stderr says so, unless `quiet`."""
    import importlib

    requested = (name or os.environ.get("KRCOACH_ENGINE") or "auto").strip().lower()
    chosen, endpoint = _choose(name)
    module, _, function = ENGINE_BUILDERS[chosen].partition(":")
    build = getattr(importlib.import_module(module), function)
    engine = build(endpoint, use_cache=use_cache)
    if endpoint is not None and endpoint.local is not None and not quiet:
        import sys

        sys.stderr.write(announce_local(endpoint, requested) + "\n")
        sys.stderr.flush()
    return engine
