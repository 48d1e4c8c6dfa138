"""The rules engine: `RulesEngine` (review_objective, manifest) and `build`, its row of the engine table.

One KR is read once (`anatomy.parse`), judged (`verdict.decide`: the learned weighing of the
structural evidence in `evidence`), explained (`whys`), checked (`issues`) and rewritten
(`rewrites`, with `intents` for what a piece of work is usually meant to move). This module only
puts those together into the `KRReview` records at the boundary; the concepts live in their own
modules, each importing only those below it (the order is in `krcoach/rules/__init__.py`).

Deterministic, offline, instant: the default with no key and the fallback of the llm engine.
"""

from __future__ import annotations

import re

from krcoach.engine import ReviewContext
from krcoach.models import KeyResult, KRReview, Objective, trusted
from krcoach.rules import fastre
from krcoach.rules.anatomy import parse, render_rewrite
from krcoach.rules.evidence import Verdict, classify
from krcoach.rules.intents import _match_catalogue
from krcoach.rules.issues import _is_paired, _issue, _issues
from krcoach.rules.rewrites import (
    _as_written_rewrite,
    _outcome_rewrite,
    _output_rewrites,
    _things_results,
    as_written,
    reviewed_text,
)
from krcoach.rules.shapes import split_goals
from krcoach.rules.verdict import VerdictModel, classify_text, decide, default_model
from krcoach.rules.whys import _audience, _question, _why_outcome, _why_output
from krcoach.rules.wording import _ANY_DIGIT, _deadline_text, _object_head

__all__ = ["RulesEngine", "Verdict", "build", "classify", "classify_text", "decide", "render_rewrite", "review_kr"]


#: "every quarter", "each sprint", "on a monthly basis": a recurring due date, so the KR is dated.
_CADENCE_DUE = fastre.lazy(r"\b(?:every|each)\s+(?:day|week|month|quarter|year|sprint|cycle|term|semester)\b"
                          r"|\bon\s+an?\s+(?:daily|weekly|monthly|quarterly|yearly|annual)\s+basis\b", re.I)


def review_kr(kr: KeyResult, objective: Objective | None = None, context: ReviewContext | None = None,
              model: VerdictModel | None = None) -> KRReview:
    """Coach one KR with the rules engine."""
    a = parse(kr.kr)
    title = objective.title if objective else None
    verdict, kind, confidence = decide(a, title, model)
    if kind != verdict.kind:
        verdict = Verdict(kind=kind, output_score=verdict.output_score, outcome_score=verdict.outcome_score,
                          external_result=verdict.external_result)
    own_deadline = _deadline_text(a) or kr.deadline
    cycle = context.cycle if context else None
    deadline = own_deadline or cycle
    audience = _audience(a, title)
    paired = _is_paired(a)
    issues = _issues(a, verdict, dated=deadline is not None or bool(_CADENCE_DUE.search(a.text)), paired=paired)
    if context and context.set_uses_owners and not kr.owner:
        issues.append(_issue("no_owner", "No owner while other key results have one: name who drives it."))
    if kind == "output":
        # What the work is usually meant to move: only an output's why and rewrites ask.
        entry = _match_catalogue(a.text, title, _object_head(a))
        question = _question(a, entry, audience, title)
        why = _why_output(a, audience, question)
        rewrites = _output_rewrites(a, entry, title, deadline)
    else:
        text, notes = reviewed_text(a.text)
        b = parse(text) if text != a.text and text else a
        parts = split_goals(b.text) if b.multi_goal and not paired else []
        gets = _things_results(parts[0]) if len(parts) >= 2 else None
        if gets:
            # "The launch video gets 50 retweets and 2,000 views": each count is of the same thing.
            lead = parts[0][: len(parts[0]) - len(gets[1])]
            parts = [parts[0]] + [p if _things_results(p) or not _ANY_DIGIT.match(p.lstrip(">~ ")) else lead + p
                                  for p in parts[1:]]
        if len(parts) >= 2:
            rewrites = [rw for p in parts[:3] if (rw := _outcome_rewrite(parse(p), _deadline_text(parse(p)) or deadline))]
            if any(as_written(rw) for rw in rewrites):
                # A part that makes no clean metric is a fragment of a sentence: keep the whole KR.
                rewrites = [rw for rw in [_as_written_rewrite(b, deadline)] if rw]
        else:
            rewrites = [rw for rw in [_outcome_rewrite(b, deadline)] if rw]
        for rw in rewrites:
            rw.assumptions[:0] = notes
        why = _why_outcome(b, rewrites, audience, b.text)
        if paired:
            why += " It pairs the work with the change it should produce, as a good key result does."
    if confidence == "low":
        why += (" (A judgement call: if it counts what others do or what the system achieves, it is an outcome.)"
                if kind == "output" else
                " (A judgement call: if it only counts what the team itself does, it is an output.)")
    # Built from trusted parts: skip re-validation, which was a third of the engine's time.
    return trusted(KRReview, {
        "id": kr.id, "objective": title, "kr": kr.kr, "owner": kr.owner, "kind": kind, "why": why,
        "issues": issues, "rewrites": rewrites[:3], "engine": "rules", "model": None, "status": "ok", "error": None,
        "confidence": confidence, "team": kr.team, "notes": [], "extra": dict(kr.extra),
    })


class RulesEngine:
    """The embedded default engine: no key, no network, microseconds per KR.

    Its verdict weighs structural evidence with the learned weights shipped in the package
    (`verdict.default_model()`); pass `verdict_model` to use others (the eval's leave-one-
    organisation-out run does), or `verdict_model=False` for the hand-set scores alone.
    """

    name = "rules"
    model: str | None = None
    parallel = False

    def __init__(self, verdict_model: VerdictModel | None | bool = None) -> None:
        if verdict_model is None or verdict_model is True:
            verdict_model = default_model()
        self.verdict_model: VerdictModel | None = verdict_model or None

    def review_objective(self, objective: Objective, context: ReviewContext) -> list[KRReview]:
        return [review_kr(kr, objective, context, self.verdict_model) for kr in objective.krs]

    def manifest(self) -> dict[str, str | None]:
        return {"engine": self.name, "model": None, "prompt": None,
                "verdict": "learned" if self.verdict_model else "hand-set scores"}


def build(endpoint: object = None, *, use_cache: bool = True) -> RulesEngine:
    """The rules row of `krcoach.engine.ENGINE_BUILDERS`: no endpoint, nothing to cache."""
    return RulesEngine()
