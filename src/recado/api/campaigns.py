"""/v1/campaigns: drafts, review, launch, pause, resume, cancel and progress.

The report (clicks, conversions, revenue, A/B figures) is /v1/campaigns/{id}/report, served
by the reports module.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from recado.api.deps import CurrentActor, Session, get_platform
from recado.api.pages import Cursor, Limit, Page
from recado.db.tables import Campaign, CampaignVariant
from recado.services import campaigns

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])


class AudienceIn(BaseModel):
    """Who gets the campaign: members of the lists or matches of the segments, minus the
    excluded ones. A contact in several of them gets one message."""

    model_config = ConfigDict(extra="forbid")

    lists: list[str] = Field(default_factory=list, description="List ids")
    segments: list[str] = Field(default_factory=list, description="Segment ids")
    exclude_lists: list[str] = Field(default_factory=list)
    exclude_segments: list[str] = Field(default_factory=list)


class ABTestIn(BaseModel):
    """An A/B test: `test_share` of the audience is split evenly over the variants; after
    `decide_after_hours` the winner on `metric` goes to the rest. `holdout_share` gets
    nothing (the baseline for lift)."""

    model_config = ConfigDict(extra="forbid")

    test_share: float = Field(default=0.2, gt=0, le=1)
    holdout_share: float = Field(default=0.0, ge=0, lt=1)
    metric: Literal["click_rate", "conversion_rate", "opt_out_rate", "revenue_per_recipient"] = (
        "click_rate"
    )
    decide_after_hours: float = Field(default=4, gt=0, le=168)
    confidence: float = Field(default=0.95, ge=0.5, lt=1)


class VariantIn(BaseModel):
    """One variant: its own text and media, or only its own send time."""

    model_config = ConfigDict(extra="forbid")

    body: str = Field(default="", description="Empty: the campaign's body")
    media_urls: list[str] = Field(default_factory=list)
    send_at: datetime | None = Field(default=None, description="A send-time variant")


class CampaignIn(BaseModel):
    """A campaign draft. Only `name`, `body` and `audience` are required."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    name: str
    body: str = Field(
        default="",
        description="The text, a template: {{ first_name | default('there') }}, "
        "{{ discount_code }}... The opt-out footer is added and links are tracked.",
    )
    audience: AudienceIn
    from_: str | None = Field(default=None, alias="from", description="Default sender if omitted")
    media_urls: list[str] = Field(default_factory=list)
    smart_encoding: bool = False
    schedule: Literal["now", "at", "local"] = Field(
        default="now",
        description="now; at `send_at`; or at `local_send` in each recipient's time zone",
    )
    send_at: datetime | None = None
    local_send: str | None = Field(
        default=None, description="Wall-clock time in each recipient's zone: 2026-12-01T10:00"
    )
    throttle_per_minute: int | None = Field(default=None, ge=1)
    ab_test: ABTestIn | None = None
    variants: list[VariantIn] = Field(default_factory=list, max_length=5)
    discount_mode: Literal["none", "shared", "pool"] = "none"
    discount_code: str | None = Field(default=None, description="Mode shared: the one code")
    discount_pool_id: str | None = Field(default=None, description="Mode pool: the pool")

    def to_input(self) -> campaigns.CampaignInput:
        return campaigns.CampaignInput(
            name=self.name,
            body=self.body,
            audience=self.audience.model_dump(),
            sender=self.from_,
            media_urls=tuple(self.media_urls),
            smart_encoding=self.smart_encoding,
            schedule_kind=self.schedule,
            send_at=self.send_at,
            local_send=self.local_send,
            throttle_per_minute=self.throttle_per_minute,
            ab_test=self.ab_test.model_dump() if self.ab_test else None,
            variants=tuple(
                campaigns.VariantInput(v.body, tuple(v.media_urls), v.send_at)
                for v in self.variants
            ),
            discount_mode=self.discount_mode,
            discount_code=self.discount_code,
            discount_pool_id=self.discount_pool_id,
        )


class VariantOut(BaseModel):
    id: str
    label: str
    body: str
    media_urls: list[str]
    send_at: datetime | None


