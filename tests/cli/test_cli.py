"""The `recado` command, run as a user runs it: a real process against a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recado.services.workspaces import NewWorkspace

RECADO = [sys.executable, "-m", "recado"]


@pytest.fixture
def recado(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "RECADO_DATABASE_URL": db_url, "NO_COLOR": "1", "COLUMNS": "200"}
        env.pop("RECADO_WORKSPACE", None)
        return subprocess.run(
            [*RECADO, *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            input=input,
            timeout=120,
        )

    return run


def test_every_command_has_help():
    # In process: help needs no database, and a subprocess per command costs seconds each.
    from typer.testing import CliRunner  # noqa: PLC0415

    from recado.cli.commands import app  # noqa: PLC0415

    runner = CliRunner()
    for command in (
        [],
        ["serve"],
        ["db", "upgrade"],
        ["user", "create"],
        ["apikey", "create"],
        ["send"],
        ["segments"],
    ):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_apikey_create_quiet_prints_only_a_working_key(recado, workspace: NewWorkspace):
    result = recado("apikey", "create", "--quiet", "--role", "marketer")
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert key.startswith("rk_") and "\n" not in key and " " not in key


def test_send_with_wait_delivers_through_the_simulator(recado, workspace: NewWorkspace):
    result = recado("send", "--to", "415 723 4567", "--body", "Hi from the CLI", "--wait", "--json")
    assert result.returncode == 0, result.stderr
    message = json.loads(result.stdout)
    assert message["to"] == "+14157234567"
    assert message["status"] == "delivered"


def test_send_to_a_bad_number_is_one_readable_line(recado, workspace: NewWorkspace):
    result = recado("send", "--to", "12", "--body", "x")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "not a valid phone number" in result.stderr


def test_user_create_refuses_a_short_password_and_an_unknown_role(recado, workspace: NewWorkspace):
    short = recado("user", "create", "--email", "ana@acme.test", "--password", "short")
    assert short.returncode == 1
    assert "at least 10 characters" in short.stderr
    role = recado(
        "user",
        "create",
        "--email",
        "ana@acme.test",
        "--password",
        "long enough pw",
        "--role",
        "boss",
    )
    assert role.returncode == 1
    assert "'boss' is not a role" in role.stderr
    ok = recado(
        "user",
        "create",
        "--email",
        "ana@acme.test",
        "--password",
        "long enough pw",
        "--role",
        "agent",
    )
    assert ok.returncode == 0, ok.stderr


def test_commands_without_a_workspace_say_how_to_make_one(recado):
    result = recado("apikey", "create")
    assert result.returncode == 1
    assert "no workspace yet" in result.stderr


def test_segments_prints_json(recado):
    result = recado("segments", "Promoção {hoje}")
    report = json.loads(result.stdout)
    assert report["encoding"] == "UCS-2"
    assert report["non_gsm"] == ["ç", "ã"]


def test_contacts_import_reports_rejected_lines_and_fills_a_list(
    recado, workspace: NewWorkspace, tmp_path: Path
):
    source = tmp_path / "people.csv"
    source.write_text("Celular;Nome;Plano\n(415) 723-4567;Ana;gold\n12;Bob;x\n", encoding="utf-8")
    result = recado(
        "contacts",
        "import",
        str(source),
        "--list",
        "Newsletter",
        "--consent-text",
        "Checkout checkbox 'Text me offers' on acme.com",
    )
    assert result.returncode == 0, result.stderr
    assert "line 3: '12' is not a valid phone number" in result.stdout
    assert "added to 'Newsletter' (new list)" in result.stdout
    assert "consent recorded" in result.stdout
    exported = recado("contacts", "export")
    assert exported.returncode == 0, exported.stderr
    assert "+14157234567,Ana" in exported.stdout
    missing = recado("contacts", "import", str(tmp_path / "nope.csv"))
    assert missing.returncode == 1
    assert "No such file" in missing.stderr


def test_contacts_import_refuses_a_list_without_a_consent_declaration(
    recado, workspace: NewWorkspace, tmp_path: Path
):
    source = tmp_path / "people.csv"
    source.write_text("phone\n+14157234567\n", encoding="utf-8")
    result = recado("contacts", "import", str(source), "--list", "Newsletter")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "--consent-text" in result.stderr
    unknown = recado(
        "contacts", "import", str(source), "--consent-text", "Store", "--consent-source", "guess"
    )
    assert unknown.returncode == 1
    assert "'guess' is not a consent source" in unknown.stderr
    exported = recado("contacts", "export")
    assert exported.stdout.strip().splitlines()[1:] == []


def test_demo_fills_a_workspace_with_contacts_and_lists(recado, db_url: str):
    result = recado("demo", "--contacts", "60")
    assert result.returncode == 0, result.stderr
    assert "60 contacts created" in result.stdout
    assert "Brazil launch" in result.stdout
    exported = recado("contacts", "export")
    assert len(exported.stdout.strip().splitlines()) == 61
