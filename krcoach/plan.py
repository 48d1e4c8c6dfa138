"""Plan review: the silent killers a multi-team draft already shows.

Reads several teams' OKRs together (after the per-KR review) and finds what no single team's review
can: KRs of different teams that trade against each other (`conflict`), one measure owned by two
teams (`duplicate`), dependencies the text names that the other team does not answer
(`dependency`); then accountability and the standard (one named owner per KR, KRs per objective,
objectives per team, cycles and KR formats across teams), and the seeds' five-question audit
answered from the document. Per KR, `ambition_issues` (in `ambition.py`, re-exported here) checks
the target against the baseline (`wrong_direction`, `flat_target`, `sandbagging`); `coach` adds
those to every review.

Knowledge lives in data: `data/tradeoffs.json` (measure families, the pairs that trade against
each other, synonyms, metric polarity) and `data/plan.json` (levels, thresholds, owner words,
dependency phrases). The result is one pydantic model, `models.PlanReview`.

With the llm engine the cross-team findings of a plan of two or more teams come from the model
instead (`review_plan(..., cross_team=engine.plan_findings)`, one request per plan, see `llm.py`);
the rules findings computed here are its fallback, and `PlanReview.cross_team` says which it is.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any, Callable, Iterable

from krcoach.ambition import AMBITION_CODES, _B, _E, _phrase_re, ambition_issues
from krcoach.data import load_json
from krcoach.rules.anatomy import parse
from krcoach.checks import _OBJECTIVE_NUMBER
from krcoach.periods import CYCLE_ANY_CASE_RE, YEAR_RE, cycle_key, cycle_span
from krcoach.rules.lexicon import lexicon
from krcoach.models import (AmbitionNote, AuditAnswer, CrossTeam, KeyResult, KRReview, OKRReview, OKRSet,
                     PlanFinding, PlanKR, PlanReview, SilentKiller, TeamSummary)

#: At most this many pairs of KRs are collected for one conflict (one pair of teams, one trade-off).
MAX_PAIRS = 25
CROSS_TEAM_CODES = ("conflict", "duplicate", "dependency")
NO_TEAM = "(no team)"

# ------------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class Family:
    name: str
    label: str
    short: str
    more: re.Pattern[str] | None
    less: re.Pattern[str] | None
    up: re.Pattern[str] | None
    down: re.Pattern[str] | None
    not_: re.Pattern[str] | None
    generic: frozenset[str]


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    conflicts: frozenset[tuple[str, str]]
    scope: str
    domains: tuple[re.Pattern[str], ...]
    question: str


@dataclass(frozen=True)
class Knowledge:
    families: dict[str, Family]
    pairs: tuple[Pair, ...]
    totals: re.Pattern[str] | None
    synonyms: tuple[tuple[re.Pattern[str], str], ...]
    guard_words: dict[str, re.Pattern[str]]
    settled_by: re.Pattern[str] | None
    # plan.json
    levels: dict[str, tuple[int, int]]
    mixed_formats_gap: float
    nobody: frozenset[str]
    everybody: frozenset[str]
    team_words: frozenset[str]
    strong_cues: re.Pattern[str]
    weak_cues: re.Pattern[str]
    agreed_cues: re.Pattern[str] | None
    not_followed_by: frozenset[str]
    functions: tuple[str, ...]
    cadence: re.Pattern[str] | None


@cache
def knowledge() -> Knowledge:
    t, p = load_json("tradeoffs.json"), load_json("plan.json")
    fams = {}
    for name, f in t["families"].items():
        fams[name] = Family(name=name, label=f["label"], short=f.get("short", f["label"]), more=_phrase_re(f.get("more", [])),
                            less=_phrase_re(f.get("less", [])), up=_phrase_re(f.get("up", [])),
                            down=_phrase_re(f.get("down", [])), not_=_phrase_re(f.get("not", [])),
                            generic=frozenset(w.lower() for w in f.get("generic", [])))
    pairs = []
    for raw in t["pairs"]:
        pairs.append(Pair(a=raw["a"], b=raw["b"], conflicts=frozenset(tuple(c) for c in raw["conflicts"]),
                          scope=raw.get("scope", "any"),
                          domains=tuple(r for g in raw.get("domains", []) if (r := _phrase_re(g)) is not None),
                          question=raw["question"]))
    synonyms = tuple((re.compile(_B + re.escape(k) + _E, re.I), v)
                     for k, v in sorted(t.get("synonyms", {}).items(), key=lambda kv: -len(kv[0])))
    guard_words = {}
    for name, f in t["families"].items():
        guard_words[name] = _phrase_re([*f.get("more", []), *f.get("less", []), *f.get("up", [])])
    cues = p["dependency_cues"]
    return Knowledge(
        families=fams, pairs=tuple(pairs), totals=_phrase_re(t.get("totals", [])), synonyms=synonyms,
        guard_words=guard_words, settled_by=_phrase_re(["error budget", "error budgets"]),
        levels={k: (v[0], v[1]) for k, v in p["levels"].items()},
        mixed_formats_gap=float(p.get("mixed_formats_gap", 0.5)),
        nobody=frozenset(w.lower() for w in p["owners"]["nobody"]),
        everybody=frozenset(w.lower() for w in p["owners"]["everybody"]),
        team_words=frozenset(w.lower() for w in p["owners"]["team_words"]),
        strong_cues=re.compile(r"(?:" + "|".join(re.escape(c) for c in sorted(cues["strong"], key=len, reverse=True))
                               + r")\s+(?:the\s+)?$", re.I),
        weak_cues=re.compile(r"(?:" + "|".join(re.escape(c) for c in sorted(cues["weak"], key=len, reverse=True))
                             + r")\s+(?:the\s+)?$", re.I),
        agreed_cues=_phrase_re(p.get("agreed_cues", [])),
        not_followed_by=frozenset(w.lower() for w in cues.get("not_followed_by", [])),
        functions=tuple(p.get("functions", [])),
        cadence=_phrase_re(p.get("cadence", [])),
    )


# ------------------------------------------------------------------------------------- words

_STOP = frozenset("""
a an the our their its my your this that these those there it we they of to in on at by for from with within
without and or but not than up down across per is are was were be been being get gets has have had help
into onto over under via as so such each every all any more most less fewer new q1 q2 q3 q4 h1 h2 fy end
month months monthly week weeks weekly day days daily year years yearly quarter quarters quarterly hour hours
minute minutes time times rate rates number count total share percentage percent level amount value values
increase increases increased grow grows raise raises lift lifts improve improves reduce reduces cut cuts
lower lowers decrease decreases boost boosts double doubles halve keep keeps maintain maintains hold holds
drive drives reach reaches hit hits achieve achieves bring brings make makes move moves get run runs
launch launches launched ship ships shipped deliver delivers delivering delivered provide provides providing
release releases complete completes finish finishes build builds start starts take takes use uses using
sustain sustains ensure ensures enable enables support supports create creates add adds deploy team teams
via through before after during while until once when then also only just about around approx least most
zero none co own owned co-own co-owned co-owner jointly together partnership partnering collaboration
depends dependent depending blocked pending relies
""".split())


def _stem(w: str) -> str:
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss") and not w.endswith("us"):
        return w[:-1]
    return w


_WORD = re.compile(r"[a-z][a-z0-9']*(?:-[a-z0-9]+)*")


@lru_cache(maxsize=8192)
def content_words(text: str) -> frozenset[str]:
    """Lower-case content words of a text, stemmed, without function words, generic verbs,
    periods and numbers. Hyphenated words count whole and by their parts."""
    out: set[str] = set()
    for m in _WORD.finditer(text.lower()):
        w = m.group(0).strip("'")
        parts = [w, *w.split("-")] if "-" in w else [w]
        for part in parts:
            if len(part) < 2 or part in _STOP or part.isdigit():
                continue
            out.add(_stem(part))
    return frozenset(out)


# ------------------------------------------------------------------------------ team names


@lru_cache(maxsize=4096)
def _team_key(name: str | None) -> str:
    return " ".join(re.split(r"[\s_\-]+", (name or "").lower())).strip()


@cache
def _function_keys() -> frozenset[str]:
    return frozenset(_team_key(f) for f in knowledge().functions)


def _name_variants(name: str) -> set[str]:
    spaced = " ".join(re.split(r"[\s_\-]+", name)).strip()
    return {name, spaced} - {""}


class TeamNames:
    """Finds team names in KR text: the plan's teams, and function names for strong cues only."""

    def __init__(self, teams: Iterable[str], functions: Iterable[str]) -> None:
        self.plan = {_team_key(t): t for t in teams if t and t != NO_TEAM}
        self.functions = {_team_key(f): f for f in functions}
        names: set[str] = set()
        for t in self.plan.values():
            names |= _name_variants(t)
        names |= set(self.functions.values())
        alts = sorted({re.escape(n) for n in names}, key=len, reverse=True)
        alts = [a.replace(r"\ ", r"[\s\-_]+") for a in alts]
        self.regex = re.compile(_B + "(" + "|".join(alts) + ")" + _E, re.I) if alts else None

    def find(self, text: str) -> list[tuple[re.Match[str], str, bool]]:
        """(match, canonical team, in plan) for each team name written with a capital letter."""
        if self.regex is None:
            return []
        out = []
        for m in self.regex.finditer(text):
            if not m.group(1)[:1].isupper():
                continue
            key = _team_key(m.group(1))
            if key in self.plan:
                out.append((m, self.plan[key], True))
            elif key in self.functions:
                out.append((m, self.functions[key], False))
        return out

    def mentions(self, text: str, team: str) -> bool:
        key = _team_key(team)
        return any(_team_key(m.group(1)) == key for m, _t, _p in self.find(text))


