"""Campaigns: create and edit a draft, review it, launch, pause, resume, cancel, follow it.

The lifecycle (campaigns.status):
  draft -> scheduled (a future send time) -> sending (fan-out, then waiting for the last
  message to go) -> completed; with an A/B test: sending (the test share) -> testing (until
  decide_at) -> sending (the remainder, with the winner) -> completed. Any of scheduled,
  sending, testing may be paused and resumed; anything not finished may be canceled.

The fan-out itself is campaign_fanout; the timers that move campaigns along (a scheduled
launch, an A/B decision, a fan-out to run or resume, a completion) are `run_timers`, called
by the platform's campaign timer loop. Every step reads its state from the rows, so a
restart anywhere picks up where it stopped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlparse

from sqlalchemy import Table, case, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.pages import page_by_id
from recado.db.tables import (
    Campaign,
    CampaignSkip,
    CampaignVariant,
    Contact,
    DiscountPool,
    Message,
    MessageEvent,
    Workspace,
    event_row,
    utcnow,
)
from recado.domain import abtest
from recado.domain import links as link_rules
from recado.domain.encoding import analyze
from recado.domain.footer import with_footer
from recado.domain.lint import Finding, lint
from recado.domain.message_status import MessageStatus
from recado.domain.pricing import CostEstimate
from recado.domain.roles import Permission
from recado.domain.template_library import library_template
from recado.domain.templates import RenderContext, TemplateProblem, compile_template
from recado.domain.workspace_settings import read_settings
from recado.errors import Conflict, NotFound, ValidationFailed
from recado.ids import new_id
from recado.services import audience as audiences
from recado.services import campaign_fanout, discounts, pricing, status_callbacks, templates
from recado.services.actor import Actor
from recado.services.messaging import MAX_BODY_CHARACTERS, MAX_MEDIA, MAX_SCHEDULE_AHEAD
from recado.services.templates import template_fields

CALLBACK_BATCH = 1000  # messages loaded at a time to queue their status callbacks
STATUSES = ("draft", "scheduled", "sending", "testing", "paused", "completed", "canceled")
SCHEDULE_KINDS = ("now", "at", "local")
DISCOUNT_MODES = ("none", "shared", "pool")
METRICS = tuple(m.value for m in abtest.Metric)
# Messages not yet handed to a carrier: a campaign is complete when it has none left.
PENDING = tuple(
    s.value
    for s in (
        MessageStatus.ACCEPTED,
        MessageStatus.SCHEDULED,
        MessageStatus.QUEUED,
        MessageStatus.SENDING,
        MessageStatus.PAUSED,
    )
)
_EVENTS = cast(Table, MessageEvent.__table__)


class CampaignNotReady(Conflict):
    code = "campaign_not_ready"


class CampaignStateConflict(Conflict):
    code = "campaign_state"


@dataclass(frozen=True)
class VariantInput:
    body: str = ""  # empty: the campaign's body (a send-time variant)
    media_urls: tuple[str, ...] = ()
    send_at: datetime | None = None


@dataclass(frozen=True)
class CampaignInput:
    name: str
    body: str = ""
    audience: dict[str, Any] = field(default_factory=dict)
    sender: str | None = None
    media_urls: tuple[str, ...] = ()
    smart_encoding: bool = False
    schedule_kind: str = "now"
    send_at: datetime | None = None
    local_send: str | None = None
    throttle_per_minute: int | None = None
    ab_test: dict[str, Any] | None = None
    variants: tuple[VariantInput, ...] = ()
    discount_mode: str = "none"
    discount_code: str | None = None
    discount_pool_id: str | None = None


# --- drafts --------------------------------------------------------------------------------


async def create_campaign(session: AsyncSession, actor: Actor, data: CampaignInput) -> Campaign:
    actor.require(Permission.MANAGE_CAMPAIGNS)
    campaign = Campaign(
        id=new_id("cmp"),
        workspace_id=actor.workspace_id,
        status="draft",
        created_by=actor.label,
    )
    await _apply(session, campaign, data)
    session.add(campaign)
    await session.flush()
    await _replace_variants(session, campaign, data.variants)
    await session.commit()
    return campaign


async def draft_from_template(
    session: AsyncSession,
    actor: Actor,
    *,
    library_id: str | None = None,
    language: str = "en",
    template_id: str | None = None,
) -> Campaign:
    """A new draft whose text is a library template (by id and language) or one of the
    workspace's saved templates; its audience and the rest are chosen in the builder."""
    actor.require(Permission.MANAGE_CAMPAIGNS)
    if template_id:
        saved = await templates.get_template(session, actor, template_id)
        name, body = saved.name, saved.body
    else:
        found = library_template(library_id or "", language)
        if found is None:
            raise NotFound(f"No library template {library_id!r} in language {language!r}.")
        name, body = found.name, found.body
    return await create_campaign(
        session, actor, CampaignInput(name=f"From template: {name}"[:200], body=body)
    )


