"""scripts/rasa_run.py: action responses are still validated, with Rasa's own error."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from typing import Any

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def patched() -> RemoteAction:
    spec = importlib.util.spec_from_file_location("rasa_run", ROOT / "scripts" / "rasa_run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.install_cached_validator()
    return RemoteAction("action_test", None)


def test_valid_response_passes(patched: RemoteAction) -> None:
    result = {
        "events": [{"event": "slot", "name": "negotiation_stage", "value": "offered"}],
        "responses": [{"response": "utter_greet"}],
    }
    assert patched._validate_action_result(result) is True


@pytest.mark.parametrize(
    "result",
    [
        {"events": [{"event": "slot", "name": 3}], "responses": []},
        {"events": [], "responses": "utter_greet"},
        {"events": [{"event": "no_such_event"}]},
    ],
)
def test_invalid_response_raises_rasas_error(patched: RemoteAction, result: dict) -> None:
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        patched._validate_action_result(result)


def _launcher():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("rasa_run_keepalive", ROOT / "scripts" / "rasa_run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_endpoint_requests_reuse_one_connection_and_keep_rasas_errors() -> None:
    import asyncio

    from aiohttp import web
    from rasa.utils.endpoints import ClientResponseError, EndpointConfig

    original = EndpointConfig.session
    _launcher().install_endpoint_keepalive()
    peers: list[tuple[str, int]] = []

    async def handle(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername"))
        body = await request.json()
        if body.get("fail"):
            return web.json_response({"error": "boom"}, status=500)
        return web.json_response({"echo": body, "token": request.query.get("token")})

    async def scenario() -> None:
        app = web.Application()
        app.router.add_post("/webhook", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook", token="t0k")
        tracker_like = {"n": 7, "text": "não, obrigado / até já", "confidence": 0.1 + 0.2, "ts": 1796157525.123456,
                        "slots": {"valor": None, "ok": True, "parcelas": [1, 2.5]}, "big": 2**70}  # fmt: skip
        try:
            for n in range(5):
                assert await endpoint.request(json={"n": n}) == {"echo": {"n": n}, "token": "t0k"}
            assert await endpoint.request(json=tracker_like) == {"echo": tracker_like, "token": "t0k"}
            with pytest.raises(ClientResponseError) as failure:
                await endpoint.request(json={"fail": True})
            assert failure.value.status == 500
            assert await endpoint.request(json={"n": 6}) == {"echo": {"n": 6}, "token": "t0k"}
        finally:
            await runner.cleanup()

    try:
        asyncio.run(scenario())
    finally:
        EndpointConfig.session = original  # type: ignore[method-assign]
    assert len(peers) == 8
    assert len(set(peers)) == 1, "one kept-alive connection for every call"


def test_action_payloads_encode_as_the_standard_json_encoder_reads_them() -> None:
    import json

    fast_json = _launcher().fast_json
    value = {"text": "não / já \u2028", "f": [0.1 + 0.2, 1e-7, 1796157525.123456], "none": None, "big": 2**70}
    assert json.loads(fast_json(value)) == value  # 2**70: past ujson's range, the fallback's
    with pytest.raises(TypeError):
        fast_json({"not json": object()})  # Rasa's own error, as before


def test_event_classes_resolve_as_rasa_resolves_them() -> None:
    from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered

    original = Event.resolve_by_type
    _launcher().install_event_class_cache()
    try:
        for _ in range(2):  # looked up, then remembered
            assert Event.resolve_by_type("user") is UserUttered
            assert Event.resolve_by_type("slot") is SlotSet
        assert Event.resolve_by_type("no_such_event", ActionExecuted) is ActionExecuted
        assert Event.resolve_by_type("no_such_event", SlotSet) is SlotSet  # a default is not remembered
        with pytest.raises(ValueError, match="Unknown event name 'no_such_event'"):
            Event.resolve_by_type("no_such_event")
        event = Event.from_parameters({"event": "slot", "name": "negotiation_stage", "value": "offered"})
        assert event == SlotSet("negotiation_stage", "offered")
    finally:
        Event.resolve_by_type = original  # type: ignore[method-assign]


def _negotiation_events() -> list:  # type: ignore[type-arg]
    from rasa.shared.core.events import (
        ActionExecuted,
        ActionReverted,
        ActiveLoop,
        Restarted,
        SessionStarted,
        SlotSet,
        UserUtteranceReverted,
        UserUttered,
    )

    def user(intent: str, text: str) -> UserUttered:
        return UserUttered(text, {"name": intent, "confidence": 0.99})

    return [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        SlotSet("identity_status", "unverified"),
        ActionExecuted("action_listen"),
        user("greet", "oi"),
        ActionExecuted("identity_form"),
        ActiveLoop("identity_form"),
        SlotSet("requested_slot", "cnpj_root"),
        ActionExecuted("action_listen"),
        user("inform_cnpj", "12.345.678"),
        SlotSet("cnpj_root", "12345678"),
        SlotSet("identity_status", "verified"),
        ActiveLoop(None),
        ActionExecuted("identity_form"),
        ActionExecuted("action_listen"),
        user("nlu_fallback", "asdf"),
        UserUtteranceReverted(),
        ActionExecuted("action_listen"),
        user("request_installments", "quero parcelar em 10x"),
        SlotSet("negotiation_stage", "offered"),
        ActionExecuted("action_present_offers", hide_rule_turn=True),  # a rule-only turn
        ActionExecuted("action_listen", hide_rule_turn=True),
        user("thank", "obrigado"),
        ActionExecuted("utter_you_are_welcome"),
        ActionReverted(),  # history rewritten: the replay starts over
        ActionExecuted("action_listen"),
        user("goodbye", "tchau"),
        Restarted(),
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
        user("greet", "oi de novo"),
        ActionExecuted("utter_greet"),
    ]


def test_tracker_states_match_rasas_for_every_version_of_the_tracker() -> None:
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(str(ROOT / "domain.yml"))
    original = DialogueStateTracker.past_states
    events = _negotiation_events()
    arguments = [
        {},
        {"ignore_rule_only_turns": True, "rule_only_data": {"slots": ["requested_slot"], "loops": []}},
        {"omit_unset_slots": True},
    ]
    expected = []
    for n in range(1, len(events) + 1):
        tracker = DialogueStateTracker.from_events("t", events[:n], domain.slots)
        expected.append([original(tracker, domain, **kw) for kw in arguments])

    _launcher().install_tracker_states_cache()
    try:
        tracker = DialogueStateTracker.from_events("t", [], domain.slots)
        for n, event in enumerate(events):
            tracker.update(event)  # the same tracker grows, as in a turn
            for kw, states in zip(arguments, expected[n], strict=True):
                first = tracker.past_states(domain, **kw)
                assert first == states
                first[-1].clear()  # the featurizer edits what it gets; the cache is not touched
                first[0]["slots"] = {}
                assert tracker.past_states(domain, **kw) == states
    finally:
        DialogueStateTracker.past_states = original  # type: ignore[method-assign]


def test_heap_is_frozen_once_the_model_is_loaded() -> None:
    import asyncio
    import gc

    import rasa.core.run

    original, thresholds = rasa.core.run.load_agent_on_start, gc.get_threshold()
    seen: list[int] = []

    async def load_agent_on_start(*args: object) -> str:
        seen.append(gc.get_freeze_count())  # nothing frozen while the model loads
        return "agent"

    rasa.core.run.load_agent_on_start = load_agent_on_start  # type: ignore[assignment]
    gc.unfreeze()
    try:
        module = _launcher()
        module.install_gc_freeze()
        assert asyncio.run(rasa.core.run.load_agent_on_start("model", None, None, None, None)) == "agent"
        assert seen == [0]
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == module.GC_THRESHOLDS
    finally:
        rasa.core.run.load_agent_on_start = original  # type: ignore[assignment]
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_compiled_rule_matching_finds_the_same_rules_as_rasa() -> None:
    """Random rule lookups and conversation histories: the patched ``_get_possible_keys`` returns
    exactly Rasa's set (rules of every length, empty histories, histories shorter and longer than
    the rules, conversation starts)."""
    import json
    import random

    from rasa.core.policies.rule_policy import RulePolicy

    original = RulePolicy._get_possible_keys
    intents = ["greet", "affirm", "deny", "ask_debts", "request_human"]
    actions = ["action_listen", "utter_greet", "action_make_offer", "identity_form", None]
    stages = ["none", "offered", "confirming"]

    def state(rng: random.Random, rule: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        action = rng.choice(actions)
        if action:
            out["prev_action"] = {"action_name": action}
        if rng.random() < 0.6:
            out["user"] = {"intent": rng.choice(intents)}
            if rng.random() < 0.4:
                # A list in a rule key (json gives tuples back as lists), a tuple in a history.
                chosen = rng.choice([["date"], ["date", "option"], ["option"]])
                out["user"]["entities"] = chosen if rule else tuple(chosen)
        if rng.random() < 0.5:
            out["slots"] = {
                "negotiation_stage": rng.choice(stages)
                if not rule or rng.random() < 0.8
                else "should_not_be_set"
            }
        if rng.random() < 0.2:
            out["active_loop"] = {"name": "identity_form"}
        return out

    rng = random.Random(7)
    policy = RulePolicy.__new__(RulePolicy)  # _get_possible_keys reads nothing of the instance
    compared = matched = 0
    for _ in range(400):
        lookup = {
            json.dumps([state(rng, True) for _ in range(rng.randint(1, 5))]): "utter_x"
            for _ in range(rng.randint(0, 30))
        }
        for _ in range(5):
            history = [state(rng, False) for _ in range(rng.randint(0, 40))]
            if lookup and rng.random() < 0.6:
                # End the history with one of the rules (its slots that must not be set, unset).
                for rule_state in json.loads(rng.choice(list(lookup))):
                    slots = rule_state.get("slots", {})
                    if slots.get("negotiation_stage") == "should_not_be_set":
                        del rule_state["slots"]
                    history.append(rule_state)
            expected = original(policy, lookup, history)
            matched += bool(expected)
            _launcher().install_rule_lookup_cutoff()
            try:
                assert RulePolicy._get_possible_keys(policy, lookup, history) == expected
            finally:
                RulePolicy._get_possible_keys = original  # type: ignore[method-assign]
            compared += 1
    assert compared == 2000
    assert matched > 800  # most comparisons have rules that apply, not two empty sets


def test_rule_states_are_formatted_for_the_log_only_at_debug_level() -> None:
    import logging

    from rasa.core.policies.policy import Policy
    from rasa.core.policies.rule_policy import RulePolicy

    states = [
        {"user": {"intent": "greet"}, "prev_action": {"action_name": "action_listen"}, "slots": {"s": (1.0,)}}
    ]
    rasa_log = logging.getLogger("rasa")
    level, original = rasa_log.level, RulePolicy.__dict__.get("format_tracker_states")
    _launcher().install_quiet_rule_state_log()
    try:
        rasa_log.setLevel(logging.INFO)
        assert RulePolicy.format_tracker_states(states) == ""
        rasa_log.setLevel(logging.DEBUG)
        assert RulePolicy.format_tracker_states(states) == Policy.format_tracker_states(states)
        assert "user intent: greet" in RulePolicy.format_tracker_states(states)
    finally:
        rasa_log.setLevel(level)
        if original is None:
            del RulePolicy.format_tracker_states
        else:
            RulePolicy.format_tracker_states = original  # type: ignore[method-assign]


class _Sum:
    """A graph component: its inputs plus a constant; raises on a negative total."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.k = config["k"]

    @classmethod
    def create(
        cls, config: dict[str, Any], model_storage: Any, resource: Any, execution_context: Any
    ) -> _Sum:
        return cls(config)

    def run(self, a: int, b: int = 0) -> int:
        total = a + b + self.k
        if total < 0:
            raise ValueError(f"negative: {total}")
        return total