# ------------------------------------------------------------------------------- owners


_OWNER_SPLIT = re.compile(r"\s*(?:,|;|/|&|\+|\band\b)\s*", re.I)


def owner_problem(owner: str | None, team_keys: frozenset[str] | set[str] = frozenset()) -> str | None:
    """Why an owner is not one named person: 'missing', 'team', 'everyone' or 'several'; None if fine."""
    k = knowledge()
    text = " ".join((owner or "").split()).strip().lstrip("@")
    low = text.lower().strip(" .")
    if not low or low in k.nobody:
        return "missing"
    if low in k.everybody:
        return "everyone"
    words = low.split()
    key = _team_key(low)
    if key in _function_keys() or key in team_keys or (words and words[-1] in k.team_words) or (words and words[0] in ("team", "squad")):
        return "team"
    parts = [p for p in _OWNER_SPLIT.split(text) if p.strip()]
    if len(parts) > 1:
        return "several"
    return None


def _owners(owner: str | None) -> set[str]:
    return {p.strip().lower() for p in _OWNER_SPLIT.split(owner or "") if p.strip()}


# --------------------------------------------------------------------------- per-KR reading


@dataclass
class Push:
    family: str
    push: str  # up | down | hold
    phrase: str


@dataclass
class KRInfo:
    """What the plan review reads from one KR, once."""

    kr: KeyResult
    review: KRReview | None
    team: str
    objective: str | None
    ref: PlanKR
    pushes: dict[str, Push] = field(default_factory=dict)
    guards: set[str] = field(default_factory=set)
    metric_key: frozenset[str] = frozenset()
    metric: str | None = None
    words: frozenset[str] = frozenset()
    level: str | None = None
    qualifiers: dict[str, frozenset[str]] = field(default_factory=dict)
    anatomy: Any = None


