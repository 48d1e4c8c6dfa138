"""JSONL and CSV, read row by row: validated whole first, then handed out one objective at a time.

These are the formats of large batches (a million KRs is a few hundred MB), so `RowFile` never
holds the input or its key results. It reads a seekable file twice:

1. `scan` reads every row, in order, as the whole-file readers always have: it refuses the file
   with the same one-line error before any work starts (text that is not UTF-8 outranks a syntax
   error, which outranks a bad field, whatever their order in the file), and keeps only compact
   facts: each row's byte offset and line number, which objective it belongs to, and what the
   set-level checks and the CSV header need (`SetFacts`, `extra_columns`).
2. `objectives()` yields the objectives in order of first appearance, each with all of its key
   results, by seeking to its rows. Rows of one objective that are scattered through the file are
   gathered exactly as the whole-file reader gathers them, so the records are the same bytes; a
   file whose objectives are consecutive is simply read front to back.

Memory is 16 bytes per row (its 8-byte offset, a 4-byte line number and its 4-byte index in its
objective) plus one entry per objective, instead of the rows themselves. `okrset()` builds the whole
OKRSet for callers that need it (the plan review, the table, Markdown and JSON outputs, the page).
"""

from __future__ import annotations

import csv
import os
from array import array
from collections.abc import Iterator
from typing import IO, Any, NamedTuple

from krcoach.formats.errors import _TOO_DEEP, InputError
from krcoach.formats.records import GoalSamples, Grouping, RecordReader, _column, _Columns, _json_loads, build_set
from krcoach.formats.source import Lines
from krcoach.models import KeyResult, Objective, OKRSet, SkippedLine

#: Set-level checks quote at most this many KR ids without an owner (see `checks.set_findings`).
_IDS_SHOWN = 5


class _Stub(NamedTuple):
    """What the set-level checks read of a key result (`SetFacts.key_results`)."""

    id: str
    owner: str | None
    team: str | None


class _Title(NamedTuple):
    title: str | None


class SetFacts:
    """The parts of an OKRSet that the set-level checks and the plan decision read, kept while a
    file streams: objective titles, whether any KR names an owner or a team, and, per objective,
    how many KRs lack an owner and the first few of their ids. `checks.set_findings(facts)`,
    `checks.set_uses_owners(facts)` and `plan.has_teams(facts)` give what they give for the set."""

    def __init__(self, rows: RowFile, team: str | None = None) -> None:
        self._rows, self._team = rows, team
        self.objectives = [_Title(t) for t, _ in rows.groups.keys]
        self.cycle: str | None = None
        self.skipped = rows.skipped

    def key_results(self) -> Iterator[_Stub]:
        """One stub with an owner (and a team) when the set has any, then one per KR without an
        owner: first the first few in objective order with their ids, then the rest without."""
        rows, team = self._rows, self._team
        if rows.any_owner or rows.any_team or team:
            yield _Stub("", "owner" if rows.any_owner else None, "team" if rows.any_team or team else None)
        for _g, _r, kid in sorted(rows.missing_first):
            yield _Stub(kid, None, None)
        for _ in range(rows.missing - len(rows.missing_first)):
            yield _Stub("", None, None)


