"""The plan's cross-team findings (conflict, duplicate, dependency) through the model.

A plan of two or more teams gets one request (prompt `review_plan`) besides its objectives': the
teams, objectives and KRs quoted as data with krcoach's own ids ("K3"; input ids repeat across
files), the answer a list of findings that cite those ids (`PlanCoaching`). Like the objective
contract, its validator refuses only what is certainly wrong (an id not in the data; a conflict
or duplicate not between two teams; a dependency on nobody or on its own team), and instructor
sends that back to the model. A valid answer becomes `PlanFinding`s that quote the plan's own
KRs, never the model's words (`plan_findings_from`). The rest of the plan review (ambition,
cadence, coverage) stays computed in code (`krcoach.plan`), which also keeps the rules' findings
when the model's answer cannot be used.

Everything plan-shaped lives here, from the data block to the findings; the transport, budget,
breaker, cache and secrets handling are the objective review's (`LLMEngine.plan_findings`).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from string import Template
from typing import Any, Literal

from instructor import OpenAISchema
from pydantic import ConfigDict, Field, field_validator, model_validator

from krcoach.llm.contract import NULL_WORDS, LenientModel, one_line, refuse
from krcoach.llm.prompt import Prompt, quoted_json
from krcoach.models import PlanFinding, PlanKR
from krcoach.plan import NO_TEAM, _team_key, knowledge

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


# ------------------------------------------------------------------------- the plan as data


def plan_payload(krs: list[PlanKR]) -> tuple[dict[str, Any], dict[str, PlanKR]]:
    """The plan as the model reads it, and the KR behind each id: teams in order of first
    appearance, each with its objectives and KRs (`id` "K<n>" by position in the plan, `text`,
    `owner`). Ids are krcoach's own: input ids repeat across files."""
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
    document and costs fewer tokens than full indentation). Every piece goes through
    `quoted_json`."""
    lines = ['{"teams": [']
    teams = payload["teams"]
    for ti, team in enumerate(teams):
        lines.append(' {"team": ' + quoted_json(team["team"]) + ', "objectives": [')
        objectives = team["objectives"]
        for oi, objective in enumerate(objectives):
            lines.append('  {"objective": ' + quoted_json(objective["objective"]) + ', "key_results": [')
            krs = objective["key_results"]
            lines += ["   " + quoted_json(kr) + ("," if ki < len(krs) - 1 else "") for ki, kr in enumerate(krs)]
            lines.append("  ]}" + ("," if oi < len(objectives) - 1 else ""))
        lines.append(" ]}" + ("," if ti < len(teams) - 1 else ""))
    lines.append("]}")
    return "\n".join(lines)


def build_plan_messages(prompt: Prompt, payload: dict[str, Any]) -> list[dict[str, str]]:
    """The plan prompt with the plan quoted as data: team names, objectives, KR text and owners
    are the authors' words, JSON between the delimiters, never part of the instructions."""
    user = Template(prompt.user).safe_substitute(data=plan_block(payload))
    return [{"role": "system", "content": prompt.system}, {"role": "user", "content": user}]


# ---------------------------------------------------------------------------- the contract


@dataclass(frozen=True)
class PlanDraft:
    """What the plan validator compares an answer with: each KR id's team, and the plan's teams."""

    teams: dict[str, str]
    names: tuple[str, ...]

    @classmethod
    def of(cls, payload: dict[str, Any], by_id: dict[str, PlanKR]) -> PlanDraft:
        return cls(teams={k: r.team or NO_TEAM for k, r in by_id.items()},
                   names=tuple(t["team"] for t in payload["teams"]))


_PLAN_DRAFT: contextvars.ContextVar[PlanDraft | None] = contextvars.ContextVar("krcoach_llm_plan_draft",
                                                                                default=None)


@contextmanager
def validating_plan_against(draft: PlanDraft) -> Iterator[None]:
    """While inside, a `PlanCoaching` that is certainly wrong for `draft` fails validation."""
    token = _PLAN_DRAFT.set(draft)
    try:
        yield
    finally:
        _PLAN_DRAFT.reset(token)


def _line(v: Any) -> Any:
    """Free text from the model as one line (None and non-strings pass through)."""
    return " ".join(v.split()) if isinstance(v, str) else v


class PlanFindingItem(LenientModel):
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
        return None if isinstance(v, str) and v.lower() in NULL_WORDS else v

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


class PlanCoaching(LenientModel, OpenAISchema):
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
            refuse(PLAN_REJECTION, problems)
        return self


PLAN_RESPONSE_SCHEMA = PlanCoaching.model_json_schema()
PLAN_SCHEMA_SHA256 = hashlib.sha256(json.dumps(PLAN_RESPONSE_SCHEMA, sort_keys=True).encode()).hexdigest()


def _canon_team(name: str | None, names: tuple[str, ...]) -> str | None:
    """A team name as the plan spells it when it is a team of the plan, else as the plan review
    knows the function ("legal" -> "Legal"), else as given."""
    if not name or not name.strip():
        return None
    key = _team_key(name)
    return next((t for t in (*names, *knowledge().functions) if _team_key(t) == key), name.strip())


def _depends_on(item: PlanFindingItem, own: str, names: tuple[str, ...]) -> str | None:
    """The team a dependency is on: `on_team`, else the first of `teams` that is not the KR's own."""
    if item.on_team:
        return _canon_team(item.on_team, names)
    return next((_canon_team(t, names) for t in item.teams if t.strip() and _team_key(t) != _team_key(own)), None)


def check_plan_against_draft(answer: PlanCoaching, draft: PlanDraft) -> list[str]:
    """What is certainly wrong with a plan answer (empty when fine): an id that is not in the
    data, a conflict or duplicate that is not between KRs of two different teams, a dependency
    that names no team or the KR's own. Only these are sent back to the model."""
    problems: list[str] = []
    span = f"K1..K{len(draft.teams)}" if draft.teams else "none"
    for i, f in enumerate(answer.findings, 1):
        where = f"finding {i} ({f.kind})"
        ids = list(dict.fromkeys(f.krs))
        unknown = [k for k in ids if k not in draft.teams]
        if unknown:
            problems.append(f"{where}: {', '.join(one_line(k, 20) for k in unknown[:5])} "
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


# ---------------------------------------------------------------------------- the findings


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
