"""API test setup: keys with chosen permissions and a client that sends them."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from rest_framework.test import APIClient

from api import keys
from api.keys import NewKey, apikey_create
from api.models import KeyScope, Permission

ALL_PERMISSIONS = list(Permission.values)


@pytest.fixture(autouse=True)
def usage_written_on_flush_only(monkeypatch):
    """Proxy usage is written by a timer thread in production; tests flush it themselves."""
    monkeypatch.setattr(keys.proxy_usage, "interval", None)
    yield
    keys.proxy_usage._pending.clear()


@pytest.fixture
def token_connection(token_connection):
    """A Token connection whose API token Front accepted (the access-token endpoint gives it)."""
    from connections.models import Connection, Status

    Connection.objects.filter(pk=token_connection.pk).update(
        status=Status.ONLINE, front_company_id="cmp_1", front_company_name="Acme"
    )
    token_connection.refresh_from_db()
    return token_connection


@pytest.fixture
def make_key(owner) -> Callable[..., NewKey]:
    def make(
        permissions: list[str] | None = None,
        *,
        scope: str = KeyScope.USERS,
        key_owner: Any = None,
        **kwargs: Any,
    ) -> NewKey:
        return apikey_create(
            name="Integration",
            owner=key_owner or owner,
            permissions=ALL_PERMISSIONS if permissions is None else permissions,
            scope=scope,
            **kwargs,
        )

    return make


@pytest.fixture
def api() -> Callable[[str | None], APIClient]:
    """A client sending ``Authorization: Bearer <key>`` (or nothing)."""

    def client(key: str | None) -> APIClient:
        made = APIClient()
        if key is not None:
            made.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return made

    return client


@pytest.fixture
def full_key(make_key) -> NewKey:
    return make_key()


@pytest.fixture
def full_api(api, full_key) -> APIClient:
    return api(full_key.plaintext)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class EchoFront:
    """A stand-in for Front's API that records every request and answers from a script."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    # Statuses to answer with, in order; 200 once they run out.
    statuses: list[int] = field(default_factory=list)
    extra_headers: dict[str, str] = field(default_factory=dict)
    # Set, a GET /me also names this company (id and name), as Front's answer does.
    company: dict[str, str] | None = None
    rate_headers: dict[str, str] = field(
        default_factory=lambda: {
            "x-ratelimit-limit": "100",
            "x-ratelimit-remaining": "99",
            "x-ratelimit-reset": "1700000000",
        }
    )
    lock: threading.Lock = field(default_factory=threading.Lock)


class EchoHandler(BaseHTTPRequestHandler):
    front: EchoFront
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        front = self.front
        with front.lock:
            front.seen.append(
                Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            status = front.statuses.pop(0) if front.statuses else 200
        if status == 200:
            payload = {"method": self.command, "path": self.path, "size": len(body)}
            if front.company and self.path.split("?")[0] == "/me":
                payload.update(front.company)
        else:
            payload = {"_error": {"status": status, "title": "Scripted", "message": "As asked"}}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in front.rate_headers.items():
            self.send_header(name, value)
        self.send_header("Set-Cookie", "front_session=abc")
        self.send_header("X-Internal", "do-not-pass")
        for name, value in front.extra_headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # Pooled keep-alive connections are reset when a test's server stops; that is expected.
        return


@pytest.fixture
def echo_front(settings) -> Iterator[EchoFront]:
    """Front's API base pointed at a recording stand-in on 127.0.0.1."""
    front = EchoFront()
    handler = type("Echo", (EchoHandler,), {"front": front})
    server = QuietServer(("127.0.0.1", 0), handler)
    front.url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.FRONT_API_URL = front.url
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield front
    server.shutdown()
    server.server_close()
