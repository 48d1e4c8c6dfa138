"""A known fake API key must never show up anywhere a user or a log collector could see it.

Reviews run against the scripted server with successes, re-asks, 500s and a 401 whose body echoes
the Authorization header back (as a careless proxy might). Then stdout, stderr, every log record at
DEBUG (krcoach, instructor, openai, httpx), the cache directory, the manifest and every export
format are searched for the key. Each test also checks that the key really was sent and echoed, so
a pass is not vacuous.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai import (  # noqa: E402,F401
    FAKE_MODEL,
    SAMPLE_OUTLINE,
    FakeOpenAI,
    act,
    fake,
    llm_env,
    local_engine,
    status,
)

from krcoach.coach import review  # noqa: E402
from krcoach.formats import OUTPUT_FORMATS, parse_outline, render  # noqa: E402
from krcoach.llm import LLMEngine, RetryPolicy, redact  # noqa: E402

KEY = "sk-test-SECRET-1234567890"
NEEDLES = (KEY, "SECRET-1234567890", "1234567890")
ROOT = Path(__file__).parents[1]


def assert_clean(where: str, text: str) -> None:
    for needle in NEEDLES:
        assert needle not in text, f"the API key leaked into {where}"


def dir_text(path: Path) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in path.rglob("*") if p.is_file())


def test_the_key_never_leaks_through_the_library(fake: FakeOpenAI, llm_env: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
    monkeypatch.setenv("KRCOACH_MODEL", FAKE_MODEL)
    fake.script(act("invent"), objective="Alpha")
    fake.script(*[status(500, body={"error": {"message": f"upstream said Bearer {KEY}"}})] * 5,
                objective="Beta")
    okrs = parse_outline(SAMPLE_OUTLINE)

    eng = LLMEngine.from_env()
    eng.retry = RetryPolicy(backoff=0.01, max_backoff=0.02)
    first = review(okrs, eng, concurrency=1)
    fake.always(act("echo_auth"))
    eng2 = local_engine(fake.url, api_key=KEY, cache=None)
    second = review(okrs, eng2, concurrency=1)

    statuses = [r["status"] for r in first.records() + second.records()]
    assert "ok" in statuses and "fallback" in statuses
    assert any("authentication failed" in (r["error"] or "") for r in second.records())
    assert any(r.headers.get("authorization") == f"Bearer {KEY}" for r in fake.requests), "key was sent"
    assert any(r.act == "echo_auth" for r in fake.requests), "the server echoed it back"

    for result in (first, second):
        assert_clean("records", json.dumps(result.records()))
        for fmt in OUTPUT_FORMATS:
            assert_clean(f"the {fmt} export", render(result, fmt))
    assert_clean("the manifest", json.dumps(eng.manifest()))
    assert_clean("the cache", dir_text(llm_env))
    assert len(caplog.records) > 10, "debug logging was on"
    assert_clean("log records", "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}"
                                          for r in caplog.records))
    out, err = capsys.readouterr()
    assert_clean("stdout", out)
    assert_clean("stderr", err)


def test_redact_covers_key_shapes() -> None:
    text = f"Authorization: Bearer {KEY} key={KEY} api_key: 'abc123xyz' https://bob:pw@host/v1"
    cleaned = redact(text, KEY)
    assert_clean("redact()", cleaned)
    assert "abc123xyz" not in cleaned and "pw@" not in cleaned


CLI = ("import logging, sys; logging.basicConfig(level=logging.DEBUG); "
       "sys.argv[0] = 'krcoach'; from krcoach.cli import main; main()")


@pytest.mark.skipif(importlib.util.find_spec("krcoach.cli") is None, reason="krcoach/cli.py not written yet")
def test_the_key_never_leaks_through_the_cli(fake: FakeOpenAI, llm_env: Path, tmp_path: Path) -> None:
    src = tmp_path / "okrs.md"
    src.write_text(SAMPLE_OUTLINE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "KRCOACH_"))}
    env.update(OPENAI_API_KEY=KEY, OPENAI_BASE_URL=fake.url, KRCOACH_MODEL=FAKE_MODEL, OPENAI_LOG="debug",
               KRCOACH_CACHE_DIR=str(llm_env), PYTHONPATH=str(ROOT))
    # each run: Alpha needs a re-ask, Beta's endpoint fails with 500s echoing the key, Gamma gets a
    # 401 that echoes the Authorization header
    for _ in range(3):
        fake.script(act("invent"), objective="Alpha")
        fake.script(*[status(500, body={"error": {"message": f"upstream said Bearer {KEY}"}})] * 5,
                    objective="Beta")
        fake.script(act("echo_auth"), objective="Gamma")

    outputs: list[str] = []
    runs = [("jsonl", []), ("csv", ["--output", str(tmp_path / "review.csv")]),
            ("md", ["--output", str(tmp_path / "review.md"), "--no-cache"])]
    for fmt, extra in runs:
        proc = subprocess.run([sys.executable, "-c", CLI, "review", str(src), "--engine", "llm",
                               "--format", fmt, *extra],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert_clean(f"stdout of review --format {fmt}", proc.stdout)
        assert_clean(f"stderr of review --format {fmt}", proc.stderr)
        outputs.append(proc.stdout + proc.stderr)
        if extra:
            exported = Path(extra[1]).read_text()
            assert_clean(f"the exported {fmt} file", exported)
            outputs.append(exported)
    assert_clean("the cache", dir_text(llm_env))
    everything = "\n".join(outputs)
    assert "DEBUG" in everything, "debug logging reached stderr"
    assert "fallback" in everything, "failures were reported"
    assert any(r.act == "echo_auth" for r in fake.requests)


# A self-hosted server's key: not shaped like sk-…, so only the configured-key redaction can catch it.
LOCAL_KEY = "local-QzWxEcRvTbYnUmIkOlPj"


def _substrings(secret: str, n: int = 6) -> list[str]:
    return [secret[i:i + n] for i in range(len(secret) - n + 1)]


def assert_no_part(where: str, text: str, secret: str = LOCAL_KEY) -> None:
    leaked = [s for s in _substrings(secret) if s in text]
    assert not leaked, f"part of the API key leaked into {where}: {leaked[:3]}"


def _echoing_answer(krs: list[str]) -> dict:
    """A completion body whose schema-valid answer puts the key in why, rewrite and assumptions."""
    from fake_openai import completion

    entries = [{"n": n, "kind": "output", "why": f"The server key is {LOCAL_KEY}, says the model.",
                "issues": [{"code": "activity", "message": f"Counts work ({LOCAL_KEY})."}],
                "rewrites": [{"metric": f"weekly active teams using {LOCAL_KEY}", "baseline": None,
                              "target": None, "deadline": None,
                              "assumptions": [f"key {LOCAL_KEY} is valid", LOCAL_KEY]}]}
               for n, _ in enumerate(krs, 1)]
    return completion({"response_format": {"type": "json_object"}}, json.dumps({"key_results": entries}))


def test_a_model_answer_that_echoes_the_key_is_scrubbed_everywhere(
        fake: FakeOpenAI, llm_env: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from krcoach import workshop as ws
    from krcoach.cache import AnswerCache
    from krcoach.evaluate import run_eval
    from krcoach.store import Store

    caplog.set_level(logging.DEBUG)
    fake.always(status(200, body=_echoing_answer(["one KR"])))
    fake.script(status(200, body=_echoing_answer(["a", "b"])), objective="Alpha")
    fake.script(status(200, body=_echoing_answer(["a", "b", "c"])), objective="Beta")
    eng = local_engine(fake.url, api_key=LOCAL_KEY, mode="json", cache=AnswerCache(llm_env))

    # the record, and every export of it
    result = review(parse_outline(SAMPLE_OUTLINE), eng, concurrency=1)
    records = result.records()
    assert [r["status"] for r in records] == ["ok"] * 6, records
    assert "says the model" in records[0]["why"] and records[0]["rewrites"][0]["assumptions"]
    assert fake.requests[0].headers.get("authorization") == f"Bearer {LOCAL_KEY}", "key was sent"
    assert_no_part("records", json.dumps(records))
    for fmt in OUTPUT_FORMATS:
        assert_no_part(f"the {fmt} export", render(result, fmt))
    # the answer cache, and a second run served from it
    assert_no_part("the cache", dir_text(llm_env))
    again = review(parse_outline(SAMPLE_OUTLINE), eng, concurrency=1)
    assert eng.stats["cache_hits"] >= 3
    assert_no_part("records from the cache", json.dumps(again.records()))

    # the eval samples log
    dataset = tmp_path / "ds.jsonl"
    dataset.write_text(json.dumps({"id": "1", "kr": "Launch the new onboarding flow",
                                   "objective": "Eval", "label": "output"}) + "\n")
    run_eval(dataset, local_engine(fake.url, api_key=LOCAL_KEY, mode="json", cache=None),
             tmp_path / "report")
    samples = (tmp_path / "report" / "samples.jsonl").read_text()
    assert "says the model" in samples, "the eval ran on the echoing answer"
    assert_no_part("the eval samples log", samples)
    assert_no_part("the eval manifest", (tmp_path / "report" / "manifest.json").read_text())

    # the workshop: stored record, board and every export
    store = Store(tmp_path / "w.sqlite3")
    made = ws.create_workshop(store, "Secrets", ["Launch the campaign"])
    p = ws.join(store, made["code"], "Ana")
    sub = ws.submit(store, made["code"], p["participant_token"], 1, "Lift demo requests", eng)
    assert "says the model" in sub["why"]
    assert_no_part("the submission", json.dumps(sub))
    assert_no_part("the board", json.dumps(ws.board(store, made["code"], made["facilitator_token"])))
    for fmt in ws.EXPORT_FORMATS:
        assert_no_part(f"the workshop {fmt} export", ws.export(store, made["code"], made["facilitator_token"], fmt))
    store.close()
    assert_no_part("the workshop database", (tmp_path / "w.sqlite3").read_bytes().decode("latin-1"))

    assert caplog.records, "debug logging was on"
    assert_no_part("log records", "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}"
                                            for r in caplog.records))


def test_an_error_with_the_key_late_in_it_leaks_no_part(fake: FakeOpenAI, llm_env: Path) -> None:
    """The server's message is shortened for the record; redaction must come first, or the cut
    leaves the key's first characters where the full-key match no longer finds them."""
    for at in (140, 150, 155, 158):
        message = "Invalid request: " + "x" * (at - 17) + f"API token {LOCAL_KEY} is not valid here"
        assert message.index(LOCAL_KEY) >= at
        fake.script(status(400, body={"error": {"message": message}}), objective=f"Obj {at}")
    eng = local_engine(fake.url, api_key=LOCAL_KEY, mode="json", cache=None)
    okrs = parse_outline("\n".join(f"# Obj {at}\n- Launch the campaign" for at in (140, 150, 155, 158)))
    records = review(okrs, eng, concurrency=1).records()
    assert [r["status"] for r in records] == ["fallback"] * 4
    for r in records:
        assert "HTTP 400" in r["error"] and "Invalid request" in r["error"], r["error"]
        assert_no_part("error", r["error"])
