"""`recado templates`: browse the ready-made library, and render a template as a contact gets it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, cast

import typer
from rich.markup import escape
from rich.table import Table

from recado.cli.app import WorkspaceOption, console, fail, run, workspace_actor
from recado.db.tables import Template
from recado.domain.lint import Finding
from recado.domain.template_library import (
    LibraryTemplate,
    find_library_templates,
    library_template,
)
from recado.platform import Platform
from recado.services import contacts, templates
from recado.services.templates import RecipientRender

templates_app = typer.Typer(
    help="Message templates: the ready-made library and the workspace's own.",
    no_args_is_help=True,
)

LanguageOption = Annotated[
    str | None, typer.Option("--language", "-l", help="en, pt-BR or es (pt finds pt-BR).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
SAVED_PREFIX = "tpl_"


@templates_app.command("list")
def list_templates(
    language: LanguageOption = None,
    use_case: Annotated[
        str | None, typer.Option("--use-case", help="welcome, abandoned_cart, otp...")
    ] = None,
    saved: Annotated[
        bool, typer.Option("--saved", help="The workspace's own templates instead of the library.")
    ] = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """List the library's templates (or, with --saved, the workspace's)."""
    if saved:
        rows = run(_saved_list(language, use_case, workspace))
        _print_saved(rows, as_json)
        return
    entries = find_library_templates(use_case=use_case, language=language)
    if as_json:
        typer.echo(json.dumps([e.to_dict() for e in entries], ensure_ascii=False))
        return
    if not entries:
        console.print("No library template matches.")
        return
    table = Table("id", "language", "category", "parts", "name", box=None)
    for entry in entries:
        table.add_row(entry.id, entry.language, entry.category, str(entry.max_parts), entry.name)
    console.print(table)


@templates_app.command("show")
def show(
    template_id: Annotated[str, typer.Argument(metavar="ID", help="A library id or a tpl_ id.")],
    language: LanguageOption = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Print a template: its body and what its variables are."""
    if template_id.startswith(SAVED_PREFIX):
        template = run(_saved_one(template_id, workspace))
        _print_saved([template], as_json)
        return
    entries = [
        entry for entry in find_library_templates(language=language) if entry.id == template_id
    ]
    if not entries:
        raise fail(f"No library template {template_id}; `recado templates list` shows them.")
    if as_json:
        typer.echo(json.dumps([e.to_dict() for e in entries], ensure_ascii=False))
        return
    for entry in entries:
        _print_library(entry)


