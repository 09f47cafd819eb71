"""Prometheus metrics, recorded at the edges: the HTTP middleware, the dialogue engine and the
channel adapters (wrapped in the composition root), handoff rows as they are inserted, and queue
depths read from the database when ``GET /metrics`` is scraped.

Each server worker process keeps its own counters; scrape every worker (see docs/deploy.md).
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.base import OutboundChannel, OutboundMessage, SendError, SendResult
from bot.dialogue import BotReply, DialogueEngine, DialogueUnavailable
from server.db.models import Direction, Handoff, Message, Processing, ScheduledReminder

REGISTRY = CollectorRegistry(auto_describe=True)

TURNS = Counter(
    "negocia_turns", "Dialogue turns sent to the engine, by outcome.", ["outcome"], registry=REGISTRY
)
TURN_LATENCY = Histogram(
    "negocia_turn_latency_seconds",
    "Time the dialogue engine took for one turn.",
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
HANDOFFS = Counter("negocia_handoffs", "Handoffs to a collector, by reason.", ["reason"], registry=REGISTRY)
SENDS = Counter(
    "negocia_sends", "Outbound messages handed to a channel, by channel and status.",
    ["channel", "status"], registry=REGISTRY,
)  # fmt: skip
HTTP_REQUESTS = Counter(
    "negocia_http_requests", "HTTP requests by route template, method and status.",
    ["route", "method", "status"], registry=REGISTRY,
)  # fmt: skip
WEBHOOK_REQUESTS = Counter(
    "negocia_webhook_requests", "Webhook requests (WhatsApp, Telegram, PIX, sandbox) by route and status.",
    ["route", "status"], registry=REGISTRY,
)  # fmt: skip
HTTP_LATENCY = Histogram(
    "negocia_http_request_duration_seconds", "HTTP request duration by route template.", ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=REGISTRY,
)  # fmt: skip
RATE_LIMITED = Counter(
    "negocia_rate_limited",
    "Requests refused with 429, by scope (ip or sender).",
    ["scope"],
    registry=REGISTRY,
)

WEBHOOK_ROUTES = frozenset(
    {
        "/channels/whatsapp",
        "/channels/whatsapp/status",
        "/channels/telegram",
        "/webhooks/pix",
        "/channels/sandbox/messages",
    }
)


class InstrumentedDialogue:
    """A DialogueEngine that counts turns and times them."""

    def __init__(self, inner: DialogueEngine) -> None:
        self.inner = inner

    def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[BotReply]:
        start = time.perf_counter()
        try:
            replies = self.inner.send(sender, text, metadata)
        except DialogueUnavailable:
            TURNS.labels("unavailable").inc()
            raise
        except Exception:
            TURNS.labels("error").inc()
            raise
        finally:
            TURN_LATENCY.observe(time.perf_counter() - start)
        TURNS.labels("ok").inc()
        return replies

    def is_ready(self) -> bool:
        return self.inner.is_ready()


class InstrumentedChannel:
    """An OutboundChannel that counts sends by the provider's status (or the error kind)."""

    def __init__(self, channel: str, inner: OutboundChannel) -> None:
        self.channel = channel
        self.inner = inner

    def send(self, address: str, message: OutboundMessage) -> SendResult:
        try:
            result = self.inner.send(address, message)
        except SendError as exc:
            SENDS.labels(self.channel, "retryable_error" if exc.retryable else "failed").inc()
            raise
        except Exception:
            SENDS.labels(self.channel, "error").inc()
            raise
        SENDS.labels(self.channel, result.status or "sent").inc()
        return result

    def __getattr__(self, name: str) -> Any:  # adapter-specific extras (e.g. the 24-hour window)
        return getattr(self.inner, name)


def instrument_channels(channels: dict[Any, OutboundChannel]) -> dict[Any, OutboundChannel]:
    return {
        key: ch if isinstance(ch, InstrumentedChannel) else InstrumentedChannel(str(key), ch)
        for key, ch in channels.items()
    }


@event.listens_for(Handoff, "after_insert")
def _count_handoff(_mapper: Any, _connection: Any, target: Handoff) -> None:
    HANDOFFS.labels(target.reason or "unknown").inc()


def queue_depths(session_factory: sessionmaker[Session]) -> dict[str, int]:
    with session_factory() as session:
        pending = session.scalar(
            select(func.count(Message.id)).where(
                Message.direction == Direction.INBOUND, Message.processing == Processing.PENDING
            )
        )
        reminders = session.scalar(
            select(func.count(ScheduledReminder.id)).where(ScheduledReminder.status == "scheduled")
        )
    return {"pending_inbound_messages": int(pending or 0), "scheduled_reminders": int(reminders or 0)}


class _QueueCollector:
    def __init__(self, depths: dict[str, int]) -> None:
        self._depths = depths

    def collect(self) -> Any:
        gauge = GaugeMetricFamily("negocia_queue_depth", "Items waiting, by queue.", labels=["queue"])
        for name, value in self._depths.items():
            gauge.add_metric([name], value)
        yield gauge


def render(session_factory: sessionmaker[Session] | None) -> bytes:
    """The exposition text: this process's counters plus the current queue depths."""
    text = generate_latest(REGISTRY)
    if session_factory is not None:
        try:
            depths = queue_depths(session_factory)
        except Exception:  # the database is down: /readyz says so; metrics still answer
            depths = {}
        extra = CollectorRegistry(auto_describe=False)
        extra.register(_QueueCollector(depths))  # type: ignore[arg-type]
        text += generate_latest(extra)
    return text