_GUARD = re.compile(r"\b(?:without|while\s+(?:keeping|maintaining|holding|protecting|staying)|keeping|"
                    r"as\s+long\s+as|provided\s+(?:that\s+)?|guardrail:?|with\s+no\s+(?:drop|rise|increase|loss)|"
                    r"but\s+not|no\s+worse\s+than|within\s+(?:the\s+)?(?:agreed\s+)?)\b", re.I)


def _mask(text: str, pattern: re.Pattern[str] | None) -> str:
    if pattern is None:
        return text
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def family_pushes(text: str, anatomy: Any = None) -> tuple[dict[str, Push], set[str]]:
    """Which measure families a KR pushes and which way, and the families it guards ("without
    pushing change failure rate above 10%"): the guarded part is not read as a push."""
    k = knowledge()
    guards: set[str] = set()
    if not _any_family().search(text):
        return {}, guards
    main = text
    g = _GUARD.search(text)
    if g and g.start() > 0:
        main, guarded = text[:g.start()], text[g.end():]
        for name, fam in k.families.items():
            rx = k.guard_words[name]
            if rx is not None and rx.search(_mask(guarded, fam.not_)):
                guards.add(name)
    direction = (anatomy if anatomy is not None else parse(text)).direction
    pushes: dict[str, Push] = {}
    for name, fam in k.families.items():
        body = _mask(main, fam.not_) if fam.not_ is not None and fam.not_.search(main) else main
        if fam.down is not None and (m := fam.down.search(body)):
            pushes[name] = Push(name, "down", m.group(0))
        elif fam.up is not None and (m := fam.up.search(body)):
            pushes[name] = Push(name, "up", m.group(0))
        elif fam.more is not None and (m := fam.more.search(body)):
            push = "down" if direction == "decrease" else "hold" if direction == "maintain" else "up"
            pushes[name] = Push(name, push, m.group(0))
        elif fam.less is not None and (m := fam.less.search(body)):
            push = "down" if direction == "increase" else "hold" if direction == "maintain" else "up"
            pushes[name] = Push(name, push, m.group(0))
    return pushes, guards


@cache
def _any_family() -> re.Pattern[str]:
    """Every phrase of every family in one regex: a KR that matches none pushes no family."""
    t = load_json("tradeoffs.json")
    phrases = [p for f in t["families"].values() for key in ("more", "less", "up", "down") for p in f.get(key, [])]
    return _phrase_re(phrases) or re.compile(r"(?!)")


_PAREN = re.compile(r"\(([^()]*)\)")


@lru_cache(maxsize=8192)
def metric_key(metric: str | None) -> frozenset[str]:
    """The measure a KR names, as a set of words comparable across teams (synonyms applied)."""
    if not metric:
        return frozenset()
    text = _PAREN.sub(r" \1 ", metric.lower())
    for rx, canon in knowledge().synonyms:
        text = rx.sub(canon, text)
    words = set()
    for m in _WORD.finditer(text):
        for part in m.group(0).split("-"):
            if len(part) < 2 or part in _STOP or part.isdigit() or part in ("score",):
                continue
            words.add(_stem(part))
    return frozenset(words)


@cache
def _populations() -> frozenset[str]:
    return frozenset(_stem(w.lower()) for w in lexicon().data.get("actors", []))


def _population(word: str) -> bool:
    return word in _populations()


def _read(kr: KeyResult, review: KRReview | None, team: str, objective: str | None) -> KRInfo:
    ref = PlanKR(team=None if team == NO_TEAM else team, id=kr.id, kr=kr.kr, owner=kr.owner,
                 objective=objective, source=kr.source)
    info = KRInfo(kr=kr, review=review, team=team, objective=objective, ref=ref)
    a = info.anatomy = parse(kr.kr)  # once per KR (the review's parse, while the cache holds it)
    info.pushes, info.guards = family_pushes(kr.kr, a)
    if a.reading is not None and (a.reading.baseline is not None or a.reading.target is not None):
        info.metric = a.metric
        key = metric_key(a.metric)
        # A bare population ("sellers", "share of new sellers") names who, not what is measured.
        if not (len(key) == 1 and _population(next(iter(key)))):
            info.metric_key = key
    info.words = content_words(kr.kr)
    info.level = a.reading.target.text if a.reading is not None and a.reading.target is not None else None
    return info


# ----------------------------------------------------------------------------- conflicts


def _qualifiers(info: KRInfo, fam: Family) -> frozenset[str]:
    """The words of a KR that say which system or budget it is about (not the family's own
    words, not generic ones)."""
    cached = info.qualifiers.get(fam.name)
    if cached is None:
        cached = info.qualifiers[fam.name] = _qualifier_words(info.kr.kr, fam)
    return cached


def _qualifier_words(text: str, fam: Family) -> frozenset[str]:
    for rx in (fam.more, fam.less, fam.up, fam.down, _generic_re(fam.generic)):
        text = _mask(text, rx)
    generic = {_stem(w) for w in fam.generic}
    return frozenset(w for w in content_words(text) if w not in generic)


@lru_cache(maxsize=64)
def _generic_re(words: frozenset[str]) -> re.Pattern[str] | None:
    return _phrase_re(words)


def _same_object(x: KRInfo, y: KRInfo, pair: Pair, fam_b: Family) -> bool:
    if any(d.search(x.kr.kr) and d.search(y.kr.kr) for d in pair.domains):
        return True
    qx = _qualifiers(x, knowledge().families[pair.a])
    qy = _qualifiers(y, fam_b)
    if qx & qy:
        return True
    # b stated for no particular system ("maintain 99.99% system stability") covers everything.
    return bool(pair.a != pair.b and fam_b.generic and not qy)


