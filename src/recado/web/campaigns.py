"""Campaigns: the list, the builder (audience, message, A/B variants, schedule, review), the
launch and the controls of a running campaign, and its results with the CSV exports.

Each builder step is a form that saves the draft through services.campaigns and goes on to
the next step. A new campaign's first step (name and audience) is carried in the address to
the message step, which creates the draft: a draft needs its text. The live parts of the
builder (audience count, text counter and preview) are htmx fragments.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData, ImmutableMultiDict

from recado.api.deps import get_platform
from recado.db.tables import (
    Campaign,
    CampaignSkip,
    Contact,
    ContactList,
    Message,
    Segment,
    Sender,
    Workspace,
    utcnow,
)
from recado.domain import links as link_rules
from recado.domain.encoding import analyze
from recado.domain.roles import Permission
from recado.domain.workspace_settings import read_settings
from recado.errors import NotFound, ValidationFailed
from recado.services import audience as audiences
from recado.services import (
    campaign_fanout,
    campaign_report,
    campaigns,
    discounts,
    report_snapshots,
    templates,
)
from recado.services.actor import Actor
from recado.web.rendering import PREFIX, WebRoute, redirect, refusal, render
from recado.web.session import CurrentUser, DbSession, web_session

router = APIRouter(prefix=f"{PREFIX}/campaigns", route_class=WebRoute)

PAGE_SIZE = 50
CHOICES = 200  # lists and segments offered in the audience step
MAX_VARIANTS = 5
STEPS = (
    ("audience", "Audience"),
    ("message", "Message"),
    ("variants", "A/B test"),
    ("schedule", "Schedule"),
    ("review", "Review"),
)
VARIABLES = ("first_name", "last_name", "brand", "discount_code")
RUNNING = ("scheduled", "sending", "testing")
SKIP_REASONS = {
    "no_consent": "No marketing consent recorded",
    "opted_out": "Opted out",
    "suppressed": "On the suppression list",
    "holdout": "Held out (A/B test baseline)",
    "no_discount_code": "No discount code left",
    "missing_variables": "A variable without fallback is missing",
    "too_long": "The text is too long for them",
}
METRIC_NAMES = {
    "click_rate": "Click rate",
    "conversion_rate": "Conversion rate",
    "opt_out_rate": "Opt-out rate (lowest wins)",
    "revenue_per_recipient": "Revenue per recipient",
}


# --- the list --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Row:
    campaign: Campaign
    audience: int | None  # messaged + skipped; None before the launch
    sent: int
    delivered: int


@router.get("")
async def campaign_list(
    request: Request, session: DbSession, me: CurrentUser, cursor: str = "", status: str = ""
) -> Response:
    found, next_cursor = await campaigns.list_campaigns(
        session, me.actor, status=status or None, limit=PAGE_SIZE, cursor=cursor or None
    )
    figures = await _list_figures(session, me.actor, [c.id for c in found])
    rows = [
        Row(c, *figures.get(c.id, (None, 0, 0))) if c.status != "draft" else Row(c, None, 0, 0)
        for c in found
    ]
    return render(
        request,
        "campaigns/list.html",
        rows=rows,
        status=status,
        statuses=campaigns.STATUSES,
        next_cursor=next_cursor,
        paged=bool(cursor),
        query={"status": status} if status else {},
        can_manage=me.may("manage_campaigns"),
    )


async def _list_figures(
    session: AsyncSession, actor: Actor, ids: list[str]
) -> dict[str, tuple[int, int, int]]:
    """(audience, sent, delivered) per campaign of the page: from the report snapshots
    (a big campaign's messages are not counted on each view); campaigns without one yet
    are counted here, in two GROUP BY queries."""
    counted = await report_snapshots.totals(session, actor, ids)
    found = {
        cid: (int(t.get("audience", 0)), int(t.get("sent", 0)), int(t.get("delivered", 0)))
        for cid, t in counted.items()
    }
    ids = [cid for cid in ids if cid not in found]
    if not ids:
        return found
    messages = await session.execute(
        select(
            Message.campaign_id,
            func.count(),
            func.coalesce(func.sum(case((Message.sent_at.is_not(None), 1), else_=0)), 0),
            func.coalesce(func.sum(case((Message.status == "delivered", 1), else_=0)), 0),
        )
        .where(Message.workspace_id == actor.workspace_id, Message.campaign_id.in_(ids))
        .group_by(Message.campaign_id)
    )
    skips = dict(
        (
            await session.execute(
                select(CampaignSkip.campaign_id, func.count())
                .where(
                    CampaignSkip.workspace_id == actor.workspace_id,
                    CampaignSkip.campaign_id.in_(ids),
                )
                .group_by(CampaignSkip.campaign_id)
            )
        ).all()
    )
    for cid, n, sent, delivered in messages:
        found[cid] = (int(n) + int(skips.get(cid, 0)), int(sent), int(delivered))
    for cid, n in skips.items():
        found.setdefault(cid, (int(n), 0, 0))
    return found


# --- the builder -----------------------------------------------------------------------------


def _input_of(campaign: Campaign, variants: Sequence[Any]) -> campaigns.CampaignInput:
    """The draft's current settings, to change one step's part of them."""
    return campaigns.CampaignInput(
        name=campaign.name,
        body=campaign.body,
        audience=dict(campaign.audience or {}),
        sender=campaign.sender,
        media_urls=tuple(campaign.media_urls or ()),
        smart_encoding=campaign.smart_encoding,
        schedule_kind=campaign.schedule_kind,
        send_at=campaign.send_at,
        local_send=campaign.local_send,
        throttle_per_minute=campaign.throttle_per_minute,
        ab_test={k: v for k, v in (campaign.ab_test or {}).items() if k != "decision"} or None,
        variants=tuple(
            campaigns.VariantInput(v.body, tuple(v.media_urls or ()), v.send_at) for v in variants
        ),
        discount_mode=campaign.discount_mode,
        discount_code=campaign.discount_code,
        discount_pool_id=campaign.discount_pool_id,
    )


def _audience_of(form: ImmutableMultiDict[str, Any] | FormData) -> dict[str, list[str]]:
    return {
        key: [str(v) for v in form.getlist(key) if isinstance(v, str) and v]
        for key in audiences.KEYS
    }


def _text(form: ImmutableMultiDict[str, Any] | FormData, key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


async def _choices(session: AsyncSession, actor: Actor) -> dict[str, list[tuple[str, str]]]:
    """(id, name) of the lists and segments to pick from, by name."""
    found: dict[str, list[tuple[str, str]]] = {}
    for key, table in (("lists", ContactList), ("segments", Segment)):
        rows = await session.execute(
            select(table.id, table.name)
            .where(table.workspace_id == actor.workspace_id)
            .order_by(table.name)
            .limit(CHOICES)
        )
        found[key] = [(i, n) for i, n in rows]
    return found


async def _sending_choices(session: AsyncSession, actor: Actor) -> dict[str, Any]:
    """The senders and the discount pools (with their codes left) the message step offers."""
    senders = await session.execute(
        select(Sender.address, Sender.kind, Sender.is_default)
        .where(Sender.workspace_id == actor.workspace_id)
        .order_by(Sender.is_default.desc(), Sender.address)
        .limit(CHOICES)
    )
    pools, _ = await discounts.list_pools(session, actor, limit=CHOICES)
    return {
        "senders": [(address, kind, default) for address, kind, default in senders],
        "pools": pools,
    }


def _sending_fields(form: ImmutableMultiDict[str, Any] | FormData) -> dict[str, Any]:
    """The message step's sender and discount, as the campaign service takes them."""
    mode = _text(form, "discount_mode") or "none"
    return {
        "sender": _text(form, "sender") or None,
        "discount_mode": mode,
        "discount_code": _text(form, "discount_code") or None if mode == "shared" else None,
        "discount_pool_id": _text(form, "discount_pool_id") or None if mode == "pool" else None,
    }


def _step_page(request: Request, step: str, campaign: Campaign | None, **context: Any) -> Response:
    return render(
        request,
        f"campaigns/{step}.html",
        campaign=campaign,
        step=step,
        steps=STEPS,
        **context,
    )


@router.get("/new")
async def new_campaign(request: Request, session: DbSession, me: CurrentUser) -> Response:
    """Step 1 of a new campaign: its name and audience."""
    me.actor.require(Permission.MANAGE_CAMPAIGNS)
    return _step_page(
        request,
        "audience",
        None,
        campaign_name=request.query_params.get("name", ""),
        audience=_audience_of(request.query_params),
        choices=await _choices(session, me.actor),
        action=f"{PREFIX}/campaigns/new",
    )


@router.post("/new")
async def new_campaign_audience(request: Request, session: DbSession, me: CurrentUser) -> Response:
    """Checks the audience, then carries it to the message step, which creates the draft."""
    me.actor.require(Permission.MANAGE_CAMPAIGNS)
    form = await request.form()
    name = _text(form, "name")
    if not name:
        raise ValidationFailed("Give the campaign a name.", field="name")
    chosen = audiences.Audience.parse(_audience_of(form))
    await audiences.check(session, me.actor.workspace_id, chosen)
    query = [("name", name)] + [(k, v) for k, ids in chosen.to_json().items() for v in ids]
    return redirect(f"{PREFIX}/campaigns/new/message?{urlencode(query)}")


@router.get("/new/message")
async def new_campaign_message(request: Request, session: DbSession, me: CurrentUser) -> Response:
    me.actor.require(Permission.MANAGE_CAMPAIGNS)
    audience = _audience_of(request.query_params)
    return _step_page(
        request,
        "message",
        None,
        campaign_name=request.query_params.get("name", ""),
        audience=audience,
        body=request.query_params.get("body", ""),
        smart_encoding=False,
        sender="",
        discount_mode="none",
        discount_code="",
        discount_pool_id="",
        **await _sending_choices(session, me.actor),
        variables=VARIABLES,
        action=f"{PREFIX}/campaigns/new/message",
        counter=await _counter(request, session, me.actor, "", audience),
    )


@router.post("/new/message")
async def create_draft(request: Request, session: DbSession, me: CurrentUser) -> Response:
    form = await request.form()
    created = await campaigns.create_campaign(
        session,
        me.actor,
        campaigns.CampaignInput(
            name=_text(form, "name"),
            body=str(form.get("body") or ""),
            audience=_audience_of(form),
            smart_encoding=form.get("smart_encoding") == "on",
            **_sending_fields(form),
        ),
    )
    web_session(request).notify(f"Draft “{created.name}” saved.")
    return redirect(f"{PREFIX}/campaigns/{created.id}/variants")


@router.post("/audience-count")
async def audience_count(request: Request, session: DbSession, me: CurrentUser) -> Response:
    """The live count of the audience step: who is in it, and who may be texted."""
    me.actor.require(Permission.READ)
    chosen = audiences.Audience.parse(_audience_of(await request.form()))
    total, eligible = await _count_audience(session, me.actor, chosen)
    return render(
        request, "campaigns/_audience_count.html", total=total, eligible=eligible, chosen=chosen
    )


async def _count_audience(
    session: AsyncSession, actor: Actor, chosen: audiences.Audience
) -> tuple[int, int]:
    """Contacts in the audience, and those with marketing consent in force (read-only; the
    review counts the same way)."""
    if chosen.empty:
        return 0, 0
    await audiences.check(session, actor.workspace_id, chosen)
    where = await audiences.condition(session, actor.workspace_id, chosen, utcnow())
    verdict = campaign_fanout.compliance_verdict()
    row = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(case((verdict.is_(None), 1), else_=0)), 0))
            .select_from(Contact)
            .where(where)
        )
    ).one()
    return int(row[0]), int(row[1])


