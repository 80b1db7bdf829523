"""Status callbacks: each status change is POSTed, signed, retried, and its attempts are visible."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from recado.carriers.base import DeliveryReport
from recado.carriers.simulator.connector import SimulatorConnector
from recado.db.tables import Message, WebhookDelivery
from recado.delivery.dispatcher import Dispatcher
from recado.delivery.webhook_sender import WebhookSender
from recado.domain.signing import verify
from recado.platform import Platform


async def drain(sender: WebhookSender, rounds: int = 20) -> None:
    for _ in range(rounds):
        if await sender.run_once() == 0:
            return


async def webhook_secret(client: httpx.AsyncClient) -> str:
    return (await client.post("/v1/workspace/webhook-secret")).json()["webhook_secret"]


async def test_every_status_change_is_posted_signed_in_order(
    client: httpx.AsyncClient, running: Platform, receiver
):
    secret = await webhook_secret(client)
    sent = await client.post(
        "/v1/messages",
        json={"to": "+14157234567", "body": "Hi", "status_callback": receiver.url + "/hook"},
    )
    message_id = sent.json()["id"]
    for _ in range(200):
        if len(receiver.requests) >= 4:
            break
        running.dispatcher.notify()
        await asyncio.sleep(0.05)
    statuses = [json.loads(body)["status"] for _, _, body in receiver.requests]
    assert statuses == ["queued", "sending", "sent", "delivered"]
    for path, headers, body in receiver.requests:
        assert path == "/hook"
        assert json.loads(body)["message_id"] == message_id
        assert verify(secret, body, headers["recado-signature"], now=int(time.time()))


async def test_a_failing_receiver_is_retried_with_backoff_and_each_attempt_is_listed(
    client: httpx.AsyncClient, platform: Platform, receiver
):
    receiver.statuses = [500, 503]
    message = (
        await client.post(
            "/v1/messages",
            json={"to": "+14157234567", "body": "Hi", "status_callback": receiver.url},
        )
    ).json()
    clock = [datetime.now(UTC)]
    sender = WebhookSender(platform.sessions, clock=lambda: clock[0])
    await drain(sender)
    clock[0] += timedelta(seconds=11)
    await drain(sender)
    clock[0] += timedelta(seconds=31)
    await drain(sender)
    await sender.close()
    [delivery] = (await client.get(f"/v1/messages/{message['id']}/webhooks")).json()
    assert delivery["status"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 200]
    assert delivery["attempts"][0]["error"] == "HTTP 500"
    assert len(receiver.requests) == 3


async def test_unreachable_receiver_gives_up_after_the_last_retry(
    client: httpx.AsyncClient, platform: Platform
):
    message = (
        await client.post(
            "/v1/messages",
            json={"to": "+14157234567", "body": "Hi", "status_callback": "http://127.0.0.1:9/x"},
        )
    ).json()
    clock = [datetime.now(UTC)]
    sender = WebhookSender(platform.sessions, clock=lambda: clock[0])
    for _ in range(10):
        await drain(sender)
        clock[0] += timedelta(hours=7)
    await sender.close()
    [delivery] = (await client.get(f"/v1/messages/{message['id']}/webhooks")).json()
    assert delivery["status"] == "failed"
    assert len(delivery["attempts"]) == 8
    assert all(a["status_code"] is None and a["error"] for a in delivery["attempts"])


async def test_workspace_default_webhook_is_used_when_the_message_names_none(
    client: httpx.AsyncClient, platform: Platform, receiver
):
    changed = await client.patch("/v1/workspace/settings", json={"webhook_url": receiver.url})
    assert changed.status_code == 200
    assert "webhook_secret" not in changed.json()
    await client.post("/v1/messages", json={"to": "+14157234567", "body": "Hi"})
    sender = WebhookSender(platform.sessions)
    await drain(sender)
    await sender.close()
    assert [json.loads(b)["status"] for _, _, b in receiver.requests] == ["queued"]


async def test_another_workspace_cannot_read_the_callbacks(
    client: httpx.AsyncClient, other_workspace
):
    message = (
        await client.post(
            "/v1/messages",
            json={"to": "+14157234567", "body": "Hi", "status_callback": "http://127.0.0.1:9/x"},
        )
    ).json()
    rival = {"Authorization": f"Bearer {other_workspace.api_key}"}
    response = await client.get(f"/v1/messages/{message['id']}/webhooks", headers=rival)
    assert response.status_code == 404


async def test_a_default_webhook_set_after_texts_went_out_without_one_gets_the_next_changes(
    client: httpx.AsyncClient, platform: Platform, receiver
):
    async def dispatched_callbacks(body: str) -> list[str]:
        sent = await client.post("/v1/messages", json={"to": "+14157234567", "body": body})
        await platform.connector.start(platform.carrier_events)
        assert await platform.dispatcher.run_once() == 1
        async with platform.sessions() as session:
            rows = await session.scalars(
                select(WebhookDelivery.payload).where(
                    WebhookDelivery.message_id == sent.json()["id"]
                )
            )
            return [json.loads(payload)["status"] for payload in rows]

    # The dispatcher has looked for a default URL and found none: no callbacks.
    assert await dispatched_callbacks("first") == []
    changed = await client.patch("/v1/workspace/settings", json={"webhook_url": receiver.url})
    assert changed.status_code == 200
    # Seen at once, not after the dispatcher's copy of the settings runs out.
    assert {"queued", "sending", "sent"} <= set(await dispatched_callbacks("second"))


async def test_a_delivery_report_calls_back_with_its_status_its_error_and_the_carrier_id(
    client: httpx.AsyncClient, platform: Platform
):
    """The report path reads only the columns it needs; its callback still says all of it."""
    sent = (
        await client.post(
            "/v1/messages",
            json={"to": "+14157234567", "body": "Hi", "status_callback": "https://example.com/h"},
        )
    ).json()
    carrier = SimulatorConnector("quiet", {"delivery_delay_seconds": 600})  # reports: ours
    await carrier.start(platform.carrier_events)
    try:
        await Dispatcher(platform.sessions, carrier).run_once()
        async with platform.sessions() as session:
            carrier_id = await session.scalar(
                select(Message.carrier_message_id).where(Message.id == sent["id"])
            )
        assert carrier_id
        await platform.carrier_events.delivery_report(
            DeliveryReport("quiet", carrier_id, "undelivered", "absent_subscriber", "phone off")
        )
    finally:
        await carrier.stop()
    async with platform.sessions() as session:
        payloads = [
            json.loads(body)
            for body in await session.scalars(
                select(WebhookDelivery.payload).where(WebhookDelivery.message_id == sent["id"])
            )
        ]
    [undelivered] = [p for p in payloads if p["status"] == "undelivered"]
    assert undelivered == {
        "event": "message.status",
        "message_id": sent["id"],
        "status": "undelivered",
        "direction": "outbound",
        "to": "+14157234567",
        "from": sent["from"],
        "segments": 1,
        "carrier_message_id": carrier_id,
        "error_code": "absent_subscriber",
        "error_message": "phone off",
        "at": undelivered["at"],
    }
    assert sorted(p["status"] for p in payloads) == ["queued", "sending", "sent", "undelivered"]
