"""Remarks after a KR: the owner, due date, team or stretch target its author wrote beside it.

"Ship v2 (owner: Ana; due: 30 Sep)", "Grow MAU to 2k — Owner: Omar", "Cut churn to 3%, stretch 2%",
"Launch the beta @ana". Every reader (outline lines, table cells, CSV and JSON KR fields) peels
them off the same way, so the KR that is reviewed is the committed one and the remark lands in its
field. Kept apart from the outline reader so reading a sheet does not load the outline's grammar.
"""

from __future__ import annotations

import re

_FIELD_KEYS = r"owners?|dri|driver|responsible|lead|due(?:\s+date)?|deadline|by|team|squad"
_PAREN_FIELDS = re.compile(rf"\s*[(\[]\s*((?:{_FIELD_KEYS})\s*[:=][^)\]]*)[)\]]", re.I)
_PAREN_PART = re.compile(rf"(?:^|[;,]\s*)({_FIELD_KEYS})\s*[:=]\s*", re.I)
_OWNER_TAGS = re.compile(r"(?:(?<=\s)|^)((?:@[A-Za-z][\w.\-]*[\s,]*)+)$")


def _split_fields(text: str, tags: bool = True) -> tuple[str, dict[str, str]]:
    """'Ship v2 (owner: Ana; due: 30 Sep)' -> ('Ship v2', {'owner': 'Ana', 'deadline': '30 Sep'}).

    Trailing remarks go to their fields too, so the KR that is reviewed is the committed KR alone:
    '— Owner: Omar', '(Omar)' (a plausible person name only), '(owner @maria)', ', stretch 10%'
    ('stretch' is passed through, never part of the KR), '(Owner: Omar, due Sep 30)'. With `tags`,
    a trailing '@ana' (or '@ana @ben') is the owner.
    """
    text, fields = _split_remarks(text)
    m = _PAREN_FIELDS.search(text)
    if m:
        inner = m.group(1)
        parts = list(_PAREN_PART.finditer(inner))
        for i, p in enumerate(parts):
            end = parts[i + 1].start() if i + 1 < len(parts) else len(inner)
            key = p.group(1).lower()
            field = "owner" if key.startswith(("owner", "dri", "driver", "responsible", "lead")) \
                else "team" if key in ("team", "squad") else "deadline"
            value = inner[p.end():end].strip(" ;,")
            if value:
                fields.setdefault(field, value)
        text = (text[: m.start()] + text[m.end():]).strip()
    if tags and "owner" not in fields and (m := _OWNER_TAGS.search(text)):
        found = re.findall(r"@([A-Za-z][\w.\-]*)", m.group(1))
        fields["owner"] = ", ".join(t.rstrip(".") for t in found)
        text = text[: m.start()].rstrip(" -–—,;")
    return text, fields


# Trailing remarks: "(Omar)", "(owner @maria)", " — Owner: Omar", ", stretch 10%", "; due Sep 30".
_MAY_REMARK = re.compile(r"[)\]][\s.;,]*$|[—–|,;]|\s--?\s")
_REMARK_PAREN = re.compile(r"\s*[(\[]([^()\[\]]{1,160})[)\]][\s.;,]*$")
_REMARK_SEPS = (re.compile(r"\s*[—–|]\s*|\s+--?\s+"),  # " — Owner: Omar", " | due: Sep 30"
                re.compile(r"\s*[,;]\s*(?=(?:owners?|dri|due|deadline|stretch)\b)", re.I))  # ", stretch 10%"
_REMARK_KEY = re.compile(
    r"^(owners?|dri|driver|responsible|accountable|lead|assignee|due(?:\s+date)?(?!\s+to\b)|deadline|eta"
    r"|by|stretch(?:\s+(?:goal|target))?|team|squad)(\s*[:=]\s*|\s+(?=\S))(.+)$", re.I)
# Without a colon ("owner Omar", "due Sep 30", "stretch 300") the value must look like its field.
_DATE_WORDS = re.compile(r"\d|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b|\bend\s+of\b"
                         r"|\b(?:eo[qmy]|today|tomorrow|next|this|friday|monday|week|month|quarter|year)\b",
                         re.I)
