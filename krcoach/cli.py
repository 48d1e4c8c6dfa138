"""The `krcoach` command. Each command is a thin call into the library.

Exit codes: 0 ok; 2 bad input or usage (one line on stderr naming file, row and field); 1 an
unexpected failure (one line; set KRCOACH_DEBUG=1 for the traceback); 130 interrupted (Ctrl-C) and
143 terminated (SIGTERM), with every finished record kept.
"""

from __future__ import annotations

import math
import os
import signal
import stat
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Iterator, TextIO

import typer

from krcoach.version import __version__
from krcoach.engine import ENGINE_NAMES, EngineConfigError

if TYPE_CHECKING:
    from krcoach.engine import Engine
    from krcoach.models import OKRReview, OKRSet

HELP = "Coach OKR key results: output or outcome, why, and rewrites that never invent numbers."
app = typer.Typer(add_completion=False, invoke_without_command=True, rich_markup_mode=None, help=HELP,
                  context_settings={"help_option_names": ["-h", "--help"]})

OUT_FORMATS = ("table", "jsonl", "json", "csv", "md")
IN_FORMATS = ("jsonl", "json", "csv", "md")
#: What `-o PATH` implies when `-f` is not given.
OUT_EXTENSIONS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".md": "md",
                  ".markdown": "md", ".txt": "table"}
#: More KRs than this in a full table to stdout earn a hint about --compact and -f jsonl.
LONG_TABLE = 300
#: At most this many skipped input lines are listed one by one on stderr.
MAX_NOTES = 20


def _version(value: bool) -> None:
    if value:
        print(f"krcoach {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.",
                                          callback=_version, is_eager=True)] = False,
) -> None:
    """Coach OKR key results: output or outcome, why, and rewrites that never invent numbers."""
    if ctx.invoked_subcommand is None:
        print(ctx.get_help())
        raise typer.Exit(0)


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


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"krcoach: error: {message}\n")
    raise typer.Exit(code)


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
        raise typer.Exit(0) from None
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, _Terminated)
        what = "terminated" if terminated else "interrupted"
        p = progress or {}
        if p.get("total"):
            what += f" after {p.get('done', 0):,} of {_count(p['total'], 'key result')}"
        sys.stderr.write(f"krcoach: {what}; {p.get('kept', 'finished records were kept')}\n")
        raise typer.Exit(128 + signal.SIGTERM if terminated else 130) from None
    except (typer.Exit, typer.Abort):
        raise
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


def _engine_name(ctx: typer.Context, value: str) -> str:
    source = ctx.get_parameter_source("engine")
    from_env = getattr(source, "name", "") == "ENVIRONMENT"
    return _choice(value, ENGINE_NAMES, "engine", " (from KRCOACH_ENGINE)" if from_env else "") or "auto"


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


def _named(okrs: OKRSet, team: str | None) -> OKRSet:
    from krcoach.formats.readers import name_team

    return name_team(okrs, team)


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


