"""The Plan panel of the drafting page: the review of a whole plan (several teams' OKRs) as HTML.

Silent killers, cross-team findings (and which engine found them), accountability per team,
ambition and the five-question audit, in that order. Its own module because it is as long as
the rest of the review's HTML together and changes with the plan review, not with the cards.
Every user string goes through `ui.esc`.
"""

from __future__ import annotations

from typing import Any

from krcoach import formats
from krcoach.models import OKRReview
from krcoach.web.ui import esc, issue_label

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
             f'<h3 class="kc-obj-title">{esc(formats.plan_heading(plan, review))}</h3>']
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