async def update_campaign(
    session: AsyncSession, actor: Actor, campaign_id: str, data: CampaignInput
) -> Campaign:
    """Replace a draft's settings (a launched campaign's text is what was sent: frozen)."""
    actor.require(Permission.MANAGE_CAMPAIGNS)
    campaign = await _get(session, actor, campaign_id)
    if campaign.status != "draft":
        raise CampaignStateConflict(f"Only a draft can be edited; this one is {campaign.status}.")
    await _apply(session, campaign, data)
    await _replace_variants(session, campaign, data.variants)
    await session.commit()
    return campaign


async def delete_campaign(session: AsyncSession, actor: Actor, campaign_id: str) -> None:
    actor.require(Permission.MANAGE_CAMPAIGNS)
    campaign = await _get(session, actor, campaign_id)
    if campaign.status != "draft":
        raise CampaignStateConflict("Only a draft can be deleted; cancel a launched campaign.")
    await session.delete(campaign)
    await session.commit()


async def get_campaign(session: AsyncSession, actor: Actor, campaign_id: str) -> Campaign:
    actor.require(Permission.READ)
    return await _get(session, actor, campaign_id)


async def list_campaigns(
    session: AsyncSession,
    actor: Actor,
    *,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Campaign], str | None]:
    actor.require(Permission.READ)
    query = select(Campaign).where(Campaign.workspace_id == actor.workspace_id)
    if status:
        if status not in STATUSES:
            raise ValidationFailed(f"status is one of {', '.join(STATUSES)}.", field="status")
        query = query.where(Campaign.status == status)
    return await page_by_id(session, query, Campaign.id, limit=limit, cursor=cursor)


async def variants_of(session: AsyncSession, campaign: Campaign) -> list[CampaignVariant]:
    return list(
        await session.scalars(
            select(CampaignVariant)
            .where(CampaignVariant.campaign_id == campaign.id)
            .order_by(CampaignVariant.position)
        )
    )


async def _get(session: AsyncSession, actor: Actor, campaign_id: str) -> Campaign:
    campaign = await session.scalar(
        select(Campaign).where(
            Campaign.workspace_id == actor.workspace_id, Campaign.id == campaign_id
        )
    )
    if campaign is None:
        raise NotFound(f"No campaign with id {campaign_id} in this workspace.")
    return campaign


