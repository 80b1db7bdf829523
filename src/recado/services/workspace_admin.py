"""Reading and changing a workspace's own settings."""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import Workspace
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
