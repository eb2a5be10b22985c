"""One item through one version, by the code path `/assess` takes, and what came of it.

`prepare` and `complete` are the very functions the route calls (resolution, rendering,
instructor, the retry policy, the deadline); only the caller is absent, so no roll-out
applies and nothing is kept in the store. A provider fault, a refusal or an answer that
stays invalid is that item's outcome; the run goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from schemas import Assessment
from service.assessment.complete import complete
from service.assessment.envelope import new_assessment_id
from service.assessment.prepare import prepare
from service.assessment.request import AssessRequest
from service.errors import AttacheError
from service.eval.checks import Checks, check
from service.eval.judge import Judge, judge_prompt, score
from service.eval.prices import PriceTable
from service.eval.replay import Recording
from service.eval.suite import Item
from service.logs import get_logger
from service.provider import Completer
from service.registry import Persona, PromptVersion, Registry
from service.settings import Settings

log = get_logger("attache.eval")


@dataclass(slots=True)
class ItemResult:
    version: str
    suite: str
    item: str
    outcome: str
    """`ok`, or the problem code (`upstream_unavailable`, `invalid_model_output`, `cassette_miss`, …)."""
    detail: str | None = None
    attempts: int = 0
    reasks: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float | None = None
    model: str | None = None
    cost: float | None = None
    assessment: dict[str, Any] | None = None
    checks: Checks | None = None
    judge: dict[str, Any] | None = None
    judge_outcome: str | None = None
    judge_detail: str | None = None
    origin: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def first_attempt_valid(self) -> bool:
        return self.ok and self.reasks == 0


@dataclass(frozen=True)
class Plan:
    persona: Persona
    versions: list[PromptVersion]
    items: list[Item]
    judge: Judge | None = None
    concurrency: int = 4
    recording: Recording | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return len(self.versions) * len(self.items)


async def run_plan(
    plan: Plan,
    *,
    registry: Registry,
    provider: Completer,
    settings: Settings,
    prices: PriceTable,
    done: Callable[[ItemResult], None] = lambda result: None,
) -> list[ItemResult]:
    """Every item through every version, `plan.concurrency` at a time; results in plan order."""
    gate = asyncio.Semaphore(plan.concurrency)

    async def one(version: PromptVersion, item: Item) -> ItemResult:
        async with gate:
            result = await run_item(plan, version, item, registry=registry, provider=provider, settings=settings)
        result.cost = prices.cost(result.model or version.spec.model.name, result.input_tokens, result.output_tokens)
        done(result)
        return result

    return list(await asyncio.gather(*(one(v, i) for v in plan.versions for i in plan.items)))


async def run_item(
    plan: Plan,
    version: PromptVersion,
    item: Item,
    *,
    registry: Registry,
    provider: Completer,
    settings: Settings,
) -> ItemResult:
    persona = plan.persona
    result = ItemResult(version=version.version, suite=item.suite, item=item.id, outcome="ok", origin=item.origin)
    started = time.perf_counter()
    try:
        request = msgspec.convert(
            {
                "agent": f"{persona.id}@{version.version}",
                "context": item.context,
                "question": item.question,
                "source": item.source,
                "as_of": item.as_of.isoformat() if item.as_of else None,
            },
            AssessRequest,
        )
        prepared = prepare(request, registry=registry, settings=settings)
    except (AttacheError, msgspec.ValidationError) as exc:
        result.outcome = exc.code if isinstance(exc, AttacheError) else "invalid_request"
        result.detail = exc.detail if isinstance(exc, AttacheError) else str(exc)
        return result
    if plan.recording is not None:
        plan.recording.expect(prepared.rendered.system, prepared.rendered.user, f"{persona.id}/{version.version}")
    try:
        served = await complete(prepared, provider=provider, settings=settings, assessment_id=new_assessment_id())
    except AttacheError as exc:
        attempts = exc.extra.get("attempts", 0)
        result.attempts = attempts if isinstance(attempts, int) else 0
        result.outcome, result.detail = _outcome(exc)
        # Every answer that failed the schema was sent back, but the last.
        result.reasks = max(result.attempts - 1, 0) if exc.code == "invalid_model_output" else 0
        result.latency_ms = round((time.perf_counter() - started) * 1000, 1)
        return result
    except Exception as exc:  # a bug must not end the run: it is this item's outcome, and said so
        log.error("eval item failed unexpectedly", item=item.key, version=version.version, exc_info=exc)
        result.outcome, result.detail = "internal_error", f"{type(exc).__name__}: {exc}"
        return result
    envelope = served.envelope
    result.attempts = envelope.usage.attempts
    result.reasks = served.reasks
    result.input_tokens = envelope.usage.input_tokens
    result.output_tokens = envelope.usage.output_tokens
    result.latency_ms = envelope.latency_ms
    result.model = envelope.model
    result.assessment = envelope.assessment.model_dump(mode="json")
    result.checks = check(envelope.assessment, persona, item)
    if plan.judge is not None:
        await _judge(plan.judge, plan, item, envelope.assessment, provider, result)
    return result


async def _judge(
    judge: Judge, plan: Plan, item: Item, assessment: Assessment, provider: Completer, result: ItemResult
) -> None:
    rendered = judge_prompt(judge, item, plan.persona, assessment)
    if plan.recording is not None:
        plan.recording.expect(rendered.system, rendered.user, f"{plan.persona.id}/{result.version}")
    try:
        rubric, _ = await score(judge, rendered, provider)
    except AttacheError as exc:
        result.judge_outcome, result.judge_detail = _outcome(exc)
        return
    result.judge_outcome = "ok"
    result.judge = rubric.model_dump(mode="json")


def _outcome(exc: AttacheError) -> tuple[str, str]:
    """The problem code, with a missing recording named as such rather than as a provider refusal."""
    if exc.code == "upstream_rejected" and "cassette_miss" in exc.detail:
        return "cassette_miss", "no recorded exchange for this prompt: record the eval cassettes again (--record)"
    return exc.code, exc.detail
