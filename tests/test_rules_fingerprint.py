"""The rules engine's records, fingerprinted: any change in what it says about a KR is caught.

`tests/rules_fingerprint.json` holds, for the eval set, the development set of real KRs (when it is
there) and 20,000 varied KRs (`bench/corpus.py`), a SHA-256 of the canonical JSONL of the engine's
records and a short hash per record. The eval and development sets' entries were written from the
engine as it was before the speed work (git 92f5a14); the 20,000 varied KRs' from the engine as
committed at 435426a (the same records on those two sets), before the rules engine was split into
its concepts and read each KR once. A pass means the records are byte for byte those engines'.

A change meant to alter the coaching updates the file on purpose:

    .venv/bin/python tests/test_rules_fingerprint.py --update

and the commit says why the records changed (the test lists the ids whose records differ).
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FINGERPRINT = Path(__file__).with_name("rules_fingerprint.json")
DEV = ROOT.parent / "shared" / "data" / "dev_krs.jsonl"
VARIED = 20_000


def _rows(name: str) -> list[dict[str, str]] | None:
    if name == "varied":
        sys.path.insert(0, str(ROOT / "bench"))
        from corpus import varied_rows

        return varied_rows(VARIED) if DEV.exists() else None  # the corpus is built from both sets
    path = ROOT / "evals" / "krs.jsonl" if name == "evals" else DEV
    if not path.exists():
        return None
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def records(name: str) -> list[dict] | None:
    """The rules engine's records for a dataset, objective by objective in order of first
    appearance. The varied set also exercises owners (every 7th KR has one, so the others get
    `no_owner`) and a dated cycle (every 5th objective)."""
    from krcoach import checks
    from krcoach.engine import ReviewContext
    from krcoach.models import KeyResult, Objective, OKRSet
    from krcoach.rules.engine import RulesEngine

    rows = _rows(name)
    if rows is None:
        return None
    varied = name == "varied"
    groups: dict[str | None, list[KeyResult]] = {}
    for n, r in enumerate(rows):
        owner = {"owner": "Sam"} if varied and n % 7 == 3 else {}
        groups.setdefault(r.get("objective") or None, []).append(KeyResult(id=r["id"], kr=r["kr"], **owner))
    okrs = OKRSet(objectives=[Objective(title=t, krs=k, cycle="2026 Q3" if varied and i % 5 == 2 else None)
                              for i, (t, k) in enumerate(groups.items())])
    context = ReviewContext(set_uses_owners=checks.set_uses_owners(okrs), cycle=okrs.cycle)
    engine = RulesEngine()
    out = []
    for objective in okrs.objectives:
        here = replace(context, cycle=objective.cycle) if objective.cycle else context
        out += [kr.record() for kr in engine.review_objective(objective, here)]
    return out


def _line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True)


def fingerprint(recs: list[dict]) -> dict:
    lines = [_line(r) for r in recs]
    return {"krs": len(lines), "sha256": hashlib.sha256(("\n".join(lines) + "\n").encode("utf-8")).hexdigest(),
            "records": {r["id"]: hashlib.sha256(line.encode("utf-8")).hexdigest()[:16] for r, line in zip(recs, lines)}}


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(FINGERPRINT.read_text("utf-8"))


@pytest.mark.parametrize("name", ["evals", "dev", "varied"])
def test_the_engine_says_exactly_what_it_said(name: str, committed: dict) -> None:
    recs = records(name)
    if recs is None:
        pytest.skip(f"{name}: the development set ({DEV}) is not here")
    got, want = fingerprint(recs), committed[name]
    if got["sha256"] == want["sha256"]:
        return
    changed = [i for i, h in got["records"].items() if want["records"].get(i) != h]
    shown = "\n".join(_line(r) for r in recs if r["id"] in set(changed[:3]))
    pytest.fail(f"{name}: {len(changed):,} of {got['krs']:,} records differ from {FINGERPRINT.name} "
                f"(ids {', '.join(changed[:10])}{'…' if len(changed) > 10 else ''}); for example:\n{shown}\n"
                "If the change is meant, run `python tests/test_rules_fingerprint.py --update` and say why in the commit.")


def test_records_do_not_depend_on_what_was_reviewed_before() -> None:
    """The engine's caches never leak one KR's answer into another's: the eval set reviewed in
    reverse order of objectives gives the same records."""
    from krcoach.engine import ReviewContext
    from krcoach.models import KeyResult, Objective
    from krcoach.rules.engine import RulesEngine

    rows = _rows("evals")
    assert rows is not None
    groups: dict[str | None, list] = {}
    for r in rows:
        groups.setdefault(r.get("objective") or None, []).append(KeyResult(id=r["id"], kr=r["kr"]))
    engine = RulesEngine()
    backwards = {}
    for title, krs in reversed(list(groups.items())):
        for kr in engine.review_objective(Objective(title=title, krs=krs), ReviewContext()):
            backwards[kr.id] = kr.record()
    forwards = {r["id"]: r for r in records("evals") or []}
    assert backwards == forwards


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        print(__doc__)
        sys.exit(2)
    out = {}
    for dataset in ("evals", "dev", "varied"):
        found = records(dataset)
        if found is None:
            sys.exit(f"{dataset}: missing; the fingerprint needs every dataset ({DEV})")
        out[dataset] = fingerprint(found)
        print(f"{dataset}: {out[dataset]['krs']:,} records, sha256 {out[dataset]['sha256'][:16]}…")
    FINGERPRINT.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", "utf-8")
