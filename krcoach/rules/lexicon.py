"""The rules engine's vocabulary, loaded from `data/lexicon.json` and compiled once.

Coaches extend the word lists in the JSON file; this module only turns them into fast matchers:
a phrase matcher per list (dictionary look-ups over word n-grams: a regex alternation of hundreds
of phrases is tried at every character and was the engine's bottleneck) and a verb-form -> lemma
table so that "shipped", "ships" and "shipping" all count as "ship".
"""

from __future__ import annotations

import re
from bisect import bisect_left
from functools import cache, lru_cache
from typing import Iterator

from krcoach.data import load_json
from krcoach.rules import fastre


def _inflections(verb: str) -> set[str]:
    """Regular English inflections of a base-form verb (good enough for matching, not grammar)."""
    forms = {verb, verb + "s", verb + "ed", verb + "ing", verb + "d", verb + "es"}
    if verb.endswith("e"):
        forms |= {verb[:-1] + "ing", verb + "d"}
    if verb.endswith("y") and len(verb) > 2 and verb[-2] not in "aeiou":
        forms |= {verb[:-1] + "ied", verb[:-1] + "ies"}
    # re.fullmatch(r".*[^aeiou][aeiou][bdgklmnprt]", verb): consonant, vowel, consonant at the end
    if 3 <= len(verb) <= 5 and verb[-1] in "bdgklmnprt" and verb[-2] in "aeiou" and verb[-3] not in "aeiou" \
            and "\n" not in verb:
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


_TOKEN = fastre.lazy(r"[\w'’][\w'’/:.+-]*[\w+]|[\w]")


@lru_cache(maxsize=4096)
def _split(text: str) -> tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]:
    """A text's tokens, lower-cased, with their start and end offsets: read once per text."""
    if text.isascii():  # lower-casing keeps every offset: do it once
        found = list(_TOKEN.finditer(text.lower()))
        words = tuple([m.group() for m in found])
    else:
        found = list(_TOKEN.finditer(text))
        words = tuple([m.group().lower() for m in found])
    return words, tuple([m.start() for m in found]), tuple([m.end() for m in found])


_WORD_RUN = fastre.lazy(r"\w+")
#: The last text's whole words (see `whole_words`): (text, words), read and replaced whole.
_LAST_WORDS: list[tuple[str | None, frozenset[str] | None]] = [(None, None)]


def whole_words(text: str) -> frozenset[str] | None:
    """The text's maximal runs of word characters (regex `\\w`), lower-cased, taken from the one
    tokenization of the text (`_split`); None where a case-insensitive pattern may match a word
    that is not among them: a text holding one of the letters `re.I` folds to an ASCII one
    (`fastre.FOLDING`: "uſers" matches "users").

    Exact because a token never cuts a run of word characters: `_TOKEN` starts at the first word
    character after the last token (or at an apostrophe before it), and its greedy middle takes
    every word character that follows, giving back only trailing punctuation. So every run is
    inside one token, and splitting the tokens that hold punctuation ("power-users") at the
    non-word characters gives every run. Kept for the last text: the rules ask it a dozen times."""
    last = _LAST_WORDS[0]
    if text is last[0]:
        return last[1]
    if not text.isascii() and any(c in text for c in fastre.FOLDING):
        words = None
    else:
        tokens = _split(text)[0]
        joined = " ".join(tokens)  # no token holds a space: the runs of each, apart
        # Tokens of letters and digits only (nearly always) are the runs themselves: str.isalnum
        # is `\w` without the underscore.
        words = frozenset(tokens) if joined.replace(" ", "").isalnum() else frozenset(_WORD_RUN.findall(joined))
    _LAST_WORDS[0] = (text, words)
    return words


