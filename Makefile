# negocia: `make run` (set up and run locally) and `make test` (set up and run every test).
.PHONY: setup train run test test-fast lint bench clean nlu-report

setup:
	@bash scripts/setup.sh

train: setup
	@.venv/bin/negocia train

run: setup
	@.venv/bin/negocia run

test: setup train
	@bash scripts/test.sh

lint: setup
	@.venv/bin/ruff check server bot actions tests bench
	@.venv/bin/mypy server bot

nlu-report: setup
	@.venv/bin/python scripts/nlu_report.py

bench: setup train
	@.venv/bin/python bench/import_portfolio.py

clean:
	rm -rf .venv .venv-rasa var models .pytest_cache
