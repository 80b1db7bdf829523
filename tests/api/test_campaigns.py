"""/v1/campaigns: a marketer drafts, reviews, launches, pauses, resumes and cancels."""

from __future__ import annotations

import httpx

from recado.platform import Platform
from tests.support.consenting import opted_in


async def _audience(client: httpx.AsyncClient, phones: list[str]) -> str:
    created = await client.post("/v1/lists", json={"name": "Customers"})
    list_id: str = created.json()["id"]
    for phone in phones:
        await opted_in(client, phone, list_id=list_id)
    return list_id


async def _draft(client: httpx.AsyncClient, list_id: str, **fields: object) -> dict[str, object]:
    created = await client.post(
        "/v1/campaigns",
        json={
            "name": "Weekend sale",
            "body": "Acme: Hi {{ first_name | default('there') }}, 20% off at https://acme.com",
            "audience": {"lists": [list_id]},
            **fields,
        },
    )
    assert created.status_code == 201, created.text
    campaign: dict[str, object] = created.json()
    return campaign


async def test_a_draft_is_created_read_listed_and_edited(client: httpx.AsyncClient) -> None:
    list_id = await _audience(client, [])
    campaign = await _draft(client, list_id)

    assert campaign["status"] == "draft"
    assert campaign["audience"] == {
        "lists": [list_id],
        "segments": [],
        "exclude_lists": [],
        "exclude_segments": [],
    }
    edited = await client.put(
        f"/v1/campaigns/{campaign['id']}",
        json={"name": "Sunday sale", "body": "Acme: sale", "audience": {"lists": [list_id]}},
    )
    assert edited.json()["name"] == "Sunday sale"
    listed = await client.get("/v1/campaigns")
    assert [c["name"] for c in listed.json()["data"]] == ["Sunday sale"]


async def test_a_template_error_or_unknown_list_is_refused_with_the_field(
    client: httpx.AsyncClient,
) -> None:
    broken = await client.post(
        "/v1/campaigns",
        json={"name": "x", "body": "Hi {{ first_name ", "audience": {"lists": []}},
    )
    unknown = await client.post(
        "/v1/campaigns",
        json={"name": "x", "body": "Hi", "audience": {"lists": ["lst_nope"]}},
    )

    assert broken.status_code == 422
    assert broken.json()["error"]["field"] == "body"
    assert unknown.status_code == 422
    assert "lst_nope" in unknown.json()["error"]["message"]


async def test_review_shows_recipients_skips_parts_and_cost(client: httpx.AsyncClient) -> None:
    list_id = await _audience(client, ["+12025550141", "+12025550142"])
    stranger = await client.put("/v1/contacts/by-phone/+12025550143", json={})
    await client.post(f"/v1/lists/{list_id}/members", json={"contact_ids": [stranger.json()["id"]]})
    campaign = await _draft(client, list_id)

    review = (await client.get(f"/v1/campaigns/{campaign['id']}/review")).json()

    assert review["ready"] is True
    assert review["audience"] == 3
    assert review["recipients"] == 2
    assert review["skipped"] == {"no_consent": 1}
    sample = review["samples"][0]
    assert sample["text"].startswith("Acme: Hi there, 20% off at http://")
    assert sample["encoding"] == "GSM-7" and sample["parts"] >= 1
    assert review["cost"]["messages"] == 2
    assert float(review["cost"]["totals"]["USD"]) > 0


async def test_an_empty_audience_cannot_be_launched(client: httpx.AsyncClient) -> None:
    list_id = await _audience(client, [])
    campaign = await _draft(client, list_id)

    review = (await client.post(f"/v1/campaigns/{campaign['id']}/review")).json()
    launched = await client.post(f"/v1/campaigns/{campaign['id']}/launch")

    assert review["ready"] is False and review["refusals"]
    assert launched.status_code == 409
    assert launched.json()["error"]["code"] == "campaign_not_ready"


async def test_launch_pause_resume_and_cancel_show_in_progress(
    platform: Platform, client: httpx.AsyncClient
) -> None:
    list_id = await _audience(client, ["+12025550151", "+12025550152", "+12025550153"])
    campaign = await _draft(client, list_id)
    path = f"/v1/campaigns/{campaign['id']}"

    launched = await client.post(f"{path}/launch")
    assert launched.json()["status"] == "sending"
    await platform.campaign_timers.run_once()  # the worker's fan-out
    assert (await client.get(f"{path}/progress")).json()["messages"] == {"queued": 3}

    assert (await client.post(f"{path}/pause")).json()["status"] == "paused"
    assert (await client.get(f"{path}/progress")).json()["messages"] == {"paused": 3}
    assert (await client.post(f"{path}/resume")).json()["status"] == "sending"
    assert (await client.get(f"{path}/progress")).json()["messages"] == {"queued": 3}

    canceled = await client.post(f"{path}/cancel", json={"reason": "wrong price"})
    assert canceled.json()["status"] == "canceled"
    progress = (await client.get(f"{path}/progress")).json()
    assert progress["messages"] == {"canceled": 3} and progress["pending"] == 0
    messages = (await client.get("/v1/messages", params={"status": "canceled"})).json()["data"]
    assert {m["error_message"] for m in messages} == {"wrong price"}
    assert (await client.post(f"{path}/resume")).status_code == 409


async def test_a_campaign_of_another_workspace_is_not_found(
    client: httpx.AsyncClient, other_workspace: object
) -> None:
    from recado.services.workspaces import NewWorkspace

    assert isinstance(other_workspace, NewWorkspace)
    list_id = await _audience(client, [])
    campaign = await _draft(client, list_id)
    other = await client.get(
        f"/v1/campaigns/{campaign['id']}",
        headers={"Authorization": f"Bearer {other_workspace.api_key}"},
    )
    assert other.status_code == 404
