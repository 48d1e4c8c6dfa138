"""The `krcoach` command. Each command is a thin call into the library.

Exit codes: 0 ok; 2 bad input or usage (one line on stderr naming file, row and field); 1 an
unexpected failure (one line; set KRCOACH_DEBUG=1 for the traceback); 130 interrupted, with every
finished record kept.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Iterator, TextIO

import typer

from .engine import EngineConfigError

if TYPE_CHECKING:
    from .models import OKRReview

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Coach OKR key results: output or outcome, why, and rewrites that never invent numbers.")


class EngineChoice(str, Enum):
    auto = "auto"
    rules = "rules"
    llm = "llm"


class OutFormat(str, Enum):
    table = "table"
    jsonl = "jsonl"
    json = "json"
    csv = "csv"
    md = "md"


class InFormat(str, Enum):
    jsonl = "jsonl"
    json = "json"
    csv = "csv"
    md = "md"


class UsageFailure(Exception):
    """A problem the user can fix: printed as one line, exit code 2."""


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"krcoach: error: {message}\n")
    raise typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn every failure into one line on stderr and the documented exit code."""
    from .formats import InputError

    try:
        yield
    except (InputError, EngineConfigError, UsageFailure) as exc:
        _fail(str(exc), 2)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(0) from None
    except KeyboardInterrupt:
        sys.stderr.write("krcoach: interrupted; finished records were kept\n")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence for a CLI
        if os.environ.get("KRCOACH_DEBUG"):
            raise
        _fail(f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
              "(set KRCOACH_DEBUG=1 for details)", 1)


@contextmanager
def _open_output(path: Path | None, streaming: bool) -> Iterator[TextIO]:
    """stdout, or a file: streamed formats write complete lines as they go (an interrupted run keeps
    them); whole-document formats go to a temporary file renamed into place at the end."""
    if path is None:
        yield sys.stdout
        return
    if path.is_dir():
        raise UsageFailure(f"{path}: --output is a directory")
    if not path.parent.exists():
        raise UsageFailure(f"{path}: folder {path.parent} does not exist")
    if streaming:
        with path.open("w", encoding="utf-8", newline="") as fh:
            yield fh
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@app.command()
def review(
    files: Annotated[list[str] | None, typer.Argument(help="OKR files (.jsonl .json .csv .md .txt) or - for stdin.")] = None,
    engine: Annotated[EngineChoice, typer.Option(help="auto: llm when OPENAI_API_KEY or OPENAI_BASE_URL is set.",
                                                 envvar="KRCOACH_ENGINE")] = EngineChoice.auto,
    fmt: Annotated[OutFormat, typer.Option("--format", "-f", help="Output format.")] = OutFormat.table,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    input_format: Annotated[InFormat | None, typer.Option(help="Override the format the extension implies.")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="LLM requests in flight.")] = 4,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the LLM cache.")] = False,
) -> None:
    """Review key results and print a verdict, issues and rewrites for each."""
    from .coach import iter_review
    from .engine import make_engine
    from .formats import WRITERS, read_path
    from .models import OKRReview
    from . import checks

    with _errors():
        sources = files or ["-"]
        if sources == ["-"] and sys.stdin.isatty():
            raise UsageFailure("no input: give a file, or pipe OKRs into `krcoach review -`")
        # Validate every input before any work starts.
        sets = [read_path(src, input_format.value if input_format else None) for src in sources]
        eng = make_engine(engine.value, use_cache=not no_cache)
        total = sum(len(s.key_results()) for s in sets)
        started = time.perf_counter()
        objectives = []
        set_findings = []
        with _open_output(output, streaming=fmt in (OutFormat.jsonl, OutFormat.csv)) as out, \
                _progress(total) as advance:
            writer = WRITERS[fmt.value](out)
            writer.start()
            try:
                for okrs in sets:
                    set_findings += checks.set_findings(okrs)
                    for obj_review in iter_review(okrs, eng, concurrency=concurrency):
                        writer.objective(obj_review)
                        objectives.append(obj_review)
                        advance(len(obj_review.krs))
            finally:
                result = OKRReview(objectives=objectives, findings=set_findings, engine=eng.name, model=eng.model)
                if len(objectives) == sum(len(s.objectives) for s in sets):
                    writer.finish(result)
        _summary(result, time.perf_counter() - started)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _summary(result: OKRReview, seconds: float) -> None:
    s = result.summary()
    model = f" {result.model}" if result.model else ""
    parts = [_count(s["krs"], "key result"), _count(s["outcomes"], "outcome"), _count(s["outputs"], "output"),
             f"{s['need_work']} need work"]
    if s["fallbacks"]:
        parts.append(f"{s['fallbacks']} fell back to rules")
    if s["errors"]:
        parts.append(_count(s["errors"], "error"))
    sys.stderr.write(f"krcoach: {', '.join(parts)} (engine {result.engine}{model}, {seconds:.2f}s)\n")


