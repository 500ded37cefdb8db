"""One-time OAuth states (hashed), with their encrypted PKCE verifiers."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_oauth_states"
down_revision = "0004_entities"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oauth_states",
        sa.Column("state_hash", sa.Text, primary_key=True),
        sa.Column("connector_id", sa.Text,
                  sa.ForeignKey("connectors.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code_verifier", sa.LargeBinary, nullable=False),
        sa.Column("redirect_uri", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
