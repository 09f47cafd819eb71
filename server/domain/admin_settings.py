"""Admin-editable settings (pure): weekly hours, late charges and the creditor's identity, each
with field-level validation in Portuguese. Stored as JSON in ``app_settings``; the environment
gives the defaults (see server/services/app_settings.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Any

from server.domain.cnpj import InvalidCNPJ, normalize_cnpj
from server.domain.pix import MAX_MERCHANT_CITY, MAX_MERCHANT_NAME, InvalidPixData, normalize_pix_key
from server.domain.policy import FieldError, InvalidPolicy
from server.domain.working_hours import WorkingHours

WEEKDAYS = ("seg", "ter", "qua", "qui", "sex", "sab", "dom")
WEEKDAY_LABELS = ("Segunda", "Terça", "Quarta", "Quinta", "Sexta", "Sábado", "Domingo")


class InvalidSettings(InvalidPolicy):
    """Field errors, exactly like an invalid policy (same 422 shape)."""


def _raise_if(errors: list[FieldError]) -> None:
    if errors:
        raise InvalidSettings(errors)


# --- weekly hours (collectors' working hours, debtors' contact hours) -------------------------


def _parse_time(raw: str) -> time | None:
    try:
        hours, minutes = raw.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        return None


def parse_weekly_hours(data: Mapping[str, Any]) -> WorkingHours:
    """``{"seg": {"open": "08:00", "close": "18:00"}, ...}``; a day left blank is closed."""
    errors: list[FieldError] = []
    days: dict[int, tuple[time, time]] = {}
    for index, key in enumerate(WEEKDAYS):
        raw = data.get(key) or {}
        if not isinstance(raw, Mapping):
            errors.append(FieldError(key, "esperado {open, close}"))
            continue
        opening, closing = str(raw.get("open") or "").strip(), str(raw.get("close") or "").strip()
        if not opening and not closing:
            continue
        start, end = _parse_time(opening), _parse_time(closing)
        if start is None:
            errors.append(FieldError(f"{key}.open", "horário inválido (use HH:MM)"))
        if end is None:
            errors.append(FieldError(f"{key}.close", "horário inválido (use HH:MM)"))
        if start is not None and end is not None:
            if end <= start:
                errors.append(FieldError(f"{key}.close", "o fechamento deve ser depois da abertura"))
            else:
                days[index] = (start, end)
    if not errors and not days:
        errors.append(FieldError("seg.open", "ao menos um dia precisa de horário"))
    _raise_if(errors)
    return WorkingHours(days)


def weekly_hours_to_dict(hours: WorkingHours) -> dict[str, dict[str, str]]:
    return {
        key: {"open": hours.days[i][0].strftime("%H:%M"), "close": hours.days[i][1].strftime("%H:%M")}
        if i in hours.days
        else {"open": "", "close": ""}
        for i, key in enumerate(WEEKDAYS)
    }


# Debtors may be contacted Mon–Fri 8–20h and Saturday 8–14h (DESIGN §5); holidays are the
# reminder scheduler's concern.
DEFAULT_CONTACT_HOURS = WorkingHours({**{d: (time(8), time(20)) for d in range(5)}, 5: (time(8), time(14))})


# --- multa and juros ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LateCharges:
    late_fee_pct: Decimal
    monthly_interest_pct: Decimal


def _decimal(errors: list[FieldError], name: str, raw: object) -> Decimal | None:
    try:
        value = Decimal(str(raw).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        errors.append(FieldError(name, "número inválido"))
        return None
    if not value.is_finite():
        errors.append(FieldError(name, "número inválido"))
        return None
    return value


def parse_late_charges(data: Mapping[str, Any]) -> LateCharges:
    errors: list[FieldError] = []
    fee = _decimal(errors, "late_fee_pct", data.get("late_fee_pct", ""))
    interest = _decimal(errors, "monthly_interest_pct", data.get("monthly_interest_pct", ""))
    # CDC art. 52 §1: multa de mora limited to 2 %; juros de mora above 1 % a.m. need a contract.
    if fee is not None and not Decimal(0) <= fee <= Decimal(2):
        errors.append(FieldError("late_fee_pct", "a multa deve estar entre 0 e 2 % (CDC art. 52)"))
    if interest is not None and not Decimal(0) <= interest <= Decimal(10):
        errors.append(FieldError("monthly_interest_pct", "os juros devem estar entre 0 e 10 % a.m."))
    for name, value in (("late_fee_pct", fee), ("monthly_interest_pct", interest)):
        if value is not None and value != value.quantize(Decimal("0.001")):
            errors.append(FieldError(name, "no máximo três casas decimais"))
    _raise_if(errors)
    assert fee is not None and interest is not None
    return LateCharges(fee, interest)


# --- creditor identity -------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditorIdentity:
    legal_name: str
    trade_name: str
    cnpj: str  # 14 characters, no punctuation
    address: str
    pix_key: str
    merchant_name: str  # BR Code: ≤ 25 ASCII characters
    merchant_city: str  # BR Code: ≤ 15 ASCII characters

    def to_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


def _ascii_field(errors: list[FieldError], name: str, value: str, limit: int) -> None:
    if not value:
        errors.append(FieldError(name, "obrigatório"))
    elif any(not (" " <= c <= "~") for c in value):
        errors.append(FieldError(name, "use só caracteres ASCII, sem acentos (exigência do BR Code)"))
    elif len(value) > limit:
        errors.append(FieldError(name, f"no máximo {limit} caracteres (tem {len(value)})"))


def _required(errors: list[FieldError], data: Mapping[str, Any], name: str, limit: int) -> str:
    value = " ".join(str(data.get(name) or "").split())
    if not value:
        errors.append(FieldError(name, "obrigatório"))
    elif len(value) > limit:
        errors.append(FieldError(name, f"no máximo {limit} caracteres"))
    return value


def parse_creditor_identity(data: Mapping[str, Any]) -> CreditorIdentity:
    errors: list[FieldError] = []
    legal_name = _required(errors, data, "legal_name", 200)
    trade_name = _required(errors, data, "trade_name", 200)
    address = _required(errors, data, "address", 300)
    cnpj = str(data.get("cnpj") or "").strip()
    try:
        cnpj = normalize_cnpj(cnpj)
    except InvalidCNPJ as exc:
        errors.append(FieldError("cnpj", str(exc)))
    pix_key = str(data.get("pix_key") or "").strip()
    try:
        pix_key = normalize_pix_key(pix_key)
    except InvalidPixData as exc:
        errors.append(FieldError("pix_key", str(exc)))
    merchant_name = " ".join(str(data.get("merchant_name") or "").split())
    merchant_city = " ".join(str(data.get("merchant_city") or "").split())
    _ascii_field(errors, "merchant_name", merchant_name, MAX_MERCHANT_NAME)
    _ascii_field(errors, "merchant_city", merchant_city, MAX_MERCHANT_CITY)
    _raise_if(errors)
    return CreditorIdentity(legal_name, trade_name, cnpj, address, pix_key, merchant_name, merchant_city)


def field_errors_of(exc: InvalidPolicy) -> dict[str, str]:
    """First message per field, for forms."""
    out: dict[str, str] = {}
    for e in exc.errors:
        out.setdefault(e.field, e.message)
    return out


def error_list(errors: Iterable[FieldError]) -> list[dict[str, str]]:
    return [{"field": e.field, "message": e.message} for e in errors]
