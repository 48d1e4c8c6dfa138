"""The learned part of the rules engine's verdict: a logistic regression over structure.

The hand-set scores in `evidence.classify` weigh evidence someone chose; real KRs from
organisations nobody tuned for mix that evidence in ways no fixed weights capture. This model takes
the same structural evidence (who acts, what is measured, the role of every number, the rule
scores) plus the KR's words, and learns how much each is worth from labelled KRs. It is small
(a few thousand weights in `data/verdict_weights.json`), pure Python at prediction time, and
deterministic. Training needs numpy (already installed with gradio) and takes under a second.

`python -m krcoach.rules.verdict --train evals/krs.jsonl [more.jsonl ...]` rebuilds the shipped weights;
the eval's leave-one-organisation-out run calls `fit` itself, so the honest number is measured on
organisations the model never saw.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable

from krcoach.data import load_json
from krcoach.models import Confidence, Kind
from krcoach.rules import fastre
from krcoach.rules.anatomy import about_a_metric, Anatomy, parse
from krcoach.rules.evidence import (
    _GET_OTHERS_TO,
    _HEALTH_LEVEL_GATE,
    _OTHERS_ACT_GATE,
    _OWN_OFFERING,
    _SIGNS_UP_OWN,
    Verdict,
    classify,
)
from krcoach.rules.lexicon import lexicon, WordGate, words
from krcoach.rules.shapes import clean_kr

Row = tuple[str, "str | None", str]  # (kr text, objective or None, "output" | "outcome")

#: The learned weights, a file of `krcoach/data/` (read through `load_json`, written by `--train`).
WEIGHTS_FILE = "verdict_weights.json"
#: Below this distance from 0.5 the verdict is "low" confidence: the evidence is thin or split.
LOW_CONFIDENCE_MARGIN = 0.22
_L2 = 2.0
_MIN_COUNT = 2
_TOKEN = fastre.lazy(r"[a-z][a-z'-]*")
_OUTSIDE_SUBJECT = fastre.lazy(r"^\s*(?:(?:at\s+least|over|more\s+than|≥|>)\s*)?(?:\d[\d,.]*\s?[%k+]*\s+(?:of\s+)?|all\s+|"
                              r"every\s+|the\s+|our\s+|new\s+|active\s+)*", re.I)
_PASSIVE_DONE = fastre.lazy(
    r"^\s*(?:there\s+(?:is|are|will\s+be)\s+(?:a|an)\b|(?:a|an|the)\s+[\w\s-]{1,40}?\s+(?:is|are|has\s+been|have\s+been|"
    r"was|were)\s+(?:\w+ed|built|written|done|agreed|in\s+place|live|available|ready|set\s+up)\b)", re.I)
_PURPOSE = fastre.lazy(r"\b(?:to|so\s+that|in\s+order\s+to)\s+(?:unblock|enable|support|help|improve|increase|reduce|"
                      r"drive|grow|boost|lift|make|allow|let|ensure|attract|retain)\b", re.I)
_STATE = fastre.lazy(r"\b(?:rank(?:ed|ing)?|top\s+\d+|variance|in\s+(?:the\s+)?(?:stage|pipeline|production)|"
                    r"position|share\s+of\s+voice|market\s+share)\b", re.I)
_BARE_COUNT = fastre.lazy(r"^\s*(?:(?:have|get|reach|hit)\s+)?(?:at\s+least\s+)?[$€£]?\d[\d,.]*\s?[kmKM%+]*\s+[a-z]", re.I)
_PEOPLE_AS_OBJECT = fastre.lazy(r"\b(?:from|with|to|for|among)\s+(?:at\s+least\s+)?\d[\d,]*\+?\s+(?:\w+\s+)?"
                               r"(?:users|customers|people|participants|members|developers|companies|teams)\b", re.I)
_OWN_PEOPLE = fastre.lazy(r"\b(?:our|the)\s+(?:team|staff|engineers|employees|volunteers|maintainers|members\s+of\s+staff)\b"
                         r"|\b(?:hires?|headcount|speakers|mentors|ambassadors|trainers)\b", re.I)

# Word gates (`lexicon.WordGate`); each set's words stand between non-word characters in every
# match. _PURPOSE: the verb after `\s+`, before `\b`; "to" after `\b`/`\s+`, before `\s+`, or
# "that" of "so that". _STATE: each alternative's words between `\b`/`\s+` and `\s+`/`\b`.
# _OWN_PEOPLE: "our"/"the" between `\b` and `\s+`, the group after `\s+`, before `\s+`/`\b`; or
# the second alternative's word between `\b` and `\b`. _PEOPLE_AS_OBJECT: the preposition between
# `\b` and `\s+`, the people word between `\s+` and `\b`.
_PURPOSE_GATE = WordGate(_PURPOSE, (
    words("unblock enable support help improve increase reduce drive grow boost lift make allow let ensure attract "
          "retain"), words("to that")))
_STATE_GATE = WordGate(
    _STATE,
    (words("rank ranked ranking top variance position"),),
    (words("in"), words("stage pipeline production")),
    (words("share"), words("voice market")))
_OWN_PEOPLE_GATE = WordGate(
    _OWN_PEOPLE,
    (words("our the"), words("team staff engineers employees volunteers maintainers members")),
    (words("hire hires headcount speakers mentors ambassadors trainers"),))
_PEOPLE_AS_OBJECT_GATE = WordGate(_PEOPLE_AS_OBJECT, (
    words("from with to for among"),
    words("users customers people participants members developers companies teams")))

#: Anatomy fields that are a feature when set: lists ("has_"), flags ("is_") and slots ("slot_").
_FLAG_FEATURES = tuple(
    [(name, "has_" + name) for name in ("deliverables", "results", "actors", "actor_actions", "completion", "milestones",
                                        "service_levels", "satisfaction", "hiring", "research", "change_verbs",
                                        "placeholders")]
    + [(name, "is_" + name) for name in ("capability", "by_actor", "baseline_setup", "hiring_verb", "rollout", "own_share",
                                         "multi_goal")]
    + [(name, "slot_" + name) for name in ("baseline", "target", "comparator", "deadline", "activity_count",
                                           "actor_count", "rate")])


def features(a: Anatomy, v: Verdict, objective: str | None = None) -> dict[str, float]:
    """The evidence the model weighs, as sparse named features (0/1 except the rule scores and
    the objective's words)."""
    lex = lexicon()
    purpose = _PURPOSE_GATE.search(a.text) if a.verb_class == "activity" else None
    if purpose and purpose.start() > 0:
        # What the KR measures is its main clause; the purpose names the change it is for.
        main = parse(a.text[: purpose.start()])
        if main.text:
            a = main
    f: dict[str, float] = {"bias": 1.0, "rule_out": min(v.output_score, 8) / 4, "rule_in": min(v.outcome_score, 8) / 4,
                           "rule=" + v.kind: 1.0}
    text = a.text
    low = text.lower()
    f[f"verb={a.verb_class}"] = 1.0
    fields = a.__dict__  # the anatomy's own fields: a dict read, not 26 attribute look-ups
    for name, key in _FLAG_FEATURES:
        if fields[name]:
            f[key] = 1.0
    if v.external_result:
        f["external_result"] = 1.0
    roles = {q.role for q in a.reading.quantities} if a.reading else set()
    for role in roles:
        f["num_" + role] = 1.0
    if a.reading and a.reading.quantities and not roles & {"target", "baseline", "delta"}:
        f["numbers_not_levels"] = 1.0
    lead = a.leading_verb
    if lead:
        f["lead=" + lead] = 1.0
        if lead in lex.acquisition_verbs and (a.results or a.actors):
            f["acquire_business_result"] = 1.0
    if about_a_metric(a):
        f["work_about_metric"] = 1.0
    subject = _OUTSIDE_SUBJECT.sub("", text)
    if lex.actors.match(subject, 0) and not a.capability:
        f["outside_subject"] = 1.0
    if _PASSIVE_DONE.search(text):
        f["finished_deliverable_state"] = 1.0
    if a.verb_class == "activity" and _PURPOSE_GATE.search(text):
        f["activity_with_purpose"] = 1.0
    if _STATE_GATE.search(text):
        f["position_or_state"] = 1.0
    if _OWN_PEOPLE_GATE.search(text):
        f["own_people"] = 1.0
    if _OTHERS_ACT_GATE.search(text) or (a.by_actor and not a.capability) or _GET_OTHERS_TO.search(text):
        f["others_act"] = 1.0
    if _HEALTH_LEVEL_GATE.search(text):
        f["health_level"] = 1.0
    if _SIGNS_UP_OWN.search(text):
        f["signs_up_own_people"] = 1.0
    if _OWN_OFFERING.search(text):
        f["own_offering"] = 1.0
    if "definition" in roles and ("target" in roles or a.service_levels):
        f["service_level_window"] = 1.0
    if not a.reading or not a.reading.quantities:
        f["no_numbers"] = 1.0
    if _BARE_COUNT.match(text) and not a.verb_class and not a.deliverables:
        f["bare_count_of_things"] = 1.0  # "100 retweets", "$750k in commitments", "Have 200 clubs"
    if a.verb_class == "activity" and _PEOPLE_AS_OBJECT_GATE.search(text):
        f["people_as_object"] = 1.0  # "Gather data from 100 users": the people are the team's sample
    if a.metric and lex.deliverables.search(a.metric) and not lex.results.search(a.metric):
        f["metric_is_deliverable"] = 1.0
    words = _TOKEN.findall(low)
    if words:
        f["first=" + words[0]] = 1.0
    for w in words:
        f["w=" + w] = 1.0
    # The objective's words, at half weight: the same KR reads differently under "Grow sign-ups"
    # than under "Ship the new editor". (Word pairs were tried too: no better on held-out organisations.)
    if objective:
        for key in _objective_features(objective):
            f[key] = 0.5
    return f


@lru_cache(maxsize=2048)
def _objective_features(objective: str) -> tuple[str, ...]:
    return tuple(sorted({"o=" + w for w in _TOKEN.findall(objective.lower())}))


@dataclass
class VerdictModel:
    weights: dict[str, float]

    def probability(self, feats: dict[str, float]) -> float:
        """P(outcome)."""
        w = self.weights
        z = sum([w[k] * x for k, x in feats.items() if k in w])  # a list: the same additions in the same order
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self) -> dict:
        return {"about": "Logistic-regression weights for krcoach.rules.verdict; rebuild with "
                         "`python -m krcoach.rules.verdict --train`.",
                "weights": {k: round(v, 5) for k, v in sorted(self.weights.items()) if abs(v) >= 1e-4}}


