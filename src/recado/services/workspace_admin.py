"""Reading and changing a workspace's own settings."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlparse

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import WebhookDelivery, Workspace
from recado.domain.roles import Permission
from recado.domain.workspace_settings import WorkspaceSettings, read_settings
from recado.errors import ValidationFailed
from recado.services.actor import Actor

# Settings that are secrets: never returned, never set through a plain update.
SECRET_FIELDS = frozenset({"webhook_secret", "suppression_key"})


async def get_workspace(session: AsyncSession, actor: Actor) -> tuple[Workspace, WorkspaceSettings]:
    actor.require(Permission.READ)
    workspace = await session.get(Workspace, actor.workspace_id)
    assert workspace is not None
    return workspace, read_settings(workspace.settings)


async def update_settings(
    session: AsyncSession, actor: Actor, changes: dict[str, Any]
) -> WorkspaceSettings:
    actor.require(Permission.MANAGE_SETTINGS)
    unknown = set(changes) - set(WorkspaceSettings.model_fields) | (set(changes) & SECRET_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown setting: {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    workspace = await session.get(Workspace, actor.workspace_id)
    assert workspace is not None
    try:
        merged = WorkspaceSettings.model_validate({**(workspace.settings or {}), **changes})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise ValidationFailed(f"{field}: {first['msg']}", field=field) from None
    workspace.settings = merged.model_dump()
    await session.commit()
    return merged


async def rotate_webhook_secret(session: AsyncSession, actor: Actor) -> str:
    """A new signing secret; the old one stops working at once. Returned this once."""
    actor.require(Permission.MANAGE_SETTINGS)
    workspace = await session.get(Workspace, actor.workspace_id)
    assert workspace is not None
    secret = "whsec_" + secrets.token_urlsafe(24)
    workspace.settings = {**(workspace.settings or {}), "webhook_secret": secret}
    await session.commit()
    return secret


async def set_webhook_url(session: AsyncSession, actor: Actor, url: str | None) -> str | None:
    """Set the workspace's default status-callback URL; empty or None clears it."""
    actor.require(Permission.MANAGE_SETTINGS)
    clean = (url or "").strip() or None
    if clean is not None:
        parsed = urlparse(clean)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or " " in clean:
            raise ValidationFailed(
                f"'{clean}' is not an http(s) URL, such as https://example.com/recado.",
                field="webhook_url",
            )
        if len(clean) > 2000:
            raise ValidationFailed(
                "The webhook URL is longer than 2000 characters.", field="webhook_url"
            )
    await update_settings(session, actor, {"webhook_url": clean})
    return clean


async def recent_webhook_deliveries(
    session: AsyncSession, actor: Actor, *, limit: int = 50
) -> list[WebhookDelivery]:
    """The workspace's latest webhook deliveries, newest first."""
    actor.require(Permission.MANAGE_SETTINGS)
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.workspace_id == actor.workspace_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(max(1, min(limit, 200)))
    )
    return list(await session.scalars(query))
