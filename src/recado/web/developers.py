"""The developer page: copy-ready code that sends a text through the API, for this workspace.

The snippets follow a small form (to, from, body, status callback) and are redrawn by htmx
as it changes. "Send it now" sends the same message from the signed-in person.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response

from recado import metrics
from recado.api.deps import get_platform
from recado.services import carrier_setup, messaging
from recado.web.rendering import PREFIX, WebRoute, redirect, render
from recado.web.session import CurrentUser, DbSession, web_session

router = APIRouter(prefix=f"{PREFIX}/developers", route_class=WebRoute)

EXAMPLE_TO = "+14155550123"
EXAMPLE_BODY = "Hello from Recado!"
KEY_VARIABLE = "RECADO_API_KEY"


@dataclass(frozen=True)
class Snippets:
    curl: str
    python: str
    node: str


def send_payload(to: str, body: str, sender: str, status_callback: str) -> dict[str, str]:
    """The JSON body of POST /v1/messages; empty optional fields are left out."""
    payload = {"to": to.strip() or EXAMPLE_TO, "body": body or EXAMPLE_BODY}
    if sender.strip():
        payload["from"] = sender.strip()
    if status_callback.strip():
        payload["status_callback"] = status_callback.strip()
    return payload


def snippets(base_url: str, payload: dict[str, Any]) -> Snippets:
    url = f"{base_url.rstrip('/')}/v1/messages"
    one_line = json.dumps(payload, ensure_ascii=False)
    curl = "\n".join(
        [
            f"curl -s {shlex.quote(url)} \\",
            f'  -H "Authorization: Bearer ${KEY_VARIABLE}" \\',
            '  -H "Content-Type: application/json" \\',
            '  -H "Idempotency-Key: $(uuidgen)" \\',
            f"  -d {shlex.quote(one_line)}",
        ]
    )
    # JSON of strings is also a valid Python and JavaScript literal.
    literal = json.dumps(payload, ensure_ascii=False, indent=4).replace("\n", "\n    ")
    python = "\n".join(
        [
            "import os",
            "import uuid",
            "",
            "import httpx",
            "",
            "response = httpx.post(",
            f"    {json.dumps(url)},",
            "    headers={",
            f'        "Authorization": f"Bearer {{os.environ[\'{KEY_VARIABLE}\']}}",',
            '        "Idempotency-Key": str(uuid.uuid4()),',
            "    },",
            f"    json={literal},",
            ")",
            "response.raise_for_status()",
            'print(response.json()["id"], response.json()["status"])',
        ]
    )
    js_literal = json.dumps(payload, ensure_ascii=False, indent=2).replace("\n", "\n  ")
    node = "\n".join(
        [
            f"const response = await fetch({json.dumps(url)}, {{",
            '  method: "POST",',
            "  headers: {",
            f"    Authorization: `Bearer ${{process.env.{KEY_VARIABLE}}}`,",
            '    "Content-Type": "application/json",',
            '    "Idempotency-Key": crypto.randomUUID(),',
            "  },",
            f"  body: JSON.stringify({js_literal}),",
            "});",
            "const message = await response.json();",
            "console.log(message.id, message.status);",
        ]
    )
    return Snippets(curl=curl, python=python, node=node)


@router.get("")
async def developers_page(request: Request, session: DbSession, me: CurrentUser) -> Response:
    senders, _ = await carrier_setup.list_senders(session, me.actor, limit=100)
    default = next((s.address for s in senders if s.is_default), "")
    payload = send_payload(EXAMPLE_TO, EXAMPLE_BODY, default, "")
    return render(
        request,
        "developers.html",
        senders=senders,
        form={"to": EXAMPLE_TO, "body": EXAMPLE_BODY, "sender": default, "status_callback": ""},
        snippets=snippets(get_platform(request).settings.base_url, payload),
        base_url=get_platform(request).settings.base_url,
        can_send=me.may("send"),
        key_variable=KEY_VARIABLE,
    )


@router.get("/snippets")
async def snippets_fragment(
    request: Request,
    me: CurrentUser,
    to: str = "",
    body: str = "",
    sender: str = "",
    status_callback: str = "",
) -> Response:
    payload = send_payload(to, body, sender, status_callback)
    return render(
        request,
        "_snippets.html",
        snippets=snippets(get_platform(request).settings.base_url, payload),
    )


@router.post("/send")
async def send_now(
    request: Request,
    session: DbSession,
    me: CurrentUser,
    to: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    sender: Annotated[str, Form()] = "",
    status_callback: Annotated[str, Form()] = "",
) -> Response:
    platform = get_platform(request)
    accepted = await messaging.send_message(
        session,
        me.actor,
        messaging.SendRequest(
            to=to,
            body=body,
            sender=sender.strip() or None,
            status_callback=status_callback.strip() or None,
        ),
        link_base_url=platform.settings.base_url,
    )
    metrics.MESSAGES_ACCEPTED.labels("transactional").inc()
    platform.dispatcher.notify()
    web_session(request).notify(f"Message to {accepted.message.recipient} accepted.")
    return redirect(f"{PREFIX}/messages/{accepted.message.id}")
