"""Keeping the API key out of everything krcoach stores, shows or logs.

Why a module of its own: the key travels further than the request that carries it. Servers quote
it back in error messages, shortened ("Incorrect API key provided: kc9Xabcdefghijkl…Gf5J",
"sk-proj-****************Gf5J"); proxies echo it in headers; with debug logging the HTTP
libraries log response headers in full. Replacing only the whole key misses every one of those,
and a fragment that slips through lands in a fallback record's `error`, then in every export, the
page, the workshop database, the answer cache and the logs. So one place decides what counts as
the key, and the engine (records, fallback reasons), the cache and the log filter all use it:

- `redact(text, secret)`: the configured key in every form replaced by ``***`` — any run of 8 or
  more consecutive characters of it (prefix, suffix or middle), and the quoted forms where the
  visible ends are the key's own: ``prefix…suffix``, ``prefix...suffix`` and masked middles of
  ``*``, ``•`` or ``x`` (also as ``\\u2026`` / ``\\xe2\\x80\\xa6`` escapes, as JSON and byte reprs
  of headers write them). Then anything key-shaped (`_KEYLIKE`: bearer tokens, ``sk-…`` keys,
  ``api_key=…``, user info in URLs), whoever's key it is.
- `scrub(value, secret)`: `redact` on every string inside a pydantic model, list, tuple or dict.
- `protect(secret)`: remember a key for this process and install `SecretFilter` on the loggers of
  openai, httpx, httpcore (and httpx2 / httpcore2, which openai 3.x uses), instructor and krcoach,
  at every level. Idempotent; every protected key is covered by the one filter.
- `redact_known` / `scrub_known`: the same with every key protected so far, for places that do not
  know which engine they serve (the answer cache, the response validators, the log filter).

Keys are kept in this process's memory only, never written anywhere.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

#: What replaces the key, whatever form it had.
MASK = "***"
#: Shorter runs of the key's characters are not treated as the key (too many false matches).
MIN_FRAGMENT = 8
#: Loggers that see requests and responses (and so, headers and server messages).
LOGGERS = ("openai", "httpx", "httpcore", "httpx2", "httpcore2", "instructor", "krcoach")

_KEYLIKE = [
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer ***"),
    # a masked key quoted by a server ("sk-proj-****Gf5J", "sk-abc…xyz1"), whoever's it is
    (re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]*(?:…|\.{3}|[*•]{2,})[A-Za-z0-9_-]*"), "sk-***"),
    (re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{6,}"), "sk-***"),
    (re.compile(r"(?i)(api[-_]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"), r"\1***"),
    (re.compile(r"(?i)(https?://)[^/\s:@]+:[^/\s@]+@"), r"\1***@"),
]

# A masked middle: a run of ellipses, bullets, stars (as the characters or as the escapes JSON and
# bytes reprs use), runs of three or more dots or x's. Possessive: linear on any input.
_MASKED_MIDDLE = re.compile(
    r"(?:…|\\u2026|\\xe2\\x80\\xa6|•|\\u2022|\\xe2\\x80\\xa2|\*|\.{3,}+|[xX]{3,}+)++")


class _Compiled:
    """What the search needs to know about one key, computed once."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        n = MIN_FRAGMENT
        self.grams = frozenset(secret[i:i + n] for i in range(len(secret) - n + 1))
        # Every run of n key characters contains one of these whole: a cheap test before the scan.
        self.quads = tuple(dict.fromkeys(secret[i:i + 4] for i in range(0, len(secret) - 3, 4)))
        self.prefixes = [secret[:k] for k in range(len(secret) + 1)]
        self.suffixes = [secret[len(secret) - k:] for k in range(len(secret) + 1)]


@functools.lru_cache(maxsize=64)
def _compiled(secret: str) -> _Compiled:
    return _Compiled(secret)


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    spans.sort()
    out: list[str] = []
    pos = 0
    start, end = spans[0]
    for a, b in spans[1:]:
        if a <= end:
            end = max(end, b)
            continue
        out += [text[pos:start], MASK]
        pos, (start, end) = end, (a, b)
    out += [text[pos:start], MASK, text[end:]]
    return "".join(out)


def _masked_forms(text: str, key: _Compiled) -> str:
    """``prefix…suffix``, ``prefix...suffix``, ``prefix****suffix``, ``****suffix``, ``prefix…``
    where the visible ends are the key's own."""
    secret = key.secret
    spans: list[tuple[int, int]] = []
    for m in _MASKED_MIDDLE.finditer(text):
        a, b = m.span()
        k = next((k for k in range(min(len(secret) - 1, a), 0, -1)
                  if text.startswith(key.prefixes[k], a - k)), 0)
        s = next((s for s in range(min(len(secret) - 1, len(text) - b), 0, -1)
                  if text.startswith(key.suffixes[s], b)), 0)
        if (k >= 2 and s >= 2 and k + s >= 5) or max(k, s) >= 4:
            spans.append((a - k, b + s))
    return _replace(text, spans)


