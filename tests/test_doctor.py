"""`krcoach doctor` as a user runs it, against real HTTP servers on 127.0.0.1: the fake OpenAI
server (fast, scripted) and, marked slow, a real llama.cpp server with the tiny SmolLM2 model."""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import LLAMA_ALIAS, run_cli
from fake_openai import FAKE_MODEL, FakeOpenAI, act
from servers import free_port

from krcoach.doctor import EXAMPLE_KR, DoctorError, diagnose

SECRET = "sk-doctor-secret-0123456789abcdef"


def _lines(text: str) -> dict[str, str]:
    """{'reachable': '...', 'models': '...', ...} from doctor's `name: value` lines."""
    return dict(line.split(": ", 1) for line in text.splitlines())


def test_ok_against_the_server_auto_finds(fake: FakeOpenAI) -> None:
    proc = run_cli("doctor", env={"KRCOACH_LOCAL_URLS": fake.url})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = _lines(proc.stdout)
    assert list(out) == ["reachable", "models", "mode", "review"]
    assert re.fullmatch(rf"{re.escape(fake.url)} answered GET /models in \d+ ms \(found by auto\)", out["reachable"])
    assert out["models"] == f"{FAKE_MODEL} (1 listed; using {FAKE_MODEL})"
    assert out["mode"] == "json (the default for this server; KRCOACH_LLM_MODE changes it)"
    assert re.fullmatch(rf"ok in \d+ ms \(1 request\); verdict output from {FAKE_MODEL} \(as expected\) "
                        rf"for {re.escape(repr(EXAMPLE_KR))}", out["review"]), out["review"]
    assert fake.count == 1 and fake.requests[0].data["key_results"][0]["text"] == EXAMPLE_KR


def test_base_url_model_and_mode_from_options_and_env(fake: FakeOpenAI) -> None:
    proc = run_cli("doctor", "--base-url", fake.url, "--model", "qwen2.5:7b-instruct",
                   env={"KRCOACH_LLM_MODE": "tools", "OPENAI_API_KEY": SECRET})
    assert proc.returncode == 0, proc.stderr
    out = _lines(proc.stdout)
    assert out["reachable"].endswith("(from --base-url)")
    assert out["models"] == f"{FAKE_MODEL} (1 listed; using qwen2.5:7b-instruct, which is not listed)"
    assert out["mode"] == "tools (from KRCOACH_LLM_MODE)"
    assert fake.requests[0].body["model"] == "qwen2.5:7b-instruct" and "tools" in fake.requests[0].body
    assert SECRET not in proc.stdout + proc.stderr


def test_unreachable_is_one_line_exit_2() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    started = time.monotonic()
    proc = run_cli("doctor", "--base-url", url)
    assert time.monotonic() - started < 30
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"krcoach: error: {url} is unreachable: connection refused\n"


@pytest.mark.parametrize(("args", "env", "message"), [
    ([], {}, "no endpoint to check: OPENAI_BASE_URL and OPENAI_API_KEY are unset and local probing is off"),
    ([], {"KRCOACH_LOCAL_URLS": "http://127.0.0.1:{dead}/v1"},
     "no local server answered at http://127.0.0.1:{dead}/v1; give one with --base-url"),
    (["--base-url", "localhost:8080/v1"], {}, "--base-url must start with http:// or https://"),
    (["--base-url", "https://api.openai.com/v1"], {}, "https://api.openai.com/v1 needs OPENAI_API_KEY"),
    (["--base-url", "{url}"], {"KRCOACH_LLM_MODE": "xml"}, "KRCOACH_LLM_MODE='xml' is not one of"),
])
def test_usage_and_config_problems_exit_2(fake: FakeOpenAI, args: list[str], env: dict[str, str],
                                          message: str) -> None:
    dead = str(free_port())
    fill = {"dead": dead, "url": fake.url}
    proc = run_cli("doctor", *[a.format(**fill) for a in args], env={k: v.format(**fill) for k, v in env.items()})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("krcoach: error: ") and proc.stderr.count("\n") == 1
    assert message.format(**fill) in proc.stderr
    assert fake.count == 0, "no review is attempted"


def test_review_fallback_exits_1_with_the_reason(fake: FakeOpenAI) -> None:
    fake.always(act("invent"))  # every answer invents a number: re-asked, then the rules review
    proc = run_cli("doctor", "--base-url", fake.url, env={"OPENAI_API_KEY": SECRET})
    assert proc.returncode == 1, proc.stderr
    out = _lines(proc.stdout)
    assert list(out) == ["reachable", "models", "mode", "review"] and proc.stderr == ""
    assert re.fullmatch(r"fallback in \d+ ms \(3 requests: llm: answer invalid after 3 tries: .*98765.*\); "
                        r"verdict output from the rules engine \(as expected\) for '.*'", out["review"]), out["review"]
    assert SECRET not in proc.stdout


def test_a_refused_key_is_a_config_problem_and_never_printed(fake: FakeOpenAI,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    fake.always(act("echo_auth"))  # a 401 that echoes the key back
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    lines: list[str] = []
    assert diagnose(fake.url, echo=lines.append) == 1  # /models is open; the review gets the 401
    assert "authentication failed (HTTP 401)" in lines[-1]
    assert SECRET not in "\n".join(lines)


class _Refuses(BaseHTTPRequestHandler):
    """A hosted endpoint that refuses the key at GET /models, echoing it back as some do."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps({"error": {"message": f"bad key {self.headers.get('Authorization')}"}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_key_refused_at_models_is_exit_2_and_never_printed(llm_env: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuses)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        proc = run_cli("doctor", "--base-url", url, env={"OPENAI_API_KEY": SECRET})
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"krcoach: error: {url} refused the key (HTTP 401 to GET /models): check OPENAI_API_KEY\n"


def test_library_call_reports_lines_and_raises_doctor_error(fake: FakeOpenAI) -> None:
    lines: list[str] = []
    assert diagnose(fake.url, FAKE_MODEL, echo=lines.append) == 0
    assert [line.split(":")[0] for line in lines] == ["reachable", "models", "mode", "review"]
    with pytest.raises(DoctorError, match="unreachable"):
        diagnose(f"http://127.0.0.1:{free_port()}/v1", echo=lines.append)


@pytest.mark.slow
def test_doctor_against_a_real_llama_cpp_server(llama_server: str) -> None:
    """The tiny model answers (ok) or falls back (exit 1): both are a working wire. Run with -s to
    see the output."""
    proc = run_cli("doctor", "--base-url", llama_server, env={"KRCOACH_LLM_TIMEOUT": "150"}, timeout=600)
    print(f"\n$ krcoach doctor --base-url {llama_server}\n{proc.stdout}{proc.stderr}exit {proc.returncode}")
    assert proc.returncode in (0, 1), proc.stderr
    out = _lines(proc.stdout)
    assert list(out) == ["reachable", "models", "mode", "review"]
    assert out["models"] == f"{LLAMA_ALIAS} (1 listed; using {LLAMA_ALIAS})"
    assert out["mode"].startswith("json ")
    assert out["review"].startswith("ok in " if proc.returncode == 0 else "fallback in ")
