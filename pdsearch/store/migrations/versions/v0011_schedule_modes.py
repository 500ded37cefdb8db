"""Schedules with a mode: a connector may have one schedule per mode (full, incremental), so the
key becomes (connector_id, mode). Schedules of earlier versions were all full syncs.

The table is rebuilt (create, copy, drop, rename) because SQLite cannot change a primary key in
place; the same steps run on PostgreSQL, so both engines end with the same table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pdsearch.store.schema import UtcDateTime

revision = "0011_schedule_modes"
down_revision = "0010_incremental"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules_by_mode",
        sa.Column("connector_id", sa.Text,
                  sa.ForeignKey("connectors.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("mode", sa.Text, primary_key=True, server_default="full"),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("last_fired_at", UtcDateTime),
        sa.CheckConstraint("mode IN ('full', 'incremental')", name="schedules_mode"),
    )
    op.execute(
        "INSERT INTO schedules_by_mode (connector_id, mode, spec, updated_at, last_fired_at) "
        "SELECT connector_id, 'full', spec, updated_at, last_fired_at FROM schedules"
    )
    op.drop_table("schedules")
    op.rename_table("schedules_by_mode", "schedules")