def _sum_graph() -> Any:
    from rasa.engine.graph import GraphComponent, GraphSchema, SchemaNode

    component = type("Sum", (_Sum, GraphComponent), {})

    def node(needs: dict[str, str], k: int, target: bool = False, eager: bool = True) -> SchemaNode:
        return SchemaNode(needs=needs, uses=component, constructor_name="create", fn="run",
                          config={"k": k}, eager=eager, is_target=target)  # fmt: skip

    return GraphSchema(
        {
            "first": node({"a": "__x__"}, 1),
            "second": node({"a": "first", "b": "__y__"}, 10, eager=False),
            "diamond": node({"a": "second", "b": "first"}, 100, target=True),
            "other": node({"a": "__y__"}, -10_000, target=True),  # raises: only run when asked for
        }
    )


def test_graphs_run_in_order_with_dasks_results_and_errors(tmp_path: Path) -> None:
    """The sequential runner gives what dask gives: pruned to the targets, inputs and outputs as
    (name, value) pairs, a need nothing provides passed by name, the same errors."""
    from rasa.engine.exceptions import GraphComponentException, GraphRunError
    from rasa.engine.graph import ExecutionContext
    from rasa.engine.runner.dask import DaskGraphRunner
    from rasa.engine.storage.local_model_storage import LocalModelStorage

    schema = _sum_graph()
    storage = LocalModelStorage(tmp_path)
    original = DaskGraphRunner.run

    def outcomes() -> list[Any]:
        runner = DaskGraphRunner(schema, storage, ExecutionContext(schema, "m"))
        seen: list[Any] = []
        cases: list[tuple[dict[str, Any], list[str] | None]] = [
            ({"__x__": 1, "__y__": 2}, ["diamond"]),
            ({"__x__": 5, "__y__": 0}, ["first", "diamond"]),
            ({"__x__": 1, "__y__": 2}, ["diamond"]),  # the same targets again: the kept plan
            ({"__x__": -500, "__y__": 0}, ["second"]),  # the component raises
            ({"__x__": 1, "__y__": 1}, None),  # every target: "other" raises
            ({"__x__": "first", "__y__": 1}, ["diamond"]),  # an input named like a node
            ({"__x__": 1}, ["diamond"]),  # "__y__" provided by nobody
        ]
        for inputs, targets in cases:
            try:
                seen.append(runner.run(inputs, targets))
            except (GraphComponentException, GraphRunError) as e:
                seen.append((type(e).__name__, str(e), type(e.__cause__).__name__))
        return seen

    expected = outcomes()
    assert expected[0] == {"diamond": 1 + 1 + (1 + 1 + 2 + 10) + 100}
    _launcher().install_sequential_graph_runner()
    try:
        assert DaskGraphRunner.run is not original
        assert outcomes() == expected
    finally:
        DaskGraphRunner.run = original  # type: ignore[method-assign]


