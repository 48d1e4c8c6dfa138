"""One bounded review pool with a per-client share, and bounds on what the server keeps per call.

Every call that reviews on the server goes through one `ReviewPool`: the JSON API
(`POST /api/review`), the Gradio `review` endpoint and the drafting page's review events. The pool
runs at most `workers` reviews at once. Each client may have at most `per_client` units of work
in flight (a draft of up to `LARGE_DRAFT_KRS` key results is one unit; a larger one counts more)
and at most `per_client_queue` reviews waiting behind them; beyond that, and when the pool's
waiting room (`max_waiting`) is full, a call is refused at once with `Busy`, whose message says
when to retry ("... retry in 2 s"; HTTP callers get 429 with Retry-After). Waiting reviews are
started round-robin across clients, so a client that floods the server waits behind its own
reviews while everyone else keeps their latency.

Who is a client (`client_key`): the id an API caller sends in `X-Client-Id`, else the Gradio
session hash (one per browser tab or `gradio_client.Client`), else the caller's address, a coarse
fallback that puts everyone behind one proxy or NAT into one share.

Rules reviews are CPU-bound and Python runs one thread at a time, so with `processes` the pool
runs them in worker processes (one per worker slot, started from a preloaded fork server): the
server's own process keeps serving HTTP while the cores review. The llm engine waits on the
network and runs in threads of the server process, with its client, cache and circuit breaker.

`bound_sessions` keeps Gradio's per-session state bounded: a session that never stored anything
(every API call without a session of its own gets a new one) costs a few kilobytes instead of a
copy of every component's config, and at most `probation` of them are kept, so a stream of API
calls never pushes out the sessions of people on the pages.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from krcoach.engine import Engine
    from krcoach.models import OKRReview, OKRSet

log = logging.getLogger("krcoach.web.limits")

#: A draft of up to this many key results is one unit of a client's share; larger ones count
#: one unit more per this many (a 200-KR draft is two units: with a share of two it runs alone).
LARGE_DRAFT_KRS = 100
#: With worker processes, a rules draft of at most this many key results is reviewed in the
#: server's own process when it is the only review running (see `ReviewPool._here`).
SMALL_DRAFT_KRS = 30
#: Defaults of the pool `krcoach serve` builds (see `ReviewPool`).
PER_CLIENT = 2
PER_CLIENT_QUEUE = 4
MAX_WAITING = 64
#: A review that has waited this long for a slot is refused as busy instead of waiting longer.
MAX_WAIT_S = 30.0
#: The longest Retry-After the pool suggests.
MAX_RETRY_AFTER = 60
#: `X-Client-Id`: what an API caller may send to name itself.
CLIENT_ID_HEADER = "x-client-id"
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:@+/=-]{1,128}")


class Busy(Exception):
    """A review the pool refused because its client's share (or the whole pool) is full.
    `message` is the one line people see; `retry_after` is in whole seconds (at least 1)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class ClientIdError(ValueError):
    """An `X-Client-Id` that is not a client id."""


# ------------------------------------------------------------------------------- who is a client


def client_key(client_id: str | None = None, session_hash: str | None = None,
               address: str | None = None) -> str:
    """The share a call counts against: its `X-Client-Id`, else its session, else its address.

    An id must be 1-128 letters, digits or ``. _ : @ + / = -``; anything else raises
    `ClientIdError` (HTTP callers get 400), so a typo never silently lands in the shared
    address share. Keys are namespaced, so an id can never pose as a session or an address."""
    if client_id is not None:
        value = client_id.strip()
        if not _CLIENT_ID.fullmatch(value):
            raise ClientIdError("X-Client-Id must be 1 to 128 letters, digits or . _ : @ + / = - "
                                "characters.")
        return f"id:{value}"
    if session_hash:
        return f"session:{session_hash}"
    return f"addr:{address or 'unknown'}"


