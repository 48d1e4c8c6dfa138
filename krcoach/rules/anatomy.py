"""Deterministic anatomy of a key result: what it measures, from where, to where, by when.

This is shared truth for both engines. The rules engine classifies from it; the llm engine's
validators use it to refuse rewrites that are not metric/from/to/by or that carry numbers the draft
does not contain. It must be fast (the rules engine reviews thousands of KRs per second) and must
never guess a number: what it cannot find stays None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from krcoach.rules import fastre
from krcoach.rules.lexicon import PhraseMatcher, lexicon, WordGate, words
from krcoach.rules.quantities import Reading, read, word_delta_target

# The shapes both readers share (`shapes`), also read from here by the llm validators, the eval
# and the plan checks, as they were before the shapes had a module of their own.
from krcoach.rules.shapes import (  # noqa: F401 - re-exported
    clean_kr,
    cmp_match,
    CMP_RE,
    _CUR,
    deadline_match,
    DEADLINE_RE,
    from_to_match,
    FROM_TO_RE,
    from_to_search,
    _GOAL_SPLIT,
    _MAX_CMP_RE,
    _NOT_NOUN,
    _NUMBER_LEAD,
    NUMBER_RE,
    PLACEHOLDER_RE,
    split_goals,
    _to_float,
    _VAL,
    _verb_after_group,
    WORD_NUMBERS,
)

# ------------------------------------------------------------------------------------ numbers

_MULT = {"k": 1e3, "m": 1e6, "mm": 1e6, "mn": 1e6, "bn": 1e9, "b": 1e9, "thousand": 1e3,
         "million": 1e6, "billion": 1e9}
_WORD_NUMBER_RE = fastre.compile(r"\b(" + "|".join(sorted(WORD_NUMBERS, key=len, reverse=True)) + r")\b",
                             re.I)
#: Each written number's last word stands between `\b` (or the space of "a dozen") and `\b`.
_WORD_NUMBER = WordGate(_WORD_NUMBER_RE, (frozenset(w.split()[-1] for w in WORD_NUMBERS),))


def _canon(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def numbers_in(text: str) -> set[str]:
    """Canonical numeric values written in `text`, placeholders excluded.

    Both the number as written and its expanded value are included ("50k" -> {"50", "50000"}),
    so that a rewrite writing either form counts as quoting the draft.
    """
    text = PLACEHOLDER_RE.sub(" ", text)
    return _values(NUMBER_RE.finditer(text), _WORD_NUMBER_RE.finditer(text))


def _values(numbers, word_numbers) -> set[str]:  # type: ignore[no-untyped-def]
    out: set[str] = set()
    for m in numbers:
        value = _to_float(m.group("num"))
        if value is None:
            continue
        out.add(_canon(value))
        mult = (m.group("mult") or "").strip().lower()
        if mult in _MULT:
            out.add(_canon(value * _MULT[mult]))
    for m in word_numbers:
        out.add(_canon(WORD_NUMBERS[m.group(1).lower()]))
    return out


_ZERO_WORDS = fastre.lazy(r"\b(?:zero|no|none|never|nothing|nobody|eliminat\w*)\b", re.I)
_ALL_WORDS = fastre.lazy(r"\b(?:all|every|each|entire(?:ly)?)\b", re.I)
_DIGITS_RE = fastre.lazy(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?")


def invented_numbers(candidate: str, *sources: str) -> set[str]:
    """Numbers in `candidate` (outside placeholders) that none of `sources` contains."""
    allowed: set[str] = set()
    for s in sources:
        allowed |= numbers_in(s)
        # Numbers the reader does not take as quantities are still the draft's own: the 10 of a
        # "8/10" scale, the 20 of "10-20", the 3 of "v3". Only a number written nowhere is invented.
        allowed |= {_canon(v) for m in _DIGITS_RE.finditer(s) if (v := _to_float(m.group(0))) is not None}
        # "Zero fines", "no fatal errors" is a level of 0; "all new products", "every service" 100%.
        if _ZERO_WORDS.search(s):
            allowed.add("0")
        if _ALL_WORDS.search(s):
            allowed.add("100")
    # Word numbers ("two") in a rewrite are rare and usually harmless; check digits only.
    found = {_canon(v) for m in NUMBER_RE.finditer(PLACEHOLDER_RE.sub(" ", candidate))
             if (v := _to_float(m.group("num"))) is not None}
    return found - allowed
_LEVEL_RE = fastre.lazy(rf"\s(?:of|at|=|:)\s+(?={_VAL})", re.I)
TO_RE = fastre.lazy(rf"\b(?:to|of|at|hit|reach(?:es|ing)?|=|:)\s+(?P<val>{_VAL})", re.I)
BY_DELTA_RE = fastre.lazy(
    rf"\bby\s+(?P<val>(?:{_CUR}\s?)?\d[\d,.]*\s?(?:k|M)?\s?(?:%|x|pp|pts?|points?|percent)?)(?!\s*(?:/|-)\d)",
    re.I)
RATE_RE = fastre.compile(
    r"(?:\bper\s+(?:day|week|month|quarter|year|user|customer|release|sprint)|/\s?(?:day|week|wk|month|mo|"
    r"quarter|qtr|year|yr)\b|\b(?:a|each|every)\s+(?:day|week|month|quarter|year)\b|\b(?:daily|weekly|monthly|"
    r"quarterly|annual|annually|yearly)\b)",
    re.I,
)
#: "per" between `\b` and `\s+` (the unit after it may go on: "per days"); the unit after "/" or
#: "/ " and before `\b`; "a"/"each"/"every" ... before `\b` ("day" etc., among the units); the
#: adverb between `\b` and `\b`.
_RATE = WordGate(
    RATE_RE, (words("per"),), (words("day week wk month mo quarter qtr year yr"),),
    (words("daily weekly monthly quarterly annual annually yearly"),))
_WORD_RE = fastre.lazy(r"[A-Za-zÀ-ÿ][\w'’/-]*")
_STOP_METRIC = fastre.lazy(
    # "time to hire" / "time to first value" name a metric: that "to" does not end it.
    r"(?<!time)\s+to\b|\s+to\b(?=\s*(?:[\d$€£¥\[<{?≤≥]|N0\b|N1\b|X|TBD|$|(?:under|below|above|over|less|"
    r"fewer|more|at|no|within|about|around|roughly|approximately|max|min|just|single|one|two|three|four|five|"
    r"six|seven|eight|nine|ten|twelve|a|an)\b))"
    r"|\s+(?:from|by|in|within|before|until|at|above|below|under|over|of\s+at\s+least|for|per\s+the|"
    r"through|via|with|while|so\s+that|that|which|and|compared|versus|vs\.?|towards|across)\b"
    r"|\s+(?:de|von|da|van|auf|à|a)\s+(?=[\d$€£¥\[]|N0|X\b|TBD)|[;:(]|,(?!\d)|$",
    re.I)
_ARTICLES = fastre.lazy(r"^(?:the|our|a|an|all|its|their|my|your|de|la|le|el|les|los|die|der|das)\s+", re.I)


@dataclass
class Anatomy:
    """What a KR says, found deterministically. Fields the text does not give stay None."""

    text: str
    leading_verb: str | None = None
    verb_class: str | None = None
    metric: str | None = None
    baseline: str | None = None
    target: str | None = None
    unit: str | None = None
    direction: str | None = None  # increase | decrease | maintain
    deadline: str | None = None
    rate: str | None = None
    comparator: str | None = None
    activity_count: str | None = None
    placeholders: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    values: set[str] = field(default_factory=set)
    # lexicon hits, lower-case
    deliverables: list[str] = field(default_factory=list)
    results: list[str] = field(default_factory=list)
    actors: list[str] = field(default_factory=list)
    actor_actions: list[str] = field(default_factory=list)
    completion: list[str] = field(default_factory=list)
    milestones: list[str] = field(default_factory=list)
    service_levels: list[str] = field(default_factory=list)
    satisfaction: list[str] = field(default_factory=list)
    hiring: list[str] = field(default_factory=list)
    research: list[str] = field(default_factory=list)
    activity_verbs: list[str] = field(default_factory=list)
    change_verbs: list[str] = field(default_factory=list)
    actor_count: str | None = None  # "500+ new developers", "at least 10 builders"
    capability: bool = False  # "users can create branches": a feature described, not measured
    by_actor: bool = False  # "approved by the community"
    baseline_setup: bool = False  # "baseline satisfaction score is established"
    hiring_verb: bool = False
    rollout: bool = False  # "roll out to 5% of traffic": exposure we control, not an effect
    own_share: bool = False
    injection: bool = False
    multi_goal: bool = False
    #: Every number with its role (target, baseline, window, version, ...): see `quantities`.
    reading: Reading | None = None

    @property
    def has_numbers(self) -> bool:
        return bool(self.numbers)

    @property
    def is_from_to(self) -> bool:
        return self.baseline is not None and self.target is not None


def _first_verb(words: list[str]) -> tuple[str | None, str | None]:
    lex = lexicon()
    for w in words[:3]:
        lemma, cls = lex.classify_verb(w)
        if lemma:
            return lemma, cls
        if w.lower() not in {"we", "to", "will", "must", "should", "and", "successfully", "fully",
                             "finally", "also", "then", "re", "please", "i", "team"}:
            break
    return None, None


@lru_cache(maxsize=4096)
def _tidy_metric(text: str) -> str | None:
    text = text.strip(" -–—:,.;\"'")
    for _ in range(2):
        text = _ARTICLES.sub("", text)
    text = " ".join(text.split()).strip(" -–—:,.;")
    return text or None


def _metric_after(text: str, start: int) -> str | None:
    rest = text[start:]
    m = _STOP_METRIC.search(rest)
    return _tidy_metric(rest[: m.start()] if m else rest)


# Every injection pattern contains one of these words; most KRs contain none, so skip the full search.
_INJECTION_HINTS = ("ignor", "answer", "disregard", "forget", "instruction", "anweisung", "system", "you are", "as an ai",
                    "label", "classif", "mark", "rate", "respond", "reply", "print", "jailbreak", "override",
                    "developer", "<|", "###")
_INJECTION_HINT = fastre.lazy("|".join(re.escape(h) for h in _INJECTION_HINTS))
_UNIT_RE = fastre.compile(
    rf"(?P<pct>%|percent)|(?P<x>\dx$|×)|(?P<points>pts?|points?|pp|bps)|(?P<ms>\d\s?ms\b)|(?P<s>\d\s?(?:s|sec|seconds)$)"
    rf"|(?P<minutes>min)|(?P<hours>hours|hrs|\dh$)|(?P<days>days)|(?P<currency>{_CUR})", re.I)
_UNIT_NAMES = {"pct": "%"}


def _unit_of(value: str | None) -> str | None:
    if not value:
        return None
    m = _UNIT_RE.search(value.strip())
    return _UNIT_NAMES.get(m.lastgroup, m.lastgroup) if m and m.lastgroup else None


_STEP = fastre.lazy(r"[\w-]+\s+")
_HIRED_RE = fastre.lazy(r"\b(?:hired|recruited|onboarded)\b|\b(?:hire|recruit|onboard)\s+\d", re.I)
#: Both alternatives' verbs are whole words: `\b` before, `\b` or `\s` after.
_HIRED = WordGate(_HIRED_RE, (words("hired recruited onboarded hire recruit onboard"),))
_OBJECT_PREPOSITIONS = frozenset({"for", "to", "across", "of", "with", "among", "from", "on", "in"})
_SHARE_RE = fastre.compile(r"(\d+\s?%|all|every|each)\s+(?:of\s+)?(?:our\s+|the\s+|new\s+|open\s+)*")
_COVERAGE_RE = fastre.lazy(r"\b(?:test|code|unit[- ]test|documentation|doc)\s+coverage\b")
_SIDE_REMARK_RE = fastre.lazy(r"\s*\([^)]*\)")


def _last_word(text: str) -> str:
    """The lower-cased word that ends `text` (trailing spaces ignored), "" when it ends otherwise."""
    text = text.rstrip()
    i = len(text)
    while i and (text[i - 1].isalnum() or text[i - 1] == "_"):  # exactly regex \w
        i -= 1
    return text[i:].lower()


@lru_cache(maxsize=4096)
def parse(kr: str) -> Anatomy:
    """Parse one KR. Cached: the same text always yields the same anatomy."""
    lex = lexicon()
    text = clean_kr(kr)
    a = Anatomy(text=text)
    lower = text.lower()

    a.injection = bool(_INJECTION_HINT.search(lower)) and bool(lex.injection.search(text))
    a.placeholders = [m.group(0) for m in PLACEHOLDER_RE.finditer(text)]

    dl = deadline_match(text)
    deadline_span = (dl.start(), dl.end()) if dl else (-1, -1)
    if dl:
        a.deadline = dl.group(0).strip()
    rm = _RATE.search(text)
    if rm:
        a.rate = rm.group(0).strip()

    def outside_deadline(pos: int) -> bool:
        return not (deadline_span[0] <= pos < deadline_span[1])

    masked = PLACEHOLDER_RE.sub(lambda x: " " * len(x.group(0)), text) if a.placeholders else text
    all_numbers = fastre.digit_led(NUMBER_RE.match, masked, _NUMBER_LEAD)
    number_matches = [m for m in all_numbers if outside_deadline(m.start())]
    a.numbers = [m.group(0).strip() for m in number_matches]
    # The gate reads the words of `text` (tokenized already); `masked` only blanks placeholders.
    all_word_numbers = list((_WORD_NUMBER if masked is text else _WORD_NUMBER_RE).finditer(masked))
    word_numbers = [m for m in all_word_numbers if outside_deadline(m.start())]
    a.values = _values(all_numbers, all_word_numbers)

    word_matches = list(_WORD_RE.finditer(text))
    words = [w.group() for w in word_matches]
    a.leading_verb, a.verb_class = _first_verb(words)

    # Every word list's matches, from the one scan of the text's words.
    found = lex.deliverables.shared.found(text)  # type: ignore[union-attr]

    def hits(matcher: PhraseMatcher) -> list[str]:
        return [text[m._start:m._end].lower() for m in found.get(matcher.slot, ())]

    deliverable_spans = [(m._start, m._end) for m in found.get(lex.deliverables.slot, ())]
    # A verb of two readings ("Hold churn under 2%" / "Hold 8 user interviews") is the team's
    # activity when what it governs, within three words, is a deliverable.
    if deliverable_spans and a.verb_class != "activity" and a.leading_verb in lex.activity_lemmas:
        verb = next((w for w in word_matches if lex.verb_lemma.get(w.group(0).lower()) == a.leading_verb), None)
        if verb and lex.deliverables.match_within(text, verb.end(), 3):
            a.verb_class = "activity"
    a.deliverables = [text[s:e].lower() for s, e in deliverable_spans]
    a.results = _result_hits(text, deliverable_spans)
    if a.results and a.verb_class == "activity" and _DESTINATION.search(text):
        # "Migrate 4 services to the new pipeline": where the work moves things is not what it measures.
        tail = text[_DESTINATION.search(text).end():].lower()
        a.results = [r for r in a.results if not tail.startswith(r)]
    a.actors = hits(lex.actors)
    a.actor_actions = hits(lex.actor_actions) if a.actors else []
    a.completion = hits(lex.completion)
    a.milestones = hits(lex.milestones)
    a.service_levels = hits(lex.service_levels)
    a.satisfaction = hits(lex.satisfaction)
    a.hiring = hits(lex.hiring)
    a.research = hits(lex.research)
    verb_class = lex.verb_class
    a.activity_verbs = [low for w in words if verb_class.get(low := w.lower()) == "activity"]
    a.change_verbs = _change_verbs(text, word_matches)
    # "Onboarding revamped" is the product's onboarding, not staffing: the bare gerund leads no hire.
    gerund_lead = bool(words) and words[0].lower() == "onboarding"
    a.hiring_verb = (a.leading_verb in {"hire", "recruit", "onboard", "backfill", "staff"} and not gerund_lead) or bool(
        _HIRED.search(text)) or (
        a.leading_verb == "add" and bool(a.actors or a.hiring))
    a.capability = bool(_CAPABILITY.search(text))
    a.by_actor = bool(_BY_ACTOR.search(text))
    a.baseline_setup = bool(_BASELINE_SETUP_RE.search(masked))
    lead_end = words_end_after_lead(text) if a.verb_class == "activity" else -1
    for m in _ACTOR_COUNT_RE.finditer(text):
        if not outside_deadline(m.start()) or m.start() <= lead_end or \
                _last_word(text[: m.start()]) in _OBJECT_PREPOSITIONS:
            continue  # the people are the object of our work ("calls to 100% of patients")
        pos, actor = m.end(), None
        for _ in range(3):  # up to two qualifiers: "500+ new paying developers"
            actor = lex.actors.match(text, pos)
            step = _STEP.match(text, pos)
            if actor or not step:
                break
            pos = step.end()
        if not actor:
            continue
        # "20 customer interviews": the people word only qualifies a deliverable.
        if lex.deliverables.match(text[actor.end():].lstrip(), 0):
            continue
        a.actor_count = text[m.start():actor.end()].strip()
        break

    # Baseline and target ("(currently 12)" and "(from 35%)" are baselines given on the side).
    # Every value shape needs a digit or a placeholder: skip the costly searches when there is none.
    valued = bool(_ANY_DIGIT.search(text) or a.placeholders)
    side = _SIDE_BASELINE_RE.search(text) if valued else None
    ft = from_to_match(text) if valued else None
    if not valued:
        pass
    elif ft:
        a.baseline = (ft.group("base") or ft.group("base2")).strip()
        a.target = (ft.group("target") or ft.group("target2")).strip()
    else:
        cm = cmp_match(text)
        if cm and outside_deadline(cm.start("val")):
            a.comparator = cm.group("cmp").lower()
            a.target = cm.group("val").strip()
        else:
            bd = BY_DELTA_RE.search(text)
            if bd and outside_deadline(bd.start()) and _ANY_DIGIT.search(bd.group("val")):
                a.target = "+" + bd.group("val").strip() if not a.verb_class == "change" or \
                    a.leading_verb not in lex.decrease_verbs else "-" + bd.group("val").strip()
                a.comparator = "by"
            else:
                to = TO_RE.search(text)
                if to and outside_deadline(to.start("val")) and (
                        _ANY_DIGIT.search(to.group("val")) or PLACEHOLDER_RE.fullmatch(to.group("val").strip())):
                    a.target = to.group("val").strip()
                elif number_matches:
                    a.target = number_matches[0].group(0).strip()
                elif a.placeholders:
                    a.target = a.placeholders[0]
    if side and a.baseline is None:
        a.baseline = side.group("val").strip()
    # The slots come from the one quantity reader: a window, a version, a year, a threshold or a
    # count of the team's own work is never a target or a baseline, and a window is no deadline.
    a.reading = read(text)
    _slots_from_reading(a)
    a.unit = _unit_of(a.target) or _unit_of(a.baseline)

    # Direction.
    if a.verb_class == "maintain" or (a.leading_verb in ("hold", "keep") and a.comparator):
        a.direction = "maintain"
    elif a.change_verbs:
        lemma = lex.verb_lemma.get(a.change_verbs[0], a.change_verbs[0])
        a.direction = "decrease" if lemma in lex.decrease_verbs else "increase"
    elif a.baseline and a.target:
        b, t = _to_float(_NOT_NUMERIC.sub("", a.baseline) or "x"), _to_float(_NOT_NUMERIC.sub("", a.target) or "x")
        if b is not None and t is not None and b != t:
            a.direction = "increase" if t > b else "decrease"
    elif a.comparator:
        a.direction = "decrease" if _MAX_CMP_RE.fullmatch(a.comparator) else "increase"

    # Metric: the measured quantity.
    a.metric = _find_metric(text, a, number_matches, word_numbers, word_matches)

    # Activity count: a number of the team's own deliverables ("Hold five interviews").
    for m in list(number_matches) + word_numbers:
        d = lex.deliverables.match_within(text, m.end(), 2)
        if d and d.start() - m.end() <= 40:
            a.activity_count = text[m.start(): d.end()].strip()
            break

    # Coverage of own work: "100% of services have runbooks", "80% test coverage".
    share = _SHARE_RE.search(lower)
    if share and lex.share_subjects.match(lower, share.end()) and lex.share_predicates.search(lower, share.end()):
        a.own_share = True
    if "coverage" in lower and _COVERAGE_RE.search(lower):
        a.own_share = True
    for d_start, d_end in deliverable_spans:
        tail = lower[d_end: d_end + 80]
        if _FOR_ALL_OF.match(tail) and (
                lex.completion.search(tail[:30]) or lex.completion.search(lower[max(0, d_start - 30):d_start])
                or _PARTICIPLE_NEXT.match(tail)):
            a.own_share = True
    if "number of" in lower:
        m = _NUMBER_OF_WITH.search(lower)
        if m and lex.deliverables.search(m.group(1)):
            a.own_share = True
    a.rollout = bool(_ROLLOUT.search(text))

    a.multi_goal = _is_multi_goal(text, a)
    return a


_DOWN_WORDS = fastre.lazy(r"\b(?:down|lower|less|fewer|cut|reduc\w*|decreas\w*|drop\w*|shrink\w*|halve)\b")


_DESTINATION = fastre.lazy(r"\bto\s+(?:the\s+|a\s+|an\s+|our\s+)?(?:new\s+|latest\s+|shared\s+|central\s+)?(?=[a-z])", re.I)


def _slots_from_reading(a: Anatomy) -> None:
    r = a.reading
    assert r is not None
    a.deadline = r.deadline
    if r.baseline is not None:
        # keep how the draft wrote it around the number ("~31", "about 32k")
        if not (a.baseline and r.baseline.text in a.baseline):
            a.baseline = r.baseline.text
    elif a.baseline is not None and not any(q.role == "baseline" for q in r.quantities) and \
            _ANY_DIGIT.search(a.baseline):
        a.baseline = None
    if r.target is not None:
        if not (a.target and r.target.text in a.target and len(a.target) <= len(r.target.text) + 12):
            a.target = r.target.text
        if r.comparator and a.comparator is None:
            a.comparator = r.comparator
    elif r.delta is not None:
        near = a.text[max(0, r.delta.start - 24): r.delta.start].lower()
        after = a.text[r.delta.end: r.delta.end + 14].lower()
        down = a.leading_verb in lexicon().decrease_verbs or bool(_DOWN_WORDS.search(near)) or bool(
            _DOWNWARD_AFTER.match(after))
        sign = "-" if down else "+"
        if r.delta.value is None and not any(c.isdigit() for c in r.delta.text):
            a.target = word_delta_target(r.delta.text, down)
        else:
            a.target = r.delta.text if r.delta.text.startswith(("+", "-")) else sign + r.delta.text
        a.comparator = "by"
    elif a.target is not None and _ANY_DIGIT.search(a.target):
        a.target, a.comparator = None, None  # the only numbers the draft has are not levels
    if a.target is None and a.placeholders:
        a.target = a.placeholders[0]


def _find_metric(text: str, a: Anatomy, numbers: list[re.Match[str]], word_numbers: list[re.Match[str]],
                 words: list[re.Match[str]] | None = None) -> str | None:
    """`words`: the text's `_WORD_RE` matches, when the caller has them."""
    lex = lexicon()
    # Side remarks in parentheses are not part of the metric's name.
    if "(" in text:
        text = _SIDE_REMARK_RE.sub("", text)
        numbers = list(NUMBER_RE.finditer(PLACEHOLDER_RE.sub(lambda x: " " * len(x.group(0)), text)))
        word_numbers = list(_WORD_NUMBER_RE.finditer(text))
        words = None
    ft = from_to_match(text) if a.baseline is not None else None
    # "Increase <metric> from/to/by ..." : the phrase after the leading change/reach/maintain verb.
    if a.verb_class in ("change", "reach", "maintain") and (
            words := words if words is not None else list(_WORD_RE.finditer(text))):
        first = next((w for w in words[:3] if lex.verb_class.get(w.group(0).lower())), None)
        if first is not None:
            start = first.end()
            lead = _NUMBER_OF_LEAD.match(text[start:])
            metric = _metric_after(text, start)
            if lead and metric and not _COUNT_NOUN_LEAD.match(metric):
                metric = _tidy_metric(lead.group(0)) + " " + metric
            if metric and not NUMBER_RE.fullmatch(metric):
                # "Get 500 sign ups": the phrase starts with the number; take what follows it.
                nm = NUMBER_RE.match(metric) or PLACEHOLDER_RE.match(metric)
                if nm:
                    metric = _share_of(nm.group(0), _metric_after(metric, nm.end()))
                if metric:
                    return metric
    # "<metric> from X to Y" / "<metric> of 45" / "<metric> >= 110%" : the phrase before.
    anchor = ft.start() if ft else None
    if anchor is None:
        cm = (cmp_match(text) if a.comparator else None) or _LEVEL_RE.search(text)
        anchor = cm.start() if cm else None
    if anchor:
        before = text[:anchor]
        before = _LEAD_CHANGE_VERB.sub("", before)
        head = next((p for p in reversed(_CLAUSE_BREAK.split(before)) if p.strip()), "")
        metric = _tidy_metric(head)
        if metric and len(metric.split()) <= 10 and not lex.activity_any.fullmatch(metric.split()[0]):
            return metric
    # "Contributor retention: 40% of first-timers return": a label that names a result is the metric.
    label, colon, rest = text.partition(":")
    if colon and 0 < len(label.split()) <= 8 and _LABEL_VALUE_RE.search(rest) and (
            lex.results.search(label) or _METRIC_HEAD_RE.search(label) or lex.service_levels.search(label)
            or lex.satisfaction.search(label)) and not lex.activity_any.match(label.strip().lower()):
        return _tidy_metric(label)
    # "30 individual contributors to our repositories": the noun phrase after the first number.
    for m in numbers + word_numbers:
        after = text[m.end():]
        metric = _metric_after(after, 0)
        if metric and _OF_WORD.match(metric) and "%" in m.group(0):
            return _share_of(m.group(0), metric)
        if metric and _WORD_RE.match(metric) and not _PREPOSITION_LEAD.match(metric):
            return metric
    if a.results:
        return _result_phrase(text, a.results[0])
    return None


