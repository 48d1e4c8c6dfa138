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

from krcoach.rules import fastre
from krcoach.rules.fastre import boundary, is_word, occurrences
from krcoach.rules.anatomy import (
    _CUR,
    _NOUN_COMPOUND_LEAD,
    PLACEHOLDER_RE,
    deadline_match,
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
from krcoach.engine import ReviewContext
from krcoach.rules.lexicon import catalogue, catalogue_index, lexicon
from krcoach.models import ISSUE_CODES, Confidence, Issue, Kind, KeyResult, KRReview, Objective, Rewrite, trusted
from krcoach.rules.quantities import metric_phrase, noun_phrase, slot_errors
from krcoach.rules.verdict import (_GET_OTHERS_TO, _HEALTH_LEVEL, _OTHERS_ACT, _OWN_OFFERING, _SIGNS_UP_OWN, LOW_CONFIDENCE_MARGIN, VerdictModel,
                      default_model, features)

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


def _issue(code: str, message: str) -> Issue:
    return trusted(Issue, {"code": code, "message": message})


def _rewrite(text: str, metric: str, baseline: str | None, target: str | None, deadline: str | None,
             assumptions: list[str]) -> Rewrite:
    return trusted(Rewrite, {"text": text, "metric": metric, "baseline": baseline, "target": target,
                             "deadline": deadline, "assumptions": assumptions})


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
    if _OTHERS_ACT.search(a.text) or _GET_OTHERS_TO.search(a.text):
        inn += 3  # "one app to integrate Sentinel", "Get 60 clinics to switch on e-prescriptions": others act
    if _HEALTH_LEVEL.search(a.text):
        inn += 3  # "accounts receivable is within industry norms": a level of business health
    if own_signup:
        out += 2.5  # "Have 4 core team members": people the team signs up itself
    if _OWN_OFFERING.search(a.text):
        out += 2  # "Offer 6 companies our workshop": the team's own offer
    kind: Kind = "outcome" if inn > out else "output"
    return Verdict(kind=kind, output_score=out, outcome_score=inn, external_result=external)


# ------------------------------------------------------------------------------------ wording

def _shorten(text: str, limit: int = 80) -> str:
    text = text.strip().rstrip(".")
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


_SUBJECT_END = fastre.lazy(r"\s(?:by|in|within|before|until|for)\b|[,;(]")


def _subject(a: Anatomy) -> str:
    """What the work is about: the words after the leading verb, or the KR itself."""
    words = a.text.split()
    activity_lead = a.verb_class == "activity" or (
        a.leading_verb is not None and a.leading_verb in lexicon().activity_verb_set)
    if activity_lead and len(words) > 1 and not _NOUN_COMPOUND_LEAD.match(a.text):
        if len(words) > 3 and words[1].lower() in ("and", "&", "/") and lexicon().verb_lemma.get(words[2].lower()):
            words = words[2:]  # "Research and prototype part of a CMS": both verbs lead the work
        elif len(words) > 2 and words[1].lower() in ("up", "out", "off", "down"):
            words = words[1:]  # "Set up a committee": the particle belongs to the verb
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
    first_part = _AND_PLUS.split(_subject(a), maxsplit=1)[0]  # "X and start Y": X
    words = [w.lower() for w in _LETTER_WORD.findall(first_part)]
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
    ranked: list[tuple[int, int]] = []
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
        ranked.append((score, i))
    # The best-supported entry whose metrics stay in the KR's own domain (`_fits`), with only those.
    for _, i in sorted(ranked, key=lambda si: (-si[0], si[1])):
        entry = catalogue()["entries"][i]
        fitting = [m for m in entry["metrics"] if _fits(m, text, objective)]
        if fitting:
            return {**entry, "metrics": fitting}
    return None


def _fits(metric: str, text: str, objective: str | None) -> bool:
    """Whether the KR or its objective uses a word the catalogue metric needs (`metric_needs` in
    catalogue.json): no sales leads for a volunteer events committee, no hiring funnel for adding
    a developer, no "weekly active users of the new capability" where nobody speaks of users."""
    needed = _needed_words(metric)
    return True if needed is None else bool(needed.search(_fits_context(text, objective)))


@lru_cache(maxsize=1024)
def _fits_context(text: str, objective: str | None) -> str:
    # A word capitalised in mid-sentence is a name ("the Patient Lists project"), not the domain.
    return " ".join(_TITLE_WORD.sub(" ", f". {part}") for part in (text, objective or "")).lower()


_PLURAL_S = fastre.lazy(r"(?<=[a-z]{3})s$")


@lru_cache(maxsize=None)
def _needed_words(metric: str) -> re.Pattern[str] | None:
    """The words a catalogue metric needs (`metric_needs`), any of them, singular or plural: one
    pattern per metric (it matches where one of the words' own patterns would)."""
    needs = catalogue().get("metric_needs", {}).get(metric)
    if needs is None:
        return None
    stems = "|".join(re.escape(_PLURAL_S.sub("", w.lower())) for w in needs)
    return fastre.guarded(rf"(?<![\w-])(?:{stems})(?:e?s)?(?![\w-])")


_TITLE_WORD = fastre.lazy(r"(?:(?<=[A-Za-z0-9,;:\"“”'’()] )|(?<=[\"“‘'(]))[A-Z][a-z]+(?:[- ][A-Z][a-z]+)*")


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
_POST_SCOPE = fastre.lazy(r"\s+(?:in|from|across)\s+(?:the\s+)?[A-Z][\w-]*(?:\s+[A-Z][\w-]*)?")


def _people_phrase(text: str, people: str) -> str | None:
    """The whole noun phrase whose head is `people`: its modifiers before ("paying", "private beta")
    and a place after ("in EMEA"). None when the word is not the head of its phrase."""
    at = text.lower().find(people.lower())
    if at < 0:
        return None
    end = at + len(people)
    after = text[end:]
    nxt = _NEXT_WORD.match(after)
    if _WORD_CHAR_NEXT.match(after[:1]) or (nxt and not after.startswith((",", ";")) and _nouny_adjective(nxt.group(1))
                                            and not lexicon().actor_actions.fullmatch(nxt.group(1))
                                            and nxt.group(1)[:1].islower() == text[at:end][:1].islower()
                                            and not nxt.group(1).lower().endswith(("ed", "ing"))):
        return None  # "Customer Relations", "contributor guide": the people word only qualifies a noun
    head = text[at:end]
    low = head.lower().split()[-1]
    if not (low.endswith("s") or low in _COLLECTIVE):
        return None  # one person ("the contributor"), not an audience
    start = at
    for w in reversed(list(_WORD.finditer(text[max(0, at - 40):at]))[-3:]):
        gap = text[max(0, at - 40) + w.end(): start]
        if gap.strip() or not _nouny_adjective(w.group(0)) or max(0, at - 40) + w.start() == 0 or (
                head[:1].isupper() and w.group(0)[:1].islower()):
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
        and not lexicon().verb_class.get(low) and not low.isdigit() and not _ANY_DIGIT.search(low)


def _why_output(a: Anatomy, audience: str | None, question: str) -> str:
    """What completing the KR proves, in its own words, and the question that leads to the outcome."""
    obj = _subject(a)
    who = audience or "people outside the team"
    if a.own_share:
        done = (f"This counts how much of the team's own work is covered ({_shorten(a.text, 60)}), "
                f"not what that coverage changes for {who}.")
    elif a.hiring_verb or _SIGNS_UP_OWN.search(a.text):
        done = f"This counts people the team brings in itself ({obj}): only the team changes."
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
    if (a.hiring_verb or _SIGNS_UP_OWN.search(a.text)) and not entry:
        if objective and len(objective.split()) <= 12:
            return f"Ask: once they are on board, what number on '{_shorten(objective, 70)}' should move because of them?"
        return "Ask: what should these people make possible that the team cannot do today, and how would you count it?"
    if entry:
        return f"If it is meant to {entry['intent']}, measure that instead."
    if audience:
        who = _with_article(_uncap(audience) if a.text.startswith(audience) else audience)
        return f"Ask: once it is done, what will {who} do differently, and how would you count it?"
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
    for sentence in _SENTENCE_END.split(objective.strip()):
        first = sentence.split(" ", 1)[0].lower()
        if lexicon().verb_class.get(first) == "activity" and len(sentence.split()) > 1:
            return sentence.rstrip(".")
    return None


#: Group words that take a verb in the singular: "the community chooses".
_SINGULAR_GROUP = fastre.lazy(r"^(?:the\s+)?(?:[\w-]+\s+){0,3}(?:community|public|audience|staff|workforce|press)$", re.I)
_MAX_WORDS = fastre.lazy(r"^(?:under|below|less\s+than|fewer\s+than|at\s+most|no\s+more\s+than|max(?:imum)?|<=?|≤)\b", re.I)
#: What a result word says about who changes and how (`lexicon.json` "why_effects"). {who}, {verb}
#: and {choose} are filled from the KR; {default} is who it is when the KR names no one.
_EFFECTS = {
    "wait": ("It is about how fast the system is for {who}, which changes only when the system itself does.",
             "the people who use it"),
    "fail": ("It is about how often {who} run into failures, which changes only when the system itself does.",
             "the people who use it"),
    "rely": ("It is about how far {who} can count on the service, which changes only when the system itself does.",
             "the people who use it"),
    "handle": ("It is about how much the system can handle, which changes only when the system itself does.", ""),
    "rate": ("What changes is how {who} {rate} their experience, and only their own answers can show it.",
             "the people asked"),
    "feel": ("What changes is how {who} {feel}, and only their own answers can show it.", "the people asked"),
    "learn": ("What changes is what {who} {understand}, shown by how they do when tested.", "the people tested"),
    "pay": ("It moves only when {who} {decide} to pay.", "customers"),
    "stay": ("It moves only when {who} {decide} to stay.", "customers"),
    "fund": ("It moves only when {who} {decide} to commit money.", "funders"),
    "interest": ("It moves only when {who} {show} real interest.", "prospects"),
    "sooner": ("It moves only when {who} {decide} sooner.", "customers"),
    "act": ("It moves only when {who} {choose} to {verb}.", "people outside the team"),
    "leave": ("It moves only when fewer of {who} give up and leave.", "the visitors"),
    "cost": ("It counts money no longer spent, not the work done to save it.", ""),
    "time": ("It counts time {who} actually get back, not the work done to free it.", "people"),
}


def _agree(who: str, verb: str) -> str:
    """"customers decide", "the community decides"."""
    if not _SINGULAR_GROUP.search(who):
        return verb
    return verb + ("es" if verb.endswith(("s", "sh", "ch")) else "s")


def _effect_sentence(a: Anatomy, metric: str | None, audience: str | None) -> str | None:
    """Who changes, and how, when the metric moves: the people and what they do as the KR says it
    ("members attending events" -> "members choose to attend"), else what its result word says
    (latency: the system; NPS: people's own judgement; revenue: customers' decisions). None when
    the KR says nothing of it: a stock sentence would fit any KR."""
    lex = lexicon()
    hit = None
    # The metric's own head word first ("Gross MRR churn rate" is churn, not revenue), then the
    # KR's first sentence without its side remarks.
    first_sentence = _SIDE.sub("", _SENTENCE_STOP.split(a.text, maxsplit=1)[0])
    if metric:
        # The head of the metric's noun phrase: the words before its first preposition, after a
        # "number of" or "share of" ("Inquiries towards funding methods" is about inquiries).
        name = _COUNT_OF_LEAD.sub("", metric)
        head = _HEAD_END.split(name, maxsplit=1)[0]
        hits = lex.effect_terms.finditer(head.replace("/", " "))
        hit = hits[-1] if hits else None
    if hit is None and not metric:
        # The KR as written: a judgement or system word says more about who changes than a people
        # word does ("team members are confident": how they feel, not members joining).
        hits = lex.effect_terms.finditer(first_sentence.replace("/", " "))
        rank = ("rate", "feel", "learn", "wait", "fail", "rely", "handle")
        judged_hits = [h for h in hits if lex.effects.get(" ".join(h.group(0).lower().split()), ("", ""))[0] in rank]
        hit = (judged_hits or hits or [None])[0]
    clause = _RELATIVE_CLAUSE.search(metric or "")
    if hit is None and clause:
        # "Share of respondents who feel burned out": a judgement in the clause says who changes.
        hits = [h for h in lex.effect_terms.finditer(clause.group("vp"))
                if lex.effects.get(" ".join(h.group(0).lower().split()), ("", ""))[0] in ("rate", "feel", "learn")]
        hit = hits[0] if hits else None
    kind, verb = lex.effects.get(" ".join(hit.group(0).lower().split()), ("", "")) if hit else ("", "")
    acting = _people_acting(a)
    rel = _GROUP_WHO.match(metric or "")
    done = None if _SHARE_OF_LEAD.match(metric or "") else _PEOPLE_DONE.match(metric or "")
    done = done if done and lex.actors.search(done.group("people")) else None
    judged = ("wait", "fail", "rely", "handle", "rate", "feel", "learn")
    if acting and kind not in judged:
        kind, who, verb = "act", acting[0], acting[1]
    elif rel and (lex.actors.search(rel.group("group")) or _OTHERS_ACT.search(metric or "")
                  or _GET_OTHERS_TO.search(a.text)) and kind not in judged:
        return (f"What changes is how many {_uncap(rel.group('group'))} {rel.group('vp')}, which the team can "
                "encourage but not do for them.")
    elif done and kind not in judged:
        return (f"It counts {_uncap(done.group('people'))} actually {done.group('part')}{done.group('rest')}, "
                "not the work done to reach them.")
    else:
        who = None
    if kind == "act" and not verb:
        verb = "take part"
    if audience and a.text.startswith(audience):
        audience = _uncap(audience)
    if not kind:
        # Naming the audience helps only when the metric does not already name it.
        said = audience and (audience.lower() in ("people", "the people") or
                             audience.lower().split()[-1] in (metric or a.text).lower())
        return f"The change it counts is for {_with_article(audience)}." if audience and not said else None
    template, default = _EFFECTS[kind]
    if who is None:
        head = hit.group(0).lower() if hit else ""
        # The people the metric counts are who acts, unless they are the result itself ("followers").
        last = head.split()[-1] if head else ""
        who = next((c for c in (_people_in(metric or "", a.text), audience) if c and not _whole_word(
            c.lower(), last)), default) if last else (audience or default)
    who = _with_article(who)
    if kind == "act" and verb.startswith("join") and _SINGULAR_GROUP.match(who):
        who = "people"  # people join the community; the community does not join itself
    return template.format(who=who, verb=verb, choose=_agree(who, "choose"), decide=_agree(who, "decide"),
                           show=_agree(who, "show"), rate=_agree(who, "rate"), feel=_agree(who, "feel"),
                           understand=_agree(who, "understand"))


_SIDE = fastre.lazy(r"\s*\([^()]*\)")


def _with_article(who: str) -> str:
    """"devoted community" -> "the devoted community": a group named in the singular takes "the"."""
    if _SINGULAR_GROUP.match(who) and not _DETERMINER.match(who):
        return f"the {who.strip(' ,')}"
    return who


#: "Developers converted to Wechaty Developer": people and what was done with them.
_PEOPLE_DONE = fastre.lazy(r"^(?P<people>(?:[\w-]+\s){0,3}?[\w-]+s)\s+(?P<part>[a-z]+ed|won|brought|made|built|got|reached)"
                          r"(?P<rest>(?:\s+.+)?)$")


def _people_in(metric: str, kr: str = "") -> str | None:
    """The people a metric counts, as a plural noun phrase of its own words ("chatbot developers")."""
    m = lexicon().actors.search(metric)
    if not m or not m.group(0).lower().endswith("s"):
        return None
    phrase = _people_phrase(metric, m.group(0))
    return _as_in(phrase, kr) if phrase and not _ANY_DIGIT.search(phrase) else None


def _as_in(phrase: str, kr: str) -> str:
    """`phrase` for the middle of a sentence: lower-cased unless the draft capitalises its first word
    mid-sentence too ("eligible Veterans", "Content Curators")."""
    first = phrase.split(" ", 1)[0]
    if first[:1].isupper() and any(
            i >= 2 and kr[i - 1] == " " and kr[i - 2] in _LOWER_OR_COMMA and boundary(kr, i + len(first))
            for i in occurrences(kr, first)):  # (?<=[a-z,;:] )first\b
        return phrase
    return _uncap(phrase)


def _people_acting(a: Anatomy) -> tuple[str, str] | None:
    """People outside the team and what they do, as the KR says it: "500+ new developers join our
    community" -> ("new developers", "join"); None when the KR names no one doing something."""
    if not a.actors or not a.actor_actions or a.hiring_verb:
        return None
    lex = lexicon()
    for m in lex.actors.finditer(a.text):
        people = _people_phrase(a.text, m.group(0))
        if not people:
            continue
        nxt = _ACTOR_VERB_GAP.match(a.text[m.end():])
        if not nxt:
            continue
        action = lex.actor_actions.match(a.text, m.end() + nxt.end())
        if not action:
            continue
        word = action.group(0).lower()
        lemma = _lemma(word.split()[0])
        rest = word.split()[1:]
        # What they do it to, up to a date, a means, a number or a qualifier: "join our community".
        after = a.text[action.end():]
        obj = []
        for w in after.split()[:4]:
            bare = w.strip(",.;:")
            if bare.lower() in _OBJECT_STOP or _ANY_DIGIT.search(bare) or bare.lower().endswith("ed") or not bare:
                break
            obj.append(bare)
            if bare != w:
                break
        return _COUNT_PREFIX.sub("", _as_in(people, a.text)), " ".join([lemma, *rest, *obj])
    return None


_OBJECT_STOP = frozenset("by in within before after until from via through per at with and or for during each every "
                         "because since than who that which is are was were has have will".split())


@lru_cache(maxsize=4096)
def _lemma(word: str) -> str:
    """"attending" -> "attend", "joins" -> "join", "reaches" -> "reach"."""
    lex = lexicon()
    known = lex.base_verbs
    lemma = lex.verb_lemma.get(word)
    if lemma:
        return lemma
    for suffix, repl in (("ing", ""), ("ing", "e"), ("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("d", "")):
        if word.endswith(suffix) and (word[: -len(suffix)] + repl) in known:
            return word[: -len(suffix)] + repl
    return word


_LOWER_OR_COMMA = frozenset("abcdefghijklmnopqrstuvwxyz,;:")


def _whole_word(text: str, word: str) -> bool:
    """`re.search(rf"\\b{re.escape(word)}\\b", text)`."""
    return any(boundary(text, i) and boundary(text, i + len(word)) for i in occurrences(text, word))


def _inside_word(text: str, word: str) -> bool:
    """`re.search(rf"(?<!^)(?<![.!?]\\s)\\b{re.escape(word)}\\b", text)`: the word as a whole word
    that does not start the text or a sentence."""
    return any(i and not (i >= 2 and text[i - 2] in ".!?" and text[i - 1].isspace()) and boundary(text, i)
               and boundary(text, i + len(word)) for i in occurrences(text, word))


def _compared_as_written(text: str, cmp_: str, target: str) -> bool:
    """`re.search(rf"(?<![\\w]){re.escape(cmp_)}\\s*{re.escape(target)}", text, re.I)`; compared in
    lower case where all three are ASCII (where `re.I` is exactly that), else by the pattern itself."""
    if not (text.isascii() and cmp_.isascii() and target.isascii()):
        return bool(_cmp_target_pattern(cmp_, target).search(text))
    low, c, t = text.lower(), cmp_.lower(), target.lower()
    for i in occurrences(low, c):
        if i and is_word(low[i - 1]):
            continue
        j = k = i + len(c)
        while k < len(low) and low[k].isspace():
            k += 1
        if any(low.startswith(t, p) for p in range(j, k + 1)):
            return True
    return False


@lru_cache(maxsize=256)
def _cmp_target_pattern(cmp_: str, target: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w]){re.escape(cmp_)}\s*{re.escape(target)}", re.I)


def _subject_of(metric: str, kr: str) -> str:
    """The metric as the subject of a sentence: lower-cased only where the draft writes it so
    ("Twitter followers", "CSAT", "eNPS" keep their capitals)."""
    first = metric.split(" ", 1)[0]
    if not first[:1].isupper() or not first[1:].islower():
        return metric
    if _inside_word(kr.strip(), first) and not kr.strip().startswith(first):
        return metric  # capitalised inside the draft too: a name
    return metric[:1].lower() + metric[1:]


def _change_phrase(a: Anatomy, rw: Rewrite) -> str:
    """How the metric moves, grammatical for a singular or plural subject: "will reach 500",
    "will rise by 30%", "will go from 5k to 7k", "will stay above 90"."""
    target, baseline = rw.target, rw.baseline
    conditional = _CONDITIONAL_TARGET.fullmatch(target or "")
    if conditional:
        return f"will reach {conditional.group(1)} (if it counts what others do)"
    worded = _WORDED_TARGET.fullmatch(target or "")
    if worded:
        return f"will be {worded.group(1)}"  # "within industry norms": the level in the draft's words
    if a.direction == "maintain" or (a.service_levels and a.comparator and not a.change_verbs and not baseline):
        if not target:
            return "will hold its level"
        return f"will stay {target}" if _NOT_A_NUMBER_START.match(target) else f"will stay at {target}"
    if baseline and target:
        return f"will go from {baseline} to {target}"
    if target and target[:1] in "+-" and len(target) > 1:
        return f"will {'rise' if target[0] == '+' else 'fall'} by {target[1:]}"
    if target and rw.assumptions and any("change (" in x for x in rw.assumptions):
        return f"will {'fall' if a.direction == 'decrease' else 'rise'} by {target}"
    if target and (_MAX_WORDS.match(target) or _ABOVE_WORDS.match(target)):
        return f"will be {target}"
    share = (rw.metric or "").lower().startswith("share of") and not a.change_verbs
    if target:
        return f"will {'fall to' if a.direction == 'decrease' and not share else 'reach'} {target}"
    if _SAVED.search(rw.metric or ""):
        return "will grow"
    direction = a.direction
    if not direction:
        comparative = _COMPARATIVE_WORD.search(a.text)
        if comparative:
            direction = "decrease" if comparative.group(0).lower() in _DOWNWARD else "increase"
    countable = _COUNTABLE_METRIC.match(rw.metric or "") or _WHO_THAT.search(rw.metric or "")
    return {"decrease": "will fall", "increase": "will rise"}.get(direction or "", "will grow" if countable else "will improve")


_COMPARATIVE_WORD = fastre.lazy(r"\b(?:shorter|faster|quicker|lower|less|fewer|smaller|cheaper|higher|more|larger|"
                               r"bigger|longer|greater)\b", re.I)
_DOWNWARD = frozenset("shorter faster quicker lower less fewer smaller cheaper".split())


_SAVED = fastre.lazy(r"\b(?:avoided|saved|removed|eliminated|prevented|recovered|reclaimed|freed)\b")


def _why_outcome(a: Anatomy, rewrites: list[Rewrite], audience: str | None, kr_text: str) -> str:
    """If this is met, what will be different, for whom: the metric in its own words and how it
    moves ("Twitter followers will reach 500"), then who changes and how (`_effect_sentence`).
    A draft kept as written is quoted whole; one already in shape is said to be so."""
    first = rewrites[0] if rewrites else None
    quoted = _shorten(kr_text, 110)
    if first is None:
        lead = (f"It already says where it starts and by when, so it needs no rewrite. If it is met, "
                f"“{quoted}” will be true.")
        metric = None
    elif as_written(first):
        verb_led = lexicon().verb_lemma.get(kr_text.split(" ", 1)[0].lower()) is not None
        lead = (f"If this is met, the change the draft asks for will have happened: “{quoted}”." if verb_led else
                f"If this is met, “{quoted}” will be true.")
        metric = None
    else:
        shown = [rw for rw in rewrites[:2] if not as_written(rw)]
        dated = len({rw.deadline for rw in shown}) > 1
        changes = []
        for i, rw in enumerate(shown):
            subject = _subject_of(rw.metric, kr_text)
            change = _change_phrase(a, rw) + (f" by {rw.deadline}" if dated and rw.deadline else "")
            same = i and rw.metric == shown[0].metric
            changes.append(change.removeprefix("will ") if same else f"{subject} {change}")
        lead = f"If this is met, {(', then ' if dated and len(changes) > 1 and shown[1].metric == shown[0].metric else ' and ').join(changes)}."
        metric = first.metric
        if len(rewrites) == 1 and first.baseline and first.target and first.deadline and a.baseline and \
                _deadline_text(a):
            lead += " It already names its metric, baseline, target and date: keep it as it is."
    effect = _effect_sentence(a, metric, audience)
    return f"{lead} {effect}" if effect else lead


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


#: "every quarter", "each sprint", "on a monthly basis": a recurring due date, so the KR is dated.
_CADENCE_DUE = fastre.lazy(r"\b(?:every|each)\s+(?:day|week|month|quarter|year|sprint|cycle|term|semester)\b"
                          r"|\bon\s+an?\s+(?:daily|weekly|monthly|quarterly|yearly|annual)\s+basis\b", re.I)
_DEADLINE_LEAD = fastre.lazy(r"^(?:by|before|until|till|in|during|for|through|thru|no later than)\s+", re.I)


def _deadline_text(a: Anatomy) -> str | None:
    return _DEADLINE_LEAD.sub("", a.deadline).strip() if a.deadline else None


_HAS_DIGIT = fastre.lazy(r"\d")
_NOT_A_METRIC = fastre.lazy(r"\b(?:goal|goals|towards|target|aim|objective)\b", re.I)
_MONEY = fastre.lazy(_CUR)
_DIGIT_OR_UPPER = fastre.lazy(r"[\dA-Z]")


def _capital(text: str) -> str:
    first = text.split(" ", 1)[0]
    if _HYPHEN_CAPITAL.match(first):
        return text[:1].upper() + text[1:]  # "non-OCTO teams" -> "Non-OCTO teams"
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


#: Labels that are not part of what a KR says: "[P1]", "[DR]", "[P0][DP]".
_TAG = fastre.lazy(r"\s*\[(?:P\d|[A-Z]{2,5})\]\s*")
#: A name in brackets at the end of a KR is who owns it: "100 new clubs (Max)", "(Max & Zach)".
_OWNER = fastre.lazy(r"\s*\((?P<who>[A-Z][a-z]+(?:\s*(?:&|and|,|/)\s*[A-Z][a-z]+)*)\)(?=\s*\.?\s*$)")
_QUOTED = fastre.lazy(r"[\"“”]([^\"“”]{1,40})[\"“”]")


def reviewed_text(text: str) -> tuple[str, list[str]]:
    """The KR's words a rewrite is made from: no priority or team tags ("[P1]"), no owner's name in
    brackets at the end ("(Max)"), no quotes around words ('"Readers"'); with a note for each
    thing left out that a reader might miss."""
    notes: list[str] = []
    out = _TAG.sub(" ", text) if "[" in text else text
    owner = _OWNER.search(out) if "(" in out else None
    if owner and not (lexicon().results.search(owner.group("who")) or lexicon().actors.search(owner.group("who"))):
        notes.append(f"'({owner.group('who')})' reads as who owns it, so it stays out of the metric.")
        out = out[: owner.start()] + out[owner.end():]
    if '"' in out or "“" in out:
        out = _QUOTED.sub(r"\1", out)
    out = _SHORT_WITH.sub(" with ", out)  # note-taking "w/" and "w" are "with"
    return " ".join(out.split()).strip(), notes


_SHORT_WITH = fastre.lazy(r"\s+w/?\s+(?=[\w>~<≥≤])|\s+w/(?=\w)")


#: "<a survey> indicates that <share> <feel ...>": the reporting clause names the source, not the metric.
_REPORTED = fastre.lazy(
    r"^(?:our\s+|the\s+)?(?P<src>(?:[\w-]+\s+){0,4}?(?:survey|surveys|poll|census|pulse|feedback|study))\s+"
    r"(?:indicates?|shows?|reports?|finds?|says?|confirms?|reveals?)\s+(?:that\s+)?(?P<rest>.+)$", re.I)
_SHARE_CLAUSE = fastre.lazy(
    r"^(?:(?:less|fewer|more)\s+than\s+|at\s+least\s+|at\s+most\s+|over\s+|under\s+|[<>≤≥]=?\s*)?"
    r"(?:\d+(?:\.\d+)?\s?%|X\s?%)\s+(?:or\s+(?:more|less|fewer|higher|lower)\s+)?"
    r"(?:of\s+(?:the\s+|our\s+)?(?P<group>[\w\s-]{2,40}?)\s+)?"
    r"(?P<vp>(?:feel|feels|say|says|report|reports|agree|agrees|are|is|believe|believes|think|thinks|rate|rates|find|"
    r"finds|would|know|knows|have|has|want|wants)\b.*?)\.?$", re.I)
#: "Help >500 new entrants understand ...", "Get 80 accounts to turn on audit logs": the people and
#: what they are to do are the metric; the verb only says the team helps.
_HELP_PEOPLE = fastre.lazy(
    r"^(?:help|get|enable|encourage|bring|empower|convince|persuade|support)\s+"
    r"(?P<n>(?:at\s+least\s+|over\s+|more\s+than\s+|[>≥~]\s?)?\d[\d,.]*\s?[kK]?\+?|N|X)\s+(?P<rest>.+)$", re.I)
_EXTRA_PEOPLE_VERBS = frozenset("understand learn know try start stop become feel return".split())
_NON_PERSON_GROUPS = frozenset("accounts teams organizations organisations companies businesses agencies schools "
                               "hospitals orgs squads workspaces shops retailers restaurants startups smes apps".split())
#: "Avoid x cost across the platforms", "Save 200 hours of admin time": what is no longer spent.
_SAVING = {"avoid": "avoided", "save": "saved", "remove": "removed", "eliminate": "eliminated",
           "prevent": "prevented", "recover": "recovered", "reclaim": "reclaimed", "free": "freed"}
_SAVING_LEAD = fastre.lazy(r"^(?P<verb>avoid|save|remove|eliminate|prevent|recover|reclaim|free(?:\s+up)?)\s+"
                          r"(?P<n>[xXN]|[$€£]?\d[\d,.]*\s?[kKmM]?\+?)\s+(?P<rest>[A-Za-z].+)$", re.I)
_MEANS = fastre.lazy(r"\s+(?:by|through|via|thanks\s+to)\s+(?:\w+ing\b|the\s+|our\s+|a\s+|public\b|new\b).*$|"
                    r"\s+via\s+.*$", re.I)
_PREPOSITION = fastre.lazy(r"\s(?:across|in|on|for|from|at|within|per|with|among|to)\s", re.I)


#: "<the thing> gets <N> <results>", "Write a blog post that gets 100+ reads", "Write a blog and have
#: 100 views": the results the thing gets are the metric, the thing says what they are of.
_GETS = fastre.lazy(
    r"^(?P<thing>.{3,80}?)\s+(?:(?:that|which)\s+|and\s+)?(?P<verb>gets?|receives?|has|have|earns?|attracts?|reach(?:es)?|with|"
    r"includes?|involves?)"
    r"\s+(?P<rest>(?:>\s?|over\s+|at\s+least\s+|more\s+than\s+)?\d.*)$", re.I)


def _things_results(text: str) -> tuple[str, str] | None:
    """("blog post", "100+ reads from chatbot developers") for "Write a blog post that gets 100+
    reads from chatbot developers"; None unless what it gets is a result others produce."""
    m = _GETS.match(text)
    inside = bool(m) and m.group("verb").lower().startswith(("includ", "involv"))
    if not m or not (inside or lexicon().results.search(m.group("rest")) or lexicon().effect_terms.search(m.group("rest"))):
        return None
    words = m.group("thing").split()
    if words and lexicon().verb_class.get(words[0].lower()) == "activity":
        words = words[1:]
    article = _LEAD_ARTICLE.match(" ".join(words))
    thing = " ".join(words)[article.end():] if article else " ".join(words)
    thing = _THING_END.split(thing, maxsplit=1)[0].strip()
    if not thing or len(thing.split()) > 4 or (not article and lexicon().verb_class.get(thing.split()[0].lower())):
        return None
    return (f"in:{thing}" if inside else thing), m.group("rest")


def _shaped_metric(a: Anatomy) -> tuple[str, list[str]] | None:
    """A metric for KRs whose words carry it inside a clause (a survey's finding, people helped to
    act, money or time no longer spent, what a piece of work gets), with what the reader should
    know; None otherwise."""
    text = a.text.rstrip(".")
    lex = lexicon()
    using = _people_using(text)
    if using:
        # "Prior members can apply to keep their email address ...": the people who do it are counted.
        return using, ["Counts the people who actually do what the draft says they can do."]
    there = _THERE_ARE.match(text)
    if there:
        # "There are at least 10 builders, with at least 2 full time": what there is, is the metric.
        rest = parse(_SECOND_CONDITION.split(there.group("rest"))[0])
        metric = noun_phrase(metric_phrase(rest.text))
        return (metric, ["What follows the comma is a second condition: keep it as its own key result if it matters."]
                if "," in there.group("rest") else []) if metric else None
    dl = deadline_match(text)
    help_ = _HELP_PEOPLE.match((text[: dl.start()] + text[dl.end():]).strip() if dl else text)
    if help_:
        lex = lexicon()
        words = help_.group("rest").split()
        to = next((j for j in range(1, len(words) - 1) if words[j].lower() == "to" and words[j + 1][:1].islower()
                   and (lex.verb_lemma.get(words[j + 1]) == words[j + 1] or words[j + 1] in _EXTRA_PEOPLE_VERBS
                        or lex.actor_actions.match(" ".join(words[j + 1:j + 3]), 0))), None)
        if to is not None and (lex.actors.search(" ".join(words[:to])) or words[to - 1].lower().endswith("s")):
            # "Get 80 accounts to turn on audit logs": the people, then what they are to do.
            group = words[:to]
            pron = "who" if lex.actors.fullmatch(group[-1].lower()) and group[-1].lower() not in _NON_PERSON_GROUPS \
                else "that"
            return (f"{' '.join(group)} {pron} {_MEANS.sub('', ' '.join(words[to + 1:]))}",
                    ["The team's help is the means; the people who act are what is counted."])
        for i in range(1, len(words)):
            w = words[i].lower().strip(",")
            if not words[i][:1].islower():
                continue
            base = lex.verb_lemma.get(w) == w or w in _EXTRA_PEOPLE_VERBS or lex.actor_actions.fullmatch(w)
            if not base or words[i - 1].lower() in ("of", "for", "with", "from"):
                continue
            group = words[:i - 1] if words[i - 1].lower() == "to" else words[:i]
            group_text = " ".join(group)
            if not lex.actors.search(group_text) or not group_text:
                return None
            vp = _MEANS.sub("", " ".join(words[i:]))
            pron = "that" if group[-1].lower() in _NON_PERSON_GROUPS or (
                len(group) > 2 and group[-2].lower() in _NON_PERSON_GROUPS) else "who"
            return f"{group_text} {pron} {vp}", ["The team's help is the means; the people who act are what is counted."]
        return None
    lead = _LEAD_COUNT.match(text)
    if lead and lead.group("verb").lower() in _NOT_A_LEAD_VERB:
        lead = None  # "No more than 25 clubs": a comparison, not a verb
    taking = bool(lead) and (_lemma(lead.group("verb").lower()) in lex.acquisition_verbs
                             or lead.group("verb").lower() in lex.hiring_verb_set)
    if lead and (taking or lex.actors.search(lead.group("rest"))) and not lex.verb_class.get(lead.group("verb").lower()) in (
            "change", "maintain") and _lemma(lead.group("verb").lower()) not in _NOT_PARTICIPLE \
            and not _HELP_PEOPLE.match(text) and not _things_results(text):
        # "Convert 20+ developers to Wechaty Developer" -> "Developers converted to Wechaty Developer";
        # an unknown word before the count ("Greenpill >20 new contributors") is its verb too.
        verb = lead.group("verb").lower()
        lemma = _lemma(verb)
        known = lemma if (lex.verb_lemma.get(verb) or lemma in lex.actor_action_set) else None
        rest = _MEANS.sub("", lead.group("rest"))
        notes = []
        second = _SECOND_MINIMUM.search(rest)
        if second:
            # "Onboard 3000 IAH ... with a minimum of 500 voters casting votes": a second key result.
            notes.append(f"'{second.group(0).strip()}' is a second result: give it its own key result.")
            rest = rest[: second.start()]
        people = lex.actors.search(rest)
        prep = _PREPOSITION.search(rest + " ") or _BY_WORD.search(rest)
        cut = people.end() if people else (prep.start() if prep else len(rest))
        count = lead.group("count").strip()
        sym = _CMP_SYMBOL_LEAD.match(count)
        if sym:
            count = {">": "more than ", "≥": "at least ", "~": "about "}[sym.group(1)] + count[sym.end():]
        if known:
            return f"{rest[:cut]} {_participle(known)}{rest[cut:]}", notes, count
        return rest, notes, count
    grow = _GROW_GROUP.match(text)
    if grow:
        # "Scale up the community": how many people it has is what grows.
        return f"{grow.group('group')} members", ["Reads the growth of the group as more members; say if another "
                                                  "measure (active members, contributions) is meant."]
    gets = _things_results(text)
    if gets:
        rest, also = gets[1], []
        more = _AND_ALSO.search(rest)
        if more:
            # "w >50 participants and a Steward voice inside": the second condition is a checkpoint.
            also.append(f"The draft also asks for '{more.group('more')}': keep it as a checkpoint.")
            rest = rest[: more.start()]
        each = _EACH_END.search(rest)
        rest = rest[: each.start()] if each else rest
        got = metric_phrase(rest)
        if got:
            cut = _PREPOSITION.search(got + " ")
            head, tail = (got[: cut.start()], got[cut.start():]) if cut else (got, "")
            of = "of each of the" if each else "of the"
            thing = gets[0]
            if thing.startswith("in:"):
                of, thing = "in the", thing[3:]
            return f"{head} {of} {thing}{tail}", also
    rep = _REPORTED.match(text)
    if rep:
        share = _SHARE_CLAUSE.match(rep.group("rest"))
        if not share:
            return None
        group = share.group("group")
        vp = share.group("vp")
        who = group if group else f"{rep.group('src')} respondents"
        metric = f"Share of {who} who {vp}"
        return metric, [f"Reads '{rep.group('src')}' as where the answers come from, not the metric itself."]
    save = _SAVING_LEAD.match((text[: dl.start()] + text[dl.end():]).strip() if dl else text)
    if save:
        rest = _MEANS.sub("", save.group("rest"))
        rest = _SAVED_UNIT_LEAD.sub("", rest)
        verb = save.group("verb").lower().split()[0]
        cut = _PREPOSITION.search(rest + " ")
        head, tail = (rest[: cut.start()].rstrip(), rest[cut.start():].rstrip()) if cut else (rest, "")
        if not head or lexicon().verb_lemma.get(head.split()[0].lower()):
            return None
        return f"{head} {_SAVING[verb]}{tail}", []
    return None


_THERE_ARE = fastre.lazy(r"^there\s+(?:are|is|will\s+be|should\s+be)\s+(?P<rest>.+)$", re.I)
#: A verb, then a count of people: "Convert 20+ developers to ...", "Influence 200+ developers".
_LEAD_COUNT = fastre.lazy(r"^(?:.*,\s+|.*\s(?:that|which|to)\s+)?(?P<verb>[A-Za-z][a-z]+)\s+"
                         r"(?P<count>(?:at\s+least\s+|over\s+|more\s+than\s+|[>≥~]\s?)?\d[\d,.]*\s?[kK]?\+?)\s+"
                         r"(?P<rest>[A-Za-z].*)$")
_NOT_A_LEAD_VERB = frozenset("no not all every each any the a an our their its at over under about around only just "
                              "more less fewer than up to least most some".split())
#: Verbs whose object is the level reached, not people acted on: "Get 500 sign-ups", "Have 10 members".
_NOT_PARTICIPLE = frozenset("get have has reach hit achieve attain gain exceed surpass make see keep".split())
_GROW_GROUP = fastre.lazy(r"^(?:scale\s+up|grow|expand|build\s+up|enlarge)\s+(?:the\s+|our\s+)?(?P<group>community)$", re.I)
_IRREGULAR = {"win": "won", "bring": "brought", "make": "made", "get": "got", "build": "built", "hold": "held",
              "keep": "kept", "teach": "taught", "draw": "drawn", "grow": "grown", "lead": "led", "meet": "met",
              "send": "sent", "run": "run", "set": "set", "cut": "cut", "hit": "hit", "drive": "driven",
              "choose": "chosen", "write": "written", "do": "done", "begin": "begun", "pay": "paid"}


def _participle(verb: str) -> str:
    """"convert" -> "converted", "influence" -> "influenced", "win" -> "won"."""
    if verb in _IRREGULAR:
        return _IRREGULAR[verb]
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ied"
    return verb + "ed"


#: A comparison kept with its level in the target: "above CHF 10k", "less than 25%", "at least 80%".
_KEEP_CMP = fastre.lazy(r"^(?:at\s+least|at\s+most|more\s+than|less\s+than|fewer\s+than|no\s+more\s+than|"
                       r"no\s+less\s+than|over|above|under|below|minimum(?:\s+of)?|max(?:imum)?(?:\s+of)?)$", re.I)
_CMP_SYMBOL = {">": "more than", ">=": "at least", "≥": "at least", "<": "less than", "<=": "at most", "≤": "at most"}


def _target_with_comparison(a: Anatomy, target: str | None) -> str | None:
    """The draft's level with its comparison word, so that a threshold reads as written."""
    cmp_ = (a.comparator or "").strip()
    if not target or not cmp_ or cmp_ == "by" or target[:1] in "+-":
        return target
    word = _CMP_SYMBOL.get(cmp_, cmp_)
    if not _KEEP_CMP.match(word) or target.lower().startswith(word.split()[0]):
        return target
    if not _compared_as_written(a.text, cmp_, target):
        return target  # the comparison belongs to a threshold elsewhere ("users who spend over 10 minutes")
    return f"{word} {target}"


#: A side remark in brackets that is not a short name of the metric: "(limits, not Jsg)".
_REMARK = fastre.lazy(r"\s*\((?P<r>[^()]*(?:,|\b(?:shows?|means?|it’s|it's|because|stretch|goal)\b|\b(?:i\.e|e\.g)\.)[^()]*"
                     r"|[^()]{40,})\)"
                     r"|,\s*(?P<r2>(?:e\.g\.|i\.e\.|such\s+as|for\s+example|including)\s[^()]*?)\.?$"
                     r"|\s+[-–—]\s+(?P<r3>[a-z][^()]*?)\.?$"
                     r"|,\s*(?P<r4>(?:to|so\s+that|in\s+order\s+to)\s+[a-z][^()]*?)\.?$")


_UNIT_WORDS = frozenset("days hours minutes weeks months years seconds times percent points".split())
#: Words that make a metric a sentence about a change or a list rather than a name: "twice as many",
#: "measure and improve", "X, Y, and Z".
_NOT_A_NAME_WORDS = fastre.lazy(r"\b(?:twice|as\s+many|as\s+much|and\s+(?:improve|increase|reduce|grow|measure|"
                               r"decrease|raise|lower)|at\s+an?\s+(?:min|max)(?:imum)?)\b|,\s+(?:achieve|reach|get|improve|"
                               r"increase|reduce|grow|hit|deliver|ship|launch)\b", re.I)


@lru_cache(maxsize=4096)
def _bare_word(metric: str) -> bool:
    """One word that names nothing countable ("Professional", "Days"): not a metric a team could track."""
    if len(metric.split()) > 1:
        return False
    lex = lexicon()
    word = metric.strip()
    if word.lower() in _UNIT_WORDS:
        return True  # "Days": a unit, not what is counted
    if word.lower().endswith("s") and word[:1].isalpha() and not word.lower().endswith("ss"):
        return False  # "Clubs": things that can be counted
    return not (lex.results.search(word) or lex.actors.search(word) or lex.service_levels.search(word)
                or lex.satisfaction.search(word) or lex.effect_terms.search(word)
                or (word.isupper() and len(word) >= 2) or _NAME_LIKE.search(word))


def _undoubled(metric: str) -> str:
    """"Claims submitted during the check-in process handling claims": the head noun repeated at the
    end after a participle doubles the metric's name; the name ends before it."""
    words = metric.split()
    low = [w.lower().rstrip("s") for w in words]
    if len(words) >= 4 and low[-1] in low[:-2] and words[-2].lower().endswith("ing"):
        return " ".join(words[:-2])
    for n in (3, 2):  # "Bank account from fundraising in bank account": the name said twice
        if len(words) > 2 * n and " ".join(low[-n:]) in " ".join(low[:-n]):
            cut = " ".join(words[:-n]).rsplit(" ", 1)[0] if words[-n - 1].lower() in ("in", "on", "of", "for", "to") \
                else " ".join(words[:-n])
            return cut
    return metric


def _noun_after_target(a: Anatomy) -> str | None:
    """"Current membership is 3,138, goal is 3500 members": the people or things the target counts."""
    q = a.reading.target if a.reading else None
    if q is None:
        return None
    m = _PLURAL_NEXT.match(a.text[q.end:])
    if m and (lexicon().actors.fullmatch(m.group(1)) or lexicon().results.fullmatch(m.group(1))):
        return m.group(1)
    return None


_WORD_COUNT = fastre.lazy(r"^(?P<n>two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|twenty|fifty|a\s+hundred)"
                         r"(?P<more>\s+or\s+more)?\s+", re.I)
_NORM_LEVEL = fastre.lazy(r"\bwithin\s+(?:the\s+)?(?:industry\s+)?(?:norms?|benchmarks?|standards?)\b", re.I)


@lru_cache(maxsize=1)
def _named_measures() -> dict[str, str]:
    return {k: v for k, v in lexicon().data.get("named_measures", {}).items() if not k.startswith("_")}


_NAMED = fastre.lazy(r"\b(?:accounts\s+receivable|accounts\s+payable|cash\s+runway)\b")


def _named_measure(text: str) -> str | None:
    """"Keep accounts receivable within industry norms" -> "Days sales outstanding (DSO)"."""
    m = _NAMED.search(text.lower())
    return _named_measures().get(" ".join(m.group(0).split())) if m else None


_TOWARDS_GOAL = fastre.lazy(r",?\s+towards\s+(?:a|the|our)\s+(?:goal|target)\b[^,;]*", re.I)
_TRAILING_TARGET_WORD = fastre.lazy(r"\s+(?:target|goal|objective)$", re.I)


def _one_of_a_list(text: str, metric: str) -> bool:
    """"... on Deployment Frequency, Lead Time for Changes, Change Failure Rate, and Time to Restore":
    a metric that is one item of a list the KR names is not the KR's metric."""
    at = text.lower().find(metric.lower())
    if at < 0:
        return False
    tail = text[at + len(metric):]
    if _ASIDE_COMMA.match(tail):
        return False  # "Lead time, the time between code change and release, ...": an aside, not a list
    return bool(_LIST_OF_THREE.match(tail) or _LIST_WITH_AND.match(tail))


def _work_count_target(a: Anatomy) -> tuple[str, str] | None:
    """"Get 75 posts on forum": in an outcome, the count right after the lead is the level others
    reach, not the team's own work. The text without it, and the count."""
    if a.target or not a.reading:
        return None
    for q in a.reading.quantities:
        if q.role in ("work", "other") and q.start <= 12 and q.value is not None:
            return (a.text[: q.start] + a.text[q.end:]).strip(), q.text
    return None


def _count_as_target(a: Anatomy, count: str) -> str:
    """A count the quantity reader takes for the team's own work ("Get 75 posts", "Onboard 3000
    IAH") but the verdict reads as what others do: the target, shown with that condition rather
    than asserted."""
    if a.reading and any(q.role == "work" and q.text in count for q in a.reading.quantities):
        return f"[target: {count} if it counts what others do]"
    return count


def _outcome_rewrite(a: Anatomy, deadline: str | None) -> Rewrite | None:
    """Keep the KR's own metric, words and numbers; only missing parts become placeholders."""
    assumptions: list[str] = []
    original = a
    remark = _REMARK.search(a.text)
    if remark:
        # Said on the side: a counting rule or a comment, not part of the metric's name.
        said = next(g for g in remark.groups() if g).strip().rstrip(".")
        assumptions.append(f"The draft adds '{said}': keep it as a note on how to count.")
        b = parse(a.text[: remark.start()] + a.text[remark.end():])
        if b.text and (b.target or not a.target):
            a = b
    target_override = None
    shaped = _shaped_metric(a)
    counted_work = None if shaped else _work_count_target(a)
    if shaped:
        metric, notes = shaped[0], shaped[1]
        assumptions += notes
        if len(shaped) > 2 and shaped[2]:
            target_override = _count_as_target(a, shaped[2])
    elif counted_work:
        metric = metric_phrase(counted_work[0])
        target_override = _count_as_target(a, counted_work[1])
        assumptions.append(f"Reads {counted_work[1]} as the level people outside the team reach, not work the team does.")
    else:
        metric = None
    named = _named_measure(a.text) if metric is None else None
    if named:
        metric = named
        assumptions.append(f"Tracks the draft's '{_NAMED.search(a.text.lower()).group(0)}' with the measure a finance "
                           "team uses for it; confirm with the team.")
        norm = _NORM_LEVEL.search(a.text)
        if norm and not a.target:
            target_override = f"[target: {norm.group(0)}]"
            assumptions.append(f"The draft names the level in words ('{norm.group(0)}'): put its number in the target.")
    if metric is None:
        own_phrase = metric_phrase(_TOWARDS_GOAL.sub("", a.text))
        if own_phrase is None and a.reading and a.reading.target and a.reading.target.unit == "%" and \
                _OF_NEXT.match(a.text[a.reading.target.end:]):
            # "100% of transactions received ... are processed correctly": the clause is the metric;
            # a shorter name would drop what is counted.
            return _as_written_rewrite(original, deadline)
        counted_noun = _noun_after_target(a) if own_phrase is None else None
        metric = own_phrase or counted_noun or a.metric or (a.results[0] if a.results else None)
        if own_phrase is None and not counted_noun and metric and len(metric.split()) == 1 and \
                lexicon().actors.fullmatch(metric) and not a.target:
            # "Customers are happy with the new checkout": the people alone are not what it measures.
            return _as_written_rewrite(original, deadline)
        if metric and a.target and _MONEY.match(a.target) and len(metric.split()) == 1 and \
                metric.lower().endswith("ed") and lexicon().verb_lemma.get(metric.lower()):
            metric = f"Amount {metric.lower()}"  # "$4500 secured", "$2M raised": the amount is the metric
        first_word = metric.split()[0].lower() if metric else ""
        second = metric.split()[1].lower().lstrip("-") if metric and len(metric.split()) > 1 else ""
        noun_after = second in ("up", "ups", "ins") or bool(lexicon().results.fullmatch(second)
                                                             or lexicon().service_levels.fullmatch(second))
        if metric and ((lexicon().verb_lemma.get(first_word) == first_word and not noun_after)
                       or len(metric.split()) > 16):
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
    if metric and not shaped:
        metric = _undoubled(_TRAILING_TARGET_WORD.sub("", metric))
    if not metric or _bare_word(metric) or _NOT_A_NAME_WORDS.search(metric) or _one_of_a_list(a.text, metric):
        return _as_written_rewrite(original, deadline)
    if a.rate and a.rate not in (a.baseline or "") and a.rate not in (a.target or ""):
        metric = _with_cadence(metric, a.rate)  # "(currently ~90/mo)": the rate belongs to the baseline
    baseline = a.baseline
    target = target_override or a.target
    word_count = _WORD_COUNT.match(metric) if not target else None
    if word_count:
        # "Two other apps that integrate our SDK", "Five or more teams": the count in words is the target.
        target = ("at least " if word_count.group("more") else "") + word_count.group("n").lower()
        metric = _capital(metric[word_count.end():])
    if target and target[:1] not in "+-" and PLACEHOLDER_RE.fullmatch(target.strip()) and (
            a.comparator == "by" or re.search(rf"\bby\s+{re.escape(target.strip())}", a.text)):
        target = ("-" if a.direction == "decrease" else "+") + target  # "increases by X%": a change still to set
    scale = _RATING_SCALE.search(target or "")
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
    if deadline is None:
        assumptions.append("No date in the draft: use the end of the OKR cycle.")
    if target is not None and not target_override:
        # The comparison stays with its level and unit ("above CHF 10k", "less than 25%").
        target = _target_with_comparison(a, target)
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
        return _as_written_rewrite(original, deadline)
    return _rewrite(text, _capital(metric), baseline, target, deadline, assumptions)


def _as_written_rewrite(a: Anatomy, deadline: str | None) -> Rewrite | None:
    """The KR as written with only its missing baseline and date added, when its words make no clean
    noun phrase (`quantities.noun_phrase`): a coach keeps the author's sentence rather than assemble
    a metric from fragments. None when nothing is missing: the draft already says it all."""
    own_deadline = _deadline_text(a)
    stated = bool(a.baseline or _STATED_BASELINE.search(a.text))
    if stated and own_deadline:
        return None  # nothing is missing: the draft already says where it starts and by when
    assumptions = ["The draft's words make no clean metric name; it is kept as written with what it lacks added."]
    if not stated:
        assumptions.append("No baseline in the draft: measure the current value before committing.")
    if deadline is None:
        assumptions.append("No date in the draft: use the end of the OKR cycle.")
    text = render_as_written(a.text, a.baseline, own_deadline or deadline, baseline_stated=stated)
    return _rewrite(_capital(text), a.text, a.baseline, a.target, own_deadline or deadline, assumptions)


#: A baseline the draft gives in words: "than it was in the corresponding quarter in 2024".
_STATED_BASELINE = fastre.lazy(r"\bthan\s+(?:it\s+was\s+|they\s+were\s+)?(?:in\s+)?(?:the\s+)?(?:corresponding|same|previous|"
                              r"prior|last)\b|\bcompared\s+(?:to|with)\s+(?:last|the\s+previous|the\s+prior|Q[1-4]|\d{4})",
                              re.I)


def as_written(rw: Rewrite) -> bool:
    """Whether `rw` is the draft as written (`render_as_written`) rather than metric/from/to/by."""
    parsed = parse_rewrite(rw.text)
    return bool(parsed) and parsed["target"] == ""


def _counted_phrase(text: str, actor_count: str) -> str | None:
    """"influences 50+ developers on site" -> "Developers on site": the people a KR counts."""
    at = text.find(actor_count)
    if at < 0:
        return None
    rest = _COUNT_PREFIX_LEAD.sub("", text[at:])
    phrase = _COUNTED_END.split(rest)[0]
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
    rest = _OBJECTIVE_RESULT_END.split(" ".join(words[1:]), maxsplit=1)[0]
    rest = _ARTICLE_LEAD.sub("", rest.strip())
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
    users = _people_using(a.text)
    if users:
        candidates.append((users, "Counts the people who actually do what the work makes possible; confirm with the team."))
    attendees = _attendees(a)
    if attendees:
        candidates.append((attendees, "Counts the people the events bring in, not the events held; confirm with the team."))
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
        out.append(_rewrite(render_rewrite(_capital(metric), None, None, due), _capital(metric), None, None, due,
                            assumptions))
    return out[:2]


#: "Members can make a Content Creator profile", "Prior members can apply to keep their email address":
#: what the work makes possible, for whom.
_CAN = fastre.lazy(r"^(?P<people>(?:[A-Za-z][\w-]*\s+){0,5}?[A-Za-z][\w-]*)\s+(?:can|could|are\s+able\s+to|will\s+be\s+able\s+to)"
                  r"\s+(?:apply\s+to\s+|start\s+to\s+)?(?P<vp>[a-z].+)$")
_VP_END = fastre.lazy(r"\s+(?:in|with)\s+(?:less|more|fewer)\b.*$|\s+compared\s+(?:to|with)\b.*$|,.*$|\s+(?:through|via)\s+.*$")


def _people_using(text: str) -> str | None:
    """"Users can export reports as PDF" -> "Users who export reports as PDF": the people who use
    what the work makes possible, when the KR names them."""
    m = _CAN.match(text.rstrip("."))
    if not m or not lexicon().actors.search(m.group("people")):
        return None
    people = _GROUP_ARTICLE.sub("", m.group("people"))
    vp = _VP_END.sub("", m.group("vp")).strip()
    return noun_phrase(f"{_capital(people)} who {vp}")


_EVENT = fastre.lazy(r"\b(?:meetups?|events?|webinars?|workshops?|conferences?|hackathons?|town\s+halls?|"
                    r"community\s+calls?|trainings?|bootcamps?)\b", re.I)
#: "Events Committee", "event strategy": the event word only qualifies another noun.
_EVENT_AS_MODIFIER = fastre.lazy(r"\s+(?:[A-Z][a-z]+|committee|team|strategy|calendar|portal|handbook|director|budget|"
                                r"templates?|policy|plan|site|page|series\s+plan|events?|meetups?|sessions?)\b")
_COUNT_WORDS = frozenset("least most one two three four five six seven eight nine ten twelve twenty several many "
                         "few".split())
#: Work that puts on events: "Co-host 2 meetups", "help run regional events", "Plan a workshop".
_HOSTING = fastre.lazy(r"\b(?:hold|holds|holding|held|host|hosts|hosting|hosted|co-host|co-hosts|run|runs|running|"
                      r"organi[sz]e|organi[sz]ed|organi[sz]ing|assist|plan|planned|re-?establish|put\s+on|facilitate|"
                      r"offer|launch|start)\b", re.I)
_NOT_HOSTING = fastre.lazy(r"\b(?:speak|speaks|speaking|speakers?|attend|attending|present\s+at|talk\s+at)\b", re.I)


def _attendees(a: Anatomy) -> str | None:
    """"Co-host 2 Go meetups in San Francisco" -> "Attendees at the Go meetups in San Francisco":
    events the team runs are for the people who come. None when the team only speaks at them."""
    m = next((e for e in _EVENT.finditer(a.text) if not _EVENT_AS_MODIFIER.match(a.text, e.end())
              and e.group(0)[:1].islower()), None)
    if not m or _NOT_HOSTING.search(a.text) or a.verb_class not in ("activity", None) or not _HOSTING.search(a.text):
        return None
    start = m.start()
    words = list(_WORD.finditer(a.text[:start]))
    for i in range(len(words) - 1, max(-1, len(words) - 4), -1):
        w = words[i]
        gap = a.text[w.end():start]
        if gap.strip() or not _nouny_adjective(w.group(0)) or w.start() == 0 or lexicon().verb_class.get(
                w.group(0).lower()) or (i and words[i - 1].group(0).lower() == "to") or \
                w.group(0).lower() in _COUNT_WORDS:
            break  # "to assist regional events": the word after "to" is a verb
        start = w.start()
    scope = _POST_SCOPE.match(a.text, m.end())
    phrase = a.text[start: scope.end() if scope else m.end()]
    phrase = _POSSESSIVE_LEAD.sub("", phrase)
    return f"Attendees at the {phrase}" if not _ANY_DIGIT.search(phrase) else None


_PURPOSE_CLAUSE = fastre.lazy(
    r"\s(?:to|so\s+that\s+we\s+can|in\s+order\s+to)\s+(?P<verb>unblock|enable|improve|increase|reduce|cut|lower|grow|boost|"
    r"lift|attract|retain|drive|speed\s+up|shorten|raise)\s+(?P<obj>[^,;.()]+)", re.I)
_PURPOSE_FORM = {"unblock": "{} still blocked", "enable": "Use of {}", "attract": "{} attracted",
                 "retain": "{} retained", "speed up": "Time spent on {}", "shorten": "Time spent on {}"}


def _purpose_metric(text: str) -> str | None:
    """"Upgrade to Postgres 16 to unblock enterprise customers": the draft names the change its work
    is for; that is the metric ("Enterprise customers still blocked")."""
    m = _PURPOSE_CLAUSE.search(text)
    if not m:
        return None
    obj = _PURPOSE_OBJECT_LEAD.sub("", m.group("obj").strip())
    obj = _PURPOSE_END.split(obj)[0].strip()
    if not obj or len(obj.split()) > 6 or _HAS_DIGIT.search(obj):
        return None
    verb = " ".join(m.group("verb").lower().split())
    metric = _capital(_PURPOSE_FORM.get(verb, "{}").format(obj))
    return None if _bare_word(metric) else metric


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
    entry = _match_catalogue(a.text, title, _object_head(a))
    audience = _audience(a, title)
    paired = _is_paired(a)
    issues = _issues(a, verdict, dated=deadline is not None or bool(_CADENCE_DUE.search(a.text)), paired=paired)
    if context and context.set_uses_owners and not kr.owner:
        issues.append(_issue("no_owner", "No owner while other key results have one: name who drives it."))
    if kind == "output":
        question = _question(a, entry, audience, title)
        why = _why_output(a, audience, question)
        rewrites = _output_rewrites(a, entry, title, deadline)
    else:
        text, notes = reviewed_text(a.text)
        b = parse(text) if text != a.text and text else a
        parts = split_goals(b.text) if b.multi_goal and not paired else []
        gets = _things_results(parts[0]) if len(parts) >= 2 else None
        if gets:
            # "The launch video gets 50 retweets and 2,000 views": each count is of the same thing.
            lead = parts[0][: len(parts[0]) - len(gets[1])]
            parts = [parts[0]] + [p if _things_results(p) or not _HAS_DIGIT.match(p.lstrip(">~ ")) else lead + p
                                  for p in parts[1:]]
        if len(parts) >= 2:
            rewrites = [rw for p in parts[:3] if (rw := _outcome_rewrite(parse(p), _deadline_text(parse(p)) or deadline))]
            if any(as_written(rw) for rw in rewrites):
                # A part that makes no clean metric is a fragment of a sentence: keep the whole KR.
                rewrites = [rw for rw in [_as_written_rewrite(b, deadline)] if rw]
        else:
            rewrites = [rw for rw in [_outcome_rewrite(b, deadline)] if rw]
        for rw in rewrites:
            rw.assumptions[:0] = notes
        why = _why_outcome(b, rewrites, audience, b.text)
        if paired:
            why += " It pairs the work with the change it should produce, as a good key result does."
    if confidence == "low":
        why += (" (A judgement call: if it counts what others do or what the system achieves, it is an outcome.)"
                if kind == "output" else
                " (A judgement call: if it only counts what the team itself does, it is an output.)")
    # Built from trusted parts: skip re-validation, which was a third of the engine's time.
    return trusted(KRReview, {
        "id": kr.id, "objective": title, "kr": kr.kr, "owner": kr.owner, "kind": kind, "why": why,
        "issues": issues, "rewrites": rewrites[:3], "engine": "rules", "model": None, "status": "ok", "error": None,
        "confidence": confidence, "team": kr.team, "notes": [], "extra": dict(kr.extra),
    })


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


# Short patterns the functions above use, compiled on first use.
_NEXT_WORD = fastre.lazy(r"\s+([\w-]+)")
_SENTENCE_END = fastre.lazy(r"(?<=[.!;:])\s+")
_RELATIVE_CLAUSE = fastre.lazy(r"\s(?:who|that)\s(?P<vp>.+)$")
_GROUP_WHO = fastre.lazy(r"(?:share\s+of\s+)?(?P<group>.+?)\s(?:who|that)\s(?P<vp>.+)$", re.I)
_CONDITIONAL_TARGET = fastre.lazy(r"\[target: (.+?) if (.+)\]")
_WORDED_TARGET = fastre.lazy(r"\[target: (within .+)\]")
_HYPHEN_CAPITAL = fastre.lazy(r"[a-z]+-[A-Z]")
_LEAD_ARTICLE = fastre.lazy(r"(?:an?|the|our|its|their)\s+", re.I)
_PLURAL_NEXT = fastre.lazy(r"\s+([a-z][\w-]*s)\b")
_ASIDE_COMMA = fastre.lazy(r"\s*,\s*(?:the|a|an|which|who|that|i\.e|e\.g)\b", re.I)
_RATING_SCALE = fastre.lazy(r"\s?/\s?(\d+(?:\.\d+)?)$")
_COUNT_PREFIX_LEAD = fastre.lazy(r"^[\s\d,.+%kK]*(?:of\s+)?")
_ARTICLE_LEAD = fastre.lazy(r"^(?:the|our|a|an)\s+", re.I)
_GROUP_ARTICLE = fastre.lazy(r"^(?:the|our|all)\s+", re.I)
_POSSESSIVE_LEAD = fastre.lazy(r"^(?:our|the|its|their)\s+", re.I)
_PURPOSE_OBJECT_LEAD = fastre.lazy(r"^(?:the|our|a|an|more|fewer|less)\s+", re.I)
_AND_OR_TO = fastre.lazy(r"\s(?:and|&|to)\s")
_ACTIVE_PEOPLE = fastre.lazy(r"\bactive\s+[a-z]", re.I)
_AND_PLUS = fastre.lazy(r"\s(?:and|&|plus|as well as)\s")
_WORD_CHAR_NEXT = fastre.lazy(r"[\w'’-]")
_COUNT_OF_LEAD = fastre.lazy(r"^(?:the\s+)?(?:number|share|percentage|count|amount|total)\s+of\s+", re.I)
_SHARE_OF_LEAD = fastre.lazy(r"(?:share|number|percentage)\s+of\b", re.I)
_ACTOR_VERB_GAP = fastre.lazy(r"\s+(?:(?:who|that|which)\s+)?(?:will\s+|to\s+)?(?=[a-z])")
_COUNTABLE_METRIC = fastre.lazy(r"(?:number of\s+)?(?:[\w-]+\s+){0,3}?[\w-]+s\b(?:\s+(?:who|that|of|on|in|at|from)\b|$)", re.I)
_WHO_THAT = fastre.lazy(r"\s(?:who|that)\s")
_SECOND_MINIMUM = fastre.lazy(r"\s+with\s+(?:a\s+)?(?:minimum|min\.?|at\s+least)\b.*$")
_CMP_SYMBOL_LEAD = fastre.lazy(r"([>≥~])\s?")
_AND_ALSO = fastre.lazy(r"\s(?:and|&)\s+(?P<more>(?:an?|the|one)\s+[^\d]+)$")
_EACH_END = fastre.lazy(r"\s+each$")
_SAVED_UNIT_LEAD = fastre.lazy(r"^(?:of\s+|(?:hours|days|minutes|weeks|person[- ]days)\s+of\s+)")
_COUNTED_END = fastre.lazy(r"\s(?:by|in|before|within|per|through|until)\s+(?:Q[1-4]|H[12]|\d|end|the\s+end)|[,;(]")
_OBJECTIVE_RESULT_END = fastre.lazy(r"\s(?:by|through|with|without|for|via|in|across|so|and|to)\s|[,;:(]")
_WORD = fastre.lazy(r"[\w-]+")
_MEASURED_TAIL = fastre.lazy(r"\d|\b(?:N0|X|TBD)\b")
_PERCENT = fastre.lazy(r"\d\s?%")
_LABEL_VALUE = fastre.lazy(r":\s*\S*\d")
_LETTER_WORD = fastre.lazy(r"[A-Za-z][\w-]*")
_ANY_DIGIT = fastre.lazy(r"\d")
_SENTENCE_STOP = fastre.lazy(r"(?<=[a-z])\.\s")
_HEAD_END = fastre.lazy(r"\s(?:of|for|from|to|towards|on|in|across|at|by|with|per|that|who|which)\s")
_DETERMINER = fastre.lazy(r"(?:the|our|a|an|this|that)\s", re.I)
_COUNT_PREFIX = fastre.lazy(r"^\d[\d,.]*\+?\s+")
_NOT_A_NUMBER_START = fastre.lazy(r"[^\d$€£¥]")
_ABOVE_WORDS = fastre.lazy(r"(?:above|over|more\s+than)\s")
_BY_WORD = fastre.lazy(r"\sby\s")
_NAME_LIKE = fastre.lazy(r"[a-z][A-Z]|\d")
_LIST_OF_THREE = fastre.lazy(r"\s*,\s*[^,]+,\s*(?:and\s+|&\s+)?[^,]+")
_LIST_WITH_AND = fastre.lazy(r"\s*,\s*[^,]+,?\s+(?:and|&)\s")
_OF_NEXT = fastre.lazy(r"\s*of\s")
_THING_END = fastre.lazy(r"\s(?:for|in|on|at|from|about|with|to|of)\s|[,;(]|\s[a-z]+ed\b")
_SECOND_CONDITION = fastre.lazy(r",\s+(?:with|where|as|of\s+which|including)\b")
_PURPOSE_END = fastre.lazy(r"\s(?:by|in|within|before|until|from)\s")


def build(endpoint: object = None, *, use_cache: bool = True) -> RulesEngine:
    """The rules row of `krcoach.engine.ENGINE_BUILDERS`: no endpoint, nothing to cache."""
    return RulesEngine()
