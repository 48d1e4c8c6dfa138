"""The drafting app's API, through `gradio_client` against a launched server, plus its renderers.

The API tests compare what comes over the wire with what the library says in-process for the same
text (the rules engine is deterministic), so they fail if the app drops, reorders or reshapes a
field, or if a bad input turns into a stack trace instead of a message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser import launch_app
from conftest import run_cli
from krcoach import coach, formats
from krcoach.web import app, downloads, drafting, drafts, review_html, ui
from krcoach.models import MAX_KR_CHARS, Finding, Issue, KRReview, Rewrite

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

RECORD_KEYS = ["id", "objective", "kr", "owner", "kind", "why", "issues", "rewrites", "engine",
               "model", "status", "error", "confidence", "team", "notes"]
DRAFT = """\
## Customers get value in their first week
- Ship the new onboarding checklist (owner: Lea)
- Cut median time-to-first-report from 3 days to 1 day by September 30
- Hold 5 customer interviews @marco

Objective: Fewer surprises in production
1. Maintain 99.9% API uptime every month
2. Migrate all services to Kubernetes
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The launched app's URL and the folder holding its log."""
    folder = tmp_path_factory.mktemp("app-api")
    with launch_app(folder) as url:
        yield url, folder


@pytest.fixture(scope="module")
def client(server) -> object:
    gradio_client = pytest.importorskip("gradio_client")
    return gradio_client.Client(server[0], verbose=False)


def expected_records(text: str) -> list[dict]:
    return coach.review(formats.parse_outline(text), "rules").records()


# ------------------------------------------------------------------------------ over the wire


def test_review_endpoint_returns_the_stable_records(client) -> None:
    records = client.predict(DRAFT, api_name="/review")
    assert isinstance(records, list) and len(records) == 5
    for rec in records:
        assert list(rec) == RECORD_KEYS  # exact key set and order
        assert rec["kind"] in ("output", "outcome")
        assert rec["engine"] == "rules" and rec["model"] is None
        assert rec["status"] == "ok" and rec["error"] is None
        assert all(list(i) == ["code", "message"] for i in rec["issues"])
        assert all(list(r) == ["text", "metric", "baseline", "target", "deadline", "assumptions"]
                   for r in rec["rewrites"])
    assert [r["id"] for r in records] == ["1", "2", "3", "4", "5"]
    assert [r["owner"] for r in records] == ["Lea", None, "marco", None, None]
    assert records[3]["objective"] == "Fewer surprises in production"
    # The same answer the library gives in-process, field for field.
    assert records == expected_records(DRAFT)


def test_review_endpoint_keeps_kinds_apart(client) -> None:
    records = client.predict("- Launch the pricing page\n"
                             "- Raise trial-to-paid conversion from 4% to 6% by end of Q3",
                             api_name="/review")
    assert [r["kind"] for r in records] == ["output", "outcome"]


@pytest.mark.parametrize(("text", "expected"), [
    ("", "The draft is empty"),
    ("   \n\n  ", "The draft is empty"),
    ("- " + "x" * (MAX_KR_CHARS + 1), f"Line 1: this key result is {MAX_KR_CHARS + 1:,} characters; "
     f"the limit is {MAX_KR_CHARS:,}"),
    ("\n".join(f"- Raise metric {i} from 1 to 2" for i in range(drafts.MAX_KRS + 1)),
     f"The draft has {drafts.MAX_KRS + 1} key results; at most {drafts.MAX_KRS}"),
    ("x" * (drafts.MAX_TEXT_CHARS + 1), "characters; at most"),
])
def test_bad_input_is_a_clear_error_not_a_stack_trace(client, text: str, expected: str) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as err:
        client.predict(text, api_name="/review")
    message = str(err.value)
    assert expected in message
    assert "Traceback" not in message and "File \"" not in message


def test_exactly_200_krs_are_accepted(client) -> None:
    text = "\n".join(f"- Raise metric {i} from 1 to 2 by Q4" for i in range(drafts.MAX_KRS))
    records = client.predict(text, api_name="/review")
    assert len(records) == drafts.MAX_KRS and records[-1]["id"] == str(drafts.MAX_KRS)


def test_only_the_documented_endpoints_are_public(client) -> None:
    named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert "/review" in named
    ui_handlers = {"/review_page", "/apply_click", "/load_upload", "/lambda", "/<lambda>"}
    assert not ui_handlers & set(named)


# ------------------------------------------------------------------------------ wiring


