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
from functools import lru_cache

from . import fastre
from .anatomy import (
    _CUR,
    Anatomy,
    about_a_metric,
    _result_phrase,
    clean_kr,
    invented_numbers,
    is_activity_shaped_metric,
    is_short_noun_phrase,
    parse,
    parse_rewrite,
    render_as_written,
    render_rewrite,
    split_goals,
)
from .engine import ReviewContext
from .lexicon import catalogue, catalogue_index, lexicon
from .models import ISSUE_CODES, Confidence, Issue, Kind, KeyResult, KRReview, Objective, Rewrite
from .quantities import metric_phrase, noun_phrase, slot_errors
from .verdict import LOW_CONFIDENCE_MARGIN, VerdictModel, default_model, features

__all__ = ["RulesEngine", "Verdict", "classify", "render_rewrite", "review_kr"]

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
    if a.results:
        inn += 1.5 + (1.5 if measured else 0)
    if a.actors and a.actor_actions and not a.capability:
        inn += 1.5
    if a.actor_count and not a.hiring_verb:
        inn += 2
    if a.by_actor:
        inn += 2
    if re.search(r"\bactive\s+[a-z]", a.text, re.I) and not a.hiring_verb:
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
    shaped = a.is_from_to or (a.comparator not in (None, "by")) or bool(re.search(r":\s*\S*\d", a.text))
    if shaped and a.verb_class != "activity" and not deliverable_metric and not a.own_share:
        inn += 1.5
    if _COMPARATIVE.search(a.text) and a.verb_class != "activity":
        inn += 1
    if a.verb_class == "activity" and _PURPOSE_CLAUSE.search(a.text):
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
    kind: Kind = "outcome" if inn > out else "output"
    return Verdict(kind=kind, output_score=out, outcome_score=inn, external_result=external)


# ------------------------------------------------------------------------------------ wording

def _shorten(text: str, limit: int = 80) -> str:
    text = text.strip().rstrip(".")
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


_SUBJECT_END = re.compile(r"\s(?:by|in|within|before|until|for)\b|[,;(]")


def _subject(a: Anatomy) -> str:
    """What the work is about: the words after the leading verb, or the KR itself."""
    words = a.text.split()
    activity_lead = a.verb_class == "activity" or (
        a.leading_verb is not None and a.leading_verb in lexicon().data["activity_verbs"])
    if activity_lead and len(words) > 1:
        rest = " " + " ".join(words[1:])
        # The object ends at a purpose clause, a date or a side remark, whichever comes first.
        ends = [m.start() for m in (_PURPOSE_CLAUSE.search(rest), _SUBJECT_END.search(rest)) if m]
        rest = rest[: min(ends)].strip() if ends else rest.strip()
        return _shorten(rest or a.text, 60)
    return _shorten(a.text, 60)


def _object_head(a: Anatomy) -> str | None:
    """The head noun of what an activity KR works on: "Launch the new campaign" -> "campaign"."""
    if a.verb_class != "activity":
        return None
    first_part = re.split(r"\s(?:and|&|plus|as well as)\s", _subject(a), maxsplit=1)[0]  # "X and start Y": X
    words = [w.lower() for w in re.findall(r"[A-Za-z][\w-]*", first_part)]
    while words and (words[-1].endswith("ly") or words[-1] in ("well", "again", "live", "out", "up", "on", "time")):
        words.pop()  # "Launch the campaign well": the adverb is not what the work is on
    return words[-1] if words else None


@lru_cache(maxsize=1)
def _generic_heads() -> frozenset[str]:
    return frozenset(catalogue().get("generic_heads", ()))


@lru_cache(maxsize=4096)
def _catalogue_terms(text: str) -> dict[int, frozenset[str]]:
    """Catalogue entry -> the distinct terms of it that `text` contains."""
    matcher, owners = catalogue_index()
    found: dict[int, set[str]] = {}
    for term in {" ".join(m.group(0).lower().split()) for m in matcher.finditer(text)}:
        for i in owners.get(term, []):
            found.setdefault(i, set()).add(term)
    return {i: frozenset(t) for i, t in found.items()}


