"""/v1/templates: the ready-made library, the workspace's own templates, preview and lint."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from recado.api.deps import CurrentActor, Session, get_platform
from recado.api.pages import Cursor, Limit, Page
from recado.db.tables import Template
from recado.domain.lint import Finding
from recado.domain.roles import Permission
from recado.domain.template_library import (
    LibraryTemplate,
    find_library_templates,
    library_templates,
)
from recado.domain.templates import MAX_SOURCE_LENGTH, TemplateVariables, template_variables
from recado.errors import NotFound
from recado.services import templates
from recado.services.contacts import UNSET
from recado.services.templates import MAX_SAMPLE_SIZE, AudienceTotals, Preview, RecipientRender

router = APIRouter(prefix="/v1/templates", tags=["templates"])

Category = Literal["marketing", "transactional"]
Body = Field(max_length=MAX_SOURCE_LENGTH, description="The template text (Jinja2 syntax)")


class VariablesOut(BaseModel):
    """The variables a body uses; `required` ones have no fallback, so a recipient without
    them is not sent the message."""

    names: list[str]
    with_default: list[str]
    required: list[str]

    @classmethod
    def of(cls, variables: TemplateVariables) -> VariablesOut:
        return cls(**variables.to_dict())


class LibraryTemplateOut(BaseModel):
    """A ready-made template in one language. Copy its body into a workspace template."""

    id: str = Field(description="Same id in every language, e.g. abandoned_cart_1")
    use_case: str
    category: Category
    language: str
    name: str
    description: str = Field(description="When to send it")
    body: str
    variables: dict[str, str] = Field(description="Each variable the body uses, and what it is")
    sample: dict[str, Any] = Field(description="Typical values of the variables without fallback")
    max_parts: int = Field(description="Parts at most, footer included, with the sample values")

    @classmethod
    def of(cls, entry: LibraryTemplate) -> LibraryTemplateOut:
        return cls(**entry.to_dict())


class TemplateIn(BaseModel):
    """A template to save. (name, language) is unique in a workspace."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Up to 200 characters")
    language: str = Field(description="en, pt-BR, es...")
    body: str = Body
    use_case: str | None = Field(default=None, description="welcome, abandoned_cart, otp...")


class TemplatePatch(BaseModel):
    """Fields to change; the ones left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    language: str | None = None
    body: str | None = Field(default=None, max_length=MAX_SOURCE_LENGTH)
    use_case: str | None = Field(default=None, description="Null clears it")


class TemplateOut(BaseModel):
    """A workspace's saved template."""

    id: str
    name: str
    language: str
    use_case: str | None
    body: str
    variables: VariablesOut
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, template: Template) -> TemplateOut:
        return cls(
            id=template.id,
            name=template.name,
            language=template.language,
            use_case=template.use_case,
            body=template.body,
            variables=VariablesOut.of(template_variables(template.body)),
            created_at=template.created_at,
            updated_at=template.updated_at,
        )


class FindingOut(BaseModel):
    """One piece of advice: errors block a send, warnings cost money or deliverability."""

    severity: Literal["error", "warning", "info"]
    code: str
    message: str
    fix: str
    details: dict[str, Any]

    @classmethod
    def of(cls, finding: Finding) -> FindingOut:
        return cls(**finding.to_dict())