class WordGate:
    """A pattern searched only in texts that hold the words every match of it holds.

    Most KRs contain none of the words a rare pattern needs ("users can", "rolled out to 5% of
    traffic"), yet each search walks the whole text. `alternatives` are tuples of word sets: every
    match holds, as whole words (`whole_words`: maximal runs of word characters, lower-cased), one
    word of each set of at least one tuple. Where a text's words meet no tuple, `search` answers
    None without searching. Each gate's sets are derived by hand from its pattern, where a word is
    bounded on both sides by a non-word character (`\\b` next to a letter, `\\s`, a hyphen) in
    every alternative; `tests/test_speedups.py` checks every gate against its plain pattern."""

    __slots__ = ("pattern", "alternatives")

    def __init__(self, pattern: fastre.Pattern, *alternatives: tuple[frozenset[str], ...]) -> None:
        self.pattern = pattern
        self.alternatives = alternatives

    def open(self, text: str) -> bool:
        """Whether `pattern` may match in `text` (False only where it certainly does not)."""
        last = _LAST_WORDS[0]
        words = last[1] if text is last[0] else whole_words(text)
        if words is None:
            return True
        for sets in self.alternatives:
            for needed in sets:
                if words.isdisjoint(needed):
                    break
            else:
                return True
        return False

    def search(self, text: str) -> re.Match[str] | None:
        return self.pattern.search(text) if self.open(text) else None

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self.pattern.finditer(text) if self.open(text) else iter(())


def words(spec: str) -> frozenset[str]:
    """A word set for a `WordGate`, written as space-separated words."""
    return frozenset(spec.split())


def _tokens(text: str) -> tuple[tuple[str, int, int], ...]:
    return tuple(zip(*_split(text)))


class PhraseMatch:
    """The part of `re.Match` the engine uses."""

    __slots__ = ("_text", "_start", "_end")

    def __init__(self, text: str, start: int, end: int) -> None:
        self._text, self._start, self._end = text, start, end

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._end

    def group(self, _: int = 0) -> str:
        return self._text[self._start:self._end]


class SharedScan:
    """Every registered phrase list matched in one pass over a text's tokens.

    The parser asks a dozen lists about the same KR; walking its tokens once for all of them,
    instead of once per list, was the largest single saving in the rules engine. The result per
    list is exactly what that list's own left-to-right, longest-first scan finds.
    """

    def __init__(self) -> None:
        #: A trie of every list's phrases: word -> [slots of the phrases that end here, next words].
        self.trie: dict[str, list] = {}
        self.slots = 0
        self.scan = lru_cache(maxsize=512)(self._scan)
        self._last: tuple[str | None, dict[int, list[PhraseMatch]]] = (None, {})

    def found(self, text: str) -> dict[int, list[PhraseMatch]]:
        """Every list's matches in `text`: `scan`, with the last text's answer kept at hand (the
        parser asks a dozen lists about the same text in a row)."""
        last, out = self._last
        if text is not last:
            out = self.scan(text)
            self._last = (text, out)
        return out

    def share(self, matchers: list[PhraseMatcher]) -> None:
        """Answer every whole-text search of `matchers` from one scan (texts scanned before are
        scanned again: their answers lack the new lists)."""
        self.scan.cache_clear()
        self._last = (None, {})
        for matcher in matchers:
            matcher.shared, matcher.slot = self, self.slots
            self.slots += 1
            for keys in matcher.first.values():
                for key in keys:
                    level, node = self.trie, None
                    for word in key:
                        node = level.get(word)
                        if node is None:
                            node = level[word] = [(), {}]
                        level = node[1]
                    node[0] += (matcher.slot,)  # type: ignore[index]

    def _scan(self, text: str) -> dict[int, list[PhraseMatch]]:
        """slot -> that list's matches in `text` (lists with none are absent)."""
        words, starts, ends = _split(text)
        out: dict[int, list[PhraseMatch]] = {}
        next_free: dict[int, int] = {}  # a list's matches do not overlap
        trie = self.trie
        count = len(words)
        for i, word in enumerate(words):
            node = trie.get(word)
            if node is None:
                continue
            found = []  # (length, slots) of the phrases starting here, shortest first
            n = 1
            while True:
                if node[0]:
                    found.append((n, node[0]))
                if i + n >= count:
                    break
                node = node[1].get(words[i + n])
                if node is None:
                    break
                n += 1
            for n, slots in reversed(found):  # longest first: a list's first hit here is its longest
                for slot in slots:
                    if next_free.get(slot, 0) > i:  # inside its last match, or matched longer here already
                        continue
                    match = PhraseMatch(text, starts[i], ends[i + n - 1])
                    if slot in out:
                        out[slot].append(match)
                    else:
                        out[slot] = [match]
                    next_free[slot] = i + n
        return out


