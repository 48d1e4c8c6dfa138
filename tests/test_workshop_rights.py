"""Every right in the workshop, tried and refused: in the library, and through the named API of a
launched app (gradio_client), where the refusal must arrive as the same one-sentence message.

Rights: facilitator actions need the facilitator token; participants of one workshop can neither
read nor write another; a closed round refuses submissions; names and rewrites are length-limited
and rendered as text; each participant's submissions are rate-limited (counted in the database).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from krcoach.workshop import domain as ws
from krcoach.workshop import render as ui
from krcoach.workshop.store import Store

from browser import GradioApi, launch_app  # noqa: E402

OUTCOME = "Lift demo requests from 80 to 200 per month by end of Q3"
XSS_NAME = '<img src=x onerror="alert(1)">'
XSS_TEXT = "<script>alert('kr')</script> & grow NPS from 30 to 40 by Q4"


@pytest.fixture
def two(store: Store) -> tuple[dict, dict]:
    a = ws.create_workshop(store, "Workshop A", ["Launch the campaign", "Hire 5 engineers"])
    b = ws.create_workshop(store, "Workshop B", ["Publish 12 blog posts"])
    return a, b


FACILITATOR_ACTIONS = [
    ("board", lambda s, c, t: ws.board(s, c, t)),
    ("close", lambda s, c, t: ws.close_round(s, c, t)),
    ("reopen", lambda s, c, t: ws.reopen_round(s, c, t)),
    ("reveal", lambda s, c, t: ws.set_revealed(s, c, t, True)),
    ("voting", lambda s, c, t: ws.set_voting(s, c, t, True)),
    ("names", lambda s, c, t: ws.set_names_hidden(s, c, t, False)),
    ("timer", lambda s, c, t: ws.set_timer(s, c, t, 60)),
    ("favourite", lambda s, c, t: ws.set_favourite(s, c, t, 1, True)),
    ("export", lambda s, c, t: ws.export(s, c, t, "json")),
    ("summary", lambda s, c, t: ws.summary(s, c, t)),
]


@pytest.mark.parametrize("name,action", FACILITATOR_ACTIONS, ids=[n for n, _ in FACILITATOR_ACTIONS])
def test_facilitator_actions_need_this_workshops_token(store: Store, two, engine, name, action) -> None:
    a, b = two
    p = ws.join(store, a["code"])
    ws.submit(store, a["code"], p["participant_token"], 1, OUTCOME, engine)
    for bad in (None, "", "guess", b["facilitator_token"], p["participant_token"]):
        with pytest.raises(ws.Forbidden, match="Only the facilitator"):
            action(store, a["code"], bad)
    before = ws.board(store, a["code"], a["facilitator_token"])
    assert before["round_open"] and not before["revealed"] and before["names_hidden"]
    action(store, a["code"], a["facilitator_token"])  # the right token works


def test_facilitator_token_is_only_stored_hashed(store: Store, two) -> None:
    a, _ = two
    p = ws.join(store, a["code"])
    store.close()
    raw = b"".join(f.read_bytes() for f in store.path.parent.iterdir() if f.is_file())
    assert a["facilitator_token"].encode() not in raw
    assert p["participant_token"].encode() not in raw
    assert ws._hash(a["facilitator_token"]).encode() in raw


def test_participants_cannot_cross_workshops(store: Store, two, engine) -> None:
    a, b = two
    pa = ws.join(store, a["code"], "Ana")
    pb = ws.join(store, b["code"], "Bo")
    sb = ws.submit(store, b["code"], pb["participant_token"], 1, OUTCOME, engine)
    with pytest.raises(ws.Forbidden, match=f"You have not joined workshop {b['code']}"):
        ws.participant_state(store, b["code"], pa["participant_token"])
    with pytest.raises(ws.Forbidden):
        ws.submit(store, b["code"], pa["participant_token"], 1, "sneaky", engine)
    ws.set_voting(store, a["code"], a["facilitator_token"], True)
    ws.set_voting(store, b["code"], b["facilitator_token"], True)
    with pytest.raises(ws.Forbidden):
        ws.vote(store, b["code"], pa["participant_token"], sb["submission_id"])
    with pytest.raises(ws.NotFound, match="no submission"):  # B's submission via A's workshop
        ws.vote(store, a["code"], pa["participant_token"], sb["submission_id"])
    with pytest.raises(ws.NotFound, match="no submission"):
        ws.set_favourite(store, a["code"], a["facilitator_token"], sb["submission_id"])
    # what A's participant can see of A never includes B's data
    state = ws.participant_state(store, a["code"], pa["participant_token"])
    assert all(not item["room"] for item in state["items"])
    assert "Bo" not in str(ws.board(store, a["code"], a["facilitator_token"]))
    assert ws.board(store, b["code"], b["facilitator_token"])["submissions_total"] == 1
    with pytest.raises(ws.NotFound, match="No workshop has the code"):
        ws.join(store, "ZZZZZZ")
    with pytest.raises(ws.WorkshopError, match="join code is 6 letters"):
        ws.join(store, "x' OR 1=1 --")


def test_own_vote_refused(store: Store, two, engine) -> None:
    a, _ = two
    p = ws.join(store, a["code"])
    s = ws.submit(store, a["code"], p["participant_token"], 1, OUTCOME, engine)
    ws.set_voting(store, a["code"], a["facilitator_token"], True)
    with pytest.raises(ws.WorkshopError, match="your own rewrite"):
        ws.vote(store, a["code"], p["participant_token"], s["submission_id"])


def test_closed_round_refuses_with_clear_message(store: Store, two, engine) -> None:
    a, _ = two
    p = ws.join(store, a["code"])
    ws.close_round(store, a["code"], a["facilitator_token"])
    with pytest.raises(ws.RoundClosed) as err:
        ws.submit(store, a["code"], p["participant_token"], 1, OUTCOME, engine)
    assert str(err.value) == "The round is closed: the facilitator is not taking rewrites right now."
    assert ws.board(store, a["code"], a["facilitator_token"])["submissions_total"] == 0


def test_lengths_are_limited(store: Store, two, engine) -> None:
    a, _ = two
    with pytest.raises(ws.WorkshopError, match="Your name is 41 characters long; the limit is 40"):
        ws.join(store, a["code"], "n" * 41)
    p = ws.join(store, a["code"], "  Ana\u202e\x00  ")
    assert p["name"] == "Ana"  # control and bidi-override characters dropped
    with pytest.raises(ws.WorkshopError, match="the limit is 400"):
        ws.submit(store, a["code"], p["participant_token"], 1, "x" * 401, engine)
    with pytest.raises(ws.WorkshopError, match="Your rewrite is empty"):
        ws.submit(store, a["code"], p["participant_token"], 1, "   ", engine)
    with pytest.raises(ws.WorkshopError, match="no KR 3"):
        ws.submit(store, a["code"], p["participant_token"], 3, OUTCOME, engine)
    with pytest.raises(ws.WorkshopError, match="title is 121 characters"):
        ws.create_workshop(store, "t" * 121, ["Launch it"])
    with pytest.raises(ws.WorkshopError, match="KR on line 2 is 301"):
        ws.create_workshop(store, "T", ["Launch it", "k" * 301])
    with pytest.raises(ws.WorkshopError, match="at most 8 KRs"):
        ws.create_workshop(store, "T", [f"Launch thing {i}" for i in range(9)])
    with pytest.raises(ws.WorkshopError, match="at least one KR"):
        ws.create_workshop(store, "T", "\n  \n")


def test_submissions_are_limited_per_participant_and_counted_in_the_database(
        store: Store, two, engine) -> None:
    a, _ = two
    p = ws.join(store, a["code"])
    t0 = 10_000.0
    for i in range(ws.SUBMIT_BURST):  # a burst at once ...
        ws.submit(store, a["code"], p["participant_token"], 1, f"{OUTCOME} v{i}", engine, now=t0)
    fresh = Store(store.path)  # another process sees the same count
    with pytest.raises(ws.Busy, match=r"^Busy, retry in 2 s: the coach takes 10 rewrites from one "
                                      r"person at once, then one every 2 seconds\.$") as err:
        ws.submit(fresh, a["code"], p["participant_token"], 2, OUTCOME, engine, now=t0)
    assert err.value.retry_after == 2 and isinstance(err.value, ws.RateLimited)
    with pytest.raises(ws.Busy, match=r"retry in 1 s"):
        ws.submit(store, a["code"], p["participant_token"], 2, OUTCOME, engine, now=t0 + 1.2)
    # ... then one per SUBMIT_INTERVAL_S
    ws.submit(store, a["code"], p["participant_token"], 2, OUTCOME, engine, now=t0 + 2.0)
    with pytest.raises(ws.Busy):
        ws.submit(store, a["code"], p["participant_token"], 2, OUTCOME + " again", engine, now=t0 + 2.5)
    ws.submit(store, a["code"], p["participant_token"], 2, OUTCOME + " again", engine, now=t0 + 4.0)
    other = ws.join(store, a["code"])  # the limit is per participant
    for i in range(ws.SUBMIT_BURST):
        ws.submit(store, a["code"], other["participant_token"], 1, f"{OUTCOME} o{i}", engine, now=t0 + 4)
    # a refused request took nothing: a quiet minute refills the whole burst
    for i in range(ws.SUBMIT_BURST):
        ws.submit(store, a["code"], p["participant_token"], 2, f"{OUTCOME} w{i}", engine, now=t0 + 60)
    with pytest.raises(ws.Busy):
        ws.submit(store, a["code"], p["participant_token"], 2, OUTCOME, engine, now=t0 + 60)
    assert ws.board(store, a["code"], a["facilitator_token"])["submissions_total"] == 3 * ws.SUBMIT_BURST + 2


def test_a_flood_costs_one_review_per_allowed_rewrite(store: Store, two, engine,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Many requests from one participant at once: the allowance is taken before the coach's
    review, so requests over it are refused before they cost a review, and exactly the burst
    is stored."""
    import threading

    a, _ = two
    p = ws.join(store, a["code"])
    reviews = []
    real = ws.review_rewrite

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        reviews.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(ws, "review_rewrite", counted)
    results: list[str] = []

    def flood(n: int) -> None:
        try:
            ws.submit(store, a["code"], p["participant_token"], 1, f"{OUTCOME} #{n}", engine, now=50_000.0)
            results.append("stored")
        except ws.Busy:
            results.append("busy")

    threads = [threading.Thread(target=flood, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("stored") == ws.SUBMIT_BURST and results.count("busy") == 40 - ws.SUBMIT_BURST
    assert len(reviews) == ws.SUBMIT_BURST


def _pages_with_names_and_voting(store: Store, code: str, key: str, p: dict, q: dict,
                                 sub: dict) -> list[str]:
    """With names shown and voting open: the board, `p`'s status, `p`'s feedback on `sub`, and
    the room as `q` sees KR 1."""
    ws.set_names_hidden(store, code, key, False)
    ws.set_voting(store, code, key, True)
    return [
        ui.render_board(ws.board(store, code, key)),
        ui.render_status(ws.participant_state(store, code, p["participant_token"])),
        ui.render_feedback(sub),
        ui.render_room(ws.participant_state(store, code, q["participant_token"])["items"][0], True),
    ]


def test_user_text_is_rendered_as_text(store: Store, two, engine) -> None:
    a, _ = two
    code, key = a["code"], a["facilitator_token"]
    p = ws.join(store, code, XSS_NAME)
    q = ws.join(store, code)
    sub = ws.submit(store, code, p["participant_token"], 1, XSS_TEXT, engine)
    pages = _pages_with_names_and_voting(store, code, key, p, q, sub)
    for page in pages:
        assert "<script" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in pages[0] and "&lt;img src=x" in pages[0]
    assert "&lt;img src=x" in pages[1] and "&lt;script&gt;" in pages[3]
    md = ws.export(store, code, key, "md")
    assert "<script" not in md and "&lt;script&gt;" in md


def test_template_syntax_in_user_text_stays_inert(store: Store, two, engine) -> None:
    """gr.HTML fills a JS/Handlebars template: the workshop escapes as the drafting page does
    (`web.ui.esc`), so `${...}`, `{{...}}` and backticks reach the page as entities."""
    a, _ = two
    code, key = a["code"], a["facilitator_token"]
    hostile = "${alert(1)} {{value}} `x`"
    p = ws.join(store, code, hostile)
    q = ws.join(store, code)
    sub = ws.submit(store, code, p["participant_token"], 1, f"Lift NPS from 30 to 40 {hostile}",
                    engine)
    pages = _pages_with_names_and_voting(store, code, key, p, q, sub)
    for page in pages:
        assert "${" not in page and "{{" not in page and "`" not in page
    assert "&#36;&#123;alert(1)&#125;" in pages[0] and "&#36;&#123;alert(1)&#125;" in pages[3]


# ----------------------------------------------------------------------------- through the API


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory):
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    with launch_app(tmp_path_factory.mktemp("rights-app")) as url:
        yield url


@pytest.fixture(scope="module")
def api(app_url: str):
    from gradio_client import Client

    return Client(app_url, verbose=False)


def _refused(client, endpoint: str, *args, match: str) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=match):
        client.predict(*args, api_name=endpoint)


