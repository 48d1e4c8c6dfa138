"""Offline evaluation: an engine over a labelled dataset, scored sample by sample.

Shaped like an inspect_ai eval: dataset (labelled KRs) + solver (an engine through `coach`) +
scorers (label match, rewrite checks). Every sample's input, target, output and score goes to a
JSONL log beside a manifest (engine, model, endpoint, prompt version, git revision, dataset hash),
so two runs can be compared sample by sample with `compare`.

Beyond the verdict: accuracy per organisation and leave-one-organisation-out (when rows name
their `org`), whether each filled rewrite slot holds the draft's number for that slot (scored
against gold slots, `slots.jsonl` beside the dataset, else with `quantities.slot_errors`), whether
an outcome KR's target survives into its first rewrite, and how varied and how loud the coaching is
(distinct rewrites, generic placeholders, "need work" share, most common issue codes).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import subprocess
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from krcoach.version import __version__
from krcoach import issue_codes
from krcoach.rules import quantities
from krcoach.rules.anatomy import PLACEHOLDER_RE, _to_float, invented_numbers, parse_rewrite
from krcoach.coach import iter_review
from krcoach.engine import Engine
from krcoach.formats import InputError
from krcoach.models import MAX_KR_CHARS, KeyResult, KRReview, Objective, OKRSet
from krcoach.plan import _team_key  # gold teams match as the plan review matches them
from krcoach.rules.engine import classify_text

LABELS = ("output", "outcome")


@dataclass
class Sample:
    id: str
    kr: str
    objective: str | None
    label: str
    tags: list[str] = field(default_factory=list)
    rationale: str | None = None
    #: The organisation the KR comes from (real-world datasets): per-org and leave-one-org-out scores.
    org: str | None = None
    #: The period the KR runs in, when the row says: a deadline equal to it is in its place.
    cycle: str | None = None


def _json_lines(text: str, source: str) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line of a JSONL text; one that is not JSON stops with
    an InputError naming `source` and the line."""
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(source, f"line {n}", f"not valid JSON ({exc.msg})") from None
        yield n, value


