"""The `krcoach` command. Each command is a thin call into the library.

Exit codes: 0 ok; 2 bad input or usage (one line on stderr naming file, row and field); 1 an
unexpected failure (one line; set KRCOACH_DEBUG=1 for the traceback); 130 interrupted (Ctrl-C) and
143 terminated (SIGTERM), with every finished record kept.

The command line is parsed by the standard library's argparse, built in one place (`build_parser`),
not by a framework: the CLI runs in CI hooks and scripts, where every start pays for what it
imports, and typer cost about 40 ms of every start (its import, and a pydantic validator built per
option at parse time) for a review of one KR that takes 10.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import stat
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, NoReturn, TextIO

from krcoach.version import __version__
from krcoach.engine import ENGINE_NAMES, NO_REWRITE_HINT, EngineConfigError

if TYPE_CHECKING:
    from krcoach.engine import Engine
    from krcoach.models import OKRReview, OKRSet

HELP = "Coach OKR key results: output or outcome, why, and rewrites that never invent numbers."

OUT_FORMATS = ("table", "jsonl", "json", "csv", "md")
IN_FORMATS = ("jsonl", "json", "csv", "md")
#: What `-o PATH` implies when `-f` is not given.
OUT_EXTENSIONS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".md": "md",
                  ".markdown": "md", ".txt": "table"}
#: More KRs than this in a full table to stdout earn a hint about --compact and -f jsonl.
LONG_TABLE = 300
#: At most this many skipped input lines are listed one by one on stderr.
MAX_NOTES = 20
#: Where `--engine` falls back to when it is not given (an empty value counts as unset).
ENGINE_ENV = "KRCOACH_ENGINE"


class UsageFailure(Exception):
    """A problem the user can fix: printed as one line, exit code 2."""


class OutputError(UsageFailure):
    """Writing the output failed (permission, full disk, ...): one line naming the file, exit code 2.

    `kept` says what stays behind; `partial` (a streamed format) adds how far the run got; `stdout`
    points standard output at /dev/null so the interpreter's last flush cannot fail again."""

    def __init__(self, message: str, *, kept: str | None = None, partial: bool = False,
                 stdout: bool = False) -> None:
        super().__init__(message)
        self.kept, self.partial, self.stdout = kept, partial, stdout


def _fail(message: str, code: int) -> NoReturn:
    sys.stderr.write(f"krcoach: error: {message}\n")
    raise SystemExit(code)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: stop, keep what is finished, say so."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated()


@contextmanager
def _errors(progress: dict[str, Any] | None = None, *, sigterm: bool = False) -> Iterator[None]:
    """Turn every failure into one line on stderr and the documented exit code.

    With `sigterm`, SIGTERM is treated as Ctrl-C while the block runs (unless it was ignored when
    we started), so a batch stopped by a job runner keeps its finished records too. `progress` (done, total, kept)
    lets the interrupted message say how far the run got and what was kept.
    """
    from krcoach.formats.errors import InputError

    restore = None
    if sigterm and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        restore = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    except OutputError as exc:
        if exc.stdout:
            _stdout_to_devnull()
        p = progress or {}
        message = str(exc)
        if exc.partial and p.get("total"):
            message += f"; stopped after {p.get('done', 0):,} of {_count(p['total'], 'key result')}"
        if exc.kept:
            message += f"; {exc.kept}"
        _fail(message, 2)
    except (InputError, EngineConfigError, UsageFailure) as exc:
        _fail(str(exc), 2)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as Unix tools do.
        _stdout_to_devnull()
        raise SystemExit(0) from None
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, _Terminated)
        what = "terminated" if terminated else "interrupted"
        p = progress or {}
        if p.get("total"):
            what += f" after {p.get('done', 0):,} of {_count(p['total'], 'key result')}"
        sys.stderr.write(f"krcoach: {what}; {p.get('kept', 'finished records were kept')}\n")
        raise SystemExit(128 + signal.SIGTERM if terminated else 130) from None
    except Exception as exc:  # noqa: BLE001 - the last line of defence for a CLI
        if os.environ.get("KRCOACH_DEBUG"):
            raise
        _fail(f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
              "(set KRCOACH_DEBUG=1 for details)", 1)
    finally:
        if restore is not None:
            signal.signal(signal.SIGTERM, restore)


def _choice(value: str | None, choices: tuple[str, ...], what: str, source: str = "") -> str | None:
    """An option value checked against its choices, with the error every option error has."""
    if value is None:
        return None
    v = value.strip().lower()
    if v not in choices:
        raise UsageFailure(f"unknown {what} {value!r}{source}: use one of {', '.join(choices)}")
    return v


def _engine_name(value: str | None) -> str:
    """--engine when given, else KRCOACH_ENGINE when set and not empty, else auto. Read here, not
    at parse time, so that a bad value says where it came from."""
    if value is not None:
        return _choice(value, ENGINE_NAMES, "engine") or "auto"
    return _choice(os.environ.get(ENGINE_ENV) or None, ENGINE_NAMES, "engine", f" (from {ENGINE_ENV})") or "auto"


def _out_format(fmt: str | None, output: Path | None) -> str:
    """-f when given, else what -o's extension says, else the table."""
    if fmt is not None:
        return _choice(fmt, OUT_FORMATS, "format") or "table"
    if output is None:
        return "table"
    suffix = output.suffix.lower()
    if suffix not in OUT_EXTENSIONS:
        raise UsageFailure(f"{output}: cannot tell the output format from {suffix or 'a name without an extension'}: "
                           f"add -f ({', '.join(OUT_FORMATS)}) or name the file "
                           f"{', '.join(OUT_EXTENSIONS)}")
    return OUT_EXTENSIONS[suffix]


def _with_cycle(okrs: OKRSet, cycle: str | None) -> OKRSet:
    if cycle:
        okrs.cycle = cycle
    return okrs


def _notes(sets: list[OKRSet]) -> None:
    """The lines each reader did not take, so nothing is dropped silently."""
    skipped = [line for s in sets for line in getattr(s, "skipped", [])]
    for line in skipped[:MAX_NOTES]:
        sys.stderr.write(f"krcoach: note: {line.source}:{line.line}: {line.reason}\n")
    if len(skipped) > MAX_NOTES:
        sys.stderr.write(f"krcoach: note: {len(skipped) - MAX_NOTES:,} more skipped lines not listed\n")


