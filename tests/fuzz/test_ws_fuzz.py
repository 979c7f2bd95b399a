"""A WebSocket frame fuzzer against a real server: random and malformed frames (garbage
bytes, binary, deep nesting, wrong types, lone surrogates, huge integers, mutated sends)
before and after ``hello``.

Every recoverable frame gets exactly one reply and the socket still answers a ping after it;
only the fatal cases the protocol names close it (a hello with a bad token: 4401; a text
frame that is not UTF-8: 1007). Nothing is stored but what the server acknowledged with
``sent``, and the server logs no traceback. Bounded: about 20 seconds."""

import asyncio
import json
import os
import random
import string
import uuid
from pathlib import Path
from typing import Any

import websockets

from tests.storage import snapshot
from tests.support import Api, Server

SEED = int(os.environ.get("BACKCHANNEL_FUZZ_SEED", random.randrange(2**32)))
FRAMES_BEFORE_HELLO = 400
FRAMES_AFTER_HELLO = 1500
MAX_FRAME = 16 * 1024
SAFE_MAX = 2**53 - 1

KINDS = {
    "prompt.time": {"text": "5 min left", "minutes_left": 5, "segment": 0},
    "flag.learner": {"learner": "Maria", "flag": "quiet", "text": "x", "minutes": 20},
    "alert.stop": {"reason": "problem", "text": "stop"},
    "alert.cancel": {"ref": 1},
    "message": {"text": "hello", "urgent": True},
    "note": {"text": "n", "tags": ["a", "b"]},
    "seen": {"ref": 1},
    "ack": {"ref": 1, "status": "done", "text": "ok", "minutes": 2},
    "reply": {"text": "ok", "ref": 1},
    "request": {"action": "poll", "text": "x"},
    "request.status": {"ref": 1, "status": "on_it"},
    "segment.start": {"index": 0},
    "segment.extend": {"index": 0, "minutes": 2},
    "session.start": {},
    "presence": {"participant_id": "p_x", "status": "online"},
    "alert.escalated": {"ref": 1, "level": 1},
}
NASTY_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x07\x1b[2J",
    "\u0085",
    "\u2028",
    "\ufeff",
    "\ud83d",
    "\udc00x",
    "x" * 600,
    "=HYPERLINK(1)",
    "auto:0:1:5",
    "esc:1:1",
    "presence:p:1",
    "sys:x",
    "resurface:3",
    "<script>alert(1)</script>",
    "é" * 90,
    "\U0001f600" * 10,
]
NASTY_NUMBERS: list[Any] = [
    -1,
    0,
    1,
    SAFE_MAX,
    SAFE_MAX + 1,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63),
    10**30,
    1.5,
    -0.0,
    1e308,
    True,
    None,
]


class Fuzz:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def value(self, depth: int = 0) -> Any:
        r = self.rng.random()
        if depth > 3 or r < 0.35:
            return self.rng.choice(NASTY_STRINGS)
        if r < 0.65:
            return self.rng.choice(NASTY_NUMBERS)
        if r < 0.8:
            return [self.value(depth + 1) for _ in range(self.rng.randrange(3))]
        return {self.rng.choice(NASTY_STRINGS[:12]): self.value(depth + 1) for _ in range(2)}

    def text_frame(self) -> str:
        """A text frame: mostly JSON-ish, built to be wrong in one way or several."""
        rng = self.rng
        pick = rng.randrange(12)
        if pick == 0:  # not JSON at all
            return "".join(rng.choice(string.printable) for _ in range(rng.randrange(1, 200)))
        if pick == 1:  # deep or unbalanced nesting
            depth = rng.choice([40, 500, 1100, 5000, MAX_FRAME // 2 - 10])
            return (
                rng.choice(["[", '{"a":'])[0] * depth
                if rng.random() < 0.5
                else ('{"type":"ping","t":' + "[" * depth + "]" * depth + "}")
            )
        if pick == 2:  # JSON that is not an object
            return json.dumps(self.value())
        if pick == 3:  # numbers JSON can spell but Python and JavaScript cannot hold
            digits = rng.choice([19, 20, 40, 400, 5000])
            return '{"type":"send","id":"n","kind":"alert.cancel","body":{"ref":1%s}}' % (
                "0" * digits
            )
        if pick == 4:  # NaN, Infinity and lone surrogates spelled as escapes
            return rng.choice(
                [
                    '{"type":"ping","t":NaN}',
                    '{"type":"send","id":"x","kind":"ack","body":{"ref":Infinity}}',
                    '{"type":"\\ud800"}',
                    '{"type":"send","id":"\\udfff","kind":"note","body":{"text":"a"}}',
                    '{"type":"send","id":"s1","kind":"note","body":{"text":"\\ud83d"}}',
                    '{"\\ud800":1,"type":"ping"}',
                ]
            )
        frame: dict[str, Any] = {"type": rng.choice(["send", "send", "ping", "subscribe", 5, None])}
        kind = rng.choice(list(KINDS))
        body = dict(KINDS[kind])
        for _ in range(rng.randrange(1, 4)):  # mutate the body: change, drop or add fields
            op = rng.random()
            if op < 0.5 and body:
                body[rng.choice(list(body))] = self.value()
            elif op < 0.7 and body:
                body.pop(rng.choice(list(body)))
            else:
                body[rng.choice(["extra", "text", "ref", "\ud800"])] = self.value()
        frame.update(
            {
                "id": rng.choice([str(uuid.uuid4()), *NASTY_STRINGS[:18], 7, [], None]),
                "kind": rng.choice([kind, kind, kind, self.value()]),
                "body": rng.choice([body, body, body, self.value()]),
            }
        )
        if rng.random() < 0.2:
            frame[rng.choice(["extra", "since", "token", "t"])] = self.value()
        return json.dumps(frame)

    def frame(self) -> str | bytes:
        if self.rng.random() < 0.1:  # a binary frame
            return bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 300)))
        text = self.text_frame()
        return text if len(text.encode("utf-8", "surrogatepass")) <= MAX_FRAME else text[:4000]


