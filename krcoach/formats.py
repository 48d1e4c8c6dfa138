"""Readers (files, bytes, text -> OKRSet) and writers (OKRReview -> table/JSONL/JSON/CSV/Markdown).

Readers validate everything before any work starts and raise `InputError` with one line that names
the file, the row or line, and the field. Writers are incremental (`Writer.objective` is called as
each objective's review is ready) so the CLI can stream; `render` runs the same writers into a
string for the app and tests.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

from .models import MAX_KR_CHARS, Finding, KeyResult, Objective, ObjectiveReview, OKRReview, OKRSet
from .safe import csv_cell, md_text

INPUT_FORMATS = ("jsonl", "json", "csv", "md")
OUTPUT_FORMATS = ("table", "jsonl", "json", "csv", "md")
EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".md": "md",
    ".markdown": "md",
    ".txt": "md",
}
KR_FIELDS = ("kr", "key_result", "key result", "keyresult")
RECORD_FIELDS = ("id", "objective", "kr", "owner", "kind", "why", "issues", "rewrites", "engine",
                 "model", "status", "error", "confidence", "team")


class InputError(ValueError):
    """Bad input. `str(err)` is the one line the user sees: file, row or line, field, problem."""

    def __init__(self, source: str, where: str | None, message: str) -> None:
        self.source, self.where, self.message = source, where, message
        super().__init__(": ".join(p for p in (source, where, message) if p))


# --------------------------------------------------------------------------------------- readers


def read_path(path: str | Path, input_format: str | None = None) -> OKRSet:
    """Read one file (or `-` for standard input) into an OKRSet, validating it whole first."""
    name = str(path)
    if name == "-":
        return read_bytes(sys.stdin.buffer.read(), "<stdin>", input_format)
    p = Path(path)
    if not p.exists():
        raise InputError(name, None, "no such file")
    if p.is_dir():
        raise InputError(name, None, "is a directory, not a file")
    fmt = input_format or _format_from_name(name)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(name, None, f"cannot read: {exc.strerror or exc}") from None
    return read_bytes(data, name, fmt)


def _format_from_name(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix not in EXTENSIONS:
        known = ", ".join(sorted(EXTENSIONS))
        shown = suffix or "(none)"
        raise InputError(name, None, f"unknown extension {shown}: use one of {known} or --input-format")
    return EXTENSIONS[suffix]


def read_bytes(data: bytes, name: str, input_format: str | None = None) -> OKRSet:
    """Decode and parse uploaded or piped bytes. The format comes from the name unless given."""
    if input_format is not None and input_format not in INPUT_FORMATS:
        raise InputError(name, None, f"unknown input format {input_format!r}: use one of "
                         + ", ".join(INPUT_FORMATS))
    if not data.strip():
        raise InputError(name, None, "file is empty")
    if b"\x00" in data[:8192]:
        raise InputError(name, None, "looks like a binary file, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(name, f"line {line}", "text is not UTF-8; save the file as UTF-8") from None
    fmt = input_format or (_sniff(text) if name.startswith("<") else _format_from_name(name))
    readers = {"jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv, "md": parse_outline}
    okrs = readers[fmt](text, name)
    if not okrs.key_results():
        raise InputError(name, None, "no key results found")
    return okrs


def _sniff(text: str) -> str:
    """Guess the format of piped text that has no file name."""
    head = text.lstrip()
    if head.startswith("["):
        return "json"
    if head.startswith("{"):
        first = head.splitlines()[0].strip()
        try:
            json.loads(first)
            return "jsonl"
        except ValueError:
            return "json"
    first_line = head.splitlines()[0].lower() if head else ""
    cells = [c.strip().strip('"') for c in re.split(r"[,;\t]", first_line)]
    if any(c in KR_FIELDS for c in cells):
        return "csv"
    return "md"


def _check_kr(text: Any, source: str, where: str, field: str) -> str:
    if not isinstance(text, str):
        raise InputError(source, where, f"field '{field}' must be text")
    kr = " ".join(text.split())
    if not kr:
        raise InputError(source, where, f"field '{field}' is empty")
    if len(kr) > MAX_KR_CHARS:
        raise InputError(source, where, f"field '{field}' is {len(kr):,} characters; the limit is "
                         f"{MAX_KR_CHARS:,}")
    return kr


def _opt_text(value: Any, source: str, where: str, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InputError(source, where, f"field '{field}' must be text")
    value = " ".join(value.split())
    return value or None


def _records_to_set(rows: Iterable[tuple[str, dict[str, Any]]], source: str) -> OKRSet:
    """Group flat records by objective, in order of first appearance.

    Rows of one objective are usually together; grouping keeps objective-level checks right when
    they are not.
    """
    groups: dict[str | None, list[KeyResult]] = {}
    row_no = 0
    for where, rec in rows:
        row_no += 1
        if not isinstance(rec, dict):
            raise InputError(source, where, "expected an object with a 'kr' field")
        keys = {str(k).strip().lower(): v for k, v in rec.items()}
        field = next((f for f in KR_FIELDS if f in keys), None)
        if field is None:
            raise InputError(source, where, "missing field 'kr' (or 'key_result')")
        kr = _check_kr(keys[field], source, where, field)
        rid = _opt_text(keys.get("id"), source, where, "id") or str(row_no)
        objective = _opt_text(keys.get("objective"), source, where, "objective")
        owner = _opt_text(keys.get("owner"), source, where, "owner")
        groups.setdefault(objective, []).append(
            KeyResult(id=rid, kr=kr, owner=owner, source=f"{source}:{where}"))
    return OKRSet(objectives=[Objective(title=t, krs=krs) for t, krs in groups.items()])


def _read_jsonl(text: str, source: str) -> OKRSet:
    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                yield f"line {n}", json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(source, f"line {n}", f"not valid JSON ({exc.msg})") from None

    return _records_to_set(rows(), source)


def _read_json(text: str, source: str) -> OKRSet:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(source, f"line {exc.lineno}", f"not valid JSON ({exc.msg})") from None
    if isinstance(data, dict) and isinstance(data.get("objectives"), list):
        return _read_nested(data["objectives"], source)
    if isinstance(data, dict):
        data = data.get("records", data.get("key_results", data.get("krs")))
    if not isinstance(data, list):
        raise InputError(source, None, "expected a list of records or {\"objectives\": [...]}")
    return _records_to_set(((f"record {i}", r) for i, r in enumerate(data, 1)), source)


def _read_nested(objectives: list[Any], source: str) -> OKRSet:
    """{"objectives": [{"objective": "...", "key_results": ["..." | {"kr": ...}]}]}"""
    flat: list[tuple[str, dict[str, Any]]] = []
    for i, obj in enumerate(objectives, 1):
        if not isinstance(obj, dict):
            raise InputError(source, f"objective {i}", "expected an object")
        title = obj.get("objective", obj.get("title"))
        krs = obj.get("key_results", obj.get("krs", []))
        if not isinstance(krs, list):
            raise InputError(source, f"objective {i}", "field 'key_results' must be a list")
        for j, kr in enumerate(krs, 1):
            rec = {"kr": kr} if isinstance(kr, str) else dict(kr) if isinstance(kr, dict) else kr
            if isinstance(rec, dict):
                rec.setdefault("objective", title)
            flat.append((f"objective {i} key result {j}", rec))
    return _records_to_set(flat, source)


def _read_csv(text: str, source: str) -> OKRSet:
    first = text.splitlines()[0] if text else ""
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise InputError(source, None, "file is empty") from None
    if not any(h in KR_FIELDS for h in header):
        raise InputError(source, "row 1", "no 'kr' or 'key_result' column in the header "
                         f"({', '.join(h for h in header if h) or 'empty'})")

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        try:
            for n, cells in enumerate(reader, start=2):
                if not any(c.strip() for c in cells):
                    continue
                yield f"row {n}", {h: c for h, c in zip(header, cells) if h}
        except csv.Error as exc:
            raise InputError(source, f"row {reader.line_num}", f"malformed CSV ({exc})") from None

    return _records_to_set(rows(), source)


# Outline: objective headings or "Objective:" / "O1:" lines; KR bullets, numbered lines, "KR1:".
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*)$")
_OBJ_LINE = re.compile(
    r"^\s*(?:[-*+•]\s+)?(?:\*\*|__)?(?:objective(?:\s*\d+)?|o\d+)(?:\*\*|__)?\s*[:.)\-–]\s*(?:\*\*|__)?\s*(.*)$",
    re.I)
_KR_PREFIX = re.compile(
    r"^\s*(?:[-*+•]\s+)?(?:\*\*|__)?(?:kr|key\s*result)\s*[\d.]*\s*(?:\*\*|__)?\s*[:.)\-–]\s*(?:\*\*|__)?\s*(.*)$",
    re.I)
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)]|[a-z][.)])\s+(.*)$", re.I)
_WRAPPED = re.compile(r"(\*\*|__|\*|_)(.+)\1")
_CHECKBOX = re.compile(r"^\[[ xX]\]\s+")
_EMPTY_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s*$")
# A bullet that states a number or a placeholder is a key result, whatever is nested under it.
_MEASURED = re.compile(r"\d|\[[^\]]*\]|\b(?:TBD|N0|X%?)(?!\w)")
_OWNER_PAREN = re.compile(r"\s*[(\[]\s*owners?\s*[:=]\s*([^)\]]+?)\s*[)\]]", re.I)
_OWNER_TAG = re.compile(r"(?:(?<=\s)|^)@([A-Za-z][\w.\-]*)\s*$")


def _split_owner(text: str) -> tuple[str, str | None]:
    m = _OWNER_PAREN.search(text)
    if m:
        return (text[: m.start()] + text[m.end():]).strip(), m.group(1).strip()
    m = _OWNER_TAG.search(text)
    if m:
        return text[: m.start()].rstrip(" -–—,;"), m.group(1)
    return text, None


def _clean_title(text: str) -> str | None:
    text = text.strip().strip("*_").strip()
    return text or None


def _indent(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip())


def parse_outline(text: str, source: str = "<text>") -> OKRSet:
    """Parse a Markdown or plain-text outline into objectives and key results.

    Lines under an objective heading (or "Objective:" / "O1:" line) that are bullets, numbered
    items or "KR1:" lines are its key results. In a paste with no bullets and no objectives at all,
    every non-empty line is a key result. Nested bullets follow the outline's own reading: under
    a measurable key result ("KR2: Activation 22% -> 35%") they are its notes or initiatives and
    are skipped; under a bullet that measures nothing ("- Grow revenue") they are key results and
    that bullet is their objective.
    """
    lines = text.splitlines()
    has_structure = any(_BULLET.match(l) or _KR_PREFIX.match(l) for l in lines)
    objectives: list[Objective] = []
    current: Objective | None = None
    count = 0
    # The last bullet read as a KR: its indent and whether it is clearly a KR (measured or "KR1:").
    last: tuple[int, bool] | None = None
    notes_under: int | None = None  # deeper bullets than this are notes of a KR
    bullet_objective: int | None = None  # indent of a bullet that became the current objective

    def add_kr(raw: str, line_no: int) -> bool:
        nonlocal current, count
        body, owner = _split_owner(_CHECKBOX.sub("", raw.strip()))
        body = body.strip()
        if wrapped := _WRAPPED.fullmatch(body):  # "**Grow MAU**" -> "Grow MAU", but "*now*" inside stays
            body = wrapped.group(2).strip()
        if not body:
            return False
        if current is None:
            current = Objective(title=None)
            objectives.append(current)
        count += 1
        kr = _check_kr(body, source, f"line {line_no}", "kr")
        current.krs.append(KeyResult(id=str(count), kr=kr, owner=owner, source=f"{source}:{line_no}"))
        return True

    def add_bullet(raw: str, line_no: int, indent: int, prefixed: bool) -> None:
        nonlocal current, count, last, notes_under, bullet_objective
        if notes_under is not None and indent > notes_under:
            return
        notes_under = None
        if last is not None and indent > last[0] and current is not None and current.krs:
            if last[1]:
                notes_under = last[0]  # the KR above is measured: these are its notes
                return
            parent = current.krs.pop()  # "- Grow revenue" with KRs under it: an objective
            count -= 1
            current = Objective(title=parent.kr)
            objectives.append(current)
            bullet_objective = last[0]
        elif bullet_objective is not None and indent <= bullet_objective:
            current, bullet_objective = None, None  # the next bullet objective (or a loose KR)
        if add_kr(raw, line_no):
            last = (indent, prefixed or bool(_MEASURED.search(current.krs[-1].kr)))

    for n, line in enumerate(lines, start=1):
        if not line.strip() or line.strip() in ("---", "***") or _EMPTY_BULLET.match(line):
            continue
        if m := _KR_PREFIX.match(line):
            add_bullet(m.group(1), n, _indent(line), prefixed=True)
        elif (m := _HEADING.match(line)) or (m := _OBJ_LINE.match(line)):
            inner = _OBJ_LINE.match(m.group(1))
            title = _clean_title(inner.group(1) if inner else m.group(1))
            if title and len(title) > MAX_KR_CHARS:
                raise InputError(source, f"line {n}", f"objective is {len(title):,} characters; "
                                 f"the limit is {MAX_KR_CHARS:,}")
            current = Objective(title=title)
            objectives.append(current)
            last, notes_under, bullet_objective = None, None, None
        elif m := _BULLET.match(line):
            add_bullet(m.group(1), n, _indent(line), prefixed=False)
        elif has_structure:
            current = Objective(title=_clean_title(line))
            objectives.append(current)
            last, notes_under, bullet_objective = None, None, None
        else:
            add_kr(line, n)
    # A heading with no key results under it is a document or section title, not an objective.
    return OKRSet(objectives=[o for o in objectives if o.krs])


def improved_draft(okrs: OKRSet, replacements: dict[str, str]) -> str:
    """The draft as a Markdown outline, with the KRs named in `replacements` rewritten."""
    out: list[str] = []
    for obj in okrs.objectives:
        if obj.title:
            out.append(f"## {obj.title}")
        for kr in obj.krs:
            text = replacements.get(kr.id, kr.kr)
            owner = f" (owner: {kr.owner})" if kr.owner else ""
            out.append(f"- {text}{owner}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------------------- writers


def _finding_line(f: Finding) -> str:
    where = f"objective “{f.objective}”" if f.scope == "objective" and f.objective else f.scope
    return f"[{f.code}] {where}: {f.message}"


class Writer:
    """Streams a review: `start()`, then `objective()` per ObjectiveReview, then `finish()`."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def start(self) -> None:  # noqa: D102 - optional hook
        pass

    def objective(self, review: ObjectiveReview) -> None:
        raise NotImplementedError

    def finish(self, review: OKRReview) -> None:  # noqa: D102 - optional hook
        pass


