"""Per-variant figures of a campaign: what the A/B decision and the report compare."""

from __future__ import annotations

from datetime import timedelta

from campaign_rows import T0, Rows

from recado.db.tables import ContactEvent
from recado.ids import new_id
from recado.services.campaign_metrics import VariantMetrics, variant_metrics


async def an_order(
    rows: Rows, message, value_micros: int, *, attributed: bool = True
) -> ContactEvent:
    event = ContactEvent(
        id=new_id("evt"),
        workspace_id=rows.workspace_id,
        event_id=new_id("x"),
        name="order.placed",
        contact_id=message.contact_id,
        occurred_at=T0 + timedelta(hours=1),
        order_id=new_id("o"),
        value_micros=value_micros,
        currency="USD",
        properties={},
        campaign_id=message.campaign_id if attributed else None,
        variant_id=message.variant_id if attributed else None,
        message_id=message.id if attributed else None,
        attribution="click" if attributed else None,
    )
    rows.session.add(event)
    await rows.session.flush()
    return event


async def test_each_variant_counts_its_recipients_deliveries_clicks_orders_and_opt_outs(
    platform, workspace
):
    async with platform.sessions() as session:
        rows = Rows(session, workspace.workspace.id)
        campaign = await rows.campaign()
        a, b = await rows.variant(campaign, "A"), await rows.variant(campaign, "B")
        people = [await rows.contact() for _ in range(7)]
        a1 = await rows.message(campaign, people[0], variant=a)
        a2 = await rows.message(campaign, people[1], variant=a)
        await rows.message(campaign, people[2], variant=a, status="undelivered", error_code="30003")
        b1 = await rows.message(campaign, people[3], variant=b)
        b2 = await rows.message(campaign, people[4], variant=b, status="sent")
        await rows.message(campaign, people[5], variant=b, status="canceled", sent_at=None)
        # Two clicks by one recipient count once; B gets two different clickers.
        await rows.click(a1, T0 + timedelta(minutes=3))
        await rows.click(a1, T0 + timedelta(minutes=9))
        await rows.click(b1, T0 + timedelta(minutes=2))
        await rows.click(b2, T0 + timedelta(minutes=4))
        await an_order(rows, a1, 25_000_000)
        await an_order(rows, a2, 10_500_000)
        await an_order(rows, b1, 40_000_000, attributed=False)
        await rows.opt_out(people[3], T0 + timedelta(hours=2))  # B, inside 72 h
        await rows.opt_out(people[4], T0 + timedelta(hours=80))  # B, too late to count
        await session.commit()
        figures = await variant_metrics(session, workspace.workspace.id, campaign.id)
    assert figures == {
        a.id: VariantMetrics(a.id, 3, 2, 1, 2, 35_500_000, 0),
        b.id: VariantMetrics(b.id, 2, 1, 2, 0, 0, 1),
    }


async def test_a_campaign_without_variants_is_keyed_none(platform, workspace):
    async with platform.sessions() as session:
        rows = Rows(session, workspace.workspace.id)
        campaign = await rows.campaign()
        someone = await rows.contact()
        message = await rows.message(campaign, someone)
        await rows.click(message, T0 + timedelta(minutes=1))
        await session.commit()
        figures = await variant_metrics(session, workspace.workspace.id, campaign.id)
    assert figures == {None: VariantMetrics(None, 1, 1, 1, 0, 0, 0)}


async def test_an_opt_out_before_the_message_is_not_the_campaigns_doing(platform, workspace):
    async with platform.sessions() as session:
        rows = Rows(session, workspace.workspace.id)
        campaign = await rows.campaign()
        someone = await rows.contact()
        await rows.message(campaign, someone)
        await rows.opt_out(someone, T0 - timedelta(minutes=5))
        await session.commit()
        figures = await variant_metrics(session, workspace.workspace.id, campaign.id)
    assert figures[None].opt_outs == 0


async def test_another_workspace_sees_nothing_of_the_campaign(platform, workspace, other_workspace):
    async with platform.sessions() as session:
        rows = Rows(session, workspace.workspace.id)
        campaign = await rows.campaign()
        await rows.message(campaign, await rows.contact())
        await session.commit()
        assert await variant_metrics(session, other_workspace.workspace.id, campaign.id) == {}
