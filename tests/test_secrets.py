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
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fake_openai import (
    FAKE_MODEL,
    SAMPLE_OUTLINE,
    FakeOpenAI,
    act,
    local_engine,
    status,
)

from krcoach.coach import review
from krcoach.formats import OUTPUT_FORMATS, parse_outline, render
from krcoach.llm.engine import LLMEngine
from krcoach.llm.transport import RetryPolicy
from krcoach.redaction import redact

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
    from krcoach.workshop import domain as ws
    from krcoach.llm.cache import AnswerCache
    from krcoach.evaluation.run import run_eval
    from krcoach.workshop.store import Store

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


# ------------------------------------------------------------------------------ the secrets matrix

# Not sk-shaped, so only the configured-key redaction (krcoach.redaction) can catch its forms.
MATRIX_KEY = "kc9XqT7mWv2LpR8sYd4NbZ1cHj6KfE3gUa5Gf5J"
#: form name -> (what the server puts in error bodies and answers, what it puts in a header)
MATRIX_FORMS: dict[str, tuple[str, str]] = {
    "full key": (MATRIX_KEY, MATRIX_KEY),
    "16 + '…' + last 4": (MATRIX_KEY[:16] + "…" + MATRIX_KEY[-4:],) * 2,
    "16 + '...' + last 4": (MATRIX_KEY[:16] + "..." + MATRIX_KEY[-4:],) * 2,
    "4 + '…' + last 4": (MATRIX_KEY[:4] + "…" + MATRIX_KEY[-4:],) * 2,
    "masked '*' middle": (MATRIX_KEY[:8] + "*" * 24 + MATRIX_KEY[-4:],) * 2,
    "masked '•' middle": (MATRIX_KEY[:4] + "•" * 8 + MATRIX_KEY[-4:],) * 2,
    "8-char middle fragment": (MATRIX_KEY[14:22],) * 2,
    "full key, response header only": ("(no key in the body)", f"Bearer {MATRIX_KEY}; key={MATRIX_KEY}"),
}
#: a key end beside a mask, written as text, JSON escape, bytes repr or UTF-8 read as Latin-1
_MASKISH = r"(?:…|\.\.\.|\*|•|[xX]{3}|\\u2026|\\u2022|\\xe2\\x80\\xa6|\\xe2\\x80\\xa2|â\x80¦|â\x80¢)"
_MASKED_END = re.compile(rf"{re.escape(MATRIX_KEY[:4])}{_MASKISH}|{_MASKISH}{re.escape(MATRIX_KEY[-4:])}")


def matrix_leaks(text: str, form: str = "") -> list[str]:
    """What of the key is in `text`: the form as sent, any 6 consecutive characters of the key, or
    one of its ends beside a mask ("kc9X…", "****Gf5J")."""
    found = [form] if len(form) >= 6 and form in text else []
    found += [s for s in _substrings(MATRIX_KEY) if s in text]
    found += _MASKED_END.findall(text)
    return found


def _answer_echoing(n_krs: int, text: str) -> dict:
    """A valid answer that puts `text` in the why, an issue, a rewrite and its assumptions."""
    from fake_openai import completion

    entries = [{"n": n, "kind": "output", "why": f"The server says {text}, says the model.",
                "issues": [{"code": "activity", "message": f"Counts work ({text})."}],
                "rewrites": [{"metric": f"weekly active teams using {text}", "baseline": None,
                              "target": None, "deadline": None, "assumptions": [f"key {text} is valid", text]}]}
               for n in range(1, n_krs + 1)]
    return completion({"response_format": {"type": "json_object"}}, json.dumps({"key_results": entries}))


def _script_matrix(fake: FakeOpenAI, body: str, header: str, runs: int = 1, workshop: str | None = None) -> None:
    """Alpha: an answer echoing the form (reaches the cache); Beta: a 400 quoting it; Gamma: a 401
    quoting it. Every response also carries it in X-Echo-Key (UTF-8, as a server would send it)."""
    headers = {"X-Echo-Key": header.encode("utf-8").decode("latin-1")}
    error = {"error": {"message": f"Incorrect API key provided: {body}. You can find your API key at "
                                  "https://platform.example/account/api-keys.", "code": "invalid_api_key"}}
    for _ in range(runs):
        fake.script(status(200, body=_answer_echoing(2, body), headers=headers), objective="Alpha")
        fake.script(status(400, body=error, headers=headers), objective="Beta")
        fake.script(status(401, body=error, headers=headers), objective="Gamma")
    if workshop:
        fake.script(status(200, body=_answer_echoing(1, body), headers=headers),
                    status(400, body=error, headers=headers), objective=workshop)


