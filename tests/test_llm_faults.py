"""Network faults: bounded retries, Retry-After, timeouts, a dead endpoint, the circuit breaker.

Every fault ends the same way for the objective it hits: its KRs get the rules review with
`status="fallback"` and a one-line reason, and the batch goes on. These tests count the requests
that actually reached the server and time the runs, so the bounds are checked, not assumed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from fake_openai import (
    SAMPLE_OUTLINE,
    FakeOpenAI,
    act,
    hang,
    local_engine,
    ok,
    status,
)

from servers import free_port

from krcoach.coach import review
from krcoach.formats import parse_outline
from krcoach.llm.transport import RetryPolicy


def many(n: int) -> str:
    return "".join(f"# Objective {i}\n- Launch feature {i}\n- Grow signups from {i} to {i + 5} by Q3\n"
                   for i in range(n))


def by_objective(records: list[dict]) -> dict[str | None, list[dict]]:
    out: dict[str | None, list[dict]] = {}
    for r in records:
        out.setdefault(r["objective"], []).append(r)
    return out


def assert_fallback(records: list[dict], *needles: str) -> None:
    for rec in records:
        assert (rec["engine"], rec["model"], rec["status"]) == ("rules", None, "fallback"), rec
        assert rec["error"].startswith("llm: ") and "\n" not in rec["error"]
        for needle in needles:
            assert needle in rec["error"], rec["error"]


def test_429_waits_for_retry_after_then_succeeds(fake: FakeOpenAI) -> None:
    fake.script(status(429, retry_after="1"), objective="Gamma")
    records = review(parse_outline(SAMPLE_OUTLINE), local_engine(fake.url), concurrency=1).records()

    asks = [r for r in fake.requests if r.objective == "Gamma"]
    assert len(asks) == 2
    assert asks[1].at - asks[0].at >= 1.0, "Retry-After honoured"
    assert {r["status"] for r in records} == {"ok"}


def test_429_asking_for_longer_than_the_budget_falls_back_at_once(fake: FakeOpenAI) -> None:
    fake.script(status(429, retry_after="120"), objective="Gamma")
    started = time.monotonic()
    records = review(parse_outline(SAMPLE_OUTLINE), local_engine(fake.url), concurrency=1).records()
    assert time.monotonic() - started < 3.0
    assert fake.count_for("Gamma") == 1
    assert_fallback(by_objective(records)["Gamma"], "429", "120 s")
    assert {r["status"] for r in records if r["objective"] != "Gamma"} == {"ok"}


def test_5xx_is_retried_with_backoff(fake: FakeOpenAI) -> None:
    fake.script(status(500), status(502), objective="Beta")
    records = review(parse_outline(SAMPLE_OUTLINE), local_engine(fake.url), concurrency=1).records()
    assert fake.count_for("Beta") == 3
    assert {r["status"] for r in records} == {"ok"}


def test_a_failing_objective_costs_at_most_five_requests_then_falls_back(fake: FakeOpenAI) -> None:
    fake.script(*[status(500)] * 10, objective="Beta")
    okrs = parse_outline(SAMPLE_OUTLINE)
    result = review(okrs, local_engine(fake.url), concurrency=1)
    groups = by_objective(result.records())

    assert fake.count_for("Beta") == 5
    assert_fallback(groups["Beta"], "HTTP 500", "gave up after 5 requests")
    assert [r["kr"] for r in groups["Beta"]] == [kr.kr for kr in okrs.objectives[1].krs]
    assert {r["status"] for r in groups["Alpha"] + groups["Gamma"]} == {"ok"}
    assert [r["objective"] for r in result.records()] == ["Alpha"] * 2 + ["Beta"] * 3 + ["Gamma"]
    assert result.summary()["fallbacks"] == 3


def test_reasks_and_network_retries_share_one_budget(fake: FakeOpenAI) -> None:
    fake.script(act("invent"), status(500), act("invent"), status(500), act("invent"), status(500), ok(),
                objective="Beta")
    records = review(parse_outline(SAMPLE_OUTLINE), local_engine(fake.url), concurrency=1).records()
    assert fake.count_for("Beta") == 5
    assert_fallback(by_objective(records)["Beta"])


def test_a_hang_past_the_timeout_is_bounded(fake: FakeOpenAI) -> None:
    fake.always(hang(10))
    policy = RetryPolicy(backoff=0.05, max_backoff=0.1, retry_seconds=2.0)
    started = time.monotonic()
    records = review(parse_outline("# Gamma\n- Get into the press\n"),
                     local_engine(fake.url, timeout=0.4, retry=policy)).records()
    elapsed = time.monotonic() - started
    assert 2 <= fake.count <= 5
    assert elapsed < policy.retry_seconds + 0.4 + 1.5, elapsed
    assert_fallback(records, "no answer within 0.4 s")


def test_a_dropped_connection_is_retried(fake: FakeOpenAI) -> None:
    fake.script(act("drop"), objective="Gamma")
    records = review(parse_outline(SAMPLE_OUTLINE), local_engine(fake.url)).records()
    assert fake.count_for("Gamma") == 2
    assert {r["status"] for r in records} == {"ok"}


def test_an_answer_cut_off_by_max_tokens_falls_back_with_the_reason(fake: FakeOpenAI) -> None:
    fake.script(act("length"), objective="Gamma")
    records = review(parse_outline(SAMPLE_OUTLINE), local_engine(fake.url)).records()
    assert fake.count_for("Gamma") == 1
    assert_fallback(by_objective(records)["Gamma"], "cut off")


def test_a_refused_connection_costs_seconds_not_minutes(llm_env: Path) -> None:
    """Default policy (real backoff): 30 objectives against a closed port."""
    url = f"http://127.0.0.1:{free_port()}/v1"
    eng = local_engine(url, retry=RetryPolicy())
    started = time.monotonic()
    result = review(parse_outline(many(30)), eng, concurrency=4)
    elapsed = time.monotonic() - started
    print(f"dead endpoint: 30 objectives fell back in {elapsed:.2f} s, {eng.stats}")
    assert elapsed < 10.0
    assert result.summary()["fallbacks"] == 60
    assert_fallback(result.records())
    assert any("connection to" in r["error"] and "ConnectError" in r["error"] for r in result.records())
    assert eng.stats["requests"] < 30, "the circuit breaker stopped the batch from hammering"


def test_the_breaker_opens_on_a_down_endpoint_and_the_rest_fall_back_fast(fake: FakeOpenAI) -> None:
    fake.always(status(503))
    policy = RetryPolicy(backoff=0.01, max_backoff=0.02, breaker_threshold=6)
    result = review(parse_outline(many(20)), local_engine(fake.url, retry=policy), concurrency=4)
    records = result.records()
    assert fake.count <= policy.breaker_threshold + 4
    assert_fallback(records, "HTTP 503")
    assert sum("not tried" in r["error"] for r in records) >= 2 * 14


def test_bad_key_is_fatal_at_once_and_never_echoed(fake: FakeOpenAI) -> None:
    key = "sk-test-SECRET-401-abcdef"
    fake.always(act("echo_auth"))
    result = review(parse_outline(many(6)), local_engine(fake.url, api_key=key), concurrency=1)
    records = result.records()
    assert fake.count == 1, "401 opens the circuit: no request per objective"
    assert_fallback(records, "authentication failed (HTTP 401)")
    assert "SECRET" not in json.dumps(records)


@pytest.mark.parametrize("code", [400, 500])
def test_a_rejected_mode_is_not_retried_and_says_which_modes_to_try(fake: FakeOpenAI, code: int) -> None:
    # llama-cpp-python answers 500 to json_schema: retrying the same shape cannot help
    fake.always(status(code, body={"error": {"message": "response_format json_schema is not supported"}}))
    records = review(parse_outline("# Gamma\n- Get into the press\n"),
                     local_engine(fake.url, mode="json_schema")).records()
    assert fake.count == 1
    assert_fallback(records, f"HTTP {code}", "not supported", "KRCOACH_LLM_MODE=json_schema", "try tools, json")


def test_a_plain_400_is_not_retried(fake: FakeOpenAI) -> None:
    fake.always(status(400, body={"error": {"message": "context length exceeded"}}))
    records = review(parse_outline("# Gamma\n- Get into the press\n"), local_engine(fake.url)).records()
    assert fake.count == 1
    assert_fallback(records, "HTTP 400", "context length exceeded")


@pytest.mark.parametrize("code", [500, 503])
def test_a_single_failing_objective_does_not_open_the_breaker_for_others(fake: FakeOpenAI, code: int) -> None:
    fake.script(*[status(code)] * 5, objective="Alpha")
    policy = RetryPolicy(backoff=0.01, max_backoff=0.02, breaker_threshold=6)
    records = review(parse_outline(SAMPLE_OUTLINE), local_engine(fake.url, retry=policy), concurrency=1).records()
    groups = by_objective(records)
    assert_fallback(groups["Alpha"])
    assert {r["status"] for r in groups["Beta"] + groups["Gamma"]} == {"ok"}
