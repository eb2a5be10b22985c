"""Admission control: a bound on assessments in flight, refusing the excess at once.

Queueing without limit turns a provider slowdown into memory growth and timeouts for
everyone; refusing fast with 503 `overloaded` and `Retry-After` lets callers and load
balancers go elsewhere. The bound is per worker process (`ATTACHE_MAX_INFLIGHT`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from service.errors import Overloaded


class Admission:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    @contextmanager
    def admit(self) -> Iterator[None]:
        if self.in_flight >= self.limit:
            raise Overloaded(
                f"{self.in_flight} assessments are in flight, the most this worker takes; retry shortly",
                headers={"Retry-After": "1"},
            )
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
