"""Benchmark the llm engine's batch path against the scripted server with a fixed latency.

200 objectives of 3 KRs at concurrency 16, every request answered after 200 ms by
tests/fake_openai.py running in its own process (so its work does not share our GIL). Prints:
- the wall time beside the ideal, ceil(200 / 16) x 0.2 s, and the request count (one per objective);
- a naive loop that sends one request per KR, one after another, measured on a subset and
  extrapolated to all 600 KRs (said so in the output);
- the second run of the same batch, served by the answer cache.

Targets: wall <= 1.15 x ideal; 200 requests; cached run sends 0 requests and takes < 1 s.
Usage: .venv/bin/python bench/bench_llm.py [--objectives 200] [--krs 3] [--concurrency 16] [--delay 0.2]
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from krcoach.llm.cache import AnswerCache  # noqa: E402
from krcoach.coach import review  # noqa: E402
from krcoach.llm.engine import LLMEngine  # noqa: E402
from krcoach.models import KeyResult, Objective, OKRSet  # noqa: E402


def start_server(delay: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_openai.py"), "--delay", str(delay)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        raise SystemExit(f"fake server did not start: {url!r}")
    return proc, url


def requests_so_far(url: str) -> int:
    root = url.rsplit("/v1", 1)[0]
    with urllib.request.urlopen(f"{root}/_stats", timeout=5) as resp:
        return int(json.load(resp)["requests"])


def batch(objectives: int, krs: int) -> OKRSet:
    metrics = ["weekly signups", "trial-to-paid conversion", "monthly churn", "NPS", "p95 latency (ms)"]
    return OKRSet(objectives=[
        Objective(title=f"Objective {i}: grow product {i}", krs=[
            KeyResult(id=f"{i}.{j}", kr=f"Increase {metrics[(i + j) % len(metrics)]} for product {i} "
                                        f"from {10 + j} to {40 + i + j} by Q{j % 4 + 1}")
            for j in range(krs)])
        for i in range(objectives)])


def main() -> int:
    ap = argparse.ArgumentParser(description="llm engine batch benchmark")
    ap.add_argument("--objectives", type=int, default=200)
    ap.add_argument("--krs", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--naive-sample", type=int, default=20, help="KRs timed one by one, then extrapolated")
    args = ap.parse_args()

    proc, url = start_server(args.delay)
    results: list[tuple[str, bool]] = []
    try:
        okrs = batch(args.objectives, args.krs)
        n_krs = args.objectives * args.krs
        with tempfile.TemporaryDirectory(prefix="krcoach-bench-cache-") as cache_dir:
            def engine(cached: bool = True) -> LLMEngine:
                return LLMEngine(base_url=url, api_key="sk-bench-not-secret", model="fake-coach-1",
                                 cache=AnswerCache(cache_dir) if cached else None)

            # warm-up: imports, schema generation, first connection (not timed)
            review(batch(1, 1), engine(cached=False))

            before = requests_so_far(url)
            eng = engine()
            t0 = time.perf_counter()
            result = review(okrs, eng, concurrency=args.concurrency)
            wall = time.perf_counter() - t0
            sent = requests_so_far(url) - before
            statuses = {r["status"] for r in result.records()}

            ideal = math.ceil(args.objectives / args.concurrency) * args.delay
            print(f"mode={eng.mode}  {args.objectives} objectives x {args.krs} KRs = {n_krs} KRs, "
                  f"concurrency {args.concurrency}, server latency {args.delay * 1000:.0f} ms")
            print(f"batch:   wall {wall:.2f} s   ideal {ideal:.2f} s   ratio {wall / ideal:.3f}   "
                  f"requests {sent}   statuses {sorted(statuses)}")

            sample = OKRSet(objectives=[Objective(title=o.title, krs=[kr])
                                        for o in okrs.objectives for kr in o.krs][:args.naive_sample])
            t0 = time.perf_counter()
            review(sample, engine(cached=False), concurrency=1)
            naive_sample = time.perf_counter() - t0
            naive = naive_sample / args.naive_sample * n_krs
            print(f"naive:   one request per KR, sequential: {naive_sample:.2f} s for {args.naive_sample} KRs "
                  f"measured, extrapolated to {n_krs} KRs = {naive:.1f} s ({naive / wall:.0f}x slower)")

            before = requests_so_far(url)
            t0 = time.perf_counter()
            cached = review(okrs, engine(), concurrency=args.concurrency)
            cached_wall = time.perf_counter() - t0
            cached_sent = requests_so_far(url) - before
            same = cached.records() == result.records()
            print(f"cached:  wall {cached_wall:.3f} s   requests {cached_sent}   identical records {same}")

        results = [
            (f"wall {wall:.2f} s <= 1.15 x ideal ({1.15 * ideal:.2f} s)", wall <= 1.15 * ideal),
            (f"one request per objective ({sent} == {args.objectives})", sent == args.objectives),
            (f"every record ok ({sorted(statuses)})", statuses == {"ok"}),
            (f"cached run sends 0 requests ({cached_sent})", cached_sent == 0),
            (f"cached run under 1 s ({cached_wall:.3f} s)", cached_wall < 1.0),
            ("cached records identical", same),
        ]
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=10)
    for label, passed in results:
        print(f"{'PASS' if passed else 'FAIL'}  {label}")
    return 0 if results and all(p for _, p in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
