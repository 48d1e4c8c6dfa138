"""Phrases taken from a KR's own words, shared by the whys and the rewrites.

What the work is about (`_subject`, `_object_head`), who it is for (`_people_phrase`), a verb's
lemma, capitals kept or dropped as the draft writes them, a text shortened for quoting, and the
plain-string word tests that stand in for patterns built from a KR's words. Nothing here decides
anything: it is the vocabulary the explanations and rewrites are written with.
"""

from __future__ import annotations

import re
from functools import lru_cache

from krcoach.rules import fastre
from krcoach.rules.anatomy import Anatomy, _NOUN_COMPOUND_LEAD
from krcoach.rules.evidence import _PURPOSE_CLAUSE
from krcoach.rules.fastre import boundary, is_word, occurrences
from krcoach.rules.lexicon import lexicon
from krcoach.rules.quantities import _uncap

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


#: Group words that take a verb in the singular: "the community chooses".
_SINGULAR_GROUP = fastre.lazy(r"^(?:the\s+)?(?:[\w-]+\s+){0,3}(?:community|public|audience|staff|workforce|press)$", re.I)


def _with_article(who: str) -> str:
    """"devoted community" -> "the devoted community": a group named in the singular takes "the"."""
    if _SINGULAR_GROUP.match(who) and not _DETERMINER.match(who):
        return f"the {who.strip(' ,')}"
    return who


def _as_in(phrase: str, kr: str) -> str:
    """`phrase` for the middle of a sentence: lower-cased unless the draft capitalises its first word
    mid-sentence too ("eligible Veterans", "Content Curators")."""
    first = phrase.split(" ", 1)[0]
    if first[:1].isupper() and any(
            i >= 2 and kr[i - 1] == " " and kr[i - 2] in _LOWER_OR_COMMA and boundary(kr, i + len(first))
            for i in occurrences(kr, first)):  # (?<=[a-z,;:] )first\b
        return phrase
    return _uncap(phrase)


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
_DEADLINE_LEAD = fastre.lazy(r"^(?:by|before|until|till|in|during|for|through|thru|no later than)\s+", re.I)


def _deadline_text(a: Anatomy) -> str | None:
    return _DEADLINE_LEAD.sub("", a.deadline).strip() if a.deadline else None
_DIGIT_OR_UPPER = fastre.lazy(r"[\dA-Z]")


def _capital(text: str) -> str:
    first = text.split(" ", 1)[0]
    if _HYPHEN_CAPITAL.match(first):
        return text[:1].upper() + text[1:]  # "non-OCTO teams" -> "Non-OCTO teams"
    if not text or _DIGIT_OR_UPPER.search(first, 1):
        return text  # "p95 latency", "eNPS", "iOS crashes" keep their spelling
    return text[:1].upper() + text[1:]


# Short patterns the functions above use, compiled on first use.
_NEXT_WORD = fastre.lazy(r"\s+([\w-]+)")
_HYPHEN_CAPITAL = fastre.lazy(r"[a-z]+-[A-Z]")
_AND_PLUS = fastre.lazy(r"\s(?:and|&|plus|as well as)\s")
_WORD_CHAR_NEXT = fastre.lazy(r"[\w'’-]")
_WORD = fastre.lazy(r"[\w-]+")
_LETTER_WORD = fastre.lazy(r"[A-Za-z][\w-]*")
_ANY_DIGIT = fastre.lazy(r"\d")
_DETERMINER = fastre.lazy(r"(?:the|our|a|an|this|that)\s", re.I)
