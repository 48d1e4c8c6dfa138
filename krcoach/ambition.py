"""Ambition checks for one KR: its target against its own baseline (`wrong_direction`,
`flat_target`, `sandbagging`). `coach` adds them to every review, whichever engine ran.

They live apart from the plan review (`plan.py`, which re-exports them) because they run on every
KR of every review, while the plan review runs only when teams are named or asked for: a review
of one file does not import, compile and build the plan review's detectors. The phrase
helper `_phrase_re` is shared with `plan.py` from here for the same reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Iterable

from krcoach.data import load_json
from krcoach.rules import quantities
from krcoach.rules.anatomy import parse
from krcoach.rules.lexicon import lexicon
from krcoach.models import Issue, KeyResult, KRReview, trusted

AMBITION_CODES = ("wrong_direction", "flat_target", "sandbagging")


_B = r"(?<![A-Za-z0-9])"
_E = r"(?![A-Za-z0-9])"


def _phrase_re(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """One regex for a list of lower-case phrases; '...' (or '…') stands for up to five words."""
    parts = []
    for p in sorted({p.strip().lower() for p in phrases if p.strip()}, key=len, reverse=True):
        words = re.split(r"\s*(?:\.\.\.|…)\s*", p)
        body = r"(?:\s+\S+){0,5}?\s+".join(r"\s+".join(re.escape(w) for w in part.split()) for part in words)
        parts.append(body)
    if not parts:
        return None
    return re.compile(_B + "(?:" + "|".join(parts) + ")" + _E, re.I)


_HOLD_WORDS = re.compile(r"\b(?:maintain|keep|hold|sustain|stay|remain|protect|preserve|at\s+least|no\s+worse|"
                         r"or\s+(?:better|higher|lower|above|below)|steady|flat|level)\b", re.I)
_MULT_RE = re.compile(r"(k|m|mm|mn|bn|b|thousand|million|billion)\b", re.I)
_MULT = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mm": 1e6, "mn": 1e6, "million": 1e6, "b": 1e9, "bn": 1e9,
         "billion": 1e9}
_DURATION = {"ms": 0.001, "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "min": 60, "mins": 60,
             "minute": 60, "minutes": 60, "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
             "d": 86400, "day": 86400, "days": 86400, "week": 604800, "weeks": 604800, "wk": 604800,
             "wks": 604800, "month": 2592000, "months": 2592000, "year": 31536000, "years": 31536000}
_DUR_PART = re.compile(r"(\d+(?:\.\d+)?)\s?(h|m|min|s)", re.I)
_SCALE_OF = re.compile(r"(?:out\s+of|/)\s?(\d+(?:\.\d+)?)|on\s+a\s+(\d+)[-\s]point", re.I)
_LEAD = re.compile(r"^\s*([A-Za-z][\w'-]*)")
_BETTER_VERBS = frozenset({"improve", "enhance", "optimise", "optimize", "strengthen", "better", "extend"})
_METRIC_HEAD_END = re.compile(r"\s+(?:of|for|in|on|per|at|across|within|among|with|from|to|by|through|during|"
                              r"among|versus|vs)\b.*$", re.I)


def _amount(q: quantities.Quantity) -> tuple[float, str] | None:
    """A quantity as (value, unit family): money and counts with their multipliers, durations in
    seconds, percentages."""
    text = q.text.strip().lower().replace(",", "")
    if q.unit == "duration":
        total = sum(float(n) * {"h": 3600, "m": 60, "min": 60, "s": 1}[u.lower()] for n, u in _DUR_PART.findall(text))
        return (total, "duration") if total else None
    value = q.value
    if value is None:
        return None
    mult = _MULT_RE.search(re.sub(r"^[^\d]*[\d.]+", "", text))
    if mult and q.unit not in ("%",):
        value *= _MULT[mult.group(1).lower()]
    unit = (q.unit or "").lower()
    if unit in _DURATION:
        return value * _DURATION[unit], "duration"
    if unit == "%":
        return value, "%"
    if unit in ("k", "m", "mm", "mn", "bn", "b", "thousand", "million", "billion", ""):
        return value, "count"
    return value, unit


_RATE_AFTER = re.compile(r"^\s*(?:per|a|an|/|every|each)\s*(?:(\d+)\s*)?([a-z]+)", re.I)


def _from_to(text: str, r: quantities.Reading) -> tuple[quantities.Quantity, quantities.Quantity] | None:
    """The baseline and target a KR states: its "from X to Y" where it has one (a threshold such as
    "HbA1c under 8%" is not the target), else the reader's slots."""
    from krcoach.rules.anatomy import from_to_match

    ft = from_to_match(text)
    if ft:
        base_at = ft.start("base") if ft.group("base") else ft.start("base2")
        target_at = ft.start("target") if ft.group("target") else ft.start("target2")
        base = next((q for q in r.quantities if q.start <= base_at < q.end or q.start == base_at), None)
        target = next((q for q in r.quantities if q.start <= target_at < q.end or q.start == target_at), None)
        if base is not None and target is not None and base is not target:
            return base, target
    if r.baseline is None or r.target is None:
        return None
    return r.baseline, r.target


