"""Quantities as a coach reads them: every number in a KR with the role it plays.

A number in a key result is a target ("to 60%"), a baseline ("from 40%", "(today: 80k)"), a change
("by 15%"), part of the deadline ("by Q3"), or something that must never fill a rewrite's slot:
part of the metric's definition ("within 48 hours", "7-day"), a threshold or scale ("deals over
$40k", "rated 4 or 5", "1-5"), a version or a year ("Postgres 16", "2026"), or a count of the
team's own work ("publish 12 posts"). `read` finds them once; the rules engine fills its rewrite
slots from it, and `slot_errors` (used by both engines and the eval) refuses a rewrite whose
numbers left the slot they had in the draft.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from krcoach.rules import fastre
from krcoach.rules.fastre import boundary, occurrences
from krcoach.rules.lexicon import lexicon
from krcoach.rules.shapes import (
    _CUR,
    DEADLINE_RE,
    PLACEHOLDER_RE,
    WORD_NUMBERS,
    _to_float,
    _verb_after_group,
    clean_kr,
    cmp_match,
    deadline_match,
    from_to_match,
    split_goals,
)

_ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_ASCII_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")

#: Function words that never start or end a metric's name.
_NOT_NOUN_LEAD = frozenset(
    "a an the our their its my your this there it we they of to in on at by for from with within without "
    "and or but not than up down across per is are was were be get gets has have help all no every each any".split())

Role = Literal["target", "baseline", "delta", "deadline", "definition", "threshold", "scale", "version", "year",
               "work", "other"]
#: Roles whose numbers may fill a rewrite's target or baseline slot.
SLOT_ROLES = frozenset({"target", "baseline", "delta"})
#: Roles that never go into a slot; a number of these roles may sit inside the metric.
NEVER_IN_SLOT = frozenset({"definition", "threshold", "scale", "version", "year", "work"})

_DURATION = r"(?:\d+\s?h(?:\s?\d+\s?m(?:in)?)?|\d+\s?m(?:in)?\s?\d+\s?s|\d+\s?h\d+)"
#: One written quantity: currency, number, multiplier, unit. "2m45s" and "1h30" are one duration.
QTY_RE = fastre.lazy(
    rf"(?:(?:(?<=\s)|^)[\-−](?=\d)|(?<![\w.\-/]))(?:(?P<dur>{_DURATION})(?![\w])|(?P<cur>{_CUR})?\s?(?P<num>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:[.,]\d+)?)"
    rf"(?P<mult>\s?(?:k|K|M|mm|MM|mn|bn|B)(?![\w])|\s(?:thousand|million|billion)\b|m(?![\w]))?"
    r"(?P<unit>\s?(?:%|x\b|×|pp\b|pts?\b|points?\b|percent\b|bps\b|ms\b|s\b|secs?\b|seconds?\b|mins?\b|minutes?\b|"
    r"h\b|hrs?\b|hours?\b|d\b|days?\b|weeks?\b|wks?\b|months?\b|years?\b|stars?\b|/\s?\d+(?:\.\d+)?|\+))?)"
    r"(?!(?:st|nd|rd|th)\b)(?(dur)|(?![A-Za-z0-9]))",
    re.I)
_WINDOW_BEFORE = fastre.lazy(
    r"(?:within|in\s+(?:under|less\s+than)|in|after|first|last|over\s+(?:the\s+)?(?:first|last|past)|"
    r"past|next|every|each|per|day|d|week|month)\s*$", re.I)
_TIME_UNIT = fastre.lazy(r"^\s?(?:ms|s|secs?|seconds?|mins?|minutes?|h|hrs?|hours?|d|days?|weeks?|wks?|months?|years?)$",
                        re.I)
_HYPHEN_WINDOW = fastre.lazy(r"^-?\s?(?:day|week|month|hour|minute|year|d|h)\b", re.I)
_VERSION_BEFORE = fastre.lazy(r"(?:\bv|\bversion\s|\brelease\s|\bphase\s|\bstep\s|\blevel\s|\btier\s|\bstage\s|"
                             r"\bgrade\s|\btype\s|\bsev\s?|\bp)$", re.I)
_PRODUCT_BEFORE = fastre.lazy(r"\b([A-Z][A-Za-z.+#]*|[a-z]+(?:SQL|sql|JS|js|OS))\s$")
_SCALE = fastre.lazy(r"(?:\d+\s?(?:-|–|to)\s?\d+\s+scale|on\s+a\s+\d+\s?(?:-|–|to)\s?\d+|out\s+of\s+\d+|\(\d+\s?-\s?\d+\))",
                    re.I)
_RATED = fastre.lazy(r"\b(?:rat(?:ed|ing|e)|scor(?:ed|ing|e)|stars?|gave|give)\s+(?:of\s+)?(?:at\s+least\s+)?$", re.I)
_RATED_PAIR = fastre.lazy(r"\b(?:rat(?:ed|ing|e)|scor(?:ed|ing|e)|gave|give)\s+\d+(?:\.\d+)?\s*(?:or|and|/|-|–|to)\s*$", re.I)
_OR_NEXT = fastre.lazy(r"^\s*(?:or|and|/)\s*(?:above|higher|better|more|\d)", re.I)
_BASE_BEFORE = fastre.lazy(
    r"(?:\(\s*(?:currently|today|now|baseline|from|was|vs\.?|last\s+\w+)\s*:?\s*(?:~|≈|about|around|approx\.?)?\s*|"
    r"\b(?:up|down)\s+from\s+|\bcurrently\s+(?:at\s+)?(?:~|about|around)?\s*|\btoday\s*:?\s*|\bbaseline\s*:?\s*|"
    r"\bcurrent(?:ly)?\s+(?:\w+\s+){0,2}(?:is|are|at|of|stands\s+at)\s+|"
    r"(?:last\s+(?:year|quarter|month|cycle)|prior\s+\w+|previous\s+\w+)(?:'s)?\s+(?:baseline\s+)?(?:of\s+)?|"
    r"\bvs\.?\s+|\bversus\s+|\bcompared\s+(?:to|with)\s+)$", re.I)
_DELTA_BEFORE = fastre.lazy(r"(?:\bby\s+(?:at\s+least\s+|about\s+|around\s+|~)?|^\s*[+]|\s[+]|\bextra\s+|\badditional\s+)$", re.I)
_DELTA_AFTER = fastre.lazy(r"^\s*(?:more|fewer|less|increase|decrease|reduction|growth|uplift|lift|improvement|"
                          r"higher|lower|up|down|year[- ]over[- ]year|yoy|qoq|mom)\b", re.I)
_SHARE_OF = fastre.lazy(r"^\s*of\s+", re.I)
_COMPARISON_PERIOD = fastre.lazy(r"\b(?:vs\.?|versus|than|compared\s+(?:to|with)|over|relative\s+to|from)\s+"
                                r"(?:the\s+)?(?:same\s+)?(?:period\s+)?(?:in\s+)?(?:last\s+)?$", re.I)


@dataclass(frozen=True)
class Quantity:
    """A number as written in the draft, with its unit and role."""

    text: str
    value: float | None
    unit: str | None
    role: Role
    start: int
    end: int


@dataclass
class Reading:
    """Every quantity of one KR, and the slots a coach would fill from them."""

    text: str
    quantities: list[Quantity] = field(default_factory=list)
    target: Quantity | None = None
    baseline: Quantity | None = None
    delta: Quantity | None = None
    deadline: str | None = None
    comparator: str | None = None

    def of_role(self, *roles: str) -> list[Quantity]:
        return [q for q in self.quantities if q.role in roles]


def _unit(m: re.Match[str]) -> str | None:
    if m.group("dur"):
        return "duration"
    unit = (m.group("unit") or "").strip().lower()
    if m.group("cur"):
        return m.group("cur")
    if unit in ("%", "percent"):
        return "%"
    return unit or ((m.group("mult") or "").strip() or None)


def _value(m: re.Match[str]) -> float | None:
    if m.group("dur"):
        return None
    return _to_float(m.group("num"))


def _is_year(m: re.Match[str], text: str) -> bool:
    num = m.group("num") or ""
    if not (len(num) == 4 and num[:2] in ("19", "20") and not m.group("cur") and not m.group("unit")
            and not m.group("mult")):
        return False
    # "2000 readers", "Reach 2000 Twitter followers", '2000 "Readers"' count; "in 2026", "2026
    # roadmap", "FY 2026", "2026 Q3" name a year.
    nxt = _NEXT_WORD.match(text[m.end():])
    if nxt and (nxt.group(1)[:1].isupper() or text[m.end():].lstrip()[:1] in "\"“'‘"):
        word = nxt.group(1)
        counted = _COUNT_LEAD.search(text[max(0, m.start() - 24):m.start()])
        return not (counted and not _PERIOD_WORD.fullmatch(word))
    return not nxt or nxt.group(1) in ("and", "or", "to", "through", "vs", "versus", "roadmap", "plan", "budget",
                                       "cohort", "season", "edition", "release", "levels", "level", "baseline")


#: A count's lead-in: "Reach 2000 Twitter followers", "Get 2000 "Readers"", "at least 2000 Members".
_COUNT_LEAD = fastre.lazy(r"(?:\b(?:reach|get|have|hit|gain|grow\s+to|at\s+least|over|more\s+than)|[>≥+~])\s*$", re.I)
_PERIOD_WORD = fastre.lazy(r"Q[1-4]|H[12]|FY\w*|[A-Z][a-z]+(?:uary|ruary|ch|il|ay|une|uly|ust|ber)", re.I)


def _deliverable_after(text: str, end: int) -> bool:
    lex = lexicon()
    return bool(lex.deliverables.match_within(text, end, 2))


_DOT_VERSION = fastre.lazy(r"\.\d+(?:\.\d+)?\b")
_NOT_PRODUCT_AFTER = fastre.lazy(r"\s*(?:%|of\b|to\s+\d|\+)")
_PER_BEFORE = fastre.lazy(r"\b(?:per|every|each|out\s+of)\s*$")
_RATED_AFTER = fastre.lazy(r"\s*(?:\+|stars?|or\s+(?:above|higher|more))")
_THRESHOLD_BEFORE = fastre.lazy(r"\b(?:older|newer|longer|shorter|larger|bigger|smaller|worth|valued\s+at)\s+(?:than\s+)?"
                               r"[$€£]?$", re.I)
_GROUP_BEFORE = fastre.lazy(r"\b(?:top|among|aged|ages|over\s+the\s+age\s+of)\s*$", re.I)
_FROM_BEFORE = fastre.lazy(r"\bfrom\s+(?:[+\-~≈]\s?|about\s+|around\s+|approx(?:\.|imately)?\s+)?$", re.I)
_ARROW_AFTER = fastre.lazy(r"\s*(?:→|->|=>)|\s+(?:[a-z]+\s+)?(?:today|now|currently|at\s+present)\b")
_SIGNED_LEVEL_BEFORE = fastre.lazy(r"\b(?:to|reach|hit|at|of)\s+[+-]$", re.I)


def _role(m: re.Match[str], text: str, deadline: tuple[int, int], first_word_end: int, activity_lead: bool,
          hiring_lead: bool, acquire_lead: bool = False) -> Role:
    start, end = m.start(), m.end()
    # Every clue sits within a few words of the number: look no further (this runs per number).
    before, after = text[max(0, start - 48):start], text[end:end + 48]
    written = m.group(0)
    if deadline[0] <= start < deadline[1]:
        return "deadline"
    if _is_year(m, text):
        return "year"
    tail = before[-9:].lower()
    if (_VERSION_HINT.search(tail) and _VERSION_BEFORE.search(before)) or _DOT_VERSION.match(after) and "." in written:
        return "version"
    pm = _PRODUCT_BEFORE.search(before)
    if pm and not m.group("unit") and not m.group("cur") and not m.group("mult") and pm.start() > 0 and \
            not pm.group(1).lower().endswith("ly") and pm.group(1).lower() not in _BASE_WORDS and \
            not lexicon().verb_class.get(pm.group(1).lower()) and not _NOT_PRODUCT_AFTER.match(after):
        return "version"
    unit = "h" if m.group("dur") else (m.group("unit") or "").strip()
    lb = before.lower()
    if ("per" in lb or "each" in lb or "every" in lb or "out of" in lb) and _PER_BEFORE.search(before):
        return "definition"  # "errors per 1,000 doses"
    if _HYPHEN_WINDOW.match(after) or (_TIME_UNIT.match(" " + unit) if unit else False) and \
            _WINDOW_BEFORE.search(before.rstrip()):
        return "definition"
    near = text[max(0, start - 12): end + 12]
    if ("scale" in near or "out of" in near or "(" in near) and _SCALE.search(near) and not m.group("unit"):
        return "scale"
    if any(w in lb for w in _RATED_WORDS) and not _STATISTIC_BEFORE.search(before) and (
            (_RATED.search(before) and (_OR_NEXT.match(after) or _RATED_AFTER.match(after))) or _RATED_PAIR.search(before)):
        return "threshold"
    if ("than" in lb or "worth" in lb or "valued" in lb) and _THRESHOLD_BEFORE.search(before):
        return "threshold"  # "tickets older than 48h", "deals worth $40k"
    if _NAME_PLUS.match(after) or _NAME_PLUS_BEFORE.search(before):
        return "definition"  # "Scope 1+2 emissions": a name, not a quantity
    if "ed " in lb and _SAMPLE_BEFORE.search(before):
        return "work"  # "tested with 8 users", "interviewed 12 customers": the team's own sample
    if "ing " in lb and _QUALIFIER_CMP_BEFORE.search(before):
        return "threshold"  # "students receiving ≥ 3 sessions", "users spending over 10 minutes"
    if ("top" in lb or "among" in lb or "age" in lb) and _GROUP_BEFORE.search(before):
        return "definition"  # "top 3 competitors", "among 65+": the group measured, not a level
    if (any(w in lb for w in _BASE_WORDS) and (_BASE_BEFORE.search(before) or _FROM_BEFORE.search(before))) or \
            _ARROW_AFTER.match(after):
        return "baseline"
    if before.rstrip()[-1:] in ("+", "-") and _SIGNED_LEVEL_BEFORE.search(before):
        return "other"  # "to +25": a signed level, not a change
    if written.lstrip()[:1] in "-−":
        return "delta"  # "emissions -15% vs 2024"
    if (any(w in lb for w in _DELTA_WORDS) and _DELTA_BEFORE.search(before) and not _SHARE_OF.match(after)) or \
            _DELTA_AFTER.match(after):
        return "delta"
    if hiring_lead and start <= first_word_end + 24:
        return "work"  # "Hire 3x designers": people the team signs up itself
    if acquire_lead and start <= first_word_end + 24:
        return "other"  # "Add 25 enterprise logos", "Sign 3 partners": a business result to reach
    if _deliverable_after(text, end) and not _SHARE_OF.match(after) and not _CMP_BEFORE.search(before) and (
            activity_lead or not lexicon().results.match_within(text, end, 2)):
        return "work"
    return "other"


_LEAD_WORD = fastre.lazy(r"^\s*([A-Za-z][\w'-]*)")


@lru_cache(maxsize=4096)
def read(text: str) -> Reading:
    """Every quantity of `text` with its role, and the target/baseline/delta/deadline a coach reads."""
    r = Reading(text=text)
    masked = PLACEHOLDER_RE.sub(lambda x: "\0" * len(x.group(0)), text) if "[" in text or "TBD" in text else text
    dl = deadline_match(text)
    span = (-1, -1)
    if dl and not _WITHIN_NEXT.match(dl.group(0)) and \
            not _COMPARISON_PERIOD.search(text[max(0, dl.start() - 40): dl.start()] + " ") and not _is_definition_period(text, dl):
        span = (dl.start(), dl.end())
        r.deadline = dl.group(0).strip()
    lead = _LEAD_WORD.match(text)
    lex = lexicon()
    activity_lead = bool(lead and lex.verb_class.get(lead.group(1).lower()) == "activity")
    first_end = lead.end() if lead else 0
    hiring_lead = bool(lead and lead.group(1).lower() in lex.hiring_verb_set)
    acquire_lead = bool(lead and not hiring_lead and lex.verb_lemma.get(lead.group(1).lower(), lead.group(1).lower())
                        in lex.acquisition_verbs)
    for m in _quantity_matches(masked):
        if not any(c.isdigit() for c in m.group(0)):
            continue
        role = _role(m, text, span, first_end, activity_lead, hiring_lead, acquire_lead)
        r.quantities.append(Quantity(text=m.group(0).strip(), value=_value(m), unit=_unit(m), role=role,
                                     start=m.start(), end=m.end()))
    _assign_slots(r, text)
    return r


#: How far before its first digit a quantity can start: a minus sign or a currency (a symbol, or a
#: three-letter code and a space) and a space: "-5", "$ 5", "CHF 10k".
_LEAD_MAX = 4


def _quantity_matches(text: str) -> list[re.Match[str]]:
    """`list(QTY_RE.finditer(text))`: every quantity has a digit within `_LEAD_MAX` characters of
    its start and none starts inside a run of digits (see `fastre.digit_led`)."""
    return fastre.digit_led(QTY_RE.match, text, _LEAD_MAX)


def _is_definition_period(text: str, dl: re.Match[str]) -> bool:
    """"40% of Q1 first-timers contribute again in Q2": a period naming a cohort is not the deadline."""
    after = text[dl.end(): dl.end() + 20]
    return bool(_COHORT_AFTER.match(after))


def _assign_slots(r: Reading, text: str) -> None:
    qs = r.quantities
    ft = from_to_match(text)
    if ft:
        base_at = ft.start("base") if ft.group("base") else ft.start("base2")
        target_at = ft.start("target") if ft.group("target") else ft.start("target2")
        for i, q in enumerate(qs):
            if q.start <= base_at < q.end or q.start == base_at:
                qs[i] = _with_role(q, "baseline")
            elif q.start <= target_at < q.end or q.start == target_at:
                qs[i] = _with_role(q, "target")
    cmp_ = cmp_match(text)
    for i, q in enumerate(qs):
        if q.role != "other":
            continue
        if cmp_ and cmp_.start("val") <= q.start < cmp_.end("val") + 1:
            r.comparator = cmp_.group("cmp").lower()
            # "deals over $40k": a comparison inside a noun phrase is a threshold, not the target.
            if _threshold_phrase(text, cmp_.start(), q):
                qs[i] = _with_role(q, "threshold")
                continue
        qs[i] = _with_role(q, "target")
    targets = [q for q in qs if q.role == "target"]
    # "80% of reps reach 90% of quota": the share of the group is the target; what they reach is a threshold.
    if len(targets) >= 2 and _SHARE_OF.match(text[targets[0].end:]) and targets[0].unit == "%":
        for q in targets[1:]:
            if q.start > targets[0].end and not _joined_goal(text, targets[0].end, q.start):
                qs[qs.index(q)] = _with_role(q, "threshold")
    if not any(q.role == "target" for q in qs):
        _level_in_words(r, text)
    r.target = next((q for q in qs if q.role == "target"), None)
    r.baseline = next((q for q in qs if q.role == "baseline"), None)
    r.delta = next((q for q in qs if q.role == "delta"), None)


def _level_in_words(r: Reading, text: str) -> None:
    """A target with no number of its own: "Zero P1 incidents", "weekly -> daily", "3 days → same
    day"; or a time limit that is the only level there is ("requests answered within 2 days")."""
    qs = r.quantities
    arrow = _ARROW_TARGET.search(text)
    if arrow:
        qs.append(Quantity(text=arrow.group("to").strip(), value=None, unit=None, role="target",
                           start=arrow.start("to"), end=arrow.end("to")))
        if not any(q.role == "baseline" for q in qs) and arrow.group("from"):
            qs.append(Quantity(text=arrow.group("from").strip(), value=None, unit=None, role="baseline",
                               start=arrow.start("from"), end=arrow.end("from")))
        qs.sort(key=lambda q: q.start)
        return
    word = _WORD_DELTA.search(text)
    if word and not any(q.role == "delta" for q in qs):
        # "Double demo requests", "cut by a third": a change given in words
        qs.append(Quantity(text=word.group(0), value=None, unit=None, role="delta", start=word.start(), end=word.end()))
        qs.sort(key=lambda q: q.start)
        return
    limit = _WORD_LIMIT.search(text)
    if limit:
        # "in one hour or less", "within two days": a time limit in words is the level to reach.
        amount = (limit.group("num") or limit.group("num2")).lower()
        qs.append(Quantity(text=limit.group("q") or limit.group("q2"), value=float(WORD_NUMBERS.get(amount, 1)),
                           unit="duration", role="target", start=limit.start("q") if limit.group("q") else
                           limit.start("q2"), end=limit.end("q") if limit.group("q") else limit.end("q2")))
        qs.sort(key=lambda q: q.start)
        return
    zero = _ZERO.search(text)
    if zero:
        qs.append(Quantity(text=zero.group(0), value=0.0, unit=None, role="target", start=zero.start(), end=zero.end()))
        qs.sort(key=lambda q: q.start)
        return
    for i, q in enumerate(qs):
        if q.role == "definition" and _TIME_LIMIT_BEFORE.search(text, max(0, q.start - 20), q.start):
            qs[i] = _with_role(q, "target")
            return


