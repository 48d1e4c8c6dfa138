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
import stat
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

from krcoach.models import (MAX_KR_CHARS, Finding, KeyResult, Objective, ObjectiveReview, OKRReview, OKRSet,
                     SkippedLine)
from krcoach.periods import find_cycle
from krcoach.safe import csv_cell, md_text

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
                 "model", "status", "error", "confidence", "team", "notes")


class InputError(ValueError):
    """Bad input. `str(err)` is the one line the user sees: file, row or line, field, problem."""

    def __init__(self, source: str, where: str | None, message: str) -> None:
        self.source, self.where, self.message = source, where, message
        super().__init__(": ".join(p for p in (source, where, message) if p))


# --------------------------------------------------------------------------------------- readers


#: Default bound on one input (a file, a FIFO or standard input); KRCOACH_MAX_INPUT_BYTES overrides it.
MAX_INPUT_BYTES = 256 * 1024 * 1024
_MIB = 1024 * 1024
_READ_CHUNK = 8 * _MIB


def max_input_bytes() -> int:
    """The size bound on one input: KRCOACH_MAX_INPUT_BYTES (bytes, or with a K, M or G suffix in
    binary units: 512M), else MAX_INPUT_BYTES."""
    raw = os.environ.get("KRCOACH_MAX_INPUT_BYTES", "").strip()
    if not raw:
        return MAX_INPUT_BYTES
    m = re.fullmatch(r"(\d+)\s*(?:([kmg])(?:i?b)?|b)?", raw.replace("_", "").replace(",", ""), re.I)
    value = int(m.group(1)) * 1024 ** " kmg".index((m.group(2) or " ").lower()) if m else 0
    if value < 1:
        raise InputError("KRCOACH_MAX_INPUT_BYTES", None, f"{raw!r} is not a size: give bytes (268435456) "
                         "or a size such as 512M or 1G")
    return value


def _size(n: int) -> str:
    return f"{n // _MIB:,} MiB" if n % _MIB == 0 else f"{n:,} bytes"


