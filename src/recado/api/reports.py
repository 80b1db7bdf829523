"""Campaign reports (/v1/campaigns/{id}/report, .csv, recipients.csv) and workspace
analytics by day (/v1/analytics/daily). Definitions of every figure: docs/analytics.md."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from recado.api.deps import CurrentActor, Session
from recado.services import campaign_report, daily_totals

router = APIRouter(tags=["reports"])


class MoneyOut(BaseModel):
    currency: str = Field(description="ISO 4217 code")
    amount: str = Field(description="Exact decimal text in the currency unit, e.g. 49.90")
    micros: int = Field(description="The amount in millionths of the unit")


class ErrorCountOut(BaseModel):
    status: str = Field(description="undelivered or failed")
    error_code: str | None
    error_message: str | None = Field(description="One of the messages seen with this code")
    count: int


class FiguresOut(BaseModel):
    audience: int = Field(description="Messaged + skipped (a variant: its messages)")
    messaged: int = Field(description="Message rows written for the campaign")
    skipped: int = Field(description="Audience members not texted")
    skipped_by_reason: dict[str, int]
    sent: int = Field(description="Accepted by the carrier")
    pending: int = Field(description="Not sent yet (queued, scheduled, paused...)")
    delivered: int
    undelivered: int
    failed: int
    canceled: int
    errors: list[ErrorCountOut] = Field(description="Undelivered and failed, by error code")
    delivery_rate: float | None = Field(description="delivered / sent")
    unique_clicks: int = Field(description="Recipients who clicked at least once")
    total_clicks: int
    click_rate: float | None = Field(description="unique_clicks / delivered")
    replies: int = Field(description="Recipients who texted back within 72 h")
    reply_rate: float | None = Field(description="replies / delivered")
    opt_outs: int = Field(description="Recipients who opted out within 72 h")
    opt_out_rate: float | None = Field(description="opt_outs / delivered")
    conversions: int = Field(description="Orders credited")
    conversion_rate: float | None = Field(description="conversions / delivered")
    revenue: list[MoneyOut] = Field(description="Of the orders credited, per currency")
    cost: list[MoneyOut] = Field(description="Price of the messages sent, per currency")
    revenue_per_message: list[MoneyOut] = Field(description="revenue / sent")
    return_on_spend: float | None = Field(
        description="revenue / cost, when both are in the same single currency"
    )


class VariantOut(FiguresOut):
    variant_id: str | None
    label: str | None


class HourOut(BaseModel):
    hour: datetime = Field(description="Start of the hour, UTC")
    sent: int
    delivered: int
    clicks: int
    conversions: int


class CurrentTestOut(BaseModel):
    leader: str | None = Field(description="The leading variant's label")
    leader_variant_id: str | None
    significant: bool
    p_value: float | None
    values: dict[str, float] = Field(description="The metric per variant label")
    probability_best: dict[str, float] = Field(description="Per variant label; sums to 1")
    explanation: str


class AbTestOut(BaseModel):
    metric: str
    confidence: float
    decided: bool
    decision: dict[str, Any] | None = Field(description="The decision the campaign stored")
    current: CurrentTestOut | None = Field(description="The statistics on today's figures")


class CampaignInfoOut(BaseModel):
    id: str
    name: str
    status: str
    launched_at: datetime | None
    completed_at: datetime | None
    discount_mode: str


class ReportOut(BaseModel):
    campaign: CampaignInfoOut
    windows: dict[str, float] = Field(description="Reply and opt-out windows, in hours")
    totals: FiguresOut
    variants: list[VariantOut]
    ab_test: AbTestOut | None
    hourly: list[HourOut]
    generated_at: datetime


class DayOut(BaseModel):
    date: str = Field(description="UTC day, YYYY-MM-DD")
    sent: int
    delivered: int
    clicks: int
    replies: int
    opt_outs: int
    orders: int = Field(description="order.placed events")
    conversions: int = Field(description="Orders credited to a campaign")
    revenue: list[MoneyOut] = Field(description="Of the credited orders, per currency")


class DailyTotalsOut(BaseModel):
    sent: int
    delivered: int
    clicks: int
    replies: int
    opt_outs: int
    orders: int
    conversions: int
    revenue: list[MoneyOut]


class DailyOut(BaseModel):
    days: int
    since: str
    data: list[DayOut]
    totals: DailyTotalsOut


@router.get(
    "/v1/campaigns/{campaign_id}/report",
    response_model=ReportOut,
    summary="A campaign's report",
    description="Audience, delivery, clicks, replies, opt-outs, conversions, revenue and cost, "
    "for the campaign and each variant, by hour, and the A/B test's statistics.",
)
async def report(campaign_id: str, session: Session, actor: CurrentActor) -> dict[str, Any]:
    return await campaign_report.campaign_report(session, actor, campaign_id)


@router.get(
    "/v1/campaigns/{campaign_id}/report.csv",
    summary="A campaign's report as CSV (one row per campaign and variant)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The CSV file"}},
)
async def report_csv(campaign_id: str, session: Session, actor: CurrentActor) -> Response:
    data = await campaign_report.campaign_report(session, actor, campaign_id)
    return Response(
        campaign_report.report_csv(data),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="report-{campaign_id}.csv"'},
    )


@router.get(
    "/v1/campaigns/{campaign_id}/recipients.csv",
    summary="Each recipient's outcome as CSV, streamed",
    description="phone, variant, status, error, sent and delivered times, clicks, orders and "
    "revenue per recipient; skipped audience members follow with status `skipped`.",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The CSV file"}},
)
async def recipients_csv(
    campaign_id: str, session: Session, actor: CurrentActor
) -> StreamingResponse:
    parts = await campaign_report.recipients_csv(session, actor, campaign_id)
    return StreamingResponse(
        parts,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="recipients-{campaign_id}.csv"'},
    )


@router.get(
    "/v1/analytics/daily",
    response_model=DailyOut,
    summary="Workspace totals by day",
    description="Sent, delivered, clicks, replies, opt-outs, orders, conversions and revenue "
    "per UTC day, today included, for the dashboard.",
)
async def daily(
    session: Session,
    actor: CurrentActor,
    days: Annotated[int, Query(ge=1, le=366, description="How many days, today included")] = 30,
) -> dict[str, Any]:
    return await daily_totals.daily_totals(session, actor, days=days)
