"""Plan review speed: a 20-team, 400-KR plan reviewed by the rules engine, with the plan review.

Prints the time of `coach.review(plan=True)` (every KR reviewed, ambition checks, then the plan:
conflicts, duplicates, dependencies, owners, the standard, the audit) beside a reference measured in
the same run: the per-KR review of the same number of KRs without the plan. Target: under 1 s for
the whole plan run. Each timed run gets its own distinct texts, so the parser's cache cannot hide
the real cost; the median of five runs is reported.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEAMS = ["Product", "Engineering", "Sales", "Marketing", "Finance", "Support", "Data", "Platform", "Security",
         "Design", "Growth", "Customer Success", "People", "Legal", "Operations", "Partnerships", "Mobile",
         "Payments", "Risk", "Content"]
OBJECTIVES_PER_TEAM, KRS_PER_OBJECTIVE = 4, 5  # 20 x 4 x 5 = 400 KRs
OWNERS = ["Ana", "Bruno", "Chen", "Dara", "Emeka", "Farah", "Goran", "Hana", "Ines", "Jonas", "Kemi", "Lars"]
RUNS = 5
TARGET_S = 1.0


def source_krs() -> list[str]:
    """Realistic KR texts: the plans in evals/plans/ (trade-offs, dependencies, owners) and the
    labelled KRs of evals/krs.jsonl."""
    from krcoach.evaluation.run import load_plan, load_plan_gold

    texts: list[str] = []
    for g in load_plan_gold(ROOT / "evals" / "plans"):
        texts += [kr.kr for kr in load_plan(ROOT / "evals" / "plans" / g["plan"]).key_results()]
    texts += [json.loads(line)["kr"] for line in (ROOT / "evals" / "krs.jsonl").read_text().splitlines()]
    return texts


def make_plan(texts: list[str], run: int):
    from krcoach.models import KeyResult, Objective, OKRSet

    rng = random.Random(run)
    pool = texts[:]
    rng.shuffle(pool)
    objectives = []
    n = 0
    for t, team in enumerate(TEAMS):
        for o in range(OBJECTIVES_PER_TEAM):
            krs = []
            for _ in range(KRS_PER_OBJECTIVE):
                text = pool[n % len(pool)]
                n += 1
                # Distinct per run and per KR, without changing what the KR says.
                krs.append(KeyResult(id=str(n), kr=f"{text} [r{run}k{n}]", team=team,
                                     owner=rng.choice(OWNERS + [None, "Marketing team", "everyone"])))
            objectives.append(Objective(title=f"{team} objective {o + 1} (run {run})", krs=krs, cycle="2026 Q3"))
    return OKRSet(objectives=objectives)


def main() -> int:
    from krcoach.coach import plan_review, review
    from krcoach.rules.engine import RulesEngine

    engine = RulesEngine()
    texts = source_krs()
    review(make_plan(texts, 999), engine, plan=True)  # warm the lexicon, the data files, the regexes
    reference, full, plan_only = [], [], []
    findings = None
    for run in range(RUNS):
        ref_set, plan_set = make_plan(texts, 2 * run), make_plan(texts, 2 * run + 1)
        # Alternate which goes first, so neither always meets a warmer (or more loaded) machine.
        for which in (("ref", "plan") if run % 2 == 0 else ("plan", "ref")):
            t = time.perf_counter()
            if which == "ref":
                review(ref_set, engine, plan=False)
                reference.append(time.perf_counter() - t)
            else:
                result = review(plan_set, engine, plan=True)
                full.append(time.perf_counter() - t)
        # The plan review alone, on KRs just reviewed (as in a run) but never read by a plan before.
        third = make_plan(texts, 100 + run)
        reviewed = review(third, engine, plan=False)
        t = time.perf_counter()
        plan_review(third, reviewed)
        plan_only.append(time.perf_counter() - t)
        findings = result.plan.counts() if result.plan else {}
    krs = len(TEAMS) * OBJECTIVES_PER_TEAM * KRS_PER_OBJECTIVE
    med_ref, med_full, med_plan = (statistics.median(x) for x in (reference, full, plan_only))
    print(f"plan: {len(TEAMS)} teams, {krs} KRs, rules engine, median of {RUNS} runs (distinct texts per run)")
    print(f"  reference: per-KR review without the plan        {med_ref * 1000:7.1f} ms")
    print(f"  review with the plan review (plan=True)          {med_full * 1000:7.1f} ms "
          f"({med_full / med_ref:.2f}x the reference)")
    print(f"  the plan review alone, after the per-KR review   {med_plan * 1000:7.1f} ms")
    print(f"  findings in the last run: {json.dumps(findings, sort_keys=True)}")
    ok = med_full < TARGET_S
    print(f"{'PASS' if ok else 'FAIL'}: plan run {med_full:.3f} s (target < {TARGET_S:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
