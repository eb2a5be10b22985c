"""The order of one `POST /assess`: the one place that knows claim → cache → admit → answer → keep.

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
from dataclasses import dataclass

from service.access.admission import Admission
from service.assessment.answer import Answer, Pending, answer
from service.assessment.background import Background, lease_until
from service.assessment.cache import ResponseCache, hit_answer
from service.assessment.directives import Directives
from service.assessment.envelope import new_assessment_id
from service.assessment.prepare import Prepared, prepare
from service.assessment.request import AssessRequest
from service.errors import IdempotencyKeyReused, Overloaded, RequestInProgress, StoreUnavailableError
from service.logs import get_logger
from service.metrics import metrics
from service.provider import Completer
from service.registry import Registry
from service.settings import Settings
from service.store import Started, Store, Stored, StoreOperationFailed

log = get_logger("attache.assess")
STORE_NEEDED = "the assessment store is unavailable, and {what} needs it; retry shortly, or send without it"


@dataclass(frozen=True, slots=True)
class Parts:
    """What the flow uses of the running service (`service.lifecycle.Services` provides them)."""

    settings: Settings
    registry: Registry
    store: Store
    admission: Admission
    provider: Completer | None
    cache: ResponseCache | None
    background: Background


@dataclass(frozen=True, slots=True)
class Replayed:
    """The same `Idempotency-Key` and body again: the stored row, to be sent as it was first."""

    row: Stored


@dataclass(frozen=True, slots=True)
class Accepted:
    """`Prefer: respond-async`: 202 now, the work goes on in the background."""

    pending: Pending


async def assess(
    request: AssessRequest, *, parts: Parts, directives: Directives, caller: str, request_id: str | None
) -> Answer | Replayed | Accepted:
    """One assessment, in the order the module docstring gives; caller errors are raised."""
    settings = parts.settings
    prepared = prepare(request, registry=parts.registry, settings=settings, caller=caller)
    started = Started(
        id=request_id or new_assessment_id(),
        created_at=dt.datetime.now(dt.UTC),
        caller=caller,
        agent=prepared.persona.id,
        version=prepared.prompt.version,
        label=prepared.label,
        sha256=prepared.prompt.sha256,
        inputs=prepared.inputs(keep_text=settings.store_text and not directives.no_store),
        idempotency_key=directives.idempotency_key,
        request_sha256=prepared.request_sha256() if directives.idempotency_key else None,
        cache_key=None if directives.no_store or not settings.response_cache_ttl else prepared.cache_key(settings),
    )
    admission = parts.admission
    if directives.respond_async:
        admission.acquire()  # before anything is kept: a refused request leaves nothing behind
    try:
        claimed = await _claim(parts.store, started, directives, settings)
    except BaseException:
        if directives.respond_async:
            admission.release()
        raise
    if isinstance(claimed, Stored):
        if directives.respond_async:
            admission.release()
        return Replayed(_repeat(claimed, started))
    if directives.respond_async:
        return _accept(parts, prepared, started)

    result = await _from_cache(parts.cache, prepared, started, directives)
    if result is None:
        try:
            admission.acquire()
        except Overloaded:
            if claimed:  # never started: the key is free for the retry the 503 invites
                await _release(parts.store, started.id)
            raise
        try:
            result = await answer(prepared, provider=parts.provider, settings=settings, assessment_id=started.id)
        finally:
            admission.release()
    await _keep(parts.store, started, result, claimed=claimed)
    return result


async def _claim(store: Store, started: Started, directives: Directives, settings: Settings) -> bool | Stored:
    """Claim the row when a promise needs it (idempotency, async): True, or the row holding the key."""
    if not (directives.idempotency_key or directives.respond_async):
        return False
    what = "Idempotency-Key" if directives.idempotency_key else "Prefer: respond-async"
    # A sync claim needs no renewal: the deadline ends it first. An async one is renewed while it runs.
    lease = lease_until(settings) if directives.respond_async else started.created_at + _deadline(settings)
    try:
        holder = await store.claim(started, lease)
    except StoreOperationFailed:
        raise StoreUnavailableError(STORE_NEEDED.format(what=what), headers={"Retry-After": "5"}) from None
    return True if holder is None else holder


async def _release(store: Store, assessment_id: str) -> None:
    try:
        await store.release(assessment_id)
    except StoreOperationFailed:
        log.error("claim not released; its lease will end it", assessment_id=assessment_id)


async def _from_cache(
    cache: ResponseCache | None, prepared: Prepared, started: Started, directives: Directives
) -> Answer | None:
    if cache is None or directives.no_cache or started.cache_key is None:
        metrics().response_cache.labels("bypass").inc()
        return None
    try:
        original = await cache.find(started.cache_key, started.created_at)
    except StoreOperationFailed:
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
    except StoreOperationFailed:
        log.error("assessment answered but not kept: the store is unavailable", assessment_id=started.id)


def _accept(parts: Parts, prepared: Prepared, started: Started) -> Accepted:
    """202 now; the work holds the in-flight slot taken for it until it ends."""

    async def work() -> None:
        try:
            result = await answer(prepared, provider=parts.provider, settings=parts.settings, assessment_id=started.id)
        finally:
            parts.admission.release()
        await parts.background.finish(started.id, result.finished)

    parts.background.run(started.id, work())
    return Accepted(Pending(id=started.id, status="pending", location=f"/assessments/{started.id}"))


def _repeat(holder: Stored, started: Started) -> Stored:
    """The row holding the key, when it may be replayed: 409 while it runs, 422 for another body."""
    if holder.request_sha256 != started.request_sha256:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used in the last 24 hours with another request body; use a new key"
        )
    if holder.pending:
        raise RequestInProgress(
            "the first request with this Idempotency-Key is still running; retry shortly",
            headers={"Retry-After": "1"},
        )
    return holder


def _deadline(settings: Settings) -> dt.timedelta:
    return dt.timedelta(seconds=settings.llm_timeout + 30)
