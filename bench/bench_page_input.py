"""Benchmark: how fast the drafting page answers oversized and hostile input, in a real browser.

Starts `krcoach.web.app.serve` in a subprocess (the `krcoach serve` code path, fresh temp dirs, rules
engine) and opens it in headless Chromium (/usr/bin/chromium, through Playwright). In one page:

1. reference: fill a normal 5-objective, 15-KR draft, press "Review draft", time until 15 cards
   are on screen (the review stays on screen for the next steps, as in the reported freeze);
2. paste 5 MB (a real Ctrl+V from the clipboard, replacing the draft), time until the size
   message is visible, then time one round trip that proves the page still responds (a short
   draft reviewed to its cards);
3. type-in a short draft with NUL and other control characters (`fill`, one input event) and
   press "Review draft", time until the control-character message is visible;
4. the same two inputs sent straight to the `review` API (no browser guard): time to its answer.

Prints each time in seconds, and PASS/FAIL against the one-second target for the two messages.
Before the input guards (browser size guard, server door checks) the issue reported about 6
minutes for the 5 MB paste and about 1 minute for the control characters; this script measured
246 s for the paste on a 2-core machine, and the control-character draft got no message at all
(it was reviewed as if the characters were text).

    .venv/bin/python bench/bench_page_input.py [--megabytes 5] [--timeout 600]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from bench_app import DRAFT  # noqa: E402  the 15-KR reference draft
from browser import CHROMIUM, CHROMIUM_ARGS, launch_app  # noqa: E402

TARGET_S = 1.0
TEXTAREA = "#kc-draft textarea"
CARDS = "#kc-results .kc-card"
CONTROL_DRAFT = ("## Ship\x00 faster\n- Launch the partner\x00 portal\x01\x1b[31m\n"
                 "- Raise partner revenue from 1M to 2M by Q4\x07\x00\x00\n")
SHORT_DRAFT = "- Launch the partner portal\n- Raise partner revenue from 1M to 2M by Q4"
# Any message the page shows: the browser guard's, or the server's in the results panel.
MESSAGE = "#kc-guard [role=alert], #kc-results [role=alert]"


def big_paste(size: int) -> str:
    """`size` characters of draft-shaped lines (what a person pasting a whole export sends)."""
    line = "- Ship feature number 123 to the whole world by the end of the quarter\n"
    return (line * (size // len(line) + 1))[:size]


def wait_cards(page, n: int, timeout_ms: float) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function("([sel, n]) => document.querySelectorAll(sel).length === n",
                           arg=[CARDS, n], timeout=timeout_ms)


def wait_message(page, words: str, timeout_ms: float) -> str:  # type: ignore[no-untyped-def]
    """Wait for a visible page message containing `words`; return its text."""
    page.wait_for_function(
        """([sel, words]) => [...document.querySelectorAll(sel)].some(
               (e) => e.offsetParent !== null && e.textContent.includes(words))""",
        arg=[MESSAGE, words], timeout=timeout_ms, polling=20)
    return " ".join(t for t in page.locator(MESSAGE).all_text_contents() if words in t)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=5.0, help="size of the paste")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds to wait for each step before calling it a failure")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} not found: apt-get install -y chromium")
        return 2
    from playwright.sync_api import sync_playwright

    timeout_ms = args.timeout * 1000
    size = int(args.megabytes * 1_000_000)
    results: list[tuple[str, bool]] = []
    with tempfile.TemporaryDirectory(prefix="krcoach-bench-page-") as tmp, \
            launch_app(Path(tmp), engine="rules") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url.rstrip("/"))
        page = context.new_page()
        page.set_default_timeout(timeout_ms)
        page.goto(url)
        box = page.locator(TEXTAREA)
        box.wait_for()
        print(f"server {url}; rules engine; Chromium {browser.version}, headless")

        # 1. The reference: a normal review, left on screen.
        started = time.perf_counter()
        box.fill(DRAFT)
        page.get_by_role("button", name="Review draft").click()
        wait_cards(page, 15, timeout_ms)
        reference = time.perf_counter() - started
        print(f"reference: 15-KR draft reviewed (fill + click to 15 cards): {reference:.2f} s")

        # 2. A 5 MB paste over it, with a real Ctrl+V.
        text = big_paste(size)
        page.evaluate("(t) => navigator.clipboard.writeText(t)", text)
        del text
        box.focus()
        page.keyboard.press("Control+A")
        started = time.perf_counter()
        page.keyboard.press("Control+V")
        message = wait_message(page, "characters", timeout_ms)
        took = time.perf_counter() - started
        print(f"{args.megabytes:g} MB paste: size message after {took:.2f} s: {message[:160]!r}")
        results.append((f"{args.megabytes:g} MB paste answered within {TARGET_S:.0f} s "
                         f"({took:.2f} s)", took <= TARGET_S))
        held = len(box.input_value())
        print(f"   the draft box holds {held:,} characters afterwards")
        started = time.perf_counter()
        box.fill(SHORT_DRAFT)
        page.get_by_role("button", name="Review draft").click()
        wait_cards(page, 2, timeout_ms)
        print(f"   then a 2-KR draft reviewed to its cards in {time.perf_counter() - started:.2f} s"
              " (the page still responds)")

        # 3. A short draft with NUL and other control characters.
        started = time.perf_counter()
        box.fill(CONTROL_DRAFT)
        page.get_by_role("button", name="Review draft").click()
        try:
            message = wait_message(page, "control character", timeout_ms)
        except Exception as exc:  # the page reviewed it instead, or never answered
            message = f"no control-character message ({type(exc).__name__})"
        took = time.perf_counter() - started
        print(f"control characters: message after {took:.2f} s: {message[:160]!r}")
        results.append((f"control characters answered within {TARGET_S:.0f} s ({took:.2f} s)",
                        took <= TARGET_S and "control character" in message))
        browser.close()

        # 4. The server's own door, without the browser guard: the `review` API.
        from gradio_client import Client
        from gradio_client.exceptions import AppError

        client = Client(url, verbose=False, ssl_verify=False)
        for label, value in ((f"{args.megabytes:g} MB", big_paste(size)),
                             ("control characters", CONTROL_DRAFT)):
            started = time.perf_counter()
            try:
                client.predict(value, api_name="/review")
                answer = "reviewed (no message)"
            except AppError as err:
                answer = str(err)
            took = time.perf_counter() - started
            print(f"review API, {label}: answered in {took:.2f} s: {answer[:110]!r}")
    for label, ok in results:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
