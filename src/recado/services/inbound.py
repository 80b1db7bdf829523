"""Inbound texts: store every one as a `received` message on its contact, then classify it.

The message is committed before any classification, so nothing a person sent is ever lost to
a bug in a later stage. Classification runs the stages of `PIPELINE` in order (opt-out
keywords, workspace keywords, a waiting survey or automation, the inbox); a feature adds its
stage with `PIPELINE.register(...)` from a module listed in `STAGE_MODULES`.
"""

from __future__ import annotations

import functools
import importlib
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from recado.carriers.base import InboundSMS
from recado.db.tables import Contact, Message, MessageEvent, Sender, Workspace, utcnow
from recado.domain.encoding import analyze
from recado.domain.inbound_pipeline import (
    OPT_OUT_KEYWORDS,
    Handled,
    InboundText,
    Pipeline,
    Stage,
    StageFailure,
    default_stages,
)
from recado.domain.message_status import MessageStatus
from recado.domain.phone import parse_phone
from recado.domain.roles import Permission
from recado.errors import Conflict, InvalidPhoneNumber, NotFound, RecadoError, ValidationFailed
from recado.ids import new_id
from recado.services import compliance_inbound, messaging
from recado.services.actor import Actor, system_actor
from recado.services.contacts_lookup import ensure_contact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboundContext:
    """What a stage is given: the stored text and a session to do its work in.

    A stage commits its own work; if it raises, what it left uncommitted is rolled back.
    """

    session: AsyncSession
    text: InboundText


PIPELINE: Pipeline[InboundContext] = Pipeline(default_stages())
# Compliance is not optional: its stage is built in rather than loaded from STAGE_MODULES.
PIPELINE.register(Stage(OPT_OUT_KEYWORDS, compliance_inbound.answer))

# Modules that register stages on PIPELINE when imported; loaded before the first text.
STAGE_MODULES: tuple[str, ...] = ()


async def receive(
    session: AsyncSession, sms: InboundSMS, *, pipeline: Pipeline[InboundContext] | None = None
) -> Message | None:
    """Store the text on the workspace that owns the number it was sent to, then classify it.

    Returns the stored message, or None when no workspace has the number or the carrier's
    id was stored already (a redelivered text is neither stored nor classified twice).
    """
    workspace = await workspace_for_number(session, sms.recipient, sms.sender)
    if workspace is None:
        log.warning("inbound text to %s, a number no workspace has", sms.recipient)
        return None
    stored = await _store(session, workspace, sms)
    if stored is None:
        return None
    message, action = stored
    await classify(session, _text_of(message, action), pipeline or PIPELINE)
    await session.refresh(message)  # a failed stage's rollback expired it
    return message


async def classify(
    session: AsyncSession, text: InboundText, pipeline: Pipeline[InboundContext]
) -> None:
    """Run the stages on a stored text and write what happened on its timeline."""
    _load_stage_modules()

    async def discard(failure: StageFailure) -> None:
        log.error(
            "inbound stage %s failed on message %s",
            failure.stage,
            text.message_id,
            exc_info=failure.error,
        )
        await session.rollback()

    outcome = await pipeline.run(InboundContext(session, text), on_failure=discard)
    details = [
        f"stage {f.stage} failed ({type(f.error).__name__}); see the logs" for f in outcome.failures
    ]
    details.append(f"handled by {outcome.handled.by}" if outcome.handled else "handled by no stage")
    now = utcnow()
    session.add_all(_event(text, detail, now) for detail in details)
    await session.commit()
    if outcome.handled is not None and outcome.handled.reply:
        await _reply(session, text, outcome.handled)


async def workspace_for_number(
    session: AsyncSession, recipient: str, sender: str
) -> Workspace | None:
    """The workspace a text sent to `recipient` by `sender` belongs to.

    A number is normally one workspace's. When several share it (each workspace starts with
    the simulator's number), the text goes to the one that last texted this person from
    it, else to the first that added the number.
    """
    owners = list(
        await session.scalars(
            select(Workspace)
            .join(Sender, Sender.workspace_id == Workspace.id)
            .where(Sender.address == recipient)
            .order_by(Sender.created_at, Sender.id)
        )
    )
    if len(owners) <= 1:
        return owners[0] if owners else None
    phones = set()
    for workspace in owners:
        try:
            phones.add(parse_phone(sender, workspace.default_country).e164)
        except InvalidPhoneNumber:
            continue
    if phones:
        last = await session.scalar(
            select(Message.workspace_id)
            .join(Contact, Contact.id == Message.contact_id)
            .where(
                Contact.workspace_id.in_([w.id for w in owners]),
                Contact.phone.in_(phones),
                Message.direction == "outbound",
                Message.sender == recipient,
            )
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(1)
        )
        for workspace in owners:
            if workspace.id == last:
                return workspace
    return owners[0]


async def check_simulated_text(
    session: AsyncSession, actor: Actor, *, sender: str, recipient: str
) -> str:
    """Check a text the simulator is asked to deliver to this workspace; the sender in E.164.

    The text must be to a number of the actor's workspace and land there: a key of one
    workspace cannot put texts into another's inbox.
    """
    actor.require(Permission.SEND)
    workspace = await session.get(Workspace, actor.workspace_id)
    assert workspace is not None
    recipient = recipient.strip()
    own = await session.scalar(
        select(Sender.id).where(
            Sender.workspace_id == actor.workspace_id, Sender.address == recipient
        )
    )
    if own is None:
        raise ValidationFailed(
            f"'{recipient}' is not a sender of this workspace; simulate texts to one of its "
            "own numbers.",
            field="to",
        )
    try:
        phone = parse_phone(sender, workspace.default_country)
    except InvalidPhoneNumber as error:
        raise InvalidPhoneNumber(error.message, field="from") from None
    owner = await workspace_for_number(session, recipient, phone.e164)
    if owner is None or owner.id != actor.workspace_id:
        raise Conflict(
            f"{recipient} is also a number of another workspace, and a text from {phone.e164} "
            "to it would go there (to the workspace that texted this person last, else to "
            "the first that added the number). Use a number only this workspace has.",
            field="to",
            code="number_shared",
        )
    return phone.e164


