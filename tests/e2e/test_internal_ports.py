"""Rasa's HTTP API and the action server listen on loopback only: the action server takes any
tracker and calls the internal API with the service token, so reachable from the network it would
let anyone run an action (an agreement, say) for any conversation."""

from __future__ import annotations

import socket

import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e


def _outside_address() -> str | None:
    """An address of this machine that is not loopback (the one a route to elsewhere uses)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: UDP connect only picks a route
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("service", ["rasa", "actions"])
def test_internal_services_listen_on_loopback_only(stack: Stack, service: str) -> None:
    port = stack.internal_ports[service]
    assert _accepts("127.0.0.1", port)
    outside = _outside_address()
    assert outside is not None, "this machine has no non-loopback address to try"
    assert not _accepts(outside, port)
