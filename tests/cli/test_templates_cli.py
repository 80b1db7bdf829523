"""`recado templates`, run as a user runs it: a real process, against a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recado.cli import app as recado_app
from recado.platform import Platform
from recado.services import templates
from recado.services.actor import system_actor
from recado.services.contacts import ContactChanges, create_contact
from recado.services.workspaces import NewWorkspace

# `recado templates` once the sub-app is registered on the main app; until then the sub-app
# itself, which takes the same arguments.
if any(group.name == "templates" for group in recado_app.registered_groups):
    TEMPLATES = [sys.executable, "-m", "recado", "templates"]
else:
    TEMPLATES = [
        sys.executable,
        "-c",
        "from recado.cli.templates import templates_app; templates_app(prog_name='recado templates')",
    ]


def run(
    *args: str, db_url: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("RECADO_WORKSPACE", None)
    if db_url is not None:
        env["RECADO_DATABASE_URL"] = db_url
    return subprocess.run(
        [*TEMPLATES, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def recado_templates(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    def go(*args: str) -> subprocess.CompletedProcess[str]:
        return run(*args, db_url=db_url, cwd=tmp_path)

    return go


# --- the library (no database needed) ----------------------------------------------------------


def test_every_templates_command_has_help() -> None:
    for command in ([], ["list"], ["show"], ["render"]):
        result = run(*command, "--help")
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout


def test_list_prints_the_library_and_filters_it() -> None:
    table = run("list")
    assert table.returncode == 0, table.stderr
    assert "abandoned_cart_1" in table.stdout and "pt-BR" in table.stdout
    filtered = run("list", "--language", "pt", "--use-case", "abandoned_cart", "--json")
    entries = json.loads(filtered.stdout)
    assert [(e["id"], e["language"]) for e in entries] == [
        ("abandoned_cart_1", "pt-BR"),
        ("abandoned_cart_2", "pt-BR"),
        ("abandoned_cart_3", "pt-BR"),
    ]


def test_show_prints_the_body_and_its_variables() -> None:
    result = run("show", "otp", "--language", "es")
    assert result.returncode == 0, result.stderr
    assert "{{ brand }}: tu clave de seguridad es {{ code }}" in result.stdout
    assert "code: The one-time passcode." in result.stdout
    missing = run("show", "nope")
    assert missing.returncode == 1
    assert "No library template nope" in missing.stderr and "Traceback" not in missing.stderr


# --- rendering (against the workspace) ---------------------------------------------------------


def test_render_a_library_template_with_its_sample_values(
    recado_templates, workspace: NewWorkspace
):
    result = recado_templates(
        "render", "abandoned_cart_1", "--language", "pt-BR", "--sample", "--json"
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["text"] == (
        "Acme: Oi, cliente! Seus itens ficaram no carrinho. Finalize a compra por aqui: "
        "https://go.acme.co/c/8Kx2Qa\nResponda SAIR para cancelar"
    )
    assert (shown["ok"], shown["parts"], shown["encoding"]) == (True, 1, "GSM-7")
    assert all(f["severity"] == "info" for f in shown["findings"])


async def test_render_a_body_for_a_contact_with_variables(
    recado_templates, platform: Platform, workspace: NewWorkspace
):
    async with platform.sessions() as session:
        await create_contact(
            session,
            system_actor(workspace.workspace.id),
            ContactChanges(phone="+12125550123", first_name="Ana"),
        )
    result = recado_templates(
        "render",
        "--body",
        "{{ brand }}: Hi {{ first_name }}, use {{ code }}",
        "--contact",
        "212 555 0123",
        "--var",
        "code=SAVE10",
        "--category",
        "transactional",
    )
    assert result.returncode == 0, result.stderr
    assert "Acme: Hi Ana, use SAVE10" in result.stdout
    assert "1 part(s), GSM-7, about 0.0079 USD" in result.stdout


def test_render_says_what_is_missing_and_refuses_a_broken_body(
    recado_templates, workspace: NewWorkspace
):
    missing = recado_templates("render", "abandoned_cart_1")
    assert missing.returncode == 0, missing.stderr
    assert "Not sendable: missing cart_url" in missing.stdout
    broken = recado_templates("render", "--body", "hi\n{{ first_name")
    assert broken.returncode == 1
    assert "Line 2" in broken.stderr and "Traceback" not in broken.stderr
    neither = recado_templates("render")
    assert neither.returncode == 1 and "--body" in neither.stderr


async def test_saved_templates_are_listed_shown_and_rendered(
    recado_templates, platform: Platform, workspace: NewWorkspace
):
    async with platform.sessions() as session:
        saved = await templates.create_template(
            session,
            system_actor(workspace.workspace.id),
            name="Welcome",
            language="es",
            body="{{ brand }}: hola",
        )
    listed = json.loads(recado_templates("list", "--saved", "--json").stdout)
    assert [t["id"] for t in listed] == [saved.id]
    assert "{{ brand }}: hola" in recado_templates("show", saved.id).stdout
    rendered = json.loads(recado_templates("render", saved.id, "--json").stdout)
    assert rendered["text"] == "Acme: hola\nResponde BAJA para cancelar"
