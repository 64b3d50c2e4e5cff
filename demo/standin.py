"""A small stand-in for Front on 127.0.0.1: authorize page, token endpoint and GET /me.

The tests use it in place of Front (``tests/front_standin.py`` holds their fixtures) and so
does ``make demo`` (the ``rundemo`` command), so the demo shows what the tests prove.

It behaves like Front where FrontConnect depends on it: Basic client authentication, codes
redeemed once with the same redirect URI and PKCE verifier, refresh tokens that rotate on every
refresh and are refused when reused (``invalid_grant``), and ``expires_at`` in Unix seconds.

``GET /me`` can also be slow (``me_latency``) and rate limited per company as Front is
(``rate_limit`` requests per ``rate_window`` seconds, advertised in ``x-ratelimit-*`` headers,
429 with ``retry-after`` beyond it); it counts 429s and the peak of concurrent requests per company.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

COMPANY_ID = "cmp_standin"
COMPANY_NAME = "Stand-in Paper Company"


@dataclass
class StandinFront:
    """The stand-in's state; tests read the counters and may seed tokens."""

    client_id: str
    client_secret: str
    url: str = ""
    refresh_delay: float = 0.0
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    issued_codes: list[str] = field(default_factory=list)
    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)
    api_tokens: set[str] = field(default_factory=set)
    token_requests: list[str] = field(default_factory=list)
    me_requests: int = 0
    me_latency: float = 0.0
    # Seconds GET /me waits before it even looks at the token (a slow answer, 401 included).
    me_answer_delay: float = 0.0
    # API token -> (company id, company name); tokens not listed belong to the default company.
    companies: dict[str, tuple[str, str]] = field(default_factory=dict)
    rate_limit: int | None = None
    rate_window: float = 60.0
    windows: dict[str, tuple[float, int]] = field(default_factory=dict)
    too_many: int = 0
    in_flight: dict[str, int] = field(default_factory=dict)
    peak_in_flight: dict[str, int] = field(default_factory=dict)
    # Benchmarks: any token "<prefix><company>.<n>" is valid and belongs to <company>, and
    # /_standin/stats and /_standin/reset report and clear the counters.
    token_prefix: str | None = None
    control: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def authorize_url(self) -> str:
        return self.url + "/oauth/authorize"

    @property
    def token_url(self) -> str:
        return self.url + "/oauth/token"

    def issue(self) -> dict[str, object]:
        """Mint a token pair as the token endpoint would."""
        access, refresh = "at-" + secrets.token_urlsafe(16), "rt-" + secrets.token_urlsafe(16)
        with self.lock:
            self.access_tokens.add(access)
            self.refresh_tokens.add(refresh)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_at": int(time.time()) + 3600,
        }

    def refresh_count(self) -> int:
        return self.token_requests.count("refresh_token")

    def company_of(self, token: str) -> tuple[str, str] | None:
        """The company a token belongs to, or None when the stand-in does not know the token."""
        if self.token_prefix and token.startswith(self.token_prefix):
            company = token.removeprefix(self.token_prefix).split(".")[0]
            return company, f"Company {company}"
        if token not in self.access_tokens and token not in self.api_tokens:
            return None
        return self.companies.get(token, (COMPANY_ID, COMPANY_NAME))

    def stats(self) -> dict[str, object]:
        with self.lock:
            return {
                "me_requests": self.me_requests,
                "too_many": self.too_many,
                "peak_in_flight": dict(self.peak_in_flight),
            }

    def reset(self) -> None:
        """Clear the counters and start every company's rate window afresh."""
        with self.lock:
            self.me_requests = self.too_many = 0
            self.windows.clear()
            self.peak_in_flight.clear()

    def rate_headers(self, company: str) -> tuple[int, dict[str, str]]:
        """Count one request on the company's window: (status, rate-limit headers) to answer."""
        if self.rate_limit is None:
            return 200, {}
        now = time.time()
        with self.lock:
            start, count = self.windows.get(company, (now, 0))
            if now >= start + self.rate_window:
                start, count = now, 0
            count += 1
            self.windows[company] = (start, count)
            if count > self.rate_limit:
                self.too_many += 1
        reset = start + self.rate_window
        headers = {
            "x-ratelimit-limit": str(self.rate_limit),
            "x-ratelimit-remaining": str(max(0, self.rate_limit - count)),
            "x-ratelimit-reset": f"{reset:.0f}",
        }
        if count > self.rate_limit:
            headers["retry-after"] = f"{max(1, int(reset - now + 0.999))}"
            return 429, headers
        return 200, headers


