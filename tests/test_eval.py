"""`krcoach eval`: scoring, logs, manifest, --compare and --min-accuracy."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from krcoach.evaluation.run import check_rewrites, load_dataset, score
from krcoach.formats import InputError
from krcoach.models import KRReview, Rewrite

ROWS = [
    {"id": "a", "kr": "Launch the referral campaign", "objective": "Grow", "label": "output", "tags": ["textbook"]},
    {"id": "b", "kr": "Lift demo requests from 80 to 200 per month", "objective": "Grow", "label": "outcome",
     "tags": ["textbook"]},
    {"id": "c", "kr": "Hold five customer interviews", "objective": "Learn", "label": "outcome",
     "tags": ["activity_count"]},  # deliberately mislabelled: the engine must be scored wrong here
    {"id": "d", "kr": "Grow our media presence", "objective": "Learn", "label": "ambiguous", "tags": ["vague"]},
]


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    p = tmp_path / "mini.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return p


def test_eval_scores_logs_and_writes_a_manifest(dataset: Path, tmp_path: Path) -> None:
    report = tmp_path / "run"
    proc = run_cli("eval", "--dataset", str(dataset), "--engine", "rules", "--report", str(report), "--json")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads(proc.stdout)
    m = manifest["metrics"]
    assert m["scored"] == 3 and m["unscored_ambiguous"] == 1
    assert m["accuracy"] == pytest.approx(2 / 3, abs=1e-3)
    assert m["confusion"] == {"output": {"output": 1, "outcome": 0}, "outcome": {"output": 1, "outcome": 1}}
    assert m["per_class"]["outcome"]["recall"] == 0.5 and m["per_class"]["output"]["precision"] == 0.5
    assert m["per_tag"]["activity_count"] == {"n": 1, "accuracy": 0.0}
    assert m["rewrite_checks"]["invented_numbers"] == 0 and m["rewrite_checks"]["unparsable"] == 0
    assert manifest["engine"] == "rules" and manifest["model"] is None
    assert manifest["dataset_sha256"] == hashlib.sha256(dataset.read_bytes()).hexdigest()
    assert manifest["git_revision"]
    samples = [json.loads(l) for l in (report / "samples.jsonl").read_text().splitlines()]
    assert [s["id"] for s in samples] == ["a", "b", "c", "d"]
    assert samples[3]["scored"] is False and samples[3]["correct"] is None
    assert json.loads((report / "manifest.json").read_text()) == manifest


def test_human_report_names_the_parts(dataset: Path, tmp_path: Path) -> None:
    proc = run_cli("eval", "--dataset", str(dataset), "--engine", "rules", "--report", str(tmp_path / "r"),
                   env={"COLUMNS": "160"})
    assert proc.returncode == 0
    for part in ("accuracy", "precision", "recall", "confusion", "per tag", "invented numbers"):
        assert part in proc.stdout


def test_min_accuracy_exits_1_below_the_bar(dataset: Path, tmp_path: Path) -> None:
    ok = run_cli("eval", "--dataset", str(dataset), "--engine", "rules", "--report", str(tmp_path / "a"),
                 "--min-accuracy", "0.6")
    assert ok.returncode == 0
    low = run_cli("eval", "--dataset", str(dataset), "--engine", "rules", "--report", str(tmp_path / "b"),
                  "--min-accuracy", "0.9")
    assert low.returncode == 1 and "below --min-accuracy" in low.stderr
    assert "krcoach: accuracy 66.7% is below --min-accuracy 90.0%" in low.stderr


@pytest.mark.parametrize(("value", "passes", "note"), [
    ("0.6", True, "min accuracy 60.0% (read 0.6 as a share of 1)"),
    ("60", True, "min accuracy 60.0% (read 60 as a percentage)"),
    ("60%", True, "min accuracy 60.0% (read 60% as a percentage)"),
    ("90", False, "min accuracy 90.0% (read 90 as a percentage)"),
    ("90%", False, "min accuracy 90.0% (read 90% as a percentage)"),
])
def test_min_accuracy_reads_a_share_or_a_percentage(dataset: Path, tmp_path: Path, value: str, passes: bool,
                                                    note: str) -> None:
    proc = run_cli("eval", "--dataset", str(dataset), "--engine", "rules", "--report", str(tmp_path / "r"),
                   "--min-accuracy", value, "--json")
    assert proc.returncode == (0 if passes else 1), proc.stderr
    assert proc.stderr.splitlines()[0] == "krcoach: " + note


@pytest.mark.parametrize("value", ["150", "-0.1", "101%", "abc", "%", "nan"])
def test_min_accuracy_out_of_range_is_a_usage_error(dataset: Path, tmp_path: Path, value: str) -> None:
    proc = run_cli("eval", "--dataset", str(dataset), "--engine", "rules", "--report", str(tmp_path / "r"),
                   "--min-accuracy", value)
    assert proc.returncode == 2
    assert proc.stderr.startswith("krcoach: error: --min-accuracy") and proc.stderr.count("\n") == 1
    assert not (tmp_path / "r").exists(), "nothing ran"


def test_bundled_dataset_is_found_from_any_folder(tmp_path: Path) -> None:
    from importlib.resources import files

    bundled = files("krcoach.evals") / "krs.jsonl"
    assert bundled.is_file() and (files("krcoach.evals") / "README.md").is_file()
    report = tmp_path / "run"
    proc = run_cli("eval", "--engine", "rules", "--report", str(report), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads(proc.stdout)
    assert manifest["dataset_sha256"] == hashlib.sha256((ROOT / "evals" / "krs.jsonl").read_bytes()).hexdigest()
    assert manifest["samples"] == len(load_dataset(ROOT / "evals" / "krs.jsonl"))
    assert not (tmp_path / "evals").exists(), "--report was given: nothing else written here"


def test_wheel_config_ships_the_eval_sets() -> None:
    import tomllib

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "krcoach.evals" in cfg["packages"] and cfg["package-dir"]["krcoach.evals"] == "evals"
    assert {"*.jsonl", "*.md"} <= set(cfg["package-data"]["krcoach.evals"])
    assert (ROOT / "evals" / "__init__.py").is_file()


def test_compare_lists_flipped_samples(dataset: Path, tmp_path: Path) -> None:
    run_cli("eval", "--dataset", str(dataset), "--engine", "rules", "--report", str(tmp_path / "a"))
    # A second run whose log disagrees on one sample, as a different engine or prompt would.
    b = tmp_path / "b"
    b.mkdir()
    rows = [json.loads(l) for l in (tmp_path / "a" / "samples.jsonl").read_text().splitlines()]
    rows[2]["predicted"], rows[2]["correct"] = "outcome", True
    (b / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = run_cli("eval", "--compare", str(tmp_path / "a"), str(b), "--json")
    flips = json.loads(proc.stdout)
    assert flips == [{"id": "c", "kr": ROWS[2]["kr"], "label": "outcome", "a": "output", "b": "outcome",
                      "change": "fixed"}]


def test_bad_dataset_is_a_one_line_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kr": "x", "label": "maybe"}\n')
    proc = run_cli("eval", "--dataset", str(bad), "--engine", "rules", "--report", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == "krcoach: error: " + str(bad) + ": line 1: field 'label' must be output, outcome or ambiguous"
    with pytest.raises(InputError, match="repeats"):
        dup = tmp_path / "dup.jsonl"
        dup.write_text('{"id": "1", "kr": "x", "label": "output"}\n{"id": "1", "kr": "y", "label": "output"}\n')
        load_dataset(dup)


def test_rewrite_checks_catch_invented_numbers_bad_shape_and_output_rewrites() -> None:
    review = KRReview(id="1", kr="Publish 12 blog posts", kind="output", why="w", engine="llm", rewrites=[
        Rewrite(text="Sign-ups from the blog from 80 to 200 by Q3", metric="Sign-ups from the blog"),
        Rewrite(text="Publish more posts", metric="posts"),
        Rewrite(text="Blog posts from 12 to 20 by Q3", metric="Blog posts", baseline="12", target="20",
                deadline="Q3", assumptions=["20 is the plan"]),
    ])
    checks = check_rewrites(review, None)
    # 12 is the count of planned posts: a number that never fills a slot.
    assert checks == {"rewrites": 3, "unparsable": 1, "invented_numbers": 1, "not_outcome": 2, "misplaced_numbers": 1}


def test_project_eval_set_meets_its_own_bar() -> None:
    samples = load_dataset(ROOT / "evals" / "krs.jsonl")
    assert len(samples) >= 400
    assert sum(s.label in ("output", "outcome") for s in samples) >= 400


def test_score_handles_an_all_ambiguous_run() -> None:
    m = score([{"scored": False, "label": "ambiguous", "predicted": "output", "correct": None, "tags": [],
                "rewrite_checks": {}, "status": "ok"}])
    assert m["accuracy"] is None and m["scored"] == 0


# ------------------------------------------------------------------ organisations, slots, variety

from krcoach.evaluation.run import Learner, leave_one_org_out, run_eval  # noqa: E402
from krcoach.models import Issue  # noqa: E402

#: Three organisations: A writes outputs, B mostly outputs, C outcomes (plus one ambiguous row).
ORG_ROWS = [
    *({"id": f"a{i}", "kr": f"Ship feature {i}", "objective": "Build", "label": "output", "org": "A"} for i in range(4)),
    {"id": "b0", "kr": "Publish the roadmap", "objective": "Plan", "label": "output", "org": "B"},
    {"id": "b1", "kr": "Run a pricing survey", "objective": "Plan", "label": "output", "org": "B"},
    {"id": "b2", "kr": "Weekly active teams from 1,200 to 2,000", "objective": "Plan", "label": "outcome", "org": "B"},
    {"id": "c0", "kr": "Churn from 4% to 2%", "objective": "Keep", "label": "outcome", "org": "C"},
    {"id": "c1", "kr": "NPS from 20 to 35", "objective": "Keep", "label": "outcome", "org": "C"},
    {"id": "c2", "kr": "Grow our media presence", "objective": "Keep", "label": "ambiguous", "org": "C"},
]


class _FixedEngine:
    """Says the same verdict for every KR, with scripted rewrites and issues per KR id."""

    name = "rules"
    model = None
    parallel = False

    def __init__(self, kind: str, rewrites: dict | None = None, issues: dict | None = None) -> None:
        self.kind, self.rewrites, self.issues = kind, rewrites or {}, issues or {}

    def review_objective(self, objective, context):
        return [KRReview(id=kr.id, kr=kr.kr, kind=self.kind, why="w", engine="rules",
                         rewrites=self.rewrites.get(kr.id, []),
                         issues=[Issue(code=c, message=c) for c in self.issues.get(kr.id, [])])
                for kr in objective.krs]


def _majority_learner(seen: list[int]) -> Learner:
    """A learner whose model is the majority label of its training rows (sizes recorded in `seen`)."""
    def fit(rows):
        seen.append(len(rows))
        labels = [r[2] for r in rows]
        return max(("output", "outcome"), key=labels.count)

    base = [("base kr 1", None, "outcome"), ("base kr 2", "o", "outcome"), ("base kr 3", None, "outcome")]
    return Learner(fit=fit, base_rows=lambda: base, engine=lambda model: _FixedEngine(model))


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_per_org_accuracy_and_leave_one_org_out(tmp_path: Path) -> None:
    data = _write(tmp_path / "orgs.jsonl", ORG_ROWS)
    assert [s.org for s in load_dataset(data)][::3] == ["A", "A", "B", "C"]
    seen: list[int] = []
    manifest = run_eval(data, _FixedEngine("output"), tmp_path / "run", learner=_majority_learner(seen))
    m = manifest["metrics"]
    # The engine says "output" everywhere: A 4/4, B 2/3, C 0/2 (the ambiguous row is not scored).
    assert m["per_org"] == {"A": {"n": 4, "accuracy": 1.0}, "B": {"n": 3, "accuracy": 0.6667},
                            "C": {"n": 2, "accuracy": 0.0}}
    loo = m["leave_one_org_out"]
    # Held out A: 3 base + B + C = 8 rows, 6 outcome -> says outcome, 0/4. Held out B: 3 + 4 + 2 = 9,
    # 5 outcome -> 1/3. Held out C: 3 + 4 + 3 = 10, 6 output -> 0/2.
    assert seen == [8, 9, 10]
    assert loo["status"] == "ok" and loo["organisations"] == 3 and loo["scored"] == 9 and loo["base_rows"] == 3
    assert loo["per_org"] == {"A": {"n": 4, "accuracy": 0.0}, "B": {"n": 3, "accuracy": 0.3333},
                              "C": {"n": 2, "accuracy": 0.0}}
    assert loo["accuracy"] == round(1 / 9, 4)
    assert loo["worst"] == {"org": "A", "n": 4, "accuracy": 0.0}  # ties go to the larger organisation
    samples = [json.loads(l) for l in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert [s["org"] for s in samples][:5] == ["A", "A", "A", "A", "B"]


def test_leave_one_org_out_runs_only_where_it_means_something(tmp_path: Path) -> None:
    samples = load_dataset(_write(tmp_path / "orgs.jsonl", ORG_ROWS))
    learner = _majority_learner([])
    assert leave_one_org_out(samples, _FixedEngine("output"), enabled=False, learner=learner) == {
        "status": "skipped", "reason": "--no-loo"}
    llm = _FixedEngine("output")
    llm.name = "llm"
    assert leave_one_org_out(samples, llm, learner=learner) == {"status": "n/a", "reason": "engine llm has no learned part"}
    plain = load_dataset(_write(tmp_path / "plain.jsonl", ROWS))
    assert leave_one_org_out(plain, _FixedEngine("output"), learner=learner)["reason"] == "no row names an organisation"
    assert score_rows_have_no_per_org(plain)


def score_rows_have_no_per_org(samples) -> bool:
    rows = [{"scored": True, "label": s.label, "predicted": "output", "correct": s.label == "output", "tags": [],
             "rewrite_checks": {}, "status": "ok", "org": None} for s in samples if s.label != "ambiguous"]
    return score(rows)["per_org"] == {}


def test_cli_prints_the_organisation_lines(tmp_path: Path) -> None:
    data = _write(tmp_path / "orgs.jsonl", ORG_ROWS)
    proc = run_cli("eval", "--dataset", str(data), "--engine", "rules", "--report", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(l.startswith("per organisation: 3 organisations, worst ") for l in lines)
    loo = [l for l in lines if l.startswith("leave-one-organisation-out ")]
    assert len(loo) == 1
    try:
        from krcoach.evaluation.run import rules_learner
        learned = not isinstance(rules_learner(), str)
    except Exception:  # noqa: BLE001
        learned = False
    if learned:
        assert "(3 organisations, 9 scored, worst: " in loo[0]
        m = json.loads((tmp_path / "r" / "manifest.json").read_text())["metrics"]["leave_one_org_out"]
        micro = sum(v["n"] * v["accuracy"] for v in m["per_org"].values()) / m["scored"]
        assert m["accuracy"] == pytest.approx(micro, abs=1e-3)
    else:
        assert loo[0] == "leave-one-organisation-out n/a (engine has no learned part)"
    for prefix in ("accuracy ", "slot accuracy ", "target kept ", "rewrite variety: ", "need work "):
        assert any(l.startswith(prefix) for l in lines), prefix
    off = run_cli("eval", "--dataset", str(data), "--engine", "rules", "--report", str(tmp_path / "r2"), "--no-loo")
    assert "leave-one-organisation-out skipped (--no-loo)" in off.stdout.splitlines()


SLOT_ROWS = [
    {"id": "k1", "kr": "Lift weekly active teams from 1,200 to 2,000 by Q4", "label": "outcome"},
    {"id": "k2", "kr": "95% of refund requests settled within 48 hours", "label": "outcome"},
    {"id": "k3", "kr": "MTTR for sev1 incidents: 4h → 1h", "label": "outcome"},
    {"id": "k4", "kr": "Grow sign-ups from 40 to 60 by Q3", "label": "outcome"},  # no gold row: read from the draft
    {"id": "k5", "kr": "Publish 12 case studies", "label": "output"},
]
SLOT_GOLD = [
    {"id": "k1", "targets": ["2,000"], "baselines": ["1,200"], "deadline": "Q4", "not_slots": [], "delta": None},
    {"id": "k2", "targets": ["95%"], "baselines": [], "deadline": None, "not_slots": ["48"], "delta": None},
    {"id": "k3", "targets": ["1h"], "baselines": ["4h"], "deadline": None, "not_slots": ["sev1"], "delta": None},
    {"id": "k5", "targets": [], "baselines": [], "deadline": None, "not_slots": ["12"], "delta": None},
]
GENERIC = "[outcome metric: what changes for users or the business once this is done]"
SLOT_REWRITES = {
    "k1": [Rewrite(text="A", metric="Weekly active teams", baseline="1,200", target="2,000", deadline="Q4")],
    "k2": [Rewrite(text="A", metric="Refund requests settled", baseline="[baseline: measure first]", target="48 hours"),
           Rewrite(text="B", metric="Share of refunds settled within 48 hours", target="95%")],
    "k3": [Rewrite(text="C", metric="MTTR for sev1 incidents", baseline="4h", target="4h", deadline="[date]")],
    "k4": [Rewrite(text="D", metric="Sign-ups", baseline="40", target="40", deadline="Q3"),
           Rewrite(text="D2", metric=GENERIC, baseline=None, target=None)],
    "k5": [],
}


def test_slots_target_kept_and_variety_against_gold(tmp_path: Path) -> None:
    data = _write(tmp_path / "krs.jsonl", SLOT_ROWS)
    _write(tmp_path / "slots.jsonl", SLOT_GOLD)  # found beside the dataset
    engine = _FixedEngine("outcome", SLOT_REWRITES, {"k1": ["no_deadline"], "k2": ["no_deadline", "activity"],
                                                    "k5": ["activity"]})
    manifest = run_eval(data, engine, tmp_path / "run")
    m = manifest["metrics"]
    # Filled: k1 3 (all right); k2 target "48 hours" (48 is never a slot) + second rewrite's 95% (right),
    # the baseline placeholder not counted; k3 target 4h is the baseline (wrong), baseline 4h right,
    # "[date]" not counted; k4 (no gold: checked against the draft) target 40 wrong, baseline 40 and Q3 right.
    assert m["slots"] == {"gold": str(tmp_path / "slots.jsonl"), "filled": 10, "right": 7, "misplaced": 3,
                          "accuracy": 0.7}
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "run" / "samples.jsonl").read_text().splitlines())}
    assert rows["k1"]["slot_problems"] == [] and rows["k1"]["slots_right"] == 3
    assert rows["k2"]["slot_problems"] == ["rewrite 1 target '48 hours': 48 must never fill a slot (gold targets ['95%'])"]
    assert rows["k3"]["slot_problems"] == ["rewrite 1 target '4h': not the draft's target (gold targets ['1h'])"]
    assert rows["k4"]["slot_problems"] == ["rewrite 1 target '40': 40 is the draft's baseline, not its target"]
    # Target kept: four outcome KRs state a target; only k1's first rewrite carries it (k2's is the
    # second rewrite, which does not count).
    assert m["target_kept"] == {"eligible": 4, "kept": 1, "share": 0.25}
    assert [rows[k]["target_kept"] for k in ("k1", "k2", "k3", "k4", "k5")] == [True, False, False, False, None]
    # Texts A, A, B, C, D, D2: 5 distinct for 4 KRs with rewrites; first rewrite unique for k3 and k4 only.
    assert m["variety"] == {"krs_with_rewrites": 4, "distinct_rewrites": 5, "distinct_per_kr": 1.25,
                            "first_unique_share": 0.5, "generic_rewrites": 1}
    assert m["rewrite_checks"]["misplaced_numbers"] == 3  # k2's, k3's and k4's first rewrites
    assert m["need_work"] == {"krs": 2, "share": 0.4}  # activity needs work; no_deadline does not
    assert m["top_issues"] == [{"code": "no_deadline", "krs": 2, "share": 0.4},
                               {"code": "activity", "krs": 2, "share": 0.4}]


def test_slots_option_and_no_gold(tmp_path: Path) -> None:
    data = _write(tmp_path / "krs.jsonl", SLOT_ROWS)
    gold = _write(tmp_path / "gold.jsonl", SLOT_GOLD)  # not beside the dataset under the usual name
    engine = _FixedEngine("outcome", SLOT_REWRITES)
    without = run_eval(data, engine, tmp_path / "a")["metrics"]
    assert without["slots"]["gold"] is None
    # Without gold every slot is read from the draft: k2's "48 hours" is a window, k3's 4h target the baseline.
    assert without["slots"]["filled"] == 10 and without["slots"]["right"] == 7
    assert without["target_kept"]["eligible"] == 4
    withgold = run_eval(data, engine, tmp_path / "b", slots=gold)["metrics"]
    assert withgold["slots"]["gold"] == str(gold) and withgold["slots"]["right"] == 7
    proc = run_cli("eval", "--dataset", str(data), "--engine", "rules", "--report", str(tmp_path / "c"),
                   "--slots", str(gold), "--json")
    assert proc.returncode == 0, proc.stderr
    m = json.loads(proc.stdout)["metrics"]
    assert m["slots"]["gold"] == str(gold) and m["slots"]["filled"] >= m["slots"]["right"]
    assert {"per_org", "leave_one_org_out", "slots", "target_kept", "variety", "need_work", "top_issues"} <= set(m)
