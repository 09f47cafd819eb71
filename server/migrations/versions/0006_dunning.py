"""dunning: rule versions, scheduled reminders, invoice PIX reconciliation

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dunning_rule_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_dunning_rule_versions_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dunning_rule_versions")),
        sa.UniqueConstraint("version", name=op.f("uq_dunning_rule_versions_version")),
    )
    op.create_table(
        "scheduled_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column("target", sa.String(length=20), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("installment_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=40), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_scheduled_reminders_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["installment_id"],
            ["agreement_installments.id"],
            name=op.f("fk_scheduled_reminders_installment_id_agreement_installments"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_scheduled_reminders_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_scheduled_reminders_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_reminders")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_scheduled_reminders_idempotency_key")),
    )
    with op.batch_alter_table("scheduled_reminders", schema=None) as batch_op:
        batch_op.create_index("ix_scheduled_reminders_status_due", ["status", "due_at"], unique=False)
        batch_op.create_index("ix_scheduled_reminders_contact_sent", ["contact_id", "sent_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_scheduled_reminders_invoice_id"), ["invoice_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_scheduled_reminders_installment_id"), ["installment_id"], unique=False
        )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("txid", sa.String(length=35), nullable=True))
        batch_op.add_column(sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("paid_amount", sa.Numeric(14, 2), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_invoices_txid"), ["txid"])
    with op.batch_alter_table("payment_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invoice_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_payment_events_invoice_id_invoices"), "invoices", ["invoice_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("payment_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_payment_events_invoice_id_invoices"), type_="foreignkey")
        batch_op.drop_column("invoice_id")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_invoices_txid"), type_="unique")
        batch_op.drop_column("paid_amount")
        batch_op.drop_column("paid_at")
        batch_op.drop_column("txid")
    with op.batch_alter_table("scheduled_reminders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scheduled_reminders_installment_id"))
        batch_op.drop_index(batch_op.f("ix_scheduled_reminders_invoice_id"))
        batch_op.drop_index("ix_scheduled_reminders_contact_sent")
        batch_op.drop_index("ix_scheduled_reminders_status_due")
    op.drop_table("scheduled_reminders")
    op.drop_table("dunning_rule_versions")
