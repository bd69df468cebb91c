"""The web client at /, in a real browser: Playwright drives Debian's Chromium.

Two people sign up, become friends and chat, and each sees the other's messages,
edits, reactions and typing live; one goes offline (or loses the server) and comes
back without missing or doubling a message. The page's own headers are checked
without a browser. With CHAAT_SCREENSHOTS=<folder>, test_screenshots also writes the
screenshots that docs/WEB.md shows (desktop and phone, light and dark).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import free_port, start_chaat
from web_people import (
    PHONE,
    Account,
    Api,
    Person,
    chromium_or_skip,
    live,
    new_person,
    sign_up_in_page,
)

from chaat import invites, keys
from chaat.app import create_app
from chaat.handlers.web import CSP
from chaat.settings import Settings

if os.environ.get("CI"):  # CI installs the test extras: a missing Playwright is a failure
    from playwright.async_api import expect
else:
    expect = pytest.importorskip("playwright.async_api", reason="pip install playwright").expect

pytestmark = pytest.mark.timeout(90)

People = Callable[..., Awaitable[Person]]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """One headless Chromium for the whole session; each person gets a context."""
    executable = chromium_or_skip()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(executable),
            # Chromium's sandbox refuses to run as root (containers, CI).
            args=["--no-sandbox"] if os.geteuid() == 0 else [],
        )
        yield browser
        await browser.close()


async def serve(settings: Settings, port: int = 0) -> TestServer:
    server = TestServer(create_app(settings), host="127.0.0.1", port=port or None)
    await server.start_server()
    return server


@pytest.fixture
async def site(settings: Settings) -> AsyncIterator[str]:
    """The app on a real port (the browser needs one), on this test's database."""
    server = await serve(settings)
    yield f"http://127.0.0.1:{server.port}"
    await server.close()


@pytest.fixture
async def api(site: str) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(site, session)


@pytest.fixture
async def people(browser: Any, site: str) -> AsyncIterator[People]:
    """Makes people with the client open; at the end, none may have met a script
    error or a Content-Security-Policy refusal."""
    made: list[Person] = []

    async def make(username: str, **options: Any) -> Person:
        made.append(await new_person(browser, site, username, **options))
        return made[-1]

    yield make
    for person in made:
        await person.context.close()
    problems = [f"{person.username}: {problem}" for person in made for problem in person.problems]
    assert not problems, problems


async def widest(page: Any) -> float:
    """How far right the app's furthest element reaches (the page itself never scrolls)."""
    return float(
        await page.evaluate(
            "Math.max(...[...document.querySelectorAll('#app *')]"
            ".map(e => e.getBoundingClientRect().right))"
        )
    )


async def friends_with_chat(
    api: Api, a: str, b: str, first: str = ""
) -> tuple[Account, Account, int]:
    """Two friends (through the API) and their direct chat's id."""
    alice, bob = await api.sign_up(a), await api.sign_up(b)
    await api.befriend(alice, bob)
    body: dict[str, Any] = {"participants": [bob.username]}
    if first:
        body["message"] = first
    chat = await api.call("POST", "/chats", alice, **body)
    return alice, bob, chat["id"]


# The page itself --------------------------------------------------------------------------


async def test_the_page_is_served_with_a_strict_policy(client: TestClient) -> None:
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    assert resp.headers["Content-Security-Policy"] == CSP
    for directive in (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'none'",
        "base-uri 'none'",
    ):
        assert directive in CSP
    assert "unsafe" not in CSP
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["Cache-Control"] == "no-cache"
    page = await resp.text()
    assert '<script type="module" src="/static/js/main.js"></script>' in page
    # Nothing inline for the policy to refuse, and nothing from elsewhere.
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert "style=" not in page
    assert "http://" not in page
    assert "https://" not in page

    resp = await client.get("/static/js/main.js")
    assert resp.status == 200
    assert resp.content_type == "text/javascript"
    assert resp.headers["Content-Security-Policy"] == CSP
    etag = resp.headers["ETag"]
    resp = await client.get("/static/js/main.js", headers={"If-None-Match": etag})
    assert resp.status == 304
    resp = await client.head("/static/style.css")
    assert (resp.status, resp.content_type) == (200, "text/css")


