"""Recorded answers to the plan prompt (`prompts/review_plan.txt`), like `krcoach.evaluation.replay` for objectives.

The llm engine asks once per plan for its cross-team findings (`LLMEngine.plan_findings`). This
writes the exact messages it sends for plans in `evals/plans/`, for a person or a capable model to
answer with the JSON alone, and turns the answers into a recording that `krcoach.evaluation.replay`'s
`ReplayServer` serves (it keys plan requests by `replay.plan_key`):

    python -m krcoach.evaluation.replay_plans export --plans evals/plans --only p01,p15 --out /tmp/plans
    # answer each line of /tmp/plans/requests.jsonl in answers.jsonl: {"key": ..., "answer": {...}}
    python -m krcoach.evaluation.replay_plans import --dir /tmp/plans --out evals/answers/plans.jsonl

A recording line: {"key", "plan", "prompt": {"name", "version", "sha256"}, "model", "answers": [...]}.
Editing the plan prompt means re-recording (the replay test checks the prompt's version and hash).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from krcoach.models import CrossTeam, OKRSet, PlanFinding, PlanKR


def plan_request(okrs: OKRSet) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The data block and the messages the llm engine sends for this plan: the KRs exactly as the
    plan review hands them to the engine (`plan.review_plan`'s cross-team finder)."""
    from krcoach.coach import review
    from krcoach.llm.plan import PLAN_PROMPT, build_plan_messages, plan_payload
    from krcoach.llm.prompt import load_prompt
    from krcoach.plan import review_plan
    from krcoach.rules.engine import RulesEngine

    seen: list[PlanKR] = []

    def capture(krs: list[PlanKR], rules: list[PlanFinding]) -> tuple[list[PlanFinding], CrossTeam]:
        seen.extend(krs)
        return rules, CrossTeam()

    review_plan(okrs, review(okrs, RulesEngine(), plan=False), cross_team=capture)
    if not seen:
        raise ValueError("this plan has fewer than two teams: the engine sends no plan request for it")
    payload, _ = plan_payload(seen)
    return payload, build_plan_messages(load_prompt(PLAN_PROMPT), payload)


def prompt_info() -> dict[str, str]:
    from krcoach.llm.plan import PLAN_PROMPT
    from krcoach.llm.prompt import load_prompt

    return load_prompt(PLAN_PROMPT).info()


def export(folder: Path, names: list[str], out: Path) -> int:
    """system.txt (the same for every plan) and requests.jsonl: {"key", "plan", "user"} per plan."""
    from krcoach.evaluation.run import load_plan
    from krcoach.evaluation.replay import plan_key

    out.mkdir(parents=True, exist_ok=True)
    system = ""
    with (out / "requests.jsonl").open("w", encoding="utf-8") as sink:
        for name in names:
            payload, messages = plan_request(load_plan(folder / name))
            system = messages[0]["content"]
            sink.write(json.dumps({"key": plan_key(payload), "plan": name, "user": messages[1]["content"]},
                                  ensure_ascii=False) + "\n")
    (out / "system.txt").write_text(system, "utf-8")
    return len(names)


def import_answers(folder: Path, out: Path, model: str) -> int:
    """Pair requests.jsonl with answers.jsonl ({"key", "answer"} per line) into a recording."""
    from krcoach.evaluation.replay import hand_answers

    prompt = prompt_info()
    written = 0
    with out.open("w", encoding="utf-8") as sink:
        for req, answer in hand_answers([folder / "requests.jsonl"], [folder / "answers.jsonl"]):
            sink.write(json.dumps({"key": req["key"], "plan": req["plan"], "prompt": prompt, "model": model,
                                   "answers": [answer]}, ensure_ascii=False) + "\n")
            written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m krcoach.evaluation.replay_plans", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="write the engine's exact plan messages for hand answering")
    e.add_argument("--plans", type=Path, required=True, help="a folder of plans (evals/plans)")
    e.add_argument("--only", required=True, help="comma-separated plan names or prefixes (p01,p15)")
    e.add_argument("--out", type=Path, required=True)
    i = sub.add_parser("import", help="turn answers.jsonl into a recording")
    i.add_argument("--dir", type=Path, required=True)
    i.add_argument("--out", type=Path, required=True)
    i.add_argument("--model", default="hand-answered")
    args = ap.parse_args(argv)
    if args.cmd == "import":
        print(f"{import_answers(args.dir, args.out, args.model)} plans recorded in {args.out}")
        return 0
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    entries = sorted(p.name for p in args.plans.iterdir() if p.name != "gold.jsonl" and not p.name.startswith(("README", "_", ".")))
    names = [n for w in wanted for n in entries if n == w or n.startswith(w + "-")]
    print(f"{export(args.plans, names, args.out)} plan requests in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