def _same_budget(x: KRInfo, y: KRInfo, pair: Pair) -> bool:
    k = knowledge()
    if k.totals is not None and (k.totals.search(x.kr.kr) or k.totals.search(y.kr.kr)):
        return True
    k_fams = k.families
    return bool(_qualifiers(x, k_fams[pair.a]) & _qualifiers(y, k_fams[pair.b]))


def _settled(x: KRInfo, y: KRInfo, pair: Pair) -> bool:
    """A guardrail in either KR on the other's family, a shared owner, or an error budget."""
    if pair.b in x.guards or pair.a in y.guards:
        return True
    if _owners(x.kr.owner) & _owners(y.kr.owner):
        return True
    s = knowledge().settled_by
    return bool(s is not None and pair.a != pair.b and (s.search(x.kr.kr) or s.search(y.kr.kr))
                and {pair.a, pair.b} == {"release_pace", "stability"})


def _measure(info: KRInfo, fam: str) -> str:
    p = info.pushes.get(fam)
    return info.metric or (p.phrase if p else info.kr.kr)


def _possessive(name: str) -> str:
    return name + ("'" if name.endswith("s") else "'s")


def _fill(template: str, x: KRInfo, y: KRInfo, pair: Pair) -> str:
    template = re.sub(r"\{(team_[ab])\}'s", lambda m: "{" + m.group(1) + "_s}", template)
    values = {"team_a": x.ref.team or "one team", "team_b": y.ref.team or "another team",
              "team_a_s": _possessive(x.ref.team or "one team"), "team_b_s": _possessive(y.ref.team or "another team"),
              "kr_a": x.kr.kr, "kr_b": y.kr.kr, "measure_a": _measure(x, pair.a), "measure_b": _measure(y, pair.b),
              "level_b": y.level or _measure(y, pair.b)}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


def find_conflicts(infos: list[KRInfo]) -> list[PlanFinding]:
    """One finding per pair of teams and trade-off, quoting the sharpest pair of KRs."""
    k = knowledge()
    by_family: dict[str, list[KRInfo]] = defaultdict(list)
    for info in infos:
        for fam in info.pushes:
            by_family[fam].append(info)
    groups: dict[tuple[str, str, int], list[tuple[KRInfo, KRInfo]]] = {}
    seen_pairs: set[tuple[int, int]] = set()
    for n, pair in enumerate(k.pairs):
        fam_b = k.families[pair.b]
        for x in by_family.get(pair.a, []):
            px = x.pushes[pair.a].push
            for y in by_family.get(pair.b, []):
                if x is y or x.team == y.team:
                    continue
                if (px, y.pushes[pair.b].push) not in pair.conflicts:
                    continue
                group = groups.get((x.team, y.team, n))
                if group is not None and len(group) >= MAX_PAIRS:
                    continue
                key = (min(id(x), id(y)), max(id(x), id(y)))
                if key in seen_pairs:
                    continue
                if pair.scope == "same_object" and not _same_object(x, y, pair, fam_b):
                    continue
                if pair.scope == "same_budget" and not _same_budget(x, y, pair):
                    continue
                if _settled(x, y, pair):
                    continue
                seen_pairs.add(key)
                groups.setdefault((x.team, y.team, n), []).append((x, y))
    found = []
    for (ta, tb, n), pairs in groups.items():
        pair = k.pairs[n]
        # The sharpest pair: the other side holds a stated level ("99.99%") where it can.
        x, y = max(pairs, key=lambda xy: (xy[1].level is not None, -pairs.index(xy)))
        also = []
        for a, b in pairs:
            for z in (a, b):
                if z is not x and z is not y and z.ref not in also:
                    also.append(z.ref)
        fa, fb = k.families[pair.a], k.families[pair.b]
        trade = fa.label if pair.a == pair.b else f"{fa.label} vs {fb.label}"
        verb_a = _push_words(x.pushes[pair.a].push, fa.short)
        verb_b = _push_words(y.pushes[pair.b].push, fb.short)
        msg = (f"{_team(ta)} {verb_a} (“{x.kr.kr}”) while {_team(tb)} {verb_b} (“{y.kr.kr}”): "
               f"{'the two pull against each other' if pair.a == pair.b else 'these trade against each other'}"
               f"{f', and {len(also)} more KR(s) of these teams too' if also else ''}.")
        found.append(PlanFinding(code="conflict", message=msg, teams=[_team(ta), _team(tb)], krs=[x.ref, y.ref],
                                 also=also, question=_fill(pair.question, x, y, pair), trade_off=trade))
    return found


def _push_words(push: str, label: str) -> str:
    return {"up": f"pushes {label} up", "down": f"pushes {label} down", "hold": f"holds {label} at a level"}[push]


def _team(t: str | None) -> str:
    return t or NO_TEAM


# ---------------------------------------------------------------------------- duplicates