def gradio_client_key(request: Any) -> str:
    """`client_key` for a Gradio event: `X-Client-Id` when the caller sent one (gradio_client's
    `headers=`), else the session hash, unless Gradio minted it for this one call (an HTTP call
    with no session of its own gets the event's id), which names nobody: then the address."""
    if request is None:
        return client_key()
    headers = getattr(request, "headers", None) or {}
    try:
        named = headers.get(CLIENT_ID_HEADER)
    except Exception:  # noqa: BLE001 - a headers object we do not know: no id
        named = None
    if named is not None:
        try:
            return client_key(named)
        except ClientIdError:
            pass  # the page and gradio_client never send a bad one; fall back, do not fail
    session = getattr(request, "session_hash", None)
    try:
        from gradio.context import LocalContext

        if session and session == LocalContext.event_id.get(None):
            session = None
    except Exception:  # noqa: BLE001 - a Gradio without this context: keep the session
        pass
    client = getattr(request, "client", None)
    return client_key(None, session, getattr(client, "host", None))


def draft_weight(krs: int) -> int:
    """Units of a client's share a draft of `krs` key results takes (at least 1)."""
    return max(1, math.ceil(krs / LARGE_DRAFT_KRS))


# ------------------------------------------------------------------------------------ the pool


class _Waiter:
    """One review's place in the pool: granted at once, or queued until `grant()`."""

    __slots__ = ("client", "weight", "granted", "started", "_event", "_loop", "_future")

    def __init__(self, client: str, weight: int, loop: asyncio.AbstractEventLoop | None) -> None:
        self.client, self.weight, self.granted, self.started = client, weight, False, 0.0
        self._loop = loop
        self._event: threading.Event | None = None if loop else threading.Event()
        self._future: asyncio.Future[None] | None = loop.create_future() if loop else None

    def grant(self) -> None:  # under the pool's lock
        self.granted, self.started = True, time.monotonic()
        if self._event is not None:
            self._event.set()
        elif self._loop is not None and self._future is not None:
            try:
                self._loop.call_soon_threadsafe(_resolve, self._future)
            except RuntimeError:  # its loop has closed (the server is stopping): nobody waits
                pass


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ReviewPool:
    """At most `workers` reviews at once; per client at most `per_client` units in flight and
    `per_client_queue` reviews waiting; at most `max_waiting` waiting in all. See the module."""

    def __init__(self, *, workers: int, per_client: int = PER_CLIENT,
                 per_client_queue: int = PER_CLIENT_QUEUE, max_waiting: int = MAX_WAITING,
                 max_wait_s: float = MAX_WAIT_S, processes: bool = False) -> None:
        if workers < 1 or per_client < 1:
            raise ValueError("a pool needs at least one worker and a share of at least one")
        self.workers, self.per_client = workers, per_client
        self.per_client_queue, self.max_waiting, self.max_wait_s = per_client_queue, max_waiting, max_wait_s
        self.processes = processes
        self._lock = threading.Lock()
        self._running = 0  # reviews holding a slot
        self._units: dict[str, int] = {}  # units in flight per client
        self._jobs: dict[str, int] = {}  # reviews in flight per client
        self._ring: OrderedDict[str, deque[_Waiter]] = OrderedDict()  # waiting, round-robin order
        self._waiting = 0
        self._seconds = 0.05  # moving average of a review's time, for Retry-After
        self.refused = 0
        self._threads = ThreadPoolExecutor(max_workers=workers + 2, thread_name_prefix="krcoach-review")
        self._procs: Executor | None = None
        self._procs_lock = threading.Lock()
        self._broken = 0  # times the worker processes were lost
        self._reviewing_here = 0  # rules reviews running in this process (see `_here`)

    # -- admission ------------------------------------------------------------------------

    def _admit(self, client: str, weight: int, loop: asyncio.AbstractEventLoop | None) -> _Waiter:
        waiter = _Waiter(client, min(max(1, weight), self.per_client), loop)
        with self._lock:
            queue = self._ring.get(client)
            units = self._units.get(client, 0)
            if not queue and units + waiter.weight <= self.per_client and self._running < self.workers:
                self._start(waiter)
                return waiter
            if queue is not None and len(queue) >= self.per_client_queue or \
                    queue is None and self.per_client_queue <= 0:
                self.refused += 1
                raise self._busy_client(client, len(queue or ()))
            if self._waiting >= self.max_waiting:
                self.refused += 1
                raise self._busy_pool()
            self._ring.setdefault(client, deque()).append(waiter)
            self._waiting += 1
            return waiter

    def check(self, client: str) -> None:
        """Raise `Busy` now if a review from `client` would be refused (its queue or the pool's
        is full): lets a server refuse a flood before reading its bodies."""
        with self._lock:
            queue = self._ring.get(client)
            if queue is not None and len(queue) >= self.per_client_queue:
                self.refused += 1
                raise self._busy_client(client, len(queue))
            if self._waiting >= self.max_waiting and self._running >= self.workers:
                self.refused += 1
                raise self._busy_pool()

    def _start(self, waiter: _Waiter) -> None:  # under the lock
        self._running += 1
        self._units[waiter.client] = self._units.get(waiter.client, 0) + waiter.weight
        self._jobs[waiter.client] = self._jobs.get(waiter.client, 0) + 1
        waiter.grant()

    def _dispatch(self) -> None:  # under the lock: start waiting reviews, round-robin by client
        while self._running < self.workers and self._ring:
            for client, queue in self._ring.items():
                head = queue[0]
                if self._units.get(client, 0) + head.weight <= self.per_client:
                    queue.popleft()
                    self._waiting -= 1
                    if queue:
                        self._ring.move_to_end(client)
                    else:
                        del self._ring[client]
                    self._start(head)
                    break
            else:
                return  # every waiting client is at its share

    def _release(self, waiter: _Waiter) -> None:
        with self._lock:
            self._running -= 1
            left = self._units.get(waiter.client, 0) - waiter.weight
            if left > 0:
                self._units[waiter.client] = left
                self._jobs[waiter.client] -= 1
            else:
                self._units.pop(waiter.client, None)
                self._jobs.pop(waiter.client, None)
            took = time.monotonic() - waiter.started
            self._seconds += (took / waiter.weight - self._seconds) * 0.2
            self._dispatch()

    def _withdraw(self, waiter: _Waiter) -> bool:
        """Take a waiter out of the queue; True if it was granted meanwhile (the caller must then
        release it)."""
        with self._lock:
            if waiter.granted:
                return True
            queue = self._ring.get(waiter.client)
            if queue is not None and waiter in queue:
                queue.remove(waiter)
                self._waiting -= 1
                if not queue:
                    del self._ring[waiter.client]
            return False

    def _retry_after(self, reviews: int, lanes: int) -> int:
        return min(MAX_RETRY_AFTER, max(1, math.ceil(self._seconds * reviews / max(1, lanes))))

    def _busy_client(self, client: str, queued: int) -> Busy:
        units, jobs = self._units.get(client, 0), self._jobs.get(client, 0)
        n = self._retry_after(units + queued + 1, self.per_client)
        return Busy(f"Busy: you already have {jobs + queued} reviews running or waiting on this "
                    f"server; retry in {n} s.", n)

    def _busy_pool(self) -> Busy:
        n = self._retry_after(self._waiting + 1, self.workers)
        return Busy(f"Busy: {self._waiting} reviews are waiting on this server; retry in {n} s.", n)

    def _timed_out(self) -> Busy:
        with self._lock:
            self.refused += 1
            return self._busy_pool()

    @contextmanager
    def slot(self, client: str, weight: int = 1) -> Iterator[None]:
        """Hold one of the pool's slots for the block (blocking the thread while the review
        waits its turn); raises `Busy` when the client's share or the pool is full."""
        waiter = self._admit(client, weight, None)
        if not waiter.granted:
            assert waiter._event is not None
            if not waiter._event.wait(self.max_wait_s) and not self._withdraw(waiter):
                raise self._timed_out()
        try:
            yield
        finally:
            self._release(waiter)

    async def acquire(self, client: str, weight: int = 1) -> _Waiter:
        """Wait (without holding a thread) for a slot and return the ticket to `release`;
        raises `Busy` when the client's share or the pool is full."""
        waiter = self._admit(client, weight, asyncio.get_running_loop())
        if not waiter.granted:
            assert waiter._future is not None
            try:
                await asyncio.wait_for(waiter._future, self.max_wait_s)
            except asyncio.TimeoutError:
                if not self._withdraw(waiter):
                    raise self._timed_out() from None
            except BaseException:  # cancelled (the caller went away): give the place back
                if self._withdraw(waiter):
                    self._release(waiter)
                raise
        return waiter

    def release(self, ticket: _Waiter) -> None:
        """Give back a slot `acquire` returned."""
        self._release(ticket)

    @asynccontextmanager
    async def aslot(self, client: str, weight: int = 1) -> AsyncIterator[None]:
        """`slot` for coroutines."""
        ticket = await self.acquire(client, weight)
        try:
            yield
        finally:
            self._release(ticket)

    # -- running ----------------------------------------------------------------------------

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Start `fn(*args)` on one of the pool's threads (for work that holds a slot and gives
        it back itself, such as a streamed review)."""
        return self._threads.submit(fn, *args)

    def review(self, okrs: OKRSet, engine: Engine, what: str = "review") -> Any:
        """Review `okrs` while holding a slot: the rules engine in a worker process when the pool
        has them, anything else in this thread. `what` is "review" (the OKRReview), "records"
        (the stable per-KR records) or "json" (what `krcoach review -f json` writes)."""
        here = self.processes and engine.name == "rules" and self._here(okrs)
        if self.processes and engine.name == "rules" and not here:
            procs = self._process_pool()
            if procs is not None:
                try:
                    return procs.submit(review_in_worker, okrs, what).result()
                except Exception as exc:  # noqa: BLE001 - a lost worker: serve the review here
                    from concurrent.futures.process import BrokenProcessPool

                    if not isinstance(exc, BrokenProcessPool):
                        raise
                    self._drop_process_pool(procs)
                    self._broken += 1
                    if self._broken >= 2:  # workers that cannot start: stop trying
                        self.processes = False
                    log.warning("krcoach: a review worker stopped (%s); %s", exc,
                                "starting new ones" if self.processes else "reviewing in threads")
        try:
            return _finish(_review(okrs, engine), what)
        finally:
            if here:
                with self._lock:
                    self._reviewing_here = 0

    def _here(self, okrs: OKRSet) -> bool:
        """Whether to review a rules draft in this process: a small one (at most SMALL_DRAFT_KRS,
        a few milliseconds) while it is the only review on the server costs less than the trip
        to a worker and back. Under load everything goes to the workers: this process then only
        serves HTTP, and a client's large drafts never hold up others' small ones here."""
        if len(okrs.key_results()) > SMALL_DRAFT_KRS:
            return False
        with self._lock:
            if self._reviewing_here or self._running > 1:
                return False
            self._reviewing_here = 1
            return True

    def _process_pool(self) -> Executor | None:
        with self._procs_lock:
            if self._procs is None:
                try:
                    import multiprocessing
                    from concurrent.futures import ProcessPoolExecutor

                    ctx = multiprocessing.get_context("forkserver")
                    ctx.set_forkserver_preload(["krcoach.web.limits", "krcoach.coach", "krcoach.formats.outline",
                                                "krcoach.formats.writers", "krcoach.rules.engine"])
                    self._procs = ProcessPoolExecutor(self.workers, mp_context=ctx,
                                                      initializer=_worker_start)
                except (OSError, ValueError, ImportError) as exc:  # no processes here: threads
                    log.warning("krcoach: review workers unavailable (%s); reviewing in threads", exc)
                    self.processes = False
            return self._procs

    def _drop_process_pool(self, broken: Executor) -> None:
        with self._procs_lock:
            if self._procs is broken:
                self._procs = None
        broken.shutdown(wait=False, cancel_futures=True)

    def start(self) -> None:
        """Start the worker processes now (each warms up with one review), not on first use."""
        procs = self._process_pool() if self.processes else None
        if procs is not None:
            for _ in range(self.workers):
                procs.submit(_worker_ping)

    def close(self) -> None:
        with self._procs_lock:
            procs, self._procs = self._procs, None
        if procs is not None:
            procs.shutdown(wait=False, cancel_futures=True)
        self._threads.shutdown(wait=False, cancel_futures=True)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"workers": self.workers, "running": self._running, "waiting": self._waiting,
                    "clients": len(self._units), "refused": self.refused,
                    "processes": self.processes}


# ---------------------------------------------------------------------------- the review itself


def _review(okrs: OKRSet, engine: Engine) -> OKRReview:
    from krcoach import coach

    return coach.review(okrs, engine)


def _finish(review: OKRReview, what: str) -> Any:
    if what == "records":
        return review.records()
    if what == "json":
        from krcoach import formats

        return formats.render(review, "json")
    return review


_WORKER_ENGINE: Engine | None = None


def _worker_start() -> None:
    """A worker process's start: its own rules engine, warmed with one review."""
    global _WORKER_ENGINE
    from krcoach.engine import make_engine
    from krcoach.formats import parse_outline

    _WORKER_ENGINE = make_engine("rules")
    _review(parse_outline("- Raise weekly active teams from 40 to 60 by Q4"), _WORKER_ENGINE)


