"""The rewriting workshop: a facilitator shows activity-shaped KRs, everyone rewrites them as
outcomes, the coach reviews every submission, the room sees the results.

Plain functions over a `Store`; the Gradio screens and the API endpoints are thin calls into them.
Every function re-reads what it needs from the database and writes inside one transaction, so
several app processes (or one restarted process) serve a workshop consistently. Rights are checked
here, not in the UI: facilitator actions need the facilitator token, participant actions need a
participant token of the same workshop, and both are stored only as SHA-256 hashes.

Views (participant state, board) are JSON-ready dicts: they go out through the API unchanged and
the UI renders them to escaped HTML.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import math
import re
import secrets
import sqlite3
import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import cache
from typing import Any

from krcoach.data import load_json
from krcoach.engine import Engine, ReviewContext, make_engine
from krcoach.models import ISSUE_CODES, KeyResult, Objective
from krcoach.safe import csv_cell, md_text
from krcoach.workshop.store import Store

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read off a projector
CODE_LENGTH = 6
MAX_TITLE_CHARS = 120
MAX_ITEMS = 8
MAX_ITEM_CHARS = 300
MAX_NAME_CHARS = 40
MAX_SUBMISSION_CHARS = 400
MAX_PARTICIPANTS = 300
MAX_TIMER_SECONDS = 60 * 60
# Limits, so that one client cannot hurt the room. What a person does is counted against them:
# their participant (submissions, votes) or, before they have joined, their device (the browser's
# device id, or an API client's Gradio session). The client address (a whole venue behind one NAT
# shares one) is only a coarse second cap, high enough for a full room of MAX_PARTICIPANTS.
# Windowed limits are (how many, per this many seconds), counted in the database by
# store.RateLimiter.
SUBMIT_BURST = 10  # submissions a participant may send at once ...
SUBMIT_INTERVAL_S = 2.0  # ... and then one per this many seconds (a token bucket per participant)
VOTE_LIMIT = (60, 600.0)  # votes per participant: 8 KRs, each vote moved several times
VOTE_ADDRESS_LIMIT = (6000, 600.0)  # per address and workshop: 300 people x 8 KRs, moved ~2.5 times
JOIN_LIMIT = (10, 600.0)  # joins of one workshop per device (leaving and re-joining included)
JOIN_ADDRESS_LIMIT = (2 * MAX_PARTICIPANTS, 600.0)  # per address and workshop: a full room, twice
BAD_CODE_LIMIT = (30, 600.0)  # join codes that open no workshop, per device ...
BAD_CODE_ADDRESS_LIMIT = (3000, 600.0)  # ... and per address: 300 people mistyping it ten times
CREATE_LIMIT = (20, 3600.0)  # workshops created per address
EXPORT_FORMATS = ("csv", "json", "md")


class WorkshopError(Exception):
    """A refused request. `str(err)` is the sentence shown to the person; `kind` is for code."""

    kind = "invalid"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(WorkshopError):
    kind = "not_found"


class Forbidden(WorkshopError):
    kind = "forbidden"


class RoundClosed(WorkshopError):
    kind = "closed"


class RateLimited(WorkshopError):
    kind = "rate_limited"


class Busy(RateLimited):
    """A participant sent rewrites faster than their allowance: retry in `retry_after` s."""

    def __init__(self, wait: float, participant_id: int | None = None):
        self.wait_s = wait
        self.participant_id = participant_id
        self.retry_after = max(1, math.ceil(wait - 1e-9))
        super().__init__(f"Busy, retry in {self.retry_after} s: the coach takes {SUBMIT_BURST} "
                         f"rewrites from one person at once, then one every "
                         f"{SUBMIT_INTERVAL_S:g} seconds.")


#: The one answer for a code that is malformed or opens no workshop: nobody can tell the two
#: apart, so codes cannot be enumerated by their answers.
NO_SUCH_WORKSHOP = ("No workshop has the code you entered. A join code is 6 letters and digits, "
                    "like K7QF2M: check it and try again.")


class NoSuchWorkshop(NotFound):
    def __init__(self, message: str = NO_SUCH_WORKSHOP):
        super().__init__(message)


def _minutes(seconds: float) -> str:
    m = max(1, int(seconds // 60 + (seconds % 60 > 0)))
    return f"{m} minute{'s' if m != 1 else ''}"


# ------------------------------------------------------------------------------------- helpers


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def clean_text(value: Any, field: str, limit: int, *, required: bool = True) -> str:
    """One line of user text: control characters dropped, whitespace collapsed, length checked.

    Over-long text is refused rather than cut, so nobody's words are silently lost.
    """
    text = "" if value is None else str(value)
    text = _CONTROL.sub("", text)
    text = " ".join(text.split())
    if required and not text:
        raise WorkshopError(f"{field} is empty.")
    if len(text) > limit:
        raise WorkshopError(f"{field} is {len(text)} characters long; the limit is {limit}.")
    return text


def normalize_code(code: Any) -> str:
    """Accept 'k7q f2m', 'K7Q-F2M' and the like; refuse anything that cannot be a code."""
    raw = re.sub(r"[\s\-]", "", str(code or "")).upper()
    if len(raw) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in raw):
        raise WorkshopError(
            f"A join code is {CODE_LENGTH} letters and digits, like K7QF2M; got {str(code)[:20]!r}."
        )
    return raw


_LIST_MARKER = re.compile(r"^\s*(?:[-*•+]\s+|\d{1,2}[.)]\s+|KR\s*\d{1,2}\s*[:.)-]\s*)", re.I)


def parse_kr_lines(krs: str | list[str]) -> list[str]:
    """The KRs to rewrite, from pasted lines or a list; list markers and 'KR1:' prefixes dropped."""
    lines = krs.splitlines() if isinstance(krs, str) else [str(k) for k in krs]
    items = []
    for n, line in enumerate(lines, 1):
        line = _LIST_MARKER.sub("", line)
        text = clean_text(line, f"KR on line {n}", MAX_ITEM_CHARS, required=False)
        if text:
            items.append(text)
    if not items:
        raise WorkshopError("Add at least one KR to rewrite (one per line).")
    if len(items) > MAX_ITEMS:
        raise WorkshopError(f"A workshop holds at most {MAX_ITEMS} KRs; got {len(items)}.")
    return items


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds")


@cache
def starter_deck() -> list[dict[str, str]]:
    """The built-in deck of activity-shaped KRs: [{'function': ..., 'kr': ...}, ...]."""
    data = load_json("starter_deck.json")
    return [{"function": f["function"], "kr": kr} for f in data["functions"] for kr in f["krs"]]


# ---------------------------------------------------------------------------------- engine use

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def resolve_engine(engine: Engine | str | None) -> Engine:
    """An Engine object; names are built once per process (engines are stateless helpers)."""
    if isinstance(engine, Engine):
        return engine
    key = engine or ""
    with _engines_lock:
        if key not in _engines:
            _engines[key] = make_engine(engine)
        return _engines[key]


def review_rewrite(engine: Engine | str | None, title: str, number: int, text: str) -> dict[str, Any]:
    """The coach's per-KR record for one submission, with the workshop title as objective."""
    eng = resolve_engine(engine)
    objective = Objective(title=title, krs=[KeyResult(id=str(number), kr=text)])
    reviews = eng.review_objective(objective, ReviewContext())
    return reviews[0].record()


