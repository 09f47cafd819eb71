"""Runs the `rasa` command line (in .venv-rasa) with one fix for a per-turn cost.

Rasa 3.6 validates every action-server response with ``jsonschema.validate()``, which builds a
new validator and re-checks the (large) events schema on each call: measured with py-spy at
35-50 % of a turn's CPU in `rasa run` (about 58 ms per call against 1.7 ms with a validator
built once). Validation stays, with the same errors; only the validator is built once.

It also installs the turn guard (``install_turn_guard``): a turn that fails inside Rasa is
reported to the gateway and not saved, and a retried turn is not run twice; and moves the SQL
tracker store's queries off the event loop (``install_sql_tracker_store_offload``); and keeps the
connections to the action server open between calls (``install_endpoint_keepalive``), resolves
event classes by name once (``install_event_class_cache``) and computes a tracker's dialogue
states once per prediction (``install_tracker_states_cache``); matches rules with each rule parsed
once and stops early (``install_rule_lookup_cutoff``), runs actions that only read the tracker
without a copy of it (``install_action_run_without_copy``), formats rule states only for debug logs
(``install_quiet_rule_state_log``) and runs the model's graphs without dask's scheduler
(``install_sequential_graph_runner``); and, once the model is loaded, moves the heap it built
(TensorFlow, the model, the domain) out of the cycle collector's reach (``install_gc_freeze``).

Usage: ``.venv-rasa/bin/python scripts/rasa_run.py run --model ...`` (any `rasa` arguments).
"""

from __future__ import annotations

import gc
import itertools
import logging
import sys
from typing import Any


def install_cached_validator() -> None:
    from jsonschema import validators
    from jsonschema.exceptions import best_match
    from rasa.core.actions.action import RemoteAction

    original = RemoteAction._validate_action_result
    schema = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)  # once, instead of on every action call
    validator = cls(schema)

    def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        if best_match(validator.iter_errors(result)) is None:
            return True
        # Invalid (rare): Rasa's own path raises the ValidationError with its usual message.
        return bool(original(self, result))

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]


# The marker bot/dialogue.py recognises: the turn failed inside Rasa and was not saved.
TURN_FAILED_KEY = "negocia_turn_failed"


class ActionServerUnavailable(BaseException):
    """Raised for an action call that could not be made (connection refused, 5xx, timeout).

    Rasa catches ``Exception`` around every action, logs it and goes on predicting as if the action
    had returned nothing: the debtor would get a half turn and the tracker would save it. A
    BaseException escapes that handler, so the whole turn fails before the tracker is saved.
    """


def install_turn_guard() -> None:
    """A failed turn answers one marker and is not saved; a retried turn is not run twice.

    - An action server that cannot be reached (or any error inside the turn) makes the REST
      channel answer ``[{"custom": {"negocia_turn_failed": ...}}]`` instead of partial replies
      (Rasa's REST channel answers 200 whatever happens); the tracker is not saved, so the gateway
      can send the same message again later.
    - A message the gateway sends again (``metadata.negocia_retry``) whose id
      (``metadata.negocia_message_id``) is already the tracker's latest user message was processed
      before the error reached the gateway (a timeout): the replies Rasa gave it are sent again and
      no second turn runs. This runs inside Rasa's per-conversation lock (the lock store, Redis
      across instances), so a first attempt still in progress finishes before the check.
    """
    import asyncio
    import logging

    from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.events import BotUttered, UserUttered
    from rasa.shared.exceptions import RasaException

    log = logging.getLogger("negocia.rasa_run")
    original_run = RemoteAction.run
    original_handle = MessageProcessor.handle_message

    async def run(self: RemoteAction, *args: Any, **kwargs: Any) -> Any:
        try:
            return await original_run(self, *args, **kwargs)
        except ActionExecutionRejection:
            raise  # the action refused (a form's validation): Rasa's normal path
        except (RasaException, asyncio.TimeoutError) as exc:  # noqa: UP041 (Python 3.10 here)
            raise ActionServerUnavailable(f"{self.name()}: {exc}") from exc

    async def replay(processor: MessageProcessor, message: Any, message_id: Any) -> bool:
        tracker = await processor.tracker_store.retrieve(message.sender_id)
        if tracker is None:
            return False
        events = list(tracker.events)
        last = max((i for i, e in enumerate(events) if isinstance(e, UserUttered)), default=None)
        if last is None or (events[last].metadata or {}).get("negocia_message_id") != message_id:
            return False
        log.info(
            "message %s of %s was processed before: replaying its replies", message_id, message.sender_id
        )
        for event in events[last + 1 :]:
            if isinstance(event, BotUttered):
                await message.output_channel.send_response(message.sender_id, event.message())
        return True

    async def handle_message(self: MessageProcessor, message: Any) -> Any:
        metadata = message.metadata or {}
        out = message.output_channel
        try:
            if metadata.get("negocia_retry") and await replay(
                self, message, metadata.get("negocia_message_id")
            ):
                return out.messages if isinstance(out, CollectingOutputChannel) else None
            return await original_handle(self, message)
        except asyncio.CancelledError:
            raise
        except (ActionServerUnavailable, Exception) as exc:
            log.error("turn of %s failed, not saved: %s", message.sender_id, exc)
            if isinstance(out, CollectingOutputChannel) and isinstance(out.messages, list):
                out.messages.clear()
                out.messages.append(
                    {"recipient_id": message.sender_id, "custom": {TURN_FAILED_KEY: str(exc)[:200]}}
                )
            return None

    RemoteAction.run = run  # type: ignore[method-assign]
    MessageProcessor.handle_message = handle_message  # type: ignore[method-assign]


