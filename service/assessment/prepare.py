"""A request made ready for the model: validated, resolved to a pinned prompt, rendered.

Every caller error (400/404/422) is raised here, before anything is kept or any model is asked.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import msgspec
import structlog
from pydantic import BaseModel

from schemas import SCHEMAS
from service.assessment.request import AssessRequest
from service.errors import InvalidRequest
from service.registry import Persona, PromptVersion, Registry, RenderedPrompt
from service.registry.reference import AgentReference
from service.registry.rollout import RolloutChoice
from service.settings import Settings
from service.store.records import Inputs


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
    resolution = registry.resolve(AgentReference.parse(request.agent, request.version), caller)
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
