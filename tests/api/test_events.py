"""POST /v1/events: orders and custom events from the shop, idempotent, with clear errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from campaign_rows import Rows

from recado.db.tables import Message
from recado.domain.roles import Role
from recado.services.actor import system_actor
from recado.services.credentials import create_api_key


async def delivered_campaign(platform, workspace, phone="+14157230001"):
    """A campaign delivered to `phone` a moment ago; returns (campaign, message)."""
    sent = datetime.now(UTC) - timedelta(minutes=30)
    async with platform.sessions() as session:
        rows = Rows(session, workspace.workspace.id)
        someone = await rows.contact(phone, external_id="cust-7")
        campaign = await rows.campaign()
        message: Message = await rows.message(campaign, someone, sent_at=sent)
        await session.commit()
        return campaign, message


ORDER = {
    "event_id": "shop-order-1001",
    "name": "order.placed",
    "phone": "415-723-0001",
    "order_id": "1001",
    "value": 49.9,
    "currency": "USD",
}


async def test_an_order_is_stored_and_credited_to_the_campaign_just_delivered(
    client, platform, workspace
):
    campaign, message = await delivered_campaign(platform, workspace)
    answer = await client.post("/v1/events", json=ORDER)
    assert answer.status_code == 201, answer.text
    event = answer.json()
    assert event["contact_id"] == message.contact_id
    assert (event["value"], event["value_micros"], event["currency"]) == (
        "49.90",
        49_900_000,
        "USD",
    )
    assert event["attribution"] == {
        "campaign_id": campaign.id,
        "variant_id": None,
        "message_id": message.id,
        "rule": "delivery",
    }
    fetched = await client.get(f"/v1/events/{event['id']}")
    assert fetched.json() == event
    listed = await client.get("/v1/events", params={"campaign_id": campaign.id})
    assert [e["id"] for e in listed.json()["data"]] == [event["id"]]


async def test_a_replay_answers_200_with_the_same_event_and_a_changed_body_409(
    client, platform, workspace
):
    await delivered_campaign(platform, workspace)
    first = await client.post("/v1/events", json=ORDER)
    again = await client.post("/v1/events", json=ORDER)
    assert again.status_code == 200 and again.json() == first.json()
    changed = await client.post("/v1/events", json={**ORDER, "value": "59.90"})
    assert changed.status_code == 409
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    assert changed.json()["error"]["field"] == "event_id"


async def test_the_same_order_under_a_new_event_id_is_not_credited_twice(
    client, platform, workspace
):
    await delivered_campaign(platform, workspace)
    await client.post("/v1/events", json=ORDER)
    second = await client.post("/v1/events", json={**ORDER, "event_id": "retry-with-new-id"})
    assert second.status_code == 201
    assert second.json()["attribution"] is None


async def test_a_bad_event_gets_a_422_saying_what_to_fix(client):
    cases = [
        ({**ORDER, "currency": None}, "currency", "needs currency"),
        ({**ORDER, "value": "4.1234567"}, "value", "6 decimal places"),
        ({**ORDER, "phone": "not a phone"}, "phone", "not a valid phone number"),
        ({**ORDER, "colour": "red"}, "colour", "Extra inputs"),
        ({key: v for key, v in ORDER.items() if key != "event_id"}, "event_id", "Field required"),
    ]
    for body, field, words in cases:
        answer = await client.post("/v1/events", json=body)
        assert answer.status_code == 422, (body, answer.text)
        error = answer.json()["error"]
        assert error["field"] == field, error
        assert words in error["message"], error


async def test_a_batch_stores_each_event_on_its_own(client, platform, workspace):
    await delivered_campaign(platform, workspace)
    answer = await client.post(
        "/v1/events/batch",
        json={
            "events": [
                ORDER,
                {"event_id": "view-1", "name": "product.viewed", "external_id": "cust-7"},
                {**ORDER, "event_id": "bad", "currency": "dollars"},
                ORDER,
            ]
        },
    )
    assert answer.status_code == 200, answer.text
    results = answer.json()["data"]
    assert [r["status"] for r in results] == [201, 201, 422, 200]
    assert results[1]["event"]["contact_id"] is not None
    assert results[2]["error"]["field"] == "events[2].currency"
    assert results[3]["event"]["id"] == results[0]["event"]["id"]


async def test_a_viewer_key_may_not_send_events(client, platform, workspace):
    async with platform.sessions() as session:
        _, plain = await create_api_key(
            session, system_actor(workspace.workspace.id), name="bi", role=Role.VIEWER
        )
    answer = await client.post(
        "/v1/events", json=ORDER, headers={"Authorization": f"Bearer {plain}"}
    )
    assert answer.status_code == 403
