"""Structured logs: one JSON object per line, with the request and conversation ids, and personal
data (phones, CNPJs, e-mails, names) masked before anything is written.

The ids travel in context variables: the HTTP middleware sets the request id (``X-Request-ID``),
the turn threads set the conversation id. Names cannot be recognised in free text, so code that
has one passes it as ``extra={"contact_name": ...}`` (or any key in ``NAME_FIELDS``), and the
filter masks it; phones, CNPJs and e-mails are masked wherever they appear.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
conversation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "conversation_id", default=None
)

NAME_FIELDS = frozenset({"contact_name", "debtor_name", "legal_name", "name"})

# CNPJ: 14 characters (first 12 alphanumeric, last 2 digits), with or without punctuation.
_CNPJ = re.compile(
    r"(?<![0-9A-Za-z])[0-9A-Z]{2}\.?[0-9A-Z]{3}\.?[0-9A-Z]{3}/?[0-9A-Z]{4}-?[0-9]{2}(?![0-9A-Za-z])"
)
# Phones: E.164 or Brazilian writings with DDD: +55 11 98765-4321, (11) 98765-4321, 11987654321.
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2}\)|\d{2})[\s.-]?9?\d{4}[\s.-]?\d{4}(?!\w)"
    r"|\+\d{10,15}(?!\d)"
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def _mask_phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return f"<tel:***{digits[-2:]}>"


def _mask_cnpj(match: re.Match[str]) -> str:
    raw = re.sub(r"[./-]", "", match.group(0))
    if not any(c.isdigit() for c in raw[:12]):
        return match.group(0)  # a 14-letter word, not a CNPJ
    return f"<cnpj:{raw[:2]}***>"


def _mask_email(match: re.Match[str]) -> str:
    return "<email:***@" + match.group(0).rsplit("@", 1)[1] + ">"


def mask_text(text: str) -> str:
    """Phones, CNPJs and e-mails in ``text`` replaced by masked forms (last 2 phone digits kept)."""
    text = _EMAIL.sub(_mask_email, text)
    text = _CNPJ.sub(_mask_cnpj, text)
    return _PHONE.sub(_mask_phone, text)


def mask_name(name: str) -> str:
    """``Ana Souza`` → ``A** S****``."""
    return " ".join(part[:1] + "*" * (len(part) - 1) for part in str(name).split())


class PiiMaskingFilter(logging.Filter):
    """Masks the formatted message (arguments included) and name fields of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the template, still masked
            message = str(record.msg)
        record.msg = mask_text(message)
        record.args = None
        for key in NAME_FIELDS & record.__dict__.keys():
            if key != "name":  # LogRecord.name is the logger's name
                setattr(record, key, mask_name(getattr(record, key)))
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info))
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        return True


_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request/conversation ids, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        conversation_id = getattr(record, "conversation_id", None) or conversation_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        if conversation_id:
            entry["conversation_id"] = conversation_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [
            f"{k}={v}" for k, v in (("req", request_id_var.get()), ("conv", conversation_id_var.get())) if v
        ]
        return line + (" [" + " ".join(ids) + "]" if ids else "")


# Libraries that log every HTTP exchange at INFO. Above DEBUG only their warnings are kept:
# - twilio.http_client: 11 lines per sent message (request headers, response), ~0.6 ms of CPU each
#   send on the server, for nothing an operator reads;
# - httpx: one line per call to Rasa, Telegram and the PSP (failures are logged by our code);
# - uvicorn.access: the same request as negocia.http's line, which also has route and duration.
CHATTY_LOGGERS = ("twilio.http_client", "httpx", "uvicorn.access")


def build_handler(fmt: str = "json", stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(PiiMaskingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    return handler


def configure_logging(level: str = "INFO", fmt: str = "json", stream: Any = None) -> logging.Handler:
    """The root logger writes through one masking handler; uvicorn's loggers propagate to it."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_negocia", False):
            root.removeHandler(old)
    handler = build_handler(fmt, stream)
    handler._negocia = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    quiet = root.getEffectiveLevel() > logging.DEBUG
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING if quiet else logging.NOTSET)
    return handler


@contextmanager
def conversation_context(conversation_id: str | None) -> Iterator[None]:
    token = conversation_id_var.set(conversation_id)
    try:
        yield
    finally:
        conversation_id_var.reset(token)
