"""`LLMEngine`: structured coaching from any OpenAI-compatible endpoint, and `build`, its row of
the engine table (`krcoach.engine.ENGINE_BUILDERS`).

One request per objective (its KRs together, the objective as context); a plan of two or more
teams gets one more for its cross-team findings (`plan_findings`). The engine composes the parts
and decides what reaches the record:

- `prompt`: the versioned template and the author's text quoted as data;
- `contract`: the answer's shape, what is refused and re-asked, what only becomes a note;
- `plan`: the same three for the plan's cross-team findings;
- `transport`: the client, mode, retries, budget, breaker and the key's redaction;
- `cache`: answers on disk, keyed by everything that can change them.

A valid answer becomes records (rewrites rendered from their parts, the readers' doubts as
notes, the flags decided in code whatever the model said). Anything else (a network fault, an
open breaker, an answer still refused after the re-asks) becomes the rules review of that
objective with `status="fallback"` and a one-line, redacted reason; the batch goes on.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

from krcoach.engine import ReviewContext, llm_timeout
from krcoach.llm.cache import AnswerCache, krcoach_version, make_key
from krcoach.llm.contract import (RESPONSE_SCHEMA, SCHEMA_SHA256, Draft, ObjectiveCoaching, collecting_refusals,
                                  doubts, one_line, validating_against)
from krcoach.llm.plan import (MAX_PLAN_KRS, PLAN_PROMPT, PLAN_RESPONSE_SCHEMA, PLAN_SCHEMA_SHA256, PlanCoaching,
                              PlanDraft, build_plan_messages, plan_findings_from, plan_payload,
                              validating_plan_against)
from krcoach.llm.prompt import DEFAULT_PROMPT, Prompt, build_messages, load_prompt
from krcoach.llm.transport import DEFAULT_TIMEOUT, EndpointError, RetryPolicy, Transport
from krcoach.models import (ISSUE_CODES, CrossTeam, Issue, KeyResult, KRReview, Objective, PlanFinding, PlanKR,
                            Rewrite)
from krcoach.periods import clip_cycle

log = logging.getLogger(__name__)

INJECTION_MESSAGE = ("Contains text addressed to the coach; it was reviewed as part of the key "
                     "result and not followed.")


class LLMEngine:
    """Coaching from an OpenAI-compatible chat-completions endpoint. Thread-safe."""

    name = "llm"
    parallel = True

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        mode: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        cache: AnswerCache | None = None,
        *,
        max_retries: int = 2,
        retry: RetryPolicy | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        prompt: str = DEFAULT_PROMPT,
    ) -> None:
        self._stats_lock = threading.Lock()
        self.stats = {"requests": 0, "cache_hits": 0, "fallbacks": 0, "reasks": 0}
        self._transport = Transport(base_url, api_key, mode, timeout, retry or RetryPolicy(), count=self._count)
        self.cache = cache
        #: instructor's re-asks of an answer the contract refused (not network retries).
        self.max_retries = max_retries
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.prompt = load_prompt(prompt)
        self.plan_prompt = load_prompt(PLAN_PROMPT)
        self._rules_engine: Any = None
        #: Every refusal sent back to the model, with its objective: what the eval shows a reader.
        self.rejections: list[dict[str, str | None]] = []
        self.model = model or self._transport.default_model()

    # -------------------------------------------------------------------------------- building

    @classmethod
    def from_env(cls, use_cache: bool = True) -> LLMEngine:
        """The engine described by OPENAI_API_KEY, OPENAI_BASE_URL, KRCOACH_MODEL, KRCOACH_LLM_MODE."""
        env = os.environ
        seconds = llm_timeout() or DEFAULT_TIMEOUT
        return cls(
            base_url=env.get("OPENAI_BASE_URL") or None,
            api_key=env.get("OPENAI_API_KEY") or None,
            model=env.get("KRCOACH_MODEL") or None,
            mode=env.get("KRCOACH_LLM_MODE") or None,
            timeout=seconds,
            cache=AnswerCache() if use_cache else None,
        )

    @property
    def base_url(self) -> str:
        """The endpoint without user info, query or fragment: safe to print and record."""
        return self._transport.base_url

    @property
    def mode(self) -> str:
        return self._transport.mode

    @property
    def timeout(self) -> float:
        return self._transport.timeout

    @property
    def retry(self) -> RetryPolicy:
        return self._transport.retry

    @retry.setter
    def retry(self, policy: RetryPolicy) -> None:
        self._transport.retry = policy

    def manifest(self) -> dict[str, Any]:
        """What an eval run records about this engine (no credentials)."""
        return {
            "engine": self.name,
            "model": self.model,
            "base_url": self.base_url,
            "mode": self.mode,
            "prompt": self.prompt.info(),
            "plan_prompt": self.plan_prompt.info(),
            "schema_sha256": SCHEMA_SHA256,
            "max_retries": self.max_retries,
            "timeout": self.timeout,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }

    # ---------------------------------------------------------------------------------- review

    def review_objective(self, objective: Objective, context: ReviewContext) -> list[KRReview]:
        if not objective.krs:
            return []
        cycle = clip_cycle(context.cycle)
        draft = Draft(krs=tuple(kr.kr for kr in objective.krs), objective=objective.title, cycle=cycle)
        with validating_against(draft):
            key = self._cache_key(objective, cycle) if self.cache is not None else None
            if key is not None:
                cached = self._from_cache(key, ObjectiveCoaching)
                if cached is not None:
                    return self._records(objective, context, cached)
            skipped = self._transport.open_reason()
            if skipped is not None:
                return self._fallback(objective, context, f"llm: endpoint unavailable, not tried: {skipped}")
            try:
                # the key out of every string the model returned, before it is cached or shown
                answer = self._transport.scrub(self._ask(objective, cycle))
            except Exception as exc:  # every failure ends in a fallback, never a crashed batch
                return self._fallback(objective, context, self._reason(exc))
        self._to_cache(key, answer)
        return self._records(objective, context, answer)

    def _ask(self, objective: Objective, cycle: str | None = None) -> ObjectiveCoaching:
        return self._structured(ObjectiveCoaching, RESPONSE_SCHEMA, build_messages(self.prompt, objective, cycle))

    def _structured(self, response_model: type[Any], schema: dict[str, Any], messages: list[dict[str, str]]) -> Any:
        """One answer through the transport, the contract's refusals filed in `rejections`."""
        params: dict[str, Any] = {"model": self.model}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.max_tokens is not None:
            params["max_tokens"] = self.max_tokens
        with collecting_refusals(self.rejections):
            return self._transport.structured(response_model, schema, messages, max_retries=self.max_retries,
                                              **params)

    def _reason(self, exc: BaseException) -> str:
        """One sanitised line saying why an objective (or a plan) fell back."""
        chain: list[BaseException] = []
        e: BaseException | None = exc
        while e is not None and e not in chain:
            chain.append(e)
            e = e.__cause__ or e.__context__
        for e in chain:
            if isinstance(e, EndpointError):
                return "llm: " + one_line(self._transport.redact(str(e)))
        name = type(exc).__name__
        if name == "IncompleteOutputException":
            return "llm: the answer was cut off (max_tokens too small for this objective)"
        if name == "InstructorRetryException":
            tries = getattr(exc, "n_attempts", None) or self.max_retries + 1
            last = chain[1] if len(chain) > 1 else exc
            detail = _describe_parse_error(last)
            return "llm: " + one_line(self._transport.redact(f"answer invalid after {tries} tries: {detail}"))
        return "llm: " + one_line(self._transport.redact(f"{name}: {exc}"))

    # ----------------------------------------------------------------------------- plan review

    def plan_findings(self, krs: list[PlanKR], rules: list[PlanFinding]) -> tuple[list[PlanFinding], CrossTeam]:
        """The plan's cross-team findings from the model, in one request (`plan.CrossTeamFinder`).

        `krs` is every KR of the plan in input order, `rules` the rules engine's cross-team
        findings: what the plan keeps, marked as a fallback with the reason, when the model's
        answer cannot be used (network, breaker, an answer still invalid after the re-asks, a
        plan too large for one request). Cached like objective answers."""
        if len(krs) > MAX_PLAN_KRS:
            return self._plan_fallback(rules, f"llm: the plan has {len(krs)} key results; one request "
                                              f"takes at most {MAX_PLAN_KRS}")
        payload, by_id = plan_payload(krs)
        draft = PlanDraft.of(payload, by_id)
        with validating_plan_against(draft):
            key = self._plan_cache_key(payload) if self.cache is not None else None
            answer = self._from_cache(key, PlanCoaching) if key is not None else None
            if answer is None:
                skipped = self._transport.open_reason()
                if skipped is not None:
                    return self._plan_fallback(rules, f"llm: endpoint unavailable, not tried: {skipped}")
                try:
                    messages = build_plan_messages(self.plan_prompt, payload)
                    # the key out of every string the model returned, before it is cached or shown
                    answer = self._transport.scrub(self._structured(PlanCoaching, PLAN_RESPONSE_SCHEMA, messages))
                except Exception as exc:  # every failure ends in the rules findings, never a crash
                    return self._plan_fallback(rules, self._reason(exc))
                self._to_cache(key, answer)
        return (plan_findings_from(answer, by_id, draft.names),
                CrossTeam(engine=self.name, model=self.model, status="ok", error=None))

    def _plan_fallback(self, rules: list[PlanFinding], reason: str) -> tuple[list[PlanFinding], CrossTeam]:
        """The rules engine's cross-team findings, marked as a fallback with the reason."""
        self._count("fallbacks")
        reason = self._transport.redact(reason)
        log.info("llm fallback for the plan's cross-team findings: %s", reason)
        return list(rules), CrossTeam(engine="rules", model=None, status="fallback", error=reason)

    # ----------------------------------------------------------------------------------- cache

    def _cache_key(self, objective: Objective, cycle: str | None = None) -> str:
        return self._key("objective", self.prompt, SCHEMA_SHA256,
                         {"objective": objective.title, "cycle": cycle, "krs": [kr.kr for kr in objective.krs]})

    def _plan_cache_key(self, payload: dict[str, Any]) -> str:
        return self._key("plan", self.plan_prompt, PLAN_SCHEMA_SHA256, payload)

    def _key(self, kind: str, prompt: Prompt, schema: str, data: Any) -> str:
        """Everything that can change an answer to `data` (never the API key)."""
        return make_key(
            kind=kind,
            base_url=self.base_url,
            model=self.model,
            mode=self.mode,
            prompt=prompt.info(),
            schema=schema,
            params={"temperature": self.temperature, "max_tokens": self.max_tokens},
            input=data,
            version=krcoach_version(),
        )

    def _from_cache(self, key: str, response_model: type[Any]) -> Any:
        """A cached answer, checked against this draft or plan again (`validating_against` or
        `validating_plan_against` is in force), or None."""
        assert self.cache is not None
        value = self.cache.get(key)
        if not value or "answer" not in value:
            return None
        try:
            answer = response_model.model_validate(value["answer"])
        except ValueError:
            return None
        self._count("cache_hits")
        return self._transport.scrub(answer)  # an entry written before answers were scrubbed

    def _to_cache(self, key: str | None, answer: Any) -> None:
        if key is not None and self.cache is not None:
            self.cache.set(key, {"answer": answer.model_dump(mode="json"), "model": self.model})

    # --------------------------------------------------------------------------------- results

    def _records(self, objective: Objective, context: ReviewContext,
                 answer: ObjectiveCoaching) -> list[KRReview]:
        from krcoach.rules import anatomy

        out: list[KRReview] = []
        for kr, item in zip(objective.krs, answer.key_results, strict=True):
            issues: list[Issue] = []
            for issue in item.issues:
                if issue.code not in {i.code for i in issues}:
                    issues.append(Issue(code=issue.code,
                                        message=issue.message.strip() or ISSUE_CODES[issue.code]))
            rewrites = [
                Rewrite(text=anatomy.render_rewrite(rw.metric.strip(), rw.baseline, rw.target, rw.deadline),
                        metric=rw.metric.strip(), baseline=rw.baseline, target=rw.target,
                        deadline=rw.deadline, assumptions=[a.strip() for a in rw.assumptions if a.strip()])
                for rw in item.rewrites
            ]
            review = KRReview(
                id=kr.id, objective=objective.title, kr=kr.kr, owner=kr.owner, kind=item.kind,
                why=item.why, issues=issues, rewrites=rewrites, engine=self.name, model=self.model,
                status="ok", error=None, confidence=item.confidence,
                notes=doubts(item, kr.kr, clip_cycle(context.cycle)),
            )
            out.append(_deterministic_flags(review, kr, context))
        return out

    def _fallback(self, objective: Objective, context: ReviewContext, reason: str) -> list[KRReview]:
        """The rules review, marked as a fallback with the reason: honest about what produced it."""
        self._count("fallbacks")
        # every reason is redacted where it is built; once more here, where all of them pass
        reason = self._transport.redact(reason)
        log.info("llm fallback for objective %r: %s", objective.title, reason)
        if self._rules_engine is None:
            from krcoach.rules.engine import RulesEngine

            self._rules_engine = RulesEngine()
        reviews = self._rules_engine.review_objective(objective, context)
        return [
            _deterministic_flags(r.model_copy(update={"status": "fallback", "error": reason}), kr, context)
            for r, kr in zip(reviews, objective.krs, strict=True)
        ]

    def _count(self, what: str) -> None:
        with self._stats_lock:
            self.stats[what] += 1


