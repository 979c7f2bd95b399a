"""One spec per kind (app/models/kinds.py): the sets derived from it, and web/kinds.json."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

from app.fold import _HANDLERS, STATE_KINDS
from app.log import AFTER_END, REF_TARGETS
from app.models.kinds import (
    FACILITATOR,
    HIDDEN,
    KINDS,
    SPECS,
    Body,
    KindSpec,
    enum_values,
    pages_json,
)
from app.report import TRACKED
from app.scheduler import WAKE_KINDS

ROOT = Path(__file__).resolve().parents[2]
KINDS_JSON = ROOT / "web" / "kinds.json"


def missing_words(kinds: dict[str, Any], specs: dict[str, KindSpec]) -> list[str]:
    """Every value a body field may take that the pages have no words for (``kinds``: the
    ``kinds`` of web/kinds.json), and every word left for a value that is no more."""
    out: list[str] = []
    for kind, spec in specs.items():
        page = kinds.get(kind)
        if page is None:
            out.append(f"{kind}: not in web/kinds.json")
            continue
        for name in ("label", "icon", "tone"):
            if not page.get(name):
                out.append(f"{kind}: no {name}")
        enums = enum_values(spec.body)
        words = page.get("words", {})
        for name, values in enums.items():
            have = words.get(name, {})
            out += [f"{kind}.{name}={v}: no words" for v in values if not have.get(v)]
            out += [f"{kind}.{name}={v}: words for no value" for v in set(have) - set(values)]
        out += [f"{kind}.{name}: words for no enum" for name in set(words) - set(enums)]
    return out


def test_web_kinds_json_is_generated_from_the_specs_and_checked_in() -> None:
    assert KINDS_JSON.read_text(encoding="utf-8") == pages_json(), (
        "web/kinds.json is out of date: run `backchannel kinds`"
    )


def test_the_cli_says_whether_kinds_json_is_current() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app", "kinds", "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_every_enum_value_of_every_kind_has_its_words_on_the_pages() -> None:
    pages = json.loads(KINDS_JSON.read_text(encoding="utf-8"))["kinds"]
    assert list(pages) == list(SPECS)
    assert missing_words(pages, SPECS) == []


def test_a_new_enum_value_without_words_is_caught() -> None:
    class Ack(Body):
        ref: int
        status: Literal["done", "snoozed", "declined", "dismissed", "postponed"]

    specs = {"ack": dataclasses.replace(SPECS["ack"], body=Ack)}
    pages = json.loads(pages_json())["kinds"]
    assert missing_words(pages, specs) == ["ack.status=postponed: no words"]
    del pages["ack"]["words"]["status"]["done"]
    assert "ack.status=done: no words" in missing_words(pages, specs)


def test_every_set_of_kinds_is_derived_from_the_specs() -> None:
    assert set(KINDS) == set(SPECS)
    assert set(_HANDLERS) == STATE_KINDS == {k for k, s in SPECS.items() if s.changes_state}
    assert {k for k, s in SPECS.items() if s.tracked} == TRACKED
    assert {k for k, s in SPECS.items() if s.wakes_scheduler} == WAKE_KINDS
    assert {k for k, s in SPECS.items() if s.after_end} == AFTER_END
    assert set(REF_TARGETS) == {k for k, s in SPECS.items() if s.ref is not None}
    assert {FACILITATOR: frozenset({"note"})} == HIDDEN


def test_the_specs_agree_with_one_another() -> None:
    for kind, spec in SPECS.items():
        # A timer only moves with the state; a card is a message the facilitator sees.
        assert not spec.wakes_scheduler or spec.changes_state, kind
        assert not spec.card or spec.tracked, kind
        assert not spec.tracked or FACILITATOR not in spec.hidden_from, kind
        if spec.ref is not None:
            assert "ref" in spec.body.model_fields, kind
            assert spec.ref.otherwise, kind
            for target in (spec.ref.must_be, spec.ref.must_not_be):
                assert target is None or target in SPECS, (kind, target)
