"""The model's part: ask the provider for the prepared prompt and wrap its answer in the envelope.

The HTTP flow and `attache assess` both end here, so the command line and the API cannot
drift apart.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import structlog

from schemas import Assessment
from service.assessment.envelope import AgentRef, AssessmentEnvelope, PromptRef, Usage, new_assessment_id
from service.assessment.prepare import Prepared, prepare
from service.assessment.request import AssessRequest
from service.errors import PROVIDER_NOT_CONFIGURED, AttacheError, ProviderNotConfigured
from service.logs import get_logger
from service.metrics import metrics
from service.provider import Completer, ModelRequest
from service.registry import Persona, PromptVersion, Registry
from service.settings import Settings

logger = get_logger("attache.assess")


@dataclass(frozen=True, slots=True)
class Completed:
    """An envelope with the registry objects that produced it (for headers and Markdown)."""

    envelope: AssessmentEnvelope
    persona: Persona
    prompt: PromptVersion
    reasks: int = 0
    """Answers sent back for failing the schema (not in the envelope; `attache eval` counts them)."""


async def complete(
    prepared: Prepared, *, provider: Completer | None, settings: Settings, assessment_id: str
) -> Completed:
    """Ask the model; the envelope, or the AttacheError that explains why there is none."""
    if provider is None:
        raise ProviderNotConfigured(PROVIDER_NOT_CONFIGURED)
    persona, prompt = prepared.persona, prepared.prompt
    structlog.contextvars.bind_contextvars(assessment_id=assessment_id)
    m = metrics()
    outcome = "internal_error"
    m.in_flight.inc()
    try:
        answer = await provider.complete(ModelRequest.of(persona, prompt, prepared.rendered, prepared.response_model))
        outcome = "ok"
    except AttacheError as exc:
        outcome = exc.code
        raise
    finally:
        m.in_flight.dec()
        m.assessments.labels(persona.id, prompt.version, outcome).inc()
        m.assessment_duration.labels(persona.id, prompt.version).observe(time.perf_counter() - prepared.started)
        structlog.contextvars.bind_contextvars(outcome=outcome)
    reasks = answer.log.reasks
    if reasks:
        m.reasks.labels(persona.id, prompt.version).inc(reasks)
    structlog.contextvars.bind_contextvars(
        model=answer.model,
        attempts=answer.log.attempts,
        reasks=reasks,
        input_tokens=answer.log.input_tokens,
        output_tokens=answer.log.output_tokens,
    )
    if settings.log_text:
        logger.debug(
            "assessment text", context=prepared.request.context, assessment=answer.output.model_dump(mode="json")
        )
    assert isinstance(answer.output, Assessment)  # noqa: S101 - the registry only references assessment v1
    envelope = AssessmentEnvelope(
        id=assessment_id,
        created_at=dt.datetime.now(dt.UTC),
        agent=AgentRef(persona.id, persona.spec.callsign, persona.spec.name, persona.spec.organization),
        prompt=PromptRef(prompt.version, prepared.label, prompt.sha256, prepared.rollout),
        model=answer.model,
        assessment=answer.output,
        usage=Usage(answer.log.input_tokens, answer.log.output_tokens, answer.log.attempts),
        latency_ms=round((time.perf_counter() - prepared.started) * 1000, 1),
    )
    return Completed(envelope=envelope, persona=persona, prompt=prompt, reasks=reasks)


async def run_assessment(
    request: AssessRequest,
    *,
    registry: Registry,
    provider: Completer | None,
    settings: Settings,
    assessment_id: str | None = None,
) -> Completed:
    """One assessment, start to end, with no store: what `attache assess` runs."""
    prepared = prepare(request, registry=registry, settings=settings)
    return await complete(
        prepared, provider=provider, settings=settings, assessment_id=assessment_id or new_assessment_id()
    )