@lru_cache(maxsize=4096)
def _match_catalogue(text: str, objective: str | None = None, head: str | None = None) -> dict | None:
    """The catalogue entry the KR is about, when the evidence is more than one stray keyword.

    An entry counts when the KR names it with a phrase of several words ("case studies", "time to
    hire"), when its one word is the head of what the KR works on ("Launch the campaign"), or when
    two of its terms meet in the KR and its objective. One word elsewhere in the sentence ("cases",
    "design") is too weak: a wrong-field metric is worse than the question the why asks instead.
    """
    kr_terms = _catalogue_terms(text)
    if not kr_terms:
        return None
    obj_terms = _catalogue_terms(objective) if objective else {}
    best: tuple[int, int] | None = None
    for i, terms in kr_terms.items():
        support = terms | obj_terms.get(i, frozenset())
        # The head counts alone only when every other field named beside it is one its metrics
        # speak of: in "a community survey" the survey serves the community, not customer research;
        # "support documentation" fits "Support tickets about documented topics".
        lead = text.split(" ", 1)[0].lower()  # the verb ("Launch the campaign") names no domain
        own_words = " ".join(catalogue()["entries"][i]["metrics"] + [catalogue()["entries"][i]["intent"]]).lower()
        alone = not any(t not in own_words for j, other in kr_terms.items() if j != i for t in other - {lead})
        if not (any(" " in t or "-" in t for t in terms) or len(support) >= 2 or (
                alone and head and head in terms and head not in _generic_heads())):
            continue
        score = sum(len(t) for t in terms) + 3 * len(obj_terms.get(i, ()))
        if best is None or (score, -i) > (best[0], -best[1]):
            best = (score, i)
    return catalogue()["entries"][best[1]] if best else None


def _not_staff(text: str) -> bool:
    """People signed up who are not employees (volunteers, mentors): hiring metrics do not fit them."""
    words = {w.lower() for w in re.findall(r"[\w-]+", text)}
    return bool(words & set(catalogue().get("not_staff", ())))


def _entry_named(name: str) -> dict | None:
    return next((e for e in catalogue()["entries"] if e["name"] == name), None)


def _audience(a: Anatomy, objective: str | None) -> str | None:
    """Who the KR or its objective is about, as a noun phrase taken whole from the text
    ("enterprise customers", "customers in EMEA", "the community"); None when the people word is
    only part of another noun ("Customer Relations", "contributor guide") or names one person."""
    if a.actors and not a.hiring_verb:  # people the team signs up itself are not who the work is for
        return _people_phrase(a.text, a.actors[0])
    return _objective_audience(objective) if objective else None


@lru_cache(maxsize=1024)
def _objective_audience(objective: str) -> str | None:
    m = lexicon().actors.search(objective)
    return _people_phrase(objective, m.group(0)) if m else None


#: People words that name a group in the singular: "the community responds".
_COLLECTIVE = frozenset("people staff community public press audience workforce children".split())
_POST_SCOPE = re.compile(r"\s+(?:in|from|across)\s+(?:the\s+)?[A-Z][\w-]*(?:\s+[A-Z][\w-]*)?")


