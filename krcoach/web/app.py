"""The drafting page: `krcoach serve`.

A person pastes or uploads a draft, sees every key result classified as output or outcome with the
reasons and issues, and pulls suggested rewrites into the draft. Handlers are thin: they parse with
`formats`, review with `coach`, and turn the `OKRReview` into HTML with the pure `render_*`
functions below (every user string escaped, so KR text is always text).

Layout contract with `workshop_ui.mount_workshop`: it is called *after* the main page's Blocks
context has closed, so it can add a page with `demo.route(...)`, or re-enter with `with demo:`
and append tabs or sections to the end of the main page.
"""

from __future__ import annotations

import atexit
import hashlib
import html
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The app never talks to the outside world; this must be set before gradio is imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Gradio's queue rebuilds a pandas summary of its last 10,000 events after every event (for its
# monitoring page, which krcoach turns off): a cost that grows with uptime. Summarise rarely.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")

from krcoach.workshop.store import default_data_dir  # noqa: E402

#: Gradio keeps a copy of every file the page hands out or receives (downloads, uploads) in
#: GRADIO_TEMP_DIR, by default a shared, world-readable /tmp/gradio. krcoach's own folder instead,
#: owner-only (see `private_temp_dir`); an explicit GRADIO_TEMP_DIR is respected. Set before
#: gradio is imported, as some of its modules read it then.
GRADIO_TEMP_SUBDIR = "gradio-tmp"
_DEFAULT_TEMP_DIR: str | None = None  # the value set here, when the user named none
if not os.environ.get("GRADIO_TEMP_DIR"):  # unset or blank: Gradio would use /tmp/gradio
    _DEFAULT_TEMP_DIR = os.environ["GRADIO_TEMP_DIR"] = str(default_data_dir() / GRADIO_TEMP_SUBDIR)

import gradio as gr  # noqa: E402

from krcoach import coach, formats, issue_codes  # noqa: E402
from krcoach.web import door
from krcoach.web import limits
from krcoach.web import validate
from krcoach.engine import NO_REWRITE_HINT, Engine, make_engine  # noqa: E402
from krcoach.web.examples import EXAMPLES  # noqa: E402
from krcoach.models import (  # noqa: E402
    ISSUE_CODES,
    MAX_KR_CHARS,
    Finding,
    KRReview,
    ObjectiveReview,
    OKRReview,
    OKRSet,
)
from krcoach.safe import md_text  # noqa: E402

#: At most this many key results per review (page and API).
MAX_KRS = 200
#: Hard cap on the pasted text, checked before parsing so a huge paste costs nothing.
MAX_TEXT_CHARS = MAX_KRS * (MAX_KR_CHARS + 200)

#: Rules reviews take a few milliseconds of CPU and never wait on I/O: serve many at once.
RULES_CONCURRENCY = 16
#: LLM reviews wait on the network: bound them by their own pool, shared by every llm event.
LLM_CONCURRENCY = 4
LLM_CONCURRENCY_ID = "krcoach-llm"
RULES_CONCURRENCY_ID = "krcoach-rules"
#: Events waiting beyond this get Gradio's "busy, try again" message instead of a long wait.
QUEUE_MAX_SIZE = 256
#: The drafting page's name in the navbar every page shows.
MAIN_PAGE_NAME = "Draft OKRs"
#: Milliseconds of quiet typing before the live (rules) review runs.
LIVE_DEBOUNCE_MS = 350
UPLOAD_TYPES = sorted(formats.EXTENSIONS)
#: Download folders (one per distinct review) kept on disk before the oldest are removed.
KEEP_DOWNLOAD_SETS = 64
#: Gradio's cached copies of downloads: swept hourly, kept six hours.
DELETE_CACHE = (3600, 6 * 3600)

#: Short names for the stable codes; the long plain-words meaning is `ISSUE_CODES`.
ISSUE_LABELS: dict[str, str] = issue_codes.labels()

_PLACEHOLDER = re.compile(r"\[[^\[\]]{1,120}\]")


class DraftError(ValueError):
    """A draft the page refuses to review; `str()` is the message the person sees. `kind` says
    why, for callers that answer with a status (the JSON API): "invalid" (not text, control
    characters), "too_large" (over the page's limits) or "empty" (nothing to review)."""

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.kind = kind


# ------------------------------------------------------------------------------------- library glue


def check_draft(text: Any) -> str:
    """The door of every drafting handler, before any parsing or rendering: the draft must be
    text (None is empty), at most MAX_TEXT_CHARS long (checked first: a 5 MB paste costs one
    len()), and free of lone surrogates and control characters (refused, naming the first and
    where it is)."""
    if text is None:
        return ""
    if not isinstance(text, str):
        raise DraftError(f"The draft must be text; got {validate.describe(text)}.")
    if len(text) > MAX_TEXT_CHARS:
        raise DraftError(f"The draft is {len(text):,} characters; at most {MAX_TEXT_CHARS:,} can "
                         "be reviewed at a time here. Split it, or use `krcoach review`.",
                         "too_large")
    lone = validate.surrogate(text)
    if lone:
        raise DraftError(validate.surrogate_message(text, lone, "The draft"))
    found = validate.control_char(text)
    if found:
        raise DraftError(validate.control_message(text, found))
    return text


def parse_draft(text: str | None) -> OKRSet:
    """Parse the draft and enforce the page limits, raising DraftError with a readable message."""
    text = check_draft(text)
    if not text.strip():
        raise DraftError("The draft is empty: paste or type your OKRs first.", "empty")
    try:
        okrs = formats.parse_outline(text, source="draft")
    except formats.InputError as exc:
        raise DraftError(_limit_message(exc), "too_large") from None  # a KR or title too long
    n = len(okrs.key_results())
    if n == 0:
        raise DraftError("No key results found. Put each key result on its own line, "
                         "for example as a bullet: “- Raise weekly active teams from 40 to 60”.",
                         "empty")
    if n > MAX_KRS:
        raise DraftError(f"The draft has {n} key results; at most {MAX_KRS} can be reviewed at "
                         "a time here. Split it, or use `krcoach review` for batches.", "too_large")
    return okrs


def _limit_message(exc: formats.InputError) -> str:
    """The parser's message in the words of the page ("line 3: this key result is ...")."""
    message = exc.message.replace("field 'kr'", "this key result")
    where = exc.where or ""
    return f"{where[:1].upper() + where[1:]}: {message}." if where else f"{message}."


