"""The llm engine: structured coaching from any OpenAI-compatible endpoint.

One request per objective (its KRs together, the objective as context). The answer is parsed into
`ObjectiveCoaching`, whose validators refuse only what is certainly wrong: a wrong number or order
of KRs, an empty metric, a number written nowhere in the draft; instructor sends the error back to
the model a small bounded number of times. What the rules readers merely suspect (an
activity-shaped metric, a number in another role than they read) becomes a note on the record
(`doubts`): the weaker engine never vetoes the stronger one. Rewrites come back as parts and are rendered
here, so every rewrite has the "[metric] from [X] to [Y] by [date]" shape.

A plan of two or more teams gets one more request (`plan_findings`, prompt `review_plan`): the
teams, objectives and KRs quoted with ids, the answer its cross-team findings (`PlanCoaching`),
refused only when certainly wrong (an id not in the plan, a conflict or duplicate not between two
teams, a dependency on no team or its own). It shares the transport, budget, breaker, cache and
secrets handling below; a plan it cannot answer keeps the rules findings, marked as a fallback.

Network faults (429 with Retry-After, 5xx, timeouts, refused connections) are retried here with
backoff and jitter; the SDK's own retries are off so the two never multiply. Every objective has a
hard budget (at most `RetryPolicy.max_requests` HTTP requests, re-asks included, and about
`retry_seconds` spent on failures), and a circuit breaker makes the rest of a batch fall back at
once when the endpoint is clearly down. A failed objective gets the rules review with
`status="fallback"` and a one-line reason; the batch goes on.

The API key is never logged, cached, exported or put in an error string: errors are rebuilt from
status codes and sanitised excerpts, never passed through as the SDK formats them, and every
excerpt, answer and fallback reason goes through `krcoach.redaction.redact`, which knows the key's
quoted forms (prefix…suffix, masked middles, fragments); building an engine installs the log
filter that does the same for the HTTP libraries' and instructor's loggers.
"""

from __future__ import annotations

import contextvars
import email.utils
import hashlib
import json
import logging
import os
import random
import re
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from instructor import OpenAISchema
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from krcoach import issue_codes
from krcoach.llm.cache import AnswerCache, krcoach_version, make_key
from krcoach.engine import EngineConfigError, ReviewContext
from krcoach.periods import clip_cycle
from krcoach.models import (ISSUE_CODES, MAX_KR_CHARS, CrossTeam, Issue, KeyResult, KRReview, Objective, PlanFinding,
                     PlanKR, Rewrite)
from krcoach.redaction import _KEYLIKE, protect, redact, redact_known, scrub  # noqa: F401 - re-exported

log = logging.getLogger(__name__)
# instructor logs every failed attempt at ERROR; with no logging configured Python would print those
# to stderr. The record already carries the reason, so keep the CLI quiet unless logging is set up.
logging.getLogger("instructor").addHandler(logging.NullHandler())

OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_TIMEOUT = 120.0
DEFAULT_PROMPT = "review_objective"
#: Key sent to endpoints that need none (local servers); never a secret.
NO_KEY = "krcoach-no-key"
MODES = ("tools", "json_schema", "json", "md_json")
_MODE_ALIASES = {"tool_call": "tools", "tool": "tools", "json_object": "json", "json_mode": "json",
                 "markdown_json": "md_json", "structured": "json_schema"}

#: Issue codes a model may give one KR. Objective/set-level codes come from checks.py; `no_owner`
#: and the ambition codes are decided in code for every engine (`by_code` in the table).
KR_ISSUE_CODES: tuple[str, ...] = issue_codes.model_kr_codes()
IssueCode = Literal.__getitem__(KR_ISSUE_CODES)  # type: ignore[attr-defined]

INJECTION_MESSAGE = ("Contains text addressed to the coach; it was reviewed as part of the key "
                     "result and not followed.")

# ------------------------------------------------------------------------------------ prompts


@dataclass(frozen=True)
class Prompt:
    """A versioned template: `version:` line, then `=== system ===` and `=== user ===` parts."""

    name: str
    version: str
    system: str
    user: str
    sha256: str


def _prompt_text(name: str) -> str:
    try:
        return resources.files("krcoach.prompts").joinpath(f"{name}.txt").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        # A source checkout that is not installed: prompts/ sits beside the package.
        return (Path(__file__).resolve().parents[2] / "prompts" / f"{name}.txt").read_text("utf-8")


