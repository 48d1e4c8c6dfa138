"""The written shapes of a key result that both of its readers look for, defined once.

`anatomy` (the reading of a KR: who acts, the metric, the slots) and `quantities` (the role of
every number) both need to know what a number, a placeholder, a deadline, a "from X to Y" and a
comparison look like, and where a KR starts once its list marker is gone. Those patterns and their
per-text answers (`deadline_match`, `from_to_match`, `cmp_match`) live here, below both readers,
so that each reader imports them rather than the other reader: the anatomy calls the quantity
reader, never the other way round.
"""

from __future__ import annotations

import re
from functools import lru_cache

from krcoach.periods import DEADLINE_PERIOD
from krcoach.rules import fastre

WORD_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "hundred": 100, "dozen": 12, "twice": 2, "double": 2, "triple": 3,
    "half": 0.5, "a dozen": 12, "a hundred": 100, "a thousand": 1000,
}
#: A currency: a symbol, or an ISO code written before the amount ("CHF 10k", "USD 2M"), so that the
#: code stays with its number and never ends a metric as a stray word ("above CHF").
_CUR = (r"(?:[$€£¥₹]|(?<![A-Za-z])(?:CHF|USD|EUR|GBP|CAD|AUD|NZD|JPY|CNY|INR|SEK|NOK|DKK|PLN|BRL|MXN|ZAR|SGD|HKD)"
        r"(?=\s?\d))")
NUMBER_RE = fastre.compile(
    rf"(?<![\w.\-/])(?P<cur>{_CUR}\s?)?(?P<num>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:[.,]\d+)?)"
    r"(?P<mult>\s?(?:k|K|M|mm|MM|mn|bn|B|b)(?![\w])|\s(?:thousand|million|billion)\b)?"
    r"(?P<suffix>\s?(?:%|x\b|×|pp\b|pts?\b|points?\b|percent\b|bps\b|\+))?"
    r"(?!(?:st|nd|rd|th)\b)",
)
#: How far before its digits a NUMBER_RE match can start: a currency code and a space ("CHF 10k").
_NUMBER_LEAD = 4

#: Visible gaps in a draft: "[target]", "{x}", "TBD", "N0", "X%", "??". Not a gap: a tag in brackets
#: ("[P1]", "[DP]": priority or team labels, two to five capitals that are not X/N/TBD), or a
#: question mark that ends a word ("Are we there yet?").
PLACEHOLDER_RE = fastre.compile(
    r"\[(?!(?:P\d|(?!(?:TB[DCA]|X+|N+|Y+|Z+)\])[A-Z]{2,5})\])[^\]\n]{0,80}\]|(?<![\w])\{[^}\n]{0,40}\}|<[A-Za-z _-]{1,30}>|(?<![\w])(?:TBD|TBC|TBA|tbd|tbc)(?![\w])"
    r"|(?<![\w$€£])(?:N0|N1|N|X{1,3}|Y|Z)(?:\s?%|k\b)?(?![\w])|(?<![\w)])\?{1,3}(?=\s|$|%|\)|,)|(?<![\w])_{2,}(?![\w])"
)


def _to_float(num: str) -> float | None:
    s = num.replace(" ", "")
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    elif "," in s and "." not in s:
        # "2,5" in European notation is 2.5; "1,000" was handled above.
        s = s.replace(",", ".")
    try:
        return float(s)
    except ValueError:
        return None


# ------------------------------------------------------------------------------------ deadlines

DEADLINE_RE = fastre.compile(
    rf"(?:\b(?:by|before|until|till|in|during|within|for|through|thru|ahead\s+of|no\s+later\s+than|"
    rf"para(?:\s+el)?|hasta|antes\s+de|d'ici(?:\s+la)?|avant|bis|até|entro|tegen|voor|fin(?:al)?\s+de|"
    rf"à\s+la\s+fin\s+d[eu]|ende|end)\s+(?:the\s+)?(?:end\s+of\s+)?(?:fin\s+d[eu]\s+)?{DEADLINE_PERIOD}"
    rf"|\bwithin\s+(?:the\s+)?(?:next\s+)?\d+\s+(?:days|weeks|months|quarters|years)"
    rf"|(?<![\w-])(?:Q|T)[1-4](?:\s*'?\d{{2,4}})?(?![\w])|(?<![\w-])H[12](?:\s*'?\d{{2,4}})?(?![\w])"
    rf"|\bEOY\b|\bEOQ\b|\bFY\s?'?\d{{2,4}}\b)",
    re.I,
)

# ------------------------------------------------------------------------------------ shapes

_VAL = (rf"(?:{_CUR}\s?)?(?:\d(?:[\d,.]*\d)?(?:\s?(?:k|m|bn|b|mm)\b)?(?:\s?(?:%|(?:x|pp|pts?|points?|ms|s|sec|"
        r"seconds|minutes|mins|min|hours|hrs|h|days|weeks|months)\b|/\w+))?\+?|N0|N1|X{1,3}%?|Y%?|TBD|TBC|\?{1,3}"
        r"|\[[^\]]{0,80}\])")