def find_duplicates(infos: list[KRInfo], names: TeamNames) -> list[PlanFinding]:
    groups: dict[frozenset[str], list[KRInfo]] = defaultdict(list)
    for info in infos:
        if info.metric_key:
            groups[info.metric_key].append(info)
    found = []
    for key, members in groups.items():
        teams = list(dict.fromkeys(m.team for m in members))
        if len(teams) < 2:
            continue
        # Shared owner: one person owns it on every side.
        owner_sets = [_owners(m.kr.owner) for m in members]
        common = set.intersection(*owner_sets) if all(owner_sets) else set()
        if common:
            continue
        # Declared as shared: each KR names the other teams.
        if all(all(names.mentions(m.kr.kr, t) for t in teams if t != m.team) for m in members):
            continue
        first = {}
        for m in members:
            first.setdefault(m.team, m)
        shown = list(first.values())
        measure = members[0].metric or " ".join(sorted(key))
        owners = ", ".join(f"{_team(m.team)}: {m.kr.owner or 'no owner'}" for m in shown)
        msg = (f"{', '.join(_team(t) for t in teams)} each own “{measure}” ({owners}): two scoreboards for one "
               "number, and no one person answers for it.")
        found.append(PlanFinding(
            code="duplicate", message=msg, teams=[_team(t) for t in teams], krs=[m.ref for m in shown[:2]],
            also=[m.ref for m in members if m.ref not in [s.ref for s in shown[:2]]], measure=measure,
            question=(f"Should {measure} be one shared key result with named co-owners from "
                      f"{' and '.join(_team(t) for t in teams)}, and whose target counts?")))
    return found


# --------------------------------------------------------------------------- dependencies

_CLAUSE_END = re.compile(r"[,;:—–(]|\s-\s")
_AFTER_TEAM = re.compile(r"^(?:'s|’s)?(?:\s+team)?", re.I)
_NEXT_WORD = re.compile(r"^\s*([A-Za-z][\w'-]*)")


def find_dependencies(infos: list[KRInfo], names: TeamNames) -> list[PlanFinding]:
    k = knowledge()
    by_team: dict[str, list[KRInfo]] = defaultdict(list)
    for info in infos:
        by_team[_team_key(info.team)].append(info)
    found = []
    seen: set[tuple[int, str]] = set()
    for info in infos:
        text = info.kr.kr
        for m, team, in_plan in names.find(text):
            if _team_key(team) == _team_key(info.team):
                continue
            before = text[max(0, m.start() - 40):m.start()]
            if k.agreed_cues is not None and re.search(k.agreed_cues.pattern + r"\s+(?:the\s+)?$", before, re.I):
                continue
            strong = bool(k.strong_cues.search(before))
            weak = not strong and bool(k.weak_cues.search(before))
            if not strong and not (weak and in_plan):
                continue
            rest = text[m.end():]
            rest = rest[_AFTER_TEAM.match(rest).end():] if _AFTER_TEAM.match(rest) else rest
            nxt = _NEXT_WORD.match(rest)
            if nxt and nxt.group(1).lower() in k.not_followed_by:
                continue
            if nxt and nxt.start(1) == 1 and nxt.group(1)[:1].isupper():
                continue  # "Beta Corp", "Sales Navigator": a longer proper name, not the team
            key = (id(info), _team_key(team))
            if key in seen:
                continue
            seen.add(key)
            cue_start = m.start() - len(before) + (k.strong_cues.search(before) or k.weak_cues.search(before)).start()
            if strong:
                end = _CLAUSE_END.search(rest)
                clause = content_words(rest[:end.start()] if end else rest)
            else:
                clause = frozenset()
            if len(clause) < 2:
                clause = content_words(text[:cue_start] + " " + rest)
            clause = frozenset(w for w in clause if _team_key(w) != _team_key(team))
            if in_plan and _answered(info, clause, by_team.get(_team_key(team), []), names):
                continue
            phrase = text[cue_start:m.end()].strip()
            if in_plan:
                msg = (f"{_team(info.team)} depends on {team} (“{phrase}”), but no {team} key result answers it: "
                       f"none names {_team(info.team)}, shares its owner or measures the same thing.")
                q = (f"Does {team} commit to its part in its own OKRs, with a date, or should this be one shared "
                     f"key result with co-owners from {_team(info.team)} and {team}?")
            else:
                msg = (f"{_team(info.team)} depends on {team} (“{phrase}”), and {team} has no OKRs in this plan.")
                q = (f"Has {team} agreed to this and by when? Add {team}'s part to the plan, or a named co-owner "
                     f"from {team} on this key result.")
            found.append(PlanFinding(code="dependency", message=msg, teams=[_team(info.team), team], krs=[info.ref],
                                     on_team=team, on_team_in_plan=in_plan, question=q))
    return found


def _answered(info: KRInfo, clause: frozenset[str], others: list[KRInfo], names: TeamNames) -> bool:
    mine = _owners(info.kr.owner)
    for o in others:
        if info.team != NO_TEAM and names.mentions(o.kr.kr, info.team):
            return True
        if mine and mine & _owners(o.kr.owner):
            return True
        shared = len(clause & o.words)
        if shared >= 3 or (shared >= 2 and shared * 2 > len(clause)):
            return True
    return False


# ------------------------------------------------------------------------------ the standard

def _from_to_by(info: KRInfo, cycle: str | None) -> bool:
    a = info.anatomy if info.anatomy is not None else parse(info.kr.kr)
    r = a.reading
    baseline = info.kr.baseline or (r.baseline.text if r is not None and r.baseline is not None else None)
    target = info.kr.target or (r.target.text if r is not None and r.target is not None else None)
    deadline = (r.deadline if r is not None else None) or info.kr.deadline or cycle
    return bool(baseline and target and deadline)


# --------------------------------------------------------------------------------- the review


@dataclass
class _Team:
    name: str
    objectives: list[tuple[str | None, list[KRInfo]]] = field(default_factory=list)
    cycles: list[str] = field(default_factory=list)

    @property
    def krs(self) -> list[KRInfo]:
        return [i for _o, infos in self.objectives for i in infos]


def has_teams(okrs: OKRSet) -> bool:
    return any(kr.team for kr in okrs.key_results())


#: What finds the cross-team findings instead of the detectors here (the llm engine's
#: `plan_findings`): given every KR of the plan in input order and the rules' own cross-team
#: findings, it returns the findings to keep and who produced them (falling back to the rules
#: findings, visibly, when it cannot do better).
CrossTeamFinder = Callable[[list[PlanKR], list[PlanFinding]], tuple[list[PlanFinding], CrossTeam]]


