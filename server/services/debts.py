"""What a verified contact owes: open invoices with the updated balance (DESIGN §4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from server.db import repositories as repo
from server.domain.identity import IdentityStatus
from server.domain.money import ZERO, Balance, updated_balance
from server.services.creditor import late_charge_rules
from server.services.identity import DisclosureRefused, IdentityPolicy, identity_status, load_conversation


@dataclass(frozen=True)
class InvoiceBalance:
    number: str
    issue_date: date
    due_date: date
    description: str | None
    balance: Balance


@dataclass(frozen=True)
class DebtSummary:
    debtor_name: str
    debtor_cnpj: str
    creditor_name: str
    as_of: date
    invoices: list[InvoiceBalance]

    @property
    def total(self) -> Decimal:
        return sum((i.balance.total for i in self.invoices), ZERO)

    @property
    def principal(self) -> Decimal:
        return sum((i.balance.principal for i in self.invoices), ZERO)


def debt_summary(
    session: Session, public_id: str, now: datetime, today: date, policy: IdentityPolicy
) -> DebtSummary:
    conversation = load_conversation(session, public_id)
    status = identity_status(session, conversation, now, policy)
    if status != IdentityStatus.VERIFIED or conversation.contact is None:
        raise DisclosureRefused(status)
    debtor = conversation.contact.debtor
    rules = late_charge_rules(debtor.creditor)
    invoices = [
        InvoiceBalance(
            number=inv.number,
            issue_date=inv.issue_date,
            due_date=inv.due_date,
            description=inv.description,
            balance=updated_balance(inv.principal, inv.due_date, today, rules),
        )
        for inv in repo.open_invoices(session, debtor.id)
    ]
    return DebtSummary(
        debtor_name=debtor.legal_name,
        debtor_cnpj=debtor.cnpj,
        creditor_name=debtor.creditor.trade_name,
        as_of=today,
        invoices=invoices,
    )
