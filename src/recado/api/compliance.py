"""Consent records, opt-outs, data export and erasure, the suppression check and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from recado.api.deps import CurrentActor, Session
from recado.api.pages import Cursor, Limit, Page
from recado.services import compliance_admin, data_rights
from recado.services.consent import ConsentClaim

router = APIRouter(tags=["compliance"])


class ConsentIn(BaseModel):
    """An opt-in you collected: say where, what the person agreed to, and when possible how."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["signup_form", "keyword", "import", "api", "ui"] = Field(
        default="api", description="Where the person gave consent"
    )
    consent_text: str = Field(
        min_length=1,
        max_length=2000,
        description="The exact words the person agreed to, e.g. 'Yes, text me offers from "
        "Acme. Up to 4 msgs/week. Reply STOP to cancel.'",
    )
    list_id: str | None = Field(
        default=None, description="The list consented to; leave it out for the whole program"
    )
    ip: str | None = Field(default=None, max_length=64, description="The person's IP address")
    user_agent: str | None = Field(
        default=None, max_length=500, description="The person's browser, where there is one"
    )


class ConsentOut(BaseModel):
    id: int
    action: Literal["granted", "revoked"]
    list_id: str | None
    source: str
    consent_text: str | None
    ip: str | None
    user_agent: str | None
    recorded_by: str
    at: datetime


class ComplianceStateOut(BaseModel):
    """Why a contact does or does not get marketing texts."""

    contact_id: str
    marketing_consent: bool
    consented_at: datetime | None
    opted_out: bool
    opted_out_at: datetime | None
    consents: list[ConsentOut]


class SuppressionOut(BaseModel):
    phone: str
    suppressed: bool
    reason: Literal["opt_out", "erased"] | None


class AuditOut(BaseModel):
    id: int
    actor: str
    action: str
    contact_id: str | None
    detail: dict[str, Any]
    at: datetime


@router.get(
    "/v1/contacts/{contact_id}/consents",
    response_model=ComplianceStateOut,
    summary="A contact's consent state and history",
)
async def consents(contact_id: str, session: Session, actor: CurrentActor) -> ComplianceStateOut:
    return _state(await compliance_admin.consent_state(session, actor, contact_id))


@router.post(
    "/v1/contacts/{contact_id}/consents",
    status_code=status.HTTP_201_CREATED,
    response_model=ComplianceStateOut,
    summary="Record a contact's opt-in",
    description="Appends a consent record and puts marketing consent in force. A number that "
    "opted out can only be resubscribed by the person (START, a signup form, a double opt-in "
    "YES): recording consent for it answers 409 `recipient_opted_out`.",
)
async def grant(
    contact_id: str, payload: ConsentIn, request: Request, session: Session, actor: CurrentActor
) -> ComplianceStateOut:
    claim = ConsentClaim(
        source=payload.source,
        consent_text=payload.consent_text,
        list_id=payload.list_id,
        ip=payload.ip,
        user_agent=payload.user_agent,
    )
    return _state(await compliance_admin.record_consent(session, actor, contact_id, claim))


@router.post(
    "/v1/contacts/{contact_id}/opt-out",
    response_model=ComplianceStateOut,
    summary="Opt a contact out",
    description="As if the person had replied STOP (for an opt-out received by phone or email): "
    "the number is suppressed and consent revoked, with you recorded as who did it.",
)
async def opt_out(contact_id: str, session: Session, actor: CurrentActor) -> ComplianceStateOut:
    return _state(await compliance_admin.opt_out(session, actor, contact_id))


@router.get(
    "/v1/contacts/{contact_id}/export",
    summary="Export everything held about a contact",
    description="Fields, lists, consent history, messages with their timelines, clicks and "
    "audit entries, as JSON (a data subject access request). The export is audited.",
)
async def export(contact_id: str, session: Session, actor: CurrentActor) -> dict[str, Any]:
    return await data_rights.export_contact(session, actor, contact_id)


@router.post(
    "/v1/contacts/{contact_id}/erase",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Erase a contact (right to erasure)",
    description="Removes the contact and its personal data; its messages stay, redacted, for "
    "the counts. A keyed hash of the number stays on the suppression list, so it is never "
    "texted again, even if re-imported, unless the person subscribes again themselves.",
)
async def erase(contact_id: str, session: Session, actor: CurrentActor) -> Response:
    await data_rights.erase_contact(session, actor, contact_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/suppressions/check",
    response_model=SuppressionOut,
    summary="Is a number suppressed?",
    description="Whether texts to this number are blocked (it opted out, or its contact was "
    "erased).",
)
async def check_suppression(
    session: Session,
    actor: CurrentActor,
    phone: str = Query(description="A number in any usual spelling"),
) -> SuppressionOut:
    e164, reason = await compliance_admin.suppression(session, actor, phone)
    return SuppressionOut(phone=e164, suppressed=reason is not None, reason=reason)  # type: ignore[arg-type]


@router.get(
    "/v1/audit-log",
    response_model=Page[AuditOut],
    summary="The audit log",
    description="Consent changes, opt-outs and opt-ins, exports and erasures: who and when, "
    "newest first.",
)
async def audit_log(
    session: Session,
    actor: CurrentActor,
    contact_id: str | None = Query(default=None, description="Entries about this contact"),
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AuditOut]:
    rows, next_cursor = await compliance_admin.audit_log(
        session, actor, contact_id=contact_id, limit=limit, cursor=cursor
    )
    return Page(
        data=[
            AuditOut(
                id=r.id,
                actor=r.actor,
                action=r.action,
                contact_id=r.contact_id,
                detail=r.detail or {},
                at=r.created_at,
            )
            for r in rows
        ],
        next_cursor=next_cursor,
    )


def _state(state: compliance_admin.ConsentState) -> ComplianceStateOut:
    c = state.contact
    return ComplianceStateOut(
        contact_id=c.id,
        marketing_consent=c.consented_at is not None and not state.suppressed,
        consented_at=c.consented_at,
        opted_out=state.suppressed,
        opted_out_at=c.opted_out_at,
        consents=[ConsentOut(**data_rights.consent_json(r)) for r in state.history],
    )
