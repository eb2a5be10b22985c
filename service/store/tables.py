"""The store's one table, `assessments`: every finished `/assess`, and those still running.

A row is written when an assessment starts (`pending`, for async work and idempotent
requests) or when it finishes, and finished exactly once. `body` holds the bytes that were
sent to the caller (the envelope, or the problem details), so a later read returns them
unchanged. Migrations (`service/store/migrations`) create and change it; this module is
what the code reads and writes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in and out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


metadata = MetaData()

assessments = Table(
    "assessments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    Column("caller", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # pending | done
    Column("outcome", String(64)),  # ok, or the problem code; null while pending
    Column("http_status", Integer),
    Column("agent", String(100), nullable=False),
    Column("version", String(100), nullable=False),
    Column("label", String(100)),
    Column("sha256", String(64), nullable=False),
    Column("model", String(200)),
    Column("body", LargeBinary),
    Column("input_tokens", BigInteger),
    Column("output_tokens", BigInteger),
    Column("attempts", Integer),
    Column("latency_ms", Float),
    # What the caller sent; with ATTACHE_STORE_TEXT=false (or Cache-Control: no-store) only its hash.
    Column("context", Text),
    Column("question", Text),
    Column("source", Text),
    Column("as_of", String(10)),
    Column("input_sha256", String(64), nullable=False),
    Column("idempotency_key", String(255)),
    Column("request_sha256", String(64)),
    Column("cache_key", String(64)),
    Column("cached_from", String(32)),
    Column("lease_until", UTCDateTime()),
    # Idempotency holds across workers and replicas because the database enforces it.
    UniqueConstraint("caller", "idempotency_key", name="uq_assessments_caller_idempotency_key"),
    Index("ix_assessments_created_at_id", "created_at", "id"),
    Index("ix_assessments_caller_created_at_id", "caller", "created_at", "id"),
    Index("ix_assessments_cache_key_created_at", "cache_key", "created_at"),
    Index("ix_assessments_status_lease_until", "status", "lease_until"),
)

Row = dict[str, Any]
