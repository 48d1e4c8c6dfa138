"""The hand-set weighing of a KR's structural evidence: `classify` and the `Verdict` it returns.

Completing a KR proves either that work was done (activity verbs, finished states, counts of
deliverables, hiring, coverage of the team's own work) or that something changed outside the team
(result metrics, people acting on their own, service levels, satisfaction, change verbs on a
non-deliverable). `classify` adds up chosen scores for each side. It sits below `verdict` (whose
learned model weighs these scores beside the rest of the reading) and below the whys and rewrites,
which quote the same evidence; the patterns both the scores and the model test live here once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from krcoach.models import Kind
from krcoach.rules import fastre
from krcoach.rules.anatomy import about_a_metric, Anatomy
from krcoach.rules.lexicon import lexicon, WordGate, words

#: Others acting with the team's work: "one app to integrate Sentinel", "projects applying to join",
#: "partner organisations asking for more interns", "teams adopt the tool".
_OTHERS_ACT = fastre.lazy(
    r"(?<!\bour\s)(?<!\bmy\s)\b(?:other\s+|third[- ]party\s+|external\s+|outside\s+|partner\s+|new\s+|more\s+|non-[\w-]+\s+)?"
    r"(?:apps?|applications|projects|teams|organi[sz]ations|companies|partners|developers|vendors|maintainers|clubs|"
    r"chapters|communities|institutions|universities|schools|agencies)\s+(?:to\s+|that\s+|who\s+|which\s+|will\s+)?"
    r"(?:(?:have|has|had)\s+(?:been\s+)?)?"
    r"(?:integrat|adopt|apply|applying|applied|join|deploy|us(?:e|es|ed|ing)\b|test(?:s|ing)?\s+against|ask|request|migrat|switch|"
    r"upgrad|contribut|build(?:s|ing)?\s+on|run(?:s|ning)?\s+on|rel(?:y|ies|ying)\s+on|sign(?:s|ing)?\s+up|check(?:s|ing)?\s+in)",
    re.I)
#: "Get 80 accounts to turn on audit logs": an output-shaped verb whose object is others' behaviour.
_GET_OTHERS_TO = fastre.lazy(r"^\s*(?:get|help|enable|encourage|convince|persuade|bring)\s+(?:at\s+least\s+|over\s+|[>~]\s?)?"
                            r"\d[\d,.]*\+?\s+(?:[\w-]+\s+){0,3}?[\w-]+s\s+to\s+[a-z]", re.I)
#: A level of business health to keep: "accounts receivable is within industry norms".
_HEALTH_LEVEL = fastre.lazy(r"\b(?:is|are|stays?|remains?|kept|keep)\s+(?:with)?in\s+(?:the\s+)?(?:industry\s+)?"
                           r"(?:norms?|benchmarks?|budget|limits?|tolerance|range|target)\b"
                           r"|\bwithin\s+(?:the\s+)?industry\s+(?:norms?|benchmarks?|standards?)\b", re.I)
#: The team's own people, signed up by the team: "Have 4 core team members", "Add 2 maintainers".
_SIGNS_UP_OWN = fastre.lazy(r"^\s*(?:have|add|get|onboard|hire|recruit|bring\s+on|find|appoint|elect|staff)\s+"
                           r"(?:at\s+least\s+)?\d+\+?\s+(?:new\s+|more\s+|full[- ]time\s+|part[- ]time\s+)*"
                           r"(?:core\s+team\s+members?|team\s+members?|core\s+contributors?|staff|employees|maintainers|"
                           r"officers|board\s+members|committee\s+members|developers|engineers|designers)\b", re.I)
#: The team giving or allocating something of its own: "Offer 6 companies our workshop", "Allocate
#: a grants budget": an offer made, not a result.
_OWN_OFFERING = fastre.lazy(r"^\s*(?:offer|provide|allocate|award|grant|give|distribute|fund|budget|sponsor|add\s+a\s+"
                           r"[\w“”\"' ]{0,20}budget)\b", re.I)

# Word gates (`lexicon.WordGate`) for the searches over the whole KR; each set's words stand between
# non-word characters in every match. _OTHERS_ACT: the group after `\b` or a prefix's `\s+`, before
# `\s+`. _HEALTH_LEVEL: the verb between `\b` and `\s+`, "in"/"within" between `\s+` and `\s+`,
# the level word after `\s+`, before `\b`; the second alternative's words likewise.
_OTHERS_ACT_GATE = WordGate(_OTHERS_ACT, (
    words("app apps applications projects teams organisations organizations companies partners developers vendors "
          "maintainers clubs chapters communities institutions universities schools agencies"),))
_HEALTH_LEVEL_GATE = WordGate(
    _HEALTH_LEVEL,
    (words("is are stay stays remain remains kept keep"), words("in within"),
     words("norm norms benchmark benchmarks budget limit limits tolerance range target")),
    (words("within"), words("industry"), words("norm norms benchmark benchmarks standard standards")))

_OUTCOME_CLAUSE = fastre.compile(
    r"\b(?:w/?|with|that|which|so that|resulting in|leading to|to (?:get|reach|drive|bring|include)|and (?:get|have|reach|drive)|"
    r"generating|driving|bringing|reaching|averaging|gets?|get|has|have|influenc\w*|convert\w*|include|includes)\b|[,;]", re.I)


_COMPARATIVE = fastre.compile(r"\b(?:more|less|fewer|better|worse|easier|faster|quicker|cheaper|higher|lower|up|down)\b|[↑↓]",
                         re.I)


@dataclass
class Verdict:
    """A classification with the evidence behind it, for explanations and debugging."""

    kind: Kind
    output_score: float
    outcome_score: float
    external_result: bool = False


def _metric_is_deliverable(a: Anatomy) -> bool:
    lex = lexicon()
    if not a.metric:
        return False
    return bool(lex.deliverables.search(a.metric)) and not lex.results.search(a.metric) and \
        not lex.service_levels.search(a.metric)


def _external_result(a: Anatomy) -> bool:
    """An outside result attached to a task: "6 blog posts with 3,000+ reads", "talk that influences 50 devs"."""
    lex = lexicon()
    for m in _OUTCOME_CLAUSE.finditer(a.text):
        if m.start() == 0:
            continue
        tail = a.text[m.start():]
        if not _MEASURED_TAIL.search(tail):
            continue
        # Search the whole text from the clause on: the matchers cache the text's words.
        if lex.results.search(a.text, m.start()) or lex.actors.search(a.text, m.start()) or \
                lex.satisfaction.search(a.text, m.start()) or _PERCENT.search(tail):
            return True
    return False


def classify(a: Anatomy) -> Verdict:
    """Output or outcome, from the anatomy alone (the objective only shapes the explanation)."""
    out = 0.0
    inn = 0.0
    own_signup = bool(_SIGNS_UP_OWN.search(a.text))  # "Have 4 core team members": the team's own people
    staffing = a.hiring_verb or own_signup
    deliverable_metric = _metric_is_deliverable(a)

    if a.verb_class == "activity":
        out += 2
    if a.completion and not a.change_verbs:
        out += 1.5
    if a.activity_count:
        out += 2
    if a.hiring_verb:
        out += 2.5
    elif a.hiring:
        out += 1
    if a.capability:
        out += 2.5
    if a.baseline_setup:
        out += 3
    if a.research:
        out += 1.5
    if about_a_metric(a) and not a.change_verbs:
        out += 2  # measuring, investigating, surveying: work about a metric, not a change to it
    if a.own_share:
        out += 3
    if lexicon().strong_milestones.search(a.text) and not a.results:
        out += 1
    if deliverable_metric:
        out += 1.5

    measured = bool(a.numbers or a.comparator or a.change_verbs or a.placeholders)
    if a.results and not own_signup:
        inn += 1.5 + (1.5 if measured else 0)
    if a.actors and a.actor_actions and not a.capability:
        inn += 1.5
    if a.actor_count and not staffing:
        inn += 2
    if a.by_actor:
        inn += 2
    if _ACTIVE_PEOPLE.search(a.text) and not staffing:
        inn += 1.5
    if a.change_verbs:
        if deliverable_metric and a.direction != "decrease":
            out += 1
        else:
            inn += 2
    if a.service_levels:
        inn += 2
    if a.satisfaction:
        inn += 2
    if a.verb_class == "maintain" and (a.comparator or a.numbers):
        inn += 2
    shaped = a.is_from_to or (a.comparator not in (None, "by")) or bool(_LABEL_VALUE.search(a.text))
    if shaped and a.verb_class != "activity" and not deliverable_metric and not a.own_share:
        inn += 1.5
    if _COMPARATIVE.search(a.text) and a.verb_class != "activity":
        inn += 1
    if a.verb_class == "activity" and _PURPOSE_CLAUSE_GATE.search(a.text):
        # "Upgrade to Postgres 16 to unblock enterprise customers": the purpose names the change,
        # the KR measures the work; result words inside the purpose are not what it measures.
        out += 2
    if a.rollout:
        out += 3.5
    external = _external_result(a)
    if external:
        inn += 3
    if a.hiring_verb and not a.satisfaction and not a.service_levels:
        # People the team signs up itself are staffing, whatever the numbers around it.
        out += 1.5
    if _OTHERS_ACT_GATE.search(a.text) or _GET_OTHERS_TO.search(a.text):
        inn += 3  # "one app to integrate Sentinel", "Get 60 clinics to switch on e-prescriptions": others act
    if _HEALTH_LEVEL_GATE.search(a.text):
        inn += 3  # "accounts receivable is within industry norms": a level of business health
    if own_signup:
        out += 2.5  # "Have 4 core team members": people the team signs up itself
    if _OWN_OFFERING.search(a.text):
        out += 2  # "Offer 6 companies our workshop": the team's own offer
    kind: Kind = "outcome" if inn > out else "output"
    return Verdict(kind=kind, output_score=out, outcome_score=inn, external_result=external)


_PURPOSE_CLAUSE = fastre.lazy(
    r"\s(?:to|so\s+that\s+we\s+can|in\s+order\s+to)\s+(?P<verb>unblock|enable|improve|increase|reduce|cut|lower|grow|boost|"
    r"lift|attract|retain|drive|speed\s+up|shorten|raise)\s+(?P<obj>[^,;.()]+)", re.I)
#: The verb between `\s+` and `\s+` ("speed up": "speed"); "to" between `\s` and `\s+`, or "can"
#: ending "so that we can".
_PURPOSE_CLAUSE_GATE = WordGate(_PURPOSE_CLAUSE, (
    words("unblock enable improve increase reduce cut lower grow boost lift attract retain drive speed shorten raise"),
    words("to can")))
_ACTIVE_PEOPLE = fastre.lazy(r"\bactive\s+[a-z]", re.I)
_MEASURED_TAIL = fastre.lazy(r"\d|\b(?:N0|X|TBD)\b")
_PERCENT = fastre.lazy(r"\d\s?%")
_LABEL_VALUE = fastre.lazy(r":\s*\S*\d")