async def _apply(session: AsyncSession, campaign: Campaign, data: CampaignInput) -> None:
    """Validate everything a marketer typed, with a clear error for the first problem."""
    name = (data.name or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed("A campaign needs a name of 1 to 200 characters.", field="name")
    # A draft may be saved unfinished: review and launch say what is missing.
    _check_text(data.body, data.media_urls, "body", required=False)
    audience = audiences.Audience.parse(data.audience)
    await audiences.check(session, campaign.workspace_id, audience)
    if data.sender:
        await campaign_fanout.pick_sender(session, campaign.workspace_id, data.sender)
    kind = data.schedule_kind
    if kind not in SCHEDULE_KINDS:
        raise ValidationFailed(
            f"schedule_kind is one of {', '.join(SCHEDULE_KINDS)}.", field="schedule_kind"
        )
    send_at = _check_moment(data.send_at, "send_at") if kind == "at" else None
    if kind == "at" and send_at is None:
        raise ValidationFailed("schedule_kind 'at' needs send_at.", field="send_at")
    local = _check_local(data.local_send) if kind == "local" else None
    if data.throttle_per_minute is not None and not 1 <= data.throttle_per_minute <= 1_000_000:
        raise ValidationFailed(
            "throttle_per_minute is 1 to 1,000,000 messages a minute.", field="throttle_per_minute"
        )
    ab_test = _check_ab_test(data.ab_test, len(data.variants))
    for index, variant in enumerate(data.variants):
        _check_text(variant.body, variant.media_urls, f"variants[{index}].body", required=False)
        if variant.send_at is not None:
            _check_moment(variant.send_at, f"variants[{index}].send_at")
    if data.variants and ab_test is None:
        raise ValidationFailed("Variants need an ab_test configuration.", field="ab_test")
    if data.discount_mode not in DISCOUNT_MODES:
        raise ValidationFailed(
            f"discount_mode is one of {', '.join(DISCOUNT_MODES)}.", field="discount_mode"
        )
    if data.discount_mode == "shared" and not (data.discount_code or "").strip():
        raise ValidationFailed("Shared discount mode needs a discount_code.", field="discount_code")
    if data.discount_mode == "pool":
        pool = await session.scalar(
            select(DiscountPool.id).where(
                DiscountPool.workspace_id == campaign.workspace_id,
                DiscountPool.id == (data.discount_pool_id or ""),
            )
        )
        if pool is None:
            raise ValidationFailed(
                "Pool discount mode needs the id of a discount pool of this workspace.",
                field="discount_pool_id",
            )
    campaign.name = name
    campaign.body = data.body
    campaign.media_urls = list(data.media_urls)
    campaign.audience = audience.to_json()
    campaign.sender = data.sender or None
    campaign.smart_encoding = data.smart_encoding
    campaign.schedule_kind = kind
    campaign.send_at = send_at
    campaign.local_send = local
    campaign.throttle_per_minute = data.throttle_per_minute
    campaign.ab_test = ab_test
    campaign.discount_mode = data.discount_mode
    campaign.discount_code = (data.discount_code or "").strip() or None
    campaign.discount_pool_id = data.discount_pool_id if data.discount_mode == "pool" else None


async def _replace_variants(
    session: AsyncSession, campaign: Campaign, variants: Sequence[VariantInput]
) -> None:
    await session.execute(delete(CampaignVariant).where(CampaignVariant.campaign_id == campaign.id))
    for position, variant in enumerate(variants):
        session.add(
            CampaignVariant(
                id=new_id("var"),
                workspace_id=campaign.workspace_id,
                campaign_id=campaign.id,
                label=chr(ord("A") + position),
                position=position,
                body=variant.body,
                media_urls=list(variant.media_urls),
                send_at=variant.send_at.astimezone(UTC) if variant.send_at else None,
            )
        )
    await session.flush()


def _check_text(body: str, media: Sequence[str], field: str, *, required: bool) -> None:
    if required and not body.strip() and not media:
        raise ValidationFailed("The campaign needs a message body or media.", field=field)
    if len(body) > MAX_BODY_CHARACTERS:
        raise ValidationFailed(
            f"The body has {len(body)} characters; at most {MAX_BODY_CHARACTERS}.", field=field
        )
    if body:
        try:
            compile_template(body)
        except TemplateProblem as problem:
            raise ValidationFailed(problem.message, field=field, code=problem.code) from None
    if len(media) > MAX_MEDIA:
        raise ValidationFailed(f"At most {MAX_MEDIA} media URLs.", field="media_urls")
    for url in media:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValidationFailed(f"'{url}' is not an http(s) URL.", field="media_urls")


def _check_moment(moment: datetime | None, field: str) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValidationFailed(
            f"{field} needs a time zone, for example 2026-12-01T09:00:00-03:00.", field=field
        )
    if moment - utcnow() > MAX_SCHEDULE_AHEAD:
        raise ValidationFailed(
            f"{field} may be at most {MAX_SCHEDULE_AHEAD.days} days ahead.", field=field
        )
    return moment.astimezone(UTC)


def _check_local(local: str | None) -> str:
    try:
        wall = datetime.strptime((local or "").strip(), "%Y-%m-%dT%H:%M")
    except ValueError:
        raise ValidationFailed(
            "local_send is a wall-clock time in each recipient's zone, YYYY-MM-DDTHH:MM "
            "(for example 2026-12-01T10:00).",
            field="local_send",
        ) from None
    return wall.strftime("%Y-%m-%dT%H:%M")


def _check_ab_test(config: dict[str, Any] | None, variants: int) -> dict[str, Any] | None:
    if not config:
        return None
    known = {"test_share", "holdout_share", "metric", "decide_after_hours", "confidence"}
    unknown = set(config) - known
    if unknown:
        raise ValidationFailed(
            f"Unknown ab_test setting {sorted(unknown)[0]!r}: use {', '.join(sorted(known))}.",
            field="ab_test",
        )
    try:
        test_share = float(config.get("test_share", 0.2))
        holdout = float(config.get("holdout_share", 0.0))
        hours = float(config.get("decide_after_hours", 4))
        confidence = float(config.get("confidence", 0.95))
        abtest.Split(variants, test_share, holdout)
    except (TypeError, ValueError) as error:
        raise ValidationFailed(f"ab_test: {error}.", field="ab_test") from None
    metric = config.get("metric", "click_rate")
    if metric not in METRICS:
        raise ValidationFailed(f"ab_test.metric is one of {', '.join(METRICS)}.", field="ab_test")
    if not 0 < hours <= 24 * 7:
        raise ValidationFailed("ab_test.decide_after_hours is up to 168.", field="ab_test")
    if not 0.5 <= confidence < 1:
        raise ValidationFailed("ab_test.confidence is 0.5 to 0.999.", field="ab_test")
    return {
        "test_share": test_share,
        "holdout_share": holdout,
        "metric": metric,
        "decide_after_hours": hours,
        "confidence": confidence,
    }


# --- review --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleRender:
    variant: str | None  # the variant's label, None for the campaign's own body
    contact_id: str | None
    text: str
    encoding: str
    parts: int
    characters: int
    findings: list[Finding]


@dataclass(frozen=True)
class Review:
    audience: int  # contacts in the audience, once each
    recipients: int  # who will get a message (after compliance and holdout)
    skipped: dict[str, int]
    samples: list[SampleRender]
    cost: CostEstimate
    refusals: list[str]

    @property
    def ready(self) -> bool:
        return not self.refusals


async def review(session: AsyncSession, actor: Actor, campaign_id: str, *, base_url: str) -> Review:
    """What a launch would do now: who gets it, who is skipped and why, what it costs, how
    the text reads for a sample contact, and anything that stops the launch."""
    actor.require(Permission.READ)
    campaign = await _get(session, actor, campaign_id)
    return await _review(session, campaign, base_url=base_url)


async def _review(session: AsyncSession, campaign: Campaign, *, base_url: str) -> Review:
    refusals: list[str] = []
    now = utcnow()
    workspace = await session.get(Workspace, campaign.workspace_id)
    assert workspace is not None
    settings = read_settings(workspace.settings)
    audience = audiences.Audience.parse(campaign.audience)
    if audience.empty:
        refusals.append("Choose an audience: at least one list or segment.")
    where = await audiences.condition(session, campaign.workspace_id, audience, now)
    verdict = campaign_fanout.compliance_verdict().label("verdict")
    counts: dict[str | None, int] = {
        reason: count
        for reason, count in await session.execute(
            select(verdict, func.count()).where(where).group_by(verdict)
        )
    }
    eligible = counts.pop(None, 0)
    skipped: Counter[str] = Counter({k: v for k, v in counts.items() if k is not None and v})
    variants = await variants_of(session, campaign)
    if campaign.ab_test and len(variants) >= 2:
        split = abtest.Split(
            len(variants),
            float(campaign.ab_test["test_share"]),
            float(campaign.ab_test.get("holdout_share", 0)),
        )
        if split.holdout_share > 0:
            ids = await session.scalars(select(Contact.id).where(where, verdict.is_(None)))
            held = sum(1 for i in ids if abtest.assign(split, campaign.id, i).group == "holdout")
            if held:
                skipped["holdout"] = held
    elif campaign.ab_test:
        refusals.append("An A/B test needs 2 to 5 variants.")
    if variants:
        for variant in variants:
            if not variant.body.strip() and not variant.media_urls:
                refusals.append(f"Write the message of variant {variant.label}.")
    elif not campaign.body.strip() and not campaign.media_urls:
        refusals.append("Write the message: a text, media, or both.")
    recipients = eligible - skipped.get("holdout", 0)
    if recipients == 0 and not audience.empty:
        refusals.append("Nobody in the audience may get this campaign (no consent in force).")
    try:
        sender = await campaign_fanout.pick_sender(session, campaign.workspace_id, campaign.sender)
    except ValidationFailed as error:
        refusals.append(error.message)
        sender = None

    sample = await session.scalar(
        select(Contact).where(where, verdict.is_(None)).order_by(Contact.id).limit(1)
    )
    base = link_rules.link_base(settings.short_domain, base_url)
    bodies: list[tuple[str | None, str]] = [(None, campaign.body)]
    if campaign.ab_test:
        bodies = [(v.label, v.body or campaign.body) for v in variants]
    samples = []
    extra: dict[str, Any] = {"brand": settings.brand_name or workspace.name}
    if campaign.discount_mode == "shared":
        extra["discount_code"] = campaign.discount_code
    elif campaign.discount_mode == "pool":
        extra["discount_code"] = "CODE1234"  # the length of a typical pool code
    for label, source in bodies:
        samples.append(
            _sample(source, label, sample, extra, settings, base, campaign.smart_encoding)
        )
    for rendered in samples:
        for finding in rendered.findings:
            if finding.severity == "error":
                refusals.append(f"{rendered.variant or 'Body'}: {finding.message}")
        if rendered.contact_id and not rendered.text.strip():
            refusals.append("The message renders empty for the sample contact.")
    uses_code = any("discount_code" in source for _, source in bodies)
    if uses_code and campaign.discount_mode == "none":
        refusals.append("The text uses {{ discount_code }} but the campaign has no discount.")
    if campaign.discount_mode == "pool" and campaign.discount_pool_id:
        left = await discounts.remaining(session, campaign.workspace_id, campaign.discount_pool_id)
        if left < recipients:
            refusals.append(
                f"The discount pool has {left} codes left for {recipients} recipients; "
                "add codes or narrow the audience."
            )
    parts = max((s.parts for s in samples), default=1)
    cost = await _cost(
        session, campaign, where, verdict, parts, sender.kind if sender else None, recipients
    )
    return Review(
        audience=eligible + sum(counts.values()),
        recipients=recipients,
        skipped=dict(skipped),
        samples=samples,
        cost=cost,
        refusals=refusals,
    )


def _sample(
    source: str,
    label: str | None,
    contact: Contact | None,
    extra: dict[str, Any],
    settings: Any,
    base: str,
    smart: bool,
) -> SampleRender:
    language = contact.language if contact else None
    findings = lint(
        source,
        category="marketing",
        brand=extra["brand"],
        short_domain=settings.short_domain,
        footer_will_be_added=True,
        language=language,
        footer_settings=settings.footer(),
    )
    try:
        template = compile_template(source)
        if contact is not None:
            rendered = template.render(
                RenderContext.of_contact(template_fields(contact), extra=extra, language=language)
            )
        else:
            rendered = template.preview(language)
        text = rendered.text
    except TemplateProblem:
        text = source
    text = link_rules.with_placeholder_links(with_footer(text, language, settings.footer()), base)
    report = analyze(text, smart=smart or settings.smart_encoding)
    return SampleRender(
        label,
        contact.id if contact else None,
        report.text,
        report.encoding,
        report.segments,
        report.characters,
        findings,
    )


async def _cost(
    session: AsyncSession,
    campaign: Campaign,
    where: Any,
    verdict: Any,
    parts: int,
    sender_kind: str | None,
    recipients: int,
) -> CostEstimate:
    """Priced by destination prefix (one GROUP BY), assuming the sample's part count."""
    card = await pricing.rate_card(session, campaign.workspace_id)
    width = campaign_fanout._longest_prefix(card) + 1
    prefix = func.substr(Contact.phone, 1, width)
    groups = list(
        await session.execute(
            select(prefix, func.count()).where(where, verdict.is_(None)).group_by(prefix)
        )
    )
    eligible = sum(count for _, count in groups) or 1
    share = recipients / eligible
    estimate = CostEstimate()
    for phone_prefix, count in groups:
        people = round(count * share)
        price = card.estimate(phone_prefix, parts, sender_kind)
        if price is None:
            estimate += CostEstimate(people, people * parts, {}, people)
        else:
            estimate += CostEstimate(people, people * parts, {price[1]: price[0] * people})
    return estimate


# --- launch, pause, resume, cancel ---------------------------------------------------------


async def launch(
    session: AsyncSession, actor: Actor, campaign_id: str, *, base_url: str
) -> Campaign:
    """Start a draft: it is reviewed first and refused with the reasons when not ready.

    A campaign for a later moment becomes `scheduled`; otherwise `sending`, and the campaign
    timer writes its messages (the API's answer does not wait for a million rows)."""
    actor.require(Permission.MANAGE_CAMPAIGNS)
    campaign = await _get(session, actor, campaign_id)
    if campaign.status != "draft":
        raise CampaignStateConflict(f"This campaign is already {campaign.status}.")
    checked = await _review(session, campaign, base_url=base_url)
    if checked.refusals:
        raise CampaignNotReady(" ".join(checked.refusals))
    now = utcnow()
    if campaign.schedule_kind == "at" and campaign.send_at and campaign.send_at > now:
        campaign.status = "scheduled"
    else:
        campaign.status = "sending"
        campaign.launched_at = now
    campaign.fanned_out_at = None
    await session.commit()
    return campaign


async def pause(session: AsyncSession, actor: Actor, campaign_id: str) -> Campaign:
    """Stop sending: the fan-out stops and the messages not yet submitted wait, `paused`."""
    actor.require(Permission.MANAGE_CAMPAIGNS)
    campaign = await _locked(session, actor, campaign_id)
    if campaign.status not in ("scheduled", "sending", "testing"):
        raise CampaignStateConflict(
            f"Only a running campaign can be paused; it is {campaign.status}."
        )
    campaign.status = "paused"
    now = utcnow()
    await session.flush()
    await _move_messages(
        session,
        campaign,
        (MessageStatus.QUEUED, MessageStatus.SCHEDULED),
        MessageStatus.PAUSED,
        "the campaign was paused",
        now,
    )
    await session.commit()
    return campaign


async def resume(session: AsyncSession, actor: Actor, campaign_id: str) -> Campaign:
    """Go on where it stopped: paused messages are due again (scheduled ones keep their
    time), and the fan-out continues after the last recipient written."""
    actor.require(Permission.MANAGE_CAMPAIGNS)
    campaign = await _locked(session, actor, campaign_id)
    if campaign.status != "paused":
        raise CampaignStateConflict(
            f"Only a paused campaign can be resumed; it is {campaign.status}."
        )
    now = utcnow()
    if campaign.launched_at is None:
        campaign.status = "scheduled"
    elif campaign.ab_test and not campaign.winner_variant_id and campaign.fanned_out_at:
        campaign.status = "testing"
    else:
        campaign.status = "sending"
    await session.flush()
    ids = list(
        await session.execute(
            update(Message)
            .where(
                Message.workspace_id == campaign.workspace_id,
                Message.campaign_id == campaign.id,
                Message.status == MessageStatus.PAUSED.value,
            )
            .values(
                status=_resumed_status(now),
                updated_at=now,
            )
            .returning(Message.id, Message.status)
            .execution_options(synchronize_session=False)
        )
    )
    if ids:
        await session.execute(
            insert(_EVENTS),
            [
                {
                    "message_id": message_id,
                    "workspace_id": campaign.workspace_id,
                    "status": status,
                    "detail": "the campaign was resumed",
                    "created_at": now,
                }
                for message_id, status in ids
            ],
        )
        await _status_callbacks(session, campaign, [message_id for message_id, _ in ids], now)
    await session.commit()
    return campaign


def _resumed_status(now: datetime) -> Any:
    return case(
        (Message.send_at > now, MessageStatus.SCHEDULED.value),
        else_=MessageStatus.QUEUED.value,
    )


async def cancel(
    session: AsyncSession, actor: Actor, campaign_id: str, reason: str | None = None
) -> Campaign:
    """Stop for good: messages not yet submitted are canceled with the reason."""
    actor.require(Permission.MANAGE_CAMPAIGNS)
    campaign = await _locked(session, actor, campaign_id)
    if campaign.status in ("completed", "canceled"):
        raise CampaignStateConflict(f"This campaign is already {campaign.status}.")
    why = (reason or "").strip()[:500] or "the campaign was canceled"
    campaign.status = "canceled"
    now = utcnow()
    campaign.completed_at = now
    await session.flush()
    await _move_messages(
        session,
        campaign,
        (MessageStatus.QUEUED, MessageStatus.SCHEDULED, MessageStatus.PAUSED),
        MessageStatus.CANCELED,
        why,
        now,
        error_code="campaign_canceled",
    )
    await session.commit()
    return campaign


async def _locked(session: AsyncSession, actor: Actor, campaign_id: str) -> Campaign:
    """The campaign with its row lock (PostgreSQL): a fan-out chunk in flight finishes
    first, so the UPDATE of its messages that follows sees all of them."""
    query = select(Campaign).where(
        Campaign.workspace_id == actor.workspace_id, Campaign.id == campaign_id
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    campaign = await session.scalar(query.execution_options(populate_existing=True))
    if campaign is None:
        raise NotFound(f"No campaign with id {campaign_id} in this workspace.")
    return campaign


async def _move_messages(
    session: AsyncSession,
    campaign: Campaign,
    sources: Sequence[MessageStatus],
    target: MessageStatus,
    detail: str,
    now: datetime,
    *,
    error_code: str | None = None,
) -> int:
    """-- name: move-campaign-messages
    One guarded UPDATE of the campaign's messages in `sources`, and an event for each."""
    values: dict[str, Any] = {"status": target.value, "updated_at": now, "lease_until": None}
    if error_code:
        values |= {"error_code": error_code, "error_message": detail}
    moved = list(
        await session.scalars(
            update(Message)
            .where(
                Message.workspace_id == campaign.workspace_id,
                Message.campaign_id == campaign.id,
                Message.status.in_([s.value for s in sources]),
            )
            .values(**values)
            .returning(Message.id)
            .execution_options(synchronize_session=False)
        )
    )
    if moved:
        await session.execute(
            insert(_EVENTS),
            [
                event_row(message_id, campaign.workspace_id, target.value, detail, now)
                for message_id in moved
            ],
        )
        await _status_callbacks(session, campaign, moved, now)
    return len(moved)


async def _status_callbacks(
    session: AsyncSession, campaign: Campaign, message_ids: list[str], now: datetime
) -> None:
    """The workspace's webhook hears of each message's new status, as it does of every
    other status change (a campaign's messages have no callback URL of their own)."""
    if not await status_callbacks.workspace_urls(session, {campaign.workspace_id}):
        return  # no webhook: nothing to load
    for start in range(0, len(message_ids), CALLBACK_BATCH):
        messages = await session.scalars(
            select(Message)
            .where(Message.id.in_(message_ids[start : start + CALLBACK_BATCH]))
            .execution_options(populate_existing=True)
        )
        await status_callbacks.enqueue(session, list(messages), now)
        await session.flush()


# --- progress ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    status: str
    messages: dict[str, int]  # by message status
    skipped: dict[str, int]  # by reason
    total_messages: int
    pending: int  # not yet handed to a carrier


async def progress(session: AsyncSession, actor: Actor, campaign_id: str) -> Progress:
    actor.require(Permission.READ)
    campaign = await _get(session, actor, campaign_id)
    by_status = {
        status: count
        for status, count in await session.execute(
            select(Message.status, func.count())
            .where(
                Message.workspace_id == campaign.workspace_id,
                Message.campaign_id == campaign.id,
            )
            .group_by(Message.status)
        )
    }
    skipped = {
        reason: count
        for reason, count in await session.execute(
            select(CampaignSkip.reason, func.count())
            .where(CampaignSkip.campaign_id == campaign.id)
            .group_by(CampaignSkip.reason)
        )
    }
    return Progress(
        status=campaign.status,
        messages=by_status,
        skipped=skipped,
        total_messages=sum(by_status.values()),
        pending=sum(v for k, v in by_status.items() if k in PENDING),
    )


# --- timers --------------------------------------------------------------------------------


@dataclass
class TimerRound:
    started: list[str] = field(default_factory=list)  # scheduled campaigns now sending
    decided: list[str] = field(default_factory=list)
    fanned_out: dict[str, int] = field(default_factory=dict)  # campaign -> messages written
    completed: list[str] = field(default_factory=list)


async def run_timers(
    session: AsyncSession,
    *,
    base_url: str,
    now: datetime | None = None,
    chunk: int = campaign_fanout.CHUNK,
) -> TimerRound:
    """One pass over every campaign timer, in the order a campaign goes through them."""
    now = now or utcnow()
    done = TimerRound()
    due = list(
        await session.scalars(
            select(Campaign).where(Campaign.status == "scheduled", Campaign.send_at <= now)
        )
    )
    for campaign in due:
        campaign.status, campaign.launched_at = "sending", now
        done.started.append(campaign.id)
    await session.commit()
    deciding = list(
        await session.scalars(
            select(Campaign.id).where(Campaign.status == "testing", Campaign.decide_at <= now)
        )
    )
    for campaign_id in deciding:
        if await decide(session, campaign_id, now=now):
            done.decided.append(campaign_id)
    pending = list(
        await session.scalars(
            select(Campaign.id).where(
                Campaign.status == "sending", Campaign.fanned_out_at.is_(None)
            )
        )
    )
    for campaign_id in pending:
        outcome = await campaign_fanout.fan_out(
            session, campaign_id, base_url=base_url, chunk=chunk, now=now
        )
        done.fanned_out[campaign_id] = outcome.messages
        if outcome.finished:
            await _fan_out_finished(session, campaign_id, now)
    sending = list(
        await session.scalars(
            select(Campaign).where(
                Campaign.status == "sending", Campaign.fanned_out_at.is_not(None)
            )
        )
    )
    for campaign in sending:
        left = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.workspace_id == campaign.workspace_id,
                Message.campaign_id == campaign.id,
                Message.status.in_(PENDING),
            )
        )
        if not left:
            campaign.status, campaign.completed_at = "completed", now
            done.completed.append(campaign.id)
    await session.commit()
    return done