def _worker_ping() -> int:
    time.sleep(0.2)  # long enough that each ping starts a worker of its own
    return os.getpid()


def review_in_worker(okrs: OKRSet, what: str) -> Any:
    """Run in a worker process: the rules review of `okrs`, finished as `what`."""
    if _WORKER_ENGINE is None:
        _worker_start()
    assert _WORKER_ENGINE is not None
    return _finish(_review(okrs, _WORKER_ENGINE), what)


# ------------------------------------------------------------------------- Gradio's sessions

#: Sessions holding nothing (API calls) kept at most; see `bound_sessions`.
PROBATION_SESSIONS = 256
#: Sessions in all (people on the pages), oldest-used dropped first beyond it.
MAX_SESSIONS = 2000


def bound_sessions(holder: Any, *, capacity: int = MAX_SESSIONS,
                   probation: int = PROBATION_SESSIONS) -> bool:
    """Bound a launched Gradio app's session store (`app.state_holder`); True when done.

    Gradio makes a session for every call (one without a session hash gets a new one) and copies
    every component's config into it: about 300 KiB and 10 ms for krcoach's pages, kept for the
    last 10,000 sessions. Here a new session copies a component's config only when an event
    updates that component, sessions that never stored anything are kept at most `probation`
    (oldest dropped first), and all sessions at most `capacity`. A session that stored nothing
    is what a new one would be, so dropping it loses nothing. If this Gradio's session classes
    are not what this was written for, only the capacity is set (and False returned)."""
    try:
        from gradio.state_holder import SessionState, StateHolder
    except ImportError:
        return False
    if not isinstance(holder, StateHolder):
        return False
    holder.capacity = min(getattr(holder, "capacity", capacity), capacity)
    blocks = getattr(holder, "blocks", None)
    if blocks is None or not _lean_session_fits(SessionState, blocks):
        return False
    with holder.lock:
        holder.__class__ = _bounded_holder_class(StateHolder, SessionState)
        holder._probation = probation
        holder._fresh = OrderedDict((k, None) for k, s in holder.session_data.items()
                                    if not s.state_data)
    return True


