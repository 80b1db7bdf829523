"""Commands: serve, db, user, apikey and send. Contacts and demo live in their own modules."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Annotated

import typer
from rich.panel import Panel

from recado.cli.app import WorkspaceOption, app, console, fail, run, workspace_actor
from recado.cli.contacts import contacts_app
from recado.cli.templates import templates_app
from recado.db.migrate import upgrade
from recado.domain.message_status import FINAL, MessageStatus
from recado.platform import Platform
from recado.services import credentials, messaging
from recado.services.workspaces import bootstrap_if_empty
from recado.settings import get_settings

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="People who sign in to the web UI.", no_args_is_help=True)
apikey_app = typer.Typer(help="Keys for the REST API.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(apikey_app, name="apikey")
app.add_typer(templates_app, name="templates")
app.add_typer(contacts_app, name="contacts")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port (also RECADO_PORT).")] = None,
) -> None:
    """Migrate the database, create the first workspace if there is none, and serve."""
    import uvicorn

    from recado.api.app import create_app

    settings = get_settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    upgrade(settings.database_url)
    created = run(_bootstrap)
    if created is not None:
        console.print(
            Panel.fit(
                f"Workspace [bold]{created.workspace.name}[/] created.\n\n"
                f"Owner sign-in:  [bold]{created.owner_email}[/] / [bold]{created.owner_password}[/]\n"
                f"API key:        [bold]{created.api_key}[/]\n\n"
                "Both are shown only this once. Make another key with `recado apikey create`.",
                title="First start",
                border_style="green",
            )
        )
    console.print(
        f"Recado on [bold]{settings.base_url}[/] (sign in there)  ·  "
        f"API docs {settings.base_url}/docs  ·  "
        f"carrier: simulator  ·  database: {settings.database_url.split('://')[0]}"
    )
    uvicorn.run(create_app(), host=settings.host, port=settings.port, log_level=settings.log_level)


async def _bootstrap(platform: Platform):  # type: ignore[no-untyped-def]
    settings = platform.settings
    async with platform.sessions() as session:
        return await bootstrap_if_empty(
            session,
            name=settings.workspace_name,
            owner_email=settings.owner_email,
            default_country=settings.default_country,
        )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (safe to run at any time)."""
    settings = get_settings()
    upgrade(settings.database_url)
    console.print(f"Database is up to date ({settings.database_url.split('://')[0]}).")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="Sign-in email.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="At least 10 characters."
        ),
    ],
    role: Annotated[
        str, typer.Option(help="owner, admin, marketer, agent or viewer.")
    ] = "marketer",
    workspace: WorkspaceOption = None,
) -> None:
    """Create a person who can sign in."""

    async def work(platform: Platform) -> str:
        async with platform.sessions() as session:
            actor = await workspace_actor(session, workspace)
            user = await credentials.create_user(
                session, actor, email=email, password=password, role=credentials.parse_role(role)
            )
            return user.email

    console.print(f"User {run(work)} created with the {role} role.")


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Option(help="What the key is for.")] = "CLI key",
    role: Annotated[str, typer.Option(help="Role the key acts with.")] = "admin",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the key.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Create an API key. It is printed once; only its hash is stored."""

    async def work(platform: Platform) -> str:
        async with platform.sessions() as session:
            actor = await workspace_actor(session, workspace)
            _, plain = await credentials.create_api_key(
                session, actor, name=name, role=credentials.parse_role(role)
            )
            return plain

    key = run(work)
    if quiet:
        typer.echo(key)
    else:
        console.print(f"API key [bold]{key}[/] ({role}). Store it now: it is not shown again.")


@app.command()
def send(
    to: Annotated[str, typer.Option(help="Recipient number.")],
    body: Annotated[str, typer.Option(help="Text of the message.")],
    from_: Annotated[str | None, typer.Option("--from", help="A sender of the workspace.")] = None,
    category: Annotated[str, typer.Option(help="transactional or marketing.")] = "transactional",
    wait: Annotated[
        bool,
        typer.Option(help="Dispatch here and wait for the final status (when no server runs)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the message as JSON.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Send one text. Without --wait it is queued for the running server's dispatcher."""
    if category not in ("transactional", "marketing"):
        raise fail("--category is transactional or marketing.")

    async def work(platform: Platform) -> dict[str, object]:
        async with platform.sessions() as session:
            actor = await workspace_actor(session, workspace)
            accepted = await messaging.send_message(
                session,
                actor,
                messaging.SendRequest(to=to, body=body, sender=from_, category=category),  # type: ignore[arg-type]
                link_base_url=platform.settings.base_url,
            )
        message = accepted.message
        if wait:
            await platform.start_workers()
            for _ in range(600):
                async with platform.sessions() as session:
                    message = await messaging.get_message(session, actor, message.id)
                if MessageStatus(message.status) in FINAL | {MessageStatus.UNDELIVERED}:
                    break
                await asyncio.sleep(0.05)
        return {
            "id": message.id,
            "status": message.status,
            "to": message.recipient,
            "segments": message.segments,
            "encoding": message.encoding,
            "error": message.error_message,
        }

    result = run(work)
    if as_json:
        typer.echo(json.dumps(result))
        return
    console.print(
        f"Message [bold]{result['id']}[/] to {result['to']}: [bold]{result['status']}[/] "
        f"({result['segments']} part(s), {result['encoding']})"
    )
    if result["status"] == "queued":
        console.print("It goes out as soon as `recado serve` (or `make run`) is running.")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@app.command()
def segments(
    text: Annotated[str, typer.Argument(help="The message text.")],
    smart: Annotated[
        bool, typer.Option("--smart", help="Apply smart encoding (curly quotes, dashes...).")
    ] = False,
) -> None:
    """Print, as JSON, how a text is encoded and split into parts."""
    from recado.domain.encoding import analyze

    typer.echo(json.dumps(analyze(text, smart=smart).to_dict(), ensure_ascii=False))


@app.command()
def demo(
    contacts: Annotated[
        int, typer.Option(help="How many sample contacts.", min=1, max=100_000)
    ] = 300,
    workspace: WorkspaceOption = None,
) -> None:
    """Fill a workspace with realistic sample contacts (US, BR, MX, ES) and lists."""
    from recado.services.demo import fill_workspace

    settings = get_settings()
    upgrade(settings.database_url)
    created = run(_bootstrap)
    if created is not None:
        console.print(
            f"Workspace created. Owner: {created.owner_email} / {created.owner_password}  "
            f"API key: {created.api_key} (shown once)"
        )

    async def work(platform: Platform):  # type: ignore[no-untyped-def]
        async with platform.sessions() as session:
            actor = await workspace_actor(session, workspace)
            return await fill_workspace(session, actor, contacts)

    report = run(work)
    console.print(
        f"{report.contacts_created} contacts created, {report.contacts_updated} updated; lists: "
        + ", ".join(f"{name} ({n} added)" for name, n in report.lists.items())
    )


@app.command()
def worker() -> None:
    """Run the dispatcher, carrier connections and webhook sender without the web server.

    Start as many as you like against one database: claims are atomic, so no message is
    sent twice. Stops cleanly on Ctrl-C or SIGTERM.
    """
    import signal

    settings = get_settings()
    upgrade(settings.database_url)

    async def work(platform: Platform) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await platform.start_workers()
        console.print(f"Worker running: {', '.join(platform.connectors)}", highlight=False)
        await stop.wait()

    run(work)
