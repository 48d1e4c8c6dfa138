"""What the model reads: the versioned prompt templates and the author's text quoted as data.

The templates live in the top-level `prompts/` folder (shipped as `krcoach.prompts`) so a coach can
read and edit them without reading code; each starts with a `version:` line, and its text hash
goes into every cache key and eval manifest, so an edited prompt never meets a stale answer or a
recording made for another text.

KR text, objective titles and the cycle are typed by strangers. They reach the model only as JSON
between the template's delimiters, never spliced into instructions: JSON escapes every newline,
so no KR can write a line of its own (a closing delimiter, a fake "system" line), and the
delimiter word itself is escaped inside strings (`quoted_json`). The plan prompt's data block
(`krcoach.llm.plan`) is quoted by the same function.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from krcoach import issue_codes
from krcoach.models import MAX_KR_CHARS, Objective
from krcoach.periods import clip_cycle

#: The prompt of one objective's review (prompts/review_objective.txt).
DEFAULT_PROMPT = "review_objective"


@dataclass(frozen=True)
class Prompt:
    """A versioned template: `version:` line, then `=== system ===` and `=== user ===` parts."""

    name: str
    version: str
    system: str
    user: str
    sha256: str

    def info(self) -> dict[str, str]:
        """Name, version and text hash: what cache keys, eval manifests and recordings keep."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256}


def _prompt_text(name: str) -> str:
    try:
        return resources.files("krcoach.prompts").joinpath(f"{name}.txt").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        # A source checkout that is not installed: prompts/ sits beside the package.
        return (Path(__file__).resolve().parents[2] / "prompts" / f"{name}.txt").read_text("utf-8")


def load_prompt(name: str = DEFAULT_PROMPT) -> Prompt:
    text = _prompt_text(name)
    first, _, rest = text.partition("\n")
    m = re.fullmatch(r"version:\s*(\S+)\s*", first)
    if not m:
        raise ValueError(f"prompt {name}: the first line must be 'version: <v>'")
    parts = re.split(r"^=== (system|user) ===\s*$", rest, flags=re.M)
    sections = {parts[i]: parts[i + 1].strip("\n") for i in range(1, len(parts) - 1, 2)}
    if set(sections) != {"system", "user"}:
        raise ValueError(f"prompt {name}: needs '=== system ===' and '=== user ===' sections")
    return Prompt(name=name, version=m.group(1), system=sections["system"], user=sections["user"],
                  sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


def quoted_json(value: Any, **kw: Any) -> str:
    """JSON for the prompt, with the delimiter word escaped so it never appears verbatim."""
    return json.dumps(value, ensure_ascii=False, **kw).replace("OKR_DATA", "OKR\\u005fDATA")


def data_block(objective: Objective, cycle: str | None = None) -> str:
    """The objective, the cycle and the KRs as JSON: author text is data, quoted, never spliced
    into instructions.

    JSON escapes every newline, so no KR can produce a line of its own (such as the closing
    delimiter); the delimiter word is also escaped inside strings so it never appears verbatim.
    """
    payload: dict[str, Any] = {"objective": objective.title}
    if clip_cycle(cycle):
        payload["cycle"] = clip_cycle(cycle)
    payload["key_results"] = [{"n": i, "text": kr.kr[:MAX_KR_CHARS]} for i, kr in enumerate(objective.krs, 1)]
    return quoted_json(payload, indent=1)


def issue_code_lines() -> str:
    """The KR issue codes a model may give, with their meanings, from the one table
    (`issue_codes`): the same codes the response contract accepts (`contract.KR_ISSUE_CODES`)."""
    meanings = issue_codes.meanings()
    return "\n".join(f"- {c}: {meanings[c]}" for c in issue_codes.model_kr_codes())


def build_messages(prompt: Prompt, objective: Objective, cycle: str | None = None) -> list[dict[str, str]]:
    """The chat messages of one objective's review: the instructions, then its data block."""
    system = Template(prompt.system).safe_substitute(issue_codes=issue_code_lines())
    cycle = clip_cycle(cycle)
    # The cycle is author text too: quoted as JSON (one line, no delimiter), and in the data block.
    cycle_line = (f"Cycle: {quoted_json(cycle)} (also in the data) — KRs without their own date end with "
                  "the cycle.\n" if cycle else "")
    user = Template(prompt.user).safe_substitute(data=data_block(objective, cycle), cycle_line=cycle_line)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
