"""Rules-engine throughput, beside reference engines measured in the same run.

    .venv/bin/python bench/bench_rules.py                      # about 2 minutes on 2 cores
    .venv/bin/python bench/bench_rules.py --quick              # the engine and its references only
    .venv/bin/python bench/bench_rules.py --reference REV      # compare with the engine at git REV (repeatable)

What it prints, with PASS/FAIL against the target:

- **Throughput**: CPU time of `RulesEngine.review_objective` over 10,000 varied KRs (`bench/corpus.py`:
  the eval and development sets with systematic variations, almost all distinct, so no cache hides
  the cost), in KR/s. Beside it, the same measurement of reference engines taken from git in this
  run (`--reference REV`, repeatable; default: HEAD, the last commit, and 92f5a14, the engine before
  the first speed work). A reference from before the subpackages (`krcoach/rules.py`) is measured
  as well as one after. Each figure is the best of three runs in
  fresh processes, alternating, so a loaded machine shows in all of them. Target: >= 5,000 KR/s.
  Without `--quick`, also the whole in-process `coach.review` and the CLI (JSONL in, JSONL out).

The CLI's cold start and memory are measured by `bench/bench_cli.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from corpus import DEV, distinct_share, varied_rows  # noqa: E402
from measure import package_at  # noqa: E402

N = 10_000
DEFAULT_REFERENCES = ("HEAD", "92f5a14")
REFERENCE_NAMES = {"HEAD": "the last commit", "92f5a14": "before the first speed work",
                   "ba5a334^": "before the quantity reader and learned verdict"}
TARGET_KR_S = 5_000
#: Every child process runs here, a folder with no `krcoach` in it: with `-c` or `-m` Python puts
#: the working directory first on its path, which would hide a reference given by PYTHONPATH.
CWD = tempfile.gettempdir()


# ------------------------------------------------------------------------------------ measuring in a child

def _objectives(rows_file: str) -> list:
    """The rows as objectives of the importable `krcoach` (the current code or a reference)."""
    from krcoach.models import KeyResult, Objective

    groups: dict[str, list] = {}
    for line in Path(rows_file).read_text("utf-8").splitlines():
        r = json.loads(line)
        groups.setdefault(r["objective"], []).append(KeyResult(id=r["id"], kr=r["kr"]))
    return [Objective(title=t or None, krs=k) for t, k in groups.items()]


def engine_kr_s(rows_file: str) -> float:
    """CPU KR/s of the importable `krcoach`'s rules engine over the rows (run in a fresh process)."""
    import gc

    from krcoach.engine import ReviewContext

    try:
        from krcoach.rules.engine import RulesEngine
    except ImportError:  # a reference from before the subpackages: `krcoach/rules.py`
        from krcoach.rules import RulesEngine  # type: ignore[no-redef]

    objectives = _objectives(rows_file)
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
    from krcoach.models import OKRSet

    okrs = OKRSet(objectives=_objectives(rows_file))
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
    return package_at(rev, ROOT, into, _bytecode_env())


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
    return current


def whole_review(rows_file: str) -> None:
    whole = _child("review", rows_file, None)
    print(f"  whole coach.review (checks, ambition, findings): {whole:,.0f} KR/s of CPU")


def cli_throughput(rows_file: str, tmp: Path) -> None:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "krcoach.cli", "review", rows_file, "-f", "jsonl", "-o",
                    str(tmp / "out.jsonl")], check=True, stderr=subprocess.DEVNULL, env=_bytecode_env(), cwd=CWD)
    n = sum(1 for _ in open(rows_file, encoding="utf-8"))
    print(f"  CLI (JSONL in, JSONL out): {n / (time.perf_counter() - started):,.0f} KR/s wall")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the engine and its references only")
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
        if not args.quick:
            whole_review(str(rows_file))
            cli_throughput(str(rows_file), tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
