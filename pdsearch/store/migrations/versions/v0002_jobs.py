"""Job records: one per sync run."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pdsearch.store.schema import UtcDateTime, job_seq_type

revision = "0002_jobs"
down_revision = "0001_connectors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("seq", job_seq_type(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("connector_id", sa.Text,
                  sa.ForeignKey("connectors.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("trigger", sa.Text, nullable=False),
        sa.Column("counts", sa.Text, nullable=False),
        sa.Column("failures", sa.Text, nullable=False, server_default="[]"),
        sa.Column("requests", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
        sa.Column("progress", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("started_at", UtcDateTime),
        sa.Column("finished_at", UtcDateTime),
        sqlite_autoincrement=True,
    )
    op.create_index("jobs_by_connector", "jobs", ["connector_id", "seq"])
    op.create_index("jobs_by_status", "jobs", ["status"])
