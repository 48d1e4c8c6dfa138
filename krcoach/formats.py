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
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from .models import MAX_KR_CHARS, Finding, KeyResult, Objective, ObjectiveReview, OKRReview, OKRSet

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
            self.csv.writerow([
                json.dumps(rec[f], ensure_ascii=False) if isinstance(rec[f], list)
                else "" if rec[f] is None else rec[f]
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
            w(f"### {kr.id}. {_md_text(kr.kr)}{owner}\n\n**{badge}** — {_md_text(kr.why)}\n\n")
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
    """Escape what Markdown or HTML would interpret, so KR text stays text."""
    text = text.replace("\\", "\\\\").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([`*_#|])", r"\\\1", text)


class TableWriter(Writer):
    """A rich table per objective, for people at a terminal."""

    def start(self) -> None:
        from rich.console import Console

        self.console = Console(file=self.out, soft_wrap=False, highlight=False)

    def objective(self, review: ObjectiveReview) -> None:
        from rich.markup import escape
        from rich.table import Table

        table = Table(title=escape(review.objective or "(no objective)"), show_lines=True,
                      title_justify="left", expand=True)
        table.add_column("id", no_wrap=True)
        table.add_column("key result", ratio=3)
        table.add_column("kind", no_wrap=True)
        # One code per line in a column as wide as the longest: "health_metric" never breaks mid-word.
        longest = max((len(code) for kr in review.krs for code in kr.issue_codes()), default=6)
        table.add_column("issues", width=longest, overflow="fold")
        table.add_column("suggested rewrite", ratio=4)
        for kr in review.krs:
            kind = "[green]outcome[/]" if kr.kind == "outcome" else "[yellow]output[/]"
            if kr.status != "ok":
                kind += f"\n[red]{kr.status}[/]"
            rewrite = escape(kr.rewrites[0].text) if kr.rewrites else ""
            table.add_row(escape(kr.id), escape(kr.kr), kind,
                          escape("\n".join(kr.issue_codes())), rewrite)
        self.console.print(table)
        for f in review.findings:
            self.console.print(f"  [bold]{f.code}[/]: {escape(f.message)}")

    def finish(self, review: OKRReview) -> None:
        from rich.markup import escape

        for f in review.findings:
            self.console.print(f"[bold]{f.code}[/]: {escape(f.message)}")
        s = review.summary()
        fb = f", [red]{s['fallbacks']} fallback[/]" if s["fallbacks"] else ""
        self.console.print(f"{s['outcomes']}/{s['krs']} outcomes, {s['need_work']} need work{fb}")


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