def _people_phrase(text: str, people: str) -> str | None:
    """The whole noun phrase whose head is `people`: its modifiers before ("paying", "private beta")
    and a place after ("in EMEA"). None when the word is not the head of its phrase."""
    at = text.lower().find(people.lower())
    if at < 0:
        return None
    end = at + len(people)
    after = text[end:]
    nxt = re.match(r"\s+([\w-]+)", after)
    if re.match(r"[\w'’-]", after[:1]) or (nxt and not after.startswith((",", ";")) and _nouny_adjective(nxt.group(1))
                                            and not lexicon().actor_actions.fullmatch(nxt.group(1))
                                            and nxt.group(1)[:1].islower() == text[at:end][:1].islower()
                                            and not nxt.group(1).lower().endswith(("ed", "ing"))):
        return None  # "Customer Relations", "contributor guide": the people word only qualifies a noun
    head = text[at:end]
    low = head.lower().split()[-1]
    if not (low.endswith("s") or low in _COLLECTIVE):
        return None  # one person ("the contributor"), not an audience
    start = at
    for w in reversed(list(re.finditer(r"[\w-]+", text[max(0, at - 40):at]))[-3:]):
        gap = text[max(0, at - 40) + w.end(): start]
        if gap.strip() or not _nouny_adjective(w.group(0)) or max(0, at - 40) + w.start() == 0:
            # a sentence's first word is as often its verb ("Delight mobile users") as a modifier
            break
        start = max(0, at - 40) + w.start()
    scope = _POST_SCOPE.match(text, end)
    phrase = text[start: scope.end() if scope else end]
    if start == at and low in _COLLECTIVE and low != "people":
        phrase = f"the {phrase}"
    return phrase


def _nouny_adjective(word: str) -> bool:
    low = word.lower()
    return low not in {"the", "our", "of", "to", "for", "and", "with", "from", "by", "in", "on", "at", "all", "more",
                       "new", "a", "an", "every", "each", "any", "some", "no", "most", "many", "their", "its",
                       "your", "my", "this", "that", "these", "those", "or", "is", "are", "get", "help"} \
        and not lexicon().verb_class.get(low) and not low.isdigit() and not re.search(r"\d", low)


def _why_output(a: Anatomy, audience: str | None, question: str) -> str:
    """What completing the KR proves, in its own words, and the question that leads to the outcome."""
    obj = _subject(a)
    who = audience or "people outside the team"
    if a.own_share:
        done = (f"This counts how much of the team's own work is covered ({_shorten(a.text, 60)}), "
                f"not what that coverage changes for {who}.")
    elif a.hiring_verb:
        done = f"This counts people the team brings in itself ({obj}): staffing, not yet a change for {who}."
    elif about_a_metric(a):
        done = f"This is finding out ({obj}): nothing is different until someone acts on what is learned."
    elif lexicon().strong_milestones.search(a.text):
        done = (f"This is a one-off milestone ({obj}): keep it as a checkpoint, but it does not say what "
                "should be different once it is reached.")
    elif a.activity_count:
        done = (f"This counts the team's own output ({a.activity_count}); it is met even if nobody outside the "
                "team takes any notice of it.")
    elif a.completion and not a.leading_verb:
        done = f"This is met when the team finishes it ({_shorten(a.text, 60)}); nothing in it needs {who} to act."
    elif question.startswith("Ask: once it is done,"):
        done = f"This is met once the team has done the work ({obj})."  # the question names who
    else:
        done = f"This is met once the team has done the work ({obj}); it does not say what {who} will do differently."
    return f"{done} {question}"


def _question(a: Anatomy, entry: dict | None, audience: str | None, objective: str | None = None) -> str:
    if about_a_metric(a):
        return "Ask: what decision or number should the findings change?"
    if entry:
        return f"If it is meant to {entry['intent']}, measure that instead."
    if audience:
        return f"Ask: once it is done, what will {audience} do differently, and how would you count it?"
    task = _task_in(objective)
    if task:
        # The objective is itself work ("Ship Peer & Content Routing"): asking for progress on it
        # goes in a circle. Ask whom that work serves.
        return (f"Ask: who is '{_shorten(task, 60)}' for, and what will they do once it is done that they "
                "cannot do today?")
    if objective and len(objective.split()) <= 12:
        # No one is named: ask in the objective's own terms rather than with a stock phrase.
        return (f"Ask: once it is done, what number would show progress on '{_shorten(objective, 70)}', "
                "and who would have to act for it to move?")
    return f"Ask: once '{_subject(a)}' is done, who will do what differently, and how would you count it?"