def review_plan(okrs: OKRSet, result: OKRReview, cross_team: CrossTeamFinder | None = None) -> PlanReview:
    """The plan review of a whole run: `okrs` is every input together (teams on the KRs, cycles on
    the objectives), `result` their per-KR reviews in the same order.

    `cross_team`, when given, finds the conflicts, duplicates and dependencies for a plan of two
    or more teams; accountability, the standard, ambition and the audit stay computed here (the
    audit's third answer reads whichever cross-team findings the plan ends with)."""
    k = knowledge()
    reviews = result.kr_reviews()
    # Read the KRs last-reviewed first: the parser's cache still holds the most recent ones, and a
    # batch larger than the cache then re-reads only what the cache lost, not all of it.
    flat = [(obj, kr) for obj in okrs.objectives for kr in obj.krs]
    read: list[KRInfo] = [None] * len(flat)  # type: ignore[list-item]
    for n in range(len(flat) - 1, -1, -1):
        obj, kr = flat[n]
        read[n] = _read(kr, reviews[n] if n < len(reviews) else None, kr.team or NO_TEAM, obj.title)
    infos: list[KRInfo] = []
    teams: dict[str, _Team] = {}
    i = 0
    for obj in okrs.objectives:
        per_team: dict[str, list[KRInfo]] = {}
        for kr in obj.krs:
            info = read[i]
            i += 1
            team = info.team
            infos.append(info)
            per_team.setdefault(team, []).append(info)
        cycle = cycle_key(obj.cycle or okrs.cycle)
        for team, members in per_team.items():
            t = teams.setdefault(team, _Team(team))
            t.objectives.append((obj.title, members))
            kr_cycles = {cycle_key(m.kr.deadline) for m in members if m.kr.deadline and CYCLE_ANY_CASE_RE.search(m.kr.deadline)}
            for c in ([cycle] if cycle else sorted(c for c in kr_cycles if c)) :
                if c and c not in t.cycles:
                    t.cycles.append(c)
    names = TeamNames(teams, k.functions)
    findings: list[PlanFinding] = []
    findings += find_conflicts(infos)
    findings += find_duplicates(infos, names)
    findings += find_dependencies(infos, names)
    source = CrossTeam()
    if cross_team is not None and len(teams) >= 2:
        findings, source = cross_team([info.ref for info in infos], findings)
    summaries, standard = _standard(teams, okrs)
    findings += standard
    ambition = [AmbitionNote(code=i.code, message=i.message, kr=info.ref)
                for info in infos if info.review is not None
                for i in info.review.issues if i.code in AMBITION_CODES]
    for s in summaries:
        s.ambition_issues = sum(1 for n in ambition if _team(n.kr.team) == _team(s.team))
    audit = _audit(teams, summaries, findings, infos, okrs)
    yes = sum(a.answer == "yes" for a in audit)
    return PlanReview(teams=summaries, findings=findings, ambition=ambition, audit=audit, yes_answers=yes,
                      active_killers=_killers(audit, findings), cross_team=source)


