"""The operations database: predictions, shadow predictions, feedback, jobs, model aliases.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("created", sa.DateTime, nullable=False, index=True),
        sa.Column("model_id", sa.String(170), nullable=False, index=True),
        sa.Column("arm", sa.String(32)),
        sa.Column("client", sa.String(64)),
        sa.Column("top_k", sa.JSON, nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("prob", sa.Float, nullable=False),
        sa.Column("uncertain", sa.Boolean, nullable=False),
        sa.Column("classes", sa.JSON),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("phash", sa.String(16), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("upload_path", sa.Text),
        sa.Column("embedding", sa.LargeBinary),
    )
    op.create_table(
        "shadow_predictions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), sa.ForeignKey("predictions.request_id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("model_id", sa.String(170), nullable=False, index=True),
        sa.Column("top_k", sa.JSON, nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("prob", sa.Float, nullable=False),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), sa.ForeignKey("predictions.request_id", ondelete="CASCADE"),
                  nullable=False, unique=True),
        sa.Column("created", sa.DateTime, nullable=False, index=True),
        sa.Column("model_id", sa.String(170), nullable=False, index=True),
        sa.Column("predicted", sa.String(200), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("correct", sa.Boolean, nullable=False),
        sa.Column("client", sa.String(64)),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("started", sa.Float),
        sa.Column("finished", sa.Float),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("estimate_s", sa.Float, nullable=False),
        sa.Column("info", sa.JSON),
        sa.Column("media_type", sa.String(40), nullable=False),
        sa.Column("result", sa.LargeBinary),
        sa.Column("owner", sa.String(120), nullable=False),
    )
    op.create_table(
        "aliases",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("alias", sa.String(32), primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("updated", sa.DateTime, nullable=False),
    )
    op.create_table(
        "alias_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("name", sa.String(100), nullable=False, index=True),
        sa.Column("alias", sa.String(32), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("previous", sa.String(64)),
    )


def downgrade() -> None:
    for table in ("alias_history", "aliases", "jobs", "feedback", "shadow_predictions", "predictions"):
        op.drop_table(table)