async def received_message(
    session: AsyncSession, actor: Actor, connector: str, carrier_message_id: str
) -> Message:
    """The inbound message a connector stored under its carrier id, in the actor's workspace."""
    actor.require(Permission.READ)
    message = await session.scalar(
        select(Message).where(
            Message.workspace_id == actor.workspace_id,
            Message.direction == "inbound",
            Message.connector == connector,
            Message.carrier_message_id == carrier_message_id,
        )
    )
    if message is None:
        raise NotFound(f"No inbound message {carrier_message_id} from {connector} here.")
    return message


async def _store(
    session: AsyncSession, workspace: Workspace, sms: InboundSMS
) -> tuple[Message, compliance_inbound.Action | None] | None:
    try:
        phone = parse_phone(sms.sender, workspace.default_country)
    except InvalidPhoneNumber:
        phone = None
    contact = await ensure_contact(session, workspace.id, phone) if phone else None
    now = utcnow()
    report = analyze(sms.body)
    message = Message(
        id=new_id("msg"),
        workspace_id=workspace.id,
        contact_id=contact.id if contact else None,
        direction="inbound",
        sender=phone.e164 if phone else sms.sender,
        recipient=sms.recipient,
        body=sms.body,
        media_urls=list(sms.media_urls),
        category="transactional",
        status=MessageStatus.RECEIVED.value,
        # The carrier's id makes a redelivered webhook or deliver_sm a no-op.
        idempotency_key=f"in:{sms.connector}:{sms.carrier_message_id}",
        connector=sms.connector,
        carrier_message_id=sms.carrier_message_id,
        encoding=report.encoding,
        segments=report.segments,
        created_at=now,
        updated_at=now,
    )
    session.add(message)
    session.add(
        MessageEvent(
            message_id=message.id,
            workspace_id=workspace.id,
            status=MessageStatus.RECEIVED.value,
            detail=f"received via {sms.connector}",
            created_at=now,
        )
    )
    # STOP and its kin take effect in the transaction that stores the text: once the text is
    # stored, no marketing message can pass the dispatcher's last check for this number.
    action = None
    try:
        await session.flush()
        if contact is not None:
            action = await _compliance_step(session, workspace, contact, message)
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return None
    return message, action


async def _compliance_step(
    session: AsyncSession, workspace: Workspace, contact: Contact, message: Message
) -> compliance_inbound.Action | None:
    """The compliance step in a savepoint: a bug there must not lose the text itself."""
    try:
        async with session.begin_nested():
            return await compliance_inbound.on_store(session, workspace, contact, message)
    except IntegrityError:
        raise
    except Exception:
        log.exception("compliance step failed on inbound message %s", message.id)
        session.add(
            MessageEvent(
                message_id=message.id,
                workspace_id=workspace.id,
                status=MessageStatus.RECEIVED.value,
                detail="compliance step failed; an agent should read this text (see the logs)",
                created_at=message.created_at,
            )
        )
        return None


async def _reply(session: AsyncSession, text: InboundText, handled: Handled) -> None:
    """Send a stage's answer from the number the person wrote to, once per inbound text."""
    assert handled.reply is not None
    try:
        accepted = await messaging.send_message(
            session,
            system_actor(text.workspace_id),
            messaging.SendRequest(
                to=text.sender,
                body=handled.reply,
                sender=text.recipient,
                category=handled.reply_category,  # type: ignore[arg-type]
                track_links=False,
            ),
            idempotency_key=f"reply:{text.message_id}",
            link_base_url=None,
        )
        detail = f"{handled.by} replied with {accepted.message.id}"
    except RecadoError as error:  # e.g. the sender is a short code, not a phone
        await session.rollback()
        log.warning("reply to message %s not sent: %s", text.message_id, error.message)
        detail = f"{handled.by} reply not sent: {error.message}"
    except Exception:  # the text is stored and classified; a broken reply must not undo that
        await session.rollback()
        log.exception("reply to message %s failed", text.message_id)
        detail = f"{handled.by} reply failed; see the logs"
    session.add(_event(text, detail, utcnow()))
    await session.commit()


def _text_of(message: Message, action: compliance_inbound.Action | None = None) -> InboundText:
    return InboundText(
        message_id=message.id,
        workspace_id=message.workspace_id,
        contact_id=message.contact_id,
        sender=message.sender or "",
        recipient=message.recipient,
        body=message.body,
        connector=message.connector or "",
        received_at=message.created_at,
        compliance_action=action.kind if action else None,
        compliance_language=action.language if action else None,
    )


def _event(text: InboundText, detail: str, at: datetime) -> MessageEvent:
    return MessageEvent(
        message_id=text.message_id,
        workspace_id=text.workspace_id,
        status=MessageStatus.RECEIVED.value,
        detail=detail,
        created_at=at,
    )


@functools.cache
def _load_stage_modules() -> None:
    for module in STAGE_MODULES:
        importlib.import_module(module)
