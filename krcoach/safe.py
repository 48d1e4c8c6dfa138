"""Making user text safe to put in files people open: spreadsheets and rendered Markdown.

KR text, objective titles, owners, participant names and model answers are data a stranger may have
typed. Two places would otherwise run it:

- a spreadsheet opening a CSV evaluates a cell that begins with `=`, `+`, `-` or `@` (and, in some,
  tab or carriage return) as a formula, e.g. `=HYPERLINK("http://evil","click")`. `csv_cell`
  prefixes such a cell with a single quote, as the OWASP CSV-injection guidance advises; the
  spreadsheet then shows the text as typed, and a reader of the raw CSV sees one extra `'`.
- a Markdown renderer turns `![x](url)` into an image fetched on open, `[text](javascript:…)`
  and `<http://…>` into links, and raw `<…>` into HTML; a renderer with linkify (GFM, markdown-it
  with `linkify`) also links bare domains and e-mail addresses ("example.com", "ops@corp.com").
  `md_text` escapes those so the rendered page shows the characters as text.
"""

from __future__ import annotations

import re
from typing import Any

#: First characters that make a spreadsheet treat a cell as a formula (OWASP), plus the
#: full-width forms some spreadsheets fold to the ASCII ones.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_cell(value: Any) -> str:
    """A CSV cell a spreadsheet will show as text, never evaluate.

    None becomes "". Numbers and booleans are written as `str()` does (they are not formulas);
    any other text that begins with a formula character gets a leading `'`, the rest kept as is
    (except that CR and CRLF line breaks become LF, see below).
    """
    if value is None:
        return ""
    if isinstance(value, (bool, int, float)):
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        text = "'" + text
    # A bare CR inside a cell is not quoted by a writer whose line end is "\n", yet readers and
    # spreadsheets end the row there, so "x\r=HYPERLINK(...)" would start a fresh, evaluated
    # cell. Line breaks become "\n", which the writer quotes.
    return text.replace("\r\n", "\n").replace("\r", "\n")


# Markdown: backslash-escape what starts emphasis, code, headings, tables, links and images;
# entity-escape what starts HTML and autolinks; break URL schemes and domain names so renderers that
# link bare URLs, domains and e-mail addresses (GFM, markdown-it's linkify) leave them as text.
_MD_PUNCT = re.compile(r"([`*_#|\[\]!~])")
_SCHEME = re.compile(r"(?i)\b(https?|ftp|file|mailto|javascript|vbscript|data)(:)")
# Every dot followed by a letter, as in "example.com", "www.evil.io", "ops@corp.com", "пример.рф"
# (a top-level domain starts with a letter): "example\.com" renders as "example.com", but linkify
# sees "example" and ".com" apart and links neither; so does "www.". "3.5" and "v1.2" stay as they are.
_DOMAIN_DOT = re.compile(r"\.(?=[^\W\d_])|(?i:(?<=\bwww))\.")


def md_text(value: Any) -> str:
    """Text for the inside of a Markdown line that renders as exactly that text: no link (not
    even under linkify), no image, no HTML, no emphasis, no table break (Python-Markdown,
    CommonMark/markdown-it, GFM)."""
    text = "" if value is None else str(value)
    text = text.replace("\\", "\\\\")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_PUNCT.sub(r"\\\1", text)
    text = _SCHEME.sub(r"\1\\\2", text)
    return _DOMAIN_DOT.sub(r"\\.", text)
