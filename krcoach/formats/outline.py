"""The Markdown / plain-text outline reader: what people paste from docs, wikis and chat.

Each line is first taken apart (`_Line`): indent, heading level, list marker (bullet, number,
checkbox, emoji), Markdown, Confluence, Slack and Google Docs markup, "Objective:" / "KR1:"
labels. `parse_outline` then decides what the line is: an objective, a key result, a property of
one (owner, due), a team heading, a table row, or a line it does not take, which goes into
`OKRSet.skipped` with the reason. `improved_draft` writes a set back as an outline this reader
reads again. Remarks after a KR ("(owner: Ana)") are `remarks.py`'s; table rows are records
(`records.py`).
"""

from __future__ import annotations

import re
import unicodedata

from krcoach.formats.errors import InputError
from krcoach.formats.records import _KR_COLUMNS, GoalSamples, _ambiguous_key, _check_kr, _column, _Columns, _kr_from_record
from krcoach.formats.remarks import _split_fields
from krcoach.models import MAX_KR_CHARS, KeyResult, Objective, OKRSet, SkippedLine
from krcoach.periods import find_cycle

_WRAPPED = re.compile(r"(\*\*|__|\*|_)(.+)\1")
_CHECKBOX = re.compile(r"^\[[ xX]\]\s+")
# A bullet that states a number or a placeholder is a key result, whatever is nested under it.
_MEASURED = re.compile(r"\d|\[[^\]]*\]|\b(?:TBD|N0|X%?)(?!\w)")

_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|~>:=<])")
_LINK = re.compile(r"!?\[([^\]]+)\]\([^)\s]*\)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_LABEL_EMPH = re.compile(
    r"^([*_])((?:objective(?:\s*\d+)?|o\d+(?:\.?kr\d+)?|kr\s*\d*(?:\.\d+)*|key\s*results?(?:\s*\d+)?"
    r"|krs|results|owner|dri)[^*_]{0,16}?)\1", re.I)
