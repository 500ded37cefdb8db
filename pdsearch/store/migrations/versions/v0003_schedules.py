"""Persisted schedule specs, one per connector."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pdsearch.store.schema import UtcDateTime

revision = "0003_schedules"
down_revision = "0002_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("connector_id", sa.Text,
                  sa.ForeignKey("connectors.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
