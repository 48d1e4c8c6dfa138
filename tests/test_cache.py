"""The answer cache: a second run sends nothing, any change that matters misses, no key on disk."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fake_openai import (
    FAKE_MODEL,
    SAMPLE_OUTLINE,
    FakeOpenAI,
    act,
    local_engine,
    status,
)

from krcoach.llm.cache import AnswerCache, cache_dir, cache_info, clear_cache, make_key
from krcoach.coach import review
from krcoach.formats import parse_outline
from krcoach.llm.engine import LLMEngine

KEY = "sk-test-CACHE-SECRET-777"


def cached_engine(fake: FakeOpenAI, **kw: object) -> LLMEngine:
    """An engine with the answer cache on (tests get a fresh cache dir from `llm_env`)."""
    return local_engine(fake.url, **{"api_key": KEY, "cache": AnswerCache(), **kw})


def test_second_run_of_the_same_batch_sends_no_request(fake: FakeOpenAI, llm_env: Path) -> None:
    okrs = parse_outline(SAMPLE_OUTLINE)
    first = review(okrs, cached_engine(fake)).records()
    assert fake.count == 3
    again = cached_engine(fake)  # a new process would build a new engine too
    second = review(okrs, again).records()
    assert fake.count == 3
    assert second == first
    assert again.stats == {"requests": 0, "cache_hits": 3, "fallbacks": 0, "reasks": 0}
    assert cache_dir() == llm_env and llm_env.exists()


def test_editing_one_kr_misses_only_its_objective(fake: FakeOpenAI) -> None:
    review(parse_outline(SAMPLE_OUTLINE), cached_engine(fake))
    edited = SAMPLE_OUTLINE.replace("Hold 5 customer interviews", "Hold 6 customer interviews")
    review(parse_outline(edited), cached_engine(fake))
    assert fake.count == 4 and fake.requests[-1].objective == "Beta"


def test_anything_that_changes_the_answer_changes_the_key(fake: FakeOpenAI) -> None:
    okrs = parse_outline(SAMPLE_OUTLINE)
    review(okrs, cached_engine(fake))
    assert fake.count == 3
    variants = [
        cached_engine(fake, model="another-model"),
        cached_engine(fake, mode="tools"),
        cached_engine(fake, temperature=0.0),
        cached_engine(fake, base_url=fake.url.replace("127.0.0.1", "localhost")),
    ]
    edited_prompt = cached_engine(fake)
    edited_prompt.prompt = dataclasses.replace(edited_prompt.prompt, sha256="0" * 64)
    bumped_prompt = cached_engine(fake)
    bumped_prompt.prompt = dataclasses.replace(bumped_prompt.prompt, version="999")
    for i, eng in enumerate([*variants, edited_prompt, bumped_prompt], start=1):
        review(okrs, eng)
        assert fake.count == 3 + 3 * i, f"variant {i} was served from the cache"


def test_the_key_does_not_depend_on_the_api_key(fake: FakeOpenAI) -> None:
    okrs = parse_outline(SAMPLE_OUTLINE)
    review(okrs, cached_engine(fake, api_key="sk-test-one"))
    review(okrs, cached_engine(fake, api_key="sk-test-two"))
    assert fake.count == 3


def test_no_cache_sends_every_time(fake: FakeOpenAI, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    okrs = parse_outline(SAMPLE_OUTLINE)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
    monkeypatch.setenv("KRCOACH_MODEL", FAKE_MODEL)
    eng = LLMEngine.from_env(use_cache=False)
    assert eng.cache is None
    review(okrs, eng)
    review(okrs, eng)
    assert fake.count == 6
    assert LLMEngine.from_env().cache is not None


def test_fallbacks_are_not_cached(fake: FakeOpenAI) -> None:
    okrs = parse_outline(SAMPLE_OUTLINE)
    fake.script(*[status(500)] * 5, objective="Gamma")
    first = review(okrs, cached_engine(fake), concurrency=1).records()
    assert first[-1]["status"] == "fallback"
    second = review(okrs, cached_engine(fake), concurrency=1).records()
    assert second[-1]["status"] == "ok" and second[-1]["engine"] == "llm"
    assert fake.count_for("Gamma") == 6 and fake.count_for("Alpha") == 1


def test_a_cached_answer_that_no_longer_validates_is_asked_again(fake: FakeOpenAI) -> None:
    okrs = parse_outline(SAMPLE_OUTLINE)
    eng = cached_engine(fake)
    review(okrs, eng)
    key = eng._cache_key(okrs.objectives[0])
    bad = eng.cache.get(key)
    bad["answer"]["key_results"][0]["rewrites"][0]["target"] = "424242"
    eng.cache.set(key, bad)
    records = review(okrs, cached_engine(fake)).records()
    assert fake.count == 4 and "424242" not in str(records)


def test_cache_info_and_clear(fake: FakeOpenAI, llm_env: Path) -> None:
    assert cache_info() == {"path": str(llm_env), "entries": 0, "size_bytes": 0}
    assert not llm_env.exists(), "looking does not create the directory"
    assert clear_cache() == 0
    review(parse_outline(SAMPLE_OUTLINE), cached_engine(fake))
    info = cache_info()
    assert info["entries"] == 3 and info["size_bytes"] > 0 and info["path"] == str(llm_env)
    assert clear_cache() == 3
    assert cache_info()["entries"] == 0
    review(parse_outline(SAMPLE_OUTLINE), cached_engine(fake))
    assert fake.count == 6


def test_the_api_key_is_never_on_disk(fake: FakeOpenAI, llm_env: Path) -> None:
    fake.script(act("invent"), objective="Alpha")
    review(parse_outline(SAMPLE_OUTLINE), cached_engine(fake))
    files = [p for p in llm_env.rglob("*") if p.is_file()]
    assert files
    for p in files:
        data = p.read_bytes()
        assert b"CACHE-SECRET" not in data and b"sk-test" not in data, p


def test_make_key_is_stable_and_sensitive() -> None:
    base = {"model": "m", "input": {"objective": "O", "krs": ["a", "b"]}}
    assert make_key(**base) == make_key(**dict(reversed(list(base.items()))))
    assert make_key(**base) != make_key(model="m", input={"objective": "O", "krs": ["b", "a"]})
    assert len(make_key(**base)) == 64
