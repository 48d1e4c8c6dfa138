"""Regular expressions for the rules engine: compiled on first use, guarded, and case-folded once.

Three things make the parser's patterns cheaper without changing a single match:

- **Compiled lazily.** `compile` and `lazy` return a `Pattern` that compiles on first use, so a
  command compiles only the patterns its path needs (a one-KR review needs a fraction of them, and
  `krcoach --help` none).
- **A first-character guard** (`compile`). Python's regex engine tries a pattern like
  `(?:at least|over|more than|...)` at every position of the text, walking all the alternatives
  each time. Prefixing a lookahead for the characters a match can start with (`(?=[aomu...])`)
  lets it skip almost every position after one class test (for a case-sensitive pattern, and for
  every twin below, the class goes into the compiled code's info block instead, where the engine
  skips those positions in one C loop: `_guarded_code`). The guard is derived from the pattern
  itself and is a superset of the real first characters, so the matches are exactly those of the
  plain pattern; when the pattern is too loose to analyse (inline flag groups, negated classes, any
  character, a possibly empty match, an anchor at the start), it is compiled as is.
- **A lower-case twin for case-insensitive alternations.** Under `re.I` the engine cannot skip an
  alternative by its first letter (it only does that for case-sensitive literals), so a list of
  forty words costs forty attempts at each position. For ASCII text, `re.I` is exactly "compare in
  lower case": the twin is the same pattern with its letters and classes lowered, compiled without
  `re.I`, and run over `text.lower()`; it finds where the leftmost match starts, and the original
  pattern, anchored there, returns the real match (same groups, original case). The twin is
  compiled with ASCII classes, cheaper to test and the same as Unicode ones on the text it reads
  (`_twin_text`). Text with any non-ASCII character, and any pattern the twin cannot mirror
  exactly (inline flags, back references, the few non-ASCII letters that fold to ASCII ones), use
  the original alone.
"""

from __future__ import annotations

import re
import sys
import _sre
from re import _compiler as _C  # noqa: N812 - the stdlib's own names
from re import _constants as C  # noqa: N812
from re import _parser as P  # noqa: N812
from typing import Any, Callable, Iterator

_CATEGORY = {C.CATEGORY_DIGIT: r"\d", C.CATEGORY_WORD: r"\w", C.CATEGORY_SPACE: r"\s"}
_MAX = sys.maxsize
#: Non-ASCII characters that `re.I` treats as the same letter as an ASCII one (İ ı ~ i, ſ ~ s,
#: KELVIN SIGN ~ k): a pattern holding one cannot be mirrored in lower-case ASCII.
FOLDS_TO_ASCII = frozenset({0x130, 0x131, 0x17F, 0x212A})
#: A twin pays for its extra call only where the alternations are long (see `_cased_branches`).
TWIN_MIN_ALTERNATIVES = 4


class _Unknown(Exception):
    """The pattern uses a construct whose first characters are not worth working out."""


def _char(code: int) -> str:
    return re.escape(chr(code))  # escapes "-", "]", "^" and "\\" too: safe inside a class


def _first_seq(items: P.SubPattern | list) -> tuple[set[str], bool]:
    """Class fragments a match of `items` can start with, and whether it can match empty."""
    found: set[str] = set()
    for op, av in items:
        first, nullable = _first_item(op, av)
        found |= first
        if not nullable:
            return found, False
    return found, True


def _first_item(op: object, av: object) -> tuple[set[str], bool]:  # noqa: PLR0911
    if op is C.LITERAL:
        return {_char(av)}, False  # type: ignore[arg-type]
    if op is C.IN:
        out: set[str] = set()
        for iop, iav in av:  # type: ignore[attr-defined]
            if iop is C.LITERAL:
                out.add(_char(iav))
            elif iop is C.RANGE:
                out.add(f"{_char(iav[0])}-{_char(iav[1])}")
            elif iop is C.CATEGORY and iav in _CATEGORY:
                out.add(_CATEGORY[iav])
            else:  # NEGATE, other categories
                raise _Unknown
        return out, False
    if op is C.SUBPATTERN:
        _group, add_flags, del_flags, sub = av  # type: ignore[misc]
        if add_flags or del_flags:
            raise _Unknown  # the guard would be compiled with different flags
        return _first_seq(sub)
    if op is C.BRANCH:
        out, nullable = set(), False
        for alt in av[1]:  # type: ignore[index]
            first, empty = _first_seq(alt)
            out |= first
            nullable = nullable or empty
        return out, nullable
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        low, _high, sub = av  # type: ignore[misc]
        first, empty = _first_seq(sub)
        return first, empty or low == 0
    if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
        return set(), True  # zero-width: ignoring its constraint only widens the guard
    raise _Unknown


