"""Which catalogue entry a KR is about: the impact a piece of work is usually meant to have.

`data/catalogue.json` maps activities ("case studies", "the campaign", "time to hire") to the
metrics they are meant to move. An output's why asks about that intent and its rewrites suggest
those metrics, but only when the evidence is more than one stray keyword (`_match_catalogue`) and
only metrics that stay in the KR's own domain (`_fits`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from krcoach.rules import fastre
from krcoach.rules.lexicon import catalogue, catalogue_index

@lru_cache(maxsize=1)
def _generic_heads() -> frozenset[str]:
    return frozenset(catalogue().get("generic_heads", ()))


@lru_cache(maxsize=4096)
def _catalogue_terms(text: str) -> dict[int, frozenset[str]]:
    """Catalogue entry -> the distinct terms of it that `text` contains."""
    matcher, owners = catalogue_index()
    found: dict[int, set[str]] = {}
    for term in {" ".join(m.group(0).lower().split()) for m in matcher.finditer(text)}:
        for i in owners.get(term, []):
            found.setdefault(i, set()).add(term)
    return {i: frozenset(t) for i, t in found.items()}


@lru_cache(maxsize=1)
def _own_words() -> tuple[str, ...]:
    """Per catalogue entry, the words its metrics and intent speak of (lower case), joined once."""
    return tuple(" ".join(entry["metrics"] + [entry["intent"]]).lower() for entry in catalogue()["entries"])


@lru_cache(maxsize=4096)
def _match_catalogue(text: str, objective: str | None = None, head: str | None = None) -> dict | None:
    """The catalogue entry the KR is about, when the evidence is more than one stray keyword.

    An entry counts when the KR names it with a phrase of several words ("case studies", "time to
    hire"), when its one word is the head of what the KR works on ("Launch the campaign"), or when
    two of its terms meet in the KR and its objective. One word elsewhere in the sentence ("cases",
    "design") is too weak: a wrong-field metric is worse than the question the why asks instead.
    """
    kr_terms = _catalogue_terms(text)
    if not kr_terms:
        return None
    obj_terms = _catalogue_terms(objective) if objective else {}
    ranked: list[tuple[int, int]] = []
    for i, terms in kr_terms.items():
        support = terms | obj_terms.get(i, frozenset())
        # The head counts alone only when every other field named beside it is one its metrics
        # speak of: in "a community survey" the survey serves the community, not customer research;
        # "support documentation" fits "Support tickets about documented topics".
        lead = text.split(" ", 1)[0].lower()  # the verb ("Launch the campaign") names no domain
        own_words = _own_words()[i]
        alone = not any(t not in own_words for j, other in kr_terms.items() if j != i for t in other - {lead})
        if not (any(" " in t or "-" in t for t in terms) or len(support) >= 2 or (
                alone and head and head in terms and head not in _generic_heads())):
            continue
        score = sum(len(t) for t in terms) + 3 * len(obj_terms.get(i, ()))
        ranked.append((score, i))
    # The best-supported entry whose metrics stay in the KR's own domain (`_fits`), with only those.
    for _, i in sorted(ranked, key=lambda si: (-si[0], si[1])):
        entry = catalogue()["entries"][i]
        fitting = [m for m in entry["metrics"] if _fits(m, text, objective)]
        if fitting:
            return {**entry, "metrics": fitting}
    return None


def _fits(metric: str, text: str, objective: str | None) -> bool:
    """Whether the KR or its objective uses a word the catalogue metric needs (`metric_needs` in
    catalogue.json): no sales leads for a volunteer events committee, no hiring funnel for adding
    a developer, no "weekly active users of the new capability" where nobody speaks of users."""
    needed = _needed_words(metric)
    return True if needed is None else bool(needed.search(_fits_context(text, objective)))


@lru_cache(maxsize=1024)
def _fits_context(text: str, objective: str | None) -> str:
    # A word capitalised in mid-sentence is a name ("the Patient Lists project"), not the domain.
    return " ".join(_TITLE_WORD.sub(" ", f". {part}") for part in (text, objective or "")).lower()


_PLURAL_S = fastre.lazy(r"(?<=[a-z]{3})s$")


@lru_cache(maxsize=None)
def _needed_words(metric: str) -> re.Pattern[str] | None:
    """The words a catalogue metric needs (`metric_needs`), any of them, singular or plural: one
    pattern per metric (it matches where one of the words' own patterns would)."""
    needs = catalogue().get("metric_needs", {}).get(metric)
    if needs is None:
        return None
    stems = "|".join(re.escape(_PLURAL_S.sub("", w.lower())) for w in needs)
    return fastre.guarded(rf"(?<![\w-])(?:{stems})(?:e?s)?(?![\w-])")


_TITLE_WORD = fastre.lazy(r"(?:(?<=[A-Za-z0-9,;:\"“”'’()] )|(?<=[\"“‘'(]))[A-Z][a-z]+(?:[- ][A-Z][a-z]+)*")
