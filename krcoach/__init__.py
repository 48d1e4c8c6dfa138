"""krcoach: coaching for OKR key results.

The public API is small: read OKRs (`parse_outline`, `read_path`), `review` them with an engine
(`rules` by default, `llm` with an endpoint), and render the result.
"""

from __future__ import annotations

from krcoach.version import __version__  # noqa: E402

from krcoach.coach import iter_review, review, review_text  # noqa: E402
from krcoach.engine import make_engine  # noqa: E402
from krcoach.formats import InputError, parse_outline, read_path, render  # noqa: E402
from krcoach.models import (  # noqa: E402
    ISSUE_CODES,
    Issue,
    KeyResult,
    KRReview,
    Objective,
    ObjectiveReview,
    OKRReview,
    OKRSet,
    Rewrite,
)

__all__ = [
    "ISSUE_CODES", "InputError", "Issue", "KRReview", "KeyResult", "OKRReview", "OKRSet", "Objective",
    "ObjectiveReview", "Rewrite", "iter_review", "make_engine", "parse_outline", "read_path", "render",
    "review", "review_text", "__version__",
]
