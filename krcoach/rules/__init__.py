"""The rules engine: deterministic, offline, instant; the default with no key and the fallback.

Read bottom-up (each module imports only those above it in this list):
- `fastre`: the regex cache every reader shares (patterns compiled once, lazily);
- `lexicon`: the knowledge files in `krcoach/data/` (activity verbs, result words, the catalogue),
  and the word gates that spare a rare pattern's search where a KR lacks the words it needs;
- `shapes`: what a number, a placeholder, a deadline, "from X to Y" and a comparison look like,
  shared by both readers below;
- `quantities`: the role of each number (target, baseline, deadline, part of the metric, ...);
- `anatomy`: the reading of one KR (who acts, the metric, the numbers, the deadline);
- `evidence`: the hand-set scores over the reading (`classify`) and the `Verdict` record;
- `verdict`: output or outcome, from learned weights over the evidence (`decide`);
- `wording`: phrases taken from the KR's own words, for the whys and the rewrites;
- `intents`: which catalogue entry (what a piece of work is meant to move) a KR is about;
- `rewrites`: "[metric] from [X] to [Y] by [date]" from the reading, never inventing a number;
- `whys`: what will be different if the KR is met, in the author's terms;
- `issues`: the issue codes and messages;
- `engine`: `RulesEngine` and `build`, which put those together into the records.

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
