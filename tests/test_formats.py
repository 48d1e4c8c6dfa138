"""Readers and writers: every input shape, bad input named precisely, round trips."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from krcoach.coach import review
from krcoach.formats import InputError, improved_draft, parse_outline, read_bytes, read_path, render
from krcoach.rules.engine import RulesEngine

OUTLINE = """# Q3 plan

## Objective 1: Make onboarding effortless
- KR1: Launch the new onboarding flow (owner: Priya)
- KR2: Increase activation from 30% to 45% by end of Q3 @marco
* [ ] Hold five customer interviews

O2: Grow the partner channel
1. Sign 5 new resellers
2) Partner-sourced revenue from $100k to $250k

**Objective:** Keep the lights on
KR 3.1 - Maintain 99.9% uptime
"""


def test_outline_objectives_bullets_numbers_and_owners() -> None:
    okrs = parse_outline(OUTLINE)
    titles = [o.title for o in okrs.objectives]
    assert titles == ["Make onboarding effortless", "Grow the partner channel", "Keep the lights on"]
    krs = okrs.key_results()
    assert [k.kr for k in krs] == [
        "Launch the new onboarding flow", "Increase activation from 30% to 45% by end of Q3",
        "Hold five customer interviews", "Sign 5 new resellers",
        "Partner-sourced revenue from $100k to $250k", "Maintain 99.9% uptime"]
    assert [k.owner for k in krs[:3]] == ["Priya", "marco", None]
    assert [k.id for k in krs] == ["1", "2", "3", "4", "5", "6"]


def test_notes_nested_under_a_measured_kr_are_not_key_results() -> None:
    okrs = parse_outline("O1: Make onboarding delightful\n"
                         "* KR1: Activation rate 22% -> 35%\n"
                         "  - note: schedule interviews via Calendly\n"
                         "    - even deeper note\n"
                         "* Hold 8 user interviews\n"
                         "    a) recruit from churned trials\n"
                         "* Publish the retention playbook\n")
    assert [k.kr for k in okrs.key_results()] == [
        "Activation rate 22% -> 35%", "Hold 8 user interviews", "Publish the retention playbook"]
    assert [k.id for k in okrs.key_results()] == ["1", "2", "3"]
    assert [(s.line, s.reason) for s in okrs.skipped] == [
        (3, "note under a measured key result"), (4, "note under a measured key result"),
        (6, "note under a measured key result")]


def test_skipped_lines_name_file_line_and_reason() -> None:
    okrs = parse_outline("# 2024 Q3 OKRs\n\nObjective: Improve retention\nKey Results:\n"
                         "- Churn from 4% to 3%\n- ~~Launch loyalty club~~ (moved to H1)\n"
                         "|---|\n", source="d.md")
    assert okrs.cycle == "2024 Q3" and okrs.objectives[0].cycle == "2024 Q3"
    assert [k.kr for k in okrs.key_results()] == ["Churn from 4% to 3%"]
    assert [(s.source, s.line, s.reason) for s in okrs.skipped] == [
        ("d.md", 1, "document title"), ("d.md", 4, "label line"), ("d.md", 6, "struck through"),
        ("d.md", 7, "table header")]


@pytest.mark.parametrize(("text", "krs"), [
    ("1. Grow awareness\n1.1 Increase branded search volume by 40%\n1.2 Get 12 press mentions\n",
     [("Grow awareness", "Increase branded search volume by 40%"), ("Grow awareness", "Get 12 press mentions")]),
    ("## Grow\n2. KR2: NPS from 30 to 40\n", [("Grow", "NPS from 30 to 40")]),
    ("**Objective:** Win \\- fast\\!\n**KR1:** ARR from $1M to $2M\n", [("Win - fast!", "ARR from $1M to $2M")]),
    ("h2. Objective: Be quick\n* KR1: p95 from 900 ms to 300 ms\n** a note\n", [("Be quick", "p95 from 900 ms to 300 ms")]),
    ("O1: Hire\nO1.KR2: Offers accepted from 6 to 15\n", [("Hire", "Offers accepted from 6 to 15")]),
])
def test_outline_shapes_people_paste(text: str, krs: list[tuple[str, str]]) -> None:
    okrs = parse_outline(text)
    assert [(o.title, k.kr) for o in okrs.objectives for k in o.krs] == krs


def test_markdown_and_tab_tables_read_their_columns() -> None:
    md = ("## Be reliable\n| Key result | DRI | Due date | Squad | Status | Start | Goal | Actual | Risk |\n"
          "|---|---|---|---|---|---|---|---|---|\n| Uptime from 99.5% to 99.9% | @kai | 31.12.2026 | SRE | "
          "On track | 99.5% | 99.9% | 99.7% | low |\n")
    kr = parse_outline(md).key_results()[0]
    assert (kr.kr, kr.owner, kr.deadline, kr.team, kr.status, kr.baseline, kr.target, kr.current) == (
        "Uptime from 99.5% to 99.9%", "kai", "31.12.2026", "SRE", "On track", "99.5%", "99.9%", "99.7%")
    assert kr.extra == {"Risk": "low"}
    tsv = parse_outline("Objective\tKR\tOwner\nGrow\tMAU from 10k to 20k\tAna\n\tDAU from 2k to 5k\tBo\n")
    assert [(o.title, k.kr, k.owner) for o in tsv.objectives for k in o.krs] == [
        ("Grow", "MAU from 10k to 20k", "Ana"), ("Grow", "DAU from 2k to 5k", "Bo")]


def test_csv_columns_due_quarter_and_unknown_passed_through() -> None:
    okrs = read_bytes(b"KR,Due Date,quarter,Owner_Name,Team\nShip v2,31.12.2026,Q4,Ana,Web\n", "a.csv")
    kr = okrs.key_results()[0]
    assert (kr.deadline, kr.team, kr.owner) == ("31.12.2026", "Web", None)
    assert kr.extra == {"quarter": "Q4", "Owner_Name": "Ana"}
    assert [(s.line, s.reason) for s in okrs.skipped] == [(1, "unknown columns passed through: Owner_Name")]
    kr = read_bytes(b"kr,Quarter\nShip v2,2026-Q1\n", "b.csv").key_results()[0]
    assert kr.deadline == "2026-Q1" and kr.extra == {}
    rows = read_bytes(b'[{"kr": "Ship v2", "DRI": "Li", "cycle": "H1 2026", "effort": 3}]', "c.json")
    kr = rows.key_results()[0]
    assert (kr.owner, kr.deadline, kr.extra) == ("Li", "H1 2026", {"effort": "3"})


def test_bullets_nested_under_an_unmeasured_bullet_make_it_their_objective() -> None:
    okrs = parse_outline("# Q3 OKRs\n"
                         "- Grow revenue\n"
                         "  - Increase ARR from $1.2M to $2M by Q4\n"
                         "  - Sign 30 new logos\n"
                         "- Delight customers\n"
                         "\t- NPS from 31 to 45 by Q4\n"
                         "- Loose key result 5 with nothing under it\n")
    assert [(o.title, [k.kr for k in o.krs]) for o in okrs.objectives] == [
        ("Grow revenue", ["Increase ARR from $1.2M to $2M by Q4", "Sign 30 new logos"]),
        ("Delight customers", ["NPS from 31 to 45 by Q4"]),
        (None, ["Loose key result 5 with nothing under it"]),
    ]
    assert [k.id for k in okrs.key_results()] == ["1", "2", "3", "4"]


def test_empty_bullets_are_skipped_not_taken_for_objectives() -> None:
    okrs = parse_outline("## Be reliable\n- Maintain 99.9% uptime\n-\n*   \n2.\n- Cut p95 latency to 300ms\n")
    assert [(o.title, [k.kr for k in o.krs]) for o in okrs.objectives] == [
        ("Be reliable", ["Maintain 99.9% uptime", "Cut p95 latency to 300ms"])]


def test_plain_paste_without_structure_is_one_kr_per_line() -> None:
    okrs = parse_outline("Launch the campaign\n\nGrow MAU from 10k to 20k\n")
    assert [o.title for o in okrs.objectives] == [None]
    assert [k.kr for k in okrs.key_results()] == ["Launch the campaign", "Grow MAU from 10k to 20k"]


@pytest.mark.parametrize("raw", [
    b"id,objective,kr,owner\r\na1,Grow,\"Grow MAU from 10k to 20k, in EU\",Ana\r\na2,Grow,Ship v2,\r\n",
    "\ufeffid;objective;key_result;owner\na1;Grow;Grow MAU from 10k to 20k, in EU;Ana\na2;Grow;Ship v2;\n".encode(),
    b"ID,Objective,KR,Owner\na1,Grow,\"Grow MAU from 10k to 20k, in EU\",Ana\na2,Grow,Ship v2,\n",
])
def test_csv_comma_semicolon_bom_crlf_and_header_case(raw: bytes) -> None:
    okrs = read_bytes(raw, "okrs.csv")
    krs = okrs.key_results()
    assert [(k.id, k.kr, k.owner) for k in krs] == [
        ("a1", "Grow MAU from 10k to 20k, in EU", "Ana"), ("a2", "Ship v2", None)]
    assert [o.title for o in okrs.objectives] == ["Grow"]


def test_jsonl_ids_default_to_row_numbers_and_objectives_group() -> None:
    raw = b'{"kr": "Ship v2", "objective": "A"}\n\n{"key_result": "Grow MAU", "objective": "B", "id": "x"}\n' \
          b'{"kr": "Cut churn", "objective": "A"}\n'
    okrs = read_bytes(raw, "in.jsonl")
    assert [(o.title, [k.id for k in o.krs]) for o in okrs.objectives] == [("A", ["1", "3"]), ("B", ["x"])]


def test_json_list_and_nested_shapes() -> None:
    flat = read_bytes(json.dumps([{"kr": "Ship v2"}, {"kr": "Grow MAU", "owner": "Li"}]).encode(), "a.json")
    assert [k.owner for k in flat.key_results()] == [None, "Li"]
    nested = read_bytes(json.dumps({"objectives": [
        {"objective": "Grow", "key_results": ["Grow MAU", {"kr": "Cut churn", "owner": "Bo"}]}]}).encode(), "b.json")
    assert [(k.kr, k.owner) for k in nested.key_results()] == [("Grow MAU", None), ("Cut churn", "Bo")]
    assert nested.objectives[0].title == "Grow"


BAD = [
    ("empty.csv", b"", "empty.csv: file is empty"),
    ("blank.md", b"  \n\n", "blank.md: file is empty"),
    ("bin.jsonl", b"\x00\x01\x02\x03", "bin.jsonl: looks like a binary file, not text"),
    ("latin.csv", "kr\nCafé\n".encode("latin-1"), "latin.csv: line 2: text is not UTF-8"),
    ("nokr.csv", b"objective,text\nGrow,x\n", "nokr.csv: row 1: no 'kr' or 'key_result' column"),
    ("bad.jsonl", b'{"kr": "ok"}\n{"kr": oops\n', "bad.jsonl: line 2: not valid JSON"),
    ("nofield.jsonl", b'{"text": "x"}\n', "nofield.jsonl: line 1: missing field 'kr'"),
    ("long.csv", b"kr\n" + b"x" * 2001 + b"\n", "long.csv: row 2: field 'kr' is 2,001 characters; the limit is 2,000"),
    ("long.md", b"- " + b"y" * 2500 + b"\n", "long.md: line 1: field 'kr' is 2,500 characters"),
    ("emptykr.csv", b"kr,owner\n,Ana\n", "emptykr.csv: row 2: field 'kr' is empty"),
    ("notes.docx", b"hello", "notes.docx: unknown extension .docx"),
    ("objs.json", b'{"objectives": [{"objective": "A", "key_results": "x"}]}',
     "objs.json: objective 1: field 'key_results' must be a list"),
]


@pytest.mark.parametrize(("name", "data", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_file_row_and_field(name: str, data: bytes, message: str) -> None:
    with pytest.raises(InputError) as err:
        read_bytes(data, name)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_path(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a directory"):
        read_path(tmp_path)


def _reviewed(text: str = OUTLINE):
    return review(parse_outline(text), RulesEngine())


def test_jsonl_writer_emits_the_stable_record() -> None:
    lines = render(_reviewed(), "jsonl").splitlines()
    rec = json.loads(lines[0])
    assert list(rec) == ["id", "objective", "kr", "owner", "kind", "why", "issues", "rewrites", "engine",
                         "model", "status", "error", "confidence", "team", "notes"]
    assert list(rec["rewrites"][0]) == ["text", "metric", "baseline", "target", "deadline", "assumptions"]
    assert rec["engine"] == "rules" and rec["status"] == "ok" and rec["error"] is None
    assert len(lines) == 6


def test_csv_round_trip_keeps_every_field_and_reads_back_as_input() -> None:
    result = _reviewed()
    text = render(result, "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 6
    for row, rec in zip(rows, result.records()):
        assert row["id"] == rec["id"] and row["kr"] == rec["kr"] and row["kind"] == rec["kind"]
        assert json.loads(row["issues"]) == rec["issues"]
        assert json.loads(row["rewrites"]) == rec["rewrites"]
    again = read_bytes(text.encode(), "reviewed.csv")
    assert [(k.id, k.kr, k.owner) for k in again.key_results()] == \
        [(k.id, k.kr, k.owner) for k in parse_outline(OUTLINE).key_results()]


def test_jsonl_and_json_round_trip_as_input() -> None:
    result = _reviewed()
    back = read_bytes(render(result, "jsonl").encode(), "r.jsonl")
    assert [k.kr for k in back.key_results()] == [r["kr"] for r in result.records()]
    doc = json.loads(render(result, "json"))
    assert doc["records"] == result.records()
    assert doc["summary"]["krs"] == 6
    assert {f["code"] for f in doc["findings"]} >= {"too_few_krs"}
    back = read_bytes(render(result, "json").encode(), "r.json")
    assert len(back.key_results()) == 6


def test_markdown_and_table_carry_findings_and_escape_kr_text() -> None:
    result = _reviewed("## Grow 20% faster\n- Ship <img src=x onerror=alert(1)> *now*\n")
    md = render(result, "md")
    assert "objective_has_numbers" in md and "too_few_krs" in md
    assert "<img" not in md and "&lt;img" in md and r"\*now\*" in md
    table = render(result, "table")
    assert "objective_has_numbers" in table and "<img src=x" in table


@pytest.mark.parametrize("columns", ["60", "80", "120"])
def test_table_never_breaks_an_issue_code(columns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    result = _reviewed("## Be reliable\n- Maintain 99.95% uptime for checkout, every month\n"
                       "- 100% of services have runbooks written by the on-call team\n")
    codes = {c for kr in result.kr_reviews() for c in kr.issue_codes()}
    assert {"health_metric", "own_activity_share"} <= codes
    cells = {cell.strip() for line in render(result, "table").splitlines() for cell in line.split("│")}
    assert codes <= cells


def test_improved_draft_replaces_only_the_chosen_kr() -> None:
    okrs = parse_outline(OUTLINE)
    out = improved_draft(okrs, {"1": "Activation rate from 30% to 45% by end of Q3"})
    reread = parse_outline(out)
    assert [k.kr for k in reread.key_results()][0] == "Activation rate from 30% to 45% by end of Q3"
    assert [k.kr for k in reread.key_results()][1:] == [k.kr for k in okrs.key_results()][1:]
    assert [k.owner for k in reread.key_results()] == [k.owner for k in okrs.key_results()]
    assert [o.title for o in reread.objectives] == [o.title for o in okrs.objectives]


# ------------------------------------------------- what a user found: the reader hands the coach

SLACK = """Hi all, here is the first cut for Q4 :wave:

