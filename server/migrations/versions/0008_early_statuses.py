"""channels: status callbacks that arrive before our send recorded the provider's message id

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "early_statuses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_message_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error_code", sa.String(length=20), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_early_statuses")),
    )
    with op.batch_alter_table("early_statuses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_early_statuses_provider_message_id"), ["provider_message_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("early_statuses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_early_statuses_provider_message_id"))
    op.drop_table("early_statuses")