# ------------------------------------------------------------------------------------- lookups


def _workshop(conn: sqlite3.Connection, code: Any) -> sqlite3.Row:
    try:
        norm = normalize_code(code)
    except WorkshopError:
        raise NoSuchWorkshop() from None
    row = conn.execute("SELECT * FROM workshops WHERE code = ?", (norm,)).fetchone()
    if row is None:
        raise NoSuchWorkshop()
    return row


FACILITATOR_ONLY = "Only the facilitator can do this: open the workshop's private facilitator link."


def _facilitator(conn: sqlite3.Connection, code: Any, token: Any) -> sqlite3.Row:
    """The workshop, if `token` is its facilitator token. An unknown code gets the same answer
    as a wrong token, so facilitator endpoints tell nobody which codes exist."""
    try:
        ws = _workshop(conn, code)
    except NoSuchWorkshop:
        raise Forbidden(FACILITATOR_ONLY) from None
    if not token or not hmac.compare_digest(ws["facilitator_hash"], _hash(str(token))):
        raise Forbidden(FACILITATOR_ONLY)
    return ws


def _check_facilitator(store: Store, code: Any, token: Any) -> None:
    """Rights before arguments: a stranger learns nothing from how their arguments are judged."""
    with store.read() as conn:
        _facilitator(conn, code, token)


def _code_guards(store: Store, client: str | None,
                 device: str | None) -> list[tuple[str, tuple[int, float], str]]:
    """The buckets that count join codes opening no workshop: the device's, and the address's
    (a coarse cap). Each with its limit and the refusal that names whose allowance ran out."""
    guards = []
    if device:
        guards.append((store.limiter.bucket("code", "device:" + device), BAD_CODE_LIMIT,
                       "this device"))
    if client:
        guards.append((store.limiter.bucket("code", client), BAD_CODE_ADDRESS_LIMIT, "your network"))
    return guards


@contextmanager
def _code_attempt(store: Store, client: str | None, device: str | None,
                  at: float):  # type: ignore[no-untyped-def]
    """Limit guessing join codes, per device (BAD_CODE_LIMIT) and, coarsely, per address
    (BAD_CODE_ADDRESS_LIMIT). Once either is used up, every join from that device (or address)
    is refused, a right code too, with one answer that says nothing about the code; attempts
    refused that way check no code and are not counted. Only joining takes a code without a
    token, so only joining can be locked out: a participant's own calls never are."""
    guards = _code_guards(store, client, device)
    conn = store.connection()
    for bucket, (limit, window), whose in guards:
        wait = store.limiter.wait(conn, bucket, limit, window, at)
        if wait:
            raise RateLimited(f"Too many attempts with join codes that open no workshop from "
                              f"{whose}. Wait {_minutes(wait)} and try again.")
    try:
        yield
    except NoSuchWorkshop:
        store.limiter.record([bucket for bucket, _, _ in guards], at)
        raise


def _take(conn: sqlite3.Connection, store: Store, action: str, who: str | None, scope: object,
          limits: tuple[int, float], at: float, message: str) -> None:
    """Count one `action` for `who` (a device, participant or address; None: not limited), or
    refuse it with `message` ({wait} filled in) when `who` used up its allowance."""
    if not who:
        return
    bucket = store.limiter.bucket(action, who, scope)
    wait = store.limiter.wait(conn, bucket, *limits, at)
    if wait:
        raise RateLimited(message.format(wait=_minutes(wait)))
    store.limiter.hit(conn, bucket, at)