# Keys that need a colon to count in a dash or comma remark ("- by Friday" stays the author's text).
_COLON_ONLY = ("by", "lead", "team", "squad", "eta")
_TAG_LIST = re.compile(r"^(?:@[A-Za-z][\w.\-]*[\s,&]*)+$")
_DATE_PART = re.compile(r"^(?:\d{2,4}|(?:[A-Z][a-z]{2,8}\.?\s+)?\d{1,2}(?:st|nd|rd|th)?(?:\s+\d{4})?)$")
# Capitalised words that name no person: a bare trailing "(Europe)" or "(Beta)" stays in the KR.
_NOT_NAMES = frozenset("""
january february march april may june july august september october november december jan feb mar
apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday saturday sunday
europe asia africa america americas australia oceania latam emea apac nordics dach benelux north
south east west central global worldwide international domestic local regional online offline
android web mobile desktop ios windows mac linux cloud enterprise business pro premium free basic
plus standard starter growth scale team teams org company internal external partner partners
customer customers user users new existing organic paid inbound outbound direct indirect self
serve retail wholesale sales marketing support engineering product finance operations ops design
data legal people hr it security platform infra infrastructure stretch optional draft pending done
tbd committed aspirational baseline target estimate estimated approx approximately roughly about
monthly weekly daily yearly annual annually quarterly total net gross average median mean only
beta alpha pilot phase launch mvp v1 v2 high low medium critical must should could nice carry
over carried continued ongoing new existing stretch moonshot optional bonus note see above below
""".split())


def _person_name(text: str) -> bool:
    """One or two capitalised words that could be a person: "Omar", "Maria Lopez", "Ana M."."""
    words = text.split()
    if not 1 <= len(words) <= 2:
        return False
    for k, word in enumerate(words):
        core = word[:-1] if k and len(word) == 2 and word.endswith(".") else word  # "Ana M."
        if not core[:1].isupper() or any(not (c.isalpha() or c in "-'’") for c in core):
            return False
        if len(core) > 1 and not any(c.islower() for c in core):
            return False  # an acronym: MAU, EMEA
        if len(core) == 1 and not k:
            return False
        if core.casefold() in _NOT_NAMES:
            return False
    return True


def _remark_fields(inner: str, bare_names: bool, colon_only: tuple[str, ...] = ()) -> dict[str, str] | None:
    """The fields a remark holds ("Owner: Omar, due Sep 30" -> owner, deadline) or None when any
    part of it is not a field (then the remark is the author's text and stays)."""
    fields: dict[str, str] = {}
    prev: str | None = None
    for part in re.split(r"\s*[;,]\s*", inner.strip()):
        part = part.strip()
        if not part:
            continue
        m = _REMARK_KEY.match(part)
        field = None
        if m:
            key, colon, value = m.group(1).lower(), bool(m.group(2).strip()), m.group(3).strip()
            field = ("owner" if key.startswith(("owner", "dri", "driver", "responsible", "accountable",
                                                "lead", "assignee"))
                     else "team" if key in ("team", "squad")
                     else "stretch" if key.startswith("stretch") else "deadline")
            if not colon and (key.split()[0] in colon_only
                              or field == "owner" and not (_person_name(value) or _TAG_LIST.match(value))
                              or field == "deadline" and not _DATE_WORDS.search(value)
                              or field == "stretch" and not re.search(r"\d", value)
                              or field == "team"):
                m = None
        if m and field:
            if field == "owner":
                if _TAG_LIST.match(value):
                    value = ", ".join(re.findall(r"@([A-Za-z][\w.\-]*)", value))
                value = value.lstrip("@")
            if not value or field in fields:
                return None
            fields[field] = value
            prev = field
        elif _TAG_LIST.match(part) and (prev in (None, "owner")):
            tags = ", ".join(t.rstrip(".") for t in re.findall(r"@([A-Za-z][\w.\-]*)", part))
            fields["owner"] = f"{fields['owner']}, {tags}" if "owner" in fields else tags
            prev = "owner"
        elif prev == "owner" and _person_name(part):
            fields["owner"] += f", {part}"
        elif prev == "deadline" and _DATE_PART.match(part):
            fields["deadline"] += f", {part}"
        elif prev is None and bare_names and _person_name(part):
            fields["owner"] = part
            prev = "owner"
        else:
            return None
    return fields or None


def _split_remarks(text: str) -> tuple[str, dict[str, str]]:
    """Peel trailing remarks (owner, due date, stretch target) off a KR, last one first."""
    fields: dict[str, str] = {}
    if not _MAY_REMARK.search(text):  # most KRs: nothing to peel
        return text, fields
    for _ in range(4):
        found: tuple[int, dict[str, str]] | None = None
        m = _REMARK_PAREN.search(text)
        if m and m.start() > 0 and (got := _remark_fields(m.group(1), True)):
            found = (m.start(), got)
        for sep in _REMARK_SEPS if found is None else ():
            for m in reversed(list(sep.finditer(text))):
                tail = text[m.end():].rstrip(" .;,")
                if m.start() > 0 and tail and (got := _remark_fields(tail, False, _COLON_ONLY)):
                    found = (m.start(), got)
                    break
            if found:
                break
        if found is None:
            break
        rest = text[: found[0]].rstrip(" -–—,;|")
        if not rest.strip():
            break
        text = rest
        for field, value in found[1].items():
            fields.setdefault(field, value)
    return text, fields