_LOG_GROUPS = ("openai", "httpx", "httpcore", "instructor")


def _log_text(records: list[logging.LogRecord], group: str) -> tuple[int, str]:
    mine = [r for r in records if r.name.split(".")[0].rstrip("2") == group]
    lines = []
    for r in mine:
        exc = logging.Formatter().formatException(r.exc_info) if r.exc_info else (r.exc_text or "")
        lines.append(f"{r.name} {r.levelname} {r.getMessage()} {exc} {r.stack_info or ''}")
    return len(mine), "\n".join(lines)


def _start_cli_runs(fake_url: str, src: Path, cache: Path, tmp: Path) -> dict[str, subprocess.Popen]:
    """`krcoach review -f json|csv|md` as subprocesses, DEBUG logging on, started in parallel."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "KRCOACH_"))}
    env.update(OPENAI_API_KEY=MATRIX_KEY, OPENAI_BASE_URL=fake_url, KRCOACH_MODEL=FAKE_MODEL,
               KRCOACH_LLM_MODE="json", OPENAI_LOG="debug", KRCOACH_CACHE_DIR=str(cache),
               PYTHONPATH=str(ROOT))
    procs = {fmt: subprocess.Popen([sys.executable, "-c", CLI, "review", str(src), "--engine", "llm",
                                    "-f", fmt, "--concurrency", "1"],
                                   cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, encoding="utf-8", errors="backslashreplace")
             for fmt in ("json", "csv", "md")}
    return procs


def _finish_cli_runs(procs: dict[str, subprocess.Popen]) -> dict[str, str]:
    out: dict[str, str] = {}
    for fmt, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr[-2000:]
        out[f"CLI -f {fmt}: stdout"] = stdout
        out[f"CLI -f {fmt}: stderr (DEBUG logs)"] = stderr
    return out


@pytest.mark.skipif(importlib.util.find_spec("krcoach.cli") is None, reason="krcoach/cli.py not written yet")
def test_secrets_matrix(llm_env: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Every form of the key, searched for everywhere it could land. All cells are clean.

    Forms (each sent by the fake server in the 200 answer for Alpha — why, issue, rewrite,
    assumptions —, in the message of a 400 for Beta and of a 401 for Gamma, and in an X-Echo-Key
    header on all three, UTF-8 encoded; the engine's key is MATRIX_KEY, not sk-shaped, so only
    krcoach.redaction' configured-key redaction can catch it):
      full key | 16 chars + "…" + last 4 | 16 + "..." + last 4 | 4 + "…" + last 4 |
      8 chars + "*"×24 + last 4 | 4 + "•"×8 + last 4 | an 8-char middle fragment |
      the full key in a response header only (body without it), logged at DEBUG.
    Places searched (a leak is the form as sent, any 6 consecutive key characters, or a key end
    beside a mask in any spelling: "…", "...", "*", "•", "\\u2026", "\\xe2\\x80\\xa6", mojibake):
      records (JSON) | every in-process export (render: table, jsonl, json, csv, md) |
      the page (app.render_objective HTML) | the workshop: submissions, board, csv/json/md exports
      and the SQLite file's bytes | the answer cache directory's bytes (in-process and CLI) |
      log records at DEBUG from openai, httpx(2), httpcore(2), instructor (message, args,
      traceback) | `krcoach review -f json|csv|md` as subprocesses with OPENAI_API_KEY set,
      OPENAI_LOG=debug and logging at DEBUG: stdout and stderr.
    Each form also checks the search is not vacuous: the header reached the DEBUG logs, Beta's
    record is a fallback quoting the 400 with "***", Alpha's why says "***", every log group logged.
    Run with -s for the table.
    """
    from krcoach.workshop import domain as ws
    from krcoach.llm.cache import AnswerCache
    from krcoach.workshop.store import Store

    try:
        from krcoach.web.review_html import render_objective
    except Exception:  # pragma: no cover - the page's dependencies are missing
        render_objective = None
    caplog.set_level(logging.DEBUG)
    src = tmp_path / "okrs.md"
    src.write_text(SAMPLE_OUTLINE)
    table: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    for i, (form, (body, header)) in enumerate(MATRIX_FORMS.items()):
        places: dict[str, str] = {}
        caplog.clear()
        work = tmp_path / f"form{i}"
        work.mkdir()
        with FakeOpenAI() as fake:
            _script_matrix(fake, body, header, runs=4, workshop="Secrets")
            # the CLI runs (slow to start) go on while the in-process checks run
            cli = _start_cli_runs(fake.url, src, work / "cli-cache", work)
            # in process: records, exports, page, cache, logs
            eng = local_engine(fake.url, api_key=MATRIX_KEY, mode="json", cache=AnswerCache(work / "cache"))
            result = review(parse_outline(SAMPLE_OUTLINE), eng, concurrency=1)
            records = result.records()
            places["records (JSON)"] = json.dumps(records, ensure_ascii=False)
            for fmt in OUTPUT_FORMATS:
                places[f"export {fmt} (render)"] = render(result, fmt)
            if render_objective is not None:
                places["page (HTML)"] = "\n".join(render_objective(o) for o in result.objectives)
            # the workshop, with an engine of its own (the 401 above opened this one's breaker)
            weng = local_engine(fake.url, api_key=MATRIX_KEY, mode="json", cache=None)
            store = Store(work / "w.sqlite3")
            made = ws.create_workshop(store, "Secrets", ["Launch the campaign"])
            p = ws.join(store, made["code"], "Ana")
            subs = [ws.submit(store, made["code"], p["participant_token"], 1, text, weng)
                    for text in ("Lift demo requests", "Lift demo requests by Q3")]
            board = ws.board(store, made["code"], made["facilitator_token"])
            places["workshop submissions + board"] = json.dumps([subs, board], ensure_ascii=False)
            places["workshop exports (csv/json/md)"] = "\n".join(
                str(ws.export(store, made["code"], made["facilitator_token"], fmt)) for fmt in ws.EXPORT_FORMATS)
            store.close()
            places["workshop database (bytes)"] = (work / "w.sqlite3").read_bytes().decode("latin-1")
            places["cache dir (bytes, in-process)"] = dir_text(work / "cache")
            counts = {}
            for group in _LOG_GROUPS:
                counts[group], places[f"logs at DEBUG: {group}"] = _log_text(caplog.records, group)
            header_logged = "x-echo-key" in "\n".join(places[f"logs at DEBUG: {g}"] for g in _LOG_GROUPS).lower()
            # the CLI, as a user runs it
            places.update(_finish_cli_runs(cli))
            places["cache dir (bytes, CLI)"] = dir_text(work / "cli-cache")

        # the search is not vacuous
        beta = [r for r in records if r["objective"] == "Beta"]
        alpha = [r for r in records if r["objective"] == "Alpha"]
        assert all(r["status"] == "fallback" and "HTTP 400" in r["error"] for r in beta), beta
        assert all(r["status"] == "ok" for r in alpha), alpha
        if body == header:
            assert "***" in beta[0]["error"] and "***" in alpha[0]["why"], (form, beta[0]["error"])
            assert any(s["why"] and "***" in s["why"] for s in subs), subs
        assert header_logged, f"{form}: the response header did not reach the DEBUG logs"
        assert all(counts.values()), f"{form}: a logger group logged nothing: {counts}"
        assert "x-echo-key" in places["CLI -f json: stderr (DEBUG logs)"].lower()

        row = table.setdefault(form, {})
        for place, text in places.items():
            found = matrix_leaks(text, header) + (matrix_leaks(text, body) if body == header else [])
            row[place] = "LEAK" if found else "clean"
            if found:
                problems.append(f"{form} -> {place}: {sorted(set(found))[:4]}")

    places_seen = list(next(iter(table.values())))
    forms = list(table)
    width = max(len(p) for p in places_seen)
    print(f"\n\nsecrets matrix: {len(forms)} forms x {len(places_seen)} places (columns: forms)")
    for n, form in enumerate(forms, 1):
        print(f"  F{n} = {form}: {MATRIX_FORMS[form][0]!r} / header {MATRIX_FORMS[form][1]!r}")
    print(" " * width + " | " + " | ".join(f"F{n:<4}" for n in range(1, len(forms) + 1)))
    for place in places_seen:
        print(f"{place:<{width}} | " + " | ".join(f"{table[f][place]:<5}" for f in forms))
    assert not problems, "\n".join(problems)


