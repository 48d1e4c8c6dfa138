"""The response contract of one objective's review: what a model must answer, and what is checked.

The pydantic models below are the contract instructor enforces: field descriptions guide the
model, lenient "before" validators accept the harmless variants models write (a number for a
string, "by Q3" for "Q3", a bare issue code, "medium" confidence), and `check_against_draft`
refuses only what is certainly wrong compared with the draft: a wrong number or order of KRs, an
empty metric, a number written nowhere in the KR, objective, cycle or the rewrite's own
assumptions. A refusal raises inside the model validator, so instructor sends the error back to
the model (a small bounded number of times, `LLMEngine.max_retries`).

What the rules readers merely suspect (an activity-shaped metric, a number in another role than
they read it) is a guess a capable model often gets right where the reader does not: `doubts`
turns those into notes on the record, never a re-ask. The weaker engine never vetoes the
stronger one. Rewrites come back as parts (`RewriteParts`) and the engine renders the sentence,
so every rewrite has the "[metric] from [X] to [Y] by [date]" shape.

The validators read the draft from a context variable (`validating_against`), not from
instructor's `context=`: given a context, instructor renders every message as a Jinja template,
which would execute "{{ }}" in KR text.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from instructor import OpenAISchema
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from krcoach import issue_codes
from krcoach.redaction import redact_known

#: Issue codes a model may give one KR. Objective/set-level codes come from checks.py; `no_owner`
#: and the ambition codes are decided in code for every engine (`by_code` in the table).
KR_ISSUE_CODES: tuple[str, ...] = issue_codes.model_kr_codes()
IssueCode = Literal.__getitem__(KR_ISSUE_CODES)  # type: ignore[attr-defined]

#: What a model writes for "unknown": read as no value at all.
NULL_WORDS = frozenset({"", "null", "none", "n/a", "na", "unknown", "tbd", "-", "?"})
_LEADS = {"baseline": r"from", "target": r"to", "deadline": r"by|before|until|till|no later than"}


def one_line(text: str, limit: int = 300) -> str:
    """Model or server text as one line of at most `limit` characters (notes, refusals, reasons)."""
    text = " ".join(str(text).split())
    return text[:limit] + ("…" if len(text) > limit else "")


# ------------------------------------------------------------------- what an answer is checked against


@dataclass(frozen=True)
class Draft:
    """What the validators compare an answer with: the KR texts and the objective."""

    krs: tuple[str, ...]
    objective: str | None
    #: The period the KRs run in: a rewrite may take it as its deadline.
    cycle: str | None = None


_DRAFT: contextvars.ContextVar[Draft | None] = contextvars.ContextVar("krcoach_llm_draft", default=None)

#: Where the validators report what they refused (the engine's `rejections`), when someone listens.
_REFUSALS: contextvars.ContextVar[list[dict[str, str | None]] | None] = contextvars.ContextVar(
    "krcoach_llm_rejections", default=None)


@contextmanager
def validating_against(draft: Draft) -> Iterator[None]:
    """While inside, an `ObjectiveCoaching` that is certainly wrong for `draft` fails validation
    (outside, the model only parses: a cached answer, a test building one by hand)."""
    token = _DRAFT.set(draft)
    try:
        yield
    finally:
        _DRAFT.reset(token)


@contextmanager
def collecting_refusals(sink: list[dict[str, str | None]]) -> Iterator[None]:
    """While inside, every refusal sent back to the model is appended to `sink` as
    {"objective", "problems"} (redacted): what the eval shows a reader."""
    token = _REFUSALS.set(sink)
    try:
        yield
    finally:
        _REFUSALS.reset(token)


def refuse(objective: str | None, problems: list[str]) -> None:
    """Report the problems where `collecting_refusals` listens, then raise them for instructor to
    send back to the model."""
    sink = _REFUSALS.get()
    if sink is not None:
        sink.append({"objective": objective, "problems": redact_known("; ".join(problems))})
    raise ValueError("; ".join(problems))


# ------------------------------------------------------------------------------------ the models


class LenientModel(BaseModel):
    """Fields a model adds beyond the contract are ignored, never a reason to re-ask."""

    model_config = ConfigDict(extra="ignore")


_SCHEMA_JSON: dict[type, str] = {}


class RewriteParts(LenientModel):
    """One rewrite of a key result, as parts. krcoach renders the sentence."""

    metric: str = Field(description="What changes for customers, users, the business or the system, "
                                    "e.g. 'weekly active teams'. Never an activity or a deliverable.")
    baseline: str | None = Field(None, description="Starting value, only if written in the KR; else null.")
    target: str | None = Field(None, description="Target value, only if written in the KR; else null.")
    deadline: str | None = Field(None, description="Date or period written in the KR or objective, "
                                                   "e.g. 'end of Q3'; else null.")
    assumptions: list[str] = Field(default_factory=list,
                                   description="Every assumption made, including any number not in the KR.")

    @field_validator("metric", "baseline", "target", "deadline", mode="before")
    @classmethod
    def _text(cls, v: Any) -> Any:
        if isinstance(v, bool):
            return v
        if isinstance(v, (int, float)):
            return f"{v:g}"
        return v

    @field_validator("baseline", "target", "deadline")
    @classmethod
    def _part(cls, v: str | None, info: Any) -> str | None:
        """Unknown stays None (rendered as a visible placeholder); 'by Q3' becomes 'Q3'."""
        if v is None:
            return None
        v = re.sub(rf"^(?:{_LEADS[info.field_name]})\s+", "", v.strip(), flags=re.I).strip().rstrip(".")
        if v.lower() in NULL_WORDS or re.fullmatch(r"\[[^\]]*\]", v):
            return None
        return v

    @field_validator("assumptions", mode="before")
    @classmethod
    def _list(cls, v: Any) -> Any:
        if v is None:
            return []
        return [v] if isinstance(v, str) else v


class IssueItem(LenientModel):
    code: IssueCode = Field(description="One of the issue codes listed in the instructions.")  # type: ignore[valid-type]
    message: str = Field("", description="One sentence on what is wrong, in the author's terms.")


class KRCoaching(LenientModel):
    n: int = Field(description="The key result's n from the data block.")
    kind: Literal["output", "outcome"]
    why: str = Field(description="If we complete this, what will be different? One or two sentences.")
    issues: list[IssueItem] = Field(default_factory=list)
    rewrites: list[RewriteParts] = Field(default_factory=list,
                                         description="One or two outcome rewrites that keep the author's intent.")
    confidence: Literal["high", "low"] = Field(
        "high", description="'low' when the verdict is a judgement call (a borderline case, too little text); "
                            "else 'high'.")

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence(cls, v: Any) -> Any:
        """Lenient: missing or unreadable is 'high'; hedged words and low scores are 'low'."""
        if isinstance(v, bool) or v is None:
            return "high"
        if isinstance(v, (int, float)):
            return "low" if v < (0.7 if v <= 1 else 70) else "high"
        if isinstance(v, str):
            word = v.strip().lower()
            if word in ("low", "medium", "med", "moderate", "unsure", "uncertain", "borderline", "mixed"):
                return "low"
        return "high"

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, v: Any) -> Any:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("issues", mode="before")
    @classmethod
    def _issues(cls, v: Any) -> Any:
        if v is None:
            return []
        return [{"code": i} if isinstance(i, str) else i for i in v] if isinstance(v, list) else v

    @field_validator("rewrites", mode="before")
    @classmethod
    def _rewrites(cls, v: Any) -> Any:
        """More than three rewrites is not wrong, just too many to read: keep the first three."""
        if v is None:
            return []
        return v[:3] if isinstance(v, list) else v

    @field_validator("why")
    @classmethod
    def _why(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("why is empty: say what will be different if this is achieved")
        return v.strip()


class ObjectiveCoaching(LenientModel, OpenAISchema):
    """Coaching for every key result of one objective, one entry per KR in the order given."""

    # Subclassing OpenAISchema stops instructor from building a wrapper model class per request.
    model_config = ConfigDict(extra="ignore", ignored_types=OpenAISchema.model_config["ignored_types"])

    key_results: list[KRCoaching]

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        """Cached: instructor asks for the schema on every request; building it costs ms of GIL."""
        if args or kwargs or cls is not ObjectiveCoaching:
            return super().model_json_schema(*args, **kwargs)
        cached = _SCHEMA_JSON.get(cls)
        if cached is None:
            cached = _SCHEMA_JSON[cls] = json.dumps(super().model_json_schema())
        return json.loads(cached)  # a fresh copy each time: callers may change it

    @model_validator(mode="after")
    def _check_against_draft(self) -> ObjectiveCoaching:
        draft = _DRAFT.get()
        if draft is None:
            return self
        problems = check_against_draft(self, draft)
        if problems:
            refuse(draft.objective, problems)
        return self


#: The schema sent beside json_object requests, and its hash in every cache key and manifest.
RESPONSE_SCHEMA = ObjectiveCoaching.model_json_schema()
SCHEMA_SHA256 = hashlib.sha256(json.dumps(RESPONSE_SCHEMA, sort_keys=True).encode()).hexdigest()


# ------------------------------------------------------------------------ certain: sent back


def check_against_draft(answer: ObjectiveCoaching, draft: Draft) -> list[str]:
    """What is certainly wrong with an answer compared with the draft it reviews (empty when fine):
    the KR count or order, an empty metric, a number written nowhere in the KR, objective, cycle
    or the rewrite's own assumptions. Only these are sent back to the model.

    Everything the rules readers merely suspect (an activity-shaped metric, a number in another
    role than the reader gave it) is a guess a capable model often gets right where the reader
    does not: `doubts` turns those into notes on the record, never a re-ask."""
    from krcoach.rules import anatomy

    n = len(draft.krs)
    got = len(answer.key_results)
    if got != n:
        return [f"expected exactly {n} entries in key_results (one per key result, n = 1..{n}), got {got}"]
    problems: list[str] = []
    for pos, item in enumerate(answer.key_results, 1):
        if item.n != pos:
            problems.append(f"entry {pos} has n={item.n}; it must be {pos}, in the order of the data")
        sources = (draft.krs[pos - 1], draft.objective or "", draft.cycle or "")
        for r, rw in enumerate(item.rewrites, 1):
            where = f"KR {pos}, rewrite {r}"
            if not rw.metric.strip():
                problems.append(f"{where}: metric is empty; name what changes for customers, users, "
                                "the business or the system")
            invented: set[str] = set()
            for part in (rw.metric, rw.baseline, rw.target, rw.deadline):
                if part:
                    invented |= anatomy.invented_numbers(part, *sources, *rw.assumptions)
            if invented:
                problems.append(f"{where}: {', '.join(sorted(invented))} not written in the key result "
                                "or objective; use null for an unknown value (it becomes a visible "
                                "placeholder) or state the assumption in assumptions")
    return problems


# ------------------------------------------------------------------------- suspected: notes


#: "number of posts published", "count of features shipped": a tally of the team's own work.
_TALLY_OF_WORK = re.compile(
    r"^(?:the\s+)?(?:number|count|#|amount)\s+of\b.*\b(?:published|shipped|launched|held|written|"
    r"delivered|released|hired|created|built|sent|posted|run|hosted|completed|implemented)\s*$", re.I)


def _names_activity(metric: str) -> bool:
    """A metric that is itself an action ("launch the campaign") or a tally of the team's own
    work. Narrower than `anatomy.is_activity_shaped_metric` on purpose: on a capable model's
    answers that wider reader doubted "average session duration" and "search page drop-off rate",
    and a note that is usually wrong teaches people to ignore notes."""
    from krcoach.rules.lexicon import lexicon

    words = re.findall(r"[\w'-]+", metric)
    if not words:
        return True
    # An activity verb opens many noun phrases ("open pull requests", "hosted visitors"): only a
    # verb followed by its object's article or count reads as an action.
    action = (len(words) > 1 and lexicon().verb_class.get(words[0].lower()) == "activity"
              and re.fullmatch(r"the|a|an|our|their|its|new|\d[\d,.]*", words[1], re.I) is not None)
    return action or bool(_TALLY_OF_WORK.match(metric.strip()))


#: The reader's slot judgements worth a note on a model's answer: a version, or a window that
#: defines the metric, put in the target or baseline ("Postgres 16" -> target 16, "within 48
#: hours" -> target 48 hours). On 167 recorded answers of a capable model its other judgements
#: (a year in a deadline, a target written inside the metric, "3 people" as planned work) were
#: nearly all wrong.
_SURE_SLOT_ERROR = re.compile(r"is the draft's (?:version|window or definition), not its (?:target|baseline)$")


def doubts(item: KRCoaching, kr: str, cycle: str | None = None) -> list[str]:
    """Notes for one KR's answer from the rules readers' judgements, shown beside the model's
    coaching so a reader can check it; they never change or refuse the answer."""
    from krcoach.rules import quantities

    notes: list[str] = []
    if item.kind == "output" and not item.rewrites and "?" not in item.why:
        notes.append("The model gave no rewrite for this output; ask what should change once it is done.")
    for r, rw in enumerate(item.rewrites, 1):
        which = f"rewrite {r}" if len(item.rewrites) > 1 else "the rewrite"
        if rw.metric.strip() and _names_activity(rw.metric):
            notes.append(f"Check {which}: its metric ({one_line(rw.metric, 80)}) may count the team's "
                         "own work rather than a change it causes.")
        for error in quantities.slot_errors(kr, rw.metric, rw.baseline, rw.target, rw.deadline, cycle):
            if _SURE_SLOT_ERROR.search(error):
                notes.append(f"Check {which}: {error} (as krcoach's reader sees the draft).")
    return notes
