"""The data krcoach reads and writes.

Input is an `OKRSet` (objectives holding key results); output is an `OKRReview` holding one
`KRReview` per key result plus objective- and set-level findings. `KRReview.record()` is the stable
per-KR record that every writer, the Gradio API and the workshop emit, so its field names and order
are part of the public interface (see DESIGN.md).
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from krcoach.issue_codes import meanings as _issue_meanings
from krcoach.issue_codes import needs_work

Kind = Literal["output", "outcome"]
Status = Literal["ok", "fallback", "error"]
Confidence = Literal["high", "low"]
_M = TypeVar("_M", bound="_Model")

MAX_KR_CHARS = 2000

#: Stable issue codes with their plain-words meaning (from the one table in `issue_codes`).
ISSUE_CODES: dict[str, str] = _issue_meanings()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


_set = object.__setattr__


def _plain(value: Any) -> Any:
    """What `model_dump(mode="json")` makes of a value of these models (see `KRReview.record`)."""
    if isinstance(value, _Model):
        return _plain_fields(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _plain_fields(model: _Model, exclude: str | None = None) -> dict[str, Any]:
    d = model.__dict__
    return {name: _plain(d[name]) for name in type(model).model_fields if name != exclude}


def trusted(cls: type[_M], values: dict[str, Any]) -> _M:
    """`cls.model_construct(**values)` for values that name every field, in field order: the same
    object, without model_construct's per-field default look-ups (which inspect each default
    factory's signature, a sixth of the rules engine's time). For data built by the engine only."""
    if len(values) != len(cls.model_fields):  # a field added since the caller was written: its default
        return cls.model_construct(**values)
    m = cls.__new__(cls)
    _set(m, "__dict__", values)
    _set(m, "__pydantic_fields_set__", set(values))
    _set(m, "__pydantic_extra__", None)
    _set(m, "__pydantic_private__", None)
    return m


class KeyResult(_Model):
    """One key result as written by its author, with the columns a tracker or sheet gave beside it."""

    id: str
    kr: str
    owner: str | None = None
    source: str | None = Field(default=None, description="Where it came from, e.g. 'okrs.csv:12'.")
    team: str | None = None
    #: The KR's own due date or period from a `due`/`deadline`/`quarter` column, as written.
    deadline: str | None = None
    status: str | None = None
    baseline: str | None = None
    target: str | None = None
    current: str | None = None
    #: Columns krcoach does not know, passed through to JSON/JSONL/CSV output as written.
    extra: dict[str, str] = Field(default_factory=dict)


class Objective(_Model):
    title: str | None = None
    krs: list[KeyResult] = Field(default_factory=list)
    #: The period this objective's KRs run in ("2026 Q3", "H1"), read from a heading or the title.
    cycle: str | None = None


class SkippedLine(_Model):
    """A non-empty input line that became neither objective nor key result, and why."""

    source: str
    line: int
    text: str
    reason: str


class OKRSet(_Model):
    objectives: list[Objective] = Field(default_factory=list)
    #: The period of the whole document ("2024 Q3 OKRs" title, or `--cycle`).
    cycle: str | None = None
    #: Lines the reader did not take, reported to the user (stderr, page), never dropped silently.
    skipped: list[SkippedLine] = Field(default_factory=list)

    def key_results(self) -> list[KeyResult]:
        return [kr for o in self.objectives for kr in o.krs]


class Issue(_Model):
    code: str
    message: str


class Rewrite(_Model):
    """A proposed KR in the shape '[metric] from [X] to [Y] by [date]'.

    Parts are kept beside the rendered text so a UI can highlight placeholders and a validator can
    check that no number was invented.
    """

    text: str
    metric: str
    baseline: str | None = None
    target: str | None = None
    deadline: str | None = None
    assumptions: list[str] = Field(default_factory=list)


class KRReview(_Model):
    id: str
    objective: str | None = None
    kr: str
    owner: str | None = None
    kind: Kind
    why: str
    issues: list[Issue] = Field(default_factory=list)
    rewrites: list[Rewrite] = Field(default_factory=list)
    engine: str
    model: str | None = None
    status: Status = "ok"
    error: str | None = None
    #: How sure the verdict is: "low" when the evidence is thin or split (the why then says so).
    confidence: Confidence = "high"
    team: str | None = None
    #: Doubts about this answer from checks that may not overrule it (the rules readers on an llm
    #: answer): shown beside the coaching, never a reason to replace it.
    notes: list[str] = Field(default_factory=list)
    #: Unknown input columns, passed through behind the stable fields.
    extra: dict[str, str] = Field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The stable per-KR record (a JSONL line): stable fields first, then passed-through columns.

        `model_dump(mode="json", exclude={"extra"})` written out: every value these models hold is
        a string, a number, None, a list or another of them, which JSON mode leaves as it is, so the
        record is the same without building the serializer (a third of writing a record)."""
        rec = _plain_fields(self, exclude="extra")
        for k, v in self.extra.items():
            rec.setdefault(k, v)
        return rec

    def issue_codes(self) -> list[str]:
        return [i.code for i in self.issues]


