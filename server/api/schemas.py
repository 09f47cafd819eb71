"""Request and response bodies (separate from the ORM models)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field, field_validator

from server.domain.phone import InvalidPhone, normalize_phone

MAX_TEXT = 4096


class ButtonOut(BaseModel):
    title: str
    payload: str


class ChatMessageOut(BaseModel):
    text: str
    buttons: list[ButtonOut] = []
    image: str | None = None
    document: str | None = None


class SandboxMessageIn(BaseModel):
    sender: str = Field(description="Telefone do remetente, ex.: +5531991234567")
    text: str

    @field_validator("sender")
    @classmethod
    def _phone(cls, value: str) -> str:
        try:
            return normalize_phone(value)
        except InvalidPhone as exc:
            raise ValueError(f"telefone inválido: {exc}") from exc

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("o texto não pode ser vazio")
        if len(value) > MAX_TEXT:
            raise ValueError(f"o texto tem {len(value)} caracteres; o máximo é {MAX_TEXT}")
        return value


class SandboxTurnOut(BaseModel):
    messages: list[ChatMessageOut]


class SentMessageOut(ChatMessageOut):
    author: str
    created_at: datetime


class SandboxHistoryOut(BaseModel):
    messages: list[SentMessageOut]


class ContextOut(BaseModel):
    status: str
    attempts_left: int
    creditor_name: str | None
    contact_first_name: str | None


class VerifyIn(BaseModel):
    answer: str = Field(max_length=MAX_TEXT)


class VerifyOut(BaseModel):
    outcome: str
    attempts_left: int
    status: str


class InvoiceBalanceOut(BaseModel):
    number: str
    issue_date: date
    due_date: date
    days_late: int
    description: str | None
    principal: str
    late_fee: str
    interest: str
    total: str
    due_date_display: str
    principal_display: str
    total_display: str


class DebtSummaryOut(BaseModel):
    debtor_name: str
    debtor_cnpj_display: str
    creditor_name: str
    as_of: date
    as_of_display: str
    invoice_count: int
    invoices: list[InvoiceBalanceOut]
    principal: str
    total: str
    principal_display: str
    total_display: str
