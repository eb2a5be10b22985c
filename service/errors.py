"""Errors a caller can see, and the one place they become RFC 9457 problem details.

    AttacheError                      every error carries a stable `code` and an HTTP status
    ├── CallerError                   the caller can fix it by changing the request
    │   ├── InvalidRequest            400 invalid_request (422 when the JSON is well-formed but unusable)
    │   ├── Unauthorized              401 unauthorized (+ WWW-Authenticate)
    │   ├── RateLimited               429 rate_limited (+ Retry-After, RateLimit-*)
    │   ├── UnknownAgent              404 unknown_agent
    │   ├── UnknownVersion            404 unknown_version
    │   ├── UnknownSchema             404 unknown_schema
    │   ├── UnknownAssessment         404 unknown_assessment (or another caller's)
    │   ├── RequestInProgress         409 request_in_progress (+ Retry-After)
    │   └── IdempotencyKeyReused      422 idempotency_key_reused
    ├── ServiceError                  the caller cannot fix it; retrying may help
    │   ├── NotReady                  503 not_ready
    │   ├── Overloaded                503 overloaded (+ Retry-After)
    │   ├── ProviderNotConfigured     503 provider_not_configured
    │   ├── StoreUnavailableError     503 store_unavailable (a promise that needs the store)
    │   └── Interrupted               503 interrupted (its worker died or shut down first)
    ├── UpstreamError                 the model provider failed; retrying later may help
    │   ├── UpstreamTimeout           504 upstream_timeout
    │   ├── UpstreamRateLimited       503 upstream_rate_limited (+ Retry-After)
    │   ├── UpstreamUnavailable       502 upstream_unavailable (503 + Retry-After when the provider said when)
    │   └── UpstreamRejected          502 upstream_rejected (the provider refused our request: auth, model, size)
    │       └── ContextLengthExceeded 502 context_length_exceeded (prompt and answer exceed the model's context)
    └── ModelOutputError              the model answered, but not with a usable assessment
        ├── InvalidModelOutput        502 invalid_model_output (after the re-asks; carries `attempts`)
        ├── OutputTruncated           502 output_truncated (finish_reason=length, or output tokens reached max_tokens)
        └── ModelRefused              422 model_refused

Litestar's own HTTP exceptions (routing 404/405, body validation 400, size 413) are mapped
to the same shape by `http_exception_to_problem`, so every error body has `code`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins.problem_details import ProblemDetailsException

PROBLEM_TYPE_BASE = "https://attache.dev/problems/"

HTTP_STATUS_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


class AttacheError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self, detail: str, *, headers: dict[str, str] | None = None, status: int | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra
        if status is not None:  # a subclass may answer with a second documented status (e.g. 503 vs 502)
            self.status = status  # type: ignore[misc]


class CallerError(AttacheError):
    status = 400
    code = "invalid_request"
    title = "Invalid request"


class InvalidRequest(CallerError):
    pass


class Unauthorized(CallerError):
    status = 401
    code = "unauthorized"
    title = "Unauthorized"


class UnknownAgent(CallerError):
    status = 404
    code = "unknown_agent"
    title = "Unknown agent"


class UnknownVersion(CallerError):
    status = 404
    code = "unknown_version"
    title = "Unknown prompt version"


class UnknownSchema(CallerError):
    status = 404
    code = "unknown_schema"
    title = "Unknown output schema"


class RateLimited(CallerError):
    status = 429
    code = "rate_limited"
    title = "Rate limited"


class UnknownAssessment(CallerError):
    status = 404
    code = "unknown_assessment"
    title = "Unknown assessment"


class RequestInProgress(CallerError):
    status = 409
    code = "request_in_progress"
    title = "A request with this Idempotency-Key is still running"


class IdempotencyKeyReused(CallerError):
    status = 422
    code = "idempotency_key_reused"
    title = "Idempotency-Key reused with another request body"


class ServiceError(AttacheError):
    status = 503
    code = "service_unavailable"
    title = "Service unavailable"


class NotReady(ServiceError):
    code = "not_ready"
    title = "Not ready"


class Overloaded(ServiceError):
    code = "overloaded"
    title = "Too many assessments in flight"


PROVIDER_NOT_CONFIGURED = (
    "no model provider is configured: set OPENAI_API_KEY (OpenAI, Azure OpenAI) "
    "or OPENAI_BASE_URL (a local OpenAI-compatible server such as vLLM or Ollama), then restart"
)


class ProviderNotConfigured(ServiceError):
    code = "provider_not_configured"
    title = "No model provider configured"


class StoreUnavailableError(ServiceError):
    code = "store_unavailable"
    title = "The assessment store is unavailable"


class Interrupted(ServiceError):
    code = "interrupted"
    title = "The assessment was interrupted"


class UpstreamError(AttacheError):
    status = 502
    code = "upstream_unavailable"
    title = "Model provider unavailable"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"
    title = "Model provider timed out"


class UpstreamRateLimited(UpstreamError):
    status = 503
    code = "upstream_rate_limited"
    title = "Model provider rate limit reached"


class UpstreamUnavailable(UpstreamError):
    pass


class UpstreamRejected(UpstreamError):
    code = "upstream_rejected"
    title = "Model provider rejected the request"


class ContextLengthExceeded(UpstreamRejected):
    code = "context_length_exceeded"
    title = "Model context window exceeded"


class ModelOutputError(AttacheError):
    status = 502
    code = "invalid_model_output"
    title = "Invalid model output"


class InvalidModelOutput(ModelOutputError):
    pass


class OutputTruncated(ModelOutputError):
    code = "output_truncated"
    title = "Model output truncated"


class ModelRefused(ModelOutputError):
    status = 422
    code = "model_refused"
    title = "The model refused to answer"


def problem_codes() -> list[str]:
    """Every stable `code` a problem body can carry; the OpenAPI document lists them."""
    codes = {*HTTP_STATUS_CODES.values(), "http_error"}
    classes: list[type[AttacheError]] = [AttacheError]
    while classes:
        cls = classes.pop()
        codes.add(cls.code)
        classes.extend(cls.__subclasses__())
    return sorted(codes)


def problem(
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> ProblemDetailsException:
    return ProblemDetailsException(
        status_code=status,
        type_=PROBLEM_TYPE_BASE + code,
        title=title,
        detail=detail,
        headers=headers,
        extra={"code": code, **(extra or {})},
    )


def problem_document(exc: AttacheError) -> dict[str, Any]:
    """The problem details body of `exc`, in the order every error response has it."""
    return {
        "status": exc.status,
        "type": PROBLEM_TYPE_BASE + exc.code,
        "title": exc.title,
        "detail": exc.detail,
        "code": exc.code,
        **exc.extra,
    }


def attache_error_to_problem(exc: AttacheError) -> ProblemDetailsException:
    return problem(
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        headers=exc.headers,
        extra=exc.extra,
    )


def http_exception_to_problem(exc: HTTPException) -> ProblemDetailsException:
    if isinstance(exc, ProblemDetailsException):
        return exc
    code = HTTP_STATUS_CODES.get(exc.status_code, "http_error")
    extra: dict[str, Any] = {}
    headers = dict(exc.headers or {})
    if exc.status_code == 429 and "RateLimit-Reset" in headers:
        headers.setdefault("Retry-After", str(max(int(headers["RateLimit-Reset"]), 1)))
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        extra["errors"] = exc.extra
    title = code.replace("_", " ").capitalize()
    return problem(
        status=exc.status_code,
        code=code,
        title=title,
        detail=exc.detail,
        headers=headers,
        extra=extra,
    )


def unexpected_error_to_problem(exc: Exception) -> ProblemDetailsException:
    # Never echo the exception text: it may carry provider details or secrets.
    return problem(
        status=500,
        code="internal_error",
        title="Internal error",
        detail="An unexpected error occurred; it has been logged with the request id.",
    )