def _stdout_to_devnull() -> None:
    """Point fd 1 at /dev/null, so the interpreter's last flush of stdout cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _cannot_write(shown: str, exc: OSError) -> str:
    return f"{shown}: cannot write: {exc.strerror or exc}"


class _Sink:
    """A text file over a descriptor that turns every write error into `OutputError` naming the file.

    Text is encoded as UTF-8 with no newline translation. Unless `hold`, it reaches the descriptor
    as it comes (in 64 KiB pieces) and each `flush()` (a writer flushes after every objective) marks
    the end of whole records in `committed`; with `hold` nothing is written before `close()`.
    """

    CHUNK = 1 << 16

    def __init__(self, fd: int, shown: str, *, hold: bool, kept: str | None, partial: bool) -> None:
        self._fd, self.shown, self._hold = fd, shown, hold
        self._kept, self._partial = kept, partial
        self._parts: list[str] = []
        self._pending = 0
        self.written = self.committed = 0

    def write(self, text: str) -> int:
        self._parts.append(text)
        self._pending += len(text)
        if not self._hold and self._pending >= self.CHUNK:
            self._drain()
        return len(text)

    def flush(self) -> None:
        if not self._hold:
            self._drain()
            self.committed = self.written

    def close(self) -> None:
        self._drain()
        self.committed = self.written

    def _drain(self) -> None:
        if not self._parts:
            return
        data = memoryview("".join(self._parts).encode("utf-8"))
        self._parts, self._pending = [], 0
        while data:
            try:
                n = os.write(self._fd, data)
            except BrokenPipeError:
                raise  # a FIFO's reader went away: as with `| head`, stop quietly
            except OSError as exc:
                raise OutputError(_cannot_write(self.shown, exc), kept=self._kept, partial=self._partial) from None
            self.written += n
            data = data[n:]

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def writable(self) -> bool:
        return True


class _GuardedStdout:
    """sys.stdout, with write errors other than a closed pipe as `OutputError` (e.g. `> /dev/full`)."""

    def __init__(self, inner: TextIO, partial: bool) -> None:
        self._inner, self._partial = inner, partial

    def _call(self, name: str, *args: Any) -> Any:
        try:
            return getattr(self._inner, name)(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(_cannot_write("<stdout>", exc), partial=self._partial, stdout=True) from None

    def write(self, text: str) -> int:
        return self._call("write", text)

    def flush(self) -> None:
        self._call("flush")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _temp_beside(target: str) -> tuple[int, str]:
    """A new file next to `target` (same folder, so a rename is atomic), created with the
    permissions a new file gets (0666 less the umask)."""
    folder, name = os.path.split(target)
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{os.urandom(4).hex()}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


@contextmanager
def _open_output(path: Path | None, streaming: bool) -> Iterator[TextIO]:
    """stdout, or what -o names, written through rather than replaced:

    - a regular file or a new path: streamed formats write complete records as they go (an
      interrupted or failed run keeps every finished record and no partial one); whole-document
      formats go to a temporary file beside it, fsynced and renamed into place at the end;
    - a symlink: followed, and its target written as above (the link stays a link);
    - a character device or a FIFO (`/dev/null`, `/dev/stdout`, a named pipe): opened and written in
      place, never replaced;
    - a directory or anything else: a one-line error.
    Every failure to open or write is an `OutputError` (exit code 2) that names the file.
    """
    if path is None:
        out = _GuardedStdout(sys.stdout, partial=streaming)
        yield out  # type: ignore[misc]
        out.flush()
        return
    shown = str(path)
    try:
        st: os.stat_result | None = os.stat(path)  # follows symlinks
    except FileNotFoundError:
        st = None  # a new file, or a symlink to one
    except OSError as exc:  # a symlink loop, a folder we may not enter, a file as a folder
        raise OutputError(_cannot_write(shown, exc)) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise UsageFailure(f"{shown}: --output is a directory")
    if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        # Opened by the name given: /dev/stdout's link target in /proc is no path to open.
        with _written_in_place(os.fspath(path), shown, streaming) as out:
            yield out
        return
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = "block device" if stat.S_ISBLK(st.st_mode) else "socket" if stat.S_ISSOCK(st.st_mode) else "special file"
        raise UsageFailure(f"{shown}: --output is a {kind}; krcoach writes to a file, a character device "
                           "or a FIFO")
    if st is not None and not os.access(path, os.W_OK):  # a read-only file is not replaced either
        raise OutputError(_cannot_write(shown, PermissionError(13, os.strerror(13)))) from None
    # The file itself, not the link: its folder holds the temporary file and the link stays a link.
    target = os.path.realpath(path) if os.path.islink(path) else os.fspath(path)
    folder = Path(target).parent
    if not folder.is_dir():
        raise UsageFailure(f"{shown}: folder {folder} does not exist")
    if streaming:
        with _streamed_to_file(target, shown) as out:
            yield out
        return
    with _replaced_atomically(target, shown, st) as out:
        yield out


@contextmanager
def _written_in_place(target: str, shown: str, streaming: bool) -> Iterator[TextIO]:
    """A character device or FIFO: opened for writing (a FIFO waits for its reader) and written
    through; a whole-document format is held until the end and written there in one go."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise OutputError(_cannot_write(shown, exc)) from None
    kept = "what was written before it stays written" if streaming else f"the output in {shown} is incomplete"
    try:
        sink = _Sink(fd, shown, hold=not streaming, kept=kept, partial=streaming)
        yield sink  # type: ignore[misc]
        sink.close()
    finally:
        os.close(fd)


