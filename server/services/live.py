"""Live notifications for the collector console: "something changed on this topic".

Subscribers (the console's server-sent events) then read what changed from the database, so a
lost notification only delays an update. In-process by default; Redis pub/sub when
NEGOCIA_REDIS_URL is set, so several server processes see each other's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import redis
import redis.asyncio as aioredis
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from server.db.models import Handoff, Message

QUEUE_TOPIC = "queue"
PREFIX = "negocia:live:"


def conversation_topic(conversation_id: int) -> str:
    return f"conversation:{conversation_id}"


class Subscription(Protocol):
    async def wait(self, timeout: float) -> bool:
        """True when notified within ``timeout`` seconds."""
        ...


class LiveEvents(Protocol):
    def publish(self, topic: str) -> None: ...

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[Subscription]: ...


class _LocalSubscription:
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.flag = asyncio.Event()

    def notify(self) -> None:
        self.loop.call_soon_threadsafe(self.flag.set)

    async def wait(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.flag.wait(), timeout)
        except TimeoutError:
            return False
        self.flag.clear()
        return True


class LocalLiveEvents:
    """One process: publishers may be worker threads, subscribers live on the event loop."""

    def __init__(self) -> None:
        self._subs: dict[str, set[_LocalSubscription]] = {}
        self._lock = threading.Lock()

    def publish(self, topic: str) -> None:
        with self._lock:
            subs = list(self._subs.get(topic, ()))
        for sub in subs:
            sub.notify()

    @asynccontextmanager
    async def _subscribe(self, topic: str) -> AsyncIterator[Subscription]:
        sub = _LocalSubscription()
        with self._lock:
            self._subs.setdefault(topic, set()).add(sub)
        try:
            yield sub
        finally:
            with self._lock:
                self._subs[topic].discard(sub)

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[Subscription]:
        return self._subscribe(topic)


class _RedisSubscription:
    def __init__(self, pubsub: aioredis.client.PubSub) -> None:
        self._pubsub = pubsub

    async def wait(self, timeout: float) -> bool:
        message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
        return message is not None


class RedisLiveEvents:
    def __init__(self, url: str) -> None:
        self._url = url
        self._client = redis.Redis.from_url(url)

    def publish(self, topic: str) -> None:
        # Best effort: the console also re-reads the database on its own.
        with contextlib.suppress(redis.RedisError):
            self._client.publish(PREFIX + topic, "1")

    @asynccontextmanager
    async def _subscribe(self, topic: str) -> AsyncIterator[Subscription]:
        client = aioredis.Redis.from_url(self._url)
        pubsub = client.pubsub()
        await pubsub.subscribe(PREFIX + topic)
        try:
            yield _RedisSubscription(pubsub)
        finally:
            await pubsub.unsubscribe()
            await pubsub.aclose()
            await client.aclose()

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[Subscription]:
        return self._subscribe(topic)

    def close(self) -> None:
        self._client.close()


def publish_on_commit(factory: sessionmaker[Session], live: LiveEvents) -> None:
    """Every committed new message (whoever wrote it: gateway, outbox, console) and every new
    handoff is announced, without the writers knowing about the console."""

    @event.listens_for(factory, "after_flush")
    def _collect(session: Session, _ctx: object) -> None:
        topics: set[str] = session.info.setdefault("live_topics", set())
        for obj in session.new:
            if isinstance(obj, Message):
                topics.add(conversation_topic(obj.conversation_id))
            elif isinstance(obj, Handoff):
                topics.add(QUEUE_TOPIC)

    @event.listens_for(factory, "after_commit")
    def _publish(session: Session) -> None:
        for topic in session.info.pop("live_topics", set()):
            live.publish(topic)

    @event.listens_for(factory, "after_rollback")
    def _discard(session: Session) -> None:
        session.info.pop("live_topics", None)
