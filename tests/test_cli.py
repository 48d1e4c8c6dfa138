"""`krcoach review` exactly as a user runs it: formats, stdin, output files, exit codes, errors."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import KRCOACH, ROOT, run_cli

EXAMPLE_MD = ROOT / "examples" / "team-okrs.md"
EXAMPLE_CSV = ROOT / "examples" / "team-okrs.csv"


def test_summary_counts_read_as_english() -> None:
    proc = run_cli("review", "-", "-f", "jsonl", stdin="- Ship v2\n")
    assert proc.stderr.startswith("krcoach: 1 key result: 0 outcomes, 1 output, 1 need work (most often activity 1) (engine rules, ")
    # one summary line, then (no rewrite for a bare "Ship v2") the line that points to the llm engine
    assert proc.stderr.count("\n") == 2 and proc.stderr.splitlines()[1].startswith("krcoach: 1 key result got no rewrite: ")


def test_one_summary_line_with_thousands_separators(tmp_path: Path) -> None:
    src = tmp_path / "many.md"
    src.write_text("".join(f"- Ship feature {i}\n" for i in range(1200)))
    proc = run_cli("review", str(src), env={"COLUMNS": "100"})
    assert proc.returncode == 0, proc.stderr
    summary = [l for l in proc.stderr.splitlines() if "key results:" in l]
    assert len(summary) == 1 and summary[0].startswith("krcoach: 1,200 key results: 0 outcomes, 1,200 outputs, ")
    assert "1,200 need work" in summary[0] and "key results" not in proc.stdout.replace("Whole set", "")
    # A long table to the screen earns one hint about the compact layout and jsonl.
    hints = [l for l in proc.stderr.splitlines() if l.startswith("krcoach: hint:")]
    assert len(hints) == 1 and "--compact" in hints[0] and "-f jsonl" in hints[0]
    compact = run_cli("review", str(src), "--compact")
    assert len(compact.stdout.splitlines()) >= 1200 and "hint" not in compact.stderr


def test_version_help_and_bare_command() -> None:
    from krcoach import __version__

    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout == f"krcoach {__version__}\n"
    bare = run_cli()
    assert bare.returncode == 0 and bare.stdout.startswith("Usage: krcoach") and "review" in bare.stdout
    for args in ([], ["review"], ["serve"], ["eval"], ["cache"]):
        short, long = run_cli(*args, "-h"), run_cli(*args, "--help")
        assert short.returncode == 0 and short.stdout == long.stdout and "Usage:" in short.stdout, args
    assert "--compact" in run_cli("review", "-h").stdout and "--cycle" in run_cli("eval", "-h").stdout


@pytest.mark.parametrize(("args", "message"), [
    (["-f", "xlsx"], "unknown format 'xlsx': use one of table, jsonl, json, csv, md"),
    (["--engine", "magic"], "unknown engine 'magic': use one of auto, rules, llm"),
    (["--input-format", "docx"], "unknown input format 'docx': use one of jsonl, json, csv, md"),
    (["-o", "out.xlsx"], "out.xlsx: cannot tell the output format from .xlsx: add -f"),
    (["--concurrency", "0"], "Invalid value for '--concurrency'"),
    (["--bogus"], "No such option: --bogus (see krcoach review -h)"),
    (["--compact", "-f", "jsonl"], "--compact is a table layout"),
])
def test_option_errors_are_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    args = [str(tmp_path / a) if a.startswith("out.") else a for a in args]
    proc = run_cli("review", str(EXAMPLE_MD), *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("krcoach: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert message in proc.stderr and proc.stdout == ""
    assert not any(tmp_path.iterdir()), "nothing written"


USAGE_ERRORS = [
    (["review", "--bogus"], "krcoach review", "No such option: --bogus"),
    (["review", "--eng", "rules"], "krcoach review", "No such option: --eng (did you mean --engine?)"),
    (["review", "-f"], "krcoach review", "Option '-f/--format' requires an argument"),
    (["review", "--concurrency", "65"], "krcoach review", "Invalid value for '--concurrency': 65 is not in the range"),
    (["review", "--concurrency", "x"], "krcoach review", "Invalid value for '--concurrency': 'x' is not a whole number"),
    (["review", "--plan=yes"], "krcoach review", "Option '--plan/--no-plan' does not take a value"),
    (["serve", "--port", "http"], "krcoach serve", "Invalid value for '--port': 'http' is not a whole number"),
    (["serve", "--bogus"], "krcoach serve", "No such option: --bogus"),
    (["eval", "--compare", "runs/a"], "krcoach eval", "Option '--compare' requires 2 arguments"),
    (["eval", "--concurrency", "0"], "krcoach eval", "Invalid value for '--concurrency': 0 is not in the range 1 to 64"),
    (["cache", "--bogus"], "krcoach cache", "No such option: --bogus"),
    (["cache", "now"], "krcoach cache", "Got unexpected extra argument (now)"),
    (["doctor", "--base-url"], "krcoach doctor", "Option '--base-url' requires an argument"),
    (["doctor", "--bogus=1"], "krcoach doctor", "No such option: --bogus"),
    (["bogus"], "krcoach", "No such command 'bogus'"),
    (["--bogus"], "krcoach", "No such option: --bogus"),
    (["review", "--version"], "krcoach review", "No such option: --version"),
]


@pytest.mark.parametrize(("args", "command", "message"), USAGE_ERRORS, ids=[" ".join(a) for a, _, _ in USAGE_ERRORS])
def test_usage_errors_are_one_line_naming_the_help_exit_2(args: list[str], command: str, message: str) -> None:
    """Every command: an unknown option, a bad or missing value, an extra word is one line on
    stderr, `krcoach: error: MESSAGE (see COMMAND -h)`, exit code 2, and nothing else."""
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"krcoach: error: {message}"), proc.stderr
    assert proc.stderr.endswith(f" (see {command} -h)\n") and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stdout == ""


#: Every option of every command (DESIGN.md "Stable interfaces": extend, never rename).
OPTIONS = {
    "review": ["FILE", "--engine", "-f, --format", "-o, --output", "--compact", "--input-format", "--cycle",
               "--concurrency", "--no-cache", "--plan / --no-plan", "--fail-on", "-h, --help"],
    "serve": ["--host", "--port", "--engine", "-h, --help"],
    "eval": ["DIR", "--dataset", "--engine", "--report", "--json", "--compare", "--min-accuracy", "--cycle",
             "--concurrency", "--no-cache", "--slots", "--no-loo", "--replay", "--plans", "-h, --help"],
    "cache": ["--clear", "-h, --help"],
    "doctor": ["--base-url", "--model", "-h, --help"],
}


def test_help_lists_every_command_option_default_and_env_var() -> None:
    root = run_cli("-h").stdout
    assert "--version" in root
    for command, options in OPTIONS.items():
        assert f"\n  {command}  " in root, command
        text = run_cli(command, "-h").stdout
        assert text.startswith(f"Usage: krcoach {command} [OPTIONS]"), text
        for option in options:
            assert f"\n  {option}" in text, (command, option)
        if "--engine" in options:
            assert "[env var: KRCOACH_ENGINE; default: auto]" in " ".join(text.split()), command
    review = " ".join(run_cli("review", "-h").stdout.split())
    assert "[default: 4]" in review and "1 to 64" in review
    assert "[default: 127.0.0.1]" in run_cli("serve", "-h").stdout and "[default: 7860]" in run_cli("serve", "-h").stdout


def test_engine_falls_back_to_the_environment() -> None:
    """--engine wins; without it KRCOACH_ENGINE decides (an empty value counts as unset: auto)."""
    kr = "- Grow MAU from 1k to 2k\n"
    asked = run_cli("review", "-", "-f", "jsonl", stdin=kr, env={"KRCOACH_ENGINE": "llm"})
    assert asked.returncode == 2 and asked.stderr.startswith("krcoach: error: ") and "OPENAI_API_KEY" in asked.stderr
    assert asked.stderr.count("\n") == 1
    given = run_cli("review", "-", "-f", "jsonl", "--engine", "rules", stdin=kr, env={"KRCOACH_ENGINE": "llm"})
    assert given.returncode == 0 and json.loads(given.stdout)["engine"] == "rules", given.stderr
    empty = run_cli("review", "-", "-f", "jsonl", stdin=kr, env={"KRCOACH_ENGINE": ""})
    assert empty.returncode == 0 and json.loads(empty.stdout)["engine"] == "rules", empty.stderr
    upper = run_cli("review", "-", "-f", "jsonl", stdin=kr, env={"KRCOACH_ENGINE": " RULES "})
    assert upper.returncode == 0 and json.loads(upper.stdout)["engine"] == "rules", upper.stderr
    bad = run_cli("eval", env={"KRCOACH_ENGINE": "magic"})
    assert bad.returncode == 2
    assert bad.stderr == "krcoach: error: unknown engine 'magic' (from KRCOACH_ENGINE): use one of auto, rules, llm\n"


def test_plan_and_no_plan(tmp_path: Path) -> None:
    """The plan review runs when the input names teams (or several files are given), --plan adds
    it, --no-plan leaves it out; the last of the two wins."""
    teams = tmp_path / "teams.csv"
    teams.write_text("team,objective,kr\nGrowth,Grow,Grow weekly active teams from 120 to 300\n"
                     "Support,Calm,Cut ticket backlog from 400 to 100\n")
    plain = tmp_path / "plain.md"
    plain.write_text("- Grow weekly active teams from 120 to 300\n")

    def plan_line(*args: str) -> list[str]:
        proc = run_cli("review", *args, "-f", "json")
        assert proc.returncode == 0, proc.stderr
        has_plan = json.loads(proc.stdout)["plan"] is not None
        lines = [l for l in proc.stderr.splitlines() if l.startswith("krcoach: plan: ")]
        assert has_plan == bool(lines)
        return lines

    assert plan_line(str(teams)) and plan_line(str(teams), "--plan")
    assert not plan_line(str(teams), "--no-plan")
    assert not plan_line(str(plain)) and plan_line(str(plain), "--plan")
    assert not plan_line(str(plain), "--plan", "--no-plan") and plan_line(str(plain), "--no-plan", "--plan")


def test_options_and_files_in_any_order(tmp_path: Path) -> None:
    proc = run_cli("review", str(EXAMPLE_MD), "-f", "jsonl", "--no-plan", str(EXAMPLE_CSV), "--engine", "rules")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 16
    # After `--` every word is a file, even one whose name starts with "-".
    (tmp_path / "-draft.md").write_text("- Ship v2\n- Grow MAU from 1k to 2k\n")
    dashed = run_cli("review", "-f", "jsonl", str(EXAMPLE_CSV), "--", "-draft.md", cwd=tmp_path)
    assert dashed.returncode == 0 and len(dashed.stdout.splitlines()) == 7, dashed.stderr
    unknown = run_cli("review", "-f", "jsonl", "-draft.md", cwd=tmp_path)
    assert unknown.returncode == 2 and unknown.stderr.startswith("krcoach: error: No such option: -draft.md")


#: What a review with the rules engine never needs: the CLI framework it left, the llm stack, the
#: web app, pydantic's plugin scan (run by the first validated model) and the plan review.
NOT_ON_THE_RULES_PATH = ("typer", "click", "pydantic.plugin._loader", "importlib.metadata", "gradio", "openai",
                         "instructor", "httpx", "krcoach.plan")


def test_a_rules_review_imports_only_what_it_needs(tmp_path: Path) -> None:
    """A JSONL review with every objective- and set-level finding and an ambition issue (so every
    record the checks build is built; --fail-on counts them), without the modules it does not need."""
    src = tmp_path / "okrs.jsonl"
    rows = [{"objective": "Keep customers", "kr": "Reduce monthly churn from 2% to 4%", "owner": "Ana"},
            {"objective": "Keep customers", "kr": "Grow NPS from 30 to 45"}]
    rows += [{"objective": f"Reach 10k users in market {i}", "kr": f"Grow weekly active teams from {i} to {i + 90}"}
             for i in range(5)]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    codes = ["no_owner", "objective_has_numbers", "shared_gap", "too_few_krs", "too_many_objectives", "wrong_direction"]
    code = ("import sys\nfrom krcoach.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n"
            "    sys.stderr.write(repr(sorted(m for m in %r if m in sys.modules)) + '\\n')\n    raise\n"
            % (NOT_ON_THE_RULES_PATH,))
    proc = subprocess.run([sys.executable, "-c", code, "review", str(src), "-f", "jsonl", "--engine", "rules",
                           "--fail-on", ",".join(codes)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 1, proc.stderr
    *_, failing, imported = proc.stderr.splitlines()
    assert imported == "[]", proc.stderr
    assert failing.startswith("krcoach: failing (--fail-on): ")
    assert [part.split()[0] for part in failing.split("(--fail-on): ", 1)[1].split(", ")] == codes, failing
    assert len(proc.stdout.splitlines()) == 7


@pytest.mark.parametrize(("name", "check"), [
    ("r.json", lambda t: len(json.loads(t)["records"]) == 11),
    ("r.jsonl", lambda t: len([json.loads(l) for l in t.splitlines()]) == 11),
    ("r.ndjson", lambda t: len([json.loads(l) for l in t.splitlines()]) == 11),
    ("r.csv", lambda t: len(list(csv.DictReader(io.StringIO(t)))) == 11),
    ("r.md", lambda t: t.count("### ") == 11),
    ("r.txt", lambda t: "Launch the new onboarding flow" in t and "│" in t),
])
def test_output_extension_picks_the_format(tmp_path: Path, name: str, check) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / name
    proc = run_cli("review", str(EXAMPLE_MD), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert check(out.read_text()), out.read_text()[:500]
    # -f wins over the extension.
    proc = run_cli("review", str(EXAMPLE_MD), "-o", str(out), "-f", "jsonl")
    assert len(out.read_text().splitlines()) == 11


def test_table_shows_why_messages_and_every_rewrite() -> None:
    proc = run_cli("review", str(EXAMPLE_MD), env={"COLUMNS": "100"})
    review = json.loads(run_cli("review", str(EXAMPLE_MD), "-f", "json").stdout)
    flat = " ".join(proc.stdout.replace("│", " ").split())
    for rec in review["records"]:
        assert " ".join(rec["why"].split()) in flat
        for issue in rec["issues"]:
            assert issue["code"] in proc.stdout and " ".join(issue["message"].split()) in flat
        for rw in rec["rewrites"]:
            assert " ".join(rw["text"].split()) in flat
    assert max(len(l) for l in proc.stdout.splitlines()) <= 100
    assert "\x1b[" not in proc.stdout, "no colour codes when stdout is not a terminal"


def test_compact_table_is_one_line_per_kr() -> None:
    proc = run_cli("review", str(EXAMPLE_MD), "--compact")
    assert proc.returncode == 0, proc.stderr
    lines = [l for l in proc.stdout.splitlines() if not l.startswith("!")]
    assert len(lines) == 11
    # The example's title names its cycle ("Q3 OKRs"), so no KR lacks a deadline.
    assert lines[0].split()[:2] == ["1", "output"] and "[activity]" in lines[0]
    assert not any("no_deadline" in l for l in lines)
    assert any(l.startswith("!  objective_has_numbers") for l in proc.stdout.splitlines())


def test_table_is_the_default_and_summary_goes_to_stderr() -> None:
    proc = run_cli("review", str(EXAMPLE_MD), env={"COLUMNS": "220"})
    assert proc.returncode == 0, proc.stderr
    assert "Launch the new onboarding flow" in proc.stdout and "outcome" in proc.stdout
    assert "objective_has_numbers" in proc.stdout
    summary, hint = proc.stderr.splitlines()[-2:]
    assert summary.startswith("krcoach: 11 key results: ")
    # where the rules engine gives no rewrite, the user learns that the llm engine writes one
    assert hint.startswith("krcoach: 2 key results got no rewrite: ") and "OPENAI_BASE_URL" in hint
    assert all(l.startswith("krcoach: note: ") for l in proc.stderr.splitlines()[:-2]), "notes come first"
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "md"])
def test_every_output_format_carries_every_kr(fmt: str) -> None:
    proc = run_cli("review", str(EXAMPLE_CSV), "--format", fmt)
    assert proc.returncode == 0, proc.stderr
    if fmt == "jsonl":
        recs = [json.loads(line) for line in proc.stdout.splitlines()]
        assert [r["id"] for r in recs] == ["growth-1", "growth-2", "growth-3", "support-1", "support-2"]
    elif fmt == "json":
        doc = json.loads(proc.stdout)
        assert len(doc["records"]) == 5 and doc["engine"] == "rules" and "findings" in doc
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(proc.stdout)))
        assert [r["id"] for r in rows] == ["growth-1", "growth-2", "growth-3", "support-1", "support-2"]
    else:
        assert proc.stdout.count("### ") == 5


def test_stdin_with_dash_and_sniffed_format() -> None:
    proc = run_cli("review", "-", "-f", "jsonl", stdin="- Launch the campaign\n- Grow MAU from 1k to 2k\n")
    assert [json.loads(l)["kind"] for l in proc.stdout.splitlines()] == ["output", "outcome"]
    proc = run_cli("review", "-", "-f", "jsonl", stdin='{"kr": "Ship v2", "id": "a"}\n')
    assert json.loads(proc.stdout)["id"] == "a"
    proc = run_cli("review", "-", "-f", "jsonl", stdin="kr;owner\nShip v2;Ana\n")
    assert json.loads(proc.stdout)["owner"] == "Ana"


def test_input_format_overrides_extension(tmp_path: Path) -> None:
    f = tmp_path / "okrs.data"
    f.write_text('{"kr": "Ship v2"}\n')
    proc = run_cli("review", str(f), "--input-format", "jsonl", "-f", "jsonl")
    assert proc.returncode == 0 and json.loads(proc.stdout)["kr"] == "Ship v2"


def test_several_files_in_one_run() -> None:
    proc = run_cli("review", str(EXAMPLE_MD), str(EXAMPLE_CSV), "-f", "jsonl")
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == 16


def test_output_file_is_written_and_stdout_stays_empty(tmp_path: Path) -> None:
    out = tmp_path / "review.json"
    proc = run_cli("review", str(EXAMPLE_MD), "-f", "json", "-o", str(out))
    assert proc.returncode == 0 and proc.stdout == ""
    assert len(json.loads(out.read_text())["records"]) == 11
    assert [p.name for p in tmp_path.iterdir()] == ["review.json"], "no temporary file left behind"


BAD_INPUTS = [
    ("empty.csv", b"", "empty.csv: file is empty"),
    ("binary.csv", b"kr\n\x00\x01\x02", "binary.csv: looks like a binary file, not text"),
    ("latin1.csv", "kr\nCafé sales up\n".encode("latin-1"), "latin1.csv: line 2: text is not UTF-8"),
    ("nokr.csv", b"objective,text\nGrow,Do things\n", "nokr.csv: row 1: no 'kr' or 'key_result' column"),
    ("broken.jsonl", b'{"kr": "ok"}\n{"kr": broken\n', "broken.jsonl: line 2: not valid JSON"),
    ("long.csv", b"kr\n" + b"x" * 2100 + b"\n", "long.csv: row 2: field 'kr' is 2,100 characters"),
    ("notes.docx", b"- hi\n", "notes.docx: unknown extension .docx"),
    ("deep.json", b"[" * 100_000 + b"]" * 100_000, "deep.json: nested too deeply to read"),
    ("number.jsonl", b'{"kr": "ok"}\n{"kr": "ok", "id": ' + b"1" * 5000 + b"}\n",
     "number.jsonl: line 2: a number with 5,000 digits; the limit is 4,300"),
]


@pytest.mark.parametrize(("name", "data", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path: Path, name: str, data: bytes,
                                                         message: str) -> None:
    bad = tmp_path / name
    bad.write_bytes(data)
    good = tmp_path / "good.md"
    good.write_text("- Launch the campaign\n")
    out = tmp_path / "out.jsonl"
    # The good file comes first: validation of every input happens before any work starts.
    proc = run_cli("review", str(good), str(bad), "-f", "jsonl", "-o", str(out))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("krcoach: error: ") and message in proc.stderr
    assert proc.stdout == "" and not out.exists()


def test_missing_file_and_directory_are_usage_errors(tmp_path: Path) -> None:
    proc = run_cli("review", str(tmp_path / "nope.md"))
    assert proc.returncode == 2 and "nope.md: no such file" in proc.stderr
    proc = run_cli("review", str(tmp_path))
    assert proc.returncode == 2 and "is a directory" in proc.stderr
    proc = run_cli("review", str(EXAMPLE_MD), "--format", "xml")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_unknown_engine_in_environment_is_a_usage_error() -> None:
    proc = run_cli("review", str(EXAMPLE_MD), env={"KRCOACH_ENGINE": "magic"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr == ("krcoach: error: unknown engine 'magic' (from KRCOACH_ENGINE): "
                           "use one of auto, rules, llm\n")


def test_skipped_lines_are_notes_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    from krcoach import cli
    from krcoach.models import OKRSet, SkippedLine

    okrs = OKRSet(skipped=[SkippedLine(source="okrs.md", line=n, text="???", reason="not an objective or KR")
                           for n in range(1, cli.MAX_NOTES + 3)])
    cli._notes([okrs])
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "krcoach: note: okrs.md:1: not an objective or KR"
    assert len(err) == cli.MAX_NOTES + 1 and err[-1] == "krcoach: note: 2 more skipped lines not listed"


def _in_process(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                stdin: str | None = None) -> tuple[int, str, str]:
    """`krcoach ARGS` run by `cli.main` in this process (so a test can patch the library): the exit
    code, stdout and stderr."""
    from krcoach import cli

    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8"))
    with pytest.raises(SystemExit) as exited:
        cli.main(args)
    out = capsys.readouterr()
    return exited.value.code, out.out, out.err


def test_cycle_option_reaches_the_review(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from krcoach import coach

    seen = []
    real = coach.iter_review

    def spy(okrs, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(okrs.cycle)
        return real(okrs, *args, **kwargs)

    monkeypatch.setattr(coach, "iter_review", spy)
    code, out, err = _in_process(["review", "-", "-f", "jsonl", "--cycle", "2026-Q1", "--engine", "rules"], capsys,
                                 monkeypatch, stdin="- Grow MAU from 1k to 2k\n")
    assert code == 0, err
    assert seen == ["2026-Q1"] and json.loads(out)["kind"] == "outcome"


def test_eval_cycle_sets_the_context_of_every_objective() -> None:
    from krcoach.cli import _CycleEngine
    from krcoach.engine import Engine, ReviewContext
    from krcoach.models import Objective

    class Inner:
        name, model, parallel = "rules", None, False

        def review_objective(self, objective, context):  # type: ignore[no-untyped-def]
            return [context.cycle]

    eng = _CycleEngine(Inner(), "2026-Q1")  # type: ignore[arg-type]
    assert isinstance(eng, Engine) and eng.name == "rules"
    assert eng.review_objective(Objective(), ReviewContext()) == ["2026-Q1"]
    assert eng.review_objective(Objective(), ReviewContext(cycle="H2")) == ["H2"], "a cycle read from the file wins"


@pytest.fixture(scope="module")
def big_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("big") / "big.jsonl"
    with src.open("w") as fh:
        for i in range(200_000):
            fh.write(json.dumps({"kr": f"Grow weekly active teams from {i} to {i + 50} by Q{i % 4 + 1}",
                                 "objective": f"Objective {i // 3}"}) + "\n")
    return src


def _default_signals() -> None:
    """In the child: Ctrl-C as a fresh shell would deliver it. A background job (`make test &`)
    starts with SIGINT ignored, and a child inherits that, so the test would wait forever."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGINT, 130, b"interrupted"),
                                                   (signal.SIGTERM, 143, b"terminated")],
                         ids=["interrupt-sigint", "interrupt-sigterm"])
