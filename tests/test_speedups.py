"""The rules engine's speed-ups must not change a single answer.

Each one is checked here against the plain behaviour it replaces, on the eval set's and the
development set's real texts, their variations, and odd ones (case, Unicode that folds to ASCII):

- `fastre`: patterns compiled on first use, with a first-character guard, a lower-case twin and
  needed-strings test for case-insensitive alternations, compiled code kept between runs, and
  searches tried only near digits;
- plain-string tests in place of patterns built from a KR's own words;
- the shared phrase scan (a trie over every word list) and its one tokenization per text;
- `KRReview.record()` without pydantic's serializer, and the CLI's streamed summary counts;
- large batches pause the cyclic garbage collector.

`tests/test_rules_fingerprint.py` checks the engine's records as a whole.
"""

from __future__ import annotations

import gc
import json
import random
import re
import weakref
from re import _parser as P  # noqa: N812

import pytest

from conftest import ROOT
from krcoach import coach
from krcoach.rules import anatomy
from krcoach.rules import fastre
from krcoach.rules import lexicon as lexmod
from krcoach.rules import quantities
from krcoach.engine import ReviewContext
from krcoach.rules import engine as rules
from krcoach.rules import evidence, intents, issues, rewrites, shapes, verdict, whys, wording
from krcoach.rules.lexicon import PhraseMatcher, SharedScan, catalogue_index, lexicon
from krcoach.models import KeyResult, KRReview, Objective, OKRSet

DEV = ROOT.parent / "shared" / "data" / "dev_krs.jsonl"
_BASE = [json.loads(line)["kr"] for line in (ROOT / "evals" / "krs.jsonl").read_text().splitlines()]
if DEV.exists():
    _BASE += [json.loads(line)["kr"] for line in DEV.read_text().splitlines() if line.strip()]
_ODD = ["", "   ", "x", "≥ 95%", "By Q3 2026", "[target] by [date]", "ÜBER 10% mehr", "İstanbul 5k", "ſtart 5 ſessions",
        "KELVIN 5 K", "ıncrease 10 users", "Grow from X% to Y% by TBD", "10-20 → 30", "CHF 10k (currently ~5k)",
        "-5% churn vs 2024", "Reach 2000 Twitter followers", "p95 < 300ms", "NPS 32 → 45 among admins"]
TEXTS = _BASE + [t.upper() for t in _BASE[::7]] + [t.lower() for t in _BASE[3::7]] + _ODD
# Non-ASCII text, where a case-insensitive pattern has no twin but may still answer "no match"
# from its needed strings: list markers and dashes, and the letters `re.I` folds to ASCII ones.
TEXTS += [f"• {t} — owner: Sam" for t in _BASE[1::9]] + [t.replace("s", "ſ") for t in _BASE[2::11]] + \
    [t.replace("k", "\u212a") for t in _BASE[4::11]] + [t.replace("i", "\u0131") for t in _BASE[5::11]] + \
    [t.replace("I", "\u0130") + " →" for t in _BASE[6::11]]


def _module_patterns() -> list[tuple[str, fastre.Pattern]]:
    found = []
    for module in (shapes, anatomy, quantities, evidence, verdict, wording, intents, rewrites, whys, issues, rules, lexmod):
        found += [(f"{module.__name__}.{k}", v) for k, v in vars(module).items() if isinstance(v, fastre.Pattern)]
    lex = lexicon()
    found += [(f"lexicon().{k}", v) for k, v in vars(lex).items() if isinstance(v, fastre.Pattern)]
    return found


PATTERNS = _module_patterns()


def _plain(p: fastre.Pattern) -> re.Pattern[str]:
    pattern, flags, _guard, _fold = p._source
    return re.compile(pattern, flags)


def _same_matches(a: re.Match[str] | None, b: re.Match[str] | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.span(), a.groups(), a.groupdict(), a.lastgroup, a.lastindex) == \
        (b.span(), b.groups(), b.groupdict(), b.lastgroup, b.lastindex)


