"""Creating a workspace with its owner, a first API key and a default sender."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import Sender, User, Workspace
from recado.domain.roles import Role
from recado.errors import ValidationFailed
from recado.ids import new_id
from recado.services import credentials
from recado.services.actor import system_actor

# Numbers of the simulator's own: 555-01XX is reserved for fiction in North America. The
# first workspace gets the first; later ones a random one, so inbound texts find their owner.
SIMULATOR_SENDER = "+12015550100"


async def _simulator_number(session: AsyncSession) -> str:
    taken = set(await session.scalars(select(Sender.address).where(Sender.kind == "long_code")))
    if SIMULATOR_SENDER not in taken:
        return SIMULATOR_SENDER
    for _ in range(50):
        candidate = f"+1201555{secrets.randbelow(10_000):04d}"
        if candidate not in taken:
            return candidate
    return candidate


@dataclass(frozen=True)
class NewWorkspace:
    workspace: Workspace
    owner_email: str
    owner_password: str
    api_key: str


async def create_workspace(
    session: AsyncSession,
    *,
    name: str,
    owner_email: str,
    default_country: str = "US",
    owner_password: str | None = None,
) -> NewWorkspace:
    if not name.strip():
        raise ValidationFailed("A workspace needs a name.", field="name")
    workspace = Workspace(
        id=new_id("ws"),
        name=name.strip(),
        default_country=default_country,
        settings={
            "webhook_secret": "whsec_" + secrets.token_urlsafe(24),
            # Keys the hashes of suppressed numbers; never changes (see services.consent).
            "suppression_key": "sup_" + secrets.token_urlsafe(32),
        },
    )
    session.add(workspace)
    await session.flush()  # the workspace row first: the rows below refer to it
    session.add(
        Sender(
            id=new_id("snd"),
            workspace_id=workspace.id,
            address=await _simulator_number(session),
            kind="long_code",
            is_default=True,
        )
    )
    await session.flush()
    actor = system_actor(workspace.id)
    password = owner_password or secrets.token_urlsafe(12)
    await credentials.create_user(
        session, actor, email=owner_email, password=password, role=Role.OWNER
    )
    _, key = await credentials.create_api_key(session, actor, name="First key", role=Role.OWNER)
    return NewWorkspace(workspace, owner_email.lower(), password, key)


async def first_workspace(session: AsyncSession) -> Workspace | None:
    return await session.scalar(select(Workspace).order_by(Workspace.created_at).limit(1))


async def owner_of(session: AsyncSession, workspace_id: str) -> User | None:
    return await session.scalar(
        select(User).where(User.workspace_id == workspace_id, User.role == Role.OWNER.value)
    )


async def bootstrap_if_empty(
    session: AsyncSession, *, name: str, owner_email: str, default_country: str
) -> NewWorkspace | None:
    """On the very first start, create the workspace, its owner and a key; else do nothing."""
    if await first_workspace(session) is not None:
        return None
    return await create_workspace(
        session, name=name, owner_email=owner_email, default_country=default_country
    )
