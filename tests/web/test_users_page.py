"""Settings → Users: roles changed from the page take effect at the person's next page;
a removed person is signed out."""

from __future__ import annotations

import re

from recado.platform import Platform
from recado.services import credentials
from recado.services.actor import system_actor
from recado.services.workspaces import NewWorkspace
from tests.web.conftest import Browser


async def test_the_owner_changes_a_role_then_removes_the_person(
    owner: Browser, viewer: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    async with platform.sessions() as session:
        people = await credentials.list_users(session, system_actor(workspace.workspace.id))
    vera = next(person for person in people if person.email == "vera@acme.test")
    before = await viewer.get("/app/dashboard")

    page = await owner.get("/app/settings/users")
    changed = await owner.post(f"/app/settings/users/{vera.id}/role", {"role": "marketer"})
    told = await owner.get("/app/settings/users")
    after = await viewer.get("/app/dashboard")
    removed = await owner.post(f"/app/settings/users/{vera.id}/remove")
    gone = await viewer.get("/app/dashboard")

    assert "<small>(viewer)</small>" in before.text
    assert f'action="/app/settings/users/{vera.id}/role"' in page.text
    own_row = re.search(r"<tr>\s*<td>owner@acme.test</td>(.*?)</tr>", page.text, re.S)
    assert own_row and "<form" not in own_row.group(1)  # nobody changes their own role
    assert changed.status_code == 303
    assert "vera@acme.test is now marketer" in told.text
    assert "<small>(marketer)</small>" in after.text
    assert removed.status_code == 303
    assert gone.status_code == 303 and gone.headers["location"].startswith("/app/sign-in")


async def test_the_only_owner_cannot_be_demoted_from_the_page(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    async with platform.sessions() as session:
        me = await credentials.authenticate_user(
            session, workspace.owner_email, workspace.owner_password
        )
    refused = await owner.post(
        f"/app/settings/users/{me.user_id}/role",
        {"role": "viewer"},
        headers={"Referer": "http://recado.test/app/settings/users"},
    )
    page = await owner.get(refused.headers.get("location", "/app/settings/users"))
    assert refused.status_code in (303, 403)
    assert "own role" in (page.text + refused.text)
    async with platform.sessions() as session:
        people = {u.email: u.role for u in await credentials.list_users(session, me)}
    assert people[workspace.owner_email] == "owner"
