# Two commands on a fresh machine: `make run` and `make test`. Everything else is set up here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TICKETFLOW_DATABASE_URL ?= sqlite:///var/ticketflow.db

.PHONY: run test lint install migrate demo bench clean assets

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The pages' scripts and the bpmn-js viewer, bundled from npm packages into web/static/build (served
# same-origin: no CDN). Rebuilt only when the lock file or a script in web/assets changed.
ASSETS := web/static/build/.built
$(ASSETS): package.json package-lock.json $(wildcard web/assets/*)
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing: install Node.js 18+ with npm (apt-get install -y nodejs npm) to build the pages' scripts"; exit 1; }
	npm ci --no-audit --no-fund
	npm run build
	touch $(ASSETS)

assets: $(ASSETS)

migrate: install
	$(BIN)/ticketflow db upgrade

# The main job: migrate the embedded SQLite database, deploy the diagram, load the demo knowledge
# base, and serve the app on http://127.0.0.1:8000 with the timer worker, printing demo users' tokens.
run: migrate assets
	$(BIN)/ticketflow deploy bpmn/support_ticket.bpmn
	$(BIN)/ticketflow kb import ticketflow/data/demo_kb.json
	$(BIN)/ticketflow serve --demo-users

# Play tickets through every path of the procedure (fake clock) in a database of their own
# (var/demo.db, made afresh) and print their trails; the database `make run` serves is never touched.
demo: install
	$(BIN)/ticketflow demo

test: install assets
	$(BIN)/python -m pytest

# Style and types: ruff (pyflakes, bugbear, complexity, imports) and mypy over the shipped code.
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy engine tasks mail webhooks web ticketflow bench tools

bench: install assets
	$(BIN)/python -m bench.engine
	$(BIN)/python -m bench.audit
	$(BIN)/python -m bench.api
	$(BIN)/python -m bench.outbox
	$(BIN)/python -m bench.webhooks
	$(BIN)/python -m bench.reports
	$(BIN)/python -m bench.pages
	$(BIN)/python -m bench.migrate
	$(BIN)/python -m bench.storage
	$(BIN)/python -m bench.load

clean:
	rm -rf $(VENV) var .pytest_cache
