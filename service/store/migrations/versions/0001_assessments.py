"""The assessments table: every finished /assess, and those still running.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from service.store.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessments",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(64)),
        sa.Column("http_status", sa.Integer),
        sa.Column("agent", sa.String(100), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("label", sa.String(100)),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("body", sa.LargeBinary),
        sa.Column("input_tokens", sa.BigInteger),
        sa.Column("output_tokens", sa.BigInteger),
        sa.Column("attempts", sa.Integer),
        sa.Column("latency_ms", sa.Float),
        sa.Column("context", sa.Text),
        sa.Column("question", sa.Text),
        sa.Column("source", sa.Text),
        sa.Column("as_of", sa.String(10)),
        sa.Column("input_sha256", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(255)),
        sa.Column("request_sha256", sa.String(64)),
        sa.Column("cache_key", sa.String(64)),
        sa.Column("cached_from", sa.String(32)),
        sa.Column("lease_until", UTCDateTime()),
        sa.UniqueConstraint("caller", "idempotency_key", name="uq_assessments_caller_idempotency_key"),
    )
    op.create_index("ix_assessments_created_at_id", "assessments", ["created_at", "id"])
    op.create_index("ix_assessments_caller_created_at_id", "assessments", ["caller", "created_at", "id"])
    op.create_index("ix_assessments_cache_key_created_at", "assessments", ["cache_key", "created_at"])
    op.create_index("ix_assessments_status_lease_until", "assessments", ["status", "lease_until"])


def downgrade() -> None:
    op.drop_table("assessments")
