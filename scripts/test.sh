#!/usr/bin/env bash
# Every test: lint and types, action tests (.venv-rasa), then unit, integration and end-to-end
# tests (.venv; e2e starts the real stack with the trained model, which `make train` cached).
set -euo pipefail
cd "$(dirname "$0")/.."

export RASA_TELEMETRY_ENABLED=false

echo "== lint (ruff) and types (mypy)"
.venv/bin/ruff check server bot actions tests bench
.venv/bin/ruff format --check server bot actions tests bench
.venv/bin/mypy server bot

echo "== action tests (.venv-rasa, against a live server)"
PYTHONPATH=. .venv-rasa/bin/python -m pytest -q -p no:cacheprovider --confcutdir tests/actions tests/actions

echo "== unit, integration and end-to-end tests (.venv)"
.venv/bin/python -m pytest -q -p no:cacheprovider tests --ignore=tests/actions
