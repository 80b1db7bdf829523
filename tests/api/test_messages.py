"""POST/GET /v1/messages: accept, idempotency, validation, timeline and delivery via the simulator."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from consenting import daytime, opted_in
from sqlalchemy import select

from recado.db.tables import Sender
from recado.ids import new_id
from recado.platform import Platform
from recado.services.actor import system_actor
from recado.services.credentials import create_api_key, revoke_api_key


async def wait_for_status(api: httpx.AsyncClient, message_id: str, status: str) -> dict:
    for _ in range(200):
        body = (await api.get(f"/v1/messages/{message_id}")).json()
        if body["status"] == status:
            return body
        await asyncio.sleep(0.02)
    raise AssertionError(f"message stayed {body['status']}, expected {status}")


async def add_sender(
    platform: Platform, workspace_id: str, address: str, *, default: bool = False
) -> None:
    """A long code for the workspace; `default` takes over from the current default."""
    async with platform.sessions() as session:
        if default:
            for sender in await session.scalars(
                select(Sender).where(Sender.workspace_id == workspace_id)
            ):
                sender.is_default = False
        session.add(
            Sender(
                id=new_id("snd"),
                workspace_id=workspace_id,
                address=address,
                kind="long_code",
                is_default=default,
            )
        )
        await session.commit()


async def test_send_answers_202_with_segments_price_and_queued_status(client: httpx.AsyncClient):
    response = await client.post("/v1/messages", json={"to": "(415) 723-4567", "body": "Hello!"})
    assert response.status_code == 202
    message = response.json()
    assert message["id"].startswith("msg_")
    assert message["status"] == "queued"
    assert message["direction"] == "outbound"
    assert message["to"] == "+14157234567"
    assert message["from"] == "+12015550100"
    assert message["segments"] == 1
    assert message["encoding"] == "GSM-7"
    assert message["price_estimate"] == "0.0079"
    assert message["currency"] == "USD"


async def test_the_answer_to_a_send_is_the_message_as_a_read_shows_it(client: httpx.AsyncClient):
    # Scheduled, so the dispatcher leaves it as it was answered.
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    request = {"to": "+14157234568", "body": "Olá! Seu código é 1234", "send_at": later}
    answer = await client.post("/v1/messages", json=request, headers={"Idempotency-Key": "k-1"})
    read = (await client.get(f"/v1/messages/{answer.json()['id']}")).json()
    assert answer.status_code == 202
    assert {**answer.json(), "events": None} == {**read, "events": None}
    replay = await client.post("/v1/messages", json=request, headers={"Idempotency-Key": "k-1"})
    assert replay.json() == answer.json()


async def test_long_unicode_text_counts_parts_and_prices_each(client: httpx.AsyncClient):
    body = "Promoção de verão! " * 5  # 95 characters with ç and ã: UCS-2, two parts
    message = (
        await client.post("/v1/messages", json={"to": "+5511912345678", "body": body})
    ).json()
    assert message["encoding"] == "UCS-2"
    assert message["segments"] == 2
    assert message["price_estimate"] == "0.07"


async def test_same_idempotency_key_and_body_returns_the_same_message(
    client: httpx.AsyncClient, scalar
):
    payload = {"to": "+14157234567", "body": "Your code is 1234"}
    headers = {"Idempotency-Key": "order-42"}
    first = await client.post("/v1/messages", json=payload, headers=headers)
    second = await client.post("/v1/messages", json=payload, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await scalar("SELECT count(*) FROM messages") == 1


async def test_a_retry_gets_its_text_back_even_after_the_recipient_opted_out(
    client: httpx.AsyncClient, scalar
):
    """A client that lost the first answer retries with the same key: it must learn that
    the text was accepted, not that the number now refuses texts."""
    payload = {"to": "+14157234568", "body": "Your order shipped"}
    headers = {"Idempotency-Key": "order-44"}
    first = await client.post("/v1/messages", json=payload, headers=headers)
    contact_id = await scalar("SELECT contact_id FROM messages")
    opted_out = await client.post(f"/v1/contacts/{contact_id}/opt-out", json={})
    assert opted_out.status_code == 200, opted_out.text
    retry = await client.post("/v1/messages", json=payload, headers=headers)
    assert retry.status_code == 202
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    fresh = await client.post("/v1/messages", json=payload, headers={"Idempotency-Key": "new"})
    assert fresh.status_code == 409 and fresh.json()["error"]["field"] == "to"
    assert await scalar("SELECT count(*) FROM messages") == 1


async def test_same_idempotency_key_with_another_body_is_a_409(client: httpx.AsyncClient):
    headers = {"Idempotency-Key": "order-43"}
    await client.post("/v1/messages", json={"to": "+14157234567", "body": "A"}, headers=headers)
    response = await client.post(
        "/v1/messages", json={"to": "+14157234567", "body": "B"}, headers=headers
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert response.json()["error"]["field"] == "Idempotency-Key"


async def test_concurrent_requests_with_one_key_store_one_message(
    client: httpx.AsyncClient, scalar
):
    payload = {"to": "+14157234567", "body": "Once only"}
    headers = {"Idempotency-Key": "burst-1"}
    responses = await asyncio.gather(
        *[client.post("/v1/messages", json=payload, headers=headers) for _ in range(8)]
    )
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await scalar("SELECT count(*) FROM messages") == 1


async def test_invalid_number_is_rejected_with_the_reason(client: httpx.AsyncClient):
    response = await client.post("/v1/messages", json={"to": "12345", "body": "Hi"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_phone_number"
    assert "12345" in error["message"]


async def test_missing_body_and_unknown_sender_say_what_to_fix(client: httpx.AsyncClient):
    empty = await client.post("/v1/messages", json={"to": "+14157234567", "body": "  "})
    assert empty.status_code == 422
    assert empty.json()["error"]["field"] == "body"
    sender = await client.post(
        "/v1/messages", json={"to": "+14157234567", "body": "Hi", "from": "+15005550006"}
    )
    assert sender.status_code == 422
    assert sender.json()["error"]["field"] == "from"
    assert "not a sender of this workspace" in sender.json()["error"]["message"]


async def test_malformed_json_and_unknown_fields_get_the_error_shape(client: httpx.AsyncClient):
    bad = await client.post(
        "/v1/messages", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_request"
    extra = await client.post("/v1/messages", json={"to": "+14157234567", "body": "x", "tpo": 1})
    assert extra.status_code == 422
    assert extra.json()["error"]["field"] == "tpo"


async def test_missing_or_wrong_key_is_401(client: httpx.AsyncClient):
    none = await client.get("/v1/messages", headers={"Authorization": ""})
    assert none.status_code == 401
    assert "Bearer" in none.json()["error"]["message"]
    wrong = await client.get("/v1/messages", headers={"Authorization": "Bearer rk_nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "unauthorized"


async def test_send_at_in_the_future_is_scheduled(client: httpx.AsyncClient):
    at = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    message = (
        await client.post(
            "/v1/messages", json={"to": "+14157234567", "body": "Later", "send_at": at}
        )
    ).json()
    assert message["status"] == "scheduled"
    naive = await client.post(
        "/v1/messages", json={"to": "+14157234567", "body": "x", "send_at": "2030-01-01T09:00:00"}
    )
    assert naive.status_code == 422
    assert naive.json()["error"]["field"] == "send_at"


async def test_message_is_delivered_through_the_simulator_with_a_timeline(
    client: httpx.AsyncClient, running: Platform
):
    sent = (await client.post("/v1/messages", json={"to": "+14157234567", "body": "Hi"})).json()
    running.dispatcher.notify()
    delivered = await wait_for_status(client, sent["id"], "delivered")
    assert [e["status"] for e in delivered["events"]] == [
        "accepted",
        "queued",
        "sending",
        "sent",
        "delivered",
    ]
    assert delivered["carrier_message_id"].startswith("sim-")
    assert delivered["delivered_at"] is not None


async def test_list_filters_by_status_and_pages_with_a_cursor(client: httpx.AsyncClient):
    for i in range(5):
        await client.post("/v1/messages", json={"to": "+14157234567", "body": f"n{i}"})
    first = (await client.get("/v1/messages", params={"limit": 2})).json()
    assert [m["body"] for m in first["data"]] == ["n4", "n3"]
    second = (
        await client.get("/v1/messages", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert [m["body"] for m in second["data"]] == ["n2", "n1"]
    delivered = (await client.get("/v1/messages", params={"status": "delivered"})).json()
    assert delivered["data"] == []
    bad = await client.get("/v1/messages", params={"status": "lost"})
    assert bad.status_code == 422
    naive = await client.get("/v1/messages", params={"created_after": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    assert naive.json()["error"]["field"] == "created_after"
    window = await client.get(
        "/v1/messages",
        params={"created_after": "2000-01-01T00:00:00Z", "created_before": "2000-01-02T00:00:00Z"},
    )
    assert window.json()["data"] == []


async def test_a_key_of_another_workspace_cannot_read_the_message(
    client: httpx.AsyncClient, other_workspace
):
    sent = (await client.post("/v1/messages", json={"to": "+14157234567", "body": "Mine"})).json()
    rival = {"Authorization": f"Bearer {other_workspace.api_key}"}
    assert (await client.get(f"/v1/messages/{sent['id']}", headers=rival)).status_code == 404
    listed = (await client.get("/v1/messages", headers=rival)).json()
    assert listed["data"] == []


async def test_one_idempotency_key_in_two_workspaces_makes_two_messages(
    client: httpx.AsyncClient, other_workspace, scalar
):
    payload = {"to": "+14157234567", "body": "Your code is 1234"}
    key = {"Idempotency-Key": "order-42"}
    rival = {"Authorization": f"Bearer {other_workspace.api_key}", **key}

    mine = await client.post("/v1/messages", json=payload, headers=key)
    theirs = await client.post("/v1/messages", json=payload, headers=rival)

    assert mine.status_code == theirs.status_code == 202
    assert "Idempotent-Replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
    assert await scalar("SELECT count(*) FROM messages") == 2
    assert (await client.get(f"/v1/messages/{theirs.json()['id']}")).status_code == 404


async def test_filtering_by_another_workspaces_contact_returns_nothing(
    client: httpx.AsyncClient, other_workspace
):
    mine = (await client.post("/v1/messages", json={"to": "+14157234567", "body": "A"})).json()
    rival = {"Authorization": f"Bearer {other_workspace.api_key}"}
    # The rival texts the same number: its own contact, its own message.
    await client.post("/v1/messages", json={"to": "+14157234567", "body": "B"}, headers=rival)

    by_rival = await client.get(
        "/v1/messages", params={"contact_id": mine["contact_id"]}, headers=rival
    )
    by_owner = await client.get("/v1/messages", params={"contact_id": mine["contact_id"]})

    assert by_rival.status_code == 200
    assert by_rival.json()["data"] == []
    assert [m["id"] for m in by_owner.json()["data"]] == [mine["id"]]


async def test_marketing_message_gets_the_opt_out_footer_once(client: httpx.AsyncClient):
    await opted_in(client, "+14157234567")
    with daytime():
        plain = await client.post(
            "/v1/messages",
            json={"to": "+14157234567", "body": "Acme: 20% off today", "category": "marketing"},
        )
        already = await client.post(
            "/v1/messages",
            json={
                "to": "+14157234567",
                "body": "Acme: 20% off. Reply STOP to opt out",
                "category": "marketing",
            },
        )
    assert plain.json()["body"] == "Acme: 20% off today\nReply STOP to opt out"
    assert already.json()["body"] == "Acme: 20% off. Reply STOP to opt out"
    transactional = await client.post(
        "/v1/messages", json={"to": "+14157234567", "body": "Your code is 1234"}
    )
    assert transactional.json()["body"] == "Your code is 1234"


async def test_smart_encoding_keeps_a_curly_quote_text_in_gsm7(client: httpx.AsyncClient):
    body = "It’s here — “today” only"
    raw = (await client.post("/v1/messages", json={"to": "+14157234567", "body": body})).json()
    assert raw["encoding"] == "UCS-2"
    smart = (
        await client.post(
            "/v1/messages", json={"to": "+14157234567", "body": body, "smart_encoding": True}
        )
    ).json()
    assert smart["encoding"] == "GSM-7"
    assert smart["body"] == 'It\'s here - "today" only'


async def test_marketing_links_become_tracked_short_links_counted_in_the_parts(
    client: httpx.AsyncClient,
):
    long_url = (
        "https://shop.acme.com/collections/summer-sale?utm_source=sms&utm_campaign=" + "x" * 60
    )
    await opted_in(client, "+14157234567")
    with daytime():
        message = (
            await client.post(
                "/v1/messages",
                json={
                    "to": "+14157234567",
                    "body": f"Acme: sale! {long_url}",
                    "category": "marketing",
                },
            )
        ).json()
    assert long_url not in message["body"]
    short = message["body"].split()[2]
    assert short.startswith("http://recado.test/l/") or "/l/" in short
    assert message["segments"] == 1  # measured on the short link, not the 140-character URL
    redirect = await client.get(short.split("recado.test", 1)[-1].split("127.0.0.1:8000", 1)[-1])
    assert redirect.status_code == 302
    assert redirect.headers["location"] == long_url
    clicks = (await client.get(f"/v1/messages/{message['id']}/clicks")).json()["data"]
    assert len(clicks) == 1


async def test_transactional_links_are_left_alone_unless_asked(client: httpx.AsyncClient):
    body = "Your order shipped: https://acme.com/track/123"
    plain = (await client.post("/v1/messages", json={"to": "+14157234567", "body": body})).json()
    assert plain["body"] == body
    tracked = (
        await client.post(
            "/v1/messages", json={"to": "+14157234567", "body": body, "track_links": True}
        )
    ).json()
    assert "https://acme.com/track/123" not in tracked["body"]


async def test_a_templated_body_is_personalized_for_the_recipient(client: httpx.AsyncClient):
    await client.put(
        "/v1/contacts/by-phone/+14157234567",
        json={"first_name": "ana", "attributes": {"tier": "gold"}},
    )
    message = (
        await client.post(
            "/v1/messages",
            json={
                "to": "+14157234567",
                "body": "Hi {{ first_name | title }}, your {{ attributes.tier }} code: {{ code }}",
                "context": {"code": "SAVE20"},
            },
        )
    ).json()
    assert message["body"] == "Hi Ana, your gold code: SAVE20"


async def test_a_template_that_would_send_a_blank_name_is_refused(client: httpx.AsyncClient):
    refused = await client.post(
        "/v1/messages", json={"to": "+14157230000", "body": "Hi {{ first_name }}, welcome!"}
    )
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "template_variables_missing"
    assert "first_name" in error["message"]
    defaulted = await client.post(
        "/v1/messages",
        json={"to": "+14157230000", "body": "Hi {{ first_name | default('there') }}, welcome!"},
    )
    assert defaulted.json()["body"] == "Hi there, welcome!"
    sandboxed = await client.post(
        "/v1/messages", json={"to": "+14157230000", "body": "{{ ''.__class__.__mro__ }}"}
    )
    assert sandboxed.status_code == 422


async def test_a_contact_keeps_hearing_from_the_same_sender(
    client: httpx.AsyncClient, platform: Platform, workspace
):
    await add_sender(platform, workspace.workspace.id, "+12015550111")
    first = await client.post(
        "/v1/messages", json={"to": "+14157234567", "body": "a", "from": "+12015550111"}
    )
    assert first.json()["from"] == "+12015550111"
    later = await client.post("/v1/messages", json={"to": "+14157234567", "body": "b"})
    assert later.json()["from"] == "+12015550111"
    stranger = await client.post("/v1/messages", json={"to": "+14157230001", "body": "c"})
    assert stranger.json()["from"] == "+12015550100"  # the workspace default


async def test_texts_sent_at_the_same_moment_are_each_stored_once_with_their_timeline(
    client: httpx.AsyncClient, scalar
):
    """The API stores texts that arrive together in one transaction: every request still
    gets its own message, and two texts to one new number make one contact."""
    numbers = [f"+1415723{n:04d}" for n in range(20)]
    responses = await asyncio.gather(
        *[
            client.post("/v1/messages", json={"to": number, "body": f"Hi {i}"})
            for i, number in enumerate(numbers * 2)
        ]
    )
    assert {r.status_code for r in responses} == {202}
    bodies = [r.json() for r in responses]
    assert len({b["id"] for b in bodies}) == 40
    assert await scalar("SELECT count(*) FROM messages") == 40
    assert await scalar("SELECT count(*) FROM contacts") == 20
    for first, second in zip(bodies[:20], bodies[20:], strict=True):
        assert first["contact_id"] == second["contact_id"]  # the same new contact
    assert await scalar("SELECT count(*) FROM message_events WHERE status = 'accepted'") == 40
    assert await scalar("SELECT count(*) FROM message_events WHERE status = 'queued'") == 40
    timeline = (await client.get(f"/v1/messages/{bodies[7]['id']}")).json()["events"]
    assert [e["status"] for e in timeline] == ["accepted", "queued"]


async def test_a_new_default_sender_applies_to_the_very_next_text(
    client: httpx.AsyncClient, platform: Platform, workspace
):
    """Senders are kept in memory between requests; a change made here is seen at once."""
    before = await client.post("/v1/messages", json={"to": "+14157230001", "body": "a"})
    assert before.json()["from"] == "+12015550100"
    await add_sender(platform, workspace.workspace.id, "+12015550199", default=True)
    after = await client.post("/v1/messages", json={"to": "+14157230002", "body": "b"})
    assert after.json()["from"] == "+12015550199"


async def test_a_revoked_key_is_refused_at_once_though_it_was_just_used(
    client: httpx.AsyncClient, platform: Platform, workspace
):
    async with platform.sessions() as session:
        key, plain = await create_api_key(session, system_actor(workspace.workspace.id), name="ci")
    headers = {"Authorization": f"Bearer {plain}"}
    sent = await client.post(
        "/v1/messages", json={"to": "+14157230001", "body": "a"}, headers=headers
    )
    assert sent.status_code == 202
    async with platform.sessions() as session:
        await revoke_api_key(session, system_actor(workspace.workspace.id), key.id)
    refused = await client.post(
        "/v1/messages", json={"to": "+14157230001", "body": "b"}, headers=headers
    )
    assert refused.status_code == 401


async def test_an_opted_out_number_among_texts_sent_together_is_the_only_one_refused(
    client: httpx.AsyncClient, scalar
):
    """Numbers are looked up in batches; the batch must still tell each number apart."""
    first = await client.post("/v1/messages", json={"to": "+14157230005", "body": "Hi"})
    opted_out = await client.post(f"/v1/contacts/{first.json()['contact_id']}/opt-out", json={})
    assert opted_out.status_code == 200, opted_out.text
    numbers = [f"+1415723{n:04d}" for n in range(10)]  # +14157230005 among them
    responses = await asyncio.gather(
        *[client.post("/v1/messages", json={"to": n, "body": "Sale"}) for n in numbers]
    )
    codes = {n: r.status_code for n, r in zip(numbers, responses, strict=True)}
    assert codes.pop("+14157230005") == 409
    assert set(codes.values()) == {202}
    assert responses[5].json()["error"]["field"] == "to"
    assert "opted out" in responses[5].json()["error"]["message"]
    assert await scalar("SELECT count(*) FROM messages") == 10
