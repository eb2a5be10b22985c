"""One assessment: resolve the pinned prompt, render it, ask the model, wrap the answer.

The HTTP route and `attache assess` both call `run_assessment`, so the command line and the
API cannot drift apart. Agent, version and signature come from the registry, never from the
model's output.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Protocol

import msgspec
import structlog
from pydantic import BaseModel

from schemas import SCHEMAS, Assessment
from service.errors import PROVIDER_NOT_CONFIGURED, AttacheError, InvalidRequest, ProviderNotConfigured

if TYPE_CHECKING:
    from service.provider import ModelAnswer
from service.logs import get_logger
from service.metrics import metrics
from service.registry import Persona, PromptVersion, Registry
from service.settings import Settings

logger = get_logger("attache.assess")


class Completer(Protocol):
    """What an assessment needs from a provider (service.provider.ModelProvider; importing the
    openai SDK costs ~1.5 s, so only the provider module does, and only when one is configured)."""

    async def complete(
        self,
        *,
        response_model: type[BaseModel],
        model: str,
        system: str,
        user: str,
        temperature: float,
        max_tokens: int,
        agent: str,
        version: str,
    ) -> ModelAnswer: ...


# Caller text is plain text: no C0 controls but tab, newline and carriage return, no DEL, no
# C1 controls. In the schema, so msgspec rejects them (400) and the OpenAPI document says so.
PLAIN_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"


class AssessRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    agent: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=100,
            description="`jp-01`, `jp-01@1.0.0` or `jp-01@stable`; without a version or label, `stable`.",
            examples=["jp-01", "jp-01@1.0.0", "jp-01@canary"],
        ),
    ]
    context: Annotated[
        str,
        msgspec.Meta(min_length=1, pattern=PLAIN_TEXT, description="The news excerpt to assess, verbatim; plain text."),
    ]
    version: (
        Annotated[str, msgspec.Meta(max_length=100, description="A version or label; must agree with an `@` suffix.")]
        | None
    ) = None
    question: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1,
                max_length=2000,
                pattern=PLAIN_TEXT,
                description="Defaults to the prompt version's question.",
            ),
        ]
        | None
    ) = None
    source: (
        Annotated[str, msgspec.Meta(max_length=200, pattern=PLAIN_TEXT, description="Where the excerpt comes from.")]
        | None
    ) = None
    as_of: Annotated[dt.date | None, msgspec.Meta(description="The date the assessment treats as today.")] = None


class AgentRef(msgspec.Struct, frozen=True):
    id: str
    callsign: str
    name: str
    organization: str


class PromptRef(msgspec.Struct, frozen=True):
    version: str
    label: str | None
    sha256: str


class Usage(msgspec.Struct, frozen=True):
    input_tokens: int
    output_tokens: int
    attempts: int


class AssessmentEnvelope(msgspec.Struct, frozen=True):
    id: str
    created_at: dt.datetime
    agent: AgentRef
    prompt: PromptRef
    model: str
    assessment: Assessment
    usage: Usage
    latency_ms: float


@dataclass(frozen=True, slots=True)
class Served:
    """An envelope with the registry objects that produced it (for headers and Markdown)."""

    envelope: AssessmentEnvelope
    persona: Persona
    prompt: PromptVersion


def new_assessment_id() -> str:
    """Always Attaché's own: the caller's X-Request-ID is kept for correlation, never used as a key."""
    return uuid.uuid4().hex


async def run_assessment(
    request: AssessRequest,
    *,
    registry: Registry,
    provider: Completer | None,
    settings: Settings,
    assessment_id: str | None = None,
) -> Served:
    """One assessment; every check of the request comes before the provider is needed.

    `assessment_id` is always one Attaché generated (a fresh one when None).
    """
    started = time.perf_counter()
    assessment_id = assessment_id or new_assessment_id()
    if not request.context.strip():
        raise InvalidRequest("`context` is blank; send the news excerpt to assess", status=422)
    if len(request.context) > settings.max_context_chars:
        raise InvalidRequest(
            f"`context` is {len(request.context):,} characters; the limit is {settings.max_context_chars:,}",
            status=422,
        )
    persona, prompt, label = registry.resolve(request.agent, request.version)
    # From here on the agent and version are registry-known: safe as labels, bound into every log line.
    structlog.contextvars.bind_contextvars(
        assessment_id=assessment_id, agent=persona.id, version=prompt.version, sha256=prompt.sha256
    )
    rendered = prompt.render(
        persona,
        # Only what the caller sent: a version that declares no `as_of` still serves callers
        # who do not send one, and refuses (400) those who do.
        {
            name: value
            for name, value in (
                ("context", request.context),
                ("question", request.question),
                ("source", request.source),
                ("as_of", request.as_of.isoformat() if request.as_of else None),
            )
            if value is not None
        },
    )
    if provider is None:
        raise ProviderNotConfigured(PROVIDER_NOT_CONFIGURED)
    spec = prompt.spec
    m = metrics()
    outcome = "internal_error"
    m.in_flight.inc()
    try:
        answer = await provider.complete(
            response_model=SCHEMAS[(spec.output.schema, spec.output.version)],
            model=spec.model.name,
            system=rendered.system,
            user=rendered.user,
            temperature=spec.model.temperature,
            max_tokens=spec.model.max_output_tokens,
            agent=persona.id,
            version=prompt.version,
        )
        outcome = "ok"
    except AttacheError as exc:
        outcome = exc.code
        raise
    finally:
        m.in_flight.dec()
        m.assessments.labels(persona.id, prompt.version, outcome).inc()
        m.assessment_duration.labels(persona.id, prompt.version).observe(time.perf_counter() - started)
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
        logger.debug("assessment text", context=request.context, assessment=answer.output.model_dump(mode="json"))
    assert isinstance(answer.output, Assessment)  # noqa: S101 - the registry only references assessment v1
    envelope = AssessmentEnvelope(
        id=assessment_id,
        created_at=dt.datetime.now(dt.UTC),
        agent=AgentRef(persona.id, persona.spec.callsign, persona.spec.name, persona.spec.organization),
        prompt=PromptRef(prompt.version, label, prompt.sha256),
        model=answer.model,
        assessment=answer.output,
        usage=Usage(answer.log.input_tokens, answer.log.output_tokens, answer.log.attempts),
        latency_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return Served(envelope=envelope, persona=persona, prompt=prompt)
