"""Shared fixtures: every test runs with its own cache and data folders and no LLM settings,
so nothing reads the developer's environment or reaches a network."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KRCOACH = [sys.executable, "-m", "krcoach.cli"]

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "KRCOACH_MODEL", "KRCOACH_ENGINE", "KRCOACH_LLM_MODE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KRCOACH_LOCAL_URLS", "")  # `auto` must not find a developer's local Ollama
    base = tmp_path_factory.mktemp("krcoach-home")
    monkeypatch.setenv("KRCOACH_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("KRCOACH_DATA_DIR", str(base / "data"))


def run_cli(*args: str, stdin: str | bytes | None = None, cwd: Path | None = None,
            env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `krcoach` in a subprocess exactly as a user would, capturing text output."""
    full_env = {**os.environ, **(env or {})}
    data = stdin.encode() if isinstance(stdin, str) else stdin
    proc = subprocess.run([*KRCOACH, *args], input=data, capture_output=True, cwd=cwd or ROOT,
                          env=full_env, timeout=timeout)
    proc.stdout = proc.stdout.decode("utf-8", "replace")  # type: ignore[assignment]
    proc.stderr = proc.stderr.decode("utf-8", "replace")  # type: ignore[assignment]
    return proc


# workshop tests ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def engine():  # type: ignore[no-untyped-def]
    """The rules engine, built once per module: what `krcoach serve` uses without a key."""
    from krcoach.engine import make_engine

    return make_engine("rules")


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    """An empty workshop database of the test's own."""
    from krcoach.workshop.store import Store

    return Store(tmp_path / "workshops.sqlite3")