def _fragments(text: str, key: _Compiled) -> str:
    """Every run of `MIN_FRAGMENT` or more consecutive characters of the key."""
    if not any(q in text for q in key.quads):
        return text
    n = MIN_FRAGMENT
    grams = key.grams
    spans = [(i, i + n) for i in range(len(text) - n + 1) if text[i:i + n] in grams]
    return _replace(text, spans)


def _secrets(secret: str | Iterable[str] | None) -> tuple[str, ...]:
    if not secret:
        return ()
    if isinstance(secret, str):
        return (secret,)
    return tuple(s for s in secret if s)


def redact(text: str, secret: str | Iterable[str] | None = None) -> str:
    """`text` with the secret (one key or several) in every form, and anything key-shaped,
    replaced by ***."""
    for s in _secrets(secret):
        if len(s) < 4:
            continue
        if len(s) < MIN_FRAGMENT:
            text = text.replace(s, MASK)
            continue
        key = _compiled(s)
        text = _fragments(_masked_forms(text, key), key)
    for pattern, repl in _KEYLIKE:
        text = pattern.sub(repl, text)
    return text


def scrub(value: Any, secret: str | Iterable[str] | None = None) -> Any:
    """`value` with `redact` applied to every string in it: pydantic models (copied, not
    re-validated), lists, tuples and dicts are walked; other values come back unchanged.

    Used on every model answer before it is cached or turned into records: a model that echoes
    the key (it saw it nowhere, but a proxy or a prompt-injected KR might feed it one) must not
    put it in a why, a rewrite or an assumption that is then shown, logged or exported."""
    if secret is not None and not isinstance(secret, str):
        secret = _secrets(secret)
    if isinstance(value, str):
        return redact(value, secret)
    if isinstance(value, BaseModel):
        changes = {}
        for name in type(value).model_fields:
            old = getattr(value, name)
            new = scrub(old, secret)
            if new is not old:
                changes[name] = new
        return value.model_copy(update=changes) if changes else value
    if isinstance(value, (list, tuple)):
        items = [scrub(v, secret) for v in value]
        if all(a is b for a, b in zip(items, value)):
            return value
        return type(value)(items)
    if isinstance(value, dict):
        return {k: scrub(v, secret) for k, v in value.items()}
    return value


# -------------------------------------------------------------------------- keys in this process

_lock = threading.Lock()
_known: tuple[str, ...] = ()


def known() -> tuple[str, ...]:
    """Every key `protect` was given in this process."""
    return _known


def redact_known(text: str) -> str:
    """`redact` with every protected key."""
    return redact(text, _known)


def scrub_known(value: Any) -> Any:
    """`scrub` with every protected key."""
    return scrub(value, _known)


class SecretFilter(logging.Filter):
    """Redacts every protected key (all its forms) from a record's message, args, traceback and
    stack. When something is found the message is formatted once and stored redacted (args
    cleared), so no handler or formatter can put the raw args back together."""

    def filter(self, record: logging.LogRecord) -> bool:
        keys = _known
        if not keys:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: redact the parts one by one
            record.msg = redact(str(record.msg), keys)
            if isinstance(record.args, tuple):
                record.args = tuple(redact(str(a), keys) for a in record.args)
            elif record.args:
                record.args = (redact(str(record.args), keys),)
        else:
            clean = redact(message, keys)
            if clean != message:
                record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            clean = redact(text, keys)
            if clean != text:
                record.exc_text, record.exc_info = clean, None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text, keys)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, keys)
        return True


_FILTER = SecretFilter()


def cover_loggers() -> None:
    """Put the filter on `LOGGERS` and every logger below them that exists now. A logger's filter
    only sees records logged on that logger itself, not those passed up from its children, so
    "openai._base_client" and "httpcore2.http11" need it as much as "openai". Idempotent."""
    manager = logging.Logger.manager
    with _lock:
        names = [n for n in list(manager.loggerDict)
                 if any(n == root or n.startswith(root + ".") for root in LOGGERS)]
        for name in {*LOGGERS, *names}:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)


def protect(secret: str | None) -> None:
    """Remember `secret` as a key to redact everywhere in this process, and cover the loggers."""
    global _known
    if secret and len(secret) >= 4:
        with _lock:
            if secret not in _known:
                _known = (*_known, secret)
    cover_loggers()


__all__ = ["MASK", "MIN_FRAGMENT", "LOGGERS", "redact", "scrub", "protect", "known", "redact_known",
           "scrub_known", "SecretFilter", "cover_loggers"]
