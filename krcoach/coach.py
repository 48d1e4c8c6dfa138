"""`review`: the one entry point that turns an OKRSet into an OKRReview.

CLI, app, workshop and eval all call this module. It runs the engine objective by objective (in
parallel threads for network-bound engines, results still in input order), attaches the objective-
and set-level findings from `checks.py`, and streams each objective's review as soon as it and all
before it are ready, so a batch that is interrupted keeps what it finished.
"""

from __future__ import annotations

import gc
from collections import deque
from dataclasses import replace
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from . import checks
from .engine import Engine, ReviewContext, make_engine
from .models import KRReview, Objective, ObjectiveReview, OKRReview, OKRSet

if TYPE_CHECKING:
    from concurrent.futures import Future

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
    shared = checks.lift_shared_gaps(objective.title, krs)
    return ObjectiveReview(
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
    okrs: OKRSet,
    engine: Engine | str | None = None,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> Iterator[ObjectiveReview]:
    """Yield one ObjectiveReview per objective, in input order, as soon as each is ready.

    At most `concurrency` objectives are in flight for a parallel engine; a sequential engine
    (rules) runs in the calling thread, which is faster than any pool for CPU-bound work.
    """
    eng = _engine(engine)
    context = ReviewContext(set_uses_owners=checks.set_uses_owners(okrs), cycle=okrs.cycle)
    if not eng.parallel or concurrency <= 1 or len(okrs.objectives) <= 1:
        with _no_cycle_gc(not eng.parallel and len(okrs.key_results()) >= NO_GC_BATCH):
            for objective in okrs.objectives:
                yield _review_one(eng, objective, context)
        return
    from concurrent.futures import ThreadPoolExecutor  # only network-bound engines: keeps start-up lean

    window: deque[Future[ObjectiveReview]] = deque()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="krcoach") as pool:
        for objective in okrs.objectives:
            window.append(pool.submit(_review_one, eng, objective, context))
            # Keep a bounded number of finished-but-unyielded results: the pool's own bound keeps
            # requests in flight <= concurrency; this keeps memory flat on huge batches.
            while len(window) > concurrency * 2 or (window and window[0].done()):
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def review(
    okrs: OKRSet,
    engine: Engine | str | None = None,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> OKRReview:
    """Review a whole set and return the full OKRReview, set-level findings included."""
    eng = _engine(engine)
    objectives = list(iter_review(okrs, eng, concurrency=concurrency))
    return OKRReview(
        objectives=objectives,
        findings=checks.set_findings(okrs),
        engine=eng.name,
        model=eng.model,
        skipped=list(okrs.skipped),
    )


def review_text(text: str, engine: Engine | str | None = None) -> OKRReview:
    """Review a Markdown/text outline, as typed in the browser."""
    from .formats import parse_outline

    return review(parse_outline(text), engine)
