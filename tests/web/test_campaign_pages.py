"""The campaign pages: the builder saves a draft step by step, the live counter and the review
say what a launch would send, the launch and its controls, the results and their exports."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from recado.db.tables import Click, Message
from recado.platform import Platform
from recado.services import (
    campaigns,
    compliance_admin,
    consent,
    contacts,
    links,
    lists,
    segments,
)
from recado.services.actor import system_actor
from recado.services.workspaces import NewWorkspace
from tests.support.consenting import daytime
from tests.web.conftest import Browser

PORTUGUESE = (
    "Olá! A promoção de verão começou: 20% de desconto em toda a loja até domingo. "
    "Responda SAIR para sair"
)


async def _audience(platform: Platform, workspace: NewWorkspace) -> str:
    """A list with two opted-in members (Ana first), one without consent, and one who opted
    out (and so left the list)."""
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        people = [
            await contacts.create_contact(
                session, actor, contacts.ContactChanges(phone=phone, first_name=name)
            )
            for phone, name in (
                ("+14157230001", "Ana"),
                ("+14157230002", "Bruno"),
                ("+14157230003", "Carla"),
                ("+14157230004", "Davi"),
            )
        ]
        ids = [p.contact.id for p in people]
        newsletter = await lists.create_list(session, actor, name="Newsletter")
        list_id = newsletter.contact_list.id
        await lists.add_members(
            session,
            actor,
            list_id,
            contact_ids=[ids[0], ids[1], ids[3]],
            claim=consent.ConsentClaim(source="ui", consent_text="Said yes at the till"),
        )
        await lists.add_members(session, actor, list_id, contact_ids=[ids[2]])
        await compliance_admin.opt_out(session, actor, ids[3])
    return list_id


async def _draft(platform: Platform, workspace: NewWorkspace, list_id: str, body: str) -> str:
    async with platform.sessions() as session:
        created = await campaigns.create_campaign(
            session,
            system_actor(workspace.workspace.id),
            campaigns.CampaignInput(name="Verão", body=body, audience={"lists": [list_id]}),
        )
    return created.id


async def _campaign(platform: Platform, workspace: NewWorkspace, campaign_id: str):  # type: ignore[no-untyped-def]
    async with platform.sessions() as session:
        return await campaigns.get_campaign(
            session, system_actor(workspace.workspace.id), campaign_id
        )


async def test_the_builder_steps_save_a_draft(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    list_id = await _audience(platform, workspace)
    new = await owner.get("/app/campaigns/new")
    assert new.status_code == 200 and "Newsletter" in new.text

    audience = await owner.post(
        "/app/campaigns/new", {"name": "Promoção de verão", "lists": list_id}
    )
    assert audience.status_code == 303
    message_page = await owner.get(audience.headers["location"])
    assert message_page.status_code == 200
    carried = parse_qs(urlsplit(audience.headers["location"]).query)
    created = await owner.post(
        "/app/campaigns/new/message",
        {"name": carried["name"][0], "lists": carried["lists"][0], "body": PORTUGUESE},
    )
    assert created.status_code == 303
    found = re.match(r"/app/campaigns/(cmp_[a-z0-9]+)/variants$", created.headers["location"])
    assert found, created.headers["location"]
    campaign_id = found.group(1)
    variants = await owner.post(f"/app/campaigns/{campaign_id}/variants", {"variant_body": ""})
    schedule = await owner.post(
        f"/app/campaigns/{campaign_id}/schedule",
        {"schedule_kind": "now", "throttle_per_minute": "120"},
    )

    assert variants.headers["location"] == f"/app/campaigns/{campaign_id}/schedule"
    assert schedule.headers["location"] == f"/app/campaigns/{campaign_id}/review"
    draft = await _campaign(platform, workspace, campaign_id)
    assert draft.status == "draft"
    assert draft.name == "Promoção de verão"
    assert draft.body == PORTUGUESE
    assert draft.audience["lists"] == [list_id]
    assert draft.throttle_per_minute == 120
    listing = await owner.get("/app/campaigns")
    assert "Promoção de verão" in listing.text and ">draft<" in listing.text


async def test_an_ab_test_is_saved_with_its_variants(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    list_id = await _audience(platform, workspace)
    campaign_id = await _draft(platform, workspace, list_id, "Sale today")
    await owner.get(f"/app/campaigns/{campaign_id}/variants")

    saved = await owner.client.post(
        f"/app/campaigns/{campaign_id}/variants",
        data={
            "csrf_token": owner.token,
            "variant_body": ["Sale today, 20% off", "Last day: 20% off", ""],
            "test_share": "30",
            "holdout_share": "5",
            "metric": "conversion_rate",
            "decide_after_hours": "6",
        },
    )

    assert saved.status_code == 303
    draft = await _campaign(platform, workspace, campaign_id)
    assert draft.ab_test["test_share"] == pytest.approx(0.3)
    assert draft.ab_test["holdout_share"] == pytest.approx(0.05)
    assert draft.ab_test["metric"] == "conversion_rate"
    page = await owner.get(f"/app/campaigns/{campaign_id}/variants")
    assert "Last day: 20% off" in page.text


async def test_the_live_counter_answers_parts_and_encoding_of_a_portuguese_text(
    owner: Browser,
) -> None:
    await owner.get("/app/campaigns/new")
    counted = await owner.post("/app/campaigns/text-counter", {"body": PORTUGUESE})
    short = await owner.post("/app/campaigns/text-counter", {"body": "Ola! Promocao hoje."})

    assert counted.status_code == 200
    # 101 characters with á, ç and ã: UCS-2, 67 characters a part when split, so 2 parts.
    assert 'data-counter="characters">101<' in counted.text
    assert 'data-counter="parts">2<' in counted.text
    assert ">UCS-2</span>" in counted.text
    assert re.findall(r"<mark class=\"ucs2\" data-ucs2>(.)</mark>", counted.text) == [
        "á",
        "ç",
        "ã",
    ]
    # Without accents it is GSM-7 and the English footer is added: one part.
    assert ">GSM-7</span>" in short.text
    assert 'data-counter="parts">1<' in short.text
    assert "Reply STOP to opt out" in short.text


async def test_the_counter_previews_the_text_for_an_audience_member(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    list_id = await _audience(platform, workspace)
    await owner.get("/app/campaigns/new")

    counted = await owner.post(
        "/app/campaigns/text-counter",
        {"body": "Oi {{ first_name }}, até domingo!", "lists": list_id},
    )

    assert "Oi Ana, até domingo!" in counted.text
    assert "As Ana reads it" in counted.text


async def test_the_review_shows_recipients_and_skipped_counts_by_reason(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    list_id = await _audience(platform, workspace)
    campaign_id = await _draft(platform, workspace, list_id, PORTUGUESE)

    page = await owner.get(f"/app/campaigns/{campaign_id}/review")

    assert page.status_code == 200
    assert 'data-review="audience">3<' in page.text  # who opted out left the list
    assert 'data-review="recipients">2<' in page.text
    assert 'data-skipped="no_consent">1<' in page.text
    assert "2 parts, UCS-2" in page.text
    assert ">Launch</button>" in page.text


async def test_a_campaign_nobody_may_get_is_refused_with_the_reason(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        empty = await lists.create_list(session, actor, name="Nobody yet")
    campaign_id = await _draft(platform, workspace, empty.contact_list.id, "Hello")

    page = await owner.get(f"/app/campaigns/{campaign_id}/review")
    refused = await owner.post(
        f"/app/campaigns/{campaign_id}/launch",
        headers={"Referer": f"http://recado.test/app/campaigns/{campaign_id}/review"},
    )

    assert "cannot be launched yet" in page.text and "no consent in force" in page.text
    assert refused.status_code == 303
    assert (await _campaign(platform, workspace, campaign_id)).status == "draft"


async def test_launch_moves_the_campaign_to_sending_and_it_can_be_paused(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    list_id = await _audience(platform, workspace)
    campaign_id = await _draft(platform, workspace, list_id, PORTUGUESE)
    await owner.get(f"/app/campaigns/{campaign_id}/review")

    launched = await owner.post(f"/app/campaigns/{campaign_id}/launch")

    assert launched.status_code == 303
    assert launched.headers["location"] == f"/app/campaigns/{campaign_id}"
    assert (await _campaign(platform, workspace, campaign_id)).status == "sending"
    results = await owner.get(launched.headers["location"])
    assert "Campaign “Verão” launched." in results.text
    assert ">Pause</button>" in results.text
    await owner.post(f"/app/campaigns/{campaign_id}/pause")
    assert (await _campaign(platform, workspace, campaign_id)).status == "paused"
    await owner.post(f"/app/campaigns/{campaign_id}/resume")
    assert (await _campaign(platform, workspace, campaign_id)).status == "sending"
    await owner.post(f"/app/campaigns/{campaign_id}/cancel", {"reason": "wrong price"})
    assert (await _campaign(platform, workspace, campaign_id)).status == "canceled"


async def test_a_viewer_sees_campaigns_but_may_not_build_or_launch(
    viewer: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    list_id = await _audience(platform, workspace)
    campaign_id = await _draft(platform, workspace, list_id, "Sale today")

    listing = await viewer.get("/app/campaigns")
    review = await viewer.get(f"/app/campaigns/{campaign_id}/review")
    launch = await viewer.post(f"/app/campaigns/{campaign_id}/launch")
    builder = await viewer.get("/app/campaigns/new")

    assert "Verão" in listing.text and "New campaign" not in listing.text
    assert review.status_code == 200 and ">Launch</button>" not in review.text
    assert launch.status_code == 403
    assert "The viewer role may not manage campaigns" in launch.text
    assert builder.status_code == 403
    assert (await _campaign(platform, workspace, campaign_id)).status == "draft"


async def test_the_results_page_shows_the_funnel_clicks_and_the_exports(
    owner: Browser, running: Platform, workspace: NewWorkspace
) -> None:
    list_id = await _audience(running, workspace)
    campaign_id = await _draft(
        running, workspace, list_id, "Acme: verão com 20% https://acme.test/verao"
    )
    actor = system_actor(workspace.workspace.id)
    with daytime():  # marketing texts wait for the recipients' sending hours
        async with running.sessions() as session:
            await campaigns.launch(session, actor, campaign_id, base_url="http://recado.test")
        running.campaign_timers.notify()
        for _ in range(400):
            async with running.sessions() as session:
                done = await campaigns.progress(session, actor, campaign_id)
            if done.messages.get("delivered", 0) == 2:
                break
            await asyncio.sleep(0.05)
        async with running.sessions() as session:
            code = await session.scalar(
                select(Message.link_code).where(Message.campaign_id == campaign_id).limit(1)
            )
            assert code is not None
            assert await links.record_click(session, code, "test") is not None

    page = await owner.get(f"/app/campaigns/{campaign_id}")
    report_csv = await owner.get(f"/app/campaigns/{campaign_id}/report.csv")
    recipients_csv = await owner.get(f"/app/campaigns/{campaign_id}/recipients.csv")

    assert page.status_code == 200
    assert 'data-funnel="audience">3<' in page.text
    assert 'data-funnel="delivered">2<' in page.text
    assert 'data-funnel="clicked">1<' in page.text
    assert 'data-total="total_clicks">1<' in page.text
    assert 'id="chart-hourly"' in page.text
    assert "No marketing consent recorded: 1" in page.text
    assert report_csv.headers["content-type"].startswith("text/csv")
    assert report_csv.text.splitlines()[1].startswith("campaign,")
    rows = recipients_csv.text.splitlines()
    assert len(rows) == 1 + 3 and sum(",skipped," in r for r in rows) == 1
    async with running.sessions() as session:
        assert await session.scalar(select(Click.campaign_id).limit(1)) == campaign_id


async def test_campaign_pages_have_no_inline_script_or_style(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    list_id = await _audience(platform, workspace)
    campaign_id = await _draft(platform, workspace, list_id, "Sale today")
    for path in (
        "/app/campaigns",
        "/app/campaigns/new",
        *(f"/app/campaigns/{campaign_id}/{step}" for step in ("audience", "message", "review")),
    ):
        page = await owner.get(path)
        assert page.status_code == 200, path
        assert re.search(r"<script(?![^>]*\bsrc=)", page.text) is None, path
        assert " style=" not in page.text, path


async def test_a_segment_is_built_from_the_form_counted_live_and_saved(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    list_id = await _audience(platform, workspace)
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        await contacts.create_contact(
            session, actor, contacts.ContactChanges(phone="+14157230009", tags=["vip"])
        )
    await owner.get("/app/segments/new")
    rows = {
        "name": "Newsletter or VIPs, opted in",
        "match": "any",
        "cond_kind": ["list:in", "tag:has", ""],
        "cond_name": ["", "", ""],
        "cond_value": ["Newsletter", "vip", ""],  # a list by its name
        "exc_kind": ["consent:is", ""],
        "exc_name": ["", ""],
        "exc_value": ["none", ""],
    }

    counted = await owner.client.post(
        "/app/segments/count", data={"csrf_token": owner.token, **rows}
    )
    saved = await owner.client.post("/app/segments", data={"csrf_token": owner.token, **rows})

    # Ana and Bruno: Carla and the VIP have no consent, Davi opted out and left the list.
    assert "data-segment-count>2<" in counted.text
    assert saved.status_code == 303
    page = await owner.get(saved.headers["location"])
    assert "Segment “Newsletter or VIPs, opted in” saved." in page.text
    assert 'value="vip"' in page.text and 'value="Newsletter"' in page.text
    assert 'id="match-any" name="match" value="any" checked' in page.text
    listing = await owner.get("/app/segments")
    assert "Newsletter or VIPs, opted in" in listing.text
    async with platform.sessions() as session:
        saved_segment = (await segments.list_segments(session, actor))[0][0]
    assert saved_segment.definition["conditions"][0] == {
        "field": "list",
        "op": "in",
        "value": list_id,
    }


async def test_a_bad_segment_row_is_answered_with_the_reason(owner: Browser) -> None:
    await owner.get("/app/segments/new")

    counted = await owner.client.post(
        "/app/segments/count",
        data={
            "csrf_token": owner.token,
            "match": "all",
            "cond_kind": ["created:within_days"],
            "cond_name": [""],
            "cond_value": ["soon"],
        },
        headers={"HX-Request": "true"},
    )

    assert "is not a whole number of days" in counted.text


async def test_the_audience_count_follows_segments_and_exclusions(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    list_id = await _audience(platform, workspace)
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        await contacts.create_contact(
            session, actor, contacts.ContactChanges(phone="+14157230009", tags=["vip"])
        )
        await contacts.create_contact(
            session, actor, contacts.ContactChanges(phone="+14157230008", tags=["vip"])
        )
        vips = await segments.create_segment(
            session,
            actor,
            name="VIPs",
            definition={"conditions": [{"field": "tag", "op": "has", "value": "vip"}]},
        )
    await owner.get("/app/campaigns/new")

    both = await owner.post(
        "/app/campaigns/audience-count", {"lists": list_id, "segments": vips.id}
    )
    without_list = await owner.post(
        "/app/campaigns/audience-count",
        {"lists": list_id, "segments": vips.id, "exclude_segments": vips.id},
    )

    # Ana, Bruno, Carla in the list and two VIPs; only Ana and Bruno opted in.
    assert "data-audience-total>5<" in both.text
    assert "data-audience-eligible>2<" in both.text
    assert "data-audience-total>3<" in without_list.text


async def test_the_results_compare_the_variants_and_say_when_it_is_not_significant(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    list_id = await _audience(platform, workspace)
    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        draft = await campaigns.create_campaign(
            session,
            actor,
            campaigns.CampaignInput(
                name="Teste A/B",
                audience={"lists": [list_id]},
                ab_test={"test_share": 1.0, "metric": "click_rate"},
                variants=(
                    campaigns.VariantInput("Sale today https://acme.test/a"),
                    campaigns.VariantInput("Last day https://acme.test/b"),
                ),
            ),
        )
        with daytime():
            await campaigns.launch(session, actor, draft.id, base_url="http://recado.test")
    with daytime():
        await platform.campaign_timers.run_once()

    page = await owner.get(f"/app/campaigns/{draft.id}")

    assert page.status_code == 200
    rows = re.findall(r'<tr><th scope="row">([AB])</th><td class="num">(\d+)</td>', page.text)
    assert sorted(label for label, _ in rows) == ["A", "B"]
    assert sum(int(n) for _, n in rows) == 2  # each recipient got one variant
    assert "<strong>not significant</strong>" in page.text


async def test_a_draft_saves_without_a_text_and_the_review_says_what_is_missing(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    list_id = await _audience(platform, workspace)
    created = await owner.post(
        "/app/campaigns/new/message", {"name": "Later", "lists": list_id, "body": ""}
    )
    assert created.status_code == 303, created.text
    campaign_id = created.headers["location"].split("/")[3]

    review = await owner.get(f"/app/campaigns/{campaign_id}/review")
    back = f"/app/campaigns/{campaign_id}/review"
    refused = await owner.post(
        f"/app/campaigns/{campaign_id}/launch", headers={"Referer": f"http://recado.test{back}"}
    )
    told = await owner.get(refused.headers["location"])

    assert "Write the message: a text, media, or both." in review.text
    assert refused.status_code == 303 and refused.headers["location"] == back
    assert "Write the message" in told.text
    assert (await _campaign(platform, workspace, campaign_id)).status == "draft"


async def test_the_message_step_picks_the_sender_and_the_discount_code(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    from recado.services import carrier_setup, discounts  # noqa: PLC0415

    actor = system_actor(workspace.workspace.id)
    async with platform.sessions() as session:
        await carrier_setup.create_sender(session, actor, address="+14155550199", kind="long_code")
        pool = await discounts.create_pool(session, actor, "Summer pool")
        await discounts.add_codes(session, actor, pool.id, ["SUN-1", "SUN-2", "SUN-3"])
    list_id = await _audience(platform, workspace)
    campaign_id = await _draft(platform, workspace, list_id, "Acme: {{ discount_code }}")

    page = await owner.get(f"/app/campaigns/{campaign_id}/message")
    assert '<option value="+14155550199"' in page.text
    assert "Summer pool: 3 of 3 codes left" in page.text
    shared = await owner.post(
        f"/app/campaigns/{campaign_id}/message",
        {
            "body": "Acme: {{ discount_code }}",
            "sender": "+14155550199",
            "discount_mode": "shared",
            "discount_code": "SUMMER20",
        },
    )
    saved = await _campaign(platform, workspace, campaign_id)
    assert shared.status_code == 303
    assert (saved.sender, saved.discount_mode, saved.discount_code) == (
        "+14155550199",
        "shared",
        "SUMMER20",
    )
    pooled = await owner.post(
        f"/app/campaigns/{campaign_id}/message",
        {"body": "Acme: {{ discount_code }}", "discount_mode": "pool", "discount_pool_id": pool.id},
    )
    review = await owner.get(f"/app/campaigns/{campaign_id}/review")
    saved = await _campaign(platform, workspace, campaign_id)
    assert pooled.status_code == 303
    assert (saved.sender, saved.discount_mode, saved.discount_pool_id) == (None, "pool", pool.id)
    assert "a single-use code from Summer pool (3 codes left)" in review.text


async def test_a_library_template_is_copied_into_a_new_draft(
    owner: Browser, viewer: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    from recado.domain.template_library import find_library_templates  # noqa: PLC0415

    cart = find_library_templates(use_case="abandoned_cart", language="pt-BR")[0]
    page = await owner.get("/app/templates", params={"use_case": "abandoned_cart"})
    assert "Use in a campaign" in page.text

    used = await owner.post("/app/templates/use", {"library_id": cart.id, "language": "pt-BR"})

    assert used.status_code == 303
    found = re.match(r"/app/campaigns/(cmp_[a-z0-9]+)/audience$", used.headers["location"])
    assert found, used.headers["location"]
    draft = await _campaign(platform, workspace, found.group(1))
    assert draft.status == "draft"
    assert draft.name == f"From template: {cart.name}"
    assert draft.body == cart.body and "{{" in draft.body  # its variables, as written
    seen = await viewer.get("/app/templates")
    refused = await viewer.post("/app/templates/use", {"library_id": cart.id, "language": "pt-BR"})
    assert "Use in a campaign" not in seen.text
    assert refused.status_code in (303, 403)
    async with platform.sessions() as session:
        drafts, _ = await campaigns.list_campaigns(
            session, system_actor(workspace.workspace.id), status="draft"
        )
    assert len(drafts) == 1
