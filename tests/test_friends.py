"""Friend requests and friendships: /v1/friend-requests and /v1/friends."""

from __future__ import annotations

import asyncio

from conftest import TIMESTAMP, befriend, error_of, sign_up

REQUEST_FIELDS = {"id", "from", "to", "status", "created_at", "responded_at"}


async def send(client, sender, to):
    return await client.post("/v1/friend-requests", json={"to": to}, headers=sender.headers)


async def sent(client, sender, to) -> dict:
    """A request that must have been created."""
    resp = await send(client, sender, to)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def answer(client, user, request_id, status):
    return await client.patch(
        f"/v1/friend-requests/{request_id}", json={"status": status}, headers=user.headers
    )


async def withdraw(client, user, request_id):
    return await client.delete(f"/v1/friend-requests/{request_id}", headers=user.headers)


async def requests_of(client, user, query=""):
    resp = await client.get(f"/v1/friend-requests{query}", headers=user.headers)
    assert resp.status == 200, await resp.text()
    return (await resp.json())["items"]


async def friends_of(client, user) -> list[str]:
    resp = await client.get("/v1/friends", headers=user.headers)
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == {"items"}
    for item in body["items"]:
        assert set(item) == {"user", "since"}
        assert set(item["user"]) == {"id", "username", "display_name", "created_at"}
    return [item["user"]["username"] for item in body["items"]]


async def friendship_rows(conn) -> list[tuple[int, int]]:
    return [tuple(r) for r in await conn.fetch("SELECT user_low, user_high FROM friendship")]


# Sending


async def test_a_request_is_created_pending(client, alice, bob):
    resp = await send(client, alice, "bob")
    assert resp.status == 201
    request = await resp.json()
    assert set(request) == REQUEST_FIELDS
    assert request["from"]["id"] == alice.id
    assert request["to"]["id"] == bob.id
    assert set(request["from"]) == {"id", "username", "display_name", "created_at"}
    assert (request["status"], request["responded_at"]) == ("pending", None)
    assert TIMESTAMP.fullmatch(request["created_at"])


async def test_a_request_names_its_recipient_by_username_in_any_case_or_by_id(client, alice):
    bob, carol, dave = [await sign_up(client, name) for name in ("bob", "carol", "dave")]
    assert (await sent(client, alice, "BoB"))["to"]["id"] == bob.id
    assert (await sent(client, alice, carol.id))["to"]["id"] == carol.id
    assert (await sent(client, alice, str(dave.id)))["to"]["id"] == dave.id


async def test_a_request_to_yourself_is_422_self_request(client, alice):
    for ref in ("alice", "ALICE", alice.id, str(alice.id)):
        resp = await send(client, alice, ref)
        assert await error_of(resp) == (422, "self_request"), ref
        assert (await resp.json())["error"]["details"][0]["field"] == "to"


async def test_a_request_to_an_unknown_user_is_404_user_not_found(client, alice):
    for ref in ("nobody", 999, "999", "0", "99999999999999999999", 99999999999999999999, "a b"):
        resp = await send(client, alice, ref)
        assert await error_of(resp) == (404, "user_not_found"), ref


async def test_a_second_pending_request_is_409_request_pending(client, alice, bob):
    await sent(client, alice, "bob")
    assert await error_of(await send(client, alice, "bob")) == (409, "request_pending")
    assert await error_of(await send(client, alice, bob.id)) == (409, "request_pending")


async def test_a_request_to_a_friend_is_409_already_friends(client, alice, bob):
    await befriend(client, alice, bob)
    assert await error_of(await send(client, alice, "bob")) == (409, "already_friends")
    assert await error_of(await send(client, bob, "alice")) == (409, "already_friends")


async def test_a_request_back_accepts_the_pending_one(client, conn, alice, bob):
    theirs = await sent(client, alice, "bob")
    resp = await send(client, bob, "alice")
    assert resp.status == 200
    accepted = await resp.json()
    assert accepted["id"] == theirs["id"]
    assert accepted["from"]["id"] == alice.id
    assert accepted["status"] == "accepted"
    assert accepted["responded_at"] is not None
    assert await friends_of(client, alice) == ["bob"]
    assert await friends_of(client, bob) == ["alice"]
    assert await conn.fetchval("SELECT count(*) FROM friend_request") == 1


# Listing


