"""The CLI's start-up time and its memory on a large streamed batch, each beside a reference
measured in the same run.

    .venv/bin/python bench/bench_cli.py                    # both (about 5 minutes on 2 cores)
    .venv/bin/python bench/bench_cli.py --quick            # cold start only
    .venv/bin/python bench/bench_cli.py --reference REV    # compare with the CLI at git REV (repeatable)

What it prints, with PASS/FAIL against the targets:

- **Cold start**: `krcoach review one.jsonl -f jsonl` (rules engine) beside `python -c "import
  pydantic"`, medians of interleaved runs, with byte code compiled first as an install has it.
  Target: <= 3x. The reference CLI (default: HEAD, the last commit) is timed in the same rounds.
- **Memory**: peak RSS (the kernel's own count for the child, `bench/measure.child_peak_kib`) of
  `krcoach review N.jsonl -f jsonl -o out.jsonl` and of the same with CSV in and out, at 20,000
  and 100,000 varied KRs (`bench/corpus.py`), extrapolated linearly to 1,000,000. Target: <= 200
  MiB at 1M. The corpus repeats objective titles every 90 variants, so its rows of one objective
  are scattered through the file: the hard case for a streaming reader, on purpose.

Why against a reference in the same run: a loaded machine or another Python shifts every number;
the ratio to `import pydantic` and the reference beside it do not shift with it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from corpus import varied_rows  # noqa: E402
from measure import child_peak_kib, package_at  # noqa: E402

TARGET_COLD = 3.0
TARGET_MIB_AT_1M = 200
SIZES = (20_000, 100_000)
#: Every child process runs here, a folder with no `krcoach` in it: with `-c` or `-m` Python puts
#: the working directory first on its path, which would hide a reference given by PYTHONPATH.
CWD = tempfile.gettempdir()
CLI = "import sys; from krcoach.cli import main; sys.argv[0] = 'krcoach'; main()"


def _bytecode_env(pythonpath: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an install has its byte code; measure that
    env.pop("OPENAI_API_KEY", None)  # the rules engine, as `--engine auto` picks it without a key
    env.pop("OPENAI_BASE_URL", None)
    env["KRCOACH_ENGINE"] = "rules"
    env["PYTHONPATH"] = str(pythonpath or ROOT)
    return env


def _extract(rev: str, into: Path) -> Path | None:
    return package_at(rev, ROOT, into, _bytecode_env())


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=CWD)
    return time.perf_counter() - started


def cold_start(tmp: Path, references: dict[str, Path], rounds: int = 11) -> float:
    """Median wall time of the CLI on one KR, over the median of `import pydantic`, interleaved."""
    one = tmp / "one.jsonl"
    one.write_text(json.dumps({"id": "1", "objective": "Teams adopt the product",
                               "kr": "Grow weekly active teams from 120 to 300 by end of Q3"}) + "\n")
    cli = [sys.executable, "-c", CLI, "review", str(one), "-f", "jsonl"]
    ref = [sys.executable, "-c", "import pydantic"]
    envs = {"current": _bytecode_env(), **{k: _bytecode_env(p) for k, p in references.items()}}
    runs: dict[str, list[float]] = {"pydantic": [], **{k: [] for k in envs}}
    for e in envs.values():  # compile byte code, fill the file cache
        _wall(cli, e)
    _wall(ref, envs["current"])
    for _ in range(rounds):
        runs["pydantic"].append(_wall(ref, envs["current"]))
        for label, e in envs.items():
            runs[label].append(_wall(cli, e))
    med = {k: statistics.median(v) for k, v in runs.items()}
    ratio = med["current"] / med["pydantic"]
    print(f"  python -c 'import pydantic': median {med['pydantic'] * 1000:.0f} ms")
    print(f"  krcoach review one.jsonl -f jsonl, current: median {med['current'] * 1000:.0f} ms = {ratio:.2f}x  "
          f"target <= {TARGET_COLD:g}x  {'PASS' if ratio <= TARGET_COLD else 'FAIL'}")
    for label in references:
        print(f"  krcoach review one.jsonl -f jsonl, reference {label}: median {med[label] * 1000:.0f} ms = "
              f"{med[label] / med['pydantic']:.2f}x")
    return ratio


def _write_inputs(tmp: Path) -> dict[tuple[str, int], Path]:
    files = {}
    for n in SIZES:
        rows = varied_rows(n)
        files["jsonl", n] = tmp / f"krs{n}.jsonl"
        files["jsonl", n].write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
        files["csv", n] = tmp / f"krs{n}.csv"
        with files["csv", n].open("w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["id", "objective", "kr"])
            w.writeheader()
            w.writerows(rows)
    return files


def memory(tmp: Path, references: dict[str, Path], formats: tuple[str, ...] = ("jsonl", "csv")) -> float:
    """Peak RSS at SIZES KRs for each format, extrapolated to 1M; returns the worst current figure."""
    files = _write_inputs(tmp)
    worst = 0.0
    for fmt in formats:
        for label, path in [("current", None), *references.items()]:
            env = _bytecode_env(path)
            out = tmp / f"mem.{fmt}"
            peak = {n: child_peak_kib([sys.executable, "-c", CLI, "review", str(files[fmt, n]), "-f", fmt,
                                       "-o", str(out)], env, CWD) for n in SIZES}
            per_kr = (peak[SIZES[1]] - peak[SIZES[0]]) * 1024 / (SIZES[1] - SIZES[0])
            at_1m = (peak[SIZES[1]] * 1024 + per_kr * (1_000_000 - SIZES[1])) / 2**20
            name = "current" if path is None else f"reference {label}"
            verdict = (f"target <= {TARGET_MIB_AT_1M} MiB  {'PASS' if at_1m <= TARGET_MIB_AT_1M else 'FAIL'}"
                       if path is None else "")
            print(f"  {fmt} {name}: peak RSS {peak[SIZES[0]] / 1024:,.0f} MiB at {SIZES[0]:,} KRs, "
                  f"{peak[SIZES[1]] / 1024:,.0f} MiB at {SIZES[1]:,}: {per_kr / 1024:.2f} KiB per KR, "
                  f"about {at_1m:,.0f} MiB at 1,000,000  {verdict}", flush=True)
            if path is None:
                worst = max(worst, at_1m)
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="cold start only")
    parser.add_argument("--reference", action="append", metavar="REV",
                        help="git revision to compare with (repeatable; default HEAD)")
    parser.add_argument("--no-reference", action="store_true", help="measure the working tree only")
    parser.add_argument("--formats", default="jsonl,csv", help="memory: which formats (default jsonl,csv)")
    args = parser.parse_args()
    revs = [] if args.no_reference else (args.reference or ["HEAD"])
    ok = True
    with tempfile.TemporaryDirectory(prefix="krcoach-bench-cli-") as name:
        tmp = Path(name)
        references = {rev: p for rev in revs if (p := _extract(rev, tmp / "ref")) is not None}
        print("cold start (rules engine, one KR)")
        ok &= cold_start(tmp, references) <= TARGET_COLD
        if not args.quick:
            print("memory (streamed: -f jsonl/csv -o FILE)")
            ok &= memory(tmp, references, tuple(args.formats.split(","))) <= TARGET_MIB_AT_1M
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
