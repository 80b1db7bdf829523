"""CSV import and export through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from recado.db.tables import (
    AuditEntry,
    Consent,
    Contact,
    ContactList,
    ContactTag,
    ListMember,
    utcnow,
)
from recado.domain.roles import Role
from recado.errors import NotFound, PermissionDenied, ValidationFailed
from recado.ids import new_id
from recado.platform import Platform
from recado.services import consent, exports, imports
from recado.services.actor import Actor, system_actor
from recado.services.imports import ImportConsent, ImportReport, import_contacts, propose_mapping
from recado.services.workspaces import NewWorkspace

CHECKOUT = ImportConsent(consent_text="Checkout checkbox 'Text me offers' on acme.com")


def csv_file(text: str, *, bom: bool = False) -> io.BytesIO:
    return io.BytesIO(("\ufeff" if bom else "").encode() + text.encode())


async def run_import(
    platform: Platform, workspace: NewWorkspace, text: str | bytes, **options
) -> ImportReport:
    source = io.BytesIO(text) if isinstance(text, bytes) else csv_file(text)
    async with platform.sessions() as session:
        return await import_contacts(
            session, system_actor(workspace.workspace.id), source, **options
        )


async def contacts_of(platform: Platform, workspace: NewWorkspace) -> dict[str, Contact]:
    async with platform.sessions() as session:
        rows = await session.scalars(
            select(Contact).where(Contact.workspace_id == workspace.workspace.id)
        )
        return {c.phone: c for c in rows}


async def tags_of(platform: Platform, contact_id: str) -> set[str]:
    async with platform.sessions() as session:
        return set(
            await session.scalars(select(ContactTag.tag).where(ContactTag.contact_id == contact_id))
        )


async def test_new_numbers_are_created_with_every_field(platform, workspace):
    report = await run_import(
        platform,
        workspace,
        "Phone,First Name,Last name,E-mail,Language,Time Zone,External ID,Tags,Plan\n"
        "(415) 723-4567,Ana,Silva,ana@example.com,pt_br,,crm-1,vip;promo,gold\n"
        "+55 11 91234-5678,João,,,,America/Manaus,,,\n",
    )
    assert (report.rows, report.created, report.updated, report.rejected) == (2, 2, 0, 0)
    contacts = await contacts_of(platform, workspace)
    ana = contacts["+14157234567"]
    assert ana.id.startswith("ct_")
    assert (ana.first_name, ana.last_name, ana.email) == ("Ana", "Silva", "ana@example.com")
    assert (ana.language, ana.external_id, ana.region) == ("pt-BR", "crm-1", "US")
    assert (ana.timezone, ana.timezone_explicit) == ("America/Los_Angeles", False)
    assert ana.attributes == {"plan": "gold"}
    assert await tags_of(platform, ana.id) == {"vip", "promo"}
    joao = contacts["+5511912345678"]
    assert (joao.first_name, joao.last_name, joao.attributes) == ("João", None, {})
    assert (joao.timezone, joao.timezone_explicit, joao.region) == ("America/Manaus", True, "BR")
    assert report.mapping == {
        "Phone": "phone",
        "First Name": "first_name",
        "Last name": "last_name",
        "E-mail": "email",
        "Language": "language",
        "Time Zone": "timezone",
        "External ID": "external_id",
        "Tags": "tags",
        "Plan": "attribute:plan",
    }


async def test_rows_with_invalid_numbers_are_rejected_with_line_numbers(platform, workspace):
    report = await run_import(
        platform,
        workspace,
        "phone,first_name,email\n"
        "+14157234567,Ana,\n"
        "12345,Bia,\n"
        ",Caio,\n"
        '"+1 (415) 723-4568","Dora, the second",not-an-email\n'
        "+14157234569,Eva,\n",
    )
    assert (report.rows, report.created, report.rejected) == (5, 2, 3)
    assert [(r.line, r.reason) for r in report.rejected_rows] == [
        (3, "'12345' is not a valid phone number: it is too short."),
        (4, "A phone number is required."),
        (5, "'not-an-email' is not an email address."),
    ]
    assert set(await contacts_of(platform, workspace)) == {"+14157234567", "+14157234569"}


async def test_line_numbers_count_records_as_a_spreadsheet_does(platform, workspace):
    """A quoted value over two physical lines is one row; a blank row still has its number."""
    report = await run_import(
        platform,
        workspace,
        'phone,notes\n+14157234567,"two\nlines"\n\n,orphan\n',
    )
    assert [(r.line, r.reason) for r in report.rejected_rows] == [
        (4, "A phone number is required.")
    ]
    assert report.rows == 2


async def test_reimport_updates_without_erasing_existing_fields(platform, workspace):
    await run_import(
        platform,
        workspace,
        "phone,first_name,last_name,email,tags,plan,city\n"
        "+14157234567,Ana,Silva,ana@example.com,vip,gold,Austin\n"
        "+14157234568,Bia,Souza,,,silver,\n",
    )
    before = await contacts_of(platform, workspace)
    report = await run_import(
        platform,
        workspace,
        "phone,first_name,last_name,email,tags,plan,store\n"
        "+14157234567,Ana Maria,,,promo,platinum,sp-01\n"
        "+14157234568,Bia,Souza,,,silver,\n",
    )
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    after = await contacts_of(platform, workspace)
    ana = after["+14157234567"]
    assert ana.id == before["+14157234567"].id
    assert (ana.first_name, ana.last_name, ana.email) == ("Ana Maria", "Silva", "ana@example.com")
    assert ana.attributes == {"plan": "platinum", "city": "Austin", "store": "sp-01"}
    assert await tags_of(platform, ana.id) == {"vip", "promo"}
    assert ana.updated_at > before["+14157234567"].updated_at
    bia = after["+14157234568"]
    assert bia.updated_at == before["+14157234568"].updated_at


async def test_explicit_time_zone_survives_a_reimport_without_one(platform, workspace):
    await run_import(
        platform,
        workspace,
        "phone,timezone\n+14157234567,America/New_York\n+14157234568,America/Los_Angeles\n",
    )
    contacts = await contacts_of(platform, workspace)
    assert (contacts["+14157234567"].timezone, contacts["+14157234567"].timezone_explicit) == (
        "America/New_York",
        True,
    )
    # The number's own zone is no override: it keeps following the number.
    assert contacts["+14157234568"].timezone_explicit is False
    await run_import(platform, workspace, "phone,first_name\n+14157234567,Ana\n")
    again = (await contacts_of(platform, workspace))["+14157234567"]
    assert (again.timezone, again.timezone_explicit, again.first_name) == (
        "America/New_York",
        True,
        "Ana",
    )


async def test_semicolon_delimited_portuguese_headers_are_understood(platform, workspace):
    report = await run_import(
        platform,
        workspace,
        "Celular;Nome;Sobrenome;E-mail;Idioma;Etiquetas;Cidade Natal\n"
        "(11) 91234-5678;Ana;Silva;ana@exemplo.com.br;pt-BR;vip, clientes;São Paulo\n"
        "21 98765-4321;Bruno;Costa;;;;\n",
        default_country="BR",
    )
    assert report.created == 2, report.rejected_rows
    assert report.mapping["Celular"] == "phone"
    assert report.mapping["Cidade Natal"] == "attribute:cidade_natal"
    contacts = await contacts_of(platform, workspace)
    ana = contacts["+5511912345678"]
    assert (ana.first_name, ana.last_name, ana.language) == ("Ana", "Silva", "pt-BR")
    assert ana.attributes == {"cidade_natal": "São Paulo"}
    assert await tags_of(platform, ana.id) == {"vip", "clientes"}
    assert "+5521987654321" in contacts


async def test_tab_delimited_file_with_bom_and_crlf_is_read(platform, workspace):
    source = csv_file("número\tnome\r\n+14157234567\tAna\r\n\r\n+14157234568\tBia\r\n", bom=True)
    async with platform.sessions() as session:
        report = await import_contacts(session, system_actor(workspace.workspace.id), source)
    assert (report.rows, report.created) == (2, 2)
    assert report.mapping == {"número": "phone", "nome": "first_name"}


async def test_default_country_reads_national_numbers(platform, workspace):
    report = await run_import(platform, workspace, "phone\n11 91234-5678\n", default_country="br")
    assert report.created == 1
    assert "+5511912345678" in await contacts_of(platform, workspace)
    with pytest.raises(ValidationFailed) as error:
        await run_import(platform, workspace, "phone\n1\n", default_country="XX")
    assert error.value.field == "default_country"


async def test_duplicate_phone_in_file_keeps_the_last_row(platform, workspace):
    report = await run_import(
        platform,
        workspace,
        "phone,first_name,last_name,tags,plan\n"
        "+14157234567,Ana,Silva,vip,gold\n"
        "+14157234599,Zed,,,\n"
        "(415) 723-4567,Anna,,promo,\n",
    )
    assert (report.rows, report.created, report.duplicates) == (3, 2, 1)
    assert [(d.line, d.kept_line) for d in report.duplicate_rows] == [(2, 4)]
    ana = (await contacts_of(platform, workspace))["+14157234567"]
    assert (ana.first_name, ana.last_name, ana.attributes) == ("Anna", "Silva", {"plan": "gold"})
    assert await tags_of(platform, ana.id) == {"vip", "promo"}


async def test_duplicates_in_different_chunks_are_found_too(platform, workspace, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    report = await run_import(
        platform,
        workspace,
        "phone,first_name\n+14157234567,Ana\n+14157234568,Bia\n+14157234569,Caio\n"
        "+14157234567,Anna\n+14157234567,Annie\n",
    )
    assert (report.rows, report.created, report.updated, report.duplicates) == (5, 3, 0, 2)
    assert [(d.line, d.kept_line) for d in report.duplicate_rows] == [(2, 5), (5, 6)]
    assert (await contacts_of(platform, workspace))["+14157234567"].first_name == "Annie"


async def test_importing_in_one_workspace_never_touches_another(
    platform, workspace, other_workspace
):
    await run_import(
        platform, other_workspace, "phone,first_name,tags\n+14157234567,Rival,theirs\n"
    )
    report = await run_import(platform, workspace, "phone,first_name,tags\n+14157234567,Ana,ours\n")
    assert report.created == 1
    theirs = (await contacts_of(platform, other_workspace))["+14157234567"]
    ours = (await contacts_of(platform, workspace))["+14157234567"]
    assert theirs.id != ours.id
    assert theirs.first_name == "Rival"
    assert await tags_of(platform, theirs.id) == {"theirs"}
    assert await tags_of(platform, ours.id) == {"ours"}


async def test_file_without_phone_column_is_refused_listing_the_columns(platform, workspace):
    with pytest.raises(ValidationFailed) as error:
        await run_import(platform, workspace, "name,email\nAna,ana@example.com\n")
    assert "no phone column" in error.value.message
    assert "'name', 'email'" in error.value.message
    assert await contacts_of(platform, workspace) == {}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"\n\n", "first line of the file is empty"),
        (b"phone,name\n+14157234567,Jo\xe3o\n", "not UTF-8"),
        (b"PK\x03\x04\x14\x00\x06\x00", "Excel workbook"),
        ("phone\n+14157234567\n".encode("utf-16"), "UTF-16"),
        (b"phone,name\n+14157234567,A\x00B\n", "NUL bytes"),
    ],
)
async def test_unreadable_files_are_refused_before_any_write(
    platform, workspace, content, expected
):
    with pytest.raises(ValidationFailed) as error:
        await run_import(platform, workspace, content)
    assert expected in error.value.message
    assert error.value.field == "file"
    assert await contacts_of(platform, workspace) == {}


async def test_rows_too_wide_or_with_too_long_values_are_rejected(platform, workspace):
    report = await run_import(
        platform,
        workspace,
        "phone,first_name,notes\n+14157234567,Ana,x,Silva\n+14157234568,Bia,,,\n"
        f"+14157234569,{'C' * 201},\n+14157234570,Dan,{'n' * 1001}\n",
    )
    assert report.created == 1
    assert [(r.line, r.reason) for r in report.rejected_rows] == [
        (
            2,
            "The row has 4 cells but the header has 3 columns; a value that contains the "
            "delimiter must be in double quotes.",
        ),
        (4, "first_name is longer than 200 characters."),
        (5, "Attribute 'notes' is longer than 1000 characters."),
    ]


async def test_explicit_mapping_wins_over_the_column_names(platform, workspace):
    report = await run_import(
        platform,
        workspace,
        "Contato,Phone,Mobile,Loja,Notes\n+14157234567,office,cell,sp-01,call after 6\n",
        mapping={"contato": "phone", "Loja": "attribute:store", "Notes": "ignore"},
    )
    assert report.created == 1, report.rejected_rows
    ana = (await contacts_of(platform, workspace))["+14157234567"]
    assert ana.attributes == {"store": "sp-01", "mobile": "cell"}
    # A column named like the field it lost cannot be an attribute of that name: ignored.
    assert report.mapping == {
        "Contato": "phone",
        "Phone": "ignore",
        "Mobile": "attribute:mobile",
        "Loja": "attribute:store",
        "Notes": "ignore",
    }


@pytest.mark.parametrize(
    ("header", "mapping", "expected"),
    [
        ("phone,日本語\n", None, "The column '日本語' cannot become a custom attribute"),
        ("phone,x\n", {"x": "attribute:has space"}, "'has space' is not a valid attribute"),
        ("phone,x\n", {"x": "birthday"}, "'birthday' (for the column 'x') is not a field"),
        ("phone,x\n", {"y": "email"}, "the column 'y', which the file does not have"),
        ("phone,a,b\n", {"a": "email", "b": "email"}, "'a' and 'b' are both mapped to email"),
        ("phone,tag,tag\n", None, "The column 'tag' appears twice"),
    ],
)
async def test_mappings_that_cannot_work_refuse_the_import(
    platform, workspace, header, mapping, expected
):
    with pytest.raises(ValidationFailed) as error:
        await run_import(platform, workspace, header + "+14157234567,1,2\n", mapping=mapping)
    assert expected in error.value.message


def test_propose_mapping_reads_common_names_and_prefers_exact_field_names():
    assert propose_mapping(
        ["Mobile", "phone", "firstName", "Sobrenome", "E-Mail", "idioma", "TZ", "id externo"]
    ) == {
        "Mobile": "attribute:mobile",
        "phone": "phone",
        "firstName": "first_name",
        "Sobrenome": "last_name",
        "E-Mail": "email",
        "idioma": "language",
        "TZ": "timezone",
        "id externo": "external_id",
    }
    assert propose_mapping(["Telefone", "created_at", "", "2nd Phone", "Loyalty Tier"]) == {
        "Telefone": "phone",
        "created_at": "ignore",
        "": "ignore",
        "2nd Phone": "attribute:_2nd_phone",
        "Loyalty Tier": "attribute:loyalty_tier",
    }


async def test_list_import_subscribes_new_and_pending_contacts_but_not_those_who_left(
    platform, workspace
):
    ws = workspace.workspace.id
    await run_import(platform, workspace, "phone\n+14157234567\n+14157234568\n+14157234570\n")
    contacts = await contacts_of(platform, workspace)
    async with platform.sessions() as session:
        vip = ContactList(id=new_id("lst"), workspace_id=ws, name="VIP")
        session.add(vip)
        await session.flush()
        for phone, status in (("+14157234568", "unsubscribed"), ("+14157234570", "pending")):
            session.add(
                ListMember(
                    list_id=vip.id, contact_id=contacts[phone].id, workspace_id=ws, status=status
                )
            )
        await session.commit()
    text = "phone\n+14157234567\n+14157234568\n+14157234569\n+14157234570\n"
    report = await run_import(platform, workspace, text, list_id=vip.id, consent=CHECKOUT)
    assert (report.created, report.unchanged, report.added_to_list) == (1, 3, 3)
    again = await run_import(platform, workspace, text, list_id=vip.id, consent=CHECKOUT)
    assert again.added_to_list == 0
    async with platform.sessions() as session:
        members = dict(
            (await session.execute(select(Contact.phone, ListMember.status).join(ListMember))).all()
        )
    assert members == {
        "+14157234567": "subscribed",
        "+14157234568": "unsubscribed",
        "+14157234569": "subscribed",
        "+14157234570": "subscribed",
    }


async def test_a_list_of_another_workspace_is_refused(platform, workspace, other_workspace):
    async with platform.sessions() as session:
        theirs = ContactList(
            id=new_id("lst"), workspace_id=other_workspace.workspace.id, name="Theirs"
        )
        session.add(theirs)
        await session.commit()
    with pytest.raises(ValidationFailed) as error:
        await run_import(
            platform, workspace, "phone\n+14157234567\n", list_id=theirs.id, consent=CHECKOUT
        )
    assert error.value.field == "list_id"


async def test_viewers_may_not_import(platform, workspace):
    viewer = Actor(workspace_id=workspace.workspace.id, role=Role.VIEWER)
    async with platform.sessions() as session:
        with pytest.raises(PermissionDenied):
            await import_contacts(session, viewer, csv_file("phone\n+14157234567\n"))


async def test_progress_is_reported_after_each_chunk(platform, workspace, monkeypatch, tmp_path):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    path = tmp_path / "contacts.csv"
    path.write_text("phone\n" + "".join(f"+1415723456{i}\n" for i in range(5)))
    seen: list[tuple[int, int | None]] = []
    async with platform.sessions() as session:
        report = await import_contacts(
            session,
            system_actor(workspace.workspace.id),
            path,
            on_progress=lambda done, total: seen.append((done, total)),
        )
    assert report.created == 5
    assert seen == [(2, 5), (4, 5), (5, 5)]


async def test_a_stream_that_cannot_seek_is_read_too(platform, workspace):
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
            chunk = self.data.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    async with platform.sessions() as session:
        report = await import_contacts(
            session,
            system_actor(workspace.workspace.id),
            io.BufferedReader(Pipe(b"phone\n+14157234567\n")),
        )
    assert report.created == 1


async def test_counts_stay_exact_when_the_listed_lines_are_capped(platform, workspace, monkeypatch):
    monkeypatch.setattr(imports, "MAX_LISTED", 2)
    report = await run_import(platform, workspace, "phone\n123\n456\n789\n+14157234567\n")
    assert (report.rejected, len(report.rejected_rows), report.created) == (3, 2, 1)
    assert report.to_dict()["rejected_rows"] == [
        {"line": 2, "reason": "'123' is not a valid phone number: it is too short."},
        {"line": 3, "reason": "'456' is not a valid phone number: it is too short."},
    ]


async def test_worker_processes_clean_large_files_the_same_way(platform, workspace, monkeypatch):
    monkeypatch.setattr(imports, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(imports, "CHUNK_ROWS", 3)
    report = await run_import(
        platform,
        workspace,
        "phone,first_name\n"
        + "".join(f"+1415723{4560 + i},N{i}\n" for i in range(8))
        + "bad,X\n+14157234560,Again\n",
    )
    assert (report.rows, report.created, report.rejected, report.duplicates) == (10, 8, 1, 1)
    assert (await contacts_of(platform, workspace))["+14157234560"].first_name == "Again"


async def test_export_then_import_into_another_workspace_gives_the_same_contacts(
    platform, workspace, other_workspace, tmp_path: Path
):
    await run_import(
        platform,
        workspace,
        "phone,first_name,last_name,email,language,timezone,external_id,tags,plan,city\n"
        '+14157234567,Ana,"Silva, Jr.",ana@example.com,en,America/New_York,c-1,vip;promo,gold,\n'
        "+5511912345678,João,,,pt-BR,,,,,São Paulo\n"
        "+14157234568,,,,,,,,,\n",
    )
    out = io.StringIO()
    async with platform.sessions() as session:
        written = await exports.export_contacts(session, system_actor(workspace.workspace.id), out)
    assert written == 3
    header = out.getvalue().splitlines()[0]
    assert header == (
        "phone,first_name,last_name,email,language,timezone,external_id,tags,created_at,city,plan"
    )
    path = tmp_path / "export.csv"
    path.write_text(out.getvalue(), newline="")
    async with platform.sessions() as session:
        report = await import_contacts(session, system_actor(other_workspace.workspace.id), path)
    assert (report.created, report.rejected) == (3, 0)

    def portable(contact: Contact) -> tuple:
        return (
            contact.first_name,
            contact.last_name,
            contact.email,
            contact.language,
            contact.timezone,
            contact.timezone_explicit,
            contact.region,
            contact.external_id,
            contact.attributes,
        )

    original = await contacts_of(platform, workspace)
    copied = await contacts_of(platform, other_workspace)
    assert {p: portable(c) for p, c in copied.items()} == {
        p: portable(c) for p, c in original.items()
    }
    for phone, contact in copied.items():
        assert await tags_of(platform, contact.id) == await tags_of(platform, original[phone].id)


async def test_export_of_a_list_has_only_its_subscribed_members(platform, workspace):
    ws = workspace.workspace.id
    async with platform.sessions() as session:
        vip = ContactList(id=new_id("lst"), workspace_id=ws, name="VIP")
        session.add(vip)
        await session.commit()
    await run_import(
        platform,
        workspace,
        "phone\n+14157234567\n+14157234568\n",
        list_id=vip.id,
        consent=CHECKOUT,
    )
    await run_import(platform, workspace, "phone\n+14157234569\n")
    async with platform.sessions() as session:
        member = await session.get(
            ListMember, (vip.id, (await contacts_of(platform, workspace))["+14157234568"].id)
        )
        member.status = "unsubscribed"
        await session.commit()
    out = io.StringIO()
    async with platform.sessions() as session:
        await exports.export_contacts(session, system_actor(ws), out, list_id=vip.id)
    assert [line.split(",")[0] for line in out.getvalue().splitlines()] == [
        "phone",
        "+14157234567",
    ]
    async with platform.sessions() as session:
        with pytest.raises(NotFound):
            await exports.export_contacts(session, system_actor(ws), out, list_id="lst_nope")


async def test_export_pages_through_many_contacts_in_creation_order(
    platform, workspace, monkeypatch
):
    monkeypatch.setattr(exports, "CHUNK_ROWS", 2)
    numbers = [f"+1415723456{i}" for i in range(5)]
    for number in numbers:  # one import each, so creation order is the file order
        await run_import(platform, workspace, f"phone,n\n{number},{number[-1]}\n")
    out = io.StringIO()
    async with platform.sessions() as session:
        assert (
            await exports.export_contacts(session, system_actor(workspace.workspace.id), out) == 5
        )
    lines = out.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == numbers
    assert [line.split(",")[-1] for line in lines[1:]] == ["0", "1", "2", "3", "4"]


async def test_a_number_created_meanwhile_by_someone_else_is_updated_instead(
    platform, workspace, monkeypatch
):
    """Between the lookup and the insert, another writer creates one of the numbers: the
    chunk is rolled back and written again, updating that contact."""
    ws = workspace.workspace.id
    original = imports._Bulk.run
    raced = False

    async def racing_run(self, session, rows):  # type: ignore[no-untyped-def]
        nonlocal raced
        if rows and "INSERT INTO contacts" in self.sql and not raced:
            raced = True
            async with platform.sessions() as other:
                other.add(
                    Contact(id=new_id("ct"), workspace_id=ws, phone="+14157234567", attributes={})
                )
                await other.commit()
        await original(self, session, rows)

    monkeypatch.setattr(imports._Bulk, "run", racing_run)
    report = await run_import(
        platform, workspace, "phone,first_name\n+14157234567,Ana\n+14157234568,Bia\n"
    )
    assert (report.created, report.updated) == (1, 1)
    contacts = await contacts_of(platform, workspace)
    assert {p: c.first_name for p, c in contacts.items()} == {
        "+14157234567": "Ana",
        "+14157234568": "Bia",
    }


# --- consent ---------------------------------------------------------------------------------


async def new_list(platform: Platform, workspace: NewWorkspace, name: str = "Offers") -> str:
    async with platform.sessions() as session:
        offers = ContactList(id=new_id("lst"), workspace_id=workspace.workspace.id, name=name)
        session.add(offers)
        await session.commit()
        return offers.id


async def consents_of(platform: Platform, workspace: NewWorkspace) -> list[Consent]:
    async with platform.sessions() as session:
        rows = await session.scalars(
            select(Consent)
            .where(Consent.workspace_id == workspace.workspace.id)
            .order_by(Consent.id)
        )
        return list(rows)


async def audit_of(platform: Platform, workspace: NewWorkspace, action: str) -> list[AuditEntry]:
    async with platform.sessions() as session:
        rows = await session.scalars(
            select(AuditEntry).where(
                AuditEntry.workspace_id == workspace.workspace.id, AuditEntry.action == action
            )
        )
        return list(rows)


async def test_importing_into_a_list_without_a_consent_declaration_is_refused_and_writes_nothing(
    platform, workspace, scalar
):
    offers = await new_list(platform, workspace)
    with pytest.raises(ValidationFailed) as error:
        await run_import(platform, workspace, "phone\n+14157234567\n", list_id=offers)
    assert error.value.field == "consent_text"
    assert "consent_text" in error.value.message
    assert "--consent-text" in error.value.message
    assert await contacts_of(platform, workspace) == {}
    assert await scalar("SELECT count(*) FROM list_members") == 0
    assert await consents_of(platform, workspace) == []


async def test_importing_into_a_list_records_each_members_consent_and_puts_it_in_force(
    platform, workspace
):
    offers = await new_list(platform, workspace)
    earlier = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    await run_import(platform, workspace, "phone\n+14157234567\n")
    async with platform.sessions() as session:
        known = await session.scalar(select(Contact).where(Contact.phone == "+14157234567"))
        known.consented_at = earlier  # consent already in force stays as it was
        await session.commit()
    started = utcnow()
    report = await run_import(
        platform,
        workspace,
        "phone,first_name\n+14157234567,Ana\n+14157234568,Bia\n12,Bad\n",
        list_id=offers,
        consent=ImportConsent(consent_text="  Signed up at the store  ", source="signup_form"),
    )
    assert (report.created, report.updated, report.rejected) == (1, 1, 1)
    assert (report.added_to_list, report.consent_recorded) == (2, 2)
    contacts = await contacts_of(platform, workspace)
    assert contacts["+14157234567"].consented_at == earlier
    assert contacts["+14157234568"].consented_at >= started
    async with platform.sessions() as session:
        key = await consent.hashing_key(session, workspace.workspace.id)
    records = await consents_of(platform, workspace)
    assert [
        (r.contact_id, r.phone_hash, r.list_id, r.action, r.source, r.consent_text, r.recorded_by)
        for r in records
    ] == [
        (
            contacts[phone].id,
            consent.phone_hash(key, phone),
            offers,
            "granted",
            "signup_form",
            "Signed up at the store",
            "system",
        )
        for phone in ("+14157234567", "+14157234568")
    ]
    assert all(r.created_at >= started for r in records)
    [entry] = await audit_of(platform, workspace, "consent.imported")
    assert entry.detail == {
        "list_id": offers,
        "source": "signup_form",
        "consent_text": "Signed up at the store",
        "rows": 3,
        "consent_recorded": 2,
        "rejected": 1,
    }


async def test_consent_declared_without_a_list_is_recorded_once_per_contact_for_the_program(
    platform, workspace, scalar, monkeypatch
):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    report = await run_import(
        platform,
        workspace,
        "phone\n+14157234567\n+14157234568\n+14157234567\n",
        consent=CHECKOUT,
    )
    assert (report.created, report.duplicates) == (2, 1)
    assert (report.consent_recorded, report.added_to_list) == (2, 0)
    assert [r.list_id for r in await consents_of(platform, workspace)] == [None, None]
    assert all(c.consented_at for c in (await contacts_of(platform, workspace)).values())
    assert await scalar("SELECT count(*) FROM list_members") == 0


async def test_an_import_without_consent_records_none(platform, workspace):
    report = await run_import(platform, workspace, "phone\n+14157234567\n")
    assert (report.created, report.consent_recorded) == (1, 0)
    assert (await contacts_of(platform, workspace))["+14157234567"].consented_at is None
    assert await consents_of(platform, workspace) == []
    assert await audit_of(platform, workspace, "consent.imported") == []


async def test_a_consented_at_column_rejects_rows_without_an_opt_in_with_their_line(
    platform, workspace
):
    offers = await new_list(platform, workspace)
    tomorrow = (utcnow() + timedelta(days=3)).date().isoformat()
    started = utcnow()
    report = await run_import(
        platform,
        workspace,
        "phone,Opt-in date,IP\n"
        "+14157234561,2024-05-31,203.0.113.9\n"
        "+14157234562,,\n"
        "+14157234563,No,\n"
        "+14157234564,yes,2001:DB8::1\n"
        "+14157234565,last spring,\n"
        f"+14157234566,{tomorrow},\n"
        "+14157234567,2024-06-01T14:30:00-03:00,\n"
        "+14157234568,1,not-an-ip\n"
        "+14157234569,0001-01-01T00:00:00+01:00,\n",
        list_id=offers,
        consent=CHECKOUT,
    )
    assert report.mapping == {"phone": "phone", "Opt-in date": "consented_at", "IP": "consent_ip"}
    assert [(r.line, r.reason) for r in report.rejected_rows] == [
        (3, "no opt-in in this row (column 'Opt-in date' is empty)"),
        (4, "no opt-in in this row (column 'Opt-in date' says 'No')"),
        (
            6,
            "'last spring' in column 'Opt-in date' is not an opt-in date: use YYYY-MM-DD, an "
            "ISO 8601 date and time such as 2024-05-31T14:30:00Z, or yes/no",
        ),
        (7, f"'{tomorrow}' in column 'Opt-in date' is in the future"),
        (9, "'not-an-ip' in column 'IP' is not an IP address"),
        (
            10,
            "'0001-01-01T00:00:00+01:00' in column 'Opt-in date' is not an opt-in date: use "
            "YYYY-MM-DD, an ISO 8601 date and time such as 2024-05-31T14:30:00Z, or yes/no",
        ),
    ]
    assert (report.created, report.consent_recorded) == (3, 3)
    contacts = await contacts_of(platform, workspace)
    assert set(contacts) == {"+14157234561", "+14157234564", "+14157234567"}
    records = {r.contact_id: r for r in await consents_of(platform, workspace)}
    first, second, third = (records[contacts[p].id] for p in sorted(contacts))
    assert (first.created_at, first.ip) == (datetime(2024, 5, 31, tzinfo=UTC), "203.0.113.9")
    assert contacts["+14157234561"].consented_at == datetime(2024, 5, 31, tzinfo=UTC)
    assert second.created_at >= started and second.ip == "2001:db8::1"
    assert third.created_at == datetime(2024, 6, 1, 17, 30, tzinfo=UTC)


@pytest.mark.parametrize("reason", ["opt_out", "erased"])
async def test_a_suppressed_number_is_rejected_and_stays_suppressed(platform, workspace, reason):
    ws = workspace.workspace.id
    offers = await new_list(platform, workspace)
    await run_import(platform, workspace, "phone,first_name\n+14157234567,Ana\n")
    async with platform.sessions() as session:
        ana = await session.scalar(select(Contact).where(Contact.phone == "+14157234567"))
        if reason == "opt_out":
            await consent.opt_out(session, ana, source="keyword", by="test")
        else:
            await consent.suppress_erased(session, ws, ana.phone, utcnow())
            await session.delete(ana)
        await session.commit()
    report = await run_import(
        platform,
        workspace,
        "phone,first_name\n+14157234567,Anna\n+14157234568,Bia\n",
        list_id=offers,
        consent=ImportConsent(consent_text="Signed up at the store", source="signup_form"),
    )
    expected = (
        "opted out: only the person can subscribe again (START or a signup form)"
        if reason == "opt_out"
        else "erased contact: only the person can subscribe again (a signup form)"
    )
    assert [(r.line, r.reason) for r in report.rejected_rows] == [(2, expected)]
    assert (report.created, report.added_to_list, report.consent_recorded) == (1, 1, 1)
    async with platform.sessions() as session:
        assert await consent.suppression_of(session, ws, "+14157234567") == reason
        members = set(await session.scalars(select(ListMember.contact_id)))
    contacts = await contacts_of(platform, workspace)
    assert members == {contacts["+14157234568"].id}
    if reason == "opt_out":
        ana = contacts["+14157234567"]
        assert (ana.first_name, ana.consented_at) == ("Ana", None)
        assert ana.opted_out_at is not None
    else:
        assert "+14157234567" not in contacts
    # Without a consent declaration it is a plain contact, as before: nothing is claimed.
    plain = await run_import(platform, workspace, "phone,first_name\n+14157234567,Anna\n")
    assert (plain.rejected, plain.consent_recorded) == (0, 0)
    assert (await contacts_of(platform, workspace))["+14157234567"].consented_at is None
    async with platform.sessions() as session:
        assert await consent.suppression_of(session, ws, "+14157234567") == reason


async def test_evidence_columns_stay_data_unless_the_import_declares_consent(platform, workspace):
    report = await run_import(platform, workspace, "phone,optin,ip\n+14157234567,no,1.2.3.4\n")
    assert report.mapping == {"phone": "phone", "optin": "attribute:optin", "ip": "attribute:ip"}
    assert (report.created, report.consent_recorded) == (1, 0)
    assert (await contacts_of(platform, workspace))["+14157234567"].attributes == {
        "optin": "no",
        "ip": "1.2.3.4",
    }
    with pytest.raises(ValidationFailed) as error:
        await run_import(
            platform,
            workspace,
            "phone,when\n+14157234568,2024-01-01\n",
            mapping={"when": "consented_at"},
        )
    assert error.value.field == "mapping"
    assert "declares no consent basis" in error.value.message
    assert "+14157234568" not in await contacts_of(platform, workspace)


@pytest.mark.parametrize(
    ("declaration", "field", "expected"),
    [
        (ImportConsent(consent_text="   "), "consent_text", "The consent text is empty"),
        (ImportConsent(consent_text="x" * 2001), "consent_text", "more than 2000 characters"),
        (ImportConsent(consent_text="ok", source="guess"), "consent_source", "not a consent"),
    ],
)
async def test_a_consent_declaration_needs_text_and_a_known_source(
    platform, workspace, declaration, field, expected
):
    with pytest.raises(ValidationFailed) as error:
        await run_import(platform, workspace, "phone\n+14157234567\n", consent=declaration)
    assert error.value.field == field
    assert expected in error.value.message
    assert await contacts_of(platform, workspace) == {}


def test_propose_mapping_reads_opt_in_evidence_columns():
    assert propose_mapping(["Celular", "Opt-in Date", "Opt In IP"]) == {
        "Celular": "phone",
        "Opt-in Date": "consented_at",
        "Opt In IP": "consent_ip",
    }
    assert propose_mapping(["phone", "consented_at", "consent_date", "ip"]) == {
        "phone": "phone",
        "consented_at": "consented_at",
        "consent_date": "attribute:consent_date",
        "ip": "consent_ip",
    }