async def test_requests_are_listed_newest_first_and_filtered(client, alice, bob, carol):
    dave = await sign_up(client, "dave")
    to_bob = await sent(client, alice, "bob")
    from_carol = await sent(client, carol, "alice")
    to_dave = await sent(client, alice, "dave")
    await answer(client, dave, to_dave["id"], "rejected")

    def ids(items):
        return [item["id"] for item in items]

    everything = [to_dave["id"], from_carol["id"], to_bob["id"]]
    assert ids(await requests_of(client, alice)) == everything
    assert ids(await requests_of(client, alice, "?direction=all")) == everything
    assert ids(await requests_of(client, alice, "?direction=incoming")) == [from_carol["id"]]
    assert ids(await requests_of(client, alice, "?direction=outgoing")) == [
        to_dave["id"],
        to_bob["id"],
    ]
    pending = [from_carol["id"], to_bob["id"]]
    assert ids(await requests_of(client, alice, "?status=pending")) == pending
    assert ids(await requests_of(client, alice, "?status=rejected")) == [to_dave["id"]]
    assert ids(await requests_of(client, alice, "?status=accepted")) == []
    query = "?status=pending&direction=outgoing"
    assert ids(await requests_of(client, alice, query)) == [to_bob["id"]]
    # Others see only their own.
    assert ids(await requests_of(client, bob)) == [to_bob["id"]]
    for item in await requests_of(client, alice):
        assert set(item) == REQUEST_FIELDS


async def test_request_list_filters_must_be_known_values(client, alice):
    for query in ("status=maybe", "direction=sideways", "status=", "status=PENDING"):
        resp = await client.get(f"/v1/friend-requests?{query}", headers=alice.headers)
        assert await error_of(resp) == (422, "validation_error"), query


# Answering


async def test_the_recipient_accepts_and_both_become_friends(client, conn, alice, bob, carol):
    request = await sent(client, alice, "bob")
    resp = await answer(client, bob, request["id"], "accepted")
    assert resp.status == 200
    accepted = await resp.json()
    assert (accepted["id"], accepted["status"]) == (request["id"], "accepted")
    assert TIMESTAMP.fullmatch(accepted["responded_at"])
    assert await friends_of(client, alice) == ["bob"]
    assert await friends_of(client, bob) == ["alice"]
    assert await friends_of(client, carol) == []
    assert await friendship_rows(conn) == [(alice.id, bob.id)]


async def test_the_recipient_rejects_and_nobody_becomes_friends(client, conn, alice, bob):
    request = await sent(client, alice, "bob")
    resp = await answer(client, bob, request["id"], "rejected")
    assert resp.status == 200
    assert (await resp.json())["status"] == "rejected"
    assert await friends_of(client, alice) == []
    assert await friendship_rows(conn) == []


async def test_only_the_recipient_may_answer(client, alice, bob, carol):
    request = await sent(client, alice, "bob")
    for status in ("accepted", "rejected"):
        resp = await answer(client, alice, request["id"], status)
        assert await error_of(resp) == (403, "forbidden")
        resp = await answer(client, carol, request["id"], status)
        assert await error_of(resp) == (404, "not_found")
    assert (await requests_of(client, bob))[0]["status"] == "pending"


async def test_answering_a_request_that_is_not_pending_is_409_not_pending(client, alice, bob):
    first = await sent(client, alice, "bob")
    await answer(client, bob, first["id"], "rejected")
    for status in ("accepted", "rejected"):
        resp = await answer(client, bob, first["id"], status)
        assert await error_of(resp) == (409, "not_pending")
    second = await sent(client, alice, "bob")
    await answer(client, bob, second["id"], "accepted")
    for status in ("accepted", "rejected"):
        resp = await answer(client, bob, second["id"], status)
        assert await error_of(resp) == (409, "not_pending")


async def test_an_answer_must_be_accepted_or_rejected(client, alice, bob):
    request = await sent(client, alice, "bob")
    for status in ("pending", "ACCEPTED", "", None, True):
        resp = await answer(client, bob, request["id"], status)
        assert await error_of(resp) == (422, "validation_error"), status


async def test_answering_an_unknown_request_is_404(client, alice):
    for request_id in ("999", "0", "-1", "abc", "1.5", "99999999999999999999"):
        resp = await answer(client, alice, request_id, "accepted")
        assert await error_of(resp) == (404, "not_found"), request_id


async def test_after_a_rejection_a_new_request_may_be_sent(client, alice, bob):
    first = await sent(client, alice, "bob")
    await answer(client, bob, first["id"], "rejected")
    second = await sent(client, alice, "bob")
    assert second["id"] != first["id"]
    history = await requests_of(client, alice)
    assert [(r["id"], r["status"]) for r in history] == [
        (second["id"], "pending"),
        (first["id"], "rejected"),
    ]
    # The one rejected could also ask, which accepts the new request.
    resp = await send(client, bob, "alice")
    assert resp.status == 200
    assert (await resp.json())["id"] == second["id"]


# Withdrawing


async def test_the_sender_withdraws_a_pending_request_and_it_is_gone(client, conn, alice, bob):
    request = await sent(client, alice, "bob")
    assert (await withdraw(client, alice, request["id"])).status == 204
    assert await requests_of(client, alice) == []
    assert await requests_of(client, bob) == []
    assert await conn.fetchval("SELECT count(*) FROM friend_request") == 0
    # Gone: a second withdrawal finds nothing, and a new request may be sent.
    assert await error_of(await withdraw(client, alice, request["id"])) == (404, "not_found")
    await sent(client, alice, "bob")


