"""One check for what every HTTP route takes besides its body: path, query and the headers
the app reads. Each must be a clean line of text (see ``app.models.text``), else 422.

Installed as an app-wide dependency, so routes added later are covered too; it runs before
authentication and before any parameter reaches the database.
"""

from starlette.requests import HTTPConnection

from app.errors import InvalidInput
from app.models.text import LINE_RULE, is_clean_line

# Headers whose values the app uses (as a token, a key or an event id).
CHECKED_HEADERS = ("authorization", "idempotency-key")
VALUE_MAX = 1024


def clean_request(conn: HTTPConnection) -> None:
    if conn.scope["type"] != "http":
        return  # the WebSocket checks its frames itself (app.realtime.protocol)
    for name, value in conn.path_params.items():
        _check(f"path parameter {name}", value)
    for name, value in conn.query_params.multi_items():
        _check("query parameter name", name)
        _check(f"query parameter {name}", value)
    for name in CHECKED_HEADERS:
        for value in conn.headers.getlist(name):
            _check(f"header {name}", value)


def _check(where: str, value: object) -> None:
    if not isinstance(value, str):
        return  # already converted by a path convertor (an int): nothing to check
    if len(value) > VALUE_MAX:
        raise InvalidInput(f"{where}: at most {VALUE_MAX} characters")
    if not is_clean_line(value):
        raise InvalidInput(f"{where}: {LINE_RULE}")