class Finding(_Model):
    """An objective- or set-level finding from `checks.py`."""

    code: str
    message: str
    scope: Literal["objective", "set"]
    objective: str | None = None


class ObjectiveReview(_Model):
    objective: str | None = None
    krs: list[KRReview] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)


class PlanKR(_Model):
    """A key result quoted by a plan finding: enough to find it and to read it without the record."""

    team: str | None = None
    id: str
    kr: str
    owner: str | None = None
    objective: str | None = None
    #: Where it came from ("marketing.md:12"), when the reader knows.
    source: str | None = None


class PlanFinding(_Model):
    """A finding about the plan as a whole (several teams' OKRs together), from `plan.py`.

    Cross-team findings (`conflict`, `duplicate`, `dependency`) quote the KRs on both sides in `krs`
    and say what to settle in `question`; accountability and standard findings (`no_single_owner`,
    `krs_per_objective`, `objectives_per_team`, `mixed_cycles`, `mixed_formats`) name the teams.
    """

    code: str
    message: str
    teams: list[str] = Field(default_factory=list)
    #: The KRs the finding is about; for a conflict the first two are the sharpest pair.
    krs: list[PlanKR] = Field(default_factory=list)
    #: More KRs in the same conflict or duplicate, beyond the first two.
    also: list[PlanKR] = Field(default_factory=list)
    #: The question the teams should settle before the cycle starts.
    question: str | None = None
    #: What trades against what ("release or launch pace vs stability, uptime or change freeze"),
    #: the measure two teams both own, or the team a dependency is on.
    trade_off: str | None = None
    measure: str | None = None
    on_team: str | None = None
    #: Whether the team a dependency names has OKRs in this plan at all.
    on_team_in_plan: bool | None = None


class TeamSummary(_Model):
    """One team's standard: counts the audit and the page's Plan panel show per team."""

    team: str | None = None
    objectives: int = 0
    krs: int = 0
    #: KRs written as "[metric] from [X] to [Y] by [date]" (the date may come from the cycle).
    from_to_by: int = 0
    from_to_by_share: float = 0.0
    #: KRs with one named person as owner.
    single_owner: int = 0
    #: The cycle(s) the team's OKRs run in, as read ("2026 Q3"); empty when the document says none.
    cycles: list[str] = Field(default_factory=list)
    objectives_with_numbers: int = 0
    outputs: int = 0
    #: KRs with an ambition or direction issue (wrong_direction, flat_target, sandbagging).
    ambition_issues: int = 0


class CrossTeam(_Model):
    """Who found the plan's cross-team findings (`conflict`, `duplicate`, `dependency`).

    `engine` is "rules" (`plan.py`'s detectors) or "llm" (one request per plan, `llm.py`); a
    model answer that could not be used leaves the rules findings with `status` "fallback" and
    the reason in `error`, as a KR record does."""

    engine: str = "rules"
    model: str | None = None
    status: Status = "ok"
    error: str | None = None