def review_records(engine: Engine, outline: str, pool: limits.ReviewPool | None = None,
                   client: str = "") -> list[dict[str, Any]]:
    """The `review` API: outline text in, the stable per-KR records out (through `pool`, as
    `client`, when given: a full share is a one-line "Busy: ... retry in N s." error)."""
    try:
        okrs = parse_draft(outline)
    except DraftError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    if pool is None:
        return coach.review(okrs, engine).records()
    try:
        with pool.slot(client, limits.draft_weight(len(okrs.key_results()))):
            return pool.review(okrs, engine, "records")
    except limits.Busy as busy:
        raise gr.Error(busy.message, print_exception=False) from None


def upload_to_outline(path: str | None) -> str:
    """Read an uploaded file (any CLI input format) and return it as an editable outline. Only a
    file inside Gradio's upload folder is read: never a path a client names (`door.is_uploaded`)."""
    if not path:
        raise DraftError("No file received.")
    if not door.is_uploaded(path):
        raise DraftError("That file was not uploaded here: use the Upload button.")
    p = Path(path)
    try:
        okrs = formats.read_bytes(p.read_bytes(), p.name)
    except formats.InputError as exc:
        raise DraftError(str(exc)) from None
    n = len(okrs.key_results())
    if n > MAX_KRS:
        raise DraftError(f"{p.name} has {n} key results; at most {MAX_KRS} can be reviewed at a "
                         "time here. Use `krcoach review` for batches.")
    # The outline is written by us from the file's records, so stray control characters in the
    # file are dropped here rather than refused later in a draft the person never typed.
    return validate.CONTROL.sub("", formats.improved_draft(okrs, {}))


def improved_draft_md(okrs: OKRSet) -> str:
    """The draft as the downloadable Markdown outline (objective headings, KR bullets, owners),
    every user string written with `safe.md_text` like the other Markdown exports: it renders as
    the text typed, never as HTML, an image or a link, and `formats.parse_outline` reads the same
    objectives and key results back (it undoes the backslash escapes). The draft box itself gets
    the plain `formats.improved_draft`, which is text for editing, not Markdown to render."""
    def line(value: str | None) -> str | None:
        return " ".join(md_text(value).split()) if value else value

    escaped = okrs.model_copy(update={"objectives": [
        obj.model_copy(update={"title": line(obj.title), "krs": [
            kr.model_copy(update={"kr": line(kr.kr), "owner": line(kr.owner)}) for kr in obj.krs]})
        for obj in okrs.objectives]})
    return formats.improved_draft(escaped, {})


def private_temp_dir() -> Path:
    """Make Gradio's file folder (GRADIO_TEMP_DIR) before Gradio does, owner-only (0700): Gradio
    creates it 0755 and its copies keep the source file's mode. krcoach's default folder is
    also tightened if an older run left it open; a folder the user named is created 0700 when
    missing but otherwise left as it is (it may be shared, like /tmp). The default follows
    KRCOACH_DATA_DIR as it is now (it may have been set after this module was imported)."""
    global _DEFAULT_TEMP_DIR
    named = os.environ.get("GRADIO_TEMP_DIR")
    ours = not named or named == _DEFAULT_TEMP_DIR
    folder = default_data_dir() / GRADIO_TEMP_SUBDIR if ours else Path(named or "")
    if ours:
        _DEFAULT_TEMP_DIR = os.environ["GRADIO_TEMP_DIR"] = str(folder)
        folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if ours and folder.stat().st_mode & 0o077:
        os.chmod(folder, 0o700)
    return folder


