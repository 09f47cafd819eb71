"""LGPD data-subject tools: everything held about a contact (export) and anonymisation (erase).

Erasure replaces the contact's identifiers (name, phone, e-mail, Telegram id), what they wrote
and sent (message texts, media, and the stored attachment files, deleted once the erasure is
committed) and their name in our replies and handoff summaries. Agreements
stay, with their acceptance evidence (terms hash, time, channel, message id): the creditor must
be able to prove the debt's renegotiation (LGPD art. 16, I and art. 7, VI: legal obligation and
the regular exercise of rights). The erasure itself is recorded in the audit log with its reason.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from bot.media import MediaStore
from server.db import repositories as repo
from server.db.models import (
    Agreement,
    AuditEntry,
    Author,
    Channel,
    Contact,
    Conversation,
    Handoff,
    Invoice,
    ScheduledReminder,
)
from server.domain.phone import match_key, normalize_phone
from server.services import audit

ERASED_TEXT = "[conteúdo apagado a pedido do titular (LGPD)]"
ERASED_NAME = "[titular]"
DEFAULT_REASON = "solicitação do titular (LGPD art. 18, VI)"
EVIDENCE_KEPT = (
    "acordos mantidos com a prova do aceite (hash do termo, data, canal, id da mensagem) para "
    "cumprimento de obrigação legal e exercício regular de direitos (LGPD art. 7, II e VI; art. 16, I)"
)


class NoContact(LookupError):
    pass


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "value") and isinstance(value.value, str):  # enums
        return value.value
    return value


def _row(obj: Any, fields: Iterable[str]) -> dict[str, Any]:
    return {f: _plain(getattr(obj, f)) for f in fields}


def contacts_for_phone(session: Session, phone: str) -> Sequence[Contact]:
    """The contacts registered with ``phone`` (raises InvalidPhone on a malformed one)."""
    normalize_phone(phone)
    return repo.contacts_by_phone_key(session, match_key(phone))


def _conversations(session: Session, contacts: Sequence[Contact], phone: str) -> list[Conversation]:
    key = match_key(phone)
    conditions: list[Any] = [
        Conversation.contact_id.in_([c.id for c in contacts]),
        and_(Conversation.channel != Channel.TELEGRAM, Conversation.address.like(f"+55{key[:2]}%{key[2:]}")),
    ]
    telegram_ids = [str(c.telegram_user_id) for c in contacts if c.telegram_user_id is not None]
    if telegram_ids:
        conditions.append(
            and_(Conversation.channel == Channel.TELEGRAM, Conversation.address.in_(telegram_ids))
        )
    stmt = select(Conversation).where(or_(*conditions)).order_by(Conversation.id)
    return list(session.scalars(stmt))


def _agreements(
    session: Session, contacts: Sequence[Contact], conversations: Sequence[Conversation]
) -> list[Agreement]:
    stmt = select(Agreement).where(
        or_(
            Agreement.contact_id.in_([c.id for c in contacts]),
            Agreement.conversation_id.in_([c.id for c in conversations]),
        )
    )
    return list(session.scalars(stmt.order_by(Agreement.id)))


def export_contact(session: Session, phone: str, now: datetime) -> dict[str, Any]:
    contacts = contacts_for_phone(session, phone)
    if not contacts:
        raise NoContact(phone)
    conversations = _conversations(session, contacts, phone)
    conversation_ids = [c.id for c in conversations]
    handoffs = session.scalars(select(Handoff).where(Handoff.conversation_id.in_(conversation_ids))).all()
    reminders = session.scalars(
        select(ScheduledReminder).where(ScheduledReminder.contact_id.in_([c.id for c in contacts]))
    ).all()
    erasures = session.scalars(
        select(AuditEntry).where(
            AuditEntry.target_type == "contact", AuditEntry.target_id.in_([str(c.id) for c in contacts])
        )
    ).all()
    return {
        "requested_phone": normalize_phone(phone),
        "exported_at": now.isoformat(),
        "contacts": [
            {
                **_row(
                    c,
                    (
                        "id",
                        "name",
                        "phone_e164",
                        "email",
                        "telegram_user_id",
                        "created_at",
                        "last_inbound_at",
                    ),
                ),
                "consents": {
                    "opted_out_at": _plain(c.opted_out_at),
                    "whatsapp_reminders": c.opted_out_at is None,
                },
                "debtor": {
                    **_row(c.debtor, ("id", "cnpj", "legal_name", "segment", "legal_hold", "in_dispute")),
                    "invoices": [
                        _row(
                            i,
                            (
                                "number",
                                "issue_date",
                                "due_date",
                                "principal",
                                "status",
                                "paid_at",
                                "paid_amount",
                            ),
                        )
                        for i in session.scalars(
                            select(Invoice).where(Invoice.debtor_id == c.debtor_id).order_by(Invoice.id)
                        )
                    ],
                },
            }
            for c in contacts
        ],
        "conversations": [
            {
                **_row(
                    c,
                    (
                        "public_id",
                        "channel",
                        "address",
                        "state",
                        "verified_at",
                        "verification_failures",
                        "disclosure_locked_at",
                        "handoff_reason",
                        "created_at",
                    ),
                ),
                "messages": [
                    _row(m, ("id", "direction", "author", "text", "media", "status", "created_at", "sent_at"))
                    for m in c.messages
                ],
            }
            for c in conversations
        ],
        "handoffs": [
            {
                **_row(
                    h, ("id", "reason", "summary", "created_at", "claimed_at", "resolved_at", "resolution")
                ),
                "conversation": h.conversation.public_id,
            }
            for h in handoffs
        ],
        "agreements": [
            {
                **_row(
                    a,
                    (
                        "public_id",
                        "option",
                        "status",
                        "original_total",
                        "updated_total",
                        "discount_amount",
                        "agreed_total",
                        "down_payment",
                        "channel",
                        "message_id",
                        "accepted_at",
                        "terms_sha256",
                    ),
                ),
                "installments": [
                    _row(i, ("number", "due_date", "amount", "status", "paid_at")) for i in a.installments
                ],
            }
            for a in _agreements(session, contacts, conversations)
        ],
        "reminders": [
            _row(r, ("step_id", "due_at", "status", "reason", "channel", "sent_at")) for r in reminders
        ],
        "erasures": [_row(e, ("action", "created_at", "details")) for e in erasures],
    }


@dataclass(frozen=True)
class ErasureResult:
    contacts: int
    conversations: int
    messages: int
    agreements_kept: list[str]
    # Stored attachments the contact sent (paths under the media directory): no longer referenced
    # once the erasure is committed; the caller deletes the files then (a file is not rolled back).
    media_paths: list[str] = field(default_factory=list)


def delete_media_files(media_dir: Path, paths: Sequence[str]) -> list[str]:
    """Deletes the erased attachments; returns the paths that could not be deleted."""
    store = MediaStore(media_dir)
    failed = []
    for relative in paths:
        path = store.resolve(relative)
        if path is None:
            continue  # already gone, or a path outside the media directory: never touched
        try:
            path.unlink()
        except OSError:
            failed.append(relative)
            continue
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # the conversation's folder, once empty
    return failed


def _scrub(text: str | None, needles: Sequence[str]) -> str | None:
    if not text:
        return text
    for needle in needles:
        text = re.sub(re.escape(needle), ERASED_NAME, text, flags=re.IGNORECASE)
    return text


def erase_contact(session: Session, phone: str, now: datetime, reason: str = DEFAULT_REASON) -> ErasureResult:
    """Anonymises every contact of ``phone`` (commit is the caller's)."""
    contacts = list(contacts_for_phone(session, phone))
    if not contacts:
        raise NoContact(phone)
    conversations = _conversations(session, contacts, phone)
    agreements = _agreements(session, contacts, conversations)
    e164 = normalize_phone(phone)
    needles = sorted(
        {e164, e164[3:]}
        | {
            n
            for c in contacts
            for n in (c.email or "", c.name, c.name.split()[0] if c.name else "")
            if len(n) >= 3
        },
        key=len,
        reverse=True,
    )
    messages = 0
    media_paths: list[str] = []
    for conversation in conversations:
        for m in conversation.messages:
            if m.author == Author.CONTACT:
                media_paths += [
                    str(e["path"]) for e in m.media or [] if isinstance(e, dict) and e.get("path")
                ]
                m.text, m.media, m.payload = ERASED_TEXT, None, None
            else:
                m.text = _scrub(m.text, needles) or ""
            messages += 1
        conversation.address = f"anon:{conversation.id}"
    for h in session.scalars(
        select(Handoff).where(Handoff.conversation_id.in_([c.id for c in conversations]))
    ):
        h.summary = _scrub(h.summary, needles) or ""
    for reminder in session.scalars(
        select(ScheduledReminder).where(
            ScheduledReminder.contact_id.in_([c.id for c in contacts]),
            ScheduledReminder.status == "scheduled",
        )
    ):
        reminder.status, reminder.reason = "skipped", "lgpd_erasure"
    kept = [a.public_id for a in agreements]
    for contact in contacts:
        audit.record(
            session, None, "lgpd_erase", "contact", contact.id, now,
            reason=reason, evidence_kept=EVIDENCE_KEPT, agreements=",".join(kept) or "nenhum",
            conversations=len(conversations),
        )  # fmt: skip
        contact.name = f"Titular anonimizado #{contact.id}"
        contact.phone_e164 = contact.phone_key = contact.email = None
        contact.telegram_user_id = None
        contact.opted_out_at = contact.opted_out_at or now  # never contacted again
    session.flush()
    return ErasureResult(len(contacts), len(conversations), messages, kept, media_paths)
