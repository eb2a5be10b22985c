"""Admission control: a bound on assessments in flight, refusing the excess at once.

Queueing without limit turns a provider slowdown into memory growth and timeouts for
everyone; refusing fast with 503 `overloaded` and `Retry-After` lets callers and load
balancers go elsewhere. The bound is per worker process (`ATTACHE_MAX_INFLIGHT`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from service.errors import PROBLEM_TYPE_BASE, Overloaded
from service.metrics import metrics

GATED_PATHS = frozenset({"/assess", "/assess/"})  # Litestar routes both to the same handler


class Admission:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def acquire(self) -> None:
        """Take a slot, or refuse with 503 `overloaded`; pair with `release` (async work holds one)."""
        if self.in_flight >= self.limit:
            metrics().shed.inc()
            raise Overloaded(overloaded_detail(self.in_flight), headers={"Retry-After": "1"})
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1

    @contextmanager
    def admit(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()


def overloaded_detail(in_flight: int) -> str:
    return f"{in_flight} assessments are in flight, the most this worker takes; retry shortly"


def admission_gate(app: ASGIApp, admission: Admission) -> ASGIApp:
    """Refuse `/assess` before any routing, parsing or validation when the worker is full.

    Under overload the refusals are most of the traffic; each must cost next to nothing,
    or shedding itself eats the CPU the admitted requests need. The handler's own
    `admit()` stays the authoritative count; this is the cheap first look.
    """
    headers = [(b"content-type", b"application/problem+json"), (b"retry-after", b"1")]

    async def gate(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            admission.in_flight >= admission.limit
            and scope["type"] == ScopeType.HTTP
            and scope["path"] in GATED_PATHS
            and scope.get("method") == "POST"
        ):
            metrics().shed.inc()
            body = msgspec.json.encode(
                {
                    "status": 503,
                    "type": PROBLEM_TYPE_BASE + Overloaded.code,
                    "title": Overloaded.title,
                    "detail": overloaded_detail(admission.in_flight),
                    "code": Overloaded.code,
                }
            )
            scope.setdefault("state", {})["problem"] = Overloaded.code
            start: HTTPResponseStartEvent = {"type": "http.response.start", "status": 503, "headers": headers}
            await send(start)
            end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
            await send(end)
            return
        await app(scope, receive, send)

    return gate