def test_events_are_private_or_named_and_run_in_parallel() -> None:
    demo = app.build_app("rules")
    ours = [fn for fn in demo.fns.values() if fn.fn is not None
            and getattr(fn.fn, "__module__", None) == "krcoach.web.drafting"]
    assert len(ours) >= 6
    public = {fn.api_name for fn in ours if fn.api_visibility != "private"}
    assert public == {"review"}
    for fn in ours:
        if fn.queue:  # Gradio's default is one at a time; ours are set on purpose
            assert fn.concurrency_limit == drafting.RULES_CONCURRENCY, fn.name
            assert fn.concurrency_id == drafting.RULES_CONCURRENCY_ID, fn.name


def test_the_named_endpoints_are_the_documented_ones() -> None:
    """The `api_name`s clients call are the README's (`review` and the workshop table), and no
    other event is public: a handler moving to another module must never rename one."""
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    documented = {"review"} | {name for line in readme.splitlines() if line.startswith("| `/")
                               for name in re.findall(r"`/(workshop_\w+)`", line)}
    assert len(documented) == 16
    demo = app.build_app("rules")
    public = {fn.api_name for fn in demo.fns.values() if fn.api_visibility != "private"}
    assert public == documented


# ------------------------------------------------------------------------------ rendering


def make_review(kr: str, **overrides) -> KRReview:
    data = dict(id="7", objective="O", kr=kr, owner=None, kind="output",
                why="It counts <b>work</b>.", issues=[Issue(code="activity", message="Counts work.")],
                rewrites=[Rewrite(text="Weekly active teams from [baseline: measure first] to "
                                       "[target] by [date]", metric="Weekly active teams",
                                  assumptions=["Assumes <teams> matter"])],
                engine="rules")
    data.update(overrides)
    return KRReview(**data)


@pytest.mark.parametrize("hostile", [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "${alert(1)} and {{value}} and `x`",
    "\"><svg onload=alert(1)>",
])
def test_user_strings_are_escaped(hostile: str) -> None:
    card = review_html.render_kr(make_review(hostile, owner=hostile, why=hostile,
                                             issues=[Issue(code="vague", message=hostile)],
                                             error=hostile, status="fallback"))
    assert "<img" not in card and "<script" not in card and "<svg" not in card
    assert "${" not in card and "{{" not in card and "`" not in card
    assert ui.esc(hostile) in card
    finding = review_html.render_findings([Finding(code="all_outputs", message=hostile,
                                                           scope="objective", objective=hostile)])
    assert "<img" not in finding and "<svg" not in finding and ui.esc(hostile) in finding


def test_placeholders_are_highlighted_and_the_rest_escaped() -> None:
    out = review_html.highlight_placeholders(
        "Revenue <net> from [baseline: measure first] to [target] by Q4")
    assert out.count('<mark class="kc-ph">') == 2
    assert '<mark class="kc-ph">[baseline: measure first]</mark>' in out
    assert "&lt;net&gt;" in out


def test_card_shows_badge_issues_rewrite_and_fallback() -> None:
    card = review_html.render_kr(make_review("Launch the pricing page", status="fallback",
                                             error="llm: HTTP 500 from http://127.0.0.1:1/v1"))
    assert 'class="kc-badge kc-output">Output<' in card
    assert ui.ISSUE_LABELS["activity"] in card and "Counts work." in card
    assert 'data-kr="7" data-idx="0"' in card and "Use this rewrite" in card
    assert "Assumes &lt;teams&gt; matter" in card
    assert "Fallback:" in card and "HTTP 500" in card
    ok = review_html.render_kr(make_review("Raise NPS from 30 to 40 by Q4", kind="outcome",
                                           issues=[], rewrites=[]))
    assert "kc-badge kc-outcome" in ok and "nothing to fix" in ok and "kc-fallback" not in ok


def test_summary_counts_come_from_the_review() -> None:
    review = coach.review(formats.parse_outline(DRAFT), "rules")
    strip = review_html.render_summary(review)
    s = review.summary()
    for value, label in ((s["krs"], "key results"), (s["outcomes"], "outcomes"),
                         (s["need_work"], "need work")):
        assert f'<span class="kc-num">{value}</span><span class="kc-lbl">{label}</span>' in strip


def test_apply_rewrite_replaces_only_that_kr_and_refuses_stale_reviews() -> None:
    review = coach.review(formats.parse_outline(DRAFT), "rules")
    state = drafting.review_state(review)
    target = next(k for k in review.kr_reviews() if k.rewrites)
    new = drafting.apply_rewrite(DRAFT, state, target.id, 0)
    assert target.rewrites[0].text in new and target.kr not in new
    others = [k.kr for k in review.kr_reviews() if k.id != target.id]
    assert all(o in new for o in others)
    edited = DRAFT.replace(target.kr, target.kr + " soon")
    with pytest.raises(drafts.DraftError, match="changed since this review"):
        drafting.apply_rewrite(edited, state, target.id, 0)
    with pytest.raises(drafts.DraftError):
        drafting.apply_rewrite(DRAFT, state, target.id, 99)


