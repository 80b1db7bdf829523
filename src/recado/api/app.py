"""The ASGI application: routers, error shape, metrics middleware and the workers' lifespan."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recado import __version__, metrics
from recado.api import (
    carrier_setup,
    carrier_webhooks,
    errors,
    health,
    messages,
    simulator,
    tools,
    workspace,
)
from recado.platform import Platform, freeze_startup_heap
from recado.settings import Settings, get_settings

ROUTERS = [
    health.router,
    messages.router,
    tools.router,
    workspace.router,
    carrier_setup.router,
    simulator.router,
    carrier_webhooks.router,
]


def create_app(platform: Platform | None = None, *, start_workers: bool | None = None) -> FastAPI:
    """Build the app. Workers (dispatcher, carriers) run in-process unless told otherwise."""
    the_platform = platform or Platform(get_settings())
    settings: Settings = the_platform.settings
    run_workers = settings.run_workers if start_workers is None else start_workers

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if run_workers:
            await the_platform.start_workers()
        freeze_startup_heap()
        try:
            yield
        finally:
            await the_platform.close()

    app = FastAPI(
        title="Recado",
        version=__version__,
        description="SMS messaging and marketing API. Authenticate with `Authorization: Bearer <key>`.",
        lifespan=lifespan,
    )
    app.state.platform = the_platform
    errors.install(app)
    for router in _routers():
        app.include_router(router)
    from recado import web  # noqa: PLC0415  (the UI imports the API's dependencies)

    web.install(app)  # the web UI: `/` and /app/...

    app.add_middleware(_Timing)
    return app


class _Timing:
    """Request latency by route and status into /metrics. A plain ASGI middleware: the
    decorator kind runs every request in an extra task and streams, about a millisecond."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            metrics.HTTP_LATENCY.labels(
                scope["method"], getattr(route, "path", "unmatched"), str(status)
            ).observe(time.perf_counter() - started)


def _routers() -> list:  # type: ignore[type-arg]
    from recado.api import (  # noqa: PLC0415
        campaigns,
        compliance,
        contacts,
        discounts,
        events,
        imports,
        links,
        lists,
        reports,
        segments,
        signup_forms,
        templates,
    )

    return [
        *ROUTERS,
        imports.router,  # before contacts: /v1/contacts/export is not a contact id
        compliance.router,  # before contacts: /v1/contacts/{id}/export and the like
        contacts.router,
        lists.router,
        segments.router,
        templates.router,
        links.router,
        signup_forms.router,
        reports.router,  # before campaigns: /v1/campaigns/{id}/report, report.csv, recipients.csv
        campaigns.router,
        events.router,
        discounts.router,
    ]