def _standard(teams: dict[str, _Team], okrs: OKRSet) -> tuple[list[TeamSummary], list[PlanFinding]]:
    k = knowledge()
    lo_kr, hi_kr = k.levels["krs_per_objective"]
    lo_obj, hi_obj = k.levels["objectives_per_team"]
    team_keys = frozenset(_team_key(t) for t in teams if t != NO_TEAM)
    summaries: list[TeamSummary] = []
    findings: list[PlanFinding] = []
    owner_lines: list[tuple[str, list[KRInfo], dict[str, list[KRInfo]]]] = []
    off_objectives: list[tuple[str, str | None, int]] = []
    off_teams: list[tuple[str, int]] = []
    for name, t in teams.items():
        krs = t.krs
        cycle = t.cycles[0] if len(t.cycles) == 1 else None
        ftb = sum(_from_to_by(i, cycle) for i in krs)
        problems: dict[str, list[KRInfo]] = defaultdict(list)
        for info in krs:
            why = owner_problem(info.kr.owner, team_keys)
            if why:
                problems[why].append(info)
        numbered = 0
        for title, _m in t.objectives:
            if title and any(not YEAR_RE.match(n.strip()) for n in _OBJECTIVE_NUMBER.findall(title)):
                numbered += 1
        titled = [(title, m) for title, m in t.objectives if title]
        summaries.append(TeamSummary(
            team=None if name == NO_TEAM else name, objectives=len(titled) or len(t.objectives), krs=len(krs),
            from_to_by=ftb, from_to_by_share=round(ftb / len(krs), 3) if krs else 0.0,
            single_owner=len(krs) - sum(len(v) for v in problems.values()), cycles=list(t.cycles),
            objectives_with_numbers=numbered,
            outputs=sum(1 for i in krs if i.review is not None and i.review.kind == "output")))
        if problems:
            owner_lines.append((name, krs, problems))
        for title, m in titled:
            if not lo_kr <= len(m) <= hi_kr:
                off_objectives.append((name, title, len(m)))
        if titled and not lo_obj <= len(titled) <= hi_obj:
            off_teams.append((name, len(titled)))
    for name, krs, problems in owner_lines:
        reasons = {"missing": "no owner", "team": "a team as owner", "everyone": "everyone as owner",
                   "several": "several owners"}
        parts = []
        flagged: list[KRInfo] = []
        for why in ("missing", "team", "everyone", "several"):
            if problems.get(why):
                ids = ", ".join(i.kr.id for i in problems[why][:6]) + ("…" if len(problems[why]) > 6 else "")
                parts.append(f"{len(problems[why])} with {reasons[why]} (KR {ids})")
                flagged += problems[why]
        findings.append(PlanFinding(
            code="no_single_owner", teams=[name], krs=[i.ref for i in flagged[:2]], also=[i.ref for i in flagged[2:]],
            message=(f"{name}: {len(flagged)} of {len(krs)} key result(s) without one named person as owner: "
                     f"{'; '.join(parts)}."),
            question="Who is the one person who moves each number, updates it weekly and raises the flag when it is red?"))
    if off_objectives:
        total = sum(len([o for o in t.objectives if o[0]]) for t in teams.values())
        shown = "; ".join(f"{n}: “{title}” has {c}" for n, title, c in off_objectives[:6])
        findings.append(PlanFinding(
            code="krs_per_objective", teams=list(dict.fromkeys(n for n, _t, _c in off_objectives)), message=(
                f"{len(off_objectives)} of {total} objectives have fewer than {lo_kr} or more than {hi_kr} key "
                f"results ({shown}{'; …' if len(off_objectives) > 6 else ''})."),
            question=f"Which {lo_kr} to {hi_kr} key results would prove each objective moved?"))
    if off_teams:
        many = any(c > hi_obj for _n, c in off_teams)
        findings.append(PlanFinding(
            code="objectives_per_team", teams=[n for n, _c in off_teams], message=(
                f"{len(off_teams)} of {len(teams)} team(s) outside {lo_obj}-{hi_obj} objectives: "
                + ", ".join(f"{n} {c}" for n, c in off_teams) + "."),
            question=("Which objectives matter most this cycle, and which can wait?" if many else
                      "Is one objective the whole of the team's cycle, or is a second priority missing?")))
    known = {n: t.cycles for n, t in teams.items() if t.cycles}
    distinct = sorted({c for cs in known.values() for c in cs})
    if len(teams) > 1 and len(distinct) > 1:
        shown = "; ".join(f"{n}: {', '.join(cs)}" for n, cs in known.items())
        spans = {cycle_span(c) for c in distinct}
        findings.append(PlanFinding(
            code="mixed_cycles", teams=list(known), message=(
                f"Teams plan on different cycles ({shown})"
                f"{': different cycle lengths too' if len(spans) > 1 else ''}; shared work loses its shared dates."),
            question="Which one cycle does the whole plan run on, and which team's exception is documented?"))
    sized = [s for s in summaries if s.krs >= 3]
    if len(sized) > 1:
        hi = max(sized, key=lambda s: s.from_to_by_share)
        lo = min(sized, key=lambda s: s.from_to_by_share)
        if hi.from_to_by_share - lo.from_to_by_share >= k.mixed_formats_gap:
            findings.append(PlanFinding(
                code="mixed_formats", teams=[_team(hi.team), _team(lo.team)], message=(
                    f"{_team(hi.team)} writes {hi.from_to_by_share:.0%} of its key results as metric from X to Y by "
                    f"date, {_team(lo.team)} {lo.from_to_by_share:.0%}: the plan mixes formats, so results cannot "
                    "be compared."),
                question="Can every team write its key results as “[metric] from [X] to [Y] by [date]”?"))
    return summaries, findings


AUDIT = (
    (1, "Every team uses the same OKR template, scoring scale and cycle length.", "Lack of standardization"),
    (2, "OKRs show up in regular planning, sprint and review meetings, not only in their own meeting.",
     "Isolation from existing systems"),
    (3, "Cross-functional priorities have a single shared OKR with named co-owners.", "Alignment theater"),
    (4, "Every key result has one named driver and a green/yellow/red status updated weekly.",
     "Weak accountability loops"),
    (5, "If the teams completed every action implied by their key results, the intended outcome would happen.",
     "Task-based key results"),
)
_RAG = re.compile(r"^(?:green|yellow|amber|red|on[\s-]track|at[\s-]risk|off[\s-]track|behind|done|g|y|a|r)$", re.I)


