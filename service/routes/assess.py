"""`POST /assess`: a persona's typed assessment of a news item (the flow: `service.assessment.flow`)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody

from service.access.guard import caller_of, require_api_key
from service.access.rate_limit import rate_limit
from service.assessment import flow
from service.assessment.answer import JSON, Pending, respond, stored_response
from service.assessment.directives import Directives
from service.assessment.envelope import AssessmentEnvelope
from service.assessment.request import AssessRequest
from service.http.body import BODY_TYPE
from service.http.openapi import KEY_REQUIRED, problem_responses
from service.http.request_context import generated_request_id
from service.lifecycle import Services
from service.registry import Registry


@post(
    "/assess",
    status_code=200,
    tags=["assess"],
    summary="Assess a news item as a persona",
    operation_id="assess",
    security=KEY_REQUIRED,
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
    services: NamedDependency[Services],
) -> Response[AssessmentEnvelope]:
    parts = flow.Parts(
        settings=services.settings,
        registry=registry,
        store=services.kept,
        admission=services.admission,
        provider=services.provider,
        cache=services.cache,
        background=services.background_work,
    )
    result = await flow.assess(
        data,
        parts=parts,
        directives=Directives.from_headers(request.headers),
        caller=caller_of(request).name,
        request_id=generated_request_id(request.scope),
    )
    if isinstance(result, flow.Replayed):
        response = stored_response(request, result.row, registry)
        response.headers["Idempotent-Replayed"] = "true"
        return response
    if isinstance(result, flow.Accepted):
        location = result.pending.location
        headers = {"Location": location, "Preference-Applied": "respond-async", "Retry-After": "1"}
        accepted: Response[Any] = Response(result.pending, status_code=202, headers=headers, media_type=JSON)
        return accepted
    return respond(request, result, registry)
