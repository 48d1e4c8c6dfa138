"""Checks at the door of every handler (drafting page, review API, workshop API).

A request's values come from anywhere: a browser, `gradio_client`, or a raw HTTP body whose
`data` holds numbers where text belongs, `inf`, `nan`, lists, objects or megabytes. Each check
here runs before any parsing, costs little even on a 5 MB value (length first, then one regex
scan), and refuses with an `InputError` whose `message` is one readable line naming the field and
what is wrong with it. Handlers turn that line into the message they already use for bad input
(`gr.Error` for the API, the page's own message box for the UI).

Control characters: the draft (page and `review`) *refuses* NUL and the other C0 controls except
tab, newline and carriage return, naming the first one and where it is; text is reviewed as the
person sent it or not at all. Workshop fields keep their old behaviour: `workshop.clean_text`
*strips* control characters from one-line fields (a name, a title, a rewrite).

Lone surrogates (U+D800 to U+DFFF, which JSON's "\\ud800" escape can carry) are refused by
every text check, naming where the first one is: no UTF-8 text holds one. What Gradio itself
checks before a handler runs (the body's shape, the count of values, file references) is
`krcoach.web.door`'s.
"""

from __future__ import annotations

import math
import re
from typing import Any

#: C0 controls (and DEL) that are not text: everything below U+0020 except tab, LF and CR.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: A lone surrogate (U+D800 to U+DFFF): JSON's "\\ud800" escape makes one, but it is no character
#: of any text; UTF-8 cannot encode it, so the database, the log and every JSON answer would fail.
SURROGATE = re.compile("[\ud800-\udfff]")
_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "backspace", 0x0B: "vertical tab", 0x0C: "form feed",
          0x1B: "ESC", 0x7F: "DEL"}
#: Whole numbers the handlers take (KR numbers, ids, seconds) stay inside what SQLite and
#: JSON hold exactly; anything larger is refused, not converted.
MAX_WHOLE = 2**53


class InputError(ValueError):
    """A value a handler refuses; `message` (and `str()`) is the one line the person sees."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def describe(value: Any) -> str:
    """What a wrong value is, in words: 'a number (123)', 'true', 'a list', 'an object'."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        shown = repr(value) if not isinstance(value, float) or math.isfinite(value) else \
            ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
        return f"a number ({shown[:24]})"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return f"text ({value[:20]!r}{'…' if len(value) > 20 else ''})"
    return f"a {type(value).__name__}"


def control_char(text: str) -> re.Match[str] | None:
    """The first control character in `text` that is not tab, newline or carriage return."""
    return CONTROL.search(text)


def surrogate(text: str) -> re.Match[str] | None:
    """The first lone surrogate in `text`, if any."""
    return SURROGATE.search(text)


def surrogate_message(text: str, match: re.Match[str], what: str) -> str:
    """'Your name has a character that is not valid text (a lone surrogate, U+D800, at line 1,
    column 4).'"""
    line = text.count("\n", 0, match.start()) + 1
    column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
    return (f"{what} has a character that is not valid text (a lone surrogate, "
            f"U+{ord(match.group(0)):04X}, at line {line:,}, column {column:,}).")


def control_message(text: str, match: re.Match[str], what: str = "The draft") -> str:
    """'The draft has 3 control characters (the first, NUL (U+0000), on line 2, column 9); …'."""
    char = match.group(0)
    code = ord(char)
    name = _NAMES.get(code, "control character")
    line = text.count("\n", 0, match.start()) + 1
    column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
    count = len(CONTROL.findall(text))
    where = f"{name} (U+{code:04X}) on line {line}, column {column}"
    if count == 1:
        return (f"{what} has a control character, {where}: it is not text. "
                "Remove it and try again.")
    return (f"{what} has {count:,} control characters (the first: {where}): they are not text. "
            "Remove them and try again.")


def text(value: Any, field: str, *, limit: int, required: bool = False,
         controls: bool = True, slack: int = 1) -> str:
    """`value` as text: None is "" (or "`field` is missing." when required); anything that is not
    a string is refused; so is text over `limit` characters (checked first), text holding a lone
    surrogate (always: it is not text) and, unless `controls` is False, a control character.

    `slack` lets raw text run to `slack * limit` characters before the door refuses it, for
    fields whose owner measures `limit` after collapsing whitespace (the workshop's)."""
    if value is None:
        if required:
            raise InputError(f"{field} is missing.")
        return ""
    if not isinstance(value, str):
        raise InputError(f"{field} must be text; got {describe(value)}.")
    if len(value) > limit * slack:
        raise InputError(f"{field} is {len(value):,} characters long; the limit is {limit:,}.")
    lone = surrogate(value)
    if lone:
        raise InputError(surrogate_message(value, lone, field))
    if controls:
        found = control_char(value)
        if found:
            raise InputError(control_message(value, found, field))
    return value


def texts(value: Any, field: str, *, limit: int, items: int, item_limit: int,
          slack: int = 1) -> str | list[str]:
    """Text, or a list of texts (as the workshop's KR list may be given): sizes checked before
    anything is joined or split. None is ""; control characters are left to the owner."""
    if value is None or isinstance(value, str):
        return text(value, field, limit=limit, controls=False, slack=slack)
    if not isinstance(value, (list, tuple)):
        raise InputError(f"{field} must be text (one per line) or a list of texts; "
                         f"got {describe(value)}.")
    if len(value) > items:
        raise InputError(f"{field} has {len(value):,} entries; the limit is {items:,}.")
    return [text(v, f"{field}: entry {n}", limit=item_limit, required=True, controls=False,
                 slack=slack) for n, v in enumerate(value, 1)]


def whole_number(value: Any, field: str, *, default: int | None = None,
                 low: int = -MAX_WHOLE, high: int = MAX_WHOLE) -> int:
    """A whole number from an int, an integral float or a numeric string; None is `default`.
    Booleans, lists, objects, nan, inf, fractions and anything outside [low, high] are refused."""
    if value is None and default is not None:
        return default
    number: Any = value
    if isinstance(value, str) and len(value) <= 40:
        try:
            number = float(value.strip()) if value.strip() else None
        except ValueError:
            number = value
    if isinstance(number, float) and math.isfinite(number) and number.is_integer():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int):
        raise InputError(f"{field} must be a whole number; got {describe(value)}.")
    if not low <= number <= high:
        if (low, high) == (-MAX_WHOLE, MAX_WHOLE):
            raise InputError(f"{field} is far too {'large' if number > 0 else 'small'}; "
                             f"got {describe(value)}.")
        raise InputError(f"{field} must be a whole number from {low:,} to {high:,}; "
                         f"got {describe(value)}.")
    return number


def flag(value: Any, field: str, *, default: bool) -> bool:
    """true/false (also 1/0 and the words "true"/"false"); None is `default`."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise InputError(f"{field} must be true or false; got {describe(value)}.")


def opaque(value: Any, *, limit: int = 256) -> str:
    """A join code or token as text for the workshop's own checks, which give one uniform answer
    for every wrong code or token (so none can be told apart): a value that cannot be one (not
    text, over `limit` characters) becomes "" and gets that same answer, without being hashed,
    stored or echoed. Text with a lone surrogate cannot be one either (nor be hashed)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a code of digits only, sent as a JSON number
    if not isinstance(value, str) or len(value) > limit or surrogate(value):
        return ""
    return value
