"""An answer to `/assess` as it is sent and kept: status, the exact body bytes, headers.

The same bytes go to the caller and into the store, so an idempotent replay, a poll of
`/assessments/{id}` and the original response are byte-identical. A problem answer (the
model refused, the provider failed) is an answer too: kept with its status and body.
"""

from __future__ import annotations

import calendar
import datetime as dt
import email.utils
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
from litestar import Request, Response

from service.assessment.complete import Completed, complete
from service.assessment.envelope import PromptRef, encode_envelope
from service.assessment.markdown import MARKDOWN, markdown_response
from service.assessment.prepare import Prepared
from service.errors import AttacheError, problem_document
from service.provider import Completer
from service.registry import Persona, Registry
from service.settings import Settings
from service.store import Finished, Stored

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


class Pending(msgspec.Struct, frozen=True):
    """An assessment still running: poll `location`."""

    id: str
    status: Literal["pending"]
    location: str


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    media_type: str
    finished: Finished
    headers: dict[str, str] = field(default_factory=dict)
    served: Completed | None = None
    """The envelope and its registry objects, for Markdown (None for a problem)."""


async def answer(prepared: Prepared, *, provider: Completer | None, settings: Settings, assessment_id: str) -> Answer:
    try:
        served = await complete(prepared, provider=provider, settings=settings, assessment_id=assessment_id)
    except AttacheError as exc:
        return problem_answer(exc, prepared)
    envelope = served.envelope
    body = encode_envelope(envelope)
    finished = Finished(
        finished_at=dt.datetime.now(dt.UTC),
        outcome="ok",
        http_status=200,
        body=body,
        model=envelope.model,
        input_tokens=envelope.usage.input_tokens,
        output_tokens=envelope.usage.output_tokens,
        attempts=envelope.usage.attempts,
        latency_ms=envelope.latency_ms,
    )
    headers = prompt_headers(served.persona, envelope.prompt)
    return Answer(200, body, JSON, finished, headers, served)


def problem_answer(exc: AttacheError, prepared: Prepared | None = None) -> Answer:
    body = msgspec.json.encode(problem_document(exc))
    attempts = exc.extra.get("attempts", 0)
    finished = Finished(
        finished_at=dt.datetime.now(dt.UTC),
        outcome=exc.code,
        http_status=exc.status,
        body=body,
        attempts=attempts if isinstance(attempts, int) else 0,
        latency_ms=round((time.perf_counter() - prepared.started) * 1000, 1) if prepared else 0.0,
    )
    return Answer(exc.status, body, PROBLEM_JSON, finished, dict(exc.headers))


def prompt_headers(persona: Persona | None, prompt: PromptRef) -> dict[str, str]:
    """The served prompt, the label asked for and its roll-out's choice, and for a deprecated
    version RFC 9745/8594 headers and its successor."""
    version = prompt.version
    headers = {"Attache-Prompt-Version": version, "Attache-Prompt-Sha256": prompt.sha256}
    if prompt.label is not None:
        headers["Attache-Prompt-Label"] = prompt.label
    if (rollout := prompt.rollout) is not None:
        # An RFC 8941 item: the roll-out's version, with its share and this caller's arm.
        headers["Attache-Prompt-Rollout"] = f'"{rollout.version}";percent={rollout.percent:g};arm={rollout.arm}'
    deprecation = persona.deprecation(version) if persona is not None else None
    if persona is not None and deprecation is not None:
        since = calendar.timegm(deprecation.since.timetuple())
        sunset = calendar.timegm(deprecation.sunset.timetuple())
        headers["Deprecation"] = f"@{since}"  # RFC 9745
        headers["Sunset"] = email.utils.formatdate(sunset, usegmt=True)  # RFC 8594
        if deprecation.successor:
            headers["Link"] = f'</agents/{persona.id}/versions/{deprecation.successor}>; rel="successor-version"'
    return headers


def respond(request: Request[Any, Any, Any], result: Answer, registry: Registry) -> Response[Any]:
    if result.status == 200 and request.accept.best_match([JSON, MARKDOWN], default=JSON) == MARKDOWN:
        return markdown_response(result.body, registry, result.headers)
    return Response(result.body, status_code=result.status, headers=result.headers, media_type=result.media_type)


def stored_response(request: Request[Any, Any, Any], row: Stored, registry: Registry) -> Response[Any]:
    """A finished row as it was first sent (JSON envelope or problem), or as Markdown."""
    body, status = row.body or b"", row.http_status or 500  # a finished row has both
    persona = registry.personas.get(row.agent)
    headers = prompt_headers(persona, _stored_prompt(body)) if row.outcome == "ok" else {}
    if row.outcome == "ok" and request.accept.best_match([JSON, MARKDOWN], default=JSON) == MARKDOWN:
        return markdown_response(body, registry, headers)
    media_type = JSON if row.outcome == "ok" else "application/problem+json"
    return Response(body, status_code=status, headers=headers, media_type=media_type)


class _EnvelopePrompt(msgspec.Struct, frozen=True):
    prompt: PromptRef


def _stored_prompt(body: bytes) -> PromptRef:
    """The prompt an `ok` row's envelope names (label and roll-out included), for its headers."""
    return msgspec.json.decode(body, type=_EnvelopePrompt).prompt