_LABEL_VALUE_RE = fastre.lazy(r"\d|\b(?:zero|none|no|TBD|N0|X)\b|\[", re.I)


def _nouny(word: str) -> bool:
    low = word.lower()
    return low not in _NOT_NOUN and not lexicon().verb_class.get(low)


@lru_cache(maxsize=4096)
def is_short_noun_phrase(text: str, max_words: int = 6) -> bool:
    """Short, led by a noun-like word, with no function word or auxiliary in it: "API uptime",
    not "There are 10 users" or "Reconcile bank accounts". Safe to put an adjective in front."""
    words = text.split()
    return 0 < len(words) <= max_words and _nouny(words[0]) and not any(w.lower() in _NOT_NOUN for w in words)


def _share_of(number: str, metric: str | None) -> str | None:
    """"25% of incoming tickets": the metric is the share of them, not "of incoming tickets";
    "15% of trials pick the Pro plan" reads "share of trials that pick the Pro plan"."""
    if not metric or not _OF_WORD.match(metric):
        return metric
    if "%" not in number and "percent" not in number.lower():
        return _tidy_metric(metric[2:])
    words = metric.split()
    at = next((i for i in range(2, len(words)) if _verb_after_group(words[i - 1], words[i])), None)
    if at is not None:
        words.insert(at, "that")
    return "share " + " ".join(words)