class Handler(BaseHTTPRequestHandler):
    front: StandinFront

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Mapping[str, object], **headers: str) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", **headers)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/oauth/authorize":
            self._authorize_page(query)
        elif parts.path == "/oauth/decide":
            self._decide(query)
        elif parts.path == "/me":
            self._me()
        elif parts.path == "/_standin/stats" and self.front.control:
            self._json(200, self.front.stats())
        else:
            self._json(404, {"_error": {"status": 404, "title": "Not found", "message": "Nope"}})

    def do_POST(self) -> None:
        if urlsplit(self.path).path == "/_standin/reset" and self.front.control:
            self.front.reset()
            self._json(200, {})
            return
        if urlsplit(self.path).path != "/oauth/token":
            self._json(404, {"_error": {"status": 404, "title": "Not found"}})
            return
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        self._token(form)

    def _authorize_page(self, query: dict[str, str]) -> None:
        front = self.front
        if query.get("client_id") != front.client_id or query.get("response_type") != "code":
            self._send(400, b"<p>Unknown app</p>", "text/html")
            return
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
        )
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>Authorize the app? · Front stand-in</title></head><body>"
            "<header><p><strong>Front stand-in</strong>: not the real Front. Nothing here "
            "leaves this machine.</p></header><main><h1>Authorize the app?</h1>"
            "<p>FrontConnect asks to use this company's Front account. Only a Front company "
            "admin can accept.</p>"
            f'<form action="/oauth/decide" method="get">{hidden}'
            '<button name="decision" value="accept">Accept</button> '
            '<button name="decision" value="deny">Deny</button></form></main></body></html>'
        )
        self._send(200, page.encode(), "text/html; charset=utf-8")

    def _decide(self, query: dict[str, str]) -> None:
        params = {"state": query.get("state", "")}
        if query.get("decision") == "accept":
            code = "code-" + secrets.token_urlsafe(16)
            with self.front.lock:
                self.front.codes[code] = query
                self.front.issued_codes.append(code)
            params["code"] = code
        else:
            params["error"] = "access_denied"
        self._send(302, b"", "text/plain", Location=query["redirect_uri"] + "?" + urlencode(params))

    def _client_ok(self) -> bool:
        # As a conforming server (RFC 6749 2.3.1): both halves are form-urlencoded inside Basic.
        header = self.headers.get("Authorization", "")
        try:
            decoded = base64.b64decode(header.removeprefix("Basic "), validate=True).decode()
        except ValueError:
            return False
        client_id, _, secret = decoded.partition(":")
        expected = (self.front.client_id, self.front.client_secret)
        return (
            header.startswith("Basic ")
            and (unquote_plus(client_id), unquote_plus(secret)) == expected
        )

    def _token(self, form: dict[str, str]) -> None:
        front = self.front
        grant = form.get("grant_type", "")
        with front.lock:
            front.token_requests.append(grant)
        if not self._client_ok():
            self._json(401, {"error": "invalid_client"})
            return
        if grant == "authorization_code":
            with front.lock:
                request = front.codes.pop(form.get("code", ""), None)
            if request is None or request.get("redirect_uri") != form.get("redirect_uri"):
                self._json(400, {"error": "invalid_grant"})
                return
            challenge = request.get("code_challenge")
            if challenge:
                digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge:
                    self._json(400, {"error": "invalid_grant"})
                    return
        elif grant == "refresh_token":
            time.sleep(front.refresh_delay)
            with front.lock:
                known = form.get("refresh_token", "") in front.refresh_tokens
                front.refresh_tokens.discard(form.get("refresh_token", ""))
            if not known:
                self._json(400, {"error": "invalid_grant"})
                return
        else:
            self._json(400, {"error": "unsupported_grant_type"})
            return
        self._json(200, front.issue())

    def _me(self) -> None:
        front = self.front
        with front.lock:
            front.me_requests += 1
        time.sleep(front.me_answer_delay)
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        company = front.company_of(token)
        if company is None:
            self._json(
                401,
                {"_error": {"status": 401, "title": "Unauthenticated", "message": "JWT error"}},
            )
            return
        company_id, name = company
        with front.lock:
            front.in_flight[company_id] = front.in_flight.get(company_id, 0) + 1
            peak = max(front.peak_in_flight.get(company_id, 0), front.in_flight[company_id])
            front.peak_in_flight[company_id] = peak
        try:
            time.sleep(front.me_latency)
            status, headers = front.rate_headers(company_id)
        finally:
            with front.lock:
                front.in_flight[company_id] -= 1
        if status == 429:
            message = "Rate limit exceeded. Please retry later."
            body = {"_error": {"status": 429, "title": "Too many requests", "message": message}}
            self._json(429, body, **headers)
            return
        payload = {"_links": {"self": front.url + "/me"}, "id": company_id, "name": name}
        self._json(200, payload, **headers)


class StandinServer(ThreadingHTTPServer):
    # Many concurrent checks connect at once: a deep backlog avoids SYN retries of a second.
    request_queue_size = 256
    daemon_threads = True


def standin_serve(front: StandinFront, port: int = 0) -> ThreadingHTTPServer:
    """Serve ``front`` on 127.0.0.1 (``port``, or a free one) in a background thread.

    Sets ``front.url``. Only the loopback address: nothing outside this machine reaches it.
    """
    handler = type("StandinHandler", (Handler,), {"front": front})
    server = StandinServer(("127.0.0.1", port), handler)
    front.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    """Serve a stand-in for benchmarks: ``python -m demo.standin --latency 0.1 ...``."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per GET /me")
    parser.add_argument("--rate-limit", type=int, default=200, help="requests per company window")
    parser.add_argument("--window", type=float, default=60.0, help="rate window in seconds")
    parser.add_argument("--token-prefix", default="bench.", help="tokens that are valid")
    args = parser.parse_args()
    front = StandinFront(
        client_id="bench",
        client_secret="bench",  # nosec B106
        me_latency=args.latency,
        rate_limit=args.rate_limit,
        rate_window=args.window,
        token_prefix=args.token_prefix,
        control=True,
    )
    server = standin_serve(front)
    print(front.url, flush=True)
    try:
        sys.stdin.read()  # serve until the parent closes our stdin
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
