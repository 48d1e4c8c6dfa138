"""Objective- and set-level checks: what is wrong with the shape of an OKR set, not one KR."""

from __future__ import annotations

import re

from krcoach.models import Finding, KRReview, Objective, OKRSet, trusted
from krcoach.periods import YEAR_RE

MIN_KRS, MAX_KRS, MAX_OBJECTIVES = 2, 5, 5
# Numbers in an objective: digits, percentages, money; not "Q3"/"H1"/"2026" period labels.
_OBJECTIVE_NUMBER = re.compile(r"(?<![\w.])(?:[$€£¥]\s?)?\d[\d,.]*\s?(?:%|k|m|x)?(?![\w])", re.I)


def _finding(code: str, message: str, scope: str, objective: str | None = None) -> Finding:
    """A finding built without validation: every value is a string these checks wrote (or the
    objective's title, already a str), so validating would only check types that cannot be wrong,
    and the first validated model of a run builds its schema and has pydantic scan the installed
    packages for plugins (8 ms of a one-KR review)."""
    return trusted(Finding, {"code": code, "message": message, "scope": scope, "objective": objective})


def set_uses_owners(okrs: OKRSet) -> bool:
    return any(kr.owner for kr in okrs.key_results())


def objective_findings(objective: Objective, reviews: list[KRReview]) -> list[Finding]:
    """Findings about one objective, given its KRs' reviews."""
    if objective.title is None:
        return []
    title = objective.title
    found: list[Finding] = []

    def add(code: str, message: str) -> None:
        found.append(_finding(code, message, "objective", title))

    numbers = [n.strip() for n in _OBJECTIVE_NUMBER.findall(title) if not YEAR_RE.match(n.strip())]
    if numbers:
        add("objective_has_numbers", f"The objective contains {', '.join(numbers[:3])}: keep the "
            "objective qualitative and move the numbers into key results.")
    n = len(objective.krs)
    if n > MAX_KRS:
        add("too_many_krs", f"{n} key results under one objective; keep {MIN_KRS}-{MAX_KRS} so focus survives.")
    elif n < MIN_KRS:
        add("too_few_krs", f"Only {n} key result; use {MIN_KRS}-{MAX_KRS} so one number cannot be gamed.")
    if reviews and all(r.kind == "output" for r in reviews):
        add("all_outputs", "Every key result here measures work done; add at least one that measures "
            "the change this objective is about.")
    return found


#: Gaps that, when every KR of an objective has them, are said once for the objective instead.
SHARED_GAPS = {"no_deadline": "a date", "no_baseline": "a starting value", "no_target": "a target value"}


def lift_shared_gaps(title: str | None, reviews: list[KRReview]) -> list[Finding]:
    """A gap every KR of an objective shares is one finding for the objective, not one per KR.

    Removes the shared codes from the KRs (in place) and returns the objective-level findings.
    """
    if len(reviews) < 2:
        return []
    found: list[Finding] = []
    for code, part in SHARED_GAPS.items():
        if all(code in r.issue_codes() for r in reviews):
            for r in reviews:
                r.issues = [i for i in r.issues if i.code != code]
            found.append(_finding("shared_gap", (
                f"None of the {len(reviews):,} KRs under this objective has {part} ({code}): add it to each, or set it "
                "once for the objective."), "objective", title))
    return found


def set_findings(okrs: OKRSet) -> list[Finding]:
    """Findings about the whole set."""
    found: list[Finding] = []
    titled = [o for o in okrs.objectives if o.title]
    if len(titled) > MAX_OBJECTIVES:
        found.append(_finding("too_many_objectives", (
            f"{len(titled)} objectives; {MAX_OBJECTIVES} or fewer keeps the set focused."), "set"))
    if set_uses_owners(okrs):
        missing = [kr.id for kr in okrs.key_results() if not kr.owner]
        if missing:
            shown = ", ".join(missing[:5]) + ("…" if len(missing) > 5 else "")
            found.append(_finding("no_owner", (
                f"{len(missing)} key result(s) without an owner while others have one (ids {shown})."), "set"))
    return found