def load_prompt(name: str = DEFAULT_PROMPT) -> Prompt:
    text = _prompt_text(name)
    first, _, rest = text.partition("\n")
    m = re.fullmatch(r"version:\s*(\S+)\s*", first)
    if not m:
        raise ValueError(f"prompt {name}: the first line must be 'version: <v>'")
    parts = re.split(r"^=== (system|user) ===\s*$", rest, flags=re.M)
    sections = {parts[i]: parts[i + 1].strip("\n") for i in range(1, len(parts) - 1, 2)}
    if set(sections) != {"system", "user"}:
        raise ValueError(f"prompt {name}: needs '=== system ===' and '=== user ===' sections")
    return Prompt(name=name, version=m.group(1), system=sections["system"], user=sections["user"],
                  sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


def _quoted(value: Any, **kw: Any) -> str:
    """JSON for the prompt, with the delimiter word escaped so it never appears verbatim."""
    return json.dumps(value, ensure_ascii=False, **kw).replace("OKR_DATA", "OKR\\u005fDATA")


def data_block(objective: Objective, cycle: str | None = None) -> str:
    """The objective, the cycle and the KRs as JSON: author text is data, quoted, never spliced
    into instructions.

    JSON escapes every newline, so no KR can produce a line of its own (such as the closing
    delimiter); the delimiter word is also escaped inside strings so it never appears verbatim.
    """
    payload: dict[str, Any] = {"objective": objective.title}
    if clip_cycle(cycle):
        payload["cycle"] = clip_cycle(cycle)
    payload["key_results"] = [{"n": i, "text": kr.kr[:MAX_KR_CHARS]} for i, kr in enumerate(objective.krs, 1)]
    return _quoted(payload, indent=1)


def issue_code_lines() -> str:
    """The KR issue codes with their meanings, from the one table (`issue_codes`)."""
    meanings = issue_codes.meanings()
    return "\n".join(f"- {c}: {meanings[c]}" for c in KR_ISSUE_CODES)


def build_messages(prompt: Prompt, objective: Objective, cycle: str | None = None) -> list[dict[str, str]]:
    system = Template(prompt.system).safe_substitute(issue_codes=issue_code_lines())
    cycle = clip_cycle(cycle)
    # The cycle is author text too: quoted as JSON (one line, no delimiter), and in the data block.
    cycle_line = (f"Cycle: {_quoted(cycle)} (also in the data) — KRs without their own date end with "
                  "the cycle.\n" if cycle else "")
    user = Template(prompt.user).safe_substitute(data=data_block(objective, cycle), cycle_line=cycle_line)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


# ------------------------------------------------------------------------------ response model


@dataclass(frozen=True)
class _Draft:
    """What the validators compare an answer with: the KR texts and the objective."""

    krs: tuple[str, ...]
    objective: str | None
    #: The period the KRs run in: a rewrite may take it as its deadline.
    cycle: str | None = None


# Validators read the draft from here rather than from instructor's `context=`: instructor renders
# every message as a Jinja template when a context is given, which would execute "{{ }}" in KR text.
_DRAFT: contextvars.ContextVar[_Draft | None] = contextvars.ContextVar("krcoach_llm_draft", default=None)

#: Where the validator reports what it refused (the engine's `rejections`), when someone listens.
_REJECTIONS: contextvars.ContextVar[list[dict[str, str | None]] | None] = contextvars.ContextVar(
    "krcoach_llm_rejections", default=None)

_NULLISH = {"", "null", "none", "n/a", "na", "unknown", "tbd", "-", "?"}
_LEADS = {"baseline": r"from", "target": r"to", "deadline": r"by|before|until|till|no later than"}


_SCHEMA_JSON: dict[type, str] = {}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RewriteParts(_Lenient):
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
        if v.lower() in _NULLISH or re.fullmatch(r"\[[^\]]*\]", v):
            return None
        return v

    @field_validator("assumptions", mode="before")
    @classmethod
    def _list(cls, v: Any) -> Any:
        if v is None:
            return []
        return [v] if isinstance(v, str) else v


class IssueItem(_Lenient):
    code: IssueCode = Field(description="One of the issue codes listed in the instructions.")  # type: ignore[valid-type]
    message: str = Field("", description="One sentence on what is wrong, in the author's terms.")


class KRCoaching(_Lenient):
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


class ObjectiveCoaching(_Lenient, OpenAISchema):
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
            sink = _REJECTIONS.get()
            if sink is not None:
                sink.append({"objective": draft.objective, "problems": redact_known("; ".join(problems))})
            raise ValueError("; ".join(problems))
        return self


def check_against_draft(answer: ObjectiveCoaching, draft: _Draft) -> list[str]:
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
    from krcoach.rules import anatomy
    from krcoach.rules import quantities

    notes: list[str] = []
    if item.kind == "output" and not item.rewrites and "?" not in item.why:
        notes.append("The model gave no rewrite for this output; ask what should change once it is done.")
    for r, rw in enumerate(item.rewrites, 1):
        which = f"rewrite {r}" if len(item.rewrites) > 1 else "the rewrite"
        if rw.metric.strip() and _names_activity(rw.metric):
            notes.append(f"Check {which}: its metric ({_one_line(rw.metric, 80)}) may count the team's "
                         "own work rather than a change it causes.")
        for error in quantities.slot_errors(kr, rw.metric, rw.baseline, rw.target, rw.deadline, cycle):
            if _SURE_SLOT_ERROR.search(error):
                notes.append(f"Check {which}: {error} (as krcoach's reader sees the draft).")
    return notes


RESPONSE_SCHEMA = ObjectiveCoaching.model_json_schema()
SCHEMA_SHA256 = hashlib.sha256(json.dumps(RESPONSE_SCHEMA, sort_keys=True).encode()).hexdigest()

# --------------------------------------------------------------------------------- plan review
# The plan's cross-team findings (conflict, duplicate, dependency) in one request per plan: the
# teams, objectives and KRs quoted as data with ids ("K3"), the answer a list of findings that
# cite those ids. The validator refuses only what is certainly wrong (an id not in the data; a
# conflict or duplicate not between two teams; a dependency on nobody or on its own team); the
# rest of the plan review stays computed in code (`plan.py`).

PLAN_PROMPT = "review_plan"
PLAN_KINDS = ("conflict", "duplicate", "dependency")
PlanKind = Literal["conflict", "duplicate", "dependency"]
#: Over this many KRs a plan is not sent in one request: its cross-team findings stay the rules'
#: (visibly, as a fallback with the reason).
MAX_PLAN_KRS = 200
#: A KR's text in the plan's data block is cut here: what crosses teams is its gist, and a plan
#: of many long KRs must still fit one request.
PLAN_KR_CHARS = 500
_PLAN_KIND_ALIASES = {"conflicts": "conflict", "trade-off": "conflict", "tradeoff": "conflict",
                      "duplicates": "duplicate", "duplication": "duplicate", "dependencies": "dependency",
                      "dependent": "dependency", "depends": "dependency"}
_KR_ID = re.compile(r"^\s*(?:kr|k)?\s*#?\s*(\d+)\s*$", re.I)
#: Where a refusal of a plan answer is filed in `LLMEngine.rejections` (its "objective").
PLAN_REJECTION = "(plan: cross-team findings)"


@dataclass(frozen=True)
class _PlanDraft:
    """What the plan validator compares an answer with: each KR id's team, and the plan's teams."""

    teams: dict[str, str]
    names: tuple[str, ...]


_PLAN_DRAFT: contextvars.ContextVar[_PlanDraft | None] = contextvars.ContextVar("krcoach_llm_plan_draft",
                                                                                 default=None)


def _line(v: Any) -> Any:
    """Free text from the model as one line (None and non-strings pass through)."""
    return " ".join(v.split()) if isinstance(v, str) else v


class PlanFindingItem(_Lenient):
    kind: PlanKind = Field(description="conflict, duplicate or dependency, as defined in the instructions.")
    krs: list[str] = Field(description="The ids of the KRs involved, exactly as in the data (e.g. 'K3'); "
                                       "for a dependency the dependent KR first.")
    teams: list[str] = Field(default_factory=list, description="The teams involved, as in the data; for a "
                                                               "dependency the dependent team, then the team depended on.")
    on_team: str | None = Field(None, description="dependency: the team depended on (as in the data when it "
                                                  "is a team of the plan); else null.")
    message: str = Field(description="One line in the teams' own terms: who pushes what against whom, who "
                                     "owns what twice, or who waits for whom.")
    question: str = Field("", description="The one question the teams should settle before the cycle starts.")
    trade_off: str | None = Field(None, description="conflict: what trades against what, in a few words.")
    measure: str | None = Field(None, description="duplicate: the measure both teams own.")

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, v: Any) -> Any:
        if isinstance(v, str):
            word = v.strip().lower()
            return _PLAN_KIND_ALIASES.get(word, word)
        return v

    @field_validator("krs", mode="before")
    @classmethod
    def _ids(cls, v: Any) -> Any:
        """'K3', 'k3', 3, 'KR 3' and {"id": "K3"} all cite K3."""
        if v is None:
            return []
        items = v if isinstance(v, list) else [v]
        out = []
        for item in items:
            if isinstance(item, dict):
                item = item.get("id", item.get("kr", ""))
            if isinstance(item, bool):
                item = str(item)
            if isinstance(item, int):
                item = str(item)
            if isinstance(item, str):
                m = _KR_ID.match(item)
                item = f"K{int(m.group(1))}" if m else item.strip()
            out.append(item)
        return out

    @field_validator("teams", mode="before")
    @classmethod
    def _teams(cls, v: Any) -> Any:
        """Informative only (the KR ids decide the teams): what is not a name is dropped."""
        if v is None:
            return []
        items = [v] if isinstance(v, str) else v if isinstance(v, list) else []
        return [t for t in items if isinstance(t, str)]

    @field_validator("on_team", "trade_off", "measure", mode="before")
    @classmethod
    def _optional(cls, v: Any) -> Any:
        v = _line(v)
        return None if isinstance(v, str) and v.lower() in _NULLISH else v

    @field_validator("message", "question", mode="before")
    @classmethod
    def _one_line(cls, v: Any) -> Any:
        return "" if v is None else _line(v)

    @field_validator("message")
    @classmethod
    def _message(cls, v: str) -> str:
        if not v:
            raise ValueError("message is empty: say in one line what pulls against what, or who waits for whom")
        return v