@contextmanager
def _streamed_to_file(target: str, shown: str) -> Iterator[TextIO]:
    """A regular file written as the records come. On any failure or interruption the file is cut
    back to the last complete objective, so every record in it is whole."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise OutputError(_cannot_write(shown, exc)) from None
    sink = _Sink(fd, shown, hold=False, kept=f"the complete records written before it are kept in {shown}",
                 partial=True)
    try:
        yield sink  # type: ignore[misc]
        sink.close()
    except BaseException:
        try:
            os.ftruncate(fd, sink.committed)
        except OSError:
            pass
        raise
    finally:
        os.close(fd)


@contextmanager
def _replaced_atomically(target: str, shown: str, st: os.stat_result | None) -> Iterator[TextIO]:
    """A whole document: a temporary file beside the target (the target's permissions when it
    exists), written, fsynced and renamed over it; on failure the target is as it was."""
    kept = f"{shown} was left as it was" if st is not None else f"nothing was written to {shown}"
    try:
        fd, tmp = _temp_beside(target)
    except OSError as exc:
        raise OutputError(f"{shown}: cannot write in {Path(target).parent}: {exc.strerror or exc}") from None
    try:
        if st is not None:
            os.fchmod(fd, stat.S_IMODE(st.st_mode))
            if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                try:
                    os.fchown(fd, st.st_uid, st.st_gid)
                except OSError:
                    pass  # not ours to give away: the file becomes the writer's, as with cp
        sink = _Sink(fd, shown, hold=False, kept=kept, partial=False)
        yield sink  # type: ignore[misc]
        sink.close()
        try:
            os.fsync(fd)
            os.close(fd)
            fd = -1
            os.replace(tmp, target)
        except OSError as exc:
            raise OutputError(_cannot_write(shown, exc), kept=kept) from None
        try:  # the rename itself survives a crash once the folder is synced
            dir_fd = os.open(Path(target).parent, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            pass
    finally:
        if fd >= 0:
            os.close(fd)
        if os.path.lexists(tmp):
            os.unlink(tmp)


def review(*, files: list[str], engine: str | None, fmt: str | None, output: Path | None, compact: bool,
           input_format: str | None, cycle: str | None, concurrency: int, no_cache: bool, plan: bool | None,
           fail_on: str | None) -> int:
    """`krcoach review`: read every input first (a bad one fails before any work), review, write as
    the records come; 1 when --fail-on found one of its codes."""
    from krcoach import checks
    from krcoach.coach import iter_review, merge_sets, plan_review, wants_plan
    from krcoach.engine import make_engine
    from krcoach.formats.readers import name_team, open_input, team_from_name
    from krcoach.formats.rows import RowFile
    from krcoach.formats.writers import WRITERS, CSVWriter, passed_through
    from krcoach.models import OKRReview

    progress: dict[str, Any] = {}
    with _errors(progress, sigterm=True), ExitStack() as inputs:
        engine_name = _engine_name(engine)
        out_fmt = _out_format(fmt, output)
        in_fmt = _choice(input_format, IN_FORMATS, "input format")
        if compact and out_fmt != "table":
            raise UsageFailure(f"--compact is a table layout; the output format here is {out_fmt}")
        sources = files or ["-"]
        if sources == ["-"] and sys.stdin.isatty():
            raise UsageFailure("no input: give a file, or pipe OKRs into `krcoach review -` (see krcoach review -h)")
        fail_codes = _fail_codes(fail_on)
        # Validate every input before any work starts. JSONL and CSV are checked whole too, but
        # kept as a RowFile (where each row is, and the set's facts), not as their key results.
        opened: list[Any] = []
        for src in sources:
            opened.append(open_input(src, in_fmt))
            if isinstance(opened[-1], RowFile):
                inputs.callback(opened[-1].close)
        # Several files are one plan: a file's stem is the team of its KRs that name none.
        teams = [team_from_name(src) if len(sources) > 1 else None for src in sources]
        sets: list[Any] = [got.facts(team) if isinstance(got, RowFile) else name_team(got, team)
                           for got, team in zip(opened, teams)]
        with_plan = plan if plan is not None else (any(wants_plan(s) for s in sets) or len(sources) > 1
                                                    or bool(fail_codes & _plan_codes()))
        streaming = out_fmt in ("jsonl", "csv")
        if with_plan or not streaming:  # the plan review and the whole-document formats need every KR
            sets = [got.okrset(team) if isinstance(got, RowFile) else s for got, team, s in zip(opened, teams, sets)]
            opened = [None] * len(sets)
        for s in sets:
            _with_cycle(s, cycle)
        _notes(sets)
        eng = make_engine(engine_name, use_cache=not no_cache)
        total = sum(got.total if isinstance(got, RowFile) else len(s.key_results()) for got, s in zip(opened, sets))
        progress.update(done=0, total=total)
        if output is not None and not streaming:
            progress["kept"] = f"nothing was written to {output} ({out_fmt} is written whole at the end)"
        elif out_fmt == "json":
            progress["kept"] = "nothing was written (json is written whole at the end)"
        started = time.perf_counter()
        objectives = []
        set_findings = []
        # JSONL and CSV are written as they come: without a plan review nothing needs the reviews
        # again, so only their counts are kept (`_Tally`), and a JSONL or CSV input is read one
        # objective at a time (`RowFile.objectives`): memory does not grow with the input.
        keep = with_plan or not streaming
        tally = _Tally()
        with _open_output(output, streaming=streaming) as out, \
                _progress(total, enabled=not (output is None and sys.stdout.isatty())) as advance:
            if out_fmt == "table":
                from krcoach.formats.table import TableWriter

                writer: Any = TableWriter(out, compact=compact)
            elif out_fmt == "csv":  # the header names every passed-through column of every input
                columns = [c for got, s in zip(opened, sets)
                           for c in (got.extra_columns() if isinstance(got, RowFile) else passed_through([s]))]
                writer = CSVWriter(out, columns=list(dict.fromkeys(columns)))
            else:
                writer = WRITERS[out_fmt](out)
            if with_plan:
                writer.expect_plan()  # the plan goes first in md and the table: they hold the objectives
            writer.start()
            try:
                for got, okrs, team in zip(opened, sets, teams):
                    set_findings += checks.set_findings(okrs)
                    if isinstance(got, RowFile):
                        reviews = iter_review(okrs, eng, concurrency=concurrency, objectives=got.objectives(team),
                                              size=got.total)
                        pairs: Any = ((None, r) for r in reviews)
                    else:
                        pairs = zip(okrs.objectives, iter_review(okrs, eng, concurrency=concurrency))
                    for objective, obj_review in pairs:
                        writer.objective(obj_review)
                        tally.add(obj_review)
                        if keep:
                            objectives.append(obj_review)
                        elif objective is not None:
                            objective.krs = []  # reviewed and written: its input is not needed again
                        progress["done"] += len(obj_review.krs)
                        advance(len(obj_review.krs))
            finally:
                # Built from reviewed parts: no validation (it would build the schema of every model
                # the result can hold, the plan review's too, for a check that cannot fail).
                result = OKRReview.model_construct(objectives=objectives, findings=set_findings, engine=eng.name,
                                                   model=eng.model, skipped=[line for s in sets for line in s.skipped])
                tally.findings(set_findings)
                if tally.objectives == sum(len(s.objectives) for s in sets):
                    if with_plan:  # once, over every input
                        try:
                            result.plan = plan_review(merge_sets(sets), result, eng)
                        except BaseException:
                            writer.release()  # what was reviewed still reaches the reader
                            raise
                    writer.finish(result)
                else:
                    writer.release()
        if out_fmt == "table" and not compact and output is None and total > LONG_TABLE:
            sys.stderr.write(f"krcoach: hint: {total:,} key results make a long table: --compact prints one "
                             "line each, -f jsonl or -f csv suit a file or a script\n")
        _summary(result, time.perf_counter() - started, tally)
        if fail_codes:
            counts = tally.code_counts(result)
            hits = [(c, counts[c]) for c in sorted(fail_codes) if counts.get(c)]
            if hits:
                sys.stderr.write("krcoach: failing (--fail-on): " + ", ".join(f"{c} {n:,}" for c, n in hits) + "\n")
                return 1
    return 0


def _plan_codes() -> set[str]:
    from krcoach.issue_codes import table

    return {c for c, row in table().items() if row.scope == "plan"}


def _fail_codes(value: str | None) -> set[str]:
    """--fail-on: comma-separated codes, each one known to the issue table (a usage error otherwise)."""
    if value is None:
        return set()
    from krcoach.issue_codes import table

    codes = [c.strip().lower() for c in value.split(",") if c.strip()]
    if not codes:
        raise UsageFailure("--fail-on needs one or more codes, e.g. --fail-on activity,conflict")
    known = table()
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise UsageFailure(f"--fail-on: unknown code{'s' if len(unknown) > 1 else ''} "
                           f"{', '.join(repr(c) for c in unknown)}: use codes from the issue table, e.g. "
                           "activity, no_metric, conflict, duplicate, dependency, wrong_direction (README 'Issue codes')")
    return set(codes)


def _count(n: int, noun: str) -> str:
    if n == 1:
        return f"{n:,} {noun}"
    return f"{n:,} {noun[:-1]}ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else f"{n:,} {noun}s"


def _seconds(s: float) -> str:
    return f"{s:.2f} s" if s < 1 else f"{s:,.1f} s"


class _Tally:
    """What the summary line and --fail-on need from a review, counted objective by objective as
    the records are written: the same numbers as `OKRReview.summary()`, `common_problems()` and
    `code_counts()`, without keeping the reviews."""

    def __init__(self) -> None:
        from collections import Counter

        from krcoach.issue_codes import table

        self._table = table()
        self.objectives = self.krs = self.outcomes = self.outputs = self.need_work = 0
        self.fallbacks = self.errors = self.bare = 0
        self.problems: Counter[str] = Counter()  # need-work codes, one per KR
        self.codes: Counter[str] = Counter()  # every code: KR issues, objective and set findings

    def add(self, review: Any) -> None:
        t = self._table
        self.objectives += 1
        for k in review.krs:
            codes = k.issue_codes()
            need = any(t[c].need_work for c in codes if c in t)
            self.krs += 1
            self.outcomes += k.kind == "outcome"
            self.outputs += k.kind == "output"
            self.need_work += need
            self.fallbacks += k.status == "fallback"
            self.errors += k.status == "error"
            self.bare += k.engine == "rules" and not k.rewrites and need
            distinct = set(codes)
            self.problems.update(c for c in distinct if c in t and t[c].need_work)
            self.codes.update(distinct)
        self.codes.update(f.code for f in review.findings)

    def findings(self, found: list[Any]) -> None:
        """The set-level findings, counted once at the end."""
        self.codes.update(f.code for f in found)

    def summary(self) -> dict[str, int]:
        return {"krs": self.krs, "outcomes": self.outcomes, "outputs": self.outputs, "need_work": self.need_work,
                "fallbacks": self.fallbacks, "errors": self.errors}

    def code_counts(self, result: OKRReview) -> dict[str, int]:
        counts = self.codes.copy()
        if result.plan is not None:
            counts.update(f.code for f in result.plan.findings)
        return dict(counts)


def _summary(result: OKRReview, seconds: float, tally: _Tally) -> None:
    """The one summary line of a review, on stderr: the counts from `tally` (the reviews may not
    have been kept), the engine and the plan review from `result`."""
    s = tally.summary()
    common = ", ".join(f"{code} {n:,}" for code, n in tally.problems.most_common(3))
    parts = [_count(s["outcomes"], "outcome"), _count(s["outputs"], "output"),
             f"{s['need_work']:,} need work" + (f" (most often {common})" if common else "")]
    if s["fallbacks"]:
        parts.append(f"{s['fallbacks']:,} fell back to rules")
    if s["errors"]:
        parts.append(_count(s["errors"], "error"))
    model = f" {result.model}" if result.model else ""
    sys.stderr.write(f"krcoach: {_count(s['krs'], 'key result')}: {', '.join(parts)} "
                     f"(engine {result.engine}{model}, {_seconds(seconds)})\n")
    if tally.bare:
        sys.stderr.write(f"krcoach: {_count(tally.bare, 'key result')} got no rewrite: {NO_REWRITE_HINT}\n")
    if result.plan is not None:
        p = result.plan
        counts = p.counts()
        cross = ", ".join(_count(counts.get(c, 0), c) for c in ("conflict", "duplicate", "dependency"))
        sys.stderr.write(f"krcoach: plan: {_count(len(p.teams), 'team')}: {cross}; audit {p.yes_answers} of 5 yes"
                         + (f"; active: {', '.join(k.name for k in p.active_killers)}" if p.active_killers else "")
                         + "\n")


@contextmanager
def _progress(total: int, enabled: bool = True) -> Iterator:
    """A progress bar on stderr for large inputs at a terminal; a no-op otherwise (and when the
    records themselves go to that terminal: they show the progress, and a bar would garble them)."""
    if not enabled or total < 200 or not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("reviewing", total=total)
        yield lambda n: progress.advance(task, n)


def serve(*, host: str, port: int, engine: str | None) -> int:
    """`krcoach serve`: the Gradio app; imported only here, it is the heaviest part of krcoach."""
    with _errors():
        from krcoach.engine import resolve_engine_name
        from krcoach.web.app import serve as serve_app

        name = resolve_engine_name(_engine_name(engine))
        try:
            serve_app(host=host, port=port, engine=name)
        except OSError as exc:
            # Gradio's own text here suggests env vars and launch() arguments: name the CLI's option.
            raise UsageFailure(f"cannot listen on {host}:{port} (in use or not allowed); "
                               "choose another with --port or --host") from exc
    return 0


def _min_accuracy(value: str | None) -> float | None:
    """0-1 or a percentage: 0.9, 90 and 90% all mean 90%. Says how it read the value."""
    if value is None:
        return None
    text = value.strip()
    percent = text.endswith("%")
    try:
        number = float(text.rstrip("%").strip())
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0 or number > 100 or (percent and not text[:-1].strip()):
        raise UsageFailure(f"--min-accuracy {value!r}: give a share from 0 to 1 (0.9) or a percentage "
                           "from 0 to 100 (90 or 90%)")
    if percent or number > 1:
        how = "as a percentage"
        share = number / 100
    else:
        how = "as a share of 1"
        share = number
    sys.stderr.write(f"krcoach: min accuracy {share:.1%} (read {text} {how})\n")
    return share


class _CycleEngine:
    """An engine that reviews every objective inside the given cycle (`krcoach eval --cycle`)."""

    def __init__(self, inner: Engine, cycle: str) -> None:
        self._inner, self._cycle = inner, cycle

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def review_objective(self, objective: Any, context: Any) -> Any:
        from dataclasses import replace

        if not context.cycle:
            context = replace(context, cycle=self._cycle)
        return self._inner.review_objective(objective, context)


@contextmanager
def _dataset(path: Path | None) -> Iterator[Path]:
    """--dataset, or the evaluation set shipped inside the package (`evals/` in the repo)."""
    if path is not None:
        yield path
        return
    from importlib.resources import as_file, files

    try:
        bundled = files("krcoach.evals") / "krs.jsonl"
    except ModuleNotFoundError:
        raise UsageFailure("this install has no bundled evaluation set: give one with --dataset") from None
    with as_file(bundled) as real:
        yield real


def eval_cmd(*, dataset: Path | None, engine: str | None, report: Path | None, as_json: bool,
             compare: list[Path] | None, min_accuracy: str | None, cycle: str | None, concurrency: int,
             no_cache: bool, slots: Path | None, no_loo: bool, replay: Path | None, plans: bool,
             plans_dir: Path | None) -> int:
    """`krcoach eval`: score an engine (or the plan review) on a labelled set, or compare two runs;
    1 when accuracy is below --min-accuracy, for a CI gate."""
    import json

    from krcoach.evaluation import run as evaluate
    from krcoach.engine import make_engine

    with _errors(sigterm=True):
        if plans_dir is not None and not plans:
            raise UsageFailure(f"{plans_dir}: a folder is read only with --plans (krcoach eval --plans DIR)")
        if plans:
            eng = make_engine(_engine_name(engine), use_cache=not no_cache)
            with _plans_folder(plans_dir) as folder:
                manifest = evaluate.run_plan_eval(folder, eng, report)
            manifest.pop("rows", None)
            if as_json:
                print(json.dumps(manifest, indent=2, ensure_ascii=False))
            else:
                _print_plan_metrics(manifest, report)
            return 0
        if compare:
            flips = evaluate.compare(*compare)
            if as_json:
                print(json.dumps(flips, indent=2, ensure_ascii=False))
            else:
                _print_flips(flips)
            return 0
        bar = _min_accuracy(min_accuracy)
        with ExitStack() as stack:
            recorded: set[str] | None = None
            if replay is not None:
                from krcoach.evaluation.replay import ReplayServer, load

                if _engine_name(engine) == "rules":
                    raise UsageFailure("--replay feeds recorded answers to the llm engine: use --engine llm")
                try:
                    recording = load(replay)
                except (OSError, ValueError, KeyError) as exc:
                    raise UsageFailure(f"{replay}: not a recording of model answers ({type(exc).__name__})") from None
                server = stack.enter_context(ReplayServer(recording))
                recorded = {r["objective"] for r in recording.values()}
                from krcoach.llm.engine import LLMEngine

                eng: Any = LLMEngine(base_url=server.url, model="recorded-answers", cache=None)
            else:
                eng = make_engine(_engine_name(engine), use_cache=not no_cache)
            if cycle:
                eng = _CycleEngine(eng, cycle)
            folder = report or Path("evals/runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{eng.name}"
            with _dataset(dataset) as data:
                manifest = evaluate.run_eval(data, eng, folder, concurrency=concurrency, slots=slots,
                                             loo=not no_loo, objectives=recorded)
        if as_json:
            print(json.dumps(manifest, indent=2, ensure_ascii=False))
        else:
            _print_metrics(manifest, folder)
        acc = manifest["metrics"]["accuracy"]
        if bar is not None and (acc is None or acc < bar):
            shown = "n/a" if acc is None else f"{acc:.1%}"
            sys.stderr.write(f"krcoach: accuracy {shown} is below --min-accuracy {bar:.1%}\n")
            return 1
    return 0


@contextmanager
def _plans_folder(path: Path | None) -> Iterator[Path]:
    """--plans DIR, or the plans shipped inside the package (`evals/plans/` in the repo)."""
    if path is not None:
        if not path.is_dir():
            raise UsageFailure(f"{path}: not a folder of plans (krcoach eval --plans DIR)")
        yield path
        return
    from importlib.resources import as_file, files

    try:
        bundled = files("krcoach.evals") / "plans"
    except ModuleNotFoundError:
        raise UsageFailure("this install has no bundled plans: give a folder, krcoach eval --plans DIR") from None
    if not bundled.is_dir():
        raise UsageFailure("this install has no bundled plans: give a folder, krcoach eval --plans DIR")
    with as_file(bundled) as real:
        yield Path(real)


def _print_plan_metrics(manifest: dict, report: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    m = manifest["metrics"]
    c = Console(highlight=False)
    model = f" {manifest.get('model')}" if manifest.get("model") else ""
    c.print(f"[bold]{manifest['plans']}[/] — engine {manifest['engine']}{model}: {m['plans']:,} plans "
            f"({m['seconds']:.2f} s)", soft_wrap=True)
    for split in ("all", *sorted(k for k in m if k not in ("all", "plans", "seconds"))):
        block = m[split]
        n = block.get("plans", m["plans"])
        t = Table("finding", "precision", "recall", "predicted", "right", "planted", "found",
                  title=f"{split} ({n:,} plans)", title_justify="left")
        for kind, v in block.items():
            if kind == "plans":
                continue
            t.add_row(kind, _pct(v["precision"]), _pct(v["recall"]), f"{v['predicted']:,}", f"{v['right']:,}",
                      f"{v['planted']:,}", f"{v['found']:,}")
        c.print(t)
    if report is not None:
        c.print(f"log and manifest in {report}")


def _print_metrics(manifest: dict, folder: Path) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    m = manifest["metrics"]
    c = Console(highlight=False)
    model = f" {manifest.get('model')}" if manifest.get("model") else ""
    c.print(f"[bold]{manifest['dataset']}[/] — engine {manifest['engine']}{model}: "
            f"{m['scored']:,} scored, {m['unscored_ambiguous']:,} ambiguous not scored")
    recall = ", ".join(f"{cls} recall {_pct(v['recall'])}" for cls, v in m["per_class"].items())
    c.print(f"accuracy [bold]{m['accuracy']:.1%}[/] ({m['scored']:,} scored; {recall})"
            if m["accuracy"] is not None else "accuracy n/a", soft_wrap=True)
    t = Table("class", "precision", "recall", "support", title="per class", title_justify="left")
    for cls, v in m["per_class"].items():
        t.add_row(cls, _pct(v["precision"]), _pct(v["recall"]), f"{v['support']:,}")
    c.print(t)
    t = Table("gold \\ predicted", "output", "outcome", title="confusion", title_justify="left")
    for gold, row in m["confusion"].items():
        t.add_row(gold, f"{row['output']:,}", f"{row['outcome']:,}")
    c.print(t)
    t = Table("tag", "n", "accuracy", title="per tag (weakest first)", title_justify="left")
    for tag, v in sorted(m["per_tag"].items(), key=lambda kv: (kv[1]["accuracy"], -kv[1]["n"])):
        t.add_row(tag, f"{v['n']:,}", _pct(v["accuracy"]))
    c.print(t)
    rc = m["rewrite_checks"]
    c.print(f"rewrites {rc['rewrites']:,}: unparsable {rc['unparsable']:,}, invented numbers "
            f"{rc['invented_numbers']:,}, output rewrites not read as outcome {rc['not_outcome']:,}, "
            f"misplaced numbers {rc.get('misplaced_numbers', 0):,}", soft_wrap=True)
    _print_eval_extras(c, m)
    llm = m.get("llm")
    if llm:
        c.print(f"llm answers: {llm['objectives']:,} objectives, re-asks {llm['reasks']:,}, KRs that fell back "
                f"{llm['fallback_krs']:,}, KRs with notes {llm['krs_with_notes']:,} ({llm['notes']:,} notes)",
                soft_wrap=True)
        for r in llm["rejections"][:20]:
            c.print(f"  re-asked: {escape(str(r['objective']))[:60]}: {escape(r['problems'])[:300]}", soft_wrap=True)
    statuses = ", ".join(f"{k} {v:,}" for k, v in m["statuses"].items())
    c.print(f"statuses {statuses}; log and manifest in {folder}")


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def _print_eval_extras(c: Any, m: dict) -> None:
    """Per organisation, leave-one-organisation-out, slots, target kept, rewrite variety, noise."""
    from rich.markup import escape
    from rich.table import Table

    def say(text: str) -> None:
        c.print(text, soft_wrap=True)  # one line each: hooks grep them

    per_org, loo = m.get("per_org") or {}, m.get("leave_one_org_out") or {}
    loo_org = loo.get("per_org") or {}
    if per_org:
        rated = sorted(((o, v) for o, v in per_org.items() if v["accuracy"] is not None),
                       key=lambda ov: (ov[1]["accuracy"], -ov[1]["n"]))
        ends = f", worst {escape(rated[0][0])} {_pct(rated[0][1]['accuracy'])} (n {rated[0][1]['n']:,}), best " \
               f"{escape(rated[-1][0])} {_pct(rated[-1][1]['accuracy'])} (n {rated[-1][1]['n']:,})" if rated else ""
        say(f"per organisation: {len(per_org):,} organisations{ends}")
        t = Table("organisation", "n", "accuracy", "left out", title_justify="left")
        for org, v in sorted(per_org.items(), key=lambda ov: (ov[1]["accuracy"] is None, ov[1]["accuracy"] or 0)):
            t.add_row(escape(org), f"{v['n']:,}", _pct(v["accuracy"]),
                      _pct(loo_org[org]["accuracy"]) if org in loo_org else "")
        c.print(t)
    if loo.get("status") == "ok":
        worst = loo.get("worst")
        w = f", worst: {escape(worst['org'])} {_pct(worst['accuracy'])}" if worst else ""
        say(f"leave-one-organisation-out [bold]{_pct(loo['accuracy'])}[/] ({loo['organisations']:,} organisations, "
            f"{loo['scored']:,} scored{w}; {loo['seconds']:.1f} s)")
    elif loo:
        say(f"leave-one-organisation-out {loo['status']} ({escape(loo.get('reason') or '')})")
    sl = m.get("slots") or {}
    if sl:
        how = f"gold {escape(sl['gold'])}" if sl.get("gold") else "no gold slots: checked against the draft"
        say(f"slot accuracy {_pct(sl['accuracy'])} ({sl['filled']:,} filled slots; {sl['misplaced']:,} "
            f"misplaced; {how})")
    tk = m.get("target_kept") or {}
    if tk:
        say(f"target kept {_pct(tk['share'])} ({tk['kept']:,} of {tk['eligible']:,} outcome KRs that state a target)")
    v = m.get("variety") or {}
    if v:
        per = "n/a" if v["distinct_per_kr"] is None else f"{v['distinct_per_kr']:.2f}"
        say(f"rewrite variety: {v['distinct_rewrites']:,} distinct rewrites for {v['krs_with_rewrites']:,} KRs "
            f"({per} per KR), first rewrite unique for {_pct(v['first_unique_share'])}; "
            f"{v['generic_rewrites']:,} generic placeholder rewrites")
    nw = m.get("need_work") or {}
    if nw:
        top = ", ".join(f"{i['code']} {_pct(i['share'])}" for i in m.get("top_issues") or []) or "none"
        say(f"need work {_pct(nw['share'])} of KRs ({nw['krs']:,}); most common issues: {top}")


def _print_flips(flips: list[dict]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    c = Console(highlight=False)
    if not flips:
        c.print("no sample changed its verdict")
        return
    t = Table("id", "label", "A", "B", "change", "key result", title=f"{len(flips):,} samples flipped")
    for f in flips:
        t.add_row(f["id"], f["label"], f["a"], f["b"], f["change"], escape(f["kr"][:90]))
    c.print(t)
    counts = {k: sum(f["change"] == k for f in flips) for k in ("fixed", "broke", "changed")}
    c.print(f"fixed {counts['fixed']:,}, broke {counts['broke']:,}, changed (ambiguous) {counts['changed']:,}")


def cache(*, clear: bool) -> int:
    """`krcoach cache`: where the LLM answer cache is and what it holds, or empty it."""
    with _errors():
        from krcoach.llm.cache import cache_info, clear_cache

        if clear:
            print(f"removed {clear_cache():,} cached answers")
            return 0
        info = cache_info()
        for key, value in info.items():
            print(f"{key}: {value:,}" if isinstance(value, int) else f"{key}: {value}")
    return 0


def doctor(*, base_url: str | None, model: str | None) -> int:
    """`krcoach doctor`: its exit code is the diagnosis (0 answered, 1 fell back to rules, 2
    unreachable or misconfigured), so a setup script can branch on it."""
    with _errors():
        from krcoach.doctor import diagnose

        code = diagnose(base_url, model, echo=lambda line: print(line, flush=True))
    return code


# ---------------------------------------------------------------------------------- the parser


class _UsageError(Exception):
    """A command line argparse (or a value check) refused: one line, exit code 2, and the help to
    read (`prog`: the command whose -h explains the option)."""

    def __init__(self, message: str, prog: str) -> None:
        super().__init__(message)
        self.prog = prog


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help, laid out as krcoach's help read under typer: "Usage:", at most 80 columns,
    each option once with its value ("-f, --format <...>", "--plan / --no-plan"), and text kept in
    its paragraphs (an indented line, such as the list of commands, as written)."""

    def __init__(self, prog: str) -> None:
        import shutil

        super().__init__(prog, max_help_position=32, width=max(min(shutil.get_terminal_size().columns, 80) - 2, 50))

    def add_usage(self, usage: str | None, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, "Usage: " if prefix is None else prefix)

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if isinstance(action, argparse.BooleanOptionalAction):
            return " / ".join(action.option_strings)
        if action.option_strings and action.nargs != 0:
            return ", ".join(action.option_strings) + " " + self._format_args(action, action.dest.upper())
        return super()._format_action_invocation(action)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        paragraphs = []
        for para in text.split("\n\n"):
            if any(line.startswith(" ") for line in para.splitlines()):
                paragraphs.append("\n".join(indent + line for line in para.splitlines()))
            else:
                paragraphs.append(textwrap.fill(" ".join(para.split()), width, initial_indent=indent,
                                                subsequent_indent=indent, break_on_hyphens=False))
        return "\n\n".join(paragraphs)


