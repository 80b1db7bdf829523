"""Each page of the UI shows what the services hold, and its forms change it."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from datetime import UTC, datetime

from sqlalchemy import select

from recado.db.tables import Campaign, Link
from recado.platform import Platform
from recado.services import compliance_admin, consent, contacts, links, lists, messaging
from recado.services.actor import system_actor
from recado.services.workspaces import NewWorkspace
from recado.web.developers import send_payload, snippets
from tests.web.conftest import Browser

CSV = (
    "phone,first_name,last_name,tags,loja\n"
    "+14157230001,Ana,Souza,vip,Centro\n"
    "not a number,Bruno,Lima,,\n"
    "+14157230002,Maria da Conceição,de Albuquerque Cavalcanti,,Zona Sul\n"
)


async def _contact(platform: Platform, workspace: NewWorkspace, phone: str, **fields: object):
    async with platform.sessions() as session:
        return await contacts.create_contact(
            session,
            system_actor(workspace.workspace.id),
            contacts.ContactChanges(phone=phone, **fields),  # type: ignore[arg-type]
        )


async def test_contacts_are_searched_filtered_by_list_and_tag_and_paged_by_cursor(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    actor = system_actor(workspace.workspace.id)
    ana = await _contact(platform, workspace, "+14157230001", first_name="Ana", tags=["vip"])
    await _contact(platform, workspace, "+14157230002", first_name="Bruno")
    for n in range(3, 56):
        await _contact(platform, workspace, f"+141572300{n:02d}", first_name=f"Person {n}")
    async with platform.sessions() as session:
        newsletter = await lists.create_list(session, actor, name="Newsletter")
        await lists.add_members(
            session, actor, newsletter.contact_list.id, contact_ids=[ana.contact.id]
        )

    search = await owner.get("/app/contacts", params={"q": "ana"})
    by_tag = await owner.get("/app/contacts", params={"tag": "vip"})
    by_list = await owner.get("/app/contacts", params={"list_id": newsletter.contact_list.id})
    first = await owner.get("/app/contacts")
    cursor = re.search(r'cursor=([a-z0-9_]+)" rel="next"', first.text)
    assert cursor, "a first page of 50 links to the next"
    second = await owner.get("/app/contacts", params={"cursor": cursor.group(1)})

    assert ">Ana</a>" in search.text and ">Bruno</a>" not in search.text
    assert ">Ana</a>" in by_tag.text and ">Bruno</a>" not in by_tag.text
    assert ">Ana</a>" in by_list.text and ">Bruno</a>" not in by_list.text
    assert first.text.count('href="/app/contacts/ct_') == 50
    assert second.text.count('href="/app/contacts/ct_') == 5
    assert ">Ana</a>" in second.text  # the oldest come last
    assert 'rel="next"' not in second.text


async def test_a_contact_page_shows_attributes_lists_consent_history_and_messages(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    actor = system_actor(workspace.workspace.id)
    ana = await _contact(
        platform,
        workspace,
        "+14157230001",
        first_name="Ana",
        attributes={"loja": "Centro"},
        tags=["vip"],
    )
    async with platform.sessions() as session:
        newsletter = await lists.create_list(session, actor, name="Newsletter")
        await lists.add_members(
            session,
            actor,
            newsletter.contact_list.id,
            contact_ids=[ana.contact.id],
            claim=consent.ConsentClaim(source="ui", consent_text="Said yes at the till"),
        )
        await messaging.send_message(
            session, actor, messaging.SendRequest(to="+14157230001", body="Your order shipped")
        )
        await compliance_admin.opt_out(session, actor, ana.contact.id)

    page = await owner.get(f"/app/contacts/{ana.contact.id}")

    assert page.status_code == 200
    assert "Centro" in page.text and "loja" in page.text
    assert "Newsletter" in page.text
    assert "Said yes at the till" in page.text
    assert "revoked" in page.text and "granted" in page.text
    assert "Opted out" in page.text
    assert "Your order shipped" in page.text


async def test_an_unknown_contact_is_a_readable_not_found_page(owner: Browser) -> None:
    page = await owner.get("/app/contacts/ct_00000000000000000000000000")

    assert page.status_code == 404
    assert "No contact with id" in page.text


async def test_a_csv_import_shows_its_progress_then_the_report_with_line_numbers(
    owner: Browser,
) -> None:
    form = await owner.get("/app/contacts/import")
    assert form.status_code == 200
    started = await owner.client.post(
        "/app/contacts/import",
        data={"csrf_token": owner.token},
        files={"file": ("customers.csv", CSV.encode(), "text/csv")},
    )
    assert started.status_code == 303
    job_page = started.headers["location"]

    page = await owner.get(job_page)
    assert "Import of customers.csv" in page.text
    report = page
    for _ in range(200):
        report = await owner.get(f"{job_page}/progress")
        if "Import finished" in report.text:
            break
        assert "<progress" in report.text and "every 1s" in report.text
        await asyncio.sleep(0.05)

    assert "Import finished" in report.text
    assert "every 1s" not in report.text  # polling stops with the report
    assert re.search(r'data-count="created">2<', report.text)
    assert re.search(r'data-count="rejected">1<', report.text)
    assert re.search(r'<td class="num">3</td><td>[^<]*not a valid phone number', report.text)
    listing = await owner.get("/app/contacts")
    assert "Maria da Conceição de Albuquerque Cavalcanti" in listing.text


async def test_an_import_into_a_list_records_consent_and_adds_the_members(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    async with platform.sessions() as session:
        newsletter = await lists.create_list(
            session, system_actor(workspace.workspace.id), name="Newsletter"
        )
    await owner.get("/app/contacts/import")
    started = await owner.client.post(
        "/app/contacts/import",
        data={
            "csrf_token": owner.token,
            "list_id": newsletter.contact_list.id,
            "consent_text": "Checkout checkbox 'Text me offers'",
            "consent_source": "import",
        },
        files={"file": ("customers.csv", CSV.encode(), "text/csv")},
    )
    report = await owner.get(started.headers["location"] + "/progress")
    for _ in range(200):
        if "Import finished" in report.text:
            break
        await asyncio.sleep(0.05)
        report = await owner.get(started.headers["location"] + "/progress")

    assert "<dt>Added to the list</dt><dd>2</dd>" in report.text
    members = await owner.get("/app/lists")
    assert re.search(r'data-members="Newsletter">2<', members.text)


async def test_importing_into_a_list_without_saying_how_people_opted_in_is_refused(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    async with platform.sessions() as session:
        newsletter = await lists.create_list(
            session, system_actor(workspace.workspace.id), name="Newsletter"
        )
    await owner.get("/app/contacts/import")
    refused = await owner.client.post(
        "/app/contacts/import",
        data={"csrf_token": owner.token, "list_id": newsletter.contact_list.id},
        files={"file": ("customers.csv", CSV.encode(), "text/csv")},
        headers={"Referer": "http://recado.test/app/contacts/import"},
    )

    assert refused.headers["location"] == "/app/contacts/import"
    page = await owner.get("/app/contacts/import")
    assert "write how they opted in" in page.text


async def test_the_export_downloads_the_contacts_as_csv(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    await _contact(platform, workspace, "+14157230001", first_name="Ana")

    response = await owner.get("/app/contacts/export")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.text.splitlines()[1].startswith("+14157230001,Ana")


async def test_lists_are_created_renamed_and_show_their_member_counts(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    ana = await _contact(platform, workspace, "+14157230001")
    created = await owner.post("/app/lists", {"name": "Clientes de São Paulo"})
    assert created.status_code == 303
    page = await owner.get("/app/lists")
    assert "List “Clientes de São Paulo” created." in page.text
    list_id = re.search(r'action="/app/lists/(lst_[a-z0-9]+)/rename"', page.text)
    assert list_id
    async with platform.sessions() as session:
        await lists.add_members(
            session,
            system_actor(workspace.workspace.id),
            list_id.group(1),
            contact_ids=[ana.contact.id],
        )

    await owner.post(f"/app/lists/{list_id.group(1)}/rename", {"name": "Clientes SP"})
    page = await owner.get("/app/lists")

    assert "Clientes SP" in page.text
    assert "Clientes de São Paulo" not in page.text.replace("List “Clientes de São Paulo”", "")
    assert re.search(r'data-members="Clientes SP">1<', page.text)


async def test_the_messages_log_filters_by_status_and_shows_a_message_timeline(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    async with platform.sessions() as session:
        accepted = await messaging.send_message(
            session,
            system_actor(workspace.workspace.id),
            messaging.SendRequest(to="+14157230001", body="Código 123456"),
        )

    queued = await owner.get("/app/messages", params={"status": "queued"})
    delivered = await owner.get("/app/messages", params={"status": "delivered"})
    one = await owner.get(f"/app/messages/{accepted.message.id}")

    assert "Código 123456" in queued.text
    assert "Código 123456" not in delivered.text
    assert one.status_code == 200
    assert "accepted" in one.text and "waiting for the dispatcher" in one.text


async def test_the_template_library_is_browsed_by_use_case_and_language(owner: Browser) -> None:
    everything = await owner.get("/app/templates")
    portuguese_cart = await owner.get(
        "/app/templates", params={"use_case": "abandoned_cart", "language": "pt-BR"}
    )

    assert everything.status_code == 200
    assert "· pt-BR ·" in portuguese_cart.text
    assert "· en ·" not in portuguese_cart.text
    assert "abandoned cart" in portuguese_cart.text


async def test_the_campaigns_page_lists_the_workspace_campaigns(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    empty = await owner.get("/app/campaigns")
    async with platform.sessions() as session:
        session.add(
            Campaign(
                id="cmp_01jz0000000000000000000000",
                workspace_id=workspace.workspace.id,
                name="Black Friday",
                status="draft",
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
        )
        await session.commit()

    page = await owner.get("/app/campaigns")

    assert "No campaigns yet" in empty.text
    assert "Black Friday" in page.text


async def test_compliance_settings_are_saved_from_the_form(owner: Browser) -> None:
    await owner.get("/app/settings")
    saved = await owner.post(
        "/app/settings",
        {
            "brand_name": "Acme",
            "program_name": "Acme Alerts",
            "help_contact": "help@acme.test",
            "help_reply": "{program}: write to {contact}.",
            "quiet_start": "09:00",
            "quiet_end": "20:00",
            "max_messages": "2",
            "window_hours": "48",
            "min_gap_hours": "",
            "footer_en": "Text STOP to quit",
            "footer_pt-BR": "Responda SAIR para sair",
            "footer_es": "Responde BAJA para salir",
            "smart_encoding": "on",
        },
    )
    assert saved.status_code == 303
    page = await owner.get("/app/settings")

    assert "Settings saved." in page.text
    assert 'value="Acme Alerts"' in page.text
    assert 'value="09:00"' in page.text and 'value="20:00"' in page.text
    assert 'id="max_messages" name="max_messages" type="number" min="1" max="1000" value="2"' in (
        page.text
    )
    assert 'value="Text STOP to quit"' in page.text
    assert "{program}: write to {contact}." in page.text


async def test_a_bad_setting_is_refused_with_the_reason_and_nothing_changes(
    owner: Browser,
) -> None:
    await owner.get("/app/settings")
    refused = await owner.post(
        "/app/settings",
        {"quiet_start": "09:00", "quiet_end": "", "max_messages": "3"},
        headers={"Referer": "http://recado.test/app/settings"},
    )

    assert refused.headers["location"] == "/app/settings"
    page = await owner.get("/app/settings")
    assert "Give both the start and the end" in page.text
    assert 'id="quiet_start" name="quiet_start" type="time" value=""' in page.text


async def test_an_api_key_is_shown_once_then_can_be_revoked(owner: Browser) -> None:
    await owner.get("/app/settings/api-keys")
    created = await owner.post("/app/settings/api-keys", {"name": "Shop backend", "role": "agent"})
    key = re.search(r'id="new-key-value" class="secret" readonly value="(rk_[^"]+)"', created.text)
    assert key, created.text
    api = await owner.client.get("/v1/contacts", headers={"Authorization": f"Bearer {key[1]}"})
    assert api.status_code == 200

    again = await owner.get("/app/settings/api-keys")
    assert key[1] not in again.text
    key_id = re.search(r'action="/app/settings/api-keys/(key_[a-z0-9]+)/revoke"', again.text)
    revoke_ids = re.findall(r'action="/app/settings/api-keys/(key_[a-z0-9]+)/revoke"', again.text)
    assert key_id and len(revoke_ids) == 2
    await owner.post(f"/app/settings/api-keys/{revoke_ids[-1]}/revoke")

    refused = await owner.client.get("/v1/contacts", headers={"Authorization": f"Bearer {key[1]}"})
    assert refused.status_code == 401


async def test_an_admin_adds_a_person_who_then_signs_in_with_their_role(
    owner: Browser, browser: Browser
) -> None:
    await owner.get("/app/settings/users")
    await owner.post(
        "/app/settings/users",
        {"email": "Marta@Acme.test", "password": "marketer-pass-1", "role": "marketer"},
    )
    page = await owner.get("/app/settings/users")
    assert "marta@acme.test can now sign in as marketer." in page.text

    await owner.post("/app/sign-out")
    signed_in = await owner.sign_in("marta@acme.test", "marketer-pass-1")
    dashboard = await owner.get("/app/dashboard")

    assert signed_in.status_code == 303
    assert "marta@acme.test" in dashboard.text and "(marketer)" in dashboard.text
    assert ">Settings</a>" not in dashboard.text


async def test_the_carrier_settings_show_senders_and_the_simulator_state(owner: Browser) -> None:
    page = await owner.get("/app/settings/carriers")
    added = await owner.post(
        "/app/settings/senders", {"address": "ACME", "kind": "alphanumeric", "rate_limit_mps": "5"}
    )
    after = await owner.get("/app/settings/carriers")

    assert "+12015550100" in page.text
    assert "Built-in simulator" in page.text
    assert added.status_code == 303
    assert "Sender ACME added." in after.text


async def test_the_developer_snippets_follow_the_form(owner: Browser) -> None:
    page = await owner.get("/app/developers")
    fragment = await owner.get(
        "/app/developers/snippets",
        params={
            "to": "+5511912345678",
            "body": "Olá, it's 'quoted' \"text\"",
            "sender": "+12015550100",
            "status_callback": "https://shop.test/status",
        },
    )

    assert "http://127.0.0.1:8000/v1/messages" in page.text
    assert "+5511912345678" in fragment.text
    assert "https://shop.test/status" in fragment.text
    assert "csrf" not in fragment.text


def test_each_snippet_is_valid_code_that_sends_the_form_values() -> None:
    payload = send_payload("+5511912345678", "Olá, it's 'quoted' \"text\"\nline 2", "ACME", "")
    code = snippets("https://recado.example", payload)

    curl = shlex.split(code.curl.replace("\\\n", " "))
    assert json.loads(curl[curl.index("-d") + 1]) == payload
    compile(code.python, "snippet.py", "exec")
    namespace: dict[str, object] = {}
    literal = code.python.split("json=", 1)[1].rsplit(",\n)", 1)[0]
    exec(f"value = {literal}", namespace)  # noqa: S102
    assert namespace["value"] == payload
    node_literal = code.node.split("JSON.stringify(", 1)[1].split("),\n});", 1)[0]
    assert json.loads(node_literal) == payload
    assert "status_callback" not in code.curl


async def test_send_it_now_from_the_developer_page_creates_the_message(
    owner: Browser, platform: Platform, workspace: NewWorkspace
) -> None:
    await owner.get("/app/developers")
    sent = await owner.post(
        "/app/developers/send", {"to": "+14157230009", "body": "Sent from the UI", "sender": ""}
    )

    assert sent.status_code == 303
    page = await owner.get(sent.headers["location"])
    assert "Message to +14157230009 accepted." in page.text
    assert "Sent from the UI" in page.text


async def test_the_dashboard_counts_sent_delivered_clicked_replies_and_opt_outs_per_day(
    owner: Browser, running: Platform, workspace: NewWorkspace
) -> None:
    actor = system_actor(workspace.workspace.id)
    async with running.sessions() as session:
        accepted = await messaging.send_message(
            session,
            actor,
            messaging.SendRequest(
                to="+14157230001", body="Track https://acme.test/sale", track_links=True
            ),
            link_base_url="http://recado.test",
        )
        await messaging.send_message(
            session, actor, messaging.SendRequest(to="+14157230002", body="Second")
        )
    running.dispatcher.notify()
    for _ in range(200):
        async with running.sessions() as session:
            statuses = [
                m.status
                for m in (await messaging.list_messages(session, actor, messaging.MessageFilter()))[
                    0
                ]
            ]
        if statuses.count("delivered") == 2:
            break
        await asyncio.sleep(0.05)
    async with running.sessions() as session:
        code = await session.scalar(select(Link.code).where(Link.message_id == accepted.message.id))
        assert code is not None
        await links.record_click(session, code, "test")
        contact_id = accepted.message.contact_id
        assert contact_id is not None
        await compliance_admin.opt_out(session, actor, contact_id)
    reply = await owner.client.post(
        "/v1/simulator/inbound",
        json={"from": "+14157230002", "to": "+12015550100", "body": "Thanks!"},
        headers={"Authorization": f"Bearer {workspace.api_key}"},
    )
    assert reply.status_code in (200, 201, 202), reply.text

    data = (await owner.get("/app/dashboard/activity.json")).json()
    page = await owner.get("/app/dashboard")

    today = datetime.now(UTC).date().isoformat()
    assert len(data["days"]) == 30 and data["days"][-1] == today
    assert data["totals"] == {
        "sent": 2,
        "delivered": 2,
        "clicked": 1,
        "replies": 1,
        "opt_outs": 1,
    }
    assert data["series"]["delivered"][-1] == 2
    assert 'data-total="sent">2<' in page.text
    assert "Built-in simulator" in page.text and "● Connected" in page.text


async def test_pages_send_a_content_security_policy_and_no_inline_script(owner: Browser) -> None:
    for path in ("/app/dashboard", "/app/contacts", "/app/developers", "/app/settings"):
        page = await owner.get(path)
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert re.search(r"<script(?![^>]*\bsrc=)", page.text) is None, path
        assert " style=" not in page.text, path