_WORD_DELTA_TARGET = {"double": "double the baseline", "doubling": "double the baseline",
                      "triple": "triple the baseline", "halve": "half the baseline"}


def word_delta_target(written: str, down: bool) -> str:
    """A change given in words, as a target a reader understands: "Double" -> "double the baseline",
    "cut by a third" -> "a third below the baseline". No digit is added that the draft lacks."""
    low = " ".join(written.lower().split())
    if low in _WORD_DELTA_TARGET:
        return _WORD_DELTA_TARGET[low]
    share = low.removeprefix("by ").removeprefix("one ").removeprefix("a ")
    share = "half" if share == "half" else f"a {share}"
    return f"{share} {'below' if down else 'above'} the baseline"


def _joined_goal(text: str, a: int, b: int) -> bool:
    return bool(_GOAL_JOIN.search(text[a:b]))


def _threshold_phrase(text: str, cmp_start: int, q: Quantity) -> bool:
    before = text[:cmp_start].rstrip().split()
    after = text[q.end:].strip()
    if not before:
        return False
    prev = before[-1].lower().strip(",")
    if len(before) >= 2 and before[-2].lower() in ("that", "which", "who"):
        return True  # "Grants that raise >$5k/quarter by 50%": a condition on what is counted
    # A plural noun right before the comparison, counted before it or described after it:
    # "10 deals over $40k", "deals over $40k closed per month".
    counted = bool(_ANY_DIGIT.search(" ".join(before[-4:-1])))
    return prev.endswith("s") and prev not in ("is", "was", "stays", "remains", "keeps", "hours", "days", "ms") and (
        counted or (bool(_LOWER_LETTER.match(after)) and not _TIME_PREPOSITION.match(after)))


