"""What a collector does to a conversation, each action audited: claim, reply, agree, flag,
release or close. Replies and agreement messages reach the debtor through the conversation's own
channel (the outbox); releasing brings the bot's tracker up to date first."""

from __future__ import annotations

import logging
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.dialogue import BotReply
from server.clock import local_today
from server.container import Container
from server.db.models import Agreement, Author, Conversation, Handoff, User
from server.domain.formatting import format_brl, format_date
from server.services import audit, console_texts
from server.services.collector_agreements import ManualTerms, make_manual_agreement
from server.services.collector_authority import authority_for
from server.services.handoffs import (
    HandoffError,
    claim_handoff,
    held_handoff,
    resolve_handoff,
)
from server.services.public_links import term_url
from server.services.tracker_sync import Resume, TrackerSyncError

log = logging.getLogger(__name__)

Flag = Literal["in_dispute", "legal_hold"]


def claim(container: Container, session: Session, handoff_id: int, user: User) -> Handoff:
    now = container.clock.now()
    handoff = claim_handoff(session, handoff_id, user, now)
    audit.record(
        session, user, "claim", "handoff", handoff.id, now, conversation=handoff.conversation.public_id
    )
    session.commit()
    return handoff


def reply(
    container: Container, session: Session, conversation: Conversation, user: User, text: str
) -> list[int]:
    held_handoff(session, conversation, user)
    audit.record(session, user, "reply", "conversation", conversation.public_id, container.clock.now(),
                 chars=len(text))  # fmt: skip
    session.commit()
    return container.outbox.deliver(conversation.public_id, [BotReply(text)], author=Author.COLLECTOR)


def agree(
    container: Container, session: Session, conversation: Conversation, user: User, terms: ManualTerms
) -> Agreement:
    """A manual agreement within the collector's authority; the PIX code and term link go out."""
    held_handoff(session, conversation, user)
    now = container.clock.now()
    authority = authority_for(session, user, container.settings)
    agreement = make_manual_agreement(
        session, conversation, user, authority, terms, container.settings, local_today(container.clock), now
    )
    audit.record(session, user, "agreement", "conversation", conversation.public_id, now,
                 agreement=agreement.public_id, option=agreement.option, total=agreement.agreed_total)  # fmt: skip
    session.commit()
    first = agreement.installments[0]
    container.outbox.deliver(
        conversation.public_id,
        [
            BotReply(
                console_texts.AGREEMENT_DONE.format(
                    amount=format_brl(first.amount), due_date=format_date(first.due_date)
                )
            ),
            BotReply(first.pix_code),
            BotReply(console_texts.TERM_LINK.format(url=term_url(container, agreement.public_id))),
        ],
        author=Author.COLLECTOR,
    )
    return agreement


def set_flag(
    container: Container, session: Session, conversation: Conversation, user: User, flag: Flag, value: bool
) -> None:
    """Open or resolve a dispute, set or lift a legal hold on the conversation's debtor."""
    held_handoff(session, conversation, user)
    if conversation.contact is None:
        raise HandoffError("a conversa não tem um contato verificado")
    debtor = conversation.contact.debtor
    setattr(debtor, flag, value)
    audit.record(session, user, "flag", "debtor", debtor.id, container.clock.now(), flag=flag, value=value,
                 conversation=conversation.public_id)  # fmt: skip
    session.commit()


def _collector_agreement(session: Session, handoff: Handoff) -> str | None:
    stmt = (
        select(Agreement.public_id)
        .where(
            Agreement.conversation_id == handoff.conversation_id,
            Agreement.created_by.like("user:%"),
            Agreement.created_at >= handoff.created_at,
        )
        .order_by(Agreement.id.desc())
        .limit(1)
    )
    return session.scalar(stmt)


def resolve(container: Container, session: Session, handoff_id: int, user: User, *, close: bool) -> Handoff:
    """Release to the bot (its tracker is updated first; if Rasa cannot be reached nothing
    changes: a bot resuming a stale form is worse than a collector retrying) or close."""
    now = container.clock.now()
    handoff = resolve_handoff(session, handoff_id, user, now, close=close)
    conversation = handoff.conversation
    resume = Resume(agreement_id=_collector_agreement(session, handoff))
    audit.record(session, user, "close" if close else "release", "handoff", handoff.id, now,
                 conversation=conversation.public_id, agreement=resume.agreement_id)  # fmt: skip
    try:
        container.tracker.resume(conversation.public_id, resume)
    except TrackerSyncError as exc:
        if not close:
            session.rollback()
            raise HandoffError("não foi possível atualizar o assistente virtual; tente de novo", 503) from exc
        log.warning("tracker of %s not updated on close: %s", conversation.public_id, exc)
    session.commit()
    if not close:
        creditor = container.settings.creditor_trade_name
        container.outbox.deliver(
            conversation.public_id,
            [BotReply(console_texts.RELEASED_TO_BOT.format(creditor=creditor))],
            author=Author.SYSTEM,
        )
    return handoff
