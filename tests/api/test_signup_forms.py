"""Signup forms: the JSON API, the public page at /f/{slug}, double opt-in and abuse limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from recado.api.app import create_app
from recado.carriers.base import InboundSMS
from recado.db.tables import Consent, Contact, ListMember, Message, OptInRequest
from recado.domain.roles import Role
from recado.platform import Platform
from recado.services import consent, inbound, signup_forms
from recado.services.actor import system_actor
from recado.services.credentials import create_api_key
from recado.services.workspaces import SIMULATOR_SENDER, NewWorkspace

NY = "+12125550123"
SP = "+5511912345678"
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148"


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    signup_forms.reset_rate_limits()
    yield
    signup_forms.reset_rate_limits()


@pytest.fixture
async def public(platform: Platform, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A browser: no API key, a phone's user agent."""
    transport = httpx.ASGITransport(app=create_app(platform, start_workers=False))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://recado.test", headers={"User-Agent": BROWSER}
    ) as browser:
        yield browser


@pytest.fixture
async def list_id(client: httpx.AsyncClient) -> str:
    response = await client.post("/v1/lists", json={"name": "VIP"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def new_form(api: httpx.AsyncClient, list_id: str, **fields: object) -> dict:
    response = await api.post(
        "/v1/signup-forms", json={"list_id": list_id, "title": "Join Acme VIP", **fields}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def sign_up(browser: httpx.AsyncClient, slug: str, phone: str) -> httpx.Response:
    return await browser.post(f"/f/{slug}", data={"phone": phone})


async def text_us(platform: Platform, phone: str, body: str, carrier_id: str) -> None:
    """The person replies to the workspace's number."""
    async with platform.sessions() as session:
        stored = await inbound.receive(
            session, InboundSMS("simulator", phone, SIMULATOR_SENDER, body, carrier_id)
        )
    assert stored is not None


async def contact_of(platform: Platform, phone: str) -> Contact:
    async with platform.sessions() as session:
        contact = await session.scalar(select(Contact).where(Contact.phone == phone))
    assert contact is not None
    return contact


async def member_status(platform: Platform, list_id: str, phone: str) -> str | None:
    contact = await contact_of(platform, phone)
    async with platform.sessions() as session:
        member = await session.get(ListMember, (list_id, contact.id))
    return member.status if member else None


async def consents_of(platform: Platform, phone: str) -> list[Consent]:
    contact = await contact_of(platform, phone)
    async with platform.sessions() as session:
        rows = await session.scalars(
            select(Consent).where(Consent.contact_id == contact.id).order_by(Consent.id)
        )
        return list(rows)


async def outbound_to(platform: Platform, phone: str) -> list[Message]:
    async with platform.sessions() as session:
        rows = await session.scalars(
            select(Message)
            .where(Message.direction == "outbound", Message.recipient == phone)
            .order_by(Message.id)
        )
        return list(rows)


# --- managing forms ----------------------------------------------------------------------------


async def test_creating_a_form_returns_its_public_url_and_embeddable_snippets(
    client: httpx.AsyncClient, list_id: str
):
    form = await new_form(client, list_id)
    assert form["id"].startswith("form_")
    assert form["slug"] == "join-acme-vip"
    assert form["url"] == "http://127.0.0.1:8000/f/join-acme-vip"
    assert form["double_opt_in"] is True
    assert form["language"] == "en"
    # The standard consent text names the program and carries the carrier disclosures.
    assert "from Acme" in form["consent_text"]
    assert (
        "Msg&data rates may apply. Reply STOP to opt out, HELP for help." in (form["consent_text"])
    )
    iframe, html_form = form["embed"]["iframe"], form["embed"]["html_form"]
    assert iframe.startswith('<iframe src="http://127.0.0.1:8000/f/join-acme-vip"')
    assert 'action="http://127.0.0.1:8000/f/join-acme-vip" method="post"' in html_form
    assert 'name="phone" type="tel"' in html_form
    assert "Msg&amp;data rates may apply" in html_form
    assert (await client.get(f"/v1/signup-forms/{form['id']}")).json() == form
    listed = (await client.get("/v1/signup-forms")).json()
    assert [f["id"] for f in listed["data"]] == [form["id"]]


async def test_slugs_are_made_from_titles_checked_and_unique(
    client: httpx.AsyncClient, list_id: str
):
    first = await new_form(client, list_id, title="Ofertas de Verão!")
    assert first["slug"] == "ofertas-de-verao"
    second = await new_form(client, list_id, title="Ofertas de Verão!")
    assert second["slug"] == "ofertas-de-verao-2"
    taken = await client.post(
        "/v1/signup-forms", json={"list_id": list_id, "title": "x", "slug": "ofertas-de-verao"}
    )
    assert taken.status_code == 409
    assert taken.json()["error"]["field"] == "slug"
    bad = await client.post(
        "/v1/signup-forms", json={"list_id": list_id, "title": "x", "slug": "Not A Slug"}
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "slug"


async def test_a_form_needs_a_list_of_the_workspace_and_a_known_language(
    client: httpx.AsyncClient, list_id: str
):
    no_list = await client.post(
        "/v1/signup-forms", json={"list_id": "lst_" + "0" * 26, "title": "x"}
    )
    assert no_list.status_code == 404
    french = await client.post(
        "/v1/signup-forms", json={"list_id": list_id, "title": "x", "language": "fr"}
    )
    assert french.status_code == 422
    assert french.json()["error"]["field"] == "language"
    empty = await client.post(
        "/v1/signup-forms", json={"list_id": list_id, "title": "x", "consent_text": "  "}
    )
    assert empty.status_code == 422
    assert empty.json()["error"]["field"] == "consent_text"


async def test_changing_and_deleting_a_form(
    client: httpx.AsyncClient, public: httpx.AsyncClient, list_id: str
):
    form = await new_form(client, list_id)
    path = f"/v1/signup-forms/{form['id']}"
    changed = await client.patch(
        path, json={"slug": "vip-club", "double_opt_in": False, "welcome_message": "Hi!"}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["slug"], body["double_opt_in"], body["welcome_message"]) == (
        "vip-club",
        False,
        "Hi!",
    )
    assert body["url"].endswith("/f/vip-club")
    assert body["title"] == form["title"]
    cleared = await client.patch(path, json={"consent_text": None})
    assert cleared.status_code == 422
    assert (await public.get("/f/join-acme-vip")).status_code == 404
    assert (await public.get("/f/vip-club")).status_code == 200
    assert (await client.delete(path)).status_code == 204
    assert (await client.get(path)).status_code == 404
    assert (await public.get("/f/vip-club")).status_code == 404


async def test_a_key_of_another_workspace_cannot_read_or_change_the_form(
    client: httpx.AsyncClient, list_id: str, other_workspace: NewWorkspace
):
    form = await new_form(client, list_id)
    path = f"/v1/signup-forms/{form['id']}"
    rival = {"Authorization": f"Bearer {other_workspace.api_key}"}
    assert (await client.get(path, headers=rival)).status_code == 404
    assert (await client.patch(path, json={"title": "Mine"}, headers=rival)).status_code == 404
    assert (await client.delete(path, headers=rival)).status_code == 404
    assert (await client.get("/v1/signup-forms", headers=rival)).json()["data"] == []
    # Nor attach a form of its own to this workspace's list.
    stolen = await client.post(
        "/v1/signup-forms", json={"list_id": list_id, "title": "Mine"}, headers=rival
    )
    assert stolen.status_code == 404
    assert (await client.get(path)).json()["title"] == "Join Acme VIP"


async def test_a_viewer_key_cannot_create_forms(
    client: httpx.AsyncClient, platform: Platform, workspace: NewWorkspace, list_id: str
):
    async with platform.sessions() as session:
        _, key = await create_api_key(
            session, system_actor(workspace.workspace.id), name="viewer", role=Role.VIEWER
        )
    viewer = {"Authorization": f"Bearer {key}"}
    refused = await client.post(
        "/v1/signup-forms", json={"list_id": list_id, "title": "x"}, headers=viewer
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"


# --- the public page ---------------------------------------------------------------------------


async def test_the_page_shows_a_labelled_phone_field_and_the_consent_text(
    client: httpx.AsyncClient, public: httpx.AsyncClient, list_id: str
):
    form = await new_form(client, list_id, title="<b>Acme</b> VIP")
    page = await public.get(f"/f/{form['slug']}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<html lang="en">' in html
    assert 'name="viewport"' in html
    assert '<label for="phone">Mobile number</label>' in html
    assert 'id="phone" name="phone" type="tel"' in html
    assert 'autocomplete="tel"' in html
    assert "Msg&amp;data rates may apply. Reply STOP to opt out, HELP for help." in html
    # The consent text sits right before the button, which points to it.
    consent_at = html.index('id="consent"')
    assert consent_at < html.index('<button type="submit" aria-describedby="consent">')
    assert "&lt;b&gt;Acme&lt;/b&gt; VIP" in html  # what people typed is escaped
    assert "<b>Acme</b>" not in html


async def test_an_unknown_form_is_a_404_page(public: httpx.AsyncClient):
    page = await public.get("/f/no-such-form", headers={"Accept-Language": "pt-BR,pt;q=0.9"})
    assert page.status_code == 404
    assert "Formulário não encontrado" in page.text
    posted = await public.post(
        "/f/no-such-form", data={"phone": NY}, headers={"Accept": "application/json"}
    )
    assert posted.status_code == 404
    assert posted.json()["error"]["code"] == "not_found"


async def test_double_opt_in_asks_for_yes_and_records_no_consent_yet(
    client: httpx.AsyncClient, public: httpx.AsyncClient, platform: Platform, list_id: str
):
    form = await new_form(client, list_id)
    page = await sign_up(public, form["slug"], "(212) 555-0123")
    assert page.status_code == 200, page.text
    assert "Check your phone" in page.text
    assert "Reply YES" in page.text

    assert await member_status(platform, list_id, NY) == "pending"
    async with platform.sessions() as session:
        [request] = list(await session.scalars(select(OptInRequest)))
    assert (request.list_id, request.form_id) == (list_id, form["id"])
    assert request.consent_text == form["consent_text"]
    assert (request.ip, request.user_agent) == ("127.0.0.1", BROWSER)
    assert request.expires_at - request.created_at == timedelta(hours=48)
    assert request.confirmed_at is None

    [question] = await outbound_to(platform, NY)
    assert (question.category, question.status) == ("compliance", "queued")
    assert "Reply YES to confirm" in question.body
    assert question.idempotency_key.startswith(f"opt-in:{request.id}:")

    assert await consents_of(platform, NY) == []
    assert (await contact_of(platform, NY)).consented_at is None


async def test_a_yes_within_48_hours_subscribes_with_the_forms_consent_and_welcome(
    client: httpx.AsyncClient, public: httpx.AsyncClient, platform: Platform, list_id: str
):
    form = await new_form(client, list_id, welcome_message="Welcome to Acme VIP!")
    assert (await sign_up(public, form["slug"], NY)).status_code == 200

    await text_us(platform, NY, "yes", "in-1")

    assert await member_status(platform, list_id, NY) == "subscribed"
    [granted] = await consents_of(platform, NY)
    assert (granted.action, granted.source, granted.list_id) == (
        "granted",
        "double_opt_in",
        list_id,
    )
    assert granted.consent_text == form["consent_text"]
    assert (granted.ip, granted.user_agent) == ("127.0.0.1", BROWSER)
    assert (await contact_of(platform, NY)).consented_at is not None
    question, welcome = await outbound_to(platform, NY)
    assert "YES" in question.body
    assert (welcome.body, welcome.status) == ("Welcome to Acme VIP!", "queued")


async def test_a_yes_after_48_hours_does_not_subscribe(
    client: httpx.AsyncClient, public: httpx.AsyncClient, platform: Platform, list_id: str
):
    form = await new_form(client, list_id)
    assert (await sign_up(public, form["slug"], NY)).status_code == 200
    async with platform.sessions() as session:
        request = await session.scalar(select(OptInRequest))
        assert request is not None
        asked_at = request.created_at - timedelta(hours=49)
        await session.execute(
            update(OptInRequest).values(
                created_at=asked_at, expires_at=asked_at + timedelta(hours=48)
            )
        )
        await session.commit()

    await text_us(platform, NY, "YES", "in-late")

    assert await member_status(platform, list_id, NY) == "pending"
    assert await consents_of(platform, NY) == []
    assert (await contact_of(platform, NY)).consented_at is None


async def test_a_portuguese_form_asks_in_portuguese_and_sim_confirms(
    client: httpx.AsyncClient, public: httpx.AsyncClient, platform: Platform, list_id: str
):
    form = await new_form(client, list_id, title="Clube Acme", language="pt-BR")
    assert form["language"] == "pt-BR"
    assert "Responda SAIR para cancelar" in form["consent_text"]
    page = await public.get(f"/f/{form['slug']}")
    assert '<html lang="pt-BR">' in page.text
    assert "Número de celular" in page.text

    mistyped = await sign_up(public, form["slug"], "11 9123")
    assert mistyped.status_code == 422
    assert "Digite um número de celular válido, por exemplo +1 201-555-0123" in mistyped.text

    answer = await sign_up(public, form["slug"], SP)
    assert answer.status_code == 200
    assert "Responda SIM" in answer.text
    [question] = await outbound_to(platform, SP)
    assert "Responda SIM para confirmar" in question.body

    await text_us(platform, SP, "Sim", "in-pt")

    assert await member_status(platform, list_id, SP) == "subscribed"
    [granted] = await consents_of(platform, SP)
    assert granted.source == "double_opt_in"


async def test_single_opt_in_subscribes_at_once_with_a_consent_record(
    client: httpx.AsyncClient, public: httpx.AsyncClient, platform: Platform, list_id: str
):
    form = await new_form(client, list_id, double_opt_in=False, welcome_message="Welcome!")
    page = await sign_up(public, form["slug"], NY)
    assert page.status_code == 200
    assert "subscribed" in page.text

    assert await member_status(platform, list_id, NY) == "subscribed"
    [granted] = await consents_of(platform, NY)
    assert (granted.source, granted.list_id) == ("signup_form", list_id)
    assert granted.recorded_by == f"signup_form:{form['id']}"
    assert granted.consent_text == form["consent_text"]
    assert (granted.ip, granted.user_agent) == ("127.0.0.1", BROWSER)
    [welcome] = await outbound_to(platform, NY)
    assert (welcome.body, welcome.category) == ("Welcome!", "transactional")

    # Signing up again records the fresh consent but does not welcome twice.
    assert (await sign_up(public, form["slug"], NY)).status_code == 200
    assert len(await consents_of(platform, NY)) == 2
    assert len(await outbound_to(platform, NY)) == 1


async def test_a_number_that_opted_out_must_confirm_even_on_a_single_opt_in_form(
    client: httpx.AsyncClient,
    public: httpx.AsyncClient,
    platform: Platform,
    workspace: NewWorkspace,
    list_id: str,
):
    form = await new_form(client, list_id, double_opt_in=False, welcome_message="Welcome!")
    contact = (await client.post("/v1/contacts", json={"phone": NY})).json()
    async with platform.sessions() as session:
        row = await consent.locked_contact(session, workspace.workspace.id, contact["id"])
        await consent.opt_out(session, row, source="keyword", by="recipient")
        await session.commit()

    page = await sign_up(public, form["slug"], NY)
    assert page.status_code == 200
    assert "Reply YES" in page.text
    [question] = await outbound_to(platform, NY)
    assert question.category == "compliance"
    assert "YES" in question.body
    async with platform.sessions() as session:
        assert await consent.suppression_of(session, workspace.workspace.id, NY) == "opt_out"
    assert [c.action for c in await consents_of(platform, NY)] == ["revoked"]


async def test_an_invalid_number_shows_the_form_again_with_the_message(
    client: httpx.AsyncClient, public: httpx.AsyncClient, platform: Platform, list_id: str
):
    form = await new_form(client, list_id)
    page = await sign_up(public, form["slug"], "12345")
    assert page.status_code == 422
    assert "is not a valid phone number" in page.text
    assert 'role="alert"' in page.text
    assert 'aria-invalid="true"' in page.text
    assert 'value="12345"' in page.text  # what they typed, to correct
    assert "Msg&amp;data rates may apply" in page.text  # the form again, with its consent text

    as_json = await public.post(
        f"/f/{form['slug']}", json={"phone": "abc"}, headers={"Accept": "application/json"}
    )
    assert as_json.status_code == 422
    assert as_json.json()["error"]["code"] == "invalid_phone_number"
    assert as_json.json()["error"]["field"] == "phone"
    assert await outbound_to(platform, "12345") == []


async def test_a_json_submission_gets_a_json_answer(
    client: httpx.AsyncClient, public: httpx.AsyncClient, list_id: str
):
    form = await new_form(client, list_id)
    answer = await public.post(
        f"/f/{form['slug']}", data={"phone": NY}, headers={"Accept": "application/json"}
    )
    assert answer.status_code == 200
    assert answer.json()["status"] == "confirmation_sent"
    assert answer.json()["phone"] == NY


async def test_the_sixth_submission_from_one_address_within_the_hour_is_refused(
    client: httpx.AsyncClient, public: httpx.AsyncClient, list_id: str
):
    form = await new_form(client, list_id)
    for last_digit in range(5):
        accepted = await sign_up(public, form["slug"], f"+1212555012{last_digit}")
        assert accepted.status_code == 200, accepted.text
    refused = await sign_up(public, form["slug"], "+12125550129")
    assert refused.status_code == 429
    assert "Try again in 60 minutes" in refused.text
    assert refused.headers["Retry-After"] == "3600"
    assert 'aria-invalid="true"' not in refused.text  # nothing wrong with the number itself
    as_json = await public.post(
        f"/f/{form['slug']}", data={"phone": NY}, headers={"Accept": "application/json"}
    )
    assert as_json.status_code == 429
    assert as_json.json()["error"]["code"] == "too_many_requests"


async def test_a_number_gets_at_most_three_confirmation_requests_a_day(
    client: httpx.AsyncClient, public: httpx.AsyncClient, platform: Platform, list_id: str
):
    form = await new_form(client, list_id)
    for _ in range(3):
        assert (await sign_up(public, form["slug"], NY)).status_code == 200
    refused = await sign_up(public, form["slug"], NY)
    assert refused.status_code == 429
    assert "for this number today" in refused.text
    # Repeats within one second are one text (a double click); others ask again.
    assert 1 <= len(await outbound_to(platform, NY)) <= 3
