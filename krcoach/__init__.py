"""krcoach: coaching for OKR key results.

The public API is small: read OKRs (`parse_outline`, `read_path`), `review` them with an engine
(`rules` by default, `llm` with an endpoint), and render the result.

Names load on first use (module `__getattr__`): `import krcoach` or running the CLI costs only
what is used, so `krcoach review` on a file does not build the page's or the plan's machinery.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from krcoach.version import __version__

if TYPE_CHECKING:  # what the names below are, for readers and type checkers
    from krcoach.coach import iter_review, review, review_text
    from krcoach.engine import make_engine
    from krcoach.formats import InputError, parse_outline, read_path, render
    from krcoach.models import (ISSUE_CODES, Issue, KeyResult, KRReview, Objective, ObjectiveReview, OKRReview,
                                OKRSet, Rewrite)

#: Public name -> the module that defines it.
_WHERE = {
    "iter_review": "coach", "review": "coach", "review_text": "coach",
    "make_engine": "engine",
    "InputError": "formats", "parse_outline": "formats", "read_path": "formats", "render": "formats",
    **dict.fromkeys(("ISSUE_CODES", "Issue", "KeyResult", "KRReview", "Objective", "ObjectiveReview", "OKRReview",
                     "OKRSet", "Rewrite"), "models"),
}

__all__ = [
    "ISSUE_CODES", "InputError", "Issue", "KRReview", "KeyResult", "OKRReview", "OKRSet", "Objective",
    "ObjectiveReview", "Rewrite", "iter_review", "make_engine", "parse_outline", "read_path", "render",
    "review", "review_text", "__version__",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
