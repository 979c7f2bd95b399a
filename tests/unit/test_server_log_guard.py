"""The server-log guard of tests/conftest.py finds errors and tracebacks, and only those."""

from tests.support import server_log_problems

LOG = """\
INFO  [alembic.runtime.migration] Context impl SQLiteImpl.
WARNING   app.realtime.redis: redis publish failed (ConnectionError: gone)
ERROR     app.realtime.hub: catch-up read failed for s1
Traceback (most recent call last):
  File "app/realtime/hub.py", line 190, in _read_missing
    events = await read_events(self.hub.db, self.session_id, after=self.last_seq)
OSError: database is away
WARNING   app.realtime.presence: presence: heartbeat failed
ERROR     asyncio: Task exception was never retrieved
future: <Task finished name='presence-recheck' exception=KeyError('x')>
ERROR:    Exception in ASGI application
"""


def test_errors_and_tracebacks_are_found_with_the_lines_that_belong_to_them() -> None:
    found = server_log_problems(LOG)
    assert len(found) == 3
    assert found[0].startswith("ERROR     app.realtime.hub: catch-up read failed")
    assert found[0].endswith("OSError: database is away")
    assert found[1].startswith("ERROR     asyncio: Task exception was never retrieved")
    assert found[1].endswith("exception=KeyError('x')>")
    assert found[2] == "ERROR:    Exception in ASGI application"


def test_warnings_alone_are_fine_and_allowed_records_are_left_out() -> None:
    assert server_log_problems("WARNING   app: slow\nINFO:     started\n") == []
    found = server_log_problems(LOG, ("catch-up read failed", "never retrieved"))
    assert found == ["ERROR:    Exception in ASGI application"]


def test_a_bare_traceback_at_the_start_counts_too() -> None:
    text = 'Traceback (most recent call last):\n  File "x"\nValueError: boom\n'
    assert server_log_problems(text) == [text.rstrip("\n")]
