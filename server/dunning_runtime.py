"""Running the dunning schedule: an arq worker on Redis (`negocia worker`), or an in-process
loop inside `negocia serve` / `negocia run` when Redis is not configured.

Both work from the ``scheduled_reminders`` table (see server/services/dunning.py). With arq the
scheduler's cron tick enqueues one job per due reminder, with the job id derived from the
reminder's idempotency key and due time, so a tick repeated by two workers enqueues it once;
arq keeps the jobs in Redis across restarts and retries the ones a dead worker held. The
sending itself claims the row, so even a retried job sends nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from arq import cron
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker, func

from server.services.dunning import DueReminder, DunningScheduler, ReminderSender

log = logging.getLogger(__name__)

SEND_JOB = "send_reminder"
SEND_DUE_JOB = "send_due_reminders"


def job_id(reminder: DueReminder, prefix: str = "") -> str:
    # The due time is part of the id: a deferred reminder is a new job, a repeated tick is not.
    return f"{prefix}reminder:{reminder.key}:{int(reminder.due_at.timestamp())}"


@dataclass
class Dunning:
    """The two objects a worker needs; a restart builds new ones on the same DB and Redis."""

    scheduler: DunningScheduler
    sender: ReminderSender

    def run_once(self) -> dict[str, int]:
        """One in-process round: tick, then send what is due in batches (claimed together,
        sent concurrently under the rate limit). Returns outcome counts."""
        self.scheduler.tick(limit=1)
        return self.sender.send_due()


class InProcessDunning:
    """The embedded default (no Redis): a daemon thread ticking every ``interval_s``."""

    def __init__(self, dunning: Dunning, interval_s: float) -> None:
        self._dunning = dunning
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dunning", daemon=True)

    def start(self) -> InProcessDunning:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._dunning.run_once()
            except Exception:  # a bad tick must not end the loop; the table keeps the state
                log.exception("dunning tick failed")
            self._stop.wait(self._interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


# --- arq ---------------------------------------------------------------------------------------


async def enqueue_due(redis: ArqRedis, due: list[DueReminder], queue_name: str, prefix: str = "") -> int:
    """Enqueues each due reminder once (arq refuses a job id it already holds)."""
    enqueued = 0
    for reminder in due:
        job = await redis.enqueue_job(
            SEND_JOB, reminder.id, _job_id=job_id(reminder, prefix), _queue_name=queue_name
        )
        enqueued += job is not None
    return enqueued


async def _send_reminder(ctx: dict[str, Any], reminder_id: int) -> str:
    dunning: Dunning = ctx["dunning"]
    return await asyncio.to_thread(dunning.sender.send, reminder_id)


async def _send_due(ctx: dict[str, Any]) -> dict[str, int]:
    dunning: Dunning = ctx["dunning"]
    return await asyncio.to_thread(dunning.sender.send_due)


async def _tick(ctx: dict[str, Any]) -> bool:
    """Plans, then enqueues one batch job for everything due (claimed in batches and sent
    concurrently under the shared rate limit; one job id per minute, so a repeated tick adds
    none). Single reminders can still be enqueued by id (``enqueue_due``)."""
    dunning: Dunning = ctx["dunning"]
    due = await asyncio.to_thread(dunning.scheduler.tick, 1)
    if not due:
        return False
    minute = int(time.time()) // 60
    redis: ArqRedis = ctx["redis"]
    job = await redis.enqueue_job(
        SEND_DUE_JOB, _job_id=f"{ctx.get('job_prefix', '')}send_due:{minute}", _queue_name=ctx["queue_name"]
    )
    return job is not None


def build_worker(
    dunning: Dunning,
    redis_url: str,
    queue_name: str,
    *,
    burst: bool = False,
    with_cron: bool = True,
    job_prefix: str = "",
    max_jobs: int = 10,
    poll_delay_s: float = 0.5,
) -> Worker:
    """An arq worker that sends reminders and (``with_cron``) ticks the scheduler every minute."""
    return Worker(
        functions=[
            func(_send_reminder, name=SEND_JOB, max_tries=3),
            func(_send_due, name=SEND_DUE_JOB, max_tries=3, timeout=3600),
        ],
        cron_jobs=[cron(_tick, name="dunning_tick", second=0, unique=True)] if with_cron else None,
        redis_settings=RedisSettings.from_dsn(redis_url),
        queue_name=queue_name,
        burst=burst,
        max_jobs=max_jobs,
        poll_delay=poll_delay_s,
        handle_signals=not burst,
        ctx={"dunning": dunning, "queue_name": queue_name, "job_prefix": job_prefix},
    )
