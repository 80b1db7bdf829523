"""Settings: compliance and messaging settings, senders and carriers, API keys, users.

Only people who may manage settings see these pages; each change goes through the service
that checks the permission again.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response

from recado.api.deps import get_platform
from recado.domain.footer import DEFAULT_FOOTERS
from recado.domain.roles import Permission, Role, may_grant
from recado.errors import ValidationFailed
from recado.services import carrier_setup, credentials, workspace_admin
from recado.web.dashboard import carrier_states
from recado.web.rendering import PREFIX, WebRoute, redirect, render
from recado.web.session import CurrentUser, DbSession, web_session

router = APIRouter(prefix=f"{PREFIX}/settings", route_class=WebRoute)

TABS = (
    ("Compliance", f"{PREFIX}/settings"),
    ("Senders & carriers", f"{PREFIX}/settings/carriers"),
    ("API keys", f"{PREFIX}/settings/api-keys"),
    ("Users", f"{PREFIX}/settings/users"),
    ("Webhooks", f"{PREFIX}/settings/webhooks"),
    ("Signup forms", f"{PREFIX}/settings/forms"),
)


def _page(request: Request, name: str, **context: Any) -> Response:
    return render(request, name, tabs=TABS, here=request.url.path, **context)


# --- compliance and messaging ------------------------------------------------------------------


@router.get("")
async def compliance_page(request: Request, session: DbSession, me: CurrentUser) -> Response:
    me.actor.require(Permission.MANAGE_SETTINGS)
    workspace, settings = await workspace_admin.get_workspace(session, me.actor)
    window = settings.quiet_hours.default
    return _page(
        request,
        "settings/compliance.html",
        workspace=workspace,
        settings=settings,
        quiet_start=window.start if window else "",
        quiet_end=window.end if window else "",
        footer_languages=list(dict.fromkeys([*DEFAULT_FOOTERS, *settings.footer_texts])),
    )


@router.post("")
async def save_compliance(request: Request, session: DbSession, me: CurrentUser) -> Response:
    me.actor.require(Permission.MANAGE_SETTINGS)
    form = await request.form()
    _, current = await workspace_admin.get_workspace(session, me.actor)
    text = {key: str(value).strip() for key, value in form.items() if isinstance(value, str)}
    quiet_hours = current.quiet_hours.model_dump()
    start, end = text.get("quiet_start", ""), text.get("quiet_end", "")
    if start and end:
        default = quiet_hours.get("default") or {}
        quiet_hours["default"] = {**default, "start": start, "end": end}
    elif start or end:
        raise ValidationFailed(
            "Give both the start and the end of the sending hours, or neither.",
            field="quiet_hours",
        )
    else:
        quiet_hours["default"] = None
    footers = {
        key.removeprefix("footer_"): value
        for key, value in text.items()
        if key.startswith("footer_") and value
    }
    changes: dict[str, Any] = {
        "brand_name": text.get("brand_name") or None,
        "program_name": text.get("program_name") or None,
        "help_contact": text.get("help_contact") or None,
        "smart_encoding": text.get("smart_encoding") == "on",
        "quiet_hours": quiet_hours,
        "frequency": {
            "max_messages": _number(text.get("max_messages"), "max_messages", int),
            "window_hours": _number(text.get("window_hours"), "window_hours", float),
            "min_gap_hours": _number(text.get("min_gap_hours"), "min_gap_hours", float),
        },
        "footer_texts": footers,
    }
    help_reply = text.get("help_reply", "")
    replies = {k: dict(v) for k, v in current.compliance_replies.items()}
    if help_reply:
        replies.setdefault("help", {})["en"] = help_reply
    else:
        replies.get("help", {}).pop("en", None)
    changes["compliance_replies"] = {k: v for k, v in replies.items() if v}
    changes["frequency"] = {k: v for k, v in changes["frequency"].items() if v is not None}
    await workspace_admin.update_settings(session, me.actor, changes)
    web_session(request).notify("Settings saved.")
    return redirect(f"{PREFIX}/settings")


def _number(value: str | None, name: str, kind: type) -> Any:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        raise ValidationFailed(f"{name.replace('_', ' ')} must be a number.", field=name) from None


# --- senders, connections and routes -----------------------------------------------------------


@router.get("/carriers")
async def carriers_page(request: Request, session: DbSession, me: CurrentUser) -> Response:
    me.actor.require(Permission.MANAGE_SETTINGS)
    senders, _ = await carrier_setup.list_senders(session, me.actor, limit=200)
    connections, _ = await carrier_setup.list_connections(session, me.actor, limit=200)
    routes = await carrier_setup.list_routes(session, me.actor)
    names = {c.id: c.name for c in connections}
    return _page(
        request,
        "settings/carriers.html",
        senders=senders,
        connections=connections,
        states={s.name: s for s in await carrier_states(request, session, me.actor)},
        routes=routes,
        connection_names=names,
        configs={c.id: carrier_setup.masked_config(c.config) for c in connections},
        sender_kinds=carrier_setup.SENDER_KINDS,
        connector_kinds=_connector_kinds(),
    )


def _connector_kinds() -> list[str]:
    from recado.carriers.base import CONNECTOR_TYPES, load_builtin_connectors  # noqa: PLC0415

    load_builtin_connectors()
    return sorted(CONNECTOR_TYPES)


@router.post("/senders")
async def add_sender(
    request: Request,
    session: DbSession,
    me: CurrentUser,
    address: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "long_code",
    rate_limit_mps: Annotated[str, Form()] = "10",
    is_default: Annotated[str, Form()] = "",
) -> Response:
    sender = await carrier_setup.create_sender(
        session,
        me.actor,
        address=address,
        kind=kind,
        is_default=is_default == "on",
        rate_limit_mps=_number(rate_limit_mps, "rate_limit_mps", float) or 10.0,
    )
    get_platform(request).dispatcher.config_changed()
    web_session(request).notify(f"Sender {sender.address} added.")
    return redirect(f"{PREFIX}/settings/carriers")


@router.post("/connections")
async def add_connection(
    request: Request,
    session: DbSession,
    me: CurrentUser,
    name: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    config: Annotated[str, Form()] = "{}",
) -> Response:
    try:
        parsed = json.loads(config or "{}")
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ValidationFailed(
            'The configuration is a JSON object, such as {"host": "smsc.example.com"}.',
            field="config",
        )
    connection = await carrier_setup.create_connection(
        session, me.actor, name=name, kind=kind, config=parsed
    )
    await get_platform(request).sync_connectors()
    web_session(request).notify(f"Carrier connection {connection.name} added.")
    return redirect(f"{PREFIX}/settings/carriers")


@router.post("/connections/{connection_id}/enabled")
async def toggle_connection(
    request: Request,
    session: DbSession,
    me: CurrentUser,
    connection_id: str,
    enabled: Annotated[str, Form()] = "",
) -> Response:
    connection = await carrier_setup.update_connection(
        session, me.actor, connection_id, enabled=enabled == "true"
    )
    await get_platform(request).sync_connectors()
    state = "enabled" if connection.enabled else "disabled"
    web_session(request).notify(f"{connection.name} {state}.")
    return redirect(f"{PREFIX}/settings/carriers")


@router.post("/routes")
async def add_route(
    request: Request,
    session: DbSession,
    me: CurrentUser,
    prefix: Annotated[str, Form()] = "",
    connection_id: Annotated[str, Form()] = "",
    priority: Annotated[str, Form()] = "0",
) -> Response:
    await carrier_setup.create_route(
        session,
        me.actor,
        prefix=prefix,
        connection_id=connection_id,
        priority=_number(priority, "priority", int) or 0,
    )
    get_platform(request).dispatcher.config_changed()
    web_session(request).notify("Route added.")
    return redirect(f"{PREFIX}/settings/carriers")


@router.post("/routes/{route_id}/delete")
async def remove_route(
    request: Request, session: DbSession, me: CurrentUser, route_id: str
) -> Response:
    await carrier_setup.delete_route(session, me.actor, route_id)
    get_platform(request).dispatcher.config_changed()
    web_session(request).notify("Route deleted.")
    return redirect(f"{PREFIX}/settings/carriers")


# --- API keys ----------------------------------------------------------------------------------


@router.get("/api-keys")
async def api_keys_page(request: Request, session: DbSession, me: CurrentUser) -> Response:
    keys = await credentials.list_api_keys(session, me.actor)
    return _page(
        request,
        "settings/api_keys.html",
        keys=keys,
        roles=[r.value for r in Role if may_grant(me.role, r)],
        new_key=None,
    )


@router.post("/api-keys")
async def create_api_key(
    request: Request,
    session: DbSession,
    me: CurrentUser,
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "admin",
) -> Response:
    key, plain = await credentials.create_api_key(
        session, me.actor, name=name, role=credentials.parse_role(role)
    )
    # Shown on this answer only: no redirect, so the key never travels in a cookie or a URL.
    keys = await credentials.list_api_keys(session, me.actor)
    return _page(
        request,
        "settings/api_keys.html",
        keys=keys,
        roles=[r.value for r in Role if may_grant(me.role, r)],
        new_key=(key, plain),
    )


@router.post("/api-keys/{key_id}/revoke")
async def revoke_api_key(
    request: Request, session: DbSession, me: CurrentUser, key_id: str
) -> Response:
    await credentials.revoke_api_key(session, me.actor, key_id)
    web_session(request).notify("API key revoked: requests with it are refused from now on.")
    return redirect(f"{PREFIX}/settings/api-keys")


# --- users -------------------------------------------------------------------------------------


@router.get("/users")
async def users_page(request: Request, session: DbSession, me: CurrentUser) -> Response:
    users = await credentials.list_users(session, me.actor)
    grantable = [r.value for r in Role if may_grant(me.role, r)]
    return _page(
        request,
        "settings/users.html",
        users=[
            # (user, may the signed-in person change or remove them)
            (u, u.id != me.actor.user_id and u.role in grantable)
            for u in users
        ],
        roles=grantable,
        min_password=credentials.MIN_PASSWORD_LENGTH,
    )


@router.post("/users")
async def add_user(
    request: Request,
    session: DbSession,
    me: CurrentUser,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "viewer",
) -> Response:
    user = await credentials.create_user(
        session, me.actor, email=email, password=password, role=credentials.parse_role(role)
    )
    web_session(request).notify(f"{user.email} can now sign in as {user.role}.")
    return redirect(f"{PREFIX}/settings/users")


@router.post("/users/{user_id}/role")
async def change_role(
    request: Request,
    session: DbSession,
    me: CurrentUser,
    user_id: str,
    role: Annotated[str, Form()] = "",
) -> Response:
    user = await credentials.change_role(session, me.actor, user_id, credentials.parse_role(role))
    web_session(request).notify(f"{user.email} is now {user.role}, from their next page.")
    return redirect(f"{PREFIX}/settings/users")


@router.post("/users/{user_id}/remove")
async def remove_user(
    request: Request, session: DbSession, me: CurrentUser, user_id: str
) -> Response:
    email = await credentials.remove_user(session, me.actor, user_id)
    web_session(request).notify(f"{email} was removed and is signed out.")
    return redirect(f"{PREFIX}/settings/users")