def test_the_documented_client_example_runs(client, tmp_path) -> None:
    """The README's gradio_client example for `review`, run as written against the launched app."""
    import re
    import subprocess
    import sys

    from browser import ROOT

    doc = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"<!-- example: review-api .*?-->\n```python\n(.*?)```", doc, re.S).group(1)
    code = code.replace("http://127.0.0.1:7860/", client.src)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "HF_HUB_DISABLE_TELEMETRY": "1"}, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "1 output Ship the new onboarding checklist" in out.stdout
    assert "refused: The draft is empty" in out.stdout


def test_download_files_match_the_review_and_old_sets_are_pruned(tmp_path) -> None:
    review = coach.review(formats.parse_outline(DRAFT), "rules")
    paths = downloads.write_downloads(review, DRAFT, tmp_path)
    assert paths["okr-review.csv"].read_text(encoding="utf-8") == formats.render(review, "csv")
    assert paths["okr-review.json"].read_text(encoding="utf-8") == formats.render(review, "json")
    assert paths["okr-review.md"].read_text(encoding="utf-8") == formats.render(review, "md")
    assert formats.parse_outline(paths["improved-draft.md"].read_text(encoding="utf-8")) \
        .key_results()[0].kr == review.kr_reviews()[0].kr
    for i in range(downloads.KEEP_DOWNLOAD_SETS + 6):
        text = f"- Raise weekly active teams from {i} to {i + 10} by Q4"
        last = downloads.write_downloads(coach.review(formats.parse_outline(text), "rules"), text, tmp_path)
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(folders) == downloads.KEEP_DOWNLOAD_SETS
    assert last["okr-review.csv"].exists()


# ------------------------------------------------------------------------------ starting the server


def test_startup_line_names_the_address_engine_and_workshop(server) -> None:
    url, folder = server
    log = (folder / "app.log").read_text(encoding="utf-8")
    assert f"krcoach is running at {url} (engine: rules); workshop at {url}facilitate." in log
    assert "share=True" not in log  # Gradio's own banner, which suggests public links, stays quiet


def test_a_busy_port_is_one_line_and_exit_2(server) -> None:
    port = server[0].rstrip("/").rsplit(":", 1)[1]
    done = run_cli("serve", "--port", port, env={"GRADIO_ANALYTICS_ENABLED": "False"}, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"krcoach: error: cannot listen on 127.0.0.1:{port} (in use or not allowed); "
        "choose another with --port or --host"]
    assert "Traceback" not in done.stderr


def test_lines_the_reader_did_not_take_are_shown_on_the_page() -> None:
    from krcoach.web.review_html import render_review
    from krcoach.coach import review_text

    page = render_review(review_text("# Team OKRs\n## Grow\n- Grow MAU to 2k\n- ~~Cut churn to 3%~~ (moved to H1)\n"
                                     "- Raise NPS to 40\n"))
    assert "Lines not read" in page and "struck through" in page and "line 4" in page


# ------------------------------------------------------------------------------ the review pool


def test_run_routes_refuse_the_review_endpoint(server) -> None:
    """Gradio's direct routes would run `review` outside the queue and the review pool."""
    import httpx

    for path in ("gradio_api/run/review", "gradio_api/api/review"):
        r = httpx.post(server[0] + path, json={"data": [DRAFT]}, timeout=60)
        assert 400 <= r.status_code < 500 and "rewrites" not in r.text


def test_review_endpoint_shares_the_pool_with_the_json_api(server, client) -> None:
    """A client id's share covers every route: with its share busy on the JSON API, the same id
    gets a one-line "Busy: ... retry in N s." from `review`, and other clients are served."""
    import re
    import threading

    import httpx
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    url = server[0]
    big = "\n".join(f"- Raise weekly active teams in segment {i} from {i} to {i + 40} by Q4"
                    for i in range(drafts.MAX_KRS))
    stop = threading.Event()

    def flood() -> None:
        with httpx.Client(timeout=120, headers={"X-Client-Id": "busy-team"}) as http:
            while not stop.is_set():
                http.post(url + "api/review", json={"text": big})

    threads = [threading.Thread(target=flood) for _ in range(12)]
    for t in threads:
        t.start()
    try:
        same = Client(url, verbose=False, headers={"X-Client-Id": "busy-team"})
        messages = []
        for _ in range(10):
            try:
                same.predict(DRAFT, api_name="/review")
            except AppError as err:
                messages.append(str(err))
                break
        assert messages and re.fullmatch(r"Busy: .*retry in \d+ s\.", messages[0]), messages
        assert len(client.predict(DRAFT, api_name="/review")) == 5  # another client: served
    finally:
        stop.set()
        for t in threads:
            t.join(60)