@router.post("/text-counter")
async def text_counter(request: Request, session: DbSession, me: CurrentUser) -> Response:
    """The live counter of the message step: characters, parts, encoding, the characters that
    force UCS-2, lint, and the text as a sample recipient would read it."""
    me.actor.require(Permission.READ)
    form = await request.form()
    body = str(form.get("body") or "")
    return render(
        request,
        "campaigns/_counter.html",
        counter=await _counter(
            request, session, me.actor, body, _audience_of(form), form.get("smart_encoding") == "on"
        ),
    )


@dataclasses.dataclass(frozen=True)
class Counter:
    body: str
    characters: int
    parts: int
    encoding: str
    non_gsm: tuple[str, ...]
    marked: list[tuple[str, bool]]  # the body in runs, True where a run forces UCS-2
    preview: str
    preview_for: str | None
    findings: list[Any]
    problem: str | None


async def _counter(
    request: Request,
    session: AsyncSession,
    actor: Actor,
    body: str,
    audience: dict[str, list[str]],
    smart: bool = False,
) -> Counter:
    base_url = get_platform(request).settings.base_url
    sample = await _sample_contact(session, actor, audience)
    problem = None
    try:
        rendered, findings = await templates.render_message(
            session,
            actor,
            body,
            contact_id=sample.id if sample else None,
            category="marketing",
            # No link base for lint, as in the review: a campaign shortens and tracks its
            # links itself, so a long URL in the draft is not advice-worthy.
            link_base_url=None,
        )
        text = rendered.text if rendered.ok else body
        if not rendered.ok:
            problem = rendered.problem or (
                "Missing for this contact: " + ", ".join(rendered.missing)
                if rendered.missing
                else None
            )
    except ValidationFailed as error:  # a template syntax error: show it, count the raw text
        text, findings, problem = body, [], error.message
    workspace_settings = await _workspace_settings(session, actor)
    base = link_rules.link_base(workspace_settings.short_domain, base_url)
    report = analyze(
        link_rules.with_placeholder_links(text, base),
        smart=smart or workspace_settings.smart_encoding,
    )
    name = None
    if sample is not None:
        name = " ".join(p for p in (sample.first_name, sample.last_name) if p) or sample.phone
    return Counter(
        body=body,
        characters=report.characters,
        parts=report.segments,
        encoding=report.encoding,
        non_gsm=report.non_gsm,
        marked=_marked(body, set(report.non_gsm)),
        preview=report.text,
        preview_for=name,
        findings=findings,
        problem=problem,
    )