def _with_role(q: Quantity, role: Role) -> Quantity:
    return Quantity(text=q.text, value=q.value, unit=q.unit, role=role, start=q.start, end=q.end)


# ------------------------------------------------------------------------------------ slot checks

_NUM_IN = fastre.lazy(r"\d+(?:[.,]\d+)*")


def _digits(text: str) -> list[str]:
    return [n.replace(",", "") for n in _NUM_IN.findall(PLACEHOLDER_RE.sub(" ", text or ""))]


def _same(a: str, b: str) -> bool:
    fa, fb = _to_float(a), _to_float(b)
    return fa is not None and fb is not None and abs(fa - fb) < 1e-9


def slot_errors(draft: str, metric: str, baseline: str | None, target: str | None, deadline: str | None,
                cycle: str | None = None) -> list[str]:
    """Why a rewrite's numbers are not where the draft had them ([] when every number is in place).

    Each number in the target slot must be one the draft gives as its target or change; in the
    baseline slot, one it gives as a baseline (or the level to hold); in the deadline, the draft's
    own deadline or the cycle; a number the draft uses as a window, threshold, scale, version,
    year or count of its own work may sit inside the metric, never in a slot.
    """
    reading = read(draft)
    errors: list[str] = []

    def roles_of(num: str) -> set[str]:
        return {role for q in reading.quantities for d, role in _digit_roles(q) if _same(num, d)}

    for slot, value, allowed in (("target", target, {"target", "delta"}), ("baseline", baseline, {"baseline", "target"})):
        for num in _digits(value or ""):
            roles = roles_of(num)
            if not roles:
                continue  # not in the draft at all: the invented-number check reports it
            if not roles & allowed:
                errors.append(f"{num} is the draft's {_role_words(roles)}, not its {slot}")
    if deadline:
        # The draft's own dates: its deadline, every other dated phrase it writes ("3500 by the end of
        # 2020, and 4000 by the end of 2021" has two), and the cycle.
        dated = [m.group(0) for m in DEADLINE_RE.finditer(draft)]
        own = " ".join(p for p in (reading.deadline, cycle, *dated) if p)
        for num in _digits(deadline):
            if not any(_same(num, d) for d in _digits(own)) and roles_of(num):
                errors.append(f"{num} in the deadline is the draft's {_role_words(roles_of(num))}, not its date")
    if clean_kr(metric) in (clean_kr(draft), *split_goals(clean_kr(draft))):
        return errors  # the draft (or one goal of it) as written: every number is where it was
    for num in _digits(metric):
        roles = roles_of(num)
        if roles and roles <= {"target", "baseline", "delta"} and not _in_metric_words(num, metric, draft):
            errors.append(f"{num} is the draft's {_role_words(roles)}; it belongs in its slot, not in the metric")
    return errors


