"""The one reader of periods: planning cycles ("Q3 2026", "FY27 H1") and the period words a
deadline is made of ("end of Q3", "by March 2026", "EOY").

Why one module: a cycle found in a heading, a cycle typed with `--cycle`, the cycle plan review
compares across teams and the deadline the rules engine reads inside a KR are the same words. When
they were read by three patterns, "Q3 '26" could be a cycle to one reader and not to another. This
module sits at the bottom of the import graph (it imports nothing of krcoach), so the readers of
files, the rules engine, plan review and the llm prompt all use it.
"""

from __future__ import annotations

import re

#: A planning cycle: FY/CY with an optional quarter or half, a quarter or half with a year in
#: either order, or a bare quarter or half. Not inside a word ("SQ3", "Q3x").
CYCLE_PATTERN = (
    r"(?<![\w])(?:(?P<fy>FY|CY)\s?'?(?P<fyy>\d{2}(?:\d{2})?)(?:\s*[-/ ]?\s*(?P<fp>[QH][1-4]))?"
    r"|(?P<p1>[QH][1-4])\s*[-/ ]?\s*(?P<y1>\d{4}|'\d{2}|FY\s?\d{2}(?:\d{2})?)"
    r"|(?P<y2>\d{4})\s*[-/ ]?\s*(?P<p2>[QH][1-4])"
    r"|(?P<p3>[QH][1-4]))(?![\w])"
)
#: A cycle as people write it in a heading or a title: capital letters ("Q3", not "q3").
CYCLE_RE = re.compile(CYCLE_PATTERN)
#: A cycle someone typed on purpose (`--cycle q3 2026`, a `cycle` column): any case.
CYCLE_ANY_CASE_RE = re.compile(CYCLE_PATTERN, re.I)

#: A cycle is a short period name; anything longer is cut, never followed.
MAX_CYCLE_CHARS = 40

#: A year on its own, as in "Be the #1 tool in 2027": a period, not a number to move.
YEAR_RE = re.compile(r"^(?:19|20)\d{2}$")

MONTHS = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
#: The period a deadline names, after "by", "before", "end of" ...: a quarter, a half, a fiscal
#: year, a month or a date, a year, "this quarter", "the end of the sprint". A pattern fragment
#: (no flags): the rules engine's deadline reader builds on it.
DEADLINE_PERIOD = (
    rf"(?:(?:Q|T)[1-4](?:\s*(?:FY)?'?\d{{2,4}})?|H[12](?:\s*'?\d{{2,4}})?|FY\s?'?\d{{2,4}}|EOY|EOQ|EOM|EOD|"
    rf"year[- ]end|end\s+of\s+(?:the\s+)?(?:fiscal\s+)?(?:year|quarter|month|sprint|term|semester|"
    rf"cycle|season|programme|program|pilot|half|school year|Q[1-4]|H[12]|{MONTHS}|\d{{4}})"
    rf"(?:\s+(?:Q[1-4]|H[12]|\d{{4}}))?|"
    rf"{MONTHS}\.?(?:\s+\d{{1,2}}(?:st|nd|rd|th)?(?!\d))?(?:,?\s+\d{{4}})?|\d{{1,2}}(?:st|nd|rd|th)?\s+{MONTHS}(?:\s+\d{{4}})?|"
    rf"\d{{4}}-\d{{2}}(?:-\d{{2}})?|\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?|(?:19|20)\d{{2}}|"
    rf"(?:this|next|the)\s+(?:quarter|year|month|half|cycle|sprint)|the\s+end\s+of\s+the\s+\w+)"
)


def find_cycle(text: str | None) -> str | None:
    """The first cycle a heading, a title or a file name names, as written; None when none."""
    m = CYCLE_RE.search(text or "")
    return m.group(0) if m else None


def clip_cycle(cycle: str | None) -> str | None:
    """A cycle as given, on one line and at most `MAX_CYCLE_CHARS`; None when empty."""
    text = " ".join((cycle or "").split())[:MAX_CYCLE_CHARS]
    return text or None


def cycle_key(text: str | None) -> str | None:
    """A cycle in one spelling, to compare teams' cycles: '2026 Q3' for 'Q3 2026', '2026-Q3' and
    "Q3 '26"; 'FY27 H1'; 'Q3'. Text with no cycle in it comes back tidied, not dropped."""
    if not text:
        return None
    m = CYCLE_ANY_CASE_RE.search(text)
    if not m:
        return " ".join(text.split()) or None
    if m.group("fy"):
        y = m.group("fyy")
        y = y if len(y) == 4 else "20" + y
        return f"FY{y[2:]}" + (f" {m.group('fp').upper()}" if m.group("fp") else "")
    year = m.group("y1") or m.group("y2")
    period = (m.group("p1") or m.group("p2") or m.group("p3")).upper()
    if year:
        if year.upper().startswith("FY"):
            return f"FY{year[-2:]} {period}"
        year = "20" + year[1:] if year.startswith("'") else year
        return f"{year} {period}"
    return period


def cycle_span(key: str) -> str:
    """How long a cycle (as `cycle_key` spells it) lasts: quarter, half or year; else the key."""
    if re.search(r"Q[1-4]$", key):
        return "quarter"
    if re.search(r"H[1-4]$", key):
        return "half"
    if key.startswith("FY") or re.fullmatch(r"\d{4}", key):
        return "year"
    return key
