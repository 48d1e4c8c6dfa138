"""The engine protocol and engine selection.

Every way into krcoach (CLI, app, workshop, eval) goes through `coach.review` with an object that
satisfies `Engine`; none of them knows which engine runs. `make_engine` resolves the user's choice
(`auto`, `rules`, `llm`) from arguments and the stable environment variables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .models import KRReview, Objective

ENGINE_NAMES = ("auto", "rules", "llm")


@dataclass(frozen=True)
class ReviewContext:
    """What an engine may need to know beyond the objective it reviews."""

    set_uses_owners: bool = False
    #: The period the KRs run in ("2026-Q1", "2024 Q3", "H1"): from `--cycle`, a heading or the
    #: objective. A KR inside a dated cycle has a deadline even when its own text names none.
    cycle: str | None = None


@runtime_checkable
class Engine(Protocol):
    #: "rules" or "llm": goes into every record's `engine` field.
    name: str
    #: Model identifier for llm engines, None for rules.
    model: str | None
    #: Whether `review_objective` is worth calling from several threads at once (network-bound).
    parallel: bool

    def review_objective(self, objective: Objective, context: ReviewContext) -> list[KRReview]:
        """Review every KR of one objective, returning one KRReview per KR in input order."""
        ...


class EngineConfigError(ValueError):
    """The requested engine cannot be built from the given settings (a usage error)."""


def resolve_engine_name(name: str | None = None) -> str:
    """Turn `auto` (or nothing) into `rules` or `llm` using the environment."""
    chosen = (name or os.environ.get("KRCOACH_ENGINE") or "auto").strip().lower()
    if chosen not in ENGINE_NAMES:
        raise EngineConfigError(f"unknown engine {chosen!r}: choose one of {', '.join(ENGINE_NAMES)}")
    if chosen == "auto":
        has_llm = bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))
        chosen = "llm" if has_llm else "rules"
    return chosen


def make_engine(name: str | None = None, *, use_cache: bool = True) -> Engine:
    """Build the engine the user asked for. Imports the llm stack only when it is needed."""
    chosen = resolve_engine_name(name)
    if chosen == "rules":
        from .rules import RulesEngine

        return RulesEngine()
    from .llm import LLMEngine

    return LLMEngine.from_env(use_cache=use_cache)
