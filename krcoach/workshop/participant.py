"""The participant page (`/workshop`, join link `/workshop?code=K7QF2M`): join with the code and
an optional name, rewrite each KR, get the coach's review of every submission at once, revise,
and, once the facilitator reveals them, see and vote on the room's rewrites.

The page has one slot per KR (up to `domain.MAX_ITEMS`, shown as the workshop needs them). The
identity is the browser's (`identity`), the state the database's: handlers are thin calls into
`domain`, drawn with `render`. Each handler answers with a dict keyed by component, so the page
can gain an output without the others shifting; a key left out is left as it is on screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from krcoach.web import validate
from krcoach.workshop import domain as ws
from krcoach.workshop import identity
from krcoach.workshop.backend import POLL_CONCURRENCY, POLL_GROUP, Backend
from krcoach.workshop.render import (
    ACTION_JS,
    COUNTDOWN_JS,
    CSS,
    fingerprint,
    render_error,
    render_feedback,
    render_kr,
    render_message,
    render_room,
    render_status,
)

#: Seconds between a participant page's checks for a new round state or newly revealed rewrites.
PARTICIPANT_POLL_S = 4.0

# Each "Get feedback" press sends a request id made in the browser: a new one for a new attempt,
# the same one again when the same text for the same KR is sent after an attempt that got no
# answer (the connection dropped, the server restarted), so a retry returns the stored rewrite
# instead of storing it twice. The attempt waits in localStorage until its answer arrives
# (_REQUEST_DONE_JS). getRandomValues, not randomUUID: a venue's http:// address is no secure
# context. SLOT is replaced by the KR number.
_REQUEST_ID_JS = """
(ident, text, rid) => {
  const key = 'krcoach_workshop_pending_SLOT';
  let pending = null;
  try { pending = JSON.parse(localStorage.getItem(key) || 'null'); } catch (e) { pending = null; }
  if (!pending || typeof pending.id !== 'string' || pending.text !== text) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    pending = {id: Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(''), text};
    try { localStorage.setItem(key, JSON.stringify(pending)); } catch (e) { /* private mode */ }
  }
  return [ident, text, pending.id];
}
"""
_REQUEST_DONE_JS = """
(rid) => {
  const key = 'krcoach_workshop_pending_SLOT';
  try {
    const pending = JSON.parse(localStorage.getItem(key) || 'null');
    if (pending && pending.id === rid) localStorage.removeItem(key);
  } catch (e) { /* nothing to clear */ }
  return [];
}
"""


@dataclass(frozen=True)
class _Slot:
    """One KR's part of the page: the KR, the rewrite box and its button, the coach's feedback,
    the room's rewrites (with vote buttons) and the request id of the attempt in flight."""

    group: gr.Group
    kr: gr.HTML
    text: gr.Textbox
    btn: gr.Button
    feedback: gr.HTML
    room: gr.HTML
    rid: gr.Textbox


def _slot(number: int) -> _Slot:
    with gr.Group(visible=False, elem_id=f"ws-slot-{number}", elem_classes=["ws-slot"]) as group:
        kr = gr.HTML("", elem_id=f"ws-kr-{number}")
        text = gr.Textbox(label="Your rewrite", lines=2, max_lines=6,
                          max_length=ws.MAX_SUBMISSION_CHARS, elem_id=f"ws-text-{number}",
                          placeholder="[metric] from [X] to [Y] by [date]")
        btn = gr.Button("Get feedback", variant="primary", size="md",
                        elem_id=f"ws-submit-{number}")
        feedback = gr.HTML("", elem_id=f"ws-feedback-{number}")
        room = gr.HTML("", elem_id=f"ws-roomlist-{number}", js_on_load=ACTION_JS)
        # The request id of the attempt in flight (made by _REQUEST_ID_JS in the browser).
        rid = gr.Textbox("", visible=False, elem_id=f"ws-rid-{number}")
    return _Slot(group, kr, text, btn, feedback, room, rid)


