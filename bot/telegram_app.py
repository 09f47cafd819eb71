"""python-telegram-bot ``Application`` wiring: updates in (webhook or polling), turns in threads.

Webhook mode (inside the server): built with ``updater(None)``; ``POST /channels/telegram`` puts
each verified update on ``application.update_queue`` and answers 200 at once. Polling mode
(``negocia telegram-poll``): the same application with PTB's Updater calling getUpdates.
Either way the same handler runs the turn in a worker thread (the gateway and database are sync).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, BaseUpdateProcessor, ContextTypes, TypeHandler

log = logging.getLogger(__name__)

MAX_CONCURRENT_UPDATES = 16


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Updates of different chats run concurrently; one chat's run one at a time, in arrival order
    (asyncio locks wake waiters first come, first served, and tasks start in queue order)."""

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock, users = self._locks.get(chat.id, (asyncio.Lock(), 0))
        self._locks[chat.id] = (lock, users + 1)
        try:
            async with lock:
                await coroutine
        finally:
            lock, users = self._locks[chat.id]
            if users <= 1:
                del self._locks[chat.id]
            else:
                self._locks[chat.id] = (lock, users - 1)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


async def _log_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    # The update was acknowledged already; a failed turn is logged (its inbound message is stored).
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("telegram update %s failed", update_id, exc_info=context.error)


async def _to_thread(fn: Callable[[Update], None], update: Update) -> None:
    await asyncio.to_thread(fn, update)


def build_application(
    token: str,
    api_base_url: str,
    on_update: Callable[[Update], None],
    *,
    webhook: bool,
    run: Callable[[Callable[[Update], None], Update], Awaitable[object]] = _to_thread,
) -> Application:  # type: ignore[type-arg]
    """``run`` executes the synchronous turn off the event loop (the server's turn threads)."""
    base = api_base_url.rstrip("/")
    builder = (
        Application.builder()
        .token(token)
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .concurrent_updates(PerChatUpdateProcessor())
    )
    if webhook:
        builder = builder.updater(None)
    application = builder.build()

    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            try:
                await update.callback_query.answer()  # stops the button's spinner
            except TelegramError as exc:
                log.warning("answerCallbackQuery failed: %s", exc)
        await run(on_update, update)

    application.add_handler(TypeHandler(Update, handle))
    application.add_error_handler(_log_error)
    return application


class TelegramRuntime:
    """The webhook-mode application for the server's lifespan: start, push updates, stop."""

    def __init__(self, application: Application) -> None:  # type: ignore[type-arg]
        self.application = application

    async def start(self) -> None:
        await self.application.initialize()  # getMe: fails fast on a wrong token
        await self.application.start()

    async def stop(self) -> None:
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    def parse(self, data: dict[str, Any]) -> Update:
        return Update.de_json(data, self.application.bot)

    async def push(self, update: Update) -> None:
        await self.application.update_queue.put(update)