def test_redact_every_form_and_several_keys() -> None:
    other = "sk-proj-Zq81LmNo0PqRsTuVwXyZaBcDeFgHiJk4Rt2"
    cases = {
        "kc9XqT7mWv2LpR8s…Gf5J": MATRIX_KEY, "kc9XqT7mWv2LpR8s...Gf5J": MATRIX_KEY,
        "kc9X…Gf5J": MATRIX_KEY, "kc9XqT7m" + "*" * 30 + "Gf5J": MATRIX_KEY, "****Gf5J": MATRIX_KEY,
        "kc9XqT7m****": MATRIX_KEY, "kc9Xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx5Gf5J": MATRIX_KEY,
        MATRIX_KEY[14:22]: MATRIX_KEY, MATRIX_KEY[-8:]: MATRIX_KEY, MATRIX_KEY[:8]: MATRIX_KEY,
        "kc9X\\u2026Gf5J": MATRIX_KEY, "b'kc9X\\xe2\\x80\\xa6Gf5J'": MATRIX_KEY,
        "sk-proj-****************4Rt2": other, "sk-proj-Zq81LmNo…4Rt2": other,
    }
    for form, key in cases.items():
        text = f"Incorrect API key provided: {form}. See https://platform.example/keys..."
        cleaned = redact(text, [MATRIX_KEY, other])
        assert "***" in cleaned and "See https://platform.example/keys..." in cleaned, (form, cleaned)
        assert not matrix_leaks(cleaned, form), (form, cleaned)
        assert "4Rt2" not in cleaned and "Zq81" not in cleaned, (form, cleaned)
    # text that merely shares short runs with the key is left alone
    plain = "kc9 runs Gf5 times... Wait ** for it; xxx marks the spot. qT7m and 5Gf5J alone."
    assert redact(plain, MATRIX_KEY) == plain