def test_applied_events_continue_as_rasa_walks_them() -> None:
    """The kept result equals Rasa's walk after every event of a conversation with a form, a
    fallback revert, a rule turn, an action revert, a restart and a new session; also for a
    tracker whose events were replaced, and for another tracker object."""
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, ActiveLoop, SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(str(ROOT / "domain.yml"))
    original = DialogueStateTracker.applied_events
    events = _negotiation_events()
    # A loop executed again after it was activated (Rasa's walk rewinds to its last execution).
    events += [
        ActionExecuted("identity_form"),
        ActiveLoop("identity_form"),
        ActionExecuted("action_listen"),
        SlotSet("cnpj_root", "99999999"),
        ActionExecuted("identity_form"),
        ActionExecuted("action_listen"),
    ]
    expected = [
        original(DialogueStateTracker.from_events("t", events[:n], domain.slots))
        for n in range(len(events) + 1)
    ]
    walks: list[int] = []

    def counted(self: DialogueStateTracker) -> list:  # type: ignore[type-arg]
        walks.append(len(self.events))
        return original(self)

    DialogueStateTracker.applied_events = counted  # type: ignore[method-assign]
    _launcher().install_applied_events_cache()
    try:
        assert DialogueStateTracker.applied_events is not counted
        tracker = DialogueStateTracker.from_events("t", [], domain.slots)
        assert tracker.applied_events() == expected[0]
        for n, event in enumerate(events, start=1):
            tracker.update(event)
            first = tracker.applied_events()
            assert first == expected[n], n
            first.clear()  # callers get their own list
            assert tracker.applied_events() == expected[n]
        # Walked again only where the events could rewind (13 such events), else continued.
        assert 0 < len(walks) <= 16
        # The same events in a new deque: walked again, same result.
        tracker.events = type(tracker.events)(list(tracker.events)[:10])
        assert tracker.applied_events() == expected[10]
        other = DialogueStateTracker.from_events("u", events[:5], domain.slots)
        assert other.applied_events() == expected[5]
    finally:
        DialogueStateTracker.applied_events = original  # type: ignore[method-assign]


