"""Settings > Webhooks: the default callback URL, the signing secret, recent deliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recado.db.tables import WebhookDelivery
from recado.domain.roles import Role
from recado.domain.workspace_settings import read_settings
from recado.errors import PermissionDenied, ValidationFailed
from recado.ids import new_id
from recado.platform import Platform
from recado.services import workspace_admin
from recado.services.actor import Actor, system_actor
from recado.services.workspaces import NewWorkspace
from tests.web.conftest import Browser

PAGE = "/app/settings/webhooks"


async def _settings(platform: Platform, workspace: NewWorkspace):  # type: ignore[no-untyped-def]
    async with platform.sessions() as session:
        _, settings = await workspace_admin.get_workspace(
            session, system_actor(workspace.workspace.id)
        )
        return settings


async def test_the_webhook_url_is_saved_shown_and_cleared(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    page = await owner.get(PAGE)
    assert page.status_code == 200
    assert 'aria-current="page"' in page.text and ">Webhooks</a>" in page.text
    assert '<label for="webhook-url">' in page.text
    assert "docs/webhooks.md" in page.text

    saved = await owner.post(PAGE, {"webhook_url": " https://shop.example/recado/status "})
    assert saved.status_code == 303
    shown = await owner.get(PAGE)
    assert 'value="https://shop.example/recado/status"' in shown.text
    assert "Webhook URL saved." in shown.text
    assert (await _settings(platform, workspace)).webhook_url == (
        "https://shop.example/recado/status"
    )

    await owner.post(PAGE, {"webhook_url": ""})
    assert (await _settings(platform, workspace)).webhook_url is None


async def test_a_bad_url_is_refused_with_a_readable_reason(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    await owner.post(PAGE, {"webhook_url": "https://shop.example/ok"})

    refused = await owner.post(PAGE, {"webhook_url": "ftp://shop.example/x"})
    page = await owner.get(PAGE)

    assert refused.status_code == 303
    assert "is not an http(s) URL" in page.text
    assert (await _settings(platform, workspace)).webhook_url == "https://shop.example/ok"


async def test_a_rotated_secret_is_shown_once(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    before = (await _settings(platform, workspace)).webhook_secret
    await owner.get(PAGE)

    rotated = await owner.post(f"{PAGE}/rotate")
    after = (await _settings(platform, workspace)).webhook_secret
    reload = await owner.get(PAGE)

    assert rotated.status_code == 200
    assert after and after != before
    assert '<label for="new-secret-value">Your new signing secret</label>' in rotated.text
    assert f'readonly value="{after}"' in rotated.text
    assert after not in reload.text
    assert "Your new signing secret" not in reload.text
    assert "no-store" in rotated.headers["cache-control"]


async def test_a_viewer_is_refused_the_page_and_the_changes(
    viewer: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    before = await _settings(platform, workspace)

    page = await viewer.get(PAGE)
    saved = await viewer.post(PAGE, {"webhook_url": "https://evil.example/"})
    rotated = await viewer.post(f"{PAGE}/rotate")

    assert page.status_code == 403
    assert saved.status_code == 403 and "may not manage settings" in saved.text
    assert rotated.status_code == 403
    after = await _settings(platform, workspace)
    assert after.webhook_url == before.webhook_url
    assert after.webhook_secret == before.webhook_secret


async def test_recent_deliveries_are_this_workspaces_newest_first(
    owner: Browser, platform: Platform, workspace: NewWorkspace, other_workspace: NewWorkspace
) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    async with platform.sessions() as session:
        for n, (workspace_id, url) in enumerate(
            [
                (workspace.workspace.id, "https://ours.example/older"),
                (other_workspace.workspace.id, "https://theirs.example/hook"),
                (workspace.workspace.id, "https://ours.example/newer"),
            ]
        ):
            session.add(
                WebhookDelivery(
                    id=new_id("whd"),
                    workspace_id=workspace_id,
                    event="message.status",
                    url=url,
                    payload="{}",
                    status="pending" if n == 2 else "delivered",
                    attempts=n + 1,
                    next_attempt_at=start + timedelta(hours=5) if n == 2 else None,
                    created_at=start + timedelta(hours=n),
                )
            )
        await session.commit()

    page = await owner.get(PAGE)

    assert "https://theirs.example/hook" not in page.text
    assert page.text.index("https://ours.example/newer") < page.text.index(
        "https://ours.example/older"
    )
    assert "2026-11-01 05:00 UTC" in page.text  # the next attempt of the pending one


async def test_the_service_checks_the_permission_and_the_url(
    platform: Platform, workspace: NewWorkspace
) -> None:
    admin = system_actor(workspace.workspace.id)
    viewer = Actor(workspace_id=workspace.workspace.id, role=Role.VIEWER)
    async with platform.sessions() as session:
        with pytest.raises(PermissionDenied):
            await workspace_admin.set_webhook_url(session, viewer, "https://a.example/")
        with pytest.raises(PermissionDenied):
            await workspace_admin.recent_webhook_deliveries(session, viewer)
        with pytest.raises(ValidationFailed):
            await workspace_admin.set_webhook_url(session, admin, "not a url")
        assert await workspace_admin.set_webhook_url(session, admin, "  ") is None
        saved = await workspace_admin.set_webhook_url(session, admin, "http://a.example/x")
        workspace_row, _ = await workspace_admin.get_workspace(session, admin)
        assert saved == read_settings(workspace_row.settings).webhook_url == "http://a.example/x"