def _task_in(objective: str | None) -> str | None:
    """The sentence of an objective that is a task (led by an activity verb: "Ship X", "Build Y")."""
    if not objective:
        return None
    for sentence in re.split(r"(?<=[.!;:])\s+", objective.strip()):
        first = sentence.split(" ", 1)[0].lower()
        if lexicon().verb_class.get(first) == "activity" and len(sentence.split()) > 1:
            return sentence.rstrip(".")
    return None


def _why_outcome(a: Anatomy, kind_evidence: str, metric: str, target: str | None, baseline: str | None) -> str:
    """"If this is met, <metric> will <change>: <what kind of change it is>." ("will" agrees with a
    metric in the plural as well as the singular: "new developers will reach 500+")."""
    if a.direction == "maintain" or (a.service_levels and a.comparator and not a.change_verbs and not baseline):
        if not target:
            change = f"{metric} will hold its level"
        else:
            change = f"{metric} will stay {target}" if re.match(r"[^\d$€£¥]", target) else f"{metric} will stay at {target}"
    elif baseline and target:
        change = f"{metric} will move from {baseline} to {target}"
    elif target and target.startswith(("+", "-")):
        change = f"{metric} will change by {target}"
    elif target:
        change = f"{metric} will reach {target}"
    else:
        change = f"{metric} will {'fall' if a.direction == 'decrease' else 'rise' if a.direction == 'increase' else 'change'}"
    return f"If this is met, {change}: {kind_evidence}."


def _outcome_evidence(a: Anatomy, audience: str | None) -> str:
    """What kind of change the KR measures, in the KR's terms, for the why."""
    if a.actor_count or (a.actors and a.actor_actions):
        who = a.actor_count or audience or "people outside the team"
        return f"{who} acting on their own, which the team can influence but not do for them"
    if a.service_levels:
        who = audience or "the people who rely on it"
        return f"how the system performs for {who} ({a.service_levels[0]}), not how much the team did"
    if a.satisfaction:
        return f"how {audience or 'people'} rate their experience ({a.satisfaction[0]}), not how much the team did"
    if a.results:
        if audience:
            return f"it moves only if {audience} respond to the work, so it shows whether the work landed"
        return f"{a.results[0]} only moves if people outside the team respond to the work"
    if audience:
        return f"a change for {audience}, not a list of tasks"
    return "it names no one outside the team, so say whose behaviour has to change for it to move"


def _issues(a: Anatomy, verdict: Verdict, dated: bool, paired: bool) -> list[Issue]:
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


#: "every quarter", "each sprint", "on a monthly basis": a recurring due date, so the KR is dated.
_CADENCE_DUE = re.compile(r"\b(?:every|each)\s+(?:day|week|month|quarter|year|sprint|cycle|term|semester)\b"
                          r"|\bon\s+an?\s+(?:daily|weekly|monthly|quarterly|yearly|annual)\s+basis\b", re.I)
_DEADLINE_LEAD = re.compile(r"^(?:by|before|until|till|in|during|for|through|thru|no later than)\s+", re.I)


def _deadline_text(a: Anatomy) -> str | None:
    return _DEADLINE_LEAD.sub("", a.deadline).strip() if a.deadline else None


_HAS_DIGIT = re.compile(r"\d")
_NOT_A_METRIC = re.compile(r"\b(?:goal|goals|towards|target|aim|objective)\b", re.I)
_MONEY = re.compile(_CUR)
_DIGIT_OR_UPPER = re.compile(r"[\dA-Z]")


def _capital(text: str) -> str:
    first = text.split(" ", 1)[0]
    if not text or _DIGIT_OR_UPPER.search(first, 1):
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