def _digit_roles(q: Quantity) -> list[tuple[str, str]]:
    """The digits of a quantity with their roles: in "4.2/5" the 4.2 plays the quantity's role and
    the 5 is the rating scale, which a rewrite keeps inside its metric ("(out of 5)")."""
    digits = _digits(q.text)
    if q.unit and q.unit.startswith("/") and len(digits) >= 2:
        return [(d, q.role) for d in digits[:-1]] + [(digits[-1], "scale")]
    return [(d, q.role) for d in digits]


def _in_metric_words(num: str, metric: str, draft: str) -> bool:
    """A number glued to a word in both draft and metric ("p95", "D30") is part of a name."""
    n = len(num)
    return any((i and metric[i - 1] in _ASCII_LETTERS and boundary(metric, i + n))
               or (boundary(metric, i) and metric[i + n:i + n + 1] == "-" and metric[i + n + 1:i + n + 2] in _ASCII_LOWER
                   and i + n + 1 < len(metric))
               for i in occurrences(metric, num))  # [A-Za-z]num\b|\bnum-[a-z]


_ROLE_WORDS = {"target": "target", "baseline": "baseline", "delta": "change", "deadline": "deadline",
               "definition": "window or definition", "threshold": "threshold", "scale": "rating scale",
               "version": "version", "year": "year", "work": "count of planned work", "other": "number"}


