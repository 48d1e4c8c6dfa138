"""Engine selection: `auto` finds a local OpenAI-compatible server when nothing is configured.

Real HTTP servers on 127.0.0.1 stand in for Ollama and llama.cpp (KRCOACH_LOCAL_URLS points the
probe at them); a freed port stands for "nothing listening".
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from fake_openai import FAKE_MODEL, FakeOpenAI
from servers import free_port

from krcoach import engine as engine_mod
from krcoach.engine import (
    LOCAL_URLS, EngineConfigError, find_local_server, local_urls, make_engine, resolve_engine_name)
from krcoach.llm.engine import LLMEngine
from krcoach.rules.engine import RulesEngine


def _dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


def _announce(model: str, url: str) -> str:
    return (f"krcoach: using the local model {model} at {url} (found by auto; "
            "set KRCOACH_ENGINE=rules to stay offline)\n")


# ----------------------------------------------------------------------------- found: llm


def test_auto_finds_a_local_server_and_says_so(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KRCOACH_LOCAL_URLS", f"{_dead_url()}, {fake.url}")  # the first is skipped
    eng = make_engine(use_cache=False)
    assert isinstance(eng, LLMEngine)
    assert (eng.name, eng.model, eng.base_url, eng.mode) == ("llm", FAKE_MODEL, fake.url, "json")
    assert capsys.readouterr().err == _announce(FAKE_MODEL, fake.url)
    assert fake.state.models_requests == 1, "the probe's answer names the model: no second /models"
    assert resolve_engine_name("auto") == "llm"


def test_krcoach_model_overrides_the_listed_model(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KRCOACH_LOCAL_URLS", fake.url)
    monkeypatch.setenv("KRCOACH_MODEL", "qwen2.5:7b-instruct")
    monkeypatch.setenv("KRCOACH_LLM_MODE", "tools")
    monkeypatch.setenv("KRCOACH_LLM_TIMEOUT", "7")
    eng = make_engine("auto", use_cache=False)
    assert (eng.model, eng.mode, eng.timeout) == ("qwen2.5:7b-instruct", "tools", 7.0)
    assert "qwen2.5:7b-instruct" in capsys.readouterr().err


def test_cli_review_uses_the_found_server(fake: FakeOpenAI) -> None:
    proc = run_cli("review", "-", "-f", "jsonl", stdin="- Increase weekly active teams from 1,200 to 2,000\n",
                   env={"KRCOACH_LOCAL_URLS": fake.url})
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert (record["engine"], record["model"], record["status"]) == ("llm", FAKE_MODEL, "ok")
    lines = proc.stderr.splitlines()
    assert lines[0] + "\n" == _announce(FAKE_MODEL, fake.url)
    assert len(lines) == 2 and f"(engine llm {FAKE_MODEL}, " in lines[1]
    assert fake.count == 1


def test_explicit_llm_without_settings_also_finds_it(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`krcoach serve` resolves auto to a name first and builds `llm` from it: that must work."""
    monkeypatch.setenv("KRCOACH_LOCAL_URLS", fake.url)
    eng = make_engine("llm", use_cache=False)
    assert (eng.name, eng.base_url) == ("llm", fake.url)
    assert "found at a usual local address; set OPENAI_BASE_URL" in capsys.readouterr().err


# ------------------------------------------------------------------------- not found: rules


def test_nothing_listening_stays_rules_silently_and_fast(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KRCOACH_LOCAL_URLS", f"{_dead_url()},{_dead_url()}")
    started = time.perf_counter()
    eng = make_engine()
    assert time.perf_counter() - started < 0.25
    assert isinstance(eng, RulesEngine)
    assert capsys.readouterr().err == ""


def test_a_silent_port_costs_a_bounded_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """A port that accepts connections but never answers (a hung process) is given up quickly."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)  # the kernel completes the handshake; nobody ever reads or writes
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        started = time.perf_counter()
        assert find_local_server([url, _dead_url()]) is None
        assert time.perf_counter() - started < 0.6


class _NotOpenAI(BaseHTTPRequestHandler):
    """Some other web server on the port: a page, or JSON of another shape."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        body = b"<html>hello</html>" if self.path.startswith("/html") else b'{"models": ["x"]}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def other_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_is_not_openai_compatible_is_ignored(other_server: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRCOACH_LOCAL_URLS", f"{other_server}/html/v1,{other_server}/json/v1")
    assert isinstance(make_engine(), RulesEngine)


def test_rules_never_probes(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRCOACH_LOCAL_URLS", fake.url)
    assert isinstance(make_engine("rules"), RulesEngine)
    monkeypatch.setenv("KRCOACH_ENGINE", "rules")
    assert isinstance(make_engine(), RulesEngine)
    assert resolve_engine_name() == "rules"
    assert fake.state.models_requests == 0


def test_a_key_or_base_url_wins_without_probing(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KRCOACH_LOCAL_URLS", fake.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    assert make_engine(use_cache=False).base_url == "https://api.openai.com/v1"
    assert fake.state.models_requests == 0 and capsys.readouterr().err == ""


def test_empty_list_disables_probing_and_llm_still_asks_for_a_key(llm_env: Path) -> None:
    assert local_urls() == [] and find_local_server() is None
    assert resolve_engine_name("auto") == "rules"
    with pytest.raises(EngineConfigError, match="OPENAI_API_KEY"):
        make_engine("llm")


def test_default_addresses_are_ollama_then_llama_cpp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KRCOACH_LOCAL_URLS")
    assert local_urls() == list(LOCAL_URLS) == ["http://127.0.0.1:11434/v1", "http://127.0.0.1:8080/v1"]
    monkeypatch.setenv("KRCOACH_LOCAL_URLS", " http://127.0.0.1:9000/v1/ , ,http://127.0.0.1:9001/v1")
    assert local_urls() == ["http://127.0.0.1:9000/v1", "http://127.0.0.1:9001/v1"]


def test_rules_users_do_not_import_the_llm_stack() -> None:
    code = ("import sys, krcoach.engine as e; eng = e.make_engine(); "
            "print(eng.name, sorted(m for m in ('openai', 'instructor', 'krcoach.llm.engine', 'krcoach.llm.transport', "
            "'krcoach.llm.contract', 'krcoach.llm.plan', 'krcoach.llm.prompt', 'http.client') if m in sys.modules))")
    env = {"KRCOACH_LOCAL_URLS": f"{_dead_url()},{_dead_url()}"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**__import__("os").environ, **env}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "rules []" and proc.stderr == ""


def test_make_engine_is_the_one_table() -> None:
    assert engine_mod.ENGINE_NAMES == ("auto", "rules", "llm")
    with pytest.raises(EngineConfigError, match="unknown engine 'magic'"):
        make_engine("magic")