class JSONLWriter(Writer):
    def objective(self, review: ObjectiveReview) -> None:
        for kr in review.krs:
            self.out.write(json.dumps(kr.record(), ensure_ascii=False) + "\n")
        self.out.flush()


class CSVWriter(Writer):
    """Same fields as the JSONL record; list fields (issues, rewrites) are JSON-encoded cells."""

    def start(self) -> None:
        self.csv = csv.writer(self.out, lineterminator="\n")
        self.csv.writerow(RECORD_FIELDS)

    def objective(self, review: ObjectiveReview) -> None:
        for kr in review.krs:
            rec = kr.record()
            # Every cell through csv_cell: a KR like =HYPERLINK(...) stays text in a spreadsheet.
            self.csv.writerow([
                csv_cell(json.dumps(rec[f], ensure_ascii=False) if isinstance(rec[f], list) else rec[f])
                for f in RECORD_FIELDS
            ])
        self.out.flush()


class JSONWriter(Writer):
    """One document: summary, findings and records. Written at the end (it is not a stream)."""

    def objective(self, review: ObjectiveReview) -> None:
        pass

    def finish(self, review: OKRReview) -> None:
        doc = {
            "engine": review.engine,
            "model": review.model,
            "summary": review.summary(),
            "findings": [f.model_dump(mode="json") for f in review.all_findings()],
            "records": review.records(),
        }
        self.out.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")


