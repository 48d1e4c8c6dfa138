"""Readers (files, bytes, text -> OKRSet) and writers (OKRReview -> table/JSONL/JSON/CSV/Markdown).

The package, by concept (each module's docstring says why it is shaped as it is):

    errors.py     InputError: the one-line message naming file, row or line, and field
    source.py     bytes in: the size bound, formats from extensions, lines with byte offsets
    readers.py    which reader takes an input; read_path / read_bytes (whole), open_input
    rows.py       JSONL and CSV row by row: validated whole, then streamed objective by objective
    records.py    named fields -> key results: column names, the JSON reader, grouping
    remarks.py    "(owner: Ana; due: 30 Sep)" after a KR, as every reader peels it off
    outline.py    the Markdown / plain-text / Confluence / Slack outline; improved_draft
    writer.py     the Writer protocol (start, objective, finish) that lets the CLI stream
    writers.py    JSONL, CSV, JSON and Markdown writers, WRITERS, render
    table.py      the terminal table
    plan_text.py  the plan review as text (Markdown section, pieces the table and page share)

Every name importable from `krcoach.formats` before the split still is. They load on first use
(module `__getattr__`), so reading one JSONL file does not compile the outline reader's grammar.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the names below are, for readers and type checkers
    from krcoach.formats.errors import InputError
    from krcoach.formats.outline import _markup, improved_draft, parse_outline
    from krcoach.formats.plan_text import _md_text, cross_team_note, plan_heading, plan_markdown
    from krcoach.formats.readers import (ROW_FORMATS, name_team, open_input, read_bytes, read_path, sniff,
                                         team_from_name)
    from krcoach.formats.rows import RowFile, SetFacts
    from krcoach.formats.source import EXTENSIONS, INPUT_FORMATS, KR_FIELDS, MAX_INPUT_BYTES, max_input_bytes
    from krcoach.formats.table import TableWriter
    from krcoach.formats.writer import Writer
    from krcoach.formats.writers import (OUTPUT_FORMATS, RECORD_FIELDS, WRITERS, CSVWriter, JSONLWriter, JSONWriter,
                                         MarkdownWriter, passed_through, render)

#: Public name -> the module that defines it.
_WHERE = {
    "InputError": "errors",
    "EXTENSIONS": "source", "INPUT_FORMATS": "source", "MAX_INPUT_BYTES": "source", "max_input_bytes": "source",
    "KR_FIELDS": "source",
    "read_path": "readers", "read_bytes": "readers", "open_input": "readers", "sniff": "readers",
    "name_team": "readers", "team_from_name": "readers", "ROW_FORMATS": "readers",
    "RowFile": "rows", "SetFacts": "rows",
    "parse_outline": "outline", "improved_draft": "outline", "_markup": "outline",
    "Writer": "writer",
    "OUTPUT_FORMATS": "writers", "RECORD_FIELDS": "writers", "WRITERS": "writers", "render": "writers",
    "passed_through": "writers", "JSONLWriter": "writers", "CSVWriter": "writers", "JSONWriter": "writers",
    "MarkdownWriter": "writers",
    "TableWriter": "table",
    "plan_markdown": "plan_text", "cross_team_note": "plan_text", "plan_heading": "plan_text", "_md_text": "plan_text",
}

__all__ = sorted(n for n in _WHERE if not n.startswith("_"))


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # the next look-up is a plain global
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
