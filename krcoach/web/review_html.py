"""The drafting page's HTML: the header, the intro, messages, and a review as summary tiles,
findings and one card per key result with its rewrites.

Pure functions from the library's records to strings, so they are tested without a server and
the page's handlers stay thin. Every user string goes through `ui.esc` (KR text is always text,
never markup or a template); the plan panel is `plan_html`.
"""

from __future__ import annotations

import re

from krcoach import issue_codes
from krcoach.engine import NO_REWRITE_HINT, Engine
from krcoach.models import ISSUE_CODES, Finding, KRReview, ObjectiveReview, OKRReview
from krcoach.web.plan_html import render_plan
from krcoach.web.ui import badge, engine_label, esc, issue_label

_PLACEHOLDER = re.compile(r"\[[^\[\]]{1,120}\]")


def highlight_placeholders(text: str) -> str:
    """Escaped rewrite text with every [placeholder] wrapped in a <mark>."""
    out, last = [], 0
    for m in _PLACEHOLDER.finditer(text):
        out.append(esc(text[last:m.start()]))
        out.append(f'<mark class="kc-ph">{esc(m.group(0))}</mark>')
        last = m.end()
    out.append(esc(text[last:]))
    return "".join(out)


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
        f'<div class="kc-compare-col">{badge("output")}'
        '<p>Proves work was done: <i>launch the pricing page</i>, <i>hold 5 interviews</i>, '
        '<i>publish 12 posts</i>.</p></div>'
        f'<div class="kc-compare-col">{badge("outcome")}'
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
        f'<div class="kc-card-head">{badge(kind)}'
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


def render_review(review: OKRReview) -> str:
    """The results column: the Plan panel (when the draft names teams), set/objective findings,
    then a card per key result."""
    return (render_plan(review) + render_findings(review.all_findings()) + render_skipped(review)
            + "".join(render_objective(o) for o in review.objectives))

