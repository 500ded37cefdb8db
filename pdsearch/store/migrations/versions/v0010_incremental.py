"""Incremental sync: each connector's audit-trail cursor and whether incremental syncs are
available to it (with the reason when not), and the PagerDuty objects its last sync read, so an
incremental sync re-renders documents without reading the whole account again."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pdsearch.store.schema import UtcDateTime

revision = "0010_incremental"
down_revision = "0009_oncall"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_state",
        sa.Column("connector_id", sa.Text,
                  sa.ForeignKey("connectors.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("audit_cursor", UtcDateTime),
        sa.Column("seen_records", sa.Text, nullable=False, server_default="[]"),
        sa.Column("last_record_at", UtcDateTime),
        sa.Column("incremental_available", sa.Integer),
        sa.Column("incremental_reason", sa.Text),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "sync_objects",
        sa.Column("connector_id", sa.Text,
                  sa.ForeignKey("connectors.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("object_id", sa.Text, primary_key=True),
        sa.Column("data", sa.Text, nullable=False),
    )
