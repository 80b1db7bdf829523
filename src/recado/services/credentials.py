"""Passwords (argon2) and API keys (random, stored as SHA-256): users, keys, authentication."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import ApiKey, User, utcnow
from recado.domain.contact_fields import clean_email
from recado.domain.roles import Permission, Role, may_grant, removal_refusal, role_change_refusal
from recado.errors import Conflict, NotFound, PermissionDenied, Unauthorized, ValidationFailed
from recado.ids import new_id
from recado.services import config_cache
from recado.services.actor import Actor

_hasher = PasswordHasher()
KEY_PREFIX = "rk_"
MIN_PASSWORD_LENGTH = 10
KEY_TOUCH_INTERVAL = timedelta(minutes=1)  # how stale an API key's last_used_at may be


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_role(value: str) -> Role:
    try:
        return Role(value.lower())
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise ValidationFailed(
            f"'{value}' is not a role: use one of {choices}.", field="role"
        ) from None


async def create_user(
    session: AsyncSession, actor: Actor, *, email: str, password: str, role: Role
) -> User:
    actor.require(Permission.MANAGE_USERS)
    if not may_grant(actor.role, role):
        raise PermissionDenied(f"A {actor.role.value} may not create a {role.value}.")
    address = clean_email(email)
    if address is None:
        raise ValidationFailed("An email address is required.", field="email")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"The password must have at least {MIN_PASSWORD_LENGTH} characters.", field="password"
        )
    address = address.lower()
    if await session.scalar(select(User.id).where(User.email == address)):
        raise Conflict(f"A user with the email {address} already exists.", field="email")
    user = User(
        id=new_id("usr"),
        workspace_id=actor.workspace_id,
        email=address,
        password_hash=hash_password(password),
        role=role.value,
    )
    session.add(user)
    await session.commit()
    return user


async def authenticate_user(session: AsyncSession, email: str, password: str) -> Actor:
    user = await session.scalar(select(User).where(User.email == email.strip().lower()))
    # Verify against a dummy hash when the user is unknown, so timing does not reveal emails.
    stored = user.password_hash if user else _DUMMY_HASH
    if not verify_password(stored, password) or user is None:
        raise Unauthorized("The email or the password is not right.")
    return Actor(workspace_id=user.workspace_id, role=Role(user.role), user_id=user.id)


_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


async def create_api_key(
    session: AsyncSession, actor: Actor, *, name: str, role: Role = Role.ADMIN
) -> tuple[ApiKey, str]:
    """Create a key; the plain key is returned once and never stored."""
    actor.require(Permission.MANAGE_SETTINGS)
    if not may_grant(actor.role, role):
        raise PermissionDenied(f"A {actor.role.value} may not create a key with the {role} role.")
    plain = KEY_PREFIX + secrets.token_urlsafe(24)
    key = ApiKey(
        id=new_id("key"),
        workspace_id=actor.workspace_id,
        name=(name or "API key").strip()[:200],
        key_hash=hash_api_key(plain),
        prefix=plain[:10],
        role=role.value,
    )
    session.add(key)
    await session.commit()
    return key, plain


async def list_api_keys(session: AsyncSession, actor: Actor) -> list[ApiKey]:
    actor.require(Permission.MANAGE_SETTINGS)
    rows = await session.scalars(
        select(ApiKey).where(ApiKey.workspace_id == actor.workspace_id).order_by(ApiKey.id)
    )
    return list(rows)


async def revoke_api_key(session: AsyncSession, actor: Actor, key_id: str) -> None:
    actor.require(Permission.MANAGE_SETTINGS)
    await session.execute(
        update(ApiKey)
        .where(ApiKey.workspace_id == actor.workspace_id, ApiKey.id == key_id)
        .values(revoked_at=utcnow())
    )
    await session.commit()


def known_api_key(bind: Engine, plain: str) -> Actor | None:
    """The key's actor if it was checked in the last seconds (a revocation in this process
    forgets it at once), and its last use needs no new stamp; else None: ask the database."""
    known: tuple[Actor, datetime] | None = config_cache.get(bind, "api_key", hash_api_key(plain))
    if known is not None and utcnow() - known[1] <= KEY_TOUCH_INTERVAL:
        return known[0]
    return None


async def authenticate_api_key(session: AsyncSession, plain: str) -> Actor:
    known = known_api_key(session.get_bind(), plain)
    if known is not None:
        return known
    digest = hash_api_key(plain)
    now = utcnow()
    key = await session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    if key is None or key.revoked_at is not None:
        raise Unauthorized("The API key is not valid or was revoked.")
    # Touch last_used_at at most once a minute: a write per request would serialize SQLite.
    if key.last_used_at is None or now - key.last_used_at > KEY_TOUCH_INTERVAL:
        key.last_used_at = now
        await session.commit()
    actor = Actor(workspace_id=key.workspace_id, role=Role(key.role), api_key_id=key.id)
    config_cache.put(session.get_bind(), "api_key", digest, (actor, key.last_used_at))
    return actor


# --- people of a workspace -----------------------------------------------------------------


async def list_users(session: AsyncSession, actor: Actor) -> list[User]:
    """The workspace's people, oldest first."""
    actor.require(Permission.MANAGE_USERS)
    return list(
        await session.scalars(
            select(User).where(User.workspace_id == actor.workspace_id).order_by(User.created_at)
        )
    )


async def change_role(session: AsyncSession, actor: Actor, user_id: str, role: Role) -> User:
    """Give a person another role; it applies from their next request."""
    actor.require(Permission.MANAGE_USERS)
    user = await _user(session, actor, user_id)
    refusal = role_change_refusal(
        actor.role,
        own=user.id == actor.user_id,
        current=Role(user.role),
        new=role,
        owners=await _owners(session, actor),
    )
    if refusal:
        raise PermissionDenied(refusal)
    user.role = role.value
    await session.commit()
    return user


async def remove_user(session: AsyncSession, actor: Actor, user_id: str) -> str:
    """Remove a person: they are signed out at their next request. Returns their email."""
    actor.require(Permission.MANAGE_USERS)
    user = await _user(session, actor, user_id)
    refusal = removal_refusal(
        actor.role,
        own=user.id == actor.user_id,
        current=Role(user.role),
        owners=await _owners(session, actor),
    )
    if refusal:
        raise PermissionDenied(refusal)
    email = user.email
    await session.delete(user)
    await session.commit()
    return email


async def _user(session: AsyncSession, actor: Actor, user_id: str) -> User:
    user = await session.scalar(
        select(User).where(User.workspace_id == actor.workspace_id, User.id == user_id)
    )
    if user is None:
        raise NotFound(f"No user with id {user_id[:40]} in this workspace.")
    return user


async def _owners(session: AsyncSession, actor: Actor) -> int:
    # Locked on PostgreSQL: two admins demoting the last two owners at once cannot both win.
    query = select(User.id).where(
        User.workspace_id == actor.workspace_id, User.role == Role.OWNER.value
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return len(list(await session.scalars(query)))
