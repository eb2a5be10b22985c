"""What the store is told about an assessment: when it starts, and when it finishes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Inputs:
    """What the caller sent; the text fields are None when it may not be kept (only its hash is)."""

    context: str | None
    question: str | None
    source: str | None
    as_of: str | None
    sha256: str


@dataclass(frozen=True, slots=True)
class Started:
    id: str
    created_at: dt.datetime
    caller: str
    agent: str
    version: str
    label: str | None
    sha256: str
    inputs: Inputs
    idempotency_key: str | None = None
    request_sha256: str | None = None
    cache_key: str | None = None
    """Set only for answers that may serve later identical requests."""


@dataclass(frozen=True, slots=True)
class Finished:
    finished_at: dt.datetime
    outcome: str
    """`ok`, or the problem code."""
    http_status: int
    body: bytes
    """Exactly what the caller was sent."""
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    attempts: int = 0
    latency_ms: float = 0.0
    cached_from: str | None = None


@dataclass(frozen=True, slots=True)
class Stored:
    """A row as read back."""

    id: str
    created_at: dt.datetime
    finished_at: dt.datetime | None
    caller: str
    status: str
    outcome: str | None
    http_status: int | None
    agent: str
    version: str
    label: str | None
    sha256: str
    model: str | None
    body: bytes | None
    input_tokens: int | None
    output_tokens: int | None
    attempts: int | None
    latency_ms: float | None
    context: str | None
    question: str | None
    source: str | None
    as_of: str | None
    input_sha256: str
    idempotency_key: str | None
    request_sha256: str | None
    cache_key: str | None
    cached_from: str | None
    lease_until: dt.datetime | None

    @property
    def pending(self) -> bool:
        return self.status == PENDING


PENDING = "pending"
DONE = "done"
