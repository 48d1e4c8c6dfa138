"""The workshop store and library, exercised on a real SQLite file with the real rules engine.

These prove the state model: everything lives in the database (a second Store on the same file
sees it all), every version is kept, migrations upgrade an old database in place, concurrent
writers lose nothing, and the board, exports and summary report what was submitted.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
from pathlib import Path

import pytest

from krcoach.workshop import domain as ws
from krcoach.workshop.store import SCHEMA_VERSION, Store, StoreError, open_store

OUTCOME = "Lift demo requests from 80 to 200 per month by end of Q3"
OUTPUT = "Hire 5 senior engineers by June"


@pytest.fixture
def made(store: Store) -> dict:
    return ws.create_workshop(store, "Outcomes workshop",
                              ["Launch the spring email campaign", "Hire 5 engineers", "Publish 12 blog posts"])


def test_database_is_wal_and_at_latest_schema(store: Store) -> None:
    conn = store.connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.schema_version() == SCHEMA_VERSION >= 2


def test_data_dir_comes_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRCOACH_DATA_DIR", str(tmp_path / "custom"))
    store = open_store()
    assert store.path == (tmp_path / "custom" / "workshops.sqlite3").resolve()
    assert store.path.exists()


def test_state_is_in_the_database_not_the_process(store: Store, made: dict, engine) -> None:
    joined = ws.join(store, made["code"], "Ana")
    ws.submit(store, made["code"], joined["participant_token"], 1, OUTCOME, engine)
    other = Store(store.path)  # what a restarted or second app process would open
    view = ws.board(other, made["code"], made["facilitator_token"])
    assert view["participants"] == 1
    assert view["items"][0]["submissions"][0]["text"] == OUTCOME
    state = ws.participant_state(other, made["code"], joined["participant_token"])
    assert state["items"][0]["mine"]["text"] == OUTCOME


def test_create_cleans_pasted_lists(store: Store) -> None:
    made = ws.create_workshop(store, "  Title  ", "- Launch X\n\n2. Hire 5 people\nKR3: Ship Y\n* Do Z")
    assert made["krs"] == ["Launch X", "Hire 5 people", "Ship Y", "Do Z"]
    assert made["title"] == "Title"
    assert len(made["code"]) == ws.CODE_LENGTH
    assert ws.normalize_code(made["code"].lower()[:3] + " " + made["code"][3:]) == made["code"]


def test_every_version_is_kept_and_latest_shown(store: Store, made: dict, engine) -> None:
    p = ws.join(store, made["code"])
    texts = ["Launch the campaign well", "Get more demo requests", OUTCOME]
    results = [ws.submit(store, made["code"], p["participant_token"], 1, t, engine) for t in texts]
    assert [r["version"] for r in results] == [1, 2, 3]
    assert results[0]["kind"] == "output" and results[-1]["kind"] == "outcome"
    assert "activity" in [i["code"] for i in results[0]["issues"]] and results[0]["rewrites"]
    state = ws.participant_state(store, made["code"], p["participant_token"])
    assert state["items"][0]["mine"]["text"] == OUTCOME
    assert state["items"][0]["mine"]["versions"] == 3
    assert state["you"] == {"alias": "Participant 1", "name": None}
    sub = ws.board(store, made["code"], made["facilitator_token"])["items"][0]["submissions"]
    assert len(sub) == 1 and sub[0]["versions"] == 3 and sub[0]["text"] == OUTCOME
    exported = json.loads(ws.export(store, made["code"], made["facilitator_token"], "json"))
    assert [s["rewrite"] for s in exported["submissions"]] == texts
    assert [s["latest"] for s in exported["submissions"]] == [False, False, True]
    assert all(s["record"]["engine"] == "rules" and s["record"]["kr"] == s["rewrite"]
               for s in exported["submissions"])


def test_request_id_makes_retries_safe(store: Store, made: dict, engine) -> None:
    code, key = made["code"], made["facilitator_token"]
    p = ws.join(store, code)
    first = ws.submit(store, code, p["participant_token"], 2, OUTPUT, engine, request_id="r-1")
    again = ws.submit(store, code, p["participant_token"], 2, OUTPUT, engine, request_id="r-1")
    assert again["duplicate"] and not first["duplicate"]
    answer = {k: v for k, v in first.items() if k != "duplicate"}
    assert {k: v for k, v in again.items() if k != "duplicate"} == answer  # the same answer
    # after a crash or a restart: a new Store on the same file still knows the request
    store.close()
    reopened = Store(store.path)
    retried = ws.submit(reopened, code, p["participant_token"], 2, OUTPUT, engine, request_id="r-1")
    assert retried["duplicate"] and {k: v for k, v in retried.items() if k != "duplicate"} == answer
    assert ws.board(reopened, code, key)["items"][1]["submissions"][0]["versions"] == 1
    fresh = ws.submit(reopened, code, p["participant_token"], 2, OUTPUT, engine, request_id="r-2")
    assert fresh["version"] == 2 and not fresh["duplicate"]
    # the id is the participant's own: someone else's r-1 is a new request
    q = ws.join(reopened, code)
    theirs = ws.submit(reopened, code, q["participant_token"], 2, OUTPUT, engine, request_id="r-1")
    assert not theirs["duplicate"] and theirs["submission_id"] != first["submission_id"]
    # an id reused for another rewrite is refused, not answered with the wrong submission
    for kr, text in ((2, OUTCOME), (3, OUTPUT)):
        with pytest.raises(ws.WorkshopError, match="already used for another rewrite"):
            ws.submit(reopened, code, p["participant_token"], kr, text, engine, request_id="r-1")
    # a retry takes no allowance: the stored answer comes back even when the burst is used up
    with pytest.raises(ws.Busy):
        for i in range(ws.SUBMIT_BURST + 5):
            ws.submit(reopened, code, p["participant_token"], 1, f"{OUTCOME} {i}", engine)
    assert ws.submit(reopened, code, p["participant_token"], 2, OUTPUT, engine, request_id="r-1")["duplicate"]
    exported = json.loads(ws.export(reopened, code, key, "json"))["submissions"]
    assert sum(s["rewrite"] == OUTPUT for s in exported) == 3  # r-1, r-2 and the other's r-1


def test_concurrent_retries_of_one_request_store_it_once(store: Store, made: dict, engine) -> None:
    """The same request sent from several connections at once (a retry racing the original)."""
    p = ws.join(store, made["code"])
    stores = [Store(store.path) for _ in range(8)]
    results: list[dict] = []

    def send(s: Store) -> None:
        results.append(ws.submit(s, made["code"], p["participant_token"], 1, OUTCOME, engine,
                                 request_id="same"))

    threads = [threading.Thread(target=send, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r["submission_id"] for r in results}) == 1 and len(results) == 8
    assert sum(not r["duplicate"] for r in results) == 1
    assert ws.board(store, made["code"], made["facilitator_token"])["submissions_total"] == 1


def test_board_reports_share_issues_and_missing(store: Store, made: dict, engine) -> None:
    a, b = ws.join(store, made["code"], "Ana"), ws.join(store, made["code"], "Bo")
    c = ws.join(store, made["code"])
    ws.submit(store, made["code"], a["participant_token"], 2, OUTCOME, engine)
    ws.submit(store, made["code"], b["participant_token"], 2, OUTPUT, engine)
    view = ws.board(store, made["code"], made["facilitator_token"])
    kr2 = view["items"][1]
    assert (kr2["submitted"], kr2["outcomes"], kr2["outputs"], kr2["outcome_share"]) == (2, 1, 1, 0.5)
    assert "activity" in [i["code"] for i in kr2["top_issues"]]
    assert kr2["not_submitted"] == ["Participant 3"]  # names hidden by default
    assert view["items"][0]["not_submitted"] == ["Participant 1", "Participant 2", "Participant 3"]
    assert {s["author"] for s in kr2["submissions"]} == {"Participant 1", "Participant 2"}
    ws.set_names_hidden(store, made["code"], made["facilitator_token"], False)
    kr2 = ws.board(store, made["code"], made["facilitator_token"])["items"][1]
    assert {s["author"] for s in kr2["submissions"]} == {"Ana", "Bo"}
    assert kr2["not_submitted"] == ["Participant 3"]  # anonymous stays anonymous
    assert c["alias"] == "Participant 3"


def test_reveal_vote_and_favourites(store: Store, made: dict, engine) -> None:
    code, key = made["code"], made["facilitator_token"]
    a, b, c = (ws.join(store, code) for _ in range(3))
    sa = ws.submit(store, code, a["participant_token"], 1, OUTCOME, engine)
    sb = ws.submit(store, code, b["participant_token"], 1, "Double trial sign-ups from 300 to 600 by Q4", engine)
    assert ws.participant_state(store, code, c["participant_token"])["items"][0]["room"] == []
    with pytest.raises(ws.RoundClosed, match="Voting is not open"):
        ws.vote(store, code, c["participant_token"], sa["submission_id"])
    ws.set_voting(store, code, key, True)
    state = ws.participant_state(store, code, c["participant_token"])
    assert state["revealed"] and {r["text"] for r in state["items"][0]["room"]} == {sa["text"], sb["text"]}
    ws.vote(store, code, c["participant_token"], sa["submission_id"])
    ws.vote(store, code, b["participant_token"], sa["submission_id"])
    ws.vote(store, code, c["participant_token"], sb["submission_id"])  # moves c's vote
    subs = ws.board(store, code, key)["items"][0]["submissions"]
    assert {s["id"]: s["votes"] for s in subs} == {sa["submission_id"]: 1, sb["submission_id"]: 1}
    ws.set_favourite(store, code, key, sb["submission_id"], True)
    subs = ws.board(store, code, key)["items"][0]["submissions"]
    assert subs[0]["id"] == sb["submission_id"] and subs[0]["favourite"]
    # a revision keeps the votes that went to its author
    ws.submit(store, code, a["participant_token"], 1, OUTCOME + " (revised)", engine)
    subs = ws.board(store, code, key)["items"][0]["submissions"]
    assert {s["text"]: s["votes"] for s in subs}[OUTCOME + " (revised)"] == 1
    ws.set_revealed(store, code, key, False)
    state = ws.participant_state(store, code, c["participant_token"])
    assert not state["voting_open"] and state["items"][0]["room"] == []


def test_round_close_reopen_and_timer(store: Store, made: dict, engine) -> None:
    code, key = made["code"], made["facilitator_token"]
    p = ws.join(store, code)
    ws.close_round(store, code, key)
    with pytest.raises(ws.RoundClosed, match="round is closed"):
        ws.submit(store, code, p["participant_token"], 1, OUTCOME, engine)
    ws.reopen_round(store, code, key)
    assert ws.submit(store, code, p["participant_token"], 1, OUTCOME, engine)["version"] == 1
    ws.set_timer(store, code, key, 300, now=1000.0)
    state = ws.participant_state(store, code, p["participant_token"], now=1100.0)
    assert state["timer"]["remaining_s"] == 200 and state["timer"]["running"]
    assert ws.participant_state(store, code, p["participant_token"], now=1400.0)["timer"]["remaining_s"] == 0
    ws.set_timer(store, code, key, 0)
    assert ws.board(store, code, key)["timer"]["remaining_s"] is None


def test_exports_hold_before_after_pairs(store: Store, made: dict, engine) -> None:
    code, key = made["code"], made["facilitator_token"]
    a = ws.join(store, code, "Ana")
    ws.submit(store, code, a["participant_token"], 1, "Run | the *campaign*", engine)
    ws.submit(store, code, a["participant_token"], 1, OUTCOME, engine)
    rows = list(csv.DictReader(io.StringIO(ws.export(store, code, key, "csv"))))
    assert [r["rewrite"] for r in rows] == ["Run | the *campaign*", OUTCOME]
    assert rows[1]["original_kr"] == "Launch the spring email campaign" and rows[1]["latest"] == "True"
    assert rows[0]["name"] == ""  # names hidden by default, exports follow
    md = ws.export(store, code, key, "md")
    assert "**Before:** Launch the spring email campaign" in md
    assert OUTCOME in md and "Run \\| the" not in md  # only the final version is the 'after'
    assert "| Participant 1 |" in md
    data = json.loads(ws.export(store, code, key, ".JSON"))
    assert data["workshop"]["submissions"] == 2 and data["krs"][0]["number"] == 1
    with pytest.raises(ws.WorkshopError, match="Unknown export format"):
        ws.export(store, code, key, "xlsx")
    text = ws.summary(store, code, key)
    assert "1 participant wrote 2 rewrites of 3 activity-shaped KRs" in text
    assert "1 of 1 final rewrites (100%)" in text and "KR 2" in text


def test_concurrent_writers_lose_nothing(store: Store, made: dict, engine) -> None:
    code = made["code"]
    people = [ws.join(store, code) for _ in range(12)]
    errors: list[BaseException] = []

    def work(p: dict, n: int) -> None:
        try:
            for k in range(4):
                ws.submit(store, code, p["participant_token"], 1 + k % 3, f"P{n} rewrite {k}", engine)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(p, n)) for n, p in enumerate(people)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = json.loads(ws.export(store, code, made["facilitator_token"], "json"))["submissions"]
    assert sorted(r["rewrite"] for r in rows) == sorted(f"P{n} rewrite {k}" for n in range(12) for k in range(4))
    per = {(r["participant"], r["kr_number"]): [] for r in rows}
    for r in rows:
        per[(r["participant"], r["kr_number"])].append(r["version"])
    assert all(sorted(v) == list(range(1, len(v) + 1)) for v in per.values())


# ------------------------------------------------------------------------------- migrations

def test_upgrade_from_v1_keeps_data(tmp_path: Path, engine) -> None:
    path = tmp_path / "old.sqlite3"
    old = Store(path, target_version=1)
    assert old.schema_version() == 1
    conn = old.connection()
    token, key = "participant-token-from-v1", "facilitator-key-from-v1"
    with old.write():
        conn.execute("INSERT INTO workshops (id, code, title, facilitator_hash, created_at) "
                     "VALUES (1, 'ABCDEF', 'Old one', ?, 1.0)", (ws._hash(key),))
        conn.execute("INSERT INTO items (id, workshop_id, position, text) VALUES (1, 1, 1, 'Hire 5 engineers')")
        conn.execute("INSERT INTO participants (id, workshop_id, token_hash, alias_no, name, joined_at) "
                     "VALUES (1, 1, ?, 1, 'Ana', 2.0)", (ws._hash(token),))
        conn.execute("INSERT INTO submissions (workshop_id, item_id, participant_id, version, text, kind,"
                     " record_json, created_at) VALUES (1, 1, 1, 1, 'Hire faster', 'output', NULL, 3.0)")
    cols = {r[1] for r in conn.execute("PRAGMA table_info(submissions)")}
    assert "favourite" not in cols
    old.close()

    new = Store(path)
    assert new.schema_version() == SCHEMA_VERSION
    view = ws.board(new, "ABCDEF", key)
    assert view["names_hidden"] and not view["revealed"]
    assert view["items"][0]["submissions"][0]["text"] == "Hire faster"
    assert view["items"][0]["submissions"][0]["favourite"] is False
    again = ws.submit(new, "ABCDEF", token, 1, OUTCOME, engine)
    assert again["version"] == 2
    ws.set_voting(new, "ABCDEF", key, True)  # a v2 feature on a v1 workshop


def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    with pytest.raises(StoreError, match="newer than this krcoach supports"):
        Store(path)


def test_migrating_twice_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    Store(path)
    assert Store(path).migrate() == SCHEMA_VERSION


# ------------------------------------------------------------------------------- starter deck

def test_starter_deck_is_activity_shaped_across_functions(engine) -> None:
    deck = ws.starter_deck()
    assert len(deck) >= 30 and len({d["function"] for d in deck}) >= 8
    kinds = {d["kr"]: ws.review_rewrite(engine, "Deck", 1, d["kr"])["kind"] for d in deck}
    assert [kr for kr, kind in kinds.items() if kind != "output"] == []
