"""Where a webhook may go: every address a host resolves to is checked, at delivery too."""

import ipaddress
import socket

import pytest

from app.webhooks.http import TargetRefused, check_url, post, refused_address, resolve


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "100.64.0.1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert refused_address(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert refused_address(ipaddress.ip_address(address)) is None


async def test_a_name_that_resolves_to_loopback_is_refused_and_nothing_is_sent() -> None:
    # A real listening socket on loopback: a delivery must not reach it.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        with pytest.raises(TargetRefused, match="loopback"):
            await resolve("localhost", port, allow_private=False)
        with pytest.raises(TargetRefused, match="loopback"):
            await post(f"http://localhost:{port}/x", b"{}", {}, allow_private=False, timeout_s=2)
        with pytest.raises(BlockingIOError):
            listener.accept()  # no connection was made
    finally:
        listener.close()


def test_only_plain_http_urls_without_credentials_are_taken() -> None:
    assert check_url("https://hooks.example/a?b=1") == ("https", "hooks.example", 443, "/a?b=1")
    for bad in ("ftp://x/y", "https://", "https://u:p@x/y", "https://x/a b", "x" * 2001):
        with pytest.raises(TargetRefused):
            check_url(bad)
