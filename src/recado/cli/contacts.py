"""`recado contacts import|export`: CSV in and out, with a progress bar and a clear report."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from recado.cli.app import WorkspaceOption, console, fail, run, workspace_actor
from recado.db.tables import ContactList
from recado.errors import ValidationFailed
from recado.platform import Platform
from recado.services import exports, imports, lists
from recado.services.actor import Actor
from recado.services.consent import SOURCES

contacts_app = typer.Typer(help="Contacts: import and export CSV files.", no_args_is_help=True)
SHOWN_REJECTIONS = 20


async def find_or_create_list(
    session: AsyncSession, actor: Actor, name_or_id: str
) -> tuple[str, bool]:
    """A list by id or by name (any case); a name that does not exist yet is created."""
    found = await session.scalar(
        select(ContactList.id).where(
            ContactList.workspace_id == actor.workspace_id,
            (ContactList.id == name_or_id) | (func.lower(ContactList.name) == name_or_id.lower()),
        )
    )
    if found:
        return found, False
    created = await lists.create_list(session, actor, name=name_or_id)
    return created.contact_list.id, True


@contacts_app.command("import")
def import_csv(
    file: Annotated[Path, typer.Argument(help="CSV file with a header row and a phone column.")],
    to_list: Annotated[
        str | None,
        typer.Option(
            "--list",
            help="Subscribe every imported contact to this list (id or name; created if new). "
            "Requires --consent-text.",
        ),
    ] = None,
    consent_text: Annotated[
        str | None,
        typer.Option(
            "--consent-text",
            help="How these people opted in, recorded as each row's consent: the words they "
            "agreed to or where, e.g. \"Checkout checkbox 'Text me offers' on acme.com\". "
            "Opted-out and erased numbers are then rejected.",
        ),
    ] = None,
    consent_source: Annotated[
        str,
        typer.Option(
            "--consent-source",
            help="How the consent was collected: " + ", ".join(sorted(SOURCES)) + ".",
        ),
    ] = "import",
    default_country: Annotated[
        str | None,
        typer.Option(help="Country for numbers written without +, e.g. BR (default: workspace's)."),
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="COLUMN=FIELD, e.g. 'Celular=phone' or 'Plano=attribute:plan' or 'Notes=ignore'.",
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write every rejected line with its reason to this CSV.")
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Create or update contacts from a CSV file; bad rows are reported, not guessed."""
    if not file.is_file():
        raise fail(f"No such file: {file}")
    if to_list and not consent_text:
        raise fail(
            "--list subscribes these people to marketing texts, so declare how they opted in: "
            'add --consent-text "<the words they agreed to, or where they opted in>", e.g. '
            "--consent-text \"Checkout checkbox 'Text me offers' on acme.com\" (and "
            "--consent-source signup_form if they used a form)."
        )
    consent = None
    if consent_text is not None:
        try:  # checked now, before --list creates a list
            consent = imports.ImportConsent(consent_text, consent_source).checked()
        except ValidationFailed as exc:
            raise fail(exc.message) from None
    mapping = {}
    for item in column or []:
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise fail(f"--map takes COLUMN=FIELD, got '{item}'.")
        mapping[source.strip()] = target.strip()

    async def work(platform: Platform) -> tuple[imports.ImportReport, str | None, bool]:
        async with platform.sessions() as session:
            actor = await workspace_actor(session, workspace)
            list_id, created = (None, False)
            if to_list:
                list_id, created = await find_or_create_list(session, actor, to_list)
            with Progress(
                TextColumn("[bold]Importing[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
                disable=not sys.stdout.isatty(),
            ) as progress:
                task = progress.add_task("rows", total=None)

                def on_progress(done: int, total: int | None) -> None:
                    progress.update(task, completed=done, total=total)

                result = await imports.import_contacts(
                    session,
                    actor,
                    file,
                    mapping=mapping or None,
                    list_id=list_id,
                    consent=consent,
                    default_country=default_country,
                    on_progress=on_progress,
                )
            return result, list_id, created

    result, list_id, created = run(work)
    _print_report(result, to_list if list_id else None, created, consent is not None)
    if report is not None:
        with report.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["line", "reason"])
            writer.writerows((r.line, r.reason) for r in result.rejected_rows)
        console.print(f"Rejected lines written to {report}.")


def _print_report(
    result: imports.ImportReport, list_name: str | None, created: bool, consented: bool
) -> None:
    table = Table(title="Import", show_header=False, title_justify="left")
    table.add_row("rows read", str(result.rows))
    table.add_row("created", str(result.created))
    table.add_row("updated", str(result.updated))
    table.add_row("unchanged", str(result.unchanged))
    table.add_row("duplicates in file", str(result.duplicates))
    table.add_row("rejected", str(result.rejected))
    if list_name:
        label = f"added to '{list_name}'" + (" (new list)" if created else "")
        table.add_row(label, str(result.added_to_list))
    if consented:
        table.add_row("consent recorded", str(result.consent_recorded))
    console.print(table)
    for row in result.rejected_rows[:SHOWN_REJECTIONS]:
        console.print(f"  line {row.line}: {row.reason}", highlight=False)
    hidden = result.rejected - min(result.rejected, SHOWN_REJECTIONS)
    if hidden:
        console.print(f"  … and {hidden} more rejected lines (--report FILE lists them all).")


@contacts_app.command("export")
def export_csv(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write; standard output if omitted."),
    ] = None,
    from_list: Annotated[
        str | None, typer.Option("--list", help="Only the subscribed members of this list (id).")
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Write contacts as CSV (the same columns the import reads)."""

    async def work(platform: Platform) -> int:
        async with platform.sessions() as session:
            actor = await workspace_actor(session, workspace)
            if output is None:
                return await exports.export_contacts(session, actor, sys.stdout, list_id=from_list)
            with output.open("w", newline="", encoding="utf-8") as out:
                return await exports.export_contacts(session, actor, out, list_id=from_list)

    written = run(work)
    if output is not None:
        console.print(f"{written} contacts written to {output}.")
