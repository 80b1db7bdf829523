"""Shop events: who did it, idempotent by event_id, and which campaign an order is credited to."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from campaign_rows import T0, Rows
from sqlalchemy import select

from recado.db.tables import Contact, ContactEvent, Workspace
from recado.errors import IdempotencyConflict, InvalidPhoneNumber, ValidationFailed
from recado.ids import new_id
from recado.services import discounts
from recado.services.actor import system_actor
from recado.services.contact_events import EventInput, record_event, to_micros

ORDER_AT = T0 + timedelta(hours=3)


def an_order(order_id: str = "1001", **changes) -> EventInput:
    fields = {
        "event_id": f"evt-{order_id}",
        "name": "order.placed",
        "occurred_at": ORDER_AT,
        "phone": "(415) 723-0001",
        "order_id": order_id,
        "value": "49.90",
        "currency": "usd",
    } | changes
    return EventInput(**fields)


async def record(platform, workspace, data: EventInput):
    async with platform.sessions() as session:
        return await record_event(
            session, system_actor(workspace.workspace.id), data, now=ORDER_AT + timedelta(hours=1)
        )


async def campaign_to(platform, workspace, **campaign_fields):
    """A campaign delivered to +14157230001 at T0; returns (campaign, message)."""
    async with platform.sessions() as session:
        rows = Rows(session, workspace.workspace.id)
        someone = await rows.contact("+14157230001", external_id="shop-42")
        campaign = await rows.campaign(**campaign_fields)
        message = await rows.message(campaign, someone)
        await session.commit()
        return campaign, message


async def test_an_order_by_a_local_phone_spelling_is_credited_to_the_delivered_campaign(
    platform, workspace
):
    campaign, message = await campaign_to(platform, workspace)
    recorded = await record(platform, workspace, an_order())
    event = recorded.event
    assert recorded.created
    assert event.contact_id == message.contact_id
    assert (event.value_micros, event.currency) == (49_900_000, "USD")
    assert (event.campaign_id, event.message_id, event.attribution) == (
        campaign.id,
        message.id,
        "delivery",
    )


async def test_a_click_within_seven_days_beats_a_later_delivery(platform, workspace):
    clicked, clicked_message = await campaign_to(platform, workspace, name="Clicked")
    async with platform.sessions() as session:
        rows = Rows(session, workspace.workspace.id)
        await rows.click(clicked_message, T0 + timedelta(minutes=10))
        [contact_id] = [clicked_message.contact_id]
        later = await rows.campaign("Later")
        contact = await session.get(Contact, contact_id)
        await rows.message(later, contact, sent_at=T0 + timedelta(hours=2))
        await session.commit()
    event = (await record(platform, workspace, an_order())).event
    assert (event.campaign_id, event.attribution) == (clicked.id, "click")


async def test_a_delivery_older_than_the_workspace_window_is_not_credited(platform, workspace):
    await campaign_to(platform, workspace)
    async with platform.sessions() as session:
        ws = await session.get(Workspace, workspace.workspace.id)
        ws.settings = {**ws.settings, "attribution": {"delivery_window_hours": 2}}
        await session.commit()
    event = (await record(platform, workspace, an_order())).event
    assert event.attribution is None and event.campaign_id is None


async def test_a_pool_code_credits_its_campaign_even_without_a_click(platform, workspace):
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        pool = await discounts.create_pool(session, actor, "Pool")
        await discounts.add_codes(session, actor, pool.id, ["BF-AAAA", "BF-BBBB"])
    campaign, message = await campaign_to(
        platform, workspace, discount_mode="pool", discount_pool_id=pool.id
    )
    async with platform.sessions() as session:
        await discounts.draw(
            session,
            workspace.workspace.id,
            pool.id,
            campaign.id,
            [(message.contact_id, message.id)],
        )
        await session.commit()
    # Days later, past both windows, with the code typed in lower case.
    late = ORDER_AT + timedelta(days=9)
    async with platform.sessions() as session:
        recorded = await record_event(
            session,
            actor,
            an_order(occurred_at=late, coupon_code="bf-aaaa"),
            now=late,
        )
    assert (recorded.event.campaign_id, recorded.event.message_id) == (campaign.id, message.id)
    assert recorded.event.attribution == "coupon"


async def test_a_shared_code_credits_its_campaign_for_someone_it_did_not_text(platform, workspace):
    campaign, _ = await campaign_to(
        platform, workspace, discount_mode="shared", discount_code="FRIDAY20"
    )
    event = (
        await record(platform, workspace, an_order(phone="+14157239999", coupon_code="friday20"))
    ).event
    assert event.contact_id is None  # an unknown number is kept, unlinked
    assert (event.campaign_id, event.message_id, event.attribution) == (
        campaign.id,
        None,
        "coupon",
    )


async def test_an_order_sent_twice_under_two_event_ids_is_credited_once(platform, workspace):
    await campaign_to(platform, workspace)
    first = (await record(platform, workspace, an_order(event_id="a"))).event
    second = (await record(platform, workspace, an_order(event_id="b"))).event
    assert first.attribution == "delivery"
    assert second.attribution is None and second.id != first.id


async def test_an_order_sent_twice_at_once_is_still_credited_once(platform, workspace):
    await campaign_to(platform, workspace)
    results = await asyncio.gather(
        record(platform, workspace, an_order(event_id="x")),
        record(platform, workspace, an_order(event_id="y")),
    )
    assert sorted(r.event.attribution or "-" for r in results) == ["-", "delivery"]


async def test_a_replay_answers_the_stored_event_and_a_changed_one_is_refused(platform, workspace):
    await campaign_to(platform, workspace)
    first = await record(platform, workspace, an_order())
    again = await record(platform, workspace, an_order())
    assert not again.created and again.event.id == first.event.id
    with pytest.raises(IdempotencyConflict):
        await record(platform, workspace, an_order(value="59.90"))
    async with platform.sessions() as session:
        assert len(list(await session.scalars(select(ContactEvent)))) == 1


async def test_a_custom_event_keeps_its_properties_and_is_not_credited(platform, workspace):
    await campaign_to(platform, workspace)
    data = EventInput(
        event_id=new_id("x"),
        name="cart.abandoned",
        external_id="shop-42",
        properties={"items": 3, "url": "https://acme.com/cart"},
    )
    event = (await record(platform, workspace, data)).event
    assert event.contact_id is not None
    assert event.properties == {"items": 3, "url": "https://acme.com/cart"}
    assert event.attribution is None
    assert event.occurred_at == ORDER_AT + timedelta(hours=1)  # now, when not given


async def test_order_fields_inside_properties_are_read_too(platform, workspace):
    data = EventInput(
        event_id="p1",
        name="order.placed",
        phone="+14157230001",
        properties={"order_id": 77, "value": 12.5, "currency": "EUR"},
    )
    event = (await record(platform, workspace, data)).event
    assert (event.order_id, event.value_micros, event.currency) == ("77", 12_500_000, "EUR")


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"order_id": None}, "order_id", "needs order_id"),
        ({"value": None, "currency": None}, "value", "needs value, currency"),
        ({"value": "12.3456789"}, "value", "more than 6 decimal places"),
        ({"value": "-5"}, "value", "0 or more"),
        ({"value": "lots"}, "value", "a number such as 49.90"),
        ({"currency": "dollars"}, "currency", "three-letter"),
        ({"name": "order placed!"}, "name", "such as order.placed"),
        ({"event_id": " "}, "event_id", "event_id is required"),
        ({"phone": None}, "phone", "Say who did it"),
        ({"occurred_at": ORDER_AT.replace(tzinfo=None)}, "occurred_at", "time zone"),
        ({"occurred_at": ORDER_AT + timedelta(days=1)}, "occurred_at", "in the future"),
        ({"contact_id": "ct_01m90x1p53d11rt0y7eg3kxtcv"}, "contact_id", "No contact"),
    ],
)
async def test_a_bad_event_is_refused_saying_what_to_fix(
    platform, workspace, changes, field, words
):
    with pytest.raises(ValidationFailed) as refused:
        await record(platform, workspace, an_order(**changes))
    assert refused.value.field == field
    assert words in refused.value.message


async def test_a_number_that_cannot_exist_is_refused(platform, workspace):
    with pytest.raises(InvalidPhoneNumber) as refused:
        await record(platform, workspace, an_order(phone="12"))
    assert refused.value.field == "phone"


def test_amounts_become_exact_micros():
    assert to_micros("0.000001") == 1
    assert to_micros(19.99) == 19_990_000
    assert to_micros(Decimal("1234567.89")) == 1_234_567_890_000
    assert to_micros(0) == 0
