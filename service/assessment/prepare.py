"""One assessment: resolve the pinned prompt, render it, ask the model, wrap the answer.

The HTTP route and `attache assess` both call `run_assessment`, so the command line and the
API cannot drift apart. Agent, version and signature come from the registry, never from the
model's output.
"""

from __future__ import annotations

import datetime as dt
import hashlib
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
    from service.provider.client import ModelAnswer
from service.logs import get_logger
from service.metrics import metrics
from service.registry import Persona, PromptVersion, Registry, RenderedPrompt
from service.registry.rollout import RolloutChoice
from service.settings import Settings
from service.store.records import Inputs

logger = get_logger("attache.assess")


class Completer(Protocol):
    """What an assessment needs from a provider (service.provider.client.ModelProvider; importing the
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


class PromptRef(msgspec.Struct, frozen=True, omit_defaults=True):
    version: Annotated[str, msgspec.Meta(description="The version served.")]
    label: Annotated[str | None, msgspec.Meta(description="The label asked for (or `stable` by default).")]
    sha256: Annotated[str, msgspec.Meta(description="sha256 of the served version file.")]
    rollout: (
        Annotated[
            RolloutChoice,
            msgspec.Meta(description="Present when the label asked for is rolling out: what it chose for this caller."),
        ]
        | None
    ) = None


class Usage(msgspec.Struct, frozen=True):
    input_tokens: int
    output_tokens: int
    attempts: int


class AssessmentEnvelope(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str
    created_at: dt.datetime
    agent: AgentRef
    prompt: PromptRef
    model: str
    assessment: Assessment
    usage: Usage
    latency_ms: float
    cached_from: (
        Annotated[
            str,
            msgspec.Meta(description="Answered from the response cache: the id of the assessment first answered."),
        ]
        | None
    ) = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request that validated, resolved and rendered: everything but the model's answer."""

    request: AssessRequest
    persona: Persona
    prompt: PromptVersion
    label: str | None
    rendered: RenderedPrompt
    model: str
    started: float
    """perf_counter() when the request arrived."""
    rollout: RolloutChoice | None = None

    @property
    def response_model(self) -> type[BaseModel]:
        spec = self.prompt.spec
        return SCHEMAS[(spec.output.schema, spec.output.version)]

    def cache_key(self, settings: Settings) -> str:
        """What makes two requests the same request: the served prompt, exactly as rendered,
        and everything that shapes the answer. Never crosses versions: moving a label changes
        the sha256 a label resolves to, and so the key."""
        spec = self.prompt.spec
        identity = [
            self.prompt.sha256,
            spec.output.schema,
            spec.output.version,
            self.model,
            spec.model.temperature,
            spec.model.max_output_tokens,
            settings.llm_mode,
            self.rendered.system,
            self.rendered.user,
        ]
        return hashlib.sha256(msgspec.json.encode(identity)).hexdigest()

    def request_sha256(self) -> str:
        """The body, canonically: an Idempotency-Key replays only for the same one."""
        return hashlib.sha256(msgspec.json.encode(self.request)).hexdigest()

    def inputs(self, *, keep_text: bool) -> Inputs:
        request = self.request
        as_of = request.as_of.isoformat() if request.as_of else None
        digest = hashlib.sha256(msgspec.json.encode([request.context, request.question, request.source, as_of]))
        if not keep_text:
            return Inputs(None, None, None, None, digest.hexdigest())
        return Inputs(request.context, request.question, request.source, as_of, digest.hexdigest())


@dataclass(frozen=True, slots=True)
class Served:
    """An envelope with the registry objects that produced it (for headers and Markdown)."""

    envelope: AssessmentEnvelope
    persona: Persona
    prompt: PromptVersion
    reasks: int = 0
    """Answers sent back for failing the schema (not in the envelope; `attache eval` counts them)."""


def new_assessment_id() -> str:
    """Always Attaché's own: the caller's X-Request-ID is kept for correlation, never used as a key."""
    return uuid.uuid4().hex


def encode_envelope(envelope: AssessmentEnvelope) -> bytes:
    """The envelope as JSON bytes: what the caller is sent and the store keeps, byte for byte."""
    return msgspec.json.encode(envelope, enc_hook=_encode_model)


def _encode_model(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise NotImplementedError(type(value))


def prepare(request: AssessRequest, *, registry: Registry, settings: Settings, caller: str | None = None) -> Prepared:
    """Validate, resolve and render; every caller error (400/404/422) is raised here.

    `caller` (its HMAC name) places it in a label's roll-out; without one, a label serves its own version.
    """
    started = time.perf_counter()
    if not request.context.strip():
        raise InvalidRequest("`context` is blank; send the news excerpt to assess", status=422)
    if len(request.context) > settings.max_context_chars:
        raise InvalidRequest(
            f"`context` is {len(request.context):,} characters; the limit is {settings.max_context_chars:,}",
            status=422,
        )
    resolution = registry.resolve_for_caller(request.agent, request.version, caller)
    persona, prompt, label = resolution.persona, resolution.prompt, resolution.label
    if persona.spec.role != "desk":
        raise InvalidRequest(
            f"{persona.id} is a {persona.spec.role} persona: it scores assessments in `attache eval --judge` "
            "and answers no /assess request",
            status=422,
        )
    # From here on the agent and version are registry-known: safe as labels, bound into every log line.
    structlog.contextvars.bind_contextvars(agent=persona.id, version=prompt.version, sha256=prompt.sha256)
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
    model = settings.llm_model or prompt.spec.model.name
    return Prepared(request, persona, prompt, label, rendered, model, started, resolution.rollout)


async def complete(prepared: Prepared, *, provider: Completer | None, settings: Settings, assessment_id: str) -> Served:
    """Ask the model; the envelope, or the AttacheError that explains why there is none."""
    if provider is None:
        raise ProviderNotConfigured(PROVIDER_NOT_CONFIGURED)
    persona, prompt = prepared.persona, prepared.prompt
    structlog.contextvars.bind_contextvars(assessment_id=assessment_id)
    spec = prompt.spec
    m = metrics()
    outcome = "internal_error"
    m.in_flight.inc()
    try:
        answer = await provider.complete(
            response_model=prepared.response_model,
            model=spec.model.name,
            system=prepared.rendered.system,
            user=prepared.rendered.user,
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
    return Served(envelope=envelope, persona=persona, prompt=prompt, reasks=reasks)


async def run_assessment(
    request: AssessRequest,
    *,
    registry: Registry,
    provider: Completer | None,
    settings: Settings,
    assessment_id: str | None = None,
) -> Served:
    """One assessment, start to end, with no store: what `attache assess` runs."""
    prepared = prepare(request, registry=registry, settings=settings)
    return await complete(
        prepared, provider=provider, settings=settings, assessment_id=assessment_id or new_assessment_id()
    )