def test_read_only_actions_run_on_the_tracker_and_leave_it_as_rasas_copy_would() -> None:
    """A response or a custom action predicted without events gets the tracker itself (no
    replay), and the tracker ends with the same events as under Rasa's method; with prediction
    events, or another kind of action, the action still gets a copy with those events, and a
    rejection still drops them."""
    from rasa.core.actions.action import ActionBotResponse, ActionExecutionRejection, RemoteAction
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.policies.policy import PolicyPrediction
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(str(ROOT / "domain.yml"))
    original = MessageProcessor._run_action
    given: list[DialogueStateTracker] = []

    class Nlg:
        async def generate(self, utter_action: str, tracker: DialogueStateTracker, *_: Any, **__: Any) -> Any:
            given.append(tracker)
            return {"text": f"{utter_action} for {tracker.get_slot('cnpj_root')}"}

    async def remote_run(action: Any, tracker: DialogueStateTracker) -> Any:
        given.append(tracker)
        if tracker.get_slot("cnpj_root") == "reject":
            raise ActionExecutionRejection(action.name())
        return [SlotSet("negotiation_stage", "offered")]

    def remote(name: str) -> RemoteAction:
        """A RemoteAction whose call to the action server is replaced on the instance."""
        action = RemoteAction(name, None)
        action.run = lambda _channel, _nlg, tracker, _domain: remote_run(action, tracker)  # type: ignore[method-assign]
        return action

    class Subclassed(RemoteAction):  # a kind of action not known to only read the tracker
        async def run(self, output_channel: Any, nlg: Any, tracker: DialogueStateTracker, domain: Any) -> Any:
            return await remote_run(self, tracker)

    def fresh() -> DialogueStateTracker:
        return DialogueStateTracker.from_events(
            "t", [UserUttered("oi", {"name": "greet", "confidence": 1.0})], domain.slots
        )

    def events(tracker: DialogueStateTracker) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.as_dict().items() if k != "timestamp"} for e in tracker.events]

    async def run_all(run: Any) -> tuple[list[list[dict[str, Any]]], list[bool]]:
        processor = MessageProcessor.__new__(MessageProcessor)
        processor.domain = domain
        cases = [
            (ActionBotResponse("utter_greet"), []),
            (ActionBotResponse("utter_greet"), [SlotSet("cnpj_root", "12345678")]),
            (remote("action_make_offer"), []),
            (remote("action_make_offer"), [SlotSet("cnpj_root", "reject")]),
            (Subclassed("action_make_offer", None), []),
        ]
        out, same = [], []
        for action, prediction_events in cases:
            tracker = fresh()
            given.clear()
            await run(processor, action, tracker, CollectingOutputChannel(), Nlg(),
                      PolicyPrediction([], "RulePolicy", events=prediction_events))  # fmt: skip
            out.append(events(tracker))
            same.append(given[0] is tracker)
        return out, same

    expected, rasa_same = asyncio.run(run_all(original))
    _launcher().install_action_run_without_copy()
    try:
        got, same = asyncio.run(run_all(MessageProcessor._run_action))
    finally:
        MessageProcessor._run_action = original  # type: ignore[method-assign]
    assert got == expected
    assert rasa_same == [False] * 5
    assert same == [True, False, True, False, False]
    assert any(e.get("event") == "action_execution_rejected" for e in got[3])
    assert not any(e.get("name") == "cnpj_root" for e in got[3])  # the rejected prediction's event
    assert any(e.get("text") == "utter_greet for 12345678" for e in got[1])
