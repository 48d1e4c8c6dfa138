"""The facilitator page (`/facilitate`; private link `/facilitate?code=K7QF2M&key=SECRET`):
create a workshop (pasted KRs or the starter deck), show the code, join link and QR code, watch
the live board, reveal, vote, close/reopen, run a timer, export.

The facilitator link lives in the browser (`identity`), so a reload brings the board back; the
key is then dropped from the address bar, as the page is often projected. Handlers are thin calls
into `domain`, drawn with `render`, and answer with a dict keyed by component.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import gradio as gr

from krcoach.rules.anatomy import clean_kr
from krcoach.web import validate
from krcoach.workshop import domain as ws
from krcoach.workshop import identity
from krcoach.workshop.backend import ADMIN_GROUP, POLL_CONCURRENCY, Backend
from krcoach.workshop.links import base_url, facilitator_url, join_url
from krcoach.workshop.render import (
    ACTION_JS,
    COUNTDOWN_JS,
    CSS,
    fingerprint,
    render_board,
    render_message,
    render_share,
)
from krcoach.workshop.store import Store

#: Seconds between the board's checks for new rewrites, votes and round changes.
BOARD_POLL_S = 2.5

# After the facilitator link is opened, drop the secret from the address bar (the page is often
# projected); the key stays in this browser's localStorage.
_STRIP_KEY_JS = """
() => {
  const url = new URL(window.location.href);
  if (url.searchParams.has('key')) {
    url.searchParams.delete('key');
    window.history.replaceState(null, '', url.pathname + (url.search || '') + url.hash);
  }
}
"""


def add_picked(current: str, picked: list[str]) -> str:
    """Append starter-deck KRs to the typed list in the list's own style ("- ", "* " or numbered),
    skipping any already there (bullets and "KR1:" prefixes do not make a KR different)."""
    lines = [ln for ln in (current or "").splitlines() if ln.strip()]
    style = re.match(r"\s*(?:([-*•])|\d+([.)]))\s+", lines[0]) if lines else None
    have = {clean_kr(ln).lower() for ln in lines}
    for kr in picked:
        if clean_kr(kr).lower() in have:
            continue
        have.add(clean_kr(kr).lower())
        if style and style.group(2):
            lines.append(f"{len(lines) + 1}{style.group(2)} {kr}")
        else:
            lines.append(f"{style.group(1)} {kr}" if style else kr)
    return "\n".join(lines)


class _Control(NamedTuple):
    """A round control: its button, when the board shows it, and what pressing it does."""

    name: str
    label: str
    shown: Callable[[dict[str, Any]], Any]  # whether the board shows it for a view
    call: Callable[..., Any]  # the workshop function, called with (store, code, key, *args)
    args: tuple[Any, ...]
    message: str  # the confirmation shown under the buttons


_CONTROLS = tuple(_Control(*c) for c in (
    ("close", "Close round", lambda v: v["round_open"], ws.close_round, (),
     "Round closed: new rewrites are refused."),
    ("reopen", "Reopen round", lambda v: not v["round_open"], ws.reopen_round, (), "Round reopened."),
    ("reveal", "Reveal to room", lambda v: not v["revealed"], ws.set_revealed, (True,),
     "Rewrites revealed to the room."),
    ("hide", "Hide from room", lambda v: v["revealed"], ws.set_revealed, (False,),
     "Rewrites hidden from the room."),
    ("voting", "Open voting", lambda v: not v["voting_open"], ws.set_voting, (True,),
     "Voting is open (rewrites are revealed)."),
    ("endvoting", "Close voting", lambda v: v["voting_open"], ws.set_voting, (False,),
     "Voting closed."),
    ("shownames", "Show names", lambda v: v["names_hidden"], ws.set_names_hidden, (False,),
     "Names are shown."),
    ("hidenames", "Hide names", lambda v: not v["names_hidden"], ws.set_names_hidden, (True,),
     "Names are hidden."),
))
_BY_NAME = {c.name: c for c in _CONTROLS}


def _act(name: str, store: Store, code: str, key: str, minutes: Any = None) -> str:
    """Run one facilitator control; returns the confirmation shown under the buttons."""
    if name in _BY_NAME:
        control = _BY_NAME[name]
        control.call(store, code, key, *control.args)
        return control.message
    if name == "timer":
        try:
            secs = int(round(float(minutes or 0) * 60))
        except (TypeError, ValueError, OverflowError):  # inf minutes: refused like any non-number
            secs = -1
        if secs <= 0:
            raise ws.WorkshopError("Set the timer to a number of minutes, 1 to 60.")
        ws.set_timer(store, code, key, secs)
        return f"Timer started: {secs // 60} min."
    if name == "stoptimer":
        ws.set_timer(store, code, key, 0)
        return "Timer stopped."
    raise ws.WorkshopError(f"Unknown action {name!r}.")  # pragma: no cover


_export_dir_lock = threading.Lock()


def write_exports(store: Store, code: str, key: str) -> list[str]:
    """The three export files for a download (transient copies; the database is the record)."""
    folder = Path(tempfile.gettempdir()) / "krcoach-workshop-exports" / hashlib.sha256(
        f"{code}:{key}".encode()).hexdigest()[:16]
    with _export_dir_lock:
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    paths = []
    for fmt in ws.EXPORT_FORMATS:
        path = folder / f"workshop-{code}.{fmt}"
        path.write_text(ws.export(store, code, key, fmt), encoding="utf-8")
        paths.append(str(path))
    return paths


def build_page(demo: gr.Blocks, backend: Backend) -> None:
    """Add the facilitator page to the open route of `demo`: components, then events."""
    deck = ws.starter_deck()
    gr.HTML('<div class="ws-page"><h2>Run a rewriting workshop</h2><p class="ws-lead">Show the room '
            'activity-shaped key results, let everyone rewrite them as outcomes from their phones, '
            'and watch the coach\'s verdicts arrive live.</p></div>',
            head=f"<style>{CSS}</style>", elem_classes=["ws-page"])
    fac = gr.BrowserState({}, storage_key="krcoach_workshop_facilitator",
                          secret=identity.BROWSER_SECRET)
    fseen = gr.State("")  # the fingerprint of the board on screen: a poll that matches it skips
    with gr.Column(visible=True, elem_id="ws-create", elem_classes=["ws-page"]) as create_box:
        title_in = gr.Textbox(label="Workshop title", value="From outputs to outcomes", max_lines=1,
                              max_length=ws.MAX_TITLE_CHARS, elem_id="ws-title-input")
        krs_in = gr.Textbox(label=f"KRs to rewrite, one per line (up to {ws.MAX_ITEMS})", lines=5,
                            max_lines=12, elem_id="ws-krs-input",
                            placeholder="Launch the spring email campaign\nHire 5 engineers")
        with gr.Row(equal_height=False, elem_id="ws-deck-row"):
            deck_pick = gr.Dropdown(label="Or pick from the starter deck", multiselect=True,
                                    choices=[(f"{d['function']}: {d['kr']}", d["kr"]) for d in deck],
                                    elem_id="ws-deck", scale=4)
            add_btn = gr.Button("Add picked KRs", elem_id="ws-deck-add", scale=1)
        create_btn = gr.Button("Create workshop", variant="primary", elem_id="ws-create-btn",
                               interactive=False)  # enabled once the page has loaded
        create_msg = gr.HTML("", elem_id="ws-create-msg")
    with gr.Column(visible=False, elem_id="ws-facilitator", elem_classes=["ws-page"]) as fac_box:
        share = gr.HTML("", elem_id="ws-share")
        with gr.Accordion("Your private facilitator link: keep it off the projector", open=False,
                          elem_id="ws-private"):
            private_link = gr.Textbox(show_label=False, interactive=False, buttons=["copy"],
                                      elem_id="ws-private-link")
            gr.HTML('<p class="ws-help">Anyone with this link can run this workshop. This browser '
                    'also remembers it, so reloading this page brings you back.</p>')
        with gr.Row(elem_id="ws-controls"):
            controls = {c.name: gr.Button(c.label, size="sm", elem_id=f"ws-{c.name}",
                                          variant="primary" if c.name in ("close", "reveal", "voting")
                                          else "secondary")
                        for c in _CONTROLS}
        with gr.Row(equal_height=False, elem_id="ws-timer-row"):
            minutes = gr.Number(label="Timer (minutes)", value=5, minimum=1, maximum=60, precision=0,
                                elem_id="ws-minutes", scale=1)
            timer_btn = gr.Button("Start timer", size="sm", elem_id="ws-timer-start", scale=1)
            stop_btn = gr.Button("Stop timer", size="sm", elem_id="ws-timer-stop", scale=1)
        action_msg = gr.HTML("", elem_id="ws-action-msg")
        board_html = gr.HTML("", elem_id="ws-board", js_on_load=COUNTDOWN_JS + ACTION_JS)
        with gr.Row(elem_id="ws-export-row"):
            export_btn = gr.Button("Export results and summary", variant="primary",
                                   elem_id="ws-export")
            new_btn = gr.Button("Start another workshop", variant="secondary", elem_id="ws-new")
        files = gr.File(label="Exports (CSV, JSON, Markdown)", file_count="multiple",
                        visible=False, elem_id="ws-files", interactive=False)
        summary_box = gr.Textbox(label="Summary for your follow-up note", lines=7, visible=False,
                                 buttons=["copy"], elem_id="ws-summary", interactive=False)
    board_timer = gr.Timer(BOARD_POLL_S, active=False)

    # What the board shows for a view: the board itself and the controls that apply.
    board_out = [board_html, fseen, *controls.values()]
    # What the page's screens change: the create form or the board, and the stored link.
    screen = [create_box, fac_box, create_btn, create_msg, share, private_link, board_timer, files,
              summary_box, *board_out, fac]
    acted = [action_msg, *board_out]

    def board_updates(view: dict[str, Any]) -> dict[Any, Any]:
        return {board_html: render_board(view), fseen: fingerprint(view),
                **{controls[c.name]: gr.Button(visible=bool(c.shown(view))) for c in _CONTROLS}}

    def show_board(view: dict[str, Any], key: str, fac_out: Any,
                   request: gr.Request | None) -> dict[Any, Any]:
        """The board for `view`, with the share panel and the private link; exports cleared."""
        root = base_url(request)
        link = join_url(root, view["code"])
        return {create_box: gr.Column(visible=False), fac_box: gr.Column(visible=True),
                create_btn: gr.Button(interactive=True), create_msg: "",
                share: render_share(view["code"], link),
                private_link: facilitator_url(root, view["code"], key),
                board_timer: gr.Timer(active=True), files: gr.File(visible=False, value=None),
                summary_box: gr.Textbox(visible=False, value=""), fac: fac_out,
                **board_updates(view)}

    def show_create(message: str, fac_out: Any) -> dict[Any, Any]:
        """The create form, with `message`; the board stops polling (and is kept as it was)."""
        return {create_box: gr.Column(visible=True), fac_box: gr.Column(visible=False),
                create_btn: gr.Button(interactive=True), create_msg: message,
                board_timer: gr.Timer(active=False), fseen: "", fac: fac_out}

    def on_load(fac_state: Any, request: gr.Request) -> dict[Any, Any]:
        params = dict(request.query_params) if request is not None else {}
        code = identity.query_code(request)
        key = params.get("key") or None
        if code is None and isinstance(fac_state, dict):
            code = fac_state.get("last")
        key = key or identity.token_for(fac_state, code)
        if code and key:
            try:
                view = ws.board(backend.store, code, key)
                return show_board(view, key, identity.with_token(fac_state, view["code"], key),
                                  request)
            except ws.WorkshopError as err:
                return show_create(render_message(err.message), gr.skip())
        return show_create("", gr.skip())

    def on_add(current: str, picked: list[str] | None) -> dict[Any, Any]:
        return {krs_in: add_picked(current, picked or []), deck_pick: []}

    def on_create(title: str, krs: str, fac_state: Any, request: gr.Request) -> dict[Any, Any]:
        try:
            made = ws.create_workshop(backend.store, title, krs or "",  # None: an empty box
                                      engine_name=backend.engine_name,
                                      client=identity.client_address(request))
            view = ws.board(backend.store, made["code"], made["facilitator_token"])
        except ws.WorkshopError as err:
            return show_create(render_message(err.message), gr.skip())
        token = made["facilitator_token"]
        return show_board(view, token, identity.with_token(fac_state, made["code"], token), request)

    def current(fac_state: Any) -> tuple[str, str]:
        code = identity.last_code(fac_state)
        key = identity.token_for(fac_state, code)
        if not (code and key):
            raise ws.Forbidden("This browser does not hold a facilitator link: open yours again.")
        return code, key

    def make_action(name: str):
        def on_action(fac_state: Any, mins: Any = None) -> dict[Any, Any]:
            try:
                code, key = current(fac_state)
                message = _act(name, backend.store, code, key, mins)
                view = ws.board(backend.store, code, key)
            except ws.WorkshopError as err:
                return {action_msg: render_message(err.message)}
            return {action_msg: render_message(message, ok=True), **board_updates(view)}
        return on_action

    def on_poll(fac_state: Any, last: str) -> Any:
        try:
            code, key = current(fac_state)
            view = ws.board(backend.store, code, key)
        except ws.WorkshopError:
            return gr.skip()
        if fingerprint(view) == last:
            return gr.skip()  # nothing new: leave the board as it is
        return board_updates(view)

    def on_board_click(fac_state: Any, evt: gr.EventData) -> dict[Any, Any]:
        data = evt._data if isinstance(evt._data, dict) else {}
        on = data.get("action") == "fav"
        sid = data.get("id")
        try:
            code, key = current(fac_state)
            try:
                sid = validate.whole_number(sid, "The submission id")
            except validate.InputError as err:  # rights first, as the API judges them
                ws._check_facilitator(backend.store, code, key)
                return {action_msg: render_message(err.message)}
            ws.set_favourite(backend.store, code, key, sid, on)
            view = ws.board(backend.store, code, key)
        except ws.WorkshopError as err:
            return {action_msg: render_message(err.message)}
        verb = "picked as a favourite" if on else "no longer a favourite"
        return {action_msg: render_message(f"#{sid} {verb}.", ok=True), **board_updates(view)}

    def on_export(fac_state: Any) -> dict[Any, Any]:
        try:
            code, key = current(fac_state)
            paths = write_exports(backend.store, code, key)
            text = ws.summary(backend.store, code, key)
        except ws.WorkshopError as err:
            return {action_msg: render_message(err.message)}
        return {action_msg: render_message("Exports ready below.", ok=True),
                files: gr.File(value=paths, visible=True),
                summary_box: gr.Textbox(value=text, visible=True)}

    def on_new(fac_state: Any) -> dict[Any, Any]:
        fac_out = dict(fac_state) if isinstance(fac_state, dict) else {}
        fac_out["last"] = None
        return show_create("", fac_out)

    quiet = dict(api_visibility="private", show_progress="hidden")
    admin = dict(api_visibility="private", show_progress="minimal", concurrency_limit=POLL_CONCURRENCY,
                 concurrency_id=ADMIN_GROUP)
    loaded = demo.load(on_load, inputs=[fac], outputs=screen, **quiet,
                       concurrency_limit=POLL_CONCURRENCY, concurrency_id=ADMIN_GROUP)
    loaded.then(None, js=_STRIP_KEY_JS, api_visibility="private", queue=False)
    add_btn.click(on_add, inputs=[krs_in, deck_pick], outputs=[krs_in, deck_pick],
                  api_visibility="private", queue=False)
    create_btn.click(on_create, inputs=[title_in, krs_in, fac], outputs=screen, **admin)
    for name, button in controls.items():
        button.click(make_action(name), inputs=[fac], outputs=acted, **admin)
    timer_btn.click(make_action("timer"), inputs=[fac, minutes], outputs=acted, **admin)
    stop_btn.click(make_action("stoptimer"), inputs=[fac], outputs=acted, **admin)
    board_html.click(on_board_click, inputs=[fac], outputs=acted, **admin)
    export_btn.click(on_export, inputs=[fac], outputs=[action_msg, files, summary_box], **admin)
    new_btn.click(on_new, inputs=[fac], outputs=screen, **quiet)
    board_timer.tick(on_poll, inputs=[fac, fseen], outputs=board_out, **quiet,
                     concurrency_limit=POLL_CONCURRENCY, concurrency_id=ADMIN_GROUP)
