"""What the server accepts as text and as a number, for every model, frame and parameter.

Every string the server takes is Unicode without lone surrogates, NUL or other control
characters; free text may also hold tab and newline. Every integer is 0 ... 2^53-1 unless its
field says less. Why: a lone surrogate cannot be encoded as UTF-8 (the reply, the export and
every later ``hello`` would fail), PostgreSQL refuses NUL in text, SQLite and PostgreSQL
refuse integers past 64 bits, and JavaScript clients lose precision past 2^53.
"""

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

MAX_SAFE_INT = 2**53 - 1

# C0 controls, DEL, C1 controls and the surrogate block (only lone ones can occur in a str).
_BAD_IN_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_IN_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")

LINE_RULE = "must not contain control characters or lone surrogates"
TEXT_RULE = "must not contain control characters (but tab and newline) or lone surrogates"


def is_clean_line(value: str) -> bool:
    """One line of text: a name, a title, a token, an id."""
    return _BAD_IN_LINE.search(value) is None


def is_clean_text(value: str) -> bool:
    """Free text: a line that may also hold tab and newline."""
    return _BAD_IN_TEXT.search(value) is None


def _line(value: Any) -> Any:
    if isinstance(value, str) and not is_clean_line(value):
        raise ValueError(LINE_RULE)
    return value  # anything else is for the str schema to refuse


def _text(value: Any) -> Any:
    if isinstance(value, str) and not is_clean_text(value):
        raise ValueError(TEXT_RULE)
    return value


# The checks, run before the str schema (so a lone surrogate gets this message, not
# pydantic's), and the reusable types. Give lengths with ``Field(...)``, or compose with
# StringConstraints *before* the check, e.g.
# ``Annotated[str, StringConstraints(max_length=80, strip_whitespace=True), LINE_CHECK]``:
# pydantic applies constraints that come after a validator only as a late, generic check.
LINE_CHECK = BeforeValidator(_line)
TEXT_CHECK = BeforeValidator(_text)
Line = Annotated[str, LINE_CHECK]
CleanText = Annotated[str, TEXT_CHECK]
SafeInt = Annotated[int, Field(ge=0, le=MAX_SAFE_INT)]


def printable(value: Any, limit: int = 200) -> str:
    """A form of ``value`` that is safe to echo in an error reply: always encodable, no
    control characters, bounded (a message must never fail to send because of its input)."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    if not is_clean_line(text):
        text = _BAD_IN_LINE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text