@contextmanager
def _progress(total: int) -> Iterator:
    """A progress bar on stderr for large inputs at a terminal; a no-op otherwise."""
    if total < 200 or not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("reviewing", total=total)
        yield lambda n: progress.advance(task, n)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 7860,
    engine: Annotated[EngineChoice, typer.Option(envvar="KRCOACH_ENGINE")] = EngineChoice.auto,
) -> None:
    """Start the browser app (drafting page and workshop) at http://HOST:PORT."""
    with _errors():
        from .engine import resolve_engine_name
        from .app import serve as serve_app

        try:
            serve_app(host=host, port=port, engine=resolve_engine_name(engine.value))
        except OSError as exc:
            # Gradio's own text here suggests env vars and launch() arguments: name the CLI's option.
            raise UsageFailure(f"cannot listen on {host}:{port} (in use or not allowed); "
                               "choose another with --port or --host") from exc


@app.command("eval")
def eval_cmd(
    dataset: Annotated[Path, typer.Option(help="Labelled JSONL dataset.")] = Path("evals/krs.jsonl"),
    engine: Annotated[EngineChoice, typer.Option(envvar="KRCOACH_ENGINE")] = EngineChoice.auto,
    report: Annotated[Path | None, typer.Option(help="Folder for samples.jsonl and manifest.json.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest with metrics as JSON.")] = False,
    compare: Annotated[tuple[Path, Path] | None, typer.Option(help="Two run folders: list samples that flipped.")] = None,
    min_accuracy: Annotated[float | None, typer.Option(help="Exit 1 when accuracy is below this (0-1).")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 4,
    no_cache: Annotated[bool, typer.Option("--no-cache")] = False,
) -> None:
    """Measure an engine on a labelled dataset, or compare two runs."""
    import json

    from . import evaluate
    from .engine import make_engine

    with _errors():
        if compare:
            flips = evaluate.compare(*compare)
            if as_json:
                print(json.dumps(flips, indent=2, ensure_ascii=False))
            else:
                _print_flips(flips)
            return
        eng = make_engine(engine.value, use_cache=not no_cache)
        folder = report or Path("evals/runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{eng.name}"
        manifest = evaluate.run_eval(dataset, eng, folder, concurrency=concurrency)
        if as_json:
            print(json.dumps(manifest, indent=2, ensure_ascii=False))
        else:
            _print_metrics(manifest, folder)
        acc = manifest["metrics"]["accuracy"]
        if min_accuracy is not None and (acc is None or acc < min_accuracy):
            sys.stderr.write(f"krcoach: accuracy {acc} is below --min-accuracy {min_accuracy}\n")
            raise typer.Exit(1)


def _print_metrics(manifest: dict, folder: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    m = manifest["metrics"]
    c = Console(highlight=False)
    model = f" {manifest.get('model')}" if manifest.get("model") else ""
    c.print(f"[bold]{manifest['dataset']}[/] — engine {manifest['engine']}{model}: "
            f"{m['scored']} scored, {m['unscored_ambiguous']} ambiguous not scored")
    c.print(f"accuracy [bold]{m['accuracy']:.1%}[/]" if m["accuracy"] is not None else "accuracy n/a")
    t = Table("class", "precision", "recall", "support", title="per class", title_justify="left")
    for cls, v in m["per_class"].items():
        t.add_row(cls, _pct(v["precision"]), _pct(v["recall"]), str(v["support"]))
    c.print(t)
    t = Table("gold \\ predicted", "output", "outcome", title="confusion", title_justify="left")
    for gold, row in m["confusion"].items():
        t.add_row(gold, str(row["output"]), str(row["outcome"]))
    c.print(t)
    t = Table("tag", "n", "accuracy", title="per tag (weakest first)", title_justify="left")
    for tag, v in sorted(m["per_tag"].items(), key=lambda kv: (kv[1]["accuracy"], -kv[1]["n"])):
        t.add_row(tag, str(v["n"]), _pct(v["accuracy"]))
    c.print(t)
    rc = m["rewrite_checks"]
    c.print(f"rewrites {rc['rewrites']}: unparsable {rc['unparsable']}, invented numbers "
            f"{rc['invented_numbers']}, output rewrites not read as outcome {rc['not_outcome']}")
    c.print(f"statuses {m['statuses']}; log and manifest in {folder}")


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def _print_flips(flips: list[dict]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    c = Console(highlight=False)
    if not flips:
        c.print("no sample changed its verdict")
        return
    t = Table("id", "label", "A", "B", "change", "key result", title=f"{len(flips)} samples flipped")
    for f in flips:
        t.add_row(f["id"], f["label"], f["a"], f["b"], f["change"], escape(f["kr"][:90]))
    c.print(t)
    counts = {k: sum(f["change"] == k for f in flips) for k in ("fixed", "broke", "changed")}
    c.print(f"fixed {counts['fixed']}, broke {counts['broke']}, changed (ambiguous) {counts['changed']}")


@app.command()
def cache(clear: Annotated[bool, typer.Option("--clear", help="Delete every cached answer.")] = False) -> None:
    """Show the LLM answer cache (location, entries, size) or clear it."""
    with _errors():
        from .cache import cache_info, clear_cache

        if clear:
            print(f"removed {clear_cache()} cached answers")
            return
        info = cache_info()
        for key, value in info.items():
            print(f"{key}: {value}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