def _audit(teams: dict[str, _Team], summaries: list[TeamSummary], findings: list[PlanFinding],
           infos: list[KRInfo], okrs: OKRSet) -> list[AuditAnswer]:
    codes = [f.code for f in findings]
    answers: list[AuditAnswer] = []
    n_teams = len(teams)
    # 1. Same template and cycle.
    ev: list[str] = []
    cycles = {c for s in summaries for c in s.cycles}
    no_cycle = [_team(s.team) for s in summaries if not s.cycles]
    if "mixed_cycles" in codes:
        ev.append(next(f.message for f in findings if f.code == "mixed_cycles"))
    if "mixed_formats" in codes:
        ev.append(next(f.message for f in findings if f.code == "mixed_formats"))
    if ev:
        a1 = "no"
    elif n_teams < 2:
        a1, ev = "cannot tell", ["Only one team in this document: nothing to compare."]
    elif no_cycle:
        a1 = "cannot tell"
        ev.append(f"No cycle stated for {', '.join(no_cycle)}" + (f"; others run on {', '.join(sorted(cycles))}" if cycles else "") + ".")
    else:
        a1 = "yes"
        shares = ", ".join(f"{_team(s.team)} {s.from_to_by_share:.0%}" for s in summaries)
        ev.append(f"Every team runs on {', '.join(sorted(cycles))}; KRs in metric-from-to-by form: {shares}.")
    ev.append("The scoring scale is not in the document.")
    answers.append(AuditAnswer(number=1, question=AUDIT[0][1], answer=a1, evidence=ev, killer=AUDIT[0][2]))
    # 2. Regular rhythm.
    k = knowledge()
    # The rhythm shows in the document's own notes and headings, not in what a KR measures ("QBR
    # coverage of top accounts" is a customer meeting).
    texts = [s.text for s in okrs.skipped] + [o.title or "" for o in okrs.objectives]
    seen = [m.group(0) for t in texts if k.cadence is not None for m in [k.cadence.search(t)] if m]
    if seen:
        answers.append(AuditAnswer(number=2, question=AUDIT[1][1], answer="yes", killer=AUDIT[1][2], evidence=[
            "The document names a review rhythm: " + ", ".join(f"“{s}”" for s in dict.fromkeys(seen)) + "."]))
    else:
        answers.append(AuditAnswer(number=2, question=AUDIT[1][1], answer="cannot tell", killer=AUDIT[1][2], evidence=[
            "The document names no meeting, sprint or review where these OKRs are checked."]))
    # 3. Shared cross-functional OKRs.
    cross = [f for f in findings if f.code in CROSS_TEAM_CODES]
    if cross:
        counts = {c: codes.count(c) for c in CROSS_TEAM_CODES if codes.count(c)}
        plural = {"conflict": "conflicts", "duplicate": "duplicates", "dependency": "unanswered dependencies"}
        single = {"conflict": "conflict", "duplicate": "duplicate", "dependency": "unanswered dependency"}
        ev = [f"{n} {plural[c] if n > 1 else single[c]}" for c, n in counts.items()]
        ev = [f"Cross-team work without one shared, co-owned key result: {', '.join(ev)}."]
        ev += [f.message for f in cross[:3]]
        answers.append(AuditAnswer(number=3, question=AUDIT[2][1], answer="no", evidence=ev, killer=AUDIT[2][2]))
    elif n_teams < 2:
        answers.append(AuditAnswer(number=3, question=AUDIT[2][1], answer="cannot tell", killer=AUDIT[2][2],
                                   evidence=["Only one team in this document."]))
    else:
        linked = _shared_krs(infos)
        if linked:
            answers.append(AuditAnswer(number=3, question=AUDIT[2][1], answer="yes", killer=AUDIT[2][2], evidence=[
                f"{linked} key result(s) shared across teams with a common owner or answered by the other team; "
                "no conflicts, duplicates or unanswered dependencies found."]))
        else:
            answers.append(AuditAnswer(number=3, question=AUDIT[2][1], answer="cannot tell", killer=AUDIT[2][2],
                                       evidence=["No conflicts, duplicates or unanswered dependencies found, and no "
                                                 "key result is shared across teams: the draft shows no cross-team work."]))
    # 4. One driver, weekly status.
    total = sum(s.krs for s in summaries)
    owned = sum(s.single_owner for s in summaries)
    statuses = [i.kr.status for i in infos]
    if owned < total:
        ev = [f"{total - owned} of {total} key results have no single named owner."]
        ev += [f.message for f in findings if f.code == "no_single_owner"][:4]
        answers.append(AuditAnswer(number=4, question=AUDIT[3][1], answer="no", evidence=ev, killer=AUDIT[3][2]))
    elif statuses and all(s and _RAG.match(s.strip()) for s in statuses):
        answers.append(AuditAnswer(number=4, question=AUDIT[3][1], answer="yes", killer=AUDIT[3][2], evidence=[
            f"All {total} key results have one named owner and a status; that it is updated weekly is not in the document."]))
    else:
        answers.append(AuditAnswer(number=4, question=AUDIT[3][1], answer="cannot tell", killer=AUDIT[3][2], evidence=[
            f"All {total} key results have one named owner, but the document has no green/yellow/red status for them."]))
    # 5. Would the outcome happen?
    reviewed = [i for i in infos if i.review is not None]
    outputs = [i for i in reviewed if i.review.kind == "output"]
    wrong = [i for i in reviewed if "wrong_direction" in i.review.issue_codes()]
    all_out = [(title, m) for t in teams.values() for title, m in t.objectives
               if m and all(i.review is not None and i.review.kind == "output" for i in m)]
    share = len(outputs) / len(reviewed) if reviewed else 0.0
    ev = []
    if outputs:
        ev.append(f"{len(outputs)} of {len(reviewed)} key results measure work done, not the change it should cause "
                  f"(e.g. “{outputs[0].kr.kr}”).")
    if all_out:
        ev.append(f"{len(all_out)} objective(s) measured only by work done: "
                  + "; ".join(f"{_team(m[0].team)}: “{title or 'no objective'}”" for title, m in all_out[:3]) + ".")
    if wrong:
        ev.append(f"{len(wrong)} key result(s) would make their metric worse if met (e.g. “{wrong[0].kr.kr}”).")
    if all_out or wrong or share >= 0.4:
        a5 = "no"
    elif share <= 0.2:
        a5 = "yes"
        ev.append(f"{len(reviewed) - len(outputs)} of {len(reviewed)} key results measure the change itself.")
    else:
        a5 = "cannot tell"
    answers.append(AuditAnswer(number=5, question=AUDIT[4][1], answer=a5, evidence=ev, killer=AUDIT[4][2]))
    return answers


def _shared_krs(infos: list[KRInfo]) -> int:
    by_owner: dict[str, set[str]] = defaultdict(set)
    for i in infos:
        for o in _owners(i.kr.owner):
            by_owner[o].add(i.team)
    return sum(1 for i in infos if any(len(by_owner[o]) > 1 for o in _owners(i.kr.owner)))


def _killers(audit: list[AuditAnswer], findings: list[PlanFinding]) -> list[SilentKiller]:
    out = []
    for a in audit:
        if a.answer == "no":
            out.append(SilentKiller(number=a.number, name=a.killer, why=a.evidence[0] if a.evidence else ""))
    return out


__all__ = ["review_plan", "ambition_issues", "has_teams", "owner_problem", "family_pushes", "metric_key",
           "cycle_key", "knowledge", "AMBITION_CODES", "CROSS_TEAM_CODES"]