@pytest.mark.slow
def test_rights_through_the_api(api) -> None:
    a = api.predict("API A", ["Launch the campaign", "Hire 5 engineers"], api_name="/workshop_create")
    b = api.predict("API B", ["Publish 12 blog posts"], api_name="/workshop_create")
    assert a["join_url"].endswith(f"/workshop?code={a['code']}")
    pa = api.predict(a["code"], "Ana", api_name="/workshop_join")
    pb = api.predict(b["code"], "", api_name="/workshop_join")
    sb = api.predict(b["code"], pb["participant_token"], 1, OUTCOME, "", api_name="/workshop_submit")
    assert sb["kind"] == "outcome"

    # facilitator actions need the right token
    for endpoint, extra in [("/workshop_board", ()), ("/workshop_close", ()), ("/workshop_reopen", ()),
                            ("/workshop_reveal", (True,)), ("/workshop_voting", (True,)),
                            ("/workshop_names", (False,)), ("/workshop_timer", (60,)),
                            ("/workshop_favourite", (1, True)), ("/workshop_export", ("csv",)),
                            ("/workshop_summary", ())]:
        for bad in ("nope", b["facilitator_token"], pa["participant_token"]):
            _refused(api, endpoint, a["code"], bad, *extra, match="Only the facilitator")
    # no crossing between workshops
    _refused(api, "/workshop_state", b["code"], pa["participant_token"], match="You have not joined")
    _refused(api, "/workshop_submit", b["code"], pa["participant_token"], 1, "x", "",
             match="You have not joined")
    api.predict(b["code"], b["facilitator_token"], True, api_name="/workshop_voting")
    _refused(api, "/workshop_vote", b["code"], pa["participant_token"], sb["submission_id"],
             match="You have not joined")
    # closed round
    api.predict(a["code"], a["facilitator_token"], api_name="/workshop_close")
    _refused(api, "/workshop_submit", a["code"], pa["participant_token"], 1, OUTCOME, "",
             match="The round is closed")
    api.predict(a["code"], a["facilitator_token"], api_name="/workshop_reopen")
    # lengths
    _refused(api, "/workshop_join", a["code"], "n" * 41, match="the limit is 40")
    _refused(api, "/workshop_submit", a["code"], pa["participant_token"], 1, "x" * 401, "",
             match="the limit is 400")
    # rate limit: a burst, then busy (a slow machine may have refilled one or two meanwhile)
    from gradio_client.exceptions import AppError

    stored = 0
    with pytest.raises(AppError, match=r"Busy, retry in \d+ s"):
        for i in range(ws.SUBMIT_BURST + 5):
            api.predict(a["code"], pa["participant_token"], 2, f"{OUTCOME} {i}", "",
                        api_name="/workshop_submit")
            stored += 1
    assert ws.SUBMIT_BURST <= stored < ws.SUBMIT_BURST + 5
    board = api.predict(a["code"], a["facilitator_token"], api_name="/workshop_board")
    assert board["submissions_total"] == stored
    assert api.predict(b["code"], b["facilitator_token"], api_name="/workshop_board")["submissions_total"] == 1


