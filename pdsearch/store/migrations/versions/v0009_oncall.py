"""Who is on call, per connector: the shifts of a window (from now to a few days ahead), the
window itself, and the PagerDuty users' names, e-mails and time zones (an answer shows times in
the viewer's zone). Refreshed whole per connector; nothing here is a secret."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pdsearch.store.schema import UtcDateTime

revision = "0009_oncall"
down_revision = "0008_job_mode"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oncall_shifts",
        sa.Column("connector_id", sa.Text, sa.ForeignKey("connectors.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("policy_id", sa.Text),
        sa.Column("level", sa.Integer),
        sa.Column("schedule_id", sa.Text),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("user_name", sa.Text, nullable=False),
        sa.Column("user_email", sa.Text, nullable=False),
        sa.Column("user_time_zone", sa.Text),
        sa.Column("start", UtcDateTime),
        sa.Column("end", UtcDateTime),
    )
    op.create_index("oncall_by_policy", "oncall_shifts", ["connector_id", "policy_id"])
    op.create_index("oncall_by_schedule", "oncall_shifts", ["connector_id", "schedule_id"])
    op.create_table(
        "oncall_windows",
        sa.Column("connector_id", sa.Text, sa.ForeignKey("connectors.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("since", UtcDateTime, nullable=False),
        sa.Column("until", UtcDateTime, nullable=False),
        sa.Column("refreshed_at", UtcDateTime, nullable=False),
        sa.Column("requests", sa.Integer, nullable=False, server_default="0"),
        sa.Column("unknown", sa.Text, nullable=False, server_default="[]"),
    )
    op.create_table(
        "oncall_people",
        sa.Column("connector_id", sa.Text, sa.ForeignKey("connectors.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("time_zone", sa.Text),
    )
    op.create_index("oncall_people_by_email", "oncall_people", ["email"])
