"""Rules-engine speed and the CLI's start-up and memory, each beside a reference measured in the same run.

    .venv/bin/python bench/bench_rules.py            # everything (about 5 minutes on 2 cores)
    .venv/bin/python bench/bench_rules.py --quick    # throughput and cold start only

What it prints, with PASS/FAIL against the targets:

- **Throughput**: CPU time of `RulesEngine.review_objective` over 10,000 varied KRs (`bench/corpus.py`:
  the eval and development sets with systematic variations, almost all distinct, so no cache hides
  the cost), in KR/s. Beside it, the same measurement of reference engines taken from git in this
  run (`--reference REV`, repeatable; default: 92f5a14, the engine before this work, and ba5a334^,
  the engine before the quantity reader and the learned verdict). Each figure is the best of three
  runs in fresh processes, alternating, so a loaded machine shows in both. Target: >= 5,000 KR/s.
  Also the whole in-process `coach.review` and the CLI (JSONL in, JSONL out).
- **Cold start**: `krcoach review one.jsonl -f jsonl` beside `python -c "import pydantic"`, medians
  of interleaved runs, with byte code compiled first as an install has it. Target: <= 3x.
- **Memory**: peak RSS of `krcoach review N.jsonl -f jsonl -o out.jsonl` at 20,000 and 100,000 KRs,
  extrapolated linearly to 1,000,000. Target: <= 200 MiB at 1M.
"""

from __future__ import annotations

import argparse
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

from corpus import DEV, distinct_share, varied_rows  # noqa: E402
from measure import child_peak_kib  # noqa: E402

N = 10_000
DEFAULT_REFERENCES = ("92f5a14", "ba5a334^")
REFERENCE_NAMES = {"92f5a14": "before this work", "ba5a334^": "before the quantity reader and learned verdict"}
TARGET_KR_S = 5_000
TARGET_COLD = 3.0
TARGET_MIB_AT_1M = 200
#: Every child process runs here, a folder with no `krcoach` in it: with `-c` or `-m` Python puts
#: the working directory first on its path, which would hide a reference given by PYTHONPATH.
CWD = tempfile.gettempdir()


# ------------------------------------------------------------------------------------ measuring in a child

def engine_kr_s(rows_file: str) -> float:
    """CPU KR/s of the importable `krcoach`'s rules engine over the rows (run in a fresh process)."""
    import gc

    from krcoach.engine import ReviewContext
    from krcoach.models import KeyResult, Objective
    from krcoach.rules.engine import RulesEngine

    groups: dict[str, list] = {}
    for line in Path(rows_file).read_text("utf-8").splitlines():
        r = json.loads(line)
        groups.setdefault(r["objective"], []).append(KeyResult(id=r["id"], kr=r["kr"]))
    objectives = [Objective(title=t or None, krs=k) for t, k in groups.items()]
    engine, context = RulesEngine(), ReviewContext()
    engine.review_objective(objectives[0], context)  # the lexicon and weights load
    gc.disable()  # as `coach` runs a batch
    started = time.process_time()
    for objective in objectives:
        engine.review_objective(objective, context)
    return sum(len(o.krs) for o in objectives) / (time.process_time() - started)


def review_kr_s(rows_file: str) -> float:
    """CPU KR/s of the whole in-process `coach.review` (checks, ambition, findings included)."""
    from krcoach.coach import review
    from krcoach.models import KeyResult, Objective, OKRSet

    groups: dict[str, list] = {}
    for line in Path(rows_file).read_text("utf-8").splitlines():
        r = json.loads(line)
        groups.setdefault(r["objective"], []).append(KeyResult(id=r["id"], kr=r["kr"]))
    okrs = OKRSet(objectives=[Objective(title=t or None, krs=k) for t, k in groups.items()])
    review(OKRSet(objectives=okrs.objectives[:3]), "rules")
    started = time.process_time()
    review(okrs, "rules")
    return len(okrs.key_results()) / (time.process_time() - started)


def _child(what: str, rows_file: str, pythonpath: str | None) -> float:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", what, rows_file], env=env, check=True,
                         capture_output=True, text=True, cwd=CWD).stdout
    return float(out.strip().splitlines()[-1])


def _extract(rev: str, into: Path) -> Path | None:
    """The `krcoach` package at git revision `rev`, unpacked under `into` (None without git)."""
    target = into / rev.replace("^", "p").replace("/", "_")
    target.mkdir(parents=True, exist_ok=True)
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "krcoach"], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(target)], check=False, capture_output=True,
                   env=_bytecode_env())
    return target


def _bytecode_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an install has its byte code; measure that
    return env


# ------------------------------------------------------------------------------------ the sections

def throughput(rows_file: str, references: dict[str, Path]) -> float:
    best: dict[str, float] = {}
    for _ in range(3):  # alternate, best of three: the same load falls on each
        for label, path in [("current", None), *references.items()]:
            kr_s = _child("engine", rows_file, str(path) if path else None)
            best[label] = max(best.get(label, 0.0), kr_s)
    current = best["current"]
    print(f"  rules engine, current:      {current:8,.0f} KR/s of CPU  target >= {TARGET_KR_S:,}  "
          f"{'PASS' if current >= TARGET_KR_S else 'FAIL'}")
    for label in references:
        print(f"  reference {label:16s} {best[label]:8,.0f} KR/s ({REFERENCE_NAMES.get(label, 'git revision')}); "
              f"current is {current / best[label]:.2f}x")
    whole = _child("review", rows_file, None)
    print(f"  whole coach.review (checks, ambition, findings): {whole:,.0f} KR/s of CPU")
    return current