#: argparse's own error wording, said as krcoach said it under click. A Python release that
#: rewords one of these falls through to argparse's text: still one line and exit code 2.
_ARGPARSE_WORDING = (
    (r"argument (?P<opt>[^:]+): expected one argument", "Option '{opt}' requires an argument"),
    (r"argument (?P<opt>[^:]+): expected (?P<n>\d+) arguments", "Option '{opt}' requires {n} arguments"),
    (r"argument (?P<opt>[^:]+): ignored explicit argument .*", "Option '{opt}' does not take a value"),
    (r"argument COMMAND: invalid choice: (?P<value>'[^']*'|\S+).*", "No such command {value}"),
)


class _Parser(argparse.ArgumentParser):
    """argparse with krcoach's usage errors: raised as `_UsageError` (main prints one line and
    exits 2) instead of printing the usage block; no abbreviated long options (`--eng` is not
    `--engine`: a script that relied on a prefix would break when an option is added)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(formatter_class=_HelpFormatter, add_help=False, allow_abbrev=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        import re

        for pattern, wording in _ARGPARSE_WORDING:
            m = re.fullmatch(pattern, message)
            if m:
                message = wording.format(**m.groupdict())
                break
        raise _UsageError(message, self.prog)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        """Every word is known or it is an error of this parser, so the hint names the command
        (argparse would pass a command's unknown words up to the root: "see krcoach -h")."""
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self._unknown(extras)
        return namespace, extras

    def _unknown(self, extras: list[str], operands: bool = False) -> NoReturn:
        options = [] if operands else [e for e in extras if e.startswith("-") and e not in ("-", "--")]
        if not options:
            s = "s" if len(extras) > 1 else ""
            raise _UsageError(f"Got unexpected extra argument{s} ({' '.join(extras)})", self.prog)
        import difflib

        name = options[0].split("=", 1)[0]
        known = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise _UsageError(f"No such option: {name}{hint}", self.prog)


class _CommandParser(_Parser):
    """A command's parser: options and files in any order (`review a.md -f jsonl b.md`), as
    click allowed, which argparse does in its intermixed mode only; after `--` every word is a
    file, even one that starts with "-"."""

    _in_pass = False

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        if self._in_pass:  # one pass of the intermixed mode (3.11 and 3.12 make them through here)
            return argparse.ArgumentParser.parse_known_args(self, args, namespace)
        words = list(sys.argv[1:] if args is None else args)
        # The intermixed mode loses `--` in its first pass (3.11 to 3.13.0), so what follows it
        # is split off here and given to the command's positional argument.
        operands: list[str] = []
        if "--" in words:
            at = words.index("--")
            words, operands = words[:at], words[at + 1:]
        self._in_pass = True
        try:
            namespace, extras = self.parse_known_intermixed_args(words, namespace)
        finally:
            self._in_pass = False
        if extras:
            self._unknown(extras)
        if operands:
            self._add_operands(namespace, operands)
        return namespace, extras

    def _add_operands(self, namespace: argparse.Namespace, operands: list[str]) -> None:
        """The words after `--`, added to the positional argument (FILE..., or an optional DIR)."""
        slot = next((a for a in self._actions if not a.option_strings and a.nargs in ("*", "?")), None)
        if slot is None or (slot.nargs == "?" and (len(operands) > 1 or getattr(namespace, slot.dest) is not None)):
            self._unknown(operands, operands=True)
        values = [slot.type(w) if slot.type else w for w in operands]
        setattr(namespace, slot.dest, [*(getattr(namespace, slot.dest) or []), *values] if slot.nargs == "*" else values[0])


class _WholeNumber(argparse.Action):
    """An option that takes a whole number, within `low`..`high` when given; a bad value is a
    usage error that names the option as it was typed."""

    def __init__(self, option_strings: list[str], dest: str, low: int | None = None, high: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(option_strings, dest, **kwargs)
        self.low, self.high = low, high

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        what = f"Invalid value for '{option_string}'"
        try:
            number = int(values)
        except ValueError:
            raise _UsageError(f"{what}: {values!r} is not a whole number", parser.prog) from None
        if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
            raise _UsageError(f"{what}: {number} is not in the range {self.low} to {self.high}", parser.prog)
        setattr(namespace, self.dest, number)


ENGINE_HELP = ("auto: llm when OPENAI_API_KEY or OPENAI_BASE_URL is set or a local server answers (see krcoach "
               f"doctor), else rules. [env var: {ENGINE_ENV}; default: auto]")
CONCURRENCY_HELP = "LLM requests in flight, 1 to 64. [default: %(default)s]"
NO_CACHE_HELP = "Do not read or write the LLM cache."

#: Each command: its name, what runs it, its usage after the name, and its help (the first
#: sentence is its line in `krcoach -h`).
COMMANDS: tuple[tuple[str, Callable[..., int], str, str], ...] = (
    ("review", review, "[OPTIONS] [FILE]...",
     "Review key results and print a verdict, issues and rewrites for each.\n\n"
     "Several files are one plan: each file's stem is the team of the KRs that name none."),
    ("serve", serve, "[OPTIONS]", "Start the browser app (drafting page and workshop) at http://HOST:PORT."),
    ("eval", eval_cmd, "[OPTIONS] [DIR]", "Measure an engine on a labelled dataset, or compare two runs."),
    ("cache", cache, "[OPTIONS]", "Show the LLM answer cache (location, entries, size) or clear it."),
    ("doctor", doctor, "[OPTIONS]", "Check an LLM endpoint: reachable, models, mode, and one review.\n\n"
     "Exit 0 when the model answered, 1 when the review fell back to rules, 2 when unreachable or "
     "misconfigured."),
)


def _add_help(options: Any) -> None:
    options.add_argument("-h", "--help", action="help", help="Show this message and exit.")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line in one place: every command, option, default and help text.

    Defaults live here only; the command functions take every value as a keyword. Values with
    wording of their own (--engine, --format, --min-accuracy) are checked by the commands, which
    say what the choices are; KRCOACH_ENGINE is read there too (`_engine_name`)."""
    width = max(len(name) for name, *_ in COMMANDS) + 2
    listing = "\n".join(f"  {name.ljust(width)}{text.split(chr(10))[0]}" for name, _, _, text in COMMANDS)
    root = _Parser(prog="krcoach", usage="%(prog)s [OPTIONS] COMMAND [ARGS]...", description=HELP,
                   epilog=f"Commands:\n{listing}")
    options = root.add_argument_group("Options")
    options.add_argument("--version", action="version", version=f"krcoach {__version__}",
                         help="Print the version and exit.")
    _add_help(options)
    sub = root.add_subparsers(dest="command", metavar="COMMAND", prog="krcoach", parser_class=_CommandParser,
                              help=argparse.SUPPRESS)
    parsers: dict[str, tuple[Any, Any]] = {}
    for name, handler, usage, text in COMMANDS:
        p = sub.add_parser(name, usage=f"%(prog)s {usage}", description=text)
        p.set_defaults(handler=handler)
        parsers[name] = p.add_argument_group("Arguments"), p.add_argument_group("Options")

    args, opt = parsers["review"]
    args.add_argument("files", nargs="*", metavar="FILE", help="OKR files (.jsonl .json .csv .md .txt) or - for stdin.")
    opt.add_argument("--engine", metavar="<auto|rules|llm>", help=ENGINE_HELP)
    opt.add_argument("-f", "--format", dest="fmt", metavar="<table|jsonl|json|csv|md>",
                     help="Output format. Default: from -o's extension (.json .jsonl .ndjson .csv .md, .txt is a "
                          "table), else table.")
    opt.add_argument("-o", "--output", type=Path, metavar="PATH", help="Write here instead of stdout.")
    opt.add_argument("--compact", action="store_true",
                     help="Table with one line per key result (id, kind, text, issue codes).")
    opt.add_argument("--input-format", metavar="<jsonl|json|csv|md>", help="Override the format the extension implies.")
    opt.add_argument("--cycle", metavar="PERIOD", help="The period the KRs run in, e.g. 2026-Q1: a KR inside a dated "
                                                       "cycle has a deadline.")
    opt.add_argument("--concurrency", action=_WholeNumber, low=1, high=64, default=4, metavar="N", help=CONCURRENCY_HELP)
    opt.add_argument("--no-cache", action="store_true", help=NO_CACHE_HELP)
    opt.add_argument("--plan", action=argparse.BooleanOptionalAction,
                     help="Add the plan review (conflicts, duplicates, dependencies between teams, owners, the "
                          "five-question audit). Default: when the input names teams or several files are given.")
    opt.add_argument("--fail-on", metavar="CODES",
                     help="Exit 1 when any KR, objective, set or plan finding has one of these comma-separated "
                          "codes, e.g. activity,conflict (for CI).")
    _add_help(opt)

    _, opt = parsers["serve"]
    opt.add_argument("--host", default="127.0.0.1", help="Interface to listen on. [default: %(default)s]")
    opt.add_argument("--port", action=_WholeNumber, low=0, high=65535, default=7860, help="Port. [default: %(default)s]")
    opt.add_argument("--engine", metavar="<auto|rules|llm>", help=ENGINE_HELP)
    _add_help(opt)

    args, opt = parsers["eval"]
    args.add_argument("plans_dir", nargs="?", type=Path, metavar="DIR", help="With --plans: the folder of plans.")
    opt.add_argument("--dataset", type=Path, metavar="PATH", help="Labelled JSONL dataset. Default: the project's "
                                                                  "own set (evals/krs.jsonl), shipped with krcoach.")
    opt.add_argument("--engine", metavar="<auto|rules|llm>", help=ENGINE_HELP)
    opt.add_argument("--report", type=Path, metavar="DIR", help="Folder for samples.jsonl and manifest.json. "
                                                                "Default: evals/runs/TIME-ENGINE here.")
    opt.add_argument("--json", dest="as_json", action="store_true", help="Print the manifest with metrics as JSON.")
    opt.add_argument("--compare", nargs=2, type=Path, metavar=("RUN_A", "RUN_B"),
                     help="Two run folders: list samples that flipped.")
    opt.add_argument("--min-accuracy", metavar="<0-1|percent>",
                     help="Exit 1 when accuracy is below this: 0.9, 90 and 90%% all mean 90%%.")
    opt.add_argument("--cycle", metavar="PERIOD", help="The period the KRs run in, e.g. 2026-Q1.")
    opt.add_argument("--concurrency", action=_WholeNumber, low=1, high=64, default=4, metavar="N", help=CONCURRENCY_HELP)
    opt.add_argument("--no-cache", action="store_true", help=NO_CACHE_HELP)
    opt.add_argument("--slots", type=Path, metavar="FILE", help="Gold rewrite slots (evals/SLOTS.md). Default: "
                                                                "slots.jsonl beside the dataset, if any.")
    opt.add_argument("--no-loo", action="store_true", help="Skip leave-one-organisation-out.")
    opt.add_argument("--replay", type=Path, metavar="FILE",
                     help="Recorded model answers (evals/answers/): served from a local OpenAI-compatible server "
                          "to the llm engine; only their objectives are scored.")
    opt.add_argument("--plans", action="store_true",
                     help="Score the plan review instead: multi-team plans with planted conflicts, duplicates, "
                          "dependencies and ambition issues (DIR with gold.jsonl; default: the shipped evals/plans/).")
    _add_help(opt)

    _, opt = parsers["cache"]
    opt.add_argument("--clear", action="store_true", help="Delete every cached answer.")
    _add_help(opt)

    _, opt = parsers["doctor"]
    opt.add_argument("--base-url", metavar="URL", help="Endpoint to check, ending in /v1. Default: what auto would "
                     "use (OPENAI_BASE_URL, OpenAI with OPENAI_API_KEY, or a local server it finds).")
    opt.add_argument("--model", metavar="M", help="Model to review with. Default: KRCOACH_MODEL, else the first the "
                                                  "server lists.")
    _add_help(opt)
    return root


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI (`argv`: the words after `krcoach`, default sys.argv[1:]) and exit with the
    command's code. A usage error (unknown option, bad value, missing value) reads like every
    other error: one line on stderr naming the help to read, exit code 2."""
    parser = build_parser()
    try:
        args = vars(parser.parse_args(sys.argv[1:] if argv is None else argv))
        handler = args.pop("handler", None)
        args.pop("command", None)
        if handler is None:  # `krcoach` alone: what it can do
            parser.print_help()
            sys.exit(0)
        sys.exit(handler(**args))
    except _UsageError as exc:
        sys.stderr.write(f"krcoach: error: {exc} (see {exc.prog} -h)\n")
        sys.exit(2)
    except KeyboardInterrupt:  # outside a command's own handling (`_errors`): while starting
        sys.stderr.write("krcoach: interrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
