"""/carriers/{connection}/{kind}: where HTTP providers post status callbacks and inbound texts.

The route only hands the request to the named connector; each provider's folder verifies its
own signature and reads its own format.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response

from recado.api.deps import get_platform
from recado.carriers.base import WebhookRequest
from recado.errors import NotFound

router = APIRouter(prefix="/carriers", tags=["carrier webhooks"], include_in_schema=False)


@router.api_route("/{connection}/{kind}", methods=["GET", "POST"])
async def carrier_webhook(connection: str, kind: str, request: Request) -> Response:
    platform = get_platform(request)
    connector = platform.connectors.get(connection)
    if connector is None:
        raise NotFound(f"No carrier connection called '{connection}'.")
    body = await request.body()
    form: dict[str, str] = {}
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    url = platform.settings.base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    answer = await connector.handle_webhook(
        kind,
        WebhookRequest(
            method=request.method,
            url=url,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            form=form,
            query=dict(request.query_params),
        ),
    )
    return Response(answer.body, status_code=answer.status, media_type=answer.content_type)