async def _workspace_settings(session: AsyncSession, actor: Actor) -> Any:
    workspace = await session.get(Workspace, actor.workspace_id)
    assert workspace is not None
    return read_settings(workspace.settings)


def _marked(body: str, forcing: set[str]) -> list[tuple[str, bool]]:
    runs: list[tuple[str, bool]] = []
    for char in body:
        flagged = char in forcing
        if runs and runs[-1][1] == flagged:
            runs[-1] = (runs[-1][0] + char, flagged)
        else:
            runs.append((char, flagged))
    return runs


async def _sample_contact(
    session: AsyncSession, actor: Actor, audience: dict[str, list[str]]
) -> Contact | None:
    """The first audience member who may be texted: the preview is rendered for them."""
    try:
        chosen = audiences.Audience.parse(audience)
    except ValidationFailed:
        return None
    if chosen.empty:
        return None
    where = await audiences.condition(session, actor.workspace_id, chosen, utcnow())
    found: Contact | None = await session.scalar(
        select(Contact)
        .where(where, campaign_fanout.compliance_verdict().is_(None))
        .order_by(Contact.id)
        .limit(1)
    )
    return found


@router.get("/{campaign_id}")
async def campaign_page(
    request: Request, session: DbSession, me: CurrentUser, campaign_id: str
) -> Response:
    """A draft opens in the builder; a launched campaign shows its results."""
    campaign = await campaigns.get_campaign(session, me.actor, campaign_id)
    if campaign.status == "draft":
        step = "audience" if me.may("manage_campaigns") else "review"
        return redirect(f"{PREFIX}/campaigns/{campaign.id}/{step}")
    snapshot = await report_snapshots.report(session, me.actor, campaign_id)
    report = snapshot.report
    return render(
        request,
        "campaigns/results.html",
        campaign=campaign,
        report=report,
        counted_at=snapshot.computed_at,
        totals=report["totals"],
        funnel=_funnel(report["totals"]),
        skip_reasons=SKIP_REASONS,
        metric_names=METRIC_NAMES,
        can_manage=me.may("manage_campaigns"),
        running=campaign.status in RUNNING or report_snapshots.refreshed_often(campaign),
    )


