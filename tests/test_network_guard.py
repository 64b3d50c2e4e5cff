"""Issue 9 item 21: tests never reach outside 127.0.0.1, name lookups included."""

from __future__ import annotations

import socket

import pytest


def test_a_name_lookup_of_an_outside_host_is_refused_and_recorded(no_network):
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("api2.frontapp.com", 443)
    assert no_network == ["name lookup of api2.frontapp.com"]
    no_network.clear()  # recorded attempts fail the test at teardown; this one was on purpose


def test_a_connection_to_an_outside_address_is_refused_and_recorded(no_network):
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("192.0.2.1", 443))
    assert no_network == ["connection to 192.0.2.1"]
    no_network.clear()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1"])
def test_local_names_still_resolve(no_network, host):
    assert socket.getaddrinfo(host, 80)
    assert no_network == []