def _read_bounded(fh: Any, name: str, limit: int, size: int = 0) -> bytes:
    """Everything `fh` holds, up to `limit` bytes: more is an InputError, so an endless source
    (/dev/zero, a runaway pipe) ends with a message instead of using up memory. `size` is a
    regular file's size, read in one go."""
    if size > limit:
        raise InputError(name, None, f"larger than {_size(limit)}; split it or raise KRCOACH_MAX_INPUT_BYTES")
    chunks: list[bytes] = []
    total = 0
    want = size + 1 if size else _READ_CHUNK
    while True:
        chunk = fh.read(min(want, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise InputError(name, None, f"larger than {_size(limit)}; split it or raise KRCOACH_MAX_INPUT_BYTES")
        want = _READ_CHUNK
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_path(path: str | Path, input_format: str | None = None) -> OKRSet:
    """Read one file (or `-` for standard input) into an OKRSet, validating it whole first.

    A FIFO or a device is read like standard input (a FIFO waits for its writer); every input is
    bounded by `max_input_bytes()`. Failing to read is an InputError naming the file."""
    name = str(path)
    limit = max_input_bytes()
    if name == "-":
        try:
            data = _read_bounded(sys.stdin.buffer, "<stdin>", limit)
        except OSError as exc:
            raise InputError("<stdin>", None, f"cannot read: {exc.strerror or exc}") from None
        return read_bytes(data, "<stdin>", input_format)
    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise InputError(name, None, "no such file") from None
    except OSError as exc:
        raise InputError(name, None, f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(name, None, "is a directory, not a file")
    fmt = input_format or _format_from_name(name)
    try:
        with open(name, "rb", buffering=0) as fh:
            data = _read_bounded(fh, name, limit, st.st_size if stat.S_ISREG(st.st_mode) else 0)
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
    if not data or data.isspace():
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
    try:
        okrs = readers[fmt](text, name)
    except RecursionError:  # a backstop: the JSON readers name the line themselves
        raise InputError(name, None, _TOO_DEEP) from None
    if not okrs.key_results():
        raise InputError(name, None, "no key results found")
    return okrs


def _sniff(text: str) -> str:
    """Guess the format of piped text that has no file name."""
    head = text.lstrip()
    if head.startswith("["):
        return "json"
    if head.startswith("{"):
        first = head.split("\n", 1)[0].strip()
        try:
            json.loads(first)
            return "jsonl"
        except (ValueError, RecursionError):
            return "json"
    first_line = head.splitlines()[0] if head else ""
    if first_line.lstrip().startswith("|"):
        return "md"  # a Markdown table: the outline reader takes it with its heading
    cells = [c.strip().strip('"') for c in re.split(r"[,;\t]", first_line)]
    if any(_column(c) == "kr" for c in cells) and (len(cells) > 1 or cells[0].lower() in KR_FIELDS):
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


# Columns people use, keyed by the header in lower case with everything but letters and digits
# removed ("Due date" -> "duedate", "Owner (DRI)" -> "owner"). `period` fills the deadline only
# where the file has no due column.
_COLUMNS: dict[str, str] = {
    "id": "id", "krid": "id",
    "objective": "objective", "objectives": "objective", "obj": "objective",
    "objectivetitle": "objective", "objectivename": "objective",
    "kr": "kr", "krs": "kr", "keyresult": "kr", "keyresults": "kr", "krtext": "kr", "krtitle": "kr",
    "owner": "owner", "owners": "owner", "dri": "owner", "driver": "owner", "responsible": "owner",
    "accountable": "owner", "krowner": "owner", "assignee": "owner",
    "due": "deadline", "deadline": "deadline", "duedate": "deadline", "by": "deadline",
    "dueby": "deadline", "targetdate": "deadline", "enddate": "deadline",
    "quarter": "period", "cycle": "period", "period": "period",
    "team": "team", "squad": "team", "teamname": "team",
    "status": "status", "state": "status", "health": "status",
    "baseline": "baseline", "start": "baseline", "startingvalue": "baseline", "startvalue": "baseline",
    "starting": "baseline",
    "target": "target", "targetvalue": "target", "goalvalue": "target", "targetnumber": "target",
    "objectivegoal": "objective", "goaltitle": "objective", "goalname": "objective",
    "current": "current", "currentvalue": "current", "actual": "current", "actualvalue": "current",
}
# Fields of krcoach's own output records: read back as input, they are not the author's columns.
_REVIEW_COLUMNS = {"kind", "why", "issues", "rewrites", "engine", "model", "error", "confidence",
                   "status", "notes"}
_KR_COLUMNS = ("owner", "team", "deadline", "status", "baseline", "target", "current")
# "Goal" beside a KR column is the objective in most sheets, the target value in some: its values
# decide (numbers -> target, sentences -> objective). See `_Columns.fields`.
_AMBIGUOUS = {"goal", "goals"}
_STRETCH = {"stretch", "stretchtarget", "stretchgoal"}
_NUMERIC_VALUE = re.compile(r"^(?:tbd|n/?a|-+|\?|—)$", re.I)


def _numeric_value(value: str) -> bool:
    """'45%', '$2M', '120k MAU', '3 days', 'TBD': a value, not a sentence."""
    value = value.strip()
    return bool(_NUMERIC_VALUE.match(value)) or bool(re.search(r"\d", value)) and len(value.split()) <= 2


def _column(name: str) -> str | None:
    key = re.sub(r"[^0-9a-z]", "", re.sub(r"\(.*?\)", "", str(name).lower()))
    return _COLUMNS.get(key)


@lru_cache(maxsize=1024)
def _ambiguous_key(name: str) -> bool:
    return re.sub(r"[^0-9a-z]", "", re.sub(r"\(.*?\)", "", str(name).lower())) in _AMBIGUOUS


def _column_key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


class _Columns:
    """What each column of one file (or table) means, and the unknown ones, in order of appearance."""

    def __init__(self, samples: dict[str, list[Any]] | None = None) -> None:
        self.unknown: list[str] = []
        self.has_deadline = False
        self._maps: dict[tuple[str, ...], tuple[dict[str, str], set[str]]] = {}
        #: {column name: its values} for columns whose meaning depends on what they hold ("Goal").
        self.samples = samples or {}

    def _ambiguous(self, name: str, names: tuple[str, ...]) -> str | None:
        """What a "Goal" column is: the target where its values are numbers ("45%"), else the
        objective (sentences), unless the file has that column already (then it is passed through)."""
        others = {_column(n) for n in names if n != name}
        values = [str(v) for v in self.samples.get(name, []) if isinstance(v, (str, int, float))
                  and not isinstance(v, bool) and str(v).strip()]
        if values and all(_numeric_value(v) for v in values):
            return "target" if "target" not in others else None
        return "objective" if "objective" not in others else None

    def fields(self, names: Iterable[str]) -> tuple[dict[str, str], set[str]]:
        """{name as written: field} for the columns taken, and the names passed through as extra."""
        names = tuple(str(n) for n in names)
        if names in self._maps:
            return self._maps[names]
        keys = {_column_key(n) for n in names}
        review_output = {"rewrites", "engine"} <= keys
        taken: dict[str, str] = {}
        extra: set[str] = set()
        for name in names:
            if not _column_key(name):
                continue
            field = _column(name)
            if field is None and _ambiguous_key(name):
                field = self._ambiguous(name, names)
            # krcoach's own field names, as it writes them: an author's "Notes" or "Confidence %"
            # column beside them is passed through again.
            if review_output and name in _REVIEW_COLUMNS:
                continue
            if field is None or field in taken.values():
                extra.add(name)
                # A stretch target is known: passed through beside the committed KR, not reported.
                if field is None and name not in self.unknown and _column_key(name) not in _STRETCH:
                    self.unknown.append(name)
                continue
            taken[name] = field
        self.has_deadline = self.has_deadline or "deadline" in taken.values()
        self._maps[names] = (taken, extra)
        return taken, extra

    def report(self, source: str, line: int) -> list[SkippedLine]:
        if not self.unknown:
            return []
        names = ", ".join(self.unknown)
        return [SkippedLine(source=source, line=line, text=names,
                            reason=f"unknown columns passed through: {names}")]


def _extra_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _kr_from_record(rec: dict[str, Any], cols: _Columns, source: str, where: str, rid: str,
                    line: str, split: bool = False) -> tuple[str | None, KeyResult]:
    """One record (a CSV row, a JSON object, a table row) -> its objective title and key result."""
    taken, extra_names = cols.fields(rec)
    by_field: dict[str, tuple[str, Any]] = {f: (name, rec[name]) for name, f in taken.items()}
    if "kr" not in by_field:
        raise InputError(source, where, "missing field 'kr' (or 'key_result')")
    name, value = by_field["kr"]
    kr = _check_kr(value, source, where, name)
    values: dict[str, str | None] = {}
    for field in ("id", "objective", "period", *_KR_COLUMNS):
        if field in by_field:
            name, value = by_field[field]
            values[field] = _opt_text(value, source, where, name)
    extra = {n: t for n in rec if n in extra_names and (t := _extra_text(rec[n])) is not None}
    if values.get("period"):
        if cols.has_deadline:
            extra.setdefault(by_field["period"][0], values["period"] or "")
        elif not values.get("deadline"):
            values["deadline"] = values["period"]
    # Remarks after the KR ("— Owner: Omar", "(Omar)", ", stretch 10%") go to their fields, so the
    # KR that is reviewed is the committed one; a column of the same field wins. A table cell reads
    # like an outline line, trailing "@ana" included; a sheet's or JSON's KR cell keeps its "@".
    body, found = _split_fields(kr, tags=split)
    if body.strip():
        kr = " ".join(body.split())
    else:
        found = {}
    if "stretch" in found:
        extra.setdefault("stretch", found.pop("stretch"))
    for field, value in found.items():
        values[field] = values.get(field) or value
    owner = values.get("owner")
    if owner:
        owner = owner.lstrip("@") or None
    return values.get("objective"), KeyResult(
        id=values.get("id") or rid, kr=kr, owner=owner, source=f"{source}:{line}",
        **{f: values.get(f) for f in _KR_COLUMNS if f != "owner"}, extra=extra)


def _records_to_set(rows: Iterable[tuple[str, dict[str, Any]]], source: str,
                    fill_down: bool = False) -> OKRSet:
    """Group flat records by objective, in order of first appearance.

    Rows of one objective are usually together; grouping keeps objective-level checks right when
    they are not. With `fill_down` (sheets, where the objective cell is merged over its rows) a
    blank objective cell means the objective of the row above.
    """
    # One objective per (title, team): two teams that share an objective title keep their own KRs.
    groups: dict[tuple[str | None, str | None], list[KeyResult]] = {}
    rows = list(rows)  # all of it is read before any work starts anyway; "Goal" columns need it
    samples: dict[str, list[Any]] = {}
    for _where, rec in rows:
        if isinstance(rec, dict):
            for k, v in rec.items():
                if _ambiguous_key(str(k).strip()):
                    samples.setdefault(str(k).strip(), []).append(v)
    cols = _Columns(samples)
    row_no = 0
    above: str | None = None
    for where, rec in rows:
        row_no += 1
        if not isinstance(rec, dict):
            raise InputError(source, where, "expected an object with a 'kr' field")
        rec = {str(k).strip(): v for k, v in rec.items()}
        objective, kr = _kr_from_record(rec, cols, source, where, str(row_no), where)
        if fill_down:
            objective = above = objective or above
        groups.setdefault((objective, kr.team), []).append(kr)
    return OKRSet(objectives=[Objective(title=t, krs=krs) for (t, _team), krs in groups.items()],
                  skipped=cols.report(source, 1))


def _read_jsonl(text: str, source: str) -> OKRSet:
    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        # Lines end at "\n" only: str.splitlines() also splits at U+2028, U+0085 and other
        # characters JSON allows raw inside a string (krcoach's own output writes them so).
        for n, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            yield f"line {n}", _json_loads(line, source, n)

    return _records_to_set(rows(), source)


_TOO_DEEP = "nested too deeply to read (arrays or objects inside each other about a thousand levels deep)"


def _json_loads(text: str, source: str, line: int | None = None) -> Any:
    """json.loads with every parser failure and limit as one InputError naming the line: invalid
    JSON, nesting deeper than Python's recursion limit, an integer longer than its digit limit.
    `line` is the line number of a JSONL line; a JSON document's own line numbers are used else."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(source, f"line {line or exc.lineno}", f"not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise InputError(source, f"line {line}" if line else None, _TOO_DEEP) from None
    except ValueError as exc:  # int('1' * 5000): sys.get_int_max_str_digits()
        digits = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 0
        long = re.search(r"[0-9]{%d,}" % (digits + 1), text) if digits else None
        if long is None:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(source, f"line {line}" if line else None, f"not valid JSON ({first})") from None
        at = line or text.count("\n", 0, long.start()) + 1
        raise InputError(source, f"line {at}", f"a number with {len(long.group()):,} digits; the limit is "
                         f"{digits:,} (write it as text in quotes)") from None


def _read_json(text: str, source: str) -> OKRSet:
    data = _json_loads(text, source)
    if isinstance(data, dict) and isinstance(data.get("objectives"), list):
        return _read_nested(data["objectives"], source)
    if isinstance(data, dict):
        data = data.get("records", data.get("key_results", data.get("krs")))
    if not isinstance(data, list):
        raise InputError(source, None, "expected a list of records or {\"objectives\": [...]}")
    return _records_to_set(((f"record {i}", r) for i, r in enumerate(data, 1)), source)


def _read_nested(objectives: list[Any], source: str) -> OKRSet:
    """{"objectives": [{"objective": "...", "cycle": "...", "key_results": ["..." | {"kr": ...}]}]}"""
    flat: list[tuple[str, dict[str, Any]]] = []
    cycles: dict[str, str] = {}
    for i, obj in enumerate(objectives, 1):
        if not isinstance(obj, dict):
            raise InputError(source, f"objective {i}", "expected an object")
        title = obj.get("objective", obj.get("title"))
        krs = obj.get("key_results", obj.get("krs", []))
        if not isinstance(krs, list):
            raise InputError(source, f"objective {i}", "field 'key_results' must be a list")
        cycle = obj.get("cycle", obj.get("period", obj.get("quarter")))
        if isinstance(title, str) and isinstance(cycle, str) and cycle.strip():
            cycles[" ".join(title.split())] = cycle.strip()
        for j, kr in enumerate(krs, 1):
            rec = {"kr": kr} if isinstance(kr, str) else dict(kr) if isinstance(kr, dict) else kr
            if isinstance(rec, dict):
                rec.setdefault("objective", title)
                if isinstance(obj.get("team"), str) and obj["team"].strip():
                    rec.setdefault("team", obj["team"])  # {"objective": ..., "team": "Platform", ...}
            flat.append((f"objective {i} key result {j}", rec))
    okrs = _records_to_set(flat, source)
    for o in okrs.objectives:
        o.cycle = cycles.get(o.title or "")
    return okrs


def _read_csv(text: str, source: str) -> OKRSet:
    first = text.splitlines()[0] if text else ""
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputError(source, None, "file is empty") from None
    if not any(_column(h) == "kr" for h in header):
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

    return _records_to_set(rows(), source, fill_down=True)


# ------------------------------------------------------------------------------- outline reader
#
# Each line is first taken apart (`_lex`): indent, heading level, list marker (bullet, number,
# checkbox, emoji), Markdown and Google Docs markup, "Objective:" / "KR1:" labels. `parse_outline`
# then decides what the line is: an objective, a key result, a property of one (owner, due), or a
# line it does not take, which goes into `OKRSet.skipped` with the reason.

_WRAPPED = re.compile(r"(\*\*|__|\*|_)(.+)\1")
_CHECKBOX = re.compile(r"^\[[ xX]\]\s+")
# A bullet that states a number or a placeholder is a key result, whatever is nested under it.
_MEASURED = re.compile(r"\d|\[[^\]]*\]|\b(?:TBD|N0|X%?)(?!\w)")
_FIELD_KEYS = r"owners?|dri|driver|responsible|lead|due(?:\s+date)?|deadline|by|team|squad"
_PAREN_FIELDS = re.compile(rf"\s*[(\[]\s*((?:{_FIELD_KEYS})\s*[:=][^)\]]*)[)\]]", re.I)
_PAREN_PART = re.compile(rf"(?:^|[;,]\s*)({_FIELD_KEYS})\s*[:=]\s*", re.I)
_OWNER_TAGS = re.compile(r"(?:(?<=\s)|^)((?:@[A-Za-z][\w.\-]*[\s,]*)+)$")

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


def _split_owner(text: str) -> tuple[str, str | None]:
    body, fields = _split_fields(text)
    return body, fields.get("owner")


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
        cols = _Columns({h: [c[k] for _x, c in rows[1:] if k < len(c)]
                         for k, h in enumerate(header) if _ambiguous_key(h)})
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


def team_from_name(name: str) -> str | None:
    """The team a file stands for when several are reviewed together: its stem ("marketing.md" ->
    "marketing"); none for standard input."""
    if not name or name == "-" or name.startswith("<"):
        return None
    stem = Path(name).stem.strip()
    return stem or None


def name_team(okrs: OKRSet, team: str | None) -> OKRSet:
    """Give every KR without a team (no column, no heading) this team, in place; returns `okrs`."""
    if team:
        for kr in okrs.key_results():
            if not kr.team:
                kr.team = team
    return okrs


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


# --------------------------------------------------------------------------------------- writers


def _finding_line(f: Finding) -> str:
    where = f"objective “{f.objective}”" if f.scope == "objective" and f.objective else f.scope
    return f"[{f.code}] {where}: {f.message}"


class Writer:
    """Streams a review: `start()`, then `objective()` per ObjectiveReview, then `finish()`.

    Writers for people (Markdown, the table) put the plan review first. It needs every KR
    reviewed, so after `expect_plan()` they hold the objectives' text until `finish()`;
    `release()` writes what they hold without the plan (an interrupted run).
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._held: list[str] | None = None

    def start(self) -> None:  # noqa: D102 - optional hook
        pass

    def expect_plan(self) -> None:
        """A plan review will come with `finish()`: hold the objectives so it can go first."""
        self._held = []

    def _emit(self, text: str) -> None:
        if self._held is not None:
            self._held.append(text)
        else:
            self.out.write(text)
            self.out.flush()

    def release(self) -> None:
        """Write what is held, without the plan (the run stopped before it was complete)."""
        if self._held:
            self.out.write("".join(self._held))
            self.out.flush()
        self._held = None

    def _plan_then_held(self, plan_text: str) -> None:
        if plan_text:
            self.out.write(plan_text)
        self.release()

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
    """Same fields as the JSONL record; list fields (issues, rewrites) are JSON-encoded cells.

    Columns the reader passed through (unknown input columns) follow the stable fields, as in
    JSONL. The header names them all when the caller gives `columns` (see `passed_through`);
    otherwise it is written with the first objective and names the columns its key results carry
    (every row of a sheet has the same columns). A column first seen later has no place in a
    streamed header: `late` lists such columns.
    """

    def __init__(self, out: TextIO, columns: Iterable[str] | None = None) -> None:
        super().__init__(out)
        self.columns = list(columns) if columns is not None else None
        self.fields: tuple[str, ...] | None = None
        self.late: list[str] = []

    def start(self) -> None:
        self.csv = csv.writer(self.out, lineterminator="\n")
        if self.columns is not None:
            self._header(self.columns)

    def _header(self, extra: Iterable[str]) -> None:
        self.fields = RECORD_FIELDS + tuple(dict.fromkeys(c for c in extra if c not in RECORD_FIELDS))
        self.csv.writerow([csv_cell(f) for f in self.fields])

    def objective(self, review: ObjectiveReview) -> None:
        if self.fields is None:
            self._header(k for kr in review.krs for k in kr.extra)
        fields = self.fields or RECORD_FIELDS
        for kr in review.krs:
            rec = kr.record()
            self.late += [k for k in kr.extra if k not in fields and k not in self.late]
            # Every cell through csv_cell: a KR like =HYPERLINK(...) stays text in a spreadsheet.
            self.csv.writerow([
                csv_cell(json.dumps(v, ensure_ascii=False) if isinstance(v := rec.get(f), list) else v)
                for f in fields
            ])
        self.out.flush()

    def finish(self, review: OKRReview) -> None:
        if self.fields is None:
            self._header(())


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
            "skipped": [s.model_dump(mode="json") for s in review.skipped],
            # The plan review over every input (models.PlanReview), or null when the run had none.
            "plan": review.plan.model_dump(mode="json") if review.plan is not None else None,
        }
        self.out.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")


class MarkdownWriter(Writer):
    def objective(self, review: ObjectiveReview) -> None:
        buf = io.StringIO()
        w = buf.write
        team = review.krs[0].team if review.krs and all(k.team == review.krs[0].team for k in review.krs) else None
        w(f"## {_md_text(review.objective or 'Key results without an objective')}"
          f"{f' ({_md_text(team)})' if team and self._held is not None else ''}\n\n")
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
            for note in kr.notes:
                w(f"_Note: {_md_text(note)}_\n\n")
        self._emit(buf.getvalue())

    def finish(self, review: OKRReview) -> None:
        self._plan_then_held(plan_markdown(review) if review.plan is not None else "")
        s = review.summary()
        w = self.out.write
        if review.findings:
            w("## Whole set\n\n")
            for f in review.findings:
                w(f"> **{f.code}**: {_md_text(f.message)}\n\n")
        w(f"---\n{s['outcomes']} of {s['krs']} key results are outcomes; {s['need_work']} need work"
          f" (engine: {review.engine}{' ' + review.model if review.model else ''}"
          f"{', fallbacks: ' + str(s['fallbacks']) if s['fallbacks'] else ''}).\n")


# ------------------------------------------------------------------------------- plan review

_KILLERS_NOTE = ("three or fewer “yes” answers mean at least one silent killer is active")


def _plan_kr(k: Any) -> str:
    """'Team, KR 3: “text” (owner: Ana)' for a quoted KR, as Markdown."""
    team = f"{_md_text(k.team)}, " if k.team else ""
    owner = f" (owner: {_md_text(k.owner)})" if k.owner else " (no owner)"
    return f"{team}KR {_md_text(k.id)}: “{_md_text(k.kr)}”{owner}"


def _plan_heading(plan: Any, review: OKRReview) -> str:
    teams = len(plan.teams)
    objectives = sum(t.objectives for t in plan.teams)
    krs = sum(t.krs for t in plan.teams)
    return (f"{teams} team{'s' if teams != 1 else ''}, {objectives} objective{'s' if objectives != 1 else ''}, "
            f"{krs} key result{'s' if krs != 1 else ''}")


def cross_team_note(plan: Any) -> tuple[str, str | None]:
    """Which engine found the plan's cross-team findings ("rules", "llm · model"), and the
    fallback reason when the llm plan request could not be used (None otherwise). Plain text;
    the Markdown and table writers and the page's Plan panel escape it their own way."""
    ct = plan.cross_team
    who = f"{ct.engine} · {ct.model}" if ct.model else ct.engine
    if ct.status == "ok":
        return who, None
    return who, ct.error or f"{ct.status}, no reason given"


def plan_markdown(review: OKRReview) -> str:
    """The plan review as the first section of a Markdown review."""
    plan = review.plan
    if plan is None:
        return ""
    out: list[str] = []
    w = out.append
    w(f"## Plan review: {_plan_heading(plan, review)}\n\n")
    if plan.active_killers:
        names = "; ".join(f"**{_md_text(k.name)}** (#{k.number}): {_md_text(k.why.rstrip('.'))}"
                          for k in plan.active_killers)
        w(f"**Silent killers that look active:** {names}.\n\n")
    else:
        w("**Silent killers that look active:** none the document shows.\n\n")
    w(f"The draft answers “yes” to {plan.yes_answers} of the 5 audit questions; {_KILLERS_NOTE}.\n\n")
    w("### Cross-team findings\n\n")
    who, fell_back = cross_team_note(plan)
    w(f"_Found by the {_md_text(who)} engine._\n\n")
    if fell_back:
        w(f"_Fallback: the language model's plan review could not be used, so these are the rules "
          f"engine's findings. Reason: {_md_text(fell_back)}_\n\n")
    cross = [f for f in plan.findings if f.code in ("conflict", "duplicate", "dependency")]
    if not cross:
        w("No conflicts, duplicates or unanswered dependencies between teams.\n\n")
    titles = {"conflict": "Conflicts", "duplicate": "Duplicates", "dependency": "Dependencies"}
    for code, title in titles.items():
        items = [f for f in cross if f.code == code]
        if not items:
            continue
        w(f"**{title}** (`{code}`)\n\n")
        for n, f in enumerate(items, 1):
            if code == "dependency":
                head = f"{_md_text(f.teams[0])} → {_md_text(f.on_team or '')}"
                what = "" if f.on_team_in_plan else " (no OKRs in this plan)"
            else:
                head = " ↔ ".join(_md_text(t) for t in f.teams)
                what = f" — {_md_text(f.trade_off or f.measure or '')}" if (f.trade_off or f.measure) else ""
            w(f"{n}. **{head}**{what}\n")
            for k in f.krs:
                w(f"   - {_plan_kr(k)}\n")
            for k in f.also:
                w(f"   - also {_plan_kr(k)}\n")
            if code == "dependency":
                w(f"   - {_md_text(f.message)}\n")
            if f.question:
                w(f"   - **To settle:** {_md_text(f.question)}\n")
        w("\n")
    w("### Accountability and standard\n\n")
    w("| team | objectives | key results | metric from X to Y by date | one named owner | cycle | objectives with numbers | outputs |\n")
    w("|---|---:|---:|---:|---:|---|---:|---:|\n")
    for t in plan.teams:
        w(f"| {_md_text(t.team or '(no team)')} | {t.objectives} | {t.krs} | {t.from_to_by} ({t.from_to_by_share:.0%}) | "
          f"{t.single_owner} of {t.krs} | {_md_text(', '.join(t.cycles) or 'not stated')} | {t.objectives_with_numbers} | "
          f"{t.outputs} |\n")
    w("\n")
    standard = [f for f in plan.findings if f.code not in titles]
    for f in standard:
        q = f" *To settle:* {_md_text(f.question)}" if f.question else ""
        w(f"- `{f.code}`: {_md_text(f.message)}{q}\n")
    if standard:
        w("\n")
    w("### Ambition and direction\n\n")
    if plan.ambition:
        for a in plan.ambition:
            w(f"- `{a.code}` — {_plan_kr(a.kr)}: {_md_text(a.message)}\n")
    else:
        w("No target on the wrong side of its baseline, equal to it, or barely moved from it.\n")
    w("\n### The five-question audit\n\n")
    w("| # | question | answer | evidence |\n|---|---|---|---|\n")
    for a in plan.audit:
        ev = " ".join(_md_text(e) for e in a.evidence) or "—"
        w(f"| {a.number} | {_md_text(a.question)} | **{a.answer}** | {ev} |\n")
    w("\n---\n\n")
    return "".join(out)


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
        self._emit("\n".join(lines))

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
            extras = [f"owner {kr.owner}" if kr.owner else "", f"team {kr.team}" if kr.team else "",
                      f"stretch {kr.extra['stretch']}" if kr.extra.get("stretch") else ""]
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
            for note in kr.notes:
                row("note", _plain(note), note=True)
        lines.append("")
        return lines

    def _plan_lines(self, review: OKRReview) -> list[str]:
        """The plan review as plain text, before the objectives."""
        plan = review.plan
        if plan is None:
            return []
        paint, width = self._paint, self.width
        title = f"PLAN REVIEW: {_plan_heading(plan, review)}"
        lines = [paint(title, "1"), paint("═" * min(len(title), width), "2")]

        def para(text: str, indent: str = "  ") -> None:
            wrapped = _wrap(_plain(text), width - len(indent))
            lines.extend(indent + part for part in wrapped)

        if self.compact:
            for f in plan.findings:
                lines.append(f"!  {paint(f.code, '1')}: {_plain(f.message)}")
            for a in plan.ambition:
                lines.append(f"!  {paint(a.code, '1')}: {_plain(a.kr.team or '')} KR {_plain(a.kr.id)}: {_plain(a.message)}")
            audit = ", ".join(f"{a.number} {a.answer}" for a in plan.audit)
            lines.append(f"audit: {audit}; active: {', '.join(k.name for k in plan.active_killers) or 'none'}")
            who, fell_back = cross_team_note(plan)
            lines.append(f"cross-team findings: {_plain(who)}" + (f"; fallback: {_plain(fell_back)}" if fell_back else ""))
            lines.append("")
            return lines
        killers = "; ".join(f"{k.name} (#{k.number})" for k in plan.active_killers) or "none the document shows"
        para(f"Silent killers that look active: {killers}. The draft answers yes to {plan.yes_answers} of 5 audit "
             f"questions; {_KILLERS_NOTE}.")
        lines.append("")

        def kr_line(k: Any, lead: str) -> None:
            owner = f" (owner: {k.owner})" if k.owner else " (no owner)"
            para(f"{lead}{k.team + ', ' if k.team else ''}KR {k.id}: “{k.kr}”{owner}", "      ")

        who, fell_back = cross_team_note(plan)
        lines.append(f"  {paint('Cross-team findings', '1')} (found by the {_plain(who)} engine)")
        if fell_back:
            para(f"Fallback: the language model's plan review could not be used, so these are the "
                 f"rules engine's findings. Reason: {fell_back}")
        cross = [f for f in plan.findings if f.code in ("conflict", "duplicate", "dependency")]
        if not cross:
            para("No conflicts, duplicates or unanswered dependencies between teams.")
        for n, f in enumerate(cross, 1):
            if f.code == "dependency":
                head = f"{f.teams[0]} → {f.on_team}" + ("" if f.on_team_in_plan else " (no OKRs in this plan)")
            else:
                head = " ↔ ".join(f.teams) + (f": {f.trade_off or f.measure}" if (f.trade_off or f.measure) else "")
            lines.append(f"  {paint(f.code, '1')} {n}. {_plain(head)}")
            for k in f.krs:
                kr_line(k, "")
            for k in f.also:
                kr_line(k, "also ")
            if f.code == "dependency":
                para(f.message, "      ")
            if f.question:
                para(f"to settle: {f.question}", "      ")
        lines.append("")
        lines.append(paint("Accountability and standard", "1"))
        for t in plan.teams:
            para(f"{t.team or '(no team)'}: {t.objectives} objective(s), {t.krs} KRs, {t.from_to_by} "
                 f"({t.from_to_by_share:.0%}) in metric-from-to-by form, {t.single_owner} with one named owner, "
                 f"cycle {', '.join(t.cycles) or 'not stated'}, {t.objectives_with_numbers} objective(s) with "
                 f"numbers, {t.outputs} output(s)")
        for f in plan.findings:
            if f.code not in ("conflict", "duplicate", "dependency"):
                hang = "  " + " " * (len(f.code) + 2)
                wrapped = _wrap(_plain(f.message), width - len(hang))
                lines.append(f"  {paint(f.code, '1')}: {wrapped[0]}")
                lines += [hang + more for more in wrapped[1:]]
        lines.append("")
        lines.append(paint("Ambition and direction", "1"))
        if not plan.ambition:
            para("No target on the wrong side of its baseline, equal to it, or barely moved from it.")
        for a in plan.ambition:
            para(f"{a.code}: {a.kr.team + ', ' if a.kr.team else ''}KR {a.kr.id} “{a.kr.kr}”: {a.message}")
        lines.append("")
        lines.append(paint("Five-question audit", "1"))
        for a in plan.audit:
            para(f"{a.number}. {a.question} {a.answer.upper()}", "  ")
            for e in a.evidence:
                para(e, "       ")
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
        self._plan_then_held("\n".join(self._plan_lines(review)) + "\n" if review.plan is not None else "")
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


def passed_through(items: Iterable[OKRSet | OKRReview]) -> list[str]:
    """The passed-through (unknown input) columns of inputs or reviews, in order of appearance:
    the `columns` a CSVWriter needs to name them all in its header."""
    seen: dict[str, None] = {}
    for item in items:
        krs = item.key_results() if isinstance(item, OKRSet) else item.kr_reviews()
        for kr in krs:
            seen.update(dict.fromkeys(kr.extra))
    return list(seen)


def render(review: OKRReview, fmt: str) -> str:
    """A whole review as text in one of OUTPUT_FORMATS."""
    buf = io.StringIO()
    writer = CSVWriter(buf, columns=passed_through([review])) if fmt == "csv" else WRITERS[fmt](buf)
    if review.plan is not None:
        writer.expect_plan()
    writer.start()
    for obj in review.objectives:
        writer.objective(obj)
    writer.finish(review)
    return buf.getvalue()
