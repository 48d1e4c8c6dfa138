"""The one table of issue codes (`data/issue_codes.json`): code, scope, label, meaning, need_work.

CLI, page, workshop, eval and the llm prompt all take their codes, labels and meanings from here,
so a code is named and explained in one place and a coach can reword a label without touching code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from krcoach.data import load_json


@dataclass(frozen=True)
class IssueCode:
    code: str
    scope: str  # kr | objective | set
    label: str
    meaning: str
    #: A KR with this issue "needs work": what it measures is wrong or missing, not a detail to fill in.
    need_work: bool
    #: Decided in code for every engine (from the whole set, or from the KR's numbers): never asked
    #: of a language model.
    by_code: bool = False


@cache
def table() -> dict[str, IssueCode]:
    raw = load_json("issue_codes.json")
    return {row["code"]: IssueCode(**row) for row in raw["codes"]}


def meanings() -> dict[str, str]:
    return {c.code: c.meaning for c in table().values()}


def labels() -> dict[str, str]:
    return {c.code: c.label for c in table().values()}


def kr_codes() -> tuple[str, ...]:
    return tuple(c.code for c in table().values() if c.scope == "kr")


def model_kr_codes() -> tuple[str, ...]:
    """The KR codes a language model may give: every KR code not decided in code."""
    return tuple(c.code for c in table().values() if c.scope == "kr" and not c.by_code)


def needs_work(codes: list[str] | set[str]) -> bool:
    t = table()
    return any(t[c].need_work for c in codes if c in t)
