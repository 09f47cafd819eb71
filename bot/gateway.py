"""One turn of a chat: resolve the sender, persist, route to the bot (or not), persist the replies.

The inbound message is committed before anything else so nothing a debtor writes is ever lost,
even when the dialogue engine is down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.dialogue import BotReply, DialogueEngine, DialogueUnavailable
from bot.locks import ConversationLocks
from server.db import repositories as repo
from server.db.models import Author, Channel, Conversation, ConversationState, Direction
from server.domain.conversation_state import check_transition
from server.services.identity import candidate_contacts


@dataclass(frozen=True)
class TurnResult:
    conversation_id: str
    replies: list[BotReply]
    duplicate: bool = False


class Gateway:
    def __init__(
        self, session_factory: sessionmaker[Session], dialogue: DialogueEngine, locks: ConversationLocks
    ) -> None:
        self._sessions = session_factory
        self._dialogue = dialogue
        self._locks = locks

    def _conversation(self, session: Session, channel: Channel, address: str) -> Conversation:
        conversation = repo.conversation_by_address(session, channel, address)
        if conversation is None:
            conversation = Conversation(channel=channel, address=address)
            session.add(conversation)
            session.flush()
        return conversation

    def handle_text(
        self,
        channel: Channel,
        address: str,
        text: str,
        *,
        provider_message_id: str | None = None,
        extra_metadata: dict[str, Any] | None = None,
    ) -> TurnResult:
        """Run one turn. ``address`` is already normalised (E.164 phone, Telegram chat id)."""
        with self._locks.hold(f"{channel.value}:{address}"):
            with self._sessions() as session:
                conversation = self._conversation(session, channel, address)
                try:
                    repo.add_message(
                        session,
                        conversation,
                        direction=Direction.INBOUND,
                        author=Author.CONTACT,
                        text=text,
                        provider_message_id=provider_message_id,
                    )
                    session.commit()
                except IntegrityError:
                    # The provider retried a message we already hold: the turn ran once.
                    session.rollback()
                    return TurnResult(conversation.public_id, [], duplicate=True)
                public_id = conversation.public_id
                if conversation.state == ConversationState.WITH_HUMAN:
                    return TurnResult(public_id, [])  # the collector answers from the console
                if conversation.state == ConversationState.WAITING_HUMAN:
                    return self._waiting_reply(session, conversation)
                if conversation.state == ConversationState.CLOSED:
                    check_transition(conversation.state, ConversationState.BOT)
                    conversation.state = ConversationState.BOT  # the debtor wrote again
                    session.commit()
                metadata = {
                    "channel": channel.value,
                    "known_sender": bool(candidate_contacts(session, conversation)),
                    **(extra_metadata or {}),
                }
            try:
                replies = self._dialogue.send(public_id, text, metadata)
                author = Author.BOT
            except DialogueUnavailable:
                replies = [BotReply(texts.ASSISTANT_UNAVAILABLE)]
                author = Author.SYSTEM
            with self._sessions() as session:
                stored = repo.conversation_by_public_id(session, public_id)
                assert stored is not None
                for reply in replies:
                    repo.add_message(
                        session,
                        stored,
                        direction=Direction.OUTBOUND,
                        author=author,
                        text=reply.text,
                        payload=reply.payload(),
                    )
                session.commit()
            return TurnResult(public_id, replies)

    def _waiting_reply(self, session: Session, conversation: Conversation) -> TurnResult:
        """Rasa is not called while a person is awaited; the debtor is told so, once."""
        last = repo.last_outbound(session, conversation)
        if last is not None and last.text == texts.WAITING_FOR_HUMAN:
            return TurnResult(conversation.public_id, [])
        reply = BotReply(texts.WAITING_FOR_HUMAN)
        repo.add_message(
            session, conversation, direction=Direction.OUTBOUND, author=Author.SYSTEM, text=reply.text
        )
        session.commit()
        return TurnResult(conversation.public_id, [reply])
