"""One webhook POST, to a public address only.

The host is resolved here and every address it resolves to is checked: loopback, private,
link-local, multicast, reserved and unspecified ones are refused (SSRF) unless the operator
allows private targets. The connection then goes to an address that was checked (never a
second resolution a rebinding DNS could answer differently), with the URL's host name in
``Host`` and, for HTTPS, in SNI and the certificate check. Redirects are not followed.
"""

import asyncio
import contextlib
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

MAX_URL = 2000
RESPONSE_HEAD_MAX = 16 * 1024

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DeliveryError(Exception):
    """The request could not be made or answered (the message says why, for the log)."""


class TargetRefused(DeliveryError):
    """The URL is not one webhooks may be sent to."""


def check_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of a URL a webhook may use, or TargetRefused."""
    if len(url) > MAX_URL:
        raise TargetRefused(f"the URL is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("the URL must start with https:// or http://")
    host = parts.hostname
    if not host:
        raise TargetRefused("the URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("the URL must not hold a user name or password")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise TargetRefused("the URL holds spaces or control characters")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path


def refused_address(address: IPAddress) -> str | None:
    """Why an address is no public target (None: it is one)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for test, what in (
        (address.is_unspecified, "an unspecified"),
        (address.is_loopback, "a loopback"),
        (address.is_link_local, "a link-local"),
        (address.is_multicast, "a multicast"),
        (address.is_private, "a private"),
        (address.is_reserved, "a reserved"),
    ):
        if test:
            return f"{address}, {what} address"
    if not address.is_global:  # shared (100.64/10, cloud metadata), documentation, …
        return f"{address}, a non-public address"
    return None


async def resolve(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Every address ``host`` resolves to, each checked; TargetRefused if any is refused."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), 10
            )
        except (OSError, TimeoutError) as exc:
            raise DeliveryError(f"cannot resolve {host} ({exc})") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise DeliveryError(f"{host} resolves to no address")
    if not allow_private:
        for a in addresses:
            why = refused_address(ipaddress.ip_address(a.split("%")[0]))
            if why is not None:
                where = why if literal is not None else f"{host} resolves to {why}"
                raise TargetRefused(f"{where}; webhooks go to public addresses only")
    return addresses


async def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    timeout_s: float,
) -> int:
    """POST ``body`` and return the response's status code (DeliveryError: none came)."""
    scheme, host, port, path = check_url(url)
    addresses = await resolve(host, port, allow_private=allow_private)
    context = ssl.create_default_context() if scheme == "https" else None
    default_port = 443 if scheme == "https" else 80
    host_header = host if ":" not in host else f"[{host}]"
    if port != default_port:
        host_header += f":{port}"
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {host_header}",
        "User-Agent: Backchannel-Webhooks/1",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(
                addresses[0],
                port,
                ssl=context,
                server_hostname=host if context is not None else None,
            )
            try:
                writer.write(request)
                await writer.drain()
                status_line = await reader.readline()
                # The rest of the head, so the peer is not reset while it still writes.
                with contextlib.suppress(Exception):
                    await reader.readuntil(b"\r\n\r\n")
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
    except TimeoutError:
        raise DeliveryError(f"no answer within {timeout_s:g} s") from None
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300]) from None
    parts = status_line.decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise DeliveryError("the answer was not HTTP")
    return int(parts[1])
