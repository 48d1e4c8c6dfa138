"""Getting one structured answer from an OpenAI-compatible endpoint, whatever the network does.

`Transport` owns the client (`instructor` over `openai.OpenAI`), the structured-output mode, the
retry budget, the circuit breaker and the API key; `LLMEngine` asks it for an answer per
objective (or per plan) and never sees an HTTP error.

- Modes: servers differ in the structured output they accept, so the mode is chosen per endpoint
  (`default_mode`: tool calls for OpenAI, `json_object` with the schema beside it elsewhere, which
  llama.cpp, vLLM and Ollama accept) and overridable by `KRCOACH_LLM_MODE`.
- Retries: network faults (429 with Retry-After, 5xx, timeouts, refused connections) are retried
  here with backoff and jitter; the SDK's own retries are off so the two never multiply.
  instructor's re-asks (an answer the contract refused) go through the same `_send`, so every
  objective has one hard budget (`RetryPolicy.max_requests` HTTP requests, re-asks included, and
  about `retry_seconds` spent on failures). A circuit breaker makes the rest of a batch fall back
  at once when the endpoint is clearly down (or refused the key, or does not know the model).
- Secrets: the key is never logged, cached, exported or put in an error string. Errors are
  rebuilt from status codes and sanitised excerpts, never passed through as the SDK formats them;
  every excerpt goes through `krcoach.redaction.redact`, which knows the key's quoted forms
  (prefix…suffix, masked middles, fragments); building a transport installs the log filter that
  does the same for the HTTP libraries' and instructor's loggers (`protect`). `redact` and
  `scrub` here apply this endpoint's key to what the engine shows or stores.
"""

from __future__ import annotations

import contextvars
import email.utils
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from krcoach.engine import EngineConfigError
from krcoach.redaction import protect, redact, scrub

log = logging.getLogger(__name__)
# instructor logs every failed attempt at ERROR; with no logging configured Python would print those
# to stderr. The record already carries the reason, so keep the CLI quiet unless logging is set up.
logging.getLogger("instructor").addHandler(logging.NullHandler())

OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_TIMEOUT = 120.0
#: Key sent to endpoints that need none (local servers); never a secret.
NO_KEY = "krcoach-no-key"
MODES = ("tools", "json_schema", "json", "md_json")
_MODE_ALIASES = {"tool_call": "tools", "tool": "tools", "json_object": "json", "json_mode": "json",
                 "markdown_json": "md_json", "structured": "json_schema"}


# ----------------------------------------------------------------------------------- endpoints


def public_url(url: str) -> str:
    """The URL without user info, query or fragment: safe to print, cache and put in manifests."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def is_openai(base_url: str) -> bool:
    """OpenAI's own API (or Azure's): needs a key, strict about parameters, good at tool calls."""
    host = (urlsplit(base_url).hostname or "").lower()
    return host == "api.openai.com" or host.endswith(".openai.azure.com")


def default_mode(base_url: str | None) -> str:
    """tools for OpenAI itself; json (json_object) elsewhere, which local servers accept widely."""
    return "tools" if is_openai(base_url or OPENAI_URL) else "json"


def _normalise_mode(mode: str | None, base_url: str) -> str:
    if not mode:
        return default_mode(base_url)
    m = mode.strip().lower().replace("-", "_")
    m = _MODE_ALIASES.get(m, m)
    if m not in MODES:
        raise EngineConfigError(f"KRCOACH_LLM_MODE={mode!r} is not one of {', '.join(MODES)}")
    return m


# ------------------------------------------------------------------------ budget and breaker


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on what one objective may cost when the endpoint misbehaves."""

    #: HTTP requests per objective in all: first try, network retries and re-asks together.
    max_requests: int = 5
    #: Seconds spent on failed attempts and waits before an objective gives up.
    retry_seconds: float = 10.0
    #: First backoff; doubles per failure up to `max_backoff`, each scaled by a random 0.5-1.0.
    backoff: float = 0.5
    max_backoff: float = 4.0
    #: Consecutive endpoint failures (any objective) after which the circuit opens.
    breaker_threshold: int = 6
    #: How long an open circuit makes objectives fall back without a request.
    breaker_cooldown: float = 30.0


class EndpointError(Exception):
    """The endpoint failed for this objective; the message is one sanitised line."""


@dataclass
class _Failure:
    reason: str
    retry: bool
    counts: bool = True  # towards the circuit breaker
    fatal: bool = False  # opens the circuit at once (bad key, unknown model)
    retry_after: float | None = None


@dataclass
class _Budget:
    """What one answer (an objective's, a plan's) has cost so far, re-asks included."""

    #: answers instructor asked for (the first, then one per re-ask)
    attempts: int = 0
    requests: int = 0
    failures: int = 0
    spent: float = 0.0
    last: str | None = None


# instructor calls `_send_current` once per attempt with no way to pass the budget along: it
# rides in a context variable set around the one `create` call.
_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("krcoach_llm_budget", default=None)