def _role_words(roles: set[str]) -> str:
    return " / ".join(sorted(_ROLE_WORDS[r] for r in roles))


# ------------------------------------------------------------------------------------ the metric

_LEAD_FILLER = fastre.lazy(
    r"^(?:(?:we\s+)?(?:will\s+)?(?:make\s+sure|ensure|ensuring|guarantee|get|have|achieve|reach|hit|attain|keep|"
    r"maintain|sustain|hold|stay|increase|grow|raise|improve|boost|lift|double|triple|reduce|decrease|cut|lower|"
    r"generate|add|close|win|sign(?![\s-]?(?:ups?|ins?)\b)|land|acquire|secure|source|attract|gain|earn|"
    r"drop|shrink|bring|drive|move|push|expand|accelerate|speed\s+up|increasing|growing|raising|improving|boosting|"
    r"reducing|decreasing|lowering|having|maintaining|keeping|achieving|reaching|getting|reduced|increased|improved|"
    r"grown|raised|lowered|halved|doubled|cut)(?=\s|$)\s*"
    r"(?:that\s+|the\s+|our\s+)?)+", re.I)
_SLOT_GLUE_BEFORE = fastre.lazy(
    r"(?:(?:\b(?:from|to|of|at|by|reach(?:es|ing)?|hit|up\s+from|down\s+from|down\s+to|up\s+to|currently|today|"
    r"baseline|at\s+least|at\s+most|no\s+more\s+than|no\s+less\s+than|more\s+than|less\s+than|fewer\s+than|under|"
    r"below|above|over|about|around|approx\.?|de|a|à)\b|[=:→≥≤<>~≈+]|->|>=|<=)\s*)+$", re.I)
_OR_MORE = fastre.lazy(r"\s*(?:\+|or\s+(?:more|less|fewer|higher|lower|better|above|below|over|under))\b", re.I)
_CMP_BEFORE = fastre.lazy(r"(?:[<>≤≥]=?|\b(?:under|below|over|above|at\s+least|at\s+most|less\s+than|fewer\s+than|"
                         r"more\s+than|no\s+more\s+than|max(?:imum)?|min(?:imum)?))\s*$", re.I)
_NAME_PLUS = fastre.lazy(r"\+\d")
_NAME_PLUS_BEFORE = fastre.lazy(r"\d\+$")
_SAMPLE_BEFORE = fastre.lazy(r"\b(?:tested|interviewed|surveyed|trained|piloted|validated)\s+(?:with|on|by)?\s*$", re.I)
_QUALIFIER_CMP_BEFORE = fastre.lazy(r"\b\w+ing\s+(?:[<>≤≥]=?|at\s+least|more\s+than|over|under|fewer\s+than|less\s+than)\s*$",
                                   re.I)
_COMPARED_TO = fastre.lazy(r"\s+(?:vs\.?|versus|compared\s+(?:to|with)|relative\s+to)\s+[^,;]*$", re.I)
#: "Average rating of 4.5 or higher": a statistic's level is its target, not a rating threshold.
_STATISTIC_BEFORE = fastre.lazy(r"\b(?:average|avg\.?|median|mean)\s+(?:[\w-]+\s+){0,3}rat(?:ing|e)\s+(?:of\s+)?$", re.I)
_RATED_WORDS = ("rat", "scor", "star", "gave", "give")
_VERSION_HINT = fastre.lazy(r"(?:v|version|release|phase|step|level|tier|stage|grade|type|sev|p)\s?$", re.I)
_BASE_WORDS = ("current", "today", "now", "baseline", "from", "was", "vs", "versus", "compared", "last", "prior",
               "previous", "(", "~", "about", "around", "approx")