class RowFile:
    """One JSONL or CSV input over a seekable binary file (see the module docstring).

    `source` names it in errors. The file stays open until `close()`; the caller owns neither
    the rows nor the file handle. Raises InputError from the constructor for any bad row."""

    def __init__(self, fh: IO[bytes], source: str, fmt: str) -> None:
        if fmt not in ("jsonl", "csv"):
            raise ValueError(f"RowFile reads jsonl or csv, not {fmt}")
        self.fh, self.source, self.fmt = fh, source, fmt
        self._stamp = _stamp(fh)
        try:
            self.scan()
        except RecursionError:  # a backstop: the JSON reader names the line itself
            raise InputError(source, None, _TOO_DEEP) from None

    # ------------------------------------------------------------------------------ pass 1

    def _reset(self, numeric: dict[str, bool] | None) -> None:
        self.lines = Lines(self.fh, self.source, universal=self.fmt == "csv")
        self.lines.seek(0)
        self.cols = _Columns(numeric)
        self.reader = RecordReader(self.cols, self.source, fill_down=self.fmt == "csv")
        self.samples = GoalSamples()
        #: Per data row: the byte offset where it starts and its line ("line n") or row ("row n").
        self.offsets = array("q")
        self.wheres = array("L")
        self.groups = Grouping(lambda: array("L"))
        self.any_owner = self.any_team = False
        self.missing = 0  # KRs without an owner
        #: The first few of them in objective order, as (objective, row, id): what the set check quotes.
        self.missing_first: list[tuple[int, int, str]] = []
        self._extras: list[tuple[str, ...]] = []  # per objective: extra fields in order of appearance
        self._interned: dict[tuple[str, ...], tuple[str, ...]] = {(): ()}
        #: The first row at or after which the file has a due column (`_Columns.has_deadline`).
        self.first_deadline_row: int | None = None
        self.header: list[str] = []
        self.delimiter = ","

    def scan(self, numeric: dict[str, bool] | None = None) -> None:
        """Pass 1. With a "Goal" column, whose meaning depends on all its values, the rows are
        checked a second time once those are known (`numeric`)."""
        self._reset(numeric)
        self.fh.seek(0)
        if b"\x00" in self.fh.read(8192):
            raise InputError(self.source, None, "looks like a binary file, not text")
        self.lines.seek(0)
        parse_error, valid_error = self._scan_jsonl() if self.fmt == "jsonl" else self._scan_csv()
        if parse_error is not None:
            self.lines.drain()  # text that is not UTF-8 later in the file outranks it
        if self.lines.blank:
            raise InputError(self.source, None, "file is empty")
        if parse_error is not None:
            raise parse_error
        if numeric is None and self.samples.numeric:
            self.scan(self.samples.verdicts())
            return
        if valid_error is not None:
            raise valid_error
        if not self.offsets:
            raise InputError(self.source, None, "no key results found")
        self.skipped: list[SkippedLine] = self.cols.report(self.source, 1)

    def _scan_jsonl(self) -> tuple[InputError | None, InputError | None]:
        lines = self.lines
        valid_error = None
        while True:
            start = lines.pos
            try:
                text = next(lines)
            except StopIteration:
                return None, valid_error
            if not text.strip():
                continue
            n = lines.number
            try:
                rec = _json_loads(text, self.source, n)
            except InputError as exc:
                return exc, None
            valid_error = self._row(start, n, f"line {n}", rec, valid_error)

    def _scan_csv(self) -> tuple[InputError | None, InputError | None]:
        lines = self.lines
        try:
            first = next(lines)
        except StopIteration:
            first = ""
        first = first.splitlines()[0] if first.splitlines() else ""
        self.delimiter = max((",", ";", "\t"), key=first.count)
        lines.seek(0)
        reader = csv.reader(lines, delimiter=self.delimiter)
        try:
            self.header = [h.strip() for h in next(reader)]
        except StopIteration:
            return InputError(self.source, None, "file is empty"), None
        except csv.Error as exc:
            return InputError(self.source, "row 1", f"malformed CSV ({exc})"), None
        if not any(_column(h) == "kr" for h in self.header):
            return InputError(self.source, "row 1", "no 'kr' or 'key_result' column in the header "
                              f"({', '.join(h for h in self.header if h) or 'empty'})"), None
        valid_error = None
        n = 1
        while True:
            start = lines.pos
            try:
                cells = next(reader)
            except StopIteration:
                return None, valid_error
            except csv.Error as exc:
                return InputError(self.source, f"row {reader.line_num}", f"malformed CSV ({exc})"), None
            n += 1
            if not any(c.strip() for c in cells):
                continue
            rec = {h: c for h, c in zip(self.header, cells) if h}
            valid_error = self._row(start, n, f"row {n}", rec, valid_error)

    def _row(self, start: int, n: int, where: str, rec: Any, valid_error: InputError | None) -> InputError | None:
        """Note one row's place; read it unless an earlier row was already refused."""
        r = len(self.offsets)
        self.offsets.append(start)
        self.wheres.append(n)
        self.samples.add(rec)
        if valid_error is not None:
            return valid_error
        try:
            objective, kr = self.reader.read(where, rec, row_no=r + 1)
        except InputError as exc:
            return exc
        if self.first_deadline_row is None and self.cols.has_deadline:
            self.first_deadline_row = r
        g = self.groups.add(objective, kr.team, r)
        if g == len(self._extras):
            self._extras.append(())
        self.any_owner = self.any_owner or bool(kr.owner)
        self.any_team = self.any_team or bool(kr.team)
        if not kr.owner:
            self.missing += 1
            first = self.missing_first
            if len(first) < _IDS_SHOWN or (g, r) < max(first)[:2]:
                first.append((g, r, kr.id))
                if len(first) > _IDS_SHOWN:
                    first.remove(max(first))
        if kr.extra:
            known = self._extras[g]
            new = tuple(k for k in kr.extra if k not in known)
            if new:
                merged = known + new
                self._extras[g] = self._interned.setdefault(merged, merged)
        return None

    # ------------------------------------------------------------------------------ facts

    @property
    def total(self) -> int:
        """How many key results the file holds."""
        return len(self.offsets)

    @property
    def consecutive(self) -> bool:
        """Whether each objective's rows are together in the file (then pass 2 reads straight on)."""
        return self.groups.consecutive

    def extra_columns(self) -> list[str]:
        """The passed-through fields of every key result, in the order `formats.passed_through`
        finds them in the whole set (objective by objective)."""
        seen: dict[str, None] = {}
        for names in self._extras:
            seen.update(dict.fromkeys(names))
        return list(seen)

    def facts(self, team: str | None = None) -> SetFacts:
        return SetFacts(self, team)

    # ------------------------------------------------------------------------------ pass 2

    def objectives(self, team: str | None = None) -> Iterator[Objective]:
        """Each objective with all its key results, in order of first appearance, read again from
        the file. `team` is given to every KR that names none (`readers.name_team`)."""
        if _stamp(self.fh) != self._stamp:
            raise InputError(self.source, None, "changed while it was being read; run again")
        reader = RecordReader(self.cols, self.source)
        lines = Lines(self.fh, self.source, universal=self.fmt == "csv")
        lines.seek(0)
        rows = csv.reader(lines, delimiter=self.delimiter) if self.fmt == "csv" else None
        header, offsets, wheres, deadline_from = self.header, self.offsets, self.wheres, self.first_deadline_row
        for (title, _team), members in zip(self.groups.keys, self.groups.items):
            krs: list[KeyResult] = []
            for r in members:
                if lines.pos != offsets[r]:
                    lines.seek(offsets[r])
                if rows is None:
                    rec = _json_loads(next(lines), self.source, wheres[r])
                    where = f"line {wheres[r]}"
                else:
                    rec = {h: c for h, c in zip(header, next(rows)) if h}
                    where = f"row {wheres[r]}"
                # As the file was read front to back: a period column fills the deadline only
                # before the first row that has a due column.
                self.cols.has_deadline = deadline_from is not None and r >= deadline_from
                _, kr = reader.read(where, rec, row_no=r + 1)
                if team and not kr.team:
                    kr.team = team
                krs.append(kr)
            yield Objective.model_construct(title=title, krs=krs)

    def okrset(self, team: str | None = None) -> OKRSet:
        """The whole set, as the whole-file readers build it."""
        objectives = list(self.objectives(team))
        return build_set([(o.title, None) for o in objectives], [o.krs for o in objectives], self.skipped)

    def close(self) -> None:
        self.fh.close()

    def __enter__(self) -> RowFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stamp(fh: IO[bytes]) -> tuple[int, int] | None:
    """Size and modification time of a real file, to notice a change between the two passes."""
    try:
        st = os.fstat(fh.fileno())
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None
    return st.st_size, st.st_mtime_ns
