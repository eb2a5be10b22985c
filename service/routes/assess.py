"""`POST /assess`: a persona's typed assessment of a news item."""

from __future__ import annotations

import calendar
import email.utils
from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import JSONBody

from service.admission import Admission
from service.assess import AssessmentEnvelope, AssessRequest, Completer, Served, run_assessment
from service.auth import require_api_key
from service.body import BODY_TYPE
from service.markdown import render_markdown
from service.openapi import problem_responses
from service.registry import Registry
from service.request_context import generated_request_id
from service.settings import Settings

MARKDOWN = "text/markdown"
JSON = "application/json"


def served_headers(served: Served) -> dict[str, str]:
    prompt, persona = served.prompt, served.persona
    headers = {"Attache-Prompt-Version": prompt.version, "Attache-Prompt-Sha256": prompt.sha256}
    deprecation = persona.deprecation(prompt.version)
    if deprecation is not None:
        since = calendar.timegm(deprecation.since.timetuple())
        sunset = calendar.timegm(deprecation.sunset.timetuple())
        headers["Deprecation"] = f"@{since}"  # RFC 9745
        headers["Sunset"] = email.utils.formatdate(sunset, usegmt=True)  # RFC 8594
        if deprecation.successor:
            headers["Link"] = f'</agents/{persona.id}/versions/{deprecation.successor}>; rel="successor-version"'
    return headers


@post(
    "/assess",
    status_code=200,
    tags=["assess"],
    summary="Assess a news item as a persona",
    description="Returns the assessment envelope as JSON, or with `Accept: text/markdown` the same assessment "
    "in the sample's layout. The served prompt version and sha256 are echoed in the body and in the "
    "`Attache-Prompt-Version` / `Attache-Prompt-Sha256` headers; a deprecated version adds `Deprecation`, "
    "`Sunset` and a `successor-version` link.",
    responses=problem_responses(400, 401, 404, 413, 422, 429, 502, 503, 504),
    guards=[require_api_key],
    opt={BODY_TYPE: AssessRequest},
)
async def assess(
    request: Request[Any, Any, Any],
    data: JSONBody[AssessRequest],
    registry: NamedDependency[Registry],
    state: State,
) -> Response[AssessmentEnvelope]:
    settings: Settings = state.settings
    admission: Admission = state.admission
    # The provider is looked up inside run_assessment, after the request has validated: a
    # malformed request is the caller's 400/422 on every pod, configured or not.
    provider: Completer | None = state.get("provider")
    with admission.admit():
        served = await run_assessment(
            data,
            registry=registry,
            provider=provider,
            settings=settings,
            assessment_id=generated_request_id(request.scope),
        )
    headers = served_headers(served)
    if request.accept.best_match([JSON, MARKDOWN], default=JSON) == MARKDOWN:
        markdown = render_markdown(served.envelope.assessment, served.persona)
        return Response(markdown, media_type=f"{MARKDOWN}; charset=utf-8", headers=headers)  # type: ignore[arg-type]
    return Response(served.envelope, headers=headers)
