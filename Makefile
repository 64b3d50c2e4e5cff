# FrontConnect: `make run` to use it, `make test` to test it. Needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py

.PHONY: run demo test lint install install-dev requirements messages translations clean

# The SQLite database of `make run` holds password hashes and encrypted secrets: only this user
# may read it, as .env. umask makes SQLite create it (and its WAL files) 0600; chmod fixes older
# files. runall serves the web app with the worker and scheduler beside it; Ctrl-C stops all.
SQLITE_DB := db.sqlite3

run: $(VENV)/.installed messages .env
	umask 077 && $(MANAGE) migrate --noinput
	@chmod 600 .env; if [ -e $(SQLITE_DB) ]; then chmod 600 $(SQLITE_DB); fi
	$(MANAGE) check --database default
	$(MANAGE) createoperator
	umask 077 && $(MANAGE) runall 127.0.0.1:8000

# The demo: FrontConnect against a local stand-in for Front, no Front account needed. Its own
# database and broker under .demo/ (make run's db.sqlite3 is never opened); DEBUG on, 127.0.0.1.
demo: $(VENV)/.installed messages .env
	umask 077 && DJANGO_DEBUG=true $(MANAGE) rundemo --settings=frontconnect.demo_settings

test: $(VENV)/.installed-dev messages
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

install: $(VENV)/.installed messages
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

# The translations: each app's catalogue (<app>/locale) and the project's (locale/), compiled
# by Babel whenever a .po changes. `make translations` gathers new texts from the code into the
# .po files (it needs gettext's xgettext); tests/test_translations.py fails while any text is
# untranslated or fuzzy.
PO_FILES := $(wildcard locale/*/LC_MESSAGES/django.po */locale/*/LC_MESSAGES/django.po)
messages: $(PO_FILES:.po=.mo)

%.mo: %.po $(VENV)/.installed
	$(BIN)/pybabel compile --statistics -i $< -o $@

translations: $(VENV)/.installed-dev
	DJANGO_SETTINGS_MODULE=frontconnect.test_settings $(MANAGE) makemessages -l fr

# Written once with fresh random keys, readable by this user only; never overwritten.
.env:
	@umask 077 && $(PYTHON) -c "import base64, secrets; print('DJANGO_DEBUG=true'); print('DJANGO_SECRET_KEY=' + secrets.token_urlsafe(50)); print('FRONTCONNECT_ENCRYPTION_KEY=' + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())" > $@
	@echo "Wrote .env with new random keys. Keep it: the encryption key is needed to read stored secrets."

# Re-pin every package (transitive ones included) from the short requirements*.in files.
requirements: | $(BIN)/python
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links -o requirements.txt requirements.in
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links -o requirements-dev.txt requirements-dev.in

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
