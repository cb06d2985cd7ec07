# Market Spine: `make run` sets everything up and serves the app; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# manage.py's development env file (see marketspine/env.py); production sets variables instead.
ENV_FILE := .env

.PHONY: run test lint venv dev-env migrate static demo worker serve screenshots clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

# DEBUG=true and a fresh SECRET_KEY, so every manage.py command works after `make run` without
# exporting anything. Written only when missing; a variable set in the environment still wins.
$(ENV_FILE): | $(BIN)/.installed
	@$(BIN)/python -c 'import sys; from pathlib import Path; from marketspine.env import write_development_env_file; write_development_env_file(Path(sys.argv[1])) and print(f"wrote {sys.argv[1]} (DEBUG=true, a new SECRET_KEY) for manage.py")' $(ENV_FILE)

dev-env: $(ENV_FILE)

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/lint-imports --no-cache

migrate: venv
	DEBUG=1 $(BIN)/python manage.py migrate --no-input

# The admin's and the API docs' assets into STATIC_ROOT (var/static), served by whitenoise.
static: venv
	DEBUG=1 $(BIN)/python manage.py collectstatic --no-input --verbosity 0

# Demo data and the main job: runs every queued item to completion before serving.
demo: migrate
	DEBUG=1 HOST=$(HOST) PORT=$(PORT) $(BIN)/python manage.py bootstrap_demo

# Serve the app with a django-q2 cluster beside it; Ctrl-C stops both.
serve: venv
	@DEBUG=1 $(BIN)/python manage.py qcluster & qpid=$$!; \
	trap 'kill $$qpid 2>/dev/null; wait $$qpid 2>/dev/null' EXIT INT TERM; \
	DEBUG=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

run: dev-env demo static serve

worker: venv
	$(BIN)/python manage.py qcluster

# A screenshot of every admin console page, per role, light and dark, into var/screenshots/.
screenshots: venv
	$(BIN)/python -m pytest tests/browser/test_screenshots.py --screenshots -q

clean:
	rm -rf $(VENV) var