def _result_phrase(text: str, hit: str) -> str:
    """The noun phrase around a result word, as written: "Brand awareness up" -> "Brand awareness"."""
    start = text.lower().find(hit)
    if start < 0:
        return hit
    end = start + len(hit)
    words = list(_WORD_RE.finditer(text))
    before = [w for w in words if w.end() <= start]
    for w in reversed(before[-3:]):
        if not _nouny(w.group(0)) or text[w.end():start].strip():
            break
        start = w.start()
    for w in [w for w in words if w.start() >= end][:3]:
        if not _nouny(w.group(0)) or text[end:w.start()].strip() or w.group(0).lower().endswith("ing"):
            break
        end = w.end()
        if w.group(0).lower().endswith("ed"):
            break  # "claims submitted": the participle completes the phrase
    return text[start:end]


_BE = r"(?:is|are|was|were|be|been|being|has|have|had|get|gets|got)"
_CAPABILITY_RE = fastre.compile(
    r"\b(?:users?|members?|customers?|people|developers?|admins?|anyone|visitors?|clients?|staff|teams?|"
    r"patients?|citizens?|students?)\s+(?:can|could|are able to|will be able to|should be able to|may)\s+\w+", re.I)
_BY_ACTOR_RE = fastre.compile(
    r"\bby\s+(?:the\s+|our\s+|external\s+|outside\s+)?(?:community|users|customers|members|clients|"
    r"partners|developers|contributors|citizens|the public|visitors|readers|voters|peers|stakeholders|non-[\w-]+)\b"
    r"|\b(?:used|adopted|chosen|downloaded|viewed|installed|cited|recommended|rated|preferred|answered|starred)\s+by\b"
    r"|\bcommunity[- ](?:built|contributed|made|led|driven|submitted|run|written)\b", re.I)
