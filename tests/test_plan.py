"""Plan review (issue 17): teams in the input, cross-team findings, accountability and standard,
ambition per KR, the five-question audit, and where it shows (md, table, JSON, --fail-on, eval)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from krcoach.coach import merge_sets, review
from krcoach.formats import name_team, parse_outline, read_bytes, render, team_from_name
from krcoach.models import PlanReview
from krcoach.plan import ambition_issues, cycle_key, owner_problem
from krcoach.rules.engine import RulesEngine

ENGINE = RulesEngine()


def plan_of(text: str) -> PlanReview:
    result = review(parse_outline(text), ENGINE)
    assert result.plan is not None
    return result.plan


def two_teams(a: str, b: str, team_a: str = "Product", team_b: str = "Engineering",
              owner_a: str = "Maya", owner_b: str = "Raj") -> str:
    return (f"# Team: {team_a}\n## Objective A\n- {a} (owner: {owner_a})\n"
            f"# Team: {team_b}\n## Objective B\n- {b} (owner: {owner_b})\n")


def codes(plan: PlanReview, code: str) -> list:
    return [f for f in plan.findings if f.code == code]


# --------------------------------------------------------------------------------- conflicts


def test_the_seeds_example_conflict_is_found_from_its_own_two_krs() -> None:
    plan = plan_of(two_teams("Launch game-changing user features", "Maintain 99.99% system stability"))
    [c] = codes(plan, "conflict")
    assert [k.kr for k in c.krs] == ["Launch game-changing user features", "Maintain 99.99% system stability"]
    assert [k.team for k in c.krs] == ["Product", "Engineering"] and c.teams == ["Product", "Engineering"]
    assert "99.99%" in c.question and "gives way" in c.question
    assert "release" in c.trade_off and "stability" in c.trade_off


@pytest.mark.parametrize("a, b", [
    ("Ship 3 major storefront releases before Black Friday", "Enforce a production change freeze from Nov 15 to Jan 5"),
    ("Reduce operating expenses from $4.2M to $3.6M per quarter", "Grow the platform team from 12 to 20 engineers"),
    ("Offer a 20% first-year discount to close 40 new logos", "Raise gross margin from 58% to 64%"),
    ("Cut PR-to-production lead time from 5 days to 1 day",
     "100% of production changes pass a manual security review before merge"),
    ("Cut total marketing spend by 15% versus Q4", "Increase paid social budget from €120k to €260k"),
    ("Keep a hiring freeze on all non-engineering roles", "Hire 10 more support agents"),
    ("Ship v3 of the mobile app to 100% of users", "Zero P1 incidents during Q3"),
    ("Discount annual plans by 30% to win switchers", "Raise ASP from $12k to $15k"),
])
def test_each_trade_off_in_the_data_is_a_conflict(a: str, b: str) -> None:
    plan = plan_of(two_teams(a, b, "Alpha", "Beta"))
    [c] = codes(plan, "conflict")
    assert {k.kr for k in c.krs} == {a, b} and c.question


@pytest.mark.parametrize("a, b, why", [
    ("Ship 12 releases without pushing change failure rate above 10%", "Keep API availability at 99.9%", "guardrail"),
    ("Launch game-changing user features", "Maintain 99.99% system stability", "shared owner"),
    ("Cut cloud spend from $210k to $160k per month", "Increase paid media spend from $90k to $150k", "other budget"),
    ("Ship a new app release every two weeks", "Keep mobile network availability at 99.97%", "other system"),
    ("Increase weekly active users from 20k to 35k", "Reduce p95 latency from 800 ms to 300 ms", "no trade-off"),
    ("Launch the new pricing page", "Maintain 99.9% API uptime", "a page is not a release"),
    ("Launch our product in Germany", "Reduce Sev1 incidents from 6 to 2", "a market launch"),
])
def test_no_conflict_where_it_is_settled_or_unrelated(a: str, b: str, why: str) -> None:
    owner_b = "Maya" if why == "shared owner" else "Raj"
    assert not codes(plan_of(two_teams(a, b, owner_b=owner_b)), "conflict"), why


def test_a_team_trading_against_itself_is_its_own_business() -> None:
    text = ("# Team: Product\n## One\n- Launch game-changing user features (owner: A)\n"
            "- Maintain 99.99% system stability (owner: B)\n# Team: Sales\n## Two\n- Grow ARR from $1M to $2M (owner: C)\n")
    assert not codes(plan_of(text), "conflict")


# -------------------------------------------------------------------------- duplicates, deps


def test_same_measure_in_two_teams_is_a_duplicate_synonyms_included() -> None:
    plan = plan_of(two_teams("Lift NRR from 104% to 110%", "Increase net revenue retention from 104% to 112%",
                             "Customer Success", "Account Management"))
    [d] = codes(plan, "duplicate")
    assert {k.team for k in d.krs} == {"Customer Success", "Account Management"}
    assert "co-owners" in d.question


def test_a_shared_owner_makes_it_one_shared_kr() -> None:
    plan = plan_of(two_teams("Increase free-to-paid conversion from 3% to 5%",
                             "Increase free-to-paid conversion from 3% to 5%", owner_a="Dana", owner_b="Dana"))
    assert not codes(plan, "duplicate")


def test_dependency_without_an_answer_on_the_other_side() -> None:
    text = ("# Team: Success\n## Keep customers\n- Once Data ships the churn-risk score, reduce logo churn from 2.4% "
            "to 1.6% (owner: Femi)\n# Team: Data\n## Trusted numbers\n- Cut dashboard latency from 24 hours to 1 hour "
            "(owner: Ola)\n")
    [d] = codes(plan_of(text), "dependency")
    assert d.on_team == "Data" and d.on_team_in_plan is True and d.krs[0].team == "Success"
    assert d.question


def test_dependency_answered_by_a_matching_kr_or_a_mention() -> None:
    matched = ("# Team: Pricing\n## Value\n- Grow add-on revenue from $200k to $600k, depends on Data delivering "
               "per-account usage metering (owner: Ottavia)\n# Team: Data\n## Usage\n- Ship per-account usage metering "
               "to production by Oct 31 (owner: Baptiste)\n")
    assert not codes(plan_of(matched), "dependency")
    mentioned = ("# Team: Marketing\n## Partners\n- Launch the partner program with Sales: 30 referred opportunities "
                 "(owner: Elif)\n# Team: Sales\n## Close\n- Close 12 deals from referrals with Marketing (owner: Jorge)\n")
    assert not codes(plan_of(mentioned), "dependency")


def test_a_longer_proper_name_is_not_the_team_and_co_ownership_is_answered() -> None:
    assert not codes(plan_of(two_teams("Win 20 deals with Engineering Corp", "Lift pipeline from $5M to $8M",
                                       "Sales", "Engineering")), "dependency")
    assert not codes(plan_of(two_teams("Co-own with Beta: launch the API partner program", "Sign 10 API partners",
                                       "Alpha", "Beta")), "dependency")


def test_dependency_on_a_team_outside_the_plan_and_personas_that_are_not_teams() -> None:
    text = two_teams("Launch SSO for all plans, pending Legal approval of the new terms",
                     "Run discovery calls with Finance leaders at 60 accounts to lift conversion from 20% to 30%")
    [d] = codes(plan_of(text), "dependency")
    assert d.on_team == "Legal" and d.on_team_in_plan is False


# ---------------------------------------------------------------------------------- ambition


@pytest.mark.parametrize("kr, code", [
    ("Reduce churn from 3% to 4% by Q3", "wrong_direction"),
    ("Raise accessory attach rate from 18% to 17%", "wrong_direction"),
    ("Increase average handle time from 6 minutes to 9 minutes", "wrong_direction"),
    ("Improve retention from 80% to 70%", "wrong_direction"),
    ("Increase ARR from $2M to $2M by Q4", "flat_target"),
    ("Raise average session length from 31 to 31 minutes", "flat_target"),
    ("Increase paid-search conversion rate from 4.0% to 4.1%", "sandbagging"),
    ("Raise in-store NPS from 42 to 43", "sandbagging"),
])
def test_ambition_codes(kr: str, code: str) -> None:
    assert [i.code for i in ambition_issues(kr)] == [code]


@pytest.mark.parametrize("kr", [
    "Maintain 99.99% system stability",
    "Hold settlement accuracy at 100% (currently 100%)",
    "Keep churn at 2% (from 2%)",
    "Improve p95 latency from 800 ms to 350 ms",
    "Reduce latency from 1.2 s to 800 ms",
    "Increase uptime from 99.5% to 99.9%",
    "Raise patient-rated consult quality from 4.5 to 4.6 out of 5",
    "Increase deploy frequency from 3 per week to 3 per day",
    "Raise the share of diabetic patients with HbA1c under 8% from 58% to 66%",
    "Bring forecast accuracy from ±18% to ±5%",
    "Increase tickets resolved from 100 to 150",
])
def test_no_ambition_issue_on_health_metrics_and_sound_targets(kr: str) -> None:
    assert ambition_issues(kr) == []


def test_ambition_codes_are_kr_issues_in_every_review_and_listed_by_the_plan() -> None:
    result = review(parse_outline("# Team: Retention\n## Keep them\n- Reduce monthly churn from 3% to 4% (owner: I)\n"),
                    ENGINE)
    [kr] = result.kr_reviews()
    issue = next(i for i in kr.issues if i.code == "wrong_direction")
    assert "4%" in issue.message and "?" in issue.message  # what is wrong, then the question to ask
    assert [a.code for a in result.plan.ambition] == ["wrong_direction"]
    plain = review(parse_outline("- Reduce monthly churn from 3% to 4%\n"), ENGINE)
    assert "wrong_direction" in plain.kr_reviews()[0].issue_codes() and plain.plan is None


# --------------------------------------------------------------------- accountability, standard


@pytest.mark.parametrize("owner, problem", [
    (None, "missing"), ("TBD", "missing"), ("everyone", "everyone"), ("All", "everyone"),
    ("Marketing team", "team"), ("Sales", "team"), ("Ana, Bruno", "several"), ("Ana & Bruno", "several"),
    ("Dr. Amara Osei", None), ("@priya", None),
])
def test_owner_problems(owner: str | None, problem: str | None) -> None:
    assert owner_problem(owner) == problem


def test_owners_are_flagged_even_when_no_kr_has_one() -> None:
    plan = plan_of("# Team: A\n## One\n- Grow ARR from $1M to $2M\n- Cut churn from 5% to 3%\n"
                   "# Team: B\n## Two\n- Raise NPS from 30 to 45\n")
    flagged = codes(plan, "no_single_owner")
    assert {f.teams[0] for f in flagged} == {"A", "B"}
    assert next(a for a in plan.audit if a.number == 4).answer == "no"


def test_standard_levels_cycles_and_formats() -> None:
    text = ("# Team: Sales (2026 Q3)\n## Win\n- Grow ARR from $1M to $2M by Sep 30 (owner: A)\n"
            "- Cut churn from 5% to 3% by Sep 30 (owner: A)\n- Raise NPS from 30 to 45 by Sep 30 (owner: B)\n"
            "# Team: Design (2026 H2)\n## Delight\n- Run 5 usability studies (owner: C)\n- Ship the new design system "
            "(owner: C)\n- Publish brand guidelines (owner: D)\n")
    plan = plan_of(text)
    assert {t.team: t.cycles for t in plan.teams} == {"Sales": ["2026 Q3"], "Design": ["2026 H2"]}
    assert codes(plan, "mixed_cycles") and codes(plan, "mixed_formats") and codes(plan, "objectives_per_team")
    sales = next(t for t in plan.teams if t.team == "Sales")
    assert sales.from_to_by == 3 and sales.from_to_by_share == 1.0
    audit = {a.number: a for a in plan.audit}
    assert audit[1].answer == "no" and audit[5].answer == "no"
    assert [k.number for k in plan.active_killers] == [1, 5]


def test_cycle_spellings_are_one_cycle() -> None:
    assert cycle_key("Q3 2026") == cycle_key("2026-Q3") == cycle_key("2026 Q3") == "2026 Q3"
    assert cycle_key("FY27 H1") == "FY27 H1"


def test_a_clean_plan_has_no_cross_team_or_ambition_findings() -> None:
    text = (ROOT / "evals" / "plans" / "p06-clean-saas.md").read_text()
    result = review(parse_outline(text), ENGINE)
    assert result.plan is not None
    assert not [f for f in result.plan.findings if f.code in ("conflict", "duplicate", "dependency")]
    assert result.plan.ambition == []
    assert len(result.plan.audit) == 5 and all(a.answer in ("yes", "no", "cannot tell") for a in result.plan.audit)
    assert next(a for a in result.plan.audit if a.number == 3).answer == "cannot tell"


# ------------------------------------------------------------------------------- teams in input


def test_team_headings_in_an_outline() -> None:
    okrs = parse_outline("# 2026 Q3 OKRs\n\n# Team: Platform\n## Make deploys boring\n- Cut lead time from 5 days "
                         "to 1 day\n\n## Team Growth\n### Grow self-serve\n- Increase sign-ups from 2k to 4k\n\n"
                         "Team: Sales\nObjective: Win mid-market\n- Close 40 deals\n\n"
                         "## Team morale\n- Raise eNPS from 10 to 30\n")
    assert okrs.cycle == "2026 Q3"
    got = [(o.title, [k.team for k in o.krs]) for o in okrs.objectives]
    assert got[:3] == [("Make deploys boring", ["Platform"]), ("Grow self-serve", ["Growth"]),
                       ("Win mid-market", ["Sales"])]
    assert got[3][0] == "Team morale"  # a heading with KRs right under it is an objective
    assert {s.reason for s in okrs.skipped if "Team" in s.text} == {"team heading"}


def test_team_column_keeps_same_titled_objectives_apart() -> None:
    okrs = read_bytes(b"team,objective,kr\nA,Be reliable,Keep uptime at 99.9%\nB,Be reliable,Cut incidents from 9 to 3\n",
                      "x.csv")
    assert [(o.title, [k.team for k in o.krs]) for o in okrs.objectives] == [("Be reliable", ["A"]), ("Be reliable", ["B"])]


def test_files_are_teams() -> None:
    sets = [name_team(parse_outline("- Grow ARR from $1M to $2M\n"), team_from_name("path/to/sales.md")),
            name_team(parse_outline("# Team: Ops\n## X\n- Cut churn from 5% to 3%\n"), team_from_name("ops-file.md"))]
    merged = merge_sets(sets)
    assert [k.team for k in merged.key_results()] == ["sales", "Ops"]
    assert team_from_name("-") is None


# ------------------------------------------------------------------------------ where it shows


def test_markdown_and_table_put_the_plan_first_json_carries_it() -> None:
    result = review(parse_outline(two_teams("Launch game-changing user features", "Maintain 99.99% system stability")),
                    ENGINE)
    md = render(result, "md")
    assert md.startswith("## Plan review: 2 teams") and md.index("### Cross-team findings") < md.index("## Objective A")
    assert "### The five-question audit" in md
    table = render(result, "table")
    assert table.startswith("PLAN REVIEW") and table.index("conflict") < table.index("Objective A")
    doc = json.loads(render(result, "json"))
    assert doc["plan"]["findings"][0]["code"] == "conflict" and len(doc["plan"]["audit"]) == 5
    jsonl = render(result, "jsonl").splitlines()
    assert len(jsonl) == 2 and all("plan" not in json.loads(line) for line in jsonl)
    assert json.loads(render(review(parse_outline("- Grow ARR from $1M to $2M\n"), ENGINE), "json"))["plan"] is None


@pytest.fixture
def team_files(tmp_path: Path) -> list[str]:
    (tmp_path / "product.md").write_text("## Delight\n- Launch game-changing user features (owner: Maya)\n")
    (tmp_path / "engineering.md").write_text("## Reliable\n- Maintain 99.99% system stability (owner: Raj)\n")
    return [str(tmp_path / "product.md"), str(tmp_path / "engineering.md")]


def test_cli_several_files_are_one_plan(team_files: list[str]) -> None:
    proc = run_cli("review", *team_files, "-f", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [r["team"] for r in doc["records"]] == ["product", "engineering"]
    [c] = [f for f in doc["plan"]["findings"] if f["code"] == "conflict"]
    assert {k["team"] for k in c["krs"]} == {"product", "engineering"}
    assert "krcoach: plan: 2 teams: 1 conflict" in proc.stderr
    md = run_cli("review", *team_files, "-f", "md")
    assert md.stdout.startswith("## Plan review: 2 teams")


def test_cli_fail_on(team_files: list[str]) -> None:
    failing = run_cli("review", *team_files, "-f", "jsonl", "--fail-on", "activity,conflict")
    assert failing.returncode == 1 and "failing (--fail-on): activity 1, conflict 1" in failing.stderr
    assert len(failing.stdout.splitlines()) == 2  # the output is still written whole
    assert run_cli("review", *team_files, "-f", "jsonl", "--fail-on", "duplicate,wrong_direction").returncode == 0
    unknown = run_cli("review", *team_files, "--fail-on", "conflict,nonsense")
    assert unknown.returncode == 2 and "unknown code 'nonsense'" in unknown.stderr and not unknown.stdout
    # A plan code asks for the plan even on one file without teams.
    one = run_cli("review", "-", "-f", "jsonl", "--fail-on", "no_single_owner", stdin="- Grow ARR from $1M to $2M\n")
    assert one.returncode == 1 and "no_single_owner 1" in one.stderr


def test_eval_plans_reports_precision_and_recall(tmp_path: Path) -> None:
    folder = tmp_path / "plans"
    folder.mkdir()
    (folder / "a.md").write_text(two_teams("Launch game-changing user features", "Maintain 99.99% system stability"))
    (folder / "b.md").write_text(two_teams("Reduce churn from 3% to 4%", "Grow ARR from $1M to $2M"))
    (folder / "gold.jsonl").write_text(
        json.dumps({"plan": "a.md", "split": "dev", "expect": [{"kind": "conflict", "krs": ["Launch game", "99.99%"]}]})
        + "\n" + json.dumps({"plan": "b.md", "split": "heldout", "expect": [{"kind": "duplicate", "krs": ["churn", "ARR"]}]})
        + "\n")
    proc = run_cli("eval", "--plans", str(folder), "--engine", "rules", "--json", "--report", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr
    m = json.loads(proc.stdout)["metrics"]
    assert m["all"]["conflict"] == {"predicted": 1, "right": 1, "planted": 1, "found": 1, "precision": 1.0, "recall": 1.0}
    assert m["heldout"]["duplicate"]["recall"] == 0.0 and m["heldout"]["wrong_direction"]["precision"] == 0.0
    assert (tmp_path / "run" / "plans.jsonl").is_file() and (tmp_path / "run" / "manifest.json").is_file()
    assert run_cli("eval", str(folder)).returncode == 2


def test_shipped_plans_meet_the_targets() -> None:
    from krcoach.evaluation.run import run_plan_eval

    m = run_plan_eval(ROOT / "evals" / "plans", ENGINE)["metrics"]
    assert m["plans"] >= 40 and m["heldout"]["plans"] == 10
    for kind, v in m["all"].items():
        assert v["precision"] >= 0.9 and v["recall"] >= 0.8, (kind, v)


def test_team_level_gold_is_matched_by_the_teams_of_a_finding() -> None:
    """evals/plans-independent names only the teams of a conflict or dependency."""
    from krcoach.evaluation.run import _covers

    conflict = {"kind": "conflict", "krs": ["Ship weekly", "Keep 99.99% uptime"], "teams": ["Product", "SRE"]}
    assert _covers(conflict, {"kind": "conflict", "teams": ["sre", "Product"]})
    assert not _covers(conflict, {"kind": "conflict", "teams": ["Product", "Finance"]})
    dependency = {"kind": "dependency", "kr": "Launch once Data ships", "on": "Data", "teams": ["Growth"]}
    assert _covers(dependency, {"kind": "dependency", "from": "Growth", "on": "Data"})
    assert not _covers(dependency, {"kind": "dependency", "from": "Data", "on": "Growth"})
