"""Issue 19 item 3: make demo, FrontConnect against the built-in Front stand-in."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from io import StringIO
from pathlib import Path
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.test import Client

from api.keys import apikey_authenticate
from api.models import ApiKey
from connections.models import AuthType, Connection, Scope, Status
from demo import services
from demo.standin import standin_serve
from oauthclients.models import OAuthClient
from tests.frontconnect.test_settings import GOOD_KEY, GOOD_SECRET, ROOT

BANNER = "Demo: not connected to the real Front."
SHOW = (
    "import environ; environ.Env.read_env = lambda *a, **k: None; "
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'db': s.DATABASES['default']['NAME'], "
    "'engine': s.DATABASES['default']['ENGINE'], 'demo': s.FRONTCONNECT_DEMO, "
    "'api': s.FRONT_API_URL, 'authorize': s.FRONT_OAUTH_AUTHORIZE_URL, "
    "'token': s.FRONT_OAUTH_TOKEN_URL, 'base': s.FRONTCONNECT_BASE_URL, "
    "'hosts': s.ALLOWED_HOSTS, 'session': s.SESSION_COOKIE_NAME, "
    "'broker': s.CELERY_BROKER_TRANSPORT_OPTIONS.get('data_folder_in')}))"
)


def settings_module(module: str, tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FRONT"))}
    clean.update(
        env,
        DJANGO_SETTINGS_MODULE=module,
        DJANGO_SECRET_KEY=GOOD_SECRET,
        FRONTCONNECT_ENCRYPTION_KEY=GOOD_KEY,
        PYTHONPATH=str(ROOT),
    )
    return subprocess.run(
        [sys.executable, "-c", SHOW], cwd=tmp, env=clean, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def test_demo_settings_refuse_to_load_with_debug_off(tmp_path):
    result = settings_module("frontconnect.demo_settings", tmp_path, DJANGO_DEBUG="false")
    assert result.returncode != 0
    assert "runs only with DJANGO_DEBUG=true" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_settings_keep_to_their_own_database_broker_cookies_and_the_standin(tmp_path):
    result = settings_module(
        "frontconnect.demo_settings",
        tmp_path,
        DJANGO_DEBUG="true",
        DATABASE_URL="postgres://frontconnect:secret@db.internal:5432/frontconnect",
        FRONT_API_URL="https://api2.frontapp.com",
        DJANGO_ALLOWED_HOSTS="connect.example.com",
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.splitlines()[-1])
    assert seen["engine"] == "django.db.backends.sqlite3"
    assert seen["db"] == str(ROOT / ".demo" / "demo.sqlite3")
    assert seen["broker"].startswith(str(ROOT / ".demo"))
    assert seen["demo"] is True
    assert seen["api"] == "http://127.0.0.1:8101"
    assert seen["authorize"] == "http://127.0.0.1:8101/oauth/authorize"
    assert seen["token"] == "http://127.0.0.1:8101/oauth/token"
    assert seen["base"] == "http://127.0.0.1:8100"
    assert seen["hosts"] == ["127.0.0.1", "localhost"]
    assert seen["session"] != "sessionid"


def test_no_variable_turns_demo_mode_on_in_the_main_settings(tmp_path):
    result = settings_module(
        "frontconnect.settings", tmp_path, DJANGO_DEBUG="true", FRONTCONNECT_DEMO="true"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["demo"] is False


def demo_errors() -> list[str]:
    return [m.id for m in run_checks() if m.id and m.id.startswith("demo.")]


def test_the_system_check_stops_demo_mode_unless_it_stays_on_this_machine(demo_mode):
    assert demo_errors() == ["demo.W001"]  # on, and saying so
    demo_mode.DEBUG = False
    assert demo_errors() == ["demo.E001"]
    demo_mode.DEBUG = True
    demo_mode.ALLOWED_HOSTS = ["127.0.0.1", "connect.example.com"]
    (error,) = [m for m in run_checks() if m.id == "demo.E001"]
    assert "connect.example.com" in error.msg
    demo_mode.ALLOWED_HOSTS = ["127.0.0.1"]
    demo_mode.FRONT_API_URL = "https://api2.frontapp.com"
    assert demo_errors() == ["demo.E001"]


def test_the_system_check_says_nothing_outside_demo_mode(settings):
    assert demo_errors() == []


def test_the_command_refuses_outside_demo_settings(db):
    with pytest.raises(CommandError, match="make demo"):
        call_command("rundemo", "--no-serve", stdout=StringIO())


def test_the_command_refuses_demo_mode_with_debug_off(demo_mode, db):
    demo_mode.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("rundemo", "--no-serve", stdout=StringIO())


def test_the_command_prepares_everything_and_prints_working_credentials(demo_mode, db):
    out = StringIO()
    call_command("rundemo", "--no-serve", stdout=out)
    text = out.getvalue()
    assert BANNER in text
    assert (demo_mode.DEMO_DIR).is_dir()
    assert oct((demo_mode.DEMO_DIR).stat().st_mode & 0o777) == "0o700"
    client = OAuthClient.objects.get(name=services.CLIENT_NAME)
    assert client.client_id == services.CLIENT_ID
    assert client.client_secret == services.CLIENT_SECRET
    assert services.CLIENT_SECRET not in text
    password = text.split("with password ")[1].split()[0]
    operator = get_user_model().objects.get(username=services.OPERATOR)
    assert operator.is_superuser and operator.check_password(password)
    plaintext = text.split("export FRONTCONNECT_DEMO_KEY=")[1].split()[0]
    key = apikey_authenticate(plaintext)
    assert key is not None and sorted(key.permissions) == ["proxy", "read"]
    for token in services.TOKENS:
        assert token in text
    # The stand-in stopped with the command.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", demo_mode.FRONTCONNECT_DEMO_FRONT_PORT), 1)

    # A second start renews the password and the key, and duplicates nothing.
    again = StringIO()
    call_command("rundemo", "--no-serve", stdout=again)
    assert OAuthClient.objects.filter(name=services.CLIENT_NAME).count() == 1
    assert ApiKey.objects.filter(name=services.KEY_NAME, revoked_at__isnull=True).count() == 1
    assert apikey_authenticate(plaintext) is None
    operator.refresh_from_db()
    assert not operator.check_password(password)


def test_the_command_serves_the_standin_beside_runall(demo_mode, db):
    seen: dict[str, object] = {}

    def runall(addrport, **kwargs):
        answer = requests.get(
            f"{demo_mode.FRONT_API_URL}/me",
            headers={"Authorization": "Bearer demo-token-acme"},
            timeout=5,
        )
        seen.update(addrport=addrport, status=answer.status_code, company=answer.json()["name"])

    real = call_command

    def fake(name, *args, **kwargs):
        if name == "runall":
            return runall(*args, **kwargs)
        return real(name, *args, **kwargs)

    with mock.patch("demo.management.commands.rundemo.call_command", side_effect=fake):
        call_command("rundemo", stdout=StringIO())
    assert seen == {
        "addrport": f"127.0.0.1:{demo_mode.FRONTCONNECT_DEMO_PORT}",
        "status": 200,
        "company": "Acme Corp (stand-in)",
    }


def test_the_command_says_which_port_is_taken(demo_mode, db):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        demo_mode.FRONTCONNECT_DEMO_FRONT_PORT = port
        with pytest.raises(CommandError, match=f"127.0.0.1:{port}"):
            call_command("rundemo", "--no-serve", stdout=StringIO())


def test_demo_prepare_refuses_outside_demo_mode(db):
    with pytest.raises(RuntimeError):
        services.demo_prepare()


SIGN_IN = ["/accounts/login/", "/admin/login/"]
PAGES = ["/connections/", "/connections/new/", "/admin/", "/admin/connections/connection/"]
PAGES += ["/admin/connections/connection/add/", "/admin/oauthclients/oauthclient/"]


def banner_on(client, path: str) -> bool:
    response = client.get(path)
    assert response.status_code == 200, path
    return BANNER in response.content.decode()


def test_every_page_shows_the_banner_in_demo_mode(client, operator, settings):
    settings.FRONTCONNECT_DEMO = True
    assert all(banner_on(client, path) for path in [*SIGN_IN, "/demo/"])
    client.force_login(operator)
    assert all(banner_on(client, path) for path in PAGES)


def test_no_page_shows_the_banner_outside_demo_mode(client, operator):
    assert not any(banner_on(client, path) for path in SIGN_IN)
    client.force_login(operator)
    assert not any(banner_on(client, path) for path in PAGES)
    assert client.get("/demo/").status_code == 404


def test_the_help_page_lists_the_tokens_and_a_proxy_call_for_each_connection(
    operator_client, operator, settings
):
    settings.FRONTCONNECT_DEMO = True
    connection = Connection.objects.create(name="Sales inbox", company_name="Acme", owner=operator)
    body = operator_client.get("/demo/").content.decode()
    for token in [*services.TOKENS, services.REFUSED_TOKEN]:
        assert token in body
    assert services.CLIENT_NAME in body
    assert f"/api/v1/connections/{connection.pk}/front/me" in body
    assert "$FRONTCONNECT_DEMO_KEY" in body
    assert services.CLIENT_SECRET not in body


@pytest.fixture
def demo_front(demo_mode):
    """The demo's own stand-in, served on a free port, with FrontConnect pointed at it."""
    front = services.demo_standin()
    server = standin_serve(front)
    demo_mode.FRONT_API_URL = front.url
    demo_mode.FRONT_OAUTH_AUTHORIZE_URL = front.authorize_url
    demo_mode.FRONT_OAUTH_TOKEN_URL = front.token_url
    yield front
    server.shutdown()
    server.server_close()


