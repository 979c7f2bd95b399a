"""Chromium's own EventSource follows the live feed from a Backchannel page, within the
page's Content-Security-Policy: a ticket instead of the token in the URL, events live with
``lastEventId`` = seq, and a new stream resumes with ``since`` (nothing lost or twice)."""

import httpx
import pytest

from tests.e2e.conftest import Pages, create_session

pytestmark = pytest.mark.browser

FOLLOW = """
async ([sid, token, since, until]) => {
  const r = await fetch(`/api/v1/sessions/${sid}/stream-tickets`,
    { method: "POST", headers: { authorization: `Bearer ${token}` } });
  const { url } = await r.json();
  const es = new EventSource(`${url}&since=${since}`);
  const seen = [];
  await new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error("timed out")), 10000);
    es.addEventListener("event", (m) => {
      const ev = JSON.parse(m.data).event;
      seen.push({ id: m.lastEventId, seq: ev.seq, kind: ev.kind, text: ev.body.text || null });
      if (ev.body.text === until) resolve();
    });
  });
  es.close();
  return seen;
}
"""


def test_chromiums_eventsource_follows_and_resumes_the_feed(pages: Pages) -> None:
    data = create_session(pages.server)
    sid, producer = data["session"]["id"], data["tokens"]["producer"]
    facilitator = data["tokens"]["facilitator"]

    def post(kind: str, text: str) -> None:
        r = httpx.post(
            f"{pages.server.url}/api/v1/sessions/{sid}/events",
            json={"kind": kind, "body": {"text": text}},
            headers={"Authorization": f"Bearer {producer}"},
        )
        assert r.status_code == 201, r.text

    page = pages.open("/")
    for text in ("one", "two"):
        post("message", text)
    post("note", "for designers only")
    first = page.evaluate(FOLLOW, [sid, facilitator, 0, "two"])
    post("message", "three")
    post("note", "hidden")
    post("message", "four")
    second = page.evaluate(FOLLOW, [sid, facilitator, int(first[-1]["id"]), "four"])
    seen = first + second
    assert [e["text"] for e in seen if e["kind"] == "message"] == ["one", "two", "three", "four"]
    assert all(e["id"] == str(e["seq"]) for e in seen)
    assert "note" not in {e["kind"] for e in seen}
    assert [e["seq"] for e in seen] == sorted({e["seq"] for e in seen})