# The gates below (`lexicon.WordGate`): each set's words stand between non-word characters in
# every match. _CAPABILITY_RE: the people word after `\b` and before `\s+`, the modal's first word
# between `\s+` and `\s`/" ". _BY_ACTOR_RE: "by" after `\b` (first alternative) or `\s+` (second)
# and before `\s+` or `\b`; the people word after `\s+` and before `\b` ("the public": "public";
# "non-profits": "non", before the hyphen); the participle between `\b` and `\s+`; "community"
# between `\b` and "-"/" ".
_CAPABILITY = WordGate(_CAPABILITY_RE, (
    words("user users member members customer customers people developer developers admin admins anyone visitor "
          "visitors client clients staff team teams patient patients citizen citizens student students"),
    words("can could are will should may")))
_BY_ACTOR = WordGate(
    _BY_ACTOR_RE,
    (words("by"), words("community users customers members clients partners developers contributors citizens public "
                        "visitors readers voters peers stakeholders non")),
    (words("used adopted chosen downloaded viewed installed cited recommended rated preferred answered starred"),
     words("by")),
    (words("community"),))
_BASELINE_SETUP_RE = fastre.compile(
    r"\bbaseline\b[^.]{0,60}\b(?:establish|defin|set|measur|captur|agree)\w*"
    r"|\b(?:establish|defin|set|measur|captur|agree)\w*\s+(?:a\s+|the\s+)?baseline", re.I)
