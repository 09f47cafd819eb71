"""scripts/rasa_run.py's turn guard, on Rasa's own classes (.venv-rasa):

- a retried message that is already the tracker's latest user message is answered with the
  replies saved for it, and no second turn runs;
- an action server that cannot run an action fails the whole turn: one failure marker instead of
  partial replies, and the tracker is not saved (Rasa alone would log the error, go on and save);
- an action's own rejection (a form's validation, HTTP 400) stays Rasa's normal path.

The processor is a hand-written MessageProcessor whose model-bound steps are replaced by a
scripted turn; Rasa's real handle_message and _run_action run around it, and actions are real
RemoteActions calling a small HTTP server (or a closed port).
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.policies.policy import PolicyPrediction
from rasa.core.processor import MessageProcessor
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from tests.json_http import JsonServer
from tests.json_http import closed_port_url as closed_url

ROOT = Path(__file__).resolve().parents[2]
SENDER = "conv-7f3a"


@pytest.fixture(scope="module")
def guard() -> Iterator[ModuleType]:
    """The launcher with its turn guard installed; Rasa's classes are given back afterwards."""
    saved = (RemoteAction.run, MessageProcessor.handle_message)
    spec = importlib.util.spec_from_file_location("rasa_run_guard", ROOT / "scripts" / "rasa_run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.install_turn_guard()
    yield module
    RemoteAction.run, MessageProcessor.handle_message = saved  # type: ignore[method-assign]


class FakeActionServer:
    """Answers every action call with one fixed status and JSON body; counts the calls."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self._server = JsonServer(lambda _method, _path, _body: (status, body))
        self.url = self._server.url + "/webhook"

    @property
    def calls(self) -> list[dict[str, Any]]:
        return [body or {} for _method, _path, body in self._server.requests]

    def close(self) -> None:
        self._server.close()


def closed_port_url() -> str:
    return closed_url() + "/webhook"


class FakeTrackerStore:
    def __init__(self, saved: DialogueStateTracker | None = None) -> None:
        self.saved = saved

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        return self.saved if self.saved is not None and self.saved.sender_id == sender_id else None


class ScriptedProcessor(MessageProcessor):
    """Rasa's MessageProcessor without a model: one scripted turn (utter, then optionally one
    custom action through Rasa's real _run_action); records what Rasa's handle_message did."""

    def __init__(self, store: FakeTrackerStore, action_url: str | None = None) -> None:  # no model
        self.tracker_store = store
        self.domain = Domain.empty()
        self.action_url = action_url
        self.logged: list[str] = []
        self.saved: list[DialogueStateTracker] = []
        self.actions_run: list[str] = []

    @property
    def model_metadata(self) -> Any:
        class Core:
            training_type = None  # not NLU-only: the dialogue part runs

        return Core()

    async def log_message(
        self, message: UserMessage, should_save_tracker: bool = True
    ) -> DialogueStateTracker:
        self.logged.append(message.text or "")
        tracker = self.tracker_store.saved or DialogueStateTracker(message.sender_id, [])
        tracker.update(UserUttered(message.text, metadata=message.metadata))
        return tracker

    async def run_action_extract_slots(
        self, output_channel: Any, tracker: DialogueStateTracker
    ) -> DialogueStateTracker:
        return tracker

    async def _run_prediction_loop(
        self, output_channel: Any, tracker: DialogueStateTracker, *args: Any
    ) -> None:
        await output_channel.send_text_message(tracker.sender_id, "Deixa eu ver as condições...")
        tracker.update(BotUttered("Deixa eu ver as condições..."))
        if self.action_url is not None:
            action = RemoteAction("action_negotiate", EndpointConfig(self.action_url))
            self.actions_run.append(action.name())
            await self._run_action(action, tracker, output_channel, None, PolicyPrediction([], "RulePolicy"))

    async def run_anonymization_pipeline(self, tracker: DialogueStateTracker) -> None:
        return None

    async def save_tracker(self, tracker: DialogueStateTracker) -> None:
        self.saved.append(tracker)


def handle(processor: ScriptedProcessor, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """What Rasa's REST channel answers: the collecting channel's messages after the turn."""
    channel = CollectingOutputChannel()
    asyncio.run(processor.handle_message(UserMessage(text, channel, SENDER, metadata=metadata)))
    return list(channel.messages)


def processed_tracker(message_id: int) -> DialogueStateTracker:
    """A conversation whose latest user message (id `message_id`) was answered and saved."""
    events: list[Event] = [
        ActionExecuted("action_listen"),
        UserUttered("10.101.010", metadata={"negocia_message_id": message_id - 1}),
        BotUttered("Identidade confirmada."),
        ActionExecuted("action_listen"),
        UserUttered("sim", metadata={"negocia_message_id": message_id}),
        ActionExecuted("action_accept_agreement"),
        BotUttered("Acordo fechado!", data={"buttons": [{"title": "Ver termo", "payload": "/termo"}]}),
        BotUttered("00020101021226850014br.gov.bcb.pix"),
        ActionExecuted("action_listen"),
    ]
    return DialogueStateTracker.from_events(SENDER, events)


def test_a_retried_message_already_processed_gets_its_saved_replies_and_no_second_turn(
    guard: ModuleType,
) -> None:
    processor = ScriptedProcessor(FakeTrackerStore(processed_tracker(42)))
    replies = handle(processor, "sim", {"negocia_message_id": 42, "negocia_retry": True})
    assert [(r["recipient_id"], r.get("text")) for r in replies] == [
        (SENDER, "Acordo fechado!"),
        (SENDER, "00020101021226850014br.gov.bcb.pix"),
    ]
    assert replies[0]["buttons"] == [{"title": "Ver termo", "payload": "/termo"}]
    assert processor.logged == [] and processor.saved == []  # nothing run, nothing saved


def test_a_retry_of_a_message_rasa_never_saved_runs_its_turn_once(guard: ModuleType) -> None:
    processor = ScriptedProcessor(FakeTrackerStore(processed_tracker(42)))
    replies = handle(processor, "quero parcelar", {"negocia_message_id": 43, "negocia_retry": True})
    assert [r["text"] for r in replies] == ["Deixa eu ver as condições..."]
    assert processor.logged == ["quero parcelar"] and len(processor.saved) == 1


def test_a_retry_on_a_conversation_rasa_does_not_know_runs_its_turn(guard: ModuleType) -> None:
    processor = ScriptedProcessor(FakeTrackerStore())
    replies = handle(processor, "oi", {"negocia_message_id": 1, "negocia_retry": True})
    assert [r["text"] for r in replies] == ["Deixa eu ver as condições..."]
    assert processor.logged == ["oi"] and len(processor.saved) == 1


def test_the_same_id_without_the_retry_flag_is_a_new_turn(guard: ModuleType) -> None:
    # Only the gateway's retries are checked against the tracker.
    processor = ScriptedProcessor(FakeTrackerStore(processed_tracker(42)))
    handle(processor, "sim", {"negocia_message_id": 42})
    assert processor.logged == ["sim"] and len(processor.saved) == 1


def failure_marker(replies: Any) -> str:
    assert isinstance(replies, list) and len(replies) == 1, replies
    assert replies[0]["recipient_id"] == SENDER and "text" not in replies[0]
    return str(replies[0]["custom"]["negocia_turn_failed"])


def test_an_unreachable_action_server_fails_the_turn_unsaved(guard: ModuleType) -> None:
    processor = ScriptedProcessor(FakeTrackerStore(), action_url=closed_port_url())
    replies = handle(processor, "quero parcelar", {"negocia_message_id": 5})
    # The utterance sent before the action is dropped with the rest of the half turn.
    assert "action_negotiate" in failure_marker(replies)
    assert processor.actions_run == ["action_negotiate"]
    assert processor.saved == []


def test_an_action_server_error_fails_the_turn_unsaved(guard: ModuleType) -> None:
    server = FakeActionServer(500, {"error": "boom"})
    try:
        processor = ScriptedProcessor(FakeTrackerStore(), action_url=server.url)
        replies = handle(processor, "quero parcelar", {"negocia_message_id": 5})
    finally:
        server.close()
    assert len(server.calls) == 1 and server.calls[0]["next_action"] == "action_negotiate"
    assert "action_negotiate" in failure_marker(replies)
    assert processor.saved == []


def test_an_error_inside_the_turn_fails_it_unsaved(guard: ModuleType) -> None:
    class Broken(ScriptedProcessor):
        async def run_action_extract_slots(self, output_channel: Any, tracker: DialogueStateTracker) -> Any:
            raise ValueError("slot mapping broke")

    processor = Broken(FakeTrackerStore())
    assert "slot mapping broke" in failure_marker(handle(processor, "oi", {"negocia_message_id": 9}))
    assert processor.saved == []


def test_an_action_that_answers_is_a_normal_saved_turn(guard: ModuleType) -> None:
    server = FakeActionServer(200, {"events": [], "responses": [{"text": "Opção 1: PIX à vista"}]})
    try:
        processor = ScriptedProcessor(FakeTrackerStore(), action_url=server.url)
        replies = handle(processor, "quero parcelar", {"negocia_message_id": 5})
    finally:
        server.close()
    assert [r["text"] for r in replies] == ["Deixa eu ver as condições...", "Opção 1: PIX à vista"]
    assert len(processor.saved) == 1


def test_an_action_rejection_stays_rasas_normal_path(guard: ModuleType) -> None:
    # HTTP 400 from the action server is the action refusing (a form's validation), not a failure.
    server = FakeActionServer(400, {"action_name": "action_negotiate", "error": "slot inválido"})
    try:
        processor = ScriptedProcessor(FakeTrackerStore(), action_url=server.url)
        replies = handle(processor, "quero parcelar", {"negocia_message_id": 5})
    finally:
        server.close()
    assert [r["text"] for r in replies] == ["Deixa eu ver as condições..."]
    assert len(processor.saved) == 1
    assert processor.saved[0].events[-1].type_name == "action_execution_rejected"