async def test_only_the_sender_may_withdraw(client, alice, bob, carol):
    request = await sent(client, alice, "bob")
    assert await error_of(await withdraw(client, bob, request["id"])) == (403, "forbidden")
    assert await error_of(await withdraw(client, carol, request["id"])) == (404, "not_found")
    assert (await requests_of(client, alice))[0]["status"] == "pending"


async def test_withdrawing_an_answered_request_is_409_not_pending(client, alice, bob, carol):
    to_bob = await sent(client, alice, "bob")
    to_carol = await sent(client, alice, "carol")
    await answer(client, bob, to_bob["id"], "accepted")
    await answer(client, carol, to_carol["id"], "rejected")
    for request in (to_bob, to_carol):
        assert await error_of(await withdraw(client, alice, request["id"])) == (409, "not_pending")
    assert len(await requests_of(client, alice)) == 2


async def test_withdrawing_an_unknown_request_is_404(client, alice):
    for request_id in ("999", "0", "-5", "abc", "99999999999999999999"):
        resp = await withdraw(client, alice, request_id)
        assert await error_of(resp) == (404, "not_found"), request_id


# Friends


async def test_friends_are_listed_with_the_time_they_became_friends(client, alice, bob, carol):
    await befriend(client, alice, bob)
    await befriend(client, carol, alice)
    resp = await client.get("/v1/friends", headers=alice.headers)
    items = (await resp.json())["items"]
    assert sorted(item["user"]["username"] for item in items) == ["bob", "carol"]
    for item in items:
        assert TIMESTAMP.fullmatch(item["since"])
    assert await friends_of(client, bob) == ["alice"]


async def test_unfriending_removes_the_friendship_for_both(client, conn, alice, bob):
    await befriend(client, alice, bob)
    resp = await client.delete(f"/v1/friends/{bob.id}", headers=alice.headers)
    assert resp.status == 204
    assert await friends_of(client, alice) == []
    assert await friends_of(client, bob) == []
    assert await friendship_rows(conn) == []
    # The request that made them friends stays in the history, accepted.
    assert [r["status"] for r in await requests_of(client, bob)] == ["accepted"]
    resp = await client.delete(f"/v1/friends/{alice.id}", headers=bob.headers)
    assert await error_of(resp) == (404, "not_found")


async def test_either_side_may_ask_again_after_unfriending(client, alice, bob):
    await befriend(client, alice, bob)
    await client.delete(f"/v1/friends/{alice.id}", headers=bob.headers)
    request = await sent(client, bob, "alice")
    assert (await answer(client, alice, request["id"], "accepted")).status == 200
    assert await friends_of(client, alice) == ["bob"]


async def test_unfriending_someone_who_is_not_a_friend_is_404(client, alice, bob):
    await sent(client, alice, "bob")  # pending is not friends
    for user_id in (bob.id, alice.id, 999, 0, -1, "abc", "99999999999999999999"):
        resp = await client.delete(f"/v1/friends/{user_id}", headers=alice.headers)
        assert await error_of(resp) == (404, "not_found"), user_id


# Races


async def test_crossing_requests_end_as_exactly_one_friendship(client, conn):
    for round in range(10):
        a, b = await asyncio.gather(sign_up(client, f"ann{round}"), sign_up(client, f"ben{round}"))
        resps = await asyncio.gather(send(client, a, b.id), send(client, b, a.id))
        assert sorted(r.status for r in resps) == [200, 201], round
        low, high = sorted((a.id, b.id))
        rows = await conn.fetch(
            "SELECT 1 FROM friendship WHERE user_low = $1 AND user_high = $2", low, high
        )
        assert len(rows) == 1, round
        statuses = await conn.fetch(
            "SELECT status FROM friend_request WHERE from_user_id IN ($1, $2)", a.id, b.id
        )
        assert [r["status"] for r in statuses] == ["accepted"], round


async def test_two_concurrent_accepts_make_one_friendship(client, conn, alice, bob):
    request = await sent(client, alice, "bob")
    resps = await asyncio.gather(
        answer(client, bob, request["id"], "accepted"),
        answer(client, bob, request["id"], "accepted"),
    )
    assert sorted(r.status for r in resps) == [200, 409]
    loser = next(r for r in resps if r.status == 409)
    assert await error_of(loser) == (409, "not_pending")
    assert await friendship_rows(conn) == [(alice.id, bob.id)]


async def test_concurrent_accept_and_reject_settle_on_one_answer(client, conn, alice, bob):
    request = await sent(client, alice, "bob")
    resps = await asyncio.gather(
        answer(client, bob, request["id"], "accepted"),
        answer(client, bob, request["id"], "rejected"),
    )
    assert sorted(r.status for r in resps) == [200, 409]
    winner = await next(r for r in resps if r.status == 200).json()
    rows = await friendship_rows(conn)
    assert rows == ([(alice.id, bob.id)] if winner["status"] == "accepted" else [])
