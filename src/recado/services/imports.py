"""Importing contacts from a CSV file: map the columns, clean each row, upsert in chunks.

The hot path. Rows are read and cleaned in chunks (reading phone numbers is the slow part, so
large files clean their chunks in worker processes while the previous chunk is written); each
chunk is written with a few batched statements: one SELECT of the numbers that already exist,
one executemany INSERT of new contacts, one executemany UPDATE of existing ones, then inserts
of missing tags and list memberships. Every chunk commits on its own, so a large file never
holds one long transaction. The report counts every outcome and names the lines at fault.

Consent: an import into a list subscribes people to marketing texts, so it must declare the
consent basis (`ImportConsent`); an import without a list may declare one too. With it, each
accepted row gets a consent record (appended in bulk like the contacts), suppressed numbers
(opted out, erased) are rejected, and a column mapped to `consented_at` is each row's evidence.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import ipaddress
import json
import os
import re
import shutil
import tempfile
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, BinaryIO, NamedTuple, cast

import phonenumbers
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.elements import BindParameter

from recado import metrics
from recado.db.tables import (
    Consent,
    Contact,
    ContactList,
    ContactTag,
    ListMember,
    Suppression,
    Workspace,
    utcnow,
)
from recado.domain.contact_fields import (
    MAX_ATTRIBUTES,
    MAX_TAGS,
    STANDARD_FIELDS,
    clean_attributes,
    clean_email,
    clean_language,
    clean_tags,
    clean_text,
    clean_timezone,
)
from recado.domain.phone import parse_phone
from recado.domain.roles import Permission
from recado.errors import ValidationFailed
from recado.ids import new_id
from recado.services.actor import Actor
from recado.services.consent import (
    MAX_CONSENT_TEXT,
    SOURCES,
    SuppressionReason,
    audit,
    hashing_key,
    phone_hash,
)
from recado.services.contacts import MAX_ATTRIBUTE_TEXT

IGNORE = "ignore"
ATTRIBUTE = "attribute:"
CHUNK_ROWS = 2000
MAX_LISTED = 1000  # rejected and duplicate lines listed in a report; the counts stay exact
# Below this size (about 20,000 rows), starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 1_500_000
_WRITE_ATTEMPTS = 3  # a chunk is retried when a concurrent writer created one of its numbers

# Header names people use for each field, normalized by _header_key (accents, case, spaces).
_ALIASES = {
    "phone": (
        "phone phone_number phonenumber phone_no mobile mobile_number mobile_phone cell "
        "cell_phone cellphone msisdn telephone tel number telefone telefono celular numero "
        "numero_de_telefone numero_celular numero_de_celular movil whatsapp"
    ),
    "first_name": "first_name firstname first given_name name nome primeiro_nome nombre",
    "last_name": "last_name lastname last surname family_name sobrenome ultimo_nome apellido",
    "email": "email e_mail email_address mail correo correo_electronico",
    "language": "language lang idioma lingua locale",
    "timezone": "timezone time_zone tz fuso_horario zona_horaria",
    "external_id": "external_id externalid external_ref id_externo",
    "tags": "tags tag etiquetas labels",
    "consented_at": (
        "consented_at consent consent_date consent_time opt_in optin opted_in opt_in_date "
        "optin_date opted_in_at opt_in_at consentimento data_consentimento "
        "data_de_consentimento consentimiento fecha_consentimiento fecha_de_consentimiento"
    ),
    "consent_ip": "consent_ip ip ip_address opt_in_ip optin_ip",
}
_FIELD_OF_ALIAS = {alias: name for name, words in _ALIASES.items() for alias in words.split()}
# Columns of Recado's own export that an import cannot set.
_SYSTEM_COLUMNS = {"created_at", "updated_at"}
# Per-row evidence of an opt-in: fields of an import that declares consent, not of a contact.
CONSENT_FIELDS = ("consented_at", "consent_ip")
_FIELDS = (*STANDARD_FIELDS, *CONSENT_FIELDS)
_YES = frozenset({"yes", "y", "true", "1", "sim", "si", "sí"})
_NO = frozenset({"no", "n", "false", "0", "não", "nao"})
# Date-only values and zones ahead of UTC put a consent given today up to a day ahead of UTC.
_CLOCK_SLACK = timedelta(days=1)

_CLEANERS: dict[str, Callable[[str], str | None]] = {
    "first_name": lambda v: clean_text(v, "first_name"),
    "last_name": lambda v: clean_text(v, "last_name"),
    "email": clean_email,
    "language": clean_language,
    "timezone": clean_timezone,
    "external_id": lambda v: clean_text(v, "external_id"),
}
_CONTACTS = cast(Table, Contact.__table__)
_TAGS = cast(Table, ContactTag.__table__)
_MEMBERS = cast(Table, ListMember.__table__)
_CONSENTS = cast(Table, Consent.__table__)
_SUPPRESSIONS = cast(Table, Suppression.__table__)
_INSERTED_COLUMNS = (
    "id",
    "workspace_id",
    "phone",
    "first_name",
    "last_name",
    "email",
    "language",
    "timezone",
    "timezone_explicit",
    "region",
    "external_id",
    "attributes",
    "consented_at",
    "created_at",
    "updated_at",
)
_UPDATED_COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "language",
    "timezone",
    "timezone_explicit",
    "region",
    "external_id",
    "attributes",
    "updated_at",
)
_UPDATE_CONTACT = (
    update(_CONTACTS)
    .where(_CONTACTS.c.id == bindparam("b_id"))
    .where(_CONTACTS.c.workspace_id == bindparam("b_workspace_id"))
    .values({name: bindparam(f"b_{name}") for name in _UPDATED_COLUMNS})
)
# Consent in force since the row's opt-in, for contacts that had none. Not after a STOP that
# committed meanwhile: opt_out() sets opted_out_at and clears consented_at.
_PUT_CONSENT_IN_FORCE = (
    update(_CONTACTS)
    .where(_CONTACTS.c.id == bindparam("b_id"))
    .where(_CONTACTS.c.workspace_id == bindparam("b_workspace_id"))
    .where(_CONTACTS.c.consented_at.is_(None), _CONTACTS.c.opted_out_at.is_(None))
    .values(consented_at=bindparam("b_consented_at"), updated_at=bindparam("b_updated_at"))
)
_CONSENT_COLUMNS = (
    "workspace_id",
    "contact_id",
    "phone_hash",
    "list_id",
    "action",
    "source",
    "consent_text",
    "ip",
    "recorded_by",
    "created_at",
)


@dataclass(frozen=True)
class ImportConsent:
    """The consent basis an import declares for its rows: what the people agreed to, and how.

    `consent_text` is the exact words they agreed to, or how they opted in ("Checkout checkbox
    'Text me offers' on acme.com"); `source` is one of consent.SOURCES."""

    consent_text: str
    source: str = "import"

    def checked(self) -> ImportConsent:
        text = self.consent_text.strip()
        if not text:
            raise ValidationFailed(
                "The consent text is empty: write the words people agreed to, or how they "
                "opted in.",
                field="consent_text",
            )
        if len(text) > MAX_CONSENT_TEXT:
            raise ValidationFailed(
                f"The consent text has more than {MAX_CONSENT_TEXT} characters.",
                field="consent_text",
            )
        if self.source not in SOURCES:
            choices = ", ".join(sorted(SOURCES))
            raise ValidationFailed(
                f"'{self.source}' is not a consent source: use one of {choices}.",
                field="consent_source",
            )
        return ImportConsent(text, self.source)


@dataclass(frozen=True)
class RejectedRow:
    line: int
    reason: str


@dataclass(frozen=True)
class DuplicateRow:
    line: int  # the earlier row, whose values the later one overrides
    kept_line: int


@dataclass
class ImportReport:
    """What an import did. Each row of the file is counted once:
    rows = created + updated + unchanged + duplicates + rejected."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0  # existing contacts the row would not change
    added_to_list: int = 0  # with list_id: contacts not yet subscribed (new or pending members)
    consent_recorded: int = 0  # with a consent declaration: consent records added
    duplicates: int = 0
    rejected: int = 0
    rejected_rows: list[RejectedRow] = field(default_factory=list)  # the first MAX_LISTED
    duplicate_rows: list[DuplicateRow] = field(default_factory=list)  # the first MAX_LISTED
    mapping: dict[str, str] = field(default_factory=dict)  # CSV column -> field, as applied

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        if len(self.rejected_rows) < MAX_LISTED:
            self.rejected_rows.append(RejectedRow(line, reason))

    def _duplicate(self, line: int, kept_line: int) -> None:
        self.duplicates += 1
        if len(self.duplicate_rows) < MAX_LISTED:
            self.duplicate_rows.append(DuplicateRow(line, kept_line))


ProgressCallback = Callable[[int, int | None], None]


async def import_contacts(
    session: AsyncSession,
    actor: Actor,
    source: BinaryIO | Path,
    *,
    mapping: dict[str, str] | None = None,
    list_id: str | None = None,
    consent: ImportConsent | None = None,
    default_country: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> ImportReport:
    """Create or update the contacts of a CSV file (UTF-8, with a header row).

    `mapping` names the field of some or all columns (a standard field, `attribute:<key>` or
    `ignore`); the other columns follow `propose_mapping`. Numbers without `+` are read as
    numbers of `default_country` (the workspace's country by default). Rows that cannot be
    imported are reported with their line number and the reason; the others are imported.
    A file that cannot be read, or has no phone column, raises ValidationFailed before any
    row is written. `on_progress(rows_done, rows_total)` is called after each chunk.

    `list_id` subscribes the contacts to that list, and requires `consent`. With `consent`,
    every imported row gets a consent record (for the list, or the whole program without
    one) and consent in force on its contact; suppressed numbers are rejected; a column
    mapped to `consented_at` (`consent_ip`) gives each row's opt-in time or yes/no (its IP).
    """
    actor.require(Permission.MANAGE_AUDIENCE)
    workspace = await session.get(Workspace, actor.workspace_id)
    assert workspace is not None
    country = _check_country(default_country or workspace.default_country)
    if consent is not None:
        consent = consent.checked()
    if list_id is not None:
        if consent is None:
            raise _consent_required()
        await _check_list(session, actor.workspace_id, list_id)
    with _open_text(source) as (text, size), _cleaning_pool(size, country) as pool:
        delimiter, records = _survey(text)
        total = records - 1  # the header
        reader = csv.reader(text, delimiter=delimiter)
        header = [cell.strip() for cell in next(reader, [])]
        if not any(header):
            raise ValidationFailed(
                "The first line of the file is empty: it must be the header with the column "
                "names, such as phone,first_name,email.",
                field="file",
            )
        plan = _plan(header, mapping, consent=consent is not None)
        granting = None
        if consent is not None:
            # Committed now: a chunk rolled back on a race must not take a new key with it.
            key = await hashing_key(session, actor.workspace_id)
            await session.commit()
            granting = _Granting(consent, key, actor.label)
        writer = _ChunkWriter(session, actor.workspace_id, list_id, plan.mapping, granting)
        await _run(reader, plan, country, pool, writer, total, on_progress)
    report = writer.report
    if consent is not None:
        detail = {
            "list_id": list_id,
            "source": consent.source,
            "consent_text": consent.consent_text,
            "rows": report.rows,
            "consent_recorded": report.consent_recorded,
            "rejected": report.rejected,
        }
        audit(session, actor.workspace_id, actor.label, "consent.imported", None, detail)
    await session.commit()
    return report


def _consent_required() -> ValidationFailed:
    return ValidationFailed(
        "Importing into a list subscribes people to marketing texts, so declare how they "
        'opted in: the words they agreed to or where they opted in, such as "Checkout '
        "checkbox 'Text me offers' on acme.com\". In the API send the form fields "
        "consent_text (and consent_source, default import); on the command line use "
        "--consent-text (and --consent-source).",
        field="consent_text",
    )


def propose_mapping(header: list[str]) -> dict[str, str]:
    """Guess the field of each column from its name: a standard field, `attribute:<key>` or
    `ignore`. Exact field names win over aliases (so an exported file maps back unchanged);
    a second column that names a field already taken becomes a custom attribute."""
    columns = [column.strip() for column in header]
    keys = [_header_key(column) for column in columns]
    proposal: dict[str, str] = {}
    taken: set[str] = set()
    for column, key in zip(columns, keys, strict=True):
        if key in _FIELDS and key not in taken:
            proposal[column] = key
            taken.add(key)
    for column, key in zip(columns, keys, strict=True):
        if column in proposal:
            continue
        name = _FIELD_OF_ALIAS.get(key)
        if name is not None and name not in taken:
            proposal[column] = name
            taken.add(name)
        elif not column or key in _SYSTEM_COLUMNS:
            proposal[column] = IGNORE
        else:
            proposal[column] = _attribute_target(key)
    return proposal


def _attribute_target(key: str) -> str:
    return ATTRIBUTE + (f"_{key}" if key[:1].isdigit() else key)


# --- mapping ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """Which cell of a row feeds which field; sent to the worker processes."""

    width: int
    phone: int
    fields: tuple[tuple[int, str], ...]
    tags: int | None
    attributes: tuple[tuple[int, str], ...]
    mapping: dict[str, str]
    consented_at: int | None  # the opt-in evidence column, with an import that records consent
    consent_ip: int | None
    consent_columns: tuple[str, str]  # their names, for the reasons of rejected rows


def _plan(header: list[str], mapping: dict[str, str] | None, *, consent: bool) -> _Plan:
    seen: set[str] = set()
    for column in header:
        if column and column in seen:
            raise ValidationFailed(
                f"The column '{column}' appears twice in the header; rename one of them.",
                field="file",
            )
        seen.add(column)
    applied = propose_mapping(header)
    explicit = {
        _find_column(header, requested): _check_target(requested, target)
        for requested, target in (mapping or {}).items()
    }
    claimed = set(explicit.values()) - {IGNORE}
    for column, target in applied.items():
        if target in claimed:
            # The caller gave this field to another column: keep this one as an attribute,
            # or ignore it if its name is a field's ("Phone" when "Celular" is the phone).
            key = _header_key(column)
            applied[column] = IGNORE if key in _FIELDS else _attribute_target(key)
    applied.update(explicit)
    for column, target in applied.items():
        if target in CONSENT_FIELDS and not consent:
            if column in explicit:
                raise ValidationFailed(
                    f"The column '{column}' is mapped to {target}, evidence of each row's "
                    "opt-in, but the import declares no consent basis: declare it too "
                    "(consent_text, or --consent-text), or map the column to ignore.",
                    field="mapping",
                )
            # Without a declaration there is no consent to record: the column stays data.
            applied[column] = _attribute_target(_header_key(column))

    targets: dict[str, str] = {}  # field or attribute key -> the column that fills it
    fields: list[tuple[int, str]] = []
    attributes: list[tuple[int, str]] = []
    phone = tags = consented_at = consent_ip = None
    for index, column in enumerate(header):
        target = applied[column] if column else IGNORE
        if target == IGNORE:
            continue
        if target in targets:
            raise ValidationFailed(
                f"The columns '{targets[target]}' and '{column}' are both mapped to "
                f"{target}; map one of them to another field or to ignore.",
                field="mapping",
            )
        targets[target] = column
        if target == "phone":
            phone = index
        elif target == "tags":
            tags = index
        elif target == "consented_at":
            consented_at = index
        elif target == "consent_ip":
            consent_ip = index
        elif target.startswith(ATTRIBUTE):
            attributes.append((index, _check_attribute_key(column, target[len(ATTRIBUTE) :])))
        else:
            fields.append((index, target))
    if phone is None:
        found = ", ".join(f"'{c}'" for c in header if c) or "none"
        raise ValidationFailed(
            f"The file has no phone column. Columns found: {found}. Name the column with the "
            "numbers 'phone', or map it to phone.",
            field="mapping",
        )
    if len(attributes) > MAX_ATTRIBUTES:
        raise ValidationFailed(
            f"The file has {len(attributes)} columns for custom attributes; a contact can have "
            f"at most {MAX_ATTRIBUTES}. Map the columns you do not need to ignore.",
            field="mapping",
        )
    return _Plan(
        width=len(header),
        phone=phone,
        fields=tuple(fields),
        tags=tags,
        attributes=tuple(attributes),
        mapping={column: applied[column] for column in header if column},
        consented_at=consented_at,
        consent_ip=consent_ip,
        consent_columns=(targets.get("consented_at", ""), targets.get("consent_ip", "")),
    )


def _find_column(header: list[str], requested: str) -> str:
    name = requested.strip()
    if name in header:
        return name
    matches = [c for c in header if c.casefold() == name.casefold()]
    if len(matches) == 1:
        return matches[0]
    found = ", ".join(f"'{c}'" for c in header if c)
    raise ValidationFailed(
        f"The mapping names the column '{requested}', which the file does not have. "
        f"Columns found: {found}.",
        field="mapping",
    )


def _check_target(column: str, target: str) -> str:
    value = target.strip()
    if value in _FIELDS or value == IGNORE or value.startswith(ATTRIBUTE):
        return value
    choices = ", ".join(_FIELDS)
    raise ValidationFailed(
        f"'{target}' (for the column '{column}') is not a field: use one of {choices}, "
        "attribute:<name> or ignore.",
        field="mapping",
    )


def _check_attribute_key(column: str, key: str) -> str:
    try:
        clean_attributes({key: ""})
    except ValidationFailed as exc:
        raise ValidationFailed(
            f"The column '{column}' cannot become a custom attribute: {exc.message} "
            "Rename the column, or map it to a field or to ignore.",
            field="mapping",
        ) from None
    return key


def _header_key(name: str) -> str:
    """'Número de Telefone' -> 'numero_de_telefone', 'firstName' -> 'first_name'."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    text = text.encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


# --- reading the file ------------------------------------------------------------------------


@contextmanager
def _open_text(source: BinaryIO | Path) -> Iterator[tuple[io.TextIOWrapper, int]]:
    """A seekable UTF-8 text view of the source, and its size in bytes. A caller's stream is
    left open."""
    with _seekable(source) as binary:
        _refuse_known_binary(binary.read(4))
        size = binary.seek(0, io.SEEK_END)
        binary.seek(0)
        _refuse_nul_bytes(binary)
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        try:
            yield text, size
        finally:
            text.detach()


@contextmanager
def _seekable(source: BinaryIO | Path) -> Iterator[IO[bytes]]:
    if isinstance(source, Path):
        with source.open("rb") as file:
            yield file
    elif source.seekable():
        source.seek(0)
        yield source
    else:
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as copy:
            shutil.copyfileobj(source, copy)
            copy.seek(0)
            yield copy


_BINARY_SIGNATURES = {
    b"PK\x03\x04": "an Excel workbook or another zip archive",
    b"\xd0\xcf\x11\xe0": "an old Excel workbook (.xls)",
    b"%PDF": "a PDF document",
    b"\xff\xfe": "UTF-16 text",
    b"\xfe\xff": "UTF-16 text",
}


def _refuse_known_binary(start: bytes) -> None:
    if not start:
        raise ValidationFailed("The file is empty.", field="file")
    for signature, kind in _BINARY_SIGNATURES.items():
        if start.startswith(signature):
            raise ValidationFailed(
                f"The file is {kind}, not a CSV file. Save it as 'CSV UTF-8' and try again.",
                field="file",
            )


def _refuse_nul_bytes(binary: IO[bytes]) -> None:
    """NUL bytes mean a binary or UTF-16 file; PostgreSQL could not store them anyway."""
    while block := binary.read(1024 * 1024):
        if b"\x00" in block:
            raise ValidationFailed(
                "The file contains NUL bytes, so it is not CSV text. Save it as 'CSV UTF-8' "
                "and try again.",
                field="file",
            )
    binary.seek(0)


def _sniff_delimiter(first_line: str) -> str:
    """The most frequent of , ; and tab outside quotes in the header line (',' on a tie)."""
    counts = dict.fromkeys(",;\t", 0)
    quoted = False
    for ch in first_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _survey(text: io.TextIOWrapper) -> tuple[str, int]:
    """The delimiter and the number of records. Reads the whole file once, so that a file
    that is not UTF-8 CSV fails before any row is written."""
    line = 0
    try:
        delimiter = _sniff_delimiter(text.readline())
        text.seek(0)
        reader = csv.reader(text, delimiter=delimiter)
        count = 0
        for _ in reader:
            count += 1
            line = reader.line_num
    except UnicodeDecodeError:
        raise ValidationFailed(
            f"The file is not UTF-8 text (an invalid byte after line {line}). In Excel, save "
            "it as 'CSV UTF-8'; in other programs choose the UTF-8 encoding.",
            field="file",
        ) from None
    except csv.Error as exc:
        raise ValidationFailed(
            f"The file is not a readable CSV file after line {line}: {exc}.", field="file"
        ) from None
    text.seek(0)
    return delimiter, count


def _chunks(reader: Iterator[list[str]]) -> Iterator[tuple[list[tuple[int, list[str]]], int]]:
    """(line, cells) of the non-blank rows, CHUNK_ROWS records at a time, and how many records
    each chunk consumed. Lines count records as a spreadsheet shows rows: the header is 1."""
    line = 1
    while True:
        records: list[tuple[int, list[str]]] = []
        consumed = 0
        for cells in reader:
            line += 1
            consumed += 1
            if any(cell.strip() for cell in cells):
                records.append((line, cells))
            if consumed == CHUNK_ROWS:
                break
        if not consumed:
            return
        yield records, consumed


# --- cleaning rows (pure: runs in worker processes) ------------------------------------------


class _Row(NamedTuple):
    """One cleaned row. A named tuple, as rows travel back from the worker processes and
    tuples pickle several times faster than dataclasses."""

    line: int
    id: str  # used if the number is new to the workspace
    phone: str
    region: str | None
    zone: str | None  # the number's own time zone
    values: dict[str, Any]  # cleaned, non-empty standard fields
    attributes: str  # JSON text, ready for the INSERT on SQLite and PostgreSQL alike
    tags: list[str]
    consented_at: datetime | None  # the opt-in time the row gives; None: the import's time
    ip: str | None  # where the opt-in came from, if the row says


Cleaned = tuple[list[_Row], list[tuple[int, str]]]


def _clean_rows(records: list[tuple[int, list[str]]], plan: _Plan, country: str) -> Cleaned:
    rows: list[_Row] = []
    rejected: list[tuple[int, str]] = []
    latest = datetime.now(UTC) + _CLOCK_SLACK
    for line, cells in records:
        try:
            rows.append(_clean_row(line, cells, plan, country, latest))
        except ValidationFailed as exc:
            rejected.append((line, exc.message))
    return rows, rejected


def _clean_row(line: int, cells: list[str], plan: _Plan, country: str, latest: datetime) -> _Row:
    if len(cells) > plan.width and any(cell.strip() for cell in cells[plan.width :]):
        raise ValidationFailed(
            f"The row has {len(cells)} cells but the header has {plan.width} columns; "
            "a value that contains the delimiter must be in double quotes."
        )
    width = len(cells)
    number = parse_phone(cells[plan.phone] if plan.phone < width else "", country)
    values: dict[str, Any] = {}
    for index, name in plan.fields:
        if index < width and cells[index]:
            value = _CLEANERS[name](cells[index])
            if value is not None:
                values[name] = value
    attributes = {
        key: value
        for index, key in plan.attributes
        if index < width and (value := cells[index].strip())
    }
    for key, value in attributes.items():
        if len(value) > MAX_ATTRIBUTE_TEXT:
            raise ValidationFailed(
                f"Attribute '{key}' is longer than {MAX_ATTRIBUTE_TEXT} characters."
            )
    tags = clean_tags(cells[plan.tags]) if plan.tags is not None and plan.tags < width else []
    consented_at = ip = None
    if plan.consented_at is not None:
        cell = cells[plan.consented_at] if plan.consented_at < width else ""
        consented_at = _opt_in_time(cell, plan.consent_columns[0], latest)
    if plan.consent_ip is not None and plan.consent_ip < width:
        ip = _opt_in_ip(cells[plan.consent_ip], plan.consent_columns[1])
    return _Row(
        line,
        new_id("ct"),
        number.e164,
        number.region,
        number.timezone,
        values,
        json.dumps(attributes),
        tags,
        consented_at,
        ip,
    )


def _opt_in_time(cell: str, column: str, latest: datetime) -> datetime | None:
    """The opt-in time a row's evidence cell gives (None: yes, at the import's time), or why
    the row has no opt-in."""
    text = cell.strip()
    if not text:
        raise ValidationFailed(f"no opt-in in this row (column '{column}' is empty)")
    word = text.casefold()
    if word in _NO:
        raise ValidationFailed(f"no opt-in in this row (column '{column}' says '{text}')")
    if word in _YES:
        return None
    try:
        moment = datetime.fromisoformat(text)
        # A time without a zone is read as UTC, like every time Recado stores.
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 with an offset east of UTC
        raise ValidationFailed(
            f"'{text}' in column '{column}' is not an opt-in date: use YYYY-MM-DD, an ISO 8601 "
            "date and time such as 2024-05-31T14:30:00Z, or yes/no"
        ) from None
    if moment > latest:
        raise ValidationFailed(f"'{text}' in column '{column}' is in the future")
    return moment


def _opt_in_ip(cell: str, column: str) -> str | None:
    text = cell.strip()
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValidationFailed(f"'{text}' in column '{column}' is not an IP address") from None


def _warm_up(country: str) -> None:
    """Load the number and time zone data of the country in a fresh worker process."""
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    if example is not None:
        with contextlib.suppress(ValidationFailed):
            parse_phone(
                phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164), country
            )


def _combine(earlier: _Row, later: _Row) -> _Row:
    """Two rows for one number: the later row's values win, attributes merge, tags add up."""
    attributes = {**json.loads(earlier.attributes), **json.loads(later.attributes)}
    return _Row(
        later.line,
        earlier.id,
        later.phone,
        later.region,
        later.zone,
        {**earlier.values, **later.values},
        json.dumps(attributes),
        earlier.tags + [t for t in later.tags if t not in earlier.tags],
        later.consented_at or earlier.consented_at,
        later.ip or earlier.ip,
    )


# --- the pipeline ----------------------------------------------------------------------------


@contextmanager
def _cleaning_pool(size: int, country: str) -> Iterator[Executor]:
    workers = min(2, os.cpu_count() or 1)
    pool: Executor
    if size >= PARALLEL_MIN_BYTES and workers > 1:
        # spawn, not fork: this process runs an event loop and database threads.
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
        for _ in range(workers):  # start them now, while this process reads the file once
            pool.submit(_warm_up, country)
    else:
        # One thread still keeps the event loop answering while a chunk is cleaned.
        pool = ThreadPoolExecutor(1, thread_name_prefix="csv-import")
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


async def _run(
    reader: Iterator[list[str]],
    plan: _Plan,
    country: str,
    pool: Executor,
    writer: _ChunkWriter,
    total: int,
    on_progress: ProgressCallback | None,
) -> None:
    loop = asyncio.get_running_loop()
    ahead = 4 if isinstance(pool, ProcessPoolExecutor) else 2
    pending: deque[tuple[asyncio.Future[Cleaned], int]] = deque()
    chunks = _chunks(reader)
    done = 0
    while True:
        # Keep the workers cleaning the next chunks while this one is written.
        while len(pending) < ahead and (chunk := next(chunks, None)) is not None:
            records, consumed = chunk
            future = loop.run_in_executor(pool, _clean_rows, records, plan, country)
            pending.append((future, consumed))
        if not pending:
            return
        future, consumed = pending.popleft()
        await writer.write(*await future)
        done += consumed
        if on_progress is not None:
            on_progress(done, total)


# --- writing chunks --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bulk:
    """A statement compiled once and run as a plain DBAPI executemany. At this volume the
    per-row parameter processing of SQLAlchemy costs more than the database's own work, so
    rows arrive with database-ready values: JSON as text, timestamps through the column type
    once per chunk (_Statements.timestamp)."""

    sql: str
    # Picks the parameters in order, for positional paramstyles (SQLite); None for named ones.
    positional: Callable[[dict[str, Any]], tuple[Any, ...]] | None

    @classmethod
    def of(cls, statement: Insert | Update, keys: tuple[str, ...], dialect: Dialect) -> _Bulk:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        # SQLAlchemy adds parameters for columns with Python-side defaults; a raw executemany
        # would not fill them, so a column added with a default must be added here too.
        missing = set(compiled.binds) - set(keys)
        if missing:
            raise RuntimeError(
                f"{statement.table} needs {sorted(missing)}, which the CSV import does not "
                "write; add them to its bulk statements."
            )
        order = compiled.positiontup
        return cls(str(compiled), itemgetter(*order) if order else None)

    async def run(self, session: AsyncSession, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        params = list(map(self.positional, rows)) if self.positional else rows
        connection = await session.connection()
        await connection.exec_driver_sql(self.sql, params)


class _Statements:
    def __init__(self, dialect: Dialect) -> None:
        self.insert_contacts = _Bulk.of(insert(_CONTACTS), _INSERTED_COLUMNS, dialect)
        self.update_contacts = _Bulk.of(
            _UPDATE_CONTACT,
            tuple(f"b_{name}" for name in (*_UPDATED_COLUMNS, "id", "workspace_id")),
            dialect,
        )
        self.insert_tags = _Bulk.of(insert(_TAGS), ("contact_id", "tag", "workspace_id"), dialect)
        self.insert_members = _Bulk.of(
            insert(_MEMBERS),
            ("list_id", "contact_id", "workspace_id", "status", "created_at", "updated_at"),
            dialect,
        )
        self.insert_consents = _Bulk.of(insert(_CONSENTS), _CONSENT_COLUMNS, dialect)
        self.put_consent_in_force = _Bulk.of(
            _PUT_CONSENT_IN_FORCE,
            ("b_consented_at", "b_updated_at", "b_id", "b_workspace_id"),
            dialect,
        )
        self._timestamp = _CONTACTS.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)

    def timestamp(self, value: datetime) -> Any:
        return self._timestamp(value) if self._timestamp else value


@dataclass
class _Outcome:
    """What one chunk did, applied to the report only once its transaction has committed."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    added_to_list: int = 0
    consent_recorded: int = 0
    written: list[_Row] = field(default_factory=list)
    continued: list[tuple[int, int]] = field(default_factory=list)  # (earlier line, line)
    rejected: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Granting:
    """What an import that records consent needs for each chunk."""

    consent: ImportConsent
    key: str  # the workspace's suppression key
    recorded_by: str


class _ChunkWriter:
    def __init__(
        self,
        session: AsyncSession,
        workspace_id: str,
        list_id: str | None,
        mapping: dict[str, str],
        granting: _Granting | None,
    ) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.list_id = list_id
        self.granting = granting
        self.report = ImportReport(mapping=mapping)
        # Number (as an int, to keep a million of them small) -> the line that last wrote it.
        self.seen: dict[int, int] = {}
        self._sql: _Statements | None = None

    async def write(self, rows: list[_Row], rejected: list[tuple[int, str]]) -> None:
        report = self.report
        report.rows += len(rows) + len(rejected)
        for line, reason in rejected:
            report._reject(line, reason)
        batch: dict[str, _Row] = {}
        for row in rows:
            earlier = batch.get(row.phone)
            if earlier is not None:
                report._duplicate(earlier.line, row.line)
                row = _combine(earlier, row)
            batch[row.phone] = row
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                outcome = await self._write(batch)
                await self.session.commit()
                break
            except IntegrityError:
                # Another writer created one of these numbers meanwhile: look again.
                await self.session.rollback()
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
        for line, reason in outcome.rejected:
            report._reject(line, reason)
        for earlier_line, line in outcome.continued:
            report._duplicate(earlier_line, line)
        report.created += outcome.created
        report.updated += outcome.updated
        report.unchanged += outcome.unchanged
        report.added_to_list += outcome.added_to_list
        report.consent_recorded += outcome.consent_recorded
        for row in outcome.written:
            self.seen[int(row.phone[1:])] = row.line
        metrics.CONTACTS_IMPORTED.labels("created").inc(outcome.created)
        metrics.CONTACTS_IMPORTED.labels("updated").inc(outcome.updated)
        metrics.CONTACTS_IMPORTED.labels("unchanged").inc(outcome.unchanged)
        metrics.CONTACTS_IMPORTED.labels("rejected").inc(len(rejected) + len(outcome.rejected))
        metrics.CONTACTS_IMPORTED.labels("duplicate").inc(
            len(rows) - len(batch) + len(outcome.continued)
        )

    async def _write(self, batch: dict[str, _Row]) -> _Outcome:
        outcome = _Outcome()
        if not batch:
            return outcome
        if self._sql is None:
            self._sql = _Statements((await self.session.connection()).dialect)
        sql, workspace_id, granting = self._sql, self.workspace_id, self.granting
        moment = utcnow()
        now = sql.timestamp(moment)
        existing = {
            r.phone: r
            for r in await self.session.execute(
                select(*(_CONTACTS.c[name] for name in _READ_COLUMNS)).where(
                    _CONTACTS.c.workspace_id == workspace_id,
                    _CONTACTS.c.phone.in_(_inline(list(batch))),
                )
            )
        }
        hashes: dict[str, str] = {}
        suppressed: dict[str, str] = {}
        if granting is not None:
            hashes = {phone: phone_hash(granting.key, phone) for phone in batch}
            suppressed = await self._suppressed(list(hashes.values()))
        old_tags = await self._tags_of(
            [existing[p].id for p, row in batch.items() if row.tags and p in existing]
        )
        new_contacts: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        tag_rows: list[dict[str, Any]] = []
        consents: list[dict[str, Any]] = []
        in_force: list[dict[str, Any]] = []  # existing contacts that had no consent in force
        ids: list[str] = []
        for phone, row in batch.items():
            if suppressed and hashes[phone] in suppressed:
                outcome.rejected.append((row.line, _suppressed_reason(suppressed[hashes[phone]])))
                continue
            granted_at = None
            if granting is not None:
                granted_at = now if row.consented_at is None else sql.timestamp(row.consented_at)
            current = existing.get(phone)
            change: dict[str, Any] | str | None = None
            if current is None:
                contact_id = row.id
                new_contacts.append(_new_contact(row, workspace_id, now, granted_at))
                tags = row.tags
            else:
                contact_id = current.id
                known = old_tags.get(contact_id, ())
                tags = [t for t in row.tags if t not in known]
                change = _changed_contact(row, current, workspace_id, now)
                if isinstance(change, str):
                    outcome.rejected.append((row.line, change))
                    continue
                if len(known) + len(tags) > MAX_TAGS:
                    outcome.rejected.append(
                        (row.line, f"The contact would have more than {MAX_TAGS} tags.")
                    )
                    continue
                if change is not None:
                    changes.append(change)
                if granting is not None and current.consented_at is None:
                    in_force.append(
                        {
                            "b_consented_at": granted_at,
                            "b_updated_at": now,
                            "b_id": contact_id,
                            "b_workspace_id": workspace_id,
                        }
                    )
            for tag in tags:
                tag_rows.append(
                    {"contact_id": contact_id, "tag": tag, "workspace_id": workspace_id}
                )
            earlier_line = self.seen.get(int(phone[1:]))
            # One record per contact and import, even when a later chunk repeats the number.
            if granting is not None and earlier_line is None:
                consents.append(
                    {
                        "workspace_id": workspace_id,
                        "contact_id": contact_id,
                        "phone_hash": hashes[phone],
                        "list_id": self.list_id,
                        "action": "granted",
                        "source": granting.consent.source,
                        "consent_text": granting.consent.consent_text,
                        "ip": row.ip,
                        "recorded_by": granting.recorded_by,
                        "created_at": granted_at,
                    }
                )
            ids.append(contact_id)
            outcome.written.append(row)
            if earlier_line is not None:
                outcome.continued.append((earlier_line, row.line))
            elif current is None:
                outcome.created += 1
            elif change is not None or tags:
                outcome.updated += 1
            else:
                outcome.unchanged += 1
        await sql.insert_contacts.run(self.session, new_contacts)
        await sql.update_contacts.run(self.session, changes)
        await sql.put_consent_in_force.run(self.session, in_force)
        await sql.insert_tags.run(self.session, tag_rows)
        if self.list_id is not None and ids:
            outcome.added_to_list = await self._subscribe(ids, moment, now)
        await sql.insert_consents.run(self.session, consents)
        outcome.consent_recorded = len(consents)
        return outcome

    async def _suppressed(self, digests: list[str]) -> dict[str, str]:
        """Phone hash -> why it is suppressed, for the suppressed ones among `digests`."""
        rows = await self.session.execute(
            select(_SUPPRESSIONS.c.phone_hash, _SUPPRESSIONS.c.reason).where(
                _SUPPRESSIONS.c.workspace_id == self.workspace_id,
                _SUPPRESSIONS.c.phone_hash.in_(_inline(digests)),
            )
        )
        return {digest: reason for digest, reason in rows}

    async def _tags_of(self, contact_ids: list[str]) -> dict[str, set[str]]:
        tags: dict[str, set[str]] = {}
        if not contact_ids:
            return tags
        rows = await self.session.execute(
            select(_TAGS.c.contact_id, _TAGS.c.tag).where(
                _TAGS.c.workspace_id == self.workspace_id,
                _TAGS.c.contact_id.in_(_inline(contact_ids)),
            )
        )
        for contact_id, tag in rows:
            tags.setdefault(contact_id, set()).add(tag)
        return tags

    async def _subscribe(self, contact_ids: list[str], moment: datetime, now: Any) -> int:
        """Subscribe new members, and pending ones (a double opt-in not yet confirmed) since
        the import declares their consent. Members who left keep their status: only the
        person puts themselves back ("unsubscribed", "opted_out")."""
        assert self._sql is not None
        members = await self.session.execute(
            select(_MEMBERS.c.contact_id, _MEMBERS.c.status).where(
                _MEMBERS.c.workspace_id == self.workspace_id,
                _MEMBERS.c.list_id == self.list_id,
                _MEMBERS.c.contact_id.in_(_inline(contact_ids)),
            )
        )
        statuses: dict[str, str] = {contact_id: status for contact_id, status in members}
        rows = [
            {
                "list_id": self.list_id,
                "contact_id": contact_id,
                "workspace_id": self.workspace_id,
                "status": "subscribed",
                "created_at": now,
                "updated_at": now,
            }
            for contact_id in contact_ids
            if contact_id not in statuses
        ]
        await self._sql.insert_members.run(self.session, rows)
        pending = [c for c in contact_ids if statuses.get(c) == "pending"]
        if pending:
            await self.session.execute(
                update(_MEMBERS)
                .where(
                    _MEMBERS.c.workspace_id == self.workspace_id,
                    _MEMBERS.c.list_id == self.list_id,
                    _MEMBERS.c.status == "pending",
                    _MEMBERS.c.contact_id.in_(_inline(pending)),
                )
                .values(status="subscribed", updated_at=moment)
            )
        return len(rows) + len(pending)


def _suppressed_reason(reason: str) -> str:
    if reason == SuppressionReason.ERASED:
        return "erased contact: only the person can subscribe again (a signup form)"
    return "opted out: only the person can subscribe again (START or a signup form)"


def _inline(values: list[str]) -> BindParameter[Any]:
    """Values written into the SQL text instead of bound: the text then differs per chunk, so
    PostgreSQL plans each lookup for its actual values. Bound, the statement is prepared after
    a few chunks and a generic plan may compare every row with all 2,000 values (seconds per
    chunk, seen at 50,000 contacts before the table was first analyzed)."""
    return bindparam(None, values, expanding=True, literal_execute=True)


_READ_COLUMNS = (
    "id",
    "phone",
    "region",
    "first_name",
    "last_name",
    "email",
    "language",
    "timezone",
    "timezone_explicit",
    "external_id",
    "attributes",
    "consented_at",
)


def _zone(row: _Row) -> tuple[str | None, bool]:
    """The contact's time zone and whether it is explicit: a zone in the file that is the
    number's own zone is no override, so it keeps following the number."""
    given = row.values.get("timezone")
    if given is None or given == row.zone:
        return row.zone, False
    return given, True


def _new_contact(row: _Row, workspace_id: str, now: Any, consented_at: Any) -> dict[str, Any]:
    values = row.values
    zone, explicit = _zone(row)
    return {
        "id": row.id,
        "workspace_id": workspace_id,
        "phone": row.phone,
        "first_name": values.get("first_name"),
        "last_name": values.get("last_name"),
        "email": values.get("email"),
        "language": values.get("language"),
        "timezone": zone,
        "timezone_explicit": explicit,
        "region": row.region,
        "external_id": values.get("external_id"),
        "attributes": row.attributes,
        "consented_at": consented_at,
        "created_at": now,
        "updated_at": now,
    }


def _changed_contact(
    row: _Row, current: Any, workspace_id: str, now: Any
) -> dict[str, Any] | str | None:
    """The UPDATE parameters for an existing contact, None when the row changes nothing, or
    why the row cannot be applied. Empty cells erase nothing; attributes merge."""
    values = row.values
    old_attributes = current.attributes or {}
    attributes = {**old_attributes, **json.loads(row.attributes)}
    if len(attributes) > MAX_ATTRIBUTES:
        return f"The contact would have more than {MAX_ATTRIBUTES} custom attributes."
    if "timezone" in values or not current.timezone_explicit:
        zone, explicit = _zone(row)
    else:
        zone, explicit = current.timezone, True
    new = (
        values.get("first_name", current.first_name),
        values.get("last_name", current.last_name),
        values.get("email", current.email),
        values.get("language", current.language),
        zone,
        explicit,
        row.region,
        values.get("external_id", current.external_id),
    )
    old = (
        current.first_name,
        current.last_name,
        current.email,
        current.language,
        current.timezone,
        current.timezone_explicit,
        current.region,
        current.external_id,
    )
    if new == old and attributes == old_attributes:
        return None
    return {
        "b_id": current.id,
        "b_workspace_id": workspace_id,
        "b_first_name": new[0],
        "b_last_name": new[1],
        "b_email": new[2],
        "b_language": new[3],
        "b_timezone": zone,
        "b_timezone_explicit": explicit,
        "b_region": row.region,
        "b_external_id": new[7],
        "b_attributes": json.dumps(attributes),
        "b_updated_at": now,
    }


# --- checks ----------------------------------------------------------------------------------


def _check_country(country: str) -> str:
    code = country.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationFailed(
            f"'{country}' is not a country code: use two letters such as US or BR.",
            field="default_country",
        )
    return code


async def _check_list(session: AsyncSession, workspace_id: str, list_id: str) -> None:
    found = await session.scalar(
        select(ContactList.id).where(
            ContactList.workspace_id == workspace_id, ContactList.id == list_id
        )
    )
    if found is None:
        raise ValidationFailed(f"No list with id {list_id} in this workspace.", field="list_id")
