"""The last question before submit: may these messages go out now?

The dispatcher asks it for every group of messages, right before the carrier call, because
an opt-out or a quiet-hours boundary may have arrived since they were accepted:
- a suppressed number (opted out, erased) gets nothing but compliance replies;
- a marketing text needs consent in force, a moment inside the recipient's quiet-hours
  window (else it waits for the next allowed moment), and room under the frequency cap.

The answers for a whole group take a fixed number of queries, not a few per message. An
opt-out can still be stored between this check and the `sending` mark, so the mark carries
`not_opted_out()`: the UPDATE only succeeds while the contact has not opted out, and on
PostgreSQL both sides hold the contact's row lock (`lock_contacts`), which orders them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import Contact, Message, Suppression
from recado.domain import frequency_caps
from recado.domain.quiet_hours import NoAllowedMoment
from recado.services import compliance_rules, config_cache, consent


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str | None = None  # why not, in words the message timeline shows
    retry_at: datetime | None = None  # set when the answer is "not yet" rather than "never"
    code: str | None = None  # recipient_opted_out, consent_required, frequency_capped...


ALLOW = Verdict(True)


async def may_send_now(session: AsyncSession, message: Message, now: datetime) -> Verdict:
    return (await check(session, [message], now))[message.id]


async def check(
    session: AsyncSession, messages: Sequence[Message], now: datetime
) -> dict[str, Verdict]:
    """A verdict for each message, by id."""
    verdicts = {m.id: ALLOW for m in messages}
    checked = [m for m in messages if m.category != "compliance"]  # STOP/HELP answers go
    if not checked:
        return verdicts
    await lock_contacts(session, [m.contact_id for m in checked if m.contact_id])
    suppressed = await _suppressed(session, checked)
    marketing: list[Message] = []
    for message in checked:
        reason = suppressed.get(message.id)
        if reason is not None:
            what = "opted out" if reason == consent.SuppressionReason.OPT_OUT else "was erased"
            verdicts[message.id] = Verdict(
                False, f"the recipient {what}; not sent", code="recipient_opted_out"
            )
        elif message.category == "marketing":
            marketing.append(message)
    if marketing:
        verdicts |= await _marketing(session, marketing, now)
    return verdicts


async def lock_contacts(session: AsyncSession, contact_ids: Sequence[str]) -> None:
    """Row-lock the contacts (PostgreSQL) in id order, as an opt-out does, until commit."""
    if not contact_ids or session.get_bind().dialect.name != "postgresql":
        return
    await session.execute(
        select(Contact.id)
        .where(Contact.id.in_(sorted(set(contact_ids))))
        .order_by(Contact.id)
        .with_for_update()
    )


def not_opted_out() -> ColumnElement[bool]:
    """For the `sending` UPDATE: the message's contact has not opted out (compliance
    answers excepted). Evaluated in the same statement as the mark, so it is atomic."""
    opted_out = exists(
        select(Contact.id).where(
            Contact.id == Message.contact_id, Contact.opted_out_at.is_not(None)
        )
    )
    return or_(Message.category == "compliance", ~opted_out)


async def _suppressed(session: AsyncSession, messages: Sequence[Message]) -> dict[str, str]:
    """Message id -> why its recipient is suppressed, for those that are."""
    by_hash: dict[tuple[str, str], list[str]] = defaultdict(list)
    keys: dict[str, str] = {}
    for message in messages:
        workspace = message.workspace_id
        if workspace not in keys:
            keys[workspace] = (await config_cache.send_config(session, workspace)).suppression_key
        digest = consent.phone_hash(keys[workspace], message.recipient)
        by_hash[(workspace, digest)].append(message.id)
    rows = await session.execute(
        select(Suppression.workspace_id, Suppression.phone_hash, Suppression.reason).where(
            or_(
                *(
                    and_(Suppression.workspace_id == w, Suppression.phone_hash.in_(digests))
                    for w, digests in _by_workspace(by_hash).items()
                )
            )
        )
    )
    found: dict[str, str] = {}
    for workspace, digest, reason in rows:
        for message_id in by_hash[(workspace, digest)]:
            found[message_id] = reason
    return found


def _by_workspace(by_hash: dict[tuple[str, str], list[str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for workspace, digest in by_hash:
        grouped[workspace].append(digest)
    return grouped


async def _marketing(
    session: AsyncSession, messages: Sequence[Message], now: datetime
) -> dict[str, Verdict]:
    contact_ids = {m.contact_id for m in messages if m.contact_id}
    contacts = {
        c.id: c
        for c in await session.scalars(
            select(Contact)
            .where(Contact.id.in_(contact_ids))
            .execution_options(populate_existing=True)
        )
    }
    rules = {
        w: await compliance_rules.for_workspace(session, w)
        for w in {m.workspace_id for m in messages}
    }
    horizon = now - max(r.frequency_horizon() for r in rules.values())
    recent = await compliance_rules.recent_marketing(
        session,
        {m.contact_id for m in messages if m.contact_id},
        horizon,
        excluding=[m.id for m in messages],
    )
    verdicts: dict[str, Verdict] = {}
    for message in messages:
        contact = contacts.get(message.contact_id or "")
        if contact is None or contact.consented_at is None or contact.opted_out_at is not None:
            verdicts[message.id] = Verdict(
                False, "no marketing consent recorded for the recipient", code="consent_required"
            )
            continue
        workspace_rules = rules[message.workspace_id]
        try:
            window = workspace_rules.quiet_hours(contact, now)
        except NoAllowedMoment as error:
            verdicts[message.id] = Verdict(False, error.message, code="quiet_hours")
            continue
        if window.next_allowed > now:
            verdicts[message.id] = Verdict(
                False, window.explanation, retry_at=window.next_allowed, code="quiet_hours"
            )
            continue
        sent = recent[contact.id]
        frequency = frequency_caps.check_frequency(
            sent, now, workspace_rules.settings.frequency_policy()
        )
        if not frequency.allowed:
            verdicts[message.id] = Verdict(False, frequency.detail, code="frequency_capped")
            continue
        sent.append(now)  # a second text to the same person in this group counts this one
        verdicts[message.id] = ALLOW
    return verdicts
