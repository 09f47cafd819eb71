"""Composition root: builds the real adapters from settings. Tests build one with fakes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import redis
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot.dialogue import DialogueEngine, RasaRestEngine
from bot.gateway import Gateway
from bot.locks import ConversationLocks, LocalLocks, RedisLocks
from server.clock import Clock, SystemClock
from server.db.session import make_engine, make_session_factory
from server.services.identity import IdentityPolicy
from server.settings import Settings

Probe = Callable[[], bool]


def http_probe(url: str) -> Probe:
    def probe() -> bool:
        try:
            return httpx.get(url, timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    return probe


@dataclass
class Container:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    dialogue: DialogueEngine
    locks: ConversationLocks
    clock: Clock = field(default_factory=SystemClock)
    actions_probe: Probe = lambda: True
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def identity_policy(self) -> IdentityPolicy:
        return IdentityPolicy(max_attempts=self.settings.max_identity_attempts)

    @property
    def gateway(self) -> Gateway:
        return Gateway(self.session_factory, self.dialogue, self.locks)

    def database_ready(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def close(self) -> None:
        for close in self.closers:
            close()
        self.engine.dispose()


def build_container(settings: Settings) -> Container:
    engine = make_engine(settings.database_url)
    dialogue = RasaRestEngine(settings.resolved_rasa_url, settings.rasa_timeout_s)
    closers: list[Callable[[], None]] = [dialogue.close]
    locks: ConversationLocks
    if settings.redis_url:
        client = redis.Redis.from_url(settings.redis_url)
        locks = RedisLocks(client)
        closers.append(client.close)
    else:
        locks = LocalLocks()
    return Container(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        dialogue=dialogue,
        locks=locks,
        actions_probe=http_probe(f"http://127.0.0.1:{settings.actions_port}/health"),
        closers=closers,
    )
