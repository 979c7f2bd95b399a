"""Tokens this process has seen to be good, so that a socket coming back needs no database.

An entry says: participant P's token (by its hash) was good at loop time ``at``. The hub
trusts it only while the session's channel has been listening since before ``at`` (from
then on every rotation and revocation of the session is heard on the channel, and hearing
one forgets the participant's entries here) and for at most ``trust_s`` after ``at``: a
broker message can be lost, so the periodic re-check (``app.realtime.link_checks``) moves
``at`` forward while the database agrees, and forgets the entry when it does not. Anything
older is read from the database again.
"""

import collections
from dataclasses import dataclass

from app.models import Participant


@dataclass(slots=True)
class Known:
    participant: Participant
    at: float  # loop time as of which the token was good


class KnownTokens:
    def __init__(self, max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self._by_hash: collections.OrderedDict[str, Known] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._by_hash)

    def get(self, token_hash: str) -> Known | None:
        known = self._by_hash.get(token_hash)
        if known is not None:
            self._by_hash.move_to_end(token_hash)
        return known

    def put(self, participant: Participant, at: float) -> None:
        self._by_hash[participant.token_hash] = Known(participant, at)
        self._by_hash.move_to_end(participant.token_hash)
        while len(self._by_hash) > self.max_entries:
            self._by_hash.popitem(last=False)

    def entries(self) -> list[tuple[str, Known]]:
        return list(self._by_hash.items())

    def forget(self, token_hash: str) -> None:
        self._by_hash.pop(token_hash, None)

    def forget_participant(self, participant_id: str) -> None:
        for h in [h for h, k in self._by_hash.items() if k.participant.id == participant_id]:
            del self._by_hash[h]

    def forget_session(self, session_id: str) -> None:
        for h in [h for h, k in self._by_hash.items() if k.participant.session_id == session_id]:
            del self._by_hash[h]