@pytest.mark.parametrize(("name", "pattern"), PATTERNS, ids=[n for n, _ in PATTERNS])
def test_every_pattern_finds_exactly_what_the_plain_one_finds(name: str, pattern: fastre.Pattern) -> None:
    """Guard, twin and needed strings (promoted at once here), against `re.compile` of the source."""
    plain = _plain(pattern)
    pattern.promote()
    for text in TEXTS:
        assert _same_matches(pattern.search(text), plain.search(text)), (name, text)
        assert _same_matches(pattern.match(text), plain.match(text)), (name, text)
        got, want = list(pattern.finditer(text)), list(plain.finditer(text))
        assert len(got) == len(want) and all(_same_matches(g, w) for g, w in zip(got, want)), (name, text)
        assert pattern.findall(text) == plain.findall(text), (name, text)
        assert pattern.sub("<>", text) == plain.sub("<>", text), (name, text)
        assert pattern.split(text) == plain.split(text), (name, text)
        if len(text) > 12:  # a window, as the quantity reader searches
            assert _same_matches(pattern.search(text, 3, len(text) - 4), plain.search(text, 3, len(text) - 4))


@pytest.mark.parametrize(("pattern", "guarded"), [
    (r"\b(?:over|under)\s+\d+", True),        # alternation of words: guarded
    (r"(?i:over)\s+\d", False),               # inline flags would change the guard's meaning
    (r"[^a-z]+x", False),                     # negated class: no useful guard
    (r".x", False),                           # any character: nothing to guard
    (r"^(?:the|a)\s+", False),                # anchored: already one position
    (r"(?:a|b)?", False),                     # can match empty: a guard would lose matches
])
def test_the_guard_is_added_only_where_it_is_safe(pattern: str, guarded: bool) -> None:
    assert (fastre._guard(P.parse(pattern, re.I)) is not None) is guarded
    compiled = fastre.compile(pattern, re.I)
    for text in ("over 10", "OVER 10", "Under 3", "xx", "the cat", "", "b", "9x"):
        assert [m.span() for m in compiled.finditer(text)] == [m.span() for m in re.finditer(pattern, text, re.I)]


def test_a_guard_of_a_case_insensitive_pattern_keeps_both_cases() -> None:
    compiled = fastre.compile(r"\bover\s+\d+", re.I)
    assert compiled.search("OVER 50 teams").group(0) == "OVER 50"


def test_the_non_ascii_letters_that_fold_to_ascii_ones_are_all_known() -> None:
    """The twin runs only on ASCII text; a pattern holding a letter that `re.I` equates with an ASCII
    one would match differently there, so `fastre` refuses a twin for those. The list must be whole."""
    folds = set()
    letters = [ord(c) for c in "abcdefghijklmnopqrstuvwxyz"]
    for code in range(0x80, 0x110000):
        ch = chr(code)
        if ch.lower() != ch or ch.upper() != ch or code in (0x17F, 0x131):
            if any(re.fullmatch(re.escape(ch), chr(a), re.I) for a in letters):
                folds.add(code)
    assert folds == set(fastre.FOLDS_TO_ASCII)


@pytest.mark.parametrize("pattern", [r"\bk\w+", r"[a-z]+s\b", r"(?:start|stop)\s+\d", r"[K-M]x"])
def test_no_twin_for_a_pattern_with_a_letter_that_folds_to_ascii(pattern: str) -> None:
    twin = fastre.twin(pattern + "|\u212a", re.I, min_alternatives=0)
    assert twin is None


def test_patterns_compile_on_first_use_and_promote_after_a_few_searches() -> None:
    p = fastre.compile(r"\b(?:alpha|beta|gamma|delta|epsilon)\s+\d+", re.I)
    assert "compiled" not in p.__dict__  # nothing compiled at definition
    for _ in range(fastre.PROMOTE_AFTER + 1):
        assert p.search("ALPHA 12").group(0) == "ALPHA 12"
    assert p.twin is not None and p.search("x Gamma 3").group(0) == "Gamma 3"


