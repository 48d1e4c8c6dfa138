"""Rewrites from a reading: "[metric] from [X] to [Y] by [date]" without inventing a number.

An outcome keeps its own metric, words and numbers (`_outcome_rewrite`); when its words make no
clean noun phrase the draft stays as written with only what it lacks added (`_as_written_rewrite`).
An output gets the change its work is for: its stated purpose, the people who use what it makes
possible, the attendees of its events, the catalogue's metrics, the objective's own result
(`_output_rewrites`). A number the draft lacks is a visible placeholder; every assumption is listed.
"""

from __future__ import annotations

import re
from functools import lru_cache

from krcoach.models import Rewrite, trusted
from krcoach.rules import fastre
from krcoach.rules.anatomy import (
    about_a_metric,
    Anatomy,
    invented_numbers,
    is_activity_shaped_metric,
    is_short_noun_phrase,
    parse,
    parse_rewrite,
    render_as_written,
    render_rewrite,
    _result_phrase,
)
from krcoach.rules.evidence import _PURPOSE_CLAUSE, _PURPOSE_CLAUSE_GATE
from krcoach.rules.lexicon import lexicon
from krcoach.rules.quantities import _uncap, metric_phrase, noun_phrase, slot_errors
from krcoach.rules.shapes import _CUR, deadline_match, PLACEHOLDER_RE
from krcoach.rules.wording import (
    _ANY_DIGIT,
    _capital,
    _compared_as_written,
    _deadline_text,
    _lemma,
    _nouny_adjective,
    _POST_SCOPE,
    _shorten,
    _subject,
    _WORD,
)

def _rewrite(text: str, metric: str, baseline: str | None, target: str | None, deadline: str | None,
             assumptions: list[str]) -> Rewrite:
    return trusted(Rewrite, {"text": text, "metric": metric, "baseline": baseline, "target": target,
                             "deadline": deadline, "assumptions": assumptions})


_NOT_A_METRIC = fastre.lazy(r"\b(?:goal|goals|towards|target|aim|objective)\b", re.I)
_MONEY = fastre.lazy(_CUR)


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
    if _ANY_DIGIT.search(metric) and (invented_numbers(" ".join((metric, baseline or "", target or "")), a.text)
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
        name = subject if not _ANY_DIGIT.search(subject) and len(subject.split()) <= 6 else "the milestone"
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
_PURPOSE_FORM = {"unblock": "{} still blocked", "enable": "Use of {}", "attract": "{} attracted",
                 "retain": "{} retained", "speed up": "Time spent on {}", "shorten": "Time spent on {}"}


def _purpose_metric(text: str) -> str | None:
    """"Upgrade to Postgres 16 to unblock enterprise customers": the draft names the change its work
    is for; that is the metric ("Enterprise customers still blocked")."""
    m = _PURPOSE_CLAUSE_GATE.search(text)  # the KR's own text: its words are at hand
    if not m:
        return None
    obj = _PURPOSE_OBJECT_LEAD.sub("", m.group("obj").strip())
    obj = _PURPOSE_END.split(obj)[0].strip()
    if not obj or len(obj.split()) > 6 or _ANY_DIGIT.search(obj):
        return None
    verb = " ".join(m.group("verb").lower().split())
    metric = _capital(_PURPOSE_FORM.get(verb, "{}").format(obj))
    return None if _bare_word(metric) else metric
_LEAD_ARTICLE = fastre.lazy(r"(?:an?|the|our|its|their)\s+", re.I)
_PLURAL_NEXT = fastre.lazy(r"\s+([a-z][\w-]*s)\b")
_ASIDE_COMMA = fastre.lazy(r"\s*,\s*(?:the|a|an|which|who|that|i\.e|e\.g)\b", re.I)
_RATING_SCALE = fastre.lazy(r"\s?/\s?(\d+(?:\.\d+)?)$")
_COUNT_PREFIX_LEAD = fastre.lazy(r"^[\s\d,.+%kK]*(?:of\s+)?")
_ARTICLE_LEAD = fastre.lazy(r"^(?:the|our|a|an)\s+", re.I)
_GROUP_ARTICLE = fastre.lazy(r"^(?:the|our|all)\s+", re.I)
_POSSESSIVE_LEAD = fastre.lazy(r"^(?:our|the|its|their)\s+", re.I)
_PURPOSE_OBJECT_LEAD = fastre.lazy(r"^(?:the|our|a|an|more|fewer|less)\s+", re.I)
_SECOND_MINIMUM = fastre.lazy(r"\s+with\s+(?:a\s+)?(?:minimum|min\.?|at\s+least)\b.*$")
_CMP_SYMBOL_LEAD = fastre.lazy(r"([>≥~])\s?")
_AND_ALSO = fastre.lazy(r"\s(?:and|&)\s+(?P<more>(?:an?|the|one)\s+[^\d]+)$")
_EACH_END = fastre.lazy(r"\s+each$")
_SAVED_UNIT_LEAD = fastre.lazy(r"^(?:of\s+|(?:hours|days|minutes|weeks|person[- ]days)\s+of\s+)")
_COUNTED_END = fastre.lazy(r"\s(?:by|in|before|within|per|through|until)\s+(?:Q[1-4]|H[12]|\d|end|the\s+end)|[,;(]")
_OBJECTIVE_RESULT_END = fastre.lazy(r"\s(?:by|through|with|without|for|via|in|across|so|and|to)\s|[,;:(]")
_BY_WORD = fastre.lazy(r"\sby\s")
_NAME_LIKE = fastre.lazy(r"[a-z][A-Z]|\d")
_LIST_OF_THREE = fastre.lazy(r"\s*,\s*[^,]+,\s*(?:and\s+|&\s+)?[^,]+")
_LIST_WITH_AND = fastre.lazy(r"\s*,\s*[^,]+,?\s+(?:and|&)\s")
_OF_NEXT = fastre.lazy(r"\s*of\s")
_THING_END = fastre.lazy(r"\s(?:for|in|on|at|from|about|with|to|of)\s|[,;(]|\s[a-z]+ed\b")
_SECOND_CONDITION = fastre.lazy(r",\s+(?:with|where|as|of\s+which|including)\b")
_PURPOSE_END = fastre.lazy(r"\s(?:by|in|within|before|until|from)\s")