def _outcome_rewrite(a: Anatomy, deadline: str | None) -> Rewrite | None:
    """Keep the KR's own metric, words and numbers; only missing parts become placeholders."""
    assumptions: list[str] = []
    metric = metric_phrase(a.text) or a.metric or (a.results[0] if a.results else None)
    if metric and a.target and _MONEY.match(a.target) and len(metric.split()) == 1 and metric.lower().endswith("ed") \
            and lexicon().verb_lemma.get(metric.lower()):
        metric = f"Amount {metric.lower()}"  # "$4500 secured", "$2M raised": the amount is the metric
    first_word = metric.split()[0].lower() if metric else ""
    if metric and (lexicon().verb_lemma.get(first_word) == first_word or len(metric.split()) > 12):
        # "Make a presentation that influences 50+ developers": the counted people are the metric.
        counted = a.actor_count and _counted_phrase(a.text, a.actor_count)
        # Else the parser's metric when it is a phrase of its own, never a bare result word or a
        # piece of the target ("one hour or less" -> "hour or less"): the subject would be lost.
        own = a.metric if a.metric and not lexicon().verb_lemma.get(a.metric.split()[0].lower()) and \
            a.metric.lower() not in (a.target or "").lower() and len(a.metric.split()) > 1 else None
        metric = counted or own
    lex = lexicon()
    if metric and a.results and (len(metric.split()) > 6 or _NOT_A_METRIC.search(metric)) and not (
            lex.results.search(metric) or lex.service_levels.search(metric) or lex.satisfaction.search(metric)
            or lex.actors.search(metric)):
        metric = _result_phrase(a.text, a.results[0])  # "towards a goal" names nothing; "error rates" does
    if (not metric or lex.verb_lemma.get(metric.split()[0].lower())) and a.target and _MONEY.match(a.target):
        # "$4500 secured", "$2M raised": the amount is the metric.
        verb = metric.split()[0].lower() if metric else ""
        metric = f"Amount {verb}" if verb.endswith("ed") else "Amount"
    metric = noun_phrase(metric)
    if not metric:
        return _as_written_rewrite(a, deadline)
    if a.rate and a.rate not in (a.baseline or "") and a.rate not in (a.target or ""):
        metric = _with_cadence(metric, a.rate)  # "(currently ~90/mo)": the rate belongs to the baseline
    baseline = a.baseline
    target = a.target
    scale = re.search(r"\s?/\s?(\d+(?:\.\d+)?)$", target or "")
    if target and scale:  # "4.2/5": the level is the target, the scale belongs to the metric
        target = target[: scale.start()]
        metric = f"{metric} (out of {scale.group(1)})"
    if baseline is None and a.direction != "maintain":
        assumptions.append("No baseline in the draft: measure the current value before committing.")
    if target is None:
        assumptions.append("No target in the draft: agree one with the team from the baseline.")
    elif target.startswith(("+", "-")):
        assumptions.append(f"The draft gives a change ({target}), not a level: the target is that change "
                           "from the measured baseline.")
    elif a.comparator and a.comparator != "by":
        assumptions.append(f"The draft says '{a.comparator} {target}'; read as the target level.")
    if deadline is None:
        assumptions.append("No date in the draft: use the end of the OKR cycle.")
    if a.direction == "maintain" and target is not None and not target.startswith(("+", "-")):
        # A level to hold: the target keeps its comparison ("above 90"); the baseline is today's value.
        if a.comparator and a.comparator not in ("by",) and not target.lower().startswith(a.comparator):
            target = f"{a.comparator} {target}"
        assumptions.append("A level to hold: measure today's value as the baseline and keep the target every "
                           "period of the cycle.")
    text = render_rewrite(_capital(metric), baseline, target, deadline)
    # Baseline and target come from the quantity reader, so they sit in their slots by
    # construction; only a metric that kept a digit can have taken a slot's number.
    if _HAS_DIGIT.search(metric) and (invented_numbers(" ".join((metric, baseline or "", target or "")), a.text)
                                      or slot_errors(a.text, metric, baseline, target, None)):
        # The metric picked up a slot's number: keep the draft's own sentence rather than a fragment.
        return _as_written_rewrite(a, deadline)
    return Rewrite.model_construct(text=text, metric=_capital(metric), baseline=baseline, target=target,
                                   deadline=deadline, assumptions=assumptions)


