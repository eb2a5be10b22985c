"""`POST /assess`: a persona's typed assessment of a news item, kept in the store.

In order: the request validates, resolves and renders (400/404/422 on every pod); an
`Idempotency-Key` claims its row (a repeat is replayed, 409 while the first runs, 422 for
another body); `Prefer: respond-async` answers 202 and goes on in the background; an
identical recent request is answered from the response cache; else the model is asked.
Every answer is kept, success or problem alike, before it is sent. A store that is down
costs only what needs it: a plain request is still answered (and counted unkept); a
promise that needs the store (idempotency, async) is 503 `store_unavailable`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody

from service.access.admission import Admission
from service.access.guard import caller_of, require_api_key
from service.access.rate_limit import rate_limit
from service.assessment.answer import JSON, Answer, Pending, answer, prompt_headers
from service.assessment.background import Background, lease_until
from service.assessment.cache import ResponseCache, hit_answer
from service.assessment.directives import Directives
from service.assessment.envelope import AssessmentEnvelope, PromptRef, new_assessment_id
from service.assessment.markdown import MARKDOWN, markdown_response
from service.assessment.prepare import Prepared, prepare
from service.assessment.request import AssessRequest
from service.errors import IdempotencyKeyReused, Overloaded, RequestInProgress, StoreUnavailableError
from service.http.body import BODY_TYPE
from service.http.openapi import BEARER, problem_responses
from service.http.request_context import generated_request_id
from service.logs import get_logger
from service.metrics import metrics
from service.registry import Registry
from service.settings import Settings
from service.store import Started, Store, Stored, StoreUnavailable

log = get_logger("attache.assess")
STORE_NEEDED = "the assessment store is unavailable, and {what} needs it; retry shortly, or send without it"


@post(
    "/assess",
    status_code=200,
    tags=["assess"],
    summary="Assess a news item as a persona",
    operation_id="assess",
    security=BEARER,
    description="Returns the assessment envelope as JSON, or with `Accept: text/markdown` the same assessment "
    "in the sample's layout. The served prompt version and sha256 are echoed in the body and in the "
    "`Attache-Prompt-Version` / `Attache-Prompt-Sha256` headers, the label asked for in `Attache-Prompt-Label`, and "
    "when that label is rolling out, its choice for this caller in `prompt.rollout` and `Attache-Prompt-Rollout` "
    "(sticky per caller; an exact version is never re-routed); a deprecated version adds `Deprecation`, "
    "`Sunset` and a `successor-version` link. `Idempotency-Key` makes a retry safe; `Prefer: respond-async` "
    "answers 202 with a `Location` to poll; `Cache-Control: no-cache` skips the response cache, `no-store` keeps "
    "neither the answer in it nor the caller's text.",
    responses={
        202: ResponseSpec(Pending, description="With `Prefer: respond-async`: accepted; poll the `Location`."),
        **problem_responses(400, 401, 404, 409, 413, 422, 429, 502, 503, 504),
    },
    guards=[require_api_key, rate_limit],
    opt={BODY_TYPE: AssessRequest},
)
async def assess(
    request: Request[Any, Any, Any],
    data: JSONBody[AssessRequest],
    registry: NamedDependency[Registry],
    state: State,
) -> Response[AssessmentEnvelope]:
    settings: Settings = state.settings
    directives = Directives.from_headers(request.headers)
    prepared = prepare(data, registry=registry, settings=settings, caller=caller_of(request).name)
    store: Store = state.store
    now = dt.datetime.now(dt.UTC)
    started = Started(
        id=generated_request_id(request.scope) or new_assessment_id(),
        created_at=now,
        caller=caller_of(request).name,
        agent=prepared.persona.id,
        version=prepared.prompt.version,
        label=prepared.label,
        sha256=prepared.prompt.sha256,
        inputs=prepared.inputs(keep_text=settings.store_text and not directives.no_store),
        idempotency_key=directives.idempotency_key,
        request_sha256=prepared.request_sha256() if directives.idempotency_key else None,
        cache_key=None if directives.no_store or not settings.response_cache_ttl else prepared.cache_key(settings),
    )
    admission: Admission = state.admission
    if directives.respond_async:
        admission.acquire()  # before anything is kept: a refused request leaves nothing behind
    try:
        claimed = await _claim(store, started, directives, settings)
    except BaseException:
        if directives.respond_async:
            admission.release()
        raise
    if isinstance(claimed, Stored):
        if directives.respond_async:
            admission.release()
        return _repeat(request, claimed, started, registry)
    if directives.respond_async:
        return _respond_async(state, prepared, started)

    result = await _from_cache(state, prepared, started, directives)
    if result is None:
        try:
            admission.acquire()
        except Overloaded:
            if claimed:  # never started: the key is free for the retry the 503 invites
                await _release(store, started.id)
            raise
        try:
            result = await answer(prepared, provider=state.get("provider"), settings=settings, assessment_id=started.id)
        finally:
            admission.release()
    await _keep(store, started, result, claimed=claimed)
    return _respond(request, result, registry)


async def _claim(store: Store, started: Started, directives: Directives, settings: Settings) -> bool | Stored:
    """Claim the row when a promise needs it (idempotency, async): True, or the row holding the key."""
    if not (directives.idempotency_key or directives.respond_async):
        return False
    what = "Idempotency-Key" if directives.idempotency_key else "Prefer: respond-async"
    # A sync claim needs no renewal: the deadline ends it first. An async one is renewed while it runs.
    lease = lease_until(settings) if directives.respond_async else started.created_at + _deadline(settings)
    try:
        holder = await store.claim(started, lease)
    except StoreUnavailable:
        raise StoreUnavailableError(STORE_NEEDED.format(what=what), headers={"Retry-After": "5"}) from None
    return True if holder is None else holder


async def _release(store: Store, assessment_id: str) -> None:
    try:
        await store.release(assessment_id)
    except StoreUnavailable:
        log.error("claim not released; its lease will end it", assessment_id=assessment_id)


async def _from_cache(state: State, prepared: Prepared, started: Started, directives: Directives) -> Answer | None:
    cache: ResponseCache | None = state.get("response_cache")
    if cache is None or directives.no_cache or started.cache_key is None:
        metrics().response_cache.labels("bypass").inc()
        return None
    try:
        original = await cache.find(started.cache_key, started.created_at)
    except StoreUnavailable:
        metrics().response_cache.labels("bypass").inc()
        return None
    if original is None:
        metrics().response_cache.labels("miss").inc()
        return None
    metrics().response_cache.labels("hit").inc()
    return hit_answer(original, prepared, started.id, started.created_at)


async def _keep(store: Store, started: Started, result: Answer, *, claimed: bool) -> None:
    """Keep the answer before it is sent; a store that is down costs the record, not the answer."""
    if not store.enabled:
        return  # ATTACHE_DATABASE_URL=off
    try:
        if claimed:
            await store.finish(started.id, result.finished)
        else:
            await store.record(started, result.finished)
    except StoreUnavailable:
        log.error("assessment answered but not kept: the store is unavailable", assessment_id=started.id)


def _respond_async(state: State, prepared: Prepared, started: Started) -> Response[Any]:
    """202 now; the work holds the in-flight slot taken for it until it ends."""
    background: Background = state.background
    admission: Admission = state.admission

    async def work() -> None:
        try:
            result = await answer(
                prepared, provider=state.get("provider"), settings=state.settings, assessment_id=started.id
            )
        finally:
            admission.release()
        await background.finish(started.id, result.finished)

    background.run(started.id, work())
    location = f"/assessments/{started.id}"
    body = Pending(id=started.id, status="pending", location=location)
    headers = {"Location": location, "Preference-Applied": "respond-async", "Retry-After": "1"}
    return Response(body, status_code=202, headers=headers, media_type=JSON)


def _repeat(request: Request[Any, Any, Any], holder: Stored, started: Started, registry: Registry) -> Response[Any]:
    """The same Idempotency-Key again: the stored answer, a 409 while it runs, a 422 for another body."""
    if holder.request_sha256 != started.request_sha256:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used in the last 24 hours with another request body; use a new key"
        )
    if holder.pending:
        raise RequestInProgress(
            "the first request with this Idempotency-Key is still running; retry shortly",
            headers={"Retry-After": "1"},
        )
    response = stored_response(request, holder, registry)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _respond(request: Request[Any, Any, Any], result: Answer, registry: Registry) -> Response[Any]:
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


def _deadline(settings: Settings) -> dt.timedelta:
    return dt.timedelta(seconds=settings.llm_timeout + 30)