_ACTOR_COUNT_RE = fastre.compile(
    r"(?:(?:at\s+least|more\s+than|over|>=?|≥|min\.?)\s*)?(?<![\w.])\d[\d,.]*\s?(?:k|K)?\+?\s?(?:%\s+of\s+)?"
    r"(?:(?:the|our|all)\s+)?")


# "(currently 12)", "(baseline: ~31)", "(today about 40%)": a baseline given on the side, approximate or not.
_SIDE_BASELINE_RE = fastre.lazy(
    rf"\((?:currently|today|now|baseline|from|was)\s*:?\s*"
    rf"(?P<val>(?:~\s?|≈\s?|about\s+|around\s+|approx(?:\.|imately)?\s+)?{_VAL})\s*\)", re.I)
_ROLLOUT_RE = fastre.compile(
    r"\b(?:roll(?:ed)?[- ]?out|launch(?:ed)?|release[d]?|ship(?:ped)?|enable[d]?|expose[d]?|ramp(?:ed)?(?: up)?)\b"
    r"[^.;]{0,60}\bto\s+\d+\s?%\s+of\s+(?:\w+\s+){0,2}(?:traffic|users|customers|accounts|tenants|requests|fleet)",
    re.I)
#: The verb between `\b` and "-"/" "/`\b` ("roll-out": "roll"), "to" between `\b` and `\s+`, "of"
#: between `\s+` and `\s+`.
_ROLLOUT = WordGate(_ROLLOUT_RE, (
    words("roll rolled rollout rolledout launch launched release released ship shipped enable enabled expose exposed "
          "ramp ramped"), words("to"), words("of")))
