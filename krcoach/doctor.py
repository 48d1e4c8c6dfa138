"""`krcoach doctor`: check an OpenAI-compatible endpoint the way `krcoach review` would use it.

One line per check, printed as it finishes (a review on a CPU can take a while):

    reachable: http://127.0.0.1:8080/v1 answered GET /models in 4 ms (found by auto)
    models: smollm2-135m (1 listed; using smollm2-135m)
    mode: json (the default for this server; KRCOACH_LLM_MODE changes it)
    review: ok in 26.6 s (1 request); verdict outcome from smollm2-135m (expected output) for '...'

`diagnose` returns the exit code: 0 when the review came back ok from the model, 1 when the
endpoint answered but the review fell back to the rules engine. A usage or configuration problem,
or an endpoint that cannot be reached, raises `DoctorError` (exit code 2, one line). The API key
is never printed: URLs lose their user info and server messages are redacted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from krcoach.engine import EngineConfigError, Endpoint, ReviewContext, llm_endpoint, llm_timeout, local_urls
from krcoach.models import KeyResult, Objective

#: The example the review check sends: an activity-shaped KR, so the expected verdict is clear.
EXAMPLE_OBJECTIVE = "Grow self-serve revenue"
EXAMPLE_KR = "Launch the new pricing page by end of Q3"
EXPECTED_KIND = "output"
#: How long GET /models may take before the endpoint counts as unreachable.
MODELS_TIMEOUT = 10.0


class DoctorError(EngineConfigError):
    """A usage or configuration problem, or an unreachable endpoint: one line, exit code 2."""


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _endpoint(base_url: str | None, model: str | None) -> Endpoint:
    """What to check: --base-url, else what `auto` would use (which may probe local servers)."""
    if base_url is not None:
        if not base_url.strip():
            raise DoctorError("--base-url is empty: give the endpoint's base URL, e.g. http://127.0.0.1:8080/v1")
        if not base_url.strip().lower().startswith(("http://", "https://")):
            raise DoctorError("--base-url must start with http:// or https:// (e.g. http://127.0.0.1:8080/v1)")
        return Endpoint(base_url.strip(), model or os.environ.get("KRCOACH_MODEL") or None, "--base-url")
    found = llm_endpoint()
    if found is None:
        urls = local_urls()
        where = (f"no local server answered at {', '.join(urls)}" if urls
                 else "local probing is off (KRCOACH_LOCAL_URLS is empty)")
        raise DoctorError(f"no endpoint to check: OPENAI_BASE_URL and OPENAI_API_KEY are unset and {where}; "
                          "give one with --base-url")
    if model:
        return Endpoint(found.base_url, model, found.source, found.local)
    return found


def _list_models(client: Any, url: str, secret: str | None) -> tuple[tuple[str, ...] | None, str, float]:
    """(model ids or None when the server has no /models, a note, seconds). Raises DoctorError
    when the endpoint cannot be reached or refuses the key."""
    import openai

    from krcoach.redaction import redact

    models_api = client.models  # imports the SDK's resource types: not part of the round trip
    started = time.perf_counter()
    try:
        listed = models_api.list()
    except openai.APITimeoutError:
        raise DoctorError(f"{url} is unreachable: no answer to GET /models within {MODELS_TIMEOUT:g} s") from None
    except openai.APIConnectionError as exc:
        cause = exc.__cause__
        why = "connection refused" if isinstance(cause, ConnectionRefusedError) or "refused" in str(cause).lower() \
            else (type(cause).__name__ if cause else "connection error")
        raise DoctorError(f"{url} is unreachable: {why}") from None
    except openai.APIStatusError as exc:
        seconds = time.perf_counter() - started
        status = int(exc.status_code)
        if status in (401, 403):
            raise DoctorError(f"{url} refused the key (HTTP {status} to GET /models): check OPENAI_API_KEY") from None
        return None, redact(f"HTTP {status} to GET /models", secret), seconds
    seconds = time.perf_counter() - started
    return tuple(str(m.id) for m in listed.data), "", seconds


def _how_found(endpoint: Endpoint) -> str:
    if endpoint.source == "auto":
        return "found by auto"
    if endpoint.source == "OPENAI_API_KEY":
        return "OpenAI, as OPENAI_API_KEY is set"
    return f"from {endpoint.source}"


def diagnose(base_url: str | None = None, model: str | None = None, *,
             echo: Callable[[str], None] = print) -> int:
    """Check the endpoint, calling `echo` with one line per check; return the exit code (0 or 1)."""
    import openai

    from krcoach.llm.engine import LLMEngine
    from krcoach.llm.transport import DEFAULT_OPENAI_MODEL, NO_KEY, OPENAI_URL, is_openai, public_url

    endpoint = _endpoint(base_url, model)
    raw_url = (endpoint.base_url or OPENAI_URL).rstrip("/")
    url = public_url(raw_url)
    key = os.environ.get("OPENAI_API_KEY") or None
    if key is None and is_openai(raw_url):
        raise DoctorError(f"{url} needs OPENAI_API_KEY")
    timeout = llm_timeout()
    mode_env = os.environ.get("KRCOACH_LLM_MODE") or None

    client = openai.OpenAI(api_key=key or NO_KEY, base_url=raw_url, max_retries=0,
                           timeout=openai.Timeout(MODELS_TIMEOUT, connect=min(MODELS_TIMEOUT, 5.0)))
    models, note, seconds = _list_models(client, url, key)
    echo(f"reachable: {url} answered GET /models in {_ms(seconds)} ({_how_found(endpoint)})"
         if models is not None else f"reachable: {url} answered {note} in {_ms(seconds)} ({_how_found(endpoint)})")

    chosen = endpoint.model
    if chosen is None:
        if models:
            chosen = models[0]
        elif is_openai(raw_url):
            chosen = DEFAULT_OPENAI_MODEL
    if models is None:
        listed = "not listed (the server has no GET /models)"
    elif not models:
        listed = "none listed"
    else:
        shown = ", ".join(models[:5]) + (f", … ({len(models) - 5} more)" if len(models) > 5 else "")
        listed = f"{shown} ({len(models)} listed"
        if chosen:
            listed += f"; using {chosen}" + ("" if chosen in models else ", which is not listed")
        listed += ")"
    if chosen is None:
        echo(f"models: {listed}")
        raise DoctorError("no model to review with: give one with --model or KRCOACH_MODEL")
    echo(f"models: {listed}" if models else f"models: {listed}; using {chosen}")

    engine = LLMEngine(base_url=raw_url, api_key=key, model=chosen, mode=mode_env, cache=None,
                       **({"timeout": timeout} if timeout is not None else {}))
    echo(f"mode: {engine.mode} (from KRCOACH_LLM_MODE)" if mode_env
         else f"mode: {engine.mode} (the default for this server; KRCOACH_LLM_MODE changes it)")

    objective = Objective(title=EXAMPLE_OBJECTIVE, krs=[KeyResult(id="1", kr=EXAMPLE_KR)])
    started = time.perf_counter()
    record = engine.review_objective(objective, ReviewContext())[0]
    seconds = time.perf_counter() - started
    n = engine.stats["requests"]
    requests = f"{n} request" if n == 1 else f"{n} requests"
    expected = "as expected" if record.kind == EXPECTED_KIND else f"expected {EXPECTED_KIND}"
    if record.status == "ok":
        echo(f"review: ok in {_ms(seconds)} ({requests}); verdict {record.kind} from {chosen} ({expected}) "
             f"for {EXAMPLE_KR!r}")
        return 0
    echo(f"review: {record.status} in {_ms(seconds)} ({requests}: {record.error}); verdict {record.kind} "
         f"from the rules engine ({expected}) for {EXAMPLE_KR!r}")
    return 1


__all__ = ["DoctorError", "EXAMPLE_KR", "EXAMPLE_OBJECTIVE", "diagnose"]