@cache
def default_model() -> VerdictModel | None:
    try:
        raw = load_json(WEIGHTS_FILE)
    except FileNotFoundError:
        return None
    return VerdictModel(weights=raw["weights"])


def decide(a: Anatomy, objective: str | None = None,
           model: VerdictModel | None = None) -> tuple[Verdict, Kind, Confidence]:
    """The verdict: the learned weighing of the structural evidence when a model is given, the
    hand-set scores otherwise; "low" confidence when the evidence is thin or split."""
    verdict = classify(a)
    # Measuring, surveying, "understand X": finding out changes nothing, whatever the words around
    # it ("Survey 200 customers") weigh. The model, when there is one, only says how sure to be.
    finding_out = about_a_metric(a) and not a.change_verbs and not a.is_from_to
    if model is None:
        margin = abs(verdict.outcome_score - verdict.output_score)
        return verdict, "output" if finding_out else verdict.kind, "high" if margin >= 1.5 else "low"
    p = model.probability(features(a, verdict, objective))
    if finding_out:
        return verdict, "output", "low" if p > 0.5 + LOW_CONFIDENCE_MARGIN else "high"
    kind: Kind = "outcome" if p > 0.5 else "output"
    return verdict, kind, "low" if abs(p - 0.5) < LOW_CONFIDENCE_MARGIN else "high"