class Breaker:
    """Opens after `threshold` consecutive failures (or one fatal one) for `cooldown` seconds."""

    def __init__(self, threshold: int, cooldown: float) -> None:
        self.threshold, self.cooldown = threshold, cooldown
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until = 0.0
        self._reason: str | None = None

    def open_reason(self) -> str | None:
        with self._lock:
            return self._reason if time.monotonic() < self._open_until else None

    def success(self) -> None:
        with self._lock:
            self._failures = 0

    def failure(self, reason: str, *, fatal: bool = False) -> None:
        with self._lock:
            self._failures += 1
            if fatal or self._failures >= self.threshold:
                self._open_until = time.monotonic() + self.cooldown
                self._reason = reason if fatal else f"{self._failures} failures in a row, last: {reason}"


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def _server_message(exc: Any, secret: str | None = None) -> str:
    """The server's own error message, redacted first and only then shortened: cutting first
    could leave the start of the key ("Invalid API key: sk-a1b2…") where redaction no longer
    recognises it."""
    body = getattr(exc, "body", None)
    msg: Any = None
    if isinstance(body, dict):
        err = body.get("error", body)
        msg = err.get("message") if isinstance(err, dict) else err
        msg = msg or body.get("detail") or body.get("message")
    if not msg:
        msg = getattr(exc, "message", "") or ""
    text = " ".join(str(msg).split())
    text = re.sub(r"^Error code: \d+ - ", "", redact(text, secret))
    return text[:160] + ("…" if len(text) > 160 else "")


# ----------------------------------------------------------------------------------- transport


