"""Runs the `rasa` command line (in .venv-rasa) with one fix for a per-turn cost.

Rasa 3.6 validates every action-server response with ``jsonschema.validate()``, which builds a
new validator and re-checks the (large) events schema on each call: measured with py-spy at
35-50 % of a turn's CPU in `rasa run` (about 58 ms per call against 1.7 ms with a validator
built once). Validation stays, with the same errors; only the validator is built once.

Usage: ``.venv-rasa/bin/python scripts/rasa_run.py run --model ...`` (any `rasa` arguments).
"""

from __future__ import annotations

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


def main() -> None:
    install_cached_validator()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
