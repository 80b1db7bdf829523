"""The race that matters most: recipients reply STOP while their campaign is dispatching.

10,000 marketing texts are queued and the real dispatcher sends them; meanwhile 1,000 of the
recipients text STOP at random moments through the real inbound path. Afterwards no text to
any of them may have been marked `sending` (the point of no return, right before the carrier
call) after their STOP was stored, and each of their texts is either sent before it or
canceled with the reason.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime

from consenting import daytime
from sqlalchemy import insert, select, update

from recado.carriers.base import InboundSMS, OutboundSMS, SubmitResult
from recado.carriers.simulator import SimulatorConnector
from recado.db.tables import Contact, Message, MessageEvent, Sender, utcnow
from recado.delivery.dispatcher import Dispatcher
from recado.ids import new_id
from recado.platform import Platform
from recado.services import inbound
from recado.services.workspaces import NewWorkspace

RECIPIENTS = 10_000
STOPPERS = 1_000
OUR_NUMBER = "+12015550100"


class RecordingCarrier(SimulatorConnector):
    """The simulator, remembering every text it was handed."""

    def __init__(self) -> None:
        super().__init__("recording", {"delivery_delay_seconds": 0.0})
        self.submitted: list[str] = []

    async def submit(self, sms: OutboundSMS) -> SubmitResult:
        self.submitted.append(sms.message_id)
        return await super().submit(sms)


async def queue_campaign(platform: Platform, workspace_id: str) -> list[str]:
    now = utcnow()
    phones = [f"+1415723{n:04d}" for n in range(RECIPIENTS)]
    contacts, messages = [], []
    for phone in phones:
        contact_id = new_id("ct")
        contacts.append(
            {
                "id": contact_id,
                "workspace_id": workspace_id,
                "phone": phone,
                "region": "US",
                "timezone": "America/Los_Angeles",
                "timezone_explicit": False,
                "attributes": {},
                "consented_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
        message_id = new_id("msg")
        messages.append(
            {
                "id": message_id,
                "workspace_id": workspace_id,
                "contact_id": contact_id,
                "direction": "outbound",
                "sender": OUR_NUMBER,
                "recipient": phone,
                "body": "Acme: 20% off today. Reply STOP to opt out",
                "media_urls": [],
                "category": "marketing",
                "status": "queued",
                "idempotency_key": message_id,
                "encoding": "GSM-7",
                "segments": 1,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    async with platform.sessions() as session:
        await session.execute(insert(Contact), contacts)
        await session.execute(insert(Message), messages)
        await session.execute(
            update(Sender).where(Sender.workspace_id == workspace_id).values(rate_limit_mps=5000)
        )
        await session.commit()
    return phones


async def test_no_text_goes_out_after_its_recipients_stop_was_stored(
    platform: Platform, workspace: NewWorkspace
):
    with daytime():
        phones = await queue_campaign(platform, workspace.workspace.id)
        stoppers = random.Random(7).sample(phones, STOPPERS)
        carrier = RecordingCarrier()
        await carrier.start(platform.carrier_events)
        dispatcher = Dispatcher(platform.sessions, carrier, batch_size=200)
        dispatching = asyncio.create_task(_dispatch_all(dispatcher))

        async def stop(phone: str, n: int) -> None:
            async with platform.sessions() as session:
                sms = InboundSMS("simulator", phone, OUR_NUMBER, "STOP", f"stop-{n}")
                assert await inbound.receive(session, sms) is not None

        # STOPs arrive one by one while the campaign goes out.
        for n, phone in enumerate(stoppers):
            await stop(phone, n)
            await asyncio.sleep(random.random() * 0.004)
        await dispatching
        await carrier.stop()

    async with platform.sessions() as session:
        rows = await session.execute(
            select(Message.id, Message.recipient, Message.status, Message.error_code).where(
                Message.category == "marketing"
            )
        )
        outcome = {r.recipient: r for r in rows}
        opted_out = {
            phone: at
            for phone, at in await session.execute(select(Contact.phone, Contact.opted_out_at))
        }
        marked: dict[str, datetime] = {
            message_id: at
            for message_id, at in await session.execute(
                select(MessageEvent.message_id, MessageEvent.created_at).where(
                    MessageEvent.status == "sending"
                )
            )
        }
    assert len(set(carrier.submitted)) == len(carrier.submitted)  # nothing handed over twice
    campaign = {m.id for m in outcome.values()}
    submitted = {i for i in carrier.submitted if i in campaign}  # not the STOP confirmations
    late, canceled = [], 0
    for phone in stoppers:
        message = outcome[phone]
        stored = opted_out[phone]
        assert stored is not None
        if message.id in submitted:
            if marked[message.id] >= stored:
                late.append(phone)
        else:
            assert (message.status, message.error_code) == ("canceled", "recipient_opted_out")
            canceled += 1
    assert late == []
    # The race was real: some stoppers were reached before their STOP, some were saved by it.
    assert 0 < canceled < STOPPERS
    others = set(phones) - set(stoppers)
    assert all(outcome[p].id in submitted for p in others)
    assert len(submitted) == RECIPIENTS - canceled


async def _dispatch_all(dispatcher: Dispatcher) -> None:
    while await dispatcher.run_once():
        await asyncio.sleep(0)  # let the STOPs in between batches as well as within them
