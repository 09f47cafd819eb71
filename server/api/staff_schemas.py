"""Request and response bodies of the staff API (handoffs, conversations, collector authority)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from server.api.schemas import MAX_TEXT


class HandoffOut(BaseModel):
    id: int
    conversation_id: str
    state: str
    reason: str
    summary: str
    debtor: str | None
    amount: str | None = None
    created_at: datetime
    claimed_at: datetime | None
    claimed_by: str | None
    resolved_at: datetime | None
    resolution: str | None


class TranscriptMessageOut(BaseModel):
    id: int
    direction: str
    author: str
    text: str
    status: str | None
    created_at: datetime


class ConversationOut(BaseModel):
    id: str
    channel: str
    state: str
    debtor: str | None
    contact: str | None
    handoff: HandoffOut | None
    messages: list[TranscriptMessageOut]


class ReplyIn(BaseModel):
    text: str

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("o texto não pode ser vazio")
        if len(value) > MAX_TEXT:
            raise ValueError(f"o texto tem {len(value)} caracteres; o máximo é {MAX_TEXT}")
        return value


class ReplyOut(BaseModel):
    message_ids: list[int]


class ManualAgreementIn(BaseModel):
    kind: Literal["cash", "plan"]
    first_due: date
    discount_pct: Decimal = Field(default=Decimal(0), ge=0, lt=100, decimal_places=2)
    installments: int = Field(default=1, ge=1, le=120)
    down_payment: Decimal = Field(default=Decimal(0), ge=0, decimal_places=2, max_digits=14)


class FlagIn(BaseModel):
    flag: Literal["in_dispute", "legal_hold"]
    value: bool


class AuthorityIn(BaseModel):
    max_discount_pct: Decimal = Field(ge=0, lt=100, decimal_places=3)
    max_installments: int = Field(ge=1, le=120)
    min_installment_amount: Decimal = Field(gt=0, decimal_places=2, max_digits=14)
    min_down_payment_pct: Decimal = Field(ge=0, lt=100, decimal_places=3)
    monthly_interest_pct: Decimal = Field(ge=0, le=20, decimal_places=3)
    max_first_due_days: int = Field(ge=0, le=90)
    limit_amount: Decimal = Field(gt=0, decimal_places=2, max_digits=14)


class AuthorityOut(AuthorityIn):
    user_id: int | None
