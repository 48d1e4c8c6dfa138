"""Shared helpers for tests that meet the app the way people do: a real server, a real browser.

`launch_app` starts `krcoach.web.app.serve` in a subprocess on a free 127.0.0.1 port (the same code
path as `krcoach serve`), with every data, cache and temp directory under the test's tmp_path, and
yields its base URL once it answers; `GradioApi` calls its named endpoints over plain HTTP.
`chromium` yields a Playwright browser on the system's Debian Chromium (never a downloaded one),
locked down so it makes no background requests.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from servers import free_port, stop, wait_until_up  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("KRCOACH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Environment variables that would point the app at a real LLM; removed unless a test sets them.
_LLM_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "KRCOACH_ENGINE", "KRCOACH_MODEL")


@contextlib.contextmanager
def launch_app(tmp_path: Path, engine: str | None = "rules", env: dict[str, str] | None = None,
               *, timeout: float = 90.0) -> Iterator[str]:
    """Run the app in a subprocess and yield its base URL (ending in '/').

    `env` entries override the defaults (set one to "" to blank it). The server's output goes to
    `tmp_path/app.log`, and `launch_app.last_pid` holds the process id (for memory checks).
    """
    port = free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    child_env = {k: v for k, v in os.environ.items() if k not in _LLM_ENV}
    child_env.update({
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "GRADIO_TEMP_DIR": str(tmp_path / "gradio-tmp"),
        "TMPDIR": str(tmp_path),
        "KRCOACH_DATA_DIR": str(tmp_path / "data"),
        "KRCOACH_CACHE_DIR": str(tmp_path / "cache"),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    })
    child_env.update(env or {})
    code = ("import sys; from krcoach.web.app import serve; "
            "serve(host='127.0.0.1', port=int(sys.argv[1]), engine=sys.argv[2] or None)")
    log = tmp_path / "app.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code, str(port), engine or ""], cwd=ROOT,
                                env=child_env, stdout=out, stderr=subprocess.STDOUT)
    launch_app.last_pid = proc.pid  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url + "config", proc, log, timeout, what="app")
        yield url
    finally:
        stop(proc)


@contextlib.contextmanager
def chromium(**launch_kwargs: Any) -> Iterator[Any]:
    """A headless Playwright browser on /usr/bin/chromium; skips the test if it is missing.

    Playwright gives every `launch()` a fresh temporary profile (user-data-dir), removed on close.
    """
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_ARGS, **launch_kwargs)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save a PNG under test-artifacts/ (gitignored) and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def call_result(http: httpx.Client, url: str, endpoint: str, event_id: str,
                **stream: Any) -> tuple[str, Any]:
    """Read the result stream of a two-step call (/gradio_api/call/<endpoint>/<event_id>): the
    event ('complete' or 'error') and its JSON payload, or ('no result', None) if it ends first."""
    event = None
    with http.stream("GET", f"{url}gradio_api/call/{endpoint}/{event_id}", **stream) as resp:
        for line in resp.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                return event, json.loads(line[5:])
    return "no result", None


class ApiError(RuntimeError):
    """The app answered a named-API call with an error event."""


class GradioApi:
    """The app's documented two-step HTTP API (POST starts a call, GET streams its result), used
    the way one browser tab would: one connection and one session per instance."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        self.url = url
        self.http = httpx.Client(timeout=timeout)
        self.session = secrets.token_hex(8)

    def __enter__(self) -> GradioApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def call(self, endpoint: str, *data: Any, timeout: float | None = None) -> Any:
        """The endpoint's result; `ApiError` when the app answers with an error event."""
        limit = httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
        r = self.http.post(f"{self.url}gradio_api/call/{endpoint}",
                           json={"data": list(data), "session_hash": self.session}, timeout=limit)
        r.raise_for_status()
        event, payload = call_result(self.http, self.url, endpoint, r.json()["event_id"],
                                     timeout=limit)
        if event == "error":
            raise ApiError(str(payload))
        if event == "complete":
            return payload[0]
        raise ConnectionError(f"{endpoint}: the stream ended without a result")