def cli_throughput(rows_file: str, tmp: Path) -> None:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "krcoach.cli", "review", rows_file, "-f", "jsonl", "-o",
                    str(tmp / "out.jsonl")], check=True, stderr=subprocess.DEVNULL, env=_bytecode_env(), cwd=CWD)
    n = sum(1 for _ in open(rows_file, encoding="utf-8"))
    print(f"  CLI (JSONL in, JSONL out): {n / (time.perf_counter() - started):,.0f} KR/s wall")


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=CWD)
    return time.perf_counter() - started


def cold_start(tmp: Path, references: dict[str, Path]) -> float:
    one = tmp / "one.jsonl"
    one.write_text(json.dumps({"id": "1", "objective": "Teams adopt the product",
                               "kr": "Grow weekly active teams from 120 to 300 by end of Q3"}) + "\n")
    env = _bytecode_env()
    cli = [sys.executable, "-c", "import sys; from krcoach.cli import main; sys.argv[0] = 'krcoach'; main()",
           "review", str(one), "-f", "jsonl"]
    ref = [sys.executable, "-c", "import pydantic"]
    runs: dict[str, list[float]] = {"pydantic": [], "current": [], **{k: [] for k in references}}
    envs = {"current": env, **{k: {**env, "PYTHONPATH": str(p)} for k, p in references.items()}}
    for label, e in envs.items():  # compile byte code, fill the file cache
        _wall(cli, e)
    _wall(ref, env)
    for _ in range(9):
        runs["pydantic"].append(_wall(ref, env))
        for label, e in envs.items():
            runs[label].append(_wall(cli, e))
    med = {k: statistics.median(v) for k, v in runs.items()}
    ratio = med["current"] / med["pydantic"]
    print(f"  python -c 'import pydantic': median {med['pydantic'] * 1000:.0f} ms")
    print(f"  krcoach review one.jsonl, current: median {med['current'] * 1000:.0f} ms = {ratio:.2f}x  "
          f"target <= {TARGET_COLD:g}x  {'PASS' if ratio <= TARGET_COLD else 'FAIL'}")
    for label in references:
        print(f"  krcoach review one.jsonl, reference {label}: median {med[label] * 1000:.0f} ms = "
              f"{med[label] / med['pydantic']:.2f}x")
    return ratio


def memory(tmp: Path, references: dict[str, Path]) -> float:
    sizes = (20_000, 100_000)
    files = {}
    for n in sizes:
        files[n] = tmp / f"krs{n}.jsonl"
        files[n].write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in varied_rows(n)), "utf-8")
    env = _bytecode_env()
    result = 0.0
    for label, path in [("current", None), *references.items()][:2]:
        e = {**env, "PYTHONPATH": str(path)} if path else env
        peak = {n: child_peak_kib([sys.executable, "-m", "krcoach.cli", "review", str(files[n]), "-f", "jsonl",
                                   "-o", str(tmp / "mem.jsonl")], e, CWD) for n in sizes}
        per_kr = (peak[sizes[1]] - peak[sizes[0]]) * 1024 / (sizes[1] - sizes[0])
        at_1m = (peak[sizes[1]] * 1024 + per_kr * (1_000_000 - sizes[1])) / 2**20
        name = "current" if path is None else f"reference {label}"
        verdict = (f"target <= {TARGET_MIB_AT_1M} MiB  {'PASS' if at_1m <= TARGET_MIB_AT_1M else 'FAIL'}"
                   if path is None else "")
        print(f"  {name}: peak RSS {peak[sizes[0]] / 1024:,.0f} MiB at {sizes[0]:,} KRs, "
              f"{peak[sizes[1]] / 1024:,.0f} MiB at {sizes[1]:,}: {per_kr / 1024:.2f} KiB per KR, "
              f"about {at_1m:,.0f} MiB at 1,000,000  {verdict}")
        if path is None:
            result = at_1m
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="throughput and cold start only")
    parser.add_argument("--reference", action="append", help="a git revision to measure beside the current code")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        what, rows_file = args.child
        print(engine_kr_s(rows_file) if what == "engine" else review_kr_s(rows_file))
        return 0

    global CWD
    rows = varied_rows(N)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        CWD = folder
        rows_file = tmp / "varied.jsonl"
        rows_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
        references = {}
        for rev in args.reference or DEFAULT_REFERENCES:
            path = _extract(rev, tmp / "ref")
            if path is None:
                print(f"  (no reference {rev}: git is not available here)")
            else:
                references[rev] = path
        sources = "evals/krs.jsonl and the dev set" if DEV.exists() else "evals/krs.jsonl (no dev set here)"
        print(f"rules engine: {N:,} varied KRs ({distinct_share(rows):.1%} distinct) from {sources}")
        throughput(str(rows_file), references)
        cli_throughput(str(rows_file), tmp)
        print("cold start")
        cold_start(tmp, {k: v for k, v in references.items() if k == DEFAULT_REFERENCES[0]})
        if not args.quick:
            print("memory (krcoach review N.jsonl -f jsonl -o out.jsonl)")
            memory(tmp, {k: v for k, v in references.items() if k == DEFAULT_REFERENCES[0]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