@router.get("/{campaign_id}/figures")
async def figures_fragment(
    request: Request, session: DbSession, me: CurrentUser, campaign_id: str
) -> Response:
    """The funnel alone, which the results page asks for while the campaign runs."""
    campaign = await campaigns.get_campaign(session, me.actor, campaign_id)
    snapshot = await report_snapshots.report(session, me.actor, campaign_id)
    report = snapshot.report
    return render(
        request,
        "campaigns/_figures.html",
        campaign=campaign,
        counted_at=snapshot.computed_at,
        totals=report["totals"],
        funnel=_funnel(report["totals"]),
        running=campaign.status in RUNNING or report_snapshots.refreshed_often(campaign),
    )


def _funnel(totals: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(key, label, count) from the audience to the conversions."""
    return [
        ("audience", "Audience", totals["audience"]),
        ("sent", "Sent", totals["sent"]),
        ("delivered", "Delivered", totals["delivered"]),
        ("clicked", "Clicked", totals["unique_clicks"]),
        ("converted", "Converted", totals["conversions"]),
    ]


@router.get("/{campaign_id}/report.csv")
async def report_csv(session: DbSession, me: CurrentUser, campaign_id: str) -> Response:
    """The same CSV as GET /v1/campaigns/{id}/report.csv, for the signed-in session."""
    data = await campaign_report.campaign_report(session, me.actor, campaign_id)
    return Response(
        campaign_report.report_csv(data),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="report-{campaign_id}.csv"'},
    )


@router.get("/{campaign_id}/recipients.csv")
async def recipients_csv(session: DbSession, me: CurrentUser, campaign_id: str) -> Response:
    """The same streamed CSV as GET /v1/campaigns/{id}/recipients.csv."""
    parts = await campaign_report.recipients_csv(session, me.actor, campaign_id)
    return StreamingResponse(
        parts,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="recipients-{campaign_id}.csv"'},
    )


@router.get("/{campaign_id}/{step}")
async def step_page(
    request: Request, session: DbSession, me: CurrentUser, campaign_id: str, step: str
) -> Response:
    campaign = await campaigns.get_campaign(session, me.actor, campaign_id)
    if step not in dict(STEPS):
        raise_not_found(step)
    if campaign.status != "draft":
        return redirect(f"{PREFIX}/campaigns/{campaign.id}")
    if step != "review":
        me.actor.require(Permission.MANAGE_CAMPAIGNS)
    variants = await campaigns.variants_of(session, campaign)
    context: dict[str, Any] = {"action": f"{PREFIX}/campaigns/{campaign.id}/{step}"}
    if step == "audience":
        context |= {
            "campaign_name": campaign.name,
            "audience": _audience_of_json(campaign.audience),
            "choices": await _choices(session, me.actor),
        }
    elif step == "message":
        audience = _audience_of_json(campaign.audience)
        context |= {
            "campaign_name": campaign.name,
            "audience": audience,
            "body": campaign.body,
            "smart_encoding": campaign.smart_encoding,
            "sender": campaign.sender or "",
            "discount_mode": campaign.discount_mode,
            "discount_code": campaign.discount_code or "",
            "discount_pool_id": campaign.discount_pool_id or "",
            **await _sending_choices(session, me.actor),
            "variables": VARIABLES,
            "counter": await _counter(
                request, session, me.actor, campaign.body, audience, campaign.smart_encoding
            ),
        }
    elif step == "variants":
        bodies = [v.body for v in variants] + [""] * (MAX_VARIANTS - len(variants))
        context |= {
            "bodies": bodies,
            "ab": campaign.ab_test or {},
            "metrics": METRIC_NAMES,
        }
    elif step == "schedule":
        context |= {
            "send_at": campaign.send_at.strftime("%Y-%m-%dT%H:%M") if campaign.send_at else "",
            "local_send": campaign.local_send or "",
        }
    else:
        checked = await campaigns.review(
            session, me.actor, campaign.id, base_url=get_platform(request).settings.base_url
        )
        pool = None
        if campaign.discount_mode == "pool" and campaign.discount_pool_id:
            pool = await discounts.get_pool(session, me.actor, campaign.discount_pool_id)
        context |= {
            "pool": pool,
            "review": checked,
            "skip_reasons": SKIP_REASONS,
            "can_manage": me.may("manage_campaigns"),
            "variants": variants,
        }
    return _step_page(request, step, campaign, **context)


def raise_not_found(step: str) -> None:
    raise NotFound(f"No builder step {step[:40]!r}.")


def _audience_of_json(raw: dict[str, Any] | None) -> dict[str, list[str]]:
    return {key: list((raw or {}).get(key) or []) for key in audiences.KEYS}


@router.post("/{campaign_id}/{step}")
async def save_step(
    request: Request, session: DbSession, me: CurrentUser, campaign_id: str, step: str
) -> Response:
    """Save one step of a draft, then go to the next one (or launch, pause, resume, cancel)."""
    if refused := refusal(request, me.actor, Permission.MANAGE_CAMPAIGNS):
        return refused  # a refusal page, not a notice: nothing was changed
    platform = get_platform(request)
    form = await request.form()
    base = f"{PREFIX}/campaigns/{campaign_id}"
    if step in ("launch", "pause", "resume", "cancel"):
        if step == "launch":
            launched = await campaigns.launch(
                session, me.actor, campaign_id, base_url=platform.settings.base_url
            )
            platform.campaign_timers.notify()
            word = "scheduled" if launched.status == "scheduled" else "launched"
            web_session(request).notify(f"Campaign “{launched.name}” {word}.")
        elif step == "pause":
            await campaigns.pause(session, me.actor, campaign_id)
            web_session(request).notify("Campaign paused: nothing more is sent until resumed.")
        elif step == "resume":
            await campaigns.resume(session, me.actor, campaign_id)
            platform.campaign_timers.notify()
            platform.dispatcher.notify()
            web_session(request).notify("Campaign resumed.")
        else:
            await campaigns.cancel(session, me.actor, campaign_id, _text(form, "reason") or None)
            web_session(request).notify("Campaign canceled: messages not yet sent were dropped.")
        return redirect(base)
    if step not in dict(STEPS) or step == "review":
        raise_not_found(step)
    campaign = await campaigns.get_campaign(session, me.actor, campaign_id)
    current = _input_of(campaign, await campaigns.variants_of(session, campaign))
    changed = _changes(step, form, current)
    await campaigns.update_campaign(session, me.actor, campaign_id, changed)
    following = [s for s, _ in STEPS][[s for s, _ in STEPS].index(step) + 1]
    web_session(request).notify("Draft saved.")
    return redirect(f"{base}/{following}")


def _changes(
    step: str, form: FormData, current: campaigns.CampaignInput
) -> campaigns.CampaignInput:
    if step == "audience":
        return dataclasses.replace(current, name=_text(form, "name"), audience=_audience_of(form))
    if step == "message":
        return dataclasses.replace(
            current,
            body=str(form.get("body") or ""),
            smart_encoding=form.get("smart_encoding") == "on",
            **_sending_fields(form),
        )
    if step == "variants":
        bodies = [str(b) for b in form.getlist("variant_body")][:MAX_VARIANTS]
        bodies = [b for b in bodies if b.strip()]
        if not bodies:
            return dataclasses.replace(current, ab_test=None, variants=())
        return dataclasses.replace(
            current,
            variants=tuple(campaigns.VariantInput(body=b) for b in bodies),
            ab_test={
                "test_share": _percent(form, "test_share", 20),
                "holdout_share": _percent(form, "holdout_share", 0),
                "metric": _text(form, "metric") or "click_rate",
                "decide_after_hours": _number(form, "decide_after_hours", 4),
            },
        )
    kind = _text(form, "schedule_kind") or "now"
    send_at = None
    if kind == "at":
        raw = _text(form, "send_at")
        try:
            send_at = datetime.fromisoformat(raw).replace(tzinfo=UTC) if raw else None
        except ValueError:
            raise ValidationFailed(
                "Write the send time as a date and time.", field="send_at"
            ) from None
    throttle = _text(form, "throttle_per_minute")
    return dataclasses.replace(
        current,
        schedule_kind=kind,
        send_at=send_at,
        local_send=_text(form, "local_send") or None,
        throttle_per_minute=int(_number(form, "throttle_per_minute", 0)) if throttle else None,
    )


def _number(form: FormData, key: str, default: float) -> float:
    raw = _text(form, key)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValidationFailed(f"{key.replace('_', ' ')} is a number.", field=key) from None


def _percent(form: FormData, key: str, default: float) -> float:
    return _number(form, key, default) / 100
