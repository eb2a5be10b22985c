"""Errors a caller can see, and the one place they become RFC 9457 problem details.

    AttacheError                      every error carries a stable `code` and an HTTP status
    ├── CallerError                   the caller can fix it by changing the request
    │   ├── InvalidRequest            400 invalid_request
    │   ├── UnknownAgent              404 unknown_agent
    │   ├── UnknownVersion            404 unknown_version
    │   └── UnknownSchema             404 unknown_schema
    └── ServiceError                  the caller cannot fix it; retrying may help
        └── NotReady                  503 not_ready

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

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


class CallerError(AttacheError):
    status = 400
    code = "invalid_request"
    title = "Invalid request"


class InvalidRequest(CallerError):
    pass


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


class ServiceError(AttacheError):
    status = 503
    code = "service_unavailable"
    title = "Service unavailable"


class NotReady(ServiceError):
    code = "not_ready"
    title = "Not ready"


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
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        extra["errors"] = exc.extra
    title = code.replace("_", " ").capitalize()
    return problem(
        status=exc.status_code,
        code=code,
        title=title,
        detail=exc.detail,
        headers=exc.headers,
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
