"""`/assessments`: assessments kept in the store, by id and as a list.

A caller sees only what its own key created (another caller's id is a 404, not a 403);
keys in `ATTACHE_ADMIN_KEYS` see everything, as does everyone in open mode.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import Parameter

from service.access.guard import Caller, caller_of, require_api_key
from service.access.rate_limit import rate_limit
from service.assessment.answer import Pending, stored_response
from service.assessment.envelope import AssessmentEnvelope
from service.errors import InvalidRequest, StoreUnavailableError, UnknownAssessment
from service.http.openapi import KEY_REQUIRED, problem_responses
from service.lifecycle import Services
from service.registry import Registry
from service.store import Store, Stored, StoreOperationFailed

MAX_PAGE = 100
# Every cursor the pattern admits is one the service can use: a page starts where it says.
CURSOR = r"^\d{1,17}-[0-9a-f]{32}$"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
UNAVAILABLE = "the assessment store is unavailable; retry shortly"


class UsageView(msgspec.Struct, frozen=True):
    input_tokens: int
    output_tokens: int
    attempts: int


class InputView(msgspec.Struct, frozen=True):
    """What the caller sent; the text is null where ATTACHE_STORE_TEXT=false or `no-store` kept only its hash."""

    context: str | None
    question: str | None
    source: str | None
    as_of: str | None
    sha256: str


class AssessmentRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str
    created_at: dt.datetime
    status: Literal["pending", "done"]
    agent: str
    version: str
    sha256: str
    label: str | None = None
    finished_at: dt.datetime | None = None
    outcome: Annotated[str | None, msgspec.Meta(description="`ok`, or the problem code.")] = None
    http_status: int | None = None
    model: str | None = None
    usage: UsageView | None = None
    latency_ms: float | None = None
    cached_from: str | None = None
    envelope: Annotated[
        dict[str, Any] | None, msgspec.Meta(description="The assessment envelope, for an `ok` outcome.")
    ] = None
    problem: Annotated[
        dict[str, Any] | None, msgspec.Meta(description="The problem details the caller was sent, otherwise.")
    ] = None
    input: Annotated[InputView | None, msgspec.Meta(description="With `include=input`.")] = None


class AssessmentPage(msgspec.Struct, frozen=True):
    assessments: list[AssessmentRecord]
    next: Annotated[str | None, msgspec.Meta(description="Cursor of the next (older) page; null on the last page.")] = (
        None
    )


class AssessmentController(Controller):
    path = "/assessments"
    tags = ["assessments"]
    guards = [require_api_key, rate_limit]

    @get(
        "/{assessment_id:str}",
        summary="One kept assessment",
        operation_id="get_assessment",
        security=KEY_REQUIRED,
        description="200 with the envelope exactly as first sent (`Accept: text/markdown` works as on `/assess`), "
        "or the original problem status and body for a failed one; 202 `pending` with `Retry-After` while it runs.",
        responses={
            202: ResponseSpec(Pending, description="Still running; poll again after `Retry-After` seconds."),
            # A failed assessment is read back with the status it was first answered with.
            **problem_responses(400, 401, 404, 422, 429, 502, 503, 504),
        },
    )
    async def get_assessment(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        registry: NamedDependency[Registry],
        assessment_id: Annotated[str, Parameter(description="The envelope's `id`.", max_length=64)],
    ) -> Response[AssessmentEnvelope]:
        row = await _visible(services.kept, caller_of(request), assessment_id)
        if row.pending:
            body = Pending(id=row.id, status="pending", location=f"/assessments/{row.id}")
            return Response(body, status_code=202, headers={"Retry-After": "1"})  # type: ignore[arg-type]
        return stored_response(request, row, registry)

    @get(
        "/",
        summary="Kept assessments, newest first",
        operation_id="list_assessments",
        security=KEY_REQUIRED,
        description="Filters combine; `next` is the cursor of the following page (keyset pagination, stable "
        "while new assessments arrive). The caller's text is included only with `include=input`.",
        responses=problem_responses(400, 401, 429, 503),
    )
    async def list_assessments(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        agent: Annotated[str | None, Parameter(max_length=100)] = None,
        version: Annotated[str | None, Parameter(max_length=100)] = None,
        outcome: Annotated[str | None, Parameter(max_length=64, description="`ok` or a problem code.")] = None,
        since: Annotated[dt.datetime | None, Parameter(description="Created at or after (ISO 8601).")] = None,
        until: Annotated[dt.datetime | None, Parameter(description="Created before (ISO 8601).")] = None,
        limit: Annotated[int, Parameter(ge=1, le=MAX_PAGE)] = 20,
        cursor: Annotated[str | None, Parameter(pattern=CURSOR, description="The `next` of the previous page.")] = None,
        include: Annotated[Literal["input"] | None, Parameter(description="`input` adds what the caller sent.")] = None,
    ) -> AssessmentPage:
        caller = caller_of(request)
        store = services.kept
        for name in ("since", "until"):
            _require_iso(request.query_params.get(name), name)
        try:
            rows = await store.page(
                caller=None if caller.admin else caller.name,
                agent=agent,
                version=version,
                outcome=outcome,
                since=_utc(since),
                until=_utc(until),
                after=_decode_cursor(cursor) if cursor else None,
                limit=limit,
            )
        except StoreOperationFailed:
            raise StoreUnavailableError(UNAVAILABLE, headers={"Retry-After": "5"}) from None
        following = _encode_cursor(rows[-1]) if len(rows) == limit else None
        return AssessmentPage([_record(row, with_input=include == "input") for row in rows], following)


async def _visible(store: Store, caller: Caller, assessment_id: str) -> Stored:
    try:
        row = await store.get(assessment_id)
    except StoreOperationFailed:
        raise StoreUnavailableError(UNAVAILABLE, headers={"Retry-After": "5"}) from None
    if row is None or not (caller.admin or row.caller == caller.name):
        raise UnknownAssessment(f"no assessment {assessment_id!r} that this key can see")
    return row


def _record(row: Stored, *, with_input: bool) -> AssessmentRecord:
    document = msgspec.json.decode(row.body) if row.body else None
    return AssessmentRecord(
        id=row.id,
        created_at=row.created_at,
        status="pending" if row.pending else "done",
        agent=row.agent,
        version=row.version,
        sha256=row.sha256,
        label=row.label,
        finished_at=row.finished_at,
        outcome=row.outcome,
        http_status=row.http_status,
        model=row.model,
        usage=None if row.pending else UsageView(row.input_tokens or 0, row.output_tokens or 0, row.attempts or 0),
        latency_ms=row.latency_ms,
        cached_from=row.cached_from,
        envelope=document if row.outcome == "ok" else None,
        problem=document if row.outcome not in (None, "ok") else None,
        input=InputView(row.context, row.question, row.source, row.as_of, row.input_sha256) if with_input else None,
    )


def _encode_cursor(row: Stored) -> str:
    """`<microseconds since the epoch>-<id>` of the last row: where the next page starts."""
    micros = (row.created_at - EPOCH) // dt.timedelta(microseconds=1)
    return f"{micros}-{row.id}"


def _decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    micros, _, assessment_id = cursor.partition("-")  # the pattern guarantees both parts
    return EPOCH + dt.timedelta(microseconds=int(micros)), assessment_id


def _require_iso(raw: str | None, name: str) -> None:
    """RFC 3339 only: the lenient parser behind the typed parameter also takes Unix times."""
    if raw is None:
        return
    try:
        dt.datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(f"`{name}` must be an ISO 8601 date-time, e.g. 2026-11-30T00:00:00Z") from None


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
