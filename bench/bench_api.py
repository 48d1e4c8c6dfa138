"""Benchmark: the JSON review API (`POST /api/review`) and the Gradio `review` endpoint of a
launched app on the rules engine, every number beside a reference measured in the same run.

Starts `krcoach.web.app.serve` in a subprocess (the `krcoach serve` code path, fresh temp dirs) and
reviews the 5-objective, 15-KR draft of `bench_app.py`. Only 127.0.0.1, only bounded loops:

- cost: server CPU per request (the server process and its review workers, from /proc) for the
  JSON API, the Gradio endpoint through `gradio_client` and Gradio's two-step HTTP call without a
  session (the README's old `curl` recipe), beside the library's own review of the same draft
  (`coach.review(parse_outline(draft))`, timed in this process). Target: JSON <= 2x the library.
- latency: p50/p95 at 1 and 20 concurrent clients, for the JSON API (each client a keep-alive
  connection with its own X-Client-Id) and the Gradio endpoint (each client a gradio_client).
  Target: JSON p95 <= 150 ms at 20 clients, 0 errors.
- memory: server RSS over 10,000 requests (6 JSON API clients and 2 making Gradio's two-step
  call without a session, 8 at a time), measured after 1,000 (warm-up) and at the end. Target:
  <= 5% growth. Meanwhile the drafting page and the workshop pages are fetched every half
  second. Target: within 1 s.
- flood: one client (its own process, one X-Client-Id, 24 threads) sends 200-KR drafts back to
  back while 4 other clients review the 15-KR draft one after another; alternating phases
  (idle, flood, idle, flood) give the others' p50/p95 without and with the flood. Two floods:
  one that retries at once after a 429 and one that waits the Retry-After it is given. Target:
  the others' p50 and p95 under the flood within 2x idle.

    .venv/bin/python bench/bench_api.py [--requests 40] [--clients 20] [--total 10000]
                                        [--phase 10] [--only cost,latency,memory,flood]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from bench_app import DRAFT  # noqa: E402
from browser import call_result  # noqa: E402
from measure import cpu_seconds, memory_kib, percentile  # noqa: E402

CPU_FACTOR_TARGET = 2.0
P95_TARGET_MS = 150.0
RSS_GROWTH_TARGET = 0.05
PAGE_TARGET_S = 1.0
FLOOD_FACTOR_TARGET = 2.0
BODY = json.dumps({"text": DRAFT}).encode()
BIG_DRAFT = "\n".join(
    (f"## Objective {i // 20 + 1}\n" if i % 20 == 0 else "")
    + f"- Raise weekly active teams in segment {i} from {i} to {i + 40} by end of Q4"
    for i in range(200))
BIG_BODY = json.dumps({"text": BIG_DRAFT}).encode()


# --------------------------------------------------------------------------------- the server


def tree(pid: int) -> list[int]:
    """`pid` and every process below it (the review workers hang off a fork server)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_cpu(pid: int) -> float:
    total = 0.0
    for p in tree(pid):
        try:
            total += cpu_seconds(p)
        except OSError:
            pass
    return total


def tree_rss_mib(pid: int) -> tuple[float, float]:
    """(the server process, the server and its workers) resident memory in MiB."""
    own = memory_kib(pid)["VmRSS"] / 1024
    total = 0.0
    for p in tree(pid):
        try:
            total += memory_kib(p)["VmRSS"] / 1024
        except (OSError, KeyError):
            pass
    return own, total


# --------------------------------------------------------------------------------- the clients


class JsonClient:
    """One keep-alive connection to the JSON API, as one client (its own X-Client-Id)."""

    def __init__(self, url: str, client_id: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {"Content-Type": "application/json", "X-Client-Id": client_id}
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)

    def post(self, body: bytes = BODY) -> tuple[int, bytes, str | None]:
        for attempt in (1, 2):
            try:
                self.conn.request("POST", "/api/review", body, self.headers)
                resp = self.conn.getresponse()
                return resp.status, resp.read(), resp.getheader("Retry-After")
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def two_step(http: Any, url: str, draft: str = DRAFT) -> Any:
    """Gradio's two-step call with no session of its own (the README's old curl recipe)."""
    r = http.post(f"{url}gradio_api/call/review", json={"data": [draft]})
    r.raise_for_status()
    event, payload = call_result(http, url, "review", r.json()["event_id"])
    if event == "error":
        raise RuntimeError(str(payload)[:200])
    if event == "complete":
        return payload[0]
    raise ConnectionError("the stream ended without a result")


