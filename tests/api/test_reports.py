"""Campaign reports and daily analytics over HTTP: JSON, CSV files, and workspace walls."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from campaign_rows import Rows


async def a_sent_campaign(platform, workspace, recipients=3):
    sent = datetime.now(UTC) - timedelta(hours=1)
    async with platform.sessions() as session:
        rows = Rows(session, workspace.workspace.id)
        campaign = await rows.campaign("Spring sale")
        messages = [
            await rows.message(campaign, await rows.contact(), sent_at=sent)
            for _ in range(recipients)
        ]
        await rows.click(messages[0], sent + timedelta(minutes=2))
        await rows.skip(campaign, await rows.contact(), "no_consent")
        await session.commit()
        return campaign


async def test_the_report_answers_json_with_totals_and_hours(client, platform, workspace):
    campaign = await a_sent_campaign(platform, workspace)
    answer = await client.get(f"/v1/campaigns/{campaign.id}/report")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["campaign"]["name"] == "Spring sale"
    totals = report["totals"]
    assert (totals["audience"], totals["sent"], totals["delivered"]) == (4, 3, 3)
    assert (totals["unique_clicks"], totals["click_rate"]) == (1, 0.3333)
    assert totals["cost"] == [{"currency": "USD", "amount": "0.0225", "micros": 22_500}]
    assert sum(hour["sent"] for hour in report["hourly"]) == 3


async def test_the_report_csv_has_a_row_for_the_campaign(client, platform, workspace):
    campaign = await a_sent_campaign(platform, workspace)
    answer = await client.get(f"/v1/campaigns/{campaign.id}/report.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(answer.text)))
    assert (row["scope"], row["sent"], row["unique_clicks"], row["cost"]) == (
        "campaign",
        "3",
        "1",
        "USD 0.0225",
    )


async def test_the_recipients_csv_is_streamed_as_a_download(client, platform, workspace):
    campaign = await a_sent_campaign(platform, workspace, recipients=5)
    async with client.stream("GET", f"/v1/campaigns/{campaign.id}/recipients.csv") as answer:
        assert answer.status_code == 200
        assert "attachment" in answer.headers["content-disposition"]
        text = "".join([chunk async for chunk in answer.aiter_text()])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["status"] for r in rows] == ["delivered"] * 5 + ["skipped"]
    assert sum(r["clicked"] == "yes" for r in rows) == 1


async def test_another_workspaces_campaign_answers_404(
    client, platform, workspace, other_workspace
):
    async with platform.sessions() as session:
        theirs = await Rows(session, other_workspace.workspace.id).campaign()
        await session.commit()
    for path in ("report", "report.csv", "recipients.csv"):
        answer = await client.get(f"/v1/campaigns/{theirs.id}/{path}")
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "not_found"


async def test_daily_analytics_give_one_entry_per_day(client, platform, workspace):
    await a_sent_campaign(platform, workspace)
    answer = await client.get("/v1/analytics/daily", params={"days": 7})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert len(data["data"]) == 7
    assert data["totals"]["sent"] == 3 and data["totals"]["clicks"] == 1
    too_many = await client.get("/v1/analytics/daily", params={"days": 1000})
    assert too_many.status_code == 422
    assert too_many.json()["error"]["field"] == "days"
