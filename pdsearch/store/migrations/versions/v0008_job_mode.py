"""A job's mode: a full sync, an incremental one, or an on-call refresh. Jobs recorded before
this version were all full syncs."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_job_mode"
down_revision = "0007_shared_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("mode", sa.Text, nullable=False, server_default="full"))