def _as_written_rewrite(a: Anatomy, deadline: str | None) -> Rewrite | None:
    """The KR as written with only its missing baseline and date added, when its words make no clean
    noun phrase (`quantities.noun_phrase`): a coach keeps the author's sentence rather than assemble
    a metric from fragments. None when nothing is missing: the draft already says it all."""
    own_deadline = _deadline_text(a)
    if a.baseline and own_deadline:
        return None
    assumptions = ["The draft's words make no clean metric name; it is kept as written with what it lacks added."]
    if a.baseline is None:
        assumptions.append("No baseline in the draft: measure the current value before committing.")
    if deadline is None:
        assumptions.append("No date in the draft: use the end of the OKR cycle.")
    return Rewrite.model_construct(text=_capital(render_as_written(a.text, a.baseline, own_deadline or deadline)),
                                   metric=a.text, baseline=a.baseline, target=a.target,
                                   deadline=own_deadline or deadline, assumptions=assumptions)


def as_written(rw: Rewrite) -> bool:
    """Whether `rw` is the draft as written (`render_as_written`) rather than metric/from/to/by."""
    parsed = parse_rewrite(rw.text)
    return bool(parsed) and parsed["target"] == ""


def _counted_phrase(text: str, actor_count: str) -> str | None:
    """"influences 50+ developers on site" -> "Developers on site": the people a KR counts."""
    at = text.find(actor_count)
    if at < 0:
        return None
    rest = re.sub(r"^[\s\d,.+%kK]*(?:of\s+)?", "", text[at:])
    phrase = re.split(r"\s(?:by|in|before|within|per|through|until)\s+(?:Q[1-4]|H[12]|\d|end|the\s+end)|[,;(]", rest)[0]
    phrase = phrase.strip(" .")
    return phrase if phrase and len(phrase.split()) <= 8 else None


@lru_cache(maxsize=1024)
def _objective_metric(objective: str | None) -> str | None:
    """The change an objective names in its own words, when it is written as one: a change verb
    followed by a short result phrase ("Expand platform awareness" -> "Platform awareness"). Used
    when the KR's own words point to no metric; anything else in an objective is no metric."""
    if not objective:
        return None
    lex = lexicon()
    words = objective.split()
    if len(words) < 2 or lex.verb_class.get(words[0].lower()) != "change":
        return None
    rest = re.split(r"\s(?:by|through|with|without|for|via|in|across|so|and|to)\s|[,;:(]", " ".join(words[1:]), maxsplit=1)[0]
    rest = re.sub(r"^(?:the|our|a|an)\s+", "", rest.strip(), flags=re.I)
    if not rest or not lex.results.search(rest) or not is_short_noun_phrase(rest, 5) or is_activity_shaped_metric(rest):
        return None
    return rest


def _output_rewrites(a: Anatomy, entry: dict | None, objective: str | None, deadline: str | None) -> list[Rewrite]:
    """The change the work is for, in the KR's and objective's terms; none when nothing fits."""
    subject = _subject(a)
    candidates: list[tuple[str, str]] = []
    if about_a_metric(a):
        return []  # finding out is not a change: the why asks what decision or number it should move
    purpose = _purpose_metric(a.text)
    if purpose:
        candidates.append((purpose, f"Reads the draft's own purpose ('{_PURPOSE_CLAUSE.search(a.text).group(0).strip()}') "
                                    "as the change to measure; confirm with the team."))
    if entry:
        for metric in entry["metrics"][:2]:
            candidates.append((metric, f"Assumes '{subject}' is meant to {entry['intent']}; confirm with the team."))
    own = _objective_metric(objective)
    if own:
        candidates.insert(1 if candidates else 0,
                          (own, f"Assumes '{subject}' serves the objective's own result ({own}); confirm with the team."))
    milestone = bool(lexicon().strong_milestones.search(a.text))
    due = deadline
    if milestone:
        # The seeds' form: keep the milestone (and its date) as a checkpoint, and measure what it
        # should produce within N days of it.
        name = subject if not _HAS_DIGIT.search(subject) and len(subject.split()) <= 6 else "the milestone"
        due = f"[N] days after {name}"
    out: list[Rewrite] = []
    seen: set[str] = set()
    for metric, why in candidates:
        if metric.lower() in seen:
            continue
        seen.add(metric.lower())
        assumptions = [why]
        if a.reading and a.reading.of_role("work"):
            assumptions.append("The draft's numbers describe the planned work; keep them in the plan, "
                               "not as the target of this metric.")
        if milestone:
            when = f" ({deadline})" if deadline else ""
            assumptions.append(f"Keep '{_shorten(a.text, 50)}' as a checkpoint{when}; this measures what it "
                               "should produce once it is reached.")
        assumptions.append("No baseline for this metric in the draft: measure it first.")
        if due is None:
            assumptions.append("No date in the draft: use the end of the OKR cycle.")
        out.append(Rewrite.model_construct(text=render_rewrite(_capital(metric), None, None, due),
                                           metric=_capital(metric), baseline=None, target=None, deadline=due,
                                           assumptions=assumptions))
    return out[:2]


