"""The llm engine: any OpenAI-compatible endpoint, through `openai` + `instructor` + `pydantic`.

- `engine`: `LLMEngine`, the prompt, the response contract and its validators, the transport;
- `cache`: answers on disk, keyed by everything that can change them (never by the key).

It uses the rules engine's certain readings (a number the draft does not contain, an empty metric)
to refuse an answer, and its guesses only as notes. Importing this package loads nothing heavy:
`openai` and `instructor` come with `krcoach.llm.engine`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from krcoach.llm.engine import LLMEngine

__all__ = ["LLMEngine"]


def __getattr__(name: str):
    if name == "LLMEngine":
        from krcoach.llm.engine import LLMEngine

        return LLMEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
