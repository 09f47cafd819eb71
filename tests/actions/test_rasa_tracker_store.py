"""scripts/rasa_run.py's SQL tracker store offload, on Rasa's own SQLTrackerStore (.venv-rasa),
on SQLite and PostgreSQL:

- every event is stored once, in order, across several saves of one tracker, a new tracker, a
  tracker whose stored count is unknown and a new session started in the middle;
- what it stores reads back the same through Rasa's own, unpatched retrieve;
- the queries run off the event loop's thread.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = Domain.from_yaml(
    "version: '3.1'\nintents: [greet]\nslots:\n  cnpj:\n    type: text\n    mappings: [{type: custom}]\n"
)
RASA_RETRIEVE, RASA_SAVE = SQLTrackerStore._retrieve, SQLTrackerStore.save


@pytest.fixture(scope="module", autouse=True)
def offload() -> Iterator[None]:
    spec = importlib.util.spec_from_file_location("rasa_run_store", ROOT / "scripts" / "rasa_run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.install_sql_tracker_store_offload()
    yield
    SQLTrackerStore._retrieve, SQLTrackerStore.save = RASA_RETRIEVE, RASA_SAVE  # type: ignore[method-assign]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLTrackerStore]:
    if request.param == "sqlite":
        yield SQLTrackerStore(DOMAIN, dialect="sqlite", db=str(tmp_path / "rasa.db"))
        return
    name = f"negocia_rasa_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    store = SQLTrackerStore(
        DOMAIN, dialect="postgresql", host="127.0.0.1", port=5432, db=name, username="postgres"
    )
    try:
        yield store
    finally:
        store.engine.dispose()
        admin.cursor().execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


def stored_rows(store: SQLTrackerStore, sender: str) -> list[tuple[str, Any]]:
    with store.session_scope() as session:
        rows = (
            session.query(store.SQLEvent)
            .filter(store.SQLEvent.sender_id == sender)
            .order_by(store.SQLEvent.id)
        )
        return [(r.type_name, r.action_name or r.intent_name) for r in rows]


def turn(tracker: DialogueStateTracker, text: str, reply: str) -> None:
    tracker.update(UserUttered(text, {"name": "greet", "confidence": 1.0}))
    tracker.update(ActionExecuted("utter_reply"))
    tracker.update(BotUttered(reply))
    tracker.update(ActionExecuted("action_listen"))


def test_each_event_is_stored_once_across_saves_and_sessions(store: SQLTrackerStore) -> None:
    async def scenario() -> None:
        tracker = DialogueStateTracker.from_events(
            "conv-1",
            [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")],
            DOMAIN.slots,
        )
        await store.save(tracker)  # a new tracker: nothing stored yet, counted once
        turn(tracker, "oi", "Olá!")
        await store.save(tracker)
        await store.save(tracker)  # saved again with nothing new: nothing added

        loaded = await store.retrieve("conv-1")
        # The latest session only, from its SessionStarted (as Rasa loads it).
        assert loaded is not None and len(loaded.events) == 6
        turn(loaded, "71000000", "Achei sua empresa.")
        loaded.update(SlotSet("cnpj", "71000000"))
        await store.save(loaded)

        # A tracker not loaded here (the count is unknown): the stored events are counted.
        loaded._negocia_stored_events = None
        loaded.update(ActionExecuted("action_listen"))
        await store.save(loaded)

        # A new session starts inside a turn (session expiry): both saves stay exact.
        again = await store.retrieve("conv-1")
        assert again is not None
        again.update(ActionExecuted("action_session_start"))
        again.update(SessionStarted())
        again.update(ActionExecuted("action_listen"))
        await store.save(again)
        turn(again, "oi de novo", "Olá de novo!")
        await store.save(again)

    asyncio.run(scenario())
    assert stored_rows(store, "conv-1") == [
        ("action", "action_session_start"), ("session_started", None), ("action", "action_listen"),
        ("user", "greet"), ("action", "utter_reply"), ("bot", None), ("action", "action_listen"),
        ("user", "greet"), ("action", "utter_reply"), ("bot", None), ("action", "action_listen"),
        ("slot", "cnpj"), ("action", "action_listen"),
        ("action", "action_session_start"), ("session_started", None), ("action", "action_listen"),
        ("user", "greet"), ("action", "utter_reply"), ("bot", None), ("action", "action_listen"),
    ]  # fmt: skip


def test_what_it_stores_reads_back_the_same_through_rasas_own_retrieve(store: SQLTrackerStore) -> None:
    async def scenario() -> tuple[
        DialogueStateTracker, DialogueStateTracker | None, DialogueStateTracker | None
    ]:
        tracker = DialogueStateTracker.from_events(
            "conv-2", [ActionExecuted("action_session_start"), SessionStarted()], DOMAIN.slots
        )
        turn(tracker, "oi", "Olá!")
        tracker.update(SlotSet("cnpj", "71000000"))
        await store.save(tracker)
        ours = await store.retrieve("conv-2")
        rasas = await RASA_RETRIEVE(store, "conv-2", fetch_events_from_all_sessions=False)
        return tracker, ours, rasas

    tracker, ours, rasas = asyncio.run(scenario())
    assert ours is not None and rasas is not None
    assert ours.current_state() == rasas.current_state() == tracker.current_state()
    assert ours.get_slot("cnpj") == "71000000"
    assert asyncio.run(store.retrieve("nobody")) is None


def test_queries_run_off_the_event_loop_thread(store: SQLTrackerStore) -> None:
    threads: set[int] = set()
    make = store.sessionmaker

    def recording() -> Any:
        threads.add(threading.get_ident())
        return make()

    store.sessionmaker = recording  # type: ignore[method-assign]

    async def scenario() -> int:
        tracker = DialogueStateTracker.from_events("conv-3", [ActionExecuted("action_listen")], DOMAIN.slots)
        await store.save(tracker)
        await store.retrieve("conv-3")
        return threading.get_ident()

    loop_thread = asyncio.run(scenario())
    assert threads and loop_thread not in threads


def twin(store: SQLTrackerStore) -> SQLTrackerStore:
    """A second store on the same database: another Rasa instance."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite":
        return SQLTrackerStore(DOMAIN, dialect="sqlite", db=url.database)
    return SQLTrackerStore(
        DOMAIN, dialect="postgresql", host="127.0.0.1", port=5432, db=url.database, username="postgres"
    )


