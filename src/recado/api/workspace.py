"""/v1/workspace: the workspace's name, country and settings (webhooks, short domain, footer)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from recado.api.deps import CurrentActor, Session
from recado.services import workspace_admin

router = APIRouter(prefix="/v1/workspace", tags=["workspace"])


class WorkspaceOut(BaseModel):
    id: str
    name: str
    default_country: str
    settings: dict[str, Any]


def _public(settings: Any) -> dict[str, Any]:
    data: dict[str, Any] = settings.model_dump(exclude=set(workspace_admin.SECRET_FIELDS))
    return data


@router.get("", response_model=WorkspaceOut, summary="The workspace and its settings")
async def read(session: Session, actor: CurrentActor) -> WorkspaceOut:
    workspace, settings = await workspace_admin.get_workspace(session, actor)
    return WorkspaceOut(
        id=workspace.id,
        name=workspace.name,
        default_country=workspace.default_country,
        settings=_public(settings),
    )


@router.patch("/settings", summary="Change some settings; the others stay as they are")
async def update(changes: dict[str, Any], session: Session, actor: CurrentActor) -> dict[str, Any]:
    return _public(await workspace_admin.update_settings(session, actor, changes))


@router.post(
    "/webhook-secret",
    summary="Make a new webhook signing secret (shown once; the old one stops working)",
)
async def rotate(session: Session, actor: CurrentActor) -> dict[str, str]:
    return {"webhook_secret": await workspace_admin.rotate_webhook_secret(session, actor)}
