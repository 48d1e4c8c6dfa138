"""The rules engine: deterministic, offline, instant coaching from `anatomy.parse`.

Classification weighs evidence that completing the KR proves work was done (activity verbs,
finished states, counts of deliverables, hiring, coverage of the team's own work) against evidence
that something changed outside the team (result metrics, people acting on their own, service
levels, satisfaction, change verbs on a non-deliverable). Rewrites never invent numbers: what the
draft does not give is a visible placeholder and the reasoning is listed as assumptions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import fastre
from .anatomy import (
    Anatomy,
    clean_kr,
    invented_numbers,
    is_short_noun_phrase,
    parse,
    render_rewrite,
    split_goals,
)
from .engine import ReviewContext
from .lexicon import catalogue, catalogue_index, lexicon
from .models import ISSUE_CODES, Issue, Kind, KeyResult, KRReview, Objective, Rewrite

__all__ = ["RulesEngine", "Verdict", "classify", "render_rewrite", "review_kr"]

_STRONG_MILESTONES = fastre.compile(
    r"\b(?:certif\w*|soc\s?2|iso\s?\d+|hipaa|gdpr|pci|fedramp|accredit\w*|audit|compliance|compliant|"
    r"go[- ]live|general availability|approv\w*|sign[- ]off|signed off|licen[cs]\w*|funding round|"
    r"series [abc]|regulatory|clearance|ce mark|wcag|cutover|decommission\w*|v?\d+\.0\b|beta|alpha|"
    r"go live|milestone|deadline met)\b",
    re.I)
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
    reasons: list[str]
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
        if not re.search(r"\d|\b(?:N0|X|TBD)\b", tail):
            continue
        # Search the whole text from the clause on: the matchers cache the text's words.
        if lex.results.search(a.text, m.start()) or lex.actors.search(a.text, m.start()) or \
                lex.satisfaction.search(a.text, m.start()) or re.search(r"\d\s?%", tail):
            return True
    return False


def classify(a: Anatomy) -> Verdict:
    """Output or outcome, from the anatomy alone (the objective only shapes the explanation)."""
    out = 0.0
    inn = 0.0
    reasons: list[str] = []
    deliverable_metric = _metric_is_deliverable(a)

    if a.verb_class == "activity":
        out += 2
        reasons.append(f"starts with the activity verb '{a.leading_verb}'")
    if a.completion and not a.change_verbs:
        out += 1.5
        reasons.append(f"describes a finished state ('{a.completion[0]}')")
    if a.activity_count:
        out += 2
        reasons.append(f"counts the team's own work ('{a.activity_count}')")
    if a.hiring_verb:
        out += 2.5
        reasons.append("is about hiring or staffing")
    elif a.hiring:
        out += 1
    if a.capability:
        out += 2.5
        reasons.append("describes what a feature lets people do, not how many do it")
    if a.baseline_setup:
        out += 3
        reasons.append("sets up a measurement rather than moving it")
    if a.research:
        out += 1.5
        reasons.append("is a research activity")
    if a.own_share:
        out += 3
        reasons.append("measures coverage of the team's own work")
    if _STRONG_MILESTONES.search(a.text) and not a.results:
        out += 1
        reasons.append("is a one-off milestone")
    if deliverable_metric:
        out += 1.5
        reasons.append(f"measures a deliverable ('{a.metric}')")

    measured = bool(a.numbers or a.comparator or a.change_verbs or a.placeholders)
    if a.results:
        inn += 1.5 + (1.5 if measured else 0)
        reasons.append(f"names a result metric ('{a.results[0]}')")
    if a.actors and a.actor_actions and not a.capability:
        inn += 1.5
        reasons.append("has people outside the team acting")
    if a.actor_count and not a.hiring_verb:
        inn += 2
        reasons.append(f"counts people outside the team ('{a.actor_count}')")
    if a.by_actor:
        inn += 2
        reasons.append("depends on what others do")
    if re.search(r"\bactive\s+[a-z]", a.text, re.I) and not a.hiring_verb:
        inn += 1.5
    if a.change_verbs:
        if deliverable_metric and a.direction != "decrease":
            out += 1
        else:
            inn += 2
            reasons.append(f"aims to move something ('{a.change_verbs[0]}')")
    if a.service_levels:
        inn += 2
        reasons.append(f"sets a service level ('{a.service_levels[0]}')")
    if a.satisfaction:
        inn += 2
        reasons.append("measures how people feel or rate")
    if a.verb_class == "maintain" and (a.comparator or a.numbers):
        inn += 2
    shaped = a.is_from_to or (a.comparator not in (None, "by")) or bool(re.search(r":\s*\S*\d", a.text))
    if shaped and a.verb_class != "activity" and not deliverable_metric and not a.own_share:
        inn += 1.5
        reasons.append("states a level to reach")
    if _COMPARATIVE.search(a.text) and a.verb_class != "activity":
        inn += 1
    if a.rollout:
        out += 3.5
        reasons.append("controls exposure (a rollout), not an effect")
    external = _external_result(a)
    if external:
        inn += 3
        reasons.append("attaches an outside result to the task")
    if a.hiring_verb and not a.satisfaction and not a.service_levels:
        # People the team signs up itself are staffing, whatever the numbers around it.
        out += 1.5
    kind: Kind = "outcome" if inn > out else "output"
    return Verdict(kind=kind, output_score=out, outcome_score=inn, reasons=reasons, external_result=external)


# ------------------------------------------------------------------------------------ wording

def _shorten(text: str, limit: int = 80) -> str:
    text = text.strip().rstrip(".")
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _subject(a: Anatomy) -> str:
    """What the work is about: the words after the leading verb, or the KR itself."""
    words = a.text.split()
    activity_lead = a.verb_class == "activity" or (
        a.leading_verb is not None and a.leading_verb in lexicon().data["activity_verbs"])
    if activity_lead and len(words) > 1:
        rest = " ".join(words[1:])
        m = re.search(r"\s(?:by|in|within|before|until|for|so that|to (?:increase|improve|reduce|drive))\b|[,;(]",
                      " " + rest)
        rest = (" " + rest)[: m.start()].strip() if m else rest
        return _shorten(rest or a.text, 60)
    return _shorten(a.text, 60)


def _match_catalogue(text: str) -> dict | None:
    """The catalogue entry whose terms cover most of the text (longer terms weigh more)."""
    matcher, owners = catalogue_index()
    scores: dict[int, int] = {}
    for term in {m.group(0).lower() for m in matcher.finditer(text)}:
        for i in owners.get(" ".join(term.split()), []):
            scores[i] = scores.get(i, 0) + len(term)
    if not scores:
        return None
    best = max(scores, key=lambda i: (scores[i], -i))
    return catalogue()["entries"][best]


def _entry_named(name: str) -> dict | None:
    return next((e for e in catalogue()["entries"] if e["name"] == name), None)


def _why_output(a: Anatomy, entry: dict | None, verdict: Verdict) -> str:
    subject = _subject(a)
    if a.own_share:
        done = f"tells us how much of our own work is covered ({_shorten(a.text, 60)})"
    elif a.hiring:
        done = "tells us the team was staffed"
    elif a.activity_count:
        done = f"proves that {a.activity_count} happened"
    else:
        done = f"proves that the work was done ({subject})"
    intent = entry["intent"] if entry else "change something for customers, users or the business"
    return (f"Completing this {done}, but nothing about whether it worked. "
            f"It is presumably meant to {intent}: measure that change instead.")


def _why_outcome(a: Anatomy) -> str:
    metric = a.metric or (a.results[0] if a.results else _shorten(a.text, 60))
    if a.direction == "maintain":
        change = f"{metric} will have stayed at the level we promise"
    elif a.baseline and a.target:
        change = f"{metric} will have moved from {a.baseline} to {a.target}"
    elif a.target:
        change = f"{metric} will have reached {a.target}"
    else:
        change = f"{metric} will have changed"
    return (f"If we achieve this, {change}: a change in results, not just work done. "
            "It names what should be different, not the tasks to get there.")


def _issues(a: Anatomy, verdict: Verdict, entry: dict | None) -> list[Issue]:
    issues: list[Issue] = []

    def add(code: str, message: str) -> None:
        assert code in ISSUE_CODES, code
        if code not in {i.code for i in issues}:
            issues.append(Issue.model_construct(code=code, message=message))

    no_numbers = not a.numbers and not a.placeholders and not a.values
    if a.injection:
        add("injection", "Contains text addressed to the coach (e.g. 'ignore previous instructions'); "
                         "it was treated as part of the key result and changed nothing.")
    if verdict.kind == "output":
        if _STRONG_MILESTONES.search(a.text) and (no_numbers or a.completion):
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
    if a.multi_goal:
        add("multi_goal", "Bundles several goals into one line: split it so each can be scored.")
    if a.deadline is None:
        add("no_deadline", "Has no date or period: say by when.")
    return issues


_DEADLINE_LEAD = re.compile(r"^(?:by|before|until|till|in|during|for|through|thru|no later than)\s+", re.I)


def _deadline_text(a: Anatomy) -> str | None:
    return _DEADLINE_LEAD.sub("", a.deadline).strip() if a.deadline else None


def _capital(text: str) -> str:
    first = text.split(" ", 1)[0]
    if not text or any(c.isdigit() or c.isupper() for c in first[1:]):
        return text  # "p95 latency", "eNPS", "iOS crashes" keep their spelling
    return text[:1].upper() + text[1:]


#: How often a metric is read, as the rate is written -> the adjective that goes in front of it.
_CADENCE = {
    **{f"{each} {unit}": adjective for unit, adjective in (("day", "daily"), ("week", "weekly"), ("month", "monthly"),
                                                          ("quarter", "quarterly"), ("year", "annual"))
       for each in ("every", "each", "a")},
    **{word: word for word in ("daily", "weekly", "monthly", "quarterly", "annual")},
    "annually": "annual", "yearly": "annual",
}


def _with_cadence(metric: str, rate: str) -> str:
    """Add how often the metric is read. A reading cadence goes in front of a short noun phrase
    ("Quarterly CSAT", "Monthly API uptime"); a unit rate ("per month"), or a metric that reads
    as a sentence, keeps it behind, and a metric that already says it is left alone."""
    cadence = _CADENCE.get(" ".join(rate.lower().split()))
    low_m, low_r = metric.lower(), rate.lower()
    if low_r in low_m:
        head = metric[: -len(rate) - 1] if low_m.endswith(" " + low_r) else None
        return f"{cadence} {_uncap(head)}" if cadence and head and is_short_noun_phrase(head) else metric
    if cadence and is_short_noun_phrase(metric):
        return f"{cadence} {_uncap(metric)}"
    return f"{metric} {rate}"


def _uncap(text: str) -> str:
    """"Reconcile ..." -> "reconcile ..." when the phrase moves behind an adjective; acronyms stay."""
    first = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if first[:1].isupper() and first[1:].islower() else text


def _outcome_rewrite(a: Anatomy, fallback_metric: str) -> Rewrite:
    assumptions: list[str] = []
    metric = a.metric or (a.results[0] if a.results else None)
    if not metric:
        metric = fallback_metric
        assumptions.append("The draft names no metric; this one is read from its wording — check it.")
    if a.rate:
        metric = _with_cadence(metric, a.rate)
    baseline = a.baseline
    target = a.target
    if baseline is None and a.direction != "maintain":
        assumptions.append("No baseline in the draft: measure the current value before committing.")
    if target is None:
        assumptions.append("No target in the draft: agree one with the team from the baseline.")
    elif target.startswith(("+", "-")):
        assumptions.append(f"The target is read as a change of {target.lstrip('+-')} relative to the baseline.")
    elif a.comparator and a.comparator != "by":
        assumptions.append(f"The draft says '{a.comparator} {target}'; read as the target level.")
    deadline = _deadline_text(a)
    if deadline is None:
        assumptions.append("No date in the draft: use the end of the OKR cycle.")
    if a.direction == "maintain" and baseline is None and target is not None:
        baseline = target
        assumptions.append("A level to hold: the baseline is the level the draft promises to keep.")
    text = render_rewrite(_capital(metric), baseline, target, deadline)
    if re.search(r"\d", metric) and invented_numbers(text, a.text):
        # The metric picked up a fragment of a number; name the metric by its result word instead.
        metric = next((r for r in a.results if not re.search(r"\d", r)), "[metric: name what you will count]")
        text = render_rewrite(_capital(metric), baseline, target, deadline)
    return Rewrite.model_construct(text=text, metric=_capital(metric), baseline=baseline, target=target, deadline=deadline,
                   assumptions=assumptions)


def _output_rewrites(a: Anatomy, entry: dict | None, objective: str | None) -> list[Rewrite]:
    metrics = list(entry["metrics"][:2]) if entry else list(catalogue()["fallback_metrics"])
    deadline = _deadline_text(a)
    out: list[Rewrite] = []
    intent = entry["intent"] if entry else "change something for customers, users or the business"
    for metric in metrics:
        assumptions = [f"Assumes '{_subject(a)}' is meant to {intent}; confirm with the team."]
        if a.activity_count or a.numbers:
            assumptions.append("The draft's numbers describe the planned work; keep them in the plan, "
                               "not as the target of this metric.")
        assumptions.append("No baseline for this metric in the draft: measure it first.")
        if deadline is None:
            assumptions.append("No date in the draft: use the end of the OKR cycle.")
        out.append(Rewrite.model_construct(text=render_rewrite(metric, None, None, deadline), metric=metric, baseline=None,
                           target=None, deadline=deadline, assumptions=assumptions))
    return out


def review_kr(kr: KeyResult, objective: Objective | None = None, context: ReviewContext | None = None) -> KRReview:
    """Coach one KR with the rules engine."""
    a = parse(kr.kr)
    verdict = classify(a)
    title = objective.title if objective else None
    entry = _match_catalogue(a.text) or (_entry_named("hiring") if a.hiring_verb else None) or (
        _match_catalogue(title) if title else None)
    issues = _issues(a, verdict, entry)
    if context and context.set_uses_owners and not kr.owner:
        issues.append(Issue(code="no_owner", message="No owner while other key results have one: name who drives it."))
    if verdict.kind == "output":
        why = _why_output(a, entry, verdict)
        rewrites = _output_rewrites(a, entry, title)
    else:
        why = _why_outcome(a)
        parts = split_goals(a.text) if a.multi_goal else []
        if len(parts) >= 2:
            rewrites = [_outcome_rewrite(parse(p), _shorten(p, 60)) for p in parts[:3]]
        else:
            rewrites = [_outcome_rewrite(a, _shorten(a.text, 60))]
    # Built from trusted parts: skip re-validation, which was a third of the engine's time.
    return KRReview.model_construct(
        id=kr.id, objective=title, kr=kr.kr, owner=kr.owner, kind=verdict.kind, why=why,
        issues=issues, rewrites=rewrites[:3], engine="rules", model=None, status="ok", error=None,
    )


class RulesEngine:
    """The embedded default engine: no key, no network, microseconds per KR."""

    name = "rules"
    model: str | None = None
    parallel = False

    def review_objective(self, objective: Objective, context: ReviewContext) -> list[KRReview]:
        return [review_kr(kr, objective, context) for kr in objective.krs]

    def manifest(self) -> dict[str, str | None]:
        return {"engine": self.name, "model": None, "prompt": None}


def classify_text(text: str) -> Kind:
    """Classify free text (used by the eval to check that a rewrite reads as an outcome)."""
    return classify(parse(clean_kr(text))).kind