_METRIC_HEAD_RE = fastre.lazy(
    r"\b[\w-]+[\s-](?:rate|ratio|score|index|time|times|variance|frequency|latency|duration|level|nps|csat)\b"
    r"|\btime[- ]to[- ][\w-]+|\b(?:average|median|mean|p\d\d)\s+[\w-]+", re.I)
_MODIFIER_NEXT = fastre.lazy(r"\s+(?:staff|team|teams|reps?|org|department|leaders?|managers?|people|training|"
                            r"enablement|playbooks?|deck|collateral|kickoff|process)\b", re.I)


#: Every match of `_METRIC_HEAD_RE` holds one of these words, or a "p" and two digits ("p95").
_HEAD_WORDS = ("rate", "ratio", "score", "index", "time", "variance", "frequency", "latency", "duration", "level",
               "nps", "csat", "average", "median", "mean")
_P_DIGITS = fastre.lazy(r"p\d\d")


def _may_name_a_head(text: str) -> bool:
    """False only where `_METRIC_HEAD_RE` certainly finds nothing: none of its words is in the text
    (compared in lower case, exact for `re.I` unless the text holds a letter it folds to ASCII)."""
    if not text.isascii() and any(c in text for c in fastre.FOLDING):
        return True
    low = text.lower()
    return any(w in low for w in _HEAD_WORDS) or _P_DIGITS.search(low) is not None


