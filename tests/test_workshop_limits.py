"""Limits a live room needs, so that one client cannot hurt the room: what a person does counts
against them (their participant for submissions and votes, their device for joins and wrong join
codes), and the client address (a whole venue behind one NAT shares one) is only a coarse second
cap sized for a full room. Also: one vote per participant per KR, uniform answers that do not
reveal which join codes exist, facilitator rights checked before arguments, and an owner-only
database file.

The library functions take the client address and the device the app got from gr.Request
(`client=`, `device=`); the API tests drive a launched app, where every call comes from 127.0.0.1
and each session is a device.
"""

from __future__ import annotations

import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from krcoach.workshop import domain as ws
from krcoach.workshop.store import Store

from browser import ApiError, GradioApi, launch_app  # noqa: E402

OUTCOME = "Lift demo requests from 80 to 200 per month by end of Q3"
NAT = "203.0.113.7"  # one venue behind one NAT
OTHER = "198.51.100.9"
T0 = 1_000_000.0
TOO_MANY_CODES = "Too many attempts with join codes that open no workshop from"


@pytest.fixture
def made(store: Store) -> dict:
    return ws.create_workshop(store, "Limits", ["Launch the campaign", "Hire 5 engineers"])


def test_joins_are_limited_per_device_and_coarsely_per_address(store: Store, made) -> None:
    limit, window = ws.JOIN_LIMIT
    assert limit >= 5 and window <= 600
    code = made["code"]
    for i in range(limit):  # one phone leaving and re-joining
        ws.join(store, code, f"P{i}", client=NAT, device="phone", now=T0 + i)
    with pytest.raises(ws.RateLimited, match=rf"This device joined this workshop {limit} times in "
                                             r"the last 10 minutes.*wait \d+ minutes?"):
        ws.join(store, code, client=NAT, device="phone", now=T0 + limit)
    ws.join(store, code, client=NAT, device="laptop", now=T0 + limit)  # the next device is not
    other = ws.create_workshop(store, "Other room", ["Ship it"])
    ws.join(store, other["code"], client=NAT, device="phone", now=T0 + limit)  # nor another workshop
    ws.join(store, code, client=NAT, device="phone", now=T0 + window + 1)  # the window moved on

    # the address is a coarse cap: a full room (and then some) joins through one NAT
    cap, _ = ws.JOIN_ADDRESS_LIMIT
    assert cap >= 2 * ws.MAX_PARTICIPANTS
    big = ws.create_workshop(store, "Big room", ["Ship it"])
    at = T0 + 2 * window
    conn = store.connection()
    with store.write():  # 1 short of the cap, counted as if joined
        bucket = store.limiter.bucket("join", NAT, ws._workshop(conn, big["code"])["id"])
        conn.executemany("INSERT INTO rate_events (bucket, at) VALUES (?, ?)",
                         [(bucket, at) for _ in range(cap - 1)])
    ws.join(store, big["code"], client=NAT, device="d-last", now=at)
    with pytest.raises(ws.RateLimited, match=rf"{cap} people joined this workshop from your network"):
        ws.join(store, big["code"], client=NAT, device="d-next", now=at)
    ws.join(store, big["code"], client=OTHER, device="d-next", now=at)
    ws.join(store, code)  # library callers with neither device nor address are not limited


def test_workshop_creation_is_limited_per_address(store: Store) -> None:
    limit, window = ws.CREATE_LIMIT
    assert (limit, window) == (20, 3600.0)
    for i in range(limit):
        ws.create_workshop(store, f"W{i}", ["Launch it"], client=NAT, now=T0 + i)
    with pytest.raises(ws.RateLimited, match="Your network created 20 workshops in the last hour"):
        ws.create_workshop(store, "One more", ["Launch it"], client=NAT, now=T0 + 60)
    ws.create_workshop(store, "Elsewhere", ["Launch it"], client=OTHER, now=T0 + 60)
    ws.create_workshop(store, "Later", ["Launch it"], client=NAT, now=T0 + window + 1)