def _amounts(text: str, bq: quantities.Quantity, tq: quantities.Quantity) -> tuple[float, float, str] | None:
    """Baseline and target as numbers in one unit, or None when they cannot be compared. A unit
    written once covers both ("from 31 to 31 minutes"); rates per period are compared per second
    ("3 per week" vs "3 per day")."""
    base, target = _amount(bq), _amount(tq)
    if base is None or target is None:
        return None
    if base[1] == "count" and target[1] != "count" and bq.unit is None:
        unit = (tq.unit or "").lower()
        base = (base[0] * _DURATION[unit], "duration") if unit in _DURATION else (base[0], target[1])
    rates = [_RATE_AFTER.match(text[q.end:]) for q in (bq, tq)]
    periods = [(_DURATION.get(m.group(2).lower()) if m else None) for m in rates]
    per = [float(m.group(1) or 1) if m else 1.0 for m in rates]
    if periods[0] and periods[1]:
        base = (base[0] / (periods[0] * per[0]), base[1])
        target = (target[0] / (periods[1] * per[1]), target[1])
    if base[1] != target[1]:
        return None
    return base[0], target[0], base[1]


def _as_written(text: str, q: quantities.Quantity) -> str:
    """A number as the draft writes it, with its rate ("3 per week") when it has one."""
    m = _RATE_AFTER.match(text[q.end:])
    if m and m.group(2).lower() in _DURATION:
        return (q.text + text[q.end:q.end + m.end()]).strip()
    return q.text


@dataclass(frozen=True)
class _Ambition:
    lower_better: re.Pattern[str] | None
    higher_better: re.Pattern[str] | None
    min_relative_change: float
    min_gap_closed: float
    questions: dict[str, str]


@cache
def _ambition() -> _Ambition:
    """What the per-KR ambition checks need, without the rest of the plan knowledge (they run on
    every KR of every review, so a one-KR review does not compile the trade-off tables)."""
    t, p = load_json("tradeoffs.json"), load_json("plan.json")
    return _Ambition(lower_better=_phrase_re(t["polarity"]["lower_is_better"]),
                     higher_better=_phrase_re(t["polarity"]["higher_is_better"]),
                     min_relative_change=float(p["ambition"]["min_relative_change"]),
                     min_gap_closed=float(p["ambition"]["min_gap_closed"]),
                     questions=dict(p["ambition"]["questions"]))


def _polarity(metric: str | None) -> str | None:
    """'lower' or 'higher' when the metric's head word says which way is better; else None."""
    if not metric:
        return None
    head = _METRIC_HEAD_END.sub("", metric.lower()).strip()
    if not head:
        return None
    k = _ambition()
    best: tuple[int, int, str] | None = None
    for rx, pol in ((k.lower_better, "lower"), (k.higher_better, "higher")):
        if rx is None:
            continue
        for m in rx.finditer(head):
            cand = (m.end(), m.end() - m.start(), pol)
            if best is None or cand[:2] > best[:2]:
                best = cand
    if best is None or best[0] != len(head):
        return None
    return best[2]