@templates_app.command("render")
def render(
    template_id: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="A library id or a tpl_ id.")
    ] = None,
    body: Annotated[
        str | None, typer.Option("--body", help="A template text instead of ID.")
    ] = None,
    contact: Annotated[
        str | None, typer.Option("--contact", help="Render for the contact with this number.")
    ] = None,
    var: Annotated[
        list[str] | None,
        typer.Option("--var", help="A value the template uses, key=value; repeat as needed."),
    ] = None,
    sample: Annotated[
        bool, typer.Option("--sample", help="Fill the library's sample values (cart_url...).")
    ] = False,
    category: Annotated[
        str | None,
        typer.Option(help="marketing or transactional; a library template knows its own."),
    ] = None,
    language: LanguageOption = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Print a template as a contact gets it: text, parts, encoding, price, lint findings."""
    if (template_id is None) == (body is None):
        raise fail("Give a template ID or --body TEXT (one of them).")
    if category not in (None, "marketing", "transactional"):
        raise fail("--category is marketing or transactional.")
    values = _parse_vars(var or [])
    entry: LibraryTemplate | None = None
    if template_id is not None and not template_id.startswith(SAVED_PREFIX):
        entry = library_template(template_id, language or "en")
        if entry is None:
            raise fail(
                f"No library template {template_id} in {language or 'en'}; "
                "`recado templates list` shows them."
            )
    if sample and entry is not None:
        values = {**entry.sample, **values}

    async def work(platform: Platform) -> tuple[RecipientRender, list[Finding]]:
        async with platform.sessions() as session:
            actor = await workspace_actor(session, workspace)
            text, kind, lang = body, category, language
            if entry is not None:
                text, kind, lang = entry.body, kind or entry.category, lang or entry.language
            elif template_id is not None:
                saved = await templates.get_template(session, actor, template_id)
                text, lang = saved.body, lang or saved.language
            contact_id = None
            if contact is not None:
                found, _ = await contacts.list_contacts(
                    session, actor, contacts.ContactFilter(phone=contact), limit=1
                )
                if not found:
                    raise fail(f"No contact with the number {contact} in this workspace.")
                contact_id = found[0].contact.id
            assert text is not None
            return await templates.render_message(
                session,
                actor,
                text,
                contact_id=contact_id,
                category=cast(templates.Category, kind or "marketing"),
                extra_context=values,
                language=lang,
                link_base_url=platform.settings.base_url,
            )

    rendered, findings = run(work)
    if as_json:
        typer.echo(json.dumps(_render_dict(rendered, findings), ensure_ascii=False))
        return
    _print_render(rendered, findings)


# --- work against the database -----------------------------------------------------------------


def _saved_list(
    language: str | None, use_case: str | None, workspace: str | None
) -> Callable[[Platform], Awaitable[list[Template]]]:
    async def work(platform: Platform) -> list[Template]:
        async with platform.sessions() as session:
            actor = await workspace_actor(session, workspace)
            rows, _ = await templates.list_templates(
                session, actor, language=language, use_case=use_case, limit=500
            )
            return rows

    return work


def _saved_one(
    template_id: str, workspace: str | None
) -> Callable[[Platform], Awaitable[Template]]:
    async def work(platform: Platform) -> Template:
        async with platform.sessions() as session:
            actor = await workspace_actor(session, workspace)
            return await templates.get_template(session, actor, template_id)

    return work


# --- printing ----------------------------------------------------------------------------------


def _parse_vars(pairs: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise fail(f"--var takes key=value, not '{pair}'.")
        values[key.strip()] = value
    return values


def _print_library(entry: LibraryTemplate) -> None:
    console.print(
        f"[bold]{entry.id}[/] ({entry.language}, {entry.category}, up to {entry.max_parts} "
        f"part(s)): {entry.name}",
        highlight=False,
    )
    console.print(entry.description, style="dim", highlight=False)
    console.print(entry.body, markup=False, highlight=False)
    for name, meaning in entry.variables.items():
        console.print(f"  {name}: {meaning}", markup=False, highlight=False)
    console.print()


def _print_saved(rows: list[Template], as_json: bool) -> None:
    shaped = [
        {
            "id": t.id,
            "name": t.name,
            "language": t.language,
            "use_case": t.use_case,
            "body": t.body,
        }
        for t in rows
    ]
    if as_json:
        typer.echo(json.dumps(shaped, ensure_ascii=False))
        return
    if not rows:
        console.print("This workspace has no templates yet.")
        return
    for item in shaped:
        console.print(
            f"[bold]{item['id']}[/] {item['name']} ({item['language']}"
            f"{', ' + str(item['use_case']) if item['use_case'] else ''})",
            highlight=False,
        )
        console.print(str(item["body"]), markup=False, highlight=False)
        console.print()


def _render_dict(rendered: RecipientRender, findings: list[Finding]) -> dict[str, Any]:
    return {
        "text": rendered.text,
        "ok": rendered.ok,
        "missing": list(rendered.missing),
        "problem": rendered.problem,
        "parts": rendered.parts,
        "encoding": rendered.encoding,
        "non_gsm": list(rendered.non_gsm),
        "price_estimate": str(rendered.price) if rendered.price is not None else None,
        "currency": rendered.currency,
        "findings": [f.to_dict() for f in findings],
    }


def _print_render(rendered: RecipientRender, findings: list[Finding]) -> None:
    console.print(rendered.text, markup=False, highlight=False)
    console.print()
    line = f"{rendered.parts} part(s), {rendered.encoding}"
    if rendered.non_gsm:
        line += f" (because of {' '.join(rendered.non_gsm)})"
    if rendered.price is not None:
        line += f", about {rendered.price} {rendered.currency}"
    console.print(line, highlight=False)
    if rendered.missing:
        console.print(
            f"Not sendable: missing {', '.join(rendered.missing)} (give it with --var).",
            style="bold red",
            highlight=False,
        )
    elif rendered.problem:
        console.print(f"Not sendable: {rendered.problem}", style="bold red", highlight=False)
    colors = {"error": "red", "warning": "yellow", "info": "cyan"}
    for finding in findings:
        console.print(
            f"[{colors[finding.severity]}]{finding.severity}[/] {finding.code}: "
            f"{escape(finding.message)} {escape(finding.fix)}",
            highlight=False,
        )
