"""Issue 15 item 5: webhooks call public https addresses only, checked on save and at send time."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import requests
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError

from alerts import destinations
from alerts.destinations import Destination, PinnedAddressAdapter, webhook_url_validate
from alerts.forms import WebhookForm
from alerts.models import Webhook, WebhookDelivery
from tests.alerts.test_webhooks import SIGNING_SECRET

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]

INTERNAL_URLS = [
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.5/hook",
    "https://127.0.0.1:6379/",
    "http://127.0.0.1:8080/hook",
    "http://localhost:8080/hook",
    "https://localhost/hook",
    "https://[::1]/hook",
    "https://[::ffff:10.0.0.5]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[64:ff9b::a00:5]/hook",
    "https://[2002:a00:5::1]/hook",
    "https://[fe80::1]/hook",
    "https://[fd00::1]/hook",
    "https://0.0.0.0/hook",
    "https://100.64.0.1/hook",
    "https://192.168.1.1/hook",
    "https://224.0.0.1/hook",
    "https://255.255.255.255/hook",
    "https://intranet/hook",
    "https://db.internal/hook",
    "https://printer.local/hook",
    "https://app.localhost/hook",
    "http://hooks.example.com/hook",
]


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_in_production_internal_and_plain_http_urls_are_refused_on_save(settings, url):
    settings.FRONTCONNECT_WEBHOOKS_ALLOW_LOOPBACK = False
    with pytest.raises(ValidationError) as info:
        webhook_url_validate(url)
    assert info.value.code in ("webhook_url_not_public", "webhook_url_insecure")


@pytest.mark.parametrize(
    "url",
    ["https://user:PW-SECRET-9@hooks.example.com/x", "https://PW-SECRET-9@hooks.example.com/x"],
)
def test_userinfo_is_refused_with_a_clear_message(settings, url):
    form = WebhookForm(
        data={
            "name": "Pager",
            "url": url,
            "events": ["connection.status_changed"],
            "statuses": ["offline"],
            "signing_secret": "s" * 30,
        }
    )
    assert not form.is_valid()
    assert form.errors["url"] == [destinations.ERROR_MESSAGES["webhook_url_userinfo"]]
    assert "PW-SECRET-9" not in str(form.errors)


def test_the_admin_form_explains_an_internal_address(settings):
    settings.FRONTCONNECT_WEBHOOKS_ALLOW_LOOPBACK = False
    form = WebhookForm(
        data={
            "name": "Pager",
            "url": "https://169.254.169.254/latest",
            "events": ["connection.status_changed"],
            "statuses": ["offline"],
            "signing_secret": "s" * 30,
        }
    )
    assert not form.is_valid()
    assert form.errors["url"] == [destinations.ERROR_MESSAGES["webhook_url_not_public"]]


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/x?key=1",
        "https://93.184.215.14:8443/x",
        "https://[2606:4700::1]/",
    ],
)
def test_public_https_urls_pass_on_save(settings, url):
    settings.FRONTCONNECT_WEBHOOKS_ALLOW_LOOPBACK = False
    webhook_url_validate(url)


def test_loopback_is_for_development_only_and_off_by_default():
    assert django_settings.FRONTCONNECT_WEBHOOKS_ALLOW_LOOPBACK is False


@pytest.fixture
def public_webhook(settings) -> Webhook:
    settings.FRONTCONNECT_WEBHOOKS_ALLOW_LOOPBACK = False
    hook = Webhook(name="Pager", url="https://hooks.example.com/in/T0KEN-PATH?key=QUERY-SECRET")
    hook.secret = SIGNING_SECRET
    hook.save()
    return hook


@pytest.fixture
def resolves(monkeypatch) -> Iterator[dict[str, list[str]]]:
    """What the mocked DNS answers, by name; every lookup is recorded under "asked"."""
    answers: dict[str, list[str]] = {"asked": []}

    def resolve(host: str, port: int) -> list[str]:
        answers["asked"].append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "unknown")
        return answers[host]

    monkeypatch.setattr(destinations, "_resolve", resolve)
    yield answers


@pytest.mark.parametrize(
    "addresses",
    [
        ["10.0.0.5"],
        ["169.254.169.254"],
        ["127.0.0.1"],
        ["::ffff:127.0.0.1"],
        ["::ffff:10.0.0.5"],
        ["fd00::1"],
        ["0.0.0.0"],
        ["93.184.215.14", "192.168.0.10"],  # one internal answer among public ones is enough
    ],
)
def test_a_name_resolving_to_an_internal_address_is_refused_at_send_time_and_not_retried(
    public_webhook, resolves, go_offline, addresses
):
    resolves["hooks.example.com"] = addresses

    go_offline()

    delivery = WebhookDelivery.objects.get()
    assert delivery.error == "refused: not a public address"
    assert delivery.attempts == 1 and delivery.http_status is None
    assert resolves["asked"] == ["hooks.example.com"]


def test_a_name_that_does_not_resolve_is_a_sentence(public_webhook, resolves, go_offline):
    go_offline()
    delivery = WebhookDelivery.objects.get()
    assert delivery.error == "could not resolve the host name"


def test_the_call_connects_to_the_checked_address_with_one_lookup(
    settings, receiver, resolves, go_offline
):
    settings.FRONTCONNECT_WEBHOOKS_ALLOW_LOOPBACK = True
    port = receiver.url.split(":")[2].split("/")[0]
    hook = Webhook(name="Pager", url=f"http://localhost:{port}/hook")
    hook.secret = SIGNING_SECRET
    hook.save()
    resolves["localhost"] = ["127.0.0.1"]

    go_offline()

    ((headers, _body),) = receiver.calls
    assert headers["Host"] == f"localhost:{port}"
    assert resolves["asked"] == ["localhost"]  # urllib3 never looked the name up again
    assert WebhookDelivery.objects.get().delivered_at is not None


def test_the_pinned_adapter_connects_to_the_address_and_keeps_the_name(receiver):
    port = int(receiver.url.split(":")[2].split("/")[0])
    with requests.Session() as session:
        session.trust_env = False
        session.mount(
            "http://", PinnedAddressAdapter(Destination("hooks.example.test", "127.0.0.1"))
        )
        # The network guard would refuse (and record) any lookup of hooks.example.test.
        response = session.post(f"http://hooks.example.test:{port}/hook", data=b"{}", timeout=5)
    assert response.status_code == 204
    assert receiver.calls[0][0]["Host"] == f"hooks.example.test:{port}"


def test_https_keeps_sni_and_the_certificate_check_on_the_host_name():
    adapter = PinnedAddressAdapter(Destination("hooks.example.com", "93.184.215.14"))
    request = requests.Request("POST", "https://hooks.example.com/in").prepare()
    host_params, pool_kwargs = adapter.build_connection_pool_key_attributes(request, True)
    assert host_params["host"] == "93.184.215.14"
    assert pool_kwargs["server_hostname"] == "hooks.example.com"
    assert pool_kwargs["assert_hostname"] == "hooks.example.com"
    assert pool_kwargs["cert_reqs"] == "CERT_REQUIRED"


@pytest.fixture
def banner_port() -> Iterator[int]:
    """A local service that is not HTTP: it sends a banner and hangs up."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.6 internal-db-7\r\n")

    threading.Thread(target=serve, daemon=True).start()
    yield port
    server.close()


def test_the_delivery_log_does_not_work_as_a_port_scanner(settings, banner_port, go_offline):
    settings.FRONTCONNECT_WEBHOOKS_ALLOW_LOOPBACK = True
    open_port = Webhook(name="Open", url=f"http://127.0.0.1:{banner_port}/x")
    closed_port = Webhook(name="Closed", url="http://127.0.0.1:1/x")
    for hook in (open_port, closed_port):
        hook.secret = SIGNING_SECRET
        hook.save()

    go_offline()

    errors = {d.webhook.name: d.error for d in WebhookDelivery.objects.select_related("webhook")}
    # The same sentence whether a service listens (and what it says) or nothing does.
    assert errors == {"Open": "could not connect", "Closed": "could not connect"}
