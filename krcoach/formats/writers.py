"""Writers for the output formats (JSONL, CSV, JSON, Markdown; the table is `table.py`) and
`render`, which runs one into a string for the page, the API and tests.

Every machine format carries the stable per-KR record (`KRReview.record()`, fields in
`RECORD_FIELDS`) plus the columns the reader passed through.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import TextIO

from krcoach.formats.plan_text import _md_text, plan_markdown
from krcoach.formats.table import TableWriter
from krcoach.formats.writer import Writer
from krcoach.models import ObjectiveReview, OKRReview, OKRSet
from krcoach.safe import csv_cell

OUTPUT_FORMATS = ("table", "jsonl", "json", "csv", "md")
RECORD_FIELDS = ("id", "objective", "kr", "owner", "kind", "why", "issues", "rewrites", "engine",
                 "model", "status", "error", "confidence", "team", "notes")


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
