"""schemathesis, driven by the served /v1/openapi.json, against a real `chaat serve`.

Every operation gets requests the document calls valid and requests it calls invalid,
with every schemathesis check: no 500, only documented statuses, content types, headers
and bodies, valid data accepted, invalid data refused, authentication never ignored,
405 with Allow for a method a path does not take. Then sequences of calls follow the
document's links (and the ones schemathesis infers) so that ids made by one call feed
the next. A failure is a disagreement between the server and its published contract:
fix the server, never loosen the document to fit it.

The server runs with rate limits off: a fuzzer is a flood by design. The run is bounded
and reproducible (a fixed seed and number of examples); to search harder, raise
CHAAT_FUZZ_EXAMPLES (and try other CHAAT_FUZZ_SEED values).
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import asyncpg
import hypothesis
import pytest
import requests
import schemathesis
from conftest import PASSWORD, befriend, new_chat, sign_up, start_chaat, with_database
from schemathesis.specs.openapi.checks import positive_data_acceptance

from chaat.handlers.meta import OPENAPI

EXAMPLES = int(os.environ.get("CHAAT_FUZZ_EXAMPLES", "12"))
"""Generated cases per operation (the coverage phase adds its own boundary cases)."""
SEED = int(os.environ.get("CHAAT_FUZZ_SEED", "1"))
STEPS = 8
"""Calls in one stateful scenario at most."""

DOCUMENT = json.loads(OPENAPI.read_text())

THROWAWAY = "dave"
TOKEN_KILLERS = {
    ("DELETE", "/v1/tokens"),
    ("DELETE", "/v1/tokens/current"),
    ("PUT", "/v1/users/me/password"),
}
"""Operations that end the caller's sessions: they act as THROWAWAY, logged in afresh
each time, so that the fuzzing user keeps its token."""

# Answers the contract (API.md) gives to requests that openapi.json calls valid: each
# depends on what is stored (who the caller is, what kind a chat is, what a message
# holds), on two parameters together, or on a list no JSON Schema can carry. Each is
# (code, field, problem), and a refusal passes only when every detail it gives is here.
CONTRACT_REFUSALS: dict[tuple[str, str], set[tuple[str, str, str]]] = {
    # Passwords: not the username, nor one of the most common ones.
    ("POST", "/v1/users"): {
        ("validation_error", "password", "must not be the username"),
        ("validation_error", "password", "is one of the most common passwords; choose another"),
    },
    ("PUT", "/v1/users/me/password"): {
        ("validation_error", "new_password", "must not be the username"),
        (
            "validation_error",
            "new_password",
            "is one of the most common passwords; choose another",
        ),
    },
    ("POST", "/v1/friend-requests"): {("self_request", "to", "is yourself")},
    ("PUT", "/v1/blocks/{user}"): {("validation_error", "user", "is yourself")},
    # The caller is left out of a direct chat's count, and may be named in participants.
    ("POST", "/v1/chats"): {
        ("validation_error", "participants", "a direct chat needs exactly one other"),
        ("too_many_participants", "participants", "more than 100"),
    },
    ("PATCH", "/v1/chats/{chat_id}"): {("not_a_group", "chat_id", "is a direct chat")},
    ("POST", "/v1/chats/{chat_id}/participants"): {
        ("not_a_group", "chat_id", "is a direct chat"),
        ("too_many_participants", "user", "the group is full"),
    },
    ("DELETE", "/v1/chats/{chat_id}/participants/{user_id}"): {
        ("not_a_group", "chat_id", "is a direct chat"),
    },
    # OpenAPI cannot say that two query parameters exclude each other.
    ("GET", "/v1/chats/{chat_id}/messages"): {
        ("validation_error", "before", "give before or after, not both"),
        ("validation_error", "after", "give before or after, not both"),
    },
    ("POST", "/v1/chats/{chat_id}/messages"): {
        ("validation_error", "reply_to", "no such message in this chat"),
    },
    ("PUT", "/v1/chats/{chat_id}/messages/{seq}/reactions/{emoji}"): {
        ("too_many_reactions", "emoji", "a message carries at most 20 emoji"),
    },
    # "A run of letters and digits" needs Unicode classes, which JSON Schema's regular
    # expressions do not share across engines.
    ("GET", "/v1/messages"): {
        ("validation_error", "q", "must hold a word: a run of letters and digits"),
    },
}


def refused_by_the_contract(case: schemathesis.Case, response: schemathesis.Response) -> bool:
    """Whether response is a 422 that CONTRACT_REFUSALS allows for case's operation."""
    if response.status_code != 422:
        return False
    allowed = CONTRACT_REFUSALS.get((case.method.upper(), case.path), set())
    error = response.json()["error"]
    details = error.get("details") or []
    return bool(details) and all(
        (error["code"], detail["field"], detail["problem"]) in allowed for detail in details
    )


