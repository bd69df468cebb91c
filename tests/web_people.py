"""People driving the web client in a real browser, for tests/test_web.py.

A Person is one browser context (its own sessionStorage, so its own login) on one
page of the client. Helpers sign people up through the page or, where a test is
about something else, through the API with the token handed to the page.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}


def chromium_or_skip() -> Path:
    """Debian's Chromium: .ci/run installs it, so in CI its absence is a failure."""
    if CHROMIUM.exists():
        return CHROMIUM
    reason = "Debian's chromium is not installed (apt-get install chromium; .ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class Account:
    """Someone signed up through the API, with a token."""

    id: int
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Person:
    """One browser context with the client open in it."""

    username: str
    context: Any  # playwright.async_api.BrowserContext
    page: Any  # playwright.async_api.Page
    problems: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def message(self, text: str) -> Any:
        """The message whose body is exactly text, in the open chat."""
        return self.page.locator("#message-list li.message").filter(
            has=self.page.locator(".body", has_text=text)
        )

    def bodies(self) -> Any:
        return self.page.locator("#message-list li.message .body")


class Api:
    """Just enough of the HTTP API to set the scene quickly."""

    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base = base
        self.session = session

    async def call(self, method: str, path: str, who: Account | None = None, **body: Any) -> Any:
        async with self.session.request(
            method,
            f"{self.base}/v1{path}",
            json=body if method != "GET" else None,
            headers=who.headers if who else None,
        ) as resp:
            assert resp.status < 300, await resp.text()
            return None if resp.status == 204 else await resp.json()

    async def sign_up(self, username: str, display_name: str = "") -> Account:
        extra = {"display_name": display_name} if display_name else {}
        user = await self.call("POST", "/users", username=username, password=PASSWORD, **extra)
        answer = await self.call("POST", "/tokens", username=username, password=PASSWORD)
        return Account(id=user["id"], username=username, token=answer["token"])

    async def befriend(self, a: Account, b: Account) -> None:
        request = await self.call("POST", "/friend-requests", a, to=b.username)
        await self.call("PATCH", f"/friend-requests/{request['id']}", b, status="accepted")

    async def send(self, who: Account, chat_id: int, body: str, **more: Any) -> Any:
        return await self.call("POST", f"/chats/{chat_id}/messages", who, body=body, **more)


async def new_person(
    browser: Any,
    base: str,
    username: str,
    *,
    token: str | None = None,
    viewport: dict[str, int] = DESKTOP,
    color_scheme: str = "light",
    hash: str = "",
) -> Person:
    """A fresh browser context on the client: logged in with token when given (the
    client keeps it in sessionStorage), else at the login screen."""
    context = await browser.new_context(
        viewport=viewport, color_scheme=color_scheme, base_url=base, locale="en-GB"
    )
    context.set_default_timeout(10_000)
    if token is not None:
        # As if the person had logged in in this tab (the client keeps its token there).
        await context.add_init_script(
            "if (!sessionStorage.getItem('chaat.token'))"
            f" sessionStorage.setItem('chaat.token', {json.dumps(token)})"
        )
    page = await context.new_page()
    person = Person(username=username, context=context, page=page)
    page.on("pageerror", lambda error: person.problems.append(f"uncaught: {error}"))

    def on_console(message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            person.problems.append(f"CSP: {message.text}")

    page.on("console", on_console)

    async def on_dialog(dialog: Any) -> None:
        person.dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    await page.goto(f"/{hash}")
    return person


async def sign_up_in_page(
    person: Person, *, display_name: str = "", invite: str = "", succeeds: bool = True
) -> None:
    """Fill in the sign-up form as a person would; wait for the app if it should open."""
    page = person.page
    await page.get_by_role("button", name="Create an account").click()
    await page.locator("#signup-username").fill(person.username)
    await page.locator("#signup-password").fill(PASSWORD)
    if display_name:
        await page.get_by_label("Display name").fill(display_name)
    if invite:
        await page.locator("#signup-invite").fill(invite)
    await page.get_by_role("button", name="Create account").click()
    if succeeds:
        await live(person)


async def live(person: Person) -> None:
    """Wait until the person's client has loaded its state and follows live events."""
    await person.page.locator("#app[data-loaded][data-connection=live]").wait_for()