# Set on a tracker by retrieve/save: how many of its events are in the events table.
_STORED = "_negocia_stored_events"
# Trackers kept between turns, per tracker store (see _TrackerCache).
_CACHE = "_negocia_tracker_cache"
_AUTOCOMMIT = "_negocia_autocommit_engine"


class _TrackerCache:
    """The trackers this process loaded, kept between turns: the next turn of a conversation gets
    the same object back (with its dialogue-state replay, ``_StatesReplay``) when nothing was
    stored for it since, instead of every event of the session read, decoded and replayed again.

    An entry is used only while it is exactly what a fresh load would give:
    - it came from a load (trimmed to the latest session, as Rasa's retrieve trims it) and every
      event appended since was saved by this process (its length is the stored count: a turn that
      failed unsaved, with events appended, is dropped);
    - the newest stored event of the conversation is still the one this process stored last (one
      ``max(id)`` query): another Rasa instance, or Rasa's HTTP API elsewhere, wrote nothing;
    - no session started or restart since it was loaded (a fresh load would trim the history);
    - the tracker saved is the object loaded (another object for the conversation drops it).
    """

    def __init__(self, size: int = 500) -> None:
        import collections
        import threading

        self._entries: collections.OrderedDict[str, tuple[Any, int, int | None]] = collections.OrderedDict()
        self._guard = threading.Lock()
        self._size = size

    def fresh(self, sender_id: str, newest_id: int | None) -> Any:
        with self._guard:
            entry = self._entries.get(sender_id)
            if entry is None:
                return None
            tracker, stored, last_id = entry
            if last_id != newest_id or len(tracker.events) != stored:
                del self._entries[sender_id]
                return None
            self._entries.move_to_end(sender_id)
            return tracker

    def loaded(self, sender_id: str, tracker: Any, newest_id: int | None) -> None:
        with self._guard:
            self._entries[sender_id] = (tracker, len(tracker.events), newest_id)
            self._entries.move_to_end(sender_id)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def saved(self, sender_id: str, tracker: Any, newest_id: int | None, new_session: bool) -> None:
        with self._guard:
            entry = self._entries.get(sender_id)
            if entry is None:
                return
            if entry[0] is not tracker or new_session:
                del self._entries[sender_id]
                return
            self._entries[sender_id] = (
                tracker,
                len(tracker.events),
                entry[2] if newest_id is None else newest_id,
            )


