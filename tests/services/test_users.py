"""A workspace's people: listed, their roles changed and removed, within the role rules."""

from __future__ import annotations

import pytest

from recado.domain.roles import Role
from recado.errors import NotFound, PermissionDenied
from recado.platform import Platform
from recado.services import credentials
from recado.services.actor import Actor, system_actor
from recado.services.workspaces import NewWorkspace


async def _person(platform: Platform, workspace: NewWorkspace, email: str, role: Role) -> str:
    async with platform.sessions() as session:
        user = await credentials.create_user(
            session,
            system_actor(workspace.workspace.id),
            email=email,
            password="a-long-password-1",
            role=role,
        )
        return user.id


async def _owner(platform: Platform, workspace: NewWorkspace) -> Actor:
    async with platform.sessions() as session:
        actor = await credentials.authenticate_user(
            session, workspace.owner_email, workspace.owner_password
        )
    return actor


async def test_an_admin_changes_a_role_and_the_list_shows_it(
    platform: Platform, workspace: NewWorkspace
) -> None:
    admin_id = await _person(platform, workspace, "ada@acme.test", Role.ADMIN)
    vera = await _person(platform, workspace, "vera@acme.test", Role.VIEWER)
    admin = Actor(workspace.workspace.id, Role.ADMIN, user_id=admin_id)
    async with platform.sessions() as session:
        changed = await credentials.change_role(session, admin, vera, Role.MARKETER)
        people = {u.email: u.role for u in await credentials.list_users(session, admin)}
    assert changed.role == "marketer"
    assert people["vera@acme.test"] == "marketer"
    assert people[workspace.owner_email] == "owner"


async def test_the_rules_hold_in_the_service(
    platform: Platform, workspace: NewWorkspace, other_workspace: NewWorkspace
) -> None:
    admin_id = await _person(platform, workspace, "ada@acme.test", Role.ADMIN)
    admin = Actor(workspace.workspace.id, Role.ADMIN, user_id=admin_id)
    owner = await _owner(platform, workspace)
    assert owner.user_id is not None
    stranger = await _person(platform, other_workspace, "sam@other.test", Role.VIEWER)
    async with platform.sessions() as session:
        with pytest.raises(PermissionDenied, match="own role"):
            await credentials.change_role(session, admin, admin_id, Role.VIEWER)
        with pytest.raises(PermissionDenied, match="an owner"):
            await credentials.change_role(session, admin, owner.user_id, Role.VIEWER)
        with pytest.raises(PermissionDenied, match="own account"):
            await credentials.remove_user(session, owner, owner.user_id)
        with pytest.raises(NotFound):
            await credentials.change_role(session, admin, stranger, Role.ADMIN)
        with pytest.raises(PermissionDenied):
            await credentials.list_users(session, Actor(workspace.workspace.id, Role.MARKETER))


async def test_the_only_owner_stays_owner_until_there_is_another(
    platform: Platform, workspace: NewWorkspace
) -> None:
    owner = await _owner(platform, workspace)
    second = await _person(platform, workspace, "otto@acme.test", Role.ADMIN)
    second_owner = Actor(workspace.workspace.id, Role.OWNER, user_id=second)
    assert owner.user_id is not None
    async with platform.sessions() as session:
        with pytest.raises(PermissionDenied, match="only owner"):
            await credentials.change_role(session, second_owner, owner.user_id, Role.ADMIN)
        await credentials.change_role(session, owner, second, Role.OWNER)
        demoted = await credentials.change_role(session, second_owner, owner.user_id, Role.ADMIN)
    assert demoted.role == "admin"


async def test_a_removed_person_is_gone_from_the_workspace(
    platform: Platform, workspace: NewWorkspace
) -> None:
    owner = await _owner(platform, workspace)
    vera = await _person(platform, workspace, "vera@acme.test", Role.VIEWER)
    async with platform.sessions() as session:
        email = await credentials.remove_user(session, owner, vera)
        people = [u.email for u in await credentials.list_users(session, owner)]
    assert email == "vera@acme.test"
    assert "vera@acme.test" not in people