@app.command()
def review(
    ctx: typer.Context,
    files: Annotated[list[str] | None, typer.Argument(help="OKR files (.jsonl .json .csv .md .txt) or - for stdin.",
                                                      metavar="FILE", show_default=False)] = None,
    engine: Annotated[str, typer.Option(metavar="<auto|rules|llm>", envvar="KRCOACH_ENGINE",
                                        help="auto: llm when OPENAI_API_KEY or OPENAI_BASE_URL is set or a local "
                                             "server answers (see krcoach doctor), else rules.")] = "auto",
    fmt: Annotated[str | None, typer.Option("--format", "-f", metavar="<table|jsonl|json|csv|md>",
                                            help="Output format. Default: from -o's extension "
                                                 "(.json .jsonl .ndjson .csv .md, .txt is a table), "
                                                 "else table.", show_default=False)] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    compact: Annotated[bool, typer.Option("--compact", help="Table with one line per key result "
                                                            "(id, kind, text, issue codes).")] = False,
    input_format: Annotated[str | None, typer.Option(metavar="<jsonl|json|csv|md>",
                                                     help="Override the format the extension implies.")] = None,
    cycle: Annotated[str | None, typer.Option(help="The period the KRs run in, e.g. 2026-Q1: a KR inside a "
                                                   "dated cycle has a deadline.")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="LLM requests in flight.")] = 4,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the LLM cache.")] = False,
    plan: Annotated[bool | None, typer.Option("--plan/--no-plan", help="Add the plan review (conflicts, "
                                              "duplicates, dependencies between teams, owners, the five-question "
                                              "audit). Default: when the input names teams or several files "
                                              "are given.", show_default=False)] = None,
    fail_on: Annotated[str | None, typer.Option("--fail-on", metavar="CODES",
                                                help="Exit 1 when any KR, objective, set or plan finding has one "
                                                     "of these comma-separated codes, e.g. activity,conflict "
                                                     "(for CI).", show_default=False)] = None,
) -> None:
    """Review key results and print a verdict, issues and rewrites for each.

    Several files are one plan: each file's stem is the team of the KRs that name none.
    """
    from krcoach import checks
    from krcoach.coach import iter_review, merge_sets, plan_review, wants_plan
    from krcoach.engine import make_engine
    from krcoach.formats.readers import open_input, team_from_name
    from krcoach.formats.rows import RowFile
    from krcoach.formats.writers import WRITERS, CSVWriter, passed_through
    from krcoach.models import OKRReview

    progress: dict[str, Any] = {}
    with _errors(progress, sigterm=True), ExitStack() as inputs:
        engine_name = _engine_name(ctx, engine)
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
        sets: list[Any] = [got.facts(team) if isinstance(got, RowFile) else _named(got, team)
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
                raise typer.Exit(1)


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
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


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


def _summary(result: OKRReview, seconds: float, tally: _Tally | None = None) -> None:
    """The one summary line of a review, on stderr (from `tally` when the reviews were not kept)."""
    s = tally.summary() if tally is not None else result.summary()
    common = ", ".join(f"{code} {n:,}" for code, n in (
        tally.problems.most_common(3) if tally is not None else result.common_problems()))
    parts = [_count(s["outcomes"], "outcome"), _count(s["outputs"], "output"),
             f"{s['need_work']:,} need work" + (f" (most often {common})" if common else "")]
    if s["fallbacks"]:
        parts.append(f"{s['fallbacks']:,} fell back to rules")
    if s["errors"]:
        parts.append(_count(s["errors"], "error"))
    model = f" {result.model}" if result.model else ""
    sys.stderr.write(f"krcoach: {_count(s['krs'], 'key result')}: {', '.join(parts)} "
                     f"(engine {result.engine}{model}, {_seconds(seconds)})\n")
    from krcoach.engine import NO_REWRITE_HINT
    from krcoach.issue_codes import needs_work

    bare = tally.bare if tally is not None else sum(
        not k.rewrites and needs_work(k.issue_codes()) for k in result.kr_reviews() if k.engine == "rules")
    if bare:
        sys.stderr.write(f"krcoach: {_count(bare, 'key result')} got no rewrite: {NO_REWRITE_HINT}\n")
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


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 7860,
    engine: Annotated[str, typer.Option(metavar="<auto|rules|llm>", envvar="KRCOACH_ENGINE")] = "auto",
) -> None:
    """Start the browser app (drafting page and workshop) at http://HOST:PORT."""
    with _errors():
        from krcoach.engine import resolve_engine_name
        from krcoach.web.app import serve as serve_app

        name = resolve_engine_name(_engine_name(ctx, engine))
        try:
            serve_app(host=host, port=port, engine=name)
        except OSError as exc:
            # Gradio's own text here suggests env vars and launch() arguments: name the CLI's option.
            raise UsageFailure(f"cannot listen on {host}:{port} (in use or not allowed); "
                               "choose another with --port or --host") from exc


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


