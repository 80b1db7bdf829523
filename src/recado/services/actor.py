"""Who is acting: the workspace every query is scoped to, and the role that limits it."""

from __future__ import annotations

from dataclasses import dataclass

from recado.domain.roles import Permission, Role, allows
from recado.errors import PermissionDenied


@dataclass(frozen=True)
class Actor:
    workspace_id: str
    role: Role
    user_id: str | None = None
    api_key_id: str | None = None

    def require(self, permission: Permission) -> None:
        if not allows(self.role, permission):
            raise PermissionDenied(
                f"The {self.role.value} role may not {permission.value.replace('_', ' ')}; "
                "ask an admin of this workspace."
            )

    @property
    def label(self) -> str:
        """How audit trails and timelines name this actor."""
        if self.user_id:
            return f"user:{self.user_id}"
        if self.api_key_id:
            return f"api_key:{self.api_key_id}"
        return "system"


def system_actor(workspace_id: str) -> Actor:
    """For work the platform does by itself (dispatcher, imports started by the owner's CLI)."""
    return Actor(workspace_id=workspace_id, role=Role.OWNER)