def classify_text(text: str) -> Kind:
    """Classify free text (used by the eval to check that a rewrite reads as an outcome)."""
    return decide(parse(clean_kr(text)), None, default_model())[1]


def _row_features(rows: Iterable[Row]) -> tuple[list[dict[str, float]], list[float]]:
    feats, ys = [], []
    for kr, objective, label in rows:
        a = parse(kr)
        feats.append(features(a, classify(a), objective))
        ys.append(1.0 if label == "outcome" else 0.0)
    return feats, ys


def fit(rows: list[Row], *, l2: float = _L2, iterations: int = 400) -> VerdictModel:
    """Train on labelled rows (kr, objective, label). Deterministic; about a second for 1,000 rows."""
    import numpy as np

    feats, ys = _row_features(r for r in rows if r[2] in ("output", "outcome"))
    counts: dict[str, int] = {}
    for f in feats:
        for k in f:
            counts[k] = counts.get(k, 0) + 1
    vocab = {k: i for i, k in enumerate(sorted(k for k, c in counts.items()
                                               if c >= _MIN_COUNT or not k.startswith(("w=", "o=", "first=", "lead="))))}
    indptr, indices, data = [0], [], []
    for f in feats:
        for k, x in f.items():
            j = vocab.get(k)
            if j is not None:
                indices.append(j)
                data.append(x)
        indptr.append(len(indices))
    idx = np.asarray(indices, dtype=np.int64)
    val = np.asarray(data, dtype=np.float64)
    lengths = np.diff(np.asarray(indptr))
    row_of = np.repeat(np.arange(len(feats)), lengths)
    y = np.asarray(ys)
    n, d = len(y), len(vocab)
    w = np.zeros(d)
    # Adam on the mean log-loss + L2: converges in a few hundred cheap sparse steps.
    m = np.zeros(d)
    s = np.zeros(d)
    reg = np.full(d, l2 / n)
    reg[vocab["bias"]] = 0.0
    for t in range(1, iterations + 1):
        z = np.bincount(row_of, weights=w[idx] * val, minlength=n)
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        g = np.bincount(idx, weights=val * (p - y)[row_of], minlength=d) / n + reg * w
        m = 0.9 * m + 0.1 * g
        s = 0.999 * s + 0.001 * g * g
        w -= 0.05 * (m / (1 - 0.9 ** t)) / (np.sqrt(s / (1 - 0.999 ** t)) + 1e-8)
    names = sorted(vocab, key=vocab.get)
    return VerdictModel(weights={k: float(w[i]) for i, k in enumerate(names)})


def base_rows() -> list[Row]:
    """The project's own labelled KRs (evals/krs.jsonl): the training rows every fit starts from."""
    bundled = resources.files("krcoach.evals") / "krs.jsonl"
    return read_rows(Path(str(bundled)))


def read_rows(path: str | Path) -> list[Row]:
    rows: list[Row] = []
    for line in Path(path).read_text("utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            if rec.get("label") in ("output", "outcome"):
                rows.append((" ".join(str(rec.get("kr") or rec.get("key_result")).split()), rec.get("objective"),
                             rec["label"]))
    return rows


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "--train":
        print("usage: python -m krcoach.rules.verdict --train DATASET.jsonl [DATASET.jsonl ...]", file=sys.stderr)
        return 2
    rows = [r for p in argv[1:] for r in read_rows(p)]
    model = fit(rows)
    out = Path(__file__).resolve().parent.parent / "data" / WEIGHTS_FILE
    out.write_text(json.dumps(model.to_json(), indent=0, sort_keys=False) + "\n", "utf-8")
    print(f"trained on {len(rows):,} rows; {len(model.to_json()['weights']):,} weights -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
