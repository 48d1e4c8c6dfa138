"""The rules engine: deterministic, offline, instant; the default with no key and the fallback.

Read bottom-up:
- `fastre`: the regex cache every reader shares (patterns compiled once, lazily);
- `lexicon`: the knowledge files in `krcoach/data/` (activity verbs, result words, the catalogue);
- `anatomy`: the reading of one KR (who acts, the metric, the numbers, the deadline);
- `quantities`: the role of each number (target, baseline, deadline, part of the metric, ...);
- `verdict`: output or outcome, from learned weights over the reading;
- `engine`: `RulesEngine`, whys, issues and rewrites.

Nothing here imports the llm engine, the pages or the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from krcoach.rules.engine import RulesEngine

__all__ = ["RulesEngine"]


def __getattr__(name: str):
    # lazy, so that importing one reader (say `krcoach.rules.anatomy`) does not load the engine
    if name == "RulesEngine":
        from krcoach.rules.engine import RulesEngine

        return RulesEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