async def _reply(ws: Any) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), 10)))


async def _ping(ws: Any, mark: str, acknowledged: set[str]) -> None:
    """The socket still answers: the frames before our pong are replies to the fuzz (the
    ids acknowledged with ``sent`` are noted)."""
    await ws.send(json.dumps({"type": "ping", "t": mark}))
    while True:
        frame = await _reply(ws)
        if frame["type"] == "sent":
            acknowledged.add(frame["id"])
        if frame["type"] == "pong" and frame["t"] == mark:
            return


RESERVED = ("auto:", "esc:", "resurface:", "presence:", "sys:")


async def test_random_and_malformed_frames_never_break_the_server(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    fuzz = Fuzz(rng)
    srv = Server(
        tmp_path, env={"BACKCHANNEL_RATE_PER_S": "100000", "BACKCHANNEL_RATE_BURST": "100000"}
    ).start()
    api = Api(srv.url)
    acknowledged: set[str] = set()
    try:
        s = await api.create_session(
            title="Fuzz", agenda=[{"title": "One", "minutes": 10}], roster=["Maria"]
        )
        tokens = s["tokens"]
        before = await snapshot(srv.database_url)

        # Before hello: every frame that is not a hello gets one error frame, socket open.
        async with websockets.connect(srv.ws_url, max_size=2**22) as ws:
            for i in range(FRAMES_BEFORE_HELLO):
                frame = fuzz.frame()
                await ws.send(frame)
                reply = await _reply(ws)
                assert reply["type"] == "error", (SEED, i, frame[:200], reply)
            await ws.send(json.dumps({"type": "hello", "token": tokens["observer"]}))
            assert (await _reply(ws))["type"] == "welcome"

        # A hello with a token that is not one closes with 4401, whatever the token is.
        # (A token holding a huge integer or deep nesting is a malformed frame: an error.)
        for token in rng.sample([*NASTY_STRINGS, 5, None, [], {}, True, ["t"]], 10):
            async with websockets.connect(srv.ws_url) as ws:
                await ws.send(json.dumps({"type": "hello", "token": token, "since": 0}))
                try:
                    reply = await _reply(ws)
                    raise AssertionError(f"a hello with token {token!r} got {reply}")
                except websockets.ConnectionClosed as closed:
                    assert closed.rcvd is not None and closed.rcvd.code == 4401, (SEED, token)

        # A text frame that is not UTF-8 is a protocol error: 1007, and one log line.
        async with websockets.connect(srv.ws_url) as ws:
            await ws.send(b"\xed\xa0\x80\xff", text=True)
            try:
                await _reply(ws)
                raise AssertionError("a text frame that is not UTF-8 was accepted")
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 1007

        # After hello, for each role: a reply per frame, a pong after every few frames.
        for role in ("producer", "facilitator", "observer"):
            async with websockets.connect(srv.ws_url, max_size=2**22) as ws:
                await ws.send(json.dumps({"type": "hello", "token": tokens[role], "since": 0}))
                assert (await _reply(ws))["type"] == "welcome"
                for i in range(FRAMES_AFTER_HELLO // 3):
                    await ws.send(fuzz.frame())
                    if i % 5 == 4:
                        await _ping(ws, f"{role}-{i}", acknowledged)
                await _ping(ws, f"{role}-end", acknowledged)
    finally:
        await api.close()
        srv.stop()

    # Nothing was stored but what was acknowledged (and the presence of the sockets).
    after = await snapshot(srv.database_url)
    assert after["sessions"][0][:3] == before["sessions"][0][:3]
    assert after["participants"] == before["participants"]
    # The server's own events (presence, escalations) carry its reserved ids.
    stored = {row[2] for row in after["events"] if not row[2].startswith(RESERVED)}
    assert stored == acknowledged, (SEED, stored ^ acknowledged)
    log = srv.log_text()
    assert "Traceback" not in log and "ERROR" not in log, (SEED, log[-4000:])
