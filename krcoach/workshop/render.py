"""The workshop's HTML, for both pages: the participant's status, KR, feedback and the room's
rewrites; the facilitator's share panel (code, link, QR) and live board; and the stylesheet and
in-page scripts (countdown, vote and favourite buttons) that go with them.

Pure functions from the `domain`'s dicts to strings, so they are tested without a server. Every
user-written string (titles, KRs, names, rewrites, messages) goes through `ui.esc`, the drafting
page's escaping, which also keeps template syntax inert inside `gr.HTML`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from krcoach.web.ui import badge, code_words, esc
from krcoach.workshop.links import qr_data_uri

CSS = (Path(__file__).resolve().parent.parent / "static" / "workshop.css").read_text(encoding="utf-8")

# Counts down every [data-ws-remaining] element once per second, from the moment it is rendered,
# so the timer is smooth and immune to clock differences between server and phone.
COUNTDOWN_JS = """
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
ACTION_JS = """
element.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-ws-action]');
  if (!button || !element.contains(button)) return;
  button.disabled = true;
  trigger('click', {action: button.dataset.wsAction, id: Number(button.dataset.id)});
});
"""


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
    return f'<p class="ws-msg {"ws-ok" if ok else "ws-err"}">{esc(text)}</p>'


def render_status(state: dict[str, Any]) -> str:
    you = state["you"]
    who = (esc(you["name"]) + f' <span class="ws-alias">({esc(you["alias"])})</span>'
           if you["name"] else esc(you["alias"]))
    parts = [
        '<div class="ws-status">',
        f'<div class="ws-title">{esc(state["title"])}</div>',
        f'<div class="ws-meta">You are <b>{who}</b> · workshop <b>{esc(state["code"])}</b></div>',
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
            f'<span class="ws-kr-text">{esc(text)}</span></span></div>')


def render_feedback(sub: dict[str, Any] | None, note: str | None = None) -> str:
    """The coach's review of one submission: verdict, why, issues, hints."""
    if sub is None:
        return ""
    kind = sub.get("kind")
    versions = sub.get("versions") or sub.get("version")
    head = (f'<div class="ws-fb-head">{badge(kind, "ws")}'
            f'<span class="ws-fb-ver">Version {esc(str(sub.get("version")))}'
            + (f" of {esc(str(versions))}" if versions and versions != sub.get("version") else "")
            + " saved</span></div>")
    body = []
    if sub.get("why"):
        body.append(f'<p class="ws-why">{esc(sub["why"])}</p>')
    if kind is None:
        body.append('<p class="ws-why">Saved, but the coach could not review it just now.</p>')
    issues = sub.get("issues") or []
    if issues:
        body.append('<ul class="ws-issues">' + "".join(
            f'<li><b>{esc(code_words(i["code"]))}</b>: {esc(i["message"])}</li>' for i in issues)
            + "</ul>")
    elif kind == "outcome":
        body.append('<p class="ws-why">No issues: this reads as a measurable outcome.</p>')
    hints = [r["text"] for r in (sub.get("rewrites") or [])][:2]
    if hints and kind != "outcome" or (hints and issues):
        body.append('<div class="ws-hints"><p>A shape to start from:</p><ul>'
                    + "".join(f"<li>{esc(h)}</li>" for h in hints) + "</ul></div>")
    if note:
        body.append(f'<p class="ws-fb-ver">{esc(note)}</p>')
    cls = {"outcome": "ws-fb-outcome", "output": "ws-fb-output"}.get(kind or "", "")
    return f'<div class="ws-fb {cls}">{head}{"".join(body)}</div>'


def render_error(text: str) -> str:
    return f'<div class="ws-fb ws-fb-error">{esc(text)}</div>'


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
            f'<div class="ws-who"><span>#{s["id"]} · {esc(who)}</span>{badge(s["kind"], "ws")}'
            f'{"<span>" + esc(" · ".join(marks)) + "</span>" if marks else ""}</div>'
            f'<div class="ws-room-row"><div class="ws-sub-text">{esc(s["text"])}</div>{button}</div></li>')
    hint = " Tap Vote on the one you find strongest." if voting else ""
    return (f'<div class="ws-room"><h4>The room\'s rewrites ({len(room)}).{hint}</h4>'
            f'<ol>{"".join(items)}</ol></div>')


def render_share(code: str, link: str) -> str:
    """What goes on the projector: the code, the join link and its QR code."""
    return (
        '<div class="ws-share">'
        f'<img src="{qr_data_uri(link)}" alt="QR code for {esc(link)}">'
        '<div><div class="ws-code-label">Join code</div>'
        f'<div class="ws-code" id="ws-join-code">{esc(code)}</div>'
        '<div class="ws-code-label">or open</div>'
        f'<div class="ws-link" id="ws-join-link">{esc(link)}</div></div></div>'
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
        chips = "".join(f'<span class="ws-chip" title="{esc(i["message"])}">'
                        f'{esc(code_words(i["code"]))}'
                        f' · {i["count"]}</span>' for i in item["top_issues"])
        missing = item["not_submitted"]
        missing_html = (f'<div class="ws-missing">Not submitted yet ({len(missing)}): '
                        f'{esc(", ".join(missing[:30]))}{" …" if len(missing) > 30 else ""}</div>'
                        if missing else "")
        rows = []
        for s in item["submissions"]:
            issues = ", ".join(code_words(i["code"]) for i in s["issues"]) or "–"
            rows.append(
                f'<tr class="{"ws-fav" if s["favourite"] else ""}">'
                f'<td class="ws-num">#{s["id"]}<br><button class="ws-fav-btn" data-ws-action='
                f'"{"unfav" if s["favourite"] else "fav"}" data-id="{int(s["id"])}" title='
                f'"{"Unpick" if s["favourite"] else "Pick as a favourite"}">'
                f'{"★ Picked" if s["favourite"] else "☆ Pick"}</button></td>'
                f'<td><div class="ws-sub-text">{esc(s["text"])}</div>'
                f'<div class="ws-who">{esc(s["author"])}'
                f'{" · v" + str(s["versions"]) if s["versions"] > 1 else ""}</div></td>'
                f'<td>{badge(s["kind"], "ws")}</td><td>{esc(issues)}</td>'
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


def fingerprint(view: dict[str, Any]) -> str:
    """A short mark of what a page would draw from `view`, without the ticking remaining seconds
    (the countdown runs in the browser): a poll that finds the same mark redraws nothing."""
    timer = dict(view.get("timer") or {})
    timer.pop("remaining_s", None)
    timer.pop("running", None)
    stable = {**view, "timer": timer}
    return hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()[:16]
