"""The web UI for the marketing team: server-rendered pages with htmx, served by the API process.

Pages live under /app (one router per page group); `/` sends people to their dashboard or to
the sign-in page. Every page calls the same services as the API.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from recado.web import (
    auth,
    campaigns,
    contacts,
    dashboard,
    developers,
    imports,
    library,
    lists,
    messages,
    not_found,
    segments,
    settings_connection_test,
    settings_forms,
    settings_pages,
    settings_webhooks,
)
from recado.web.rendering import HERE, PREFIX

ROUTERS = [
    auth.router,
    dashboard.router,
    imports.router,  # before contacts: /app/contacts/import is not a contact id
    contacts.router,
    lists.router,
    segments.router,
    campaigns.router,
    messages.router,
    library.router,
    settings_webhooks.router,  # before settings_pages
    settings_forms.router,
    settings_connection_test.router,  # before settings_pages
    settings_pages.router,
    developers.router,
    not_found.router,  # last: any other /app address
]


def install(app: FastAPI) -> None:
    """Mount the UI's pages and static files on the app."""
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="web-static")
    for router in ROUTERS:
        app.include_router(router, include_in_schema=False)
