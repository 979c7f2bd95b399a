"""The live feed read by a standard EventSource (node's, the WHATWG one browsers have)
against a live server: tickets, ``lastEventId`` = seq, resume with nothing lost or twice."""

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support import Server

SCRIPT = Path(__file__).parent / "node" / "eventsource_feed.mjs"


def test_an_eventsource_follows_the_feed_and_resumes_where_it_stopped(
    real_server: Server,
) -> None:
    node = shutil.which("node")
    assert node, "node is needed for this test (make debian-packages)"
    r = httpx.post(
        real_server.url + "/api/v1/sessions",
        json={"title": "EventSource", "agenda": [{"title": "Open", "minutes": 10}]},
    )
    assert r.status_code == 201, r.text
    s = r.json()
    done = subprocess.run(
        [
            node,
            "--experimental-eventsource",
            "--no-warnings",
            str(SCRIPT),
            real_server.url,
            s["session"]["id"],
            s["tokens"]["producer"],
            s["tokens"]["facilitator"],
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    first, second = out["first"], out["second"]
    assert first["welcome"]["you"]["role"] == "facilitator" and first["states"] >= 1
    for part in (first, second):
        assert part["ids"] == [str(e["seq"]) for e in part["events"]]  # lastEventId = seq
        assert "note" not in {e["kind"] for e in part["events"]}
    texts = [
        e["body"]["text"] for e in first["events"] + second["events"] if e["kind"] == "message"
    ]
    assert texts == ["m1", "m2", "m3", "m4"]
    seqs = [e["seq"] for e in first["events"] + second["events"]]
    assert seqs == sorted(set(seqs))


pytestmark = pytest.mark.timeout(120)