class PhraseMatcher:
    """Whole-word, case-insensitive, leftmost-longest phrase matching with set look-ups."""

    shared: SharedScan | None = None
    slot = -1

    def __init__(self, phrases: list[str]) -> None:
        # first word -> phrases starting with it, longest first: most words miss at once.
        self.first: dict[str, list[tuple[str, ...]]] = {}
        seen: set[tuple[str, ...]] = set()
        for p in phrases:  # thousands of phrases at start-up: keep this loop lean
            # Words and spaces only (nearly all): the tokens are the words; else the token pattern.
            key = tuple(p.lower().split()) if p.replace(" ", "").isalnum() else \
                tuple(t.lower() for t in _TOKEN.findall(p))
            if key and key not in seen:
                seen.add(key)
                self.first.setdefault(key[0], []).append(key)
        for keys in self.first.values():
            keys.sort(key=len, reverse=True)

    def _at(self, words: tuple[str, ...], i: int) -> int:
        """Length in tokens of the longest phrase starting at token i (0 when none)."""
        keys = self.first.get(words[i])
        if not keys:
            return 0
        for key in keys:
            n = len(key)
            if n == 1 or words[i:i + n] == key:
                return n
        return 0

    def finditer(self, text: str, pos: int = 0) -> list[PhraseMatch]:
        if pos == 0 and self.shared is not None:
            return list(self.shared.found(text).get(self.slot, ()))
        words, starts, ends = _split(text)
        out: list[PhraseMatch] = []
        i = bisect_left(starts, pos)  # the tokens before `pos` are skipped
        first = self.first
        while i < len(words):
            if words[i] not in first:
                i += 1
                continue
            n = self._at(words, i)
            if n:
                out.append(PhraseMatch(text, starts[i], ends[i + n - 1]))
                i += n
            else:
                i += 1
        return out

    def search(self, text: str, pos: int = 0) -> PhraseMatch | None:
        found = self.finditer(text, pos)
        return found[0] if found else None

    def match(self, text: str, pos: int = 0) -> PhraseMatch | None:
        """A phrase starting exactly at `pos` (after optional spaces, like the regexes did not)."""
        words, starts, ends = _split(text)
        i = bisect_left(starts, pos)
        if i == len(starts) or starts[i] != pos:
            return None
        n = self._at(words, i)
        return PhraseMatch(text, pos, ends[i + n - 1]) if n else None

    def match_within(self, text: str, pos: int, skip: int) -> PhraseMatch | None:
        """A phrase starting at one of the first `skip` + 1 words at or after `pos`."""
        words, starts, ends = _split(text)
        first = bisect_left(starts, pos)
        for i in range(first, min(first + skip + 1, len(words))):
            n = self._at(words, i)
            if n:
                return PhraseMatch(text, starts[i], ends[i + n - 1])
        return None

    def fullmatch(self, text: str) -> PhraseMatch | None:
        m = self.match(text, 0)
        return m if m and m.end() == len(text.rstrip()) else None


class CompoundMatcher(PhraseMatcher):
    """Whole phrases, plus single words that end a compound ("Mittelstands|kunden", "klant|tevredenheid")."""

    def __init__(self, phrases: list[str]) -> None:
        super().__init__(phrases)
        self.suffixes = tuple(p for p in phrases if " " not in p and len(p) >= 5)

    def finditer(self, text: str, pos: int = 0) -> list[PhraseMatch]:
        found = super().finditer(text, pos)
        words, starts, ends = _split(text)
        long_words = [i for i, word in enumerate(words) if len(word) > 8]  # most texts have none
        if not long_words:
            return sorted(found, key=lambda m: m.start())
        taken = {m.start() for m in found}
        for i in long_words:
            start = starts[i]
            if start >= pos and start not in taken and words[i].endswith(self.suffixes):
                found.append(PhraseMatch(text, start, ends[i]))
        return sorted(found, key=lambda m: m.start())


