"""A whole workshop in headless Chromium against a launched app: a facilitator creates it (starter
deck + pasted KRs), two participants on phone-sized pages join with the link and the typed code,
submit and revise, the live board shows them, the facilitator shows names, opens voting, picks a
favourite, runs the timer, closes the round and exports. Names and rewrites containing markup are
displayed as text and never executed.

Screenshots go to test-artifacts/; one participant and one board screenshot are also saved as
docs/workshop-participant.png and docs/workshop-board.png.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from browser import ROOT, chromium, launch_app, screenshot  # noqa: E402

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}
XSS_NAME = "<img src=x onerror=alert(1)>"
ANA_DRAFT = "Run the spring campaign in May"
ANA_FINAL = "Lift demo requests from 80 to 200 per month by end of Q3"
BO_TEXT = "Grow qualified pipeline from 1.2M to 2M by end of Q4"
WAIT = 20_000


def board_text(page) -> str:
    return page.inner_text("#ws-board")


@pytest.mark.slow
def test_workshop_in_the_browser(tmp_path: Path) -> None:
    dialogs: list[str] = []
    with launch_app(tmp_path) as url, chromium() as chrome:
        fac = chrome.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True).new_page()
        fac.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

        # --- facilitator creates the workshop: one KR from the starter deck, two pasted
        fac.goto(url + "facilitate")
        fac.fill("#ws-title-input input", "Outputs to outcomes, marketing team")
        fac.fill("#ws-krs-input textarea", "- Launch the spring email campaign\n- Publish 12 blog posts")
        fac.click("#ws-deck input")
        fac.get_by_role("option", name=re.compile("People: Hire 5 engineers")).click()
        fac.keyboard.press("Escape")
        fac.click("#ws-deck-add")
        fac.wait_for_function(
            "() => document.querySelector('#ws-krs-input textarea').value.includes('- Hire 5 engineers')")
        fac.get_by_role("listbox").wait_for(state="hidden", timeout=WAIT)  # not a half-closed menu
        screenshot(fac, "workshop-create")
        fac.click("#ws-create-btn")
        fac.wait_for_selector("#ws-join-code", timeout=WAIT)
        code = fac.inner_text("#ws-join-code").strip()
        link = fac.inner_text("#ws-join-link").strip()
        assert re.fullmatch(r"[A-Z2-9]{6}", code) and link == f"{url}workshop?code={code}"
        assert fac.locator("#ws-share img[src^='data:image/svg+xml']").count() == 1
        assert "key=" not in fac.url  # the secret never sits in the address bar
        fac.get_by_text("Your private facilitator link").click()  # a closed accordion
        private = fac.input_value("#ws-private-link textarea")
        assert f"code={code}&key=" in private
        assert "3 activity" not in board_text(fac) and "0 joined" in board_text(fac)

        # --- participant 1 joins with the link, submits an output, then revises it to an outcome
        ana = chrome.new_context(**PHONE).new_page()
        ana.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        ana.goto(link)
        ana.wait_for_selector("#ws-join-btn:not([disabled])", timeout=WAIT)  # page loaded
        assert ana.input_value("#ws-code-input input") == code
        ana.fill("#ws-name-input input", "Ana")
        ana.click("#ws-join-btn")
        ana.fill("#ws-text-1 textarea", ANA_DRAFT)
        ana.click("#ws-submit-1")
        ana.wait_for_selector("#ws-feedback-1 .ws-badge.ws-output", timeout=WAIT)
        assert "Activity" in ana.inner_text("#ws-feedback-1")
        ana.fill("#ws-text-1 textarea", ANA_FINAL)
        ana.click("#ws-submit-1")
        ana.wait_for_selector("#ws-feedback-1 .ws-badge.ws-outcome", timeout=WAIT)
        assert "Version 2" in ana.inner_text("#ws-feedback-1")

        # --- participant 2 types the code (lower case, with a space) and a name full of markup
        bo = chrome.new_context(**PHONE).new_page()
        bo.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        bo.goto(url + "workshop")
        bo.fill("#ws-code-input input", f"{code[:3].lower()} {code[3:].lower()}")
        bo.fill("#ws-name-input input", XSS_NAME)
        bo.click("#ws-join-btn")
        bo.fill("#ws-text-1 textarea", BO_TEXT)
        bo.click("#ws-submit-1")
        bo.wait_for_selector("#ws-feedback-1 .ws-badge", timeout=WAIT)
        assert XSS_NAME in bo.inner_text("#ws-status")  # shown as text

        # --- the live board shows both, without a reload
        fac.wait_for_function(
            "([a, b]) => { const t = document.querySelector('#ws-board').innerText;"
            " return t.includes(a) && t.includes(b); }", arg=[ANA_FINAL, BO_TEXT], timeout=WAIT)
        text = board_text(fac)
        assert "2 joined" in text and "3 rewrites" in text and "2 of 2 submitted" in text
        assert ANA_DRAFT not in text  # the board shows each person's latest version
        assert "Participant 1" in text and "Ana" not in text  # names hidden by default
        assert "Not submitted yet (2): Participant 1, Participant 2" in text  # KR 2 and 3

        fac.click("#ws-shownames")
        fac.wait_for_function(
            "(n) => document.querySelector('#ws-board').innerText.includes(n)", arg=XSS_NAME,
            timeout=WAIT)
        assert fac.locator("#ws-board img[src='x']").count() == 0
        fac.click("#ws-hidenames")  # and hidden again, for the projector
        fac.wait_for_function(
            "(n) => !document.querySelector('#ws-board').innerText.includes(n)", arg=XSS_NAME,
            timeout=WAIT)

        # --- voting: each participant votes for the other's rewrite from the phone
        fac.click("#ws-voting")
        for page, other in ((ana, BO_TEXT), (bo, ANA_FINAL)):
            page.wait_for_selector("#ws-roomlist-1 button[data-ws-action='vote']", timeout=WAIT)
            assert other in page.inner_text("#ws-roomlist-1")
            page.click("#ws-roomlist-1 button[data-ws-action='vote']")
            page.wait_for_selector("#ws-roomlist-1 .ws-voted", timeout=WAIT)
        fac.wait_for_function(
            "() => [...document.querySelectorAll('#ws-board tr')]"
            ".filter(r => r.cells.length === 5 && r.cells[4].innerText.trim() === '1').length === 2",
            timeout=WAIT)

        # --- favourite, timer
        fac.click("#ws-board button[data-ws-action='fav']")
        fac.wait_for_selector("#ws-board tr.ws-fav", timeout=WAIT)
        fac.fill("#ws-minutes input", "5")
        fac.click("#ws-timer-start")
        ana.wait_for_function(
            "() => /Time left [45]:\\d\\d/.test(document.querySelector('#ws-status').innerText)", timeout=WAIT)
        ana.wait_for_selector("#ws-roomlist-1 li", timeout=WAIT)
        ana.wait_for_function(
            "() => document.querySelector('#ws-roomlist-1').innerText.includes(\"facilitator's pick\")",
            timeout=WAIT)
        ana.evaluate("window.scrollTo(0, 0)")
        screenshot(ana, "workshop-participant")
        fac.wait_for_function(
            "() => /Time left [45]:\\d\\d/.test(document.querySelector('#ws-board').innerText)", timeout=WAIT)
        fac.get_by_text("Your private facilitator link").click()  # close it: docs show no key
        fac.wait_for_selector("#ws-private-link", state="hidden", timeout=WAIT)
        screenshot(fac, "workshop-board")

        # --- closing the round refuses new rewrites with a clear message
        fac.click("#ws-close")
        fac.wait_for_selector("#ws-reopen", state="visible", timeout=WAIT)
        bo.wait_for_function(
            "() => document.querySelector('#ws-status').innerText.includes('The round is closed')",
            timeout=WAIT)
        assert bo.locator("#ws-submit-2").is_disabled()
        bo.fill("#ws-text-2 textarea", "Grow hires from 3 to 5 by Q3")
        screenshot(bo, "workshop-closed")

        # --- export: three files and a summary to paste
        fac.click("#ws-export")
        fac.wait_for_selector("#ws-summary textarea", timeout=WAIT)
        summary = fac.input_value("#ws-summary textarea")
        assert "2 participants wrote 3 rewrites of 3 activity-shaped KRs" in summary
        # The file list renders a moment after the summary (Gradio serves the files first).
        fac.wait_for_function("() => document.querySelectorAll('#ws-files a[download]').length >= 3",
                              timeout=WAIT)
        names = fac.locator("#ws-files a").evaluate_all("els => els.map(e => e.getAttribute('download'))")
        assert sorted(names) == sorted(f"workshop-{code}.{ext}" for ext in ("csv", "json", "md"))
        with fac.expect_download() as dl:
            fac.locator(f"#ws-files a[download='workshop-{code}.md']").click()
        md = Path(dl.value.path()).read_text(encoding="utf-8")
        assert "**Before:** Launch the spring email campaign" in md and ANA_FINAL in md
        assert "<img" not in md and "| Participant 2 |" in md  # names hidden: exports follow
        screenshot(fac, "workshop-exported")

        # --- a reload keeps the participant's identity and work
        ana.reload()
        ana.wait_for_selector("#ws-feedback-1 .ws-badge.ws-outcome", timeout=WAIT)
        assert "Ana (Participant 1)" in ana.inner_text("#ws-status")
        assert ana.input_value("#ws-text-1 textarea") == ANA_FINAL

    assert dialogs == []
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    shutil.copy(ROOT / "test-artifacts" / "workshop-participant.png", docs / "workshop-participant.png")
    shutil.copy(ROOT / "test-artifacts" / "workshop-board.png", docs / "workshop-board.png")
