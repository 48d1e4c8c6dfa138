"""The workshop page's helpers (the page itself is driven in test_browser_workshop.py)."""

from __future__ import annotations

import pytest

from krcoach.workshop.facilitator import add_picked


@pytest.mark.parametrize(("typed", "picked", "expected"), [
    ("- Launch the campaign\n- Publish 12 blog posts", ["Hire 5 engineers"],
     "- Launch the campaign\n- Publish 12 blog posts\n- Hire 5 engineers"),
    ("1. Launch the campaign\n2) Ship v2", ["Hire 5 engineers", "Run 3 webinars"],
     "1. Launch the campaign\n2) Ship v2\n3. Hire 5 engineers\n4. Run 3 webinars"),
    ("* Launch the campaign\n\n", ["Hire 5 engineers"], "* Launch the campaign\n* Hire 5 engineers"),
    ("", ["Hire 5 engineers"], "Hire 5 engineers"),
    ("Launch the campaign", ["Hire 5 engineers"], "Launch the campaign\nHire 5 engineers"),
    # already typed, with a bullet or a KR prefix, or picked twice: added once
    ("- Hire 5 engineers", ["Hire 5 engineers"], "- Hire 5 engineers"),
    ("KR1: hire 5 engineers", ["Hire 5 engineers"], "KR1: hire 5 engineers"),
    ("", ["Hire 5 engineers", "Hire 5 engineers"], "Hire 5 engineers"),
])
def test_picked_krs_join_the_list_in_its_own_style_once(typed: str, picked: list[str], expected: str) -> None:
    assert add_picked(typed, picked) == expected


def test_pacer_answers_a_first_refusal_at_once_and_holds_the_rest(  # type: ignore[no-untyped-def]
        store, engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's submissions: a participant over their allowance hears "Busy" at once the first
    time; what they send again soon after (or a flood sent at once) is held, holding no slot,
    until the allowance has room, and tried once more."""
    import asyncio
    import time

    from krcoach.workshop import domain as ws
    from krcoach.workshop.pacer import SubmitPacer

    monkeypatch.setattr(ws, "SUBMIT_INTERVAL_S", 0.3)
    made = ws.create_workshop(store, "Pacing", ["Launch the campaign"])
    code, token = made["code"], ws.join(store, made["code"])["participant_token"]
    pacer = SubmitPacer(slots=2)
    text = "Lift demo requests from 80 to 200 per month by end of Q3"

    async def main() -> None:
        for i in range(ws.SUBMIT_BURST):
            await pacer.submit(store, code, token, 1, f"{text} ({i})", engine, None)
        started = time.monotonic()
        with pytest.raises(ws.Busy, match=r"^Busy, retry in 1 s"):
            await pacer.submit(store, code, token, 1, f"{text} (a)", engine, None)
        assert time.monotonic() - started < 0.25  # the first refusal: at once
        started = time.monotonic()
        again = await pacer.submit(store, code, token, 1, f"{text} (b)", engine, None)
        assert 0.05 < time.monotonic() - started < 1.0 and again["version"] == ws.SUBMIT_BURST + 1
        # a flood at once, more requests than slots: all held, then at most what refilled stored
        started = time.monotonic()
        results = await asyncio.gather(
            *(pacer.submit(store, code, token, 1, f"{text} #{n}", engine, None) for n in range(20)),
            return_exceptions=True)
        took = time.monotonic() - started
        stored = [r for r in results if isinstance(r, dict)]
        assert all(isinstance(r, ws.Busy) for r in results if not isinstance(r, dict))
        assert 1 <= len(stored) <= 1 + took / ws.SUBMIT_INTERVAL_S and took < 1.5

    asyncio.run(main())
