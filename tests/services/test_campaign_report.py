"""A campaign's report: the figures a marketer reads after a send, per campaign and variant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from campaign_rows import T0, Rows

from recado.db.tables import ContactEvent
from recado.domain.roles import Role
from recado.errors import NotFound, ValidationFailed
from recado.ids import new_id
from recado.services.actor import Actor, system_actor
from recado.services.campaign_report import campaign_report, recipients_csv
from recado.services.daily_totals import daily_totals


async def credited(rows: Rows, message, value_micros: int, at: datetime, currency="USD"):
    event = ContactEvent(
        id=new_id("evt"),
        workspace_id=rows.workspace_id,
        event_id=new_id("x"),
        name="order.placed",
        contact_id=message.contact_id,
        occurred_at=at,
        order_id=new_id("o"),
        value_micros=value_micros,
        currency=currency,
        properties={},
        campaign_id=message.campaign_id,
        variant_id=message.variant_id,
        message_id=message.id,
        attribution="click",
    )
    rows.session.add(event)
    await rows.session.flush()


async def an_ab_campaign(platform, workspace):
    """A/B: A reaches 4 people (3 delivered, 1 undelivered), B reaches 3 (2 delivered,
    1 failed); 2 skipped. Clicks, a reply, an opt-out and orders in A."""
    async with platform.sessions() as session:
        rows = Rows(session, workspace.workspace.id)
        campaign = await rows.campaign()
        campaign.ab_test = {"test_share": 1.0, "metric": "click_rate"}
        a, b = await rows.variant(campaign, "A"), await rows.variant(campaign, "B")
        people = [await rows.contact() for _ in range(9)]
        a_msgs = [await rows.message(campaign, p, variant=a) for p in people[:3]]
        await rows.message(
            campaign,
            people[3],
            variant=a,
            status="undelivered",
            error_code="30003",
            error_message="Unreachable handset",
        )
        b_msgs = [
            await rows.message(campaign, p, variant=b, sent_at=T0 + timedelta(hours=1))
            for p in people[4:6]
        ]
        await rows.message(
            campaign,
            people[6],
            variant=b,
            status="failed",
            sent_at=None,
            price_micros=None,
            error_code="no_route",
            error_message="no connected carrier route",
        )
        await rows.skip(campaign, people[7], "opted_out")
        await rows.skip(campaign, people[8], "no_consent")
        await rows.click(a_msgs[0], T0 + timedelta(minutes=5))
        await rows.click(a_msgs[0], T0 + timedelta(minutes=6))
        await rows.click(a_msgs[1], T0 + timedelta(minutes=50))
        await rows.click(b_msgs[0], T0 + timedelta(hours=1, minutes=5))
        await rows.reply(people[0], T0 + timedelta(hours=2))
        await rows.reply(people[1], T0 + timedelta(hours=80))  # too late to count
        await rows.opt_out(people[2], T0 + timedelta(hours=1))
        await credited(rows, a_msgs[0], 49_900_000, T0 + timedelta(minutes=30))
        await credited(rows, a_msgs[1], 10_000_000, T0 + timedelta(minutes=55))
        await session.commit()
        return campaign, a, b


async def test_the_report_counts_delivery_engagement_and_money_per_campaign_and_variant(
    platform, workspace
):
    campaign, a, b = await an_ab_campaign(platform, workspace)
    async with platform.sessions() as session:
        report = await campaign_report(session, system_actor(workspace.workspace.id), campaign.id)
    totals = report["totals"]
    assert totals["audience"] == 9
    assert totals["skipped_by_reason"] == {"no_consent": 1, "opted_out": 1}
    assert (totals["sent"], totals["delivered"], totals["undelivered"], totals["failed"]) == (
        6,
        5,
        1,
        1,
    )
    assert totals["errors"] == [
        {
            "status": "failed",
            "error_code": "no_route",
            "error_message": "no connected carrier route",
            "count": 1,
        },
        {
            "status": "undelivered",
            "error_code": "30003",
            "error_message": "Unreachable handset",
            "count": 1,
        },
    ]
    assert totals["delivery_rate"] == round(5 / 6, 4)
    assert (totals["unique_clicks"], totals["total_clicks"], totals["click_rate"]) == (3, 4, 0.6)
    assert (totals["replies"], totals["opt_outs"], totals["opt_out_rate"]) == (1, 1, 0.2)
    assert totals["conversions"] == 2
    assert totals["revenue"] == [{"currency": "USD", "amount": "59.90", "micros": 59_900_000}]
    # Six messages sent at 0.0075 each; the failed one never reached a carrier.
    assert totals["cost"] == [{"currency": "USD", "amount": "0.045", "micros": 45_000}]
    assert totals["revenue_per_message"][0]["amount"] == "9.983333"
    assert totals["return_on_spend"] == round(59_900_000 / 45_000, 4)

    by_label = {v["label"]: v for v in report["variants"]}
    assert (by_label["A"]["audience"], by_label["A"]["delivered"]) == (4, 3)
    assert (by_label["A"]["unique_clicks"], by_label["A"]["conversions"]) == (2, 2)
    assert (by_label["B"]["audience"], by_label["B"]["unique_clicks"]) == (3, 1)
    assert by_label["B"]["errors"][0]["error_code"] == "no_route"


async def test_the_report_has_the_ab_statistics_and_an_hourly_series(platform, workspace):
    campaign, a, b = await an_ab_campaign(platform, workspace)
    async with platform.sessions() as session:
        report = await campaign_report(session, system_actor(workspace.workspace.id), campaign.id)
    test = report["ab_test"]
    assert test["metric"] == "click_rate" and test["decided"] is False
    assert test["current"]["leader"] == "A"
    assert test["current"]["significant"] is False  # 2 of 4 against 1 of 3 proves nothing
    assert sum(test["current"]["probability_best"].values()) == pytest.approx(1.0)
    hours = report["hourly"]
    assert [h["hour"] for h in hours] == [
        T0.isoformat(),
        (T0 + timedelta(hours=1)).isoformat(),
    ]
    assert hours[0] == {
        "hour": T0.isoformat(),
        "sent": 4,
        "delivered": 3,
        "clicks": 3,
        "conversions": 2,
    }
    assert (hours[1]["sent"], hours[1]["delivered"], hours[1]["clicks"]) == (2, 2, 1)


async def test_an_empty_campaign_reports_zeros_and_no_rates(platform, workspace):
    async with platform.sessions() as session:
        campaign = await Rows(session, workspace.workspace.id).campaign()
        await session.commit()
        report = await campaign_report(session, system_actor(workspace.workspace.id), campaign.id)
    assert report["totals"]["sent"] == 0
    assert report["totals"]["delivery_rate"] is None
    assert report["totals"]["return_on_spend"] is None
    assert report["variants"] == [] and report["hourly"] == [] and report["ab_test"] is None


async def test_another_workspaces_campaign_is_not_found(platform, workspace, other_workspace):
    campaign, _, _ = await an_ab_campaign(platform, workspace)
    async with platform.sessions() as session:
        with pytest.raises(NotFound):
            await campaign_report(session, system_actor(other_workspace.workspace.id), campaign.id)
        with pytest.raises(NotFound):
            await recipients_csv(session, system_actor(other_workspace.workspace.id), campaign.id)


async def test_the_recipients_file_has_each_recipients_outcome_then_the_skipped(
    platform, workspace
):
    campaign, _, _ = await an_ab_campaign(platform, workspace)
    async with platform.sessions() as session:
        viewer = Actor(workspace.workspace.id, Role.VIEWER)
        parts = await recipients_csv(session, viewer, campaign.id)
        text = "".join([part async for part in parts])
    lines = text.strip().splitlines()
    assert lines[0] == (
        "phone,variant,status,error_code,error_message,sent_at,delivered_at,clicked,clicks,"
        "converted,orders,revenue,currency"
    )
    assert len(lines) == 1 + 7 + 2
    first = lines[1].split(",")
    assert first[:3] == ["+14157230001", "A", "delivered"]
    assert first[7:] == ["yes", "2", "yes", "1", "49.90", "USD"]
    assert "failed,no_route,no connected carrier route" in text
    assert lines[-1].endswith(",skipped,no_consent,,,,no,0,no,0,,") or lines[-2].endswith(
        ",skipped,no_consent,,,,no,0,no,0,,"
    )


async def test_daily_totals_cover_each_day_of_the_period(platform, workspace):
    await an_ab_campaign(platform, workspace)
    now = T0 + timedelta(days=1, hours=2)
    async with platform.sessions() as session:
        daily = await daily_totals(session, system_actor(workspace.workspace.id), days=3, now=now)
    assert [d["date"] for d in daily["data"]] == ["2026-11-26", "2026-11-27", "2026-11-28"]
    day = daily["data"][1]
    assert (day["sent"], day["delivered"], day["clicks"]) == (6, 5, 4)
    assert (day["replies"], day["opt_outs"], day["conversions"]) == (1, 1, 2)
    assert day["revenue"] == [{"currency": "USD", "amount": "59.90", "micros": 59_900_000}]
    assert daily["data"][2]["replies"] == 0  # the late reply lands on the 30th
    assert daily["totals"]["sent"] == 6


async def test_daily_totals_refuse_an_impossible_period(platform, workspace):
    async with platform.sessions() as session:
        with pytest.raises(ValidationFailed):
            await daily_totals(
                session,
                system_actor(workspace.workspace.id),
                days=0,
                now=datetime(2026, 12, 1, tzinfo=UTC),
            )