class MarkdownWriter(Writer):
    def objective(self, review: ObjectiveReview) -> None:
        w = self.out.write
        w(f"## {_md_text(review.objective or 'Key results without an objective')}\n\n")
        for f in review.findings:
            w(f"> **{f.code}**: {_md_text(f.message)}\n\n")
        for kr in review.krs:
            badge = "OUTCOME" if kr.kind == "outcome" else "OUTPUT"
            owner = f" (owner: {_md_text(kr.owner)})" if kr.owner else ""
            w(f"### {_md_text(kr.id)}. {_md_text(kr.kr)}{owner}\n\n**{badge}** — {_md_text(kr.why)}\n\n")
            if kr.status != "ok":
                w(f"_Status: {kr.status} — {_md_text(kr.error or '')}_\n\n")
            for issue in kr.issues:
                w(f"- `{issue.code}`: {_md_text(issue.message)}\n")
            if kr.issues:
                w("\n")
            for i, rw in enumerate(kr.rewrites, 1):
                w(f"Rewrite {i}: **{_md_text(rw.text)}**\n")
                for a in rw.assumptions:
                    w(f"  - assumption: {_md_text(a)}\n")
                w("\n")
        self.out.flush()

    def finish(self, review: OKRReview) -> None:
        s = review.summary()
        w = self.out.write
        if review.findings:
            w("## Whole set\n\n")
            for f in review.findings:
                w(f"> **{f.code}**: {_md_text(f.message)}\n\n")
        w(f"---\n{s['outcomes']} of {s['krs']} key results are outcomes; {s['need_work']} need work"
          f" (engine: {review.engine}{' ' + review.model if review.model else ''}"
          f"{', fallbacks: ' + str(s['fallbacks']) if s['fallbacks'] else ''}).\n")