_DELTA_WORDS = ("by", "+", "extra", "additional")
_RESULT_CLAUSE = fastre.lazy(r"(?:^|,?\s)(?:resulting\s+in|leading\s+to|which\s+(?:drives|leads\s+to)|so\s+that)\s+", re.I)
_ASIDE = fastre.lazy(r"\s*\((?:or|e\.g\.|eg|i\.e\.|ie|incl\.?|including|see|like)\b[^()]*\)", re.I)
_FINITE_BE = fastre.lazy(r"\b(?:is|are|was|were)\b(?!\s+(?:not\s+)?(?:\w+ed|\w+en)\b)", re.I)
_ARROW_TARGET = fastre.lazy(r"(?:(?P<from>\b[A-Za-z][\w-]*(?:\s[A-Za-z][\w-]*)?)\s*)?(?:→|->|=>)\s*"
                           r"(?P<to>(?:same|next)\s+day|daily|weekly|monthly|hourly|real[- ]time|instant(?:ly)?|none|zero)\b",
                           re.I)
_WORD_TIME = (r"(?:business\s+|working\s+|calendar\s+)?(?:seconds?|minutes?|hours?|days?|weeks?|months?)")
_WORD_LIMIT = fastre.lazy(
    rf"\b(?P<q>(?P<num>{'|'.join(w for w in WORD_NUMBERS if ' ' not in w)}|an?)\s+{_WORD_TIME}\s+or\s+"
    rf"(?:less|fewer|under|sooner|faster|better))\b"
    rf"|\b(?:within|in\s+under|in\s+less\s+than|under)\s+(?P<q2>(?P<num2>{'|'.join(w for w in WORD_NUMBERS if ' ' not in w)}"
    rf"|an?)\s+{_WORD_TIME})\b", re.I)
_ZERO = fastre.lazy(r"\b(?:zero|no\s+more\s+than\s+zero)\b", re.I)
_TIME_LIMIT_BEFORE = fastre.lazy(r"\b(?:within|in\s+under|in\s+less\s+than|under)\s+$", re.I)
_TIME_LIMIT_AFTER = fastre.lazy(r"\s+(?:within|in\s+under|in\s+less\s+than|under)$", re.I)
_UNIT_WORDS = fastre.lazy(r"\s+((?:working|business|calendar)\s+days|days?|hours?|weeks?|months?|minutes?|mins?|"
                         r"seconds?|points?|pts|per\s+(?:day|week|month|year))\b", re.I)
_GUARDRAIL = fastre.lazy(r"\s+(?:without|while\s+(?:keeping|not))\s+(?:raising|increasing|hurting|reducing|lowering|"
                        r"dropping|losing|harming|affecting|worsening)\b.*$", re.I)
_DIRECTION_WORD = fastre.lazy(r"(?::\s*|\s+)(?:down|up|cut|reduced?|increased?|raised?|lowered?|grown|halved|doubled)$", re.I)
_WORD_DELTA = fastre.lazy(r"\b(?:double|doubl(?:e|ing)|triple|halve|by\s+(?:a|one)\s+(?:third|quarter|fifth)|by\s+half)\b", re.I)
_AFTER_GROUP = frozenset("without within from in on by that which who with to for per across during".split())
_TRAIL = fastre.lazy(r"[\s,;:\-–—→()+.]+$|\s+(?:from|to|of|at|by|and|with|in|for|on|a|de)$", re.I)
_HEAD = fastre.lazy(r"^[\s,;:\-–—→().~]+|^(?:of|to|by|in|the|our|a|an)\s+", re.I)
_HEAD_KEEP_OF = fastre.lazy(r"^[\s,;:\-–—→().~]+|^(?:to|by|in|the|our|a|an)\s+", re.I)
#: A finite verb of change after the subject: "claims submitted increases by X%", "CSAT has increased
#: by 5 points", "error rate goes down": the subject is the metric, the verb is its direction.
_FINITE_CHANGE = fastre.lazy(
    r"\s+(?:(?:has|have)\s+(?:been\s+)?(?:increased|decreased|reduced|improved|grown|risen|fallen|dropped|declined|"
    r"doubled|halved|gone\s+(?:up|down))|(?:increases|decreases|grows|rises|falls|drops|improves|declines|doubles|"
    r"halves|shrinks|goes\s+(?:up|down)|will\s+(?:increase|decrease|grow|rise|fall|drop|improve|decline|double|halve)))"
    r"\b.*$|\s+(?:goes|go|comes|come|gets|get|is|are|stays|remains|grow|increase|rise|fall|drop|decline|improve)$",
    re.I)
_PASSIVE_CHANGE = fastre.lazy(r"\s+(?:is|are|was|were|gets?|will\s+be|should\s+be)\s+(?:increased|decreased|reduced|improved|"
                             r"grown|raised|lowered|cut|doubled|halved|maintained|kept)\b.*$", re.I)
_TRAILING_ADVERB = fastre.lazy(r"\s+(?:consistently|always|reliably|steadily|continuously|sustainably)$", re.I)


def _uncap(text: str) -> str:
    """"Reconcile ..." -> "reconcile ..." when the phrase moves behind other words; acronyms stay."""
    first = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if first[:1].isupper() and first[1:].islower() else text


#: "invoices are paid", "claims that get approved": a passive after a counted group reads as a
#: participle in a noun phrase ("invoices paid within 30 days").
_PASSIVE_AFTER_GROUP = fastre.lazy(
    r"\b(?P<group>[A-Za-z][\w-]*s)\s+(?:that\s+|which\s+)?(?:are|were|is|was|get|gets|got)\s+"
    r"(?P<part>[a-z]+(?:ed|en)|paid|done|seen|sent|built|made|held|kept|won|met|read|sold|bought|found|told|run|"
    r"set|put|cut|shut|spent|brought|taught|left|lost|known|shown)\b")
#: Marks of a sentence or a list rather than a metric's name.
_NOT_A_NAME = fastre.lazy(r"\be\.g\.?|\betc\b|\bi\.e\.?|\s/\s|/\s*or\b|\?|\.\.\.|…|\b(?:is|are|was|were|has|have|had|because)\b"
                         r"|\bthan\s+(?:those|these|the|it|they|before|last|previous|ever)\b",
                         re.I)
