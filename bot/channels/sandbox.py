"""Sandbox channel: its inbox is the message table itself (``GET /channels/sandbox/messages``)."""

from __future__ import annotations

from bot.channels.base import OutboundMessage, SendResult


class SandboxChannel:
    def send(self, address: str, message: OutboundMessage) -> SendResult:
        # Nothing leaves the process: the stored outbound message is what the sandbox shows.
        return SendResult(provider_message_id=None, status="delivered")