def _describe_parse_error(exc: BaseException) -> str:
    """The gist of why an answer did not parse: pydantic's messages without the echoed input."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            items = errors(include_url=False, include_input=False)
        except TypeError:
            items = []
        parts = []
        for item in items[:3]:
            loc = ".".join(str(x) for x in item.get("loc", ()))
            msg = str(item.get("msg", "")).removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}" if loc else msg)
        if parts:
            return "; ".join(parts)
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON ({exc.msg})"
    return f"{type(exc).__name__}: {exc}"


def has_injection(text: str) -> bool:
    """The same test as `anatomy.parse(text).injection`, without the full parse (hot path)."""
    from krcoach.rules.anatomy import clean_kr
    from krcoach.rules.lexicon import lexicon

    return bool(lexicon().injection.search(clean_kr(text)))


def _deterministic_flags(review: KRReview, kr: KeyResult, context: ReviewContext) -> KRReview:
    """Flags decided in code whatever the model said: injection attempts and missing owners."""
    codes = set(review.issue_codes())
    extra: list[Issue] = []
    if "injection" not in codes and has_injection(kr.kr):
        extra.append(Issue(code="injection", message=INJECTION_MESSAGE))
    if context.set_uses_owners and not kr.owner and "no_owner" not in codes:
        extra.append(Issue(code="no_owner", message=ISSUE_CODES["no_owner"]))
    if not extra:
        return review
    return review.model_copy(update={"issues": [*review.issues, *extra]})


def build(endpoint: Any = None, *, use_cache: bool = True) -> LLMEngine:
    """The llm row of `krcoach.engine.ENGINE_BUILDERS`: the environment's endpoint, or a local
    server that `auto` found (an `engine.Endpoint` with `local` set)."""
    if endpoint is None or endpoint.local is None:
        return LLMEngine.from_env(use_cache=use_cache)
    timeout = llm_timeout()
    return LLMEngine(base_url=endpoint.base_url, api_key=None, model=endpoint.model,
                     mode=os.environ.get("KRCOACH_LLM_MODE") or None,
                     cache=AnswerCache() if use_cache else None,
                     **({"timeout": timeout} if timeout is not None else {}))