def test_a_newcomer_authorizes_adds_a_token_and_calls_the_proxy(
    demo_front, front_scopes, checks_not_queued
):
    client = Client(SERVER_NAME="127.0.0.1")
    ready = services.demo_prepare()
    client.force_login(ready.operator)
    connection = Connection.objects.create(
        name="Sales inbox",
        company_name="Acme",
        auth_type=AuthType.OAUTH2,
        oauth_client=ready.client,
        owner=ready.operator,
    )
    connection.scopes.set(Scope.objects.filter(code="contacts:read"))

    # Authorize, Accept on the stand-in's page, back to the callback: Online.
    start = client.post(f"/connections/{connection.pk}/authorize/")
    assert start.status_code == 302 and start["Location"].startswith(demo_front.authorize_url)
    consent = requests.get(start["Location"], timeout=5)
    assert consent.status_code == 200 and ">Accept</button>" in consent.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(start["Location"]).query).items()}
    decided = requests.get(
        f"{demo_front.url}/oauth/decide",
        params={**query, "decision": "accept"},
        allow_redirects=False,
        timeout=5,
    )
    back = urlsplit(decided.headers["Location"])
    done = client.get(f"{back.path}?{back.query}")
    assert done.status_code in (302, 303)
    connection.refresh_from_db()
    assert connection.status == Status.ONLINE
    assert connection.front_company_name == "Stand-in Paper Company"

    # A Token connection with a token from the help page is tested on save: Online.
    added = client.post(
        "/connections/new/",
        {
            "name": "Support inbox",
            "company_name": "Acme",
            "auth_type": AuthType.TOKEN,
            "api_token": "demo-token-globex",
            "_save": "Save",
        },
    )
    assert added.status_code == 302
    token = Connection.objects.get(name="Support inbox")
    assert token.status == Status.ONLINE and token.front_company_name == "Globex (stand-in)"

    # The proxy with the printed key reaches the stand-in for both.
    for pk in (connection.pk, token.pk):
        answer = client.get(
            f"/api/v1/connections/{pk}/front/me",
            HTTP_AUTHORIZATION=f"Bearer {ready.key.plaintext}",
        )
        assert answer.status_code == 200
        body = b"".join(answer.streaming_content) if answer.streaming else answer.content
        assert json.loads(body)["id"] in ("cmp_standin", "cmp_globex")


RECORD_ARGS = """
import json, os, sys
json.dump({"argv": sys.argv[1:], "debug": os.environ.get("DJANGO_DEBUG"),
           "umask": os.umask(0)}, open("called.json", "w"))
"""


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_runs_the_demo_command_under_demo_settings_with_debug_on(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "requirements.txt").write_text("")
    (tmp_path / "fake_manage.py").write_text(RECORD_ARGS)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").symlink_to(sys.executable)
    (tmp_path / ".venv" / ".installed").touch()
    command = (
        f"umask 022; exec make --no-print-directory demo PYTHON={sys.executable} "
        f"MANAGE='{sys.executable} fake_manage.py'"
    )
    result = subprocess.run(
        ["sh", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    called = json.loads((tmp_path / "called.json").read_text())
    assert called["argv"] == ["rundemo", "--settings=frontconnect.demo_settings"]
    assert called["debug"] == "true"
    assert called["umask"] == 0o077
    assert (tmp_path / ".env").exists()  # a fresh clone gets its keys as with make run