def not_joined(code: str) -> str:
    return f"You have not joined workshop {code}; join it with its code first."


def _member(conn: sqlite3.Connection, code: Any, token: Any) -> tuple[sqlite3.Row, sqlite3.Row]:
    """(workshop, participant) for a participant's call. The token is looked up first, and an
    unknown code gets the same answer as a token of another workshop ("You have not joined"), so
    participant calls reveal nothing about which codes exist: they need no guessing limit and
    never share one with joining."""
    try:
        norm = normalize_code(code)
    except WorkshopError:
        raise NoSuchWorkshop() from None  # malformed: the input shows that, not the database
    row = None
    if token:
        row = conn.execute(
            "SELECT p.*, w.code AS workshop_code FROM participants p "
            "JOIN workshops w ON w.id = p.workshop_id WHERE p.token_hash = ?",
            (_hash(str(token)),),
        ).fetchone()
    if row is None or not hmac.compare_digest(row["workshop_code"], norm):
        raise Forbidden(not_joined(norm))
    ws = conn.execute("SELECT * FROM workshops WHERE id = ?", (row["workshop_id"],)).fetchone()
    return ws, row


def _items(conn: sqlite3.Connection, ws: sqlite3.Row) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT * FROM items WHERE workshop_id = ? ORDER BY position", (ws["id"],)
    ).fetchall()


def _participants(conn: sqlite3.Connection, ws: sqlite3.Row) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT * FROM participants WHERE workshop_id = ? ORDER BY alias_no", (ws["id"],)
    ).fetchall()


def _item(conn: sqlite3.Connection, ws: sqlite3.Row, number: Any) -> sqlite3.Row:
    items = _items(conn, ws)
    try:
        n = int(number)
    except (TypeError, ValueError):
        n = 0
    if not 1 <= n <= len(items):
        raise WorkshopError(f"There is no KR {number} in this workshop; pick 1 to {len(items)}.")
    return items[n - 1]


def _alias(alias_no: int) -> str:
    return f"Participant {alias_no}"


def _display(participant: sqlite3.Row | dict, names_hidden: bool) -> str:
    """What others see: the chosen name unless names are hidden or none was given."""
    name = participant["name"]
    return name if (name and not names_hidden) else _alias(participant["alias_no"])


def _timer(ws: sqlite3.Row, now: float) -> dict[str, Any]:
    ends = ws["timer_ends_at"]
    return {
        "running": ends is not None and ends > now,
        "ends_at": _iso(ends),
        "remaining_s": None if ends is None else max(0, int(round(ends - now))),
        "seconds": ws["timer_seconds"],
    }


def _round_state(ws: sqlite3.Row, now: float) -> dict[str, Any]:
    return {
        "code": ws["code"],
        "title": ws["title"],
        "round_open": bool(ws["round_open"]),
        "revealed": bool(ws["revealed"]),
        "voting_open": bool(ws["voting_open"]),
        "names_hidden": bool(ws["names_hidden"]),
        "timer": _timer(ws, now),
    }


def _submission_view(row: sqlite3.Row) -> dict[str, Any]:
    record = json.loads(row["record_json"]) if row["record_json"] else None
    return {
        "id": row["id"],
        "version": row["version"],
        "text": row["text"],
        "kind": row["kind"],
        "why": record.get("why") if record else None,
        "issues": record.get("issues", []) if record else [],
        "rewrites": record.get("rewrites", []) if record else [],
        "reviewed": record is not None,
        "created_at": _iso(row["created_at"]),
    }


def _latest(conn: sqlite3.Connection, workshop_id: int) -> list[sqlite3.Row]:
    """Each participant's latest version per KR, with how many versions they wrote."""
    return conn.execute(
        """
        SELECT s.*, m.versions AS versions
        FROM submissions s
        JOIN (SELECT participant_id, item_id, MAX(version) AS v, COUNT(*) AS versions
              FROM submissions WHERE workshop_id = ? GROUP BY participant_id, item_id) m
          ON s.participant_id = m.participant_id AND s.item_id = m.item_id AND s.version = m.v
        ORDER BY s.created_at, s.id
        """,
        (workshop_id,),
    ).fetchall()


def _votes(conn: sqlite3.Connection, workshop_id: int) -> dict[tuple[int, int], int]:
    rows = conn.execute(
        "SELECT item_id, author_id, COUNT(*) AS n FROM votes WHERE workshop_id = ? "
        "GROUP BY item_id, author_id",
        (workshop_id,),
    ).fetchall()
    return {(r["item_id"], r["author_id"]): r["n"] for r in rows}


# ---------------------------------------------------------------------------------- facilitator