def test_compiled_code_kept_between_runs_is_the_same_pattern(tmp_path, monkeypatch) -> None:
    cache = fastre.CodeCache()
    monkeypatch.setattr(cache, "_path", lambda: str(tmp_path / "codes.json"))
    monkeypatch.setattr(fastre.sys, "dont_write_bytecode", False)
    monkeypatch.setattr(fastre, "CODES", cache)
    sources = [(p._source[0], int(p._source[1]), p._source[2]) for _, p in PATTERNS]
    first = {key: fastre._compile(*key) for key in sources}
    cache.save()
    reloaded = fastre.CodeCache()
    monkeypatch.setattr(reloaded, "_path", lambda: str(tmp_path / "codes.json"))
    monkeypatch.setattr(fastre, "CODES", reloaded)
    for key in sources:
        (again, nullable), (compiled, was_nullable) = fastre._compile(*key), first[key]
        assert nullable == was_nullable and again.groupindex == compiled.groupindex
        for text in TEXTS[::5]:
            assert _same_matches(again.search(text), compiled.search(text)), (key[0], text)
    (tmp_path / "codes.json").write_text("[[1, 2, 3]]")  # damaged: compiled afresh, no error
    broken = fastre.CodeCache()
    monkeypatch.setattr(broken, "_path", lambda: str(tmp_path / "codes.json"))
    assert broken.get(sources[0]) is None


@pytest.mark.parametrize("pattern", ["NUMBER_RE", "QTY_RE"])
def test_searching_only_near_digits_finds_every_match(pattern: str) -> None:
    compiled = getattr(anatomy if pattern == "NUMBER_RE" else quantities, pattern)
    lead = anatomy._NUMBER_LEAD if pattern == "NUMBER_RE" else quantities._LEAD_MAX
    rnd = random.Random(5)
    extra = ["".join(rnd.choice("0123456789 ,.-$€kKmM%xX/:+CHFUSD") for _ in range(rnd.randint(1, 40))) for _ in range(3000)]
    for text in TEXTS + extra:
        got = fastre.digit_led(compiled.match, text, lead)
        want = list(_plain(compiled).finditer(text))
        assert [(m.span(), m.groupdict()) for m in got] == [(m.span(), m.groupdict()) for m in want], text


def test_the_arrow_free_from_to_pattern_finds_what_the_whole_one_finds() -> None:
    for text in TEXTS:
        assert _same_matches(anatomy.from_to_search(text), _plain(anatomy.FROM_TO_RE).search(text)), text


def test_the_metric_head_prefilter_never_skips_a_match() -> None:
    """`anatomy._may_name_a_head` answers False only where `_METRIC_HEAD_RE` finds nothing."""
    plain = _plain(anatomy._METRIC_HEAD_RE)
    skipped = 0
    for text in TEXTS + [t.replace("s", "ſ") for t in TEXTS[::13]] + ["p95 latency", "P99 Latency", "Time to hire"]:
        if not anatomy._may_name_a_head(text):
            skipped += 1
            assert plain.search(text) is None, text
    assert skipped > len(TEXTS) // 4  # it does skip most texts


def _word_gates() -> list[tuple[str, lexmod.WordGate]]:
    found = []
    for module in (anatomy, evidence, verdict):
        found += [(f"{module.__name__}.{k}", v) for k, v in vars(module).items() if isinstance(v, lexmod.WordGate)]
    return found


WORD_GATES = _word_gates()