def _write_private(path: Path, body: str) -> None:
    """Write a file only its owner can read (0600): Gradio's cached copy keeps this mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(body)
    os.chmod(path, 0o600)  # the mode given to open() is narrowed by the umask, never widened


def write_downloads(review: OKRReview, draft_text: str, out_dir: Path) -> dict[str, Path]:
    """Render the review (md/csv/json) and the current draft to files named by content hash, in
    owner-only folders (0700) and files (0600)."""
    okrs = formats.parse_outline(draft_text, source="draft")
    payloads = {
        "okr-review.md": formats.render(review, "md"),
        "okr-review.csv": formats.render(review, "csv"),
        "okr-review.json": formats.render(review, "json"),
        "improved-draft.md": improved_draft_md(okrs),
    }
    digest = hashlib.sha256("\x00".join(payloads.values()).encode()).hexdigest()[:20]
    folder = out_dir / digest
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.utime(folder)  # a reused folder is the newest again, so pruning keeps it
    paths = {}
    for name, body in payloads.items():
        path = folder / name
        if not path.exists():
            _write_private(path, body)
        paths[name] = path
    _prune(out_dir, keep=KEEP_DOWNLOAD_SETS)
    return paths


def _prune(out_dir: Path, keep: int) -> None:
    """Drop the oldest download folders. Gradio copies returned files into its own cache (cleaned
    by `delete_cache`), so ours are only needed until the response has gone out."""
    folders = [p for p in out_dir.iterdir() if p.is_dir()]
    if len(folders) <= keep:
        return
    folders.sort(key=lambda p: p.stat().st_mtime)
    for old in folders[: len(folders) - keep]:
        shutil.rmtree(old, ignore_errors=True)


def apply_rewrite(text: str, reviewed: dict[str, Any] | None, kr_id: str, index: int) -> str:
    """The draft with KR `kr_id` replaced by rewrite number `index` of the last review."""
    if not reviewed or kr_id not in reviewed.get("rewrites", {}):
        raise DraftError("That suggestion is no longer in the review; review the draft again.")
    options = reviewed["rewrites"][kr_id]
    if not 0 <= index < len(options):
        raise DraftError("That suggestion is no longer in the review; review the draft again.")
    okrs = parse_draft(text)
    current = {kr.id: kr.kr for kr in okrs.key_results()}
    if current.get(kr_id) != reviewed["krs"].get(kr_id):
        raise DraftError("The draft changed since this review: review it again, then pick a rewrite.")
    return formats.improved_draft(okrs, {kr_id: options[index]})


def review_state(review: OKRReview) -> dict[str, Any]:
    """What the "Use this rewrite" button needs from the review that is on screen."""
    return {
        "krs": {kr.id: kr.kr for kr in review.kr_reviews()},
        "rewrites": {kr.id: [rw.text for rw in kr.rewrites] for kr in review.kr_reviews()},
    }


# ------------------------------------------------------------------------------------- rendering


def esc(value: object) -> str:
    """Escape for HTML text and attributes, and defuse template syntax (`${…}`, `{{…}}`).

    gr.HTML fills a JS/Handlebars template; entity-encoding `$`, braces and backticks keeps a KR
    such as "${alert(1)}" inert while it still reads the same on screen.
    """
    text = html.escape(str(value), quote=True)
    return (text.replace("$", "&#36;").replace("{", "&#123;").replace("}", "&#125;")
            .replace("`", "&#96;"))


def highlight_placeholders(text: str) -> str:
    """Escaped rewrite text with every [placeholder] wrapped in a <mark>."""
    out, last = [], 0
    for m in _PLACEHOLDER.finditer(text):
        out.append(esc(text[last:m.start()]))
        out.append(f'<mark class="kc-ph">{esc(m.group(0))}</mark>')
        last = m.end()
    out.append(esc(text[last:]))
    return "".join(out)


def issue_label(code: str) -> str:
    return ISSUE_LABELS.get(code, code.replace("_", " ").capitalize())


def engine_label(name: str, model: str | None) -> str:
    return f"{name} · {model}" if model else name


def render_engine_badge(engine: Engine) -> str:
    detail = "deterministic, offline" if engine.name == "rules" else "language model"
    return (f'<div class="kc-engine" data-engine="{esc(engine.name)}" title="Engine used for '
            f'every review on this page"><span class="kc-engine-dot"></span>Engine: '
            f'<b>{esc(engine_label(engine.name, engine.model))}</b>'
            f'<span class="kc-engine-detail">{esc(detail)}</span></div>')


def render_header(engine: Engine) -> str:
    return (
        '<header class="kc-header">'
        '<div class="kc-brand"><span class="kc-logo" aria-hidden="true">◎</span>'
        '<div><h1>krcoach</h1><p class="kc-tagline">Turn activity into outcomes. Every key result '
        'is checked: output or outcome, why, what is missing, and a rewrite that never invents '
        'a number.</p></div></div>'
        f'{render_engine_badge(engine)}</header>'
    )


def render_intro() -> str:
    return (
        '<div class="kc-root"><section class="kc-intro">'
        '<h2>What the coach looks for</h2>'
        '<div class="kc-compare">'
        '<div class="kc-compare-col"><span class="kc-badge kc-output">Output</span>'
        '<p>Proves work was done: <i>launch the pricing page</i>, <i>hold 5 interviews</i>, '
        '<i>publish 12 posts</i>.</p></div>'
        '<div class="kc-compare-col"><span class="kc-badge kc-outcome">Outcome</span>'
        '<p>Proves something changed for customers or the business: <i>raise trial-to-paid '
        'conversion from 4.2% to 6% by end of Q3</i>.</p></div></div>'
        '<p class="kc-muted">Paste a draft, upload a file or load an example. Each key result gets '
        'a verdict, the reasons, and rewrites shaped <b>metric from X to Y by date</b>. Numbers '
        'your draft does not have stay as visible <mark class="kc-ph">[placeholders]</mark>.</p>'
        '</section></div>'
    )


def render_message(message: str, tone: str = "error", title: str | None = None) -> str:
    role = ' role="alert"' if tone == "error" else ""
    title = title or ("Can’t review this draft" if tone == "error" else "Note")
    return (f'<div class="kc-root"><div class="kc-msg kc-msg-{esc(tone)}"{role}><b>{esc(title)}</b>'
            f'<p>{esc(message)}</p></div></div>')


def render_summary(review: OKRReview, *, pending: int = 0) -> str:
    s = review.summary()
    tiles = [
        ("kc-t-total", s["krs"], "key results"),
        ("kc-t-outcome", s["outcomes"], "outcomes"),
        ("kc-t-output", s["outputs"], "outputs"),
        ("kc-t-work", s["need_work"], "need work"),
    ]
    if s["fallbacks"] or s["errors"]:
        tiles.append(("kc-t-fallback", s["fallbacks"] + s["errors"], "fell back to rules"))
    body = "".join(f'<div class="kc-tile {cls}"><span class="kc-num">{n}</span>'
                   f'<span class="kc-lbl">{esc(label)}</span></div>' for cls, n, label in tiles)
    share = round(100 * s["outcomes"] / s["krs"]) if s["krs"] else 0
    bar = (f'<div class="kc-bar" role="img" aria-label="{share}% of key results are outcomes">'
           f'<span style="width:{share}%"></span></div>')
    status = (f'<p class="kc-pending" role="status">Reviewing… {pending} more objective'
              f'{"s" if pending > 1 else ""} to go.</p>' if pending else "")
    by = (f'<p class="kc-by">{share}% outcomes · reviewed by the <b>'
          f'{esc(engine_label(review.engine, review.model))}</b> engine</p>')
    return (f'<section class="kc-summary" aria-label="Summary">'
            f'<div class="kc-tiles">{body}</div>{bar}{by}{status}</section>')


def render_pending(total: int, engine: Engine) -> str:
    """What the results column shows before a slow engine has finished its first objective."""
    return (f'<div class="kc-root"><section class="kc-summary"><p class="kc-pending" role="status">'
            f'Reviewing {total} objective{"s" if total != 1 else ""} with the '
            f'{esc(engine_label(engine.name, engine.model))} engine…</p></section></div>')


def _render_finding(f: Finding) -> str:
    where = (f'<span class="kc-where">Objective: {esc(f.objective)}</span>'
             if f.scope == "objective" and f.objective else
             '<span class="kc-where">Whole set</span>')
    return (f'<li data-code="{esc(f.code)}" title="{esc(ISSUE_CODES.get(f.code, ""))}">'
            f'<span class="kc-tag">{esc(issue_label(f.code))}</span>{where}'
            f'<span class="kc-fmsg">{esc(f.message)}</span></li>')


def render_findings(findings: list[Finding]) -> str:
    if not findings:
        return ""
    items = "".join(_render_finding(f) for f in findings)
    return (f'<section class="kc-findings" aria-label="Findings for objectives and the whole set">'
            f'<h3>Across the set</h3><ul>{items}</ul></section>')


def render_kr(kr: KRReview, *, can_apply: bool = True) -> str:
    kind = "outcome" if kr.kind == "outcome" else "output"
    owner = f'<span class="kc-owner">owner: {esc(kr.owner)}</span>' if kr.owner else ""
    parts = [
        f'<article class="kc-card kc-card-{kind}" data-kr-id="{esc(kr.id)}" data-kind="{kind}" '
        f'data-status="{esc(kr.status)}">',
        f'<div class="kc-card-head"><span class="kc-badge kc-{kind}">{kind.capitalize()}</span>'
        f'<span class="kc-krid">KR {esc(kr.id)}</span>{owner}</div>',
        f'<p class="kc-kr">{highlight_placeholders(kr.kr)}</p>',
        f'<p class="kc-why"><b>Why:</b> {esc(kr.why)}</p>',
    ]
    if kr.status != "ok":
        reason = f" Reason: {kr.error}" if kr.error else ""
        parts.append(f'<p class="kc-fallback" role="note"><b>{esc(kr.status.capitalize())}:</b> the '
                     f'language model could not review this key result, so this is the rules '
                     f'engine’s review.{esc(reason)}</p>')
    if kr.issues:
        items = "".join(
            f'<li data-code="{esc(i.code)}"><span class="kc-tag" '
            f'title="{esc(ISSUE_CODES.get(i.code, ""))}">{esc(issue_label(i.code))}</span>'
            f'<span class="kc-imsg">{esc(i.message or ISSUE_CODES.get(i.code, ""))}</span></li>'
            for i in kr.issues)
        parts.append(f'<ul class="kc-issues" aria-label="Issues">{items}</ul>')
    elif kind == "outcome":
        parts.append('<p class="kc-ok">✓ Outcome-shaped, nothing to fix.</p>')
    rewrites = [_render_rewrite(kr, n, can_apply) for n in range(len(kr.rewrites))]
    parts.extend(rewrites[:1])
    if not rewrites and kr.engine == "rules" and issue_codes.needs_work(kr.issue_codes()):
        parts.append(f'<p class="kc-llm-hint" role="note">No rewrite: {esc(NO_REWRITE_HINT)}.</p>')
    for note in kr.notes:
        parts.append(f'<p class="kc-note" role="note"><b>Note:</b> {esc(note)}</p>')
    if len(rewrites) > 1:
        more = len(rewrites) - 1
        parts.append(f'<details class="kc-more"><summary>{more} more rewrite'
                     f'{"s" if more > 1 else ""}</summary>{"".join(rewrites[1:])}</details>')
    parts.append("</article>")
    return "".join(parts)


def _render_rewrite(kr: KRReview, n: int, can_apply: bool) -> str:
    rw = kr.rewrites[n]
    assumptions = "".join(f"<li>{esc(a)}</li>" for a in rw.assumptions)
    assumptions = (f'<p class="kc-as-label">Assumptions</p>'
                   f'<ul class="kc-assumptions">{assumptions}</ul>' if assumptions else "")
    button = (f'<button type="button" class="kc-apply" data-kr="{esc(kr.id)}" '
              f'data-idx="{n}">Use this rewrite</button>' if can_apply else "")
    label = "Suggested rewrite" + (f" {n + 1}" if len(kr.rewrites) > 1 else "")
    return (f'<div class="kc-rewrite"><div class="kc-rw-label">{label}</div>'
            f'<p class="kc-rw-text">{highlight_placeholders(rw.text)}</p>{assumptions}{button}</div>')


def render_objective(obj: ObjectiveReview) -> str:
    title = esc(obj.objective) if obj.objective else "Key results without an objective"
    outcomes = sum(k.kind == "outcome" for k in obj.krs)
    cards = "".join(render_kr(k) for k in obj.krs)
    return (f'<section class="kc-objective"><div class="kc-obj-head"><span class="kc-obj-label">'
            f'Objective</span><span class="kc-obj-count">{outcomes} of {len(obj.krs)} key results '
            f'are outcomes</span></div><h3 class="kc-obj-title">{title}</h3>'
            f'<div class="kc-cards">{cards}</div></section>')


def render_skipped(review: OKRReview) -> str:
    """Lines of the draft that became neither objective nor key result, and why: never dropped silently."""
    if not review.skipped:
        return ""
    items = "".join(f'<li><span class="kc-line">line {s.line}</span> {esc(s.reason)}: <q>{esc(s.text[:120])}</q></li>'
                    for s in review.skipped[:50])
    more = f"<p>and {len(review.skipped) - 50:,} more</p>" if len(review.skipped) > 50 else ""
    return (f'<section class="kc-findings kc-skipped" aria-label="Lines not read as key results">'
            f'<h3>Lines not read as objectives or key results</h3><ul>{items}</ul>{more}</section>')


_CROSS_TEAM = {"conflict": "Conflicts", "duplicate": "Duplicates", "dependency": "Dependencies"}


def _plan_kr(k: Any) -> str:
    """A KR a plan finding quotes: team and id, the text, its owner (or that it has none)."""
    team = f"{esc(k.team)} · " if k.team else ""
    owner = (f'<span class="kc-owner">owner: {esc(k.owner)}</span>' if k.owner
             else '<span class="kc-owner">no owner</span>')
    return (f'<span class="kc-pkr-id">{team}KR {esc(k.id)}</span>'
            f'<q class="kc-pkr-text">{esc(k.kr)}</q>{owner}')


def _render_cross(f: Any) -> str:
    if f.code == "dependency":
        head = f"{esc(f.teams[0] if f.teams else '')} → {esc(f.on_team or '')}"
        what = "" if f.on_team_in_plan else "no OKRs in this plan"
    else:
        head = " ↔ ".join(esc(t) for t in f.teams)
        what = f.trade_off or f.measure or ""
    krs = "".join(f"<li>{_plan_kr(k)}</li>" for k in f.krs)
    krs += "".join(f'<li class="kc-pkr-also"><span class="kc-pkr-id">also</span>{_plan_kr(k)}</li>'
                   for k in f.also)
    message = f'<p class="kc-xf-msg">{esc(f.message)}</p>' if f.code == "dependency" else ""
    question = (f'<p class="kc-xf-q"><b>To settle:</b> {esc(f.question)}</p>' if f.question else "")
    return (f'<li class="kc-xf" data-code="{esc(f.code)}"><div class="kc-xf-head">'
            f'<span class="kc-tag">{esc(issue_label(f.code))}</span><b class="kc-xf-teams">{head}</b>'
            f'{f"<span class=kc-xf-what>{esc(what)}</span>" if what else ""}</div>'
            f'<ul class="kc-pkrs">{krs}</ul>{message}{question}</li>')


def render_plan(review: OKRReview) -> str:
    """The Plan panel: silent killers, cross-team findings (and which engine found them),
    accountability per team, ambition, and the five-question audit. Empty without a plan."""
    plan = review.plan
    if plan is None:
        return ""
    parts = [f'<section class="kc-plan" aria-label="Plan review">'
             f'<div class="kc-obj-head"><span class="kc-obj-label">Plan review</span>'
             f'<span class="kc-obj-count">“yes” to {plan.yes_answers} of 5 audit questions</span></div>'
             f'<h3 class="kc-obj-title">{esc(formats._plan_heading(plan, review))}</h3>']
    # Silent killers.
    if plan.active_killers:
        items = "".join(f'<li><span class="kc-tag">#{k.number} {esc(k.name)}</span>'
                        f'<span class="kc-fmsg">{esc(k.why)}</span></li>' for k in plan.active_killers)
        parts.append(f'<div class="kc-plan-block kc-killers"><h4>Silent killers that look active</h4>'
                     f'<ul>{items}</ul><p class="kc-muted">Three or fewer “yes” answers in the audit '
                     f'mean at least one silent killer is active.</p></div>')
    else:
        parts.append('<div class="kc-plan-block kc-killers"><h4>Silent killers that look active</h4>'
                     '<p class="kc-ok">✓ None the document shows.</p></div>')
    # Cross-team findings and who found them.
    who, fell_back = formats.cross_team_note(plan)
    source = f'<p class="kc-plan-engine">Found by the <b>{esc(who)}</b> engine</p>'
    if fell_back:
        source += (f'<p class="kc-fallback" role="note"><b>Fallback:</b> the language model’s plan '
                   f'review could not be used, so these are the rules engine’s findings. '
                   f'Reason: {esc(fell_back)}</p>')
    cross = [f for f in plan.findings if f.code in _CROSS_TEAM]
    groups = []
    for code, title in _CROSS_TEAM.items():
        items = "".join(_render_cross(f) for f in cross if f.code == code)
        if items:
            groups.append(f'<h5>{title}</h5><ul class="kc-xfs">{items}</ul>')
    body = "".join(groups) or ('<p class="kc-ok">✓ No conflicts, duplicates or unanswered '
                               'dependencies between teams.</p>')
    parts.append(f'<div class="kc-plan-block kc-cross"><h4>Cross-team findings</h4>{source}{body}</div>')
    # Accountability and standard, per team.
    cols = ("Team", "Objectives", "Key results", "Metric from X to Y by date", "One named owner",
            "Cycle", "Objectives with numbers", "Outputs")
    head = "".join(f'<th scope="col">{c}</th>' for c in cols)
    rows = []
    for t in plan.teams:
        cells = (esc(t.team or "(no team)"), t.objectives, t.krs,
                 f"{t.from_to_by} ({t.from_to_by_share:.0%})", f"{t.single_owner} of {t.krs}",
                 esc(", ".join(t.cycles) or "not stated"), t.objectives_with_numbers, t.outputs)
        rows.append("<tr>" + "".join(
            (f'<th scope="row" data-label="{cols[0]}">{cells[0]}</th>' if i == 0 else
             f'<td data-label="{c}">{v}</td>') for i, (c, v) in enumerate(zip(cols, cells))) + "</tr>")
    standard = "".join(f'<li data-code="{esc(f.code)}"><span class="kc-tag">{esc(issue_label(f.code))}'
                       f'</span><span class="kc-fmsg">{esc(f.message)}'
                       f'{f" <b>To settle:</b> {esc(f.question)}" if f.question else ""}</span></li>'
                       for f in plan.findings if f.code not in _CROSS_TEAM)
    parts.append(f'<div class="kc-plan-block kc-account"><h4>Accountability and standard</h4>'
                 f'<table class="kc-ptable kc-teams"><thead><tr>{head}</tr></thead>'
                 f'<tbody>{"".join(rows)}</tbody></table>'
                 f'{f"<ul class=kc-standard>{standard}</ul>" if standard else ""}</div>')
    # Ambition and direction.
    if plan.ambition:
        items = "".join(f'<li data-code="{esc(a.code)}"><div class="kc-xf-head"><span class="kc-tag">'
                        f'{esc(issue_label(a.code))}</span></div><div class="kc-pkrs">{_plan_kr(a.kr)}'
                        f'</div><p class="kc-xf-msg">{esc(a.message)}</p></li>' for a in plan.ambition)
        body = f'<ul class="kc-xfs">{items}</ul>'
    else:
        body = ('<p class="kc-ok">✓ No target on the wrong side of its baseline, equal to it, or '
                'barely moved from it.</p>')
    parts.append(f'<div class="kc-plan-block kc-ambition"><h4>Ambition and direction</h4>{body}</div>')
    # The five-question audit.
    rows = []
    for a in plan.audit:
        answer = a.answer.replace(" ", "-")
        evidence = ("<ul>" + "".join(f"<li>{esc(e)}</li>" for e in a.evidence) + "</ul>"
                    if a.evidence else "—")
        rows.append(f'<tr data-answer="{esc(answer)}"><td data-label="#">{a.number}</td>'
                    f'<td data-label="Question">{esc(a.question)}'
                    f'<span class="kc-killer">{esc(a.killer)}</span></td>'
                    f'<td data-label="Answer"><span class="kc-answer kc-answer-{esc(answer)}">'
                    f'{esc(a.answer)}</span></td><td data-label="Evidence">{evidence}</td></tr>')
    parts.append('<div class="kc-plan-block kc-audit"><h4>The five-question audit</h4>'
                 '<table class="kc-ptable kc-audit-table"><thead><tr><th scope="col">#</th>'
                 '<th scope="col">Question</th><th scope="col">Answer</th><th scope="col">Evidence</th>'
                 f'</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')
    parts.append("</section>")
    return "".join(parts)


def render_review(review: OKRReview) -> str:
    """The results column: the Plan panel (when the draft names teams), set/objective findings,
    then a card per key result."""
    return (render_plan(review) + render_findings(review.all_findings()) + render_skipped(review)
            + "".join(render_objective(o) for o in review.objectives))


# ------------------------------------------------------------------------------------- the page

_RESULTS_JS = """
element.addEventListener('click', (event) => {
  const button = event.target.closest('button.kc-apply');
  if (!button || !element.contains(button)) return;
  button.disabled = true;
  button.textContent = 'Applying…';
  trigger('click', {kr: button.dataset.kr, idx: Number(button.dataset.idx)});
});
"""

# A debounce in the browser: any edit of the draft (typing, paste, cut, drop) schedules one click on
# the hidden live-review button. It listens to the DOM `input` event itself because Gradio's own
# Textbox `input` event fires on key presses only, so a paste with the mouse would never review.
_LIVE_JS = f"""
if (!window.__kcLive) {{
  window.__kcLive = true;
  document.addEventListener('input', (event) => {{
    if (!event.target.closest || !event.target.closest('#kc-draft')) return;
    clearTimeout(window.__kcLiveTimer);
    window.__kcLiveTimer = setTimeout(() => {{
      const button = document.getElementById('kc-live');
      if (button) button.click();
    }}, {LIVE_DEBOUNCE_MS});
  }}, true);
}}
"""

# The size guard, in the browser, on the draft box: a paste, a drop or any other edit that would
# make the draft longer than MAX_TEXT_CHARS is refused before the text reaches the box (whose
# layout of megabytes froze the page for minutes), the server or the results; the message shows
# under the box at once and the draft stays as it was. Every way text gets in is covered:
# - `paste` and `drop` events (keyboard, menu, mouse);
# - `beforeinput` insertions without a paste event: dictation, IME commits, spelling fixes,
#   automation and extensions typing (insertText, insertReplacementText, insertFromDrop, ...);
# - `document.execCommand('insertText'|'insertHTML')`, which scripts use and which fires no
#   `beforeinput` (Chromium inserts 500,000 characters that way in well over ten minutes, so it
#   is refused before it starts);
# - a value set by a script followed by an `input` event: the box gets its last value back.
# It runs before the live review's listener (both listen in the capture phase; this one is
# registered first), so nothing is sent. Lengths are counted in code points, as the server counts.
_GUARD_JS = f"""
if (!window.__kcGuard) {{
  window.__kcGuard = true;
  const LIMIT = {MAX_TEXT_CHARS};
  const fmt = (n) => n.toLocaleString('en-US');
  const size = (s) => s.length - (s.length > LIMIT && s.length <= 2 * LIMIT
    ? (s.match(/[\\uD800-\\uDBFF][\\uDC00-\\uDFFF]/g) || []).length : 0);
  const draftBox = (t) => (t && t.tagName === 'TEXTAREA' && t.closest('#kc-draft')) ? t : null;
  const refuse = (event, n, what) => {{
    if (event) {{
      event.preventDefault();
      event.stopImmediatePropagation();
    }}
    props.value = '<div class="kc-root"><div class="kc-msg kc-msg-error" role="alert">'
      + '<b>Too long to review here</b><p>' + what + ' would make the draft ' + fmt(n)
      + ' characters; at most ' + fmt(LIMIT) + ' can be reviewed at a time here, so the draft '
      + 'was left as it was. Split it, or use <code>krcoach review</code>.</p></div></div>';
  }};
  const clear = () => {{ if (props.value) props.value = ''; }};
  // The draft's size once `added` replaces the selection, when that is over the limit; else 0.
  const over = (box, added) => {{
    const kept = box.value.length - Math.abs((box.selectionEnd || 0) - (box.selectionStart || 0));
    if (kept + added.length <= LIMIT) return 0;
    const n = size(box.value.slice(0, box.selectionStart) + added
      + box.value.slice(box.selectionEnd));
    return n > LIMIT ? n : 0;
  }};
  const incoming = (event, data, what) => {{
    const box = draftBox(event.target);
    if (!box || !data) return;
    const n = over(box, data.getData('text/plain') || '');
    if (n) refuse(event, n, what);
  }};
  const WHAT = {{insertFromPaste: 'This paste', insertFromPasteAsQuotation: 'This paste',
                insertFromDrop: 'This drop'}};
  document.addEventListener('paste', (e) => incoming(e, e.clipboardData, 'This paste'), true);
  document.addEventListener('drop', (e) => incoming(e, e.dataTransfer, 'This drop'), true);
  document.addEventListener('beforeinput', (e) => {{
    const box = draftBox(e.target);
    if (!box) return;
    box.__kcBefore = box.value;
    if (!String(e.inputType || '').startsWith('insert')) return;
    const added = typeof e.data === 'string' ? e.data
      : (e.dataTransfer && e.dataTransfer.getData('text/plain')) || '';
    const n = over(box, added);
    if (n) refuse(e, n, WHAT[e.inputType] || 'This insertion');
  }}, true);
  const exec = Document.prototype.execCommand;
  document.execCommand = function (command, ui, value) {{
    const box = draftBox(document.activeElement);
    if (box && /^insert(text|html)$/i.test(String(command)) && value != null) {{
      const n = over(box, String(value));
      if (n) {{ refuse(null, n, 'This insertion'); return false; }}
    }}
    return exec.apply(this, arguments);
  }};
  document.addEventListener('input', (e) => {{
    const box = draftBox(e.target);
    if (!box) return;
    const n = box.value.length > LIMIT ? size(box.value) : 0;
    if (n <= LIMIT) {{ box.__kcBefore = box.value; clear(); return; }}
    box.value = box.__kcBefore || '';
    refuse(e, n, 'This change');
  }}, true);
}}
"""

_STATIC = Path(__file__).resolve().parent.parent / "static"


def _load_css() -> str:
    return (_STATIC / "app.css").read_text(encoding="utf-8")


def build_app(engine: Engine | str | None = None) -> gr.Blocks:
    """The drafting page (plus the workshop, mounted by `workshop_ui`), not yet launched."""
    eng = engine if isinstance(engine, Engine) else make_engine(engine)
    live = eng.name == "rules"
    limit, group = ((RULES_CONCURRENCY, RULES_CONCURRENCY_ID) if live
                    else (LLM_CONCURRENCY, LLM_CONCURRENCY_ID))
    private_temp_dir()
    # Every review on this server (page, `review` endpoint, JSON API) runs in this one pool.
    pool = review_pool(eng)
    out_dir = Path(tempfile.mkdtemp(prefix="krcoach-downloads-"))  # 0700
    atexit.register(shutil.rmtree, out_dir, ignore_errors=True)
    download_names = ("okr-review.md", "okr-review.csv", "okr-review.json", "improved-draft.md")

    def no_downloads() -> list[Any]:
        return [gr.Column(visible=False), *(gr.DownloadButton(value=None) for _ in download_names)]

    def outputs_for(text: str, review: OKRReview, final: bool = True, pending: int = 0) -> list[Any]:
        page = (f'<div class="kc-root">{render_summary(review, pending=pending)}'
                f'{render_review(review)}</div>')
        if not final:
            return [page, gr.skip(), gr.skip(), *(gr.skip() for _ in download_names)]
        paths = write_downloads(review, text, out_dir)
        return [page, review_state(review), gr.Column(visible=True),
                *(gr.DownloadButton(value=str(paths[n])) for n in download_names)]

    def busy_message(busy: limits.Busy) -> list[Any]:
        return [render_message(busy.message, title="Busy"), gr.skip(), *(gr.skip() for _ in
                                                                         download_names), gr.skip()]

    def review_now(text: str, client: str) -> list[Any]:
        """One complete review of the draft, or the page's message for a draft it refuses."""
        if text is None or (isinstance(text, str) and len(text) <= MAX_TEXT_CHARS
                            and not text.strip()):
            return [render_intro(), None, *no_downloads()]
        try:
            okrs = parse_draft(text)
        except DraftError as exc:
            return [render_message(str(exc)), None, *no_downloads()]
        try:
            with pool.slot(client, limits.draft_weight(len(okrs.key_results()))):
                review = pool.review(okrs, eng)
        except limits.Busy as busy:
            return busy_message(busy)
        return outputs_for(text, review)

    def review_page(text: str, request: gr.Request,
                    progress: gr.Progress = gr.Progress()) -> Iterator[list[Any]]:
        """UI review: messages on the page (never a traceback), partial results for slow engines."""
        client = limits.gradio_client_key(request)
        try:
            okrs = parse_draft(text)
        except DraftError:
            okrs = None
        if live or okrs is None:
            yield review_now(text, client)
            return
        # Slow engine: show each objective as soon as it is reviewed.
        total = len(okrs.objectives)
        done: list[ObjectiveReview] = []
        try:
            with pool.slot(client, limits.draft_weight(len(okrs.key_results()))):
                progress((0, total), desc="Reviewing objectives")
                yield [render_pending(total, eng), *(gr.skip() for _ in outputs[1:])]
                for obj in coach.iter_review(okrs, eng):
                    done.append(obj)
                    progress((len(done), total), desc="Reviewing objectives")
                    if len(done) < total:
                        partial = OKRReview(objectives=done, engine=eng.name, model=eng.model)
                        yield outputs_for(text, partial, final=False, pending=total - len(done))
        except limits.Busy as busy:
            yield busy_message(busy)
            return
        yield outputs_for(text, _assemble(okrs, done, eng))

    def apply_click(text: str, reviewed: dict[str, Any] | None, evt: gr.EventData,
                    request: gr.Request) -> list[Any]:
        """Put the chosen rewrite into the draft; with the rules engine, review the result."""
        data = evt._data if isinstance(evt._data, dict) else {}
        try:
            index = int(data.get("idx", -1))
            new = apply_rewrite(text, reviewed, str(data.get("kr", "")), index)
        except (DraftError, TypeError, ValueError, OverflowError) as exc:
            gr.Warning(str(exc) if isinstance(exc, DraftError) else "Unknown rewrite.")
            return [gr.skip() for _ in range(len(outputs) + 1)]
        if live:
            return [new, *review_now(new, limits.gradio_client_key(request))]
        gr.Info("Rewrite applied. Press “Review draft” to check the new draft.")
        return [new, *(gr.skip() for _ in outputs)]

    def load_upload(path: str | None, request: gr.Request) -> list[Any]:
        """Turn an uploaded file into the draft; with the rules engine, review it at once."""
        try:
            outline = upload_to_outline(path)
        except DraftError as exc:
            return [gr.skip(), render_message(str(exc), title="Can’t read that file"), None,
                    *no_downloads()]
        if live:
            return [outline, *review_now(outline, limits.gradio_client_key(request))]
        n = len(formats.parse_outline(outline).key_results())
        note = render_message(f"Loaded {n} key results from {Path(path or '').name}. Press "
                              "“Review draft” to review them.", tone="note")
        return [outline, note, None, *no_downloads()]

    with gr.Blocks(title="krcoach · OKR coach", analytics_enabled=False,
                   delete_cache=DELETE_CACHE) as demo:
        # Names this page in the navbar Gradio shows once the workshop adds its pages.
        gr.Navbar(main_page_name=MAIN_PAGE_NAME)
        gr.HTML(render_header(eng), elem_id="kc-header", js_on_load=None)
        reviewed = gr.State(None)
        with gr.Row(equal_height=False, elem_id="kc-main"):
            with gr.Column(scale=5, min_width=320, elem_id="kc-draft-col"):
                draft = gr.Textbox(
                    label="Your draft OKRs", lines=14, max_lines=40, elem_id="kc-draft",
                    placeholder=("## Customers get value in their first week\n"
                                 "- Ship the onboarding checklist (owner: Lea)\n"
                                 "- Cut time-to-first-report from 3 days to 1 day by Sep 30"),
                    info=("Objectives as headings or “Objective:” lines, key results as bullets. "
                          "Owners as “(owner: Ana)” or “@ana”." + (" Reviews as you type."
                                                                   if live else "")),
                )
                gr.HTML("", elem_id="kc-guard", js_on_load=_GUARD_JS)
                with gr.Row(elem_id="kc-actions"):
                    review_btn = gr.Button("Review draft", variant="primary", elem_id="kc-review",
                                           scale=2)
                    upload = gr.UploadButton("Upload file", file_types=UPLOAD_TYPES,
                                             type="filepath", elem_id="kc-upload", scale=1,
                                             variant="secondary")
                gr.HTML('<p class="kc-examples-label">Or load an example draft:</p>',
                        js_on_load=None)
                with gr.Row(elem_id="kc-examples"):
                    example_btns = [gr.Button(ex.name, size="sm", variant="secondary",
                                              elem_classes=["kc-example"]) for ex in EXAMPLES]
                with gr.Column(elem_id="kc-downloads", visible=False) as download_box:
                    gr.HTML('<p class="kc-dl-label">Download the review</p>', js_on_load=None)
                    with gr.Row(elem_id="kc-dl-row"):
                        downloads = [
                            gr.DownloadButton(label, size="sm", variant="secondary",
                                              elem_id=f"kc-dl-{name.replace('.', '-')}")
                            for label, name in zip(
                                ("Review .md", "Review .csv", "Review .json", "Improved draft .md"),
                                download_names)
                        ]
            with gr.Column(scale=7, min_width=320, elem_id="kc-results-col"):
                results = gr.HTML(render_intro(), elem_id="kc-results",
                                  js_on_load=_RESULTS_JS + (_LIVE_JS if live else ""))
        live_btn = gr.Button("live review", visible="hidden", elem_id="kc-live")

        outputs = [results, reviewed, download_box, *downloads]
        common = dict(concurrency_limit=limit, concurrency_id=group, api_visibility="private")
        review_btn.click(review_page, inputs=draft, outputs=outputs, show_progress="minimal",
                         trigger_mode="always_last", scroll_to_output=True, **common)
        if live:
            live_btn.click(review_page, inputs=draft, outputs=outputs, show_progress="hidden",
                           trigger_mode="always_last", **common)
        for btn, ex in zip(example_btns, EXAMPLES):
            loaded = btn.click(lambda text=ex.text: text, inputs=None, outputs=draft,
                               api_visibility="private", queue=False)
            if live:
                loaded.then(review_page, inputs=draft, outputs=outputs, show_progress="hidden",
                            **common)
        # Upload and apply only call the engine when it is the (fast) rules engine.
        fast = dict(concurrency_limit=RULES_CONCURRENCY, concurrency_id=RULES_CONCURRENCY_ID,
                    api_visibility="private")
        upload.upload(load_upload, inputs=upload, outputs=[draft, *outputs], **fast)
        results.click(apply_click, inputs=[draft, reviewed], outputs=[draft, *outputs], **fast)

        def review(outline: str, request: gr.Request) -> list[dict[str, Any]]:
            """Review an OKR outline (Markdown/text) and return one stable record per key result."""
            return review_records(eng, outline, pool, limits.gradio_client_key(request))

        gr.api(review, api_name="review", concurrency_limit=limit, concurrency_id=group)

    from krcoach.workshop.pages import mount_workshop

    mount_workshop(demo, eng)  # one engine (and one LLM client and cache) for both screens
    door.install(demo)  # every event's values are checked before Gradio reads them
    # No event skips the queue: Gradio's direct `/gradio_api/run/<name>` route refuses queued
    # events (the page's `queue=False` events only copy text and never review).
    demo.api_open = False
    demo.krcoach_pool = pool  # type: ignore[attr-defined]
    from krcoach.web.api import create_api

    demo.krcoach_api = create_api(eng, pool)  # type: ignore[attr-defined]
    return demo


