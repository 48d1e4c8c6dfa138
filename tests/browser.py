"""Shared helpers for tests that meet the app the way people do: a real server, a real browser.

`launch_app` starts `krcoach.app.serve` in a subprocess on a free 127.0.0.1 port (the same code
path as `krcoach serve`), with every data, cache and temp directory under the test's tmp_path, and
yields its base URL once it answers. `chromium` yields a Playwright browser on the system's
Debian Chromium (never a downloaded one), locked down so it makes no background requests.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app exited with {proc.returncode} before it was ready:\n"
                               + log.read_text(errors="replace")[-4000:])
        try:
            with urllib.request.urlopen(url + "config", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"app not ready after {timeout:.0f}s:\n" + log.read_text(errors="replace")[-4000:])


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
    code = ("import sys; from krcoach.app import serve; "
            "serve(host='127.0.0.1', port=int(sys.argv[1]), engine=sys.argv[2] or None)")
    log = tmp_path / "app.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code, str(port), engine or ""], cwd=ROOT,
                                env=child_env, stdout=out, stderr=subprocess.STDOUT)
    launch_app.last_pid = proc.pid  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_ready(url, proc, log, timeout)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


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
