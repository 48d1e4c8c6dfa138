"""`krcoach eval`: scoring, logs, manifest, --compare and --min-accuracy."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from krcoach.evaluate import check_rewrites, load_dataset, score
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
        Rewrite(text="Blog posts from 12 to 20 by Q3", metric="Blog posts", assumptions=["20 is the plan"]),
    ])
    checks = check_rewrites(review, None)
    assert checks == {"rewrites": 3, "unparsable": 1, "invented_numbers": 1, "not_outcome": 2}


def test_project_eval_set_meets_its_own_bar() -> None:
    samples = load_dataset(ROOT / "evals" / "krs.jsonl")
    assert len(samples) >= 400
    assert sum(s.label in ("output", "outcome") for s in samples) >= 400


def test_score_handles_an_all_ambiguous_run() -> None:
    m = score([{"scored": False, "label": "ambiguous", "predicted": "output", "correct": None, "tags": [],
                "rewrite_checks": {}, "status": "ok"}])
    assert m["accuracy"] is None and m["scored"] == 0
