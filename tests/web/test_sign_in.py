"""Signing in and out, the session cookie, CSRF on every form, and what each role sees."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from recado.api.app import create_app
from recado.domain.roles import Role
from recado.platform import Platform
from recado.services import credentials
from recado.services.actor import system_actor
from recado.services.workspaces import NewWorkspace
from recado.settings import Settings
from tests.web.conftest import Browser


async def test_the_root_sends_a_stranger_to_the_sign_in_page(browser: Browser) -> None:
    response = await browser.get("/")

    assert response.status_code == 303
    assert response.headers["location"] == "/app/sign-in"


async def test_a_page_asks_a_stranger_to_sign_in_and_opens_after_it(
    browser: Browser, workspace: NewWorkspace
) -> None:
    asked = await browser.get("/app/contacts?q=ana")
    assert asked.status_code == 303
    assert asked.headers["location"] == "/app/sign-in?next=%2Fapp%2Fcontacts%3Fq%3Dana"

    page = await browser.get(asked.headers["location"])
    assert 'name="next" value="/app/contacts?q=ana"' in page.text
    signed_in = await browser.post(
        "/app/sign-in",
        {
            "email": workspace.owner_email,
            "password": workspace.owner_password,
            "next": "/app/contacts?q=ana",
        },
    )

    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/app/contacts?q=ana"


async def test_sign_in_never_redirects_to_another_site(
    browser: Browser, workspace: NewWorkspace
) -> None:
    await browser.get("/app/sign-in")
    response = await browser.post(
        "/app/sign-in",
        {
            "email": workspace.owner_email,
            "password": workspace.owner_password,
            "next": "//evil.example/app/",
        },
    )

    assert response.headers["location"] == "/app/dashboard"


async def test_a_wrong_password_is_refused_with_a_readable_message(
    browser: Browser, workspace: NewWorkspace
) -> None:
    response = await browser.sign_in(workspace.owner_email, "not the password")

    assert response.status_code == 401
    assert "The email or the password is not right." in response.text
    assert (await browser.get("/app/dashboard")).status_code == 303


async def test_the_owner_signs_in_and_sees_every_section_in_the_nav(owner: Browser) -> None:
    page = await owner.get("/app/dashboard")

    assert page.status_code == 200
    for label in (
        "Dashboard",
        "Contacts",
        "Lists",
        "Campaigns",
        "Messages",
        "Templates",
        "Settings",
        "Developers",
    ):
        assert f">{label}</a>" in page.text
    assert 'aria-current="page">Dashboard' in page.text


async def test_the_session_cookie_is_signed_http_only_and_same_site_lax(
    browser: Browser, workspace: NewWorkspace
) -> None:
    await browser.get("/app/sign-in")
    response = await browser.post(
        "/app/sign-in", {"email": workspace.owner_email, "password": workspace.owner_password}
    )

    cookie = response.headers["set-cookie"]
    assert cookie.startswith("recado_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    assert workspace.owner_email not in cookie

    browser.client.cookies.set("recado_session", "forged" + cookie.split(";")[0][-20:])
    assert (await browser.get("/app/dashboard")).status_code == 303


async def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(
    owner: Browser,
) -> None:
    missing = await owner.client.post("/app/lists", data={"name": "Sneaky"})
    wrong = await owner.client.post("/app/lists", data={"name": "Sneaky", "csrf_token": "guess"})
    with_header = await owner.client.post(
        "/app/lists", data={"name": "By htmx"}, headers={"X-CSRF-Token": owner.token}
    )

    assert missing.status_code == 403
    assert wrong.status_code == 403
    assert "This form has expired" in missing.text
    assert with_header.status_code == 303
    lists = await owner.get("/app/lists")
    assert "Sneaky" not in lists.text
    assert "By htmx" in lists.text


async def test_signing_out_ends_the_session(owner: Browser) -> None:
    response = await owner.post("/app/sign-out")

    assert response.status_code == 303
    page = await owner.get("/app/sign-in")
    assert "You are signed out." in page.text
    assert (await owner.get("/app/contacts")).status_code == 303


async def test_a_viewer_sees_no_settings_and_is_refused_them(
    platform: Platform, browser: Browser, workspace: NewWorkspace
) -> None:
    async with platform.sessions() as session:
        await credentials.create_user(
            session,
            system_actor(workspace.workspace.id),
            email="vera@acme.test",
            password="viewer-password-1",
            role=Role.VIEWER,
        )
    await browser.sign_in("vera@acme.test", "viewer-password-1")

    dashboard = await browser.get("/app/dashboard")
    settings = await browser.get("/app/settings")
    keys = await browser.get("/app/settings/api-keys")
    new_list = await browser.post("/app/lists", {"name": "Viewer list"})

    assert ">Settings</a>" not in dashboard.text
    assert ">Contacts</a>" in dashboard.text
    assert settings.status_code == 403
    assert "The viewer role may not manage settings" in settings.text
    assert keys.status_code == 403
    assert new_list.status_code == 303  # back to the form, with the reason
    lists = await browser.get("/app/lists")
    assert "may not manage audience" in lists.text
    assert "Viewer list" not in lists.text
    developers = await browser.get("/app/developers")
    assert "curl -s" in developers.text and "Send it now" not in developers.text


async def test_an_htmx_request_after_the_session_ended_loads_the_sign_in_page(
    browser: Browser,
) -> None:
    response = await browser.get("/app/dashboard/carriers", headers={"HX-Request": "true"})

    assert response.status_code == 204
    assert response.headers["hx-redirect"] == "/app/sign-in"


async def test_an_address_under_app_that_does_not_exist_is_a_readable_page(
    owner: Browser,
) -> None:
    response = await owner.get("/app/no-such-page")

    assert response.status_code == 404
    assert "There is no page at this address" in response.text
    assert ">Contacts</a>" in response.text


async def test_a_signed_in_session_survives_a_restart_of_the_server(
    owner: Browser, platform: Platform
) -> None:
    cookie = owner.client.cookies["recado_session"]
    restarted = create_app(platform, start_workers=False)
    transport = httpx.ASGITransport(app=restarted)
    async with httpx.AsyncClient(transport=transport, base_url="http://recado.test") as client:
        client.cookies.set("recado_session", cookie)
        page = await client.get("/app/dashboard")

    assert page.status_code == 200
    assert "owner@acme.test" in page.text


async def test_servers_sharing_a_session_secret_accept_each_others_sessions(
    platform: Platform, workspace: NewWorkspace, tmp_path: Path
) -> None:
    """Behind a load balancer: two servers with their own data directories and the same
    RECADO_SESSION_SECRET; a server with another secret does not know the cookie."""
    secret = "s" * 40
    cookies = []
    for data_dir in ("one", "two"):
        settings = platform.settings.model_copy(
            update={"session_secret": secret, "data_dir": tmp_path / data_dir}
        )
        app = create_app(Platform(settings), start_workers=False)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://recado.test"
        ) as client:
            if cookies:
                client.cookies.set("recado_session", cookies[0])
                page = await client.get("/app/dashboard")
                assert page.status_code == 200 and "owner@acme.test" in page.text
            else:
                await client.get("/app/sign-in")
                signed = await Browser(client).sign_in(
                    workspace.owner_email, workspace.owner_password
                )
                assert signed.status_code == 303, signed.text
                cookies.append(client.cookies["recado_session"])
    stranger = create_app(platform, start_workers=False)  # its own key, in the data directory
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stranger), base_url="http://recado.test"
    ) as client:
        client.cookies.set("recado_session", cookies[0])
        refused = await client.get("/app/dashboard")
    assert refused.status_code == 303


def test_a_short_session_secret_is_refused_with_how_to_make_one() -> None:
    with pytest.raises(ValidationError, match="32 characters or more"):
        Settings(session_secret="short")
