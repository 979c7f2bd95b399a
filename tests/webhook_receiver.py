"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 (its own thread), answering
each POST with the next status of a script, and the Standard Webhooks check of what came."""

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook


class Received:
    def __init__(self, headers: dict[str, str], body: bytes, status: int) -> None:
        self.headers = headers
        self.body = body
        self.status = status  # what the receiver answered (0: it never answered)

    @property
    def msg_id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.script: list[int] = []  # statuses to answer next, in order; then `default`
        self.default = 200
        self.hang = threading.Event()  # set: requests get no answer until it is cleared
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    status = receiver.script.pop(0) if receiver.script else receiver.default
                    hanging = receiver.hang.is_set()
                    item = Received(headers, body, 0 if hanging else status)
                    receiver.requests.append(item)
                if hanging:
                    while receiver.hang.is_set():
                        time.sleep(0.05)
                    return  # never answered: the connection just ends
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.hang.clear()
        self.server.shutdown()
        self.server.server_close()

    def answered(self, ok: bool = True) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if (200 <= r.status < 300) == ok and r.status]

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every request's payload, each checked with the standardwebhooks library."""
        wh = Webhook(secret)
        with self.lock:
            items = list(self.requests)
        return [wh.verify(r.body, r.headers) for r in items]


async def wait_until(test: Callable[[], bool], timeout: float = 20, what: str = "") -> None:
    import asyncio

    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or test}")
        await asyncio.sleep(0.05)
