"""Rules-engine speed: throughput in-process and through the CLI, and CLI cold start.

Prints numbers and PASS/FAIL against the targets (>= 5,000 KR/s in-process; cold start <= 3x
`python -c "import pydantic"` measured in the same run). The 10,000 KRs are distinct texts built
from the eval set, so the parser's cache cannot hide the real cost.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
N = 10_000


def make_krs(n: int) -> list[dict[str, str]]:
    base = [json.loads(line) for line in (ROOT / "evals" / "krs.jsonl").read_text().splitlines()]
    rows = []
    for i in range(n):
        src = base[i % len(base)]
        # A distinct but realistic text per row: same shapes, different team suffix.
        rows.append({"id": str(i + 1), "kr": f"{src['kr']} (team {i // len(base) + 1})",
                     "objective": f"{src['objective']} #{i // 4}"})
    return rows


def timed(cmd: list[str], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - t)
    return out


def main() -> int:
    from krcoach.coach import review
    from krcoach.models import KeyResult, Objective, OKRSet
    from krcoach.rules import RulesEngine

    rows = make_krs(N)
    groups: dict[str, list[KeyResult]] = {}
    for r in rows:
        groups.setdefault(r["objective"], []).append(KeyResult(id=r["id"], kr=r["kr"]))
    okrs = OKRSet(objectives=[Objective(title=t, krs=k) for t, k in groups.items()])
    engine = RulesEngine()
    review(OKRSet(objectives=okrs.objectives[:5]), engine)  # warm the lexicon
    t = time.perf_counter()
    result = review(okrs, engine)
    in_process = time.perf_counter() - t
    assert len(result.kr_reviews()) == N
    kr_s = N / in_process

    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.jsonl"
        big.write_text("".join(json.dumps(r) + "\n" for r in rows))
        one = Path(tmp) / "one.md"
        one.write_text("- Grow weekly active teams from 120 to 300 by end of Q3\n")
        t = time.perf_counter()
        subprocess.run([py, "-m", "krcoach.cli", "review", str(big), "-f", "jsonl", "-o", str(Path(tmp) / "o.jsonl")],
                       check=True, stderr=subprocess.DEVNULL)
        cli_s = N / (time.perf_counter() - t)
        env_note = os.environ.get("KRCOACH_BENCH_NOTE", "")
        cold = timed([py, "-m", "krcoach.cli", "review", str(one), "-f", "jsonl"], 7)
        ref = timed([py, "-c", "import pydantic"], 7)
        ref_model = timed([py, "-c", "from pydantic import BaseModel"], 7)

    cold_med, ref_med, ref_model_med = (statistics.median(x) for x in (cold, ref, ref_model))
    ratio = cold_med / ref_med
    print(f"rules engine, {N:,} distinct KRs {env_note}")
    print(f"  in-process throughput: {kr_s:,.0f} KR/s ({in_process:.2f} s)  target >= 5,000  "
          f"{'PASS' if kr_s >= 5000 else 'FAIL'}")
    print(f"  CLI throughput (jsonl file in, file out): {cli_s:,.0f} KR/s")
    print(f"  CLI cold start, one KR: median {cold_med * 1000:.0f} ms over {len(cold)} runs")
    print(f"  python -c 'import pydantic': median {ref_med * 1000:.0f} ms;"
          f" 'from pydantic import BaseModel': {ref_model_med * 1000:.0f} ms")
    print(f"  cold start / import pydantic = {ratio:.2f}x  target <= 3x  {'PASS' if ratio <= 3 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
