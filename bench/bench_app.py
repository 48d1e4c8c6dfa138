"""Benchmark: the `review` endpoint of a launched app, through gradio_client, on the rules engine.

Starts `krcoach.web.app.serve` in a subprocess (the `krcoach serve` code path, fresh temp dirs) and
reviews a 5-objective, 15-KR draft: first with one client, then with 20 concurrent clients
(threads, each with its own `gradio_client.Client`). Prints p50/p95/max latency per round, the
server's resident memory afterwards (VmRSS and VmHWM from /proc/PID/status), and PASS/FAIL per
target. Latency is measured around `Client.predict`, so it includes the client's own work.

    .venv/bin/python bench/bench_app.py [--requests 40] [--clients 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from browser import launch_app  # noqa: E402
from measure import cpu_seconds, memory_kib, percentile  # noqa: E402

P50_TARGET_MS = 100.0
P95_TARGET_MS = 300.0
DRAFT = """\
## Make self-serve the way most new customers start
- Launch the redesigned pricing page (owner: Priya)
- Increase trial-to-paid conversion from 4.2% to 6% by end of Q3
- Publish 12 SEO blog posts

## Customers get value in their first week
- Ship the new onboarding checklist
- Cut median time-to-first-report from 3 days to 1 day by September 30
- Hold 5 customer interviews with churned trials @lea

## A platform product teams trust
- Maintain 99.9% API uptime every month
- Reduce p95 checkout latency from 800ms to 300ms by end of Q4
- Migrate all services to Kubernetes

## Renewals because customers love us
- NPS from 31 to 45 by Q4
- Gross revenue retention 88% -> 93%
- Train the whole CS team on the new playbook

## A place people want to work
- 100% of open roles have a job description
- Launch the mentoring program
- Raise eNPS from 12 to 30 by December
"""


def run_round(url: str, clients: int, per_client: int) -> tuple[list[float], list[str]]:
    from gradio_client import Client

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(clients)

    def worker() -> None:
        # Plain http on 127.0.0.1: no TLS to verify. With ssl_verify on, gradio_client loads the CA
        # bundle for every request (about 45 ms of CPU each), which would measure the client's
        # certificate handling instead of the app.
        client = Client(url, verbose=False, ssl_verify=not url.startswith("http://"))
        client.predict(DRAFT, api_name="/review")  # warm this client's connection
        ready.wait()
        for _ in range(per_client):
            start = time.perf_counter()
            try:
                records = client.predict(DRAFT, api_name="/review")
                ok = len(records) == 15
            except Exception as exc:  # report, never hide
                ok, records = False, repr(exc)
            took = (time.perf_counter() - start) * 1000
            with lock:
                latencies.append(took)
                if not ok:
                    errors.append(str(records)[:200])

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40, help="requests per client per round")
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args(argv)

    results: list[tuple[str, bool]] = []
    with tempfile.TemporaryDirectory(prefix="krcoach-bench-app-") as tmp, \
            launch_app(Path(tmp), engine="rules") as url:
        pid = launch_app.last_pid  # type: ignore[attr-defined]
        print(f"server {url} pid {pid}; draft: 5 objectives, 15 KRs; rules engine")
        print(f"server memory after start: VmRSS {memory_kib(pid)['VmRSS'] / 1024:.0f} MiB")
        for clients, per_client in ((1, args.requests * 2), (args.clients, args.requests)):
            started, server_cpu, client_cpu = time.perf_counter(), cpu_seconds(pid), time.process_time()
            lat, errors = run_round(url, clients, per_client)
            wall = time.perf_counter() - started
            server_cpu, client_cpu = cpu_seconds(pid) - server_cpu, time.process_time() - client_cpu
            p50, p95 = percentile(lat, 0.50), percentile(lat, 0.95)
            print(f"{clients:>2} client(s): {len(lat)} requests in {wall:.1f}s "
                  f"({len(lat) / wall:.0f}/s)  p50 {p50:.1f} ms  p95 {p95:.1f} ms  "
                  f"max {max(lat):.1f} ms  mean {statistics.fmean(lat):.1f} ms  errors {len(errors)}")
            print(f"   CPU per request: server {server_cpu / len(lat) * 1000:.1f} ms, "
                  f"these clients {client_cpu / len(lat) * 1000:.1f} ms "
                  f"({os.cpu_count()} CPUs shared by both)")
            for e in errors[:3]:
                print(f"   error: {e}")
            if clients > 1:
                results.append((f"p50 <= {P50_TARGET_MS:.0f} ms at {clients} clients "
                                f"({p50:.1f} ms)", p50 <= P50_TARGET_MS))
                results.append((f"p95 <= {P95_TARGET_MS:.0f} ms at {clients} clients "
                                f"({p95:.1f} ms)", p95 <= P95_TARGET_MS))
            else:
                results.append((f"p50 <= {P50_TARGET_MS:.0f} ms at 1 client ({p50:.1f} ms)",
                                p50 <= P50_TARGET_MS))
            results.append((f"no errors with {clients} client(s)", not errors))
        mem = memory_kib(pid)
        print(f"server memory after the run: VmRSS {mem['VmRSS'] / 1024:.0f} MiB, "
              f"peak VmHWM {mem['VmHWM'] / 1024:.0f} MiB")
    for label, ok in results:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