def valid_data_is_accepted(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """schemathesis's positive_data_acceptance, but for the refusals the contract makes."""
    if refused_by_the_contract(case, response):
        return None
    return positive_data_acceptance(ctx, response, case)


CHECKS = {
    "excluded_checks": [positive_data_acceptance],
    "additional_checks": [valid_data_is_accepted],
}


@dataclass
class Served:
    """A running `chaat serve` with its seed data."""

    base: str
    token: str
    """The fuzzing user's: alice, an administrator with friends, chats and messages."""

    def call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
        """Where and as whom to send case."""
        token = self.token
        if (case.method.upper(), case.path) in TOKEN_KILLERS:
            resp = requests.post(
                f"{self.base}/v1/tokens",
                json={"username": THROWAWAY, "password": PASSWORD},
                timeout=10,
            )
            assert resp.status_code == 201, resp.text
            token = resp.json()["token"]
        return {"base_url": self.base, "headers": {"Authorization": f"Bearer {token}"}}


@pytest.fixture(scope="module")
async def served(server_url: str, template: str) -> AsyncIterator[Served]:
    """A real `chaat serve`, limits off, on a database of its own with seed data in it."""
    name = f"chaat_fuzz_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    database_url = with_database(server_url, name)
    try:
        with tempfile.TemporaryDirectory(prefix="chaat-fuzz-") as data_dir:
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "CHAAT_DATA_DIR": data_dir,
                "CHAAT_SECRET_KEY": secrets.token_urlsafe(32),
                "CHAAT_RATE_LIMITS": "off",
                # Cheap hashes: the fuzzer signs up and logs in hundreds of times.
                "CHAAT_ARGON2_TIME_COST": "1",
                "CHAAT_ARGON2_MEMORY_COST": "1024",
            }
            server, base = await start_chaat(env)
            try:
                token = await seed(base, database_url)
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(f"{base}/v1/openapi.json") as resp,
                ):
                    # What the fuzzer reads is what clients are served.
                    assert await resp.json() == DOCUMENT
                yield Served(base=base, token=token)
            finally:
                server.terminate()
                await server.wait()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def seed(base: str, database_url: str) -> str:
    """Give every kind of id something to name; answers alice's token."""
    async with aiohttp.ClientSession(base_url=base) as http:
        # conftest's helpers take any client whose requests take a path.
        alice, bob, carol, _, erin, frank, grace = [
            await sign_up(http, name)
            for name in ("alice", "bob", "carol", THROWAWAY, "erin", "frank", "grace")
        ]
        await befriend(http, alice, bob)
        await befriend(http, alice, carol)
        await befriend(http, bob, carol)
        for sender, to in ((erin, alice), (alice, frank)):  # both left pending
            resp = await http.post(
                "/v1/friend-requests", json={"to": to.username}, headers=sender.headers
            )
            assert resp.status == 201, await resp.text()
        resp = await http.put(f"/v1/blocks/{grace.username}", headers=alice.headers)
        assert resp.status == 204, await resp.text()

        direct = await new_chat(http, alice, ["bob"], message="hi bob", client_id="seed-1")
        group = await new_chat(http, alice, ["bob", "carol"], name="Trio")
        await new_chat(http, bob, ["carol"], message="not alice's business")
        for chat, who, reply_to in ((direct, bob, 1), (group, alice, None), (group, carol, 1)):
            resp = await http.post(
                f"/v1/chats/{chat['id']}/messages",
                json={"body": f"hello from {who.username}", "reply_to": reply_to},
                headers=who.headers,
            )
            assert resp.status == 201, await resp.text()
        resp = await http.put(
            f"/v1/chats/{group['id']}/messages/1/reactions/%F0%9F%91%8D", headers=bob.headers
        )
        assert resp.status == 200, await resp.text()

    # An administrator reaches the operations that only administrators may use.
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE app_user SET is_admin = true WHERE id = $1", alice.id)
    finally:
        await conn.close()
    return alice.token


