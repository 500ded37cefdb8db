"""When a schedule last fired, so that a restart knows which runs it missed."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pdsearch.store.schema import UtcDateTime

revision = "0006_schedule_last_fired"
down_revision = "0005_oauth_states"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("schedules", sa.Column("last_fired_at", UtcDateTime))
