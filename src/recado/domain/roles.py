"""Who may do what. Roles are ordered; each permission names the least role that has it."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    AGENT = "agent"
    MARKETER = "marketer"
    ADMIN = "admin"
    OWNER = "owner"


_RANK = {Role.VIEWER: 0, Role.AGENT: 1, Role.MARKETER: 2, Role.ADMIN: 3, Role.OWNER: 4}


class Permission(StrEnum):
    READ = "read"  # see contacts, lists, messages, reports
    SEND = "send"  # send one-to-one messages (agents answer conversations)
    MANAGE_AUDIENCE = "manage_audience"  # contacts, lists, imports
    MANAGE_CAMPAIGNS = "manage_campaigns"
    MANAGE_SETTINGS = "manage_settings"  # senders, routes, carriers, webhooks, API keys
    MANAGE_USERS = "manage_users"
    OWN_WORKSPACE = "own_workspace"  # transfer, delete workspace, grant owner


_LEAST_ROLE = {
    Permission.READ: Role.VIEWER,
    Permission.SEND: Role.AGENT,
    Permission.MANAGE_AUDIENCE: Role.MARKETER,
    Permission.MANAGE_CAMPAIGNS: Role.MARKETER,
    Permission.MANAGE_SETTINGS: Role.ADMIN,
    Permission.MANAGE_USERS: Role.ADMIN,
    Permission.OWN_WORKSPACE: Role.OWNER,
}


def allows(role: Role, permission: Permission) -> bool:
    return _RANK[role] >= _RANK[_LEAST_ROLE[permission]]


def may_grant(granter: Role, role: Role) -> bool:
    """An admin may create users up to admin; only an owner may create another owner."""
    return _RANK[granter] >= _RANK[role] and allows(granter, Permission.MANAGE_USERS)


def role_change_refusal(
    granter: Role, *, own: bool, current: Role, new: Role, owners: int
) -> str | None:
    """Why `granter` may not move a person from `current` to `new` (None: allowed).
    `own`: it is the granter's own account; `owners`: the workspace's owners now."""
    if not allows(granter, Permission.MANAGE_USERS):
        return f"{_a(granter, True)} may not change roles."
    if own:
        return "Nobody changes their own role: ask another admin or the owner."
    if not may_grant(granter, current):
        return f"{_a(granter, True)} may not change the role of {_a(current)}."
    if not may_grant(granter, new):
        return f"{_a(granter, True)} may not make someone {_a(new)}."
    if current is Role.OWNER and new is not Role.OWNER and owners <= 1:
        return "The workspace's only owner stays owner: make someone else owner first."
    return None


def removal_refusal(granter: Role, *, own: bool, current: Role, owners: int) -> str | None:
    """Why `granter` may not remove a person whose role is `current` (None: allowed)."""
    if not allows(granter, Permission.MANAGE_USERS):
        return f"{_a(granter, True)} may not remove people."
    if own:
        return "Nobody removes their own account here: ask another admin or the owner."
    if not may_grant(granter, current):
        return f"{_a(granter, True)} may not remove {_a(current)}."
    if current is Role.OWNER and owners <= 1:
        return "The workspace's only owner cannot be removed."
    return None


def _a(role: Role, capital: bool = False) -> str:
    article = "an" if role.value[0] in "aeiou" else "a"
    return f"{article.capitalize() if capital else article} {role.value}"