@pytest.mark.slow
def test_docs_api_example_runs(app_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's gradio_client example for the workshop runs as written against a live app."""
    doc = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    code = doc.split("<!-- example: workshop-api", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code.replace("http://127.0.0.1:7860/", app_url), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "output ['activity'" in out and "outcome version 2" in out
    assert "1 submitted, 1.0 outcomes" in out and "**Before:** Launch the spring email campaign" in out


def _http_recipe() -> str:
    doc = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    return doc.split("<!-- example: workshop-http", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_docs_http_recipe_runs_over_plain_http(app_url: str) -> None:
    """The README's plain-HTTP recipe, call for call with httpx: every POST as written (its URL,
    header and body, the shell's quoting undone and its variables filled in), each result read
    the way its `result` function reads the event stream. Both calls carry the session; the
    submission carries a request id, and sending it again returns the stored answer."""
    import re
    import shlex

    import httpx

    script = _http_recipe()
    api = re.search(r"^API=(\S+)$", script, re.M).group(1)  # type: ignore[union-attr]
    assert api == "http://127.0.0.1:7860/gradio_api/call"
    assert "result() { curl -sN \"$API/$1/$2\" | sed -n 's/^data: //p' | tail -1; }" in script
    posts = []
    for m in re.finditer(r"curl -s -X POST (.*?) \| python3", script.replace("\\\n", " ")):
        words = shlex.split(m.group(1))
        posts.append((words[0], words[words.index("-H") + 1], words[words.index("-d") + 1]))
    assert [url for url, _, _ in posts] == ["$API/workshop_join", "$API/workshop_submit"]
    assert all('"session_hash": "$SESSION"' in body for _, _, body in posts)
    assert '"$REQUEST"' in posts[1][2]

    with GradioApi(app_url) as admin:
        made = admin.call("workshop_create", "HTTP recipe", ["Launch the spring email campaign"])
    values = {"$API": app_url + "gradio_api/call", "$SESSION": secrets.token_hex(8),
              "$REQUEST": str(uuid.uuid4()), "K7QF2M": made["code"]}

    def fill(text: str) -> str:
        for name, value in values.items():
            text = text.replace(name, value)
        return text

    def run(url: str, header: str, body: str) -> Any:
        name, value = header.split(":", 1)
        endpoint = fill(url)
        r = http.post(endpoint, content=fill(body).encode(), headers={name: value.strip()})
        r.raise_for_status()
        event = r.json()["event_id"]  # what the recipe's python3 -c prints
        with http.stream("GET", f"{endpoint}/{event}") as resp:  # result(): the last data: line
            data = [line[len("data: "):] for line in resp.iter_lines() if line.startswith("data: ")]
        return json.loads(data[-1])

    with httpx.Client(timeout=60) as http:
        joined = run(*posts[0])
        values["$TOKEN"] = joined[0]["participant_token"]
        first = run(*posts[1])[0]
        again = run(*posts[1])[0]  # a retry: the same request id
    assert (first["kr_number"], first["version"], first["kind"], first["duplicate"]) == (1, 1, "outcome", False)
    assert again["duplicate"] and again["submission_id"] == first["submission_id"]
    with GradioApi(app_url) as admin:
        assert admin.call("workshop_board", made["code"], made["facilitator_token"])["submissions_total"] == 1


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("bash") and shutil.which("curl")), reason="needs bash and curl")
def test_docs_http_recipe_runs_in_a_shell(app_url: str) -> None:
    """The same recipe run by bash and curl as written, with only the address and the code
    replaced."""
    with GradioApi(app_url) as admin:
        made = admin.call("workshop_create", "Shell recipe", ["Hire 5 engineers"])
    script = (_http_recipe().replace("http://127.0.0.1:7860/", app_url)
              .replace("K7QF2M", made["code"]))
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost"}
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])[0]
    assert result["kind"] == "outcome" and result["version"] == 1 and not result["duplicate"]
