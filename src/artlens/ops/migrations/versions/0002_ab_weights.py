"""The weights of running A/B tests, shared by every server on the database and kept across restarts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ab_weights",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("weights", sa.JSON, nullable=False),
        sa.Column("updated", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ab_weights")