AuditAnswerValue = Literal["yes", "no", "cannot tell"]


class AuditAnswer(_Model):
    """One of the seeds' five audit questions, answered from the draft alone."""

    number: int
    question: str
    answer: AuditAnswerValue
    evidence: list[str] = Field(default_factory=list)
    #: The silent killer this question tests ("Lack of standardization", ...).
    killer: str


class SilentKiller(_Model):
    number: int
    name: str
    #: Why it looks active in this draft.
    why: str


class AmbitionNote(_Model):
    """A KR's ambition or direction issue, repeated at plan level with its team and question."""

    code: str
    message: str
    kr: PlanKR


class PlanReview(_Model):
    """The plan review: cross-team findings, accountability and standard, ambition, the audit.

    Computed once per run over every input (`coach.review`); the rules engine's checks, whichever
    engine reviewed the KRs, except the cross-team findings: with the llm engine and two or more
    teams those come from the model (`cross_team` says which engine found them, and why it fell
    back). JSON output carries it as `plan`.
    """

    engine: str = "rules"
    teams: list[TeamSummary] = Field(default_factory=list)
    findings: list[PlanFinding] = Field(default_factory=list)
    ambition: list[AmbitionNote] = Field(default_factory=list)
    audit: list[AuditAnswer] = Field(default_factory=list)
    #: How many of the five audit questions the draft answers "yes" (three or fewer: at least one
    #: silent killer is active).
    yes_answers: int = 0
    active_killers: list[SilentKiller] = Field(default_factory=list)
    #: Which engine produced the cross-team findings and, on a fallback, why (the rest of the
    #: plan review is computed in code whichever engine ran).
    cross_team: CrossTeam = Field(default_factory=CrossTeam)

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def counts(self) -> dict[str, int]:
        from collections import Counter

        return dict(Counter(f.code for f in self.findings))


class OKRReview(_Model):
    objectives: list[ObjectiveReview] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    engine: str
    model: str | None = None
    #: Input lines the reader did not take as objective or key result, shown to the user.
    skipped: list[SkippedLine] = Field(default_factory=list)
    #: The plan review over every input of the run (teams named, or asked for); None otherwise.
    plan: PlanReview | None = None

    def kr_reviews(self) -> list[KRReview]:
        return [kr for o in self.objectives for kr in o.krs]

    def records(self) -> list[dict[str, Any]]:
        return [kr.record() for kr in self.kr_reviews()]

    def all_findings(self) -> list[Finding]:
        return [f for o in self.objectives for f in o.findings] + list(self.findings)

    def code_counts(self) -> dict[str, int]:
        """Every code this review raised (KR issues, objective, set and plan findings) with how
        often: what `krcoach review --fail-on` checks."""
        from collections import Counter

        counts: Counter[str] = Counter(c for k in self.kr_reviews() for c in set(k.issue_codes()))
        counts.update(f.code for f in self.all_findings())
        if self.plan is not None:
            counts.update(f.code for f in self.plan.findings)
        return dict(counts)

    def common_problems(self, n: int = 3) -> list[tuple[str, int]]:
        """The most common problems that make KRs need work (code, KRs), most frequent first."""
        from collections import Counter

        from krcoach.issue_codes import table

        t = table()
        counts = Counter(c for k in self.kr_reviews() for c in set(k.issue_codes()) if c in t and t[c].need_work)
        return counts.most_common(n)

    def summary(self) -> dict[str, int]:
        krs = self.kr_reviews()
        return {
            "krs": len(krs),
            "outcomes": sum(k.kind == "outcome" for k in krs),
            "outputs": sum(k.kind == "output" for k in krs),
            "need_work": sum(needs_work(k.issue_codes()) for k in krs),
            "fallbacks": sum(k.status == "fallback" for k in krs),
            "errors": sum(k.status == "error" for k in krs),
        }