_PURPOSE_CLAUSE = re.compile(
    r"\s(?:to|so\s+that\s+we\s+can|in\s+order\s+to)\s+(?P<verb>unblock|enable|improve|increase|reduce|cut|lower|grow|boost|"
    r"lift|attract|retain|drive|speed\s+up|shorten|raise)\s+(?P<obj>[^,;.()]+)", re.I)
_PURPOSE_FORM = {"unblock": "{} still blocked", "enable": "{} enabled", "attract": "{} attracted",
                 "retain": "{} retained"}


def _purpose_metric(text: str) -> str | None:
    """"Upgrade to Postgres 16 to unblock enterprise customers": the draft names the change its work
    is for; that is the metric ("Enterprise customers still blocked")."""
    m = _PURPOSE_CLAUSE.search(text)
    if not m:
        return None
    obj = re.sub(r"^(?:the|our|a|an|more|fewer|less)\s+", "", m.group("obj").strip(), flags=re.I)
    obj = re.split(r"\s(?:by|in|within|before|until|from)\s", obj)[0].strip()
    if not obj or len(obj.split()) > 6 or _HAS_DIGIT.search(obj):
        return None
    verb = " ".join(m.group("verb").lower().split())
    return _capital(_PURPOSE_FORM.get(verb, "{}").format(obj))


def _is_paired(a: Anatomy) -> bool:
    """"Launch v2 and lift activation from 22% to 35% within 60 days of launch": work paired with
    the change it should produce, the form coaches recommend. Praised, not split."""
    if not a.multi_goal:
        return False
    parts = re.split(r"\s(?:and|&|to)\s", a.text, maxsplit=1)
    if len(parts) < 2:
        return False
    return lexicon().verb_class.get(parts[0].split()[0].lower()) == "activity" and bool(
        a.reading and (a.reading.target or a.reading.delta))


def decide(a: Anatomy, objective: str | None = None,
           model: VerdictModel | None = None) -> tuple[Verdict, Kind, Confidence]:
    """The verdict: the learned weighing of the structural evidence when a model is given, the
    hand-set scores otherwise; "low" confidence when the evidence is thin or split."""
    verdict = classify(a)
    # Measuring, surveying, "understand X": finding out changes nothing, whatever the words around
    # it ("Survey 200 customers") weigh. The model, when there is one, only says how sure to be.
    finding_out = about_a_metric(a) and not a.change_verbs and not a.is_from_to
    if model is None:
        margin = abs(verdict.outcome_score - verdict.output_score)
        return verdict, "output" if finding_out else verdict.kind, "high" if margin >= 1.5 else "low"
    p = model.probability(features(a, verdict, objective))
    if finding_out:
        return verdict, "output", "low" if p > 0.5 + LOW_CONFIDENCE_MARGIN else "high"
    kind: Kind = "outcome" if p > 0.5 else "output"
    return verdict, kind, "low" if abs(p - 0.5) < LOW_CONFIDENCE_MARGIN else "high"