class PlanCoaching(_Lenient, OpenAISchema):
    """The cross-team findings of one plan: conflicts, duplicates and dependencies between teams,
    each citing the ids of the KRs involved. An empty list when the plan has none."""

    model_config = ConfigDict(extra="ignore", ignored_types=OpenAISchema.model_config["ignored_types"])

    findings: list[PlanFindingItem] = Field(default_factory=list)

    @field_validator("findings", mode="before")
    @classmethod
    def _findings(cls, v: Any) -> Any:
        return [] if v is None else v

    @model_validator(mode="after")
    def _check_against_draft(self) -> PlanCoaching:
        draft = _PLAN_DRAFT.get()
        if draft is None:
            return self
        problems = check_plan_against_draft(self, draft)
        if problems:
            sink = _REJECTIONS.get()
            if sink is not None:
                sink.append({"objective": PLAN_REJECTION, "problems": redact_known("; ".join(problems))})
            raise ValueError("; ".join(problems))
        return self


def _canon_team(name: str | None, names: tuple[str, ...]) -> str | None:
    """A team name as the plan spells it when it is a team of the plan, else as the plan review
    knows the function ("legal" -> "Legal"), else as given."""
    from krcoach.plan import _team_key, knowledge

    if not name or not name.strip():
        return None
    key = _team_key(name)
    return next((t for t in (*names, *knowledge().functions) if _team_key(t) == key), name.strip())


def _depends_on(item: PlanFindingItem, own: str, names: tuple[str, ...]) -> str | None:
    """The team a dependency is on: `on_team`, else the first of `teams` that is not the KR's own."""
    from krcoach.plan import _team_key

    if item.on_team:
        return _canon_team(item.on_team, names)
    return next((_canon_team(t, names) for t in item.teams if t.strip() and _team_key(t) != _team_key(own)), None)


def check_plan_against_draft(answer: PlanCoaching, draft: _PlanDraft) -> list[str]:
    """What is certainly wrong with a plan answer (empty when fine): an id that is not in the
    data, a conflict or duplicate that is not between KRs of two different teams, a dependency
    that names no team or the KR's own. Only these are sent back to the model."""
    from krcoach.plan import _team_key

    problems: list[str] = []
    span = f"K1..K{len(draft.teams)}" if draft.teams else "none"
    for i, f in enumerate(answer.findings, 1):
        where = f"finding {i} ({f.kind})"
        ids = list(dict.fromkeys(f.krs))
        unknown = [k for k in ids if k not in draft.teams]
        if unknown:
            problems.append(f"{where}: {', '.join(_one_line(k, 20) for k in unknown[:5])} "
                            f"{'is' if len(unknown) == 1 else 'are'} not a KR id in the data; cite only "
                            f"the ids given there ({span})")
            continue
        if not ids:
            problems.append(f"{where}: cites no KR; give the ids of the KRs involved in krs")
            continue
        if f.kind in ("conflict", "duplicate"):
            teams = list(dict.fromkeys(draft.teams[k] for k in ids))
            if len(teams) < 2:
                problems.append(f"{where}: {', '.join(ids)} {'is' if len(ids) == 1 else 'are all'} "
                                f"{teams[0]}'s; a {f.kind} is between KRs of two different teams: cite "
                                "at least one KR of each")
            continue
        own = draft.teams[ids[0]]
        on = _depends_on(f, own, draft.names)
        if on is None:
            problems.append(f"{where}: name the team {ids[0]} depends on in on_team")
        elif _team_key(on) == _team_key(own):
            problems.append(f"{where}: {ids[0]} is {own}'s own KR; on_team must be the other team it "
                            "depends on")
    return problems


