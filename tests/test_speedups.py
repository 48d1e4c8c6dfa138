"""The rules engine's speed-ups must not change a single answer.

`fastre.compile` adds a first-character guard to a regex; the shared phrase scan answers many word
lists in one pass; large batches pause the cyclic garbage collector. Each is checked here against
the plain behaviour it replaces, on the eval set's real texts.
"""

from __future__ import annotations

import gc
import json
import re
import weakref

import pytest

from conftest import ROOT
from krcoach import anatomy, coach, fastre, rules
from krcoach.lexicon import PhraseMatcher, SharedScan, lexicon
from krcoach.models import KeyResult, Objective, OKRSet

TEXTS = [json.loads(line)["kr"] for line in (ROOT / "evals" / "krs.jsonl").read_text().splitlines()]
TEXTS += ["", "   ", "x", "≥ 95%", "By Q3 2026", "[target] by [date]", "ÜBER 10% mehr", "İstanbul 5k"]


def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    found = []
    for module in (anatomy, rules):
        found += [(f"{module.__name__}.{k}", v) for k, v in vars(module).items() if isinstance(v, re.Pattern)]
    return found + [("lexicon.injection", lexicon().injection)]


@pytest.mark.parametrize(("name", "compiled"), _patterns(), ids=lambda v: v if isinstance(v, str) else "")
def test_guarded_patterns_find_exactly_what_the_plain_ones_find(name: str, compiled: re.Pattern[str]) -> None:
    pattern = compiled.pattern
    if pattern.startswith("(?=["):  # the guarded form: recover the original
        pattern = pattern[pattern.index("])(?:") + 5:-1]
    plain = re.compile(pattern, compiled.flags)
    guarded = fastre.compile(pattern, compiled.flags)
    for text in TEXTS:
        assert [m.span() for m in plain.finditer(text)] == [m.span() for m in guarded.finditer(text)], text
        assert [m.groupdict() for m in plain.finditer(text)] == [m.groupdict() for m in guarded.finditer(text)]


@pytest.mark.parametrize(("pattern", "guarded"), [
    (r"\b(?:over|under)\s+\d+", True),        # alternation of words: guarded
    (r"(?i:over)\s+\d", False),               # inline flags would change the guard's meaning
    (r"[^a-z]+x", False),                     # negated class: no useful guard
    (r".x", False),                           # any character: nothing to guard
    (r"^(?:the|a)\s+", False),                # anchored: already one position
    (r"(?:a|b)?", False),                     # can match empty: a guard would lose matches
])
def test_the_guard_is_added_only_where_it_is_safe(pattern: str, guarded: bool) -> None:
    compiled = fastre.compile(pattern, re.I)
    assert compiled.pattern.startswith("(?=[") is guarded
    for text in ("over 10", "OVER 10", "Under 3", "xx", "the cat", "", "b", "9x"):
        assert [m.span() for m in compiled.finditer(text)] == [m.span() for m in re.finditer(pattern, text, re.I)]


def test_a_guard_of_a_case_insensitive_pattern_keeps_both_cases() -> None:
    compiled = fastre.compile(r"\bover\s+\d+", re.I)
    assert compiled.search("OVER 50 teams").group(0) == "OVER 50"


def test_the_shared_scan_matches_each_list_scanned_alone() -> None:
    lex = lexicon()
    matchers = {k: v for k, v in vars(lex).items() if isinstance(v, PhraseMatcher)}
    assert len(matchers) >= 10 and all(m.shared is not None for m in matchers.values())
    for text in TEXTS:
        for name, matcher in matchers.items():
            shared = [(m.start(), m.end()) for m in matcher.finditer(text)]
            keep, matcher.shared = matcher.shared, None
            try:
                alone = [(m.start(), m.end()) for m in matcher.finditer(text)]
            finally:
                matcher.shared = keep
            assert shared == alone, (name, text)


def test_overlapping_lists_each_get_their_longest_match() -> None:
    short, long_ = PhraseMatcher(["customer"]), PhraseMatcher(["customer interviews", "interviews"])
    SharedScan().share([short, long_])
    text = "Hold 5 customer interviews"
    assert [m.group(0) for m in short.finditer(text)] == ["customer"]
    assert [m.group(0) for m in long_.finditer(text)] == ["customer interviews"]


def _okrs(n: int) -> OKRSet:
    krs = [KeyResult(id=str(i), kr=f"{TEXTS[i % 400]} ({i})") for i in range(n)]
    return OKRSet(objectives=[Objective(title=f"Objective {i}", krs=krs[i:i + 4]) for i in range(0, n, 4)])


def test_a_large_batch_pauses_the_collector_and_restores_it() -> None:
    assert gc.isenabled()
    seen = [gc.isenabled() for _ in coach.iter_review(_okrs(coach.NO_GC_BATCH), "rules")]
    assert seen and not any(seen)  # paused while the batch ran
    assert gc.isenabled()          # and back afterwards
    assert all(_ for _ in coach.iter_review(_okrs(8), "rules"))  # small batches leave it alone


def test_an_abandoned_batch_restores_the_collector() -> None:
    stream = coach.iter_review(_okrs(coach.NO_GC_BATCH), "rules")
    next(stream)
    assert not gc.isenabled()
    stream.close()
    assert gc.isenabled()


def test_the_collector_stays_off_if_the_caller_turned_it_off() -> None:
    gc.disable()
    try:
        list(coach.iter_review(_okrs(coach.NO_GC_BATCH), "rules"))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_objects_frozen_by_the_program_stay_frozen() -> None:
    keep = [{"frozen": i} for i in range(100)]
    gc.freeze()
    try:
        assert gc.get_freeze_count() >= len(keep)
        list(coach.iter_review(_okrs(coach.NO_GC_BATCH), "rules"))
        assert gc.get_freeze_count() >= len(keep) and gc.isenabled()  # not unfrozen by us
    finally:
        gc.unfreeze()


def test_a_batch_leaves_nothing_frozen_and_cycles_are_still_collected() -> None:
    class Node:
        pass

    node = Node()
    node.me = node  # a cycle: only the collector can free it
    probe = weakref.ref(node)
    stream = coach.iter_review(_okrs(coach.NO_GC_BATCH), "rules")
    next(stream)    # the collector is paused now
    del node        # garbage while paused
    list(stream)
    assert gc.get_freeze_count() == 0
    assert probe() is not None  # nothing collected it during the batch...
    gc.collect()
    assert probe() is None      # ...and it was not hidden from the collector afterwards
