"""The rules engine's vocabulary, loaded from `data/lexicon.json` and compiled once.

Coaches extend the word lists in the JSON file; this module only turns them into fast matchers:
one alternation regex per list (longest phrase first) and a verb-form -> lemma table so that
"shipped", "ships" and "shipping" all count as "ship".
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources


def _load_json(name: str) -> dict:
    return json.loads(resources.files("krcoach").joinpath(f"data/{name}").read_text("utf-8"))


def _inflections(verb: str) -> set[str]:
    """Regular English inflections of a base-form verb (good enough for matching, not grammar)."""
    forms = {verb, verb + "s", verb + "ed", verb + "ing", verb + "d", verb + "es"}
    if verb.endswith("e"):
        forms |= {verb[:-1] + "ing", verb + "d"}
    if verb.endswith("y") and len(verb) > 2 and verb[-2] not in "aeiou":
        forms |= {verb[:-1] + "ied", verb[:-1] + "ies"}
    if re.fullmatch(r".*[^aeiou][aeiou][bdgklmnprt]", verb) and len(verb) <= 5:
        forms |= {verb + verb[-1] + "ed", verb + verb[-1] + "ing"}
    irregular = {"build": {"built"}, "write": {"wrote", "written"}, "hold": {"held"}, "run": {"ran"},
                 "do": {"did", "done"}, "make": {"made"}, "get": {"got", "gotten"}, "win": {"won"},
                 "begin": {"began", "begun"}, "send": {"sent"}, "bring": {"brought"}, "keep": {"kept"},
                 "set": {"set"}, "cut": {"cut"}, "grow": {"grew", "grown"}, "drive": {"drove", "driven"},
                 "hit": {"hit"}, "lead": {"led"}, "shoot": {"shot"}, "meet": {"met"}, "pay": {"paid"},
                 "choose": {"chose", "chosen"}, "come": {"came"}, "stay": {"stayed"}, "say": {"said"},
                 "feel": {"felt"}, "teach": {"taught"}, "draw": {"drew", "drawn"}}
    forms |= irregular.get(verb, set())
    return forms


def _alternation(phrases: list[str], *, whole_words: bool = True) -> re.Pattern[str]:
    ordered = sorted({p for p in phrases if p}, key=len, reverse=True)
    body = "|".join(re.escape(p) for p in ordered)
    if not whole_words:
        # Other languages build compounds ("Mittelstandskunden"): match inside words too.
        return re.compile(rf"(?:{body})", re.I)
    return re.compile(rf"(?<![\w-])(?:{body})(?![\w-])", re.I)


class Lexicon:
    """Compiled matchers for every list in lexicon.json."""

    def __init__(self, data: dict) -> None:
        self.data = data
        self.verb_lemma: dict[str, str] = {}
        self.verb_class: dict[str, str] = {}
        groups = {
            "activity": data["activity_verbs"] + data["activity_verbs_other_languages"],
            "change": data["change_verbs"] + data["change_verbs_other_languages"],
            "maintain": data["maintain_verbs"],
            "reach": data["reach_verbs"],
        }
        # Later groups win on conflicts: "hold" is both activity and maintain; the classifier
        # decides from the rest of the sentence, so keep the more specific outcome reading.
        for cls, verbs in groups.items():
            for verb in verbs:
                for form in _inflections(verb) if " " not in verb else {verb}:
                    self.verb_lemma[form] = verb
                    self.verb_class[form] = cls
        decrease = "reduce decrease cut lower shrink minimize minimise halve decline drop slash trim shorten"
        self.decrease_verbs = set(decrease.split()) | {
            "reducir", "reduzir", "disminuir", "diminuir", "réduire", "diminuer", "senken", "reduzieren",
            "verringern", "ridurre", "diminuire", "verlagen", "verminderen", "bring down"}
        self.change_phrases = _alternation([v for v in groups["change"] if " " in v])
        self.deliverables = _alternation(data["deliverables"])
        self.results = _alternation(data["result_terms"])
        self.results_foreign = _alternation(data["result_terms_other_languages"], whole_words=False)
        self.actors = _alternation(data["actors"])
        self.actor_actions = _alternation(
            sorted({f for v in data["actor_actions"] for f in _inflections(v)}))
        self.completion = _alternation(data["completion_states"])
        self.research = _alternation(data["research_activities"])
        self.hiring = _alternation(data["hiring_terms"])
        self.hiring_verbs = _alternation(data["hiring_verbs"])
        self.milestones = _alternation(data["milestone_terms"])
        self.service_levels = _alternation(data["service_level_terms"])
        self.satisfaction = _alternation(data["satisfaction_terms"])
        self.share_subjects = _alternation(data["own_share_subjects"])
        self.share_predicates = _alternation(data["own_share_predicates"])
        self.vague = _alternation(data["vague_words"])
        self.injection = re.compile("|".join(f"(?:{p})" for p in data["injection_patterns"]), re.I)
        activity_forms = [f for v in groups["activity"] for f in _inflections(v)]
        self.activity_any = _alternation(activity_forms)

    def classify_verb(self, word: str) -> tuple[str | None, str | None]:
        """(lemma, class) of a word if it is a verb the lexicon knows."""
        w = word.lower()
        return self.verb_lemma.get(w), self.verb_class.get(w)


@cache
def lexicon() -> Lexicon:
    return Lexicon(_load_json("lexicon.json"))


@cache
def catalogue() -> dict:
    return _load_json("catalogue.json")