def _md_text(text: str) -> str:
    """Escape what Markdown or HTML would interpret (links, images, HTML, emphasis), so KR text
    stays text: see krcoach.safe.md_text."""
    return md_text(text)


class TableWriter(Writer):
    """Plain text for people at a terminal, written line by line (no layout engine: 20,000 KRs
    take about as long as the review itself).

    Per KR: its id and text, then a two-column table of label │ text: the verdict and why, every
    issue with its message, every rewrite with its assumptions (each assumption once per KR).
    `compact=True` prints one line per KR (id, kind, text, issue codes) for wide batches.
    Findings of an objective follow its title; set-level findings come at the end. ANSI colour
    only when writing to a terminal and NO_COLOR is unset. The run's summary is the CLI's job.
    """

    def __init__(self, out: TextIO, *, compact: bool = False, width: int | None = None,
                 color: bool | None = None) -> None:
        super().__init__(out)
        self.compact = compact
        self.width = max(40, width or _terminal_width(out))
        self.tty = _isatty(out)
        self.color = _wants_color(self.tty) if color is None else color

    def _paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and text else text

    def objective(self, review: ObjectiveReview) -> None:
        lines = self._compact_lines(review) if self.compact else self._lines(review)
        lines.append("")
        self.out.write("\n".join(lines))
        self.out.flush()

    def _finding_lines(self, findings: list[Finding], indent: str) -> list[str]:
        lines: list[str] = []
        for f in findings:
            hang = indent + " " * (len(f.code) + 2)
            wrapped = _wrap(_plain(f.message), self.width - len(hang))
            lines.append(f"{indent}{self._paint(f.code, '1')}: {wrapped[0]}")
            lines += [hang + more for more in wrapped[1:]]
        return lines

    def _lines(self, review: ObjectiveReview) -> list[str]:
        paint, width = self._paint, self.width
        title = _plain(review.objective or "(no objective)")
        lines = [paint(title, "1"), paint("─" * min(len(title), width), "2")]
        lines += self._finding_lines(review.findings, "  ")
        # Labels are whole words (an issue code never breaks) in a column as wide as the longest.
        label_w = max((len(i.code) for kr in review.krs for i in kr.issues), default=0)
        label_w = max(label_w, len("rewrite 9"), len("fallback"))
        pad = " " * (label_w + 5)
        bar = paint("│", "2")
        text_w = max(20, width - label_w - 7)

        def row(label: str, text: str, style: str = "", note: bool = False) -> None:
            wrapped = _wrap(text, text_w - 2) if note else _wrap(text, text_w)
            shown = paint(label, style) if style else label
            lead = "· " if note else ""
            lines.append(f"    {shown}{' ' * (label_w - len(label))} {bar} {lead}{wrapped[0]}")
            lead = "  " if note else ""
            for more in wrapped[1:]:
                lines.append(f"{pad}{bar} {lead}{more}")

        for kr in review.krs:
            extras = [f"owner {kr.owner}" if kr.owner else "", f"team {kr.team}" if kr.team else ""]
            extra = " · ".join(e for e in extras if e)
            hang = " " * (len(kr.id) + 3)
            wrapped = _wrap(_plain(kr.kr + (f" · {extra}" if extra else "")), width - len(hang))
            lines.append("")
            lines.append(f" {paint(kr.id, '1')}  {wrapped[0]}")
            lines += [hang + more for more in wrapped[1:]]
            row(kr.kind, _plain(kr.why), "32" if kr.kind == "outcome" else "33")
            if kr.status != "ok":
                row(kr.status, _plain(kr.error or ""), "31")
            for issue in kr.issues:
                row(issue.code, _plain(issue.message))
            seen: set[str] = set()
            many = len(kr.rewrites) > 1
            for n, rw in enumerate(kr.rewrites, 1):
                row(f"rewrite {n}" if many else "rewrite", _plain(rw.text), "36")
                for a in rw.assumptions:
                    if a not in seen:
                        seen.add(a)
                        row("", _plain(a), note=True)
        lines.append("")
        return lines

    def _compact_lines(self, review: ObjectiveReview) -> list[str]:
        lines = []
        limit = self.width if self.tty else None  # cut to the screen only at a terminal
        id_w = max((len(kr.id) for kr in review.krs), default=0)
        id_w = max(id_w, 3)
        for kr in review.krs:
            kind = f"{kr.kind:<7}" if kr.status == "ok" else f"{kr.kind}/{kr.status}"
            codes = ", ".join(kr.issue_codes()) or "-"
            text = _plain(kr.kr)
            if limit is not None:
                room = limit - id_w - len(kind) - len(codes) - 8
                if len(text) > room:
                    text = text[:max(room - 1, 10)] + "…"
            kind = self._paint(kind, "32" if kr.kind == "outcome" else "33")
            lines.append(f"{kr.id:>{id_w}}  {kind}  {text}  [{codes}]")
        for f in review.findings:
            where = f" ({_plain(review.objective)})" if review.objective else ""
            lines.append(f"!  {self._paint(f.code, '1')}: {_plain(f.message)}{where}")
        return lines

    def finish(self, review: OKRReview) -> None:
        if not review.findings:
            return
        if self.compact:
            lines = [f"!  {self._paint(f.code, '1')}: {_plain(f.message)}" for f in review.findings]
        else:
            lines = [self._paint("Whole set", "1"), *self._finding_lines(review.findings, "  ")]
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def _plain(text: str) -> str:
    """One line of text that cannot move the cursor or colour the terminal (KR text is data)."""
    return text if text.isascii() and text.isprintable() else _CONTROL.sub(" ", text)