def test_a_tracker_is_kept_between_turns_only_while_it_is_what_a_load_would_give(
    store: SQLTrackerStore,
) -> None:
    other = twin(store)

    async def fresh(sender: str) -> dict[str, Any]:
        loaded = await RASA_RETRIEVE(store, sender, fetch_events_from_all_sessions=False)
        assert loaded is not None
        return loaded.current_state()

    async def scenario() -> None:
        start = DialogueStateTracker.from_events(
            "conv-4", [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")],
            DOMAIN.slots,
        )  # fmt: skip
        await store.save(start)
        first = await store.retrieve("conv-4")
        assert first is not None and first is not start  # a tracker made elsewhere is not kept
        turn(first, "oi", "Olá!")
        await store.save(first)
        kept = await store.retrieve("conv-4")
        assert kept is first  # the next turn gets the same object back
        assert kept.current_state() == await fresh("conv-4")

        # Another instance writes a turn: the kept tracker is stale, the store loads it again.
        theirs = await other.retrieve("conv-4")
        assert theirs is not None
        turn(theirs, "quanto devo?", "R$ 1.500,00")
        await other.save(theirs)
        reloaded = await store.retrieve("conv-4")
        assert reloaded is not None and reloaded is not first
        assert reloaded.current_state() == await fresh("conv-4")
        assert len(reloaded.events) == len(theirs.events)

        # A turn that failed inside Rasa appended events and was not saved: not kept.
        turn(reloaded, "obrigado", "De nada!")
        after_failure = await store.retrieve("conv-4")
        assert after_failure is not None and after_failure is not reloaded
        assert after_failure.current_state() == await fresh("conv-4")
        assert len(after_failure.events) == len(reloaded.events) - 4

        # A new session: a load would trim the history to it, so the tracker is loaded again.
        after_failure.update(ActionExecuted("action_session_start"))
        after_failure.update(SessionStarted())
        after_failure.update(ActionExecuted("action_listen"))
        await store.save(after_failure)
        new_session = await store.retrieve("conv-4")
        assert new_session is not None and new_session is not after_failure
        assert new_session.current_state() == await fresh("conv-4")
        assert len(new_session.events) == 2  # from SessionStarted, as Rasa loads it

        # Saving another object for the conversation (Rasa's HTTP API) drops the kept one.
        assert await store.retrieve("conv-4") is new_session
        elsewhere = await RASA_RETRIEVE(store, "conv-4", fetch_events_from_all_sessions=False)
        assert elsewhere is not None
        elsewhere.update(SlotSet("cnpj", "71000000"))
        elsewhere._negocia_stored_events = len(elsewhere.events) - 1  # type: ignore[attr-defined]
        await store.save(elsewhere)
        latest = await store.retrieve("conv-4")
        assert latest is not None and latest is not new_session
        assert latest.get_slot("cnpj") == "71000000"

    try:
        asyncio.run(scenario())
    finally:
        other.engine.dispose()
