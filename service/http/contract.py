"""The OpenAPI document as a contract: every status, media type and header an operation can send.

Litestar generates the document from the route handlers and their types; this module
completes it where generation cannot know: the problem details that guards and
middleware answer with (401, 429, 503), the response headers callers branch on, the
request headers `/assess` reads, the Markdown alternative, and Litestar's default 400
body (which the service never sends: its errors are all RFC 9457 problem details). Every
response the test suite receives is validated against the result (tests/conftest.py), so
the document cannot drift from the code.
"""

from __future__ import annotations

import copy
from typing import Any

PROBLEM = {"$ref": "#/components/schemas/Problem"}
PROBLEM_CONTENT = {"application/problem+json": {"schema": PROBLEM}}
BEARER_SCHEME = "bearerAuth"


def header(description: str, schema_type: str = "string") -> dict[str, Any]:
    return {"description": description, "schema": {"type": schema_type}}


X_REQUEST_ID = header("The request's id: the caller's `X-Request-ID` when sane, else one Attaché generated.")
RETRY_AFTER = header("Seconds to wait before retrying.", "integer")
RATE_LIMIT = {
    "RateLimit-Limit": header("Requests allowed per window for this caller.", "integer"),
    "RateLimit-Remaining": header("Requests left in the current window.", "integer"),
    "RateLimit-Reset": header("Seconds until the window ends.", "integer"),
    "RateLimit-Policy": header("The policy, e.g. `120; w=60` (IETF RateLimit headers)."),
}
PROMPT = {
    "Attache-Prompt-Version": header("The prompt version that was served."),
    "Attache-Prompt-Sha256": header("The sha256 of the served version file."),
    "Attache-Prompt-Label": header(
        "The label asked for (`stable` when the request named no version); absent for a version."
    ),
    "Attache-Prompt-Rollout": header(
        "While the label asked for rolls out (`rollouts:` in persona.yaml), its choice for this caller as an "
        'RFC 8941 item: `"1.1.0";percent=10;arm=rollout` (served the new version) or `arm=label` (the label\'s own).'
    ),
    "Deprecation": header("RFC 9745: the served version is deprecated, since this date (`@<epoch seconds>`)."),
    "Sunset": header("RFC 8594: when the served version goes away (an HTTP date)."),
    "Link": header('`</agents/{id}/versions/{successor}>; rel="successor-version"` for a deprecated version.'),
}
REPLAYED = {"Idempotent-Replayed": header("`true` when this is the stored answer to an earlier request with this key.")}

# Response headers beyond the common ones, by operationId and status ("*": every status).
HEADERS: dict[str, dict[str, dict[str, Any]]] = {
    "assess": {
        "200": {**PROMPT, "Age": header("Seconds since the cached answer was made (response cache hits).", "integer")},
        "202": {
            "Location": header("Where to poll: `/assessments/{id}`."),
            "Preference-Applied": header("`respond-async`."),
            "Retry-After": RETRY_AFTER,
        },
        "*": REPLAYED,
    },
    "get_assessment": {"200": PROMPT, "202": {"Retry-After": RETRY_AFTER}},
    "get_version": {
        "200": {"ETag": header("The version file's sha256, quoted."), "Cache-Control": header("Caching policy.")},
        "304": {"ETag": header("The version file's sha256, quoted."), "Cache-Control": header("Caching policy.")},
    },
    "get_schema": {"200": {"Cache-Control": header("Caching policy.")}},
}
REQUEST_HEADERS: dict[str, list[dict[str, Any]]] = {
    "assess": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "Makes a retry safe: the same key and body from the same caller within 24 h is answered "
            "once (replayed with `Idempotent-Replayed: true`); 409 while the first runs; 422 for another body.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        },
        {
            "name": "Prefer",
            "in": "header",
            "required": False,
            "description": "`respond-async`: 202 at once with a `Location` to poll.",
            "schema": {"type": "string"},
        },
        {
            "name": "Cache-Control",
            "in": "header",
            "required": False,
            "description": "`no-cache`: skip the response cache; `no-store`: keep neither this answer in the cache nor "
            "the caller's text.",
            "schema": {"type": "string"},
        },
    ],
    "get_version": [
        {
            "name": "If-None-Match",
            "in": "header",
            "required": False,
            "description": "The ETag you hold: 304 when it is still the version's.",
            "schema": {"type": "string"},
        }
    ],
}
MARKDOWN = {"text/markdown": {"schema": {"type": "string", "description": "With `Accept: text/markdown`."}}}
MARKDOWN_ALTERNATIVE = {("assess", "200"), ("get_assessment", "200")}
ERROR_DESCRIPTIONS = {
    "400": "The request does not validate; `errors` says where.",
    "401": "No client key, or not a valid one (`WWW-Authenticate`).",
    "304": "Not modified: the version you hold is current.",
    "429": "This caller's requests per minute are spent; retry after `Retry-After`.",
    "503": "Not ready, or a dependency is unavailable; see `code`.",
}


def finish_contract(document: dict[str, Any]) -> dict[str, Any]:
    """The complete document: `document` (as Litestar made it) with what it cannot know."""
    done = copy.deepcopy(document)
    done["components"].setdefault("securitySchemes", {})[BEARER_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "A client key from ATTACHE_API_KEYS (open mode: none needed).",
    }
    for path, item in done["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                _finish_operation(path, operation)
    return done


def _finish_operation(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation["responses"]
    name = operation.get("operationId", "")
    guarded = bool(operation.get("security"))
    if guarded:
        for status in ("401", "429"):
            responses.setdefault(status, {})
    if "{" in path or operation.get("parameters") or operation.get("requestBody"):
        responses.setdefault("400", {})
    if path.startswith(("/agents", "/assess")) or path == "/health/ready":
        responses.setdefault("503", {})  # the registry not loaded yet (start-up), and what the route adds
    if name == "get_version":
        responses.setdefault("304", {"description": ERROR_DESCRIPTIONS["304"]})
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            # Litestar documents its own validation body; the service always answers problem details.
            response["content"] = PROBLEM_CONTENT
            response.setdefault("description", ERROR_DESCRIPTIONS.get(status, "Problem details (RFC 9457)."))
            if response["description"] == "Bad request syntax or unsupported method":
                response["description"] = ERROR_DESCRIPTIONS["400"]
        headers = response.setdefault("headers", {})
        headers["X-Request-ID"] = X_REQUEST_ID
        if guarded and status != "401":
            headers.update(RATE_LIMIT)
        if status in ("409", "429", "503"):
            headers["Retry-After"] = RETRY_AFTER
        if status == "401":
            headers["WWW-Authenticate"] = header(
                '`Bearer realm="attache"`, with `error="invalid_token"` for a wrong key.'
            )
        headers.update(HEADERS.get(name, {}).get(status, {}))
        headers.update(HEADERS.get(name, {}).get("*", {}))
        if (name, status) in MARKDOWN_ALTERNATIVE:
            response["content"].update(MARKDOWN)
    parameters = operation.setdefault("parameters", [])
    parameters.extend(REQUEST_HEADERS.get(name, []))
    if not parameters:
        del operation["parameters"]