def plan_payload(krs: list[PlanKR]) -> tuple[dict[str, Any], dict[str, PlanKR]]:
    """The plan as the model reads it, and the KR behind each id: teams in order of first
    appearance, each with its objectives and KRs (`id` "K<n>" by position in the plan, `text`,
    `owner`). Ids are krcoach's own: input ids repeat across files."""
    from krcoach.plan import NO_TEAM

    by_id: dict[str, PlanKR] = {}
    teams: dict[str, dict[str | None, list[dict[str, Any]]]] = {}
    for n, ref in enumerate(krs, 1):
        kid = f"K{n}"
        by_id[kid] = ref
        entry: dict[str, Any] = {"id": kid, "text": ref.kr[:PLAN_KR_CHARS]}
        if ref.owner:
            entry["owner"] = ref.owner
        teams.setdefault(ref.team or NO_TEAM, {}).setdefault(ref.objective, []).append(entry)
    payload = {"teams": [{"team": team, "objectives": [{"objective": title, "key_results": entries}
                                                       for title, entries in objectives.items()]}
                         for team, objectives in teams.items()]}
    return payload, by_id


def plan_block(payload: dict[str, Any]) -> str:
    """The plan's data block: JSON with one KR per line (a plan is long; this reads like the
    document and costs fewer tokens than full indentation). Every piece goes through `_quoted`."""
    lines = ['{"teams": [']
    teams = payload["teams"]
    for ti, team in enumerate(teams):
        lines.append(' {"team": ' + _quoted(team["team"]) + ', "objectives": [')
        objectives = team["objectives"]
        for oi, objective in enumerate(objectives):
            lines.append('  {"objective": ' + _quoted(objective["objective"]) + ', "key_results": [')
            krs = objective["key_results"]
            lines += ["   " + _quoted(kr) + ("," if ki < len(krs) - 1 else "") for ki, kr in enumerate(krs)]
            lines.append("  ]}" + ("," if oi < len(objectives) - 1 else ""))
        lines.append(" ]}" + ("," if ti < len(teams) - 1 else ""))
    lines.append("]}")
    return "\n".join(lines)


def build_plan_messages(prompt: Prompt, payload: dict[str, Any]) -> list[dict[str, str]]:
    """The plan prompt with the plan quoted as data: team names, objectives, KR text and owners
    are the authors' words, JSON between the delimiters, never part of the instructions."""
    user = Template(prompt.user).safe_substitute(data=plan_block(payload))
    return [{"role": "system", "content": prompt.system}, {"role": "user", "content": user}]


_PLAN_QUESTIONS = {
    "conflict": "Who gives way when {a}'s and {b}'s key results collide, and what guardrail, budget or gate "
                "decides it?",
    "duplicate": "Should this be one shared key result with named co-owners from {a} and {b}, and whose "
                 "target counts?",
    "dependency": "Does {b} commit to its part in its own OKRs, with a date, or should this be one shared key "
                  "result with co-owners from {a} and {b}?",
}


def plan_findings_from(answer: PlanCoaching, by_id: dict[str, PlanKR],
                       names: tuple[str, ...]) -> list[PlanFinding]:
    """A validated answer as plan findings, in the rules' order (conflicts, duplicates,
    dependencies). The KRs quoted are the plan's own (never the model's words); the first two of a
    conflict or duplicate belong to two different teams; repeats of one finding are dropped."""
    from krcoach.plan import NO_TEAM, _team_key

    def team(ref: PlanKR) -> str:
        return ref.team or NO_TEAM

    plan_keys = {_team_key(t) for t in names}
    out: list[PlanFinding] = []
    seen: set[tuple[str, frozenset[str]]] = set()
    for f in answer.findings:
        ids = list(dict.fromkeys(f.krs))
        if (f.kind, frozenset(ids)) in seen:
            continue
        seen.add((f.kind, frozenset(ids)))
        refs = [by_id[k] for k in ids]
        if f.kind == "dependency":
            own = team(refs[0])
            on = _depends_on(f, own, names) or ""
            out.append(PlanFinding(
                code="dependency", message=f.message, teams=[own, on], krs=refs[:1], also=refs[1:],
                question=f.question or _PLAN_QUESTIONS["dependency"].format(a=own, b=on), on_team=on,
                on_team_in_plan=_team_key(on) in plan_keys))
            continue
        first = refs[0]
        second = next(r for r in refs[1:] if team(r) != team(first))
        rest = [r for r in refs if r is not first and r is not second]
        teams = list(dict.fromkeys(team(r) for r in (first, second, *rest)))
        out.append(PlanFinding(
            code=f.kind, message=f.message, teams=teams, krs=[first, second], also=rest,
            question=f.question or _PLAN_QUESTIONS[f.kind].format(a=teams[0], b=teams[1]),
            trade_off=f.trade_off if f.kind == "conflict" else None,
            measure=f.measure if f.kind == "duplicate" else None))
    return sorted(out, key=lambda p: PLAN_KINDS.index(p.code))


PLAN_RESPONSE_SCHEMA = PlanCoaching.model_json_schema()
PLAN_SCHEMA_SHA256 = hashlib.sha256(json.dumps(PLAN_RESPONSE_SCHEMA, sort_keys=True).encode()).hexdigest()

# ------------------------------------------------------------------------------------- secrets
# The key in every form (whole, quoted prefix…suffix, masked, fragments) is krcoach.redaction'
# business; redact and scrub stay importable from here for tests, doctor and older callers.


def public_url(url: str) -> str:
    """The URL without user info, query or fragment: safe to print, cache and put in manifests."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


# ------------------------------------------------------------------------------------- network


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on what one objective may cost when the endpoint misbehaves."""

    #: HTTP requests per objective in all: first try, network retries and re-asks together.
    max_requests: int = 5
    #: Seconds spent on failed attempts and waits before an objective gives up.
    retry_seconds: float = 10.0
    #: First backoff; doubles per failure up to `max_backoff`, each scaled by a random 0.5-1.0.
    backoff: float = 0.5
    max_backoff: float = 4.0
    #: Consecutive endpoint failures (any objective) after which the circuit opens.
    breaker_threshold: int = 6
    #: How long an open circuit makes objectives fall back without a request.
    breaker_cooldown: float = 30.0


