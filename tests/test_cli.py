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
    assert proc.stderr.startswith("krcoach: 1 key result, 0 outcomes, 1 output, 1 need work (engine rules")


def test_table_is_the_default_and_summary_goes_to_stderr() -> None:
    proc = run_cli("review", str(EXAMPLE_MD), env={"COLUMNS": "220"})
    assert proc.returncode == 0, proc.stderr
    assert "Launch the new onboarding flow" in proc.stdout and "outcome" in proc.stdout
    assert "objective_has_numbers" in proc.stdout
    assert proc.stderr.startswith("krcoach: 11 key results")
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


def test_interrupted_run_keeps_every_finished_line(tmp_path: Path) -> None:
    src = tmp_path / "big.jsonl"
    with src.open("w") as fh:
        for i in range(200_000):
            fh.write(json.dumps({"kr": f"Grow weekly active teams from {i} to {i + 50} by Q{i % 4 + 1}",
                                 "objective": f"Objective {i // 3}"}) + "\n")
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([*KRCOACH, "review", str(src), "-f", "jsonl", "-o", str(out)],
                            stderr=subprocess.PIPE, cwd=ROOT, env=os.environ.copy())
    deadline = time.time() + 60
    while (not out.exists() or out.stat().st_size < 200_000) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert b"interrupted" in err
    lines = out.read_text().splitlines()
    assert 0 < len(lines) < 200_000
    for line in lines:
        json.loads(line)  # every line written is complete


def test_python_module_and_console_script_agree() -> None:
    script = Path(sys.executable).with_name("krcoach")
    if not script.exists():
        pytest.fail("the console script `krcoach` is not installed next to the interpreter")
    a = subprocess.run([str(script), "review", str(EXAMPLE_CSV), "-f", "jsonl"], capture_output=True, text=True)
    b = run_cli("review", str(EXAMPLE_CSV), "-f", "jsonl")
    assert a.returncode == 0 and a.stdout == b.stdout