#: Words that leave a phrase hanging when it ends on them ("views w", "ratio at a min").
_DANGLING = frozenset("w w/ min max etc plus minus vs via per than".split())
#: Note-taking shorthand that marks a jotted line rather than a metric's name, wherever it sits.
_SHORTHAND = frozenset({"w", "w/", "&"})
_CADENCE_ADJ = frozenset("daily weekly monthly quarterly yearly early hourly family only".split())
#: Verbs that end a clause rather than a name: "... appear", "... happen".
_INTRANSITIVE = frozenset("appear appears happen happens exist exists occur occurs work works".split())
_CMP_ONLY = fastre.lazy(r"(?:at\s+least|at\s+most|more\s+than|less\s+than|fewer\s+than|no\s+more\s+than|over|under|"
                       r"above|below|[<>≤≥]=?)", re.I)
_SIGN_UPS = fastre.lazy(r"\s*sign[- ]?ups?\b", re.I)


@lru_cache(maxsize=4096)
def noun_phrase(metric: str | None) -> str | None:
    """`metric` as a clean noun phrase a team could track, or None when its words do not make one.

    A coach keeps the author's measure in their words, but never a fragment: no leading verb
    ("Describe funding methods", "Ensure that ..."), no clause ("There are ...", "... is shorter"),
    no unbalanced bracket or quote, no list or example ("e.g.", "etc", "/ or"), nothing left
    hanging at the end ("... w", "... at a min"). A counted group followed by its verb reads
    with "that" ("Developers that join our community"); a passive as a participle ("invoices
    paid"). Callers fall back to the draft as written (`anatomy.render_as_written`).
    """
    if not metric:
        return None
    phrase = metric.strip() if _SIGN_UPS.match(metric) else _LEAD_FILLER.sub("", metric.strip())
    phrase = " ".join(phrase.split()).strip(" ,;:-–")
    phrase = _PASSIVE_AFTER_GROUP.sub(lambda m: f"{m.group('group')} {m.group('part')}", phrase)
    words = phrase.split()
    # A relative clause names who is counted ("New entrants who understand why public goods are
    # good"): its verbs belong to the name; only the words before it must not be a clause.
    rel = _WHO_THAT.search(phrase) if len(words) > 2 else None
    if not words or not _TWO_LETTERS.search(phrase) or len(words) > 16:
        return None
    lex = lexicon()
    for i in range(1, len(words)):
        prev, word = words[i - 1], words[i]
        if any(w.lower() in ("that", "which", "who", "how", "why", "what", "when") for w in words[:i]):
            break  # already inside a clause: "who understand how student loans work"
        if word.islower() and prev.lower() not in ("that", "which", "who") and (
                lex.verb_lemma.get(word) or word in lex.actor_action_set or word in ("have", "has", "are")) and \
                not word.endswith(("ed", "ing")) and _verb_after_group(prev, word):
            words.insert(i, "that")  # "new developers join our community"
            break
    phrase = " ".join(words)
    first, last = words[0].lower(), words[-1].lower().strip(".,;:")
    lead_verb = lexicon().verb_lemma.get(first) == first and not (
        len(words) > 1 and (words[1].lower().lstrip("-") in ("up", "ups", "ins", "outs")
                            or lex.results.fullmatch(words[1]) or lex.service_levels.fullmatch(words[1])))
    lead_verb = lead_verb or (first.endswith("ly") and len(words) > 1 and bool(lex.verb_lemma.get(words[1].lower())))
    if last in _INTRANSITIVE and len(words) > 1 and not _WHO_THAT.search(phrase):
        return None  # "a person's worth of time appear": a clause, not a name
    balanced = all(phrase.count(o) == phrase.count(c) for o, c in ("()", "[]", "{}")) and phrase.count('"') % 2 == 0
    rel = _WHO_THAT.search(phrase) if len(words) > 2 else None
    if len(words) > (16 if rel else 12):
        return None
    if rel and len(phrase[rel.end():].split()) < 2:
        return None  # "model that contains": the clause is cut short
    head = phrase[: rel.start()] if rel else phrase
    if len(words) > 1 and words[1].lower() == "and" and (lex.verb_lemma.get(words[0].lower())
                                                         or lex.actor_actions.fullmatch(words[0].lower())):
        return None  # "Renew and recruit student memberships": two verbs, not a name
    if words[0].lower().endswith("ly") and words[0].lower() not in _CADENCE_ADJ and len(words) > 1 and \
            words[1][:1].islower():
        return None  # "Properly address support SLA": an adverb and its verb
    if (not balanced or _NOT_A_NAME.search(head) or (rel and _NOT_A_NAME.search(
            _BE_HAVE.sub(" ", phrase[rel.end():])))
            or first in _NOT_NOUN_LEAD or lead_verb
            or last in _NOT_NOUN_LEAD or any(w.lower() in _DANGLING for w in (words[-1], *_SHORTHAND & set(words)))
            or phrase[-1:] in "&+/-(,#"):
        return None
    return phrase