def gradio_client(url: str) -> Any:
    from gradio_client import Client

    # Plain http on 127.0.0.1: nothing to verify (see bench_app.py on ssl_verify).
    return Client(url, verbose=False, ssl_verify=not url.startswith("http://"))


def closed_loop(make: Callable[[int], Any], call: Callable[[Any], bool], clients: int,
                per_client: int) -> tuple[list[float], int]:
    """`clients` threads, each with its own client from `make(i)`, calling back to back."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    ready = threading.Barrier(clients)

    def worker(i: int) -> None:
        nonlocal errors
        client = make(i)
        call(client)  # warm this client's connection
        ready.wait()
        for _ in range(per_client):
            start = time.perf_counter()
            try:
                ok = call(client)
            except Exception:  # noqa: BLE001 - counted, never hidden
                ok = False
            took = (time.perf_counter() - start) * 1000
            with lock:
                latencies.append(took)
                errors += not ok
        if hasattr(client, "close"):
            client.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors


def json_ok(client: JsonClient) -> bool:
    status, data, _ = client.post()
    return status == 200 and len(json.loads(data)["records"]) == 15


class Library:
    """The library's own review of the draft (parse + review), CPU time in this process."""

    def __init__(self) -> None:
        from krcoach import coach, formats
        from krcoach.engine import make_engine

        eng = make_engine("rules")
        self.review = lambda: coach.review(formats.parse_outline(DRAFT), eng)
        for _ in range(30):
            self.review()
        self.seconds, self.count = 0.0, 0

    def run(self, n: int) -> None:
        start = time.process_time()
        for _ in range(n):
            self.review()
        self.seconds += time.process_time() - start
        self.count += n

    @property
    def ms(self) -> float:
        return self.seconds / self.count * 1000


# ------------------------------------------------------------------------------------ the runs


class Report:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []
        self.checks: list[tuple[str, bool]] = []

    def row(self, what: str, result: str, reference: str = "") -> None:
        self.rows.append((what, result, reference))
        print(f"  {what}: {result}" + (f"   [reference: {reference}]" if reference else ""),
              flush=True)

    def check(self, label: str, ok: bool) -> None:
        self.checks.append((label, ok))


