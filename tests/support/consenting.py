"""Test helpers for compliance: a contact with recorded consent, and a daytime clock.

Marketing texts need recorded consent and a moment inside the recipient's quiet-hours
window; tests about something else use these to meet both honestly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import time_machine

# 17:00 UTC on a Wednesday: 13:00 in New York, 10:00 in Los Angeles, 14:00 in São Paulo.
DAYTIME = datetime(2026, 6, 10, 17, 0, tzinfo=UTC)
CONSENT_TEXT = "Yes, text me offers from Acme. Up to 4 msgs/month. Reply STOP to cancel."


async def opted_in(api: httpx.AsyncClient, phone: str, *, list_id: str | None = None) -> str:
    """Create (or find) the contact with this number and record its opt-in; its id."""
    contact = await api.put(f"/v1/contacts/by-phone/{phone}", json={})
    assert contact.status_code in (200, 201), contact.text
    contact_id: str = contact.json()["id"]
    payload: dict[str, str] = {"consent_text": CONSENT_TEXT, "source": "signup_form"}
    if list_id:
        payload["list_id"] = list_id
    granted = await api.post(f"/v1/contacts/{contact_id}/consents", json=payload)
    assert granted.status_code == 201, granted.text
    return contact_id


@contextmanager
def daytime(at: datetime = DAYTIME) -> Iterator[None]:
    """The clock at a weekday afternoon in the Americas, ticking on from there."""
    with time_machine.travel(at, tick=True):
        yield
