"""What an open socket hears when the server shuts down, as docs/protocol.md says."""

import asyncio
import re
import signal

from tests.support import ROOT, Api, Client, Server


async def test_a_shutdown_closes_open_sockets_with_1012_as_the_protocol_documents(
    real_server: Server,
) -> None:
    """SIGTERM to a real process: uvicorn's shutdown, not the harness's."""
    server = real_server
    api = Api(server.url)
    session = await api.create_session()
    await api.close()
    clients = [Client(server.ws_url, session["tokens"][role]) for role in ("producer", "observer")]
    for c in clients:
        await c.connect()
    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)
    for c in clients:
        assert c._reader is not None
        await asyncio.wait_for(asyncio.shield(c._reader), 10)
    codes = {c.close_code for c in clients}
    assert codes == {1012}, codes
    # The close-code table of the protocol says the same, and a client knows to reconnect.
    table = (ROOT / "docs" / "protocol.md").read_text()
    row = re.search(r"^\| `1012` \|(.*)$", table, re.M)
    assert row is not None and "reconnect" in row.group(1), "docs/protocol.md: no 1012 row"