class Transport:
    """One endpoint: its client, mode, key, retry budget and breaker. Thread-safe.

    `count(what)` is told of every HTTP request ("requests") and every re-ask ("reasks"), for the
    engine's stats."""

    def __init__(self, base_url: str | None, api_key: str | None, mode: str | None, timeout: float,
                 retry: RetryPolicy, count: Callable[[str], None]) -> None:
        import instructor
        import openai

        self._openai = openai
        self._instructor = instructor
        self._base_url = (base_url or OPENAI_URL).rstrip("/")
        self.base_url = public_url(self._base_url)
        if not api_key:
            if is_openai(self._base_url):
                raise EngineConfigError(
                    f"the llm engine needs OPENAI_API_KEY for {urlsplit(self._base_url).hostname} "
                    "(or set OPENAI_BASE_URL to a local OpenAI-compatible server)")
            api_key = NO_KEY
        self._secret = api_key if api_key != NO_KEY else None
        # redact this key (every form) in what openai, httpx, httpcore and instructor log, at
        # every level, and in anything the cache keeps; several engines' keys are all covered
        protect(self._secret)
        self.mode = _normalise_mode(mode, self._base_url)
        self.is_openai = is_openai(self._base_url)
        self.timeout = float(timeout)
        #: Read at every request: a caller may replace it (tests shorten the waits).
        self.retry = retry
        self._count = count
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=self._base_url,
            timeout=openai.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
            max_retries=0,
        )
        self._breaker = Breaker(retry.breaker_threshold, retry.breaker_cooldown)
        self._create: Any = None

    # ----------------------------------------------------------------------------- secrets

    def redact(self, text: str) -> str:
        """`text` without this endpoint's key (any form) or anything key-shaped."""
        return redact(text, self._secret)

    def scrub(self, value: Any) -> Any:
        """`redact` on every string inside a model answer (before it is cached or shown)."""
        return scrub(value, self._secret)

    # ------------------------------------------------------------------------------ asking

    def open_reason(self) -> str | None:
        """Why the circuit is open (no request would be sent now), or None when it is closed."""
        return self._breaker.open_reason()

    def default_model(self) -> str:
        """The model to ask when none is configured: OpenAI's default, or the first a local
        server lists (it usually serves one)."""
        if self.is_openai:
            return DEFAULT_OPENAI_MODEL
        try:
            models = self._client.with_options(timeout=5.0).models.list()
            first = next(iter(models.data), None)
        except Exception as exc:  # any failure here is a configuration problem
            raise EngineConfigError(
                f"KRCOACH_MODEL is not set and {self.base_url}/models did not list a model "
                f"({type(exc).__name__}); set KRCOACH_MODEL") from None
        if first is None:
            raise EngineConfigError(f"KRCOACH_MODEL is not set and {self.base_url}/models lists none")
        return str(first.id)

    def structured(self, response_model: type[Any], schema: dict[str, Any], messages: list[dict[str, str]],
                   *, max_retries: int, **params: Any) -> Any:
        """One structured answer: instructor's re-asks on invalid answers (at most
        `max_retries`), this transport's network retries and breaker for every request, within
        one budget (`RetryPolicy`). `params` go into the request (model, temperature, ...)."""
        create = self._create
        if create is None:
            create = self._create = self._instructor.patch(create=self._send_current, mode=self._instructor_mode())
            protect(self._secret)  # loggers of modules imported only now get the filter too
        if self.mode == "json" and not self.is_openai:
            # llama.cpp and friends constrain decoding to a schema given beside json_object.
            params["extra_body"] = {"response_format": {"type": "json_object", "schema": schema}}
        token = _BUDGET.set(_Budget())
        try:
            return create(response_model=response_model, messages=messages, max_retries=max_retries,
                          strict=False, **params)
        finally:
            _BUDGET.reset(token)

    def _instructor_mode(self) -> Any:
        m = self._instructor.Mode
        return {"tools": m.TOOLS, "json_schema": m.JSON_SCHEMA, "json": m.JSON, "md_json": m.MD_JSON}[self.mode]

    def _send_current(self, *args: Any, **kwargs: Any) -> Any:
        """What instructor calls for each attempt; the answer's budget rides in a contextvar."""
        budget = _BUDGET.get()
        if budget is None:  # called outside `structured`: give it a budget of its own
            budget = _Budget()
        budget.attempts += 1
        if budget.attempts > 1:
            self._count("reasks")
        return self._send(budget, kwargs)

    def _send(self, budget: _Budget, kwargs: dict[str, Any]) -> Any:
        """One chat completion, retried on network faults within the answer's budget."""
        policy = self.retry
        while True:
            skipped = self._breaker.open_reason()
            if skipped is not None:
                raise EndpointError(f"endpoint unavailable: {skipped}")
            if budget.requests >= policy.max_requests:
                last = f"; last: {budget.last}" if budget.last else ""
                raise EndpointError(f"gave up after {budget.requests} requests{last}")
            budget.requests += 1
            self._count("requests")
            started = time.monotonic()
            failure: _Failure
            try:
                response = self._client.chat.completions.create(**kwargs)
            except self._openai.APIStatusError as exc:
                failure = self._status_failure(exc, kwargs.get("model"))
            except self._openai.APITimeoutError:
                failure = _Failure(f"no answer within {self.timeout:g} s", retry=True)
            except self._openai.APIConnectionError as exc:
                cause = type(exc.__cause__).__name__ if exc.__cause__ else "connection error"
                failure = _Failure(f"connection to {self.base_url} failed ({cause})", retry=True)
            else:
                self._breaker.success()
                return response
            budget.failures += 1
            budget.spent += time.monotonic() - started
            budget.last = failure.reason
            if failure.counts:
                self._breaker.failure(failure.reason, fatal=failure.fatal)
            if not failure.retry:
                raise EndpointError(failure.reason)
            if budget.requests >= policy.max_requests:
                raise EndpointError(f"{failure.reason}; gave up after {budget.requests} requests")
            if failure.retry_after is not None:
                wait = failure.retry_after
            else:
                step = min(policy.max_backoff, policy.backoff * 2 ** (budget.failures - 1))
                wait = step * random.uniform(0.5, 1.0)
            if budget.spent + wait > policy.retry_seconds:
                asked = (f"; the server asked to wait {failure.retry_after:g} s"
                         if failure.retry_after is not None else "")
                raise EndpointError(f"{failure.reason}{asked}; gave up after {budget.requests} "
                                    f"request(s) and {budget.spent:.1f} s")
            log.debug("llm request failed (%s); retry %d in %.2f s", failure.reason, budget.requests, wait)
            time.sleep(wait)
            budget.spent += wait

    def _status_failure(self, exc: Any, model: str | None) -> _Failure:
        status = int(exc.status_code)
        detail = _server_message(exc, self._secret)
        if status in (401, 403):
            return _Failure(f"authentication failed (HTTP {status}): check OPENAI_API_KEY",
                            retry=False, fatal=True)
        if status == 404:
            return _Failure(f"HTTP 404 from {self.base_url} for model {model!r}: check "
                            f"OPENAI_BASE_URL and KRCOACH_MODEL ({detail})", retry=False, fatal=True)
        if status == 429:
            return _Failure("rate limited (HTTP 429)", retry=True, counts=False,
                            retry_after=_retry_after(getattr(exc, "response", None) and exc.response.headers))
        if re.search(r"response_format|json_schema|json_object|\btools?\b|tool_choice", detail, re.I):
            # The server rejects the structured-output shape itself: retrying cannot help, and
            # every objective will fail alike, so it counts towards the breaker.
            others = ", ".join(m for m in MODES if m != self.mode)
            return _Failure(f"HTTP {status}: the server rejected KRCOACH_LLM_MODE={self.mode} (try {others})"
                            f": {detail}", retry=False)
        reason = f"HTTP {status} from {self.base_url}" + (f": {detail}" if detail else "")
        if status >= 500 or status in (408, 409, 425):
            retry_after = _retry_after(exc.response.headers) if status == 503 else None
            return _Failure(reason, retry=True, retry_after=retry_after)
        return _Failure(reason, retry=False, counts=False)