@app.command("eval")
def eval_cmd(
    ctx: typer.Context,
    dataset: Annotated[Path | None, typer.Option(help="Labelled JSONL dataset. Default: the project's own "
                                                      "set (evals/krs.jsonl), shipped with krcoach.",
                                                 show_default=False)] = None,
    engine: Annotated[str, typer.Option(metavar="<auto|rules|llm>", envvar="KRCOACH_ENGINE")] = "auto",
    report: Annotated[Path | None, typer.Option(help="Folder for samples.jsonl and manifest.json. "
                                                     "Default: evals/runs/TIME-ENGINE here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest with metrics as JSON.")] = False,
    compare: Annotated[tuple[Path, Path] | None, typer.Option(help="Two run folders: list samples that flipped.")] = None,
    min_accuracy: Annotated[str | None, typer.Option(metavar="<0-1|percent>",
                                                     help="Exit 1 when accuracy is below this: "
                                                          "0.9, 90 and 90% all mean 90%.")] = None,
    cycle: Annotated[str | None, typer.Option(help="The period the KRs run in, e.g. 2026-Q1.")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="LLM requests in flight.")] = 4,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the LLM cache.")] = False,
    slots: Annotated[Path | None, typer.Option(metavar="FILE", help="Gold rewrite slots (evals/SLOTS.md). "
                                               "Default: slots.jsonl beside the dataset, if any.")] = None,
    no_loo: Annotated[bool, typer.Option("--no-loo", help="Skip leave-one-organisation-out.")] = False,
    replay: Annotated[Path | None, typer.Option(metavar="FILE", help="Recorded model answers (evals/"
                                                "answers/): served from a local OpenAI-compatible "
                                                "server to the llm engine; only their objectives "
                                                "are scored.")] = None,
    plans: Annotated[bool, typer.Option("--plans", help="Score the plan review instead: multi-team plans "
                                        "with planted conflicts, duplicates, dependencies and ambition "
                                        "issues (DIR with gold.jsonl; default: the shipped evals/plans/).")] = False,
    plans_dir: Annotated[Path | None, typer.Argument(metavar="DIR", help="With --plans: the folder of plans.",
                                                     show_default=False)] = None,
) -> None:
    """Measure an engine on a labelled dataset, or compare two runs."""
    import json

    from krcoach.evaluation import run as evaluate
    from krcoach.engine import make_engine

    with _errors(sigterm=True):
        if plans_dir is not None and not plans:
            raise UsageFailure(f"{plans_dir}: a folder is read only with --plans (krcoach eval --plans DIR)")
        if plans:
            eng = make_engine(_engine_name(ctx, engine), use_cache=not no_cache)
            with _plans_folder(plans_dir) as folder:
                manifest = evaluate.run_plan_eval(folder, eng, report)
            manifest.pop("rows", None)
            if as_json:
                print(json.dumps(manifest, indent=2, ensure_ascii=False))
            else:
                _print_plan_metrics(manifest, report)
            return
        if compare:
            flips = evaluate.compare(*compare)
            if as_json:
                print(json.dumps(flips, indent=2, ensure_ascii=False))
            else:
                _print_flips(flips)
            return
        bar = _min_accuracy(min_accuracy)
        with ExitStack() as stack:
            recorded: set[str] | None = None
            if replay is not None:
                from krcoach.evaluation.replay import ReplayServer, load

                if _engine_name(ctx, engine) == "rules":
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
                eng = make_engine(_engine_name(ctx, engine), use_cache=not no_cache)
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
            raise typer.Exit(1)


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


@app.command()
def cache(clear: Annotated[bool, typer.Option("--clear", help="Delete every cached answer.")] = False) -> None:
    """Show the LLM answer cache (location, entries, size) or clear it."""
    with _errors():
        from krcoach.llm.cache import cache_info, clear_cache

        if clear:
            print(f"removed {clear_cache():,} cached answers")
            return
        info = cache_info()
        for key, value in info.items():
            print(f"{key}: {value:,}" if isinstance(value, int) else f"{key}: {value}")


@app.command()
def doctor(
    base_url: Annotated[str | None, typer.Option("--base-url", metavar="URL",
                                                 help="Endpoint to check, ending in /v1. Default: what "
                                                      "auto would use (OPENAI_BASE_URL, OpenAI with "
                                                      "OPENAI_API_KEY, or a local server it finds).",
                                                 show_default=False)] = None,
    model: Annotated[str | None, typer.Option(metavar="M", help="Model to review with. Default: "
                                              "KRCOACH_MODEL, else the first the server lists.",
                                              show_default=False)] = None,
) -> None:
    """Check an LLM endpoint: reachable, models, mode, and one review. Exit 0 when the model
    answered, 1 when the review fell back to rules, 2 when unreachable or misconfigured."""
    with _errors():
        from krcoach.doctor import diagnose

        code = diagnose(base_url, model, echo=lambda line: print(line, flush=True))
    raise typer.Exit(code)


def _click_class(name: str) -> type[Exception]:
    """click's exception class (typer vendors click in recent releases, so no `import click`)."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)


def main() -> None:
    """Run the CLI. Usage errors (unknown option, bad value) read like every other error: one line,
    exit code 2, instead of click's framed usage block."""
    usage_error, click_exception = _click_class("UsageError"), _click_class("ClickException")
    command = typer.main.get_command(app)
    try:
        code = command.main(args=sys.argv[1:], prog_name="krcoach", standalone_mode=False)
    except click_exception as exc:
        message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
        ctx = getattr(exc, "ctx", None)
        hint = f" (see {ctx.command_path} -h)" if isinstance(exc, usage_error) and ctx is not None else ""
        sys.stderr.write(f"krcoach: error: {message}{hint}\n")
        sys.exit(2 if isinstance(exc, usage_error) else exc.exit_code)  # type: ignore[attr-defined]
    except typer.Abort:
        sys.stderr.write("krcoach: interrupted\n")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
