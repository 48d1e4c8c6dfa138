"""`Writer`: the protocol every output format follows, so the CLI can stream any of them.

`start()`, then `objective()` once per ObjectiveReview as each is ready, then `finish()` with the
whole OKRReview (set-level findings, the plan review, the summary). Machine formats (JSONL, CSV)
write each objective as it comes; people's formats may hold text until the plan review is known.
"""

from __future__ import annotations

from typing import TextIO

from krcoach.models import ObjectiveReview, OKRReview


class Writer:
    """Streams a review: `start()`, then `objective()` per ObjectiveReview, then `finish()`.

    Writers for people (Markdown, the table) put the plan review first. It needs every KR
    reviewed, so after `expect_plan()` they hold the objectives' text until `finish()`;
    `release()` writes what they hold without the plan (an interrupted run).
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._held: list[str] | None = None

    def start(self) -> None:  # noqa: D102 - optional hook
        pass

    def expect_plan(self) -> None:
        """A plan review will come with `finish()`: hold the objectives so it can go first."""
        self._held = []

    def _emit(self, text: str) -> None:
        if self._held is not None:
            self._held.append(text)
        else:
            self.out.write(text)
            self.out.flush()

    def release(self) -> None:
        """Write what is held, without the plan (the run stopped before it was complete)."""
        if self._held:
            self.out.write("".join(self._held))
            self.out.flush()
        self._held = None

    def _plan_then_held(self, plan_text: str) -> None:
        if plan_text:
            self.out.write(plan_text)
        self.release()

    def objective(self, review: ObjectiveReview) -> None:
        raise NotImplementedError

    def finish(self, review: OKRReview) -> None:  # noqa: D102 - optional hook
        pass
