"""The table: plain text for people at a terminal (`TableWriter`), with the text helpers it
needs (word wrap, control characters, terminal width and colour)."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Any, TextIO

from krcoach.formats.plan_text import _KILLERS_NOTE, cross_team_note, plan_heading
from krcoach.formats.writer import Writer
from krcoach.models import Finding, ObjectiveReview, OKRReview


class TableWriter(Writer):
    """Plain text for people at a terminal, written line by line (no layout engine: 20,000 KRs
    take about as long as the review itself).

    Per KR: its id and text, then a two-column table of label │ text: the verdict and why, every
    issue with its message, every rewrite with its assumptions (each assumption once per KR).
    `compact=True` prints one line per KR (id, kind, text, issue codes) for wide batches.
    Findings of an objective follow its title; set-level findings come at the end. ANSI colour
    only when writing to a terminal and NO_COLOR is unset. The run's summary is the CLI's job.
    """

    def __init__(self, out: TextIO, *, compact: bool = False, width: int | None = None,
                 color: bool | None = None) -> None:
        super().__init__(out)
        self.compact = compact
        self.width = max(40, width or _terminal_width(out))
        self.tty = _isatty(out)
        self.color = _wants_color(self.tty) if color is None else color

    def _paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and text else text

    def objective(self, review: ObjectiveReview) -> None:
        lines = self._compact_lines(review) if self.compact else self._lines(review)
        lines.append("")
        self._emit("\n".join(lines))

    def _finding_lines(self, findings: list[Finding], indent: str) -> list[str]:
        lines: list[str] = []
        for f in findings:
            hang = indent + " " * (len(f.code) + 2)
            wrapped = _wrap(_plain(f.message), self.width - len(hang))
            lines.append(f"{indent}{self._paint(f.code, '1')}: {wrapped[0]}")
            lines += [hang + more for more in wrapped[1:]]
        return lines

    def _lines(self, review: ObjectiveReview) -> list[str]:
        paint, width = self._paint, self.width
        title = _plain(review.objective or "(no objective)")
        lines = [paint(title, "1"), paint("─" * min(len(title), width), "2")]
        lines += self._finding_lines(review.findings, "  ")
        # Labels are whole words (an issue code never breaks) in a column as wide as the longest.
        label_w = max((len(i.code) for kr in review.krs for i in kr.issues), default=0)
        label_w = max(label_w, len("rewrite 9"), len("fallback"))
        pad = " " * (label_w + 5)
        bar = paint("│", "2")
        text_w = max(20, width - label_w - 7)

        def row(label: str, text: str, style: str = "", note: bool = False) -> None:
            wrapped = _wrap(text, text_w - 2) if note else _wrap(text, text_w)
            shown = paint(label, style) if style else label
            lead = "· " if note else ""
            lines.append(f"    {shown}{' ' * (label_w - len(label))} {bar} {lead}{wrapped[0]}")
            lead = "  " if note else ""
            for more in wrapped[1:]:
                lines.append(f"{pad}{bar} {lead}{more}")

        for kr in review.krs:
            extras = [f"owner {kr.owner}" if kr.owner else "", f"team {kr.team}" if kr.team else "",
                      f"stretch {kr.extra['stretch']}" if kr.extra.get("stretch") else ""]
            extra = " · ".join(e for e in extras if e)
            hang = " " * (len(kr.id) + 3)
            wrapped = _wrap(_plain(kr.kr + (f" · {extra}" if extra else "")), width - len(hang))
            lines.append("")
            lines.append(f" {paint(kr.id, '1')}  {wrapped[0]}")
            lines += [hang + more for more in wrapped[1:]]
            row(kr.kind, _plain(kr.why), "32" if kr.kind == "outcome" else "33")
            if kr.status != "ok":
                row(kr.status, _plain(kr.error or ""), "31")
            for issue in kr.issues:
                row(issue.code, _plain(issue.message))
            seen: set[str] = set()
            many = len(kr.rewrites) > 1
            for n, rw in enumerate(kr.rewrites, 1):
                row(f"rewrite {n}" if many else "rewrite", _plain(rw.text), "36")
                for a in rw.assumptions:
                    if a not in seen:
                        seen.add(a)
                        row("", _plain(a), note=True)
            for note in kr.notes:
                row("note", _plain(note), note=True)
        lines.append("")
        return lines

    def _plan_lines(self, review: OKRReview) -> list[str]:
        """The plan review as plain text, before the objectives."""
        plan = review.plan
        if plan is None:
            return []
        paint, width = self._paint, self.width
        title = f"PLAN REVIEW: {plan_heading(plan, review)}"
        lines = [paint(title, "1"), paint("═" * min(len(title), width), "2")]

        def para(text: str, indent: str = "  ") -> None:
            wrapped = _wrap(_plain(text), width - len(indent))
            lines.extend(indent + part for part in wrapped)

        if self.compact:
            for f in plan.findings:
                lines.append(f"!  {paint(f.code, '1')}: {_plain(f.message)}")
            for a in plan.ambition:
                lines.append(f"!  {paint(a.code, '1')}: {_plain(a.kr.team or '')} KR {_plain(a.kr.id)}: {_plain(a.message)}")
            audit = ", ".join(f"{a.number} {a.answer}" for a in plan.audit)
            lines.append(f"audit: {audit}; active: {', '.join(k.name for k in plan.active_killers) or 'none'}")
            who, fell_back = cross_team_note(plan)
            lines.append(f"cross-team findings: {_plain(who)}" + (f"; fallback: {_plain(fell_back)}" if fell_back else ""))
            lines.append("")
            return lines
        killers = "; ".join(f"{k.name} (#{k.number})" for k in plan.active_killers) or "none the document shows"
        para(f"Silent killers that look active: {killers}. The draft answers yes to {plan.yes_answers} of 5 audit "
             f"questions; {_KILLERS_NOTE}.")
        lines.append("")

        def kr_line(k: Any, lead: str) -> None:
            owner = f" (owner: {k.owner})" if k.owner else " (no owner)"
            para(f"{lead}{k.team + ', ' if k.team else ''}KR {k.id}: “{k.kr}”{owner}", "      ")

        who, fell_back = cross_team_note(plan)
        lines.append(f"  {paint('Cross-team findings', '1')} (found by the {_plain(who)} engine)")
        if fell_back:
            para(f"Fallback: the language model's plan review could not be used, so these are the "
                 f"rules engine's findings. Reason: {fell_back}")
        cross = [f for f in plan.findings if f.code in ("conflict", "duplicate", "dependency")]
        if not cross:
            para("No conflicts, duplicates or unanswered dependencies between teams.")
        for n, f in enumerate(cross, 1):
            if f.code == "dependency":
                head = f"{f.teams[0]} → {f.on_team}" + ("" if f.on_team_in_plan else " (no OKRs in this plan)")
            else:
                head = " ↔ ".join(f.teams) + (f": {f.trade_off or f.measure}" if (f.trade_off or f.measure) else "")
            lines.append(f"  {paint(f.code, '1')} {n}. {_plain(head)}")
            for k in f.krs:
                kr_line(k, "")
            for k in f.also:
                kr_line(k, "also ")
            if f.code == "dependency":
                para(f.message, "      ")
            if f.question:
                para(f"to settle: {f.question}", "      ")
        lines.append("")
        lines.append(paint("Accountability and standard", "1"))
        for t in plan.teams:
            para(f"{t.team or '(no team)'}: {t.objectives} objective(s), {t.krs} KRs, {t.from_to_by} "
                 f"({t.from_to_by_share:.0%}) in metric-from-to-by form, {t.single_owner} with one named owner, "
                 f"cycle {', '.join(t.cycles) or 'not stated'}, {t.objectives_with_numbers} objective(s) with "
                 f"numbers, {t.outputs} output(s)")
        for f in plan.findings:
            if f.code not in ("conflict", "duplicate", "dependency"):
                hang = "  " + " " * (len(f.code) + 2)
                wrapped = _wrap(_plain(f.message), width - len(hang))
                lines.append(f"  {paint(f.code, '1')}: {wrapped[0]}")
                lines += [hang + more for more in wrapped[1:]]
        lines.append("")
        lines.append(paint("Ambition and direction", "1"))
        if not plan.ambition:
            para("No target on the wrong side of its baseline, equal to it, or barely moved from it.")
        for a in plan.ambition:
            para(f"{a.code}: {a.kr.team + ', ' if a.kr.team else ''}KR {a.kr.id} “{a.kr.kr}”: {a.message}")
        lines.append("")
        lines.append(paint("Five-question audit", "1"))
        for a in plan.audit:
            para(f"{a.number}. {a.question} {a.answer.upper()}", "  ")
            for e in a.evidence:
                para(e, "       ")
        lines.append("")
        return lines

    def _compact_lines(self, review: ObjectiveReview) -> list[str]:
        lines = []
        limit = self.width if self.tty else None  # cut to the screen only at a terminal
        id_w = max((len(kr.id) for kr in review.krs), default=0)
        id_w = max(id_w, 3)
        for kr in review.krs:
            kind = f"{kr.kind:<7}" if kr.status == "ok" else f"{kr.kind}/{kr.status}"
            codes = ", ".join(kr.issue_codes()) or "-"
            text = _plain(kr.kr)
            if limit is not None:
                room = limit - id_w - len(kind) - len(codes) - 8
                if len(text) > room:
                    text = text[:max(room - 1, 10)] + "…"
            kind = self._paint(kind, "32" if kr.kind == "outcome" else "33")
            lines.append(f"{kr.id:>{id_w}}  {kind}  {text}  [{codes}]")
        for f in review.findings:
            where = f" ({_plain(review.objective)})" if review.objective else ""
            lines.append(f"!  {self._paint(f.code, '1')}: {_plain(f.message)}{where}")
        return lines

    def finish(self, review: OKRReview) -> None:
        self._plan_then_held("\n".join(self._plan_lines(review)) + "\n" if review.plan is not None else "")
        if not review.findings:
            return
        if self.compact:
            lines = [f"!  {self._paint(f.code, '1')}: {_plain(f.message)}" for f in review.findings]
        else:
            lines = [self._paint("Whole set", "1"), *self._finding_lines(review.findings, "  ")]
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def _plain(text: str) -> str:
    """One line of text that cannot move the cursor or colour the terminal (KR text is data)."""
    return text if text.isascii() and text.isprintable() else _CONTROL.sub(" ", text)


@lru_cache(maxsize=8192)
def _wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap at spaces; a word longer than the line stays whole. Rule messages repeat a
    lot across a batch, hence the cache (callers must not modify the returned list)."""
    width = max(width, 10)
    if len(text) <= width:
        return [text]
    lines = []
    while len(text) > width:
        cut = text.rfind(" ", 0, width + 1)
        if cut <= 0:
            cut = text.find(" ", width)
            if cut < 0:
                break
        lines.append(text[:cut].rstrip())
        text = text[cut + 1:].lstrip()
    if text:
        lines.append(text)
    return lines or [""]


def _terminal_width(out: TextIO) -> int:
    """COLUMNS when set, else the terminal's width when writing to one, else 100."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        if _isatty(out):
            return os.get_terminal_size(out.fileno()).columns
    except (AttributeError, OSError, ValueError):
        pass
    return 100


def _isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def _wants_color(tty: bool) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return tty or bool(os.environ.get("FORCE_COLOR"))
