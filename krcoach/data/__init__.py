"""Knowledge as data: word lists, the activity -> impact catalogue, trade-offs, the plan audit,
issue codes, the starter deck and the verdict's weights. A coach extends these files; code only
reads them, through `load_json`, the one place that knows where they are.

Read as files beside this module rather than through `importlib.resources`: the package is
installed as files (pip unpacks wheels), and `importlib.resources` alone cost about 5 ms of every
`krcoach review`'s start-up.
"""

from __future__ import annotations

import json
import os
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))


def load_json(name: str) -> Any:
    """The data file `name` (e.g. "lexicon.json"), parsed."""
    with open(os.path.join(_HERE, name), encoding="utf-8") as fh:
        return json.load(fh)
