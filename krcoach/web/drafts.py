"""A draft as the server takes it: the limits, the checks and the parse every review route
shares (the drafting page, its `review` endpoint and `POST /api/review`), and the review put
back together from objectives that were streamed one at a time.

Here, below the page and the API, so both enforce the same limits with the same words and
neither imports the other. No Gradio: a refusal is a `DraftError`, which each caller turns into
its own answer (a message on the page, a `gr.Error`, a JSON error with a status).
"""

from __future__ import annotations

from typing import Any

from krcoach import checks, coach, formats
from krcoach.engine import Engine
from krcoach.models import MAX_KR_CHARS, ObjectiveReview, OKRReview, OKRSet
from krcoach.web import validate

#: At most this many key results per review (page and API).
MAX_KRS = 200
#: Hard cap on the pasted text, checked before parsing so a huge paste costs nothing.
MAX_TEXT_CHARS = MAX_KRS * (MAX_KR_CHARS + 200)


class DraftError(ValueError):
    """A draft the page refuses to review; `str()` is the message the person sees. `kind` says
    why, for callers that answer with a status (the JSON API): "invalid" (not text, control
    characters), "too_large" (over the page's limits) or "empty" (nothing to review)."""

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


def check_draft(text: Any) -> str:
    """The door of every drafting handler, before any parsing or rendering: the draft must be
    text (None is empty), at most MAX_TEXT_CHARS long (checked first: a 5 MB paste costs one
    len()), and free of lone surrogates and control characters (refused, naming the first and
    where it is)."""
    if text is None:
        return ""
    if not isinstance(text, str):
        raise DraftError(f"The draft must be text; got {validate.describe(text)}.")
    if len(text) > MAX_TEXT_CHARS:
        raise DraftError(f"The draft is {len(text):,} characters; at most {MAX_TEXT_CHARS:,} can "
                         "be reviewed at a time here. Split it, or use `krcoach review`.",
                         "too_large")
    lone = validate.surrogate(text)
    if lone:
        raise DraftError(validate.surrogate_message(text, lone, "The draft"))
    found = validate.control_char(text)
    if found:
        raise DraftError(validate.control_message(text, found))
    return text


def parse_draft(text: str | None) -> OKRSet:
    """Parse the draft and enforce the page limits, raising DraftError with a readable message."""
    text = check_draft(text)
    if not text.strip():
        raise DraftError("The draft is empty: paste or type your OKRs first.", "empty")
    try:
        okrs = formats.parse_outline(text, source="draft")
    except formats.InputError as exc:
        raise DraftError(_limit_message(exc), "too_large") from None  # a KR or title too long
    n = len(okrs.key_results())
    if n == 0:
        raise DraftError("No key results found. Put each key result on its own line, "
                         "for example as a bullet: “- Raise weekly active teams from 40 to 60”.",
                         "empty")
    if n > MAX_KRS:
        raise DraftError(f"The draft has {n} key results; at most {MAX_KRS} can be reviewed at "
                         "a time here. Split it, or use `krcoach review` for batches.", "too_large")
    return okrs


def _limit_message(exc: formats.InputError) -> str:
    """The parser's message in the words of the page ("line 3: this key result is ...")."""
    message = exc.message.replace("field 'kr'", "this key result")
    where = exc.where or ""
    return f"{where[:1].upper() + where[1:]}: {message}." if where else f"{message}."


def assemble(okrs: OKRSet, done: list[ObjectiveReview], eng: Engine) -> OKRReview:
    """The OKRReview `coach.review` would build, from objective reviews already streamed (the
    page's partial results for a slow engine, the API's NDJSON lines): the set's findings, the
    lines read as neither, and the plan review when the draft has one."""
    result = OKRReview(objectives=done, findings=checks.set_findings(okrs), engine=eng.name,
                       model=eng.model, skipped=list(okrs.skipped))
    if coach.wants_plan(okrs):
        result.plan = coach.plan_review(okrs, result, eng)
    return result