class EndpointError(Exception):
    """The endpoint failed for this objective; the message is one sanitised line."""


@dataclass
class _Failure:
    reason: str
    retry: bool
    counts: bool = True  # towards the circuit breaker
    fatal: bool = False  # opens the circuit at once (bad key, unknown model)
    retry_after: float | None = None


@dataclass
class _Budget:
    #: answers instructor asked for (the first, then one per re-ask)
    attempts: int = 0
    requests: int = 0
    failures: int = 0
    spent: float = 0.0
    last: str | None = None


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("krcoach_llm_budget", default=None)


class _Breaker:
    """Opens after `threshold` consecutive failures (or one fatal one) for `cooldown` seconds."""

    def __init__(self, threshold: int, cooldown: float) -> None:
        self.threshold, self.cooldown = threshold, cooldown
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until = 0.0
        self._reason: str | None = None

    def open_reason(self) -> str | None:
        with self._lock:
            return self._reason if time.monotonic() < self._open_until else None

    def success(self) -> None:
        with self._lock:
            self._failures = 0

    def failure(self, reason: str, *, fatal: bool = False) -> None:
        with self._lock:
            self._failures += 1
            if fatal or self._failures >= self.threshold:
                self._open_until = time.monotonic() + self.cooldown
                self._reason = reason if fatal else f"{self._failures} failures in a row, last: {reason}"


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def _server_message(exc: Any, secret: str | None = None) -> str:
    """The server's own error message, redacted first and only then shortened: cutting first
    could leave the start of the key ("Invalid API key: sk-a1b2…") where redaction no longer
    recognises it."""
    body = getattr(exc, "body", None)
    msg: Any = None
    if isinstance(body, dict):
        err = body.get("error", body)
        msg = err.get("message") if isinstance(err, dict) else err
        msg = msg or body.get("detail") or body.get("message")
    if not msg:
        msg = getattr(exc, "message", "") or ""
    text = " ".join(str(msg).split())
    text = re.sub(r"^Error code: \d+ - ", "", redact(text, secret))
    return text[:160] + ("…" if len(text) > 160 else "")


# --------------------------------------------------------------------------------------- engine


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text[:limit] + ("…" if len(text) > limit else "")