def test_interrupted_run_keeps_every_finished_line(big_jsonl: Path, tmp_path: Path, sig: int, code: int,
                                                   word: bytes) -> None:
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([*KRCOACH, "review", str(big_jsonl), "-f", "jsonl", "-o", str(out)],
                            stderr=subprocess.PIPE, cwd=ROOT, env=os.environ.copy(), preexec_fn=_default_signals)
    deadline = time.time() + 60
    while (not out.exists() or out.stat().st_size < 200_000) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert err.startswith(b"krcoach: " + word + b" after ") and b"of 200,000 key results" in err, err
    assert b"finished records were kept" in err
    lines = out.read_text().splitlines()
    assert 0 < len(lines) < 200_000
    for line in lines:
        json.loads(line)  # every line written is complete


def test_terminated_whole_document_leaves_no_file(big_jsonl: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    proc = subprocess.Popen([*KRCOACH, "review", str(big_jsonl), "-o", str(out)], stderr=subprocess.PIPE,
                            cwd=ROOT, env=os.environ.copy(), preexec_fn=_default_signals)
    deadline = time.time() + 60
    while not any(tmp_path.iterdir()) and time.time() < deadline:  # the temporary file is open
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert b"nothing was written to" in err
    assert list(tmp_path.iterdir()) == []


def test_python_module_and_console_script_agree() -> None:
    script = Path(sys.executable).with_name("krcoach")
    if not script.exists():
        pytest.fail("the console script `krcoach` is not installed next to the interpreter")
    a = subprocess.run([str(script), "review", str(EXAMPLE_CSV), "-f", "jsonl"], capture_output=True, text=True)
    b = run_cli("review", str(EXAMPLE_CSV), "-f", "jsonl")
    assert a.returncode == 0 and a.stdout == b.stdout


# ------------------------------------------------------------------------- streamed row inputs

ROWS = [
    {"id": "a1", "objective": "Grow adoption", "kr": "Grow weekly active teams from 120 to 300", "owner": "Ana"},
    {"id": "b1", "objective": "Cut churn", "kr": "Cut monthly churn from 4% to 2% by end of Q3"},
    {"id": "a2", "objective": "Grow adoption", "kr": "Launch the referral programme", "Region": "EMEA"},
    {"id": "b2", "objective": "Cut churn", "kr": "Hold 10 customer interviews"},
    {"id": "a3", "objective": "Grow adoption", "kr": "Publish 5 case studies"},
]


def _rows_file(tmp_path: Path, fmt: str) -> Path:
    src = tmp_path / f"okrs.{fmt}"
    if fmt == "jsonl":
        src.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    else:
        with src.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(k for r in ROWS for k in r)))
            w.writeheader()
            w.writerows(ROWS)
    return src


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_streamed_output_is_the_output_of_the_whole_set(tmp_path: Path, fmt: str) -> None:
    """`-f jsonl`/`-f csv` without a plan review read the input one objective at a time; with
    --plan they hold the whole set. The records are the same bytes, scattered objectives included."""
    from krcoach import coach, formats

    src = _rows_file(tmp_path, fmt)
    streamed, whole = tmp_path / f"streamed.{fmt}", tmp_path / f"whole.{fmt}"
    a = run_cli("review", str(src), "-f", fmt, "-o", str(streamed), "--no-plan", "--engine", "rules")
    b = run_cli("review", str(src), "-f", fmt, "-o", str(whole), "--plan", "--engine", "rules")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert streamed.read_bytes() == whole.read_bytes()
    expected = formats.render(coach.review(formats.read_path(src), "rules", plan=False), fmt)
    assert streamed.read_text() == expected
    ids = [json.loads(line)["id"] for line in expected.splitlines()] if fmt == "jsonl" else \
        [r["id"] for r in csv.DictReader(io.StringIO(expected))]
    assert ids == ["a1", "a2", "a3", "b1", "b2"]  # each objective's KRs together, in order of first appearance
    assert a.stderr.splitlines()[0].split(" (engine")[0] == b.stderr.splitlines()[0].split(" (engine")[0]
    # Standard input is streamed the same way (copied to a temporary file, read twice).
    piped = run_cli("review", "-", "-f", fmt, "--input-format", fmt, "--no-plan", "--engine", "rules",
                    stdin=src.read_bytes())
    assert piped.returncode == 0 and piped.stdout == expected, piped.stderr


def test_a_failure_while_streaming_keeps_the_records_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """An input error after records were written (the file changed between the two passes): one
    line naming the file, exit code 2, and every complete record written before it stays."""
    from krcoach.formats.errors import InputError
    from krcoach.formats.rows import RowFile

    src = _rows_file(tmp_path, "jsonl")
    out = tmp_path / "out.jsonl"
    real = RowFile.objectives

    def first_then_fail(self, team=None):  # type: ignore[no-untyped-def]
        gen = real(self, team)
        yield next(gen)
        raise InputError(self.source, None, "changed while it was being read; run again")

    monkeypatch.setattr(RowFile, "objectives", first_then_fail)
    code, stdout, err = _in_process(["review", str(src), "-f", "jsonl", "-o", str(out), "--engine", "rules"], capsys,
                                    monkeypatch)
    assert code == 2 and stdout == "", err
    errors = [line for line in err.splitlines() if line.startswith("krcoach: error: ")]
    assert errors == [f"krcoach: error: {src}: changed while it was being read; run again"] == err.splitlines()[-1:]
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["a1", "a2", "a3"]
