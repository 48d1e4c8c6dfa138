"""The llm engine: any OpenAI-compatible endpoint, through `openai` + `instructor` + `pydantic`.

Modules, from what the model reads to what reaches the record:

- `prompt`: the versioned templates in `prompts/` and the author's text quoted as data;
- `contract`: the response models, the validators that re-ask only for what is certainly wrong,
  and `doubts` (what the rules readers merely suspect, as notes);
- `plan`: the plan's cross-team findings through the model (its data block, contract, findings);
- `transport`: the client and its mode per endpoint, retries and backoff, the circuit breaker,
  and the key kept out of everything (`krcoach.redaction`);
- `engine`: `LLMEngine`, which composes them, and `build`, its row of the engine table;
- `cache`: answers on disk, keyed by everything that can change them (never by the key).

It uses the rules engine's certain readings (a number the draft does not contain, an empty metric)
to refuse an answer, and its guesses only as notes. Importing this package loads nothing heavy:
`openai` and `instructor` come with `krcoach.llm.engine`; `LLMEngine` here is that class, loaded
on first use.
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