@pytest.mark.parametrize(
    "path",
    [
        "/static/../pyproject.toml",
        "/static/%2e%2e/handlers/web.py",
        "/static/js/..%2f..%2fhandlers%2fweb.py",
        "/static/..%2f__init__.py",
        "/static//etc/passwd",
        "/static/js",
        "/static/nothing.js",
        "/index.html",
    ],
)
async def test_only_the_clients_own_files_are_served(client: TestClient, path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"


async def test_chaat_serve_serves_the_client(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "CHAAT_SECRET_KEY": "web client tests"}
    server, base = await start_chaat(env)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/") as resp:
                assert resp.status == 200
                assert resp.headers["Content-Security-Policy"] == CSP
                assert "<title>Chaat</title>" in await resp.text()
            for path in ("/static/js/main.js", "/static/js/views/chat.js", "/static/style.css"):
                async with session.get(f"{base}{path}") as resp:
                    assert resp.status == 200, path
    finally:
        server.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(server.wait(), 30) == 0


async def test_the_page_needs_no_token_and_the_api_still_does(client: TestClient) -> None:
    assert (await client.get("/")).status == 200
    assert (await client.get("/v1/users/me")).status == 401


# In the browser -----------------------------------------------------------------------------


async def test_two_people_befriend_and_chat_live(people: People) -> None:
    alice, bob = await people("alice"), await people("bob")
    await sign_up_in_page(alice, display_name="Alice")
    await sign_up_in_page(bob)
    a, b = alice.page, bob.page

    # Alice asks Bob to be friends; the request reaches Bob live, and he accepts it.
    await a.get_by_role("link", name="Friends").click()
    await a.get_by_label("Add a friend by username").fill("bob")
    await a.get_by_role("button", name="Send request").click()
    await expect(a.locator("#add-friend-status")).to_have_text("Friend request sent to bob.")
    await expect(a.locator("#outgoing-list")).to_contain_text("bob")
    await expect(b.locator("#friends-badge")).to_have_text("1")
    await b.get_by_role("link", name="Friends").click()
    await b.get_by_role("button", name="Accept Alice").click()
    await expect(b.locator("#friend-list")).to_contain_text("Alice")
    await expect(a.locator("#friend-list")).to_contain_text("bob")
    await expect(a.locator("#outgoing-list")).not_to_contain_text("bob")

    # Alice starts their chat and writes; Bob's chat list shows it, unread, at once.
    await a.get_by_role("button", name="Message bob").click()
    await expect(a.locator("#chat-title")).to_have_text("bob")
    await expect(a.locator("#composer-input")).to_be_focused()
    await a.keyboard.type("Hello Bob!")
    await a.keyboard.press("Enter")
    await expect(alice.message("Hello Bob!")).to_have_count(1)
    chat_link = b.locator("#chat-list a", has_text="Alice")
    await expect(chat_link).to_contain_text("Hello Bob!")
    await expect(chat_link.locator(".unread-count")).to_contain_text("1")
    await chat_link.click()
    await expect(bob.message("Hello Bob!")).to_have_count(1)
    await expect(chat_link.locator(".unread-count")).to_have_count(0)
    # Bob has read it, and Alice sees so.
    await expect(alice.message("Hello Bob!").locator(".seen")).to_have_text("Seen by bob")

    # Bob types: Alice sees "typing…" until his message arrives.
    await b.locator("#composer-input").press_sequentially("Hi Alice")
    await expect(a.locator("#typing")).to_have_text("bob is typing…")
    await b.keyboard.press("Enter")
    await expect(alice.message("Hi Alice")).to_have_count(1)
    await expect(a.locator("#typing")).to_have_text("")
    await expect(bob.message("Hi Alice").locator(".seen")).to_have_text("Seen by Alice")

    # Alice replies to Bob's message; Bob sees the reply with its quote.
    await alice.message("Hi Alice").hover()
    await alice.message("Hi Alice").get_by_role("button", name="Reply").click()
    await expect(a.locator("#composer-context")).to_contain_text("Replying to bob")
    await a.keyboard.type("How are you?")
    await a.keyboard.press("Enter")
    reply = bob.message("How are you?")
    await expect(reply.locator(".quote")).to_contain_text("Hi Alice")
    await expect(a.locator("#composer-context")).to_be_hidden()

    # Arrow Up edits her last message; Escape cancels an edit, Enter saves one.
    await a.keyboard.press("ArrowUp")
    await expect(a.locator("#composer-input")).to_have_value("How are you?")
    await a.keyboard.type(" Really?")
    await a.keyboard.press("Escape")
    await expect(a.locator("#composer-input")).to_have_value("")
    await expect(a.locator("#composer-context")).to_be_hidden()
    await a.locator("#composer-input").focus()
    await a.keyboard.press("ArrowUp")
    await a.locator("#composer-input").fill("How are you, Bob?")
    await a.keyboard.press("Enter")
    edited = bob.message("How are you, Bob?")
    await expect(edited.locator(".edited")).to_have_text("edited")
    await expect(bob.message("How are you?")).to_have_count(0)

    # Bob reacts to Alice's first message; she sees it, and adds hers to it.
    await bob.message("Hello Bob!").hover()
    await bob.message("Hello Bob!").get_by_role("button", name="React").click()
    await b.get_by_role("button", name="React with 👍").click()
    theirs = alice.message("Hello Bob!").locator("button.reaction")
    await expect(theirs).to_have_text("👍1")
    await expect(theirs).to_have_attribute("aria-pressed", "false")
    await theirs.click()
    await expect(bob.message("Hello Bob!").locator("button.reaction")).to_have_text("👍2")
    await expect(theirs).to_have_attribute("aria-pressed", "true")

    # Alice deletes her first message: it stays in place as a tombstone for both.
    await alice.message("Hello Bob!").hover()
    await alice.message("Hello Bob!").get_by_role("button", name="Delete").click()
    await a.locator("#confirm-dialog").get_by_role("button", name="Delete").click()
    for person in (alice, bob):
        first = person.page.locator("#message-list li.message").first
        await expect(first.locator(".body")).to_have_text("This message was deleted.")
    await expect(bob.bodies()).to_have_count(3)


async def test_message_text_is_shown_as_text(people: People, api: Api) -> None:
    alice, bob, chat_id = await friends_with_chat(api, "alice", "bob", first="hello")
    body = "<img src=x onerror=alert(1)>"
    await api.send(bob, chat_id, body)
    sneaky = await api.sign_up("carol")
    await api.call("POST", "/friend-requests", sneaky, to="alice")
    page_of = await people("alice", token=alice.token, hash=f"#chat/{chat_id}")
    page = page_of.page
    await live(page_of)
    await expect(page_of.message(body)).to_have_count(1)
    assert await page_of.message(body).locator(".body").text_content() == body
    await expect(page.locator("#chat-list")).to_contain_text(body)  # the preview, as text too
    # Sent from the page, too.
    await page.locator("#composer-input").fill('<script>alert("x")</script><b>bold</b>')
    await page.keyboard.press("Enter")
    await expect(page_of.message('<script>alert("x")</script><b>bold</b>')).to_have_count(1)
    markup = page.locator("#message-list img, #message-list script, #message-list b")
    assert await markup.count() == 0
    await page.wait_for_timeout(300)  # an onerror would have fired by now
    assert page_of.dialogs == []


async def test_offline_and_back_misses_nothing(people: People, api: Api) -> None:
    alice, bob, chat_id = await friends_with_chat(api, "alice", "bob", first="before")
    her = await people("alice", token=alice.token, hash=f"#chat/{chat_id}")
    him = await people("bob", token=bob.token, hash=f"#chat/{chat_id}")
    page = her.page
    for person in (her, him):
        await live(person)
        await expect(person.message("before")).to_have_count(1)

    await her.context.set_offline(True)
    await expect(page.locator("#connection")).to_contain_text("offline")
    # Alice writes while offline: it waits, then goes once the connection is back.
    await page.locator("#composer-input").fill("written offline")
    await page.keyboard.press("Enter")
    await expect(page.locator("#outbox-list")).to_contain_text("Waiting for the connection")
    # Bob writes five messages, edits one and reacts to another.
    composer = him.page.locator("#composer-input")
    for n in range(1, 6):
        await composer.fill(f"while away {n}")
        await composer.press("Enter")
        await expect(him.message(f"while away {n}")).to_have_count(1)
    await him.message("while away 2").hover()
    await him.message("while away 2").get_by_role("button", name="Edit").click()
    await composer.fill("edited away")
    await composer.press("Enter")
    await expect(him.message("edited away")).to_have_count(1)
    await him.message("while away 3").hover()
    await him.message("while away 3").get_by_role("button", name="React").click()
    await him.page.get_by_role("button", name="React with 🎉").click()
    await expect(him.message("while away 3").locator("button.reaction")).to_have_text("🎉1")
    await page.wait_for_timeout(300)
    await expect(her.message("while away 1")).to_have_count(0)

    await her.context.set_offline(False)
    await expect(page.locator("#connection")).to_be_hidden()
    expected = ["before", "while away 1", "edited away", "while away 3", "while away 4"]
    expected += ["while away 5", "written offline"]
    for person in (her, him):
        await expect(person.bodies()).to_have_text(expected)
    await expect(page.locator("#outbox-list li")).to_have_count(0)
    await expect(her.message("while away 3").locator("button.reaction")).to_have_text("🎉1")
    await expect(her.message("edited away").locator(".edited")).to_have_count(1)
    # Exactly once on the server too, however many tries the offline message took.
    history = await api.call("GET", f"/chats/{chat_id}/messages", bob)
    assert [m["body"] for m in history["items"]] == expected


async def test_a_restarted_server_is_resumed_without_loss(browser: Any, settings: Settings) -> None:
    """The server goes away (its sockets close with 1001) and comes back on the same
    port; meanwhile another process on the same database takes messages. The client
    reconnects with ?since= and gets each of them exactly once."""
    port = free_port()
    first = await serve(settings, port)
    other = await serve(settings)
    base = f"http://127.0.0.1:{port}"
    person = None
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(f"http://127.0.0.1:{other.port}", session)
            alice, bob, chat_id = await friends_with_chat(api, "alice", "bob", first="one")
            person = await new_person(
                browser, base, "alice", token=alice.token, hash=f"#chat/{chat_id}"
            )
            await live(person)
            await expect(person.message("one")).to_have_count(1)
            await first.close()
            await expect(person.page.locator("#connection")).to_contain_text("Reconnecting")
            for n in range(2, 6):
                await api.send(bob, chat_id, f"message {n}")
            first = await serve(settings, port)
            await expect(person.page.locator("#connection")).to_be_hidden(timeout=15_000)
            await expect(person.bodies()).to_have_text(
                ["one", "message 2", "message 3", "message 4", "message 5"]
            )
            await api.send(bob, chat_id, "message 6")
            await expect(person.message("message 6")).to_have_count(1)
            await expect(person.bodies()).to_have_count(6)
            assert person.problems == []
    finally:
        if person is not None:
            await person.context.close()
        await first.close()
        await other.close()


async def test_search_jumps_back_and_scrolling_loads_the_rest(people: People, api: Api) -> None:
    alice, bob, chat_id = await friends_with_chat(api, "alice", "bob")
    for n in range(1, 131):
        await api.send(alice if n % 2 else bob, chat_id, f"message {n}")
    them = await people("alice", token=alice.token, hash=f"#chat/{chat_id}")
    page = them.page
    await live(them)
    await expect(them.message("message 130")).to_have_count(1)
    await expect(them.bodies()).to_have_count(50)  # the newest page

    # Search finds an old message; opening it loads the history around it.
    await page.get_by_role("link", name="Search").click()
    await expect(page.get_by_label("Search your messages")).to_be_focused()
    await page.keyboard.type("mess 17")
    await page.keyboard.press("Enter")
    results = page.locator("#search-results a")
    await expect(results).to_have_count(1)
    await expect(results.locator("mark")).to_have_text(["mess", "17"])
    await results.click()
    await expect(them.message("message 17")).to_be_focused()
    await expect(them.message("message 17")).to_be_in_viewport()
    assert await them.message("message 130").count() == 0

    # Scrolling up loads older pages until the first message; down, newer ones.
    scroller = page.locator("#message-scroller")
    ends = (("0", "#history-start"), ("el.scrollHeight", "#message-list li:last-child"))
    arrived = re.compile("beginning|message 130")
    for end, done in ends:
        for _ in range(20):
            if await page.locator(done).filter(has_text=arrived).count():
                break
            await scroller.evaluate(f"el => {{ el.scrollTop = {end}; }}")
            await page.wait_for_timeout(150)
    await expect(page.locator("#history-start")).to_have_text("This is the beginning of the chat.")
    await expect(them.message("message 130")).to_have_count(1)
    bodies = await them.bodies().all_text_contents()
    assert bodies == [f"message {n}" for n in range(1, 131)]
    await expect(page.locator("#jump-latest")).to_be_hidden()


async def test_requests_declined_and_withdrawn_friends_unfriended_and_blocked(
    people: People, api: Api
) -> None:
    alice, bob, carol = [await api.sign_up(name) for name in ("alice", "bob", "carol")]
    dave, erin = await api.sign_up("dave"), await api.sign_up("erin")
    await api.befriend(alice, bob)
    await api.befriend(alice, carol)
    group = await api.call("POST", "/chats", alice, participants=["bob", "carol"], name="Club")
    await api.send(carol, group["id"], "carol was here")
    await api.call("POST", "/friend-requests", dave, to="alice")
    them = await people("alice", token=alice.token, hash="#friends")
    page = them.page
    await live(them)

    # Decline Dave; ask Erin, then think better of it.
    await page.get_by_role("button", name="Decline dave").click()
    await expect(page.locator("#incoming-list")).to_have_text("No requests waiting for you.")
    await page.get_by_label("Add a friend by username").fill("erin")
    await page.keyboard.press("Enter")
    await expect(page.locator("#outgoing-list")).to_contain_text("erin")
    await page.get_by_role("button", name="Withdraw erin").click()
    await expect(page.locator("#outgoing-list")).not_to_contain_text("erin")
    assert (await api.call("GET", "/friend-requests", erin))["items"] == []
    requests = (await api.call("GET", "/friend-requests", dave))["items"]
    assert [r["status"] for r in requests] == ["rejected"]
    # A request the server refuses says why, in its words.
    await page.get_by_label("Add a friend by username").fill("nobody")
    await page.keyboard.press("Enter")
    await expect(page.locator("#add-friend-form .form-error")).to_contain_text("user")

    # Unfriend Bob (he sees it live); block Carol: her group messages are hidden.
    bob_page = await people("bob", token=bob.token, hash="#friends")
    await live(bob_page)
    await expect(bob_page.page.locator("#friend-list")).to_contain_text("alice")
    await page.get_by_role("button", name="Unfriend bob").click()
    await page.locator("#confirm-dialog").get_by_role("button", name="Unfriend").click()
    await expect(page.locator("#friend-list")).not_to_contain_text("bob")
    await expect(bob_page.page.locator("#friend-list")).not_to_contain_text("alice")
    await page.get_by_role("button", name="Block carol").click()
    await page.locator("#confirm-dialog").get_by_role("button", name="Block").click()
    await expect(page.locator("#block-list")).to_contain_text("carol")
    await expect(page.locator("#friend-list")).to_have_text(
        "No friends yet: add someone by their username above."
    )
    await page.goto(f"/#chat/{group['id']}")
    await expect(them.message("carol was here")).to_have_count(0)
    await expect(page.locator("#message-list")).to_contain_text("Message from someone you blocked.")
    await page.goto("/#friends")
    await page.get_by_role("button", name="Unblock carol").click()
    await expect(page.locator("#block-list")).to_have_text("You block no one.")
    await page.goto(f"/#chat/{group['id']}")
    await expect(them.message("carol was here")).to_have_count(1)


async def test_groups_are_made_renamed_joined_and_left(people: People, api: Api) -> None:
    alice, bob = await api.sign_up("alice"), await api.sign_up("bob")
    carol = await api.sign_up("carol")
    await api.befriend(alice, bob)
    await api.befriend(alice, carol)
    a_person = await people("alice", token=alice.token)
    b_person = await people("bob", token=bob.token)
    a, b = a_person.page, b_person.page
    await live(a_person)
    await live(b_person)

    await a.get_by_role("button", name="New chat").click()
    dialog = a.get_by_role("dialog", name="New chat")
    await dialog.get_by_label("bob (@bob)").check()
    await dialog.get_by_label("Group name").fill("Weekend")
    await dialog.get_by_role("button", name="Start chat").click()
    await expect(a.locator("#chat-title")).to_have_text("Weekend")
    await expect(a.locator("#chat-subtitle")).to_have_text("Group · 2 members")
    await a.keyboard.type("Who is in?")
    await a.keyboard.press("Enter")
    group = b.locator("#chat-list a", has_text="Weekend")
    await expect(group).to_contain_text("alice: Who is in?")
    await group.click()

    # Alice adds Carol and renames the group; Bob sees both live.
    await a.get_by_role("button", name="Chat details").click()
    details = a.get_by_role("dialog", name="Weekend")
    await details.get_by_label("Add a friend to the group").select_option(label="carol (@carol)")
    await details.get_by_role("button", name="Add", exact=True).click()
    await expect(details.locator("#member-list")).to_contain_text("carol")
    await expect(b.locator("#chat-subtitle")).to_have_text("Group · 3 members")
    await details.get_by_label("Group name").fill("Long weekend")
    await details.get_by_role("button", name="Rename").click()
    await expect(b.locator("#chat-title")).to_have_text("Long weekend")
    await expect(b.locator("#chat-list")).to_contain_text("Long weekend")

    # The creator removes Carol; Bob leaves; Alice sees her group shrink.
    await details.get_by_role("button", name="Remove carol").click()
    await a.locator("#confirm-dialog").get_by_role("button", name="Remove").click()
    await expect(details.locator("#member-list")).not_to_contain_text("carol")
    assert (await api.call("GET", "/chats", carol))["items"] == []
    await b.get_by_role("button", name="Chat details").click()
    await b.get_by_role("button", name="Leave group").click()
    await b.locator("#confirm-dialog").get_by_role("button", name="Leave").click()
    await expect(b.locator("#chat-list")).not_to_contain_text("Long weekend")
    await expect(b.locator("#welcome-view")).to_be_visible()
    await expect(a.locator("#chat-subtitle")).to_have_text("Group · 1 member")


async def test_sign_up_with_an_invite_and_errors_in_the_apis_words(
    browser: Any, settings: Settings
) -> None:
    from dataclasses import replace

    app = create_app(replace(settings, registration="invite"))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    person = None
    try:
        base = f"http://127.0.0.1:{server.port}"
        person = await new_person(browser, base, "dora")
        page = person.page
        await sign_up_in_page(person, succeeds=False)
        error = page.locator("#signup-form .form-error")
        await expect(error).to_contain_text("invite")
        await expect(page.locator("#signup-invite")).to_be_focused()
        invite = await invites.create(app[keys.pool], uses=1, expires_in=600, created_by=None)
        await page.locator("#signup-invite").fill(invite["code"])
        await page.get_by_role("button", name="Create account").click()
        await live(person)
        # A wrong password is the server's message, under the form.
        await page.get_by_role("button", name=re.compile("account, log out")).click()
        await page.get_by_role("button", name="Log out", exact=True).click()
        await page.locator("#login-username").fill("dora")
        await page.locator("#login-password").fill("not the password")
        await page.keyboard.press("Enter")
        await expect(page.locator("#login-error")).to_have_text("Wrong username or password.")
        assert person.problems == []
    finally:
        if person is not None:
            await person.context.close()
        await server.close()


async def test_keyboard_alone_phone_width_and_dark_mode(people: People, api: Api) -> None:
    first = "hi there, a first message long enough to overflow a narrow screen's chat list"
    await friends_with_chat(api, "alice", "bob", first=first)
    person = await people("bob", viewport=PHONE, color_scheme="dark")
    page = person.page
    # Log in with the keyboard alone.
    await expect(page.locator("#login-username")).to_be_focused()
    await page.keyboard.type("bob")
    await page.keyboard.press("Tab")
    await page.keyboard.type("correct horse battery")
    await page.keyboard.press("Enter")
    await live(person)
    # Dark, because the system is; nothing wider than the phone.
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(22, 24, 29)"
    assert await widest(page) <= PHONE["width"]

    # Tab to the chat and open it: on a phone it takes the whole screen.
    for _ in range(8):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.matches('#chat-list a')"):
            break
    await page.keyboard.press("Enter")
    await expect(page.locator("#chat-title")).to_have_text("alice")
    await expect(page.locator(".sidebar")).to_be_hidden()
    assert await widest(page) <= PHONE["width"]
    # Tab reaches the last message (once the history has come: as a user sees it first);
    # its actions follow it; Reply, then Escape.
    await expect(person.message(first)).to_be_visible()
    await page.locator("#composer-input").focus()
    await page.keyboard.press("Shift+Tab")
    await expect(person.message(first)).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Reply")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#composer-context")).to_contain_text("Replying to alice")
    await expect(page.locator("#composer-input")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(page.locator("#composer-context")).to_be_hidden()
    await page.keyboard.type("answer")
    await page.keyboard.press("Enter")
    await expect(person.message("answer")).to_have_count(1)
    # Back to the list.
    await page.get_by_role("link", name="Back to chats").first.click()
    await expect(page.locator(".sidebar")).to_be_visible()


# Screenshots for docs/WEB.md (only when asked: CHAAT_SCREENSHOTS=docs/screenshots) ---------


async def test_screenshots(browser: Any, site: str, api: Api) -> None:
    folder = os.environ.get("CHAAT_SCREENSHOTS")
    if not folder:
        pytest.skip("set CHAAT_SCREENSHOTS=<folder> to write the screenshots")
    from web_screenshots import take_screenshots

    await take_screenshots(browser, site, api, Path(folder))
