"""Objective- and set-level checks."""

from __future__ import annotations

from krcoach.coach import review
from krcoach.formats import parse_outline
from krcoach.rules.engine import RulesEngine


def findings(text: str) -> list[tuple[str, str, str | None]]:
    result = review(parse_outline(text), RulesEngine())
    return [(f.code, f.scope, f.objective) for f in result.all_findings()]


def test_numbers_in_objective_are_flagged_but_periods_are_not() -> None:
    got = findings("## Grow revenue to $2M in 2026\n- Grow ARR from 1M to 2M\n- Cut churn from 5% to 3%\n")
    assert ("objective_has_numbers", "objective", "Grow revenue to $2M in 2026") in got
    msg = [f for f in review(parse_outline("## Grow revenue to $2M in 2026\n- a\n- b\n"), RulesEngine()).all_findings()
           if f.code == "objective_has_numbers"][0].message
    assert "$2M" in msg and "2026" not in msg


def test_kr_count_bounds() -> None:
    six = "## Delight users\n" + "".join(f"- Raise NPS from {i} to {i + 10}\n" for i in range(6))
    assert ("too_many_krs", "objective", "Delight users") in findings(six)
    one = "## Delight users\n- Raise NPS from 30 to 40\n"
    assert ("too_few_krs", "objective", "Delight users") in findings(one)
    three = "## Delight users\n- Raise NPS from 30 to 40\n- Cut churn from 5% to 3%\n- Grow MAU from 1k to 2k\n"
    assert not [f for f in findings(three) if f[0] in ("too_many_krs", "too_few_krs")]


def test_objective_with_only_outputs() -> None:
    text = "## Launch v2\n- Ship the editor\n- Publish 3 blog posts\n## Grow\n- Ship X\n- Grow MAU from 1k to 2k\n"
    got = findings(text)
    assert ("all_outputs", "objective", "Launch v2") in got
    assert ("all_outputs", "objective", "Grow") not in got


def test_too_many_objectives_in_a_set() -> None:
    text = "".join(f"## Objective {i}\n- Grow MAU from 1k to 2k\n- Cut churn from 5% to 3%\n" for i in range(6))
    assert ("too_many_objectives", "set", None) in findings(text)


def test_a_gap_every_kr_shares_is_said_once_for_the_objective() -> None:
    text = "## Grow\n- Grow MAU to 2k\n- Cut churn to 3%\n## Keep\n- Keep NPS above 40 by Q3\n- Grow MAU to 2k\n"
    result = review(parse_outline(text), RulesEngine())
    grow, keep = result.objectives
    shared = [f for f in grow.findings if f.code == "shared_gap"]
    assert {"no_deadline", "no_baseline"} <= {c for f in shared for c in ("no_deadline", "no_baseline") if c in f.message}
    assert not any(c in ("no_deadline", "no_baseline") for k in grow.krs for c in k.issue_codes())
    # one KR of "Keep" has a date: the other keeps its own no_deadline, nothing is lifted for it
    assert not any(f.code == "shared_gap" and "no_deadline" in f.message for f in keep.findings)
    assert "no_deadline" in keep.krs[1].issue_codes()


def test_need_work_counts_real_problems_and_names_the_common_ones() -> None:
    text = "## 2026 Q3 OKRs\n- Grow MAU to 2k\n- Cut churn to 3%\n- Launch the referral campaign\n- Publish 12 blog posts\n"
    result = review(parse_outline(text), RulesEngine())
    assert result.summary()["need_work"] == 2  # a missing baseline alone is a detail, not "needs work"
    assert result.common_problems()[0] == ("activity", 2)
