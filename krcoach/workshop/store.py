"""The workshop database: one SQLite file under `KRCOACH_DATA_DIR`, opened in WAL mode.

Everything a workshop is made of (its KRs, participants, every submission version, votes, round
state, the timer) lives here and nowhere else, so a restarted or second app process sees exactly
what the first one acknowledged. Each thread gets its own connection; writes run in
`BEGIN IMMEDIATE` transactions so concurrent submitters serialize in SQLite instead of racing.

Schema changes are ordered migration steps keyed by `PRAGMA user_version`: a database written by
an older krcoach is upgraded in place when it is opened, and one written by a newer krcoach is
refused with a clear message instead of being damaged.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

DB_FILENAME = "workshops.sqlite3"
BUSY_TIMEOUT_MS = 15_000


class StoreError(RuntimeError):
    """The database cannot be used (newer schema, unreadable file); the message says why."""


def default_data_dir() -> Path:
    """`KRCOACH_DATA_DIR`, else the platform's user data dir for krcoach."""
    env = os.environ.get("KRCOACH_DATA_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("krcoach", appauthor=False))


# ------------------------------------------------------------------------------------ migrations
# Each step takes the schema from version N-1 to N. Steps are append-only: a released step is
# never edited, because databases in the wild were built by it.

_V1 = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE workshops (
    id               INTEGER PRIMARY KEY,
    code             TEXT NOT NULL UNIQUE,
    title            TEXT NOT NULL,
    facilitator_hash TEXT NOT NULL,
    engine           TEXT,
    round_open       INTEGER NOT NULL DEFAULT 1,
    created_at       REAL NOT NULL
);
CREATE TABLE items (
    id          INTEGER PRIMARY KEY,
    workshop_id INTEGER NOT NULL REFERENCES workshops(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    text        TEXT NOT NULL,
    UNIQUE (workshop_id, position)
);
CREATE TABLE participants (
    id          INTEGER PRIMARY KEY,
    workshop_id INTEGER NOT NULL REFERENCES workshops(id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    alias_no    INTEGER NOT NULL,
    name        TEXT,
    joined_at   REAL NOT NULL,
    UNIQUE (workshop_id, alias_no)
);
CREATE TABLE submissions (
    id             INTEGER PRIMARY KEY,
    workshop_id    INTEGER NOT NULL REFERENCES workshops(id) ON DELETE CASCADE,
    item_id        INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    participant_id INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
    version        INTEGER NOT NULL,
    text           TEXT NOT NULL,
    kind           TEXT,
    record_json    TEXT,
    created_at     REAL NOT NULL,
    UNIQUE (participant_id, item_id, version)
);
CREATE INDEX submissions_by_workshop ON submissions (workshop_id, item_id);
"""

_V2 = """
ALTER TABLE workshops ADD COLUMN revealed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workshops ADD COLUMN voting_open INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workshops ADD COLUMN names_hidden INTEGER NOT NULL DEFAULT 1;
ALTER TABLE workshops ADD COLUMN timer_ends_at REAL;
ALTER TABLE workshops ADD COLUMN timer_seconds INTEGER;
ALTER TABLE submissions ADD COLUMN favourite INTEGER NOT NULL DEFAULT 0;
ALTER TABLE submissions ADD COLUMN request_id TEXT;
CREATE UNIQUE INDEX submissions_request ON submissions (participant_id, request_id)
    WHERE request_id IS NOT NULL;
CREATE INDEX submissions_by_participant_time ON submissions (participant_id, created_at);
CREATE TABLE votes (
    workshop_id    INTEGER NOT NULL REFERENCES workshops(id) ON DELETE CASCADE,
    item_id        INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    voter_id       INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
    author_id      INTEGER NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
    created_at     REAL NOT NULL,
    PRIMARY KEY (voter_id, item_id)
);
CREATE INDEX votes_by_item ON votes (workshop_id, item_id);
"""

# Rate-limit events (see RateLimiter): one row per counted action, pruned after an hour.
_V3 = """
CREATE TABLE rate_events (
    bucket TEXT NOT NULL,
    at     REAL NOT NULL
);
CREATE INDEX rate_events_by_bucket ON rate_events (bucket, at);
CREATE INDEX rate_events_by_time ON rate_events (at);
"""

# Each participant's submission allowance, a token bucket kept as one number (GCRA): the time at
# which their bucket is full again (see workshop.SUBMIT_BURST). NULL: full.
_V4 = """
ALTER TABLE participants ADD COLUMN submit_tat REAL;
"""

Migration = Callable[[sqlite3.Connection], None] | str

#: Ordered steps: MIGRATIONS[0] builds version 1, MIGRATIONS[1] upgrades 1 -> 2, and so on.
MIGRATIONS: list[Migration] = [_V1, _V2, _V3, _V4]
SCHEMA_VERSION = len(MIGRATIONS)


def _apply(conn: sqlite3.Connection, step: Migration) -> None:
    if callable(step):
        step(conn)
        return
    # executescript() would COMMIT our open transaction; run the statements one by one instead.
    for statement in _split_sql(step):
        conn.execute(statement)


def _split_sql(script: str) -> list[str]:
    statements, current = [], []
    for line in script.splitlines():
        current.append(line)
        candidate = "\n".join(current).strip()
        if candidate and sqlite3.complete_statement(candidate):
            statements.append(candidate)
            current = []
    rest = "\n".join(current).strip()
    if rest:
        statements.append(rest)
    return statements


# ----------------------------------------------------------------------------------------- store


class Store:
    """A workshop database at `path`, migrated to `target_version` (default: the latest)."""

    def __init__(self, path: str | Path | None = None, *, target_version: int | None = None):
        if path is None:
            path = default_data_dir() / DB_FILENAME
        self.path = Path(path)
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Created owner-only before SQLite opens it: it holds names, rewrites and token
            # hashes. SQLite gives the -wal and -shm files the database file's permissions.
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        except OSError as err:
            raise StoreError(f"{self.path}: cannot create the workshop database ({err})") from err
        self._local = threading.local()
        self.migrate(SCHEMA_VERSION if target_version is None else target_version)
        self.restrict_permissions()
        self.limiter = RateLimiter(self)

    def restrict_permissions(self) -> None:
        """Make the database and its -wal/-shm files owner-only (0600), e.g. one made by an
        older krcoach under a permissive umask. Files we do not own are left as they are."""
        for path in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            try:
                if path.exists() and path.stat().st_mode & 0o077:
                    os.chmod(path, 0o600)
            except OSError:
                pass

    # -- connections
    def connection(self) -> sqlite3.Connection:
        """This thread's connection (created on first use; SQLite objects are not shareable)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                       isolation_level=None)
                conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode = WAL")
                # FULL: a submission the participant saw acknowledged survives a crash and a
                # power cut, not just a killed process. The cost is one fsync per write.
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute("PRAGMA foreign_keys = ON")
            except sqlite3.DatabaseError as err:
                raise StoreError(f"{self.path}: cannot open the workshop database ({err})") from err
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (other threads' connections close with their thread)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken with BEGIN IMMEDIATE so checks and inserts are atomic.

        `durable=False` is for bookkeeping whose loss in a power cut costs nothing (a used-up
        rate allowance, a counted bad attempt): its commit skips the fsync (WAL with
        synchronous=NORMAL) and becomes durable with the next durable commit. A killed process
        loses nothing either way; only the machine going down can.
        """
        conn = self.connection()
        if not durable:
            conn.execute("PRAGMA synchronous = NORMAL")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            if not durable:
                conn.execute("PRAGMA synchronous = FULL")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for reads that span several queries."""
        conn = self.connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    # -- schema
    def schema_version(self) -> int:
        return int(self.connection().execute("PRAGMA user_version").fetchone()[0])

    def migrate(self, target: int = SCHEMA_VERSION) -> int:
        """Apply pending steps up to `target` in one transaction each; return the new version."""
        if not 0 <= target <= SCHEMA_VERSION:
            raise StoreError(f"unknown schema version {target} (this krcoach knows 0..{SCHEMA_VERSION})")
        conn = self.connection()
        while True:
            with self.write():
                current = int(conn.execute("PRAGMA user_version").fetchone()[0])
                if current > SCHEMA_VERSION:
                    raise StoreError(
                        f"{self.path}: the workshop database has schema version {current}, newer "
                        f"than this krcoach supports ({SCHEMA_VERSION}); upgrade krcoach"
                    )
                if current >= target:
                    return current
                _apply(conn, MIGRATIONS[current])
                conn.execute(f"PRAGMA user_version = {current + 1}")

    # -- small key/value settings that must outlive the process
    def meta(self, key: str, default_factory: Callable[[], str] | None = None) -> str | None:
        """Read a setting; when absent and `default_factory` is given, create it exactly once."""
        conn = self.connection()
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is not None or default_factory is None:
            return None if row is None else str(row["value"])
        with self.write():
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                         (key, default_factory()))
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row["value"])

    def secret(self, key: str) -> str:
        """A random secret created on first use and kept in the database (e.g. the key for
        browser-side state, so identities stored in a browser still decode after a restart)."""
        value = self.meta(key, lambda: secrets.token_urlsafe(32))
        assert value is not None
        return value


class RateLimiter:
    """Sliding-window limits on what one device, participant or client address may do (join,
    vote, create, guess codes).

    Kept in the workshop database (table `rate_events`), not in process memory, for the same
    reason as everything else in a workshop: several app processes may serve one room, and a
    restart must not hand an attacker a fresh allowance. Each counted action is one small row
    written in the caller's own write transaction, so it costs no extra fsync; rows older than
    `MAX_WINDOW_S` are pruned as new ones arrive. Who is counted (an address, a device id, a
    participant) is stored only as a keyed hash (HMAC with a random key kept in the database),
    never as it came.

    A bucket names what is counted and for whom, e.g. `join:<workshop id>:<hash>`; the limits
    themselves (how many per how long) are chosen by the caller.
    """

    MAX_WINDOW_S = 3600.0

    def __init__(self, store: Store) -> None:
        self.store = store
        # Read (or made) now, outside any transaction: buckets are named inside them.
        self._key = store.secret("rate_limit_key").encode() if store.schema_version() >= 1 else b""

    def bucket(self, action: str, who: str, scope: object = "") -> str:
        digest = hmac.new(self._key, who.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:32]
        return f"{action}:{scope}:{digest}"

    def wait(self, conn: sqlite3.Connection, bucket: str, limit: int, window: float,
             now: float) -> float:
        """Seconds until one more action fits in `bucket` (0.0: it fits now)."""
        # The limit-th most recent event in the window, read off the (bucket, at) index: one row,
        # however large the limit (the coarse per-address caps run to thousands).
        row = conn.execute(
            "SELECT at FROM rate_events WHERE bucket = ? AND at > ? ORDER BY at DESC "
            "LIMIT 1 OFFSET ?",
            (bucket, now - window, limit - 1),
        ).fetchone()
        if row is None:
            return 0.0
        return max(0.001, row["at"] + window - now)

    def hit(self, conn: sqlite3.Connection, bucket: str, now: float) -> None:
        """Count one action (inside the caller's write transaction)."""
        conn.execute("DELETE FROM rate_events WHERE at < ?", (now - self.MAX_WINDOW_S,))
        conn.execute("INSERT INTO rate_events (bucket, at) VALUES (?, ?)", (bucket, now))

    def record(self, buckets: list[str], now: float) -> None:
        """Count one action in each of `buckets`, in a transaction of their own (e.g. a failed
        attempt whose own transaction was rolled back)."""
        if not buckets:
            return
        with self.store.write(durable=False) as conn:
            for bucket in buckets:
                self.hit(conn, bucket, now)


_stores: dict[Path, Store] = {}
_stores_lock = threading.Lock()


def open_store(data_dir: str | Path | None = None) -> Store:
    """The Store for `data_dir` (default: `default_data_dir()`), shared within the process.

    Sharing only avoids re-running the migration check; the Store holds no workshop state.
    """
    path = Path(data_dir).expanduser() / DB_FILENAME if data_dir else default_data_dir() / DB_FILENAME
    path = path.resolve()
    with _stores_lock:
        store = _stores.get(path)
        if store is None:
            store = _stores[path] = Store(path)
        return store