def run_cost(url: str, pid: int, rep: Report, n: int) -> None:
    """Server CPU per request beside the library's review, measured in alternating blocks (50
    library reviews, 50 requests, ...) so both see the same load on a shared machine."""
    import httpx

    lib = Library()

    def measure(label: str, call: Callable[[], Any], count: int) -> float:
        for _ in range(10):
            call()
        server, done, before = 0.0, 0, lib.count
        while done < count:
            lib.run(50)
            start = tree_cpu(pid)
            for _ in range(min(50, count - done)):
                call()
            server += tree_cpu(pid) - start
            done += min(50, count - done)
        per = server / count * 1000
        rep.row(f"server CPU per request, {label}", f"{per:.1f} ms ({per / lib.ms:.1f}x library)",
                f"library {lib.ms:.1f} ms ({lib.count - before} reviews in between)")
        return per

    client = JsonClient(url, "bench-cost")
    per = measure("JSON API", lambda: client.post(), n)
    client.close()
    rep.check(f"JSON API server CPU <= {CPU_FACTOR_TARGET:.0f}x the library "
              f"({per / lib.ms:.1f}x)", per <= CPU_FACTOR_TARGET * lib.ms)
    gc = gradio_client(url)
    measure("Gradio `review` via gradio_client", lambda: gc.predict(DRAFT, api_name="/review"),
            max(50, n // 3))
    with httpx.Client(timeout=120) as h:
        measure("Gradio two-step call, no session", lambda: two_step(h, url), max(50, n // 3))
    rep.row("library review of the draft (parse + review, in-process), all blocks",
            f"{lib.ms:.1f} ms CPU")


def run_latency(url: str, rep: Report, requests: int, clients: int) -> None:
    for label, make, call, per in (
        ("JSON API", lambda i: JsonClient(url, f"bench-lat-{i}"), json_ok, requests),
        ("Gradio `review`", lambda i: gradio_client(url),
         lambda c: len(c.predict(DRAFT, api_name="/review")) == 15, requests // 2),
    ):
        for n in (1, clients):
            started = time.perf_counter()
            lat, errors = closed_loop(make, call, n, per * 2 if n == 1 else per)
            wall = time.perf_counter() - started
            p50, p95 = percentile(lat, 0.5), percentile(lat, 0.95)
            rep.row(f"{label}, {n} client(s)", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max "
                    f"{max(lat):.1f} ms, {len(lat) / wall:.0f} req/s, errors {errors}")
            if label == "JSON API" and n > 1:
                rep.check(f"JSON p95 <= {P95_TARGET_MS:.0f} ms at {n} clients ({p95:.1f} ms)",
                          p95 <= P95_TARGET_MS)
                rep.check(f"JSON: no errors at {n} clients ({errors})", errors == 0)


class Prober:
    """Fetches the drafting page and the workshop pages every half second; keeps the slowest."""

    def __init__(self, url: str) -> None:
        self.url, self.worst, self.fails, self.count = url, 0.0, 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import httpx

        with httpx.Client(timeout=30) as h:
            while not self.stop.is_set():
                for path in ("", "workshop", "facilitate"):
                    start = time.perf_counter()
                    try:
                        ok = h.get(self.url + path).status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    self.worst = max(self.worst, time.perf_counter() - start)
                    self.fails += not ok
                    self.count += 1
                self.stop.wait(0.5)

    def __enter__(self) -> Prober:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def run_memory(url: str, pid: int, rep: Report, total: int) -> None:
    import httpx

    # 6 threads call the JSON API, 2 make Gradio's two-step call without a session: those two
    # share one client (the address), whose share they stay within.
    workers, gradio_workers = 8, 2
    done = 0
    errors = 0
    lock = threading.Lock()
    warm = max(1000, total // 10)
    marks: dict[str, tuple[float, float]] = {}
    seen: list[str] = []

    def worker(i: int) -> None:
        nonlocal done, errors
        jc = JsonClient(url, f"bench-mem-{i}")
        with httpx.Client(timeout=120) as h:
            while True:
                with lock:
                    if done >= total:
                        break
                    done += 1
                    n = done
                    if n == warm or n == total // 2:
                        marks[str(n)] = tree_rss_mib(pid)
                what = ""
                try:
                    if i < gradio_workers:
                        ok = len(two_step(h, url)) == 15
                    else:
                        status, data, _ = jc.post()
                        ok, what = status == 200, f"HTTP {status}: {data[:120]!r}"
                except Exception as exc:  # noqa: BLE001 - counted and shown
                    ok, what = False, repr(exc)[:160]
                if not ok:
                    with lock:
                        errors += 1
                        seen.append(what)
        jc.close()

    start_rss = tree_rss_mib(pid)
    started = time.perf_counter()
    with Prober(url) as probe:
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    wall = time.perf_counter() - started
    end = tree_rss_mib(pid)
    base = marks.get(str(warm), start_rss)
    growth = (end[1] - base[1]) / base[1]
    rep.row(f"server RSS over {total:,} requests ({workers} at a time: {workers - gradio_workers} "
            f"JSON API clients, {gradio_workers} making Gradio's two-step call without a session)",
            f"start {start_rss[0]:.0f} MiB (+workers {start_rss[1]:.0f}); after {warm:,} "
            f"{base[0]:.0f} ({base[1]:.0f}); after {total // 2:,} "
            f"{marks.get(str(total // 2), end)[0]:.0f} ({marks.get(str(total // 2), end)[1]:.0f}); "
            f"end {end[0]:.0f} ({end[1]:.0f}); growth after warm-up {growth * 100:+.1f}%; "
            f"{total / wall:.0f} req/s, errors {errors}")
    for what in seen[:3]:
        print(f"   error: {what}")
    rep.row("page and workshop pages during that load", f"slowest {probe.worst * 1000:.0f} ms "
            f"over {probe.count} fetches, failures {probe.fails}")
    rep.check(f"RSS growth after warm-up <= {RSS_GROWTH_TARGET:.0%} ({growth * 100:+.1f}%)",
              growth <= RSS_GROWTH_TARGET)
    rep.check(f"page and workshop answer within {PAGE_TARGET_S:.0f} s under load "
              f"({probe.worst * 1000:.0f} ms, {probe.fails} failures)",
              probe.worst <= PAGE_TARGET_S and probe.fails == 0)
    rep.check(f"no errors over {total:,} requests ({errors})", errors == 0)


FLOOD_CODE = """
import json, sys, threading, time
sys.path[:0] = {paths!r}
from bench_api import JsonClient, BIG_BODY
url, threads, honour, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", float(sys.argv[4])
counts = {{"ok": 0, "busy": 0, "other": 0}}
lock = threading.Lock()
end = time.monotonic() + seconds
def flood():
    c = JsonClient(url, "flood")
    while time.monotonic() < end:
        status, _, retry = c.post(BIG_BODY)
        key = "ok" if status == 200 else "busy" if status == 429 else "other"
        with lock:
            counts[key] += 1
        if status == 429 and honour:
            time.sleep(min(float(retry or 1), max(0.0, end - time.monotonic())))
ts = [threading.Thread(target=flood) for _ in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps(counts))
"""


def run_flood(url: str, rep: Report, phase: float, others: int, threads: int) -> None:
    def measure_others(seconds: float) -> tuple[list[float], int]:
        lat: list[float] = []
        errors = 0
        lock = threading.Lock()
        end = time.monotonic() + seconds

        def worker(i: int) -> None:
            nonlocal errors
            c = JsonClient(url, f"bench-other-{i}")
            c.post()
            while time.monotonic() < end:
                start = time.perf_counter()
                status, _, _ = c.post()
                took = (time.perf_counter() - start) * 1000
                with lock:
                    lat.append(took)
                    errors += status != 200
            c.close()

        ts = [threading.Thread(target=worker, args=(i,)) for i in range(others)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return lat, errors

    code = FLOOD_CODE.format(paths=[str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")])
    for honour in (False, True):
        idle: list[float] = []
        flood: list[float] = []
        errors = 0
        counts = {"ok": 0, "busy": 0, "other": 0}
        for _ in range(2):
            lat, err = measure_others(phase)
            idle += lat
            errors += err
            proc = subprocess.Popen([sys.executable, "-c", code, url, str(threads),
                                     "1" if honour else "0", str(phase + 1.5)],
                                    stdout=subprocess.PIPE, text=True)
            time.sleep(1.0)  # let the flood reach the server
            lat, err = measure_others(phase)
            flood += lat
            errors += err
            out, _ = proc.communicate(timeout=phase + 120)
            for k, v in json.loads(out.strip().splitlines()[-1]).items():
                counts[k] += v
        i50, i95 = percentile(idle, 0.5), percentile(idle, 0.95)
        f50, f95 = percentile(flood, 0.5), percentile(flood, 0.95)
        how = "waits Retry-After after a 429" if honour else "retries at once after a 429"
        rep.row(f"flood: 1 client x {threads} threads, 200-KR drafts, {how}; {others} other "
                "clients' reviews",
                f"under flood p50 {f50:.1f} ms, p95 {f95:.1f} ms ({f50 / i50:.2f}x, "
                f"{f95 / i95:.2f}x); flood got {counts['ok']} reviews, {counts['busy']} x 429, "
                f"{counts['other']} other; others' errors {errors}",
                f"idle p50 {i50:.1f} ms, p95 {i95:.1f} ms")
        rep.check(f"flood ({how}): others' p50 within {FLOOD_FACTOR_TARGET:.0f}x idle "
                  f"({f50 / i50:.2f}x)", f50 <= FLOOD_FACTOR_TARGET * i50)
        rep.check(f"flood ({how}): others' p95 within {FLOOD_FACTOR_TARGET:.0f}x idle "
                  f"({f95 / i95:.2f}x)", f95 <= FLOOD_FACTOR_TARGET * i95)
        rep.check(f"flood ({how}): others got no errors ({errors}), the flood got 429s",
                  errors == 0 and counts["busy"] > 0 and counts["other"] == 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40, help="requests per client per round")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--total", type=int, default=10_000, help="requests of the memory run")
    parser.add_argument("--phase", type=float, default=10.0, help="seconds per flood phase")
    parser.add_argument("--flood-threads", type=int, default=24)
    parser.add_argument("--others", type=int, default=4)
    parser.add_argument("--only", default="cost,latency,memory,flood")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))

    from browser import launch_app

    rep = Report()
    with tempfile.TemporaryDirectory(prefix="krcoach-bench-api-") as tmp, \
            launch_app(Path(tmp), engine="rules") as url:
        pid = launch_app.last_pid  # type: ignore[attr-defined]
        time.sleep(1.0)  # the review workers start just after the server
        own, total = tree_rss_mib(pid)
        print(f"server {url} pid {pid}; draft: 5 objectives, 15 KRs; rules engine; "
              f"{os.cpu_count()} CPUs shared by server and clients; RSS {own:.0f} MiB "
              f"(with workers {total:.0f} MiB)", flush=True)
        if "cost" in only:
            run_cost(url, pid, rep, n=300)
        if "latency" in only:
            run_latency(url, rep, args.requests, args.clients)
        if "flood" in only:
            run_flood(url, rep, args.phase, args.others, args.flood_threads)
        if "memory" in only:
            run_memory(url, pid, rep, args.total)
    print()
    print("| measurement | result | reference (same run) |")
    print("|---|---|---|")
    for what, result, ref in rep.rows:
        print(f"| {what} | {result} | {ref} |")
    print()
    for label, ok in rep.checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    return 0 if all(ok for _, ok in rep.checks) else 1


if __name__ == "__main__":
    sys.exit(main())