def _gate_texts(gate: lexmod.WordGate, rnd: random.Random, n: int) -> list[str]:
    """Adversarial texts for a gate: its pattern's own words and the gate's, in random order and
    case, joined by spaces and by the characters a token may hold inside ("power-users",
    "x'by", "users/teams", "c++users"), with digits and percent signs, and with letters that
    `re.I` folds to ASCII ones."""
    vocab = sorted(set(re.findall(r"[A-Za-z]+", gate.pattern.pattern)) |
                   {w for sets in gate.alternatives for ws in sets for w in ws})
    joins = [" ", " ", " ", "  ", "-", "'", "’", "/", ".", ":", "+", "_", ", ", " 5% of ", " 12 ", "\n"]
    out = []
    for _ in range(n):
        parts = [rnd.choice(vocab) for _ in range(rnd.randint(2, 8))]
        text = "".join(p + rnd.choice(joins) for p in parts).strip()
        text = rnd.choice([text, text.upper(), text.title(), text.replace("s", "ſ"), text.replace("k", "\u212a")])
        out.append(text)
    return out


def _varied_texts() -> list[str]:
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    from corpus import varied_rows

    return [r["kr"] for r in varied_rows(20_000)] if DEV.exists() else []


@pytest.mark.parametrize(("name", "gate"), WORD_GATES, ids=[n for n, _ in WORD_GATES])
def test_a_closed_word_gate_means_no_match(name: str, gate: lexmod.WordGate) -> None:
    """Where a gate's words are missing, the plain pattern finds nothing: on the real and varied
    KRs (as the parser cleans them), their odd forms, and texts built from the pattern's words."""
    plain = _plain(gate.pattern)
    texts = TEXTS + [shapes.clean_kr(t) for t in _VARIED] + _gate_texts(gate, random.Random(name), 4000)
    closed = matched = 0
    for text in texts:
        if not gate.open(text):
            closed += 1
            assert plain.search(text) is None, text
        elif plain.search(text):
            matched += 1
        assert _same_matches(gate.search(text), plain.search(text)), text
    assert closed > len(texts) // 3 and matched > 0  # the gate closes often; the texts do match


def test_whole_words_are_the_runs_of_word_characters() -> None:
    for text in TEXTS + ["power-users can", "x'by Q3", "c++users", "a_b c", "ÜBER-users", "İstanbul", "uſers can"]:
        words = lexmod.whole_words(text)
        if any(c in text for c in fastre.FOLDING):
            assert words is None
        else:
            assert words == frozenset(re.findall(r"\w+", text.lower())), text


_VARIED = _varied_texts()


def test_plain_string_tests_answer_as_the_patterns_they_replace() -> None:
    texts = TEXTS[::5]
    pool = sorted({w for t in texts for w in re.findall(r"[\w'’.-]+|\S", t)})
    rnd = random.Random(3)
    for text in texts:
        low = text.lower()
        # the text's own words (found, in and out of place) and others (not found)
        words = re.findall(r"[\w'’.-]+|\S", text) + rnd.sample(pool, 12) + ["-", "a-", "Q3", "p95", "e.g.", "$"]
        for w in words:
            if w:
                assert wording._whole_word(low, w.lower()) == bool(re.search(rf"\b{re.escape(w.lower())}\b", low))
                assert wording._inside_word(text, w) == bool(re.search(rf"(?<!^)(?<![.!?]\s)\b{re.escape(w)}\b", text))
                assert any(i >= 2 and text[i - 1] == " " and text[i - 2] in wording._LOWER_OR_COMMA
                           and fastre.boundary(text, i + len(w)) for i in fastre.occurrences(text, w)) == \
                    bool(re.search(rf"(?<=[a-z,;:] ){re.escape(w)}\b", text))
        for cmp_ in ("at least", "under", "≥", "more than", "Above"):
            for target in ("10", "95%", "$5k", "X", "TBD"):
                assert wording._compared_as_written(text, cmp_, target) == bool(
                    re.search(rf"(?<![\w]){re.escape(cmp_)}\s*{re.escape(target)}", text, re.I)), (text, cmp_, target)
        for num in ("5", "95", "30", "1.5", "2026"):
            assert quantities._in_metric_words(num, text, "") == bool(
                re.search(rf"[A-Za-z]{re.escape(num)}\b|\b{re.escape(num)}-[a-z]", text)), (text, num)


