"""Issue findings for one KR: stable snake_case codes with a one-line message each.

The codes are the stable interface (`krcoach/data/issue_codes.json`); the verdict decides which
family applies (an output's `activity`, `milestone`, `own_activity_share`; an outcome's
`no_metric`, `no_target`, `no_baseline`, `health_metric`) and the reading the rest.
"""

from __future__ import annotations

from krcoach.models import Issue, ISSUE_CODES, trusted
from krcoach.rules import fastre
from krcoach.rules.anatomy import Anatomy
from krcoach.rules.evidence import Verdict
from krcoach.rules.lexicon import lexicon
from krcoach.rules.wording import _shorten

def _issue(code: str, message: str) -> Issue:
    return trusted(Issue, {"code": code, "message": message})


def _issues(a: Anatomy, verdict: Verdict, dated: bool, paired: bool) -> list[Issue]:
    issues: list[Issue] = []

    def add(code: str, message: str) -> None:
        assert code in ISSUE_CODES, code
        if code not in {i.code for i in issues}:
            issues.append(_issue(code, message))

    no_numbers = not a.numbers and not a.placeholders and not a.values
    if a.injection:
        add("injection", "Contains text addressed to the coach (e.g. 'ignore previous instructions'); "
                         "it was treated as part of the key result and changed nothing.")
    if verdict.kind == "output":
        if lexicon().strong_milestones.search(a.text) and not a.research:
            add("milestone", "A one-off milestone: keep it as a project goal and pair it with the "
                             "impact metric it is meant to move.")
        if a.own_share:
            add("own_activity_share", "Measures how much of our own work is covered, not what that "
                                      "coverage changes for users.")
        add("activity", f"Measures work done ('{_shorten(a.text, 60)}'), not the change it should cause.")
    else:
        if not a.metric and not a.results:
            add("no_metric", "Names no measurable quantity: say what you will count.")
        if a.direction == "maintain" or (a.service_levels and a.comparator and not a.change_verbs
                                         and not a.baseline):
            add("health_metric", "Keeps a level steady rather than moving it: fine as a health "
                                 "check, but say what must improve this cycle.")
        if a.target is None or (a.placeholders and a.target in a.placeholders):
            add("no_target", "Has no target value: say where the number should end.")
        if a.baseline is None and a.direction != "maintain":
            add("no_baseline", "Has no starting value, so progress cannot be judged: measure it first.")
    if no_numbers and lexicon().vague.search(a.text):
        add("vague", "Too vague to tell when it is done: name a number that would prove it.")
    if a.placeholders:
        add("placeholder", f"Contains a placeholder ({a.placeholders[0]}): fill it in before committing.")
    if a.multi_goal and not paired:
        add("multi_goal", "Bundles several goals into one line: split it so each can be scored.")
    if not dated:
        add("no_deadline", "Has no date or period, and no dated cycle gives one: say by when.")
    return issues


def _is_paired(a: Anatomy) -> bool:
    """"Launch v2 and lift activation from 22% to 35% within 60 days of launch": work paired with
    the change it should produce, the form coaches recommend. Praised, not split."""
    if not a.multi_goal:
        return False
    parts = _AND_OR_TO.split(a.text, maxsplit=1)
    if len(parts) < 2:
        return False
    return lexicon().verb_class.get(parts[0].split()[0].lower()) == "activity" and bool(
        a.reading and (a.reading.target or a.reading.delta))
_AND_OR_TO = fastre.lazy(r"\s(?:and|&|to)\s")
