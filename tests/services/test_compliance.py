"""Compliance end to end: consent, STOP/START/HELP by text, the send path's last check,
quiet hours, frequency caps, export and erasure. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
from consenting import CONSENT_TEXT, daytime, opted_in
from sqlalchemy import func, select

from recado.carriers.base import InboundSMS
from recado.db.tables import AuditEntry, Contact, Message, MessageEvent, Suppression
from recado.domain.inbound_pipeline import OPT_OUT_KEYWORDS, Stage
from recado.platform import Platform
from recado.services import compliance_inbound, inbound
from recado.services.workspaces import NewWorkspace

OUR_NUMBER = "+12015550100"
US_HANDSET = "+14157234567"
BR_HANDSET = "+5511912345678"
_texts = iter(range(1, 1_000_000))


async def text_in(platform: Platform, body: str, sender: str = US_HANDSET) -> Message:
    async with platform.sessions() as session:
        sms = InboundSMS("simulator", sender, OUR_NUMBER, body, f"mo-{next(_texts)}")
        message = await inbound.receive(session, sms)
    assert message is not None
    return message


async def replies_to(platform: Platform, phone: str) -> list[Message]:
    async with platform.sessions() as session:
        rows = await session.scalars(
            select(Message)
            .where(Message.direction == "outbound", Message.recipient == phone)
            .order_by(Message.id)
        )
        return list(rows)


async def contact_of(platform: Platform, phone: str) -> Contact:
    async with platform.sessions() as session:
        contact = await session.scalar(select(Contact).where(Contact.phone == phone))
    assert contact is not None
    return contact


async def marketing(api: httpx.AsyncClient, to: str = US_HANDSET, body: str = "Acme: 20% off"):
    return await api.post("/v1/messages", json={"to": to, "body": body, "category": "marketing"})


# Consent is needed for marketing, not for transactional texts.


async def test_marketing_to_a_number_without_recorded_consent_is_refused(client: httpx.AsyncClient):
    with daytime():
        refused = await marketing(client)
        transactional = await client.post(
            "/v1/messages", json={"to": US_HANDSET, "body": "Your order shipped"}
        )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "consent_required"
    assert "consent" in refused.json()["error"]["message"]
    assert transactional.status_code == 202


async def test_recorded_consent_is_shown_with_its_history_and_allows_marketing(
    client: httpx.AsyncClient,
):
    contact_id = await opted_in(client, US_HANDSET)
    with daytime():
        accepted = await marketing(client)
    assert accepted.status_code == 202
    contact = (await client.get(f"/v1/contacts/{contact_id}")).json()
    assert contact["marketing_consent"] is True and contact["opted_out"] is False
    history = (await client.get(f"/v1/contacts/{contact_id}/consents")).json()
    [record] = history["consents"]
    assert record["action"] == "granted"
    assert record["source"] == "signup_form"
    assert record["consent_text"] == CONSENT_TEXT
    assert record["recorded_by"].startswith("api_key:")


# STOP and its kin.


async def test_stop_reply_opts_out_in_the_transaction_that_stores_it_and_confirms_once(
    platform: Platform, client: httpx.AsyncClient
):
    contact_id = await opted_in(client, US_HANDSET)
    stop = await text_in(platform, "Stop please!")
    contact = await contact_of(platform, US_HANDSET)
    assert contact.opted_out_at is not None and contact.opted_out_at >= stop.created_at
    assert contact.consented_at is None
    [confirmation] = await replies_to(platform, US_HANDSET)
    assert confirmation.category == "compliance"
    assert "unsubscribed" in confirmation.body and "START" in confirmation.body
    await text_in(platform, "STOP")  # a second STOP: no second confirmation
    assert len(await replies_to(platform, US_HANDSET)) == 1
    history = (await client.get(f"/v1/contacts/{contact_id}/consents")).json()
    assert [r["action"] for r in history["consents"]] == ["granted", "revoked"]
    assert history["opted_out"] is True


async def test_an_opt_out_is_stored_with_the_text_even_if_the_reply_stage_breaks(
    platform: Platform,
    workspace: NewWorkspace,
):
    async def broken(context: object) -> None:
        raise RuntimeError("reply stage bug")

    pipeline = inbound.PIPELINE.copy()
    pipeline.register(Stage(OPT_OUT_KEYWORDS, broken))
    async with platform.sessions() as session:
        sms = InboundSMS("simulator", US_HANDSET, OUR_NUMBER, "STOP", "mo-broken")
        assert await inbound.receive(session, sms, pipeline=pipeline) is not None
    assert (await contact_of(platform, US_HANDSET)).opted_out_at is not None
    assert await replies_to(platform, US_HANDSET) == []


async def test_a_broken_compliance_step_still_stores_the_text_for_an_agent(
    platform: Platform, workspace: NewWorkspace, monkeypatch
):
    async def broken(*args: object) -> None:
        raise RuntimeError("compliance bug")

    monkeypatch.setattr(compliance_inbound, "on_store", broken)
    message = await text_in(platform, "STOP")
    async with platform.sessions() as session:
        assert await session.get(Message, message.id) is not None
        details = list(
            await session.scalars(
                select(MessageEvent.detail).where(MessageEvent.message_id == message.id)
            )
        )
    assert any("compliance step failed" in (d or "") for d in details)


async def test_after_stop_the_api_refuses_every_text_to_the_number(
    platform: Platform, client: httpx.AsyncClient
):
    await opted_in(client, US_HANDSET)
    await text_in(platform, "UNSUBSCRIBE")
    with daytime():
        promo = await marketing(client)
        receipt = await client.post("/v1/messages", json={"to": US_HANDSET, "body": "Receipt"})
    assert promo.status_code == receipt.status_code == 409
    assert promo.json()["error"]["code"] == "recipient_opted_out"
    assert "START" in promo.json()["error"]["message"]
    check = (await client.get("/v1/suppressions/check", params={"phone": "(415) 723-4567"})).json()
    assert check == {"phone": US_HANDSET, "suppressed": True, "reason": "opt_out"}


async def test_a_queued_marketing_text_is_canceled_by_the_last_check_after_stop(
    running: Platform, client: httpx.AsyncClient
):
    await opted_in(client, US_HANDSET)
    later = datetime(2026, 6, 10, 17, 30, tzinfo=UTC).isoformat()
    with daytime():
        queued = (
            await client.post(
                "/v1/messages",
                json={
                    "to": US_HANDSET,
                    "body": "Acme: flash sale",
                    "category": "marketing",
                    "send_at": later,
                },
            )
        ).json()
        await text_in(running, "Cancelar")
    with daytime(datetime(2026, 6, 10, 17, 31, tzinfo=UTC)):
        body: dict = {}
        for _ in range(200):
            body = (await client.get(f"/v1/messages/{queued['id']}")).json()
            if body["status"] == "canceled":
                break
            await asyncio.sleep(0.02)
    assert body["status"] == "canceled"
    assert body["error_code"] == "recipient_opted_out"


async def test_portuguese_stop_gets_a_portuguese_confirmation(
    platform: Platform,
    workspace: NewWorkspace,
):
    await text_in(platform, "Pare por favor", sender=BR_HANDSET)
    [confirmation] = await replies_to(platform, BR_HANDSET)
    assert "descadastrado" in confirmation.body and "VOLTAR" in confirmation.body


async def test_a_reply_that_means_stop_texting_me_opts_out_too(
    platform: Platform,
    workspace: NewWorkspace,
):
    await text_in(platform, "please stop texting me, I never signed up")
    assert (await contact_of(platform, US_HANDSET)).opted_out_at is not None


async def test_a_happy_reply_that_mentions_stop_is_not_an_opt_out(
    platform: Platform,
    workspace: NewWorkspace,
):
    message = await text_in(platform, "don't stop the deals, love them!")
    assert (await contact_of(platform, US_HANDSET)).opted_out_at is None
    assert await replies_to(platform, US_HANDSET) == []
    async with platform.sessions() as session:
        flagged = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "opt_out.flagged")
        )
    assert flagged == 0
    assert message.status == "received"


# START and HELP.


async def test_start_lifts_the_opt_out_restores_the_lists_and_confirms(
    platform: Platform, client: httpx.AsyncClient
):
    newsletter = (await client.post("/v1/lists", json={"name": "Newsletter"})).json()
    contact_id = await opted_in(client, US_HANDSET, list_id=newsletter["id"])
    await text_in(platform, "STOP")
    lists = (await client.get(f"/v1/contacts/{contact_id}")).json()["lists"]
    assert [entry["status"] for entry in lists] == ["opted_out"]
    await text_in(platform, "start")
    contact = (await client.get(f"/v1/contacts/{contact_id}")).json()
    assert contact["opted_out"] is False and contact["marketing_consent"] is True
    assert [entry["status"] for entry in contact["lists"]] == ["subscribed"]
    replies = await replies_to(platform, US_HANDSET)
    assert "subscribed again" in replies[-1].body


async def test_help_answers_with_the_program_contact_and_rates(
    platform: Platform, client: httpx.AsyncClient
):
    await client.patch(
        "/v1/workspace/settings",
        json={"program_name": "Acme Deals", "help_contact": "help@acme.test"},
    )
    await text_in(platform, "HELP")
    [answer] = await replies_to(platform, US_HANDSET)
    assert answer.body.startswith("Acme Deals:")
    assert "help@acme.test" in answer.body and "Msg&data rates may apply" in answer.body
    assert (await contact_of(platform, US_HANDSET)).opted_out_at is None


async def test_nobody_but_the_person_can_lift_an_opt_out(
    platform: Platform, client: httpx.AsyncClient
):
    contact_id = await opted_in(client, US_HANDSET)
    await text_in(platform, "STOP")
    for source in ("api", "signup_form", "keyword"):  # whatever the caller says it was
        again = await client.post(
            f"/v1/contacts/{contact_id}/consents",
            json={"consent_text": CONSENT_TEXT, "source": source},
        )
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "recipient_opted_out"
    assert (await client.get(f"/v1/contacts/{contact_id}")).json()["opted_out"] is True


# Quiet hours and frequency caps.


async def test_marketing_at_night_is_deferred_to_the_next_morning_not_dropped(
    client: httpx.AsyncClient,
):
    await opted_in(client, US_HANDSET)  # San Francisco
    # 06:30 UTC is 23:30 in San Francisco: the next allowed moment is 08:00 there.
    with daytime(datetime(2026, 6, 10, 6, 30, tzinfo=UTC)):
        promo = (await marketing(client)).json()
        otp = (
            await client.post("/v1/messages", json={"to": US_HANDSET, "body": "Code 123456"})
        ).json()
    assert promo["status"] == "scheduled"
    assert promo["send_at"] == "2026-06-10T15:00:00Z"  # 08:00 PDT
    assert otp["status"] == "queued"  # transactional texts are not deferred
    timeline = (await client.get(f"/v1/messages/{promo['id']}")).json()["events"]
    assert "quiet hours" in timeline[-1]["detail"]


async def test_the_fourth_marketing_text_in_a_day_is_refused_by_the_cap(
    running: Platform, client: httpx.AsyncClient
):
    await opted_in(client, US_HANDSET)
    with daytime():
        sent = [(await marketing(client, body=f"Acme: deal {n}")).json() for n in range(3)]
        for message in sent:
            for _ in range(200):
                status = (await client.get(f"/v1/messages/{message['id']}")).json()["status"]
                if status == "delivered":
                    break
                await asyncio.sleep(0.02)
        fourth = await marketing(client, body="Acme: deal 4")
    assert fourth.status_code == 409
    assert fourth.json()["error"]["code"] == "frequency_capped"
    assert "24 hours" in fourth.json()["error"]["message"]


# Data rights.


async def test_export_holds_everything_about_the_contact_and_is_audited(
    platform: Platform, client: httpx.AsyncClient
):
    contact_id = await opted_in(client, US_HANDSET)
    await text_in(platform, "Hi, when do you open?")
    export = (await client.get(f"/v1/contacts/{contact_id}/export")).json()
    assert export["contact"]["phone"] == US_HANDSET
    assert [c["consent_text"] for c in export["consents"]] == [CONSENT_TEXT]
    assert [m["body"] for m in export["messages"]] == ["Hi, when do you open?"]
    log = (await client.get("/v1/audit-log", params={"contact_id": contact_id})).json()["data"]
    assert [entry["action"] for entry in log] == ["contact.exported", "consent.granted"]


async def test_an_erased_contact_leaves_only_a_hash_and_its_number_stays_suppressed(
    platform: Platform, client: httpx.AsyncClient
):
    contact_id = await opted_in(client, US_HANDSET)
    message = await text_in(platform, "My address is 1 Main St")
    assert (await client.post(f"/v1/contacts/{contact_id}/erase")).status_code == 204
    assert (await client.get(f"/v1/contacts/{contact_id}")).status_code == 404
    async with platform.sessions() as session:
        stored = await session.get(Message, message.id)
        assert stored is not None and stored.body == "[erased]" and stored.sender == "[erased]"
        [suppressed] = list(await session.scalars(select(Suppression)))
    assert suppressed.reason == "erased" and US_HANDSET not in suppressed.phone_hash
    # Imported again by mistake: the number still gets nothing, and consent cannot be claimed.
    again = (await client.post("/v1/contacts", json={"phone": US_HANDSET})).json()
    refused = await client.post(
        f"/v1/contacts/{again['id']}/consents", json={"consent_text": CONSENT_TEXT}
    )
    assert refused.json()["error"]["code"] == "recipient_opted_out"
    receipt = await client.post("/v1/messages", json={"to": US_HANDSET, "body": "Receipt"})
    assert receipt.json()["error"]["code"] == "recipient_opted_out"
    log = (await client.get("/v1/audit-log")).json()["data"]
    assert log[0]["action"] == "contact.erased"


async def test_another_workspace_cannot_see_or_change_a_contacts_consent(
    client: httpx.AsyncClient, other_workspace: NewWorkspace
):
    contact_id = await opted_in(client, US_HANDSET)
    rival = {"Authorization": f"Bearer {other_workspace.api_key}"}
    for method, path in [
        ("GET", f"/v1/contacts/{contact_id}/consents"),
        ("POST", f"/v1/contacts/{contact_id}/opt-out"),
        ("GET", f"/v1/contacts/{contact_id}/export"),
        ("POST", f"/v1/contacts/{contact_id}/erase"),
    ]:
        response = await client.request(method, path, headers=rival)
        assert response.status_code == 404, (method, path)
    assert (await client.get("/v1/audit-log", headers=rival)).json()["data"] == []
    assert (await client.get(f"/v1/contacts/{contact_id}")).json()["marketing_consent"] is True
