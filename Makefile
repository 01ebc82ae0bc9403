# Two commands do all set-up on a fresh machine with Python 3.12+ and make:
#   make run    install, migrate, create the first admin, serve console + API + Celery
#   make test   install what tests need and run the whole suite
PYTHON ?= python3
VENV ?= .venv
PORT ?= 8000
# Test processes (pytest-xdist): one per core; each has its own test database and live server.
TEST_PROCESSES ?= auto
BIN := $(VENV)/bin

.PHONY: run test install migrate bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "kmsconsole needs Python 3.12 or newer (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput

run: migrate
	$(BIN)/python manage.py kms_bootstrap
	PORT=$(PORT) scripts/run-dev

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var/celery var/kmsconsole.sqlite3 var/celerybeat-schedule*