def metric_phrase(text: str) -> str | None:
    """The KR's own metric as a noun phrase: its words and defining numbers, without the numbers
    that fill the slots (target, baseline, change, deadline) or the verbs that move them.

    "Make sure 80% of reps reach 90% of quota" -> "Share of reps that reach 90% of quota";
    "Improve 30-day retention from 40% to 55%" -> "30-day retention"; "2m monthly visits" ->
    "Monthly visits". None when nothing of a metric is left.
    """
    r = read(text)
    cut: list[tuple[int, int]] = []
    units: list[str] = []
    share_lead = False
    for q in r.quantities:
        if q.role in ("target", "baseline", "delta", "deadline"):
            start = q.start
            glue = _SLOT_GLUE_BEFORE.search(text, max(0, start - 48), start)
            if glue and not (q.role == "target" and _SHARE_OF.match(text[q.end:])):
                start = glue.start()
            if q.role == "target" and _SHARE_OF.match(text[q.end:]) and q.unit == "%":
                share_lead = True
            tail = _OR_MORE.match(text, q.end) if q.role == "target" else None
            end = tail.end() if tail else q.end
            unit = _UNIT_WORDS.match(text, end)
            if unit:  # "from 42 to 20 working days": the unit names the metric's scale
                units.append(unit.group(1))
                end = unit.end()
            cut.append((start, end))
    dl = deadline_match(text)
    if r.deadline and dl:
        cut.append((dl.start(), dl.end()))
    for m in _NUMBER_IN_BRACKETS.finditer(text):  # "(today: 80k)", "(currently ~31)"
        if any(m.start() <= q.start < m.end() and q.role in ("baseline", "target") for q in r.quantities):
            cut.append((m.start(), m.end()))
    for m in PLACEHOLDER_RE.finditer(text):  # "X claims", "by X%": a placeholder fills a slot
        glue = _SLOT_GLUE_BEFORE.search(text, max(0, m.start() - 48), m.start())
        cut.append((glue.start() if glue else m.start(), m.end()))
    out, last = [], 0
    for s, e in sorted(cut):
        if s >= last:
            out.append(text[last:s])
            last = e
        elif e > last:
            last = e
    out.append(text[last:])
    phrase = " ".join("".join(out).split())
    phrase = _COMPARED_TO.sub("", _FINITE_CHANGE.sub("", _PASSIVE_CHANGE.sub("", _LEAD_FILLER.sub("", phrase))))
    phrase = _GUARDRAIL.sub("", phrase)  # "without raising readmissions" is a second metric, not this one
    phrase = _DIRECTION_WORD.sub("", phrase)
    # "..., resulting in retention curve flattening": the result named after the clause is the metric.
    clause = _RESULT_CLAUSE.search(phrase)
    if clause and len(phrase[clause.end():].split()) >= 1:
        phrase = phrase[clause.end():]
    # Side remarks that are alternatives or examples, and a bracket never closed, are not the metric.
    phrase = _ASIDE.sub("", phrase)
    if phrase.count("(") > phrase.count(")"):
        phrase = phrase[: phrase.rfind("(")]
    head = _HEAD_KEEP_OF if share_lead else _HEAD
    for _ in range(3):
        trimmed = _TRAILING_ADVERB.sub("", _TRAIL.sub("", head.sub("", phrase))).strip()
        if trimmed == phrase:
            break  # nothing left to trim: another round would change nothing either
        phrase = trimmed
    if phrase.count("(") == phrase.count(")") + 1 and phrase.rfind("(") > phrase.rfind(")"):
        phrase += ")"  # "Student satisfaction (NSS) ≥ 4.2/5": the trim took the bracket that closes a name
    phrase = _DANGLING_FROM_TO.sub(" ", phrase).strip()
    if share_lead and not _OF_LEAD.match(phrase):
        # "We process 99.95% of uploads without a retry": the group goes first, the verb after it.
        pre, of, post = phrase.partition(" of ")
        if of and _CMP_ONLY.fullmatch(pre.strip()):
            phrase = "of " + post  # "At least 80% of contributors ...": the comparison stays with the target
        elif not of or _ENDS_WITH_BY.search(pre):
            share_lead = False
        else:
            words = post.split()
            stop = next((i for i, w in enumerate(words) if w.lower() in _AFTER_GROUP), len(words))
            phrase = "of " + " ".join(words[:stop] + [pre.lower() if pre.split()[0].lower() in ("we", "i") else pre]
                                      + words[stop:])
    if share_lead and _OF_LEAD.match(phrase):
        phrase = phrase[3:]
    if share_lead:
        words = phrase.split()
        lex = lexicon()
        at = next((i for i in range(1, len(words)) if words[i - 1].lower().endswith("s") and not words[i].endswith("ed")
                   and (lex.verb_lemma.get(words[i].lower()) or _verb_after_group(words[i - 1], words[i]))), None)
        if at is not None:
            words.insert(at, "that")
        phrase = "Share of " + " ".join(words) if words else ""
    if units and phrase and units[0].lower() not in phrase.lower():
        unit = " ".join(units[0].split())
        phrase = f"{phrase} {unit}" if unit.lower().startswith("per ") else f"{phrase} ({unit})"
    limit = _TIME_LIMIT_AFTER.search(phrase)
    if limit and r.target and r.target.unit in ("duration", "h", "d", "days", "day", "hours", "hour", "weeks", "week",
                                                "minutes", "mins", "min", "ms", "s", "seconds"):
        # "Returns processed within 3 days": the time it takes is the metric, the limit its target.
        phrase = "time until " + _uncap(phrase[: limit.start()])
    phrase = _PASSIVE_AFTER_GROUP.sub(lambda m: f"{m.group('group')} {m.group('part')}", phrase)  # "invoices paid"
    if not phrase or not _TWO_LETTERS.search(phrase) or len(phrase.split()) > 14 or _FINITE_BE.search(phrase):
        return None  # a clause ("membership is , goal is members"), not a noun phrase
    return phrase


# Short patterns the functions above use, compiled on first use.
_NEXT_WORD = fastre.lazy(r"\s+[\"“'‘]?([A-Za-z][\w-]*)")
_NUMBER_IN_BRACKETS = fastre.lazy(r"\((?:[^()]*\d[^()]*)\)")
_COHORT_AFTER = fastre.lazy(r"\s+(?:first[- ]timers|cohort|sign[- ]?ups|signups|users|customers|hires|joiners)", re.I)
_GOAL_JOIN = fastre.lazy(r"\s(?:and|&|as well as|plus)\s|;")
_ANY_DIGIT = fastre.lazy(r"\d")
_WHO_THAT = fastre.lazy(r"\s(?:who|that)\s")
_OF_LEAD = fastre.lazy(r"of\s", re.I)
_WITHIN_NEXT = fastre.lazy(r"within\s+(?:the\s+)?(?:next\s+)?\d", re.I)
_TWO_LETTERS = fastre.lazy(r"[A-Za-z]{2}")
_DANGLING_FROM_TO = fastre.lazy(r"\s+(?:from|to)\s+(?=(?:by|in)\b|$)")
_BE_HAVE = fastre.lazy(r"\b(?:is|are|was|were|has|have|had)\b")
_ENDS_WITH_BY = fastre.lazy(r"\bby$")
_LOWER_LETTER = fastre.lazy(r"[a-z]")
_TIME_PREPOSITION = fastre.lazy(r"(?:by|in|before|until|per)\b")
