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