def words_end_after_lead(text: str) -> int:
    """End offset of the first three words: a count right after an activity verb is its object."""
    m = _FIRST_THREE_WORDS.match(text)
    return m.end() if m else -1


def _result_hits(text: str, deliverable_spans: list[tuple[int, int]]) -> list[str]:
    lex = lexicon()
    found: list[str] = []
    heads = [m for m in _METRIC_HEAD_RE.finditer(text) if m.group(0).split()[0].lower() not in _NOT_NOUN] \
        if _may_name_a_head(text) else []
    for m in list(lex.results.finditer(text)) + heads:
        # A result word inside a deliverable ("usage examples") is part of the deliverable, and one
        # that only qualifies the team ("sales staff") is not a result.
        if any(s <= m.start() and m.end() <= e and (e - s) > (m.end() - m.start()) for s, e in deliverable_spans):
            continue
        if m.group(0).lower().endswith((" of", " to", " from", "-to")):
            pass
        elif _MODIFIER_NEXT.match(text, m.end()) or (lex.deliverables.match_within(text, m.end(), 0)
                                                     and not text[m.end():].lstrip().lower().startswith("per")):
            continue
        found.append(m.group(0).lower())
    if not found:  # compounds of other languages ("Mittelstandskunden"); English text rarely needs it
        found += [m.group(0).lower() for m in lex.results_foreign.finditer(text)]
    return found


def _change_verbs(text: str, words: list[re.Match[str]] | None = None) -> list[str]:
    """Change verbs that govern the KR: leading, or used as a predicate ("is increased by").
    `words`: the text's `_WORD_RE` matches, when the caller has them."""
    lex = lexicon()
    found: list[str] = []
    if words is None:
        words = list(_WORD_RE.finditer(text))
    for i, w in enumerate(words):
        word = w.group(0).lower()
        if lex.verb_class.get(word) != "change":
            continue
        nxt = text[w.end(): w.end() + 12].lower()
        prev = words[i - 1].group(0).lower() if i else ""
        if i < 3 or i == len(words) - 1 or _AFTER_CHANGE_VERB.match(nxt) or \
                re.fullmatch(_BE, prev) or prev in ("to", "and", "will", "must", "should"):
            found.append(word)
    found += [m.group(0).lower() for m in lex.change_phrases.finditer(text)]
    return found


def _is_multi_goal(text: str, a: Anatomy) -> bool:
    """Several goals in one line: two measurable parts joined by and/;/&."""
    parts = [p for p in _GOAL_SPLIT.split(text) if p.strip()]
    if len(parts) < 2:
        return False
    measurable = sum(1 for p in parts if NUMBER_RE.search(p) or PLACEHOLDER_RE.search(p))
    if measurable >= 2:
        return True
    lex = lexicon()
    verbs = 0
    for p in parts:
        w = _WORD_RE.findall(p)
        if w and lex.verb_class.get(w[0].lower()):
            verbs += 1
    return verbs >= 2


def about_a_metric(a: Anatomy) -> bool:
    """Research, measuring, surveying, "understand X": work about a metric, not a change to it.
    Asked five times per KR: kept on the anatomy (which nothing changes after `parse`)."""
    known = a.__dict__.get("_about")
    if known is None:
        known = a.__dict__["_about"] = _about_a_metric(a)
    return known


def _about_a_metric(a: Anatomy) -> bool:
    lex = lexicon()
    first = a.text.split(" ", 1)[0].lower() if a.text else ""
    if _NOUN_COMPOUND_LEAD.match(a.text) and not a.research:
        return False  # "Audit logs (connections, queries)": a thing to build, not an audit
    return bool(a.research or a.baseline_setup or a.leading_verb in lex.about_metric_verbs or
                lex.verb_lemma.get(first, first) in lex.about_metric_verbs)


#: A verb-looking first word that is the first half of a noun: "Audit logs", "Survey tool", "Report builder".
_NOUN_COMPOUND_LEAD = fastre.lazy(r"^\s*(?:audit|survey|report|benchmark|measurement)\s+(?:logs?|trails?|tools?|builder|"
                                 r"templates?|module|service|api|dashboard|suite|harness|framework)\b", re.I)


@lru_cache(maxsize=4096)
def is_activity_shaped_metric(metric: str) -> bool:
    """True when a proposed metric counts the team's own work rather than its effect.

    Used by the llm validators: "number of blog posts published" or "launch the campaign" is not
    an outcome metric, while "sign-ups from the blog" is.
    """
    lex = lexicon()
    m = clean_kr(metric)
    if not m or not _WORD_RE.search(m):
        return True
    words = _WORD_RE.findall(m)
    if lex.verb_class.get(words[0].lower()) == "activity":
        return True
    has_result = bool(lex.results.search(m) or (lex.actors.search(m) and lex.actor_actions.search(m))
                      or lex.service_levels.search(m) or lex.satisfaction.search(m))
    if has_result:
        return False
    return bool(lex.deliverables.search(m) or lex.completion.search(m))


