"""The database being busy or away is a 503 the client may retry, never a 500."""

import json

from sqlalchemy.exc import OperationalError

from app.api.errors import _database_unavailable
from app.main import create_app


async def test_a_locked_database_answers_503_with_retry_after() -> None:
    app = create_app()
    handler = app.exception_handlers[OperationalError]
    assert handler is _database_unavailable
    locked = OperationalError("INSERT …", {}, Exception("database is locked"))
    response = await handler(None, locked)  # type: ignore[arg-type]
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    body = json.loads(bytes(response.body))
    assert body["error"]["code"] == "unavailable"
    assert "locked" not in body["error"]["message"], "no database detail to the client"
