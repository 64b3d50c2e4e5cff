"""Where a webhook may call: public https addresses only, checked on save and again at send time.

On save, ``webhook_url_validate`` checks the URL's form: https, a host name, no ``user:password@``,
no literal address or name that is internal by definition. At send time ``destination_resolve``
resolves the host once and refuses it unless every address it resolves to is public; the call
then connects to that checked address itself (``PinnedAddressAdapter``), so a DNS answer that
changes between the check and the connection (rebinding) cannot move it to an internal service,
while the Host header, SNI and the certificate check still use the host name.

``FRONTCONNECT_WEBHOOKS_ALLOW_LOOPBACK`` (development and tests only, off by default) also allows
loopback addresses, over http or https.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that never leave the machine or the site, whatever DNS says about them.
LOCAL_NAMES = ("localhost",)
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan")
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")

# What the delivery log says: fixed sentences, so it never tells which ports or hosts answer.
# Recorded on the delivery as codes (common.wording, alerts.wording).
REFUSED_NOT_PUBLIC = "delivery.not_public"
REFUSED_URL = "delivery.url_refused"
NOT_RESOLVED = "delivery.not_resolved"

ERROR_MESSAGES = {
    "webhook_url_insecure": _(
        "Enter an https:// URL: webhooks carry connection names and statuses, so they are "
        "never sent unencrypted."
    ),
    "webhook_url_userinfo": _(
        "Remove the user name and password (user:password@) from the URL: the receiver checks "
        "each call's signature instead."
    ),
    "webhook_url_not_public": _(
        "Enter the URL of a public address: webhooks never call private, loopback, link-local "
        "or other internal addresses."
    ),
    "webhook_url_invalid": _("Enter a valid URL with a host name."),
}


class DestinationRefused(Exception):
    """The URL may not be called; its argument is the code of the delivery log's sentence."""


@dataclass(frozen=True)
class Destination:
    host: str
    address: str


def loopback_allowed() -> bool:
    """True under FRONTCONNECT_WEBHOOKS_ALLOW_LOOPBACK (development and tests only)."""
    return bool(settings.FRONTCONNECT_WEBHOOKS_ALLOW_LOOPBACK)


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), else itself."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_is_public(address: IPAddress) -> bool:
    """True for a globally routable unicast address, checking an embedded IPv4 one too."""
    for candidate in {address, _embedded_ipv4(address)}:
        if (
            not candidate.is_global
            or candidate.is_private
            or candidate.is_loopback
            or candidate.is_link_local
            or candidate.is_multicast
            or candidate.is_reserved
            or candidate.is_unspecified
        ):
            return False
    return True


def _address_allowed(address: IPAddress) -> bool:
    if address_is_public(address):
        return True
    return loopback_allowed() and _embedded_ipv4(address).is_loopback


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_loopback_name(host: str) -> bool:
    literal = _literal(host)
    if literal is not None:
        return _embedded_ipv4(literal).is_loopback
    return host == "localhost" or host.endswith(".localhost")


def _refuse(code: str) -> ValidationError:
    return ValidationError(ERROR_MESSAGES[code], code=code)


def webhook_url_validate(url: str) -> None:
    """Refuse a webhook URL that is not https to a public host (raises ValidationError)."""
    parts = urlsplit(str(url))
    try:
        host = (parts.hostname or "").rstrip(".").lower()
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number
    except ValueError:
        raise _refuse("webhook_url_invalid") from None
    if parts.scheme not in ("https", "http"):
        raise _refuse("webhook_url_insecure")
    if "@" in parts.netloc:
        raise _refuse("webhook_url_userinfo")
    if not host:
        raise _refuse("webhook_url_invalid")
    if loopback_allowed() and _is_loopback_name(host):
        return
    if parts.scheme != "https":
        raise _refuse("webhook_url_insecure")
    literal = _literal(host)
    if literal is not None and not address_is_public(literal):
        raise _refuse("webhook_url_not_public")
    if literal is None and (
        "." not in host or host in LOCAL_NAMES or host.endswith(LOCAL_SUFFIXES)
    ):
        raise _refuse("webhook_url_not_public")


def _resolve(host: str, port: int) -> list[str]:
    """Every address the host name resolves to (the one DNS lookup of a call)."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def destination_resolve(url: str) -> Destination:
    """Check the URL, resolve its host once and pick the address to connect to.

    Raises DestinationRefused unless every address the host resolves to is allowed.
    """
    try:
        webhook_url_validate(url)
    except ValidationError:
        raise DestinationRefused(REFUSED_URL) from None
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = _resolve(host, port)
    except (OSError, UnicodeError):
        raise DestinationRefused(NOT_RESOLVED) from None
    addresses = []
    for text in found:
        address = _literal(text.split("%", 1)[0])
        if address is None or not _address_allowed(address):
            raise DestinationRefused(REFUSED_NOT_PUBLIC)
        addresses.append(address)
    if not addresses:
        raise DestinationRefused(NOT_RESOLVED)
    return Destination(host=host, address=str(addresses[0]))


class PinnedAddressAdapter(HTTPAdapter):
    """Connect to one checked address; the URL, Host header, SNI and certificate keep the name."""

    def __init__(self, destination: Destination) -> None:
        self.destination = destination
        super().__init__(max_retries=0)  # the Celery task retries, never the HTTP client

    def build_connection_pool_key_attributes(
        self, request: PreparedRequest, verify: bool | str, cert: Any = None
    ) -> Any:
        host_params, kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        host_params["host"] = self.destination.address
        pool_kwargs: dict[str, Any] = dict(kwargs)
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = self.destination.host
            pool_kwargs["assert_hostname"] = self.destination.host
        return host_params, pool_kwargs

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        # urllib3 would otherwise name the address it connects to in the Host header.
        request.headers["Host"] = urlsplit(request.url or "").netloc
        return super().send(request, *args, **kwargs)
