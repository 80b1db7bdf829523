"""Campaign outcomes as plain rows (campaign, messages, clicks, replies, opt-outs), for the
analytics tests: they need what a launched campaign leaves behind, not the launch itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.tables import (
    Campaign,
    CampaignSkip,
    CampaignVariant,
    Click,
    Consent,
    Contact,
    Link,
    Message,
)
from recado.ids import new_id

T0 = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


@dataclass
class Rows:
    """Adds rows of one workspace to a session, flushed one by one (the tables declare no
    relationships, so the session would not order the inserts); the caller commits."""

    session: AsyncSession
    workspace_id: str
    _phones: int = 0

    async def contact(self, phone: str | None = None, external_id: str | None = None) -> Contact:
        self._phones += 1
        contact = Contact(
            id=new_id("ct"),
            workspace_id=self.workspace_id,
            phone=phone or f"+1415723{self._phones:04d}",
            region="US",
            external_id=external_id,
            attributes={},
        )
        self.session.add(contact)
        await self.session.flush()
        return contact

    async def campaign(
        self,
        name: str = "Black Friday",
        *,
        discount_mode: str = "none",
        discount_code: str | None = None,
        discount_pool_id: str | None = None,
        launched_at: datetime = T0,
    ) -> Campaign:
        campaign = Campaign(
            id=new_id("cmp"),
            workspace_id=self.workspace_id,
            name=name,
            status="completed",
            audience={},
            body="Acme: 20% off today",
            media_urls=[],
            discount_mode=discount_mode,
            discount_code=discount_code,
            discount_pool_id=discount_pool_id,
            launched_at=launched_at,
        )
        self.session.add(campaign)
        await self.session.flush()
        return campaign

    async def variant(self, campaign: Campaign, label: str) -> CampaignVariant:
        variant = CampaignVariant(
            id=new_id("var"),
            workspace_id=self.workspace_id,
            campaign_id=campaign.id,
            label=label,
            position=ord(label) - ord("A"),
            body=f"Acme: offer {label}",
            media_urls=[],
        )
        self.session.add(variant)
        await self.session.flush()
        return variant

    async def message(
        self,
        campaign: Campaign | None,
        contact: Contact,
        *,
        variant: CampaignVariant | None = None,
        status: str = "delivered",
        sent_at: datetime | None = T0,
        delivered_after: timedelta | None = timedelta(seconds=5),
        price_micros: int | None = 7_500,
        currency: str | None = "USD",
        segments: int = 1,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> Message:
        delivered = status == "delivered" and sent_at is not None and delivered_after is not None
        message = Message(
            id=new_id("msg"),
            workspace_id=self.workspace_id,
            contact_id=contact.id,
            direction="outbound",
            sender="+14155550000",
            recipient=contact.phone,
            body="Acme: 20% off today",
            media_urls=[],
            category="marketing",
            status=status,
            idempotency_key=new_id("idem"),
            encoding="GSM-7",
            segments=segments,
            price_micros=price_micros,
            currency=currency,
            error_code=error_code,
            error_message=error_message,
            created_at=(sent_at or T0) - timedelta(seconds=1),
            sent_at=sent_at,
            delivered_at=(sent_at + delivered_after) if delivered else None,  # type: ignore[operator]
            campaign_id=campaign.id if campaign else None,
            variant_id=variant.id if variant else None,
        )
        self.session.add(message)
        await self.session.flush()
        return message

    async def click(self, message: Message, at: datetime) -> Click:
        link = Link(
            code=new_id("l")[-12:],
            workspace_id=self.workspace_id,
            url="https://acme.com/sale",
            message_id=message.id,
            contact_id=message.contact_id,
            campaign_id=message.campaign_id,
        )
        self.session.add(link)
        await self.session.flush()
        click = Click(
            workspace_id=self.workspace_id,
            link_code=link.code,
            message_id=message.id,
            contact_id=message.contact_id,
            campaign_id=message.campaign_id,
            at=at,
        )
        self.session.add(click)
        await self.session.flush()
        return click

    async def reply(self, contact: Contact, at: datetime, body: str = "Thanks!") -> Message:
        message = Message(
            id=new_id("msg"),
            workspace_id=self.workspace_id,
            contact_id=contact.id,
            direction="inbound",
            sender=contact.phone,
            recipient="+14155550000",
            body=body,
            media_urls=[],
            category="transactional",
            status="received",
            idempotency_key=new_id("idem"),
            encoding="GSM-7",
            segments=1,
            created_at=at,
        )
        self.session.add(message)
        await self.session.flush()
        return message

    async def opt_out(self, contact: Contact, at: datetime) -> Consent:
        consent = Consent(
            workspace_id=self.workspace_id,
            contact_id=contact.id,
            phone_hash="h" * 64,
            action="revoked",
            source="keyword",
            recorded_by="system",
            created_at=at,
        )
        self.session.add(consent)
        await self.session.flush()
        return consent

    async def skip(self, campaign: Campaign, contact: Contact, reason: str) -> CampaignSkip:
        skip = CampaignSkip(
            campaign_id=campaign.id,
            contact_id=contact.id,
            workspace_id=self.workspace_id,
            reason=reason,
        )
        self.session.add(skip)
        await self.session.flush()
        return skip
