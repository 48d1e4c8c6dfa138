"""Kill the server with SIGKILL in the middle of a stream of submissions, start it again on the
same KRCOACH_DATA_DIR (and port), and check that nothing acknowledged was lost and that everyone
continues as the same participant: API participants with their tokens, a phone browser after a
reload (its identity is in localStorage, not in the server).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import browser  # noqa: E402
from browser import ApiError, GradioApi, chromium, launch_app, screenshot  # noqa: E402

PARTICIPANTS = 20
KRS = ["Launch the spring email campaign", "Hire 5 engineers", "Publish 12 blog posts"]


def call(url: str, endpoint: str, *data: Any, timeout: float = 20.0) -> Any:
    """One call on a fresh connection: the server may have been killed since the last one."""
    with GradioApi(url, timeout=timeout) as api:
        return api.call(endpoint, *data)


def text_for(i: int, k: int) -> str:
    return f"Grow trial sign-ups from {100 + i} to {200 + k} by end of Q3 (P{i} #{k})"


@pytest.mark.slow
def test_sigkill_mid_submissions_loses_nothing_acknowledged(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    port = browser.free_port()
    monkeypatch.setattr(browser, "free_port", lambda: port)  # the restarted app keeps its address
    acked: dict[str, dict] = {}  # request_id -> acknowledged submission
    unknown: dict[str, tuple[int, int, str]] = {}  # sent, but the reply was cut off by the kill
    lock = threading.Lock()
    stop = threading.Event()

    with chromium() as chrome:
        phone = chrome.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
        with launch_app(tmp_path) as url:
            made = call(url, "workshop_create", "Restart", KRS)
            code, key = made["code"], made["facilitator_token"]
            people = [call(url, "workshop_join", code, f"P{i}") for i in range(PARTICIPANTS)]

            phone.goto(f"{url}workshop?code={code}")
            phone.fill("#ws-name-input input", "Phone")
            phone.click("#ws-join-btn")
            phone.fill("#ws-text-1 textarea", "Lift demo requests from 80 to 200 per month by Q3")
            phone.click("#ws-submit-1")
            phone.wait_for_selector("#ws-feedback-1 .ws-badge", timeout=20_000)

            def worker(i: int) -> None:
                token = people[i]["participant_token"]
                k = 0
                while not stop.is_set():
                    rid, kr, text = f"p{i}-{k}", k % 3 + 1, text_for(i, k)
                    try:
                        done = call(url, "workshop_submit", code, token, kr, text, rid, timeout=10)
                    except (httpx.HTTPError, ConnectionError, ApiError):
                        with lock:
                            unknown[rid] = (i, kr, text)
                        return
                    with lock:
                        acked[rid] = done
                    k += 1
                    time.sleep(2.1)  # stay under the rate limit (a burst, then one per 2 s)

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(PARTICIPANTS)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            while len(acked) < 50 and time.monotonic() < deadline:
                time.sleep(0.05)
            os.kill(browser.launch_app.last_pid, signal.SIGKILL)  # mid-stream, no shutdown
            stop.set()
            for t in threads:
                t.join(timeout=30)
            assert len(acked) >= 50, f"only {len(acked)} acknowledged before the kill"
            print(f"\nacknowledged before SIGKILL: {len(acked)}; cut off in flight: {len(unknown)}")
            with pytest.raises((httpx.HTTPError, ConnectionError, ApiError)):
                call(url, "workshop_board", code, key, timeout=3)

        with launch_app(tmp_path) as url2:
            assert url2 == url
            stored = json.loads(call(url, "workshop_export", code, key, "json"))["submissions"]
            by_id = {s["submission_id"]: s for s in stored}
            for rid, done in acked.items():  # everything acknowledged survived, unchanged
                row = by_id[done["submission_id"]]
                assert (row["rewrite"], row["version"], row["kr_number"]) == (
                    done["text"], done["version"], done["kr_number"])
            # requests cut off by the kill are safe to retry: stored once at most, never twice
            for rid, (i, kr, text) in unknown.items():
                again = call(url, "workshop_submit", code, people[i]["participant_token"], kr, text, rid)
                assert again["text"] == text
            stored = json.loads(call(url, "workshop_export", code, key, "json"))["submissions"]
            api_rows = [s for s in stored if s["participant"] != "Participant 21"]
            assert len(api_rows) == len(acked) + len(unknown)
            assert len({(s["rewrite"], s["participant"]) for s in api_rows}) == len(api_rows)

            # participants continue as themselves: same alias, next version number
            for i in (0, 7, PARTICIPANTS - 1):
                state = call(url, "workshop_state", code, people[i]["participant_token"])
                assert state["you"] == {"alias": people[i]["alias"], "name": f"P{i}"}
                versions = state["items"][0]["mine"]["versions"] if state["items"][0]["mine"] else 0
                more = call(url, "workshop_submit", code, people[i]["participant_token"], 1,
                            f"After restart P{i}", f"after-{i}")
                assert more["version"] == versions + 1

            # the phone reloads and is still the same participant, with its rewrite and feedback
            phone.reload()
            phone.wait_for_selector("#ws-feedback-1 .ws-badge", timeout=20_000)
            assert "Phone (Participant 21)" in phone.inner_text("#ws-status")
            assert phone.input_value("#ws-text-1 textarea").startswith("Lift demo requests")
            phone.fill("#ws-text-2 textarea", "Cut time to hire from 60 to 30 days by end of Q4")
            phone.click("#ws-submit-2")
            phone.wait_for_selector("#ws-feedback-2 .ws-badge", timeout=20_000)
            screenshot(phone, "workshop-after-restart")
            board = call(url, "workshop_board", code, key)
            mine = [s for item in board["items"] for s in item["submissions"]
                    if s["participant"] == "Participant 21"]
            assert len(mine) == 2


@pytest.mark.slow
def test_page_retry_after_a_lost_answer_stores_the_rewrite_once(tmp_path: Path) -> None:
    """The phone's answer to "Get feedback" is lost on the way back (the server stored the
    rewrite; the browser never heard): pressing the button again sends the same request id, so
    the stored rewrite comes back instead of a second version. A new text is a new request."""
    import sqlite3

    text = "Lift demo requests from 80 to 200 per month by Q3"
    with launch_app(tmp_path) as url, chromium() as chrome:
        made = call(url, "workshop_create", "Lost answers", KRS)
        code, key = made["code"], made["facilitator_token"]
        phone = chrome.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
        phone.goto(f"{url}workshop?code={code}")
        phone.wait_for_selector("#ws-join-btn:not([disabled])", timeout=20_000)
        phone.click("#ws-join-btn")
        phone.fill("#ws-text-1 textarea", text)

        def lose_answer(route: Any) -> None:  # the server gets the call; its answer is dropped
            route.fetch()
            route.abort()

        phone.route("**/gradio_api/queue/join**", lose_answer)
        phone.click("#ws-submit-1")
        pending = phone.wait_for_function(
            "() => localStorage.getItem('krcoach_workshop_pending_1')", timeout=20_000).json_value()
        sent = json.loads(pending)
        assert sent["text"] == text and len(sent["id"]) == 32
        db = tmp_path / "data" / "workshops.sqlite3"

        def stored() -> list[tuple[str, str, int]]:
            with sqlite3.connect(db) as conn:
                return conn.execute("SELECT text, request_id, version FROM submissions").fetchall()

        deadline = time.monotonic() + 20
        while not stored() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stored() == [(text, sent["id"], 1)]  # stored, though the phone saw no answer
        assert phone.locator("#ws-feedback-1 .ws-badge").count() == 0  # no answer shown

        phone.unroute("**/gradio_api/queue/join**")
        phone.click("#ws-submit-1")  # the retry
        phone.wait_for_selector("#ws-feedback-1 .ws-badge", timeout=20_000)
        assert "Version 1 saved" in phone.inner_text("#ws-feedback-1")
        assert stored() == [(text, sent["id"], 1)]

        phone.fill("#ws-text-1 textarea", text + " (revised)")  # a new text is a new request
        phone.click("#ws-submit-1")
        phone.wait_for_function(
            "() => document.querySelector('#ws-feedback-1').innerText.includes('Version 2')",
            timeout=20_000)
        phone.wait_for_function(  # answered: nothing left to retry
            "() => localStorage.getItem('krcoach_workshop_pending_1') === null", timeout=10_000)
        phone.click("#ws-submit-1")  # pressed again after its answer came: a new version
        phone.wait_for_function(
            "() => document.querySelector('#ws-feedback-1').innerText.includes('Version 3')",
            timeout=20_000)
        rows = stored()
        assert [r[2] for r in rows] == [1, 2, 3] and len({r[1] for r in rows}) == 3
        board = call(url, "workshop_board", code, key)
        assert board["submissions_total"] == 3
