"""Readers and writers: every input shape, bad input named precisely, round trips."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from krcoach.coach import review
from krcoach.formats import InputError, improved_draft, parse_outline, read_bytes, read_path, render
from krcoach.rules import RulesEngine

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
                         "model", "status", "error", "confidence", "team"]
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
