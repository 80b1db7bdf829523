"""Request dependencies: the database session and the authenticated Actor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from recado.errors import Unauthorized
from recado.platform import Platform
from recado.services.actor import Actor
from recado.services.credentials import authenticate_api_key, known_api_key


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_platform(request).sessions() as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session)]


async def get_actor(request: Request) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "Send your API key as 'Authorization: Bearer <key>'. "
            "Create one with `recado apikey create`."
        )
    platform = get_platform(request)
    # A key used in the last seconds needs no session at all (the send path's hot spot).
    known = known_api_key(platform.engine.sync_engine, token.strip())
    if known is not None:
        return known
    async with platform.sessions() as session:
        return await authenticate_api_key(session, token.strip())


CurrentActor = Annotated[Actor, Depends(get_actor)]
