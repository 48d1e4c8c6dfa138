"""`review`: the one entry point that turns an OKRSet into an OKRReview.

CLI, app, workshop and eval all call this module. It runs the engine objective by objective (in
parallel threads for network-bound engines, results still in input order), adds each KR's ambition
checks (`ambition.ambition_issues`), attaches the objective- and set-level findings from `checks.py`,
and streams each objective's review as soon as it and all before it are ready, so a batch that is
interrupted keeps what it finished. `review` adds the plan review (`plan.py`) once over the whole
run when the input names teams (or when asked); `plan_review` does the same for a caller that
streamed the objectives itself.

The plan review (`plan.py`: detectors, trade-off tables, a thousand lines) is imported only when a
run gets one: most runs (one file, no teams) never do, and every start of the CLI paid for it.
"""

from __future__ import annotations

import gc
from collections import deque
from dataclasses import replace
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from krcoach import checks
from krcoach.ambition import ambition_issues
from krcoach.engine import Engine, ReviewContext, make_engine
from krcoach.models import KRReview, Objective, ObjectiveReview, OKRReview, OKRSet, PlanReview

if TYPE_CHECKING:
    from concurrent.futures import Future

    from krcoach.formats.rows import SetFacts

DEFAULT_CONCURRENCY = 4
# Batches at least this large run without the cyclic garbage collector (see `_no_cycle_gc`).
NO_GC_BATCH = 500


def _engine(engine: Engine | str | None) -> Engine:
    return engine if isinstance(engine, Engine) else make_engine(engine)


def _review_one(engine: Engine, objective: Objective, context: ReviewContext) -> ObjectiveReview:
    if objective.cycle and objective.cycle != context.cycle:
        context = replace(context, cycle=objective.cycle)
    krs: list[KRReview] = engine.review_objective(objective, context)
    for kr, reviewed in zip(objective.krs, krs):
        # What the input carried beside the KR goes back out with it, whichever engine ran.
        if kr.team and not reviewed.team:
            reviewed.team = kr.team
        if kr.extra and not reviewed.extra:
            reviewed.extra = dict(kr.extra)
        # Target against baseline (wrong side, equal, a tiny change): arithmetic on the draft's own
        # numbers, decided in code whichever engine ran.
        if reviewed.status != "error":
            codes = set(reviewed.issue_codes())
            extra = [i for i in ambition_issues(kr, reviewed) if i.code not in codes]
            if extra:
                reviewed.issues = [*reviewed.issues, *extra]
    shared = checks.lift_shared_gaps(objective.title, krs)
    # Assembled from reviewed parts (engines and checks build them): no validation, which only
    # re-checked each part's type and built the schema of every model a review can hold.
    return ObjectiveReview.model_construct(
        objective=objective.title,
        krs=krs,
        findings=checks.objective_findings(objective, krs) + shared,
    )


