"""Workspace templates, previews, lint and prices, through the service on a real database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from recado.db.tables import Contact, RateCardEntry, Sender
from recado.domain.roles import Role
from recado.domain.templates import TemplateSyntaxProblem
from recado.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from recado.ids import new_id
from recado.platform import Platform
from recado.services import lists, pricing, templates, workspace_admin
from recado.services.actor import Actor, system_actor
from recado.services.contacts import ContactChanges, create_contact
from recado.services.workspaces import NewWorkspace

NY = "+12125550123"
SF = "+14155550123"
SP = "+5511912345678"
CART = "{{ brand }}: Hi {{ first_name | default('there') }}, your cart: {{ cart_url }}"


@pytest.fixture
def owner(workspace: NewWorkspace) -> Actor:
    return system_actor(workspace.workspace.id)


async def add_contact(platform: Platform, actor: Actor, phone: str, **fields: object) -> str:
    async with platform.sessions() as session:
        details = await create_contact(session, actor, ContactChanges(phone=phone, **fields))  # type: ignore[arg-type]
        return details.contact.id


async def add_rate(
    platform: Platform,
    workspace_id: str,
    prefix: str,
    price_micros: int,
    sender_kind: str | None = None,
    currency: str = "USD",
) -> None:
    async with platform.sessions() as session:
        session.add(
            RateCardEntry(
                id=new_id("rate"),
                workspace_id=workspace_id,
                prefix=prefix,
                sender_kind=sender_kind,
                price_micros=price_micros,
                currency=currency,
            )
        )
        await session.commit()


# --- saved templates ---------------------------------------------------------------------------


async def test_create_read_list_update_and_delete_a_template(platform: Platform, owner: Actor):
    async with platform.sessions() as session:
        created = await templates.create_template(
            session, owner, name=" Cart 1 ", language="pt-br", body=CART, use_case="abandoned_cart"
        )
        assert created.id.startswith("tpl_")
        assert (created.name, created.language, created.use_case) == (
            "Cart 1",
            "pt-BR",
            "abandoned_cart",
        )
    async with platform.sessions() as session:
        read = await templates.get_template(session, owner, created.id)
        assert read.body == CART
        other = await templates.create_template(
            session, owner, name="OTP", language="en", body="{{ code }}"
        )
        rows, cursor = await templates.list_templates(session, owner)
        assert [r.id for r in rows] == [other.id, created.id] and cursor is None
        rows, _ = await templates.list_templates(session, owner, language="pt-BR")
        assert [r.id for r in rows] == [created.id]
        rows, _ = await templates.list_templates(session, owner, use_case="abandoned_cart")
        assert [r.id for r in rows] == [created.id]
        page, cursor = await templates.list_templates(session, owner, limit=1)
        assert [r.id for r in page] == [other.id] and cursor == other.id
    async with platform.sessions() as session:
        updated = await templates.update_template(
            session, owner, created.id, body="{{ brand }}: hi", use_case=None
        )
        assert (updated.body, updated.use_case, updated.name) == ("{{ brand }}: hi", None, "Cart 1")
        await templates.delete_template(session, owner, created.id)
    async with platform.sessions() as session:
        with pytest.raises(NotFound):
            await templates.get_template(session, owner, created.id)


async def test_a_body_with_a_syntax_error_is_refused_with_its_line(
    platform: Platform, owner: Actor
):
    async with platform.sessions() as session:
        with pytest.raises(TemplateSyntaxProblem) as error:
            await templates.create_template(
                session, owner, name="Bad", language="en", body="Hi\n{{ first_name }\nbye"
            )
    assert error.value.status == 422
    assert error.value.line == 2 and error.value.field == "body"
    assert error.value.message.startswith("Line 2:")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": " ", "language": "en", "body": "hi"}, "name"),
        ({"name": "x", "language": "", "body": "hi"}, "language"),
        ({"name": "x", "language": "english!", "body": "hi"}, "language"),
        ({"name": "x", "language": "en", "body": "  "}, "body"),
        ({"name": "x", "language": "en", "body": "a\x00b"}, "body"),
        ({"name": "a\nb", "language": "en", "body": "hi"}, "name"),
    ],
)
async def test_invalid_fields_are_refused_by_name(
    platform: Platform, owner: Actor, fields: dict[str, str], field: str
):
    async with platform.sessions() as session:
        with pytest.raises(ValidationFailed) as error:
            await templates.create_template(session, owner, **fields)
    assert error.value.field == field


async def test_a_name_is_unique_per_language(platform: Platform, owner: Actor):
    async with platform.sessions() as session:
        english = await templates.create_template(
            session, owner, name="Hi", language="en", body="a"
        )
        await templates.create_template(session, owner, name="Hi", language="es", body="b")
        with pytest.raises(Conflict):
            await templates.create_template(session, owner, name="Hi", language="en", body="c")
        other = await templates.create_template(session, owner, name="Bye", language="en", body="d")
        with pytest.raises(Conflict):
            await templates.update_template(session, owner, other.id, name="Hi")
        # Renaming to its own name is no conflict.
        assert (await templates.update_template(session, owner, english.id, name="Hi")).name == "Hi"


async def test_another_workspaces_templates_do_not_exist_here(
    platform: Platform, owner: Actor, other_workspace: NewWorkspace
):
    rival = system_actor(other_workspace.workspace.id)
    async with platform.sessions() as session:
        theirs = await templates.create_template(session, rival, name="T", language="en", body="x")
    async with platform.sessions() as session:
        for action in (
            templates.get_template(session, owner, theirs.id),
            templates.update_template(session, owner, theirs.id, body="y"),
            templates.delete_template(session, owner, theirs.id),
        ):
            with pytest.raises(NotFound):
                await action
        assert (await templates.list_templates(session, owner))[0] == []
        assert (await templates.get_template(session, rival, theirs.id)).body == "x"


async def test_a_viewer_may_read_templates_but_not_write_them(platform: Platform, owner: Actor):
    viewer = Actor(owner.workspace_id, Role.VIEWER)
    async with platform.sessions() as session:
        saved = await templates.create_template(session, owner, name="T", language="en", body="x")
        assert (await templates.get_template(session, viewer, saved.id)).id == saved.id
        assert len((await templates.list_templates(session, viewer))[0]) == 1
        for action in (
            templates.create_template(session, viewer, name="U", language="en", body="x"),
            templates.update_template(session, viewer, saved.id, body="y"),
            templates.delete_template(session, viewer, saved.id),
        ):
            with pytest.raises(PermissionDenied):
                await action
        marketer = Actor(owner.workspace_id, Role.MARKETER)
        await templates.update_template(session, marketer, saved.id, body="z")


# --- previews ----------------------------------------------------------------------------------


async def test_preview_for_a_contact_without_a_first_name_uses_the_fallback(
    platform: Platform, owner: Actor
):
    contact_id = await add_contact(platform, owner, NY)
    async with platform.sessions() as session:
        preview = await templates.render_preview(
            session,
            owner,
            CART,
            contact_id=contact_id,
            category="marketing",
            extra_context={"cart_url": "https://go.acme.co/c/1"},
        )
    assert preview.contact is not None and preview.contact.ok
    assert preview.contact.text == (
        "Acme: Hi there, your cart: https://go.acme.co/c/1\nReply STOP to opt out"
    )
    assert (preview.contact.parts, preview.contact.encoding) == (1, "GSM-7")
    assert (preview.contact.price, preview.contact.currency) == (Decimal("0.0079"), "USD")
    assert preview.broken == []
    assert [r.contact_id for r in preview.recipients] == [contact_id]


async def test_preview_lists_recipients_who_would_not_be_sent_and_what_they_lack(
    platform: Platform, owner: Actor
):
    with_city = await add_contact(
        platform, owner, NY, first_name="Ana", attributes={"city": "Campinas"}
    )
    without = await add_contact(platform, owner, SF, first_name="Bo")
    body = "{{ brand }}: {{ first_name }}, news from {{ attributes.city }}!"
    async with platform.sessions() as session:
        preview = await templates.render_preview(session, owner, body, category="transactional")
    assert [r.contact_id for r in preview.recipients] == [with_city]
    assert preview.recipients[0].text == "Acme: Ana, news from Campinas!"
    assert [(r.contact_id, r.missing, r.ok, r.price) for r in preview.broken] == [
        (without, ("attributes.city",), False, None)
    ]
    assert preview.cost.messages == 1 and preview.cost.totals == {"USD": Decimal("0.0079")}
    assert "variable_without_default" in [f.code for f in preview.findings]


async def test_preview_writes_the_footer_in_each_contacts_language(
    platform: Platform, owner: Actor
):
    english = await add_contact(platform, owner, NY, first_name="Ann")
    brazilian = await add_contact(platform, owner, SP, first_name="Rui", language="pt-BR")
    body = "{{ brand }}: oi {{ first_name }}"
    async with platform.sessions() as session:
        marketing = await templates.render_preview(session, owner, body, category="marketing")
        service = await templates.render_preview(session, owner, body, category="transactional")
    texts = {r.contact_id: r.text for r in marketing.recipients}
    assert texts[english] == "Acme: oi Ann\nReply STOP to opt out"
    assert texts[brazilian] == "Acme: oi Rui\nResponda SAIR para cancelar"
    assert {r.text for r in service.recipients} == {"Acme: oi Ann", "Acme: oi Rui"}
    # A contact without a language gets the footer of the template's language.
    async with platform.sessions() as session:
        spanish = await templates.render_preview(
            session, owner, body, category="marketing", language="es", contact_id=english
        )
    assert spanish.contact is not None
    assert spanish.contact.text == "Acme: oi Ann\nResponde BAJA para cancelar"


async def test_preview_prices_each_text_on_the_workspace_card_and_totals_the_sample(
    platform: Platform, owner: Actor
):
    await add_contact(platform, owner, NY)
    await add_contact(platform, owner, SP)
    await add_rate(platform, owner.workspace_id, "1", 20_000, "long_code")
    await add_rate(platform, owner.workspace_id, "1", 10_000)
    body = "{{ brand }}: " + "long text " * 20  # two parts
    async with platform.sessions() as session:
        preview = await templates.render_preview(session, owner, body, category="transactional")
    prices = {r.phone: (r.parts, r.price, r.currency) for r in preview.recipients}
    # The default sender is a long code; Brazil is not on the card, so the default rate applies.
    assert prices == {
        NY: (2, Decimal("0.04"), "USD"),
        SP: (2, Decimal("0.0700"), "USD"),
    }
    assert preview.cost.totals == {"USD": Decimal("0.1100")}
    assert (preview.cost.messages, preview.cost.parts, preview.cost.unpriced) == (2, 4, 0)


async def test_preview_prices_with_the_kind_of_the_sender_asked_for(
    platform: Platform, owner: Actor
):
    contact_id = await add_contact(platform, owner, NY)
    await add_rate(platform, owner.workspace_id, "1", 30_000, "short_code")
    async with platform.sessions() as session:
        session.add(
            Sender(
                id=new_id("snd"),
                workspace_id=owner.workspace_id,
                address="55123",
                kind="short_code",
            )
        )
        await session.commit()
    async with platform.sessions() as session:
        short = await templates.render_preview(
            session, owner, "hi", category="transactional", contact_id=contact_id, sender="55123"
        )
        default = await templates.render_preview(
            session, owner, "hi", category="transactional", contact_id=contact_id
        )
        with pytest.raises(ValidationFailed):
            await templates.render_preview(
                session, owner, "hi", category="transactional", sender="+19999999999"
            )
    assert short.contact is not None and short.contact.price == Decimal("0.03")
    assert default.contact is not None and default.contact.price == Decimal("0.0079")


async def test_the_sample_is_the_first_contacts_by_id_unless_an_audience_is_given(
    platform: Platform, owner: Actor
):
    ids = [await add_contact(platform, owner, f"+1212555012{n}") for n in range(5)]
    async with platform.sessions() as session:
        preview = await templates.render_preview(
            session, owner, "hi", category="transactional", sample_size=3
        )
        assert [r.contact_id for r in preview.recipients] == sorted(ids)[:3]
        chosen = await templates.render_preview(
            session, owner, "hi", category="transactional", contact_id=ids[4], sample_size=5
        )
        assert [r.contact_id for r in chosen.recipients] == [ids[4], *sorted(ids)[:4]]
        audience = [await session.get(Contact, ids[2])]
        seam = await templates.render_preview(
            session,
            owner,
            "hi",
            category="transactional",
            audience=audience,  # type: ignore[arg-type]
        )
        assert [r.contact_id for r in seam.recipients] == [ids[2]]
        with pytest.raises(ValidationFailed):
            await templates.render_preview(
                session, owner, "hi", category="transactional", sample_size=1000
            )


async def test_a_list_is_rendered_whole_across_query_chunks(
    platform: Platform, owner: Actor, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(templates, "LIST_CHUNK", 7)  # 20 members: chunks of 7, 7 and 6
    ids = [
        await add_contact(platform, owner, f"+1212555{n:04d}", first_name=None if n % 5 else "Al")
        for n in range(100, 120)
    ]
    async with platform.sessions() as session:
        summer = await lists.create_list(session, owner, name="Summer")
        await lists.add_members(session, owner, summer.contact_list.id, contact_ids=ids)
        preview = await templates.render_preview(
            session,
            owner,
            "Hi {{ first_name }}",
            category="transactional",
            list_id=summer.contact_list.id,
            sample_size=2,
        )
    assert preview.audience == templates.AudienceTotals(summer.contact_list.id, 20, 4, 16)
    assert (preview.cost.messages, preview.cost.parts) == (4, 4)
    assert preview.cost.totals == {"USD": Decimal("0.0316")}
    assert (len(preview.recipients), len(preview.broken)) == (2, 2)


async def test_preview_of_another_workspaces_contact_is_not_found(
    platform: Platform, owner: Actor, other_workspace: NewWorkspace
):
    theirs = await add_contact(platform, system_actor(other_workspace.workspace.id), NY)
    async with platform.sessions() as session:
        with pytest.raises(NotFound):
            await templates.render_preview(
                session, owner, "hi", category="transactional", contact_id=theirs
            )


async def test_preview_of_a_broken_body_is_a_422_with_the_line(platform: Platform, owner: Actor):
    async with platform.sessions() as session:
        with pytest.raises(TemplateSyntaxProblem) as error:
            await templates.render_preview(session, owner, "ok\n{% if x %}", category="marketing")
    assert error.value.line == 2


async def test_the_brand_comes_from_the_settings_else_the_workspace_name(
    platform: Platform, owner: Actor
):
    async with platform.sessions() as session:
        message, findings = await templates.render_message(
            session, owner, "{{ brand }}: hi", category="transactional"
        )
        assert message.text == "Acme: hi" and message.ok
        await workspace_admin.update_settings(session, owner, {"brand_name": "Acme Store"})
    async with platform.sessions() as session:
        message, findings = await templates.render_message(
            session, owner, "{{ brand }}: hi", category="marketing"
        )
        assert message.text == "Acme Store: hi\nReply STOP to opt out"
        assert "brand_missing" not in [f.code for f in findings]
        # The caller may still name another brand, e.g. a sub-brand.
        other, _ = await templates.render_message(
            session,
            owner,
            "{{ brand }}: hi",
            category="transactional",
            extra_context={"brand": "Acme Kids"},
        )
        assert other.text == "Acme Kids: hi"


async def test_smart_encoding_from_the_settings_applies_to_the_preview(
    platform: Platform, owner: Actor
):
    contact_id = await add_contact(platform, owner, NY)
    body = "{{ brand }}: it\u2019s here"
    async with platform.sessions() as session:
        plain = await templates.render_preview(
            session, owner, body, category="transactional", contact_id=contact_id
        )
        await workspace_admin.update_settings(session, owner, {"smart_encoding": True})
    async with platform.sessions() as session:
        smart = await templates.render_preview(
            session, owner, body, category="transactional", contact_id=contact_id
        )
    assert plain.contact is not None and plain.contact.encoding == "UCS-2"
    assert plain.contact.non_gsm == ("\u2019",)
    assert smart.contact is not None and smart.contact.encoding == "GSM-7"
    assert smart.contact.text == "Acme: it's here"


async def test_render_without_a_contact_uses_only_the_context_and_fallbacks(
    platform: Platform, owner: Actor
):
    async with platform.sessions() as session:
        missing, _ = await templates.render_message(session, owner, CART, category="marketing")
        given, _ = await templates.render_message(
            session, owner, CART, category="marketing", extra_context={"cart_url": "https://x.co/1"}
        )
        with pytest.raises(ValidationFailed):
            await templates.render_message(
                session, owner, CART, category="marketing", extra_context={"bad key": 1}
            )
    assert not missing.ok and missing.missing == ("cart_url",) and missing.price is None
    assert given.ok and given.text.startswith("Acme: Hi there, your cart: https://x.co/1")


async def test_a_recipient_whose_data_breaks_the_template_is_listed_with_the_problem(
    platform: Platform, owner: Actor
):
    await add_contact(platform, owner, NY, attributes={"balance": "lots"})
    async with platform.sessions() as session:
        preview = await templates.render_preview(
            session, owner, "You owe {{ attributes.balance | currency }}", category="transactional"
        )
    assert preview.recipients == []
    assert len(preview.broken) == 1 and "not an amount" in (preview.broken[0].problem or "")


# --- lint --------------------------------------------------------------------------------------


async def test_lint_uses_the_workspace_brand_part_limit_and_footer(
    platform: Platform, owner: Actor
):
    async with platform.sessions() as session:
        await workspace_admin.update_settings(
            session, owner, {"brand_name": "Zeta", "max_parts": 1}
        )
    async with platform.sessions() as session:
        findings = await templates.lint_template(
            session, owner, "Big sale! " + "x" * 140, category="marketing", language="pt-BR"
        )
        codes = {f.code for f in findings}
        assert {"brand_missing", "too_many_parts"} <= codes
        assert "opt_out_missing" not in codes  # the footer is added to marketing texts
        clean = await templates.lint_template(
            session,
            owner,
            "{{ brand }}: hi {{ first_name | default('there') }}",
            category="marketing",
        )
        assert clean == []
        broken = await templates.lint_template(session, owner, "{{ x", category="transactional")
        assert [(f.severity, f.code) for f in broken][:1] == [("error", "template_syntax")]


# --- prices ------------------------------------------------------------------------------------


async def test_the_rate_card_is_the_workspaces_with_the_default_rates_behind_it(
    platform: Platform, owner: Actor, other_workspace: NewWorkspace
):
    await add_rate(platform, owner.workspace_id, "55", 21_000, currency="BRL")
    await add_rate(
        platform, owner.workspace_id, "55", 50_000, sender_kind="short_code", currency="BRL"
    )
    async with platform.sessions() as session:
        card = await pricing.rate_card(session, owner.workspace_id)
        assert card.estimate(SP, 2) == (Decimal("0.042"), "BRL")
        assert card.estimate(SP, 1, "short_code") == (Decimal("0.05"), "BRL")
        assert card.estimate(NY, 1) == (Decimal("0.0079"), "USD")
        rival = await pricing.rate_card(session, other_workspace.workspace.id)
        assert rival.estimate(SP, 1) == (Decimal("0.0350"), "USD")
        cost = await pricing.audience_cost(
            session,
            owner.workspace_id,
            [(SP, 1, None), (SP, 2, "short_code"), (NY, 3, "long_code")],
        )
    assert cost.totals == {"BRL": Decimal("0.121"), "USD": Decimal("0.0237")}
    assert (cost.messages, cost.parts, cost.unpriced) == (3, 6, 0)
