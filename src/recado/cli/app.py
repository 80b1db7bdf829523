"""The Typer application, the shared options and the way commands run against the database."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from recado import event_loop
from recado.db.tables import Workspace
from recado.errors import RecadoError
from recado.platform import Platform
from recado.services.actor import Actor, system_actor
from recado.settings import get_settings

app = typer.Typer(
    help="Recado: self-hostable SMS messaging and marketing.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
errors = Console(stderr=True)
T = TypeVar("T")

WorkspaceOption = Annotated[
    str | None,
    typer.Option(
        "--workspace",
        envvar="RECADO_WORKSPACE",
        help="Workspace id; the first workspace when omitted.",
    ),
]


def fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[bold red]Error:[/] {message}", highlight=False)
    return typer.Exit(code)


def run(work: Callable[[Platform], Awaitable[T]]) -> T:
    """Run an async command with a Platform, turning Recado errors into one-line messages."""

    async def main() -> T:
        platform = Platform(get_settings())
        try:
            return await work(platform)
        finally:
            await platform.close()

    try:
        return event_loop.run(main())
    except RecadoError as exc:
        where = f" ({exc.field})" if exc.field else ""
        raise fail(f"{exc.message}{where}") from None
    except OSError as exc:
        raise fail(str(exc)) from None
    except Exception as exc:
        if "no such table" in str(exc) or "does not exist" in str(exc):
            raise fail("The database is not up to date: run `recado db upgrade` first.") from None
        if os.environ.get("RECADO_DEBUG"):
            raise
        raise fail(
            f"unexpected {type(exc).__name__}: {exc}. Run again with RECADO_DEBUG=1 to see "
            "where; please report it."
        ) from None


async def workspace_actor(session: AsyncSession, workspace_id: str | None) -> Actor:
    query = select(Workspace.id)
    query = (
        query.where(Workspace.id == workspace_id)
        if workspace_id
        else query.order_by(Workspace.created_at)
    )
    found = await session.scalar(query.limit(1))
    if found is None:
        if workspace_id:
            raise fail(f"No workspace with id {workspace_id}.")
        raise fail("There is no workspace yet: run `recado serve` once, or `recado demo`.")
    return system_actor(found)


def is_interactive() -> bool:
    return sys.stdin.isatty()
