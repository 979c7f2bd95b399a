"""uvicorn's WebSocket protocol, plus a way for the app to drop a connection at once.

ASGI has no call for that: ``websocket.close`` waits until the transport is writable and
queues the close frame behind every byte the peer has not read, and uvicorn's close timer
then *closes* the transport, which flushes first. A peer that stops reading would hold the
connection and its buffers for ever. ``backchannel serve`` runs this protocol, which puts
the transport's ``abort`` in the scope's extensions; ``Connection`` calls it when a closed
socket's peer has not taken the close frame in time. Under any other server the extension
is absent and closing works as before.
"""

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

ABORT_EXTENSION = "backchannel.abort"


class AbortableWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None and self.handshake_complete is False:
            # The app's task is created but has not run yet: it sees this scope complete.
            scope["extensions"][ABORT_EXTENSION] = {"abort": self.transport.abort}


def transport_abort(scope: Any) -> Any:
    """The scope's abort callable, or None when the server does not offer one."""
    extension = (scope.get("extensions") or {}).get(ABORT_EXTENSION)
    return extension.get("abort") if isinstance(extension, dict) else None
