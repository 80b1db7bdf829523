"""A workspace's message templates: save, list, change, delete, and preview before sending.

A preview renders a body the way a send would: the brand from the workspace settings, the
contact's fields, the opt-out footer on marketing texts in the contact's language, smart
encoding if the workspace uses it, and the price of each text from the workspace's rate
card. Recipients whose text cannot be written (a variable without a fallback is missing) are
listed apart, with what they lack: they would not be sent. A preview of a list renders every
subscribed member for the totals, and shows a sample of them in detail.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from recado.db.pages import page_by_id
from recado.db.tables import (
    Contact,
    ContactList,
    ListMember,
    Sender,
    Template,
    Workspace,
    utcnow,
)
from recado.domain.contact_fields import clean_language
from recado.domain.encoding import analyze
from recado.domain.footer import with_footer
from recado.domain.links import link_base
from recado.domain.lint import Finding, lint
from recado.domain.pricing import CostEstimate, RateCard, total_cost
from recado.domain.roles import Permission
from recado.domain.template_library import BRAND_VARIABLE, bind_brand
from recado.domain.templates import (
    MessageTemplate,
    RenderContext,
    TemplateProblem,
    TemplateVariables,
    compile_template,
)
from recado.domain.workspace_settings import WorkspaceSettings, read_settings
from recado.errors import Conflict, NotFound, ValidationFailed
from recado.ids import new_id
from recado.services import pricing
from recado.services.actor import Actor
from recado.services.contacts import UNSET, Unset, check_cursor, looks_like_id, single_line

Category = Literal["marketing", "transactional"]

MAX_SAMPLE_SIZE: Final = 100
MAX_CONTEXT_KEYS: Final = 100
MAX_USE_CASE: Final = 64
LIST_CHUNK: Final = 1000  # members rendered per query when a whole list is previewed
_CONTEXT_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


# --- saved templates ---------------------------------------------------------------------------


async def create_template(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    language: str,
    body: str,
    use_case: str | None = None,
) -> Template:
    """Save a template. The body must compile; (name, language) is unique in a workspace."""
    actor.require(Permission.MANAGE_CAMPAIGNS)
    now = utcnow()
    template = Template(
        id=new_id("tpl"),
        workspace_id=actor.workspace_id,
        name=_name(name),
        language=_language(language),
        use_case=_use_case(use_case),
        body=check_body(body),
        created_at=now,
        updated_at=now,
    )
    await _check_free(session, actor, template.name, template.language)
    session.add(template)
    await _commit(session, template.name, template.language)
    return template


async def get_template(session: AsyncSession, actor: Actor, template_id: str) -> Template:
    actor.require(Permission.READ)
    return await _get(session, actor, template_id)


async def list_templates(
    session: AsyncSession,
    actor: Actor,
    *,
    language: str | None = None,
    use_case: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Template], str | None]:
    """Newest first; `cursor` is the id of the last template of the previous page."""
    actor.require(Permission.READ)
    query = select(Template).where(Template.workspace_id == actor.workspace_id)
    if language:
        query = query.where(Template.language == _language(language))
    if use_case:
        query = query.where(Template.use_case == use_case.strip())
    return await page_by_id(
        session, query, Template.id, limit=limit, cursor=cursor and check_cursor(cursor)
    )


async def update_template(
    session: AsyncSession,
    actor: Actor,
    template_id: str,
    *,
    name: str | None | Unset = UNSET,
    language: str | None | Unset = UNSET,
    body: str | None | Unset = UNSET,
    use_case: str | None | Unset = UNSET,
) -> Template:
    """Change a template; a field left UNSET stays as it is. `use_case=None` clears it; the
    others cannot be cleared (None is a 422)."""
    actor.require(Permission.MANAGE_CAMPAIGNS)
    template = await _get(session, actor, template_id)
    new_name = template.name if name is UNSET else _name(name)
    new_language = template.language if language is UNSET else _language(language)
    if (new_name, new_language) != (template.name, template.language):
        await _check_free(session, actor, new_name, new_language)
    if body is not UNSET:
        template.body = check_body(body)
    if use_case is not UNSET:
        template.use_case = _use_case(use_case)
    template.name = new_name
    template.language = new_language
    template.updated_at = utcnow()
    await _commit(session, new_name, new_language)
    return template


async def delete_template(session: AsyncSession, actor: Actor, template_id: str) -> None:
    actor.require(Permission.MANAGE_CAMPAIGNS)
    template = await _get(session, actor, template_id)
    await session.execute(
        delete(Template).where(
            Template.workspace_id == actor.workspace_id, Template.id == template.id
        )
    )
    await session.commit()


def check_body(body: str | None) -> str:
    """A body worth saving: not blank, no NUL, and it compiles (else a 422 with the line)."""
    if body is None or not body.strip():
        raise ValidationFailed("The template needs a body.", field="body")
    if "\x00" in body:
        raise ValidationFailed("The body contains a NUL character; remove it.", field="body")
    compiled(body)
    return body


def compiled(body: str) -> MessageTemplate:
    """`body` compiled; a syntax or sandbox problem is a 422 on the `body` field with its line."""
    try:
        return compile_template(body)
    except TemplateProblem as problem:
        raise type(problem)(problem.detail, line=problem.line, field="body") from None


# --- previews ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipientRender:
    """The text one recipient would get, what it costs, or why it cannot be sent.

    `ok` is false when a variable without a fallback is missing (`missing`) or when the
    recipient's data breaks the template (`problem`, e.g. an amount that is not a number);
    such a recipient would not be sent, and has no price.
    """

    contact_id: str | None
    phone: str | None
    language: str | None
    ok: bool
    missing: tuple[str, ...]
    problem: str | None
    text: str
    parts: int
    encoding: str
    non_gsm: tuple[str, ...]
    price: Decimal | None
    currency: str | None


@dataclass(frozen=True)
class AudienceTotals:
    """A whole list rendered: its subscribed members, and how many of them would be sent."""

    list_id: str
    members: int
    sendable: int
    broken: int  # a variable without fallback missing, the data breaks it, or the text is empty


@dataclass(frozen=True)
class Preview:
    """A body rendered for a contact and a sample of recipients, with lint and cost.

    `recipients` are the sendable renders (the asked-for contact first), `broken` the ones
    that would not be sent, `cost` the price of the sendable ones. `example` shows the text
    with a typical value for every variable, as lint measures it. With a list, `audience`
    counts every subscribed member and `cost` prices all the sendable ones, while
    `recipients` and `broken` show at most `sample_size` members each.
    """

    category: Category
    language: str | None
    variables: TemplateVariables
    contact: RecipientRender | None
    recipients: list[RecipientRender]
    broken: list[RecipientRender]
    findings: list[Finding]
    cost: CostEstimate
    example: RecipientRender | None
    audience: AudienceTotals | None = None


async def render_preview(
    session: AsyncSession,
    actor: Actor,
    body: str,
    *,
    contact_id: str | None = None,
    sample_size: int = 20,
    category: Category,
    extra_context: Mapping[str, Any] | None = None,
    language: str | None = None,
    sender: str | None = None,
    audience: Sequence[Contact] | None = None,
    list_id: str | None = None,
    link_base_url: str | None = None,
) -> Preview:
    """Render `body` for `contact_id` and for a sample of recipients.

    The sample is `audience` when given (a campaign passes a sample of its own audience),
    else the workspace's first `sample_size` contacts by id. With `list_id`, every
    subscribed member of the list is rendered and priced, and `sample_size` of them are
    shown. `language` is the template's: it writes the footer and dates of contacts who have
    no language of their own. `link_base_url` is Recado's public URL, the home of short
    links when the workspace has no short domain (lint flags links elsewhere).
    """
    actor.require(Permission.READ)
    if not 0 <= sample_size <= MAX_SAMPLE_SIZE:
        raise ValidationFailed(
            f"sample_size is between 0 and {MAX_SAMPLE_SIZE}.", field="sample_size"
        )
    if audience is not None and list_id is not None:
        raise TypeError("pass an audience or a list_id, not both")
    template = compiled(body)
    language = _language(language) if language else None
    renderer = await _renderer(
        session, actor, category, extra_context, language, sender, link_base_url
    )
    contact = await _contact(session, actor, contact_id) if contact_id else None
    if list_id is not None:
        return await _list_preview(
            session, actor, renderer, template, body, contact, list_id, sample_size
        )
    if audience is None:
        audience = await _sample(session, actor.workspace_id, sample_size)
    chosen = renderer.render(template, contact) if contact else None
    renders = [chosen] if chosen else []
    renders += [
        renderer.render(template, c) for c in audience if contact is None or c.id != contact.id
    ]
    sendable = [r for r in renders if r.ok]
    return Preview(
        category=category,
        language=language,
        variables=template.variables,
        contact=chosen,
        recipients=sendable,
        broken=[r for r in renders if not r.ok],
        findings=renderer.lint(body),
        cost=total_cost(
            renderer.card, ((r.phone or "", r.parts, renderer.sender_kind) for r in sendable)
        ),
        example=renderer.example(template),
    )


async def render_message(
    session: AsyncSession,
    actor: Actor,
    body: str,
    *,
    contact_id: str | None = None,
    category: Category,
    extra_context: Mapping[str, Any] | None = None,
    language: str | None = None,
    sender: str | None = None,
    link_base_url: str | None = None,
) -> tuple[RecipientRender, list[Finding]]:
    """The text of `body` for one contact, or for nobody (only the context and the
    template's fallbacks), with the lint findings."""
    actor.require(Permission.READ)
    template = compiled(body)
    language = _language(language) if language else None
    renderer = await _renderer(
        session, actor, category, extra_context, language, sender, link_base_url
    )
    contact = await _contact(session, actor, contact_id) if contact_id else None
    return renderer.render(template, contact), renderer.lint(body)


async def lint_template(
    session: AsyncSession,
    actor: Actor,
    body: str,
    *,
    category: Category,
    language: str | None = None,
    link_base_url: str | None = None,
) -> list[Finding]:
    """Lint with the workspace's brand, short-link domain, part limit and footer texts.

    Short links live on the workspace's short domain, else on `link_base_url` (Recado's
    public URL): a URL elsewhere is flagged as not shortened. A syntax error is a finding
    here, not an error: lint is advice on a draft."""
    actor.require(Permission.READ)
    workspace, settings = await _workspace(session, actor.workspace_id)
    return _lint(
        body,
        category,
        _language(language) if language else None,
        workspace,
        settings,
        link_base_url,
    )


async def _list_preview(
    session: AsyncSession,
    actor: Actor,
    renderer: _Renderer,
    template: MessageTemplate,
    body: str,
    contact: Contact | None,
    list_id: str,
    sample_size: int,
) -> Preview:
    """Every subscribed member of the list rendered and priced; `sample_size` of the
    sendable and of the broken ones kept for detail, after the asked-for contact."""
    await _check_list(session, actor, list_id)
    chosen = renderer.render(template, contact) if contact else None
    shown_first = contact.id if contact else None  # the asked-for contact, shown once
    shown_ok: list[RecipientRender] = []
    shown_broken: list[RecipientRender] = []
    cost = CostEstimate()
    members = broken = 0
    async for chunk in _subscribed_members(session, actor.workspace_id, list_id):
        renders = [renderer.render(template, member) for member in chunk]
        sendable = [r for r in renders if r.ok]
        members += len(renders)
        broken += len(renders) - len(sendable)
        cost += total_cost(
            renderer.card, ((r.phone or "", r.parts, renderer.sender_kind) for r in sendable)
        )
        for render in renders:
            shown = shown_ok if render.ok else shown_broken
            if len(shown) < sample_size and render.contact_id != shown_first:
                shown.append(render)
    first = [chosen] if chosen else []
    return Preview(
        category=renderer.category,
        language=renderer.language,
        variables=template.variables,
        contact=chosen,
        recipients=[r for r in first if r.ok] + shown_ok,
        broken=[r for r in first if not r.ok] + shown_broken,
        findings=renderer.lint(body),
        cost=cost,
        example=renderer.example(template),
        audience=AudienceTotals(list_id, members, members - broken, broken),
    )


# --- internals ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Renderer:
    """What every render of one preview shares: settings, brand, context, prices."""

    workspace: Workspace
    settings: WorkspaceSettings
    category: Category
    context: Mapping[str, Any]
    language: str | None
    card: RateCard
    sender_kind: str | None
    link_base_url: str | None

    def render(self, template: MessageTemplate, contact: Contact | None) -> RecipientRender:
        fields = template_fields(contact) if contact else {}
        language = (contact.language if contact else None) or self.language
        try:
            rendered = template.render(
                RenderContext.of_contact(fields, extra=self.context, language=language)
            )
        except TemplateProblem as problem:
            return self._measure(contact, language, "", (), problem.message)
        return self._measure(contact, language, rendered.text, rendered.missing, None)

    def example(self, template: MessageTemplate) -> RecipientRender | None:
        try:
            rendered = template.preview(self.language, samples=self.context)
        except TemplateProblem:
            return None  # lint reports it
        return self._measure(None, self.language, rendered.text, rendered.missing, None)

    def lint(self, body: str) -> list[Finding]:
        return _lint(
            body, self.category, self.language, self.workspace, self.settings, self.link_base_url
        )

    def _measure(
        self,
        contact: Contact | None,
        language: str | None,
        text: str,
        missing: tuple[str, ...],
        problem: str | None,
    ) -> RecipientRender:
        ok = not missing and problem is None and bool(text.strip())
        if ok and self.category == "marketing":
            text = with_footer(text, language, self.settings.footer())
        report = analyze(text, smart=self.settings.smart_encoding)
        price = (
            self.card.estimate(contact.phone, report.segments, self.sender_kind)
            if ok and contact
            else None
        )
        return RecipientRender(
            contact_id=contact.id if contact else None,
            phone=contact.phone if contact else None,
            language=language,
            ok=ok,
            missing=missing,
            problem=problem,
            text=report.text,
            parts=report.segments,
            encoding=report.encoding,
            non_gsm=report.non_gsm,
            price=price[0] if price else None,
            currency=price[1] if price else None,
        )


async def _renderer(
    session: AsyncSession,
    actor: Actor,
    category: Category,
    extra_context: Mapping[str, Any] | None,
    language: str | None,
    sender: str | None,
    link_base_url: str | None,
) -> _Renderer:
    if category not in ("marketing", "transactional"):
        raise ValidationFailed("category is marketing or transactional.", field="category")
    workspace, settings = await _workspace(session, actor.workspace_id)
    # The brand is the workspace's; a caller's context may still name another (a sub-brand).
    context = {BRAND_VARIABLE: _brand(workspace, settings), **_check_context(extra_context)}
    return _Renderer(
        workspace=workspace,
        settings=settings,
        category=category,
        context=context,
        language=language,
        card=await pricing.rate_card(session, actor.workspace_id),
        sender_kind=await _sender_kind(session, actor.workspace_id, sender),
        link_base_url=link_base_url,
    )


def _lint(
    body: str,
    category: Category,
    language: str | None,
    workspace: Workspace,
    settings: WorkspaceSettings,
    link_base_url: str | None,
) -> list[Finding]:
    # Short links live on the workspace's short domain, else on Recado's own URL.
    short_links = (
        link_base(settings.short_domain, link_base_url) if link_base_url else settings.short_domain
    )
    return lint(
        bind_brand(body, _brand(workspace, settings)),
        category=category,
        brand=settings.brand_name,
        short_domain=short_links,
        max_parts=settings.max_parts,
        footer_will_be_added=category == "marketing",
        language=language,
        footer_settings=settings.footer(),
    )


def _brand(workspace: Workspace, settings: WorkspaceSettings) -> str:
    return (settings.brand_name or "").strip() or workspace.name


async def _workspace(
    session: AsyncSession, workspace_id: str
) -> tuple[Workspace, WorkspaceSettings]:
    workspace = await session.get(Workspace, workspace_id)
    assert workspace is not None
    return workspace, read_settings(workspace.settings)


async def _sender_kind(session: AsyncSession, workspace_id: str, sender: str | None) -> str | None:
    query = select(Sender.kind).where(Sender.workspace_id == workspace_id)
    if sender:
        kind = await session.scalar(query.where(Sender.address == sender.strip()))
        if kind is None:
            raise ValidationFailed(f"'{sender}' is not a sender of this workspace.", field="from")
        return kind
    return await session.scalar(query.order_by(Sender.is_default.desc(), Sender.id).limit(1))


async def _contact(session: AsyncSession, actor: Actor, contact_id: str) -> Contact:
    contact = None
    if looks_like_id(contact_id):
        contact = await session.scalar(
            select(Contact).where(
                Contact.workspace_id == actor.workspace_id, Contact.id == contact_id
            )
        )
    if contact is None:
        raise NotFound(
            f"No contact with id {contact_id[:40]} in this workspace.", field="contact_id"
        )
    return contact


async def _check_list(session: AsyncSession, actor: Actor, list_id: str) -> None:
    found = None
    if looks_like_id(list_id):
        found = await session.scalar(
            select(ContactList.id).where(
                ContactList.workspace_id == actor.workspace_id, ContactList.id == list_id
            )
        )
    if found is None:
        raise NotFound(f"No list with id {list_id[:40]} in this workspace.", field="list_id")


async def _subscribed_members(
    session: AsyncSession, workspace_id: str, list_id: str
) -> AsyncIterator[list[Contact]]:
    """The list's subscribed members by contact id, `LIST_CHUNK` at a time (keyset pages)."""
    after = ""
    while True:
        chunk = list(
            await session.scalars(
                select(Contact)
                .join(ListMember, ListMember.contact_id == Contact.id)
                .where(
                    ListMember.workspace_id == workspace_id,
                    ListMember.list_id == list_id,
                    ListMember.status == "subscribed",
                    Contact.workspace_id == workspace_id,
                    Contact.id > after,
                )
                .order_by(Contact.id)
                .limit(LIST_CHUNK)
            )
        )
        if chunk:
            yield chunk
        if len(chunk) < LIST_CHUNK:
            return
        after = chunk[-1].id


async def _sample(session: AsyncSession, workspace_id: str, size: int) -> list[Contact]:
    if size == 0:
        return []
    return list(
        await session.scalars(
            select(Contact)
            .where(Contact.workspace_id == workspace_id)
            .order_by(Contact.id)
            .limit(size)
        )
    )


def template_fields(contact: Contact) -> dict[str, Any]:  # also used by the send path
    """What a template sees of a contact: its fields, custom attributes under `attributes`."""
    return {
        "phone": contact.phone,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "language": contact.language,
        "timezone": contact.timezone,
        "region": contact.region,
        "external_id": contact.external_id,
        "attributes": dict(contact.attributes or {}),
    }


def _check_context(context: Mapping[str, Any] | None) -> dict[str, Any]:
    if not context:
        return {}
    if len(context) > MAX_CONTEXT_KEYS:
        raise ValidationFailed(
            f"The context has more than {MAX_CONTEXT_KEYS} values.", field="context"
        )
    for key in context:
        if not isinstance(key, str) or not _CONTEXT_KEY.match(key):
            raise ValidationFailed(
                f"'{str(key)[:40]}' is not a variable name: start with a letter or '_', then "
                "letters, digits or '_'.",
                field="context",
            )
    return dict(context)


def _name(name: str | None) -> str:
    text = (name or "").strip()
    if not text:
        raise ValidationFailed("The template needs a name.", field="name")
    return single_line(text, "name", 200)


def _language(language: str | None) -> str:
    cleaned = clean_language(language)
    if cleaned is None:
        raise ValidationFailed(
            "The template needs a language, such as en, pt-BR or es.", field="language"
        )
    return cleaned


def _use_case(use_case: str | None) -> str | None:
    if use_case is None or not use_case.strip():
        return None
    return single_line(use_case.strip(), "use_case", MAX_USE_CASE)


async def _get(session: AsyncSession, actor: Actor, template_id: str) -> Template:
    template = None
    if looks_like_id(template_id):
        template = await session.scalar(
            select(Template).where(
                Template.workspace_id == actor.workspace_id, Template.id == template_id
            )
        )
    if template is None:
        raise NotFound(f"No template with id {template_id[:40]} in this workspace.")
    return template


async def _check_free(session: AsyncSession, actor: Actor, name: str, language: str) -> None:
    existing = await session.scalar(
        select(Template.id).where(
            Template.workspace_id == actor.workspace_id,
            Template.name == name,
            Template.language == language,
        )
    )
    if existing is not None:
        raise _duplicate(name, language, existing)


def _duplicate(name: str, language: str, template_id: str | None = None) -> Conflict:
    which = f" ({template_id})" if template_id else ""
    return Conflict(
        f"This workspace already has a template named '{name}' in {language}{which}; "
        "choose another name or change that template.",
        field="name",
    )


async def _commit(session: AsyncSession, name: str, language: str) -> None:
    try:
        await session.commit()
    except IntegrityError:
        # Someone saved the same name and language a moment ago.
        await session.rollback()
        raise _duplicate(name, language) from None
