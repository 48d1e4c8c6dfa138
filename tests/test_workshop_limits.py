"""Limits a live room needs: per client address (joins, votes, workshop creation, wrong join
codes), one vote per participant per KR, uniform answers that do not reveal which join codes
exist, facilitator rights checked before arguments, and an owner-only database file.

The library functions take the client address the app got from gr.Request (`client=`); the
API test drives a launched app, where every call comes from 127.0.0.1.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from krcoach import workshop as ws
from krcoach.store import Store

sys.path.insert(0, str(Path(__file__).parent))
from browser import launch_app  # noqa: E402

OUTCOME = "Lift demo requests from 80 to 200 per month by end of Q3"
NAT = "203.0.113.7"  # one office behind one NAT
OTHER = "198.51.100.9"
T0 = 1_000_000.0


@pytest.fixture
def made(store: Store) -> dict:
    return ws.create_workshop(store, "Limits", ["Launch the campaign", "Hire 5 engineers"])


def test_a_100_person_room_behind_one_nat_joins_and_a_flood_is_stopped(store: Store, made) -> None:
    limit, window = ws.JOIN_LIMIT
    assert limit >= 150 and window <= 600
    code = made["code"]
    for i in range(limit):  # the whole room plus latecomers and re-joins, all from one address
        ws.join(store, code, f"P{i}", client=NAT, now=T0 + i)
    with pytest.raises(ws.RateLimited, match=r"150 people joined this workshop from your network "
                                             r"in the last 10 minutes.*wait \d+ minutes?"):
        ws.join(store, code, client=NAT, now=T0 + limit)
    ws.join(store, code, client=OTHER, now=T0 + limit)  # another address is not affected
    other = ws.create_workshop(store, "Other room", ["Ship it"])
    ws.join(store, other["code"], client=NAT, now=T0 + limit)  # nor another workshop
    ws.join(store, code, client=NAT, now=T0 + window + 1)  # the oldest join left the window
    ws.join(store, code)  # library callers without an address are not limited


def test_workshop_creation_is_limited_per_address(store: Store) -> None:
    limit, window = ws.CREATE_LIMIT
    assert (limit, window) == (20, 3600.0)
    for i in range(limit):
        ws.create_workshop(store, f"W{i}", ["Launch it"], client=NAT, now=T0 + i)
    with pytest.raises(ws.RateLimited, match="Your network created 20 workshops in the last hour"):
        ws.create_workshop(store, "One more", ["Launch it"], client=NAT, now=T0 + 60)
    ws.create_workshop(store, "Elsewhere", ["Launch it"], client=OTHER, now=T0 + 60)
    ws.create_workshop(store, "Later", ["Launch it"], client=NAT, now=T0 + window + 1)


def test_one_vote_per_participant_per_kr_and_votes_limited_per_address(
        store: Store, made, engine, monkeypatch: pytest.MonkeyPatch) -> None:
    code, key = made["code"], made["facilitator_token"]
    a, b, voter = (ws.join(store, code, n) for n in ("A", "B", "Voter"))
    sa = ws.submit(store, code, a["participant_token"], 1, OUTCOME, engine)
    sb = ws.submit(store, code, b["participant_token"], 1, OUTCOME + " v", engine)
    ws.set_voting(store, code, key, True)
    for _ in range(40):  # "40 votes for one rewrite" from one person: it stays one
        assert ws.vote(store, code, voter["participant_token"], sa["submission_id"])["votes"] == 1
    assert ws.vote(store, code, voter["participant_token"], sb["submission_id"])["votes"] == 1
    board = ws.board(store, code, key)
    assert sorted(s["votes"] for s in board["items"][0]["submissions"]) == [0, 1]  # it moved

    monkeypatch.setattr(ws, "VOTE_LIMIT", (3, 600.0))
    for i in range(3):
        ws.vote(store, code, voter["participant_token"], sa["submission_id"], client=NAT, now=T0 + i)
    with pytest.raises(ws.RateLimited, match="Too many votes from your network"):
        ws.vote(store, code, a["participant_token"], sb["submission_id"], client=NAT, now=T0 + 3)
    ws.vote(store, code, a["participant_token"], sb["submission_id"], client=OTHER, now=T0 + 3)


def test_join_codes_cannot_be_told_apart_or_enumerated(store: Store, made, engine) -> None:
    code = made["code"]
    answers = set()
    for bad in ("ZZZZZZ", "zz-zz-zz", "x' OR 1=1 --", "", None, "K7QF2", "K7QF2MM", "OOOOOO"):
        with pytest.raises(ws.NotFound) as err:
            ws.join(store, bad)
        answers.add(str(err.value))
    ws.close_round(store, code, made["facilitator_token"])
    ws.join(store, code)  # a closed round still lets latecomers in: no third kind of answer
    assert answers == {ws.NO_SUCH_WORKSHOP}, answers
    p = ws.join(store, code, client=NAT, now=T0)

    limit, window = ws.BAD_CODE_LIMIT
    assert (limit, window) == (30, 600.0)
    for i in range(limit):
        with pytest.raises(ws.NotFound, match="No workshop has the code you entered"):
            ws.join(store, f"ZZZZ{ws.CODE_ALPHABET[i]}Z" if i % 2 else "not a code", client=NAT, now=T0 + i)
    too_many = "Too many attempts with join codes that open no workshop from your network"
    # now even the right code gets the same refusal from that address, on every code-taking call
    for call in (lambda: ws.join(store, code, client=NAT, now=T0 + 40),
                 lambda: ws.join(store, "ZZZZZZ", client=NAT, now=T0 + 40),
                 lambda: ws.participant_state(store, code, p["participant_token"], client=NAT, now=T0 + 40),
                 lambda: ws.submit(store, code, p["participant_token"], 1, OUTCOME, engine,
                                   client=NAT, now=T0 + 40)):
        with pytest.raises(ws.RateLimited, match=too_many + r"\. Wait (10|9) minutes"):
            call()
    ws.join(store, code, client=OTHER, now=T0 + 40)  # other addresses are not locked out
    ws.join(store, code, client=NAT, now=T0 + window + 1)  # nor is this one once the window moved on
    # a closed round refuses rewrites, not the person: their state still loads
    ws.participant_state(store, code, p["participant_token"], client=NAT, now=T0 + window + 1)


FACILITATOR_CALLS = {
    "timer (bad seconds)": lambda s, c, t: ws.set_timer(s, c, t, "abc"),
    "timer (too long)": lambda s, c, t: ws.set_timer(s, c, t, 10 ** 9),
    "export (bad format)": lambda s, c, t: ws.export(s, c, t, "exe"),
    "favourite (bad id)": lambda s, c, t: ws.set_favourite(s, c, t, "x"),
    "board": lambda s, c, t: ws.board(s, c, t),
    "close": lambda s, c, t: ws.close_round(s, c, t),
    "summary": lambda s, c, t: ws.summary(s, c, t),
}


@pytest.mark.parametrize("name", list(FACILITATOR_CALLS))
def test_facilitator_rights_come_before_arguments(store: Store, made, name: str) -> None:
    action = FACILITATOR_CALLS[name]
    for code, token in ((made["code"], "wrong"), (made["code"], None), ("ZZZZZZ", "wrong"),
                        ("not a code", made["facilitator_token"])):
        with pytest.raises(ws.Forbidden) as err:
            action(store, code, token)
        assert str(err.value) == ws.FACILITATOR_ONLY  # same answer for unknown codes: no oracle
    if "(" in name:  # with the right token, the argument is what gets refused
        with pytest.raises(ws.WorkshopError) as err:
            action(store, made["code"], made["facilitator_token"])
        assert not isinstance(err.value, ws.Forbidden)


def test_database_files_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        store = Store(tmp_path / "data" / "w.sqlite3")
        made = ws.create_workshop(store, "Perms", ["Launch it"])
        ws.join(store, made["code"], "Ana")
        files = [store.path, Path(f"{store.path}-wal"), Path(f"{store.path}-shm")]
        assert all(f.exists() for f in files), "WAL mode keeps -wal and -shm while open"
        for f in files:
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        store.close()
        # a database made earlier under a permissive umask is tightened when opened
        loose = tmp_path / "loose.sqlite3"
        Store(loose).close()
        os.chmod(loose, 0o644)
        Store(loose)
        assert stat.S_IMODE(loose.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_limits_are_kept_in_the_database(store: Store, made) -> None:
    """Another process (another Store on the same file) sees the same counts; no address is
    stored as it came."""
    for i in range(ws.BAD_CODE_LIMIT[0]):
        with pytest.raises(ws.NotFound):
            ws.join(store, "ZZZZZZ", client=NAT, now=T0 + i)
    with pytest.raises(ws.RateLimited):
        ws.join(Store(store.path), made["code"], client=NAT, now=T0 + 31)
    store.close()
    assert NAT.encode() not in store.path.read_bytes() + Path(f"{store.path}-wal").read_bytes()


# ----------------------------------------------------------------------------- through the API


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from gradio_client import Client

    with launch_app(tmp_path_factory.mktemp("limits-app")) as url:
        yield Client(url, verbose=False)


@pytest.mark.slow
def test_limits_through_the_api(api) -> None:  # type: ignore[no-untyped-def]
    from gradio_client.exceptions import AppError

    def refused(endpoint: str, *args) -> str:  # type: ignore[no-untyped-def]
        with pytest.raises(AppError) as err:
            api.predict(*args, api_name=endpoint)
        return str(err.value)

    a = api.predict("API limits", ["Launch the campaign"], api_name="/workshop_create")
    # rights before arguments
    assert "Only the facilitator" in refused("/workshop_timer", a["code"], "nope", "abc")
    assert "Only the facilitator" in refused("/workshop_timer", a["code"], "nope", -5)
    assert "Only the facilitator" in refused("/workshop_export", a["code"], "nope", "exe")
    assert "Only the facilitator" in refused("/workshop_board", "ZZZZZZ", "nope")
    assert "the limit" not in refused("/workshop_export", "ZZZZZZ", a["facilitator_token"], "exe")
    # one answer for malformed and unknown codes
    answers = {refused("/workshop_join", bad, "") for bad in ("ZZZZZZ", "x' OR 1=1 --")}
    assert len(answers) == 1 and "No workshop has the code you entered" in answers.pop()
    # wrong codes from this address (127.0.0.1) until it is locked out, right code included
    for i in range(ws.BAD_CODE_LIMIT[0] - 2):
        refused("/workshop_join", f"ZZZ{i:03d}", "")
    assert "Too many attempts" in refused("/workshop_join", a["code"], "Ana")
    assert "Too many attempts" in refused("/workshop_state", a["code"], "token")
