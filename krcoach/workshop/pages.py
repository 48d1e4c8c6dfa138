"""The workshop's Gradio pages and named API endpoints, added to the app by `mount_workshop`.

Two pages on the drafting app:
- `/workshop` for participants (join link: `/workshop?code=K7QF2M`): join with the code and an
  optional name, rewrite each KR, get the coach's review of every submission at once, revise,
  and, once the facilitator reveals them, see and vote on the room's rewrites.
- `/facilitate` for the facilitator: create a workshop (pasted KRs or the starter deck), show
  the code, join link and QR code, watch the live board, reveal, vote, close/reopen, run a timer,
  export. The private facilitator link is `/facilitate?code=K7QF2M&key=SECRET`.

Identities live in the browser (`gr.BrowserState`, i.e. localStorage), never in server memory: a
reload or a server restart keeps everyone who they were. The same storage holds a random device
id, against which the page's join attempts are limited (API clients: per Gradio session). All
workshop state is in the database (`krcoach.workshop.store`); the handlers here are thin calls into
`krcoach.workshop.domain` plus HTML rendering, in which every user-written string is escaped.
Submissions, from the page and the API alike, run through `SubmitPacer`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import json
import os
import random
import re
import secrets
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import anyio
import gradio as gr

from krcoach.web import validate
from krcoach.workshop import domain as ws
from krcoach.rules.anatomy import clean_kr
from krcoach.web.app import MAIN_PAGE_NAME
from krcoach.engine import Engine
from krcoach.workshop.store import Store, open_store

PARTICIPANT_PATH = "workshop"
FACILITATOR_PATH = "facilitate"
PARTICIPANT_POLL_S = 4.0
BOARD_POLL_S = 2.5
SUBMIT_CONCURRENCY = 16  # submissions under review at once (SubmitPacer's own slots)
POLL_CONCURRENCY = 8
#: A participant refused "Busy" who sends again within this many seconds is paced (SubmitPacer).
BUSY_MEMORY_S = 10.0
POLL_GROUP = "krcoach-workshop-poll"
ADMIN_GROUP = "krcoach-workshop-admin"
#: Raw text may run to this many times a workshop field's limit (which the workshop measures
#: after collapsing whitespace) before the API refuses it unread.
RAW_SLACK = 10
# BrowserState encrypts with a key that travels in the page config, so it hides nothing from the
# browser's owner; a fixed key keeps stored identities readable after a server restart.
_BROWSER_SECRET = "krcoach-workshop-identities-v1"
_CSS = (Path(__file__).resolve().parent.parent / "static" / "workshop.css").read_text(encoding="utf-8")

# Counts down every [data-ws-remaining] element once per second, from the moment it is rendered,
# so the timer is smooth and immune to clock differences between server and phone.
_COUNTDOWN_JS = """
const tick = () => {
  element.querySelectorAll('[data-ws-remaining]').forEach((el) => {
    if (!el.dataset.wsEnds) {
      el.dataset.wsEnds = String(Date.now() + Number(el.dataset.wsRemaining) * 1000);
    }
    const left = Math.max(0, Math.round((Number(el.dataset.wsEnds) - Date.now()) / 1000));
    el.textContent = left > 0
      ? `Time left ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`
      : "Time's up";
  });
};
tick();
setInterval(tick, 1000);
"""

# Buttons rendered inside HTML (vote, favourite) report their data attributes as a click event.
_ACTION_JS = """
element.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-ws-action]');
  if (!button || !element.contains(button)) return;
  button.disabled = true;
  trigger('click', {action: button.dataset.wsAction, id: Number(button.dataset.id)});
});
"""

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


# ------------------------------------------------------------------------------ store & engine

_store_lock = threading.Lock()


class _Backend:
    """Where handlers find the store and the engine. Opened on first use so that building the app
    (e.g. in a test of the drafting page) creates no database; holds no workshop state."""

    def __init__(self, engine: Engine | str | None):
        self.engine_arg = engine
        self._store: Store | None = None
        self.pacer = SubmitPacer()

    @property
    def store(self) -> Store:
        with _store_lock:
            if self._store is None:
                self._store = open_store()
            return self._store

    @property
    def engine(self) -> Engine:
        return ws.resolve_engine(self.engine_arg)

    @property
    def engine_name(self) -> str | None:
        try:
            return self.engine.name
        except Exception:
            return None


class SubmitPacer:
    """How the app runs submissions (page and API): `ws.submit` in a worker thread, at most
    SUBMIT_CONCURRENCY at once, and a participant over their allowance paced rather than let
    through to cost the room.

    The first request refused "Busy, retry in N s" gets that answer at once. One that follows
    within BUSY_MEMORY_S (the advice ignored, or many sent in parallel: a flood) is held until
    the allowance has room (and a random part of an interval more), asleep, holding no worker
    thread and no slot, and then tried once more; if others of the same participant took the
    room meanwhile, it is refused "Busy" too. A flooding client thus gets about one answer per
    connection per SUBMIT_INTERVAL_S, however fast it sends, and the room's submissions do not
    queue behind it. Gradio's own concurrency limit is off for these events (a held request must
    not keep a slot); the slots are here.

    The memory of refusals is this process's only: it decides how fast to answer, never what
    is allowed (that is the database's token bucket, shared by every process).
    """

    def __init__(self, slots: int = SUBMIT_CONCURRENCY) -> None:
        self.slots = slots
        self._sem: asyncio.Semaphore | None = None
        self._busy: dict[int, float] = {}
        self._lock = threading.Lock()

    async def submit(self, store: Store, code: Any, token: Any, kr_number: Any, text: Any,
                     engine: Engine, request_id: str | None) -> dict[str, Any]:
        work = partial(ws.submit, store, code, token, kr_number, text, engine,
                       request_id=request_id)
        try:
            return await self._run(work)
        except ws.Busy as busy:
            if not self._again(busy.participant_id):
                raise
            # Until there is room, plus a random part of an interval: requests held together
            # must not all wake together.
            wait = busy.wait_s + random.uniform(0, ws.SUBMIT_INTERVAL_S)
        await asyncio.sleep(wait)
        try:
            return await self._run(work)
        except ws.Busy as busy:
            self._again(busy.participant_id)
            raise

    async def _run(self, work: Any) -> dict[str, Any]:
        if self._sem is None:  # made in the server's event loop, on first use
            self._sem = asyncio.Semaphore(self.slots)
        async with self._sem:
            return await anyio.to_thread.run_sync(work)

    def _again(self, participant_id: int | None) -> bool:
        """Note a refusal; True when the same participant was refused a moment ago."""
        if participant_id is None:
            return False
        now = time.monotonic()
        with self._lock:
            last = self._busy.get(participant_id)
            self._busy[participant_id] = now
            if len(self._busy) > 10_000:
                self._busy = {k: t for k, t in self._busy.items() if now - t < BUSY_MEMORY_S}
        return last is not None and now - last < BUSY_MEMORY_S


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


# ------------------------------------------------------------------------------------- URLs & QR


def base_url(request: gr.Request | None) -> str:
    """The app's public root as the caller reached it (proxy headers honoured), no trailing '/'."""
    if request is None:
        return ""
    try:
        url = str(request.url)
    except Exception:
        return ""
    parts = urlsplit(url)
    headers = {k.lower(): v for k, v in dict(request.headers).items()}
    scheme = (headers.get("x-forwarded-proto") or parts.scheme or "http").split(",")[0].strip()
    netloc = (headers.get("x-forwarded-host") or headers.get("host") or parts.netloc).split(",")[0].strip()
    path = parts.path
    for marker in ("/gradio_api/", "/" + PARTICIPANT_PATH, "/" + FACILITATOR_PATH):
        if marker in path:
            path = path.split(marker)[0]
            break
    return urlunsplit((scheme, netloc, path.rstrip("/"), "", ""))


def client_address(request: gr.Request | None) -> str | None:
    """The requester's address as the server sees it, for the coarse per-address workshop caps.

    It is the TCP peer, or the address a trusted proxy forwarded (uvicorn honours
    X-Forwarded-For from --forwarded-allow-ips, 127.0.0.1 by default); a header from anyone
    else is not trusted, so a client cannot pick a fresh address per request."""
    client = getattr(request, "client", None) if request is not None else None
    host = getattr(client, "host", None)
    return str(host) if host else None


def session_device(request: gr.Request | None) -> str | None:
    """An API client's device, for the per-device join limits: its Gradio session (one per
    gradio_client Client, or the `session_hash` a plain HTTP caller sends with each call)."""
    session = getattr(request, "session_hash", None) if request is not None else None
    return str(session)[:100] if session else None


def join_url(root: str, code: str) -> str:
    return f"{root}/{PARTICIPANT_PATH}?{urlencode({'code': code})}"


def facilitator_url(root: str, code: str, key: str) -> str:
    return f"{root}/{FACILITATOR_PATH}?{urlencode({'code': code, 'key': key})}"


def qr_data_uri(text: str) -> str:
    """The QR code for `text` as an SVG data URI (pure Python: no PIL)."""
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    svg = img.to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


# ------------------------------------------------------------------------------------- rendering

e = html.escape


def _words(code: str) -> str:
    return code.replace("_", " ").capitalize()


def _badge(kind: str | None) -> str:
    if kind == "outcome":
        return '<span class="ws-badge ws-outcome">Outcome</span>'
    if kind == "output":
        return '<span class="ws-badge ws-output">Output</span>'
    return '<span class="ws-badge ws-none">Not reviewed</span>'


def _timer_pill(timer: dict[str, Any]) -> str:
    if timer.get("remaining_s") is None:
        return ""
    return (f'<span class="ws-pill ws-timer" data-ws-remaining="{int(timer["remaining_s"])}">'
            f'Time left {int(timer["remaining_s"]) // 60}:{int(timer["remaining_s"]) % 60:02d}</span>')


def _state_pills(state: dict[str, Any]) -> str:
    pills = ['<span class="ws-pill ws-open">Round open</span>' if state["round_open"]
             else '<span class="ws-pill ws-closed">Round closed</span>']
    if state["revealed"]:
        pills.append('<span class="ws-pill">Rewrites revealed</span>')
    if state["voting_open"]:
        pills.append('<span class="ws-pill">Voting open</span>')
    pills.append(_timer_pill(state["timer"]))
    return '<div class="ws-pills">' + "".join(pills) + "</div>"


def render_message(text: str, ok: bool = False) -> str:
    return f'<p class="ws-msg {"ws-ok" if ok else "ws-err"}">{e(text)}</p>'


def render_status(state: dict[str, Any]) -> str:
    you = state["you"]
    who = e(you["name"]) + f' <span class="ws-alias">({e(you["alias"])})</span>' if you["name"] else e(you["alias"])
    parts = [
        '<div class="ws-status">',
        f'<div class="ws-title">{e(state["title"])}</div>',
        f'<div class="ws-meta">You are <b>{who}</b> · workshop <b>{e(state["code"])}</b></div>',
        _state_pills(state),
    ]
    if not state["round_open"]:
        parts.append('<div class="ws-banner">The round is closed: you can read your feedback, '
                     'but new rewrites are not accepted until the facilitator reopens it.</div>')
    else:
        parts.append('<p class="ws-help">Rewrite each KR as an outcome: if it is done, what will be '
                     'different? Shape: <b>[metric] from [X] to [Y] by [date]</b>. '
                     'Revise as often as you like.</p>')
    parts.append("</div>")
    return "".join(parts)


def render_kr(number: int, text: str) -> str:
    return (f'<div class="ws-kr"><span class="ws-kr-no">KR {number}</span>'
            f'<span><span class="ws-kr-before">Before</span><br>'
            f'<span class="ws-kr-text">{e(text)}</span></span></div>')


def render_feedback(sub: dict[str, Any] | None, note: str | None = None) -> str:
    """The coach's review of one submission: verdict, why, issues, hints."""
    if sub is None:
        return ""
    kind = sub.get("kind")
    versions = sub.get("versions") or sub.get("version")
    head = (f'<div class="ws-fb-head">{_badge(kind)}'
            f'<span class="ws-fb-ver">Version {e(str(sub.get("version")))}'
            + (f" of {e(str(versions))}" if versions and versions != sub.get("version") else "")
            + " saved</span></div>")
    body = []
    if sub.get("why"):
        body.append(f'<p class="ws-why">{e(sub["why"])}</p>')
    if kind is None:
        body.append('<p class="ws-why">Saved, but the coach could not review it just now.</p>')
    issues = sub.get("issues") or []
    if issues:
        body.append('<ul class="ws-issues">' + "".join(
            f'<li><b>{e(_words(i["code"]))}</b>: {e(i["message"])}</li>' for i in issues) + "</ul>")
    elif kind == "outcome":
        body.append('<p class="ws-why">No issues: this reads as a measurable outcome.</p>')
    hints = [r["text"] for r in (sub.get("rewrites") or [])][:2]
    if hints and kind != "outcome" or (hints and issues):
        body.append('<div class="ws-hints"><p>A shape to start from:</p><ul>'
                    + "".join(f"<li>{e(h)}</li>" for h in hints) + "</ul></div>")
    if note:
        body.append(f'<p class="ws-fb-ver">{e(note)}</p>')
    cls = {"outcome": "ws-fb-outcome", "output": "ws-fb-output"}.get(kind or "", "")
    return f'<div class="ws-fb {cls}">{head}{"".join(body)}</div>'


def render_error(text: str) -> str:
    return f'<div class="ws-fb ws-fb-error">{e(text)}</div>'


def render_room(entry: dict[str, Any], voting: bool) -> str:
    """The room's latest rewrites of one KR, shown once the facilitator reveals them."""
    room = entry.get("room") or []
    if not room:
        return ""
    items = []
    for s in room:
        marks = []
        if s["favourite"]:
            marks.append("★ facilitator's pick")
        if voting or s["votes"]:
            marks.append(f'{s["votes"]} vote{"s" if s["votes"] != 1 else ""}')
        if s["my_vote"]:
            marks.append("your vote")
        who = "you" if s["mine"] else s["author"]
        button = ""
        if voting and not s["mine"]:
            label = "✓ Your vote" if s["my_vote"] else "Vote"
            button = (f'<button class="ws-vote-btn{" ws-voted" if s["my_vote"] else ""}" '
                      f'data-ws-action="vote" data-id="{int(s["id"])}">{label}</button>')
        items.append(
            f'<li class="{"ws-mine" if s["mine"] else ""}">'
            f'<div class="ws-who"><span>#{s["id"]} · {e(who)}</span>{_badge(s["kind"])}'
            f'{"<span>" + e(" · ".join(marks)) + "</span>" if marks else ""}</div>'
            f'<div class="ws-room-row"><div class="ws-sub-text">{e(s["text"])}</div>{button}</div></li>')
    hint = " Tap Vote on the one you find strongest." if voting else ""
    return (f'<div class="ws-room"><h4>The room\'s rewrites ({len(room)}).{hint}</h4>'
            f'<ol>{"".join(items)}</ol></div>')


def render_share(code: str, link: str) -> str:
    """What goes on the projector: the code, the join link and its QR code."""
    return (
        '<div class="ws-share">'
        f'<img src="{qr_data_uri(link)}" alt="QR code for {e(link)}">'
        '<div><div class="ws-code-label">Join code</div>'
        f'<div class="ws-code" id="ws-join-code">{e(code)}</div>'
        '<div class="ws-code-label">or open</div>'
        f'<div class="ws-link" id="ws-join-link">{e(link)}</div></div></div>'
    )


def render_board(view: dict[str, Any]) -> str:
    """The facilitator's live board: per KR, outcome share, common issues, who is missing, and
    every participant's latest rewrite with its verdict, votes and favourite mark."""
    head = [
        '<div class="ws-board-head">',
        f'<span class="ws-stat"><b>{view["participants"]}</b> joined</span>',
        f'<span class="ws-stat"><b>{view["submissions_total"]}</b> rewrites</span>',
        _state_pills(view).replace('<div class="ws-pills">', "").replace("</div>", ""),
        '<span class="ws-pill">Names hidden</span>' if view["names_hidden"] else
        '<span class="ws-pill">Names shown</span>',
        "</div>",
    ]
    cards = []
    for item in view["items"]:
        share = item["outcome_share"]
        pct = f"{share:.0%}" if share is not None else "–"
        bar = (f'<span class="ws-share-bar{"" if share is not None else " ws-nodata"}" '
               f'title="{pct} outcomes"><span style="width:'
               f'{(share or 0) * 100:.0f}%"></span></span>')
        chips = "".join(f'<span class="ws-chip" title="{e(i["message"])}">{e(_words(i["code"]))}'
                        f' · {i["count"]}</span>' for i in item["top_issues"])
        missing = item["not_submitted"]
        missing_html = (f'<div class="ws-missing">Not submitted yet ({len(missing)}): '
                        f'{e(", ".join(missing[:30]))}{" …" if len(missing) > 30 else ""}</div>'
                        if missing else "")
        rows = []
        for s in item["submissions"]:
            issues = ", ".join(_words(i["code"]) for i in s["issues"]) or "–"
            rows.append(
                f'<tr class="{"ws-fav" if s["favourite"] else ""}">'
                f'<td class="ws-num">#{s["id"]}<br><button class="ws-fav-btn" data-ws-action='
                f'"{"unfav" if s["favourite"] else "fav"}" data-id="{int(s["id"])}" title='
                f'"{"Unpick" if s["favourite"] else "Pick as a favourite"}">'
                f'{"★ Picked" if s["favourite"] else "☆ Pick"}</button></td>'
                f'<td><div class="ws-sub-text">{e(s["text"])}</div>'
                f'<div class="ws-who">{e(s["author"])}'
                f'{" · v" + str(s["versions"]) if s["versions"] > 1 else ""}</div></td>'
                f'<td>{_badge(s["kind"])}</td><td>{e(issues)}</td>'
                f'<td class="ws-num">{s["votes"]}</td></tr>')
        table = (
            '<table class="ws-table"><thead><tr><th>#</th><th>Rewrite</th><th>Verdict</th>'
            f'<th>Issues</th><th>Votes</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            if rows else '<p class="ws-empty">No rewrites yet.</p>')
        cards.append(
            f'<div class="ws-card" data-kr="{item["number"]}">'
            f'{render_kr(item["number"], item["text"])}'
            f'<div class="ws-card-head"><span><b>{item["submitted"]}</b> of {view["participants"]} '
            f'submitted</span><span><b>{pct}</b> outcomes</span>{bar}</div>'
            f'{"<div class=ws-chips>" + chips + "</div>" if chips else ""}{missing_html}{table}</div>')
    return '<div class="ws-board">' + "".join(head) + "".join(cards) + "</div>"


def _fingerprint(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _stable(state: dict[str, Any]) -> dict[str, Any]:
    """The state without the ticking remaining seconds (the countdown runs in the browser)."""
    timer = dict(state.get("timer") or {})
    timer.pop("remaining_s", None)
    timer.pop("running", None)
    return {**state, "timer": timer}


# ------------------------------------------------------------------------- identity in browser


def _ident_token(ident: Any, code: str | None) -> str | None:
    if not isinstance(ident, dict) or not code:
        return None
    tokens = ident.get("tokens")
    token = tokens.get(code) if isinstance(tokens, dict) else None
    return token if isinstance(token, str) else None


def _ident_with(ident: Any, code: str, token: str | None) -> dict[str, Any]:
    tokens = dict(ident.get("tokens") or {}) if isinstance(ident, dict) else {}
    tokens.pop(code, None)
    if token:
        tokens[code] = token
    tokens = dict(list(tokens.items())[-20:])  # insertion order: keep the 20 most recent
    out: dict[str, Any] = {"last": code if token else None, "tokens": tokens}
    device = _ident_device(ident)
    if device:
        out["device"] = device
    return out


def _ident_device(ident: Any) -> str | None:
    device = ident.get("device") if isinstance(ident, dict) else None
    return device[:100] if isinstance(device, str) and device else None


def _with_device(ident: Any) -> dict[str, Any]:
    """The browser's stored identity, with a device id made on first use: the page's join
    attempts count against it (not against the address the whole venue shares)."""
    out = dict(ident) if isinstance(ident, dict) else {}
    if not _ident_device(out):
        out["device"] = secrets.token_urlsafe(16)
    return out


def _query_code(request: gr.Request | None) -> str | None:
    params = dict(request.query_params) if request is not None else {}
    try:
        return ws.normalize_code(params.get("code")) if params.get("code") else None
    except ws.WorkshopError:
        return None


# ----------------------------------------------------------------------------- participant page


def _participant_page(demo: gr.Blocks, backend: _Backend) -> None:
    n = ws.MAX_ITEMS
    gr.HTML('<div class="ws-page"><h2>Workshop</h2><p class="ws-lead">Rewrite activity-shaped key '
            'results as outcomes, with the coach reviewing every version.</p></div>',
            head=f"<style>{_CSS}</style>", elem_classes=["ws-page"])
    ident = gr.BrowserState({}, storage_key="krcoach_workshop_participant", secret=_BROWSER_SECRET)
    seen = gr.State("")
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
        status = gr.HTML("", elem_id="ws-status", js_on_load=_COUNTDOWN_JS)
        slots: list[dict[str, Any]] = []
        for i in range(n):
            with gr.Group(visible=False, elem_id=f"ws-slot-{i + 1}", elem_classes=["ws-slot"]) as grp:
                kr = gr.HTML("", elem_id=f"ws-kr-{i + 1}")
                text = gr.Textbox(label="Your rewrite", lines=2, max_lines=6,
                                  max_length=ws.MAX_SUBMISSION_CHARS, elem_id=f"ws-text-{i + 1}",
                                  placeholder="[metric] from [X] to [Y] by [date]")
                btn = gr.Button("Get feedback", variant="primary", size="md",
                                elem_id=f"ws-submit-{i + 1}")
                feedback = gr.HTML("", elem_id=f"ws-feedback-{i + 1}")
                room = gr.HTML("", elem_id=f"ws-roomlist-{i + 1}", js_on_load=_ACTION_JS)
                # The request id of the attempt in flight (made by _REQUEST_ID_JS in the browser).
                rid = gr.Textbox("", visible=False, elem_id=f"ws-rid-{i + 1}")
            slots.append(dict(group=grp, kr=kr, text=text, btn=btn, feedback=feedback, room=room,
                              rid=rid))
        leave_btn = gr.Button("Leave this workshop on this device", size="sm", variant="secondary",
                              elem_id="ws-leave")
    poll = gr.Timer(PARTICIPANT_POLL_S, active=False)

    slot_outputs = [c for s in slots for c in (s["group"], s["kr"], s["text"], s["feedback"])]
    live_outputs = [c for s in slots for c in (s["btn"], s["room"])]
    screen = [join_box, room_box, join_btn, code_in, join_msg, status, poll, seen, *slot_outputs,
              *live_outputs]

    def live_updates(state: dict[str, Any]) -> list[Any]:
        out = []
        for i in range(n):
            if i < len(state["items"]):
                out += [gr.Button(interactive=state["round_open"]),
                        render_room(state["items"][i], state["voting_open"])]
            else:
                out += [gr.skip()] * 2
        return out

    def show_room(state: dict[str, Any], ident_out: Any) -> list[Any]:
        slot_vals: list[Any] = []
        for i in range(n):
            if i < len(state["items"]):
                entry = state["items"][i]
                mine = entry["mine"]
                slot_vals += [gr.Group(visible=True), render_kr(entry["number"], entry["text"]),
                              mine["text"] if mine else "", render_feedback(mine)]
            else:
                slot_vals += [gr.Group(visible=False), "", "", ""]
        return [gr.Column(visible=False), gr.Column(visible=True), gr.Button(interactive=True),
                state["code"], "",
                render_status(state), gr.Timer(active=True), _fingerprint(_stable(state)),
                *slot_vals, *live_updates(state), ident_out]

    def show_join(code: str | None, message: str, ident_out: Any) -> list[Any]:
        slot_vals = [gr.skip()] * len(slot_outputs)
        return [gr.Column(visible=True), gr.Column(visible=False), gr.Button(interactive=True),
                code or gr.skip(), message,
                "", gr.Timer(active=False), "", *slot_vals, *([gr.skip()] * len(live_outputs)),
                ident_out]

    def on_load(ident: Any, request: gr.Request) -> list[Any]:
        had_device = _ident_device(ident) is not None
        ident = _with_device(ident)
        code = _query_code(request) or ident.get("last")
        token = _ident_token(ident, code)
        if code and token:
            try:
                state = ws.participant_state(backend.store, code, token)
                return show_room(state, _ident_with(ident, state["code"], token))
            except ws.WorkshopError:
                return show_join(code, "", _ident_with(ident, code, None))
        return show_join(code, "", gr.skip() if had_device else ident)

    def on_join(code: str, name: str, ident: Any, request: gr.Request) -> list[Any]:
        ident = _with_device(ident)  # kept even when the join is refused: attempts count on it
        try:
            try:
                norm = ws.normalize_code(code)
            except ws.WorkshopError:  # ws.join gives the uniform answer and counts the attempt
                norm = str(code or "")
            token = _ident_token(ident, norm)
            if token:  # already joined from this browser: continue as the same person
                try:
                    if (name or "").strip():
                        ws.rename(backend.store, norm, token, name)
                    state = ws.participant_state(backend.store, norm, token)
                    return show_room(state, _ident_with(ident, norm, token))
                except ws.Forbidden:
                    pass
            joined = ws.join(backend.store, norm, name, client=client_address(request),
                             device=_ident_device(ident))
            state = ws.participant_state(backend.store, norm, joined["participant_token"])
            return show_room(state, _ident_with(ident, norm, joined["participant_token"]))
        except ws.WorkshopError as err:
            return show_join(None, render_message(err.message), ident)

    def on_leave(ident: Any) -> list[Any]:
        code = ident.get("last") if isinstance(ident, dict) else None
        device = _ident_device(ident)
        new_ident = _ident_with(ident, code, None) if code else ({"device": device} if device else {})
        return show_join(code, "", new_ident)

    def on_poll(ident: Any, last: str) -> list[Any]:
        code = ident.get("last") if isinstance(ident, dict) else None
        token = _ident_token(ident, code)
        skip = [gr.skip()] * (2 + len(live_outputs))
        if not (code and token):
            return skip
        try:
            state = ws.participant_state(backend.store, code, token)
        except ws.WorkshopError:
            return skip
        mark = _fingerprint(_stable(state))
        if mark == last:
            return skip
        return [render_status(state), mark, *live_updates(state)]

    def make_submit(i: int):
        async def on_submit(ident: Any, text: str, rid: Any) -> tuple[str, Any]:
            code = ident.get("last") if isinstance(ident, dict) else None
            token = _ident_token(ident, code)
            rid = rid if isinstance(rid, str) and rid else None
            if not (code and token):
                return render_error("Join the workshop first (your identity was not found in "
                                    "this browser)."), rid
            try:
                result = await backend.pacer.submit(backend.store, code, token, i + 1, text,
                                                    backend.engine, rid)
            except ws.WorkshopError as err:
                return render_error(err.message), rid
            return render_feedback(result), rid
        return on_submit

    def make_vote(i: int):
        def on_vote(ident: Any, evt: gr.EventData, request: gr.Request) -> Any:
            code = ident.get("last") if isinstance(ident, dict) else None
            token = _ident_token(ident, code)
            data = evt._data if isinstance(evt._data, dict) else {}
            try:
                if data.get("action") == "vote":
                    sid = validate.whole_number(data.get("id"), "The submission id")
                    ws.vote(backend.store, code, token, sid, client=client_address(request))
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
    demo.load(on_load, inputs=[ident], outputs=[*screen, ident], **quiet, **polls)
    for trigger in (join_btn.click, code_in.submit, name_in.submit):
        trigger(on_join, inputs=[code_in, name_in, ident], outputs=[*screen, ident],
                api_visibility="private", show_progress="minimal", **polls)
    leave_btn.click(on_leave, inputs=[ident], outputs=[*screen, ident], **quiet)
    poll.tick(on_poll, inputs=[ident, seen],
              outputs=[status, seen, *live_outputs], **quiet, **polls)
    for i, s in enumerate(slots):
        slot_js = str(i + 1)
        s["btn"].click(make_submit(i), inputs=[ident, s["text"], s["rid"]],
                       outputs=[s["feedback"], s["rid"]], js=_REQUEST_ID_JS.replace("SLOT", slot_js),
                       api_visibility="private", show_progress="minimal",
                       concurrency_limit=None,  # the pacer holds the slots
                       ).success(None, inputs=[s["rid"]], js=_REQUEST_DONE_JS.replace("SLOT", slot_js),
                                 api_visibility="private", queue=False)
        s["room"].click(make_vote(i), inputs=[ident], outputs=s["room"],
                            api_visibility="private", show_progress="minimal", **polls)


# ----------------------------------------------------------------------------- facilitator page

_CONTROLS = (
    ("close", "Close round", lambda v: v["round_open"]),
    ("reopen", "Reopen round", lambda v: not v["round_open"]),
    ("reveal", "Reveal to room", lambda v: not v["revealed"]),
    ("hide", "Hide from room", lambda v: v["revealed"]),
    ("voting", "Open voting", lambda v: not v["voting_open"]),
    ("endvoting", "Close voting", lambda v: v["voting_open"]),
    ("shownames", "Show names", lambda v: v["names_hidden"]),
    ("hidenames", "Hide names", lambda v: not v["names_hidden"]),
)


def _act(name: str, store: Store, code: str, key: str, minutes: Any = None) -> str:
    """Run one facilitator control; returns the confirmation shown under the buttons."""
    if name == "close":
        ws.close_round(store, code, key)
        return "Round closed: new rewrites are refused."
    if name == "reopen":
        ws.reopen_round(store, code, key)
        return "Round reopened."
    if name == "reveal":
        ws.set_revealed(store, code, key, True)
        return "Rewrites revealed to the room."
    if name == "hide":
        ws.set_revealed(store, code, key, False)
        return "Rewrites hidden from the room."
    if name == "voting":
        ws.set_voting(store, code, key, True)
        return "Voting is open (rewrites are revealed)."
    if name == "endvoting":
        ws.set_voting(store, code, key, False)
        return "Voting closed."
    if name == "shownames":
        ws.set_names_hidden(store, code, key, False)
        return "Names are shown."
    if name == "hidenames":
        ws.set_names_hidden(store, code, key, True)
        return "Names are hidden."
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


def _facilitator_page(demo: gr.Blocks, backend: _Backend) -> None:
    deck = ws.starter_deck()
    gr.HTML('<div class="ws-page"><h2>Run a rewriting workshop</h2><p class="ws-lead">Show the room '
            'activity-shaped key results, let everyone rewrite them as outcomes from their phones, '
            'and watch the coach\'s verdicts arrive live.</p></div>',
            head=f"<style>{_CSS}</style>", elem_classes=["ws-page"])
    fac = gr.BrowserState({}, storage_key="krcoach_workshop_facilitator", secret=_BROWSER_SECRET)
    fseen = gr.State("")
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
            controls = {name: gr.Button(label, size="sm", elem_id=f"ws-{name}",
                                        variant="primary" if name in ("close", "reveal", "voting")
                                        else "secondary")
                        for name, label, _ in _CONTROLS}
        with gr.Row(equal_height=False, elem_id="ws-timer-row"):
            minutes = gr.Number(label="Timer (minutes)", value=5, minimum=1, maximum=60, precision=0,
                                elem_id="ws-minutes", scale=1)
            timer_btn = gr.Button("Start timer", size="sm", elem_id="ws-timer-start", scale=1)
            stop_btn = gr.Button("Stop timer", size="sm", elem_id="ws-timer-stop", scale=1)
        action_msg = gr.HTML("", elem_id="ws-action-msg")
        board_html = gr.HTML("", elem_id="ws-board", js_on_load=_COUNTDOWN_JS + _ACTION_JS)
        with gr.Row(elem_id="ws-export-row"):
            export_btn = gr.Button("Export results and summary", variant="primary",
                                   elem_id="ws-export")
            new_btn = gr.Button("Start another workshop", variant="secondary", elem_id="ws-new")
        files = gr.File(label="Exports (CSV, JSON, Markdown)", file_count="multiple",
                        visible=False, elem_id="ws-files", interactive=False)
        summary_box = gr.Textbox(label="Summary for your follow-up note", lines=7, visible=False,
                                 buttons=["copy"], elem_id="ws-summary", interactive=False)
    board_timer = gr.Timer(BOARD_POLL_S, active=False)
    control_list = list(controls.values())

    def control_updates(view: dict[str, Any]) -> list[Any]:
        return [gr.Button(visible=bool(show(view))) for _, _, show in _CONTROLS]

    def board_updates(view: dict[str, Any]) -> list[Any]:
        return [render_board(view), _fingerprint(_stable(view)), *control_updates(view)]

    screen = [create_box, fac_box, create_btn, create_msg, share, private_link, board_timer, files,
              summary_box]
    board_out = [board_html, fseen, *control_list]

    def show_board(view: dict[str, Any], key: str, fac_out: Any, request: gr.Request | None) -> list:
        root = base_url(request)
        link = join_url(root, view["code"])
        return [gr.Column(visible=False), gr.Column(visible=True), gr.Button(interactive=True), "",
                render_share(view["code"], link),
                facilitator_url(root, view["code"], key), gr.Timer(active=True),
                gr.File(visible=False, value=None), gr.Textbox(visible=False, value=""),
                *board_updates(view), fac_out]

    def show_create(message: str, fac_out: Any) -> list[Any]:
        return [gr.Column(visible=True), gr.Column(visible=False), gr.Button(interactive=True),
                message, gr.skip(), gr.skip(),
                gr.Timer(active=False), gr.skip(), gr.skip(), gr.skip(), "",
                *([gr.skip()] * len(control_list)), fac_out]

    def on_load(fac_state: Any, request: gr.Request) -> list[Any]:
        params = dict(request.query_params) if request is not None else {}
        code = _query_code(request)
        key = params.get("key") or None
        if code is None and isinstance(fac_state, dict):
            code = fac_state.get("last")
        key = key or _ident_token(fac_state, code)
        if code and key:
            try:
                view = ws.board(backend.store, code, key)
                return show_board(view, key, _ident_with(fac_state, view["code"], key), request)
            except ws.WorkshopError as err:
                return show_create(render_message(err.message), gr.skip())
        return show_create("", gr.skip())

    def on_add(current: str, picked: list[str] | None) -> tuple[str, list]:
        return add_picked(current, picked or []), []

    def on_create(title: str, krs: str, fac_state: Any, request: gr.Request) -> list[Any]:
        try:
            made = ws.create_workshop(backend.store, title, krs or "",  # None: an empty box
                                      engine_name=backend.engine_name,
                                      client=client_address(request))
            view = ws.board(backend.store, made["code"], made["facilitator_token"])
        except ws.WorkshopError as err:
            return show_create(render_message(err.message), gr.skip())
        token = made["facilitator_token"]
        return show_board(view, token, _ident_with(fac_state, made["code"], token), request)

    def current(fac_state: Any) -> tuple[str, str]:
        code = fac_state.get("last") if isinstance(fac_state, dict) else None
        key = _ident_token(fac_state, code)
        if not (code and key):
            raise ws.Forbidden("This browser does not hold a facilitator link: open yours again.")
        return code, key

    def make_action(name: str):
        def on_action(fac_state: Any, mins: Any = None) -> list[Any]:
            try:
                code, key = current(fac_state)
                message = _act(name, backend.store, code, key, mins)
                view = ws.board(backend.store, code, key)
            except ws.WorkshopError as err:
                return [render_message(err.message), *([gr.skip()] * len(board_out))]
            return [render_message(message, ok=True), *board_updates(view)]
        return on_action

    def on_poll(fac_state: Any, last: str) -> list[Any]:
        try:
            code, key = current(fac_state)
            view = ws.board(backend.store, code, key)
        except ws.WorkshopError:
            return [gr.skip()] * len(board_out)
        if _fingerprint(_stable(view)) == last:
            return [gr.skip()] * len(board_out)
        return board_updates(view)

    def on_board_click(fac_state: Any, evt: gr.EventData) -> list[Any]:
        data = evt._data if isinstance(evt._data, dict) else {}
        on = data.get("action") == "fav"
        sid = data.get("id")
        try:
            code, key = current(fac_state)
            try:
                sid = validate.whole_number(sid, "The submission id")
            except validate.InputError as err:  # rights first, as the API judges them
                ws._check_facilitator(backend.store, code, key)
                return [render_message(err.message), *([gr.skip()] * len(board_out))]
            ws.set_favourite(backend.store, code, key, sid, on)
            view = ws.board(backend.store, code, key)
        except ws.WorkshopError as err:
            return [render_message(err.message), *([gr.skip()] * len(board_out))]
        verb = "picked as a favourite" if on else "no longer a favourite"
        return [render_message(f"#{sid} {verb}.", ok=True), *board_updates(view)]

    def on_export(fac_state: Any) -> list[Any]:
        try:
            code, key = current(fac_state)
            paths = write_exports(backend.store, code, key)
            text = ws.summary(backend.store, code, key)
        except ws.WorkshopError as err:
            return [render_message(err.message), gr.skip(), gr.skip()]
        return [render_message("Exports ready below.", ok=True), gr.File(value=paths, visible=True),
                gr.Textbox(value=text, visible=True)]

    def on_new(fac_state: Any) -> list[Any]:
        fac_out = dict(fac_state) if isinstance(fac_state, dict) else {}
        fac_out["last"] = None
        return show_create("", fac_out)

    quiet = dict(api_visibility="private", show_progress="hidden")
    admin = dict(api_visibility="private", show_progress="minimal", concurrency_limit=POLL_CONCURRENCY,
                 concurrency_id=ADMIN_GROUP)
    loaded = demo.load(on_load, inputs=[fac], outputs=[*screen, *board_out, fac], **quiet,
                       concurrency_limit=POLL_CONCURRENCY, concurrency_id=ADMIN_GROUP)
    loaded.then(None, js=_STRIP_KEY_JS, api_visibility="private", queue=False)
    add_btn.click(on_add, inputs=[krs_in, deck_pick], outputs=[krs_in, deck_pick],
                  api_visibility="private", queue=False)
    create_btn.click(on_create, inputs=[title_in, krs_in, fac], outputs=[*screen, *board_out, fac],
                     **admin)
    for name, button in controls.items():
        button.click(make_action(name), inputs=[fac], outputs=[action_msg, *board_out], **admin)
    timer_btn.click(make_action("timer"), inputs=[fac, minutes], outputs=[action_msg, *board_out],
                    **admin)
    stop_btn.click(make_action("stoptimer"), inputs=[fac], outputs=[action_msg, *board_out], **admin)
    board_html.click(on_board_click, inputs=[fac], outputs=[action_msg, *board_out], **admin)
    export_btn.click(on_export, inputs=[fac], outputs=[action_msg, files, summary_box], **admin)
    new_btn.click(on_new, inputs=[fac], outputs=[*screen, *board_out, fac], **quiet)
    board_timer.tick(on_poll, inputs=[fac, fseen], outputs=board_out, **quiet,
                     concurrency_limit=POLL_CONCURRENCY, concurrency_id=ADMIN_GROUP)


# --------------------------------------------------------------------------------- API endpoints


def _api(backend: _Backend) -> None:
    """Named endpoints for gradio_client and plain HTTP (documented in the README).

    A refused request raises gr.Error with the same one-sentence message the pages show.
    """

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


# ------------------------------------------------------------------------------------ mounting


def mount_workshop(demo: gr.Blocks, engine: Engine | str | None) -> None:
    """Add the participant page (/workshop), the facilitator page (/facilitate) and the named
    workshop API endpoints to `demo`. Call it after `demo`'s own `with` block has closed."""
    backend = _Backend(engine)
    with demo.route("Workshop", "/" + PARTICIPANT_PATH):
        gr.Navbar(main_page_name=MAIN_PAGE_NAME)  # each page draws its own navbar
        _participant_page(demo, backend)
        _api(backend)
    with demo.route("Run a workshop", "/" + FACILITATOR_PATH):
        gr.Navbar(main_page_name=MAIN_PAGE_NAME)
        _facilitator_page(demo, backend)
