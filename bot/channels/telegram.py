"""Telegram outbound adapter: one Bot API call per message, errors mapped to retryable or not.

Sending uses a plain synchronous httpx client against the Bot API rather than PTB's async ``Bot``:
the Outbox calls ``send()`` from worker threads (and from the CLI poller), and bridging each call
onto an event loop would tie delivery to that loop's lifetime (deadlock if ever called on the loop
thread, failures during shutdown). The Bot API is plain HTTPS + JSON, so a thread-safe sync client
is the simpler and more robust choice. PTB still receives and parses updates (``telegram_app``).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from bot.channels.base import MessageKind, OutboundMessage, SendError, SendResult

# Telegram's limits: message text and media captions.
MAX_TEXT = 4096
MAX_CAPTION = 1024
# callback_data is at most 64 bytes; longer payloads are sent as their button's title instead.
MAX_CALLBACK_DATA = 64
# A button with this payload becomes a reply-keyboard button that shares the user's own phone
# number (Telegram's request_contact); only Telegram has such a button.
REQUEST_CONTACT_PAYLOAD = "/telegram_share_contact"


def provider_message_id(chat_id: str, message_id: int) -> str:
    """Telegram message ids are per chat, so the chat is part of the id we store."""
    return f"tgm:{chat_id}:{message_id}"


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split at line breaks (or hard, for a single huge line) into chunks Telegram accepts."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current or not chunks:
        chunks.append(current)
    return chunks


def _callback_data(title: str, payload: str) -> str:
    if len(payload.encode()) <= MAX_CALLBACK_DATA:
        return payload
    # The title typed back is understood by the dialogue like the button itself.
    return title.encode()[:MAX_CALLBACK_DATA].decode(errors="ignore")


def reply_markup(message: OutboundMessage) -> dict[str, Any]:
    if any(b.payload == REQUEST_CONTACT_PAYLOAD for b in message.buttons):
        keyboard = [[{"text": b.title, "request_contact": True}] for b in message.buttons]
        return {"keyboard": keyboard, "one_time_keyboard": True, "resize_keyboard": True}
    if message.buttons:
        rows = [
            [{"text": b.title, "callback_data": _callback_data(b.title, b.payload)}] for b in message.buttons
        ]
        return {"inline_keyboard": rows}
    # Every other message clears a contact-request keyboard still shown (a no-op otherwise).
    return {"remove_keyboard": True}


class TelegramChannel:
    """``OutboundChannel`` for Telegram; ``address`` is the chat id (the user id in private chats)."""

    def __init__(self, token: str, api_base_url: str = "https://api.telegram.org", timeout_s: float = 15.0):
        self._base = f"{api_base_url.rstrip('/')}/bot{token}"
        self._client = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self._client.close()

    def call(self, method: str, params: dict[str, Any]) -> Any:
        """One Bot API call; the ``result`` on success, SendError otherwise."""
        try:
            response = self._client.post(f"{self._base}/{method}", json=params)
        except httpx.HTTPError as exc:
            raise SendError(f"Telegram inacessível: {type(exc).__name__}", retryable=True) from exc
        try:
            body = response.json()
        except json.JSONDecodeError:
            body = {}
        if response.status_code == 200 and body.get("ok"):
            return body.get("result")
        code = int(body.get("error_code") or response.status_code)
        reason = str(body.get("description") or f"HTTP {response.status_code}")
        retry_after = (body.get("parameters") or {}).get("retry_after")
        if retry_after is not None:
            reason += f" (tente novamente em {retry_after} s)"
        # 429 (flood control) and 5xx can succeed later; 400 (bad request), 401 (token),
        # 403 (the user blocked the bot) never will.
        retryable = code == 429 or code >= 500
        raise SendError(reason, retryable=retryable, error_code=str(code))

    def send(self, address: str, message: OutboundMessage) -> SendResult:
        markup = reply_markup(message)
        if message.kind in (MessageKind.IMAGE, MessageKind.DOCUMENT):
            if not message.url:
                raise SendError("mídia sem URL", retryable=False)
            caption = message.text
            if len(caption) > MAX_CAPTION:
                self._send_text(address, caption, {"remove_keyboard": True})
                caption = ""
            method, field = (
                ("sendPhoto", "photo") if message.kind == MessageKind.IMAGE else ("sendDocument", "document")
            )
            params: dict[str, Any] = {"chat_id": address, field: message.url, "reply_markup": markup}
            if caption:
                params["caption"] = caption
            result = self.call(method, params)
            return SendResult(provider_message_id(address, int(result["message_id"])))
        if message.kind == MessageKind.TEMPLATE:
            # Telegram has no templates (and no 24-hour window): the rendered text goes as is.
            text = message.text or "\n".join(message.variables.values())
            return self._send_text(address, text, markup)
        return self._send_text(address, message.text, markup)

    def _send_text(self, address: str, text: str, markup: dict[str, Any]) -> SendResult:
        if not text.strip():
            raise SendError("mensagem vazia", retryable=False)
        chunks = split_text(text)
        result: Any = None
        for i, chunk in enumerate(chunks):
            params: dict[str, Any] = {"chat_id": address, "text": chunk}
            if i == len(chunks) - 1:
                params["reply_markup"] = markup  # buttons under the last part
            result = self.call("sendMessage", params)
        return SendResult(provider_message_id(address, int(result["message_id"])))
