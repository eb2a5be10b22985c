"""What a caller gets back: the envelope around the typed assessment, exactly as sent and kept.

Agent, prompt and signature come from the registry, never from the model's output.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec
from pydantic import BaseModel

from schemas import Assessment
from service.registry.rollout import RolloutChoice


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
