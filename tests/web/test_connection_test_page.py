"""The "Test connection" button on Settings > Senders & carriers."""

from __future__ import annotations

from recado.platform import Platform
from recado.services import carrier_setup
from recado.services.actor import system_actor
from recado.services.workspaces import NewWorkspace
from tests.web.conftest import Browser


async def _simulator_connection(platform: Platform, workspace: NewWorkspace) -> str:
    async with platform.sessions() as session:
        connection = await carrier_setup.create_connection(
            session,
            system_actor(workspace.workspace.id),
            name="Lab simulator",
            kind="simulator",
            config={},
            enabled=False,
        )
        return connection.id


async def test_the_button_answers_a_status_fragment(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    connection_id = await _simulator_connection(platform, workspace)
    page = await owner.get("/app/settings/carriers")
    assert page.status_code == 200
    action = f"/app/settings/connections/{connection_id}/test"
    assert f'hx-post="{action}"' in page.text
    assert "Test connection" in page.text

    answer = await owner.post(action, headers={"HX-Request": "true"})
    assert answer.status_code == 200, answer.text
    assert answer.text.startswith('<output role="status"')
    assert "Connected in " in answer.text and " ms</output>" in answer.text


async def test_without_htmx_the_result_is_a_notice(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    connection_id = await _simulator_connection(platform, workspace)
    await owner.get("/app/settings/carriers")
    answer = await owner.post(f"/app/settings/connections/{connection_id}/test")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/settings/carriers"
    page = await owner.get("/app/settings/carriers")
    assert "Connected in " in page.text