def review_pool(eng: Engine) -> limits.ReviewPool:
    """The server's one review pool: rules reviews in two worker processes per core (at least 4,
    at most 16: more processes than cores, so a client running its full share of large drafts
    gets its share of the cores, not all of them), llm reviews in LLM_CONCURRENCY threads."""
    if eng.name == "rules":
        return limits.ReviewPool(workers=min(16, max(4, 2 * (os.cpu_count() or 2))), processes=True)
    return limits.ReviewPool(workers=LLM_CONCURRENCY)


def api_routes(demo: gr.Blocks) -> list[Any]:
    """Routes `serve` puts ahead of Gradio's own: the JSON API at /api, and a refusal for
    Gradio's deep-link route, which writes a file per call and which krcoach never uses."""
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    def no_deep_links(request: Any) -> JSONResponse:
        return JSONResponse({"error": "Deep links are not used by krcoach."}, status_code=404)

    return [Mount("/api", app=demo.krcoach_api),  # type: ignore[attr-defined]
            Route("/gradio_api/deep_link", no_deep_links)]


def _assemble(okrs: OKRSet, done: list[ObjectiveReview], eng: Engine) -> OKRReview:
    """The OKRReview `coach.review` would build, from objective reviews already streamed."""
    from krcoach import checks

    result = OKRReview(objectives=done, findings=checks.set_findings(okrs), engine=eng.name,
                       model=eng.model, skipped=list(okrs.skipped))
    if coach.wants_plan(okrs):
        result.plan = coach.plan_review(okrs, result, eng)
    return result