def test_redaction_is_linear_on_hostile_text() -> None:
    import time

    started = time.perf_counter()
    for text in (".x" * 50_000, "*k" * 50_000, "kc9X" * 25_000, "x" * 100_000 + "Gf5J"):
        redact(text, MATRIX_KEY)
    assert time.perf_counter() - started < 5


def test_the_log_filter_covers_every_engine_and_level(caplog: pytest.LogCaptureFixture) -> None:
    from krcoach.redaction import SecretFilter

    one, two = "one-" + MATRIX_KEY[4:], "two-QpWoEiRuTyAlSkDjFhGz0192"
    local_engine("http://127.0.0.1:9/v1", api_key=one, cache=None)
    local_engine("http://127.0.0.1:9/v1", api_key=two, cache=None)
    local_engine("http://127.0.0.1:9/v1", api_key=two, cache=None)  # idempotent
    caplog.set_level(logging.DEBUG)
    names = ["openai", "openai._base_client", "httpx", "httpx2", "httpcore", "httpcore2.http11",
             "instructor", "instructor.v2.retry"]
    for name in names:
        logger = logging.getLogger(name)
        assert sum(isinstance(f, SecretFilter) for f in logger.filters) == 1, name
        for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
            logger.log(level, "headers %s %r", {"x-echo": one[:16] + "…" + one[-4:]}, (b"x-key", two.encode()))
            try:
                raise ValueError(f"Incorrect API key provided: {two[:8]}****{two[-4:]}")
            except ValueError:
                logger.log(level, "failed", exc_info=True)
    assert len(caplog.records) == len(names) * 8
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "***" in text
    for key in (one, two):
        assert not [s for s in _substrings(key, 8) if s in text], text[:500]
        assert key[-4:] not in text
