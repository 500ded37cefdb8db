"""Permission entities and their members, kept per source (derived or manual)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_entities"
down_revision = "0003_schedules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entities",
        sa.Column("connector_id", sa.Text,
                  sa.ForeignKey("connectors.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("entity_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("derived", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "entity_members",
        sa.Column("connector_id", sa.Text, primary_key=True),
        sa.Column("entity_id", sa.Text, primary_key=True),
        sa.Column("email", sa.Text, primary_key=True),
        sa.Column("source", sa.Text, primary_key=True),
        sa.CheckConstraint("source IN ('derived', 'manual')", name="entity_members_source"),
        sa.ForeignKeyConstraint(
            ["connector_id", "entity_id"],
            ["entities.connector_id", "entities.entity_id"],
            ondelete="CASCADE",
        ),
    )
    op.create_index("entity_members_by_email", "entity_members", ["email"])
