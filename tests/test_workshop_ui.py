"""The workshop page's pure helpers (the page itself is driven in test_browser_workshop.py)."""

from __future__ import annotations

import pytest

from krcoach.workshop_ui import add_picked


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
