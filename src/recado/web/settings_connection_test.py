"""Settings > Senders & carriers: the "Test connection" button of each carrier connection.

With htmx the button's POST answers a small status fragment that replaces the row's result;
without it, the page is shown again with the result as a notice.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from recado.services import carrier_setup
from recado.web.rendering import PREFIX, WebRoute, is_htmx, redirect, render
from recado.web.session import CurrentUser, DbSession, web_session

router = APIRouter(prefix=f"{PREFIX}/settings", route_class=WebRoute)


@router.post("/connections/{connection_id}/test")
async def test_connection(
    connection_id: str, request: Request, session: DbSession, me: CurrentUser
) -> Response:
    result = await carrier_setup.test_connection(session, me.actor, connection_id)
    if is_htmx(request):
        return render(request, "settings/_connection_test.html", result=result)
    if result.ok:
        web_session(request).notify(f"Connected in {result.elapsed_ms} ms. {result.detail}")
    else:
        web_session(request).notify(f"Connection test failed: {result.detail}", "error")
    return redirect(f"{PREFIX}/settings/carriers")


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
