"""How the app runs workshop submissions, from the participant page and the API alike: the
coach's review in a worker thread, a bounded number at once, and a flooding participant paced.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from functools import partial
from typing import Any

import anyio

from krcoach.engine import Engine
from krcoach.workshop import domain as ws
from krcoach.workshop.store import Store

#: Submissions under review at once (the pacer's own slots, not Gradio's).
SUBMIT_CONCURRENCY = 16
#: A participant refused "Busy" who sends again within this many seconds is paced.
BUSY_MEMORY_S = 10.0


class SubmitPacer:
    """How the app runs submissions (page and API): `ws.submit` in a worker thread, at most
    SUBMIT_CONCURRENCY at once, and a participant over their allowance paced rather than let
    through to cost the room.

    The first request refused "Busy, retry in N s" gets that answer at once. One that follows
    within BUSY_MEMORY_S (the advice ignored, or many sent in parallel: a flood) is held until
    the allowance has room (and a random part of an interval more), asleep, holding no worker
    thread and no slot, and then tried once more; if others of the same participant took the
    room meanwhile, it is refused "Busy" too. A flooding client thus gets about one answer per
    connection per SUBMIT_INTERVAL_S, however fast it sends, and the room's submissions do not
    queue behind it. Gradio's own concurrency limit is off for these events (a held request must
    not keep a slot); the slots are here.

    The memory of refusals is this process's only: it decides how fast to answer, never what
    is allowed (that is the database's token bucket, shared by every process).
    """

    def __init__(self, slots: int = SUBMIT_CONCURRENCY) -> None:
        self.slots = slots
        self._sem: asyncio.Semaphore | None = None
        self._busy: dict[int, float] = {}
        self._lock = threading.Lock()

    async def submit(self, store: Store, code: Any, token: Any, kr_number: Any, text: Any,
                     engine: Engine, request_id: str | None) -> dict[str, Any]:
        work = partial(ws.submit, store, code, token, kr_number, text, engine,
                       request_id=request_id)
        try:
            return await self._run(work)
        except ws.Busy as busy:
            if not self._again(busy.participant_id):
                raise
            # Until there is room, plus a random part of an interval: requests held together
            # must not all wake together.
            wait = busy.wait_s + random.uniform(0, ws.SUBMIT_INTERVAL_S)
        await asyncio.sleep(wait)
        try:
            return await self._run(work)
        except ws.Busy as busy:
            self._again(busy.participant_id)
            raise

    async def _run(self, work: Any) -> dict[str, Any]:
        if self._sem is None:  # made in the server's event loop, on first use
            self._sem = asyncio.Semaphore(self.slots)
        async with self._sem:
            return await anyio.to_thread.run_sync(work)

    def _again(self, participant_id: int | None) -> bool:
        """Note a refusal; True when the same participant was refused a moment ago."""
        if participant_id is None:
            return False
        now = time.monotonic()
        with self._lock:
            last = self._busy.get(participant_id)
            self._busy[participant_id] = now
            if len(self._busy) > 10_000:
                self._busy = {k: t for k, t in self._busy.items() if now - t < BUSY_MEMORY_S}
        return last is not None and now - last < BUSY_MEMORY_S
