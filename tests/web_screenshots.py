"""The screenshots of docs/WEB.md: a small, lived-in scene, photographed on a desktop
and a phone, in light and dark. Run by tests/test_web.py::test_screenshots when
CHAAT_SCREENSHOTS names a folder:

    CHAAT_SCREENSHOTS=docs/screenshots .venv/bin/pytest tests/test_web.py -k screenshots
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from playwright.async_api import expect
from web_people import DESKTOP, PHONE, Account, Api, live, new_person


async def _scene(api: Api) -> tuple[dict[str, Account], int]:
    """Alice's world: friends, a request each way, a group with a reply, reactions and
    an edit, and direct chats, one with something unread. Answers (people, group id)."""
    names = {
        "alice": "Alice Martin",
        "bob": "Bob Okafor",
        "carol": "Carol Chen",
        "dave": "Dave",
        "erin": "Erin",
    }
    people = {name: await api.sign_up(name, shown) for name, shown in names.items()}
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    await api.befriend(alice, bob)
    await api.befriend(alice, carol)
    await api.befriend(bob, carol)
    await api.call("POST", "/friend-requests", people["dave"], to="alice")
    await api.call("POST", "/friend-requests", alice, to="erin")

    direct = await api.call("POST", "/chats", carol, participants=["alice"])
    tickets = await api.send(carol, direct["id"], "Did you get the tickets?")
    await api.call("POST", f"/chats/{direct['id']}/read", alice, seq=tickets["seq"])
    await api.send(alice, direct["id"], "Yes! Two for Saturday.")

    group = await api.call(
        "POST", "/chats", alice, participants=["bob", "carol"], name="Weekend trip"
    )
    gid = group["id"]
    m1 = await api.send(alice, gid, "Who's in for the lake on Saturday? 🏞️")
    await api.send(bob, gid, "Me! I can drive, the car has room for four.")
    m3 = await api.send(carol, gid, "Count me in. Should we bring lunch or eat there?")
    await api.call("POST", f"/chats/{gid}/read", alice, seq=m3["seq"])
    await api.send(alice, gid, "Let's bring lunch, the café closes early.", reply_to=m3["seq"])
    m5 = await api.send(bob, gid, "I'll pick you both up at 9")
    await api.call(
        "PATCH", f"/chats/{gid}/messages/{m5['seq']}", bob, body="I'll pick you both up at 8:30"
    )
    for who, emoji, seq in (
        (bob, "👍", m1["seq"]),
        (carol, "👍", m1["seq"]),
        (carol, "🎉", m1["seq"]),
        (alice, "❤️", m5["seq"]),
    ):
        await api.call("PUT", f"/chats/{gid}/messages/{seq}/reactions/{emoji}", who)
    await api.call("POST", f"/chats/{gid}/read", carol, seq=m5["seq"])
    await api.send(bob, gid, "Bring a jacket, it gets windy 🌬️")

    other = await api.call("POST", "/chats", bob, participants=["alice"])
    await api.send(bob, other["id"], "Are you free for a call tonight?")
    await api.send(bob, other["id"], "No rush")
    return people, gid


async def take_screenshots(browser: Any, base: str, api: Api, folder: Path) -> None:
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    people, group_id = await _scene(api)
    alice = people["alice"]
    for scheme in ("light", "dark"):
        for device, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            name = f"{device}-{scheme}"
            person = await new_person(
                browser, base, "visitor", viewport=viewport, color_scheme=scheme
            )
            await person.page.locator("#login-username").wait_for()
            await person.page.screenshot(path=folder / f"login-{name}.png")
            await person.context.close()

            person = await new_person(
                browser, base, "alice", token=alice.token, viewport=viewport, color_scheme=scheme
            )
            page = person.page
            await live(person)
            if device == "phone":
                await page.screenshot(path=folder / f"chats-{name}.png")
            await page.goto(f"/#chat/{group_id}")
            await expect(page.locator("#message-list li").last).to_contain_text("jacket")
            await api.call("POST", f"/chats/{group_id}/typing", people["carol"])
            await expect(page.locator("#typing")).not_to_have_text("")
            await page.evaluate("document.activeElement.blur()")
            await page.screenshot(path=folder / f"chat-{name}.png")
            await page.goto("/#friends")
            await expect(page.locator("#incoming-list")).to_contain_text("Dave")
            await page.evaluate("document.activeElement.blur()")
            await page.screenshot(path=folder / f"friends-{name}.png")
            await person.context.close()
