"""Fixtures for the web UI: a browser-like client (cookies, no API key) and signing in."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from recado.api.app import create_app
from recado.domain.roles import Role
from recado.platform import Platform
from recado.services import credentials
from recado.services.actor import system_actor
from recado.services.workspaces import NewWorkspace

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    found = _TOKEN.search(page.text)
    assert found, "the page has no CSRF field"
    return found.group(1)


class Browser:
    """An httpx client that keeps cookies and posts forms with the page's CSRF token."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.token = ""

    async def get(self, path: str, **kwargs: object) -> httpx.Response:
        response = await self.client.get(path, **kwargs)  # type: ignore[arg-type]
        found = _TOKEN.search(response.text)
        if found:
            self.token = found.group(1)
        return response

    async def post(
        self, path: str, data: dict[str, str] | None = None, **kwargs: object
    ) -> httpx.Response:
        if not self.token:
            await self.get("/app/sign-in")
        form = {"csrf_token": self.token, **(data or {})}
        return await self.client.post(path, data=form, **kwargs)  # type: ignore[arg-type]

    async def sign_in(self, email: str, password: str) -> httpx.Response:
        await self.get("/app/sign-in")
        response = await self.post("/app/sign-in", {"email": email, "password": password})
        await self.get("/app/dashboard")  # the token changes at sign-in
        return response


@pytest.fixture
async def browser(platform: Platform) -> AsyncIterator[Browser]:
    """A signed-out browser on the app (no workers: messages stay queued)."""
    app = create_app(platform, start_workers=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://recado.test") as client:
        yield Browser(client)


@pytest.fixture
async def owner(browser: Browser, workspace: NewWorkspace) -> Browser:
    """The browser, signed in as the owner of the `workspace` fixture."""
    response = await browser.sign_in(workspace.owner_email, workspace.owner_password)
    assert response.status_code == 303, response.text
    return browser


@pytest.fixture
async def viewer(platform: Platform, workspace: NewWorkspace) -> AsyncIterator[Browser]:
    """A second browser, signed in as a viewer (vera@acme.test) of the same workspace."""
    async with platform.sessions() as session:
        await credentials.create_user(
            session,
            system_actor(workspace.workspace.id),
            email="vera@acme.test",
            password="viewer-password-1",
            role=Role.VIEWER,
        )
    app = create_app(platform, start_workers=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://recado.test"
    ) as client:
        signed = Browser(client)
        await signed.sign_in("vera@acme.test", "viewer-password-1")
        yield signed
