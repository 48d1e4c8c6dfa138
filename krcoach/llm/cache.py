"""On-disk cache of llm answers, so a second run of the same batch sends no request.

The key is a hash of everything that can change an answer (endpoint, model, mode, prompt name,
version and text, response schema, sampling settings, the objective and its KRs, krcoach's version),
so editing a prompt or upgrading krcoach never serves a stale answer. The API key is never part of a
key or a value: the endpoint is identified by its URL with credentials stripped, and every value is
scrubbed of every key this process protects (`krcoach.redaction`, all forms: whole, quoted
prefix…suffix, masked, fragments) when it is written and again when it is read, whoever wrote it.

The directory is `KRCOACH_CACHE_DIR`, else the platform's user cache dir + `/krcoach`.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

import platformdirs

from krcoach.redaction import scrub_known

ENV_DIR = "KRCOACH_CACHE_DIR"
#: Bumped when the layout of cached values changes.
CACHE_FORMAT = 1

_lock = threading.Lock()
_open: dict[str, Any] = {}


def cache_dir() -> Path:
    """Where answers are stored: `KRCOACH_CACHE_DIR` or the user cache dir."""
    configured = os.environ.get(ENV_DIR)
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_cache_dir("krcoach", appauthor=False))


def krcoach_version() -> str:
    """Part of every key: an upgrade never serves answers produced by older code."""
    try:
        from krcoach.version import __version__

        return str(__version__)
    except ImportError:
        try:
            return metadata.version("krcoach")
        except metadata.PackageNotFoundError:
            return "0+unknown"


def make_key(**parts: Any) -> str:
    """A stable sha256 over the named parts (JSON with sorted keys)."""
    blob = json.dumps({"format": CACHE_FORMAT, **parts}, sort_keys=True, ensure_ascii=False,
                      default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _cache(directory: Path) -> Any:
    """One diskcache.Cache per directory per process (it is thread- and process-safe)."""
    import diskcache

    key = str(directory.resolve())
    with _lock:
        cache = _open.get(key)
        if cache is None:
            directory.mkdir(parents=True, exist_ok=True)
            cache = diskcache.Cache(key, size_limit=2**30)
            _open[key] = cache
        return cache


class AnswerCache:
    """Validated llm answers by key. Values are plain JSON-able dicts."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else cache_dir()

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            value = _cache(self.directory).get(key)
        except Exception:  # a broken cache must never break a review
            return None
        return scrub_known(value) if isinstance(value, dict) else None

    def set(self, key: str, value: dict[str, Any]) -> None:
        try:
            _cache(self.directory).set(key, scrub_known(value))
        except Exception:
            pass


def cache_info() -> dict[str, Any]:
    """Path, number of entries and bytes on disk, for `krcoach cache`."""
    directory = cache_dir()
    if not directory.exists():
        return {"path": str(directory), "entries": 0, "size_bytes": 0}
    cache = _cache(directory)
    size = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    return {"path": str(directory), "entries": len(cache), "size_bytes": size}


def clear_cache() -> int:
    """Remove every cached answer; returns how many there were."""
    directory = cache_dir()
    if not directory.exists():
        return 0
    return int(_cache(directory).clear())
