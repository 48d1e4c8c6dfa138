"""The workshop's named endpoints, for `gradio_client` and plain HTTP (the README lists them):
`workshop_create`, `workshop_join`, `workshop_submit`, `workshop_state`, `workshop_vote`, and the
facilitator's `workshop_board`, `workshop_reveal`, `workshop_voting`, `workshop_names`,
`workshop_close`, `workshop_reopen`, `workshop_timer`, `workshop_favourite`, `workshop_export`,
`workshop_summary`.

Each checks its arguments at the door (`web.validate`), calls one `domain` function and returns
its dict (or text) as it is: these shapes are what clients rely on. A refusal is a `gr.Error`
with the same one-sentence message the pages show. Submissions go through the app's one
`SubmitPacer`, like the page's.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from krcoach.web import validate
from krcoach.workshop import domain as ws
from krcoach.workshop.backend import ADMIN_GROUP, POLL_CONCURRENCY, POLL_GROUP, Backend
from krcoach.workshop.identity import client_address, session_device
from krcoach.workshop.links import base_url, facilitator_url, join_url

#: Raw text may run to this many times a workshop field's limit (which the workshop measures
#: after collapsing whitespace) before the API refuses it unread.
RAW_SLACK = 10


def add_endpoints(backend: Backend) -> None:
    """Add the named endpoints to the open Blocks (they serve every route alike)."""

    def call(fn, *args, **kwargs):
        try:
            return fn(backend.store, *args, **kwargs)
        except ws.WorkshopError as err:
            raise gr.Error(err.message, print_exception=False) from None

    # Door checks (krcoach.web.validate), first thing in every endpoint: a value of the wrong type,
    # size or kind (inf, nan, a list for a number, 5 MB for a name) gets one readable line, never
    # a traceback. Codes and tokens go through `validate.opaque`, so a malformed one gets the
    # workshop's one uniform answer; a facilitator's other arguments are judged only after the
    # facilitator's rights are (`after_rights`), as the workshop itself does.
    def check(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except validate.InputError as err:
            raise gr.Error(err.message, print_exception=False) from None

    def after_rights(code, token, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except validate.InputError as err:
            call(ws._check_facilitator, code, token)  # a stranger gets the facilitator-only answer
            raise gr.Error(err.message, print_exception=False) from None

    def one_line(value: Any, field: str, limit: int) -> str:
        return check(validate.text, value, field, limit=limit, controls=False, slack=RAW_SLACK)

    def keys(*values: Any) -> list[str]:
        return [validate.opaque(v) for v in values]

    def workshop_create(title: str, krs: list[str], request: gr.Request) -> dict:
        """Create a workshop from a title and the KRs to rewrite. Returns the join code, the
        facilitator token (shown once), the join URL and the private facilitator URL."""
        title = one_line(title, "The workshop title", ws.MAX_TITLE_CHARS)
        krs = check(validate.texts, krs, "The KRs to rewrite",
                    limit=ws.MAX_ITEMS * ws.MAX_ITEM_CHARS, items=ws.MAX_ITEMS * RAW_SLACK,
                    item_limit=ws.MAX_ITEM_CHARS, slack=RAW_SLACK)
        made = call(ws.create_workshop, title, krs, engine_name=backend.engine_name,
                    client=client_address(request))
        root = base_url(request)
        return {**made, "join_url": join_url(root, made["code"]),
                "facilitator_url": facilitator_url(root, made["code"], made["facilitator_token"])}

    def workshop_join(code: str, name: str = "", request: gr.Request = None) -> dict:  # type: ignore[assignment]
        """Join a workshop (name optional). Returns the participant token: keep it."""
        (code,) = keys(code)
        name = one_line(name, "Your name", ws.MAX_NAME_CHARS)
        return call(ws.join, code, name or None, client=client_address(request),
                    device=session_device(request))

    def workshop_state(code: str, participant_token: str) -> dict:
        """What a participant sees: KRs, own latest rewrites with reviews, round state, timer,
        and the room's rewrites once revealed."""
        code, participant_token = keys(code, participant_token)
        return call(ws.participant_state, code, participant_token)

    async def workshop_submit(code: str, participant_token: str, kr_number: int, text: str,
                              request_id: str = "") -> dict:
        """Submit a rewrite of KR `kr_number` (1-based); returns it with the coach's review.
        A repeated `request_id` returns the stored submission instead of writing it twice.
        Too many at once: "Busy, retry in N s"."""
        code, participant_token, request_id = keys(code, participant_token, request_id)
        kr_number = check(validate.whole_number, kr_number, "The KR number")
        text = one_line(text, "Your rewrite", ws.MAX_SUBMISSION_CHARS)
        try:
            return await backend.pacer.submit(backend.store, code, participant_token, kr_number,
                                              text, backend.engine, request_id or None)
        except ws.WorkshopError as err:
            raise gr.Error(err.message, print_exception=False) from None

    def workshop_vote(code: str, participant_token: str, submission_id: int,
                      request: gr.Request = None) -> dict:  # type: ignore[assignment]
        """Vote for someone else's rewrite (one vote per KR; voting again moves it)."""
        code, participant_token = keys(code, participant_token)
        submission_id = check(validate.whole_number, submission_id, "The submission id")
        return call(ws.vote, code, participant_token, submission_id, client=client_address(request))

    def workshop_board(code: str, facilitator_token: str) -> dict:
        """The facilitator's board: per KR, latest rewrites with verdicts, outcome share, most
        common issues, who has not submitted."""
        code, facilitator_token = keys(code, facilitator_token)
        return call(ws.board, code, facilitator_token)

    def workshop_reveal(code: str, facilitator_token: str, revealed: bool = True) -> dict:
        """Reveal the room's rewrites to participants (revealed=false hides them again)."""
        code, facilitator_token = keys(code, facilitator_token)
        revealed = after_rights(code, facilitator_token, validate.flag, revealed,
                                "The revealed flag", default=True)
        return call(ws.set_revealed, code, facilitator_token, revealed)

    def workshop_voting(code: str, facilitator_token: str, open: bool = True) -> dict:
        """Open (or close) voting; opening also reveals the rewrites."""
        code, facilitator_token = keys(code, facilitator_token)
        open = after_rights(code, facilitator_token, validate.flag, open, "The open flag",
                            default=True)
        return call(ws.set_voting, code, facilitator_token, open)

    def workshop_names(code: str, facilitator_token: str, hidden: bool = True) -> dict:
        """Hide (or show) participants' display names on the board, the room and exports."""
        code, facilitator_token = keys(code, facilitator_token)
        hidden = after_rights(code, facilitator_token, validate.flag, hidden, "The hidden flag",
                              default=True)
        return call(ws.set_names_hidden, code, facilitator_token, hidden)

    def workshop_close(code: str, facilitator_token: str) -> dict:
        """Close the round: submissions are refused until it is reopened."""
        code, facilitator_token = keys(code, facilitator_token)
        return call(ws.close_round, code, facilitator_token)

    def workshop_reopen(code: str, facilitator_token: str) -> dict:
        """Reopen a closed round."""
        code, facilitator_token = keys(code, facilitator_token)
        return call(ws.reopen_round, code, facilitator_token)

    def workshop_timer(code: str, facilitator_token: str, seconds: int) -> dict:
        """Start a countdown everyone sees (seconds=0 stops it)."""
        code, facilitator_token = keys(code, facilitator_token)
        seconds = after_rights(code, facilitator_token, validate.whole_number, seconds,
                               "The timer's seconds", default=0)
        return call(ws.set_timer, code, facilitator_token, seconds)

    def workshop_favourite(code: str, facilitator_token: str, submission_id: int,
                           favourite: bool = True) -> dict:
        """Pick (or unpick) a submission as a facilitator's favourite."""
        code, facilitator_token = keys(code, facilitator_token)
        submission_id = after_rights(code, facilitator_token, validate.whole_number,
                                     submission_id, "The submission id")
        favourite = after_rights(code, facilitator_token, validate.flag, favourite,
                                 "The favourite flag", default=True)
        return call(ws.set_favourite, code, facilitator_token, submission_id, favourite)

    def workshop_export(code: str, facilitator_token: str, fmt: str = "json") -> str:
        """Everything in the workshop as `csv`, `json` or `md` (before/after pairs) text."""
        code, facilitator_token = keys(code, facilitator_token)
        fmt = "json" if fmt is None else after_rights(code, facilitator_token, validate.text, fmt,
                                                      "The export format", limit=10)
        return call(ws.export, code, facilitator_token, fmt)

    def workshop_summary(code: str, facilitator_token: str) -> str:
        """A short plain-text summary for the facilitator's follow-up note."""
        code, facilitator_token = keys(code, facilitator_token)
        return call(ws.summary, code, facilitator_token)

    write = dict(concurrency_limit=POLL_CONCURRENCY, concurrency_id=ADMIN_GROUP)
    for fn in (workshop_create, workshop_join, workshop_state, workshop_vote, workshop_board,
               workshop_reveal, workshop_voting, workshop_names, workshop_close, workshop_reopen,
               workshop_timer, workshop_favourite, workshop_export, workshop_summary):
        gr.api(fn, api_name=fn.__name__, **(write if fn is not workshop_state else
                                            dict(concurrency_limit=POLL_CONCURRENCY,
                                                 concurrency_id=POLL_GROUP)))
    gr.api(workshop_submit, api_name="workshop_submit", concurrency_limit=None)  # see SubmitPacer