@contextmanager
def _no_cycle_gc(active: bool) -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration of a large CPU-bound batch.

    Reviews are thousands of small, long-lived, acyclic objects: reference counting frees them,
    but the collector keeps rescanning the growing heap, which cost a fifth of the rules engine's
    batch time. Nothing here creates cycles, so pausing it changes speed, not memory. The
    collector is re-enabled only if this call paused it. On the way out, everything allocated
    meanwhile is moved to the oldest generation in one step (freeze, unfreeze): otherwise the first
    young-generation pass after re-enabling would scan all of it at once (130 ms for 10,000 KRs).
    That step is skipped when the program keeps objects frozen itself.
    """
    paused = active and gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def iter_review(
    okrs: OKRSet | SetFacts,
    engine: Engine | str | None = None,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    objectives: Iterable[Objective] | None = None,
    size: int | None = None,
) -> Iterator[ObjectiveReview]:
    """Yield one ObjectiveReview per objective, in input order, as soon as each is ready.

    At most `concurrency` objectives are in flight for a parallel engine; a sequential engine
    (rules) runs in the calling thread, which is faster than any pool for CPU-bound work.

    A set too large to hold is streamed: `okrs` is then what the set-level context needs of it
    (`formats.SetFacts`: titles, whether KRs name owners), `objectives` its objectives read one at
    a time (`formats.RowFile.objectives`) and `size` its number of KRs. Each objective's review
    depends only on the objective and that context, so the reviews are the same as for the
    whole OKRSet.
    """
    eng = _engine(engine)
    context = ReviewContext(set_uses_owners=checks.set_uses_owners(okrs), cycle=okrs.cycle)
    items: Iterable[Objective] = okrs.objectives if objectives is None else objectives
    if not eng.parallel or concurrency <= 1 or len(okrs.objectives) <= 1:
        krs = size if size is not None else len(okrs.key_results())
        with _no_cycle_gc(not eng.parallel and krs >= NO_GC_BATCH):
            for objective in items:
                yield _review_one(eng, objective, context)
        return
    from concurrent.futures import ThreadPoolExecutor  # only network-bound engines: keeps start-up lean

    window: deque[Future[ObjectiveReview]] = deque()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="krcoach") as pool:
        for objective in items:
            window.append(pool.submit(_review_one, eng, objective, context))
            # Keep a bounded number of finished-but-unyielded results: the pool's own bound keeps
            # requests in flight <= concurrency; this keeps memory flat on huge batches.
            while len(window) > concurrency * 2 or (window and window[0].done()):
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def wants_plan(okrs: OKRSet | SetFacts, plan: bool | None = None) -> bool:
    """Whether a run gets a plan review: when asked (`plan=True`), else when any KR names a team
    (`plan.has_teams`, asked here without importing the plan review to decide whether to run it)."""
    return plan if plan is not None else any(kr.team for kr in okrs.key_results())


def plan_review(okrs: OKRSet, result: OKRReview, engine: Engine | None = None) -> PlanReview:
    """The plan review of a whole run: `okrs` holds every input of the run (see `merge_sets`),
    `result` their reviews in the same order.

    With an engine that finds cross-team findings itself (the llm engine's `plan_findings`: one
    request per plan of two or more teams, falling back visibly to the rules findings), the
    plan's conflicts, duplicates and dependencies come from it; without one (or with the rules
    engine) every part is the rules engine's."""
    from krcoach.plan import review_plan

    finder = getattr(engine, "plan_findings", None)
    return review_plan(okrs, result, cross_team=finder if callable(finder) else None)


def merge_sets(sets: list[OKRSet]) -> OKRSet:
    """Several inputs as one plan: their objectives in order, each keeping its input's cycle."""
    if len(sets) == 1:
        return sets[0]
    objectives = [o if o.cycle or not s.cycle else o.model_copy(update={"cycle": s.cycle})
                  for s in sets for o in s.objectives]
    cycles = {s.cycle for s in sets}
    return OKRSet(objectives=objectives, cycle=cycles.pop() if len(cycles) == 1 else None,
                  skipped=[line for s in sets for line in s.skipped])


def review(
    okrs: OKRSet,
    engine: Engine | str | None = None,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    plan: bool | None = None,
) -> OKRReview:
    """Review a whole set and return the full OKRReview, set-level findings included.

    The plan review (`OKRReview.plan`) is added when the set names teams, or when `plan` is True;
    `plan=False` leaves it out.
    """
    eng = _engine(engine)
    objectives = list(iter_review(okrs, eng, concurrency=concurrency))
    result = OKRReview(
        objectives=objectives,
        findings=checks.set_findings(okrs),
        engine=eng.name,
        model=eng.model,
        skipped=list(okrs.skipped),
    )
    if wants_plan(okrs, plan):
        result.plan = plan_review(okrs, result, eng)
    return result


def review_text(text: str, engine: Engine | str | None = None) -> OKRReview:
    """Review a Markdown/text outline, as typed in the browser."""
    from krcoach.formats.outline import parse_outline

    return review(parse_outline(text), engine)