def load_dataset(path: str | Path) -> list[Sample]:
    """Read a labelled JSONL dataset, failing with one line that names the row and field."""
    p = Path(path)
    name = str(path)
    if not p.is_file():
        raise InputError(name, None, "no such file" if not p.exists() else "is not a file")
    samples: list[Sample] = []
    seen: set[str] = set()
    try:
        text = p.read_text("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(name, None, "text is not UTF-8") from None
    for n, rec in _json_lines(text, name):
        where = f"line {n}"
        if not isinstance(rec, dict):
            raise InputError(name, where, "expected an object")
        kr = rec.get("kr", rec.get("key_result"))
        if not isinstance(kr, str) or not kr.strip():
            raise InputError(name, where, "field 'kr' is missing or empty")
        if len(kr) > MAX_KR_CHARS:
            raise InputError(name, where, f"field 'kr' is longer than {MAX_KR_CHARS:,} characters")
        label = rec.get("label")
        if label not in (*LABELS, "ambiguous"):
            raise InputError(name, where, "field 'label' must be output, outcome or ambiguous")
        sid = str(rec.get("id") or n)
        if sid in seen:
            raise InputError(name, where, f"field 'id' repeats {sid!r}")
        seen.add(sid)
        tags = rec.get("tags") or []
        if not isinstance(tags, list):
            raise InputError(name, where, "field 'tags' must be a list")
        org = rec.get("org")
        if org is not None and not isinstance(org, str):
            raise InputError(name, where, "field 'org' must be a string")
        cycle = rec.get("cycle")
        samples.append(Sample(id=sid, kr=" ".join(kr.split()), objective=rec.get("objective"),
                              label=label, tags=[str(t) for t in tags], rationale=rec.get("rationale"),
                              org=org.strip() or None if org else None,
                              cycle=str(cycle) if cycle not in (None, "") else None))
    if not samples:
        raise InputError(name, None, "no samples")
    return samples


def _as_okrset(samples: list[Sample]) -> OKRSet:
    groups: dict[str | None, list[KeyResult]] = {}
    for s in samples:
        groups.setdefault(s.objective, []).append(KeyResult(id=s.id, kr=s.kr))
    return OKRSet(objectives=[Objective(title=t, krs=k) for t, k in groups.items()])


REWRITE_CHECKS = ("rewrites", "unparsable", "invented_numbers", "not_outcome", "misplaced_numbers")


def check_rewrites(review: KRReview, objective: str | None, cycle: str | None = None) -> dict[str, int]:
    """Rewrite checks: parses as metric/from/to/by; no invented number; output -> outcome; every
    number in the slot it had in the draft (`quantities.slot_errors`)."""
    out = Counter(rewrites=0, unparsable=0, invented_numbers=0, not_outcome=0, misplaced_numbers=0)
    for rw in review.rewrites:
        out["rewrites"] += 1
        if parse_rewrite(rw.text) is None:
            out["unparsable"] += 1
        if invented_numbers(rw.text, review.kr, objective or "", *rw.assumptions):
            out["invented_numbers"] += 1
        if review.kind == "output" and classify_text(rw.text) != "outcome":
            out["not_outcome"] += 1
        if quantities.slot_errors(review.kr, rw.metric, rw.baseline, rw.target, rw.deadline, cycle):
            out["misplaced_numbers"] += 1
    return dict(out)


# ------------------------------------------------------------------------------------ slots

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
#: A gold value that is a plain quantity ("95", "100%", "20k", "2,500"), compared as a number;
#: anything else ("tier-1", "sev1", "v3", "24/7", "SOC 2") is a label, matched as a whole token.
_PLAIN_QTY = re.compile(r"[~<>≥≤±+\-−]?\s?[$€£¥₹]?\s?\d+(?:[.,]\d+)*\s?(?:%|k|K|M|m|mm|bn|B|x|×|h|ms|s|min|pts?)?")
_HOLD = re.compile(r"\b(?:keep|keeps|kept|maintain\w*|hold\w*|stay\w*|remain\w*|sustain\w*|preserv\w*|retain\w*)\b",
                   re.I)


def _numbers(text: str | None) -> list[float]:
    """The numbers written in `text` (placeholders removed), signs and units ignored: "2m" is 2."""
    bare = PLACEHOLDER_RE.sub(" ", text or "")
    return [v for v in (_to_float(n) for n in _NUMBER.findall(bare)) if v is not None]


def _norm(text: str) -> str:
    return re.sub(r"[\s~<>≥≤+\-−]", "", text).lower()


def _filled(value: str | None) -> bool:
    """A slot is filled when it holds more than placeholders ("[baseline: measure first]", "TBD")."""
    if not value:
        return False
    bare = PLACEHOLDER_RE.sub("", value)
    if bare != value and not any(c.isdigit() for c in bare):
        return False  # "[N] days after the launch": a visible placeholder phrase, no number of the draft's
    return bool(bare.strip(" .,:;-"))


def _matches(value: str, gold: Iterable[str]) -> bool:
    """Whether a slot value is one of the gold values: numerically (every number of the slot within
    one gold value's numbers), or, for a value with no digits ("Zero", "same day"), as text."""
    nums = _numbers(value)
    for g in gold:
        gnums = _numbers(g)
        if nums and gnums and all(any(abs(n - x) < 1e-9 for x in gnums) for n in nums):
            return True
        if not nums and _norm(PLACEHOLDER_RE.sub("", g)) and _norm(PLACEHOLDER_RE.sub("", g)) == _norm(value):
            return True
    return False


def _not_slot_hits(value: str, not_slots: Iterable[str]) -> list[str]:
    hits = []
    nums = _numbers(value)
    for g in not_slots:
        if _PLAIN_QTY.fullmatch(g.strip()):
            if any(abs(n - x) < 1e-9 for n in nums for x in _numbers(g)):
                hits.append(g)
        elif re.search(rf"(?<![\w]){re.escape(g)}(?![\w])", value, re.I):
            hits.append(g)
    return hits


def load_slots(path: str | Path) -> dict[str, dict[str, Any]]:
    """Gold slots (evals/SLOTS.md): one object per line keyed by the KR's id."""
    p = Path(path)
    if not p.is_file():
        raise InputError(str(path), None, "no such file" if not p.exists() else "is not a file")
    gold: dict[str, dict[str, Any]] = {}
    for n, rec in _json_lines(p.read_text("utf-8-sig"), str(path)):
        if not isinstance(rec, dict) or not rec.get("id"):
            raise InputError(str(path), f"line {n}", "expected an object with an 'id'")
        for key in ("targets", "baselines", "not_slots"):
            if not isinstance(rec.get(key) or [], list):
                raise InputError(str(path), f"line {n}", f"field {key!r} must be a list")
        gold[str(rec["id"])] = rec
    return gold


def _holds_a_level(sample: Sample, gold: dict[str, Any]) -> bool:
    return "health_metric" in sample.tags or bool(_HOLD.search(sample.kr)) or bool(
        re.search(r"\b(?:maintain|hold|keep|guardrail)", gold.get("note") or "", re.I))


def score_slots(sample: Sample, review: KRReview, gold: dict[str, Any] | None,
                cycle: str | None = None) -> dict[str, Any]:
    """Every filled slot of every rewrite: right or misplaced (with why), and whether the draft's
    target survives into the first rewrite (None where the KR is not an outcome with a target)."""
    cycle = sample.cycle or cycle
    filled = right = 0
    problems: list[str] = []
    for i, rw in enumerate(review.rewrites, 1):
        for slot, value in (("target", rw.target), ("baseline", rw.baseline), ("deadline", rw.deadline)):
            if not _filled(value):
                continue
            filled += 1
            why = _slot_problem(sample, slot, value, gold, cycle)
            if why:
                problems.append(f"rewrite {i} {slot} {value!r}: {why}")
            else:
                right += 1
    return {"filled": filled, "right": right, "problems": problems, "target_kept": _target_kept(sample, review, gold)}


def _slot_problem(sample: Sample, slot: str, value: str, gold: dict[str, Any] | None, cycle: str | None) -> str | None:
    if gold is None:
        args = {"target": (None, value, None), "baseline": (value, None, None), "deadline": (None, None, value)}[slot]
        errors = quantities.slot_errors(sample.kr, "", *args, cycle=cycle)
        return "; ".join(errors) or None
    if slot == "deadline":
        own = [g for g in (gold.get("deadline"), cycle) if g]
        nums = _numbers(value)
        ok_nums = [x for g in own for x in _numbers(g)]
        if nums and all(any(abs(n - x) < 1e-9 for x in ok_nums) for n in nums):
            return None
        if not nums and any(_same_words(g, value) for g in own):
            return None
        return f"not the draft's deadline (gold: {gold.get('deadline')!r}" + (f", cycle {cycle!r})" if cycle else ")")
    labels = [g for g in gold.get("not_slots") or [] if not _PLAIN_QTY.fullmatch(g.strip())]
    token_hits = _not_slot_hits(value, labels)
    if token_hits:
        return f"{', '.join(token_hits)} must never fill a slot"
    if slot == "target":
        allowed = list(gold.get("targets") or []) + ([gold["delta"]] if gold.get("delta") else [])
        what = f"targets {gold.get('targets') or []}" + (f", delta {gold['delta']!r}" if gold.get("delta") else "")
    else:
        allowed = list(gold.get("baselines") or [])
        if _holds_a_level(sample, gold):
            allowed += list(gold.get("targets") or [])
        what = f"baselines {gold.get('baselines') or []}"
    if _matches(value, allowed):
        return None
    if slot == "target" and gold.get("delta") and _word_delta_in_words(sample.kr, value):
        return None  # "Double X" -> "double the baseline": the draft's change, written in words
    hits = _not_slot_hits(value, gold.get("not_slots") or [])
    if hits:
        return f"{', '.join(hits)} must never fill a slot (gold {what})"
    return f"not the draft's {slot} (gold {what})"


def _word_delta_in_words(kr: str, value: str) -> bool:
    """The target slot renders the draft's own change in words (no digit added)."""
    from krcoach.rules.quantities import read, word_delta_target

    delta = read(" ".join(kr.split())).delta
    return bool(delta and delta.value is None and not any(c.isdigit() for c in delta.text) and
                value in (word_delta_target(delta.text, True), word_delta_target(delta.text, False)))


_FILLER = frozenset("the of by end before until in at on for this next de del la el le fin antes ende".split())


def _same_words(gold: str, value: str) -> bool:
    """A deadline in words: every word of the gold one is in the slot, abbreviations allowed
    ("sept" for "septiembre")."""
    if _norm(gold) in _norm(value) or _norm(value) in _norm(gold):
        return True
    words = [w for w in re.findall(r"\w+", gold.lower()) if w not in _FILLER]
    have = [w for w in re.findall(r"\w+", value.lower()) if w not in _FILLER and len(w) >= 3]
    return bool(words) and all(any(g.startswith(h) or h.startswith(g) for h in have) for g in words)


def _target_kept(sample: Sample, review: KRReview, gold: dict[str, Any] | None) -> bool | None:
    if sample.label != "outcome":
        return None
    if gold is not None:
        targets = [t for t in gold.get("targets") or [] if t]
    else:
        q = quantities.read(sample.kr).target
        targets = [q.text] if q is not None else []
    if not targets:
        return None
    first = review.rewrites[0].target if review.rewrites else None
    if first and any(not _numbers(t) and _norm(first) and (_norm(first) in _norm(t) or _norm(t) in _norm(first))
                     for t in targets):
        return True  # a placeholder target ("X%", "[target]") kept as written
    if not _filled(first):
        return False
    have = _numbers(first)
    for t in targets:
        want = _numbers(t)
        if want and all(any(abs(w - h) < 1e-9 for h in have) for w in want):
            return True
        if not want and _norm(PLACEHOLDER_RE.sub("", t)) and _norm(PLACEHOLDER_RE.sub("", t)) in _norm(first or ""):
            return True
    return False


def _gold_slots_for(dataset: Path, slots: str | Path | None) -> tuple[dict[str, dict[str, Any]] | None, str | None]:
    if slots is not None:
        return load_slots(slots), str(slots)
    beside = dataset.with_name("slots.jsonl")
    if beside.is_file() and beside.resolve() != dataset.resolve():
        return load_slots(beside), str(beside)
    return None, None


@lru_cache(maxsize=1)
def _fallback_metrics() -> frozenset[str]:
    from krcoach.rules.lexicon import catalogue

    return frozenset(m.strip().lower() for m in catalogue().get("fallback_metrics", []))


def _generic(metric: str) -> bool:
    m = (metric or "").strip()
    return m.startswith("[") or m.lower() in _fallback_metrics()


def _git_revision() -> str | None:
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    if rev.returncode != 0:
        return None
    return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _engine_manifest(engine: Engine) -> dict[str, Any]:
    manifest = getattr(engine, "manifest", None)
    info = dict(manifest()) if callable(manifest) else {}
    info.setdefault("engine", engine.name)
    info.setdefault("model", engine.model)
    return info


# ------------------------------------------------------------------------- leave one org out

TrainingRow = tuple[str, "str | None", str]


@dataclass
class Learner:
    """How to retrain the engine's learned part: `fit(rows) -> model`, the project's own training
    rows, and an engine built around a fitted model."""

    fit: Callable[[list[TrainingRow]], Any]
    base_rows: Callable[[], list[TrainingRow]]
    engine: Callable[[Any], Engine]


def rules_learner() -> Learner | str:
    """The rules engine's learned verdict (`krcoach.rules.verdict`), or why there is none."""
    try:
        from krcoach.rules import verdict  # type: ignore[attr-defined]
    except ModuleNotFoundError as exc:
        if exc.name == "krcoach.rules.verdict":
            return "engine has no learned part"
        raise
    from krcoach.rules.engine import RulesEngine

    fit, base = getattr(verdict, "fit", None), getattr(verdict, "base_rows", None)
    if not callable(fit) or not callable(base):
        return "engine has no learned part (krcoach.rules.verdict has no fit/base_rows)"
    try:
        inspect.signature(RulesEngine).bind(verdict_model=None)
    except TypeError:
        return "engine has no learned part (RulesEngine takes no verdict_model)"
    return Learner(fit=fit, base_rows=base, engine=lambda model: RulesEngine(verdict_model=model))


def leave_one_org_out(samples: list[Sample], engine: Engine, *, enabled: bool = True,
                      learner: Learner | None = None) -> dict[str, Any]:
    """For each organisation: fit the learned part on the project's rows plus every other
    organisation's scored rows, review the held-out organisation with it, score it."""
    orgs = sorted({s.org for s in samples if s.org})
    if not enabled:
        return {"status": "skipped", "reason": "--no-loo"}
    if getattr(engine, "name", None) != "rules":
        return {"status": "n/a", "reason": f"engine {getattr(engine, 'name', '?')} has no learned part"}
    if len(orgs) < 2:
        return {"status": "n/a", "reason": "needs rows from two or more organisations" if orgs
                else "no row names an organisation"}
    if learner is None:
        found = rules_learner()
        if isinstance(found, str):
            return {"status": "n/a", "reason": found}
        learner = found
    started = time.time()
    base = list(learner.base_rows())
    per_org: dict[str, dict[str, Any]] = {}
    correct = scored = 0
    for org in orgs:
        train = base + [(s.kr, s.objective, s.label) for s in samples if s.org != org and s.label in LABELS]
        eng = learner.engine(learner.fit(train))
        held = [s for s in samples if s.org == org]
        gold = {s.id: s.label for s in held}
        hits: list[bool] = []
        for obj_review in iter_review(_as_okrset(held), eng, concurrency=1):
            for r in obj_review.krs:
                if gold[r.id] in LABELS:
                    hits.append(r.kind == gold[r.id])
        per_org[org] = {"n": len(hits), "accuracy": round(sum(hits) / len(hits), 4) if hits else None}
        correct += sum(hits)
        scored += len(hits)
    rated = [(o, v) for o, v in per_org.items() if v["accuracy"] is not None]
    worst = min(rated, key=lambda ov: (ov[1]["accuracy"], -ov[1]["n"])) if rated else None
    return {
        "status": "ok", "reason": None,
        "accuracy": round(correct / scored, 4) if scored else None,
        "scored": scored, "organisations": len(orgs), "base_rows": len(base),
        "worst": {"org": worst[0], **worst[1]} if worst else None,
        "per_org": per_org,
        "seconds": round(time.time() - started, 3),
    }


def run_eval(dataset: str | Path, engine: Engine, report_dir: str | Path, *, concurrency: int = 4,
             slots: str | Path | None = None, loo: bool = True, cycle: str | None = None,
             learner: Learner | None = None, objectives: set[str] | None = None) -> dict[str, Any]:
    """Run, score and log. Returns the metrics dict that is also written into the manifest.

    `objectives`: only the samples of these objectives (a replay records some objectives only).

    `slots`: gold slots file (default: `slots.jsonl` beside the dataset, when there is one).
    `loo`: leave-one-organisation-out for the rules engine's learned part, when rows name orgs.
    `cycle`: the period the KRs run in (default: the engine's `--cycle`), an accepted deadline.
    """
    samples = load_dataset(dataset)
    if objectives is not None:
        samples = [s for s in samples if s.objective in objectives]
        if not samples:
            raise InputError(str(dataset), None, "no sample belongs to a recorded objective")
    by_id = {s.id: s for s in samples}
    gold_slots, gold_path = _gold_slots_for(Path(dataset), slots)
    cycle = cycle or getattr(engine, "_cycle", None)
    report = Path(report_dir)
    report.mkdir(parents=True, exist_ok=True)
    started = time.time()
    rows: list[dict[str, Any]] = []
    with (report / "samples.jsonl").open("w", encoding="utf-8") as log:
        for obj_review in iter_review(_as_okrset(samples), engine, concurrency=concurrency):
            for r in obj_review.krs:
                s = by_id[r.id]
                checks = check_rewrites(r, s.objective, s.cycle or cycle)
                slot = score_slots(s, r, gold_slots.get(s.id) if gold_slots is not None else None, cycle)
                codes = [i.code for i in r.issues]
                row = {
                    "id": s.id, "kr": s.kr, "objective": s.objective, "label": s.label, "tags": s.tags,
                    "org": s.org,
                    "predicted": r.kind, "scored": s.label in LABELS,
                    "correct": (r.kind == s.label) if s.label in LABELS else None,
                    "status": r.status, "error": r.error, "why": r.why, "notes": r.notes,
                    "issues": codes, "needs_work": issue_codes.needs_work(codes),
                    "rewrites": [w.model_dump() for w in r.rewrites],
                    "rewrite_checks": checks,
                    "slots_filled": slot["filled"], "slots_right": slot["right"],
                    "slot_problems": slot["problems"], "target_kept": slot["target_kept"],
                }
                rows.append(row)
                log.write(json.dumps(row, ensure_ascii=False) + "\n")
    metrics = score(rows)
    metrics["slots"]["gold"] = gold_path
    metrics["llm"] = _llm_handling(engine, rows)
    metrics["seconds"] = round(time.time() - started, 3)
    metrics["leave_one_org_out"] = leave_one_org_out(samples, engine, enabled=loo, learner=learner)
    data = Path(dataset).read_bytes()
    manifest = {
        "krcoach_version": __version__,
        "git_revision": _git_revision(),
        "dataset": str(dataset),
        "dataset_sha256": hashlib.sha256(data).hexdigest(),
        "samples": len(samples),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        **_engine_manifest(engine),
        "metrics": metrics,
    }
    (report / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return manifest


def _llm_handling(engine: Engine, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """How krcoach handled the model's answers: re-asks (with what was refused, for a person to
    judge), fallbacks, and the notes its readers attached without overruling the model."""
    stats = getattr(engine, "stats", None)
    if not isinstance(stats, dict) or "reasks" not in stats:
        return None
    noted = [r for r in rows if r.get("notes")]
    return {
        "objectives": stats.get("requests", 0) - stats.get("reasks", 0),
        "reasks": stats["reasks"],
        "fallback_krs": sum(r["status"] == "fallback" for r in rows),
        "rejections": list(getattr(engine, "rejections", [])),
        "krs_with_notes": len(noted),
        "notes": sum(len(r["notes"]) for r in noted),
    }


def score(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy, per-class precision/recall, confusion matrix, per-tag accuracy, rewrite checks."""
    scored = [r for r in rows if r["scored"]]
    confusion = {gold: {pred: 0 for pred in LABELS} for gold in LABELS}
    for r in scored:
        confusion[r["label"]][r["predicted"]] += 1
    per_class = {}
    for c in LABELS:
        tp = confusion[c][c]
        predicted = sum(confusion[g][c] for g in LABELS)
        actual = sum(confusion[c].values())
        per_class[c] = {
            "precision": round(tp / predicted, 4) if predicted else None,
            "recall": round(tp / actual, 4) if actual else None,
            "support": actual,
        }
    tags: dict[str, list[bool]] = defaultdict(list)
    for r in scored:
        for t in r["tags"]:
            tags[t].append(bool(r["correct"]))
    per_tag = {t: {"n": len(v), "accuracy": round(sum(v) / len(v), 4)} for t, v in sorted(tags.items())}
    checks = Counter()
    for r in rows:
        checks.update(r["rewrite_checks"])
    correct = sum(bool(r["correct"]) for r in scored)
    per_org: dict[str, dict[str, Any]] = {}
    if any(r.get("org") for r in rows):
        by_org: dict[str, list[bool]] = defaultdict(list)
        for r in rows:
            hits = by_org[r.get("org") or "(no organisation)"]
            if r["scored"]:
                hits.append(bool(r["correct"]))
        per_org = {o: {"n": len(v), "accuracy": round(sum(v) / len(v), 4) if v else None}
                   for o, v in sorted(by_org.items())}
    filled = sum(r.get("slots_filled", 0) for r in rows)
    right = sum(r.get("slots_right", 0) for r in rows)
    kept = [r["target_kept"] for r in rows if r.get("target_kept") is not None]
    texts = [w["text"] for r in rows for w in r.get("rewrites") or []]
    seen = Counter(texts)
    with_rw = [r for r in rows if r.get("rewrites")]
    issue_krs = Counter(c for r in rows for c in set(r.get("issues") or []))
    need = sum(bool(r.get("needs_work")) for r in rows)
    return {
        "scored": len(scored),
        "unscored_ambiguous": len(rows) - len(scored),
        "accuracy": round(correct / len(scored), 4) if scored else None,
        "per_class": per_class,
        "confusion": confusion,
        "per_tag": per_tag,
        "per_org": per_org,
        "rewrite_checks": {k: checks.get(k, 0) for k in REWRITE_CHECKS},
        "slots": {"gold": None, "filled": filled, "right": right, "misplaced": filled - right,
                  "accuracy": round(right / filled, 4) if filled else None},
        "target_kept": {"eligible": len(kept), "kept": sum(kept),
                        "share": round(sum(kept) / len(kept), 4) if kept else None},
        "variety": {
            "krs_with_rewrites": len(with_rw), "distinct_rewrites": len(seen),
            "distinct_per_kr": round(len(seen) / len(with_rw), 3) if with_rw else None,
            "first_unique_share": round(sum(seen[r["rewrites"][0]["text"]] == 1 for r in with_rw) / len(with_rw), 4)
            if with_rw else None,
            "generic_rewrites": sum(_generic(w.get("metric") or "") for r in rows for w in r.get("rewrites") or []),
        },
        "need_work": {"krs": need, "share": round(need / len(rows), 4) if rows else None},
        "top_issues": [{"code": c, "krs": n, "share": round(n / len(rows), 4)} for c, n in issue_krs.most_common(3)],
        "statuses": dict(Counter(r["status"] for r in rows)),
    }


def _load_run(path: str | Path) -> dict[str, dict[str, Any]]:
    p = Path(path)
    log = p / "samples.jsonl" if p.is_dir() else p
    if not log.is_file():
        raise InputError(str(path), None, "not an eval run (no samples.jsonl)")
    return {row["id"]: row for _, row in _json_lines(log.read_text("utf-8"), str(log))}


def compare(run_a: str | Path, run_b: str | Path) -> list[dict[str, Any]]:
    """Samples whose prediction differs between two runs, with which run was right."""
    a, b = _load_run(run_a), _load_run(run_b)
    flips = []
    for sid, ra in a.items():
        rb = b.get(sid)
        if rb is None or ra["predicted"] == rb["predicted"]:
            continue
        flips.append({"id": sid, "kr": ra["kr"], "label": ra["label"], "a": ra["predicted"], "b": rb["predicted"],
                      "change": ("fixed" if rb.get("correct") else "broke" if ra.get("correct") else "changed")})
    return flips


# ------------------------------------------------------------------------------------ plan eval
#
# `krcoach eval --plans [DIR]`: multi-team plans with their planted findings. DIR holds plans (a
# file with teams in it, or a folder of files where each file's stem is a team) and gold.jsonl:
#   {"plan": NAME, "split": "dev"|"heldout", "expect": [
#      {"kind": "conflict"|"duplicate", "krs": [TEXT, TEXT]},      # a piece of each KR's text
#      {"kind": "dependency", "kr": TEXT, "on": TEAM},
#      {"kind": "conflict"|"duplicate", "teams": [TEAM, TEAM]},  # or at the team level only
#      {"kind": "dependency", "from": TEAM, "on": TEAM},
#      {"kind": "wrong_direction"|"flat_target"|"sandbagging", "kr": TEXT}]}
# Each predicted finding is right when it covers a planted one (precision); each planted finding
# is found when a prediction covers it (recall). Plans with no planted finding count every
# prediction against precision.

PLAN_KINDS = ("conflict", "duplicate", "dependency", "wrong_direction", "flat_target", "sandbagging")
PLAN_FILES = (".md", ".markdown", ".txt", ".csv", ".tsv", ".jsonl", ".ndjson", ".json")


def load_plan(path: str | Path) -> OKRSet:
    """A plan: one file (teams from headings or a team column), or a folder of files, each file's
    stem the team of the KRs that name none."""
    from krcoach.coach import merge_sets
    from krcoach.formats import name_team, read_path, team_from_name

    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in PLAN_FILES)
        if not files:
            raise InputError(str(p), None, "no plan files in this folder")
        return merge_sets([name_team(read_path(f), team_from_name(str(f))) for f in files])
    return read_path(p)


def load_plan_gold(folder: str | Path) -> list[dict[str, Any]]:
    gold_path = Path(folder) / "gold.jsonl"
    if not gold_path.is_file():
        raise InputError(str(gold_path), None, "no such file: a plan folder needs gold.jsonl")
    rows = []
    for n, row in _json_lines(gold_path.read_text("utf-8"), str(gold_path)):
        if not isinstance(row, dict) or "plan" not in row or not isinstance(row.get("expect"), list):
            raise InputError(str(gold_path), f"line {n}", "expected {\"plan\": ..., \"expect\": [...]}")
        for e in row["expect"]:
            if e.get("kind") not in PLAN_KINDS:
                raise InputError(str(gold_path), f"line {n}", f"unknown kind {e.get('kind')!r}: use one of "
                                 + ", ".join(PLAN_KINDS))
        row.setdefault("split", "dev")
        rows.append(row)
    return rows


def plan_predictions(result: Any) -> list[dict[str, Any]]:
    """What a reviewed plan predicts, in the gold's terms: KR texts per finding."""
    preds: list[dict[str, Any]] = []
    plan = result.plan
    for f in plan.findings if plan is not None else []:
        if f.code in ("conflict", "duplicate"):
            preds.append({"kind": f.code, "krs": [k.kr for k in [*f.krs, *f.also]], "teams": f.teams,
                          "message": f.message})
        elif f.code == "dependency":
            preds.append({"kind": "dependency", "kr": f.krs[0].kr, "on": f.on_team, "teams": f.teams,
                          "message": f.message})
    for r in result.kr_reviews():
        for i in r.issues:
            if i.code in ("wrong_direction", "flat_target", "sandbagging"):
                preds.append({"kind": i.code, "kr": r.kr, "team": r.team, "message": i.message})
    return preds


def _covers(pred: dict[str, Any], gold: dict[str, Any]) -> bool:
    if pred["kind"] != gold["kind"]:
        return False
    if gold["kind"] in ("conflict", "duplicate") and "krs" not in gold:  # gold names the two teams only
        return {_team_key(t) for t in pred.get("teams") or []} == {_team_key(t) for t in gold["teams"]}
    if gold["kind"] == "dependency" and "kr" not in gold:  # gold names the team that depends and on whom
        return (_team_key((pred.get("teams") or [None])[0]) == _team_key(gold["from"])
                and _team_key(pred.get("on")) == _team_key(gold.get("on")))
    if gold["kind"] in ("conflict", "duplicate"):
        texts = [t.casefold() for t in pred["krs"]]
        hits = [next((i for i, t in enumerate(texts) if g.casefold() in t), None) for g in gold["krs"]]
        return all(h is not None for h in hits) and len(set(hits)) == len(hits)
    if gold["kr"].casefold() not in pred["kr"].casefold():
        return False
    return gold["kind"] != "dependency" or _team_key(pred.get("on")) == _team_key(gold.get("on"))


def score_plans(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Precision and recall per finding kind, over all plans and per split."""
    def block(selected: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind in PLAN_KINDS:
            preds = [p for r in selected for p in r["predicted"] if p["kind"] == kind]
            right = sum(p["right"] for p in preds)
            gold = [g for r in selected for g in r["expected"] if g["kind"] == kind]
            found = sum(g["found"] for g in gold)
            out[kind] = {"predicted": len(preds), "right": right, "planted": len(gold), "found": found,
                         "precision": round(right / len(preds), 4) if preds else None,
                         "recall": round(found / len(gold), 4) if gold else None}
        return out

    splits = sorted({r["split"] for r in rows})
    return {"plans": len(rows), "all": block(rows),
            **{split: {"plans": sum(r["split"] == split for r in rows), **block([r for r in rows if r["split"] == split])}
               for split in splits}}


def run_plan_eval(folder: str | Path, engine: Engine, report_dir: str | Path | None = None) -> dict[str, Any]:
    """Review every plan of `folder` (with the plan review), score against gold.jsonl, and log."""
    from krcoach.coach import review

    gold_rows = load_plan_gold(folder)
    started = time.time()
    rows: list[dict[str, Any]] = []
    for g in gold_rows:
        okrs = load_plan(Path(folder) / g["plan"])
        result = review(okrs, engine, plan=True)
        preds = plan_predictions(result)
        expected = [dict(e) for e in g["expect"]]
        for p in preds:
            p["right"] = any(_covers(p, e) for e in expected)
        for e in expected:
            e["found"] = any(_covers(p, e) for p in preds)
        rows.append({"plan": g["plan"], "split": g["split"], "predicted": preds, "expected": expected,
                     "teams": [t.team for t in result.plan.teams] if result.plan else [],
                     "krs": len(result.kr_reviews())})
    metrics = score_plans(rows)
    metrics["seconds"] = round(time.time() - started, 3)
    gold_bytes = (Path(folder) / "gold.jsonl").read_bytes()
    manifest = {
        "krcoach_version": __version__,
        "git_revision": _git_revision(),
        "plans": str(folder),
        "gold_sha256": hashlib.sha256(gold_bytes).hexdigest(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        **_engine_manifest(engine),
        "metrics": metrics,
    }
    if report_dir is not None:
        report = Path(report_dir)
        report.mkdir(parents=True, exist_ok=True)
        with (report / "plans.jsonl").open("w", encoding="utf-8") as log:
            for r in rows:
                log.write(json.dumps(r, ensure_ascii=False) + "\n")
        (report / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
    manifest["rows"] = rows
    return manifest
