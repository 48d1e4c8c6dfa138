"""Offline evaluation: an engine over a labelled dataset, scored sample by sample.

Shaped like an inspect_ai eval: dataset (labelled KRs) + solver (an engine through `coach`) +
scorers (label match, rewrite checks). Every sample's input, target, output and score goes to a
JSONL log beside a manifest (engine, model, endpoint, prompt version, git revision, dataset hash),
so two runs can be compared sample by sample with `compare`.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .anatomy import invented_numbers, parse_rewrite
from .coach import iter_review
from .engine import Engine
from .formats import InputError
from .models import MAX_KR_CHARS, KeyResult, KRReview, Objective, OKRSet
from .rules import classify_text

LABELS = ("output", "outcome")


@dataclass
class Sample:
    id: str
    kr: str
    objective: str | None
    label: str
    tags: list[str] = field(default_factory=list)
    rationale: str | None = None


def load_dataset(path: str | Path) -> list[Sample]:
    """Read a labelled JSONL dataset, failing with one line that names the row and field."""
    p = Path(path)
    name = str(path)
    if not p.is_file():
        raise InputError(name, None, "no such file" if not p.exists() else "is not a file")
    samples: list[Sample] = []
    seen: set[str] = set()
    try:
        lines = p.read_text("utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise InputError(name, None, "text is not UTF-8") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"line {n}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(name, where, f"not valid JSON ({exc.msg})") from None
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
        samples.append(Sample(id=sid, kr=" ".join(kr.split()), objective=rec.get("objective"),
                              label=label, tags=[str(t) for t in tags], rationale=rec.get("rationale")))
    if not samples:
        raise InputError(name, None, "no samples")
    return samples


def _as_okrset(samples: list[Sample]) -> OKRSet:
    groups: dict[str | None, list[KeyResult]] = {}
    for s in samples:
        groups.setdefault(s.objective, []).append(KeyResult(id=s.id, kr=s.kr))
    return OKRSet(objectives=[Objective(title=t, krs=k) for t, k in groups.items()])


def check_rewrites(review: KRReview, objective: str | None) -> dict[str, int]:
    """Rewrite checks: parses as metric/from/to/by; no invented number; output -> outcome."""
    out = Counter(rewrites=0, unparsable=0, invented_numbers=0, not_outcome=0)
    for rw in review.rewrites:
        out["rewrites"] += 1
        if parse_rewrite(rw.text) is None:
            out["unparsable"] += 1
        if invented_numbers(rw.text, review.kr, objective or "", *rw.assumptions):
            out["invented_numbers"] += 1
        if review.kind == "output" and classify_text(rw.text) != "outcome":
            out["not_outcome"] += 1
    return dict(out)


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


def run_eval(dataset: str | Path, engine: Engine, report_dir: str | Path, *, concurrency: int = 4) -> dict[str, Any]:
    """Run, score and log. Returns the metrics dict that is also written into the manifest."""
    samples = load_dataset(dataset)
    by_id = {s.id: s for s in samples}
    report = Path(report_dir)
    report.mkdir(parents=True, exist_ok=True)
    started = time.time()
    rows: list[dict[str, Any]] = []
    with (report / "samples.jsonl").open("w", encoding="utf-8") as log:
        for obj_review in iter_review(_as_okrset(samples), engine, concurrency=concurrency):
            for r in obj_review.krs:
                s = by_id[r.id]
                checks = check_rewrites(r, s.objective)
                row = {
                    "id": s.id, "kr": s.kr, "objective": s.objective, "label": s.label, "tags": s.tags,
                    "predicted": r.kind, "scored": s.label in LABELS,
                    "correct": (r.kind == s.label) if s.label in LABELS else None,
                    "status": r.status, "error": r.error, "why": r.why,
                    "issues": [i.code for i in r.issues], "rewrites": [w.model_dump() for w in r.rewrites],
                    "rewrite_checks": checks,
                }
                rows.append(row)
                log.write(json.dumps(row, ensure_ascii=False) + "\n")
    metrics = score(rows)
    metrics["seconds"] = round(time.time() - started, 3)
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
    return {
        "scored": len(scored),
        "unscored_ambiguous": len(rows) - len(scored),
        "accuracy": round(correct / len(scored), 4) if scored else None,
        "per_class": per_class,
        "confusion": confusion,
        "per_tag": per_tag,
        "rewrite_checks": {k: checks.get(k, 0) for k in ("rewrites", "unparsable", "invented_numbers",
                                                         "not_outcome")},
        "statuses": dict(Counter(r["status"] for r in rows)),
    }


def _load_run(path: str | Path) -> dict[str, dict[str, Any]]:
    p = Path(path)
    log = p / "samples.jsonl" if p.is_dir() else p
    if not log.is_file():
        raise InputError(str(path), None, "not an eval run (no samples.jsonl)")
    rows = {}
    for n, line in enumerate(log.read_text("utf-8").splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(str(log), f"line {n}", f"not valid JSON ({exc.msg})") from None
            rows[row["id"]] = row
    return rows


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
