"""STOP, START, HELP and double opt-in YES, as texts arrive.

Two steps, on purpose:
- `on_store` runs inside the transaction that stores the inbound text and changes state:
  an opt-out is in force the moment the text is stored, never a moment later.
- `answer` is the first stage of the inbound pipeline: it sends the one localized
  confirmation (or the HELP text, or the list's welcome) and takes the text out of the
  pipeline. A reply that only reads like an opt-out is flagged for an agent and goes on to
  the inbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import (
    Contact,
    ContactList,
    Message,
    OptInRequest,
    SignupForm,
    Workspace,
    utcnow,
)
from recado.domain import optout_intent
from recado.domain.compliance_replies import ReplyKind, reply_text
from recado.domain.inbound_pipeline import OPT_OUT_KEYWORDS, Handled, InboundText
from recado.domain.keywords import KeywordRules
from recado.domain.workspace_settings import WorkspaceSettings, read_settings
from recado.services import consent

CONFIRMATION_WINDOW = timedelta(hours=48)  # a double opt-in YES counts within this long
BY_RECIPIENT = "recipient"  # how the audit log names the person acting by text


@dataclass(frozen=True)
class Action:
    """What a stored text did: opted_out, opted_in, confirmed, help or flagged."""

    kind: str
    language: str | None = None


async def on_store(
    session: AsyncSession, workspace: Workspace, contact: Contact, message: Message
) -> Action | None:
    """Apply a compliance keyword (or a clear "stop texting me") in the caller's transaction."""
    settings = read_settings(workspace.settings)
    rules = settings.keyword_rules()
    match = rules.match(message.body)
    now = message.created_at
    if match is None:
        return await _by_intent(session, contact, message, rules)
    language = match.language_for(contact.language)
    detail = {"keyword": match.keyword, "message_id": message.id}
    if match.is_opt_out:
        contact = await consent.locked_contact(session, workspace.id, contact.id)
        # Stamped after the lock: a text the dispatcher marked `sending` before this moment
        # won the contact's row first; any later one will see the suppression.
        changed = await consent.opt_out(
            session, contact, source="keyword", by=BY_RECIPIENT, detail=detail, now=utcnow()
        )
        return Action("opted_out" if changed else "already_opted_out", language)
    if match.is_help:
        return Action("help", language)
    # A confirmation word (YES, SIM, SI...) answers a pending double opt-in first.
    if match.is_confirmation:
        pending = await _pending_requests(session, contact, now)
        if pending:
            contact = await consent.locked_contact(session, workspace.id, contact.id)
            for request in pending:  # one YES answers every question still open
                await _confirm(session, contact, request, now)
            return Action("confirmed", language)
    if match.is_opt_in:
        contact = await consent.locked_contact(session, workspace.id, contact.id)
        if await consent.opt_in(session, contact, source="keyword", by=BY_RECIPIENT, now=now):
            return Action("opted_in", language)
        # START from someone not opted out is a fresh opt-in to the program; a bare YES is
        # not (a "yes" to an agent's question is no subscription).
        if not match.is_confirmation:
            await consent.grant(
                session,
                contact,
                consent.ConsentClaim(source="keyword", consent_text=f"Texted {match.keyword}."),
                by=BY_RECIPIENT,
                now=now,
                by_the_person=True,
            )
            return Action("opted_in", language)
    return None


async def _by_intent(
    session: AsyncSession, contact: Contact, message: Message, rules: KeywordRules
) -> Action | None:
    intent = optout_intent.detect_opt_out_intent(message.body, rules)
    language = intent.languages[0] if intent.languages else None
    if intent.verdict == "opt_out":
        contact = await consent.locked_contact(session, contact.workspace_id, contact.id)
        changed = await consent.opt_out(
            session,
            contact,
            source="keyword",
            by=BY_RECIPIENT,
            detail={"phrase": intent.phrase, "reason": intent.reason, "message_id": message.id},
            now=utcnow(),
        )
        return Action("opted_out" if changed else "already_opted_out", language)
    if intent.verdict == "flag":
        consent.audit(
            session,
            contact.workspace_id,
            BY_RECIPIENT,
            "opt_out.flagged",
            contact.id,
            {"phrase": intent.phrase, "reason": intent.reason, "message_id": message.id},
            utcnow(),
        )
        return Action("flagged", language)
    return None


