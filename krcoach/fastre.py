"""`re.compile` with a first-character guard, for the parser's long alternations.

Python's regex engine tries a pattern like `(?:at least|over|more than|...)` at every position of
the text, walking all the alternatives each time. Prefixing a lookahead for the characters a match
can start with (`(?=[aomu...])`) lets it skip almost every position after one class test: the
parser's searches ran 2-4x faster with it. The guard is derived from the pattern itself and is a
superset of the real first characters, so the matches are exactly those of the plain pattern; when
the pattern is too loose to analyse (inline flag groups, negated classes, any character, a
possibly empty match, an anchor at the start), it is compiled as is.
"""

from __future__ import annotations

import re
from re import _constants as C  # noqa: N812 - the stdlib's own names
from re import _parser as P  # noqa: N812

_CATEGORY = {C.CATEGORY_DIGIT: r"\d", C.CATEGORY_WORD: r"\w", C.CATEGORY_SPACE: r"\s"}


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


def compile(pattern: str, flags: int = 0) -> re.Pattern[str]:  # noqa: A001 - mirrors re.compile
    """Like `re.compile`, with a first-character lookahead when one can be derived safely."""
    try:
        parsed = P.parse(pattern, flags)
        if parsed and parsed[0] == (C.AT, C.AT_BEGINNING):
            return re.compile(pattern, flags)  # anchored: the engine already tries one position
        first, nullable = _first_seq(parsed)
    except _Unknown:
        return re.compile(pattern, flags)
    if nullable or not first:
        return re.compile(pattern, flags)
    return re.compile(f"(?=[{''.join(sorted(first))}])(?:{pattern})", flags)