def build_page(demo: gr.Blocks, backend: Backend) -> None:
    """Add the participant page to the open route of `demo`: components, then events."""
    gr.HTML('<div class="ws-page"><h2>Workshop</h2><p class="ws-lead">Rewrite activity-shaped key '
            'results as outcomes, with the coach reviewing every version.</p></div>',
            head=f"<style>{CSS}</style>", elem_classes=["ws-page"])
    ident = gr.BrowserState({}, storage_key="krcoach_workshop_participant",
                            secret=identity.BROWSER_SECRET)
    seen = gr.State("")  # the fingerprint of the state on screen: a poll that matches it skips
    with gr.Column(visible=True, elem_id="ws-join", elem_classes=["ws-page"]) as join_box:
        code_in = gr.Textbox(label="Join code", placeholder="K7QF2M", max_lines=1, max_length=12,
                             elem_id="ws-code-input")
        name_in = gr.Textbox(label="Your name (optional)", max_lines=1,
                             max_length=ws.MAX_NAME_CHARS, elem_id="ws-name-input",
                             info="Leave it empty to take part anonymously.")
        # Enabled by the page's load event, so a quick tap cannot race the identity check.
        join_btn = gr.Button("Join", variant="primary", elem_id="ws-join-btn", interactive=False)
        join_msg = gr.HTML("", elem_id="ws-join-msg")
    with gr.Column(visible=False, elem_id="ws-room", elem_classes=["ws-page"]) as room_box:
        status = gr.HTML("", elem_id="ws-status", js_on_load=COUNTDOWN_JS)
        slots = [_slot(i + 1) for i in range(ws.MAX_ITEMS)]
        leave_btn = gr.Button("Leave this workshop on this device", size="sm", variant="secondary",
                              elem_id="ws-leave")
    poll = gr.Timer(PARTICIPANT_POLL_S, active=False)

    # What the page's screens change: the join form or the room, the slots, the identity.
    screen = [join_box, room_box, join_btn, code_in, join_msg, status, poll, seen,
              *(c for s in slots for c in (s.group, s.kr, s.text, s.feedback, s.btn, s.room)),
              ident]
    # What a poll changes: the round state and, per slot, its button and the room's rewrites.
    live = [status, seen, *(c for s in slots for c in (s.btn, s.room))]

    def live_updates(state: dict[str, Any]) -> dict[Any, Any]:
        """The parts a new round state changes (the typed rewrites and feedback stay)."""
        out: dict[Any, Any] = {status: render_status(state), seen: fingerprint(state)}
        for slot, entry in zip(slots, state["items"]):
            out[slot.btn] = gr.Button(interactive=state["round_open"])
            out[slot.room] = render_room(entry, state["voting_open"])
        return out

    def show_room(state: dict[str, Any], ident_out: Any) -> dict[Any, Any]:
        """The room for `state`: a slot per KR with the latest rewrite and its feedback."""
        out: dict[Any, Any] = {
            join_box: gr.Column(visible=False), room_box: gr.Column(visible=True),
            join_btn: gr.Button(interactive=True), code_in: state["code"], join_msg: "",
            poll: gr.Timer(active=True), ident: ident_out,
        }
        for i, slot in enumerate(slots):
            if i < len(state["items"]):
                entry = state["items"][i]
                mine = entry["mine"]
                out |= {slot.group: gr.Group(visible=True),
                        slot.kr: render_kr(entry["number"], entry["text"]),
                        slot.text: mine["text"] if mine else "", slot.feedback: render_feedback(mine)}
            else:
                out |= {slot.group: gr.Group(visible=False), slot.kr: "", slot.text: "",
                        slot.feedback: ""}
        return out | live_updates(state)

    def show_join(code: str | None, message: str, ident_out: Any) -> dict[Any, Any]:
        """The join form (prefilled with `code` when known); the slots stay as they were."""
        out: dict[Any, Any] = {
            join_box: gr.Column(visible=True), room_box: gr.Column(visible=False),
            join_btn: gr.Button(interactive=True), join_msg: message, status: "",
            poll: gr.Timer(active=False), seen: "", ident: ident_out,
        }
        if code:
            out[code_in] = code
        return out

    def on_load(ident_in: Any, request: gr.Request) -> dict[Any, Any]:
        had_device = identity.device_of(ident_in) is not None
        ident_in = identity.with_device(ident_in)
        code = identity.query_code(request) or ident_in.get("last")
        token = identity.token_for(ident_in, code)
        if code and token:
            try:
                state = ws.participant_state(backend.store, code, token)
                return show_room(state, identity.with_token(ident_in, state["code"], token))
            except ws.WorkshopError:
                return show_join(code, "", identity.with_token(ident_in, code, None))
        return show_join(code, "", gr.skip() if had_device else ident_in)

    def on_join(code: str, name: str, ident_in: Any, request: gr.Request) -> dict[Any, Any]:
        ident_in = identity.with_device(ident_in)  # kept even when refused: attempts count on it
        try:
            try:
                norm = ws.normalize_code(code)
            except ws.WorkshopError:  # ws.join gives the uniform answer and counts the attempt
                norm = str(code or "")
            token = identity.token_for(ident_in, norm)
            if token:  # already joined from this browser: continue as the same person
                try:
                    if (name or "").strip():
                        ws.rename(backend.store, norm, token, name)
                    state = ws.participant_state(backend.store, norm, token)
                    return show_room(state, identity.with_token(ident_in, norm, token))
                except ws.Forbidden:
                    pass
            joined = ws.join(backend.store, norm, name, client=identity.client_address(request),
                             device=identity.device_of(ident_in))
            state = ws.participant_state(backend.store, norm, joined["participant_token"])
            return show_room(state, identity.with_token(ident_in, norm, joined["participant_token"]))
        except ws.WorkshopError as err:
            return show_join(None, render_message(err.message), ident_in)

    def on_leave(ident_in: Any) -> dict[Any, Any]:
        code = identity.last_code(ident_in)
        device = identity.device_of(ident_in)
        forgotten = (identity.with_token(ident_in, code, None) if code
                     else ({"device": device} if device else {}))
        return show_join(code, "", forgotten)

    def on_poll(ident_in: Any, last: str) -> Any:
        code = identity.last_code(ident_in)
        token = identity.token_for(ident_in, code)
        if not (code and token):
            return gr.skip()
        try:
            state = ws.participant_state(backend.store, code, token)
        except ws.WorkshopError:
            return gr.skip()
        if fingerprint(state) == last:
            return gr.skip()  # nothing new: leave the page as it is
        return live_updates(state)

    def make_submit(number: int, slot: _Slot):
        async def on_submit(ident_in: Any, text: str, rid: Any) -> dict[Any, Any]:
            code = identity.last_code(ident_in)
            token = identity.token_for(ident_in, code)
            rid = rid if isinstance(rid, str) and rid else None
            if not (code and token):
                return {slot.feedback: render_error("Join the workshop first (your identity was "
                                                    "not found in this browser)."), slot.rid: rid}
            try:
                result = await backend.pacer.submit(backend.store, code, token, number, text,
                                                    backend.engine, rid)
            except ws.WorkshopError as err:
                return {slot.feedback: render_error(err.message), slot.rid: rid}
            return {slot.feedback: render_feedback(result), slot.rid: rid}
        return on_submit

    def make_vote(i: int):
        def on_vote(ident_in: Any, evt: gr.EventData, request: gr.Request) -> Any:
            code = identity.last_code(ident_in)
            token = identity.token_for(ident_in, code)
            data = evt._data if isinstance(evt._data, dict) else {}
            try:
                if data.get("action") == "vote":
                    sid = validate.whole_number(data.get("id"), "The submission id")
                    ws.vote(backend.store, code, token, sid,
                            client=identity.client_address(request))
                state = ws.participant_state(backend.store, code, token)
            except (ws.WorkshopError, validate.InputError) as err:
                gr.Warning(err.message)
                try:
                    state = ws.participant_state(backend.store, code, token)
                except ws.WorkshopError:
                    return gr.skip()
            if i >= len(state["items"]):  # a slot this workshop does not use
                return gr.skip()
            return render_room(state["items"][i], state["voting_open"])
        return on_vote

    quiet = dict(api_visibility="private", show_progress="hidden")
    polls = dict(concurrency_limit=POLL_CONCURRENCY, concurrency_id=POLL_GROUP)
    demo.load(on_load, inputs=[ident], outputs=screen, **quiet, **polls)
    for trigger in (join_btn.click, code_in.submit, name_in.submit):
        trigger(on_join, inputs=[code_in, name_in, ident], outputs=screen,
                api_visibility="private", show_progress="minimal", **polls)
    leave_btn.click(on_leave, inputs=[ident], outputs=screen, **quiet)
    poll.tick(on_poll, inputs=[ident, seen], outputs=live, **quiet, **polls)
    for i, slot in enumerate(slots):
        number = str(i + 1)
        slot.btn.click(make_submit(i + 1, slot), inputs=[ident, slot.text, slot.rid],
                       outputs=[slot.feedback, slot.rid],
                       js=_REQUEST_ID_JS.replace("SLOT", number),
                       api_visibility="private", show_progress="minimal",
                       concurrency_limit=None,  # the pacer holds the slots
                       ).success(None, inputs=[slot.rid],
                                 js=_REQUEST_DONE_JS.replace("SLOT", number),
                                 api_visibility="private", queue=False)
        slot.room.click(make_vote(i), inputs=[ident], outputs=slot.room,
                        api_visibility="private", show_progress="minimal", **polls)
