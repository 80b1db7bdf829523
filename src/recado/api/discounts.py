"""/v1/discount-pools: pools of single-use discount codes that campaigns hand out."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile

from recado.api.deps import CurrentActor, Session
from recado.api.pages import Cursor, Limit, Page
from recado.errors import RecadoError, ValidationFailed
from recado.services import discounts
from recado.services.discounts import PoolSummary, UploadReport

router = APIRouter(prefix="/v1/discount-pools", tags=["discount codes"])

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class PayloadTooLarge(RecadoError):
    code = "payload_too_large"
    status = 413


class PoolIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Unique in the workspace, e.g. 'Black Friday 20%'")


class PoolOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    total: int = Field(description="Codes uploaded")
    remaining: int = Field(description="Codes not given to anyone yet")


class CodesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    codes: list[str] = Field(description="The codes, as the shop accepts them")


class RejectedCodeOut(BaseModel):
    line: int = Field(description="Position in the list or line of the file (header = 1)")
    code: str
    reason: str


class UploadOut(BaseModel):
    """Every non-blank line counts once: added, duplicate or rejected."""

    added: int
    duplicates: int = Field(
        description="Already in the pool, or earlier in this upload (case is ignored)"
    )
    rejected: int
    rejected_codes: list[RejectedCodeOut] = Field(description="The first 1000 rejected")
    remaining: int = Field(description="Codes not given to anyone yet, after this upload")


_UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": CodesIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "CSV, UTF-8: the column named code (or coupon, "
                            "discount_code), else the first column; up to 20 MB",
                        }
                    },
                }
            },
        },
    }
}


@router.post(
    "",
    response_model=PoolOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a discount code pool",
)
async def create_pool(body: PoolIn, session: Session, actor: CurrentActor) -> PoolOut:
    return _out(await discounts.create_pool(session, actor, body.name))


@router.get("", response_model=Page[PoolOut], summary="Pools, newest first, with codes left")
async def list_pools(
    session: Session, actor: CurrentActor, limit: Limit = 50, cursor: Cursor = None
) -> Page[PoolOut]:
    pools, next_cursor = await discounts.list_pools(session, actor, limit=limit, cursor=cursor)
    return Page[PoolOut](data=[_out(p) for p in pools], next_cursor=next_cursor)


@router.get("/{pool_id}", response_model=PoolOut, summary="One pool")
async def get_pool(pool_id: str, session: Session, actor: CurrentActor) -> PoolOut:
    return _out(await discounts.get_pool(session, actor, pool_id))


@router.post(
    "/{pool_id}/codes",
    response_model=UploadOut,
    summary="Add codes: a JSON list, or a CSV file",
    description='Send {"codes": [...]} as JSON, or a CSV file as the multipart field '
    "`file`. Duplicates (in the pool already, or twice in the upload) and impossible codes "
    "are counted and skipped; the others are added.",
    openapi_extra=_UPLOAD_FORM,
)
async def upload_codes(
    pool_id: str, request: Request, session: Session, actor: CurrentActor
) -> UploadOut:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES + 64 * 1024:
        raise PayloadTooLarge(
            f"The upload is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it.",
            field="file",
        )
    if kind == "multipart/form-data":
        async with request.form(max_files=1, max_fields=2) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ValidationFailed(
                    "Send the CSV file as the multipart/form-data field 'file'.", field="file"
                )
            data = await upload.read()
        try:
            codes, first_line = discounts.read_csv_codes(data)
        except UnicodeDecodeError:
            raise ValidationFailed(
                "The file is not UTF-8 text; save it as CSV UTF-8.", field="file"
            ) from None
    elif kind == "application/json":
        first_line = 1
        try:
            codes = CodesIn.model_validate_json(await request.body()).codes
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "codes"
            raise ValidationFailed(
                f'Send {{"codes": ["SAVE-1", "SAVE-2"]}}: {where}: {first["msg"]}', field=where
            ) from None
    else:
        raise ValidationFailed(
            'Send {"codes": [...]} as application/json, or a CSV file as multipart/form-data.',
            field="codes",
        )
    report = await discounts.add_codes(session, actor, pool_id, codes, first_line=first_line)
    return _upload_out(report)


def _out(pool: PoolSummary) -> PoolOut:
    return PoolOut(
        id=pool.id,
        name=pool.name,
        created_at=pool.created_at,
        total=pool.total,
        remaining=pool.remaining,
    )


def _upload_out(report: UploadReport) -> UploadOut:
    return UploadOut(
        added=report.added,
        duplicates=report.duplicates,
        rejected=report.rejected,
        rejected_codes=[
            RejectedCodeOut(line=r.line, code=r.code, reason=r.reason)
            for r in report.rejected_codes
        ],
        remaining=report.remaining,
    )