def _describe_parse_error(exc: BaseException) -> str:
    """The gist of why an answer did not parse: pydantic's messages without the echoed input."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            items = errors(include_url=False, include_input=False)
        except TypeError:
            items = []
        parts = []
        for item in items[:3]:
            loc = ".".join(str(x) for x in item.get("loc", ()))
            msg = str(item.get("msg", "")).removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
        if parts:
            return "; ".join(parts)
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON ({exc.msg})"
    return f"{type(exc).__name__}: {exc}"


def _normalise_mode(mode: str | None, base_url: str) -> str:
    if not mode:
        return default_mode(base_url)
    m = mode.strip().lower().replace("-", "_")
    m = _MODE_ALIASES.get(m, m)
    if m not in MODES:
        raise EngineConfigError(f"KRCOACH_LLM_MODE={mode!r} is not one of {', '.join(MODES)}")
    return m


def _is_openai(base_url: str) -> bool:
    """OpenAI's own API (or Azure's): strict about parameters, and good at tool calls."""
    host = (urlsplit(base_url).hostname or "").lower()
    return host == "api.openai.com" or host.endswith(".openai.azure.com")


def default_mode(base_url: str | None) -> str:
    """tools for OpenAI itself; json (json_object) elsewhere, which local servers accept widely."""
    return "tools" if _is_openai(base_url or OPENAI_URL) else "json"


class LLMEngine:
    """Coaching from an OpenAI-compatible chat-completions endpoint. Thread-safe."""

    name = "llm"
    parallel = True

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        mode: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        cache: AnswerCache | None = None,
        *,
        max_retries: int = 2,
        retry: RetryPolicy | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        prompt: str = DEFAULT_PROMPT,
    ) -> None:
        import instructor
        import openai

        self._openai = openai
        self._instructor = instructor
        self._base_url = (base_url or OPENAI_URL).rstrip("/")
        self.base_url = public_url(self._base_url)
        if not api_key:
            if _is_openai(self._base_url):
                raise EngineConfigError(
                    f"the llm engine needs OPENAI_API_KEY for {urlsplit(self._base_url).hostname} "
                    "(or set OPENAI_BASE_URL to a local OpenAI-compatible server)")
            api_key = NO_KEY
        self._secret = api_key if api_key != NO_KEY else None
        # redact this key (every form) in what openai, httpx, httpcore and instructor log, at
        # every level, and in anything the cache keeps; several engines' keys are all covered
        protect(self._secret)
        self.mode = _normalise_mode(mode, self._base_url)
        self.timeout = float(timeout)
        self.cache = cache
        self.max_retries = max_retries
        self.retry = retry or RetryPolicy()
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.prompt = load_prompt(prompt)
        self.plan_prompt = load_prompt(PLAN_PROMPT)
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=self._base_url,
            timeout=openai.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
            max_retries=0,
        )
        self._breaker = _Breaker(self.retry.breaker_threshold, self.retry.breaker_cooldown)
        self._rules_engine: Any = None
        self._patched: dict[str, Any] = {}
        self._stats_lock = threading.Lock()
        self.stats = {"requests": 0, "cache_hits": 0, "fallbacks": 0, "reasks": 0}
        #: Every refusal sent back to the model, with its objective: what the eval shows a reader.
        self.rejections: list[dict[str, str | None]] = []
        self.model = model or self._default_model()

    # -------------------------------------------------------------------------------- building

    @classmethod
    def from_env(cls, use_cache: bool = True) -> LLMEngine:
        """The engine described by OPENAI_API_KEY, OPENAI_BASE_URL, KRCOACH_MODEL, KRCOACH_LLM_MODE."""
        from krcoach.engine import llm_timeout

        env = os.environ
        seconds = llm_timeout() or DEFAULT_TIMEOUT
        return cls(
            base_url=env.get("OPENAI_BASE_URL") or None,
            api_key=env.get("OPENAI_API_KEY") or None,
            model=env.get("KRCOACH_MODEL") or None,
            mode=env.get("KRCOACH_LLM_MODE") or None,
            timeout=seconds,
            cache=AnswerCache() if use_cache else None,
        )

    def _default_model(self) -> str:
        if _is_openai(self._base_url):
            return DEFAULT_OPENAI_MODEL
        # A local server usually serves one model: ask it rather than guess a name.
        try:
            models = self._client.with_options(timeout=5.0).models.list()
            first = next(iter(models.data), None)
        except Exception as exc:  # any failure here is a configuration problem
            raise EngineConfigError(
                f"KRCOACH_MODEL is not set and {self.base_url}/models did not list a model "
                f"({type(exc).__name__}); set KRCOACH_MODEL") from None
        if first is None:
            raise EngineConfigError(f"KRCOACH_MODEL is not set and {self.base_url}/models lists none")
        return str(first.id)

    def manifest(self) -> dict[str, Any]:
        """What an eval run records about this engine (no credentials)."""
        return {
            "engine": self.name,
            "model": self.model,
            "base_url": self.base_url,
            "mode": self.mode,
            "prompt": {"name": self.prompt.name, "version": self.prompt.version,
                       "sha256": self.prompt.sha256},
            "plan_prompt": {"name": self.plan_prompt.name, "version": self.plan_prompt.version,
                            "sha256": self.plan_prompt.sha256},
            "schema_sha256": SCHEMA_SHA256,
            "max_retries": self.max_retries,
            "timeout": self.timeout,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }

    # ---------------------------------------------------------------------------------- review

    def review_objective(self, objective: Objective, context: ReviewContext) -> list[KRReview]:
        if not objective.krs:
            return []
        cycle = clip_cycle(context.cycle)
        draft = _Draft(krs=tuple(kr.kr for kr in objective.krs), objective=objective.title, cycle=cycle)
        token = _DRAFT.set(draft)
        try:
            key = self._cache_key(objective, cycle) if self.cache is not None else None
            if key is not None:
                cached = self._from_cache(key)
                if cached is not None:
                    return self._records(objective, context, cached)
            skipped = self._breaker.open_reason()
            if skipped is not None:
                return self._fallback(objective, context, f"llm: endpoint unavailable, not tried: {skipped}")
            try:
                # the key out of every string the model returned, before it is cached or shown
                answer = scrub(self._ask(objective, cycle), self._secret)
            except Exception as exc:  # every failure ends in a fallback, never a crashed batch
                return self._fallback(objective, context, self._reason(exc))
        finally:
            _DRAFT.reset(token)
        if key is not None and self.cache is not None:
            self.cache.set(key, {"answer": answer.model_dump(mode="json"), "model": self.model})
        return self._records(objective, context, answer)

    def _ask(self, objective: Objective, cycle: str | None = None) -> ObjectiveCoaching:
        return self._structured(ObjectiveCoaching, RESPONSE_SCHEMA, build_messages(self.prompt, objective, cycle))

    def _structured(self, response_model: type[Any], schema: dict[str, Any], messages: list[dict[str, str]]) -> Any:
        """One structured answer: instructor's re-asks on invalid answers, this engine's network
        retries and breaker for every request, within one budget (`RetryPolicy`)."""
        create = self._patched.get(self.mode)
        if create is None:
            create = self._patched[self.mode] = self._instructor.patch(
                create=self._send_current, mode=self._instructor_mode())
            protect(self._secret)  # loggers of modules imported only now get the filter too
        params: dict[str, Any] = {"model": self.model}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.max_tokens is not None:
            params["max_tokens"] = self.max_tokens
        if self.mode == "json" and not _is_openai(self._base_url):
            # llama.cpp and friends constrain decoding to a schema given beside json_object.
            params["extra_body"] = {"response_format": {"type": "json_object", "schema": schema}}
        token = _BUDGET.set(_Budget())
        sink = _REJECTIONS.set(self.rejections)
        try:
            return create(
                response_model=response_model,
                messages=messages,
                max_retries=self.max_retries,
                strict=False,
                **params,
            )
        finally:
            _BUDGET.reset(token)
            _REJECTIONS.reset(sink)

    # ----------------------------------------------------------------------------- plan review

    def plan_findings(self, krs: list[PlanKR], rules: list[PlanFinding]) -> tuple[list[PlanFinding], CrossTeam]:
        """The plan's cross-team findings from the model, in one request (`plan.CrossTeamFinder`).

        `krs` is every KR of the plan in input order, `rules` the rules engine's cross-team
        findings: what the plan keeps, marked as a fallback with the reason, when the model's
        answer cannot be used (network, breaker, an answer still invalid after the re-asks, a
        plan too large for one request). Cached like objective answers."""
        from krcoach.plan import NO_TEAM

        if len(krs) > MAX_PLAN_KRS:
            return self._plan_fallback(rules, f"llm: the plan has {len(krs)} key results; one request "
                                              f"takes at most {MAX_PLAN_KRS}")
        payload, by_id = plan_payload(krs)
        names = tuple(t["team"] for t in payload["teams"])
        token = _PLAN_DRAFT.set(_PlanDraft(teams={k: r.team or NO_TEAM for k, r in by_id.items()}, names=names))
        try:
            key = self._plan_cache_key(payload) if self.cache is not None else None
            answer = self._plan_from_cache(key) if key is not None else None
            if answer is None:
                skipped = self._breaker.open_reason()
                if skipped is not None:
                    return self._plan_fallback(rules, f"llm: endpoint unavailable, not tried: {skipped}")
                try:
                    messages = build_plan_messages(self.plan_prompt, payload)
                    # the key out of every string the model returned, before it is cached or shown
                    answer = scrub(self._structured(PlanCoaching, PLAN_RESPONSE_SCHEMA, messages), self._secret)
                except Exception as exc:  # every failure ends in the rules findings, never a crash
                    return self._plan_fallback(rules, self._reason(exc))
                if key is not None and self.cache is not None:
                    self.cache.set(key, {"answer": answer.model_dump(mode="json"), "model": self.model})
        finally:
            _PLAN_DRAFT.reset(token)
        return (plan_findings_from(answer, by_id, names),
                CrossTeam(engine=self.name, model=self.model, status="ok", error=None))

    def _plan_fallback(self, rules: list[PlanFinding], reason: str) -> tuple[list[PlanFinding], CrossTeam]:
        """The rules engine's cross-team findings, marked as a fallback with the reason."""
        self._count("fallbacks")
        reason = redact(reason, self._secret)
        log.info("llm fallback for the plan's cross-team findings: %s", reason)
        return list(rules), CrossTeam(engine="rules", model=None, status="fallback", error=reason)

    def _plan_cache_key(self, payload: dict[str, Any]) -> str:
        p = self.plan_prompt
        return make_key(
            kind="plan",
            base_url=self.base_url,
            model=self.model,
            mode=self.mode,
            prompt={"name": p.name, "version": p.version, "sha256": p.sha256},
            schema=PLAN_SCHEMA_SHA256,
            params={"temperature": self.temperature, "max_tokens": self.max_tokens},
            input=payload,
            version=krcoach_version(),
        )

    def _plan_from_cache(self, key: str) -> PlanCoaching | None:
        """A cached plan answer, checked against this plan again (`_PLAN_DRAFT` is set)."""
        assert self.cache is not None
        value = self.cache.get(key)
        if not value or "answer" not in value:
            return None
        try:
            answer = PlanCoaching.model_validate(value["answer"])
        except ValueError:
            return None
        self._count("cache_hits")
        return scrub(answer, self._secret)

    def _send_current(self, *args: Any, **kwargs: Any) -> Any:
        """What instructor calls for each attempt; the objective's budget rides in a contextvar."""
        budget = _BUDGET.get()
        if budget is None:  # called outside _ask: give it a budget of its own
            budget = _Budget()
        budget.attempts += 1
        if budget.attempts > 1:
            self._count("reasks")
        return self._send(budget, kwargs)

    def _instructor_mode(self) -> Any:
        m = self._instructor.Mode
        return {"tools": m.TOOLS, "json_schema": m.JSON_SCHEMA, "json": m.JSON, "md_json": m.MD_JSON}[self.mode]

    def _send(self, budget: _Budget, kwargs: dict[str, Any]) -> Any:
        """One chat completion, retried on network faults within the objective's budget."""
        policy = self.retry
        while True:
            skipped = self._breaker.open_reason()
            if skipped is not None:
                raise EndpointError(f"endpoint unavailable: {skipped}")
            if budget.requests >= policy.max_requests:
                last = f"; last: {budget.last}" if budget.last else ""
                raise EndpointError(f"gave up after {budget.requests} requests{last}")
            budget.requests += 1
            self._count("requests")
            started = time.monotonic()
            failure: _Failure
            try:
                response = self._client.chat.completions.create(**kwargs)
            except self._openai.APIStatusError as exc:
                failure = self._status_failure(exc)
            except self._openai.APITimeoutError:
                failure = _Failure(f"no answer within {self.timeout:g} s", retry=True)
            except self._openai.APIConnectionError as exc:
                cause = type(exc.__cause__).__name__ if exc.__cause__ else "connection error"
                failure = _Failure(f"connection to {self.base_url} failed ({cause})", retry=True)
            else:
                self._breaker.success()
                return response
            budget.failures += 1
            budget.spent += time.monotonic() - started
            budget.last = failure.reason
            if failure.counts:
                self._breaker.failure(failure.reason, fatal=failure.fatal)
            if not failure.retry:
                raise EndpointError(failure.reason)
            if budget.requests >= policy.max_requests:
                raise EndpointError(f"{failure.reason}; gave up after {budget.requests} requests")
            if failure.retry_after is not None:
                wait = failure.retry_after
            else:
                step = min(policy.max_backoff, policy.backoff * 2 ** (budget.failures - 1))
                wait = step * random.uniform(0.5, 1.0)
            if budget.spent + wait > policy.retry_seconds:
                asked = (f"; the server asked to wait {failure.retry_after:g} s"
                         if failure.retry_after is not None else "")
                raise EndpointError(f"{failure.reason}{asked}; gave up after {budget.requests} "
                                    f"request(s) and {budget.spent:.1f} s")
            log.debug("llm request failed (%s); retry %d in %.2f s", failure.reason, budget.requests, wait)
            time.sleep(wait)
            budget.spent += wait

    def _status_failure(self, exc: Any) -> _Failure:
        status = int(exc.status_code)
        detail = _server_message(exc, self._secret)
        if status in (401, 403):
            return _Failure(f"authentication failed (HTTP {status}): check OPENAI_API_KEY",
                            retry=False, fatal=True)
        if status == 404:
            return _Failure(f"HTTP 404 from {self.base_url} for model {self.model!r}: check "
                            f"OPENAI_BASE_URL and KRCOACH_MODEL ({detail})", retry=False, fatal=True)
        if status == 429:
            return _Failure("rate limited (HTTP 429)", retry=True, counts=False,
                            retry_after=_retry_after(getattr(exc, "response", None) and exc.response.headers))
        if re.search(r"response_format|json_schema|json_object|\btools?\b|tool_choice", detail, re.I):
            # The server rejects the structured-output shape itself: retrying cannot help, and
            # every objective will fail alike, so it counts towards the breaker.
            others = ", ".join(m for m in MODES if m != self.mode)
            return _Failure(f"HTTP {status}: the server rejected KRCOACH_LLM_MODE={self.mode} (try {others})"
                            f": {detail}", retry=False)
        reason = f"HTTP {status} from {self.base_url}" + (f": {detail}" if detail else "")
        if status >= 500 or status in (408, 409, 425):
            retry_after = _retry_after(exc.response.headers) if status == 503 else None
            return _Failure(reason, retry=True, retry_after=retry_after)
        return _Failure(reason, retry=False, counts=False)

    def _reason(self, exc: BaseException) -> str:
        """One sanitised line saying why an objective fell back."""
        chain: list[BaseException] = []
        e: BaseException | None = exc
        while e is not None and e not in chain:
            chain.append(e)
            e = e.__cause__ or e.__context__
        for e in chain:
            if isinstance(e, EndpointError):
                return "llm: " + _one_line(redact(str(e), self._secret))
        name = type(exc).__name__
        if name == "IncompleteOutputException":
            return "llm: the answer was cut off (max_tokens too small for this objective)"
        if name == "InstructorRetryException":
            tries = getattr(exc, "n_attempts", None) or self.max_retries + 1
            last = chain[1] if len(chain) > 1 else exc
            detail = _describe_parse_error(last)
            return "llm: " + _one_line(redact(f"answer invalid after {tries} tries: {detail}", self._secret))
        return "llm: " + _one_line(redact(f"{name}: {exc}", self._secret))

    # ----------------------------------------------------------------------------------- cache

    def _cache_key(self, objective: Objective, cycle: str | None = None) -> str:
        return make_key(
            kind="objective",
            base_url=self.base_url,
            model=self.model,
            mode=self.mode,
            prompt={"name": self.prompt.name, "version": self.prompt.version, "sha256": self.prompt.sha256},
            schema=SCHEMA_SHA256,
            params={"temperature": self.temperature, "max_tokens": self.max_tokens},
            input={"objective": objective.title, "cycle": cycle, "krs": [kr.kr for kr in objective.krs]},
            version=krcoach_version(),
        )

    def _from_cache(self, key: str) -> ObjectiveCoaching | None:
        assert self.cache is not None
        value = self.cache.get(key)
        if not value or "answer" not in value:
            return None
        try:
            answer = ObjectiveCoaching.model_validate(value["answer"])
        except ValueError:
            return None
        self._count("cache_hits")
        return scrub(answer, self._secret)  # an entry written before answers were scrubbed

    # --------------------------------------------------------------------------------- results

    def _records(self, objective: Objective, context: ReviewContext,
                 answer: ObjectiveCoaching) -> list[KRReview]:
        from krcoach.rules import anatomy

        out: list[KRReview] = []
        for kr, item in zip(objective.krs, answer.key_results, strict=True):
            issues: list[Issue] = []
            for issue in item.issues:
                if issue.code not in {i.code for i in issues}:
                    issues.append(Issue(code=issue.code,
                                        message=issue.message.strip() or ISSUE_CODES[issue.code]))
            rewrites = [
                Rewrite(text=anatomy.render_rewrite(rw.metric.strip(), rw.baseline, rw.target, rw.deadline),
                        metric=rw.metric.strip(), baseline=rw.baseline, target=rw.target,
                        deadline=rw.deadline, assumptions=[a.strip() for a in rw.assumptions if a.strip()])
                for rw in item.rewrites
            ]
            review = KRReview(
                id=kr.id, objective=objective.title, kr=kr.kr, owner=kr.owner, kind=item.kind,
                why=item.why, issues=issues, rewrites=rewrites, engine=self.name, model=self.model,
                status="ok", error=None, confidence=item.confidence,
                notes=doubts(item, kr.kr, clip_cycle(context.cycle)),
            )
            out.append(_deterministic_flags(review, kr, context))
        return out

    def _fallback(self, objective: Objective, context: ReviewContext, reason: str) -> list[KRReview]:
        """The rules review, marked as a fallback with the reason: honest about what produced it."""
        self._count("fallbacks")
        # every reason is redacted where it is built; once more here, where all of them pass
        reason = redact(reason, self._secret)
        log.info("llm fallback for objective %r: %s", objective.title, reason)
        if self._rules_engine is None:
            from krcoach.rules.engine import RulesEngine

            self._rules_engine = RulesEngine()
        reviews = self._rules_engine.review_objective(objective, context)
        return [
            _deterministic_flags(r.model_copy(update={"status": "fallback", "error": reason}), kr, context)
            for r, kr in zip(reviews, objective.krs, strict=True)
        ]

    def _count(self, what: str) -> None:
        with self._stats_lock:
            self.stats[what] += 1


