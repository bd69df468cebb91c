"""`chaat serve` stopped under load (issue 11): SIGTERM lets the requests under way finish,
closes the event streams with 1001 (their clients resume elsewhere with ?since=), and
every message the clients saw acknowledged is stored, nothing else.

test_serve.py stops idle servers; test_events.py closes sockets with 1001 in process.
This is bench/faults.py's sigterm scenario at a smaller size, on the test's database.
"""

from __future__ import annotations

import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import faults

pytestmark = pytest.mark.timeout(120)

SOCKETS = 3
CONNECTION_ERRORS = {"ClientConnectorError", "ClientOSError", "ServerDisconnectedError"}
"""How a request fails that reached the server after it stopped listening, or on a
kept-alive connection it closed before reading the request: never handled, so never
answered."""


async def test_sigterm_finishes_what_is_under_way_and_closes_the_streams_with_1001(
    database_url,
):
    # Logins take a while (Argon2 at about a tenth of a second), so that some are
    # surely under way when the signal comes.
    argon2 = {"CHAAT_ARGON2_TIME_COST": "2", "CHAAT_ARGON2_MEMORY_COST": "32768"}
    result = await faults.sigterm_under_load(
        database_url, senders=12, sockets=SOCKETS, logins=3, warm_up=0.5, lead=0.05, env=argon2
    )
    print(f"\n{result.summary()}")
    assert result.exit_code == 0
    assert result.exited < 15, result.exited
    # Every request that was under way was answered, logins included.
    assert result.under_way, "nothing was under way when the signal came"
    assert any(a.key == "" for a in result.under_way), "no login was under way"
    assert all(a.ok for a in result.under_way), faults.outcomes(result.under_way)
    # The rest: answered, or never handled (refused, or the connection closed unread).
    for answer in result.senders.answers + result.logins:
        assert answer.ok or answer.outcome in CONNECTION_ERRORS, answer
    # Every 201 is stored, and nothing was stored that went unanswered.
    assert result.tally.acknowledged > 0
    assert not result.tally.lost, str(result.tally)
    assert not result.tally.unanswered, str(result.tally)
    # The streams: WebSockets closed with 1001, the SSE stream ended.
    assert result.close_codes == [1001] * SOCKETS
    assert result.sse_ended
