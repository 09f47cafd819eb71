"""Stored inbound attachments for staff: which file a transcript entry refers to, and its links."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bot.media import STORED, MediaStore
from server.db import repositories as repo
from server.db.models import Direction, Message


@dataclass(frozen=True)
class MediaItem:
    """One attachment of an inbound message as the console shows it."""

    index: int
    status: str  # stored | refused | failed | (announced, not downloaded yet)
    content_type: str
    size: int | None
    error: str | None
    file_name: str | None

    @property
    def is_image(self) -> bool:
        return self.status == STORED and self.content_type.startswith("image/")

    @property
    def is_audio(self) -> bool:
        return self.status == STORED and self.content_type.startswith("audio/")


def media_items(message: Message) -> list[MediaItem]:
    if message.direction != Direction.INBOUND or not message.media:
        return []
    items = []
    for i, entry in enumerate(message.media):
        entry = entry if isinstance(entry, dict) else {}
        size = entry.get("size")
        items.append(
            MediaItem(
                i,
                str(entry.get("status") or "pending"),
                str(entry.get("content_type") or ""),
                size if isinstance(size, int) else None,
                entry.get("error"),
                entry.get("file_name"),
            )
        )
    return items


def media_by_message(messages: list[Message] | Any) -> dict[int, list[MediaItem]]:
    return {m.id: items for m in messages if (items := media_items(m))}


@dataclass(frozen=True)
class StoredFile:
    path: Path
    content_type: str
    filename: str


class MediaNotFound(LookupError):
    pass


def stored_file(
    session: Session, store: MediaStore, conversation_public_id: str, message_id: int, index: int
) -> StoredFile:
    """The file of attachment ``index`` of an inbound message of that conversation; MediaNotFound
    (with the reason, in Portuguese) when there is none."""
    conversation = repo.conversation_by_public_id(session, conversation_public_id)
    if conversation is None:
        raise MediaNotFound("conversa não encontrada")
    message = session.get(Message, message_id)
    if message is None or message.conversation_id != conversation.id or not _entries(message):
        raise MediaNotFound("mensagem sem arquivo nesta conversa")
    entries = _entries(message)
    if not 0 <= index < len(entries):
        raise MediaNotFound("anexo inexistente")
    entry = entries[index]
    if entry.get("status") != STORED or not entry.get("path"):
        raise MediaNotFound(f"arquivo não armazenado ({entry.get('status') or 'pendente'})")
    path = store.resolve(str(entry["path"]))
    if path is None:
        raise MediaNotFound("arquivo não encontrado no armazenamento")
    name = str(entry.get("file_name") or path.name)
    return StoredFile(path, str(entry.get("content_type") or "application/octet-stream"), name)


def _entries(message: Message) -> list[dict[str, Any]]:
    if message.direction != Direction.INBOUND or not isinstance(message.media, list):
        return []
    return [e if isinstance(e, dict) else {} for e in message.media]
