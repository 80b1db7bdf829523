"""/v1/contacts/imports and /v1/contacts/export: contacts in and out as CSV files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from recado.api.deps import CurrentActor, Session
from recado.domain.roles import Permission
from recado.errors import RecadoError, ValidationFailed
from recado.services import exports, imports
from recado.services.consent import SOURCES

router = APIRouter(prefix="/v1/contacts", tags=["contacts"])

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
_MULTIPART_OVERHEAD = 64 * 1024  # boundaries and the small form fields around the file


class PayloadTooLarge(RecadoError):
    code = "payload_too_large"
    status = 413


class RejectedRowOut(BaseModel):
    line: int = Field(description="Line of the file as a spreadsheet numbers it (header = 1)")
    reason: str


class DuplicateRowOut(BaseModel):
    line: int = Field(description="The earlier row with the same number")
    kept_line: int = Field(description="The later row, whose values won")


class ImportReportOut(BaseModel):
    """What the import did. Every row is counted once:
    rows = created + updated + unchanged + duplicates + rejected."""

    rows: int = Field(description="Data rows read (blank rows are skipped)")
    created: int
    updated: int
    unchanged: int = Field(description="Existing contacts the file would not change")
    duplicates: int = Field(description="Rows overridden by a later row with the same number")
    rejected: int
    added_to_list: int = Field(
        description="With list_id: contacts not yet subscribed (new members, or pending ones)"
    )
    consent_recorded: int = Field(
        description="With consent_text: consent records added, one per imported row"
    )
    rejected_rows: list[RejectedRowOut] = Field(description="The first 1000 rejected rows")
    duplicate_rows: list[DuplicateRowOut] = Field(description="The first 1000 duplicates")
    mapping: dict[str, str] = Field(description="CSV column -> field, as applied")


_UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "CSV file, UTF-8, with a header row; up to 50 MB",
                        },
                        "list_id": {
                            "type": "string",
                            "description": "Subscribe every imported contact to this list; "
                            "requires consent_text",
                        },
                        "consent_text": {
                            "type": "string",
                            "description": "How these people opted in: the words they agreed "
                            "to, or where (\"Checkout checkbox 'Text me offers' on acme.com\"). "
                            "Recorded as each row's consent; rows of opted-out or erased "
                            "numbers are then rejected. Required with list_id.",
                        },
                        "consent_source": {
                            "type": "string",
                            "description": "How the consent was collected: "
                            + ", ".join(sorted(SOURCES))
                            + " (default: import)",
                        },
                        "default_country": {
                            "type": "string",
                            "description": "Country of numbers written without + "
                            "(default: the workspace's)",
                        },
                        "mapping": {
                            "type": "string",
                            "description": 'JSON object, CSV column -> field: {"Celular": '
                            '"phone", "Loja": "attribute:store", "Notes": "ignore"}. '
                            "Columns left out are mapped by their names.",
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/imports",
    response_model=ImportReportOut,
    summary="Import contacts from a CSV file",
    description="Creates new contacts and updates existing ones (matched by phone number). "
    "Rows that cannot be imported are listed with their line and reason; the others are "
    "imported. A file that cannot be read or has no phone column is refused with a 422. "
    "An import into a list must declare the consent basis (consent_text); a column named "
    "like consented_at or opt_in_date then gives each row's opt-in (a date, or yes/no), and "
    "rows without one are rejected.",
    openapi_extra=_UPLOAD_FORM,
)
async def import_csv(request: Request, session: Session, actor: CurrentActor) -> ImportReportOut:
    # Refuse before the upload is read: permission, then the declared size.
    actor.require(Permission.MANAGE_AUDIENCE)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES + _MULTIPART_OVERHEAD:
        raise _too_large()
    async with request.form(max_files=1, max_fields=5) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ValidationFailed(
                "Send the CSV file as the multipart/form-data field 'file'.", field="file"
            )
        if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
            raise _too_large()
        report = await imports.import_contacts(
            session,
            actor,
            upload.file,
            mapping=_mapping(form.get("mapping")),
            list_id=_text(form.get("list_id")),
            consent=_consent(form.get("consent_text"), form.get("consent_source")),
            default_country=_text(form.get("default_country")),
        )
    return ImportReportOut.model_validate(report.to_dict())


@router.get(
    "/export",
    summary="Export contacts as CSV",
    description="Streams every contact of the workspace, or the subscribed members of one "
    "list, as a CSV file that imports back unchanged.",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The CSV file"}},
)
async def export_csv(
    session: Session,
    actor: CurrentActor,
    list_id: Annotated[str | None, Query(description="Only the members of this list")] = None,
) -> StreamingResponse:
    parts = await exports.contacts_csv(session, actor, list_id=list_id)
    name = f"contacts-{datetime.now(UTC):%Y%m%d-%H%M%S}.csv"
    return StreamingResponse(
        parts,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it into "
        "smaller files, or import it from the command line.",
        field="file",
    )


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, UploadFile):
        return None
    return value.strip() or None


def _consent(text: Any, source: Any) -> imports.ImportConsent | None:
    consent_text, consent_source = _text(text), _text(source)
    if consent_text is None:
        if consent_source is not None:
            raise ValidationFailed(
                "consent_source needs consent_text: the words people agreed to, or how they "
                "opted in.",
                field="consent_text",
            )
        return None
    return imports.ImportConsent(consent_text, consent_source or "import")


def _mapping(value: Any) -> dict[str, str] | None:
    text = _text(value)
    if text is None:
        return None
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError:
        mapping = None
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise ValidationFailed(
            'mapping must be a JSON object of column names to fields, such as {"Celular": '
            '"phone", "Loja": "attribute:store"}.',
            field="mapping",
        )
    return mapping