async def _fan_out_finished(session: AsyncSession, campaign_id: str, now: datetime) -> None:
    """The test share is out: wait for the decision; otherwise wait for the last message."""
    campaign = await session.get(Campaign, campaign_id, populate_existing=True)
    if campaign is None or campaign.status != "sending":
        return
    campaign.fanned_out_at = now
    if campaign_fanout.phase_of(campaign) == "test":
        hours = float((campaign.ab_test or {}).get("decide_after_hours", 4))
        campaign.status = "testing"
        campaign.decide_at = now + timedelta(hours=hours)
    await session.commit()


async def decide(session: AsyncSession, campaign_id: str, *, now: datetime | None = None) -> bool:
    """The A/B decision: measure the variants, store the winner and its figures, and let
    the remainder go out with it."""
    now = now or utcnow()
    campaign = await session.get(Campaign, campaign_id, populate_existing=True)
    if campaign is None or campaign.status != "testing" or not campaign.ab_test:
        return False
    variants = await variants_of(session, campaign)
    config = campaign.ab_test
    metric = abtest.Metric(config.get("metric", "click_rate"))
    figures = await _variant_metrics(session, campaign)
    arms = []
    for variant in variants:
        found = figures.get(variant.id)
        recipients = int(getattr(found, "recipients", 0))
        successes = {
            abtest.Metric.CLICK_RATE: "unique_clicks",
            abtest.Metric.CONVERSION_RATE: "conversions",
            abtest.Metric.OPT_OUT_RATE: "opt_outs",
            abtest.Metric.REVENUE_PER_RECIPIENT: "conversions",
        }[metric]
        arms.append(
            abtest.Arm(
                variant.id,
                recipients,
                int(getattr(found, successes, 0)),
                int(getattr(found, "revenue_micros", 0)),
            )
        )
    decision = abtest.decide(metric, arms, float(config.get("confidence", 0.95)))
    labels = {v.id: v.label for v in variants}
    campaign.winner_variant_id = decision.winner
    campaign.ab_test = {
        **config,
        "decision": {
            "winner": labels.get(decision.winner or ""),
            "winner_variant_id": decision.winner,
            "significant": decision.significant,
            "p_value": decision.p_value,
            "values": {labels[k]: v for k, v in decision.values.items()},
            "probability_best": {labels[k]: v for k, v in decision.probability_best.items()},
            "explanation": decision.explanation,
            "decided_at": now.isoformat(),
        },
    }
    campaign.status = "sending"
    campaign.fanned_out_at = None
    await session.commit()
    return True