_MIN_CMP = (r"(?:at\s+least|≥|>=|>|over|more\s+than|above|exceed(?:s|ing)?|minimum(?:\s+of)?|min\.?|no\s+less\s+than"
            r"|mindestens|über|au\s+moins|plus\s+de|al\s+menos|más\s+de|pelo\s+menos|acima\s+de|almeno|oltre|minstens|boven)")
_MAX_CMP = (r"(?:under|below|less\s+than|fewer\s+than|≤|<=|<|no\s+more\s+than|at\s+most|max(?:imum)?\.?(?:\s+of)?|within"
            r"|unter|höchstens|moins\s+de|sous|por\s+debajo\s+de|menos\s+de|abaixo\s+de|sotto|onder|minder\s+dan)")
_FROM_TO = (rf"\b(?:from|de|von|da|van)\s+(?P<base>{_VAL})\s*(?:(?:down|up)\s+)?(?:to|→|->|=>|–|a|à|auf|para|naar|al)\s+"
            rf"(?:{_MIN_CMP}\s*|{_MAX_CMP}\s*)?(?P<target>{_VAL})")
FROM_TO_RE = fastre.compile(rf"{_FROM_TO}|(?P<base2>{_VAL})\s*(?:→|->|=>)\s*(?P<target2>{_VAL})", re.I)
#: FROM_TO_RE for a text without an arrow, where its second branch cannot match: same groups, the
#: second branch one that never does (a NUL, then a failing lookahead).
_FROM_TO_NO_ARROW = fastre.compile(rf"{_FROM_TO}|(?P<base2>\x00(?!))(?P<target2>\x00)", re.I)


def from_to_search(text: str) -> re.Match[str] | None:
    """`FROM_TO_RE.search(text)`; without an arrow in the text, by the pattern without its arrow branch."""
    if "→" in text or "->" in text or "=>" in text:
        return FROM_TO_RE.search(text)
    return _FROM_TO_NO_ARROW.search(text)
CMP_RE = fastre.compile(rf"(?P<cmp>{_MIN_CMP}|{_MAX_CMP})\s*(?P<val>{_VAL})", re.I)
_MAX_CMP_RE = fastre.compile(_MAX_CMP, re.I)
_LEAD_NOISE = fastre.lazy(
    r"^\s*(?:[-*•]+\s*|[+>]+(?![\d$€£])\s*|\d{1,3}[.)]\s+|\[[ xX]\]\s+|(?:KR|key\s*result)\s*[\d.]*\s*[:.)\-–]\s*|"
    r"[\U0001F300-\U0001FAFF\u2600-\u27BF]\s*)+", re.I)


@lru_cache(maxsize=4096)
def deadline_match(text: str) -> re.Match[str] | None:
    """`DEADLINE_RE.search(text)`, once per text: the parser and the quantity reader both ask."""
    return DEADLINE_RE.search(text)


@lru_cache(maxsize=4096)
def from_to_match(text: str) -> re.Match[str] | None:
    return from_to_search(text)


@lru_cache(maxsize=4096)
def cmp_match(text: str) -> re.Match[str] | None:
    return CMP_RE.search(text)


def clean_kr(text: str) -> str:
    """Strip bullets, "KR1:" prefixes, checkboxes and leading emoji; collapse whitespace."""
    return " ".join(_LEAD_NOISE.sub("", text).split())
#: Words that never belong to a metric's noun phrase: function words, comparisons, auxiliaries.
_NOT_NOUN = frozenset(
    "a an the our their its my your this there of to in on at by for from with within without using through "
    "via before after until into over under about and or but not no zero none more less fewer better worse "
    "higher lower up down across per than vs is are was were be been get gets has have need needs should "
    "will can must all every each it them us we they".split())
#: Present-tense verbs and modals common right after a counted group ("employees have", "teams should").
_FINITE_VERBS = frozenset("is are has have get gets need needs should will can must".split())


def _verb_after_group(prev: str, word: str) -> bool:
    """A plural noun followed by a present-tense verb: "trials pick", "employees have"."""
    if not prev.lower().endswith("s") or not word.islower() or word.endswith(("ed", "ing", "ly")):
        return False
    return word in _FINITE_VERBS or (word not in _NOT_NOUN and not word.endswith("s"))


_GOAL_SPLIT = fastre.lazy(r"\s(?:and|&|\+|as\s+well\s+as|plus|y|et|und|e)\s|;|\s/\s", re.I)


_NUMBER_LIST = fastre.lazy(r"\d\s*(?:,\s*\d+\s*)*(?:&|and|\+)\s*\d+\b(?!\s*%)")


def split_goals(text: str) -> list[str]:
    """The separately measurable parts of a multi-goal KR (for one rewrite each). A list of numbers
    ("Points 1,2 & 3") is one goal, not several."""
    if _NUMBER_LIST.search(text):
        return []
    parts = [p.strip(" ,.;") for p in _GOAL_SPLIT.split(text)]
    return [p for p in parts if p and (NUMBER_RE.search(p) or PLACEHOLDER_RE.search(p))]


# Short patterns the functions above use, compiled on first use.
_THOUSANDS = fastre.lazy(r"\d{1,3}(,\d{3})+(\.\d+)?")
