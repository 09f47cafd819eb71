"""messages: an inbound message's number in its conversation; conversations: the count so far

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ordinal", sa.Integer(), nullable=True))
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inbound_count", sa.Integer(), server_default="0", nullable=False))
    op.execute(
        "UPDATE conversations SET inbound_count = (SELECT count(*) FROM messages "
        "WHERE messages.conversation_id = conversations.id AND messages.direction = 'inbound')"
    )


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("inbound_count")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("ordinal")