def test_one_vote_per_participant_per_kr_and_votes_limited_per_participant(
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

    # The cap is the voter's own: behind the same address, the others still vote.
    limit, window = ws.VOTE_LIMIT
    c = ws.join(store, code, "C")
    for i in range(limit):
        ws.vote(store, code, c["participant_token"], sa["submission_id"] if i % 2 else sb["submission_id"],
                client=NAT, now=T0 + i)
    with pytest.raises(ws.RateLimited, match=rf"You voted {limit} times in the last 10 minutes"):
        ws.vote(store, code, c["participant_token"], sa["submission_id"], client=NAT, now=T0 + limit)
    ws.vote(store, code, a["participant_token"], sb["submission_id"], client=NAT, now=T0 + limit)
    ws.vote(store, code, c["participant_token"], sa["submission_id"], client=NAT, now=T0 + window + 1)

    # The address cap is coarse (a full room voting), checked after the voter's own.
    assert ws.VOTE_ADDRESS_LIMIT[0] >= ws.MAX_PARTICIPANTS * ws.MAX_ITEMS * 2
    monkeypatch.setattr(ws, "VOTE_ADDRESS_LIMIT", (3, 600.0))
    later = T0 + 5 * window
    for i in range(3):
        ws.vote(store, code, voter["participant_token"], sa["submission_id"], client=NAT, now=later + i)
    with pytest.raises(ws.RateLimited, match="Too many votes from your network"):
        ws.vote(store, code, a["participant_token"], sb["submission_id"], client=NAT, now=later + 3)
    ws.vote(store, code, a["participant_token"], sb["submission_id"], client=OTHER, now=later + 3)


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
    p = ws.join(store, code, client=NAT, device="neighbour", now=T0)

    # Participant calls need a token and answer an unknown code as a token of another workshop,
    # so they tell nobody which codes exist (and need no guessing limit of their own).
    with pytest.raises(ws.Forbidden) as unknown:
        ws.participant_state(store, "ZZZZZZ", p["participant_token"])
    with pytest.raises(ws.Forbidden) as wrong_token:
        ws.participant_state(store, code, "a guessed token")
    assert str(unknown.value) == ws.not_joined("ZZZZZZ")
    assert str(wrong_token.value) == ws.not_joined(code)

    limit, window = ws.BAD_CODE_LIMIT
    assert (limit, window) == (30, 600.0)
    for i in range(limit):
        with pytest.raises(ws.NotFound, match="No workshop has the code you entered"):
            ws.join(store, f"ZZZZ{ws.CODE_ALPHABET[i]}Z" if i % 2 else "not a code",
                    client=NAT, device="guesser", now=T0 + i)
    # now even the right code gets the same refusal on that device, a wrong one too
    for attempt in (code, "ZZZZZZ"):
        with pytest.raises(ws.RateLimited, match=TOO_MANY_CODES + r" this device\. Wait (10|9) minutes"):
            ws.join(store, attempt, client=NAT, device="guesser", now=T0 + 40)
    # Nobody else behind the same address inherits it, and participants' own calls never do.
    ws.join(store, code, client=NAT, device="latecomer", now=T0 + 40)
    ws.reopen_round(store, code, made["facilitator_token"])
    ws.participant_state(store, code, p["participant_token"], now=T0 + 40)
    ws.submit(store, code, p["participant_token"], 1, OUTCOME, engine, now=T0 + 40)
    ws.join(store, code, client=OTHER, device="guesser-2", now=T0 + 40)
    ws.join(store, code, client=NAT, device="guesser", now=T0 + window + 1)  # the window moved on

    # The address is a coarse second cap (devices are cheap to make): a venue's worth of typos.
    cap, _ = ws.BAD_CODE_ADDRESS_LIMIT
    assert cap >= 10 * ws.MAX_PARTICIPANTS
    at = T0 + 3 * window
    store.limiter.record([store.limiter.bucket("code", NAT)] * (cap - 1), at)
    with pytest.raises(ws.NotFound):
        ws.join(store, "ZZZZZZ", client=NAT, device="rotating-1", now=at)
    with pytest.raises(ws.RateLimited, match=TOO_MANY_CODES + " your network"):
        ws.join(store, code, client=NAT, device="rotating-2", now=at)
    ws.join(store, code, client=OTHER, device="rotating-2", now=at)


def test_a_full_room_behind_one_address_is_not_hurt_by_a_guesser(store: Store, engine) -> None:
    """The library half of the shared-address test (the API half drives a launched app): 300
    devices behind one address join, submit, load their state and vote while one device on the
    same address tries 1,000 wrong codes."""
    made = ws.create_workshop(store, "Full room", ["Launch the campaign", "Hire 5 engineers"])
    code, key = made["code"], made["facilitator_token"]
    attacker = {"no_such": 0, "locked": 0}
    people, subs = [], []
    for i in range(1000):  # the room arrives while the attacker guesses
        try:
            ws.join(store, f"ZZZ{i:03d}".replace("0", "A").replace("1", "B"), client=NAT,
                    device="attacker")
        except ws.RateLimited:
            attacker["locked"] += 1
        except ws.NotFound:
            attacker["no_such"] += 1
        if i < ws.MAX_PARTICIPANTS:
            p = ws.join(store, code, f"P{i}", client=NAT, device=f"phone-{i}")
            subs.append(ws.submit(store, code, p["participant_token"], 1, f"{OUTCOME} ({i})", engine))
            ws.participant_state(store, code, p["participant_token"])
            people.append(p)
    ws.set_voting(store, code, key, True)
    for i, p in enumerate(people):
        ws.vote(store, code, p["participant_token"], subs[(i + 1) % len(subs)]["submission_id"],
                client=NAT)
    assert attacker == {"no_such": ws.BAD_CODE_LIMIT[0], "locked": 1000 - ws.BAD_CODE_LIMIT[0]}
    with pytest.raises(ws.RateLimited, match=TOO_MANY_CODES + " this device"):
        ws.join(store, code, client=NAT, device="attacker")
    board = ws.board(store, code, key)
    assert board["participants"] == ws.MAX_PARTICIPANTS and board["submissions_total"] == 300
    assert sum(s["votes"] for s in board["items"][0]["submissions"]) == 300


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
    """Another process (another Store on the same file) sees the same counts; no address or
    device is stored as it came."""
    for i in range(ws.BAD_CODE_LIMIT[0]):
        with pytest.raises(ws.NotFound):
            ws.join(store, "ZZZZZZ", client=NAT, device="device-7Q", now=T0 + i)
    with pytest.raises(ws.RateLimited):
        ws.join(Store(store.path), made["code"], client=NAT, device="device-7Q", now=T0 + 31)
    store.close()
    raw = store.path.read_bytes() + Path(f"{store.path}-wal").read_bytes()
    assert NAT.encode() not in raw and b"device-7Q" not in raw


# ----------------------------------------------------------------------------- through the API


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with launch_app(tmp_path_factory.mktemp("limits-app")) as url:
        yield url


@pytest.fixture(scope="module")
def api(app_url: str):  # type: ignore[no-untyped-def]
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.mark.slow
def test_limits_through_the_api(api, app_url: str) -> None:  # type: ignore[no-untyped-def]
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    def refused(client, endpoint: str, *args) -> str:  # type: ignore[no-untyped-def]
        with pytest.raises(AppError) as err:
            client.predict(*args, api_name=endpoint)
        return str(err.value)

    a = api.predict("API limits", ["Launch the campaign"], api_name="/workshop_create")
    # rights before arguments
    assert "Only the facilitator" in refused(api, "/workshop_timer", a["code"], "nope", "abc")
    assert "Only the facilitator" in refused(api, "/workshop_timer", a["code"], "nope", -5)
    assert "Only the facilitator" in refused(api, "/workshop_export", a["code"], "nope", "exe")
    assert "Only the facilitator" in refused(api, "/workshop_board", "ZZZZZZ", "nope")
    assert "the limit" not in refused(api, "/workshop_export", "ZZZZZZ", a["facilitator_token"], "exe")
    # one answer for malformed and unknown codes
    answers = {refused(api, "/workshop_join", bad, "") for bad in ("ZZZZZZ", "x' OR 1=1 --")}
    assert len(answers) == 1 and "No workshop has the code you entered" in answers.pop()
    # wrong codes from this client (its session is its device) until it is locked out, right
    # code included
    for i in range(ws.BAD_CODE_LIMIT[0] - 2):
        refused(api, "/workshop_join", f"ZZZ{i:03d}", "")
    assert TOO_MANY_CODES + " this device" in refused(api, "/workshop_join", a["code"], "Ana")
    # another client from the same address (127.0.0.1) joins, and nobody's participant calls
    # inherit the lockout: they answer about the token, not about guessing
    neighbour = Client(app_url, verbose=False)
    me = neighbour.predict(a["code"], "Bo", api_name="/workshop_join")
    assert neighbour.predict(a["code"], me["participant_token"], api_name="/workshop_state")["code"] == a["code"]
    assert "You have not joined" in refused(api, "/workshop_state", a["code"], "token")
    assert "You have not joined" in refused(api, "/workshop_state", "ZZZZZZ", me["participant_token"])


@pytest.mark.slow
def test_a_full_room_behind_one_address_through_the_api(app_url: str) -> None:
    """300 participants, every call from 127.0.0.1, each with its own session (a device), plus
    one attacker session on the same address sending 1,000 wrong join codes meanwhile: no
    legitimate join, submit, state or vote is refused, and the attacker is locked out."""
    with GradioApi(app_url) as admin:
        made = admin.call("workshop_create", "Full room", ["Launch the campaign", "Hire 5 engineers"])
    code, key = made["code"], made["facilitator_token"]
    room = ws.MAX_PARTICIPANTS
    refused: list[str] = []
    counts = {"join": 0, "submit": 0, "state": 0, "vote": 0}
    lock = threading.Lock()
    attacker: dict[str, int] = {"no such workshop": 0, "locked out": 0, "other": 0}

    def attack() -> None:
        with GradioApi(app_url) as api:  # one session: one device
            for i in range(1000):
                try:
                    api.call("workshop_join", f"ZZ{i:04d}".replace("0", "Q").replace("1", "R"), "")
                    attacker["other"] += 1
                except ApiError as err:
                    attacker["locked out" if TOO_MANY_CODES + " this device" in str(err) else
                             "no such workshop" if "No workshop has the code" in str(err) else
                             "other"] += 1

    def ok(what: str, fn):  # type: ignore[no-untyped-def]
        try:
            out = fn()
        except ApiError as err:
            with lock:
                refused.append(f"{what}: {err}")
            return None
        with lock:
            counts[what.split()[0]] += 1
        return out

    apis = [GradioApi(app_url) for _ in range(room)]

    def arrive(n: int) -> dict | None:
        me = ok(f"join P{n}", lambda: apis[n].call("workshop_join", code, f"P{n}"))
        if me is None:
            return None
        sub = ok(f"submit P{n}", lambda: apis[n].call(
            "workshop_submit", code, me["participant_token"], 1, f"{OUTCOME} (P{n})", f"p{n}-1"))
        ok(f"state P{n}", lambda: apis[n].call("workshop_state", code, me["participant_token"]))
        return {**me, "sub": sub}

    guesser = threading.Thread(target=attack)
    guesser.start()
    with ThreadPoolExecutor(max_workers=16) as pool:
        people = list(pool.map(arrive, range(room)))
    guesser.join()
    with GradioApi(app_url) as admin:
        admin.call("workshop_voting", code, key, True)
    subs = [p["sub"]["submission_id"] for p in people if p and p["sub"]]

    def vote(n: int) -> None:
        me = people[n]
        if me:
            ok(f"vote P{n}", lambda: apis[n].call("workshop_vote", code, me["participant_token"],
                                                 subs[(n + 1) % len(subs)]))
            ok(f"state P{n}", lambda: apis[n].call("workshop_state", code, me["participant_token"]))

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(vote, range(room)))
    for api in apis:
        api.http.close()
    print(f"\nroom of {room} behind 127.0.0.1: {counts} answered, {len(refused)} refused; "
          f"attacker's 1,000 wrong codes: {attacker}")
    assert refused == [], refused[:5]
    assert counts == {"join": room, "submit": room, "state": 2 * room, "vote": room}
    assert attacker == {"no such workshop": ws.BAD_CODE_LIMIT[0],
                        "locked out": 1000 - ws.BAD_CODE_LIMIT[0], "other": 0}
    with GradioApi(app_url) as admin:
        board = admin.call("workshop_board", code, key)
    assert board["participants"] == room and board["submissions_total"] == room
    assert sum(s["votes"] for s in board["items"][0]["submissions"]) == room