def _guard(parsed: P.SubPattern) -> str | None:
    """The lookahead class for a parsed pattern, or None where a guard is unsafe or useless."""
    try:
        if parsed and parsed[0] == (C.AT, C.AT_BEGINNING):
            return None  # anchored: the engine already tries one position
        first, nullable = _first_seq(parsed)
    except _Unknown:
        return None
    if nullable or not first:
        return None
    return f"(?=[{''.join(sorted(first))}])"


def guarded(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """`re.compile`, with a first-character lookahead when one can be derived safely."""
    return _compile(pattern, flags, True)[0]


def _compile(pattern: str, flags: int, guard: bool) -> tuple[re.Pattern[str], bool]:
    """The pattern compiled from one parse, the guard (when asked and safe) put in front of the
    parsed pattern; and whether a match can be empty. The compiled code comes from the code cache
    when an earlier run left it there (see `CodeCache`)."""
    flags = int(flags)  # a plain int: the compiler tests flags thousands of times, RegexFlag is slow at it
    key = (pattern, flags, guard)
    cached = CODES.get(key)
    if cached is not None:
        return cached
    try:
        return _compile_parts(pattern, flags, guard, key)
    except re.error:
        raise
    except Exception:  # noqa: BLE001 - the re internals this relies on moved (another Python): plain re
        return re.compile(pattern, flags), True


def _compile_parts(pattern: str, flags: int, guard: bool, key: tuple[str, int, bool]) -> tuple[re.Pattern[str], bool]:
    """`_compile` through the regex engine's own parser and code generator (CPython internals)."""
    parsed = P.parse(pattern, flags)
    try:
        nullable = _first_seq(parsed)[1]
    except _Unknown:
        nullable = True
    lookahead = _guard(parsed) if guard else None
    # re._compiler.compile, with its parts kept for the cache
    code = _guarded_code(parsed, flags, lookahead)
    groupindex = dict(parsed.state.groupdict)
    indexgroup = [None] * parsed.state.groups
    for name, i in groupindex.items():
        indexgroup[i] = name
    parts = (flags | int(parsed.state.flags), code, parsed.state.groups - 1, groupindex, tuple(indexgroup), nullable)
    CODES.put(key, parts)
    return _sre.compile(None, *parts[:5]), nullable


def _guarded_code(parsed: P.SubPattern, flags: int, lookahead: str | None) -> list[int]:
    """`re._compiler._code(parsed, flags)` with the first-character guard `lookahead` (or none).

    Where the pattern is case-sensitive and the regex engine found no start of its own to search
    for, the guard's class goes into the code's info block as its "starts with a character from
    this set" (SRE_INFO_CHARSET) rather than in front of the pattern as a lookahead: the engine
    then skips the positions outside the class in one C loop instead of entering the matcher at
    each of them (about a third of a search's time on a KR). Both forms accept the same positions
    (the class is a superset of the pattern's real first characters), so the matches are the same;
    the class compares characters as they are, so a case-insensitive pattern keeps the lookahead.
    `match` and `fullmatch` do not read that part of the info block: they try their one position
    as before."""
    all_flags = flags | int(parsed.state.flags)
    if lookahead is not None and not all_flags & re.I:
        try:
            info: list[int] = []
            _C._compile_info(info, parsed, all_flags)
            lo, hi = info[3], info[4]
            if info[2] == 0 and lo > 0:  # no literal prefix or charset of its own, never empty
                (op, av), = P.parse(lookahead[3:-1], all_flags).data  # "(?=[...])" -> "[...]"
                charset, _cased = _C._optimize_charset(av if op is C.IN else [(op, av)])
                code = [C.INFO, 0, C.SRE_INFO_CHARSET, lo, hi]
                _C._compile_charset(charset, all_flags, code)
                code[1] = len(code) - 1  # the info block's skip
                _C._compile(code, parsed.data, all_flags)
                code.append(C.SUCCESS)
                return code
        except Exception:  # noqa: BLE001 - the compiler internals moved (another Python): the lookahead
            pass
    if lookahead is not None:
        parsed.data[:0] = P.parse(lookahead, flags).data
    return _C._code(parsed, flags)


class CodeCache:
    """Compiled regex code kept between runs, so a short command does not spend a fifth of its
    start-up compiling the parser's patterns: byte code for regular expressions, kept where Python
    keeps this module's byte code (`__pycache__`, or under `sys.pycache_prefix`), under the same
    rules (not written when `PYTHONDONTWRITEBYTECODE` is set; `KRCOACH_REGEX_CACHE=0` turns it off).

    One file per Python implementation and regex-engine version, written at exit when a run
    compiled something new, atomically. It holds only the compiled code of the package's own
    patterns, as JSON: the regex engine checks any code it is given, and anything unreadable,
    from another version or failing that check is compiled afresh."""

    FORMAT = 2  # bump when `_compile` or `_guard` change what they produce (2: guards in the info block)

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, int, bool], tuple[Any, ...]] | None = None
        self._new = 0

    def _path(self) -> str | None:
        import os

        if os.environ.get("KRCOACH_REGEX_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
            return None
        try:
            from importlib.util import cache_from_source

            pyc = cache_from_source(__file__)  # .../__pycache__/fastre.cpython-311.pyc
        except (NotImplementedError, ValueError):
            return None
        return f"{pyc.rsplit('.', 1)[0]}.regex-{_sre.MAGIC}-{self.FORMAT}.json"

    def _load(self) -> dict[tuple[str, int, bool], tuple[Any, ...]]:
        import json
        from array import array
        from base64 import b64decode

        loaded: dict[tuple[str, int, bool], tuple[Any, ...]] = {}
        path = self._path()
        try:
            with open(path, "rb") as fh:  # type: ignore[arg-type]
                for pattern, flags, guard, final, words, groups, groupindex, indexgroup, nullable in json.load(fh):
                    code = array("I")
                    code.frombytes(b64decode(words))
                    loaded[(pattern, flags, bool(guard))] = (
                        int(final), code.tolist(), int(groups), {str(k): int(v) for k, v in groupindex.items()},
                        tuple(indexgroup), bool(nullable))
        except (OSError, TypeError, ValueError, KeyError, AttributeError):
            pass  # no cache yet, or one that cannot be read: compile
        return loaded

    def get(self, key: tuple[str, int, bool]) -> tuple[re.Pattern[str], bool] | None:
        if self._loaded is None:
            self._loaded = self._load()
        parts = self._loaded.get(key)
        if parts is None or len(parts) != 6:
            return None
        try:
            return _sre.compile(None, *parts[:5]), parts[5]
        except (TypeError, ValueError, RuntimeError):  # from another build, damaged: compile afresh
            del self._loaded[key]
            return None

    def put(self, key: tuple[str, int, bool], parts: tuple[Any, ...]) -> None:
        if self._loaded is None:
            self._loaded = self._load()
        self._loaded[key] = parts
        self._new += 1
        if self._new == 1:
            import atexit

            atexit.register(self.save)

    def save(self) -> None:
        """Write every known pattern's code, if this run compiled any (atomically; errors ignored)."""
        import json
        import os
        from array import array
        from base64 import b64encode

        path = self._path()
        if not self._new or self._loaded is None or path is None or sys.dont_write_bytecode:
            return
        rows = [[pattern, flags, guard, final, b64encode(array("I", code).tobytes()).decode("ascii"), groups,
                 groupindex, list(indexgroup), nullable]
                for (pattern, flags, guard), (final, code, groups, groupindex, indexgroup, nullable)
                in self._loaded.items()]
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(rows, fh)
            os.replace(tmp, path)
            self._new = 0
        except (OSError, ValueError, OverflowError):
            try:
                os.unlink(tmp)
            except OSError:
                pass


CODES = CodeCache()


# ------------------------------------------------------------------------------------ the twin

_REPEATS = (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT)


def _lower(code: int) -> int:
    return ord(chr(code).lower()) if code < 128 else code


def _mirror(data: list, stats: list[int]) -> None:
    """Lower the letters of a parsed pattern in place (the twin); raise _Unknown where it cannot
    match exactly what `re.I` matches on ASCII text. `stats[0]` counts alternatives that start
    with a letter."""
    for i, (op, av) in enumerate(data):
        if op is C.LITERAL or op is C.NOT_LITERAL:
            if av in FOLDS_TO_ASCII:
                raise _Unknown
            data[i] = (op, _lower(av))
        elif op is C.IN:
            extra = []
            for iop, iav in av:
                if iop is C.LITERAL:
                    if iav in FOLDS_TO_ASCII:
                        raise _Unknown
                    if _lower(iav) != iav:
                        extra.append((C.LITERAL, _lower(iav)))
                elif iop is C.RANGE:
                    lo, hi = iav
                    if any(lo <= f <= hi for f in FOLDS_TO_ASCII):
                        raise _Unknown
                    a, b = max(lo, 65), min(hi, 90)  # the capitals A-Z in the range
                    if a <= b:
                        extra.append((C.RANGE, (a + 32, b + 32)))
                elif iop is not C.CATEGORY and iop is not C.NEGATE:
                    raise _Unknown
            data[i] = (C.IN, list(av) + extra)  # NEGATE, when there, stays first
        elif op is C.BRANCH:
            for alt in av[1]:
                if alt.data and alt.data[0][0] is C.LITERAL and chr(alt.data[0][1]).isalpha():
                    stats[0] += 1
                _mirror(alt.data, stats)
        elif op is C.SUBPATTERN:
            if av[1] or av[2]:
                raise _Unknown  # inline flags: the twin would change their meaning
            _mirror(av[3].data, stats)
        elif op in _REPEATS:
            _mirror(av[2].data, stats)
        elif op is C.ASSERT or op is C.ASSERT_NOT:
            _mirror(av[1].data, stats)
        elif op is C.ATOMIC_GROUP:
            _mirror(av.data, stats)
        elif op is C.GROUPREF_EXISTS:
            _mirror(av[1].data, stats)
            if av[2] is not None:
                _mirror(av[2].data, stats)
        elif op in (C.ANY, C.AT, C.CATEGORY):
            pass
        else:  # back references and anything else: no twin
            raise _Unknown


def twin(pattern: str, flags: int, *, min_alternatives: int = TWIN_MIN_ALTERNATIVES) -> re.Pattern[str] | None:
    """The lower-case twin of a case-insensitive pattern (see the module's doc), or None when the
    pattern is not case-insensitive, cannot be mirrored exactly, or has too few alternatives
    starting with a letter for the twin to pay."""
    if not flags & re.I or flags & re.L:
        return None
    flags = int(flags)
    parsed = P.parse(pattern, flags)
    stats = [0]
    try:
        _mirror(parsed.data, stats)
        if stats[0] < min_alternatives:
            return None
        guard = _guard(parsed)
    except _Unknown:
        return None
    # ASCII classes (re.A): a twin only ever reads ASCII text without the four separator controls
    # (`_twin_text`), where `\w`, `\d`, `\s` and `\b` mean what they mean in Unicode, and the
    # ASCII tests cost the engine less than the Unicode tables at each position.
    plain = (flags & ~(re.I | re.U)) | re.A
    parsed.state.flags = (parsed.state.flags & ~(re.I | re.U)) | re.A
    code = _guarded_code(parsed, plain, guard)
    groupindex = dict(parsed.state.groupdict)
    indexgroup = [None] * parsed.state.groups
    for name, i in groupindex.items():
        indexgroup[i] = name
    # re._compiler.compile's last step, with the code above
    return _sre.compile(None, plain | int(parsed.state.flags), code, parsed.state.groups - 1, groupindex,
                        tuple(indexgroup))


def _needs(data: list) -> frozenset[str] | None:
    """Strings of which every match of a parsed sequence contains at least one, or None when no
    useful such set is known. Lookarounds and anchors add nothing (they consume no text)."""
    best: frozenset[str] | None = None
    run: list[str] = []

    def consider(found: frozenset[str] | None) -> None:
        nonlocal best
        if found and _useful(found) and (best is None or _selectivity(found) > _selectivity(best)):
            best = found

    for op, av in data:
        if op is C.LITERAL:
            run.append(chr(av))
            continue
        if run:
            consider(frozenset(["".join(run)]))
            run = []
        if op is C.SUBPATTERN:
            consider(_needs(av[3].data))
        elif op is C.ATOMIC_GROUP:
            consider(_needs(av.data))
        elif op is C.BRANCH:
            alternatives = [_needs(alt.data) for alt in av[1]]
            if all(alternatives):
                consider(frozenset().union(*alternatives))  # type: ignore[arg-type]
        elif op in _REPEATS and av[0] >= 1:
            consider(_needs(av[2].data))
        elif op is C.IN and len(av) <= 3 and all(iop is C.LITERAL for iop, _ in av):
            consider(frozenset(chr(iav) for _, iav in av))
    if run:
        consider(frozenset(["".join(run)]))
    return best


def _selectivity(strings: frozenset[str]) -> tuple[int, int]:
    """Longer strings first (rarer in a text), then fewer of them (fewer tests)."""
    return min(len(s) for s in strings), -len(strings)


#: At most this many strings in a pattern's `needs` test, and no single letter or digit.
NEEDS_MAX = 16


def _useful(strings: frozenset[str]) -> bool:
    """Whether a needed-strings set is worth testing: a few strings, none a single letter, digit
    or space (those are in almost every text). Checked on every candidate set, so that a set too
    large or too common at one level leaves room for a smaller one found elsewhere."""
    return len(strings) <= NEEDS_MAX and not (
        min(len(s) for s in strings) < 2 and any(s.isalnum() or s.isspace() for s in strings))


def needs(pattern: str, flags: int) -> frozenset[str] | None:
    """Strings one of which every match of `pattern` contains (in lower case for a case-insensitive
    pattern, for ASCII text), or None when there is no short, selective such set."""
    parsed = P.parse(pattern, int(flags))
    try:
        if flags & re.I:
            if flags & re.L:
                return None
            _mirror(parsed.data, [0])
        found = _needs(parsed.data)
    except _Unknown:
        return None
    if not found or not _useful(found):
        return None
    return found


#: A pattern's twin and needed strings are worked out after this many searches: a short run (one
#: KR on the command line) never pays for them.
PROMOTE_AFTER = 24
_SEARCHING = ("search", "finditer", "findall", "sub", "subn", "split")


class Pattern:
    """A regular expression compiled on first use; its methods are those of `re.Pattern` (search,
    match, fullmatch, finditer, findall, sub, subn, split; pattern, flags, groups, groupindex).

    After the first use each method is the compiled pattern's own bound method (no wrapper). A
    pattern that may gain from a twin or a needed-strings test counts its first searches through a
    thin wrapper; after `PROMOTE_AFTER` of them it gets those (module doc) and its searching
    methods go through them, or the plain bound methods again when there is nothing to gain."""

    def __init__(self, pattern: str, flags: int = 0, *, guard: bool = True, fold: bool = True) -> None:
        self.__dict__["_source"] = (pattern, flags, guard, fold)

    def __repr__(self) -> str:
        return f"fastre.Pattern({self._source[0]!r}, {self._source[1]!r})"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        d = self.__dict__
        if "compiled" not in d:
            self._build()
            if name in d:
                return d[name]
        return getattr(d["compiled"], name)

    def _build(self) -> None:
        pattern, flags, guard, fold = self._source
        compiled, nullable = _compile(pattern, flags, guard)
        d = self.__dict__
        d.update(compiled=compiled, pattern=pattern, flags=compiled.flags, groups=compiled.groups,
                 groupindex=compiled.groupindex, match=compiled.match, fullmatch=compiled.fullmatch,
                 twin=None, needs=None, nullable=nullable)
        d.update({name: getattr(compiled, name) for name in _SEARCHING})
        if fold and not pattern.startswith("^"):  # anchored: one attempt at the start, nothing to save
            d.update(_counting(self, compiled))

    def promote(self) -> None:
        """Work out the twin and the needed strings now, and use them from here on."""
        d = self.__dict__
        if "compiled" not in d:
            self._build()
        pattern, flags, _guard_, fold = self._source
        compiled = d["compiled"]
        d.update({name: getattr(compiled, name) for name in _SEARCHING})
        if not fold or pattern.startswith("^"):
            return
        low, needed = twin(pattern, flags), needs(pattern, flags)
        d["twin"], d["needs"] = low, needed
        if low is not None or needed is not None:
            d.update(_wrapped(compiled, low, needed, bool(flags & re.I), d["nullable"]))


def _counting(owner: Pattern, compiled: re.Pattern[str]) -> dict[str, Callable[..., Any]]:
    """Searching methods that count their calls and promote `owner` after `PROMOTE_AFTER`."""
    left = [PROMOTE_AFTER]

    def counted(method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            left[0] -= 1
            if left[0] == 0:
                owner.promote()
            return method(*args, **kwargs)
        return call

    return {name: counted(getattr(compiled, name)) for name in _SEARCHING}


#: The last text lower-cased for a twin, shared by every pattern: the parser asks dozens of
#: patterns about the same text in a row. One item, (text, lower-cased or None, ASCII or not),
#: read and replaced whole (threads may share it); it holds the text, so identity means the same
#: text. A non-ASCII text is lower-cased only for the needed-strings test (None when it holds a
#: character that `re.I` folds to an ASCII letter).
_LOWERED: list[tuple[Any, str | None, bool]] = [(None, "", True)]
#: The characters of `FOLDS_TO_ASCII`, for `in` tests.
FOLDING = tuple(chr(c) for c in sorted(FOLDS_TO_ASCII))


def _twin_text(text: str) -> bool:
    """Whether a twin (compiled with ASCII classes) may read `text`: ASCII, and none of the four
    information separators U+001C-U+001F, the only ASCII characters Unicode `\\s` matches and
    ASCII `\\s` does not. Other text goes to the original pattern."""
    return text.isascii() and not ("\x1c" in text or "\x1d" in text or "\x1e" in text or "\x1f" in text)


def _plain_chars(s: str) -> bool:
    """Whether every character of a needed string is ASCII or has no case: such a string is in a
    non-ASCII text's `lower()` wherever `re.I` matches it, unless the text holds a `FOLDING`
    character (the only non-ASCII ones `re.I` matches to ASCII letters; one of them, İ, also
    lower-cases to two characters)."""
    return all(ord(ch) < 128 or ch.lower() == ch == ch.upper() for ch in s)


def _wrapped(compiled: re.Pattern[str], low: re.Pattern[str] | None, needed: frozenset[str] | None,
             folded: bool, nullable: bool) -> dict[str, Callable[..., Any]]:
    """The pattern's methods, answering "no match" at once when the text lacks every string of
    `needed`, and searching with the twin `low` on ASCII text (see the module's doc).

    For a case-insensitive pattern both tests run on `text.lower()`: the twin only for ASCII
    text, the needed strings on any text where that is exact (`_plain_chars`, `FOLDING`); a
    case-sensitive one tests `needed` on the text itself. `search` keeps its last whole-text
    answer: the same text is often asked twice (the verdict and the why both ask)."""
    o_search, o_match, o_finditer = compiled.search, compiled.match, compiled.finditer
    o_findall, o_sub, o_subn, o_split = compiled.findall, compiled.sub, compiled.subn, compiled.split
    l_search = low.search if low is not None else None
    l_finditer = low.finditer if low is not None else None
    strings = tuple(sorted(needed, key=len)) if needed else ()
    wide = bool(strings) and all(_plain_chars(s) for s in strings)  # the test holds on any text
    lowered = _LOWERED
    memo: list[tuple[Any, Any]] = [(None, None)]  # (text, match): one item, read and written whole

    def view(text: str) -> str | None:
        """The text the tests run on (None: the original pattern must answer), "" when a needed
        string is missing (no match possible)."""
        if folded:
            last = lowered[0]
            if text is last[0]:
                low_text, ascii_ = last[1], last[2]
            elif _twin_text(text):
                low_text, ascii_ = text.lower(), True
                lowered[0] = (text, low_text, True)
            elif wide:
                low_text = None if any(c in text for c in FOLDING) else text.lower()
                ascii_ = False
                lowered[0] = (text, low_text, False)
            else:
                return None
            if not ascii_:  # no twin here: only the needed strings may answer "no match"
                if low_text is None or not wide:
                    return None
                for s in strings:
                    if s in low_text:
                        return None
                return ""
            text = low_text  # type: ignore[assignment]
        if strings:
            for s in strings:
                if s in text:
                    return text
            return ""
        return text

    def search(text: str, pos: int = 0, endpos: int = _MAX) -> re.Match[str] | None:
        whole = pos == 0 and endpos == _MAX
        if whole:
            last = memo[0]
            if text is last[0]:
                return last[1]
        # `view(text)`, its most common case inlined (the text lower-cased for the pattern before,
        # ASCII): a search runs some forty times per KR and a call is a good part of its cost.
        low = lowered[0]
        if folded and text is low[0] and low[2]:
            t = low[1]
            if strings:
                for s in strings:
                    if s in t:
                        break
                else:
                    t = ""
        else:
            t = view(text)
        if t is None or l_search is None and t:
            m = o_search(text, pos, endpos)
        elif not t and strings:
            m = None
        else:
            m = l_search(t, pos, endpos)  # type: ignore[misc]
            if m is not None:
                m = o_match(text, m.start(), endpos)
        if whole:
            memo[0] = (text, m)
        return m

    def finditer(text: str, pos: int = 0, endpos: int = _MAX) -> Iterator[re.Match[str]]:
        t = view(text)
        if t is None:
            return o_finditer(text, pos, endpos)
        if not t and strings:
            return iter(())
        if l_finditer is None or nullable:
            return o_finditer(text, pos, endpos)
        return iter([o_match(text, m.start(), endpos) for m in l_finditer(t, pos, endpos)])

    def none(text: str, pos: int = 0, endpos: int = _MAX) -> bool:
        """Whether the pattern certainly has no match in text[pos:endpos]."""
        t = view(text)
        if t is None:
            return False
        if not t and strings:
            return True
        return l_search is not None and l_search(t, pos, endpos) is None

    def findall(text: str, pos: int = 0, endpos: int = _MAX) -> list[Any]:
        return [] if none(text, pos, endpos) else o_findall(text, pos, endpos)

    def sub(repl: Any, text: str, count: int = 0) -> str:
        return text if none(text) else o_sub(repl, text, count)

    def subn(repl: Any, text: str, count: int = 0) -> tuple[str, int]:
        return (text, 0) if none(text) else o_subn(repl, text, count)

    def split(text: str, maxsplit: int = 0) -> list[str | Any]:
        return [text] if none(text) else o_split(text, maxsplit)

    # match and fullmatch stay the pattern's own: one anchored attempt costs less than the tests.
    return {"search": search, "finditer": finditer, "findall": findall, "sub": sub, "subn": subn, "split": split}


def compile(pattern: str, flags: int = 0) -> Pattern:  # noqa: A001 - mirrors re.compile
    """Like `re.compile`, compiled on first use, with a first-character lookahead when one can be
    derived safely and a lower-case twin where the pattern's alternations are long (module doc)."""
    return Pattern(pattern, flags)


def lazy(pattern: str, flags: int = 0) -> Pattern:
    """`re.compile` on first use: no guard, a twin only where the pattern's alternations are long."""
    return Pattern(pattern, flags, guard=False)


_DIGIT_RUN = lazy(r"\d+")


def digit_led(match: Callable[[str, int], re.Match[str] | None], text: str, lead: int) -> list[re.Match[str]]:
    """`list(pattern.finditer(text))` for a pattern whose every match has a digit within `lead`
    characters of its start and never starts inside a run of digits (it needs no word character
    before it): the pattern (its `match`) is tried only at the few positions at and before each
    run of digits, in order from where the last match ended, so the first that matches is the one
    a scan would find. Matches are never empty (they hold a digit)."""
    out: list[re.Match[str]] = []
    pos = 0
    last = -1
    for run in _DIGIT_RUN.finditer(text):
        start = run.start()
        for c in range(max(pos, last + 1, start - lead), start + 1):
            m = match(text, c)
            if m is not None:
                out.append(m)
                pos = m.end()
                break
        last = start
    return out


# ------------------------------------------------------------------------------------ plain-string tests
#
# What a few patterns built from a KR's own words ("\bWord\b", "[A-Za-z]95\b") ask, answered
# without compiling a pattern per word (each compile cost more than the rest of the KR's review).
# `\w` and `\b` mean exactly what they mean in `re` for str patterns.


def is_word(ch: str) -> bool:
    """`re`'s `\\w` for one character: alphanumeric (str.isalnum) or the underscore."""
    return ch.isalnum() or ch == "_"


def boundary(text: str, pos: int) -> bool:
    """Whether `\\b` matches at `pos` in `text`."""
    before = pos > 0 and is_word(text[pos - 1])
    after = pos < len(text) and is_word(text[pos])
    return before != after


def occurrences(text: str, sub: str) -> Iterator[int]:
    """Every start of `sub` in `text`, overlapping ones included (as a regex search would try them)."""
    i = text.find(sub)
    while i >= 0:
        yield i
        i = text.find(sub, i + 1)
