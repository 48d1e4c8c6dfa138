"""The blind-grading script: a seeded sample of whole objectives, a sheet that hides the engine,
and the rubric's figures from graders' files."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT, run_cli
from krcoach.evaluation.grading import agreement, draw, figures, sheet


def _dataset(tmp_path: Path) -> Path:
    rows = [
        {"id": "a1", "objective": "Grow the shop", "kr": "Launch the loyalty card", "label": "output"},
        {"id": "a2", "objective": "Grow the shop", "kr": "Repeat orders  from 20% to 30%", "label": "outcome"},
        {"id": "b1", "objective": "Calm support", "kr": "Median first reply under 2 hours", "label": "outcome"},
        {"id": "c1", "objective": "Hire well", "kr": "Hire 3 engineers", "label": "ambiguous"},
    ]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_draw_is_seeded_labelled_only_and_brings_whole_objectives(tmp_path: Path) -> None:
    data = _dataset(tmp_path)
    inputs, ids = draw(data, 2, seed=5)
    assert (inputs, ids) == draw(data, 2, seed=5)
    assert "c1" not in ids, "an ambiguous row cannot be graded against a label"
    objectives = {i["objective"] for i in inputs}
    assert {i["id"] for i in inputs} == {r for r in ("a1", "a2", "b1") if
                                         {"a1": "Grow the shop", "a2": "Grow the shop", "b1": "Calm support"}[r]
                                         in objectives}
    assert all("  " not in i["kr"] for i in inputs), "text as the eval sends it"


def test_the_sheet_names_no_engine_and_shows_what_a_user_sees() -> None:
    records = {
        "a1": {"id": "a1", "objective": "Grow the shop", "kr": "Launch the loyalty card", "kind": "output",
               "why": "Only the team's work changes.", "issues": [{"code": "activity", "message": "Counts work."}],
               "rewrites": [], "engine": "rules", "model": None, "status": "fallback",
               "error": "llm: HTTP 500 from the endpoint", "confidence": "low", "notes": []},
        "a2": {"id": "a2", "objective": "Grow the shop", "kr": "Repeat orders from 20% to 30%", "kind": "outcome",
               "why": "Customers come back.", "issues": [], "engine": "llm", "model": "m-7b", "status": "ok",
               "error": None, "rewrites": [{"text": "Repeat-order share from 20% to 30% by [date]",
                                            "assumptions": ["orders per customer"]}],
               "notes": ["Check the rewrite: 30 is the draft's target."]},
    }
    text = sheet(records, ["a2", "a1"], "Sheet A")
    for hidden in ("rules", "llm", "m-7b", "fallback", "HTTP 500"):
        assert hidden not in text
    assert text.index("Repeat orders") < text.index("Launch the loyalty card"), "sample order"
    assert "- Rewrite: (none given)" in text and "(low confidence)" in text
    assert "assumption: orders per customer" in text and "Note: Check the rewrite" in text


def test_figures_follow_the_rubric() -> None:
    grades = {
        1: {"verdict_agree": True, "why_useful": True, "rewrite": "acceptable", "none_right": None},
        2: {"verdict_agree": True, "why_useful": False, "rewrite": "not", "none_right": None},
        3: {"verdict_agree": False, "why_useful": True, "rewrite": "none", "none_right": True},
        4: {"verdict_agree": True, "why_useful": False, "rewrite": "none", "none_right": False},
    }
    f = figures(grades, ["outcome", "outcome", "output", "output"])
    assert f["verdict_agree"] == 0.75 and f["why_useful"] == 0.5
    assert f["rewrite_acceptable"] == 0.25 and (f["no_rewrite"], f["no_rewrite_right"]) == (2, 1)
    assert f["acceptable_coaching"] == 0.5, "an accepted rewrite, or a right absence"
    assert (f["outcome_krs"], f["outcome_rewrite_acceptable"]) == (2, 0.5)
    other = {**grades, 2: {**grades[2], "rewrite": "acceptable"}}
    assert agreement(grades, other) == {"verdict_agree": 1.0, "why_useful": 1.0, "rewrite": 0.75}


def test_the_commands_run_end_to_end(tmp_path: Path) -> None:
    data = _dataset(tmp_path)
    out = tmp_path / "g"
    py = ["-c", "import sys; from krcoach.evaluation.grading import main; sys.exit(main(sys.argv[1:]))"]
    import subprocess
    import sys

    def grading(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *py, *args], capture_output=True, text=True, cwd=ROOT)

    assert grading("draw", "--dataset", str(data), "--n", "3", "--seed", "11", "--out", str(out)).returncode == 0
    review = run_cli("review", str(out / "input.jsonl"), "-f", "jsonl", "--engine", "rules")
    assert review.returncode == 0, review.stderr
    (tmp_path / "rules.jsonl").write_text(review.stdout)
    made = grading("sheet", "--records", str(tmp_path / "rules.jsonl"), "--sample", str(out / "sample.json"),
                   "--out", str(tmp_path / "sheet.md"))
    assert made.returncode == 0, made.stderr
    template = [json.loads(x) for x in (tmp_path / "sheet.grades.jsonl").read_text().splitlines()]
    assert [t["item"] for t in template] == [1, 2, 3]
    filled = tmp_path / "g1.jsonl"
    filled.write_text("".join(json.dumps({**t, "verdict_agree": True, "why_useful": True, "rewrite": "none",
                                          "none_right": False}) + "\n" for t in template))
    scored = grading("score", "--sample", str(out / "sample.json"), "--dataset", str(data), str(filled))
    assert scored.returncode == 0, scored.stderr
    figs = json.loads(scored.stdout)["graders"][str(filled)]
    assert figs["items"] == 3 and figs["verdict_agree"] == 1.0 and figs["acceptable_coaching"] == 0.0
