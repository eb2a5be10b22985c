"""Every request: an `X-Request-ID` (the caller's when sane, else a fresh one) and one log line.

It wraps the whole application, router errors included. The id is bound into the log
context for the request (so every line it causes carries it) and kept in the scope's state.
A caller's id is for correlation only: what the request creates (an assessment) is named by
an id Attaché generates, which is the request id only when Attaché generated that too. The
closing `request` line also carries what the request bound on its way — agent, version,
sha256, model, outcome, tokens — but never the news context, the model's output, or a
header value.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from service.logs import get_logger
from service.metrics import metrics

HEADER = "x-request-id"
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # whole value (fullmatch): no trailing newline slips in
QUIET_PATHS = ("/health/", "/metrics", "/docs")

logger = get_logger("attache.request")


def request_id_of(scope: Scope) -> str:
    rid: str = scope["state"]["request_id"]
    return rid


def generated_request_id(scope: Scope) -> str | None:
    """The request id when Attaché generated it (the caller sent none): fit to name what it creates."""
    state = scope["state"]
    return None if state.get("request_id_from_caller") else request_id_of(scope)


def request_context(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = MutableScopeHeaders(scope).get(HEADER, "")
        from_caller = _SANE.fullmatch(incoming) is not None
        rid = incoming if from_caller else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        state["request_id_from_caller"] = from_caller
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableScopeHeaders.from_message(message)
                headers[HEADER] = rid
                # Headers a guard decided for whatever the request answers (the rate limit's).
                for name, value in state.get("response_headers", {}).items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=rid)
        try:
            await app(scope, receive, send_with_id)
        finally:
            if status in (404, 405) and "route_handler" not in scope:
                metrics().unrouted.labels(str(status)).inc()
            path = scope["path"]
            level = logger.debug if path.startswith(QUIET_PATHS) and status < 400 else logger.info
            level(
                "request",
                method=scope["method"],
                path=path,
                route=scope.get("path_template"),
                caller=scope["state"].get("caller"),
                client=client[0] if (client := scope.get("client")) else None,
                **({"problem": scope["state"]["problem"]} if "problem" in scope["state"] else {}),
                status=status,
                latency_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            structlog.contextvars.clear_contextvars()

    return middleware
