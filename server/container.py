"""Composition root: builds the real adapters from settings. Tests build one with fakes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import redis
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.base import OutboundChannel
from bot.channels.sandbox import SandboxChannel
from bot.channels.telegram import TelegramChannel
from bot.channels.whatsapp import WhatsAppChannel, last_inbound_from_db, twilio_client
from bot.dialogue import DialogueEngine, RasaRestEngine
from bot.gateway import EngineHealth, Gateway
from bot.locks import ConversationLocks, LocalLocks, RedisLocks
from bot.media import Fetcher, MediaDownloader, MediaStore, TelegramFileFetcher, TwilioMediaFetcher
from bot.outbox import Outbox, RetryPolicy
from bot.turn_runner import TurnRunner
from server.clock import Clock, SystemClock
from server.db.models import Channel
from server.db.session import make_engine, make_session_factory
from server.domain.dunning import Template
from server.dunning_runtime import Dunning
from server.metrics import InstrumentedDialogue, instrument_channels
from server.services.dunning import DunningScheduler, ReminderSender, load_catalogue
from server.services.identity import IdentityPolicy
from server.services.live import LiveEvents, LocalLiveEvents, RedisLiveEvents, publish_on_commit
from server.services.rate_limit import LocalRateLimiter, RateLimiter, RedisRateLimiter
from server.services.request_limits import LocalRequestLimiter, RedisRequestLimiter, RequestLimiter
from server.services.tracker_sync import RasaTrackerSync, TrackerSync
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
    # Outbound adapters of the channels that are on; the sandbox's inbox is the message table.
    channels: dict[Channel, OutboundChannel] = field(
        default_factory=lambda: {Channel.SANDBOX: SandboxChannel()}
    )
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    turns: TurnRunner = field(default_factory=TurnRunner)
    live: LiveEvents = field(default_factory=LocalLiveEvents)
    tracker_sync: TrackerSync | None = None  # None: Rasa's HTTP API from settings
    rate_limiter: RateLimiter | None = None  # None: per process, at settings.send_rate_per_second
    # Abuse limits on inbound requests (per IP, per sender); Redis-backed when Redis is set.
    request_limiter: RequestLimiter = field(default_factory=LocalRequestLimiter)
    _catalogue: dict[str, Template] | None = None
    _media: MediaDownloader | None = None
    engine_health: EngineHealth = field(default_factory=EngineHealth)  # the retrier's backoff

    def __post_init__(self) -> None:
        publish_on_commit(self.session_factory, self.live)
        if not isinstance(self.dialogue, InstrumentedDialogue):  # turn counts and latency
            self.dialogue = InstrumentedDialogue(self.dialogue)
        if self.tracker_sync is None:
            token = self.settings.rasa_auth_token
            sync = RasaTrackerSync(
                self.settings.resolved_rasa_urls, token.get_secret_value() if token else None
            )
            self.closers.append(sync.close)
            self.tracker_sync = sync

    @property
    def tracker(self) -> TrackerSync:
        assert self.tracker_sync is not None
        return self.tracker_sync

    @property
    def identity_policy(self) -> IdentityPolicy:
        return IdentityPolicy(max_attempts=self.settings.max_identity_attempts)

    @property
    def outbox(self) -> Outbox:
        return Outbox(self.session_factory, instrument_channels(self.channels), self.clock, self.retry)

    @property
    def media(self) -> MediaDownloader:
        """Downloads inbound attachments of the channels that are on (built once, from settings)."""
        if self._media is None:
            s = self.settings
            fetchers: dict[Channel, Fetcher] = {}
            if s.whatsapp_enabled and s.twilio_account_sid and s.twilio_auth_token:
                fetchers[Channel.WHATSAPP] = TwilioMediaFetcher(
                    s.twilio_account_sid, s.twilio_auth_token.get_secret_value(), s.twilio_api_base_url
                )
            if s.telegram_bot_token is not None:
                fetchers[Channel.TELEGRAM] = TelegramFileFetcher(
                    s.telegram_bot_token.get_secret_value(), s.telegram_api_base_url
                )
            self._media = MediaDownloader(MediaStore(s.media_dir, s.media_max_bytes), fetchers)
            self.closers.append(self._media.close)
        return self._media

    @property
    def gateway(self) -> Gateway:
        return Gateway(
            self.session_factory, self.dialogue, self.locks, self.outbox, self.clock, media=self.media,
            engine_handoff_after=timedelta(minutes=self.settings.engine_handoff_after_minutes),
            session_max_turns=self.settings.rasa_session_max_turns, health=self.engine_health,
        )  # fmt: skip

    @property
    def catalogue(self) -> dict[str, Template]:
        """The approved WhatsApp templates (configuration file, read once)."""
        if self._catalogue is None:
            self._catalogue = load_catalogue(self.settings.whatsapp_templates_file)
        return self._catalogue

    @property
    def dunning(self) -> Dunning:
        if self.rate_limiter is None:
            self.rate_limiter = LocalRateLimiter(self.settings.send_rate_per_second)
        return Dunning(
            DunningScheduler(self.session_factory, self.clock, self.channels),
            ReminderSender(
                self.session_factory, self.outbox, instrument_channels(self.channels), self.clock,
                self.settings, self.catalogue, self.rate_limiter, retry=self.retry,
            ),
        )  # fmt: skip

    def database_ready(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def close(self) -> None:
        self.turns.close()
        for close in self.closers:
            close()
        self.engine.dispose()


def whatsapp_channel(
    settings: Settings, session_factory: sessionmaker[Session], clock: Clock
) -> WhatsAppChannel:
    assert settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_whatsapp_from
    base = settings.public_base_url or settings.server_url
    return WhatsAppChannel(
        twilio_client(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            settings.twilio_api_base_url,
        ),
        settings.twilio_whatsapp_from,
        last_inbound_from_db(session_factory),
        clock,
        status_callback_url=base.rstrip("/") + "/channels/whatsapp/status",
    )


def build_container(settings: Settings) -> Container:
    engine = make_engine(
        settings.database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
    )
    session_factory = make_session_factory(engine)
    clock = SystemClock()
    channels: dict[Channel, OutboundChannel] = {Channel.SANDBOX: SandboxChannel()}
    if settings.whatsapp_enabled:
        channels[Channel.WHATSAPP] = whatsapp_channel(settings, session_factory, clock)
    token = settings.rasa_auth_token
    dialogue = RasaRestEngine(
        settings.resolved_rasa_urls, settings.rasa_timeout_s, token.get_secret_value() if token else None
    )
    closers: list[Callable[[], None]] = [dialogue.close]
    if settings.telegram_bot_token is not None:
        telegram = TelegramChannel(
            settings.telegram_bot_token.get_secret_value(), settings.telegram_api_base_url
        )
        channels[Channel.TELEGRAM] = telegram
        closers.append(telegram.close)
    locks: ConversationLocks
    live: LiveEvents
    limiter: RateLimiter | None = None
    request_limiter: RequestLimiter = LocalRequestLimiter()
    if settings.redis_url:
        client = redis.Redis.from_url(settings.redis_url)
        locks = RedisLocks(client)
        limiter = RedisRateLimiter(client, settings.send_rate_per_second)  # shared by all workers
        request_limiter = RedisRequestLimiter(client)
        closers.append(client.close)
        redis_live = RedisLiveEvents(settings.redis_url)
        closers.append(redis_live.close)
        live = redis_live
    else:
        locks = LocalLocks()
        live = LocalLiveEvents()
    return Container(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        dialogue=dialogue,
        locks=locks,
        clock=clock,
        channels=channels,
        turns=TurnRunner(settings.turn_workers),
        actions_probe=http_probe(f"http://127.0.0.1:{settings.actions_port}/health"),
        closers=closers,
        live=live,
        rate_limiter=limiter,
        request_limiter=request_limiter,
    )
