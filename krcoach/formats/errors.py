"""`InputError`: the one kind of failure a reader raises.

Its text is the single line the CLI prints (exit code 2), the page shows and the HTTP API returns:
the file, the row or line, the field, the problem. Kept apart so every layer that reads input can
raise it without importing the readers.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input. `str(err)` is the one line the user sees: file, row or line, field, problem."""

    def __init__(self, source: str, where: str | None, message: str) -> None:
        self.source, self.where, self.message = source, where, message
        super().__init__(": ".join(p for p in (source, where, message) if p))


#: A nesting backstop: Python's recursion limit met inside json.loads.
_TOO_DEEP = "nested too deeply to read (arrays or objects inside each other about a thousand levels deep)"
