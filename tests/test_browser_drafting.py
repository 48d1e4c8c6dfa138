"""The drafting page in headless Chromium, against a launched app.

What a person does: paste a draft, review it, read the verdicts, pull a rewrite into the draft,
download the review; on a phone; with hostile text; with a file; with the llm engine (a real
OpenAI-protocol server on 127.0.0.1) that falls back on one objective. Expected values come from
the library run in-process on the same text, never from constants. Every request the page makes
must go to the app on 127.0.0.1. Screenshots land in test-artifacts/ (set
KRCOACH_UPDATE_SCREENSHOT=1 to refresh docs/screenshot.png from the desktop run).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from browser import ARTIFACTS, ROOT, chromium, launch_app, screenshot
from krcoach import coach, formats
from krcoach.web.examples import EXAMPLES
from krcoach.models import MAX_KR_CHARS, OKRReview
from krcoach.safe import md_text

pytestmark = pytest.mark.slow

DRAFT = """\
## Customers get value in their first week
- Ship the new onboarding checklist (owner: Lea)
- Cut median time-to-first-report from 3 days to 1 day by September 30
- Hold 5 customer interviews with churned trials @marco

Objective: A platform product teams trust
1. Maintain 99.9% API uptime every month
2. Migrate all services to Kubernetes
3. Publish 12 SEO blog posts
"""
CARD = "#kc-results .kc-card"
TEXTAREA = "#kc-draft textarea"


def library_review(text: str) -> OKRReview:
    return coach.review(formats.parse_outline(text), "rules")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with launch_app(tmp_path_factory.mktemp("drafting")) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


class Visit:
    """A fresh browser context on the app that records every request and every dialog."""

    def __init__(self, browser: Any, url: str, **context: Any) -> None:
        self.url = url
        self.context = browser.new_context(accept_downloads=True, **context)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(url)
        self.page.wait_for_selector(TEXTAREA)

    def offsite(self) -> list[str]:
        """Requests that went anywhere but the app (data: and blob: URLs never leave the page)."""
        app = urlsplit(self.url)
        return [u for u in self.requests if urlsplit(u).scheme not in ("data", "blob")
                and (urlsplit(u).hostname, urlsplit(u).port) != (app.hostname, app.port)]

    def wait_cards(self, n: int) -> None:
        self.page.wait_for_function("([sel, n]) => document.querySelectorAll(sel).length === n",
                                    arg=[CARD, n], timeout=15_000)

    def cards(self) -> list[dict[str, str]]:
        return self.page.locator(CARD).evaluate_all(
            """els => els.map(e => ({id: e.dataset.krId, kind: e.dataset.kind,
                  badge: e.querySelector('.kc-badge').textContent,
                  kr: e.querySelector('.kc-kr').textContent, status: e.dataset.status}))""")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(server: str, browser: Any) -> Iterator[Any]:
    opened: list[Visit] = []

    def open_(**context: Any) -> Visit:
        v = Visit(browser, server, **context)
        opened.append(v)
        return v

    yield open_
    for v in opened:
        assert v.offsite() == [], f"the page reached outside the app: {v.offsite()}"
        v.close()


def test_paste_review_apply_rewrite_and_download(visit: Any) -> None:
    v = visit(viewport={"width": 1400, "height": 1000})
    page = v.page
    page.locator(TEXTAREA).fill(DRAFT)
    page.get_by_role("button", name="Review draft").click()
    expected = library_review(DRAFT)
    krs = expected.kr_reviews()
    v.wait_cards(len(krs))

    # A badge per KR that matches the library's verdict, in order.
    cards = v.cards()
    assert [(c["id"], c["kind"], c["kr"]) for c in cards] == [(k.id, k.kind, k.kr) for k in krs]
    assert [c["badge"] for c in cards] == [k.kind.capitalize() for k in krs]
    assert {"output", "outcome"} <= {c["kind"] for c in cards}
    # Summary strip, issues, placeholders, findings.
    s = expected.summary()
    tiles = page.locator(".kc-tile").evaluate_all(
        "els => els.map(e => [e.querySelector('.kc-lbl').textContent, "
        "Number(e.querySelector('.kc-num').textContent)])")
    assert ["key results", s["krs"]] in tiles and ["outcomes", s["outcomes"]] in tiles
    assert ["need work", s["need_work"]] in tiles
    first_issue = next(k for k in krs if k.issues).issues[0]
    assert page.get_by_text(first_issue.message).first.is_visible()
    marks = page.locator("mark.kc-ph").all_text_contents()
    assert marks and all(m.startswith("[") and m.endswith("]") for m in marks)
    assert page.locator(".kc-findings li").count() == len(expected.all_findings())
    screenshot(page, "drafting-desktop-reviewed")

    # "Use this rewrite" puts it in the draft in place of that KR, and the review follows.
    target = next(k for k in krs if k.rewrites)
    chosen = target.rewrites[0].text
    page.locator(f'button.kc-apply[data-kr="{target.id}"][data-idx="0"]').click()
    page.wait_for_function("([sel, t]) => document.querySelector(sel).value.includes(t)",
                           arg=[TEXTAREA, chosen])
    new_draft = page.locator(TEXTAREA).input_value()
    assert target.kr not in new_draft
    assert all(k.kr in new_draft for k in krs if k.id != target.id)
    page.wait_for_function(
        "([id, t]) => { const c = document.querySelector(`.kc-card[data-kr-id='${id}'] .kc-kr`);"
        " return c && c.textContent === t; }", arg=[target.id, chosen])
    after = library_review(new_draft)
    v.wait_cards(len(after.kr_reviews()))
    assert [c["kind"] for c in v.cards()] == [k.kind for k in after.kr_reviews()]

    # Downloads: the CSV rows are the records of the review on screen.
    with page.expect_download() as info:
        page.get_by_role("button", name="Review .csv").click()
    path = info.value.path()
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames or ()) == formats.RECORD_FIELDS
    assert [r["id"] for r in rows] == [k.id for k in after.kr_reviews()]
    assert [r["kr"] for r in rows] == [k.kr for k in after.kr_reviews()]
    assert [r["kind"] for r in rows] == [k.kind for k in after.kr_reviews()]
    assert rows[int(target.id) - 1]["kr"] == chosen
    assert json.loads(rows[0]["issues"]) == [i.model_dump() for i in after.kr_reviews()[0].issues]

    with page.expect_download() as info:
        page.get_by_role("button", name="Review .json").click()
    doc = json.loads(Path(info.value.path()).read_text(encoding="utf-8"))
    assert doc["records"] == after.records() and doc["summary"] == after.summary()

    with page.expect_download() as info:
        page.get_by_role("button", name="Improved draft .md").click()
    improved = Path(info.value.path()).read_text(encoding="utf-8")
    assert f"- {md_text(chosen)}" in improved and md_text(target.kr) not in improved
    assert formats.parse_outline(improved).key_results()[int(target.id) - 1].kr == chosen

    assert v.dialogs == []


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.name.split()[0].lower())
def test_example_drafts_load_and_review(visit: Any, example: Any) -> None:
    v = visit(viewport={"width": 1400, "height": 1000})
    page = v.page
    page.get_by_role("button", name=example.name).click()
    expected = library_review(example.text)
    v.wait_cards(len(expected.kr_reviews()))
    assert page.locator(TEXTAREA).input_value() == example.text
    assert [(c["kind"], c["kr"]) for c in v.cards()] == [(k.kind, k.kr) for k in expected.kr_reviews()]
    # A good example shows the coach at work: both verdicts and at least one rewrite.
    assert {"output", "outcome"} <= {c["kind"] for c in v.cards()}
    assert page.locator("button.kc-apply").count() > 0
    page.evaluate("window.scrollTo(0, 0)")
    shot = screenshot(page, f"drafting-example-{example.name.split()[0].lower()}", full_page=False)
    if example is EXAMPLES[0] and os.environ.get("KRCOACH_UPDATE_SCREENSHOT"):
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, ROOT / "docs" / "screenshot.png")


def test_review_follows_typing_and_limits_show_on_the_page(visit: Any) -> None:
    v = visit(viewport={"width": 1280, "height": 900})
    page = v.page
    box = page.locator(TEXTAREA)
    box.click()
    box.press_sequentially("- Launch the partner portal\n- Raise partner revenue from 1M to 2M by Q4",
                           delay=4)
    v.wait_cards(2)  # no click on Review: the page reviewed as the person typed
    assert [c["kind"] for c in v.cards()] == [k.kind for k in library_review(box.input_value())
                                              .kr_reviews()]
    assert page.get_by_role("button", name="Review .csv").is_visible()

    box.fill(box.input_value() + "\n- " + "y" * (MAX_KR_CHARS + 1))  # a paste: one input event
    alert = page.locator("#kc-results [role=alert]")
    alert.wait_for()
    assert f"Line 3: this key result is {MAX_KR_CHARS + 1:,} characters; the limit is " \
           f"{MAX_KR_CHARS:,}" in alert.text_content()
    assert page.locator(CARD).count() == 0
    assert not page.get_by_role("button", name="Review .csv").is_visible()

    box.fill("\n".join(f"- Raise metric {i} from 1 to 2 by Q4" for i in range(201)))
    page.get_by_role("button", name="Review draft").click()
    page.get_by_text("The draft has 201 key results; at most 200").wait_for()

    box.fill("")
    page.get_by_role("button", name="Review draft").click()
    page.get_by_text("What the coach looks for").wait_for()


def test_a_huge_paste_and_control_characters_get_a_message_and_the_page_responds(
        visit: Any) -> None:
    """A 5 MB paste never reaches the draft box, the server or the results: the browser's guard
    says why at once and the review on screen stays. Control characters get the server's message
    naming the first one. (bench/bench_page_input.py times both.)"""
    from krcoach.web.drafts import MAX_TEXT_CHARS

    v = visit(viewport={"width": 1280, "height": 900})
    page = v.page
    v.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=v.url.rstrip("/"))
    box = page.locator(TEXTAREA)
    box.fill(DRAFT)
    page.get_by_role("button", name="Review draft").click()
    krs = library_review(DRAFT).kr_reviews()
    v.wait_cards(len(krs))

    page.evaluate("(t) => navigator.clipboard.writeText(t)", "- Ship the feature!\n" * 250_000)
    box.focus()
    page.keyboard.press("Control+A")
    page.keyboard.press("Control+V")  # a real paste, replacing the draft
    guard = page.locator("#kc-guard [role=alert]")
    guard.wait_for(timeout=10_000)
    assert (f"would make the draft 5,000,000 characters; at most {MAX_TEXT_CHARS:,}"
            in guard.text_content())
    assert box.input_value() == DRAFT  # nothing was pasted
    assert page.locator(CARD).count() == len(krs)  # and the review on screen stays

    box.fill("- Launch the partner portal\n- Raise partner revenue from 1M to 2M by Q4")
    v.wait_cards(2)  # the page still responds: the edit is reviewed as usual
    assert guard.count() == 0

    box.fill("## Partners\n- Launch the\x00 partner portal\x1b[31m")
    page.get_by_role("button", name="Review draft").click()
    alert = page.locator("#kc-results [role=alert]")
    alert.wait_for(timeout=10_000)
    assert ("The draft has 2 control characters (the first: NUL (U+0000) on line 2, column 13)"
            in alert.text_content())
    assert page.locator(CARD).count() == 0
    box.fill("- Launch the partner portal")
    v.wait_cards(1)


#: Ways 500,000 characters reach the draft box without a paste event: a script setting the value
#: (then telling the page), an insertText `beforeinput` (dictation, IME, automation), a real
#: insertion through the browser's editing (Playwright's insertText: native beforeinput) and
#: `document.execCommand('insertText')`, which fires no beforeinput and, unguarded, kept
#: Chromium busy for over 15 minutes.
HUGE_INSERTIONS = {
    "value-and-input": "(t) => { const el = document.querySelector('#kc-draft textarea');"
                       " el.value = t; el.dispatchEvent(new Event('input', {bubbles: true})); }",
    "beforeinput-insertText": "(t) => { const el = document.querySelector('#kc-draft textarea');"
                              " el.focus(); return el.dispatchEvent(new InputEvent('beforeinput',"
                              " {inputType: 'insertText', data: t, bubbles: true, cancelable: true}));"
                              " }",
    "execCommand-insertText": "(t) => { document.querySelector('#kc-draft textarea').focus();"
                              " return document.execCommand('insertText', false, t); }",
    "keyboard-insertText": None,
}


@pytest.mark.parametrize("how", HUGE_INSERTIONS)
def test_a_huge_insertion_without_a_paste_is_refused_and_the_page_responds(
        visit: Any, how: str) -> None:
    """The size guard is not only for pastes: 500,000 characters put in the draft box by a
    script, dictation or an extension get the same message at once, the draft and the review on
    screen stay, and the page answers the next click within a couple of seconds."""
    import time

    from krcoach.web.drafts import MAX_TEXT_CHARS

    v = visit(viewport={"width": 1280, "height": 900})
    page = v.page
    box = page.locator(TEXTAREA)
    box.fill(DRAFT)
    page.get_by_role("button", name="Review draft").click()
    krs = library_review(DRAFT).kr_reviews()
    v.wait_cards(len(krs))

    huge = "- Ship the feature!\n" * 25_000  # 500,000 characters, 25,000 lines
    assert len(huge) == 500_000 > MAX_TEXT_CHARS
    start = time.monotonic()
    if HUGE_INSERTIONS[how] is None:
        box.focus()
        page.keyboard.press("End")
        page.keyboard.insert_text(huge)
    else:
        result = page.evaluate(HUGE_INSERTIONS[how], huge)
        if how != "value-and-input":
            assert result is False  # the insertion was cancelled, not carried out
    guard = page.locator("#kc-guard [role=alert]")
    guard.wait_for(timeout=5_000)
    refused_in = time.monotonic() - start
    text = guard.text_content() or ""
    assert "Too long to review here" in text
    assert f"at most {MAX_TEXT_CHARS:,} can be reviewed at a time here" in text
    assert "so the draft was left as it was" in text
    assert box.input_value() == DRAFT  # nothing got in
    assert page.locator(CARD).count() == len(krs)  # and the review on screen stays

    # Responsive: another control answers within a couple of seconds.
    start = time.monotonic()
    page.get_by_role("button", name=EXAMPLES[0].name).click(timeout=2_000)
    page.wait_for_function("([sel, t]) => document.querySelector(sel).value === t",
                           arg=[TEXTAREA, EXAMPLES[0].text], timeout=2_000)
    answered_in = time.monotonic() - start
    print(f"{how}: refused in {refused_in:.2f} s, next click answered in {answered_in:.2f} s")
    assert answered_in < 2.0
    box.fill(DRAFT)  # the next edit of the draft takes the message away
    guard.wait_for(state="detached", timeout=5_000)


def test_kr_text_is_shown_as_text_and_runs_nothing(visit: Any) -> None:
    v = visit(viewport={"width": 1280, "height": 900})
    page = v.page
    hostile = [
        "<img src=x onerror=alert(1)>",
        "<img src=x onerror=\"window.__kcPwned=1\"> lift activation",
        "${alert(2)} and {{value}} and <script>alert(3)</script>",
    ]
    page.locator(TEXTAREA).fill("## <b>Objective</b> <svg onload=alert(4)>\n"
                                + "\n".join(f"- {h}" for h in hostile))
    page.get_by_role("button", name="Review draft").click()
    v.wait_cards(3)
    page.wait_for_timeout(500)  # give any injected handler time to fire
    assert v.dialogs == []
    assert page.evaluate("window.__kcPwned") is None
    assert page.locator("#kc-results img, #kc-results script, #kc-results svg").count() == 0
    texts = page.locator(f"{CARD} .kc-kr").all_text_contents()
    assert texts == [" ".join(h.split()) for h in hostile]
    for h in hostile:
        assert page.get_by_text(" ".join(h.split()), exact=True).first.is_visible()
    assert "<b>Objective</b> <svg onload=alert(4)>" in page.locator(".kc-obj-title").first.text_content()
    screenshot(page, "drafting-hostile-text")


def test_phone_sized_viewport(visit: Any) -> None:
    v = visit(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
              has_touch=True)
    page = v.page
    example = EXAMPLES[1]
    page.get_by_role("button", name=example.name).click()
    expected = library_review(example.text)
    v.wait_cards(len(expected.kr_reviews()))
    assert page.locator(TEXTAREA).input_value() == example.text
    assert [c["kind"] for c in v.cards()] == [k.kind for k in expected.kr_reviews()]
    # Nothing wider than the phone: no sideways scrolling, every card inside the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    boxes = page.locator(CARD).evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.left, r.right]; })")
    assert all(left >= 0 and right <= 390 for left, right in boxes)
    # Readable: the KR text is not shrunk below 16 CSS pixels.
    size = page.locator(f"{CARD} .kc-kr").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 16
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "drafting-phone-top", full_page=False)
    page.locator(CARD).first.scroll_into_view_if_needed()
    screenshot(page, "drafting-phone-cards", full_page=False)
    assert v.dialogs == []


def test_upload_a_csv_and_a_broken_file(visit: Any, tmp_path: Path) -> None:
    v = visit(viewport={"width": 1280, "height": 900})
    page = v.page
    good = tmp_path / "team-okrs.csv"
    good.write_text("objective,kr,owner\n"
                    "Grow self-serve,Launch the new pricing page,Priya\n"
                    "Grow self-serve,Raise trial-to-paid conversion from 4% to 6% by Q3,\n"
                    "Happier customers,NPS from 31 to 45 by Q4,Lea\n", encoding="utf-8")
    page.locator("input[type=file]").set_input_files(str(good))
    expected = coach.review(formats.read_path(good), "rules")
    v.wait_cards(3)
    draft = page.locator(TEXTAREA).input_value()
    assert "## Grow self-serve" in draft and "Launch the new pricing page (owner: Priya)" in draft
    assert [c["kr"] for c in v.cards()] == [k.kr for k in expected.kr_reviews()]
    assert [c["kind"] for c in v.cards()] == [k.kind for k in expected.kr_reviews()]

    bad = tmp_path / "broken.csv"
    bad.write_text("objective,text\nA,b\n", encoding="utf-8")
    page.locator("input[type=file]").set_input_files(str(bad))
    alert = page.locator("#kc-results [role=alert]")
    alert.wait_for()
    assert "broken.csv: row 1: no 'kr' or 'key_result' column" in alert.text_content()
    assert page.locator(TEXTAREA).input_value() == draft  # the draft is left alone


def test_llm_engine_progress_and_fallback(tmp_path: Path, browser: Any) -> None:
    """The llm engine against a real OpenAI-protocol server: partial results while it works,
    the engine and model on the page, a fallback shown on exactly the KRs it touched, and the key
    nowhere on the page."""
    fake_openai = pytest.importorskip("fake_openai")
    secret = "sk-test-krcoach-SECRET-4242"
    text = ("## Quick objective\n- Launch the pricing page\n- Raise NPS from 30 to 40 by Q4\n\n"
            "## Slow objective\n- Publish 12 blog posts\n\n"
            "## Broken objective\n- Ship the mobile app\n- Hire 2 SREs\n")
    with fake_openai.FakeOpenAI() as fake:
        fake.script(fake_openai.ok(delay=2.5), objective="Slow objective")
        fake.script(fake_openai.status(400, body={"error": {"message": "bad request"}}),
                    objective="Broken objective")
        env = {"OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": secret,
               "KRCOACH_MODEL": fake_openai.FAKE_MODEL}
        with launch_app(tmp_path / "llm-app", engine="llm", env=env) as url:
            v = Visit(browser, url, viewport={"width": 1280, "height": 900})
            page = v.page
            assert f"llm · {fake_openai.FAKE_MODEL}" in page.locator(".kc-engine").text_content()
            page.locator(TEXTAREA).fill(text)
            page.wait_for_timeout(800)
            assert fake.count == 0  # no live review with a paid engine
            page.get_by_role("button", name="Review draft").click()
            # While the slow objective is out, the quick one is already on the page.
            page.wait_for_function(
                "() => document.querySelector('.kc-pending') && "
                "document.querySelectorAll('#kc-results .kc-card').length === 2", timeout=15_000)
            assert "more objective" in page.locator(".kc-pending").text_content()
            v.wait_cards(5)
            page.locator(".kc-pending").wait_for(state="detached")
            cards = v.cards()
            assert [c["status"] for c in cards] == ["ok", "ok", "ok", "fallback", "fallback"]
            fallbacks = page.locator(f"{CARD} .kc-fallback")
            assert fallbacks.count() == 2
            assert "HTTP 400" in fallbacks.first.text_content()
            assert page.locator(".kc-t-fallback .kc-num").text_content() == "2"
            assert secret not in page.content()
            screenshot(page, "drafting-llm-fallback")
            assert v.offsite() == [] and v.dialogs == []
            v.close()


PLAN_DRAFT = (ROOT / "examples" / "plan-4-teams.md").read_text(encoding="utf-8")
PANEL = "#kc-results .kc-plan"


def test_plan_panel_shows_conflicts_accountability_and_the_audit(visit: Any) -> None:
    # A wide window: the results column at its widest (about 1,070 CSS pixels), drawn at a
    # scale that makes the documentation screenshot of the panel about 1,200 pixels wide.
    v = visit(viewport={"width": 2000, "height": 1200}, device_scale_factor=1.12)
    page = v.page
    page.locator(TEXTAREA).fill(PLAN_DRAFT)
    page.get_by_role("button", name="Review draft").click()
    expected = library_review(PLAN_DRAFT)
    plan = expected.plan
    assert plan is not None
    v.wait_cards(len(expected.kr_reviews()))
    panel = page.locator(PANEL)
    assert panel.count() == 1 and panel.is_visible()
    # Above the per-KR cards.
    assert page.evaluate(f"""() => document.querySelector('{PANEL}').compareDocumentPosition(
        document.querySelector('{CARD}')) & Node.DOCUMENT_POSITION_FOLLOWING""")

    # The seeds' conflict, both KRs quoted, with its question.
    conflict = panel.locator(".kc-xf[data-code=conflict]").filter(
        has_text="Launch game-changing user features").filter(has_text="Maintain 99.99% system stability")
    assert conflict.count() == 1
    quoted = conflict.locator(".kc-pkr-text").all_text_contents()
    assert quoted == ["Launch game-changing user features", "Maintain 99.99% system stability"]
    seed = next(f for f in plan.findings if f.code == "conflict"
                and [k.kr for k in f.krs[:2]] == quoted)
    assert seed.question and seed.question in conflict.locator(".kc-xf-q").text_content()
    cross = [f for f in plan.findings if f.code in ("conflict", "duplicate", "dependency")]
    assert panel.locator(".kc-xf").count() == len(cross)
    assert "Found by the rules engine" in panel.locator(".kc-plan-engine").text_content()
    assert panel.locator(".kc-fallback").count() == 0

    # Silent killers, the accountability table (one row per team), ambition.
    killers = panel.locator(".kc-killers .kc-tag").all_text_contents()
    assert killers == [f"#{k.number} {k.name}" for k in plan.active_killers]
    teams = panel.locator(".kc-teams tbody th").all_text_contents()
    assert teams == [t.team for t in plan.teams]
    owners = panel.locator(".kc-teams tbody td[data-label='One named owner']").all_text_contents()
    assert owners == [f"{t.single_owner} of {t.krs}" for t in plan.teams]
    assert panel.locator(".kc-ambition .kc-xfs > li").count() == len(plan.ambition)

    # The five-question audit: question, yes/no/cannot tell, evidence.
    rows = panel.locator(".kc-audit-table tbody tr").evaluate_all(
        "rs => rs.map(r => [r.cells[1].firstChild.textContent, r.querySelector('.kc-answer').textContent,"
        " Array.from(r.cells[3].querySelectorAll('li')).map(li => li.textContent)])")
    assert rows == [[a.question, a.answer, a.evidence] for a in plan.audit]
    assert len(rows) == 5

    # Documentation screenshot: the panel alone, about 1200 px wide.
    screenshot(page, "drafting-plan-full")
    (ROOT / "docs").mkdir(exist_ok=True)
    panel.screenshot(path=str(ROOT / "docs" / "plan-panel.png"))
    assert v.dialogs == []


def test_plan_panel_shows_hostile_team_and_kr_text_as_text(visit: Any) -> None:
    v = visit(viewport={"width": 1280, "height": 900})
    page = v.page
    hostile = "<img src=x onerror=alert(1)>"
    draft = (PLAN_DRAFT + f"\n# Team: Ops {hostile}\n## Keep ops calm\n"
             f"- Cut incident count from 12 to 6 per month (owner: Ana Ruiz)\n"
             f"- Reduce {hostile} churn from 5% to 7% (owner: Ana Ruiz)\n")
    page.locator(TEXTAREA).fill(draft)
    page.get_by_role("button", name="Review draft").click()
    expected = library_review(draft)
    v.wait_cards(len(expected.kr_reviews()))
    page.wait_for_timeout(500)  # give any injected handler time to fire
    assert v.dialogs == []
    assert page.locator("#kc-results img, #kc-results script").count() == 0
    plan = expected.plan
    assert plan is not None
    team = next(t.team for t in plan.teams if t.team and t.team.startswith("Ops"))
    assert "<img" in team
    panel = page.locator(PANEL)
    assert team in panel.locator(".kc-teams tbody th").all_text_contents()
    hostile_kr = next(k.kr for k in expected.kr_reviews() if "<img" in k.kr)
    assert hostile_kr in panel.locator(".kc-ambition .kc-pkr-text").all_text_contents()
    assert page.get_by_text(hostile_kr, exact=True).first.is_visible()
    screenshot(page, "drafting-plan-hostile")


def test_no_plan_panel_without_teams(visit: Any) -> None:
    v = visit(viewport={"width": 1280, "height": 900})
    page = v.page
    page.locator(TEXTAREA).fill(DRAFT)
    page.get_by_role("button", name="Review draft").click()
    v.wait_cards(len(library_review(DRAFT).kr_reviews()))
    assert page.locator(PANEL).count() == 0


def test_plan_panel_fits_a_phone(visit: Any) -> None:
    v = visit(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
              has_touch=True)
    page = v.page
    page.locator(TEXTAREA).fill(PLAN_DRAFT)
    page.get_by_role("button", name="Review draft").click()
    v.wait_cards(len(library_review(PLAN_DRAFT).kr_reviews()))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    outside = page.locator(f"{PANEL}, {PANEL} :is(table, th, td, li, p, q)").evaluate_all(
        "els => els.filter(e => { const r = e.getBoundingClientRect(); return r.left < 0 || r.right > 390; })"
        ".map(e => e.outerHTML.slice(0, 120))")
    assert outside == []
    page.locator(PANEL).screenshot(path=str(ARTIFACTS / "drafting-plan-phone.png"))


def test_plan_panel_and_writers_say_when_the_llm_plan_fell_back() -> None:
    from krcoach.web import plan_html, ui

    review = library_review(PLAN_DRAFT)
    assert review.plan is not None
    reason = "llm: answer invalid after 3 tries: <b>K99</b> is not a key result"
    review.plan.cross_team = review.plan.cross_team.model_copy(
        update={"engine": "rules", "status": "fallback", "error": reason})
    panel = plan_html.render_plan(review)
    assert "<b>Fallback:</b>" in panel and ui.esc(reason) in panel and "<b>K99</b>" not in panel
    assert "Found by the <b>rules</b> engine" in panel
    md = formats.render(review, "md")
    assert "_Found by the rules engine._" in md and f"Reason: {md_text(reason)}" in md
    table = formats.render(review, "table")
    assert "found by the rules engine" in table and "Fallback:" in table and "K99" in table
    ok = library_review(PLAN_DRAFT)
    ok.plan.cross_team = ok.plan.cross_team.model_copy(update={"engine": "llm", "model": "m-1"})
    assert "Found by the <b>llm · m-1</b> engine" in plan_html.render_plan(ok)
    assert "Fallback" not in plan_html.render_plan(ok) and "Fallback" not in formats.render(ok, "md")