REWRITE_RE = fastre.lazy(r"^(?P<metric>.+)\s+from\s+(?P<baseline>.+?)\s+to\s+(?P<target>.+?)\s+by\s+(?P<deadline>.+?)\.?$")


#: The draft as written with only its missing baseline (and date) added: `render_as_written`.
AS_WRITTEN_RE = fastre.lazy(r"^(?P<metric>.+?)\s+\(from\s+(?P<baseline>[^()]+)\)(?:\s+by\s+(?P<deadline>.+?))?\.?$")
#: A draft that states its baseline (in numbers or words) and lacks only a date: "<KR> by [date]".
AS_WRITTEN_DATED_RE = fastre.lazy(r"^(?P<metric>.+?)\s+by\s+(?P<deadline>\[date\]|[^()\[\]]{1,40})$")


def parse_rewrite(text: str) -> dict[str, str] | None:
    """Split a rendered rewrite into metric/baseline/target/deadline, or None if it is not that shape.

    The as-written shape ("<the KR> (from [baseline]) by [date]") keeps its target inside the
    draft's own words, so its target is "" here."""
    text = text.strip()
    m = REWRITE_RE.match(text)
    if m:
        return m.groupdict()
    m = AS_WRITTEN_RE.match(text)
    if m:
        return {**m.groupdict(default=""), "target": ""}
    m = AS_WRITTEN_DATED_RE.match(text)
    return {**m.groupdict(), "baseline": "", "target": ""} if m else None


# ------------------------------------------------------------------------------------ rewrites

BASELINE_PLACEHOLDER = "[baseline: measure first]"
TARGET_PLACEHOLDER = "[target: agree with the team]"
DEADLINE_PLACEHOLDER = "[date]"


def render_rewrite(metric: str, baseline: str | None, target: str | None, deadline: str | None) -> str:
    """The one rendering of a rewrite: "[metric] from [X] to [Y] by [date]".

    Both engines use it, so every rewrite parses with `parse_rewrite`. Missing parts become
    visible placeholders rather than numbers.
    """
    metric = " ".join(metric.split()).rstrip(".")
    deadline = deadline.strip().rstrip(".") if deadline else None
    return (f"{metric} from {baseline or BASELINE_PLACEHOLDER} to {target or TARGET_PLACEHOLDER} "
            f"by {deadline or DEADLINE_PLACEHOLDER}")


def render_as_written(kr: str, baseline: str | None, deadline: str | None, baseline_stated: bool = False) -> str:
    """The draft as written, completed with what it lacks: "<KR> (from [baseline]) by [date]".

    Used when no clean noun phrase can be made from the draft's words: a coach keeps the author's
    sentence rather than assemble a metric from fragments. The draft's own date stays where it is;
    a baseline the draft states (`baseline_stated`, in numbers or in words) is not said twice:
    "<KR> by [date]".
    """
    kr = " ".join(kr.split()).rstrip(".")
    if baseline_stated:
        return kr if deadline and deadline in kr else f"{kr} by {(deadline or DEADLINE_PLACEHOLDER).strip().rstrip('.')}"
    tail = f" (from {baseline or BASELINE_PLACEHOLDER})"
    if deadline and deadline not in kr:
        tail += f" by {deadline.strip().rstrip('.')}"
    elif not deadline:
        tail += f" by {DEADLINE_PLACEHOLDER}"
    return kr + tail


_FIRST_THREE_WORDS = fastre.lazy(r"\s*(?:\S+\s+){0,2}\S+")
_NUMBER_OF_WITH = fastre.lazy(r"\bnumber of [\w-]+(?: [\w-]+)? (?:with|that have|having) (?:a |an )?((?:[\w-]+ ){0,3}[\w-]+)")
_LEAD_CHANGE_VERB = fastre.lazy(r"^(?:\w+\s+)?(?:increase|grow|raise|improve|reduce|decrease|cut|lower)\s+", re.I)
_ANY_DIGIT = fastre.lazy(r"\d")
_FOR_ALL_OF = fastre.lazy(r"\s+(?:\w+\s+){0,1}(?:for|on|across|in)\s+(?:\d+\s?%|all|every|each)\b")
_NUMBER_OF_LEAD = fastre.lazy(r"\s+(?:the\s+)?(?:number|amount|share|percentage|rate|count)\s+of\s+", re.I)
_OF_WORD = fastre.lazy(r"of\b", re.I)
_AFTER_CHANGE_VERB = fastre.lazy(r"\s+(?:by|to|from|the|our|a|\d)")
_PARTICIPLE_NEXT = fastre.lazy(r"\s+(?:\w+ed)\b")
_PREPOSITION_LEAD = fastre.lazy(r"(?:of|to|by|in)\b", re.I)
_DOWNWARD_AFTER = fastre.lazy(r"\s*(?:lower|less|fewer|down|decrease|reduction|drop|cut)\b")
_COUNT_NOUN_LEAD = fastre.lazy(r"(?:the\s+)?(?:number|amount|share|percentage|rate|count)\b", re.I)
_CLAUSE_BREAK = fastre.lazy(r"[;:(]|,(?!\d)")
_NOT_NUMERIC = fastre.lazy(r"[^\d.,]")