def install_sql_tracker_store_offload() -> None:
    """Rasa's SQLTrackerStore, same table and rows, with two costs removed.

    - Its queries ran on the event loop's thread (psycopg2 and sqlite3 block): while one
      conversation's tracker was loaded or saved, every other conversation in this process
      waited. py-spy under bench/load.py: ~30 % of Rasa's wall time in the tracker store, mostly
      waiting on PostgreSQL. Here the same queries run in a worker thread.
    - ``save`` counted the session's stored events with a subquery on every call to find which
      events are new. The count is known from the ``retrieve`` (or ``save``) of this same tracker,
      done under the same conversation lock (the lock store: one turn per conversation, across
      instances); the count query runs only for a tracker that did not come from here.
    """
    import asyncio
    import itertools
    import json

    import sqlalchemy as sa
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.events import Restarted, SessionStarted
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.shared.nlu.constants import INTENT_NAME_KEY

    def cache(store: SQLTrackerStore) -> _TrackerCache:
        return store.__dict__.setdefault(_CACHE, _TrackerCache())  # type: ignore[no-any-return]

    def newest_event_id(self: SQLTrackerStore, sender_id: str) -> int | None:
        """The id of the conversation's newest stored event: one statement on a connection in
        autocommit (no transaction around a single read: BEGIN and ROLLBACK were two of the three
        round trips of a turn whose tracker was kept). The connections come from a small engine
        of their own that is always in autocommit (switching a pooled connection there and back
        costs a statement on psycopg2)."""
        table = self.SQLEvent.__table__
        autocommit = self.__dict__.get(_AUTOCOMMIT)
        if autocommit is None:
            from rasa.core.tracker_store import create_engine_kwargs

            url = self.engine.url
            autocommit = self.__dict__[_AUTOCOMMIT] = (
                sa.create_engine(url, isolation_level="AUTOCOMMIT", **create_engine_kwargs(url))
                if self.engine.dialect.name == "postgresql"
                else self.engine  # SQLite: a SELECT opens no transaction anyway (and ":memory:" is per engine)
            )
        with autocommit.connect() as connection:
            value = connection.execute(
                sa.select(sa.func.max(table.c.id)).where(table.c.sender_id == sender_id)
            ).scalar()
        return None if value is None else int(value)

    def retrieve_sync(self: SQLTrackerStore, sender_id: str, all_sessions: bool) -> Any:
        newest_id = None
        if not all_sessions:
            newest_id = newest_event_id(self, sender_id)
            kept = cache(self).fresh(sender_id, newest_id)
            if kept is not None:
                return kept
        with self.session_scope() as session:
            query = self._event_query(session, sender_id, fetch_events_from_all_sessions=all_sessions)
            # The one column needed, as plain rows: building an ORM object per event was ~7 % of
            # Rasa's CPU under bench/load.py.
            events = [json.loads(data) for (data,) in query.with_entities(self.SQLEvent.data).all()]
        if not (self.domain and events):
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        if not all_sessions:  # a full history is not what save() counts against
            setattr(tracker, _STORED, len(tracker.events))
            # An event stored after the max(id) above makes the entry stale at once: reloaded.
            cache(self).loaded(sender_id, tracker, newest_id)
        return tracker

    def event_row(sender_id: str, event: Any) -> dict[str, Any]:
        data = event.as_dict()
        return {
            "sender_id": sender_id,
            "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }

    def insert_rows(self: SQLTrackerStore, session: Any, rows: list[dict[str, Any]]) -> int | None:
        """Inserts the rows in order; the id of the last one. One Core INSERT … RETURNING over the
        driver's batched VALUES where the dialect returns ids from an executemany (psycopg2):
        the ORM's unit of work around the same INSERT was ~5 % of Rasa's CPU under
        bench/load.py. Elsewhere (SQLite) the ORM, as before."""
        if not rows:
            return None
        table = self.SQLEvent.__table__
        if session.get_bind().dialect.insert_executemany_returning:
            ids = session.execute(table.insert().returning(table.c.id), rows).scalars().all()
            return max(ids)
        objects = [self.SQLEvent(**row) for row in rows]
        session.add_all(objects)
        session.flush()  # the ids come back with the insert; read before commit expires them
        return max(row.id for row in objects)

    def save_sync(self: SQLTrackerStore, tracker: DialogueStateTracker) -> None:
        with self.session_scope() as session:
            stored = getattr(tracker, _STORED, None)
            if stored is None:
                stored = self._event_query(
                    session, tracker.sender_id, fetch_events_from_all_sessions=False
                ).count()
            new = list(itertools.islice(tracker.events, stored, len(tracker.events)))
            new_session = any(isinstance(event, (SessionStarted, Restarted)) for event in new)
            newest_id = insert_rows(self, session, [event_row(tracker.sender_id, event) for event in new])
            session.commit()
        setattr(tracker, _STORED, len(tracker.events))
        cache(self).saved(tracker.sender_id, tracker, newest_id, new_session)

    async def _retrieve(self: SQLTrackerStore, sender_id: str, fetch_events_from_all_sessions: bool) -> Any:
        return await asyncio.to_thread(retrieve_sync, self, sender_id, fetch_events_from_all_sessions)

    async def save(self: SQLTrackerStore, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        await asyncio.to_thread(save_sync, self, tracker)

    SQLTrackerStore._retrieve = _retrieve  # type: ignore[method-assign]
    SQLTrackerStore.save = save  # type: ignore[method-assign]


# Below the action server's own keep-alive timeout (Sanic: 5 s), so the client gives an idle
# connection up before the server closes it and a call never lands on a closing socket.
KEEPALIVE_SECONDS = 2.0


class _SharedSession:
    """``async with`` over a long-lived session: entering returns it, leaving keeps it open."""

    def __init__(self, session: Any) -> None:
        self._session = session

    async def __aenter__(self) -> Any:
        return self._session

    async def __aexit__(self, *exc: object) -> None:
        return None


def fast_json(value: Any) -> str:
    """The action-server payload (the whole tracker, on every call) as JSON: ujson, a dependency
    of Rasa's Sanic, about three times as fast as the standard encoder here (py-spy: 5 % of Rasa's
    CPU). Whatever ujson cannot encode goes to ``json.dumps``, so Rasa's own errors still come."""
    import json

    import ujson

    try:
        return str(ujson.dumps(value))
    except (TypeError, OverflowError, ValueError):
        return json.dumps(value)


def install_endpoint_keepalive() -> None:
    """One aiohttp session per endpoint configuration and event loop, instead of one per request.

    Rasa's ``EndpointConfig.request`` opens a new ``ClientSession`` (a new connector, a new TCP
    connection, a new connection for the action server to accept) for every action call: two to
    four per turn. Requests, headers, auth, timeouts and errors are unchanged; only connections are
    reused, and given up after ``KEEPALIVE_SECONDS`` idle.
    """
    import asyncio

    import aiohttp
    from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
    from rasa.utils.endpoints import EndpointConfig

    sessions: dict[tuple[int, str, str, str], aiohttp.ClientSession] = {}

    def session(self: EndpointConfig) -> Any:
        loop = asyncio.get_running_loop()
        key = (
            id(loop),
            str(self.url),
            repr(sorted(self.headers.items())),
            repr(sorted(self.basic_auth.items())),
        )
        shared = sessions.get(key)
        if shared is None or shared.closed:
            auth = (
                aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
                if self.basic_auth
                else None
            )
            shared = aiohttp.ClientSession(
                headers=self.headers,
                auth=auth,
                timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
                json_serialize=fast_json,
            )
            sessions[key] = shared
        return _SharedSession(shared)

    EndpointConfig.session = session  # type: ignore[method-assign]


def install_event_class_cache() -> None:
    """``Event.resolve_by_type`` with the name → class lookups remembered.

    Rasa finds an event's class by walking every subclass of ``Event`` (recursively, with an
    ``inspect.isabstract`` check on each) for every event it deserialises: a tracker of a few
    hundred events loaded for each turn. py-spy under bench/load.py: ~8 % of Rasa's samples. A
    name that resolves once resolves to the same class again; unknown names still take Rasa's own
    path (its default or its ValueError).
    """
    from rasa.shared.core.events import Event

    original = Event.resolve_by_type
    known: dict[str, Any] = {}

    def resolve_by_type(type_name: str, default: Any = None) -> Any:
        cls = known.get(type_name)
        if cls is None:
            cls = original(type_name, default)
            # Not a fallback default: the class Rasa found for this very name.
            if cls is not None and getattr(cls, "type_name", None) == type_name:
                known[type_name] = cls
        return cls

    Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[method-assign,assignment]


# Attribute on a tracker: {arguments: _StatesReplay}.
_STATES = "_negocia_states"


class _StatesReplay:
    """Rasa's ``Domain.states_for_tracker_history`` as a replay that can be continued.

    Rasa rebuilds a tracker's dialogue states by replaying every event into a fresh tracker and
    reading a state before each action; here the replay tracker, the states read so far and the
    loop's two variables are kept, and a tracker that grew by a few events (the next prediction of
    the same turn) replays only those. Same steps as Rasa's loop, in the same order.
    """

    def __init__(self, tracker: Any, domain: Any, omit_unset_slots: bool, ignore_rule_only_turns: bool,
                 rule_only_data: dict[str, Any] | None) -> None:  # fmt: skip
        self.domain = domain
        self.omit_unset_slots = omit_unset_slots
        self.ignore = ignore_rule_only_turns
        self.rule_only_data = rule_only_data
        self.applied: list[Any] = []
        self.replay = tracker.init_copy()
        self.states: list[dict[str, Any]] = []
        self.last_ml_action: Any = None
        self.hidden = False
        # The tracker's length at the last call and the states returned then: within one
        # prediction, RulePolicy (twice) and MemoizationPolicy ask for the same tracker's states.
        self.seen = -1
        self.final: list[dict[str, Any]] = []

    def _read(self, hide_rule_turn: bool, states: list[dict[str, Any]]) -> tuple[Any, bool]:
        """One step of Rasa's loop over the prior trackers; appends to ``states``."""
        import rasa.shared.core.constants as core

        domain, tr = self.domain, self.replay
        last_ml_action, hidden = self.last_ml_action, self.hidden
        if self.ignore:
            if not hidden:
                last_ml_action = domain._get_prev_action_sub_state(tr)
            if not tr.followup_action and tr.latest_action_name != tr.active_loop_name:
                hidden = hide_rule_turn
            if hidden:
                return last_ml_action, hidden
        state = domain.get_active_state(tr, omit_unset_slots=self.omit_unset_slots)
        if self.ignore:
            domain._remove_rule_only_features(state, self.rule_only_data)
            if states:
                domain._substitute_rule_only_user_input(state, states[-1])
            if last_ml_action:
                state[core.PREVIOUS_ACTION] = last_ml_action
        states.append(domain._clean_state(state))
        return last_ml_action, hidden

    def states_for(self, tracker: Any) -> list[dict[str, Any]]:
        from rasa.shared.core.events import ActionExecuted

        # Events are only ever appended (and a capped deque would not show it by its length).
        if tracker.events.maxlen is None and len(tracker.events) == self.seen:
            return self.final
        applied = tracker.applied_events()
        done = len(self.applied)
        if len(applied) < done or any(a is not b for a, b in zip(self.applied, applied[:done], strict=True)):
            # History rewritten (a revert, a restart): start over, as Rasa would.
            self.__init__(tracker, self.domain, self.omit_unset_slots, self.ignore, self.rule_only_data)  # type: ignore[misc]
            done = 0
        for event in applied[done:]:
            if isinstance(event, ActionExecuted):
                self.last_ml_action, self.hidden = self._read(event.hide_rule_turn, self.states)
            self.replay.update(event)
        self.applied = list(applied)
        # The state after the last event is read but not kept: more events may come before it.
        final = list(self.states)
        self._read(False, final)
        self.seen, self.final = len(tracker.events), final
        return final


def install_tracker_states_cache() -> None:
    """``DialogueStateTracker.past_states`` continued from the last call instead of recomputed.

    Each action prediction replayed the whole tracker into dialogue states three times: twice in
    RulePolicy (rules matched on the message's text, then on its intent: same states) and once in
    MemoizationPolicy (other arguments), and a turn makes two to four predictions on a tracker
    that grows by a few events between them. py-spy under bench/load.py: ~20 % of Rasa's CPU. The
    replay is kept on the tracker per arguments (``_StatesReplay``) and continued with the new
    events. Callers get their own copies: the featurizer edits the last state in place.
    """
    import json

    from rasa.shared.core.trackers import DialogueStateTracker

    def past_states(
        self: DialogueStateTracker,
        domain: Any,
        omit_unset_slots: bool = False,
        ignore_rule_only_turns: bool = False,
        rule_only_data: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        key = (
            id(domain),
            omit_unset_slots,
            ignore_rule_only_turns,
            json.dumps(rule_only_data, sort_keys=True, default=str) if rule_only_data else "",
        )
        replays: dict[Any, _StatesReplay] = self.__dict__.setdefault(_STATES, {})
        replay = replays.get(key)
        if replay is None:
            replay = replays[key] = _StatesReplay(
                self, domain, omit_unset_slots, ignore_rule_only_turns, rule_only_data
            )
        return [{name: dict(sub) for name, sub in state.items()} for state in replay.states_for(self)]

    DialogueStateTracker.past_states = past_states  # type: ignore[method-assign]


_APPLIED = "_negocia_applied"


def install_applied_events_cache() -> None:
    """``DialogueStateTracker.applied_events`` continued from its last result while the tracker
    only grew by events that Rasa's walk simply appends, instead of walking every event again.

    The walk runs several times a turn (the dialogue states, the session-expiry check, the session
    update), each over the whole session: ~9 % of Rasa's CPU under bench/load.py. Rasa's walk
    resets or rewinds on restarts, new sessions, reverts and a loop's repeated executions, and
    which executions those are depends on every loop name in the tracker; so the kept result is
    extended only when the new events hold none of those (no restart, session start, revert, loop
    activation, nor execution of a loop's action) and the tracker's events are the same deque
    with the same last kept event. Anything else is Rasa's own walk. Callers get their own list.
    """
    from rasa.shared.core.events import (
        ActionExecuted,
        ActionReverted,
        ActiveLoop,
        Restarted,
        SessionStarted,
        UserUtteranceReverted,
    )
    from rasa.shared.core.trackers import DialogueStateTracker

    original = DialogueStateTracker.applied_events
    rewinding = (Restarted, SessionStarted, ActionReverted, UserUtteranceReverted, ActiveLoop)

    def applied_events(self: DialogueStateTracker) -> list[Any]:
        events = self.events
        if events.maxlen is not None:  # a capped deque: its length does not count appends
            return list(original(self))
        kept = self.__dict__.get(_APPLIED)
        if kept is not None:
            deque_id, seen, last, applied, loop_names = kept
            if deque_id == id(events) and seen <= len(events) and (seen == 0 or events[seen - 1] is last):
                extended = True
                for event in itertools.islice(events, seen, None):
                    if isinstance(event, rewinding) or (
                        isinstance(event, ActionExecuted) and event.action_name in loop_names
                    ):
                        extended = False
                        break
                    applied.append(event)
                if extended:
                    self.__dict__[_APPLIED] = (deque_id, len(events), events[-1] if events else None,
                                               applied, loop_names)  # fmt: skip
                    return list(applied)
        applied = list(original(self))
        loop_names = {e.name for e in events if isinstance(e, ActiveLoop) and e.name}
        self.__dict__[_APPLIED] = (id(events), len(events), events[-1] if events else None,
                                   list(applied), loop_names)  # fmt: skip
        return applied

    DialogueStateTracker.applied_events = applied_events  # type: ignore[method-assign]


def compile_rule(rule_key: str) -> tuple[int, list[tuple[bool, tuple[tuple[str, str, Any, bool], ...]]]]:
    """A rule key as its length and, from its newest state back, each state's checks: whether
    the state has a previous action, and (sub-state, key, value, must-not-be-set) per feature,
    lists turned into tuples as Rasa turns them (json gives lists back for tuples)."""
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.shared.core.constants import PREVIOUS_ACTION, SHOULD_NOT_BE_SET

    states = RulePolicy._rule_key_to_state(rule_key)
    compiled = []
    for state in reversed(states):
        checks = []
        for state_type, sub_state in state.items():
            for key, value in sub_state.items():
                if isinstance(value, list):
                    value = tuple(value)
                if value == SHOULD_NOT_BE_SET:
                    checks.append((state_type, key, value, True))
                elif value:  # a falsy value is never checked (Rasa's ``value_from_rules and …``)
                    checks.append((state_type, key, value, False))
        compiled.append((bool(state.get(PREVIOUS_ACTION)), tuple(checks)))
    return len(states), compiled


def install_rule_lookup_cutoff() -> None:
    """RulePolicy's rule matching: each rule key parsed once into its checks (``compile_rule``),
    and the walk back through the states stopped once no candidate rule is that long.

    ``RulePolicy._get_possible_keys`` filters the candidate rules state by state, from the newest
    state back. For every rule and step Rasa reverses the rule's states again, calls
    ``_is_rule_applicable`` and ``_does_rule_match_state`` (which turns list values into tuples
    again), and it walks every state of the tracker, twice per prediction: ~9 % of Rasa's CPU
    under bench/load.py, with the cutoff below already in. The checks are the same, in a loop over
    precomputed tuples; a rule shorter than the distance walked is kept without checks, so
    stopping once every remaining rule is that short gives the same set.
    """
    import collections
    import functools

    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.shared.core.constants import PREVIOUS_ACTION, SHOULD_NOT_BE_SET

    compiled_rule = functools.lru_cache(maxsize=8192)(compile_rule)
    empty: dict[str, Any] = {}

    def applies(rule: Any, turn_index: int, state: dict[str, Any]) -> bool:
        # Rasa's _is_rule_applicable and _does_rule_match_state, step for step.
        length, reversed_states = rule
        if turn_index >= length:
            return True
        rule_has_previous, checks = reversed_states[turn_index]
        has_previous = bool(state.get(PREVIOUS_ACTION))
        if not rule_has_previous and not has_previous:
            return True
        if not rule_has_previous or not has_previous:
            return False
        for state_type, key, value, must_not_be_set in checks:
            current = state.get(state_type, empty).get(key)
            if must_not_be_set:
                if current and current != SHOULD_NOT_BE_SET:
                    return False
            elif current != value:
                return False
        return True

    # A lookup's rules with their checks, built once per lookup dict (the model's lookups do not
    # change): listing them again on every call was ~6 % of Rasa's CPU. Kept with the dict itself
    # (no id reuse while kept) and its size; the last few lookups only.
    compiled_lookups: collections.OrderedDict[int, tuple[dict[str, str], int, list[Any]]] = (
        collections.OrderedDict()
    )

    def compiled_lookup(lookup: dict[str, str]) -> list[tuple[str, Any]]:
        entry = compiled_lookups.get(id(lookup))
        if entry is None or entry[0] is not lookup or entry[1] != len(lookup):
            entry = compiled_lookups[id(lookup)] = (
                lookup,
                len(lookup),
                [(k, compiled_rule(k)) for k in lookup],
            )
            while len(compiled_lookups) > 16:
                compiled_lookups.popitem(last=False)
        return entry[2]

    def _get_possible_keys(self: Any, lookup: dict[str, str], states: list[dict[str, Any]]) -> set[str]:
        candidates = compiled_lookup(lookup)
        for i, state in enumerate(reversed(states)):
            if not candidates or all(rule[0] <= i for _key, rule in candidates):
                break  # every remaining rule applies from here back (Rasa's own shortcut)
            candidates = [(key, rule) for key, rule in candidates if applies(rule, i, state)]
        return {key for key, _rule in candidates}

    RulePolicy._get_possible_keys = _get_possible_keys  # type: ignore[method-assign]


def install_action_run_without_copy() -> None:
    """``MessageProcessor._run_action`` without its copy of the whole tracker when there is
    nothing to discard.

    Rasa runs every action on a copy of the tracker (a replay of all its events) with the
    prediction's events applied, so that those events can be dropped if the action rejects its
    execution. When the prediction has no events (Memoization and Rule predictions have none) and
    the action only reads the tracker (a response, a custom action on the action server,
    ``action_listen``), the copy is the tracker itself: the action gets the tracker. py-spy under
    bench/load.py: ~5 % of Rasa's CPU in that replay. Everything else is Rasa 3.6's method as it is.
    """
    import rasa.core.actions.action as actions
    from rasa.core.processor import MessageProcessor
    from rasa.shared.constants import UTTER_PREFIX
    from rasa.shared.core.constants import ACTION_EXTRACT_SLOTS, ACTION_LISTEN_NAME
    from rasa.shared.core.events import ActionExecutionRejected, UserUttered

    processor_log = logging.getLogger("rasa.core.processor")
    # Actions whose ``run`` never changes the tracker it is given (read, then events returned).
    read_only = (actions.ActionBotResponse, actions.RemoteAction, actions.ActionListen)

    async def _run_action(
        self: MessageProcessor, action: Any, tracker: Any, output_channel: Any, nlg: Any, prediction: Any
    ) -> bool:
        try:
            if not prediction.events and type(action) in read_only:
                temporary_tracker = tracker
            else:
                temporary_tracker = tracker.copy()
                temporary_tracker.update_with_events(prediction.events, self.domain)
            events = await action.run(output_channel, nlg, temporary_tracker, self.domain)
        except actions.ActionExecutionRejection:
            events = [
                ActionExecutionRejected(action.name(), prediction.policy_name, prediction.max_confidence)
            ]
            tracker.update(events[0])
            return self.should_predict_another_action(action.name())
        except Exception:
            processor_log.exception(
                f"Encountered an exception while running action '{action.name()}'."
                "Bot will continue, but the actions events are lost. "
                "Please check the logs of your action server for "
                "more information."
            )
            events = []

        self._log_action_on_tracker(tracker, action, events, prediction)

        if any(isinstance(e, UserUttered) for e in events):
            processor_log.debug(
                f"A `UserUttered` event was returned by executing "
                f"action '{action.name()}'. This will run the default action "
                f"'{ACTION_EXTRACT_SLOTS}'."
            )
            tracker = await self.run_action_extract_slots(output_channel, tracker)

        if action.name() != ACTION_LISTEN_NAME and not action.name().startswith(UTTER_PREFIX):
            self._log_slots(tracker)

        await self.execute_side_effects(events, tracker, output_channel)

        return self.should_predict_another_action(action.name())

    MessageProcessor._run_action = _run_action  # type: ignore[method-assign]


def install_quiet_rule_state_log() -> None:
    """RulePolicy formats every state of the session into a string (slots included) for a debug
    log line on each of its rule lookups, and deep-copies it, whatever the log level: ~2 % of
    Rasa's CPU under bench/load.py. The text is built only when Rasa logs at debug level."""
    import logging

    from rasa.core.policies.policy import Policy
    from rasa.core.policies.rule_policy import RulePolicy

    rasa_log = logging.getLogger("rasa")

    def format_tracker_states(states: list[dict[str, Any]]) -> str:
        if rasa_log.isEnabledFor(logging.DEBUG):
            return str(Policy.format_tracker_states(states))
        return ""

    RulePolicy.format_tracker_states = staticmethod(format_tracker_states)  # type: ignore[assignment,method-assign]


def install_sequential_graph_runner() -> None:
    """Rasa's model graphs (NLU parse, action prediction) run node by node in a fixed order,
    instead of through dask's scheduler.

    Each turn runs the parse graph once and the prediction graph two to four times; every run
    pruned the schema to its targets again and had dask order and schedule ~15 nodes on one
    thread (py-spy under bench/load.py: ~8 % of Rasa's CPU outside the nodes themselves). The
    pruned schema and a topological order are computed once per set of targets; each node gets
    what dask gave it (its needs' ``(name, output)`` pairs, an input's ``(name, value)``, the bare
    name of a need nothing provides), and the result and errors are the same.
    """
    import graphlib

    from rasa.engine.exceptions import GraphRunError
    from rasa.engine.runner.dask import DaskGraphRunner

    def plan(self: DaskGraphRunner, targets: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
        plans: dict[tuple[str, ...], list[tuple[str, tuple[str, ...]]]] = self.__dict__.setdefault(
            "_negocia_plans", {}
        )
        if targets not in plans:
            schema = self._graph_schema.minimal_graph_schema(list(targets))
            needs = {name: tuple(node.needs.values()) for name, node in schema.nodes.items()}
            order = graphlib.TopologicalSorter(
                {name: [n for n in provided if n in needs] for name, provided in needs.items()}
            ).static_order()
            plans[targets] = [(name, needs[name]) for name in order]
        return plans[targets]

    def run(
        self: DaskGraphRunner, inputs: dict[str, Any] | None = None, targets: list[str] | None = None
    ) -> dict[str, Any]:
        run_targets = tuple(targets if targets else self._graph_schema.target_names)
        steps = plan(self, run_targets)
        values: dict[str, Any] = {}
        names = {name for name, _needs in steps}
        for input_name, input_value in (inputs or {}).items():
            if isinstance(input_value, str) and input_value in names:
                raise GraphRunError(
                    f"Input value '{input_value}' clashes with a node name. Make sure "
                    f"that none of the input names passed to the `run` method are the "
                    f"same as node names in the graph schema."
                )
            values[input_name] = (input_name, input_value)
        try:
            for name, needs in steps:
                values[name] = self._instantiated_nodes[name](*(values.get(n, n) for n in needs))
        except RuntimeError as e:
            raise GraphRunError("Error running runner.") from e
        return dict(values[target] for target in run_targets)

    DaskGraphRunner.run = run  # type: ignore[method-assign]


# Young-generation threshold once the heap is frozen: the default (700 allocations) ran a
# collection every few milliseconds of a turn.
GC_THRESHOLDS = (10_000, 10, 10)


def freeze_heap() -> None:
    """Collect once, then freeze what is alive: later collections scan only newer objects.

    With TensorFlow and the model loaded, every full collection walked millions of objects that
    live as long as the process: measured under bench/load.py at ~13 % of Rasa's CPU, most of it
    in full collections of ~0.3 s each."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def install_gc_freeze() -> None:
    """Freezes the heap right after ``rasa run`` loads its model (before it serves a request)."""
    import rasa.core.run

    load = rasa.core.run.load_agent_on_start

    async def load_agent_on_start(*args: Any, **kwargs: Any) -> Any:
        agent = await load(*args, **kwargs)
        freeze_heap()
        return agent

    rasa.core.run.load_agent_on_start = load_agent_on_start  # type: ignore[assignment]


def main() -> None:
    install_gc_freeze()
    install_cached_validator()
    install_turn_guard()
    install_sql_tracker_store_offload()
    install_endpoint_keepalive()
    install_event_class_cache()
    install_tracker_states_cache()
    install_applied_events_cache()
    install_rule_lookup_cutoff()
    install_action_run_without_copy()
    install_quiet_rule_state_log()
    install_sequential_graph_runner()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
