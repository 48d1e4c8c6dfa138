"""What every workshop handler shares: the store, the engine, the submission pacer, and the
Gradio concurrency groups the workshop's events run in.

One `Backend` per app, made by `mount.mount_workshop` and handed to both pages and the API
endpoints. It holds no workshop state: that is all in the database.
"""

from __future__ import annotations

import threading

from krcoach.engine import Engine
from krcoach.workshop import domain as ws
from krcoach.workshop.pacer import SubmitPacer
from krcoach.workshop.store import Store, open_store

#: Events of each group below that run at once (submissions are bounded by the pacer instead).
POLL_CONCURRENCY = 8
#: The participant page's events (load, join, poll, vote) and the `workshop_state` endpoint.
POLL_GROUP = "krcoach-workshop-poll"
#: The facilitator page's events and the other named endpoints (submissions excepted).
ADMIN_GROUP = "krcoach-workshop-admin"

_store_lock = threading.Lock()


class Backend:
    """Where handlers find the store and the engine. Opened on first use so that building the app
    (e.g. in a test of the drafting page) creates no database; holds no workshop state."""

    def __init__(self, engine: Engine | str | None):
        self.engine_arg = engine
        self._store: Store | None = None
        self.pacer = SubmitPacer()

    @property
    def store(self) -> Store:
        with _store_lock:
            if self._store is None:
                self._store = open_store()
            return self._store

    @property
    def engine(self) -> Engine:
        return ws.resolve_engine(self.engine_arg)

    @property
    def engine_name(self) -> str | None:
        try:
            return self.engine.name
        except Exception:
            return None
