"""The llm engine's fault matrix: what each endpoint fault costs and what the user gets.

One outline of three objectives is reviewed against the scripted OpenAI-protocol server
(tests/fake_openai.py, a real HTTP server on 127.0.0.1); the fault is scripted on objective "Beta"
only, so the table also shows that the other objectives are unaffected. Default retry policy
(5 requests per objective at most), a 2 s request timeout so the hang row stays short.
For each fault it prints the requests Beta cost, the wall time, Beta's status and error, and the
status of the other objectives.

    .venv/bin/python bench/fault_matrix.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fake_openai import SAMPLE_OUTLINE, FakeOpenAI, act, hang, local_engine, status  # noqa: E402

from krcoach.coach import review  # noqa: E402
from krcoach.formats import parse_outline  # noqa: E402
from krcoach.llm.transport import RetryPolicy  # noqa: E402

FAULTS = [
    ("none", []),
    ("429, Retry-After: 1", [status(429, retry_after="1")]),
    ("429, Retry-After: 120", [status(429, retry_after="120")]),
    ("500 then 502, then ok", [status(500), status(502)]),
    ("500 on every try", [status(500)] * 10),
    ("hang past the 2 s timeout", [hang(30)] * 10),
    ("connection dropped once", [act("drop")]),
    ("broken JSON on every try", [act("broken_json")] * 10),
    ("invented number once", [act("invent")]),
    ("invented number on every try", [act("invent")] * 10),
    ("wrong KR count once", [act("wrong_count")]),
    ("unknown issue code once", [act("bad_code")]),
    ("activity-shaped metric once", [act("activity_metric")]),
    ("answer cut off (max tokens)", [act("length")] * 10),
    ("400 json_schema rejected", [status(400, body={"error": {"message": "response_format json_schema "
                                                                         "is not supported"}})]),
]


def main() -> int:
    os.environ["KRCOACH_CACHE_DIR"] = tempfile.mkdtemp(prefix="krcoach-faults-")
    okrs = parse_outline(SAMPLE_OUTLINE)
    print(f"{'fault on objective Beta':32} {'reqs':>4} {'wall':>6}  {'Beta':9} {'others':7} error")
    for name, acts in FAULTS:
        with FakeOpenAI() as fake:
            if acts:
                fake.script(*acts, objective="Beta")
            # The real retry policy, not the tests' short one: the wall times are what a user waits.
            engine = local_engine(fake.url, timeout=2.0, retry=RetryPolicy())
            started = time.monotonic()
            records = review(okrs, engine, concurrency=3).records()
            wall = time.monotonic() - started
            beta = [r for r in records if r["objective"] == "Beta"]
            others = {r["status"] for r in records if r["objective"] != "Beta"}
            error = beta[0]["error"] or ""
            print(f"{name:32} {fake.count_for('Beta'):>4} {wall:5.1f}s  {beta[0]['status']:9} "
                  f"{','.join(sorted(others)):7} {error[:110]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
