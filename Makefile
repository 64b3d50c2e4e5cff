# FrontConnect: `make run` to use it, `make test` to test it. Needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py

.PHONY: run test lint install install-dev requirements clean

run: $(VENV)/.installed .env
	$(MANAGE) migrate --noinput
	$(MANAGE) check --database default
	$(MANAGE) createoperator
	$(MANAGE) runserver 127.0.0.1:8000

test: $(VENV)/.installed-dev
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $(VENV)/.installed $@

# Written once with fresh random keys; an existing .env is never overwritten.
.env:
	@$(PYTHON) -c "import base64, secrets; print('DJANGO_DEBUG=true'); print('DJANGO_SECRET_KEY=' + secrets.token_urlsafe(50)); print('FRONTCONNECT_ENCRYPTION_KEY=' + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())" > $@
	@echo "Wrote .env with new random keys. Keep it: the encryption key is needed to read stored secrets."

# Re-pin every package (transitive ones included) from the short requirements*.in files.
requirements: | $(BIN)/python
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links -o requirements.txt requirements.in
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links -o requirements-dev.txt requirements-dev.in

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