class PreviewIn(BaseModel):
    """A body to render as recipients would get it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    body: str = Body
    category: Category = Field(
        default="marketing", description="Marketing texts get the opt-out footer"
    )
    contact_id: str | None = Field(default=None, description="Render for this contact first")
    context: dict[str, Any] = Field(
        default_factory=dict, description="Values the caller provides: cart_url, discount_code..."
    )
    language: str | None = Field(
        default=None,
        description="The template's language: footer and dates of contacts without one",
    )
    sample_size: int = Field(
        default=20,
        ge=0,
        le=MAX_SAMPLE_SIZE,
        description="How many of the workspace's contacts; with list_id, how many of the "
        "list's members to show in recipients (and in broken)",
    )
    list_id: str | None = Field(
        default=None,
        description="Render every subscribed member of this list: `cost` is then the price "
        "of the whole list and `audience` counts the members who would not be sent",
    )
    from_: str | None = Field(
        default=None, alias="from", description="Sender whose prices apply; the default if omitted"
    )


class RecipientOut(BaseModel):
    """The text one recipient would get, or why it would not be sent."""

    contact_id: str | None
    phone: str | None
    language: str | None
    ok: bool = Field(description="False: this recipient would not be sent")
    missing: list[str] = Field(description="Variables without fallback this recipient lacks")
    problem: str | None = Field(description="Why the text could not be written, if not missing")
    text: str = Field(description="With the footer for marketing, after smart encoding")
    parts: int
    encoding: str
    non_gsm: list[str] = Field(description="Characters that force UCS-2")
    price_estimate: Decimal | None
    currency: str | None

    @classmethod
    def of(cls, render: RecipientRender) -> RecipientOut:
        return cls(
            contact_id=render.contact_id,
            phone=render.phone,
            language=render.language,
            ok=render.ok,
            missing=list(render.missing),
            problem=render.problem,
            text=render.text,
            parts=render.parts,
            encoding=render.encoding,
            non_gsm=list(render.non_gsm),
            price_estimate=render.price,
            currency=render.currency,
        )


class CostOut(BaseModel):
    """The price of the sendable recipients of the preview (with list_id: of every sendable
    member of the list), one total per currency."""

    messages: int
    parts: int
    totals: dict[str, Decimal]
    unpriced: int = Field(description="Messages to destinations no rate covers")


class AudienceOut(BaseModel):
    """A whole list rendered (with list_id)."""

    list_id: str
    members: int = Field(description="Subscribed members rendered")
    sendable: int = Field(description="Members whose text can be written and priced")
    broken: int = Field(
        description="Members who would not be sent: a variable without fallback is missing, "
        "their data breaks the template, or the text comes out empty"
    )

    @classmethod
    def of(cls, audience: AudienceTotals) -> AudienceOut:
        return cls(
            list_id=audience.list_id,
            members=audience.members,
            sendable=audience.sendable,
            broken=audience.broken,
        )


class PreviewOut(BaseModel):
    """A body rendered for a contact and a sample, with lint findings and the cost."""

    category: Category
    language: str | None
    variables: VariablesOut
    contact: RecipientOut | None = Field(description="The contact asked for, if any")
    recipients: list[RecipientOut] = Field(description="Sendable renders, that contact first")
    broken: list[RecipientOut] = Field(description="Recipients who would not be sent")
    findings: list[FindingOut]
    cost: CostOut
    example: RecipientOut | None = Field(description="With a typical value for every variable")
    audience: AudienceOut | None = Field(
        default=None, description="With list_id: the whole list's counts"
    )

    @classmethod
    def of(cls, preview: Preview) -> PreviewOut:
        return cls(
            category=preview.category,
            language=preview.language,
            variables=VariablesOut.of(preview.variables),
            contact=RecipientOut.of(preview.contact) if preview.contact else None,
            recipients=[RecipientOut.of(r) for r in preview.recipients],
            broken=[RecipientOut.of(r) for r in preview.broken],
            findings=[FindingOut.of(f) for f in preview.findings],
            cost=CostOut(
                messages=preview.cost.messages,
                parts=preview.cost.parts,
                totals=dict(preview.cost.totals),
                unpriced=preview.cost.unpriced,
            ),
            example=RecipientOut.of(preview.example) if preview.example else None,
            audience=AudienceOut.of(preview.audience) if preview.audience else None,
        )


class LintIn(BaseModel):
    """A draft body to check."""

    model_config = ConfigDict(extra="forbid")

    body: str = Body
    category: Category = "marketing"
    language: str | None = Field(default=None, description="Language of the footer it will get")


class LintOut(BaseModel):
    findings: list[FindingOut] = Field(description="Errors first, then warnings, then info")


# --- the library (declared before /{template_id}, which would take "library") ---------------


@router.get(
    "/library",
    response_model=list[LibraryTemplateOut],
    summary="List ready-made templates",
    description="Welcome, double opt-in, abandoned cart (three steps), promotion, back in "
    "stock, order shipped, appointment reminder, feedback survey, win-back and OTP, in en, "
    "pt-BR and es. `{{ brand }}` is filled from the workspace settings; marketing texts get "
    "the opt-out footer when sent.",
)
async def list_library(
    actor: CurrentActor, use_case: str | None = None, language: str | None = None
) -> list[LibraryTemplateOut]:
    actor.require(Permission.READ)
    found = find_library_templates(use_case=use_case, language=language)
    return [LibraryTemplateOut.of(entry) for entry in found]


@router.get(
    "/library/{library_id}",
    response_model=list[LibraryTemplateOut],
    summary="Read a ready-made template in every language, or in one",
)
async def read_library(
    library_id: str, actor: CurrentActor, language: str | None = None
) -> list[LibraryTemplateOut]:
    actor.require(Permission.READ)
    found = [entry for entry in find_library_templates(language=language) if entry.id == library_id]
    if not found:
        known = ", ".join(dict.fromkeys(entry.id for entry in library_templates()))
        raise NotFound(f"No library template {library_id[:40]}; there are: {known}.")
    return [LibraryTemplateOut.of(entry) for entry in found]


# --- preview and lint --------------------------------------------------------------------------


@router.post(
    "/preview",
    response_model=PreviewOut,
    summary="Render a body for a contact and a sample of contacts, or for a whole list",
    description="Each text as it would be sent (brand, footer, smart encoding), its parts, "
    "encoding and price; the recipients who would not be sent and why; lint findings; and "
    "the cost of the sample. With `list_id`, every subscribed member of the list is "
    "rendered: `cost` is the whole list's and `audience` counts the members who would not "
    "be sent, while `recipients` and `broken` show at most `sample_size` members each. A "
    "body that does not compile is a 422 naming the line.",
)
async def preview(
    payload: PreviewIn, request: Request, session: Session, actor: CurrentActor
) -> PreviewOut:
    result = await templates.render_preview(
        session,
        actor,
        payload.body,
        contact_id=payload.contact_id,
        sample_size=payload.sample_size,
        category=payload.category,
        extra_context=payload.context,
        language=payload.language,
        sender=payload.from_,
        list_id=payload.list_id,
        link_base_url=get_platform(request).settings.base_url,
    )
    return PreviewOut.of(result)


@router.post("/lint", response_model=LintOut, summary="Check a draft body")
async def lint(payload: LintIn, request: Request, session: Session, actor: CurrentActor) -> LintOut:
    findings = await templates.lint_template(
        session,
        actor,
        payload.body,
        category=payload.category,
        language=payload.language,
        link_base_url=get_platform(request).settings.base_url,
    )
    return LintOut(findings=[FindingOut.of(f) for f in findings])


# --- the workspace's templates -----------------------------------------------------------------


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TemplateOut,
    summary="Save a template",
    description="The body must compile: a syntax error is a 422 whose message names the line.",
)
async def create(payload: TemplateIn, session: Session, actor: CurrentActor) -> TemplateOut:
    template = await templates.create_template(
        session,
        actor,
        name=payload.name,
        language=payload.language,
        body=payload.body,
        use_case=payload.use_case,
    )
    return TemplateOut.of(template)


@router.get("", response_model=Page[TemplateOut], summary="List the workspace's templates")
async def list_templates(
    session: Session,
    actor: CurrentActor,
    language: str | None = None,
    use_case: str | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[TemplateOut]:
    rows, next_cursor = await templates.list_templates(
        session, actor, language=language, use_case=use_case, limit=limit, cursor=cursor
    )
    return Page(data=[TemplateOut.of(t) for t in rows], next_cursor=next_cursor)


@router.get("/{template_id}", response_model=TemplateOut, summary="Read a template")
async def read(template_id: str, session: Session, actor: CurrentActor) -> TemplateOut:
    return TemplateOut.of(await templates.get_template(session, actor, template_id))


@router.patch("/{template_id}", response_model=TemplateOut, summary="Change a template")
async def update(
    template_id: str, payload: TemplatePatch, session: Session, actor: CurrentActor
) -> TemplateOut:
    given = payload.model_fields_set
    template = await templates.update_template(
        session,
        actor,
        template_id,
        name=payload.name if "name" in given else UNSET,
        language=payload.language if "language" in given else UNSET,
        body=payload.body if "body" in given else UNSET,
        use_case=payload.use_case if "use_case" in given else UNSET,
    )
    return TemplateOut.of(template)


@router.delete(
    "/{template_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a template"
)
async def remove(template_id: str, session: Session, actor: CurrentActor) -> Response:
    await templates.delete_template(session, actor, template_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