def test_the_shared_scan_matches_each_list_scanned_alone() -> None:
    lex = lexicon()
    matchers = {k: v for k, v in vars(lex).items() if isinstance(v, PhraseMatcher)}
    matchers["catalogue"] = catalogue_index()[0]
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


def _match_by_walking(matcher: PhraseMatcher, text: str, pos: int, skip: int | None) -> tuple[int, int] | None:
    """`match` and `match_within` as they were: a walk over the tokens from the start."""
    toks = lexmod._tokens(text)
    words = tuple(t for t, _, _ in toks)
    if skip is None:
        for i, (_, start, _) in enumerate(toks):
            if start == pos:
                n = matcher._at(words, i)
                return (start, toks[i + n - 1][2]) if n else None
            if start > pos:
                return None
        return None
    first = next((i for i, (_, start, _) in enumerate(toks) if start >= pos), None)
    if first is None:
        return None
    for i in range(first, min(first + skip + 1, len(toks))):
        n = matcher._at(words, i)
        if n:
            return toks[i][1], toks[i + n - 1][2]
    return None


def test_phrase_matches_at_a_position_are_those_of_a_walk_over_the_tokens() -> None:
    lex = lexicon()
    for text in TEXTS[::4]:
        for pos in range(0, len(text) + 1, 3):
            for matcher in (lex.deliverables, lex.actors, lex.results):
                m = matcher.match(text, pos)
                assert (m and (m.start(), m.end())) == _match_by_walking(matcher, text, pos, None)
                w = matcher.match_within(text, pos, 2)
                assert (w and (w.start(), w.end())) == _match_by_walking(matcher, text, pos, 2)


def test_overlapping_lists_each_get_their_longest_match() -> None:
    short, long_ = PhraseMatcher(["customer"]), PhraseMatcher(["customer interviews", "interviews"])
    SharedScan().share([short, long_])
    text = "Hold 5 customer interviews"
    assert [m.group(0) for m in short.finditer(text)] == ["customer"]
    assert [m.group(0) for m in long_.finditer(text)] == ["customer interviews"]


def test_a_record_is_what_pydantic_would_dump() -> None:
    engine = rules.RulesEngine()
    reviews = [kr for i, text in enumerate(TEXTS[:300])
               for kr in engine.review_objective(Objective(title="Grow", krs=[KeyResult(
                   id=str(i), kr=text or "x", owner="Ana" if i % 3 else None, extra={"tier": "a", "kind": "ignored"})]),
                   ReviewContext(set_uses_owners=True))]
    reviews.append(KRReview(id="9", kr="Ship it", kind="output", why="w", engine="llm", model="m", status="fallback",
                            error="e", notes=["n"], issues=[{"code": "activity", "message": "m"}],
                            rewrites=[{"text": "t", "metric": "m", "assumptions": ["a"]}], extra={"x": "1"}))
    for kr in reviews:
        want = kr.model_dump(mode="json", exclude={"extra"})
        for k, v in kr.extra.items():
            want.setdefault(k, v)
        assert json.dumps(kr.record()) == json.dumps(want)


def test_the_streamed_summary_counts_what_the_whole_review_counts() -> None:
    from krcoach import checks
    from krcoach.cli import _Tally

    result = coach.review(_okrs(240), "rules")
    tally = _Tally()
    for objective in result.objectives:
        tally.add(objective)
    tally.findings(checks.set_findings(_okrs(240)))
    assert tally.summary() == result.summary()
    assert tally.problems.most_common(3) == result.common_problems()
    assert tally.code_counts(result) == result.code_counts()


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