schema = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "request-timeout": 10,
            "generation": {
                "max-examples": EXAMPLES,
                "database": "none",
                # The token comes from Served.call_kwargs, not from the generator: the
                # ignored_auth check still sends every operation without it and with a bad one.
                "with-security-parameters": False,
            },
            # The live event stream never ends, so a request-response fuzzer cannot read
            # it; tests/test_events.py covers it.
            "operations": [{"include-path": "/v1/events", "enabled": False}],
        }
    ),
)


@pytest.mark.timeout(600)
@schema.parametrize()
@hypothesis.settings(deadline=timedelta(seconds=10))
def test_every_operation_keeps_the_documents_promises(
    case: schemathesis.Case, served: Served
) -> None:
    """Each operation (its pytest id names it), in many valid and invalid requests."""
    case.call_and_validate(**served.call_kwargs(case), **CHECKS)


@pytest.mark.timeout(600)
def test_sequences_of_calls_keep_them_too(served: Served) -> None:
    """Ids that one call makes (a chat, a message, a friend request) feed the next ones."""
    wanted, ran = EXAMPLES * 4, 0

    class Scenario(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return served.call_kwargs(case)

        def validate_response(
            self, response: schemathesis.Response, case: schemathesis.Case, **kwargs: Any
        ) -> None:
            case.validate_response(
                response,
                transport_kwargs=kwargs or None,
                recorder=getattr(self, "recorder", None),
                **CHECKS,
            )

        def teardown(self) -> None:
            nonlocal ran
            ran += 1
            super().teardown()

    # Which calls can come next depends on what the server answered so far, so Hypothesis
    # may find that a scenario it drew before now draws differently, and give up on the
    # suite. That says nothing about the server (schemathesis's own runner starts another
    # suite too); a failure found on the way, flaky or not, still fails the test.
    for suite in range(10):
        if ran >= wanted:
            break
        try:
            hypothesis.seed(SEED + suite)(Scenario).run(
                settings=hypothesis.settings(
                    max_examples=wanted - ran,
                    stateful_step_count=STEPS,
                    database=None,
                    deadline=None,
                    # No shrinking and no replays, as schemathesis runs its own: the server's
                    # state has moved on, so a scenario run again is not the same scenario.
                    phases=[hypothesis.Phase.generate],
                    suppress_health_check=list(hypothesis.HealthCheck),
                )
            )
        except Exception as exc:
            if not drew_differently(exc):
                raise
    assert ran >= wanted, f"only {ran} of {wanted} scenarios ran"


def drew_differently(exc: BaseException) -> bool:
    """Whether exc says only that Hypothesis drew a scenario differently the second time."""
    if isinstance(exc, BaseExceptionGroup):  # FlakyFailure: what each attempt raised
        return all(drew_differently(inner) for inner in exc.exceptions)
    if isinstance(exc, hypothesis.errors.FlakyStrategyDefinition):
        return True
    # Hypothesis asserts, rather than raising, when a replay draws past a value that an
    # earlier run refused (schemathesis's runner looks for the same thing).
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return (
        isinstance(exc, AssertionError)
        and tb is not None
        and tb.tb_frame.f_globals["__name__"] == "hypothesis.internal.conjecture.datatree"
    )
