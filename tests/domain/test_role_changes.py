"""Who may change whose role, or remove whom: nobody above their own rank, never
themselves, and a workspace always keeps an owner."""

from __future__ import annotations

import pytest

from recado.domain.roles import Role, removal_refusal, role_change_refusal


@pytest.mark.parametrize(
    ("granter", "current", "new"),
    [
        (Role.ADMIN, Role.VIEWER, Role.MARKETER),
        (Role.ADMIN, Role.MARKETER, Role.ADMIN),
        (Role.ADMIN, Role.ADMIN, Role.VIEWER),
        (Role.OWNER, Role.ADMIN, Role.OWNER),
        (Role.OWNER, Role.OWNER, Role.ADMIN),  # another owner, with two owners
    ],
)
def test_allowed_changes(granter: Role, current: Role, new: Role) -> None:
    assert role_change_refusal(granter, own=False, current=current, new=new, owners=2) is None


@pytest.mark.parametrize(
    ("granter", "current", "new", "owners", "reason"),
    [
        (Role.MARKETER, Role.VIEWER, Role.AGENT, 1, "may not change roles"),
        (Role.ADMIN, Role.OWNER, Role.ADMIN, 2, "may not change the role of an owner"),
        (Role.ADMIN, Role.VIEWER, Role.OWNER, 1, "may not make someone an owner"),
        (Role.OWNER, Role.OWNER, Role.ADMIN, 1, "only owner stays owner"),
    ],
)
def test_refused_changes_say_why(
    granter: Role, current: Role, new: Role, owners: int, reason: str
) -> None:
    refusal = role_change_refusal(granter, own=False, current=current, new=new, owners=owners)
    assert refusal is not None and reason in refusal


def test_nobody_changes_their_own_role_or_removes_themselves() -> None:
    assert "own role" in (
        role_change_refusal(Role.OWNER, own=True, current=Role.OWNER, new=Role.ADMIN, owners=3)
        or ""
    )
    assert "own account" in (
        removal_refusal(Role.ADMIN, own=True, current=Role.ADMIN, owners=1) or ""
    )


def test_removals_follow_the_same_ranks_and_keep_an_owner() -> None:
    assert removal_refusal(Role.ADMIN, own=False, current=Role.MARKETER, owners=1) is None
    assert "may not remove an owner" in (
        removal_refusal(Role.ADMIN, own=False, current=Role.OWNER, owners=2) or ""
    )
    assert "only owner" in (
        removal_refusal(Role.OWNER, own=False, current=Role.OWNER, owners=1) or ""
    )
    assert removal_refusal(Role.OWNER, own=False, current=Role.OWNER, owners=2) is None
