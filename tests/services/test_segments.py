"""Saved segments against real rows, on SQLite and PostgreSQL: each kind of condition, AND/OR,
groups, exclusions, references between segments, and workspace isolation."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import select

from recado.db.tables import Click, Contact, ContactEvent, Link, Message, utcnow
from recado.domain.roles import Role
from recado.domain.segments import parse_definition
from recado.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from recado.ids import new_id
from recado.services import consent, contacts, lists, segments
from recado.services.actor import Actor, system_actor
from recado.services.consent import ConsentClaim
from recado.services.contacts import ContactChanges

_numbers = itertools.count(1000)
_names = itertools.count(1)


class People:
    """Contacts of one workspace made through the services, named by first name."""

    def __init__(self, platform, workspace) -> None:
        self.platform = platform
        self.workspace_id = workspace.workspace.id
        self.actor = system_actor(self.workspace_id)
        self.ids: dict[str, str] = {}

    async def add(self, name: str, *, tags=(), attributes=None, created_days_ago=None) -> str:
        async with self.platform.sessions() as session:
            details = await contacts.create_contact(
                session,
                self.actor,
                ContactChanges(
                    phone=f"+1415555{next(_numbers):04d}",
                    first_name=name,
                    tags=list(tags),
                    attributes=attributes or {},
                ),
            )
            if created_days_ago is not None:
                details.contact.created_at = utcnow() - timedelta(days=created_days_ago)
                await session.commit()
        self.ids[name] = details.contact.id
        return details.contact.id

    async def new_list(self, name: str, subscribed=(), unsubscribed=()) -> str:
        async with self.platform.sessions() as session:
            made = await lists.create_list(session, self.actor, name=name)
            list_id = made.contact_list.id
            for status, names in (("subscribed", subscribed), ("unsubscribed", unsubscribed)):
                if names:
                    await lists.add_members(
                        session,
                        self.actor,
                        list_id,
                        contact_ids=[self.ids[n] for n in names],
                        status=lists.MemberStatus(status),
                    )
        return list_id

    async def grant(self, name: str) -> None:
        async with self.platform.sessions() as session:
            contact = await session.get(Contact, self.ids[name])
            await consent.grant(session, contact, ConsentClaim(source="api"), by="test")
            await session.commit()

    async def opt_out(self, name: str) -> None:
        async with self.platform.sessions() as session:
            contact = await session.get(Contact, self.ids[name])
            await consent.opt_out(session, contact, source="keyword", by="test")
            await session.commit()

    async def message(self, name: str, direction: str, days_ago: float) -> Message:
        at = utcnow() - timedelta(days=days_ago)
        async with self.platform.sessions() as session:
            message = Message(
                id=new_id("msg"),
                workspace_id=self.workspace_id,
                contact_id=self.ids[name],
                direction=direction,
                sender="+14155550000",
                recipient="+14155550001",
                body="Acme: 20% off today" if direction == "outbound" else "Thanks!",
                media_urls=[],
                category="marketing",
                status="delivered" if direction == "outbound" else "received",
                idempotency_key=new_id("idem"),
                encoding="GSM-7",
                segments=1,
                created_at=at,
            )
            session.add(message)
            await session.commit()
        return message

    async def click(self, name: str, days_ago: float) -> None:
        message = await self.message(name, "outbound", days_ago + 0.01)
        async with self.platform.sessions() as session:
            link = Link(
                code=new_id("l")[-12:],
                workspace_id=self.workspace_id,
                url="https://acme.com/sale",
                message_id=message.id,
                contact_id=self.ids[name],
            )
            session.add(link)
            await session.flush()
            session.add(
                Click(
                    workspace_id=self.workspace_id,
                    link_code=link.code,
                    message_id=message.id,
                    contact_id=self.ids[name],
                    at=utcnow() - timedelta(days=days_ago),
                )
            )
            await session.commit()

    async def event(self, name: str, event: str, days_ago: float) -> None:
        async with self.platform.sessions() as session:
            session.add(
                ContactEvent(
                    id=new_id("evt"),
                    workspace_id=self.workspace_id,
                    event_id=new_id("e"),
                    name=event,
                    contact_id=self.ids[name],
                    occurred_at=utcnow() - timedelta(days=days_ago),
                    properties={},
                )
            )
            await session.commit()

    async def who(self, definition: dict) -> list[str]:
        """First names of the contacts a definition selects (saved, then listed)."""
        async with self.platform.sessions() as session:
            segment = await segments.create_segment(
                session, self.actor, name=f"segment {next(_names)}", definition=definition
            )
            rows, _ = await segments.list_contacts(
                session, self.actor, segment.id, utcnow(), limit=500
            )
            counted = await segments.count(
                session, self.actor, parse_definition(definition), utcnow()
            )
        names = sorted(d.contact.first_name or "" for d in rows)
        assert counted == len(names)
        return names

    async def save(self, name: str, definition: dict) -> str:
        async with self.platform.sessions() as session:
            segment = await segments.create_segment(
                session, self.actor, name=name, definition=definition
            )
        return segment.id


def tag(value: str) -> dict:
    return {"field": "tag", "op": "has", "value": value}


def attribute(name: str, op: str, value: object = None) -> dict:
    condition = {"field": "attribute", "name": name, "op": op}
    return condition if value is None else {**condition, "value": value}


def engagement(op: str, days: int | None = None) -> dict:
    return {"field": "engagement", "op": op, **({"value": days} if days else {})}


@pytest.fixture
async def people(platform, workspace) -> People:
    return People(platform, workspace)


# --- each kind of condition ------------------------------------------------------------------


async def test_a_list_condition_selects_its_subscribed_members_only(people):
    for name in ("Ana", "Bia", "Caio", "Duda"):
        await people.add(name)
    vip = await people.new_list("VIP", subscribed=["Ana", "Bia"], unsubscribed=["Caio"])
    await people.new_list("Other", subscribed=["Duda"])
    assert await people.who({"conditions": [{"field": "list", "op": "in", "value": vip}]}) == [
        "Ana",
        "Bia",
    ]


async def test_a_tag_condition_selects_the_tagged_contacts(people):
    await people.add("Ana", tags=["vip", "sp"])
    await people.add("Bia", tags=["sp"])
    await people.add("Caio")
    assert await people.who({"conditions": [tag("vip")]}) == ["Ana"]
    assert await people.who({"conditions": [tag("sp")]}) == ["Ana", "Bia"]


async def test_attribute_text_conditions_match_like_a_marketer_expects(people):
    await people.add("Ana", attributes={"city": "São Paulo", "plan": "gold"})
    await people.add("Bia", attributes={"city": "Rio de Janeiro", "plan": "silver"})
    await people.add("Caio", attributes={"city": "sao paulo"})
    await people.add("Duda")
    assert await people.who({"conditions": [attribute("plan", "equals", "gold")]}) == ["Ana"]
    # "not gold" includes contacts that have no plan at all
    assert await people.who({"conditions": [attribute("plan", "not_equals", "gold")]}) == [
        "Bia",
        "Caio",
        "Duda",
    ]
    assert await people.who({"conditions": [attribute("city", "contains", "JANEIRO")]}) == ["Bia"]
    assert await people.who({"conditions": [attribute("city", "contains", "paulo")]}) == [
        "Ana",
        "Caio",
    ]
    assert await people.who({"conditions": [attribute("plan", "exists")]}) == ["Ana", "Bia"]
    # a percent sign is text to find, not a wildcard
    assert await people.who({"conditions": [attribute("city", "contains", "%")]}) == []


async def test_attribute_numbers_compare_numerically_including_imported_text(people):
    await people.add("Ana", attributes={"seats": 3})
    await people.add("Bia", attributes={"seats": 12.5})
    await people.add("Caio", attributes={"seats": "20"})  # as a CSV import stores it
    await people.add("Duda", attributes={"seats": "many"})
    await people.add("Eva", attributes={"seats": True})
    await people.add("Fabi")
    assert await people.who({"conditions": [attribute("seats", "gt", 10)]}) == ["Bia", "Caio"]
    assert await people.who({"conditions": [attribute("seats", "lt", 10)]}) == ["Ana"]
    assert await people.who({"conditions": [attribute("seats", "equals", 20)]}) == ["Caio"]
    assert await people.who({"conditions": [attribute("seats", "equals", 3)]}) == ["Ana"]
    assert await people.who({"conditions": [attribute("seats", "equals", True)]}) == ["Eva"]
    # text 2 is bigger than text 10, but not as numbers
    assert await people.who({"conditions": [attribute("seats", "gt", 2)]}) == [
        "Ana",
        "Bia",
        "Caio",
    ]


async def test_attribute_dates_compare_by_day(people):
    await people.add("Ana", attributes={"renewal": "2026-03-01"})
    await people.add("Bia", attributes={"renewal": "2026-03-15T10:00:00Z"})
    await people.add("Caio", attributes={"renewal": "2026-02-28"})
    await people.add("Duda", attributes={"renewal": "soon"})
    await people.add("Eva")
    after = attribute("renewal", "after", "2026-03-01")
    before = attribute("renewal", "before", "2026-03-01")
    assert await people.who({"conditions": [after]}) == ["Bia"]
    assert await people.who({"conditions": [before]}) == ["Caio"]


async def test_created_conditions_use_the_day_or_a_window(people):
    await people.add("Old", created_days_ago=40)
    await people.add("Recent", created_days_ago=3)
    await people.add("Today")
    cutoff = (utcnow() - timedelta(days=10)).date().isoformat()
    assert await people.who(
        {"conditions": [{"field": "created", "op": "before", "value": cutoff}]}
    ) == ["Old"]
    assert await people.who(
        {"conditions": [{"field": "created", "op": "after", "value": cutoff}]}
    ) == ["Recent", "Today"]
    assert await people.who(
        {"conditions": [{"field": "created", "op": "within_days", "value": 7}]}
    ) == ["Recent", "Today"]


async def test_engagement_windows_count_back_from_now(people):
    for name in ("Clicker", "OldClicker", "Replier", "Buyer", "Browser", "Quiet"):
        await people.add(name)
    await people.click("Clicker", days_ago=5)
    await people.click("OldClicker", days_ago=45)
    await people.message("Replier", "inbound", days_ago=2)
    await people.message("Quiet", "outbound", days_ago=60)
    await people.event("Buyer", "order.placed", days_ago=10)
    await people.event("Browser", "cart.abandoned", days_ago=1)

    assert await people.who({"conditions": [engagement("clicked_within_days", 30)]}) == ["Clicker"]
    assert await people.who({"conditions": [engagement("clicked_within_days", 60)]}) == [
        "Clicker",
        "OldClicker",
    ]
    assert await people.who({"conditions": [engagement("never_clicked")]}) == [
        "Browser",
        "Buyer",
        "Quiet",
        "Replier",
    ]
    assert await people.who({"conditions": [engagement("replied_within_days", 7)]}) == ["Replier"]
    assert await people.who({"conditions": [engagement("converted_within_days", 30)]}) == ["Buyer"]
    assert await people.who({"conditions": [engagement("converted_within_days", 7)]}) == []
    # not messaged in 30 days: the clickers got their message 5 and 45 days ago
    assert await people.who({"conditions": [engagement("not_messaged_days", 30)]}) == [
        "Browser",
        "Buyer",
        "OldClicker",
        "Quiet",
        "Replier",
    ]


async def test_consent_conditions_tell_granted_none_and_opted_out_apart(people):
    for name in ("Yes", "Unknown", "Stopped"):
        await people.add(name)
    await people.grant("Yes")
    await people.grant("Stopped")
    await people.opt_out("Stopped")

    def is_(state: str) -> dict:
        return {"conditions": [{"field": "consent", "op": "is", "value": state}]}

    assert await people.who(is_("granted")) == ["Yes"]
    assert await people.who(is_("none")) == ["Unknown"]
    assert await people.who(is_("opted_out")) == ["Stopped"]


# --- combining -------------------------------------------------------------------------------


async def test_all_any_groups_and_exclusions_combine(people):
    await people.add("Ana", tags=["vip", "sp"], attributes={"plan": "gold"})
    await people.add("Bia", tags=["vip", "rj"])
    await people.add("Caio", tags=["sp"], attributes={"plan": "gold"})
    await people.add("Duda", tags=["rj"])
    await people.add("Eva", tags=["vip", "sp"], attributes={"plan": "gold"})
    await people.opt_out("Eva")
    assert await people.who({"match": "all", "conditions": [tag("vip"), tag("sp")]}) == [
        "Ana",
        "Eva",
    ]
    assert await people.who({"match": "any", "conditions": [tag("vip"), tag("sp")]}) == [
        "Ana",
        "Bia",
        "Caio",
        "Eva",
    ]
    # (vip or gold) and rj
    nested = {
        "conditions": [
            {"match": "any", "conditions": [tag("vip"), attribute("plan", "equals", "gold")]},
            tag("rj"),
        ]
    }
    assert await people.who(nested) == ["Bia"]
    # everyone, minus the opted-out and anyone in rj
    everyone_but = {
        "conditions": [],
        "exclude": [{"field": "consent", "op": "is", "value": "opted_out"}, tag("rj")],
    }
    assert await people.who(everyone_but) == ["Ana", "Caio"]
    # excluding by a missing attribute keeps the contacts without it
    assert await people.who(
        {"conditions": [tag("sp")], "exclude": [attribute("plan", "equals", "silver")]}
    ) == ["Ana", "Caio", "Eva"]


async def test_a_segment_can_use_another_and_its_exclusions(people):
    await people.add("Ana", tags=["vip", "sp"])
    await people.add("Bia", tags=["vip"])
    await people.add("Caio", tags=["sp"])
    vip_not_sp = await people.save(
        "VIP outside SP", {"conditions": [tag("vip")], "exclude": [tag("sp")]}
    )
    uses = {"field": "segment", "op": "in", "value": vip_not_sp}
    assert await people.who({"match": "any", "conditions": [uses, tag("sp")]}) == [
        "Ana",
        "Bia",
        "Caio",
    ]
    assert await people.who({"conditions": [], "exclude": [uses]}) == ["Ana", "Caio"]


async def test_segments_that_would_refer_to_each_other_are_refused(people, platform):
    first = await people.save("First", {"conditions": [tag("vip")]})
    second = await people.save(
        "Second", {"conditions": [{"field": "segment", "op": "in", "value": first}]}
    )
    async with platform.sessions() as session:
        with pytest.raises(ValidationFailed) as caught:
            await segments.update_segment(
                session,
                people.actor,
                first,
                definition={"exclude": [{"field": "segment", "op": "in", "value": second}]},
            )
        assert caught.value.field == "definition.exclude[0].value"
        assert "cycle" in caught.value.message
        with pytest.raises(ValidationFailed, match="cycle"):
            await segments.update_segment(
                session,
                people.actor,
                first,
                definition={"conditions": [{"field": "segment", "op": "in", "value": first}]},
            )
        with pytest.raises(Conflict, match="Second"):
            await segments.delete_segment(session, people.actor, first)


async def test_lists_and_segments_of_another_workspace_are_unknown_references(
    people, platform, other_workspace
):
    rival = People(platform, other_workspace)
    rival_list = await rival.new_list("Rival list")
    rival_segment = await rival.save("Rival", {"conditions": [tag("vip")]})
    async with platform.sessions() as session:
        for condition in (
            {"field": "list", "op": "in", "value": rival_list},
            {"field": "segment", "op": "in", "value": rival_segment},
        ):
            with pytest.raises(ValidationFailed) as caught:
                await segments.count(
                    session,
                    people.actor,
                    parse_definition({"conditions": [tag("x"), condition]}),
                    utcnow(),
                )
            assert caught.value.field == "definition.conditions[1].value"
            assert "in this workspace" in caught.value.message
        with pytest.raises(NotFound):
            await segments.contact_filter(session, people.workspace_id, rival_segment, utcnow())


async def test_another_workspaces_contacts_are_never_counted(people, platform, other_workspace):
    await people.add("Ana", tags=["vip"])
    rival = People(platform, other_workspace)
    await rival.add("Rita", tags=["vip"])
    await rival.add("Rui")
    assert await people.who({"conditions": [tag("vip")]}) == ["Ana"]
    assert await people.who({"conditions": [engagement("never_clicked")]}) == ["Ana"]
    assert await people.who({}) == ["Ana"]


async def test_contact_filter_selects_a_saved_segments_contacts_for_campaigns(people, platform):
    await people.add("Ana", tags=["vip"])
    await people.add("Bia")
    segment_id = await people.save("VIPs", {"conditions": [tag("vip")]})
    async with platform.sessions() as session:
        where = await segments.contact_filter(session, people.workspace_id, segment_id, utcnow())
        found = list(await session.scalars(select(Contact.first_name).where(where)))
    assert found == ["Ana"]


# --- saving ----------------------------------------------------------------------------------


async def test_names_are_unique_in_a_workspace_and_free_in_another(
    people, platform, other_workspace
):
    await people.save("VIPs", {"conditions": [tag("vip")]})
    async with platform.sessions() as session:
        with pytest.raises(Conflict, match="already named 'VIPs'"):
            await segments.create_segment(session, people.actor, name=" VIPs ", definition={})
    await People(platform, other_workspace).save("VIPs", {})


async def test_a_viewer_may_count_but_not_save(people, platform):
    viewer = Actor(workspace_id=people.workspace_id, role=Role.VIEWER)
    async with platform.sessions() as session:
        assert await segments.count(session, viewer, parse_definition({}), utcnow()) == 0
        with pytest.raises(PermissionDenied):
            await segments.create_segment(session, viewer, name="Mine", definition={})


async def test_an_update_keeps_what_was_not_sent(people, platform):
    segment_id = await people.save("VIPs", {"conditions": [tag("vip")]})
    async with platform.sessions() as session:
        updated = await segments.update_segment(
            session, people.actor, segment_id, description="Best customers"
        )
    assert updated.name == "VIPs"
    assert updated.definition == {"conditions": [tag("vip")]}
    assert updated.description == "Best customers"


async def test_a_campaign_audience_includes_and_excludes_saved_segments(people, platform):
    from recado.services import audience

    await people.add("Ana", tags=["vip", "sp"])
    await people.add("Bia", tags=["vip"])
    await people.add("Caio", tags=["sp"])
    vips = await people.save("VIPs", {"conditions": [tag("vip")]})
    in_sp = await people.save("SP", {"conditions": [tag("sp")]})
    chosen = audience.Audience(segments=(vips,), exclude_segments=(in_sp,))
    async with platform.sessions() as session:
        where = await audience.condition(
            session, people.workspace_id, chosen, utcnow(), walk_by_id=True
        )
        found = list(
            await session.scalars(select(Contact.first_name).where(where).order_by(Contact.id))
        )
    assert found == ["Bia"]
