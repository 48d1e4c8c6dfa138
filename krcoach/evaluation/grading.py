"""Blind grading of krcoach's coaching by people (or helper sessions) with `COACHING.md`.

Why: accuracy against labels says nothing about whether a coach would sign a rewrite or find a
why useful. Graders judge that; they must not know which engine wrote what, and the sample must
be drawn at random from KRs nobody tuned the coaching on.

  python -m krcoach.evaluation.grading draw  --dataset D --n 60 --seed S --out DIR [--recording R]
      DIR/input.jsonl: every KR of the objectives that hold a sampled KR (the engines review
      whole objectives, as users send them); DIR/sample.json: the sampled ids.
  krcoach review DIR/input.jsonl -f jsonl > A.jsonl           (one run per engine)
  python -m krcoach.evaluation.grading sheet --records A.jsonl --sample DIR/sample.json --out sheet-A.md
      the sheet (no engine, model, status or error on it) and sheet-A.grades.jsonl to fill in.
  python -m krcoach.evaluation.grading score --sample DIR/sample.json --dataset D GRADES.jsonl [...]
      the rubric's figures per grader, their mean and the graders' agreement.

A grade line: {"item": n, "verdict_agree": bool, "why_useful": bool,
               "rewrite": "acceptable" | "not" | "none", "none_right": bool | null}
("none_right": when no rewrite was given, whether that was right with a question that leads to one).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any, Iterable

REWRITE_GRADES = ("acceptable", "not", "none")


def draw(dataset: Path, n: int, seed: int, recording: Path | None = None) -> tuple[list[dict], list[str]]:
    """A seeded random sample of `n` labelled KRs (optionally only of recorded objectives) and the
    rows of every objective that holds one, in dataset order."""
    rows = [json.loads(line) for line in dataset.read_text("utf-8").splitlines() if line.strip()]
    for row in rows:
        row["kr"] = " ".join(row["kr"].split())
    pool = [r for r in rows if r.get("label") in ("output", "outcome") and r.get("objective")]
    if recording is not None:
        from krcoach.evaluation.replay import load

        recorded = {(rec["objective"], tuple(rec["krs"])) for rec in load(recording).values()}
        groups: dict[str, list[str]] = {}
        for r in rows:
            groups.setdefault(r.get("objective"), []).append(r["kr"])
        pool = [r for r in pool if (r["objective"], tuple(groups[r["objective"]])) in recorded]
    sample = random.Random(seed).sample(pool, min(n, len(pool)))
    chosen = {r["objective"] for r in sample}
    inputs = [{"id": r["id"], "objective": r["objective"], "kr": r["kr"]} for r in rows
              if r.get("objective") in chosen]
    return inputs, [r["id"] for r in sample]


def _records(path: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in (json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip())}


def sheet(records: dict[str, dict[str, Any]], ids: list[str], title: str) -> str:
    """The grading sheet: each sampled KR with its objective and the coaching, nothing that names
    the engine (engine, model, status, error are left out)."""
    out = [f"# {title}", "",
           "Grade every item with COACHING.md. For each, write one line in the grades file:",
           '{"item": N, "verdict_agree": true|false, "why_useful": true|false, '
           '"rewrite": "acceptable"|"not"|"none", "none_right": true|false|null}', ""]
    for n, kid in enumerate(ids, 1):
        r = records[kid]
        out += [f"## Item {n}", "", f"- Objective: {r.get('objective') or '(none)'}", f"- Key result: {r['kr']}",
                f"- Verdict: {r['kind']}" + (" (low confidence)" if r.get("confidence") == "low" else ""),
                f"- Why: {r['why']}"]
        for issue in r.get("issues") or []:
            out.append(f"- Issue `{issue['code']}`: {issue['message']}")
        if r.get("rewrites"):
            for k, rw in enumerate(r["rewrites"], 1):
                out.append(f"- Rewrite {k}: {rw['text']}")
                out += [f"  - assumption: {a}" for a in rw.get("assumptions") or []]
        else:
            out.append("- Rewrite: (none given)")
        out += [f"- Note: {note}" for note in r.get("notes") or []]
        out.append("")
    return "\n".join(out)


def _grades(path: Path) -> dict[int, dict[str, Any]]:
    grades: dict[int, dict[str, Any]] = {}
    for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        g = json.loads(line)
        if g.get("rewrite") not in REWRITE_GRADES:
            raise SystemExit(f"{path}:{n}: rewrite must be one of {', '.join(REWRITE_GRADES)}")
        grades[int(g["item"])] = g
    return grades


def figures(grades: dict[int, dict[str, Any]], labels: list[str | None]) -> dict[str, Any]:
    """The rubric's figures for one grader over items 1..len(labels) (`labels`: the dataset's)."""
    items = [grades[i] for i in range(1, len(labels) + 1) if i in grades]
    n = len(items)

    def share(hits: Iterable[bool], of: int | None = None) -> float | None:
        hits = list(hits)
        total = of if of is not None else len(hits)
        return round(sum(hits) / total, 4) if total else None

    outcome = [grades[i] for i in range(1, len(labels) + 1) if i in grades and labels[i - 1] == "outcome"]
    none = [g for g in items if g["rewrite"] == "none"]
    return {
        "items": n,
        "verdict_agree": share(bool(g["verdict_agree"]) for g in items),
        "why_useful": share(bool(g["why_useful"]) for g in items),
        "rewrite_acceptable": share(g["rewrite"] == "acceptable" for g in items),
        "no_rewrite": len(none),
        "no_rewrite_right": sum(bool(g.get("none_right")) for g in none),
        "acceptable_coaching": share(g["rewrite"] == "acceptable" or (g["rewrite"] == "none" and bool(g.get("none_right")))
                                     for g in items),
        "outcome_krs": len(outcome),
        "outcome_rewrite_acceptable": share(g["rewrite"] == "acceptable" for g in outcome),
    }


def agreement(a: dict[int, dict[str, Any]], b: dict[int, dict[str, Any]]) -> dict[str, float | None]:
    both = sorted(set(a) & set(b))
    return {f: (round(sum(a[i][f] == b[i][f] for i in both) / len(both), 4) if both else None)
            for f in ("verdict_agree", "why_useful", "rewrite")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m krcoach.evaluation.grading", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("draw")
    d.add_argument("--dataset", type=Path, required=True)
    d.add_argument("--n", type=int, default=60)
    d.add_argument("--seed", type=int, required=True, help="a seed you have not used before")
    d.add_argument("--recording", type=Path, help="only KRs whose objective has recorded model answers")
    d.add_argument("--out", type=Path, required=True)
    s = sub.add_parser("sheet")
    s.add_argument("--records", type=Path, required=True)
    s.add_argument("--sample", type=Path, required=True)
    s.add_argument("--title", default="Grading sheet")
    s.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("score")
    c.add_argument("--sample", type=Path, required=True)
    c.add_argument("--dataset", type=Path, required=True, help="for the labels (outcome KRs)")
    c.add_argument("grades", type=Path, nargs="+")
    args = ap.parse_args(argv)
    if args.cmd == "draw":
        inputs, ids = draw(args.dataset, args.n, args.seed, args.recording)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "input.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in inputs), "utf-8")
        (args.out / "sample.json").write_text(json.dumps(ids) + "\n", "utf-8")
        print(f"{len(ids)} sampled KRs in {len(inputs)} KRs of their objectives: {args.out}")
    elif args.cmd == "sheet":
        ids = json.loads(args.sample.read_text("utf-8"))
        args.out.write_text(sheet(_records(args.records), ids, args.title), "utf-8")
        template = args.out.with_suffix(".grades.jsonl")
        template.write_text("".join(json.dumps({"item": n, "verdict_agree": None, "why_useful": None,
                                                "rewrite": None, "none_right": None}) + "\n"
                                    for n in range(1, len(ids) + 1)), "utf-8")
        print(f"{args.out} and {template}")
    else:
        ids = json.loads(args.sample.read_text("utf-8"))
        gold = {r["id"]: r.get("label") for r in _records(args.dataset).values()}
        labels = [gold.get(i) for i in ids]
        loaded = [_grades(p) for p in args.grades]
        result = {"graders": {str(p): figures(g, labels) for p, g in zip(args.grades, loaded)}}
        if len(loaded) >= 2:
            result["agreement"] = agreement(loaded[0], loaded[1])
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