class CampaignOut(BaseModel):
    id: str
    name: str
    status: str
    body: str
    audience: dict[str, list[str]]
    from_: str | None = Field(serialization_alias="from")
    media_urls: list[str]
    smart_encoding: bool
    schedule: str
    send_at: datetime | None
    local_send: str | None
    throttle_per_minute: int | None
    ab_test: dict[str, Any] | None = Field(
        description="The test's settings and, once decided, its `decision`"
    )
    variants: list[VariantOut]
    winner_variant_id: str | None
    decide_at: datetime | None
    discount_mode: str
    discount_code: str | None
    discount_pool_id: str | None
    created_at: datetime
    launched_at: datetime | None
    completed_at: datetime | None

    @classmethod
    def of(cls, campaign: Campaign, variants: list[CampaignVariant]) -> CampaignOut:
        return cls(
            id=campaign.id,
            name=campaign.name,
            status=campaign.status,
            body=campaign.body,
            audience=campaign.audience,
            from_=campaign.sender,
            media_urls=list(campaign.media_urls or []),
            smart_encoding=campaign.smart_encoding,
            schedule=campaign.schedule_kind,
            send_at=campaign.send_at,
            local_send=campaign.local_send,
            throttle_per_minute=campaign.throttle_per_minute,
            ab_test=campaign.ab_test,
            variants=[
                VariantOut(
                    id=v.id,
                    label=v.label,
                    body=v.body,
                    media_urls=list(v.media_urls or []),
                    send_at=v.send_at,
                )
                for v in variants
            ],
            winner_variant_id=campaign.winner_variant_id,
            decide_at=campaign.decide_at,
            discount_mode=campaign.discount_mode,
            discount_code=campaign.discount_code,
            discount_pool_id=campaign.discount_pool_id,
            created_at=campaign.created_at,
            launched_at=campaign.launched_at,
            completed_at=campaign.completed_at,
        )


class FindingOut(BaseModel):
    severity: str
    code: str
    message: str
    fix: str


class SampleOut(BaseModel):
    variant: str | None = Field(description="The variant's label; null for the campaign body")
    contact_id: str | None = Field(description="The sample contact it was rendered for")
    text: str = Field(description="The text as sent, with the footer and a stand-in link code")
    encoding: str
    parts: int
    characters: int
    lint: list[FindingOut]


class CostOut(BaseModel):
    messages: int
    parts: int
    totals: dict[str, Decimal] = Field(description="Estimated cost per currency")
    unpriced: int = Field(description="Messages to destinations no rate covers")


class ReviewOut(BaseModel):
    """What launching now would do."""

    ready: bool = Field(description="True when nothing stops the launch")
    refusals: list[str] = Field(description="Why it cannot be launched, if it cannot")
    audience: int = Field(description="Contacts in the audience, each once")
    recipients: int = Field(description="Who gets a message")
    skipped: dict[str, int] = Field(description="Who does not, by reason")
    samples: list[SampleOut]
    cost: CostOut


class ProgressOut(BaseModel):
    status: str
    messages: dict[str, int] = Field(description="The campaign's messages by status")
    skipped: dict[str, int] = Field(description="Audience members not texted, by reason")
    total_messages: int
    pending: int = Field(description="Messages not yet handed to a carrier")


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=500)


async def _out(session: Session, campaign: Campaign) -> CampaignOut:
    return CampaignOut.of(campaign, await campaigns.variants_of(session, campaign))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CampaignOut,
    response_model_by_alias=True,
    summary="Create a campaign draft",
)
async def create(payload: CampaignIn, session: Session, actor: CurrentActor) -> CampaignOut:
    campaign = await campaigns.create_campaign(session, actor, payload.to_input())
    return await _out(session, campaign)