def has_injection(text: str) -> bool:
    """The same test as `anatomy.parse(text).injection`, without the full parse (hot path)."""
    from krcoach.rules.anatomy import clean_kr
    from krcoach.rules.lexicon import lexicon

    return bool(lexicon().injection.search(clean_kr(text)))


def _deterministic_flags(review: KRReview, kr: KeyResult, context: ReviewContext) -> KRReview:
    """Flags decided in code whatever the model said: injection attempts and missing owners."""
    codes = set(review.issue_codes())
    extra: list[Issue] = []
    if "injection" not in codes and has_injection(kr.kr):
        extra.append(Issue(code="injection", message=INJECTION_MESSAGE))
    if context.set_uses_owners and not kr.owner and "no_owner" not in codes:
        extra.append(Issue(code="no_owner", message=ISSUE_CODES["no_owner"]))
    if not extra:
        return review
    return review.model_copy(update={"issues": [*review.issues, *extra]})


__all__ = [
    "LLMEngine", "RetryPolicy", "EndpointError", "ObjectiveCoaching", "KRCoaching", "RewriteParts",
    "IssueItem", "load_prompt", "build_messages", "data_block", "redact", "scrub",
    "public_url", "default_mode", "MODES", "KR_ISSUE_CODES",
    "PlanCoaching", "PlanFindingItem", "build_plan_messages", "plan_payload", "check_plan_against_draft",
    "plan_findings_from", "PLAN_PROMPT",
]


def build(endpoint: Any = None, *, use_cache: bool = True) -> LLMEngine:
    """The llm row of `krcoach.engine.ENGINE_BUILDERS`: the environment's endpoint, or a local
    server that `auto` found (an `engine.Endpoint` with `local` set)."""
    if endpoint is None or endpoint.local is None:
        return LLMEngine.from_env(use_cache=use_cache)
    from krcoach.engine import llm_timeout

    timeout = llm_timeout()
    return LLMEngine(base_url=endpoint.base_url, api_key=None, model=endpoint.model,
                     mode=os.environ.get("KRCOACH_LLM_MODE") or None,
                     cache=AnswerCache() if use_cache else None,
                     **({"timeout": timeout} if timeout is not None else {}))