def launch_options() -> dict[str, Any]:
    """Everything `launch()` needs to stay local and look right (shared with tests)."""
    return dict(
        css=_load_css(),
        share=False,
        footer_links=["api"],
        max_file_size="2mb",
        enable_monitoring=False,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
        show_error=False,
        run_history=False,
    )


def serve(host: str = "127.0.0.1", port: int = 7860, engine: str | None = None) -> None:
    """Run the app until interrupted (`krcoach serve`)."""
    # Everything the server writes (Gradio's copies of downloads and uploads, its folders, the
    # exports) is for its own user only: 0700 folders, 0600 files.
    os.umask(0o077)
    eng = make_engine(engine)
    demo = build_app(eng)
    demo.queue(max_size=QUEUE_MAX_SIZE, api_open=False)
    # quiet: Gradio's banner suggests share links, which krcoach never makes; say what matters.
    demo.launch(server_name=host, server_port=port, inbrowser=False, quiet=True,
                prevent_thread_lock=True,
                app_kwargs={"routes": api_routes(demo), **door.app_kwargs()},  # door: one-line 4xx
                state_session_capacity=limits.MAX_SESSIONS, **launch_options())
    limits.bound_sessions(demo.server_app.state_holder)
    demo.krcoach_pool.start()  # type: ignore[attr-defined]
    atexit.register(demo.krcoach_pool.close)  # type: ignore[attr-defined]
    url = demo.local_url or f"http://{host}:{port}/"
    print(f"krcoach is running at {url} (engine: {engine_label(eng.name, eng.model)}); "
          f"workshop at {url.rstrip('/')}/facilitate. Press Ctrl-C to stop.",
          file=sys.stderr, flush=True)
    demo.block_thread()
