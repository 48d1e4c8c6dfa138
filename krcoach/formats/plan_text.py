"""The plan review as text: its Markdown section and the pieces the table and the page share
(the heading, who found the cross-team findings, a quoted KR).
"""

from __future__ import annotations

from typing import Any

from krcoach.models import OKRReview
from krcoach.safe import md_text


_KILLERS_NOTE = ("three or fewer “yes” answers mean at least one silent killer is active")


def _plan_kr(k: Any) -> str:
    """'Team, KR 3: “text” (owner: Ana)' for a quoted KR, as Markdown."""
    team = f"{_md_text(k.team)}, " if k.team else ""
    owner = f" (owner: {_md_text(k.owner)})" if k.owner else " (no owner)"
    return f"{team}KR {_md_text(k.id)}: “{_md_text(k.kr)}”{owner}"


def plan_heading(plan: Any, review: OKRReview) -> str:
    """The plan's size in one line ("3 teams, 6 objectives, 18 key results"): the heading of the
    plan review in Markdown, in the table and on the page's Plan panel."""
    teams = len(plan.teams)
    objectives = sum(t.objectives for t in plan.teams)
    krs = sum(t.krs for t in plan.teams)
    return (f"{teams} team{'s' if teams != 1 else ''}, {objectives} objective{'s' if objectives != 1 else ''}, "
            f"{krs} key result{'s' if krs != 1 else ''}")


def cross_team_note(plan: Any) -> tuple[str, str | None]:
    """Which engine found the plan's cross-team findings ("rules", "llm · model"), and the
    fallback reason when the llm plan request could not be used (None otherwise). Plain text;
    the Markdown and table writers and the page's Plan panel escape it their own way."""
    ct = plan.cross_team
    who = f"{ct.engine} · {ct.model}" if ct.model else ct.engine
    if ct.status == "ok":
        return who, None
    return who, ct.error or f"{ct.status}, no reason given"


def plan_markdown(review: OKRReview) -> str:
    """The plan review as the first section of a Markdown review."""
    plan = review.plan
    if plan is None:
        return ""
    out: list[str] = []
    w = out.append
    w(f"## Plan review: {plan_heading(plan, review)}\n\n")
    if plan.active_killers:
        names = "; ".join(f"**{_md_text(k.name)}** (#{k.number}): {_md_text(k.why.rstrip('.'))}"
                          for k in plan.active_killers)
        w(f"**Silent killers that look active:** {names}.\n\n")
    else:
        w("**Silent killers that look active:** none the document shows.\n\n")
    w(f"The draft answers “yes” to {plan.yes_answers} of the 5 audit questions; {_KILLERS_NOTE}.\n\n")
    w("### Cross-team findings\n\n")
    who, fell_back = cross_team_note(plan)
    w(f"_Found by the {_md_text(who)} engine._\n\n")
    if fell_back:
        w(f"_Fallback: the language model's plan review could not be used, so these are the rules "
          f"engine's findings. Reason: {_md_text(fell_back)}_\n\n")
    cross = [f for f in plan.findings if f.code in ("conflict", "duplicate", "dependency")]
    if not cross:
        w("No conflicts, duplicates or unanswered dependencies between teams.\n\n")
    titles = {"conflict": "Conflicts", "duplicate": "Duplicates", "dependency": "Dependencies"}
    for code, title in titles.items():
        items = [f for f in cross if f.code == code]
        if not items:
            continue
        w(f"**{title}** (`{code}`)\n\n")
        for n, f in enumerate(items, 1):
            if code == "dependency":
                head = f"{_md_text(f.teams[0])} → {_md_text(f.on_team or '')}"
                what = "" if f.on_team_in_plan else " (no OKRs in this plan)"
            else:
                head = " ↔ ".join(_md_text(t) for t in f.teams)
                what = f" — {_md_text(f.trade_off or f.measure or '')}" if (f.trade_off or f.measure) else ""
            w(f"{n}. **{head}**{what}\n")
            for k in f.krs:
                w(f"   - {_plan_kr(k)}\n")
            for k in f.also:
                w(f"   - also {_plan_kr(k)}\n")
            if code == "dependency":
                w(f"   - {_md_text(f.message)}\n")
            if f.question:
                w(f"   - **To settle:** {_md_text(f.question)}\n")
        w("\n")
    w("### Accountability and standard\n\n")
    w("| team | objectives | key results | metric from X to Y by date | one named owner | cycle | objectives with numbers | outputs |\n")
    w("|---|---:|---:|---:|---:|---|---:|---:|\n")
    for t in plan.teams:
        w(f"| {_md_text(t.team or '(no team)')} | {t.objectives} | {t.krs} | {t.from_to_by} ({t.from_to_by_share:.0%}) | "
          f"{t.single_owner} of {t.krs} | {_md_text(', '.join(t.cycles) or 'not stated')} | {t.objectives_with_numbers} | "
          f"{t.outputs} |\n")
    w("\n")
    standard = [f for f in plan.findings if f.code not in titles]
    for f in standard:
        q = f" *To settle:* {_md_text(f.question)}" if f.question else ""
        w(f"- `{f.code}`: {_md_text(f.message)}{q}\n")
    if standard:
        w("\n")
    w("### Ambition and direction\n\n")
    if plan.ambition:
        for a in plan.ambition:
            w(f"- `{a.code}` — {_plan_kr(a.kr)}: {_md_text(a.message)}\n")
    else:
        w("No target on the wrong side of its baseline, equal to it, or barely moved from it.\n")
    w("\n### The five-question audit\n\n")
    w("| # | question | answer | evidence |\n|---|---|---|---|\n")
    for a in plan.audit:
        ev = " ".join(_md_text(e) for e in a.evidence) or "—"
        w(f"| {a.number} | {_md_text(a.question)} | **{a.answer}** | {ev} |\n")
    w("\n---\n\n")
    return "".join(out)


def _md_text(text: str) -> str:
    """Escape what Markdown or HTML would interpret (links, images, HTML, emphasis), so KR text
    stays text: see krcoach.safe.md_text."""
    return md_text(text)
