"""scripts/rasa_run.py: action responses are still validated, with Rasa's own error."""

from __future__ import annotations

import importlib.util
from pathlib import Path

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
