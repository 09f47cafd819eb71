#!/usr/bin/env bash
# Every test: lint, server/bot tests (unit, integration, e2e with the real stack) and action tests.
set -euo pipefail
cd "$(dirname "$0")/.."

export RASA_TELEMETRY_ENABLED=false
export NEGOCIA_MODEL_PATH
NEGOCIA_MODEL_PATH="$(.venv/bin/negocia train | tail -n 1)"

echo "== lint (ruff)"
.venv/bin/ruff check server bot actions tests bench

echo "== action tests (.venv-rasa, against a live server)"
PYTHONPATH=. .venv-rasa/bin/python -m pytest -q -p no:cacheprovider --confcutdir tests/actions tests/actions

echo "== server, bot and end-to-end tests (.venv)"
.venv/bin/python -m pytest -q -p no:cacheprovider tests --ignore=tests/actions
