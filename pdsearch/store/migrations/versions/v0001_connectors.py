"""Connectors and their encrypted credentials.

On SQLite the name is ``COLLATE NOCASE UNIQUE`` (as earlier versions made it); PostgreSQL has no
such collation, so there a unique index on ``lower(name)`` keeps names unique regardless of case.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pdsearch.store.schema import UtcDateTime

revision = "0001_connectors"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        "connectors",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text(collation="NOCASE") if sqlite else sa.Text, nullable=False,
                  unique=sqlite),
        sa.Column("auth_type", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("base_url", sa.Text),
        sa.Column("oauth_base_url", sa.Text),
        sa.Column("status", sa.Text, nullable=False, server_default="new"),
        sa.Column("subdomain", sa.Text),
        sa.Column("last_error", sa.Text),
        sa.Column("credentials", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    if not sqlite:
        op.create_index(
            "connectors_name_nocase", "connectors", [sa.text("lower(name)")], unique=True
        )