@lru_cache(maxsize=8192)
def _wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap at spaces; a word longer than the line stays whole. Rule messages repeat a
    lot across a batch, hence the cache (callers must not modify the returned list)."""
    width = max(width, 10)
    if len(text) <= width:
        return [text]
    lines = []
    while len(text) > width:
        cut = text.rfind(" ", 0, width + 1)
        if cut <= 0:
            cut = text.find(" ", width)
            if cut < 0:
                break
        lines.append(text[:cut].rstrip())
        text = text[cut + 1:].lstrip()
    if text:
        lines.append(text)
    return lines or [""]


def _terminal_width(out: TextIO) -> int:
    """COLUMNS when set, else the terminal's width when writing to one, else 100."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        if _isatty(out):
            return os.get_terminal_size(out.fileno()).columns
    except (AttributeError, OSError, ValueError):
        pass
    return 100


def _isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def _wants_color(tty: bool) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return tty or bool(os.environ.get("FORCE_COLOR"))


WRITERS: dict[str, type[Writer]] = {
    "table": TableWriter,
    "jsonl": JSONLWriter,
    "json": JSONWriter,
    "csv": CSVWriter,
    "md": MarkdownWriter,
}


def render(review: OKRReview, fmt: str) -> str:
    """A whole review as text in one of OUTPUT_FORMATS."""
    buf = io.StringIO()
    writer = WRITERS[fmt](buf)
    writer.start()
    for obj in review.objectives:
        writer.objective(obj)
    writer.finish(review)
    return buf.getvalue()