*Objective 1: Make checkout something nobody notices*
🎯 Increase checkout conversion from 2.1% to 3% by Dec 31
✅ Ship one-click payments for returning buyers
• Cut cart abandonment from 71% to 60%

*Objective 2: Partners bring us customers*
▪️ Sign 5 new resellers in the Nordics
👉 Partner-sourced revenue from $120k to $300k
:dart: Raise partner NPS from 18 to 35
"""


def test_slack_bold_objectives_and_emoji_bullets_lose_no_kr() -> None:
    okrs = parse_outline(SLACK, source="slack.txt")
    assert [o.title for o in okrs.objectives] == ["Make checkout something nobody notices",
                                                  "Partners bring us customers"]
    assert [len(o.krs) for o in okrs.objectives] == [3, 3]
    assert [k.kr for k in okrs.key_results()][3:] == [
        "Sign 5 new resellers in the Nordics", "Partner-sourced revenue from $120k to $300k",
        "Raise partner NPS from 18 to 35"]
    assert [(s.line, s.reason) for s in okrs.skipped] == [(1, "document title")]


@pytest.mark.parametrize("bullet", ["🎯", "✅", "•", "▪️", "👉", "1️⃣", "◾", ":dart:", "▪️ ", "🔹"])
def test_every_emoji_bullet_marks_a_kr_under_a_slack_bold_line(bullet: str) -> None:
    sep = "" if bullet.endswith(" ") else " "
    text = (f"*Objective: Sell more to teams that already pay us every month*\n"
            f"{bullet}{sep}Expansion revenue from $40k to $70k MRR\n{bullet}{sep}Run 6 upsell webinars\n")
    okrs = parse_outline(text)
    assert [o.title for o in okrs.objectives] == ["Sell more to teams that already pay us every month"]
    assert [k.kr for k in okrs.key_results()] == ["Expansion revenue from $40k to $70k MRR",
                                                  "Run 6 upsell webinars"]
    assert okrs.skipped == []


def test_bold_emoji_line_heads_its_items_but_a_bold_kr_in_a_list_stays_a_kr() -> None:
    okrs = parse_outline("🚀 *Keep the platform boring*\n◾ p95 latency from 1.2 s to 400 ms\n"
                         "▪️Error rate under 0.1% all quarter\n\n"
                         "Reliability\n✅ Cut pages from 40 to 10 a month\n✅ *Write the incident playbook*\n"
                         "✅ Mean time to recover from 3 h to 1 h\n")
    assert [(o.title, [k.kr for k in o.krs]) for o in okrs.objectives] == [
        ("Keep the platform boring", ["p95 latency from 1.2 s to 400 ms", "Error rate under 0.1% all quarter"]),
        ("Reliability", ["Cut pages from 40 to 10 a month", "Write the incident playbook",
                         "Mean time to recover from 3 h to 1 h"])]


def test_plain_kr_line_after_numbered_ones_is_a_kr_of_that_objective() -> None:
    text = ("1. Grow awareness in the mid-market\n"
            "1.1 Increase branded search from 12k to 18k per month\n"
            "1.2 Get 12 press mentions in trade media\n"
            "Increase newsletter signups from 30 to 90 per month\n"
            "2. Keep the customers we win\n"
            "2.1 Cut logo churn from 4% to 3%\n\n"
            "Raise expansion revenue from $40k to $70k MRR\n\n"
            "Updated 3 June by Priya\n")
    okrs = parse_outline(text)
    assert [(o.title, [k.kr for k in o.krs]) for o in okrs.objectives] == [
        ("Grow awareness in the mid-market", ["Increase branded search from 12k to 18k per month",
                                              "Get 12 press mentions in trade media",
                                              "Increase newsletter signups from 30 to 90 per month"]),
        ("Keep the customers we win", ["Cut logo churn from 4% to 3%",
                                       "Raise expansion revenue from $40k to $70k MRR"])]
    assert [k.id for k in okrs.key_results()] == ["1", "2", "3", "4", "5"]
    assert [(s.line, s.reason) for s in okrs.skipped] == [(10, "text line with no key results under it")]


@pytest.mark.parametrize("text", [
    # a plain line that heads bullets is their objective, whatever verb it starts with
    "Make onboarding effortless\n- Launch the new flow\n- Activation from 30% to 45%\n"
    "Grow the partner channel\n- Sign 5 resellers\n",
    # notes and footers under numbered KRs are not KRs
    "1. Grow awareness\n1.1 Get 12 press mentions\n1.2 Grow search from 10k to 12k\n"
    "We will review this with 3 stakeholders monthly.\n",
    "1. Grow awareness\n1.1 Get 12 press mentions\n1.2 Grow search from 10k to 12k\n\nThe team met 3 times.\n",
])
def test_plain_lines_that_are_not_krs_stay_what_they_were(text: str) -> None:
    krs = parse_outline(text).key_results()
    assert len(krs) in (3, 2) and all("stakeholders" not in k.kr and "met 3" not in k.kr for k in krs)
    if text.startswith("Make"):
        assert [o.title for o in parse_outline(text).objectives] == ["Make onboarding effortless",
                                                                      "Grow the partner channel"]


@pytest.mark.parametrize(("line", "kr", "fields"), [
    ("Increase activation from 30% to 45% by end of Q3 — Owner: Omar",
     "Increase activation from 30% to 45% by end of Q3", {"owner": "Omar"}),
    ("Cut time-to-first-report from 3 days to 1 day (Omar)", "Cut time-to-first-report from 3 days to 1 day",
     {"owner": "Omar"}),
    ("Grow weekly active teams from 200 to 260, stretch 10%", "Grow weekly active teams from 200 to 260",
     {"stretch": "10%"}),
    ("Raise NPS from 30 to 40 (owner @maria)", "Raise NPS from 30 to 40", {"owner": "maria"}),
    ("Cut backlog from 300 to 50 (Owner: Omar, due Sep 30)", "Cut backlog from 300 to 50",
     {"owner": "Omar", "deadline": "Sep 30"}),
    ("Cut backlog from 300 to 50 (Owner: Omar, due Sep 30, 2026)", "Cut backlog from 300 to 50",
     {"owner": "Omar", "deadline": "Sep 30, 2026"}),
    ("Cut backlog from 300 to 50, owner: Omar; due: 30 Sep", "Cut backlog from 300 to 50",
     {"owner": "Omar", "deadline": "30 Sep"}),
    ("Keep churn under 3% (Owner: Omar Haddad) — stretch 2%", "Keep churn under 3%",
     {"owner": "Omar Haddad", "stretch": "2%"}),
    ("NPS from 30 to 40 | DRI: Ana, Ben", "NPS from 30 to 40", {"owner": "Ana, Ben"}),
    ("Grow revenue from $1M to $2M [Lea M.]", "Grow revenue from $1M to $2M", {"owner": "Lea M."}),
    # not remarks: acronyms, metrics, regions, baselines, words of the KR itself
    ("Grow MAU from 10k to 15k (MAU)", "Grow MAU from 10k to 15k (MAU)", {}),
    ("Cut p95 latency from 900 ms to 300 ms (p95)", "Cut p95 latency from 900 ms to 300 ms (p95)", {}),
    ("Revenue in Europe from $1M to $2M (EMEA)", "Revenue in Europe from $1M to $2M (EMEA)", {}),
    ("Revenue from $1M to $2M (Europe)", "Revenue from $1M to $2M (Europe)", {}),
    ("Daily signups to 120k (today: 80k)", "Daily signups to 120k (today: 80k)", {}),
    ("Hire 5 engineers (Q3)", "Hire 5 engineers (Q3)", {}),
    ("Grow ARR (New Business)", "Grow ARR (New Business)", {}),
    ("Cut churn — due to pricing changes", "Cut churn — due to pricing changes", {}),
    ("Ship v2 - Phase 1", "Ship v2 - Phase 1", {}),
    ("Launch v2 — by Friday", "Launch v2 — by Friday", {}),
])
def test_trailing_remarks_go_to_their_fields(line: str, kr: str, fields: dict[str, str]) -> None:
    got = parse_outline(f"## Support answers fast\n- {line}\n- Hold 3 reviews\n").key_results()[0]
    assert got.kr == kr
    assert {"owner": got.owner, "deadline": got.deadline, "stretch": got.extra.get("stretch")} == {
        "owner": None, "deadline": None, "stretch": None, **fields}


def test_the_coach_reviews_the_kr_without_its_remarks() -> None:
    result = _reviewed("## Support answers fast\n"
                       "- Reopened tickets from 14% to 8% (Owner: Omar, due Sep 30)\n"
                       "- Self-serve resolution from 22% to 35% by Q3, stretch 40% — Owner: Lea\n")
    recs = result.records()
    assert [(r["kr"], r["owner"]) for r in recs] == [("Reopened tickets from 14% to 8%", "Omar"),
                                                     ("Self-serve resolution from 22% to 35% by Q3", "Lea")]
    assert recs[1]["stretch"] == "40%"
    assert "no_deadline" not in {i["code"] for i in recs[0]["issues"]}  # the due date counts
    for rec in recs:
        for rw in rec["rewrites"]:
            assert not any(w in rw["text"] for w in ("Omar", "Lea", "stretch", "40%"))


def test_remarks_in_a_sheet_cell_go_to_their_fields_and_columns_win() -> None:
    data = ("Objective,Key result,Owner\n"
            "Answer fast,Reopened tickets from 14% to 8% (Owner: Omar; due: Sep 30),\n"
            "Answer fast,CSAT from 4.1 to 4.5 — owner: Omar,Lea\n"
            "Answer fast,Grow followers of @acme from 1k to 2k,\n").encode()
    krs = read_bytes(data, "s.csv").key_results()
    assert [(k.kr, k.owner, k.deadline) for k in krs] == [
        ("Reopened tickets from 14% to 8%", "Omar", "Sep 30"), ("CSAT from 4.1 to 4.5", "Lea", None),
        ("Grow followers of @acme from 1k to 2k", None, None)]


@pytest.mark.parametrize(("data", "objectives", "targets", "notes"), [
    ("Goal,Key result,Owner\nMake onboarding effortless,Activation from 30% to 45%,Omar\n"
     ",Ship the setup checklist,Lea\nGrow revenue,NRR from 104% to 110%,Ana\n",
     ["Make onboarding effortless", "Grow revenue"], [None, None, None], []),
    ("Objective,Key result,Baseline,Goal\nGrow usage,Weekly active teams,800,1300\n"
     "Grow usage,Invited seats,3.1,TBD\n", ["Grow usage"], ["1300", "TBD"], []),
    ("Key result;Goals\nActivation from 30% to 45%;Make onboarding effortless\n",
     ["Make onboarding effortless"], [None], []),
    ("Objective,Goal,Key result\nGrow revenue,Be the default choice,ARR from $1M to $2M\n",
     ["Grow revenue"], [None], ["unknown columns passed through: Goal"]),
    ("Goal value,KR,Goal\n45%,Activation from 30% to 45%,Make onboarding effortless\n",
     ["Make onboarding effortless"], ["45%"], []),
])
def test_goal_column_is_the_objective_unless_it_holds_numbers(data: str, objectives: list[str],
                                                              targets: list, notes: list[str]) -> None:
    okrs = read_bytes(data.encode(), "g.csv")
    assert [o.title for o in okrs.objectives] == objectives
    assert [k.target for k in okrs.key_results()] == targets
    assert [s.reason for s in okrs.skipped] == notes


def test_goal_column_in_json_and_markdown_tables() -> None:
    recs = [{"goal": "Make onboarding effortless", "kr": "Activation from 30% to 45%"}]
    assert read_bytes(json.dumps(recs).encode(), "g.json").objectives[0].title == "Make onboarding effortless"
    table = "| Goal | Key result |\n|---|---|\n| Grow revenue | ARR from $1M to $2M |\n"
    assert [o.title for o in parse_outline(table).objectives] == ["Grow revenue"]


def test_review_json_lists_the_skipped_lines(tmp_path: Path) -> None:
    from conftest import run_cli

    draft = tmp_path / "okrs.md"
    draft.write_text("Team Falcon, Q3\n\n## Grow\n- Signups from 30 to 90 per month\n"
                     "- ~~Launch the podcast~~\n", encoding="utf-8")
    proc = run_cli("review", str(draft), "-f", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [(s["line"], s["reason"], s["source"]) for s in doc["skipped"]] == [
        (1, "document title", str(draft)), (5, "struck through", str(draft))]
    assert f"{draft}:5: struck through" in proc.stderr


def test_csv_keeps_passed_through_columns_like_jsonl() -> None:
    data = ("id,objective,kr,owner,Confidence %,Notes,Sprint\n"
            "f1,Grow,Weekly active teams from 800 to 1300,Lea,60,check with finance,S14\n"
            "f2,Grow,Invited seats from 3.1 to 4.5,Lea,40,=cmd(),S15\n").encode()
    result = review(read_bytes(data, "u.csv"), RulesEngine())
    rows = list(csv.DictReader(io.StringIO(render(result, "csv"))))
    jsonl = [json.loads(line) for line in render(result, "jsonl").splitlines()]
    for row, rec in zip(rows, jsonl):
        for col in ("Confidence %", "Notes", "Sprint"):
            assert row[col].lstrip("'") == rec[col]
    assert rows[1]["Notes"] == "'=cmd()"  # passed-through cells are defused like every other
    back = read_bytes(render(result, "csv").encode(), "back.csv")  # read back, they pass through again
    assert [k.extra for k in back.key_results()] == [
        {"Confidence %": "60", "Notes": "check with finance", "Sprint": "S14"},
        {"Confidence %": "40", "Notes": "'=cmd()", "Sprint": "S15"}]
    assert [s.reason for s in back.skipped] == ["unknown columns passed through: Confidence %, Notes, Sprint"]


def test_streamed_csv_names_the_columns_of_the_first_objective() -> None:
    from krcoach.formats import CSVWriter, passed_through

    okrs = read_bytes(b'{"kr": "Signups from 30 to 90", "objective": "A", "Sprint": "S1"}\n'
                      b'{"kr": "NPS from 30 to 40", "objective": "B", "Sprint": "S2", "Epic": "E7"}\n', "x.jsonl")
    result = review(okrs, RulesEngine())
    for columns, late in ((None, ["Epic"]), (passed_through([okrs]), [])):
        buf = io.StringIO()
        writer = CSVWriter(buf, columns=columns)
        writer.start()
        for obj in result.objectives:
            writer.objective(obj)
        writer.finish(result)
        header = next(csv.reader(io.StringIO(buf.getvalue())))
        assert header[-2:] == (["notes", "Sprint"] if columns is None else ["Sprint", "Epic"])
        assert writer.late == late


@pytest.mark.parametrize("sep", ["\u2028", "\u2029", "\u0085"])  # JSON allows them raw
def test_jsonl_lines_end_at_newline_only(sep: str) -> None:
    rec = {"kr": f"Signups from 30{sep}to 90", "objective": "Grow", "Note": f"first{sep}second"}
    data = (json.dumps(rec, ensure_ascii=False) + "\n").encode()
    okrs = read_bytes(data, "u.jsonl")
    assert okrs.key_results()[0].extra == {"Note": f"first{sep}second"}
    out = render(review(okrs, RulesEngine()), "jsonl")
    assert sep in out  # krcoach's own output carries it raw, and reads back
    assert read_bytes(out.encode(), "out.jsonl").key_results()[0].extra == {"Note": f"first{sep}second"}
    assert read_bytes(data, "<stdin>").key_results()[0].kr == "Signups from 30 to 90"  # sniffed as JSONL


def test_improved_draft_keeps_the_remarks_it_took_off() -> None:
    okrs = parse_outline("## Support answers fast\n- Reopened tickets from 14% to 8% (Owner: Omar, due Sep 30)\n"
                         "- Self-serve from 22% to 35%, stretch 40% — Owner: Lea\n")
    back = parse_outline(improved_draft(okrs, {}))
    assert [(k.kr, k.owner, k.deadline, k.extra) for k in back.key_results()] == [
        (k.kr, k.owner, k.deadline, k.extra) for k in okrs.key_results()]
    out = improved_draft(okrs, {"1": "Reopened tickets from 14% to 8% by Sep 30"})
    assert "- Reopened tickets from 14% to 8% by Sep 30 (owner: Omar)\n" in out


def test_plain_krs_under_a_slack_bold_objective_and_a_bold_title() -> None:
    okrs = parse_outline("*Team Falcon OKRs*\n\n*Make checkout painless*\nIncrease conversion from 2% to 3%\n"
                         "Ship one-click payments for returning buyers\n\n*Grow partners*\n• Sign 5 new resellers\n")
    assert [(o.title, len(o.krs)) for o in okrs.objectives] == [("Make checkout painless", 2), ("Grow partners", 1)]
    assert [(s.line, s.reason) for s in okrs.skipped] == [(1, "document title")]


def test_slack_bold_objective_with_an_emoji_after_the_closing_star() -> None:
    okrs = parse_outline("*Objective 1: Make self-serve the default way to start* 🚀\n"
                         "🎯 Launch the onboarding checklist\n✅ Lift trial-to-paid from 8% to 12%\n")
    assert [o.title for o in okrs.objectives] == ["Make self-serve the default way to start"]
    assert [k.kr for k in okrs.objectives[0].krs] == ["Launch the onboarding checklist",
                                                      "Lift trial-to-paid from 8% to 12%"]


# ------------------------------------------------------------------------- row files (streaming)

SCATTERED = [
    {"id": "a1", "objective": "Grow adoption", "kr": "Grow weekly active teams from 120 to 300", "owner": "Ana"},
    {"id": "b1", "objective": "Cut churn", "kr": "Cut monthly churn from 4% to 2%", "Due": "2026-09-30"},
    {"id": "a2", "objective": "Grow adoption", "kr": "Launch the referral programme", "Quarter": "2026-Q3"},
    {"id": "c1", "objective": "Cut churn", "kr": "Hold 10 customer interviews", "team": "Support"},
    {"id": "b2", "objective": "Cut churn", "kr": "Ship the cancellation survey — owner: Omar", "Notes": "x"},
    {"kr": "Publish 5 case studies", "objective": "Grow adoption", "Goal": "5"},
    {"id": "n1", "kr": "Reduce p95 latency from 900 ms to 300 ms"},
]


def _write_rows(path: Path, rows: list[dict]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    else:
        names = list(dict.fromkeys(k for r in rows for k in r))
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=names)
            w.writeheader()
            w.writerows(rows)
    return path


def _without_source(okrs) -> list:  # type: ignore[no-untyped-def]
    return [(o.title, [{**k.model_dump(), "source": None} for k in o.krs]) for o in okrs.objectives]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_row_file_hands_out_the_objectives_the_whole_reader_builds(tmp_path: Path, suffix: str) -> None:
    """Scattered rows of one objective are gathered as the in-memory reader gathers them (order of
    first appearance, KRs in file order), so the streamed review is the same review. The
    reference is the JSON list reader, which groups records it holds all at once."""
    from krcoach.formats import open_input, passed_through

    src = _write_rows(tmp_path / f"okrs{suffix}", SCATTERED)
    records = [json.loads(line) for line in src.read_text().splitlines()] if suffix == ".jsonl" else \
        list(csv.DictReader(io.StringIO(src.read_text(), newline="")))
    above = None
    for rec in records if suffix == ".csv" else ():  # a sheet's blank objective cell means the one above
        rec["objective"] = above = rec["objective"] or above
    whole = read_bytes(json.dumps(records).encode(), "okrs.json")
    with open_input(src) as rows:
        assert not rows.consecutive and rows.total == len(SCATTERED)
        assert _without_source(rows.okrset()) == _without_source(whole)
        streamed = list(rows.objectives())
        assert _without_source(rows.okrset()) == [(o.title, [{**k.model_dump(), "source": None} for k in o.krs])
                                                  for o in streamed]
        assert [(s.line, s.reason) for s in rows.facts().skipped] == [(s.line, s.reason) for s in whole.skipped]
        assert rows.extra_columns() == passed_through([whole])
    assert [k.source for k in read_path(src).key_results()][:2] == \
        ([f"{src}:line 1", f"{src}:line 3"] if suffix == ".jsonl" else [f"{src}:row 2", f"{src}:row 4"])


def test_set_facts_give_the_set_findings_of_the_whole_set(tmp_path: Path) -> None:
    from krcoach import checks
    from krcoach.formats import open_input
    from krcoach.plan import has_teams

    many = [{"id": f"k{i}", "objective": f"Objective {i % 7}", "kr": f"Grow signups from {i} to {i + 9}",
             **({"owner": "Ana"} if i % 3 == 0 else {})} for i in range(40)]
    src = _write_rows(tmp_path / "okrs.jsonl", many)
    whole = read_path(src)
    with open_input(src) as rows:
        facts = rows.facts()
        assert checks.set_findings(facts) == checks.set_findings(whole)
        assert checks.set_uses_owners(facts) and not has_teams(facts)
        assert has_teams(rows.facts(team="growth"))


@pytest.mark.parametrize(("data", "message"), [
    (b'{"kr": "Ship v2"}\n{"kr": 5}\n{"kr": "Ship v3"\n', "line 3: not valid JSON"),  # syntax first
    (b'{"kr": "Ship v2"}\n{"kr": "Ship v3"\n{"kr": "Caf\xe9"}\n', "line 3: text is not UTF-8"),
    (b'{"kr": "Ship v2"}\n{"kr": 5}\n{"owner": "Ana"}\n', "line 2: field 'kr' must be text"),
    (b" \n\t\n", "file is empty"),
    (b"\n\n", "file is empty"),
])
def test_row_file_errors_rank_as_the_whole_reader_ranks_them(tmp_path: Path, data: bytes, message: str) -> None:
    src = tmp_path / "okrs.jsonl"
    src.write_bytes(data)
    with pytest.raises(InputError) as err:
        read_path(src)
    assert str(err.value).startswith(f"{src}: {message}")


def test_row_file_reads_csv_with_lone_carriage_returns_and_a_bom(tmp_path: Path) -> None:
    src = tmp_path / "okrs.csv"
    src.write_bytes(b"\xef\xbb\xbfobjective,kr\rGrow,Grow MAU from 1k to 2k\r,\"Cut churn\r\nfrom 4% to 2%\"\r\nShip,Ship v2\n")
    whole = read_bytes(src.read_bytes(), "<stdin>", "csv")
    got = read_path(src)
    assert [(o.title, [k.kr for k in o.krs]) for o in got.objectives] == \
        [(o.title, [k.kr for k in o.krs]) for o in whole.objectives]
    assert [k.kr for k in got.key_results()] == ["Grow MAU from 1k to 2k", "Cut churn from 4% to 2%", "Ship v2"]


def test_a_file_changed_between_the_two_passes_is_an_input_error(tmp_path: Path) -> None:
    from krcoach.formats import open_input

    src = _write_rows(tmp_path / "okrs.jsonl", SCATTERED)
    with open_input(src) as rows:
        with src.open("a") as fh:
            fh.write('{"kr": "Ship v9"}\n')
        with pytest.raises(InputError, match="changed while it was being read"):
            list(rows.objectives())