async def _pending_requests(
    session: AsyncSession, contact: Contact, now: datetime
) -> list[OptInRequest]:
    rows = await session.scalars(
        select(OptInRequest)
        .where(
            OptInRequest.workspace_id == contact.workspace_id,
            OptInRequest.contact_id == contact.id,
            OptInRequest.confirmed_at.is_(None),
            OptInRequest.expires_at > now,
        )
        .order_by(OptInRequest.created_at)
    )
    return list(rows)


async def _confirm(
    session: AsyncSession, contact: Contact, request: OptInRequest, now: datetime
) -> None:
    request.confirmed_at = now
    await consent.grant(
        session,
        contact,
        consent.ConsentClaim(
            source="double_opt_in",
            consent_text=request.consent_text,
            list_id=request.list_id,
            ip=request.ip,
            user_agent=request.user_agent,
        ),
        by=BY_RECIPIENT,
        now=now,
        by_the_person=True,
    )


class _Context(Protocol):
    @property
    def session(self) -> AsyncSession: ...
    @property
    def text(self) -> InboundText: ...


_REPLIES = {
    "opted_out": ReplyKind.OPT_OUT,
    "opted_in": ReplyKind.OPT_IN,
    "help": ReplyKind.HELP,
    "confirmed": ReplyKind.CONFIRMED,
}


async def answer(context: _Context) -> Handled | None:
    """The pipeline's first stage: the confirmation for what `on_store` did."""
    text = context.text
    action = text.compliance_action
    if action is None or action == "flagged":
        return None  # an ordinary text, or one for an agent to read: on to the next stages
    if action == "already_opted_out":
        return Handled(by=OPT_OUT_KEYWORDS)  # confirmed once already; no second text
    session = context.session
    workspace = await session.get(Workspace, text.workspace_id)
    assert workspace is not None
    settings = read_settings(workspace.settings)
    contact = await session.get(Contact, text.contact_id) if text.contact_id else None
    list_name, welcome = "", None
    if action == "confirmed" and contact is not None:
        list_name, welcome = await _confirmed_list(session, contact)
    if welcome:  # the list's own welcome: an ordinary text, checked like any other
        return Handled(by=OPT_OUT_KEYWORDS, reply=welcome)
    else:
        reply = reply_text(
            _REPLIES[action],
            (contact.language if contact else None, text.compliance_language),
            program=program_name(settings, workspace),
            contact=settings.help_contact or workspace.name,
            list_name=list_name,
            overrides=settings.compliance_replies,
        )
    return Handled(by=OPT_OUT_KEYWORDS, reply=reply, reply_category="compliance")


async def _confirmed_list(session: AsyncSession, contact: Contact) -> tuple[str, str | None]:
    """The list the contact just confirmed, and its form's welcome text if it has one."""
    row = (
        await session.execute(
            select(ContactList.name, SignupForm.welcome_message)
            .select_from(OptInRequest)
            .join(ContactList, ContactList.id == OptInRequest.list_id)
            .outerjoin(SignupForm, SignupForm.id == OptInRequest.form_id)
            .where(
                OptInRequest.workspace_id == contact.workspace_id,
                OptInRequest.contact_id == contact.id,
                OptInRequest.confirmed_at.is_not(None),
            )
            .order_by(OptInRequest.confirmed_at.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return "", None
    return row[0], row[1]


def program_name(settings: WorkspaceSettings, workspace: Workspace) -> str:
    return settings.program_name or settings.brand_name or workspace.name