async def _variant_metrics(session: AsyncSession, campaign: Campaign) -> dict[str | None, Any]:
    try:
        from recado.services.campaign_metrics import variant_metrics  # noqa: PLC0415
    except ImportError:
        return await _own_metrics(session, campaign)
    figures: dict[str | None, Any] = await variant_metrics(
        session, campaign.workspace_id, campaign.id
    )
    return figures


@dataclass(frozen=True)
class _Figures:
    variant_id: str | None
    recipients: int
    delivered: int
    unique_clicks: int
    conversions: int = 0
    revenue_micros: int = 0
    opt_outs: int = 0


async def _own_metrics(session: AsyncSession, campaign: Campaign) -> dict[str | None, Any]:
    """Recipients, deliveries and unique clicks per variant, until the reports module's
    `variant_metrics` is installed (conversions and revenue need it)."""
    from recado.db.tables import Click  # noqa: PLC0415

    rows = await session.execute(
        select(
            Message.variant_id,
            func.count(),
            func.sum(_is(Message.status == MessageStatus.DELIVERED.value)),
        )
        .where(Message.workspace_id == campaign.workspace_id, Message.campaign_id == campaign.id)
        .group_by(Message.variant_id)
    )
    clicks = dict(
        (
            await session.execute(
                select(Message.variant_id, func.count(func.distinct(Click.contact_id)))
                .join(Message, Message.id == Click.message_id)
                .where(Click.campaign_id == campaign.id)
                .group_by(Message.variant_id)
            )
        ).all()
    )
    return {
        variant: _Figures(variant, int(n), int(delivered or 0), int(clicks.get(variant, 0)))
        for variant, n, delivered in rows
    }


def _is(condition: Any) -> Any:
    return case((condition, 1), else_=0)
