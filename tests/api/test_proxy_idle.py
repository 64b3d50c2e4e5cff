"""A proxied answer that the client stops reading is abandoned after the idle time."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from api.models import ProxySlot
from frontconnect.wsgi import application
from tests.api.conftest import QuietServer

pytestmark = pytest.mark.django_db

BIG = 32 * 1024 * 1024


class BigAnswer(BaseHTTPRequestHandler):
    """Front answering a large download, written as fast as the proxy reads it."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(BIG))
        self.end_headers()
        block = b"x" * 65536
        try:
            for _ in range(BIG // len(block)):
                self.wfile.write(block)
        except OSError:
            return  # the proxy gave up the download


@pytest.fixture
def big_front(settings) -> Iterator[str]:
    server = QuietServer(("127.0.0.1", 0), BigAnswer)
    server.daemon_threads = True
    settings.FRONT_API_URL = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield settings.FRONT_API_URL
    server.shutdown()
    server.server_close()


@pytest.fixture
def test_transaction_kept():
    """The test's transaction outlives the requests' start and end, as in Django's test client."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_a_client_that_stops_reading_is_abandoned_after_the_idle_time(
    big_front, full_key, token_connection, settings, test_transaction_kept
):
    settings.FRONTCONNECT_CLIENT_IDLE_TIMEOUT = 0.2
    server_side, client_side = socket.socketpair()
    environ: dict[str, object] = {
        "PATH_INFO": f"/api/v1/connections/{token_connection.pk}/front/files/big",
        "HTTP_AUTHORIZATION": f"Bearer {full_key.plaintext}",
        # gunicorn passes the client's socket on; the client never reads from it.
        "gunicorn.socket": server_side,
    }
    setup_testing_defaults(environ)
    statuses: list[str] = []
    # Without the idle timeout the write below would wait forever: a watchdog ends the wait by
    # closing the client's end, which shows as a broken pipe instead of a timeout.
    watchdog = threading.Timer(20, client_side.close)
    watchdog.start()
    answer = application(environ, lambda status, headers: statuses.append(status))
    sent = 0
    try:
        with pytest.raises(TimeoutError):
            # What gunicorn's threaded worker does with each chunk.
            for chunk in answer:
                server_side.sendall(chunk)
                sent += len(chunk)
    finally:
        watchdog.cancel()
        answer.close()  # gunicorn closes the answer whatever happened
        server_side.close()
        client_side.close()
    assert statuses == ["200 OK"]
    assert 0 < sent < BIG
    # The abandoned call freed its slot.
    assert not ProxySlot.objects.exclude(holder="").exists()