def _lean_session_fits(session_cls: type, blocks: Any) -> bool:
    """Whether a lean session has every attribute a real one has (this Gradio's layout)."""
    try:
        real = session_cls(blocks)
        lean = _lean_session_class(session_cls)(blocks, None, "")
    except Exception:  # noqa: BLE001 - anything unexpected: leave Gradio's own sessions alone
        return False
    return set(vars(real)) <= set(vars(lean)) and isinstance(real.config_values, dict)


_CLASSES: dict[str, type] = {}


def _lean_session_class(session_cls: type) -> type:
    if "session" in _CLASSES:
        return _CLASSES["session"]

    class LeanSession(session_cls):  # type: ignore[misc, valid-type]
        """A session whose component configs are copied when an event updates them."""

        def __init__(self, blocks: Any, holder: Any, session_id: str) -> None:
            from copy import copy

            self.blocks_config = copy(blocks.default_config)
            self._page_blocks = blocks.blocks
            self.config_values = {}
            self.state_data = {}
            self._state_ttl = {}
            self.is_closed = False
            self.STATE_TTL_WHEN_CLOSED = 1 if os.getenv("GRADIO_IS_E2E_TEST", None) else 3600
            self._holder, self._session_id = holder, session_id

        def _api_only(self, key: int) -> bool:
            # A `gr.api` endpoint's parameter or result: no page shows it, so the session keeps
            # no copy of it (Gradio would keep every call's last input and result).
            return type(self.blocks_config.blocks.get(key)).__name__ == "Api"

        def __setitem__(self, key: int, value: Any) -> None:
            if self._api_only(key):
                return
            super().__setitem__(key, value)
            if self._holder is not None:
                self._holder._keep(self._session_id)

        def _update_value_in_config(self, key: int, value: Any) -> None:
            if self._api_only(key):
                return
            super()._update_value_in_config(key, value)
            if self._holder is not None:
                self._holder._keep(self._session_id)

        @property
        def components(self) -> Iterator[dict]:
            for key, block in self.blocks_config.blocks.items():
                if key in self._page_blocks and key not in self.config_values:
                    self.config_values[key] = self.blocks_config.config_for_block(key, [], block)
            yield from super().components

    _CLASSES["session"] = LeanSession
    return LeanSession


