"""Records with named fields (a CSV row, a JSON object, a Markdown table row) -> key results.

One vocabulary of column names (`_COLUMNS`: "Due date", "Owner (DRI)", "Key Result" ...), one
way to read a record into a `KeyResult` (`_kr_from_record`) and one way to group records into
objectives (`Grouping`): by (objective title, team) in order of first appearance, so objective-level
checks see all of an objective's KRs even when its rows are scattered through a file. The JSON
reader lives here; JSONL and CSV, which can be too large to hold, are read row by row in `rows.py`
with the same pieces.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from krcoach.formats.errors import _TOO_DEEP, InputError
from krcoach.formats.remarks import _split_fields
from krcoach.models import MAX_KR_CHARS, KeyResult, Objective, OKRSet, SkippedLine, trusted

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

    def __init__(self, numeric: dict[str, bool] | None = None) -> None:
        self.unknown: list[str] = []
        self.has_deadline = False
        self._maps: dict[tuple[str, ...], tuple[dict[str, str], set[str]]] = {}
        #: {column name: its values are all numbers} for columns whose meaning depends on what they
        #: hold ("Goal"; see `GoalSamples`).
        self.numeric = numeric or {}

    def _ambiguous(self, name: str, names: tuple[str, ...]) -> str | None:
        """What a "Goal" column is: the target where its values are numbers ("45%"), else the
        objective (sentences), unless the file has that column already (then it is passed through)."""
        others = {_column(n) for n in names if n != name}
        if self.numeric.get(name):
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
    # Every value is text or None by now: built without validation (which would build the model's
    # schema at start-up and check each field again), field by field in the model's order.
    return values.get("objective"), trusted(KeyResult, {
        "id": values.get("id") or rid, "kr": kr, "owner": owner, "source": f"{source}:{line}",
        **{f: values.get(f) for f in _KR_COLUMNS if f != "owner"}, "extra": extra})


class GoalSamples:
    """What the values of an ambiguous "Goal" column say, gathered over every record of a file:
    {column: True when it holds values and all are numbers (a target), else False} (see
    `_Columns._ambiguous`). Compact, so a file read row by row need not keep the values."""

    def __init__(self) -> None:
        self.numeric: dict[str, bool] = {}

    def add(self, rec: Any) -> None:
        if not isinstance(rec, dict):
            return
        for k, v in rec.items():
            name = str(k).strip()
            if not _ambiguous_key(name):
                continue
            seen = self.numeric.setdefault(name, None)  # type: ignore[arg-type]
            if isinstance(v, (str, int, float)) and not isinstance(v, bool) and str(v).strip():
                self.numeric[name] = (seen is None or seen) and _numeric_value(str(v))

    def verdicts(self) -> dict[str, bool]:
        return {k: bool(v) for k, v in self.numeric.items()}


class RecordReader:
    """Reads the records of one file in order: numbers them (the default id), fills a blank
    objective cell down from the row above in sheets (`fill_down`, where the objective cell is
    merged over its rows), and returns each record's objective title and key result."""

    def __init__(self, cols: _Columns, source: str, fill_down: bool = False) -> None:
        self.cols, self.source, self.fill_down = cols, source, fill_down
        self.row_no = 0
        self._above: str | None = None

    def read(self, where: str, rec: Any, row_no: int | None = None) -> tuple[str | None, KeyResult]:
        self.row_no = row_no if row_no is not None else self.row_no + 1
        if not isinstance(rec, dict):
            raise InputError(self.source, where, "expected an object with a 'kr' field")
        rec = {str(k).strip(): v for k, v in rec.items()}
        objective, kr = _kr_from_record(rec, self.cols, self.source, where, str(self.row_no), where)
        if self.fill_down:
            objective = self._above = objective or self._above
        return objective, kr


class Grouping:
    """Records grouped into objectives: one per (title, team), in order of first appearance (two
    teams that share an objective title keep their own KRs). `add` returns the group's index;
    `items[i]` holds what was added to group i (key results, or row numbers in `rows.py`)."""

    def __init__(self, new: Callable[[], Any] = list) -> None:
        self._new = new
        self.index: dict[tuple[str | None, str | None], int] = {}
        self.keys: list[tuple[str | None, str | None]] = []
        self.items: list[Any] = []
        #: False once a group gets a row after another group's row: its rows are scattered.
        self.consecutive = True

    def add(self, title: str | None, team: str | None, item: Any) -> int:
        key = (title, team)
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.keys)
            self.keys.append(key)
            self.items.append(self._new())
        elif i != len(self.keys) - 1:
            self.consecutive = False
        self.items[i].append(item)
        return i


def _records_to_set(rows: Iterable[tuple[str, dict[str, Any]]], source: str,
                    fill_down: bool = False) -> OKRSet:
    """Group flat records by objective, in order of first appearance (see `Grouping`).

    Every record is read before any is validated: a "Goal" column's meaning depends on all of its
    values (`GoalSamples`), and a syntax error anywhere outranks a missing field.
    """
    rows = list(rows)
    samples = GoalSamples()
    for _where, rec in rows:
        samples.add(rec)
    cols = _Columns(samples.verdicts())
    reader = RecordReader(cols, source, fill_down)
    groups = Grouping()
    for where, rec in rows:
        objective, kr = reader.read(where, rec)
        groups.add(objective, kr.team, kr)
    return build_set(groups.keys, groups.items, cols.report(source, 1))


def build_set(keys: list[tuple[str | None, str | None]], krs: list[list[KeyResult]],
              skipped: list[SkippedLine]) -> OKRSet:
    """The OKRSet of grouped key results, assembled without validation (its parts are checked)."""
    return OKRSet.model_construct(objectives=[Objective.model_construct(title=t, krs=k) for (t, _), k in zip(keys, krs)],
                                  skipped=skipped)


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
