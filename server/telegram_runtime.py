"""Telegram wiring from settings: the outbound channel, and the PTB application (webhook or polling)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from telegram.error import TelegramError
from telegram.ext import Application

from bot.telegram_app import TelegramRuntime, build_application
from bot.telegram_updates import TelegramUpdates

if TYPE_CHECKING:
    from server.container import Container

log = logging.getLogger(__name__)


def _updates(container: Container) -> TelegramUpdates:
    return TelegramUpdates(
        container.session_factory,
        container.gateway,
        container.outbox,
        container.locks,
        container.settings.creditor_trade_name,
        container.clock,
    )


def _application(container: Container, *, webhook: bool) -> Application:  # type: ignore[type-arg]
    token = container.settings.telegram_bot_token
    assert token is not None
    return build_application(
        token.get_secret_value(),
        container.settings.telegram_api_base_url,
        _updates(container).handle,
        webhook=webhook,
        run=container.turns.run,  # the server's turn threads, not the request threadpool
    )


async def start_telegram(container: Container) -> TelegramRuntime | None:
    """Webhook mode for the server's lifespan; None when the channel is off or cannot start."""
    if container.settings.telegram_bot_token is None:
        return None
    runtime = TelegramRuntime(_application(container, webhook=True))
    try:
        await runtime.start()
    except TelegramError:
        # A wrong token or Telegram unreachable must not take WhatsApp and the console down.
        log.exception("Telegram channel could not start; POST /channels/telegram answers 404")
        return None
    return runtime


def run_polling(container: Container, **kwargs: Any) -> None:
    """``negocia telegram-poll``: getUpdates instead of a webhook (PTB deletes the webhook first)."""
    application = _application(container, webhook=False)
    application.run_polling(allowed_updates=["message", "callback_query"], **kwargs)
