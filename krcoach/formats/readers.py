"""Which reader takes an input, and reading it whole (`read_path`, `read_bytes`) or row by row
(`open_input`).

Readers validate everything before any work starts and raise `InputError` with one line that
names the file, the row or line, and the field. Formats: JSONL and CSV (`rows.py`, which can
stream), JSON (`records.py`), and the Markdown / plain-text outline (`outline.py`, also
Confluence, Slack and pasted tables). The format comes from `--input-format`, else the extension,
else (piped text) from the text itself (`sniff`).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from krcoach.formats.errors import _TOO_DEEP, InputError
from krcoach.formats.records import _column, _read_json
from krcoach.formats.rows import RowFile
from krcoach.formats.source import (KR_FIELDS, Lines, check_input_format, format_from_name, max_input_bytes,
                                    open_seekable, read_all, stat_input)

if TYPE_CHECKING:
    from krcoach.models import OKRSet

#: The formats read row by row (`open_input` gives a `RowFile`); the others are read whole.
ROW_FORMATS = ("jsonl", "csv")


def read_path(path: str | Path, input_format: str | None = None) -> OKRSet:
    """Read one file (or `-` for standard input) into an OKRSet, validating it whole first.

    A FIFO or a device is read like standard input (a FIFO waits for its writer); every input is
    bounded by `max_input_bytes()`. Failing to read is an InputError naming the file."""
    got = open_input(path, input_format)
    if isinstance(got, RowFile):
        with got:
            return got.okrset()
    return got


def open_input(path: str | Path, input_format: str | None = None) -> RowFile | OKRSet:
    """One input, validated whole: JSONL and CSV as a `RowFile` that hands out its objectives one
    at a time without holding them (close it when done), the other formats as their OKRSet.

    Standard input and FIFOs in a row format are copied to a temporary file first (a row file is
    read twice); in the other formats every input is read into memory. Both are bounded by
    `max_input_bytes()`."""
    name = str(path)
    shown = "<stdin>" if name == "-" else name
    limit = max_input_bytes()
    fmt = input_format
    if name != "-":
        stat_input(name)  # no such file, a folder: before what its name says
        fmt = fmt or format_from_name(name)
    if fmt is not None and fmt not in ROW_FORMATS:  # md, json, or a format read_bytes refuses
        return read_bytes(read_all(name, limit), shown, fmt)
    fh = open_seekable(name, limit)
    try:
        if fmt is None:  # piped text: its first line says what it is
            fmt = sniff_file(fh, shown)
            if fmt not in ROW_FORMATS:
                data = fh.read()
                fh.close()
                return read_bytes(data, shown, fmt)
        return RowFile(fh, shown, fmt)
    except BaseException:
        fh.close()
        raise


def read_bytes(data: bytes, name: str, input_format: str | None = None) -> OKRSet:
    """Decode and parse uploaded or piped bytes. The format comes from the name unless given."""
    check_input_format(input_format, name)
    if not data or data.isspace():
        raise InputError(name, None, "file is empty")
    if b"\x00" in data[:8192]:
        raise InputError(name, None, "looks like a binary file, not text")
    text: str | None = None
    fmt = input_format
    if fmt is None and name.startswith("<"):
        text = _decode(data, name)
        fmt = sniff(text)
    fmt = fmt or format_from_name(name)
    if fmt in ROW_FORMATS:
        return RowFile(io.BytesIO(data), name, fmt).okrset()
    text = _decode(data, name) if text is None else text
    from krcoach.formats.outline import parse_outline

    readers = {"json": _read_json, "md": parse_outline}
    try:
        okrs = readers[fmt](text, name)
    except RecursionError:  # a backstop: the JSON readers name the line themselves
        raise InputError(name, None, _TOO_DEEP) from None
    if not okrs.key_results():
        raise InputError(name, None, "no key results found")
    return okrs


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(name, f"line {line}", "text is not UTF-8; save the file as UTF-8") from None


def sniff(text: str) -> str:
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


def sniff_file(fh: Any, name: str) -> str:
    """`sniff` over a seekable file, reading it only up to its first line with text on it.

    A NUL byte near the start and text that is not UTF-8 in those lines are refused here, as
    `read_bytes` refuses them before sniffing; the reader that takes the file checks the rest."""
    if b"\x00" in fh.read(8192):
        raise InputError(name, None, "looks like a binary file, not text")
    fh.seek(0)
    parts: list[str] = []
    for text in Lines(fh, name):
        parts.append(text)
        if text.strip():
            break
    fh.seek(0)
    return sniff("".join(parts))


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
