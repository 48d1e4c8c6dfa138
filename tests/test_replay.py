"""A capable model's recorded answers, replayed over HTTP to the real llm engine.

`evals/answers/capable.jsonl` holds answers a capable model gave to krcoach's own prompt for 167
objectives of the dev set and `evals/` (recorded with `python -m krcoach.evaluation.replay`). Served from a
real OpenAI-compatible server on 127.0.0.1, they show what users with a good model get: the
model's coaching, not a fallback, and no re-ask of a good answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from krcoach.rules import anatomy
from krcoach.coach import review
from krcoach.llm.engine import LLMEngine, load_prompt
from krcoach.models import KeyResult, Objective, OKRSet
from krcoach.evaluation.replay import ReplayServer, load, objective_key

RECORDING = ROOT / "evals" / "answers" / "capable.jsonl"
DEV = ROOT.parent / "shared" / "data" / "dev_krs.jsonl"


@pytest.fixture(scope="module")
def recording() -> dict:
    return load(RECORDING)


def _labels() -> dict[tuple[str | None, str], str]:
    labels = {}
    for path in (ROOT / "evals" / "krs.jsonl", DEV):
        if path.exists():
            for line in path.read_text("utf-8").splitlines():
                row = json.loads(line)
                labels[(row.get("objective"), " ".join(row["kr"].split()))] = row["label"]
    return labels


def test_the_recording_answers_the_current_prompt(recording: dict) -> None:
    """Editing the prompt means re-recording (README: "Recorded answers"): replaying answers to
    another prompt would measure nothing."""
    prompt = load_prompt()
    assert len(recording) >= 150
    for rec in recording.values():
        assert (rec["prompt"]["version"], rec["prompt"]["sha256"]) == (prompt.version, prompt.sha256), \
            "the prompt changed: re-record evals/answers/capable.jsonl (python -m krcoach.evaluation.replay)"
        assert rec["key"] == objective_key(rec["objective"], rec["krs"], rec["cycle"])


def test_a_capable_models_answers_reach_the_user_without_fallback_or_reask(recording: dict) -> None:
    okrs = OKRSet(objectives=[
        Objective(title=rec["objective"], krs=[KeyResult(id=f"{i}.{n}", kr=kr) for n, kr in enumerate(rec["krs"], 1)])
        for i, rec in enumerate(recording.values(), 1)])
    with ReplayServer(recording) as server:
        engine = LLMEngine(base_url=server.url, model="recorded-answers", cache=None)
        records = review(okrs, engine, concurrency=4).records()
        served = server.served

    assert len(served) == len(recording), "one request per objective, none re-asked"
    assert all(attempt == 0 for _, attempt in served)
    assert engine.stats["reasks"] == 0 and engine.stats["fallbacks"] == 0 and engine.rejections == []
    assert {(r["engine"], r["status"]) for r in records} == {("llm", "ok")}
    assert len(records) == sum(len(r["krs"]) for r in recording.values())
    # the model's own words reach the record, rendered from parts into the stable shape
    by_text = {(r["objective"], r["kr"]): r for r in records}
    for rec in recording.values():
        for kr, answer in zip(rec["krs"], rec["answers"][0]["key_results"]):
            got = by_text[(rec["objective"], kr)]
            assert got["kind"] == answer["kind"] and got["why"] == answer["why"].strip()
            for rw in got["rewrites"]:
                assert anatomy.parse_rewrite(rw["text"]) is not None
                assert not anatomy.invented_numbers(rw["text"], kr, rec["objective"], *rw["assumptions"])
    # notes are doubts, shown beside the answer: few, or people learn to ignore them
    noted = [r for r in records if r["notes"]]
    assert len(noted) <= 0.06 * len(records), [r["notes"] for r in noted]
    labels = _labels()
    scored = [(r["kind"], labels[(r["objective"], " ".join(r["kr"].split()))]) for r in records
              if labels.get((r["objective"], " ".join(r["kr"].split()))) in ("output", "outcome")]
    assert len(scored) >= 300
    assert sum(k == gold for k, gold in scored) / len(scored) >= 0.95


def test_eval_reports_the_replay_as_the_engine_handled_it(tmp_path: Path) -> None:
    proc = run_cli("eval", "--engine", "llm", "--replay", str(RECORDING), "--report", str(tmp_path / "run"),
                   "--no-loo", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "llm answers: " in proc.stdout and "re-asks 0, KRs that fell back 0" in proc.stdout
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    m = manifest["metrics"]
    assert m["llm"]["reasks"] == 0 and m["llm"]["fallback_krs"] == 0
    assert m["rewrite_checks"]["invented_numbers"] == 0
    assert m["accuracy"] >= 0.95 and m["statuses"] == {"ok": m["scored"] + m["unscored_ambiguous"]}
    assert manifest["engine"] == "llm" and manifest["model"] == "recorded-answers"


def test_a_refused_answer_is_reasked_and_the_recorded_fix_is_used(tmp_path: Path) -> None:
    """A recording may hold the answer to a re-ask: the server gives the n-th answer to the n-th try."""
    objective = Objective(title="Grow the shop", krs=[KeyResult(id="1", kr="Lift repeat orders from 20% to 30%")])
    good = {"n": 1, "kind": "outcome", "why": "More customers come back on their own.",
            "rewrites": [{"metric": "share of customers who order again", "baseline": "20%", "target": "30%"}]}
    invented = json.loads(json.dumps(good))
    invented["rewrites"][0]["target"] = "45%"
    key = objective_key(objective.title, ["Lift repeat orders from 20% to 30%"])
    recording = {key: {"key": key, "objective": objective.title, "cycle": None, "krs": [objective.krs[0].kr],
                       "answers": [{"key_results": [invented]}, {"key_results": [good]}]}}
    with ReplayServer(recording) as server:
        engine = LLMEngine(base_url=server.url, model="recorded-answers", cache=None)
        records = review(OKRSet(objectives=[objective]), engine).records()
        assert [a for _, a in server.served] == [0, 1]
    assert engine.stats["reasks"] == 1 and "45" in engine.rejections[0]["problems"]
    assert records[0]["status"] == "ok" and records[0]["rewrites"][0]["target"] == "30%"