_STRUCK = re.compile(r"~~.+?~~")
# "*Objective 1: Make checkout painless* 🚀": an emoji after the closing star is decoration.
_SLACK_BOLD = re.compile(r"\*(?=[^\s*])([^*]+?)(?<=[^\s*])\*(?:\s*[\U0001F300-\U0001FAFF\u2600-\u27BF\ufe0f\u200d]+)?")
_RULE = re.compile(r"^(?:[-*_=]\s*){3,}$")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)(?:\s+#+)?$")
_CONF_HEADING = re.compile(r"^h([1-6])\.\s+(.*)$")
_CONF_LIST = re.compile(r"^([*#-]+)\s+(.*)$")
_CONF_HINT = re.compile(r"^\s*(?:h[1-6]\.\s|\|\|)")
_CONF_MACRO = re.compile(r"^\{[a-z]+(?::[^}]*)?\}$")
_HTML_TAG = re.compile(r"^<(/?)([a-z]+)\b[^>]*>$", re.I)
_HTML_WRAPPED = re.compile(r"^<(summary|p|b|strong)>(.*)</\1>$", re.I)
_COMMENT = re.compile(r"^<!--.*-->$")
_BULLET_MARK = re.compile(r"^(?:[-*+•◦▪▫‣–—→➤►·]|\[[ xX]\]|[☐☑☒])\s+")
_NUMBER = re.compile(r"^(?:(\d{1,3}(?:\.\d{1,3})+)\.?|(\d{1,3})[.)]|([a-zA-Z])[.)])\s+")
_OBJ_PREFIX = re.compile(
    r"^(?:objective\s*#?\d*\s*[:.)\-–—]\s*|objective\s*#?\d+\s+|O\d{1,2}\s*[:.)\-–—]\s*|O\d{1,2}\s+)",
    re.I)
_KR_LABEL = re.compile(
    r"^(?:O\d{1,2}\s*[.\-_/ ]?\s*)?(?:KR|key\s*result)\s*#?(?:\d{1,3}(?:\.\d{1,3})*)?"
    r"\s*(?:[:.)\-–—]\s*|\s+(?=\S))", re.I)
_LABEL = re.compile(r"^(?:key\s*results?|krs?|results|measures?(?:\s+of\s+success)?|metrics"
                    r"|success\s+(?:metrics|measures|criteria))\s*:?$", re.I)
_NOTES_LABEL = re.compile(r"^(?:initiatives?|projects?|tasks?|actions?|activities|notes?|risks?"
                          r"|dependencies|comments?|context|background)\s*:?$", re.I)
_PROPERTY = re.compile(
    r"^(owners?|dri|driver|responsible|accountable|team|squad|status|quarter|cycle|period"
    r"|due(?:\s+date)?|deadline|baseline|target|current|created(?:\s+(?:by|time))?"
    r"|last\s+(?:edited|updated)(?:\s+(?:by|time))?|tags?|type|date|author|reviewers?|updated"
    r"|confidence|progress)\s*:\s*(\S.*)$", re.I)
#: A team heading or section line: "Team: Platform", "Team Platform", "Squad — Payments (Q3 2026)".
_TEAM_HEAD = re.compile(r"^(?:team|squad)(?:\s*(?P<sep>[:\-–—|])\s*|\s+)(?P<name>\S.*)$", re.I)
_TEAM_TAIL = re.compile(r"\s*(?:[-–—:|(]\s*)?(?:okrs?|objectives|goals|plan)?\s*\)?\s*$", re.I)


def _team_heading(text: str) -> tuple[str, bool] | None:
    """The team a heading or section line names, and whether it says so with a separator
    ("Team: Platform") rather than only a capitalised name ("Team Platform")."""
    m = _TEAM_HEAD.match(text.strip())
    if not m:
        return None
    name = m.group("name")
    period = find_cycle(name)
    if period:
        name = name.replace(period, " ")
    name = re.sub(r"[()\[\]]", " ", name)
    name = " ".join(_TEAM_TAIL.sub("", " ".join(name.split())).split()).strip(" -–—:|,")
    if not name or len(name) > 60:
        return None
    words = name.split()
    if not m.group("sep") and (len(words) > 3 or not all(w[:1].isupper() or w[:1].isdigit() for w in words)):
        return None
    return name, bool(m.group("sep"))



def _clean_title(text: str) -> str | None:
    text = text.strip().strip("*_").strip()
    return text or None


def _indent(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip())


_SHORTCODE = re.compile(r"^:[a-z0-9][a-z0-9_+\-]{1,40}:\s+")  # Slack's ":dart: " when copied as text
_KEYCAP = re.compile(r"^[0-9#*]\ufe0f?\u20e3")  # "1️⃣"


def _emoji_prefix(s: str) -> int:
    """Length of a leading emoji bullet ('🎯 ', '✅ ', '➡️ ', '1️⃣ ', '◾ ', ':dart: ') or 0. An emoji
    pasted without its space ('▪️Sign 5 resellers') is a bullet too."""
    if m := _SHORTCODE.match(s):
        return m.end()
    i = m.end() if (m := _KEYCAP.match(s)) else 0
    while i < len(s) and (unicodedata.category(s[i]) == "So" or s[i] in "\ufe0f\u200d\u20e3"
                          or 0x1F3FB <= ord(s[i]) <= 0x1F3FF or 0x25A0 <= ord(s[i]) <= 0x25FF
                          or 0x2B00 <= ord(s[i]) <= 0x2BFF):
        i += 1
    if i and i < len(s) and s[i] in " \t":
        return i + 1
    if i and i < len(s) and s[i].isalnum() and ord(s[0]) >= 0x2190:
        return i
    return 0


def _markup(s: str) -> str:
    """Markdown/Google Docs markup that is never part of what the author meant."""
    s = _ESCAPED.sub(r"\1", s)
    s = _LINK.sub(r"\1", s)
    for _ in range(2):
        s = _BOLD.sub(r"\2", s)
    # the entities krcoach's own Markdown writes for < and > (safe.md_text), read back as text
    s = s.replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return s


class _Line:
    """One outline line taken apart."""

    __slots__ = ("n", "raw", "indent", "heading", "marker", "number", "text", "struck", "quote", "bold")

    def __init__(self, n: int, raw: str, confluence: bool) -> None:
        self.n, self.raw = n, raw
        s = raw.replace("\xa0", " ").replace("\u200b", "").rstrip()
        self.indent = _indent(s)
        s = s.strip()
        self.heading = 0
        self.marker: str | None = None  # "bullet" | "number" | "emoji"
        self.number: str | None = None  # "1.2" for hierarchical numbering, "1" for "1."
        self.struck = False
        self.quote = s.startswith(">")
        if confluence and (m := _CONF_HEADING.match(s)):
            self.heading, s = int(m.group(1)), m.group(2)
        elif confluence and (m := _CONF_LIST.match(s)):
            self.marker, s = "bullet", m.group(2)
            self.indent += 2 * (len(m.group(1)) - 1)
            if m.group(1)[-1] == "#":
                self.marker = "number"
        elif not raw[:4].strip().startswith("\\") and (m := _MD_HEADING.match(s)) and self.indent <= 3:
            self.heading, s = len(m.group(1)), m.group(2)
        s = _markup(s)
        if m := _HTML_WRAPPED.match(s):
            s = m.group(2).strip()
        for _ in range(3):  # "- [ ] 1. text", "✅ KR1: text"
            if not s:
                break
            if m := _BULLET_MARK.match(s):
                self.marker = self.marker or "bullet"
                s = s[m.end():]
            elif n_emoji := _emoji_prefix(s):
                self.marker = self.marker or "emoji"
                s = s[n_emoji:].lstrip()
            elif (m := _NUMBER.match(s)) and not self.number:
                self.marker = self.marker or "number"
                self.number = m.group(1) or m.group(2)
                s = s[m.end():]
            else:
                break
        if re.fullmatch(r"[-*+•◦▪]|\d{1,3}[.)]|\[[ xX]\]", s):  # an empty bullet: "-", "2."
            self.marker, s = self.marker or "bullet", ""
        # Slack bold, "*Objective 1: Make checkout painless*": the whole line between single stars.
        self.bold = bool(m := _SLACK_BOLD.fullmatch(s.strip()))
        if m:
            s = m.group(1)
        s = _LABEL_EMPH.sub(r"\2", s.strip())
        if s.startswith("~~") and "~~" in s[2:]:
            self.struck = True
        s = _STRUCK.sub("", s) if not self.struck else s
        self.text = " ".join(s.split())

    @property
    def depth(self) -> int:
        return self.number.count(".") + 1 if self.number else 0


def _split_row(s: str) -> list[str] | None:
    """Cells of a Markdown ('| a | b |'), Confluence ('||a||b||') or tab-separated row."""
    s = s.strip(" \r\n")
    if s.startswith("|"):
        wiki = s.startswith("||")
        s = s[2:] if wiki else s[1:]
        if wiki and s.endswith("||"):
            s = s[:-2]
        elif s.endswith("|") and not s.endswith("\\|"):
            s = s[:-1]
        cells = re.split(r"(?<!\\)\|\|" if wiki else r"(?<!\\)\|", s)
    elif "\t" in s:
        cells = s.split("\t")
    else:
        return None
    return [" ".join(_markup(c).replace("<br>", " ").split()) for c in cells]


_SEPARATOR_CELL = re.compile(r"^:?-{2,}:?$")


def parse_outline(text: str, source: str = "<text>") -> OKRSet:
    """Parse a Markdown or plain-text outline into objectives and key results.

    Lines under an objective heading (or "Objective:" / "O1:" / "1." with "1.1" items under it)
    that are bullets, numbered items or "KR1:" lines are its key results; so are the rows of a
    Markdown, Confluence or tab-separated table with a key result column. In a paste with no
    bullets and no objectives at all, every non-empty line is a key result. Nested bullets follow
    the outline's own reading: under a measurable key result ("KR2: Activation 22% -> 35%") they
    are its notes or initiatives; under a bullet that measures nothing ("- Grow revenue") they are
    key results and that bullet is their objective. "Owner: Ana" / "Due: 30 Sep" lines set those
    fields. A heading or title naming a period ("2024 Q3 OKRs", "H1 2025", "FY26") sets the cycle
    of the objectives under it. Every other non-empty line is reported in `OKRSet.skipped`.
    """
    raw_lines = text.splitlines()
    confluence = any(_CONF_HINT.match(line) for line in raw_lines)
    lexed = [_Line(n, line, confluence) for n, line in enumerate(raw_lines, start=1)]
    deep = [x for x in lexed if x.depth >= 2]
    parents = {x.number.split(".")[0] for x in deep}
    if len(deep) < 2 and not any(x.depth == 1 and x.number in parents for x in lexed):
        for x in deep:  # "1.5 million sign-ups" is text, not numbering
            x.text, x.marker, x.number = f"{x.number} {x.text}", None, None
        parents = set()
    has_structure = any(x.marker or _KR_LABEL.match(x.text) for x in lexed if x.text)

    skipped: list[SkippedLine] = []
    # Objective candidates in document order: (objective, line, heading level or 7, own period,
    # kind). A candidate that ends with no key results is a title or section, reported as such.
    cands: list[tuple[Objective, int, int, str | None, str]] = []
    # id(objective) -> {field: (value, line)} for its KRs, from "Owner: Ana" lines under it.
    defaults: dict[int, dict[str, tuple[str, _Line]]] = {}
    doc_defaults: dict[str, tuple[str, _Line]] = {}
    doc_period: list[str] = []
    current: Objective | None = None
    count = 0
    # The last bullet read as a KR: its indent and whether it is clearly a KR (measured or "KR1:").
    last: tuple[int, bool] | None = None
    notes_under: int | None = None  # deeper bullets than this are notes of a KR
    bullet_objective: int | None = None  # indent of a bullet that became the current objective
    mode: str | None = None  # "krs" after a "Key Results:" label, "notes" after "Initiatives:"
    last_kr: KeyResult | None = None
    in_callout = False

    def skip(line: _Line, reason: str) -> None:
        skipped.append(SkippedLine(source=source, line=line.n, text=line.raw.strip(), reason=reason))

    def take_label(line: _Line, text: str) -> bool:
        """A "Key Results:" or "Initiatives:" label line: reported, and it sets what follows."""
        nonlocal mode
        if _LABEL.match(text):
            skip(line, "label line")
            mode = "krs"
        elif _NOTES_LABEL.match(text):
            skip(line, "label line (notes follow)")
            mode = "notes"
        else:
            return False
        return True

    def start_objective(title: str | None, line: _Line, level: int, kind: str) -> None:
        nonlocal current, last, notes_under, bullet_objective, mode, last_kr
        if title and len(title) > MAX_KR_CHARS:
            raise InputError(source, f"line {line.n}", f"objective is {len(title):,} characters; "
                             f"the limit is {MAX_KR_CHARS:,}")
        period = find_cycle(title)
        if title and period and (m := re.fullmatch(
                rf"(?:{re.escape(period)}\s*[:\-–—|]\s*(.+)|(.+?)\s*[(\[]{re.escape(period)}[)\]])", title)):
            title = _clean_title(m.group(1) or m.group(2))  # "H1 2025: Make it fast" -> the period
        current = Objective(title=title)
        cands.append((current, line.n, level, period, kind))
        last, notes_under, bullet_objective, mode, last_kr = None, None, None, None, None

    def start_team(name: str, line: _Line, level: int, raw: str) -> None:
        """A team section ("# Team: Platform", a "Team: Sales" line above objectives): the team of
        every objective under it, until the next team section or a heading that closes it."""
        start_objective(None, line, level, "team")
        cands[-1] = (cands[-1][0], line.n, level, find_cycle(raw), "team")
        defaults[id(current)] = {"team": (name, line)}

    def heads_sections(i: int, line: _Line) -> bool:
        """The next text line opens an objective or a deeper heading: this line names a section."""
        nxt = next_text(i)
        if nxt is None:
            return False
        if nxt.heading:
            return not line.heading or nxt.heading > line.heading or bool(_team_heading(nxt.text))
        return bool(_OBJ_PREFIX.match(nxt.text)) or (nxt.bold and not nxt.marker)

    def add_kr(raw: str, line: _Line, fields: dict[str, str] | None = None) -> bool:
        nonlocal current, count, last_kr
        body, found = _split_fields(_CHECKBOX.sub("", raw.strip()))
        body = body.strip()
        if wrapped := _WRAPPED.fullmatch(body):  # "**Grow MAU**" -> "Grow MAU", but "*now*" inside stays
            body = wrapped.group(2).strip()
        if not body:
            return False
        if current is None:
            current = Objective(title=None)
            cands.append((current, line.n, 7, None, "none"))
        count += 1
        kr = _check_kr(body, source, f"line {line.n}", "kr")
        found = {**found, **(fields or {})}
        extra = {"stretch": found.pop("stretch")} if "stretch" in found else {}
        last_kr = KeyResult(id=str(count), kr=kr, source=f"{source}:{line.n}", **found, extra=extra)
        current.krs.append(last_kr)
        return True

    def add_bullet(line: _Line, body: str, prefixed: bool) -> None:
        nonlocal current, count, last, notes_under, bullet_objective, last_kr
        indent = line.indent
        if notes_under is not None and indent > notes_under:
            skip(line, "note under a measured key result")
            return
        notes_under = None
        if last is not None and indent > last[0] and current is not None and current.krs:
            if last[1]:
                notes_under = last[0]  # the KR above is measured: these are its notes
                skip(line, "note under a measured key result")
                return
            parent = current.krs.pop()  # "- Grow revenue" with KRs under it: an objective
            count -= 1
            parent_line = int(parent.source.rsplit(":", 1)[1]) if parent.source else line.n
            current = Objective(title=parent.kr)
            cands.append((current, parent_line, 7, find_cycle(parent.kr), "bullet"))
            if parent.owner:
                defaults[id(current)] = {"owner": (parent.owner, line)}
            bullet_objective = last[0]
            last_kr = None
        elif bullet_objective is not None and indent <= bullet_objective:
            current, bullet_objective = None, None  # the next bullet objective (or a loose KR)
        if add_kr(body, line):
            last = (indent, prefixed or bool(_MEASURED.search(current.krs[-1].kr)))

    def next_text(i: int) -> _Line | None:
        """The next non-empty line from lexed[i] on."""
        return next((x for x in lexed[i:] if x.text), None)

    def item_line(x: _Line) -> bool:
        """A line that would be read as a KR item (bullet, emoji, "KR1:", a lone number)."""
        return bool(_KR_LABEL.match(x.text) or x.marker in ("bullet", "emoji")
                    or x.marker == "number" and x.depth == 1 and x.number not in parents)

    def heads_items(i: int, line: _Line) -> bool:
        """A bold emoji line followed by items that are not bold: their objective, where it starts
        a block (after a blank line, or where the objective above was a bold line too); in the
        middle of a list it is a KR written in bold."""
        nxt = next_text(i)
        if nxt is None or nxt.heading or nxt.bold or not item_line(nxt) or nxt.indent < line.indent:
            return False
        prev = lexed[i - 2] if i >= 2 else None
        return (prev is None or not prev.raw.strip() or not item_line(prev)
                or bool(cands and cands[-1][0] is current and lexed[cands[-1][1] - 1].bold))

    def continues_krs(i: int, line: _Line) -> bool:
        """A plain line that reads as one more KR of the current objective: there is one (with KRs
        read, or opened by an "Objective:" line), the line looks like a KR (a measure, or a verb
        that starts KRs), and no items follow it that it would head."""
        if current is None or not cands or cands[-1][0] is not current:
            return False
        if current.krs:
            if current.krs[-1] is not last_kr:
                return False
            # After a blank line only a line with both a KR verb and a measure: not a footer.
            if not _kr_like(line.text, strong=i < 2 or not lexed[i - 2].raw.strip()):
                return False
        elif not (cands[-1][4] == "line" or cands[-1][4] == "text" and lexed[cands[-1][1] - 1].bold) \
                or not _kr_like(line.text):
            return False  # no KRs yet: only under an "Objective:" or a bold line
        nxt = next_text(i)
        return nxt is None or nxt.heading > 0 or not item_line(nxt) or nxt.indent < line.indent

    def take_property(line: _Line, key: str, value: str) -> None:
        nonlocal current
        field = _column(key) or ("deadline" if key.lower().startswith("due") else None)
        if field == "period":
            if current is None or not current.krs:
                if current is None:
                    doc_period.append(value)
                    return
                own = cands[-1]
                if own[0] is current and own[3] is None:
                    cands[-1] = (own[0], own[1], own[2], value, own[4])
                    return
            elif last_kr is not None and last_kr.deadline is None:
                last_kr.deadline = value
                return
            skip(line, "period line that applies to nothing")
            return
        if field not in _KR_COLUMNS:
            skip(line, f"property line '{key}' (not read)")
            return
        if field == "owner":
            value = value.lstrip("@")
        if last_kr is not None and current is not None and current.krs and current.krs[-1] is last_kr:
            if getattr(last_kr, field) is None:
                setattr(last_kr, field, value)
            else:
                skip(line, f"second {field} line for one key result")
            return
        target = defaults.setdefault(id(current), {}) if current is not None else doc_defaults
        if field in target:
            skip(line, f"second {field} line")
        else:
            target[field] = (value, line)

    def table(start: int) -> int:
        """Read the table starting at lexed[start]; return the index after it."""
        nonlocal current, count, mode, last, notes_under, bullet_objective, last_kr
        tab = "\t" in raw_lines[start] and not raw_lines[start].lstrip().startswith("|")
        rows: list[tuple[_Line, list[str]]] = []
        i = start
        while i < len(lexed):
            raw = raw_lines[i]
            if tab and "\t" not in raw or not tab and not raw.lstrip().startswith("|"):
                break
            cells = _split_row(raw)
            if cells is None:
                break
            rows.append((lexed[i], cells))
            i += 1
        header_line, header = rows[0]
        samples = GoalSamples()
        for _x, c in rows[1:]:
            samples.add({h: c[k] for k, h in enumerate(header) if _ambiguous_key(h) and k < len(c)})
        cols = _Columns(samples.verdicts())
        taken, _ = cols.fields(header)
        skip(header_line, "table header")
        if "kr" not in taken.values():
            for line, _cells in rows[1:]:
                skip(line, "table row without a key result column")
            return i
        cols_report = cols.report(source, header_line.n)
        skipped.extend(cols_report)
        table_objective: Objective | None = None
        last, notes_under, bullet_objective, mode = None, None, None, None
        for line, cells in rows[1:]:
            if all(_SEPARATOR_CELL.match(c) for c in cells if c) and any(cells):
                skip(line, "table separator")
                continue
            rec = {h: c for h, c in zip(header, cells) if h}
            kr_col = next(h for h, f in taken.items() if f == "kr")
            obj_col = next((h for h, f in taken.items() if f == "objective"), None)
            title = rec.get(obj_col) if obj_col else None
            if title and (table_objective is None or title != table_objective.title):
                start_objective(_clean_title(title), line, 7, "table")
                table_objective = current
            if not rec.get(kr_col, "").strip():
                if not title:
                    skip(line, "table row with no key result")
                continue
            _obj, kr = _kr_from_record(rec, cols, source, f"line {line.n}", str(count + 1),
                                       str(line.n), split=True)
            if current is None:
                current = Objective(title=None)
                cands.append((current, line.n, 7, None, "none"))
            kr.id = str(count + 1)  # KR ids in an outline are positions, whatever the table says
            count += 1
            current.krs.append(kr)
            last_kr = kr
        return i

    i = 0
    while i < len(lexed):
        line = lexed[i]
        raw = line.raw
        t = line.text
        if not raw.strip():
            i += 1
            continue
        if in_callout:
            if _HTML_TAG.match(raw.strip()) and _HTML_TAG.match(raw.strip()).group(2).lower() == "aside":
                in_callout = False
                skip(line, "HTML markup")
            else:
                skip(line, "callout")
            i += 1
            continue
        first = raw.lstrip()
        if first.startswith("|") or ("\t" in raw.strip() and _tsv_header(raw)):
            i = table(i)
            continue
        i += 1
        if _COMMENT.match(raw.strip()):
            skip(line, "comment")
        elif m := _HTML_TAG.match(raw.strip()):
            in_callout = m.group(2).lower() == "aside" and not m.group(1)
            skip(line, "HTML markup")
        elif confluence and _CONF_MACRO.match(raw.strip()):
            skip(line, "wiki macro")
        elif _RULE.match(raw.strip()):
            skip(line, "separator line")
        elif not t:
            skip(line, "empty bullet")
        elif line.quote:
            skip(line, "quoted text")
        elif line.struck:
            skip(line, "struck through")
        elif line.heading:
            if take_label(line, t):
                pass
            elif (team := _team_heading(t)) and (team[1] or heads_sections(i, line)):
                start_team(team[0], line, line.heading, t)
            elif m := _KR_LABEL.match(t):
                add_bullet(line, t[m.end():], prefixed=True)
            else:
                inner = _OBJ_PREFIX.match(t)
                title = t[inner.end():] if inner else t
                if (num := _NUMBER.match(title)) and num.group(2):
                    title = title[num.end():]
                start_objective(_clean_title(title), line, line.heading, "heading")
        elif (m := _PROPERTY.match(t)) and m.group(1).lower() in ("team", "squad") and not line.marker \
                and line.indent == 0 and (team := _team_heading(t)) and heads_sections(i, line):
            start_team(team[0], line, 7, t)  # "Team: Sales" above "Objective: ..." opens Sales' section
        elif (m := _PROPERTY.match(t)) and not (line.marker and mode == "notes"):
            take_property(line, m.group(1), m.group(2).strip())
        elif m := _KR_LABEL.match(t):
            add_bullet(line, t[m.end():], prefixed=True)
        elif m := _OBJ_PREFIX.match(t):
            start_objective(_clean_title(t[m.end():]), line, 7, "line")
        elif take_label(line, t):
            pass
        elif line.depth >= 3:
            skip(line, "sub-item under a key result")
        elif line.depth == 2:
            add_bullet(line, t, prefixed=True)
        elif line.depth == 1 and line.number in parents:
            start_objective(_clean_title(t), line, 7, "line")
        elif mode == "notes":
            skip(line, "note (not a key result)")
        elif line.bold and line.marker == "emoji" and heads_items(i, line):
            start_objective(_clean_title(t), line, 7, "line")  # Slack: "🚀 *Make checkout painless*"
        elif line.marker:
            add_bullet(line, t, prefixed=False)
        elif last is not None and line.indent > last[0]:
            skip(line, "note under a key result")
        elif mode == "krs" or not has_structure:
            if add_kr(t, line):
                last = (line.indent, True)
        elif not line.bold and continues_krs(i, line):
            # A plain KR line among marked ones ("1.1 …", "1.2 …", then "Increase signups from 30
            # to 90 per month"), or under an "Objective:" line: a KR of the same objective.
            if add_kr(t, line):
                last = (line.indent, True)
        else:
            start_objective(_clean_title(t), line, 7, "text")

    # Cycles: a title or section naming a period covers the objectives under it.
    # Titles and sections: a heading without a period or properties closes the sections at its
    # level and deeper; a plain text line (a stray note) closes nothing. A section's period and
    # "Owner:"/"Team:"/"Due:" lines cover the objectives under it.
    inherited = ("owner", "team", "deadline")
    Entry = tuple[int, str | None, int, dict[str, tuple[str, _Line]]]
    stack: list[Entry] = [(0, doc_period[0] if doc_period else None, -1, doc_defaults)]
    title_entry: Entry | None = stack[0] if doc_period else None
    title_covers = True
    seen_objective = False
    used: set[int] = set()
    for k, (obj, _n, level, period, kind) in enumerate(cands):
        own = defaults.get(id(obj), {})
        if obj.krs:
            seen_objective = True
            obj.cycle = period or next((e[1] for e in reversed(stack) if e[1]), None)
            title_covers = title_covers and title_entry in stack
            merged: dict[str, tuple[str, _Line]] = {}
            for e in stack:
                merged.update({f: v for f, v in e[3].items() if f in inherited})
            merged.update(own)
            for field, (value, line) in merged.items():
                used.add(line.n)
                for kr in obj.krs:
                    if getattr(kr, field) is None:
                        setattr(kr, field, value)
            continue
        if not period and not own and kind != "heading":
            continue
        if kind == "team":
            # A team section closes the team sections at its level and deeper, not a title or
            # period above it at the same level ("# 2026 Q3 OKRs", then "# Team: Platform").
            while len(stack) > 1 and stack[-1][0] >= level and "team" in stack[-1][3]:
                stack.pop()
        while kind != "team" and len(stack) > 1 and stack[-1][0] >= level:
            stack.pop()
        if period or own:
            stack.append((level, period, k, own))
            if period and not seen_objective and title_entry is None:
                title_entry = stack[-1]
    okrs_cycle = title_entry[1] if title_entry and title_covers and seen_objective else None
    for line in sorted({v[1].n: v[1] for d in (doc_defaults, *defaults.values()) for v in d.values()}
                       .values(), key=lambda x: x.n):
        if line.n not in used:
            skip(line, "property line that applies to no key result")

    first_kr_cand = next((k for k, c in enumerate(cands) if c[0].krs), len(cands))
    for k, (obj, n, level, _period, kind) in enumerate(cands):
        if obj.krs or kind == "none":
            continue
        reason = ("team heading" if kind == "team"
                  else "document title" if k < first_kr_cand and kind in ("heading", "text")
                  else "heading with no key results under it" if kind == "heading"
                  else "objective with no key results" if kind in ("line", "bullet", "table")
                  else "text line with no key results under it")
        skipped.append(SkippedLine(source=source, line=n, text=lexed[n - 1].raw.strip(), reason=reason))
    skipped.sort(key=lambda s: s.line)
    return OKRSet(objectives=[c[0] for c in cands if c[0].krs], cycle=okrs_cycle, skipped=skipped)


_KR_SHAPE = re.compile(r"\d|\[[^\]]*\]|\b(?:TBD|N0|X%?)(?!\w)|->|→")
_NOT_KR_START = re.compile(
    r"^(?:[\w/&-]+(?:\s+[\w/&-]+)?\s*:\s|why\b|because\b|this\b|these\b|we\b|our\b|i\b|note\b|context\b"
    r"|see\b|also\b|and\b|but\b|so\b|last\b|updated\b|edited\b|created\b|drafted\b|approved\b|posted\b"
    r"|source\b|cc\b|fyi\b|thanks?\b|please\b|let\b|feel\b|questions?\b|link\b)|https?://", re.I)


def _kr_like(text: str, strong: bool = False) -> bool:
    """A plain line that reads like a key result: a measure ("from 30 to 90", "40%") or a verb that
    starts KRs ("Increase", "Ship"), both when `strong`; not a label, a question or a sentence
    about the plan."""
    if len(text.split()) < 3 or text.rstrip().endswith((":", "?")) or _NOT_KR_START.match(text):
        return False
    measured = bool(_KR_SHAPE.search(text))
    if measured and not strong:
        return True
    from krcoach.rules.lexicon import lexicon  # only for plain lines among items: keeps start-up lean

    first = re.sub(r"[^\w'-]", "", text.split()[0]).lower()
    return lexicon().classify_verb(first)[1] is not None and (measured or not strong)


def _tsv_header(raw: str) -> bool:
    cells = [c.strip() for c in raw.split("\t")]
    return sum(bool(c) for c in cells) >= 2 and any(_column(_markup(c)) == "kr" for c in cells)


def improved_draft(okrs: OKRSet, replacements: dict[str, str]) -> str:
    """The draft as a Markdown outline, with the KRs named in `replacements` rewritten."""
    out: list[str] = []
    for obj in okrs.objectives:
        if obj.title:
            out.append(f"## {obj.title}")
        for kr in obj.krs:
            text = replacements.get(kr.id, kr.kr)
            # What the reader took off the KR comes back as remarks it reads again: the owner, the
            # stretch target, and the due date (a rewrite already ends "by <date>").
            parts = [f"owner: {kr.owner}"] if kr.owner else []
            if kr.deadline and kr.id not in replacements:
                parts.append(f"due: {kr.deadline}")
            stretch = f", stretch {kr.extra['stretch']}" if kr.extra.get("stretch") else ""
            fields = f" ({'; '.join(parts)})" if parts else ""
            out.append(f"- {text}{stretch}{fields}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"