def ambition_issues(kr: KeyResult | str, review: KRReview | None = None) -> list[Issue]:
    """wrong_direction, flat_target and sandbagging for one KR, from its own baseline and target.

    None of them fires on a health metric (a level to hold) or where the two numbers are not in
    one unit. The intended direction comes from the verb ("reduce"), else from which way is better
    for the metric ("churn": lower; "retention": higher).
    """
    text = kr if isinstance(kr, str) else kr.kr
    if review is not None and "health_metric" in review.issue_codes():
        return []
    a = parse(text)
    r = a.reading
    if r is None or a.direction == "maintain":
        return []
    slots = _from_to(text, r)
    if slots is None:
        return []
    baseline_q, target_q = slots
    if any(q.text.startswith(("-", "−", "±", "+")) or text[max(0, q.start - 1):q.start] in "±+~<>≤≥"
           for q in (baseline_q, target_q) if q.start > 0 or q.text[:1] in "-−±+"):
        return []
    amounts = _amounts(text, baseline_q, target_q)
    if amounts is None:
        return []
    b, t, unit = amounts
    k = _ambition()
    lex = lexicon()
    lead = _LEAD.match(text)
    verb = lex.verb_lemma.get(lead.group(1).lower(), lead.group(1).lower()) if lead else ""
    metric = a.metric or "this metric"
    polarity = _polarity(a.metric)
    if verb in lex.decrease_verbs:
        intent = "down"
    elif verb in lex.data.get("maintain_verbs", []):
        return []
    elif verb in _BETTER_VERBS or verb not in lex.data.get("change_verbs", []):
        intent = "better"
    else:
        intent = "up"
    values = {"metric": metric, "baseline": baseline_q.text, "target": target_q.text}

    def issue(code: str, message: str) -> list[Issue]:
        q = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), k.questions.get(code, ""))
        return [trusted(Issue, {"code": code, "message": f"{message} {q}".strip()})]

    bt, tt = _as_written(text, baseline_q), _as_written(text, target_q)
    if b == t:
        if _HOLD_WORDS.search(text):
            return []
        return issue("flat_target", f"The target ({tt}) equals the baseline ({bt}): as written nothing has to "
                     "change.")
    moved = "up" if t > b else "down"
    wrong = None
    if intent == "up" and moved == "down":
        wrong = f"says to raise {metric} but the target ({tt}) is below the baseline ({bt})"
    elif intent == "down" and moved == "up":
        wrong = f"says to lower {metric} but the target ({tt}) is above the baseline ({bt})"
    elif polarity == "lower" and moved == "up":
        wrong = f"moves {metric} from {bt} up to {tt}, and lower is better for {metric}"
    elif polarity == "higher" and moved == "down":
        wrong = f"moves {metric} from {bt} down to {tt}, and higher is better for {metric}"
    if wrong:
        return issue("wrong_direction", f"The key result {wrong}.")
    if b <= 0:
        return []
    rel = abs(t - b) / abs(b)
    if rel >= k.min_relative_change:
        return []
    upper = 100.0 if unit == "%" and b < 100 else None
    scale = _SCALE_OF.search(text)
    if scale and unit == "count":
        upper = float(scale.group(1) or scale.group(2))
        if upper <= b:
            upper = None
    if upper is not None and moved == "up":
        closed = (t - b) / (upper - b) if upper > b else 1.0
        if closed >= k.min_gap_closed:
            return []
    return issue("sandbagging", f"From {bt} to {tt} is a {rel:.1%} change: it reads as a number the team is "
                 "sure to hit.")


__all__ = ["ambition_issues", "AMBITION_CODES"]