def _bounded_holder_class(holder_cls: type, session_cls: type) -> type:
    if "holder" in _CLASSES:
        return _CLASSES["holder"]
    lean = _lean_session_class(session_cls)

    class BoundedStateHolder(holder_cls):  # type: ignore[misc, valid-type]
        """Gradio's session store with lean sessions and a small room for empty ones."""

        _probation: int
        _fresh: OrderedDict[str, None]

        def __getitem__(self, session_id: str) -> Any:
            import datetime

            with self.lock:
                created = session_id not in self.session_data
                if created:
                    self.session_data[session_id] = lean(self.blocks, self, session_id)
                    self._fresh[session_id] = None
            self.update(session_id)
            self.time_last_used[session_id] = datetime.datetime.now()
            if created:
                self._drop_fresh(keep=session_id)
            return self.session_data.get(session_id) or lean(self.blocks, None, session_id)

        def update(self, session_id: str) -> None:
            with self.lock:
                if session_id in self.session_data:
                    self.session_data.move_to_end(session_id)
                while len(self.session_data) > self.capacity:
                    evicted, _ = self.session_data.popitem(last=False)
                    self.time_last_used.pop(evicted, None)
                    self._fresh.pop(evicted, None)

        def _keep(self, session_id: str) -> None:
            """The session stored something: it is someone's page now, not an API call's."""
            with self.lock:
                self._fresh.pop(session_id, None)

        def _drop_fresh(self, keep: str) -> None:
            self._created = getattr(self, "_created", 0) + 1
            if self._created % max(1, self._probation) == 0:
                _sweep_queue(self.blocks)
            with self.lock:
                while len(self._fresh) > self._probation:
                    oldest = next(iter(self._fresh))
                    if oldest == keep:
                        self._fresh.move_to_end(oldest)
                        if len(self._fresh) == 1:
                            return
                        continue
                    del self._fresh[oldest]
                    session = self.session_data.get(oldest)
                    if session is not None and not session.state_data and not session.config_values:
                        del self.session_data[oldest]
                        self.time_last_used.pop(oldest, None)

    _CLASSES["holder"] = BoundedStateHolder
    return BoundedStateHolder


def _sweep_queue(blocks: Any) -> None:
    """Drop the empty event-id sets Gradio's queue leaves behind, one per session that ever
    called (Gradio drops them itself only when an event is cancelled)."""
    pending = getattr(getattr(blocks, "_queue", None), "pending_event_ids_session", None)
    if not isinstance(pending, dict):
        return
    try:
        for key in [k for k, ids in list(pending.items()) if not ids]:
            if not pending.get(key, True):
                pending.pop(key, None)
    except RuntimeError:  # changed while read: the next sweep takes them
        pass
