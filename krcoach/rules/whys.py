"""The explanations: "if we complete this, what will be different?", in the author's own terms.

An output's why says what completing it proves and asks the question that leads to an outcome
(`_why_output`, `_question`); an outcome's why says how its metric moves and who changes when it
does (`_why_outcome`, `_effect_sentence`). The whys read the rewrites, so they sit above them.
"""

from __future__ import annotations

import re
from functools import lru_cache

from krcoach.models import Rewrite
from krcoach.rules import fastre
from krcoach.rules.anatomy import about_a_metric, Anatomy
from krcoach.rules.evidence import _GET_OTHERS_TO, _OTHERS_ACT, _SIGNS_UP_OWN
from krcoach.rules.lexicon import lexicon
from krcoach.rules.rewrites import as_written
from krcoach.rules.wording import (
    _ANY_DIGIT,
    _as_in,
    _deadline_text,
    _inside_word,
    _lemma,
    _people_phrase,
    _shorten,
    _SINGULAR_GROUP,
    _subject,
    _uncap,
    _whole_word,
    _with_article,
)

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
_SENTENCE_END = fastre.lazy(r"(?<=[.!;:])\s+")
_RELATIVE_CLAUSE = fastre.lazy(r"\s(?:who|that)\s(?P<vp>.+)$")
_GROUP_WHO = fastre.lazy(r"(?:share\s+of\s+)?(?P<group>.+?)\s(?:who|that)\s(?P<vp>.+)$", re.I)
_CONDITIONAL_TARGET = fastre.lazy(r"\[target: (.+?) if (.+)\]")
_WORDED_TARGET = fastre.lazy(r"\[target: (within .+)\]")
_COUNT_OF_LEAD = fastre.lazy(r"^(?:the\s+)?(?:number|share|percentage|count|amount|total)\s+of\s+", re.I)
_SHARE_OF_LEAD = fastre.lazy(r"(?:share|number|percentage)\s+of\b", re.I)
_ACTOR_VERB_GAP = fastre.lazy(r"\s+(?:(?:who|that|which)\s+)?(?:will\s+|to\s+)?(?=[a-z])")
_COUNTABLE_METRIC = fastre.lazy(r"(?:number of\s+)?(?:[\w-]+\s+){0,3}?[\w-]+s\b(?:\s+(?:who|that|of|on|in|at|from)\b|$)", re.I)
_WHO_THAT = fastre.lazy(r"\s(?:who|that)\s")
_SENTENCE_STOP = fastre.lazy(r"(?<=[a-z])\.\s")
_HEAD_END = fastre.lazy(r"\s(?:of|for|from|to|towards|on|in|across|at|by|with|per|that|who|which)\s")
_COUNT_PREFIX = fastre.lazy(r"^\d[\d,.]*\+?\s+")
_NOT_A_NUMBER_START = fastre.lazy(r"[^\d$€£¥]")
_ABOVE_WORDS = fastre.lazy(r"(?:above|over|more\s+than)\s")