def review_kr(kr: KeyResult, objective: Objective | None = None, context: ReviewContext | None = None,
              model: VerdictModel | None = None) -> KRReview:
    """Coach one KR with the rules engine."""
    a = parse(kr.kr)
    title = objective.title if objective else None
    verdict, kind, confidence = decide(a, title, model)
    if kind != verdict.kind:
        verdict = Verdict(kind=kind, output_score=verdict.output_score, outcome_score=verdict.outcome_score,
                          external_result=verdict.external_result)
    own_deadline = _deadline_text(a) or kr.deadline
    cycle = context.cycle if context else None
    deadline = own_deadline or cycle
    entry = _match_catalogue(a.text, title, _object_head(a)) or (
        _entry_named("hiring") if a.hiring_verb and not _not_staff(a.text) else None)
    audience = _audience(a, title)
    paired = _is_paired(a)
    issues = _issues(a, verdict, dated=deadline is not None or bool(_CADENCE_DUE.search(a.text)), paired=paired)
    if context and context.set_uses_owners and not kr.owner:
        issues.append(Issue(code="no_owner", message="No owner while other key results have one: name who drives it."))
    if kind == "output":
        question = _question(a, entry, audience, title)
        why = _why_output(a, audience, question)
        rewrites = _output_rewrites(a, entry, title, deadline)
    else:
        parts = split_goals(a.text) if a.multi_goal and not paired else []
        if len(parts) >= 2:
            rewrites = [rw for p in parts[:3] if (rw := _outcome_rewrite(parse(p), deadline))]
        else:
            rewrites = [rw for rw in [_outcome_rewrite(a, deadline)] if rw]
        first = rewrites[0] if rewrites else None
        evidence = _outcome_evidence(a, audience)
        if first is None or as_written(first):
            why = f"If this is met, '{_shorten(a.text, 90)}' will be true: {evidence}."
        else:
            why = _why_outcome(a, evidence, _uncap(first.metric), first.target, first.baseline)
        if paired:
            why += " It pairs the work with the change it should produce, as a good key result does."
    if confidence == "low":
        why += (" (A judgement call: if it counts what others do or what the system achieves, it is an outcome.)"
                if kind == "output" else
                " (A judgement call: if it only counts what the team itself does, it is an output.)")
    # Built from trusted parts: skip re-validation, which was a third of the engine's time.
    return KRReview.model_construct(
        id=kr.id, objective=title, kr=kr.kr, owner=kr.owner, kind=kind, why=why,
        issues=issues, rewrites=rewrites[:3], engine="rules", model=None, status="ok", error=None,
        confidence=confidence, team=kr.team, extra=dict(kr.extra),
    )


class RulesEngine:
    """The embedded default engine: no key, no network, microseconds per KR.

    Its verdict weighs structural evidence with the learned weights shipped in the package
    (`verdict.default_model()`); pass `verdict_model` to use others (the eval's leave-one-
    organisation-out run does), or `verdict_model=False` for the hand-set scores alone.
    """

    name = "rules"
    model: str | None = None
    parallel = False

    def __init__(self, verdict_model: VerdictModel | None | bool = None) -> None:
        if verdict_model is None or verdict_model is True:
            verdict_model = default_model()
        self.verdict_model: VerdictModel | None = verdict_model or None

    def review_objective(self, objective: Objective, context: ReviewContext) -> list[KRReview]:
        return [review_kr(kr, objective, context, self.verdict_model) for kr in objective.krs]

    def manifest(self) -> dict[str, str | None]:
        return {"engine": self.name, "model": None, "prompt": None,
                "verdict": "learned" if self.verdict_model else "hand-set scores"}


def classify_text(text: str) -> Kind:
    """Classify free text (used by the eval to check that a rewrite reads as an outcome)."""
    return decide(parse(clean_kr(text)), None, default_model())[1]
