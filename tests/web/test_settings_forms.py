"""Settings > Signup forms: list, create and delete the hosted forms."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from recado.db.tables import SignupForm
from recado.platform import Platform
from recado.services import lists, signup_forms
from recado.services.actor import system_actor
from recado.services.workspaces import NewWorkspace
from tests.web.conftest import Browser

PAGE = "/app/settings/forms"


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    signup_forms.reset_rate_limits()


async def _list(platform: Platform, workspace: NewWorkspace, name: str) -> str:
    async with platform.sessions() as session:
        made = await lists.create_list(session, system_actor(workspace.workspace.id), name=name)
        return made.contact_list.id


async def _forms(platform: Platform, workspace_id: str) -> list[SignupForm]:
    async with platform.sessions() as session:
        return list(
            await session.scalars(select(SignupForm).where(SignupForm.workspace_id == workspace_id))
        )


async def test_a_form_is_created_listed_with_its_public_url_and_deleted(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    newsletter = await _list(platform, workspace, "Newsletter")
    empty = await owner.get(PAGE)
    assert empty.status_code == 200
    assert "No signup forms yet." in empty.text
    assert f'<option value="{newsletter}">Newsletter</option>' in empty.text
    for field in ("form-title", "form-list", "form-consent", "form-welcome"):
        assert f'<label for="{field}">' in empty.text and f'id="{field}"' in empty.text

    created = await owner.post(
        PAGE,
        {
            "title": "Summer offers",
            "list_id": newsletter,
            "consent_text": "I agree to get up to 4 texts a month from Acme. Reply STOP to stop.",
            "welcome_message": "Welcome to Acme offers!",
        },
    )
    assert created.status_code == 303
    listing = await owner.get(PAGE)
    [form] = await _forms(platform, workspace.workspace.id)
    found = re.search(r'<a href="([^"]+/f/' + re.escape(form.slug) + r')">', listing.text)

    assert "Signup form “Summer offers” created." in listing.text
    assert form.title == "Summer offers" and form.list_id == newsletter
    assert form.welcome_message == "Welcome to Acme offers!"
    assert found, listing.text
    public = await owner.client.get(urlsplit(found.group(1)).path)
    assert public.status_code == 200
    assert "Summer offers" in public.text

    deleted = await owner.post(f"{PAGE}/{form.id}/delete")
    after = await owner.get(PAGE)

    assert deleted.status_code == 303
    assert "Summer offers" not in after.text
    assert await _forms(platform, workspace.workspace.id) == []
    assert (await owner.client.get(urlsplit(found.group(1)).path)).status_code == 404


async def test_an_empty_consent_text_takes_the_standard_one_and_errors_are_shown(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    newsletter = await _list(platform, workspace, "Newsletter")
    await owner.get(PAGE)

    await owner.post(PAGE, {"title": "Plain", "list_id": newsletter, "consent_text": ""})
    refused = await owner.post(PAGE, {"title": "No list", "list_id": "lst_nonexistent"})
    page = await owner.get(PAGE)

    [form] = await _forms(platform, workspace.workspace.id)
    assert form.consent_text  # the standard text
    assert form.welcome_message is None
    assert refused.status_code == 303
    assert "No list with id lst_nonexistent in this workspace." in page.text


async def test_forms_of_another_workspace_are_not_listed_nor_deleted(
    owner: Browser, platform: Platform, workspace: NewWorkspace, other_workspace: NewWorkspace
) -> None:
    async with platform.sessions() as session:
        actor = system_actor(other_workspace.workspace.id)
        theirs = await lists.create_list(session, actor, name="Theirs")
        rival = await signup_forms.create_form(
            session, actor, list_id=theirs.contact_list.id, title="Rival offers"
        )
        rival_id = rival.id

    page = await owner.get(PAGE)
    await owner.post(f"{PAGE}/{rival_id}/delete")

    assert "Rival offers" not in page.text
    assert len(await _forms(platform, other_workspace.workspace.id)) == 1


async def test_a_viewer_is_refused_the_page_creating_and_deleting(
    viewer: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    newsletter = await _list(platform, workspace, "Newsletter")
    async with platform.sessions() as session:
        form = await signup_forms.create_form(
            session, system_actor(workspace.workspace.id), list_id=newsletter, title="Kept"
        )
        form_id = form.id

    page = await viewer.get(PAGE)
    created = await viewer.post(PAGE, {"title": "Viewer form", "list_id": newsletter})
    deleted = await viewer.post(f"{PAGE}/{form_id}/delete")

    assert page.status_code == 403
    assert created.status_code == 403 and "may not manage settings" in created.text
    assert deleted.status_code == 403
    assert [f.title for f in await _forms(platform, workspace.workspace.id)] == ["Kept"]


async def test_a_form_is_edited_and_its_public_page_shows_the_change(
    owner: Browser, platform: Platform, workspace: NewWorkspace, viewer: Browser
) -> None:
    first = await _list(platform, workspace, "Newsletter")
    second = await _list(platform, workspace, "VIP")
    await owner.post(PAGE, {"title": "Offers by text", "list_id": first})
    [form] = await _forms(platform, workspace.workspace.id)

    page = await owner.get(f"{PAGE}/{form.id}")
    saved = await owner.post(
        f"{PAGE}/{form.id}",
        {
            "title": "Ofertas por SMS",
            "list_id": second,
            "consent_text": "Quero receber ofertas da Acme por SMS. Responda SAIR para sair.",
            "welcome_message": "",
        },
    )
    refused = await viewer.post(f"{PAGE}/{form.id}", {"title": "Hacked", "list_id": first})
    public = await owner.client.get(f"/f/{form.slug}")

    assert page.status_code == 200 and 'value="Offers by text"' in page.text
    assert saved.status_code == 303
    assert refused.status_code == 403
    [changed] = await _forms(platform, workspace.workspace.id)
    assert (changed.title, changed.list_id, changed.welcome_message) == (
        "Ofertas por SMS",
        second,
        None,
    )
    assert "Ofertas por SMS" in public.text