def create_workshop(
    store: Store,
    title: Any,
    krs: str | list[str],
    *,
    engine_name: str | None = None,
    client: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Create a workshop. Returns its code and the facilitator token (shown once, stored hashed).

    `client` (the requester's address, given by the app) is limited to CREATE_LIMIT."""
    title_text = clean_text(title, "The workshop title", MAX_TITLE_CHARS)
    items = parse_kr_lines(krs)
    token = secrets.token_urlsafe(24)
    created = _now(now)
    conn = store.connection()
    for _ in range(50):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        try:
            with store.write():
                _take(conn, store, "create", client, "", CREATE_LIMIT, created,
                      f"Your network created {CREATE_LIMIT[0]} workshops in the last hour: "
                      "wait {wait} to create another.")
                cur = conn.execute(
                    "INSERT INTO workshops (code, title, facilitator_hash, engine, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (code, title_text, _hash(token), engine_name, created),
                )
                wid = cur.lastrowid
                conn.executemany(
                    "INSERT INTO items (workshop_id, position, text) VALUES (?, ?, ?)",
                    [(wid, i, text) for i, text in enumerate(items, 1)],
                )
        except sqlite3.IntegrityError:
            continue  # code already taken: draw another
        return {"code": code, "facilitator_token": token, "title": title_text, "krs": items}
    raise WorkshopError("Could not find a free join code; try again.")  # pragma: no cover


def _set_flag(store: Store, code: Any, token: Any, column: str, value: int | float | None,
              extra: dict[str, Any] | None = None) -> dict[str, Any]:
    conn = store.connection()
    with store.write():
        ws = _facilitator(conn, code, token)
        assignments = {column: value, **(extra or {})}
        sql = ", ".join(f"{c} = ?" for c in assignments)
        conn.execute(f"UPDATE workshops SET {sql} WHERE id = ?", (*assignments.values(), ws["id"]))
        ws = conn.execute("SELECT * FROM workshops WHERE id = ?", (ws["id"],)).fetchone()
    return _round_state(ws, time.time())


def close_round(store: Store, code: Any, token: Any) -> dict[str, Any]:
    """Stop accepting submissions (participants see why)."""
    return _set_flag(store, code, token, "round_open", 0)


def reopen_round(store: Store, code: Any, token: Any) -> dict[str, Any]:
    return _set_flag(store, code, token, "round_open", 1)


def set_revealed(store: Store, code: Any, token: Any, revealed: bool = True) -> dict[str, Any]:
    """Show (or hide again) everyone's latest rewrites to the room. Hiding also stops voting."""
    extra = None if revealed else {"voting_open": 0}
    return _set_flag(store, code, token, "revealed", int(bool(revealed)), extra)


def set_voting(store: Store, code: Any, token: Any, open_: bool = True) -> dict[str, Any]:
    """Let participants vote; voting needs the rewrites revealed, so opening it reveals them."""
    extra = {"revealed": 1} if open_ else None
    return _set_flag(store, code, token, "voting_open", int(bool(open_)), extra)


def set_names_hidden(store: Store, code: Any, token: Any, hidden: bool = True) -> dict[str, Any]:
    return _set_flag(store, code, token, "names_hidden", int(bool(hidden)))


def set_timer(store: Store, code: Any, token: Any, seconds: Any, *,
              now: float | None = None) -> dict[str, Any]:
    """Start a countdown everyone sees (0 or None stops it). Informational: it does not close."""
    _check_facilitator(store, code, token)
    try:
        secs = int(float(seconds or 0))
    except (TypeError, ValueError):
        raise WorkshopError(f"The timer needs a number of seconds; got {str(seconds)[:20]!r}.") from None
    if secs < 0 or secs > MAX_TIMER_SECONDS:
        raise WorkshopError(f"The timer runs for 1 to {MAX_TIMER_SECONDS // 60} minutes.")
    if secs == 0:
        return _set_flag(store, code, token, "timer_ends_at", None, {"timer_seconds": None})
    return _set_flag(store, code, token, "timer_ends_at", _now(now) + secs, {"timer_seconds": secs})


def set_favourite(store: Store, code: Any, token: Any, submission_id: Any,
                  favourite: bool = True) -> dict[str, Any]:
    """Mark a submission as one of the facilitator's favourites (or unmark it)."""
    conn = store.connection()
    with store.write():
        ws = _facilitator(conn, code, token)
        row = _submission_in(conn, ws, submission_id)
        conn.execute("UPDATE submissions SET favourite = ? WHERE id = ?", (int(bool(favourite)), row["id"]))
    return {"submission_id": row["id"], "favourite": bool(favourite)}


def _submission_in(conn: sqlite3.Connection, ws: sqlite3.Row, submission_id: Any) -> sqlite3.Row:
    try:
        sid = int(submission_id)
    except (TypeError, ValueError):
        sid = -1
    row = conn.execute(
        "SELECT * FROM submissions WHERE id = ? AND workshop_id = ?", (sid, ws["id"])
    ).fetchone()
    if row is None:
        raise NotFound(f"There is no submission #{str(submission_id)[:20]} in this workshop.")
    return row


def board(store: Store, code: Any, token: Any, *, now: float | None = None) -> dict[str, Any]:
    """The facilitator's live view: per KR, everyone's latest rewrite with verdict, issues, votes;
    the share that became outcomes, the most common issues and who has not submitted."""
    conn = store.connection()
    with store.read():
        ws = _facilitator(conn, code, token)
        items = _items(conn, ws)
        participants = _participants(conn, ws)
        latest = _latest(conn, ws["id"])
        votes = _votes(conn, ws["id"])
        total = conn.execute(
            "SELECT COUNT(*) FROM submissions WHERE workshop_id = ?", (ws["id"],)
        ).fetchone()[0]
    hidden = bool(ws["names_hidden"])
    by_id = {p["id"]: p for p in participants}
    view = _round_state(ws, _now(now))
    view.update(participants=len(participants), submissions_total=total, items=[])
    for item in items:
        rows = [r for r in latest if r["item_id"] == item["id"]]
        subs = []
        for r in rows:
            sub = _submission_view(r)
            author = by_id[r["participant_id"]]
            sub.update(
                participant=_alias(author["alias_no"]),
                author=_display(author, hidden),
                name=None if hidden else author["name"],
                versions=r["versions"],
                votes=votes.get((item["id"], author["id"]), 0),
                favourite=bool(r["favourite"]),
            )
            subs.append(sub)
        subs.sort(key=lambda s: (not s["favourite"], -s["votes"], s["id"]))
        submitted = {r["participant_id"] for r in rows}
        outcomes = sum(s["kind"] == "outcome" for s in subs)
        outputs = sum(s["kind"] == "output" for s in subs)
        issues = Counter(i["code"] for s in subs for i in s["issues"])
        view["items"].append({
            "number": item["position"],
            "text": item["text"],
            "submitted": len(submitted),
            "outcomes": outcomes,
            "outputs": outputs,
            "outcome_share": round(outcomes / (outcomes + outputs), 3) if outcomes + outputs else None,
            "top_issues": [
                {"code": c, "message": ISSUE_CODES.get(c, c), "count": n} for c, n in issues.most_common(3)
            ],
            "not_submitted": [_display(p, hidden) for p in participants if p["id"] not in submitted],
            "submissions": subs,
        })
    return view


# ---------------------------------------------------------------------------------- participant


def join(store: Store, code: Any, name: Any = None, *, client: str | None = None,
         device: str | None = None, now: float | None = None) -> dict[str, Any]:
    """Join a workshop, anonymously unless a display name is given. The returned participant
    token is the person's identity: keep it (the app keeps it in the browser's localStorage).

    `device` (the browser's device id or the API client's session, given by the app) is limited
    to JOIN_LIMIT joins per workshop and BAD_CODE_LIMIT codes that open nothing; `client` (the
    requester's address) only to the coarse JOIN_ADDRESS_LIMIT and BAD_CODE_ADDRESS_LIMIT. A
    closed round does not stop joining (latecomers wait for the reopen), so there is no third
    answer that would tell it apart."""
    display = clean_text(name, "Your name", MAX_NAME_CHARS, required=False) or None
    token = secrets.token_urlsafe(24)
    conn = store.connection()
    at = _now(now)
    minutes = int(JOIN_LIMIT[1] // 60)
    with _code_attempt(store, client, device, at), store.write():
        ws = _workshop(conn, code)
        _take(conn, store, "join", device and "device:" + device, ws["id"], JOIN_LIMIT, at,
              f"This device joined this workshop {JOIN_LIMIT[0]} times in the last {minutes} "
              "minutes, the most it takes: wait {wait} and try again.")
        _take(conn, store, "join", client, ws["id"], JOIN_ADDRESS_LIMIT, at,
              f"{JOIN_ADDRESS_LIMIT[0]} people joined this workshop from your network in the last "
              f"{int(JOIN_ADDRESS_LIMIT[1] // 60)} minutes, the most it takes: "
              "wait {wait} and try again.")
        count, top = conn.execute(
            "SELECT COUNT(*), COALESCE(MAX(alias_no), 0) FROM participants WHERE workshop_id = ?",
            (ws["id"],),
        ).fetchone()
        if count >= MAX_PARTICIPANTS:
            raise WorkshopError(f"Workshop {ws['code']} is full ({MAX_PARTICIPANTS} participants).")
        cur = conn.execute(
            "INSERT INTO participants (workshop_id, token_hash, alias_no, name, joined_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (ws["id"], _hash(token), top + 1, display, at),
        )
    return {
        "code": ws["code"],
        "title": ws["title"],
        "participant_token": token,
        "participant_id": cur.lastrowid,
        "alias": _alias(top + 1),
        "name": display,
    }


def rename(store: Store, code: Any, token: Any, name: Any) -> dict[str, Any]:
    """Change (or clear) one's display name."""
    display = clean_text(name, "Your name", MAX_NAME_CHARS, required=False) or None
    conn = store.connection()
    with store.write():
        _, me = _member(conn, code, token)
        conn.execute("UPDATE participants SET name = ? WHERE id = ?", (display, me["id"]))
    return {"alias": _alias(me["alias_no"]), "name": display}


def participant_state(store: Store, code: Any, token: Any, *,
                      now: float | None = None) -> dict[str, Any]:
    """What one participant sees: the KRs, their own latest rewrite of each with the coach's
    review, the round state and timer, and, once revealed, the room's rewrites with votes."""
    conn = store.connection()
    with store.read():
        ws, me = _member(conn, code, token)
        items = _items(conn, ws)
        mine = conn.execute(
            """SELECT s.*, (SELECT COUNT(*) FROM submissions c
                            WHERE c.participant_id = s.participant_id AND c.item_id = s.item_id)
                           AS versions
               FROM submissions s WHERE s.participant_id = ? AND s.version =
                 (SELECT MAX(version) FROM submissions v
                  WHERE v.participant_id = s.participant_id AND v.item_id = s.item_id)""",
            (me["id"],),
        ).fetchall()
        revealed = bool(ws["revealed"])
        latest = _latest(conn, ws["id"]) if revealed else []
        votes = _votes(conn, ws["id"]) if revealed else {}
        authors = {p["id"]: p for p in _participants(conn, ws)} if revealed else {}
        my_votes = {
            r["item_id"]: r["author_id"] for r in conn.execute(
                "SELECT item_id, author_id FROM votes WHERE voter_id = ?", (me["id"],)
            ).fetchall()
        }
    hidden = bool(ws["names_hidden"])
    view = _round_state(ws, _now(now))
    view["you"] = {"alias": _alias(me["alias_no"]), "name": me["name"]}
    view["items"] = []
    mine_by_item = {r["item_id"]: r for r in mine}
    for item in items:
        own = mine_by_item.get(item["id"])
        entry: dict[str, Any] = {
            "number": item["position"],
            "text": item["text"],
            "mine": None,
            "room": [],
        }
        if own is not None:
            entry["mine"] = _submission_view(own) | {"versions": own["versions"]}
        if revealed:
            room = []
            for r in latest:
                if r["item_id"] != item["id"]:
                    continue
                author = authors[r["participant_id"]]
                room.append({
                    "id": r["id"],
                    "text": r["text"],
                    "kind": r["kind"],
                    "author": _display(author, hidden),
                    "mine": author["id"] == me["id"],
                    "votes": votes.get((item["id"], author["id"]), 0),
                    "favourite": bool(r["favourite"]),
                    "my_vote": my_votes.get(item["id"]) == author["id"],
                })
            room.sort(key=lambda s: (not s["favourite"], -s["votes"], s["id"]))
            entry["room"] = room
        view["items"].append(entry)
    return view


def submit(
    store: Store,
    code: Any,
    token: Any,
    kr_number: Any,
    text: Any,
    engine: Engine | str | None = None,
    *,
    request_id: Any = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Store one rewrite as a new version and return it with the coach's review.

    `request_id` (optional, chosen by the client: the participant page makes one per attempt and
    sends it again when it retries) makes a retried request safe: the same id from the same
    participant returns the stored submission (`duplicate: true`) instead of writing a second
    one. It is kept in the database, unique per participant, so it holds across a restart.

    Each participant may send SUBMIT_BURST rewrites at once, then one per SUBMIT_INTERVAL_S
    (a token bucket kept in the database); the allowance is taken before the coach's review, so
    a flood of requests costs one review per allowed rewrite, not one per request.
    """
    rewrite = clean_text(text, "Your rewrite", MAX_SUBMISSION_CHARS)
    rid = clean_text(request_id, "request_id", 80, required=False) or None
    conn = store.connection()
    # Cheap checks first, in a read: a retry, a closed round or a flood costs no write and no
    # review, and waits for no writer.
    with store.read():
        ws, me = _member(conn, code, token)
        item = _item(conn, ws, kr_number)
        done = _by_request(conn, me, rid)
        if done is None:
            _check_can_submit(ws, me, _now(now))
    if done is not None:
        return _duplicate(done, item, rewrite)
    # Take the allowance, checked again in the write: concurrent requests cannot all pass. Not
    # fsynced by itself (it is made durable by the submission's own commit); a power cut in
    # between gives back one rewrite's allowance, nothing more.
    with store.write(durable=False):
        ws, me = _member(conn, code, token)
        done = _by_request(conn, me, rid)
        if done is None:
            at = _now(now)
            _check_can_submit(ws, me, at)
            conn.execute("UPDATE participants SET submit_tat = ? WHERE id = ?",
                         (max(me["submit_tat"] or at, at) + SUBMIT_INTERVAL_S, me["id"]))
    if done is not None:
        return _duplicate(done, item, rewrite)
    try:
        record: dict[str, Any] | None = review_rewrite(engine, ws["title"], item["position"], rewrite)
        review_error = None
    except Exception as err:  # the participant's words are kept even when the coach fails
        record, review_error = None, f"{type(err).__name__}: {err}"[:300]
    with store.write():
        ws = conn.execute("SELECT * FROM workshops WHERE id = ?", (ws["id"],)).fetchone()
        done = _by_request(conn, me, rid)
        if done is None:
            if not ws["round_open"]:  # closed while the coach was reviewing
                raise RoundClosed(ROUND_CLOSED)
            version = conn.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM submissions "
                "WHERE participant_id = ? AND item_id = ?",
                (me["id"], item["id"]),
            ).fetchone()[0]
            cur = conn.execute(
                "INSERT INTO submissions (workshop_id, item_id, participant_id, version, text, kind,"
                " record_json, created_at, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ws["id"], item["id"], me["id"], version, rewrite,
                 record["kind"] if record else None,
                 json.dumps(record, ensure_ascii=False) if record else None, _now(now), rid),
            )
            row = conn.execute("SELECT * FROM submissions WHERE id = ?", (cur.lastrowid,)).fetchone()
    if done is not None:  # the same request, sent twice at once: the other one stored it
        return _duplicate(done, item, rewrite)
    return _submitted(row, item, duplicate=False) | {"review_error": review_error}


ROUND_CLOSED = "The round is closed: the facilitator is not taking rewrites right now."


def _by_request(conn: sqlite3.Connection, me: sqlite3.Row, rid: str | None) -> sqlite3.Row | None:
    if rid is None:
        return None
    return conn.execute(
        "SELECT * FROM submissions WHERE participant_id = ? AND request_id = ?", (me["id"], rid)
    ).fetchone()


def _duplicate(done: sqlite3.Row, item: sqlite3.Row, rewrite: str) -> dict[str, Any]:
    """The stored answer to a request sent again; a request id reused for another rewrite is a
    client's mistake, refused rather than answered with the wrong submission."""
    if done["item_id"] != item["id"] or done["text"] != rewrite:
        raise WorkshopError("This request_id was already used for another rewrite: send a new "
                            "request_id with each new rewrite, and the same one only to retry.")
    return _submitted(done, item, duplicate=True) | {"review_error": None}


def _check_can_submit(ws: sqlite3.Row, me: sqlite3.Row, at: float) -> None:
    """Refuse when the round is closed or the participant's allowance is used up. The allowance
    is a token bucket of SUBMIT_BURST rewrites refilled one per SUBMIT_INTERVAL_S, kept as the
    time its bucket is full again (`submit_tat`, the GCRA form of a token bucket)."""
    if not ws["round_open"]:
        raise RoundClosed(ROUND_CLOSED)
    full_at = max(me["submit_tat"] or at, at)
    wait = full_at - at - (SUBMIT_BURST - 1) * SUBMIT_INTERVAL_S
    if wait > 0:
        raise Busy(wait, me["id"])


def _submitted(row: sqlite3.Row, item: sqlite3.Row, *, duplicate: bool) -> dict[str, Any]:
    view = _submission_view(row)
    return {
        "submission_id": row["id"],
        "kr_number": item["position"],
        "version": row["version"],
        "text": row["text"],
        "kind": row["kind"],
        "why": view["why"],
        "issues": view["issues"],
        "rewrites": view["rewrites"],
        "duplicate": duplicate,
    }


def vote(store: Store, code: Any, token: Any, submission_id: Any, *, client: str | None = None,
         now: float | None = None) -> dict[str, Any]:
    """One vote per participant per KR for someone else's rewrite; voting again moves it (so
    one person can never add more than one vote to any rewrite). Each participant may vote
    VOTE_LIMIT times per window; `client` (the requester's address) is limited, coarsely, to
    VOTE_ADDRESS_LIMIT votes per workshop."""
    conn = store.connection()
    at = _now(now)
    with store.write():
        ws, me = _member(conn, code, token)
        if not ws["voting_open"]:
            raise RoundClosed("Voting is not open: wait for the facilitator to open it.")
        sub = _submission_in(conn, ws, submission_id)
        if sub["participant_id"] == me["id"]:
            raise WorkshopError("You cannot vote for your own rewrite.")
        _take(conn, store, "vote", f"participant:{me['id']}", ws["id"], VOTE_LIMIT, at,
              f"You voted {VOTE_LIMIT[0]} times in the last {int(VOTE_LIMIT[1] // 60)} minutes: "
              "wait {wait} and try again.")
        _take(conn, store, "vote", client, ws["id"], VOTE_ADDRESS_LIMIT, at,
              "Too many votes from your network in this workshop: wait {wait} and try again.")
        conn.execute(
            "INSERT INTO votes (workshop_id, item_id, voter_id, author_id, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (voter_id, item_id) DO UPDATE SET "
            "author_id = excluded.author_id, created_at = excluded.created_at",
            (ws["id"], sub["item_id"], me["id"], sub["participant_id"], at),
        )
        item = conn.execute("SELECT position FROM items WHERE id = ?", (sub["item_id"],)).fetchone()
        n = conn.execute(
            "SELECT COUNT(*) FROM votes WHERE item_id = ? AND author_id = ?",
            (sub["item_id"], sub["participant_id"]),
        ).fetchone()[0]
    return {"kr_number": item["position"], "submission_id": sub["id"], "votes": n}


# ------------------------------------------------------------------------------ export, summary


def _all_rows(store: Store, code: Any, token: Any) -> tuple[sqlite3.Row, list, list, list, dict]:
    conn = store.connection()
    with store.read():
        ws = _facilitator(conn, code, token)
        items = _items(conn, ws)
        participants = _participants(conn, ws)
        subs = conn.execute(
            "SELECT * FROM submissions WHERE workshop_id = ? ORDER BY item_id, participant_id, version",
            (ws["id"],),
        ).fetchall()
        votes = _votes(conn, ws["id"])
    return ws, items, participants, subs, votes


def export(store: Store, code: Any, token: Any, fmt: str = "json") -> str:
    """Everything in the workshop as CSV (one row per version), JSON or Markdown (before/after).

    Display names are included only while names are not hidden.
    """
    _check_facilitator(store, code, token)
    fmt = str(fmt or "").strip().lower().lstrip(".")
    if fmt not in EXPORT_FORMATS:
        raise WorkshopError(f"Unknown export format {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}.")
    ws, items, participants, subs, votes = _all_rows(store, code, token)
    hidden = bool(ws["names_hidden"])
    people = {p["id"]: p for p in participants}
    item_by_id = {i["id"]: i for i in items}
    latest_version: dict[tuple[int, int], int] = {}
    for s in subs:
        key = (s["participant_id"], s["item_id"])
        latest_version[key] = max(latest_version.get(key, 0), s["version"])
    rows = []
    for s in subs:
        item, who = item_by_id[s["item_id"]], people[s["participant_id"]]
        view = _submission_view(s)
        latest = latest_version[(s["participant_id"], s["item_id"])] == s["version"]
        rows.append({
            "workshop": ws["code"],
            "kr_number": item["position"],
            "original_kr": item["text"],
            "participant": _alias(who["alias_no"]),
            "name": None if hidden else who["name"],
            "submission_id": s["id"],
            "version": s["version"],
            "latest": latest,
            "submitted_at": view["created_at"],
            "rewrite": s["text"],
            "kind": s["kind"],
            "issues": [i["code"] for i in view["issues"]],
            "why": view["why"],
            "hint": view["rewrites"][0]["text"] if view["rewrites"] else None,
            "votes": votes.get((s["item_id"], s["participant_id"]), 0) if latest else 0,
            "favourite": bool(s["favourite"]),
            "record": json.loads(s["record_json"]) if s["record_json"] else None,
        })
    if fmt == "json":
        return json.dumps({
            "workshop": {
                "code": ws["code"], "title": ws["title"], "created_at": _iso(ws["created_at"]),
                "engine": ws["engine"], "round_open": bool(ws["round_open"]),
                "participants": len(participants), "submissions": len(subs),
            },
            "krs": [{"number": i["position"], "text": i["text"]} for i in items],
            "submissions": rows,
        }, ensure_ascii=False, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        fields = [k for k in rows[0] if k != "record"] if rows else [
            "workshop", "kr_number", "original_kr", "participant", "name", "submission_id", "version",
            "latest", "submitted_at", "rewrite", "kind", "issues", "why", "hint", "votes", "favourite"]
        writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for r in rows:
            # Every cell through csv_cell: a rewrite or name like =HYPERLINK(...) stays text.
            writer.writerow({k: csv_cell(v) for k, v in {**r, "issues": " ".join(r["issues"])}.items()
                             if k in fields})
        return buf.getvalue()
    return _markdown(ws, items, rows)


def _md(text: Any) -> str:
    """Text as inert Markdown: no HTML, no emphasis, no table breaks."""
    return " ".join(md_text(text).split())


def _markdown(ws: sqlite3.Row, items: list, rows: list[dict[str, Any]]) -> str:
    out = [f"# {_md(ws['title'])}", "",
           f"Workshop {ws['code']}, {_iso(ws['created_at'])[:10]}. "
           f"Every participant's final rewrite of each KR, with the coach's verdict.", ""]
    for item in items:
        final = [r for r in rows if r["kr_number"] == item["position"] and r["latest"]]
        final.sort(key=lambda r: (not r["favourite"], -r["votes"], r["submission_id"]))
        outcomes = sum(r["kind"] == "outcome" for r in final)
        out += [f"## KR {item['position']}", "", f"**Before:** {_md(item['text'])}", ""]
        if not final:
            out += ["No rewrites.", ""]
            continue
        out += [f"{outcomes} of {len(final)} final rewrites are outcomes.", "",
                "| After | Verdict | Issues | Who | Votes |", "|---|---|---|---|---|"]
        for r in final:
            star = "★ " if r["favourite"] else ""
            who = r["name"] or r["participant"]
            out.append(f"| {star}{_md(r['rewrite'])} | {r['kind'] or 'not reviewed'} | "
                       f"{_md(', '.join(r['issues'])) or '-'} | {_md(who)} | {r['votes']} |")
        out.append("")
    return "\n".join(out)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def summary(store: Store, code: Any, token: Any) -> str:
    """A few plain sentences for the facilitator's follow-up note."""
    view = board(store, code, token)
    finals = [s for item in view["items"] for s in item["submissions"]]
    outcomes = sum(s["kind"] == "outcome" for s in finals)
    reviewed = sum(s["kind"] is not None for s in finals)
    lines = [
        f"Workshop \"{view['title']}\" ({view['code']}): {_n(view['participants'], 'participant')} "
        f"wrote {_n(view['submissions_total'], 'rewrite')} of "
        f"{_n(len(view['items']), 'activity-shaped KR')}.",
    ]
    if reviewed:
        lines.append(f"{outcomes} of {reviewed} final rewrites ({outcomes / reviewed:.0%}) "
                     "measure an outcome rather than an activity.")
    for item in view["items"]:
        line = f"- KR {item['number']} \"{item['text']}\": "
        if not item["submissions"]:
            lines.append(line + "no rewrites.")
            continue
        share = item["outcome_share"]
        line += f"{item['outcomes']} of {item['outcomes'] + item['outputs']} outcomes"
        line += f" ({share:.0%})" if share is not None else ""
        if item["top_issues"]:
            top = item["top_issues"][0]
            line += f"; most common issue: {top['message'].rstrip('.').lower()} ({top['count']})"
        best = next((s for s in item["submissions"] if s["favourite"]), None) or (
            item["submissions"][0] if item["submissions"][0]["votes"] else None)
        if best:
            line += f"; the room's pick: \"{best['text']}\""
        lines.append(line + ".")
    lines.append("Next step: put your team's own KRs through the same question: "
                 "if we complete this, what will be different?")
    return "\n".join(lines)