@router.get(
    "", response_model=Page[CampaignOut], response_model_by_alias=True, summary="List campaigns"
)
async def list_(
    session: Session,
    actor: CurrentActor,
    status_: Annotated[str | None, Query(alias="status")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[CampaignOut]:
    rows, next_cursor = await campaigns.list_campaigns(
        session, actor, status=status_, limit=limit, cursor=cursor
    )
    return Page(data=[await _out(session, c) for c in rows], next_cursor=next_cursor)


@router.get(
    "/{campaign_id}",
    response_model=CampaignOut,
    response_model_by_alias=True,
    summary="Read a campaign",
)
async def read(campaign_id: str, session: Session, actor: CurrentActor) -> CampaignOut:
    return await _out(session, await campaigns.get_campaign(session, actor, campaign_id))


@router.put(
    "/{campaign_id}",
    response_model=CampaignOut,
    response_model_by_alias=True,
    summary="Replace a draft's settings",
)
async def update(
    campaign_id: str, payload: CampaignIn, session: Session, actor: CurrentActor
) -> CampaignOut:
    campaign = await campaigns.update_campaign(session, actor, campaign_id, payload.to_input())
    return await _out(session, campaign)


@router.delete("/{campaign_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a draft")
async def delete(campaign_id: str, session: Session, actor: CurrentActor) -> Response:
    await campaigns.delete_campaign(session, actor, campaign_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _review(
    campaign_id: str, request: Request, session: Session, actor: CurrentActor
) -> ReviewOut:
    checked = await campaigns.review(
        session, actor, campaign_id, base_url=get_platform(request).settings.base_url
    )
    return ReviewOut(
        ready=checked.ready,
        refusals=checked.refusals,
        audience=checked.audience,
        recipients=checked.recipients,
        skipped=checked.skipped,
        samples=[
            SampleOut(
                variant=s.variant,
                contact_id=s.contact_id,
                text=s.text,
                encoding=s.encoding,
                parts=s.parts,
                characters=s.characters,
                lint=[
                    FindingOut(severity=f.severity, code=f.code, message=f.message, fix=f.fix)
                    for f in s.findings
                ],
            )
            for s in checked.samples
        ],
        cost=CostOut(
            messages=checked.cost.messages,
            parts=checked.cost.parts,
            totals=dict(checked.cost.totals),
            unpriced=checked.cost.unpriced,
        ),
    )


# GET and POST answer the same (POST for clients that treat a review as an action); one
# route per method so that each has its own OpenAPI operation id.
for _method in ("GET", "POST"):
    router.add_api_route(
        "/{campaign_id}/review",
        _review,
        methods=[_method],
        response_model=ReviewOut,
        summary="Review a campaign before launch: recipients, skips, parts, lint, cost",
        operation_id=f"review_campaign_{_method.lower()}",
    )


@router.post(
    "/{campaign_id}/launch",
    response_model=CampaignOut,
    response_model_by_alias=True,
    summary="Launch (or schedule) a reviewed draft",
    description="Refused with 409 `campaign_not_ready` and the reasons when the review finds "
    "a problem. The messages are written in the background; follow /progress.",
)
async def launch(
    campaign_id: str, request: Request, session: Session, actor: CurrentActor
) -> CampaignOut:
    platform = get_platform(request)
    campaign = await campaigns.launch(
        session, actor, campaign_id, base_url=platform.settings.base_url
    )
    platform.campaign_timers.notify()
    return await _out(session, campaign)


@router.post(
    "/{campaign_id}/pause",
    response_model=CampaignOut,
    response_model_by_alias=True,
    summary="Pause: nothing more is sent until resumed",
)
async def pause(campaign_id: str, session: Session, actor: CurrentActor) -> CampaignOut:
    return await _out(session, await campaigns.pause(session, actor, campaign_id))


@router.post(
    "/{campaign_id}/resume",
    response_model=CampaignOut,
    response_model_by_alias=True,
    summary="Resume a paused campaign where it stopped",
)
async def resume(
    campaign_id: str, request: Request, session: Session, actor: CurrentActor
) -> CampaignOut:
    campaign = await campaigns.resume(session, actor, campaign_id)
    platform = get_platform(request)
    platform.campaign_timers.notify()
    platform.dispatcher.notify()
    return await _out(session, campaign)


@router.post(
    "/{campaign_id}/cancel",
    response_model=CampaignOut,
    response_model_by_alias=True,
    summary="Cancel: messages not yet sent are canceled with the reason",
)
async def cancel(
    campaign_id: str, session: Session, actor: CurrentActor, payload: CancelIn | None = None
) -> CampaignOut:
    reason = payload.reason if payload else None
    return await _out(session, await campaigns.cancel(session, actor, campaign_id, reason))


@router.get(
    "/{campaign_id}/progress",
    response_model=ProgressOut,
    summary="How far the campaign got: its messages by status, skips by reason",
)
async def progress(campaign_id: str, session: Session, actor: CurrentActor) -> ProgressOut:
    done = await campaigns.progress(session, actor, campaign_id)
    return ProgressOut(
        status=done.status,
        messages=done.messages,
        skipped=done.skipped,
        total_messages=done.total_messages,
        pending=done.pending,
    )
