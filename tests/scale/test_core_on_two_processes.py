"""The core protocol tests, run again on PostgreSQL + Redis with two server processes.

The ``server`` fixture here looks like one server to those tests, but every socket it
hands out alternates between process A and process B, so producer, facilitator and
observer of one session usually sit on different processes. The two processes are started
once for the module (``shared_pair``, tests/scale/conftest.py).
"""

import pytest

from tests.support import Server

# The tests themselves live with the core; pytest collects them here a second time.
from tests.test_bad_input import (  # noqa: F401
    test_a_facilitator_cannot_send_producer_kinds,
    test_a_recoverable_bad_frame_gets_an_error_and_the_socket_stays_open,
    test_an_observer_may_only_add_notes,
)
from tests.test_isolation import (  # noqa: F401
    test_a_token_of_one_session_never_reads_or_writes_another,
    test_deleting_a_session_erases_it_and_closes_its_sockets_with_4404,
)
from tests.test_protocol import (  # noqa: F401
    test_a_client_that_reconnects_with_since_gets_every_missed_event_once_in_order,
    test_each_role_receives_exactly_the_kinds_it_may_see,
    test_every_connection_of_the_sender_sees_its_own_messages,
    test_ping_answers_pong_with_the_same_token_and_server_time,
    test_presence_is_logged_when_a_participant_comes_and_goes,
    test_resending_an_id_returns_the_same_seq_and_logs_nothing_new,
    test_welcome_describes_session_participant_and_state,
)


class SpreadServer:
    """One server to the test; its WebSocket URL alternates between two processes."""

    def __init__(self, a: Server, b: Server) -> None:
        self.a, self.b = a, b
        self.processes = (a, b)  # let_time_pass moves both clocks
        self.database_url = a.database_url
        self._turn = 0

    @property
    def url(self) -> str:
        return self.a.url

    @property
    def ws_url(self) -> str:
        server = (self.a, self.b)[self._turn % 2]
        self._turn += 1
        return server.ws_url

    def log_text(self) -> str:
        return self.a.log_text() + self.b.log_text()


@pytest.fixture
def server(shared_pair: tuple[Server, Server]) -> SpreadServer:
    return SpreadServer(*shared_pair)


# api, session and clients come from tests/conftest.py and use this server.