def _whole_words(pattern: str) -> str:
    """`pattern` matched as whole words where it starts or ends with a word ("<system>" keeps its edges)."""
    starts, ends = pattern[:1].isalpha() or pattern[:1] == "(", pattern[-1:].isalpha() or pattern[-1:] == ")"
    return ("(?<![\\w])" if starts else "") + f"(?:{pattern})" + ("(?![\\w])" if ends else "")


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
        # Later groups win on conflicts: "hold" is both activity and maintain; the parser decides
        # from the rest of the sentence (`anatomy.parse`), so keep the more specific outcome reading.
        self.activity_lemmas = set(groups["activity"])
        for cls, verbs in groups.items():
            for verb in verbs:
                for form in _inflections(verb) if " " not in verb else {verb}:
                    self.verb_lemma[form] = verb
                    self.verb_class[form] = cls
        #: The word lists the rules test words against, as sets (a list is scanned at every test).
        self.activity_verb_set = frozenset(data["activity_verbs"])
        self.actor_action_set = frozenset(data["actor_actions"])
        self.hiring_verb_set = frozenset(data["hiring_verbs"])
        #: Every verb the lexicon knows in its base form (lemmas and people's actions).
        self.base_verbs = self.actor_action_set | frozenset(self.verb_lemma.values())
        self.decrease_verbs = set(data["decrease_verbs"])
        self.about_metric_verbs = frozenset(data["work_about_a_metric_verbs"])
        self.acquisition_verbs = frozenset(data["acquisition_verbs"])
        self.strong_milestones = fastre.compile(
            r"\b(?:" + "|".join(p.replace("*", r"\w*").replace(" ", r"\s?") for p in data["strong_milestones"]) + r")\b",
            re.I)
        self.change_phrases = PhraseMatcher([v for v in groups["change"] if " " in v])
        self.deliverables = PhraseMatcher(data["deliverables"])
        self.results = PhraseMatcher(data["result_terms"])
        self.results_foreign = CompoundMatcher(data["result_terms_other_languages"])
        self.actors = PhraseMatcher(data["actors"])
        self.actor_actions = PhraseMatcher(
            sorted({f for v in data["actor_actions"] for f in _inflections(v)} | set(data["actor_actions"])))
        self.completion = PhraseMatcher(data["completion_states"])
        self.research = PhraseMatcher(data["research_activities"])
        self.hiring = PhraseMatcher(data["hiring_terms"])
        self.hiring_verbs = PhraseMatcher(data["hiring_verbs"])
        self.milestones = PhraseMatcher(data["milestone_terms"])
        self.service_levels = PhraseMatcher(data["service_level_terms"])
        self.satisfaction = PhraseMatcher(data["satisfaction_terms"])
        self.share_subjects = PhraseMatcher(data["own_share_subjects"])
        self.share_predicates = PhraseMatcher(data["own_share_predicates"])
        self.vague = PhraseMatcher(data["vague_words"])
        #: result word -> (kind, verb): who changes when it moves, for the outcome why.
        self.effects: dict[str, tuple[str, str]] = {
            " ".join(_split(k)[0]): (v[0], v[1]) for k, v in data.get("why_effects", {}).items()
            if not k.startswith("_")}
        self.effect_terms = PhraseMatcher(list(self.effects))
        # Whole words only: "respond with" must not fire on "respond within 1 hour", nor "override"
        # on "price overrides".
        self.injection = fastre.compile("|".join(_whole_words(p) for p in data["injection_patterns"]), re.I)
        # A count followed (within two words) by a deliverable: "5 customer interviews".

        activity_forms = [f for v in groups["activity"] for f in _inflections(v)]
        self.activity_any = PhraseMatcher(activity_forms)
        SharedScan().share([m for m in vars(self).values() if isinstance(m, PhraseMatcher)])

    def classify_verb(self, word: str) -> tuple[str | None, str | None]:
        """(lemma, class) of a word if it is a verb the lexicon knows."""
        w = word.lower()
        return self.verb_lemma.get(w), self.verb_class.get(w)


@cache
def lexicon() -> Lexicon:
    return Lexicon(load_json("lexicon.json"))


@cache
def catalogue() -> dict:
    return load_json("catalogue.json")


@cache
def catalogue_index() -> tuple[PhraseMatcher, dict[str, list[int]]]:
    """One matcher over every catalogue term, and which entries each term belongs to."""
    owners: dict[str, list[int]] = {}
    for i, entry in enumerate(catalogue()["entries"]):
        for term in entry["match"]:
            owners.setdefault(" ".join(_split(term)[0]), []).append(i)
    matcher = PhraseMatcher(list(owners))
    lexicon().deliverables.shared.share([matcher])  # type: ignore[union-attr] - answered by the KR's one scan
    return matcher, owners
